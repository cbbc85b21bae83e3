/* The status every wire-layer call returns. One value per thing a caller
 * can act on differently; wire_status_str() names it for log lines. */
#ifndef TFS_STATUS_H
#define TFS_STATUS_H

#include <stdbool.h>

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

#endif
