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

/* URL of key (NULL: the bucket itself) with an optional query string;
 * malloc'ed, NULL on ENOMEM. */
char *s3_make_url(const struct s3_client *c, const char *key, const char *query);

/* Sends a signed S3 request. On failure fills err (may be NULL): the
 * message "[<what>: ]<Code>: <Message> (<transport detail>)" (what names a
 * step of a larger operation, NULL for none), the S3 error code ("" when
 * the reply had none) and the HTTP status. resp is the caller's to free. */
enum wire_status s3_send(struct s3_client *c, struct http_request *req, struct http_response *resp,
			 const char *what, struct wire_error *err);

#endif
