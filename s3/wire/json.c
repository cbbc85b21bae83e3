/* DynamoDB JSON decoding: error bodies onto enum wire_status, success
 * replies with size and shape checks, and strict readers and writers of
 * typed attribute values. Pure functions: no network, no global state. */
#include "s3/wire/ddb.h"

#include "s3/base/parse.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- error bodies ---- */

struct ddb_type_map {
	const char *type;
	enum wire_status st;
};

/* Error types from the DynamoDB API reference ("Common Errors" and the
 * per-operation lists); anything else falls back on the HTTP status. */
static const struct ddb_type_map ddb_types[] = {
    {"ConditionalCheckFailedException", WIRE_CONDITION_FAILED},
    {"ResourceNotFoundException", WIRE_NO_TABLE},
    {"ProvisionedThroughputExceededException", WIRE_THROTTLED},
    {"ThrottlingException", WIRE_THROTTLED},
    {"RequestLimitExceeded", WIRE_THROTTLED},
    {"UnrecognizedClientException", WIRE_AUTH},
    {"InvalidSignatureException", WIRE_AUTH},
    {"IncompleteSignatureException", WIRE_AUTH},
    {"MissingAuthenticationToken", WIRE_AUTH},
    {"MissingAuthenticationTokenException", WIRE_AUTH},
    {"ExpiredTokenException", WIRE_AUTH},
    {"AccessDeniedException", WIRE_ACCESS_DENIED},
    {"InternalServerError", WIRE_SERVER},
    {"InternalFailure", WIRE_SERVER},
    {"ServiceUnavailable", WIRE_SERVER},
    {"ServiceUnavailableException", WIRE_SERVER},
    {"ValidationException", WIRE_CLIENT},
};

enum wire_status ddb_error_status(const char *type, long http_status)
{
	size_t i;

	if (type && *type) {
		for (i = 0; i < sizeof(ddb_types) / sizeof(ddb_types[0]); i++)
			if (strcmp(type, ddb_types[i].type) == 0)
				return ddb_types[i].st;
	}
	if (http_status >= 500)
		return WIRE_SERVER;
	if (http_status == 429)
		return WIRE_THROTTLED;
	return WIRE_CLIENT;
}

/* Copies src into dst (size bytes), truncating, and replaces control
 * characters so that a hostile message cannot forge log lines. */
static void copy_printable(char *dst, size_t size, const char *src, size_t len)
{
	size_t i, n = len < size - 1 ? len : size - 1;

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)src[i];

		dst[i] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
	}
	dst[n] = '\0';
}

static enum wire_status fallback_status(long http_status)
{
	if (http_status >= 500)
		return WIRE_SERVER;
	if (http_status == 429)
		return WIRE_THROTTLED;
	return WIRE_BAD_RESPONSE;
}

enum wire_status ddb_decode_error(long http_status, const char *body, size_t len,
				  struct wire_error *err)
{
	struct wire_error scratch;
	json_t *root = NULL, *type, *val;
	json_error_t jerr;
	const char *t, *key, *hash;
	enum wire_status st;

	if (!err)
		err = &scratch;
	wire_error_clear(err);
	err->http_status = http_status;
	if (!body || len == 0 || len > DDB_MAX_REPLY) {
		copy_printable(err->message, sizeof(err->message),
			       len > DDB_MAX_REPLY ? "oversized error body" : "empty error body",
			       len > DDB_MAX_REPLY ? 20 : 16);
		st = fallback_status(http_status);
		goto out;
	}
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	type = root ? json_object_get(root, "__type") : NULL;
	if (!json_is_object(root) || !json_is_string(type)) {
		snprintf(err->message, sizeof(err->message), "undecodable error body (%zu bytes)",
			 len);
		st = fallback_status(http_status);
		goto out;
	}
	t = json_string_value(type);
	hash = strrchr(t, '#');
	if (hash)
		t = hash + 1;
	copy_printable(err->code, sizeof(err->code), t, strlen(t));
	json_object_foreach(root, key, val)
	{
		if (strcasecmp(key, "message") == 0 && json_is_string(val)) {
			copy_printable(err->message, sizeof(err->message), json_string_value(val),
				       json_string_length(val));
			break;
		}
	}
	/* A type cut short by the buffer must not match a shorter known name. */
	st = strlen(t) >= sizeof(err->code) ? ddb_error_status(NULL, http_status)
					    : ddb_error_status(err->code, http_status);
out:
	err->status = st;
	json_decref(root);
	return st;
}

