/* The S3 client: objects streamed between local files and a bucket (PUT,
 * multipart upload in parallel parts, ranged and conditional GET, HEAD,
 * DELETE, ListObjectsV2 pages) over the shared HTTP client. Every call
 * returns an enum wire_status and says why it failed in the caller's
 * struct wire_error *err (may be NULL), as status.h describes. */
#ifndef TFS_S3_H
#define TFS_S3_H

#include <stddef.h>
#include <stdint.h>

#include "s3/wire/http.h"
#include "s3/wire/status.h"

struct s3_config {
	const char *endpoint; /* "http://127.0.0.1:5000" or https://s3.<region>.amazonaws.com */
	const char *region;   /* signing region; NULL: "us-east-1" */
	const char *bucket;
	int path_style;		      /* 1 path-style, 0 virtual-hosted, -1 auto: virtual-hosted
				       * for *.amazonaws.com (unless the bucket has a dot), path-style
				       * for every other endpoint (IP, localhost, MinIO, ...) */
	uint64_t multipart_threshold; /* 0: default 16 MiB; larger bodies go multipart */
	uint64_t part_size;	      /* 0: default 8 MiB; at least 5 MiB is enforced by S3 */
	int part_parallel;	      /* 0: default 4 parts in flight */
};

struct s3_client;

/* Copies cfg (strings included). http is borrowed and must outlive the
 * client. NULL on a missing endpoint/bucket or on ENOMEM. Thread-safe:
 * one client serves every thread. */
struct s3_client *s3_client_new(const struct s3_config *cfg, struct http_client *http);
void s3_client_free(struct s3_client *c);

/* On a failure err->message says why, without the operation and key (the
 * caller says those: "cannot upload '%s': %s"), e.g.
 * "SlowDown: Please reduce your request rate. (HTTP 503 after 6 attempts in 4210 ms)"
 * or "part 2: network error (Recv failure: Connection reset by peer after 3 attempts ...)";
 * err->code is the S3 <Code> ("NoSuchKey"), "" when the reply had none. */

struct s3_object_info {
	uint64_t size;	    /* whole object size (also for a ranged GET) */
	char etag[80];	    /* as sent by S3, with its quotes */
	int64_t mtime_ms;   /* Last-Modified, ms since the epoch; 0 if absent */
	char meta_hash[80]; /* x-amz-meta-xxh3, "" if absent */
};

struct s3_put_options {
	const char *meta_xxh3; /* stored as x-amz-meta-xxh3; NULL: none */
	int if_none_match;     /* send If-None-Match: * (412 -> WIRE_PRECONDITION) */
};

/* Uploads size bytes of fd, from offset 0, read with pread (the file
 * position is untouched). At or below multipart_threshold: one PutObject
 * with Content-MD5. Above: a multipart upload, part_parallel parts at a
 * time, each read from its own range; aborted on any failure. With
 * if_none_match on a multipart upload the object is HEADed first so an
 * existing object costs no part upload. opt and out may be NULL. */
enum wire_status s3_put_file(struct s3_client *c, const char *key, int fd, uint64_t size,
			     const struct s3_put_options *opt, struct s3_object_info *out,
			     struct wire_error *err);

/* Downloads key (or range_len bytes from range_start; range_len 0 = to the
 * end) into fd with pwrite, at file offset range_start onwards. On a retry
 * the file is truncated back to range_start. if_match: an etag (412 ->
 * WIRE_PRECONDITION) or NULL. out may be NULL. */
enum wire_status s3_get_to_file(struct s3_client *c, const char *key, int fd, uint64_t range_start,
				uint64_t range_len, const char *if_match,
				struct s3_object_info *out, struct wire_error *err);

/* WIRE_NOT_FOUND when there is no such key (HEAD replies carry no body, so
 * a missing bucket also shows as WIRE_NOT_FOUND here). */
enum wire_status s3_head(struct s3_client *c, const char *key, struct s3_object_info *out,
			 struct wire_error *err);

/* Deleting a key that does not exist is WIRE_OK, as in S3. */
enum wire_status s3_delete(struct s3_client *c, const char *key, struct wire_error *err);

struct s3_list_entry {
	char *key;
	uint64_t size;
	int64_t mtime_ms;
	char etag[80];
};

struct s3_list_page {
	struct s3_list_entry *entries; /* n of them, malloc'ed */
	size_t n;
	char *next; /* continuation token for the next page, NULL at the end */
};

/* One ListObjectsV2 page of keys under prefix (NULL or "" = all).
 * continuation: NULL for the first page, then out->next of the previous
 * page. max_keys 0 = 1000. *out is overwritten (not freed first); free it
 * with s3_list_page_free() whatever the status. */
enum wire_status s3_list_page(struct s3_client *c, const char *prefix, const char *continuation,
			      int max_keys, struct s3_list_page *out, struct wire_error *err);
void s3_list_page_free(struct s3_list_page *p);

/* An incomplete multipart upload. */
struct s3_upload {
	char *key;
	char *upload_id;
	int64_t initiated_ms; /* the store's clock; 0 if absent */
};

struct s3_upload_page {
	struct s3_upload *v; /* n of them, malloc'ed */
	size_t n;
	/* markers of the next page, both NULL at the end */
	char *next_key, *next_upload_id;
};

/* One ListMultipartUploads page under prefix; key_marker and
 * upload_id_marker: NULL for the first page, then the previous page's
 * next_key and next_upload_id. *out is overwritten; free it with
 * s3_upload_page_free() whatever the status. */
enum wire_status s3_list_uploads_page(struct s3_client *c, const char *prefix,
				      const char *key_marker, const char *upload_id_marker,
				      struct s3_upload_page *out, struct wire_error *err);
void s3_upload_page_free(struct s3_upload_page *p);

/* AbortMultipartUpload; an upload that is gone already is WIRE_OK. */
enum wire_status s3_abort_upload(struct s3_client *c, const char *key, const char *upload_id,
				 struct wire_error *err);

/* WIRE_OK if the bucket exists and is reachable with these credentials,
 * WIRE_NO_BUCKET if it does not exist. */
enum wire_status s3_head_bucket(struct s3_client *c, struct wire_error *err);

/* Creates the bucket (in cfg->region); an existing bucket we own is OK. */
enum wire_status s3_create_bucket(struct s3_client *c, struct wire_error *err);

#endif
