/* AWS Signature Version 4 with OpenSSL. Every stage is exposed so tests can
 * check it against golden vectors and boto3: canonical request, string to
 * sign, signing key, signature, Authorization header. The clock is the
 * caller's: pass the request time in, so tests can fix it. */
#ifndef TFS_SIGV4_H
#define TFS_SIGV4_H

#include <stddef.h>
#include <time.h>

#include "s3/wire/status.h"

struct sigv4_header {
	const char *name;  /* any case; canonicalised to lower case */
	const char *value; /* trimmed, inner runs of spaces folded */
};

struct sigv4_request {
	const char *method;		    /* "GET", "PUT", ... */
	const char *path;		    /* the path as sent on the wire, already URI-encoded */
	const char *query;		    /* the raw query string as sent, without '?', or NULL */
	const struct sigv4_header *headers; /* must include host; see sigv4_sign() */
	size_t n_headers;
	const char *payload_hash; /* lower-case hex SHA-256 of the body, or "UNSIGNED-PAYLOAD" */
	const char *region;	  /* "us-east-1" */
	const char *service;	  /* "s3", "dynamodb" */
	time_t when;		  /* request time, UTC seconds */
};

struct sigv4_creds {
	const char *access_key;
	const char *secret_key;
	const char *session_token; /* NULL when not temporary credentials */
};

/* All outputs are malloc'ed strings owned by the caller (free()), or NULL
 * on allocation failure. The secret key never appears in any of them; a
 * signed x-amz-security-token does appear in the canonical request. */

/* "20150830T123600Z" into buf (at least 17 bytes). */
void sigv4_amz_date(time_t when, char buf[17]);

/* Canonical query string: each name and value URI-encoded (unreserved
 * characters kept, everything else %XX upper case; an already encoded
 * input is decoded first; '+' is a literal plus, not a space), pairs sorted
 * by name then value, empty values kept as "name=", empty pairs dropped. */
char *sigv4_canonical_query(const char *query);

/* The canonical request (six lines joined by '\n'). The caller's headers
 * are signed as given: sigv4_sign() adds x-amz-date, x-amz-content-sha256
 * (for s3) and x-amz-security-token before calling this. The path: for s3
 * as given; for other services dot and empty segments are removed and each
 * segment is URI-encoded again (as the AWS SDKs do); empty means "/".
 * *signed_headers (may be NULL) gets the ';'-joined lower-case names. */
char *sigv4_canonical_request(const struct sigv4_request *req, char **signed_headers);

/* "AWS4-HMAC-SHA256\n<date>\n<scope>\n<hex sha256(canonical request)>". */
char *sigv4_string_to_sign(const struct sigv4_request *req, const char *canonical_request);

/* The 32-byte signing key HMAC chain: kDate, kRegion, kService, kSigning. */
void sigv4_signing_key(const char *secret_key, time_t when, const char *region, const char *service,
		       unsigned char key[32]);

/* Lower-case hex signature of string_to_sign under key (65 bytes buf). */
void sigv4_signature(const unsigned char key[32], const char *string_to_sign, char hex[65]);

/* Lower-case hex SHA-256 of a memory buffer (65 bytes buf). */
void sigv4_sha256_hex(const void *data, size_t len, char hex[65]);

/* Signs a request. Returns in *out_headers a malloc'ed array of the headers
 * the caller must add to the wire request (x-amz-date, x-amz-content-sha256
 * when service is "s3", x-amz-security-token when there is a session token,
 * and authorization), *n_out of them; free with sigv4_headers_free(), which
 * wipes them. Caller headers of those names are left out of the signature
 * (the caller must not send them). WIRE_INVALID without a host header or
 * keys, WIRE_NOMEM; thread-safe. */
enum wire_status sigv4_sign(const struct sigv4_request *req, const struct sigv4_creds *creds,
			    struct sigv4_header **out_headers, size_t *n_out);
void sigv4_headers_free(struct sigv4_header *h, size_t n);

#endif