enum wire_status ddb_decode_reply(const char *body, size_t len, json_t **out)
{
	json_error_t jerr;
	json_t *root;

	*out = NULL;
	if (!body || len == 0 || len > DDB_MAX_REPLY)
		return WIRE_BAD_RESPONSE;
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(root)) {
		json_decref(root);
		return WIRE_BAD_RESPONSE;
	}
	*out = root;
	return WIRE_OK;
}

/* ---- attribute values ---- */

json_t *ddb_av_s(const char *s)
{
	json_t *v, *o;

	if (!s)
		return NULL;
	v = json_string(s);
	if (!v)
		return NULL;
	o = json_object();
	if (!o || json_object_set_new(o, "S", v) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *av_n(const char *digits)
{
	json_t *o = json_object();

	if (!o || json_object_set_new(o, "N", json_string(digits)) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *ddb_av_n_u64(uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return av_n(buf);
}

json_t *ddb_av_n_i64(int64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRId64, v);
	return av_n(buf);
}

int ddb_parse_i64(const char *s, int64_t *v)
{
	uint64_t mag;
	int neg = 0;

	if (s && *s == '-') {
		neg = 1;
		s++;
	}
	if (tfs_parse_u64(s, &mag, NULL) != 0)
		return -EINVAL;
	if (neg) {
		if (mag > (uint64_t)INT64_MAX + 1)
			return -EINVAL;
		*v = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
	} else {
		if (mag > (uint64_t)INT64_MAX)
			return -EINVAL;
		*v = (int64_t)mag;
	}
	return 0;
}

/* The string inside item[name][tag], where the attribute value must be an
 * object with that single member. */
static int av_get(json_t *item, const char *name, const char *tag, json_t **str)
{
	json_t *av, *s;

	if (!item)
		return -ENOENT;
	if (!json_is_object(item))
		return -EINVAL;
	av = json_object_get(item, name);
	if (!av)
		return -ENOENT;
	if (!json_is_object(av) || json_object_size(av) != 1)
		return -EINVAL;
	s = json_object_get(av, tag);
	if (!json_is_string(s))
		return -EINVAL;
	/* A string built in memory may carry a NUL the C side would cut at. */
	if (memchr(json_string_value(s), '\0', json_string_length(s)))
		return -EINVAL;
	*str = s;
	return 0;
}

int ddb_av_get_s(json_t *item, const char *name, char *buf, size_t size)
{
	json_t *s;
	size_t len;
	int rc;

	if (buf && size)
		buf[0] = '\0';
	if (!buf || size == 0)
		return -EINVAL;
	rc = av_get(item, name, "S", &s);
	if (rc)
		return rc;
	len = json_string_length(s);
	if (len >= size)
		return -E2BIG;
	memcpy(buf, json_string_value(s), len);
	buf[len] = '\0';
	return 0;
}

int ddb_av_get_u64(json_t *item, const char *name, uint64_t *v)
{
	json_t *s;
	int rc = av_get(item, name, "N", &s);

	return rc ? rc : tfs_parse_u64(json_string_value(s), v, NULL);
}

int ddb_av_get_i64(json_t *item, const char *name, int64_t *v)
{
	json_t *s;
	int rc = av_get(item, name, "N", &s);

	return rc ? rc : ddb_parse_i64(json_string_value(s), v);
}
