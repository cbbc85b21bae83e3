/* Internals of the S3 client shared by s3.c (client, GET, HEAD, DELETE,
 * listing) and s3_put.c (PUT, multipart). */
#ifndef TFS_S3_I_H
#define TFS_S3_I_H

#include <stdint.h>

#include "s3/wire/http.h"
#include "s3/wire/s3.h"

#define MIN_PART_SIZE (5ull << 20)
#define MAX_PARTS     10000ull

struct s3_client {
	/* All fields are immutable after s3_client_new: no lock needed. */
	struct http_client *http; /* borrowed */
	char *scheme;		  /* "http" or "https" */
	char *hostport;		  /* endpoint authority, "127.0.0.1:5000" */
	char *base_path;	  /* endpoint path without trailing '/', often "" */
	char *region;
	char *bucket;
	int path_style;
	uint64_t threshold;
	uint64_t part_size;
	int parallel;
};

/* http_header holds non-const strings (it also carries replies); ours are
 * only read, so dropping const through uintptr_t is safe here. */
static inline struct http_header hdr(const char *name, const char *value)
{
	return (struct http_header){(char *)(uintptr_t)name, (char *)(uintptr_t)value};
}

#define S3_ERR_MAX 512
/* The calling thread's last error (s3_last_error). */
extern __thread char s3_last_err[S3_ERR_MAX];

/* Sets the calling thread's last error (s3_last_error). */
void s3_set_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* URL of key (NULL: the bucket itself) with an optional query string;
 * malloc'ed, NULL on ENOMEM. */
char *s3_make_url(const struct s3_client *c, const char *key, const char *query);

/* Sends a signed S3 request. On failure sets the thread's last error to
 * "[<what>: ]<Code>: <Message> (<transport detail>)" (what names a step of
 * a larger operation, NULL for none) and copies the S3 error code into
 * code (if given, "" when none). resp is the caller's to free. */
enum wire_status s3_send(struct s3_client *c, struct http_request *req, struct http_response *resp,
			 const char *what, char *code, size_t code_sz);

#endif
