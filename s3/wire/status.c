/* Names, retry class and errno mapping of enum wire_status; filling a
 * struct wire_error. */
#include "s3/wire/status.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *wire_status_str(enum wire_status st)
{
	switch (st) {
	case WIRE_OK: return "ok";
	case WIRE_NOT_FOUND: return "not found";
	case WIRE_NO_BUCKET: return "no such bucket";
	case WIRE_NO_TABLE: return "no such table";
	case WIRE_PRECONDITION: return "precondition failed";
	case WIRE_CONDITION_FAILED: return "condition failed";
	case WIRE_AUTH: return "authentication failed";
	case WIRE_ACCESS_DENIED: return "access denied";
	case WIRE_THROTTLED: return "throttled";
	case WIRE_SERVER: return "server error";
	case WIRE_NETWORK: return "network error";
	case WIRE_TIMEOUT: return "timed out";
	case WIRE_BAD_RESPONSE: return "malformed response";
	case WIRE_CLIENT: return "request rejected";
	case WIRE_NO_CREDENTIALS: return "no credentials";
	case WIRE_INVALID: return "invalid argument";
	case WIRE_LOCAL_IO: return "local i/o error";
	case WIRE_NOMEM: return "out of memory";
	}
	return "unknown status";
}

bool wire_status_is_retryable(enum wire_status st)
{
	return st == WIRE_THROTTLED || st == WIRE_SERVER || st == WIRE_NETWORK ||
	       st == WIRE_TIMEOUT;
}

int wire_status_errno(enum wire_status st)
{
	switch (st) {
	case WIRE_OK: return 0;
	case WIRE_NOT_FOUND: return -ENOENT;
	case WIRE_NO_BUCKET:
	case WIRE_NO_TABLE: return -ENXIO;
	case WIRE_PRECONDITION:
	case WIRE_CONDITION_FAILED: return -ESTALE;
	case WIRE_AUTH:
	case WIRE_ACCESS_DENIED:
	case WIRE_NO_CREDENTIALS: return -EACCES;
	case WIRE_THROTTLED:
	case WIRE_SERVER:
	case WIRE_NETWORK: return -EIO;
	case WIRE_TIMEOUT: return -ETIMEDOUT;
	case WIRE_BAD_RESPONSE:
	case WIRE_CLIENT: return -EIO;
	case WIRE_INVALID: return -EINVAL;
	case WIRE_LOCAL_IO: return -EIO;
	case WIRE_NOMEM: return -ENOMEM;
	}
	return -EIO;
}

void wire_error_clear(struct wire_error *err)
{
	if (err)
		memset(err, 0, sizeof(*err));
}

enum wire_status wire_error_set(struct wire_error *err, enum wire_status st, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return st;
	err->status = st;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return st;
}
