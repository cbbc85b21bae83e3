/* The status every wire-layer call returns. One value per thing a caller
 * can act on differently; wire_status_str() names it for log lines.
 *
 * The error convention of the whole wire layer (s3/wire/), in one place:
 * every call returns an enum wire_status (helpers that only parse or check
 * an argument may return 0 or -errno, as their header says) and, where
 * the caller may want to say why, takes a caller-owned struct wire_error
 * *err as its last argument. The call clears *err on entry and, when it
 * fails, fills it: status class, HTTP status, AWS error code and one
 * message line. err may be NULL when the reason is not wanted. There is
 * no other channel: no thread-local "last error", no message in a reply
 * struct. Messages say what failed first, then why, without the caller's
 * operation or key (the caller adds those: "cannot upload '%s': %s"), and
 * never hold a secret (no header, credential or signature goes in one).
 * The layers above map a status to -errno with wire_status_errno(). */
#ifndef TFS_STATUS_H
#define TFS_STATUS_H

#include <stdbool.h>
#include <stddef.h>

enum wire_status {
	WIRE_OK = 0,
	WIRE_NOT_FOUND,	       /* 404: NoSuchKey, ResourceNotFoundException on an item */
	WIRE_NO_BUCKET,	       /* NoSuchBucket */
	WIRE_NO_TABLE,	       /* DynamoDB ResourceNotFoundException for a table */
	WIRE_PRECONDITION,     /* S3 412 PreconditionFailed (If-None-Match / If-Match) */
	WIRE_CONDITION_FAILED, /* DynamoDB ConditionalCheckFailedException */
	WIRE_AUTH,	       /* bad signature, unknown key id, expired token (403/400) */
	WIRE_ACCESS_DENIED,    /* authenticated but not allowed */
	WIRE_THROTTLED,	       /* 429, SlowDown, ProvisionedThroughputExceeded... */
	WIRE_SERVER,	       /* 5xx */
	WIRE_NETWORK,	       /* connect failure, reset, dropped mid-body */
	WIRE_TIMEOUT,	       /* connect or total timeout */
	WIRE_BAD_RESPONSE,     /* malformed, truncated or oversized reply */
	WIRE_CLIENT,	       /* any other 4xx / unknown error type */
	WIRE_NO_CREDENTIALS,   /* nothing in the credential chain */
	WIRE_INVALID,	       /* bad argument from the caller */
	WIRE_LOCAL_IO,	       /* reading or writing a local file failed */
	WIRE_NOMEM,
};

const char *wire_status_str(enum wire_status st);

/* True for the statuses worth retrying with backoff: server errors,
 * throttling, network errors and timeouts. Never for other 4xx. */
bool wire_status_is_retryable(enum wire_status st);

/* A negative errno for a status, for the layers above (cache/, fuse/). */
int wire_status_errno(enum wire_status st);

/* Why a wire call failed; the caller owns it (see the top of this file).
 * Every string is NUL-terminated, cut to fit and free of secrets. */
struct wire_error {
	enum wire_status status; /* WIRE_OK when nothing failed */
	long http_status;	 /* of the last reply, 0 when none arrived */
	char code[128];		 /* AWS error code: S3 <Code>, the DynamoDB __type after
				  * its '#' ("NoSuchKey", "ConditionalCheckFailedException");
				  * "" when the reply had none */
	char message[512];	 /* one line for a log, "" when nothing failed */
};

/* Empties *err (status WIRE_OK, no message). err may be NULL. */
void wire_error_clear(struct wire_error *err);

/* Sets err's status and its message from fmt; code and
 * http_status are kept. Returns st, so that a failure reads
 * "return wire_error_set(err, WIRE_INVALID, "invalid argument");".
 * err may be NULL. */
enum wire_status wire_error_set(struct wire_error *err, enum wire_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
