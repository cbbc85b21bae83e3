/* HTTP for the AWS clients, on libcurl: connections reused across
 * requests, connect and total timeouts, TLS peer verification always on,
 * no "Expect: 100-continue", response bodies capped, SigV4 signing of every
 * attempt, and retries with exponential backoff and full jitter on 5xx,
 * 429/throttling and connection errors (never on other 4xx) within a
 * bounded total retry time. */
#ifndef TFS_HTTP_H
#define TFS_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "s3/wire/creds.h"
#include "s3/wire/status.h"

struct http_client;
struct http_response; /* used by http_request.classify before its definition */

struct http_options {
	long connect_timeout_ms;   /* default 3000 */
	long request_timeout_ms;   /* one attempt, default 30000, plus 1 s per MiB of the request
				    * body or of the reply streamed to out_fd (its length) */
	long max_transfer_ms;	   /* hard cap on one attempt whatever its size, default 1 h */
	long retry_budget_ms;	   /* no retry starts past it but the 2nd, default 20000 */
	int max_attempts;	   /* default 6 */
	long backoff_base_ms;	   /* default 100; delay = rand(0, min(cap, base * 2^n)) */
	long backoff_cap_ms;	   /* default 5000 */
	size_t max_body;	   /* cap on a response body read into memory, default 8 MiB */
	int max_connections;	   /* idle connections kept, default 16 */
	const char *ca_file;	   /* extra CA bundle (loopback TLS tests); NULL: system */
	int64_t (*now_ms)(void);   /* wall clock for signing, injectable; NULL: real clock */
	void (*sleep_ms)(long ms); /* backoff sleep, injectable; NULL: real */
};

/* A client is shared by all threads; each http_send() takes a pooled
 * curl handle. creds may be NULL for unsigned requests (IMDS). The
 * provider is borrowed and must outlive the client. */
struct http_client *http_client_new(const struct http_options *opt, struct cred_provider *creds);
void http_client_free(struct http_client *c);

struct http_header {
	char *name;
	char *value;
};

struct http_request {
	const char *method; /* "GET", "PUT", "POST", "HEAD", "DELETE" */
	const char *url;    /* scheme://host[:port]/path?query, path already URI-encoded */
	const struct http_header *headers; /* extra headers, signed too */
	size_t n_headers;
	/* Body: either memory or a range of a file, never both. */
	const void *body;
	size_t body_len;
	int body_fd; /* -1 when not from a file; read with pread */
	off_t body_off;
	uint64_t body_file_len;
	const char *payload_hash; /* hex sha256 of the body if the caller has it; NULL: computed */
	/* Signing; service NULL means unsigned. */
	const char *service; /* "s3" or "dynamodb" */
	const char *region;
	/* Response body: into resp->body (capped) unless out_fd >= 0, then
	 * written at out_off onwards with pwrite (and truncated back on retry). */
	int out_fd;
	off_t out_off;
	int no_retry; /* one attempt only */
	/* A hard cap on the whole request, retries and backoff included, when
	 * it is lower than the client's retry budget (0: the client's budget
	 * and timeouts). For callers that must give up sooner than background
	 * work does, e.g. DynamoDB calls made for a FUSE request. */
	long budget_ms;
	/* Optional: refines the status of a non-2xx reply from its body (S3
	 * XML <Code>, DynamoDB JSON __type) so that e.g. a 400
	 * ThrottlingException is retried and a 404 NoSuchBucket is told apart.
	 * Called after each failed attempt; the result decides the retry. */
	enum wire_status (*classify)(const struct http_response *resp, void *arg);
	void *classify_arg;
	/* The reply holds a secret (credentials): its body is allocated at
	 * the client's max_body at once (no realloc leaves a copy behind) and
	 * wiped by http_response_free. */
	int secret_reply;
	/* No proxy from the environment: for the link-local metadata
	 * services, which a proxy must never see. */
	int no_proxy;
};

struct http_response {
	long status; /* HTTP status of the last attempt, 0 if none */
	char *body;  /* NUL-terminated, malloc'ed, may be NULL */
	size_t body_len;
	struct http_header *headers; /* response headers, names lower-cased */
	size_t n_headers;
	uint64_t bytes_written; /* to out_fd */
	int attempts;
	int wipe; /* the body holds a secret (secret_reply): wiped when freed */
};

/* Initialise a request with body_fd = out_fd = -1 and everything else 0. */
void http_request_init(struct http_request *r);

/* Sends with retries. Returns WIRE_OK for 2xx, otherwise the status
 * classified from the HTTP status and (for S3 XML / DynamoDB JSON error
 * bodies) left to the caller to refine: the raw body stays in resp.
 * WIRE_SERVER, WIRE_THROTTLED (429, 503 SlowDown), WIRE_NETWORK,
 * WIRE_TIMEOUT are retried; 4xx never. On a failure err (may be NULL)
 * gets the status, the HTTP status and what went wrong below HTTP or last
 * ("Recv failure: Connection reset by peer after 3 attempts in 812 ms",
 * "HTTP 503 ..."); the AWS error code is the caller's to add from the
 * body. The response is the caller's to free with http_response_free(). */
enum wire_status http_send(struct http_client *c, const struct http_request *req,
			   struct http_response *resp, struct wire_error *err);
void http_response_free(struct http_response *resp);

/* Splits url with libcurl's URL API into scheme (may be NULL: not wanted),
 * host (with its port unless the scheme's default), path ("/" at least)
 * and query ("" when none): what is signed and sent as Host is what curl
 * contacts and requests (dot segments removed, no user information). The
 * strings are the caller's to free. 0, -EINVAL or -ENOMEM. */
int http_url_split(const char *url, char **scheme, char **host, char **path, char **query);

/* Value of a response header (name in lower case), or NULL. */
const char *http_response_header(const struct http_response *resp, const char *name);

/* URI-encode s (unreserved characters kept; '/' kept when keep_slash). */
char *http_uri_encode(const char *s, int keep_slash);

/* Counters of requests sent, by service and method, for the benchmark and
 * the cost estimate. */
struct http_stats {
	uint64_t s3_get, s3_put, s3_head, s3_list, s3_delete, s3_other;
	uint64_t ddb_read, ddb_write, ddb_other;
	uint64_t retries;
};
void http_client_stats(struct http_client *c, struct http_stats *out);

#endif
