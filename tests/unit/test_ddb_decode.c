/* Unit tests of DynamoDB decoding: error bodies onto wire statuses, reply
 * shape and size checks, typed attribute values, and catalog items (good
 * and malformed) with hist trimming. No network. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cache/catalog/catalog_ddb_i.h"
#include "s3/base/log.h"
#include "s3/wire/ddb.h"
#include "tests/unit/tap.h"

static enum wire_status dec_err(long http, const char *body, struct wire_error *e)
{
	return ddb_decode_error(http, body, body ? strlen(body) : 0, e);
}

static void test_status_map(void)
{
	static const struct {
		const char *type;
		long http;
		enum wire_status st;
	} cases[] = {
	    {"ConditionalCheckFailedException", 400, WIRE_CONDITION_FAILED},
	    {"ResourceNotFoundException", 400, WIRE_NO_TABLE},
	    {"ProvisionedThroughputExceededException", 400, WIRE_THROTTLED},
	    {"ThrottlingException", 400, WIRE_THROTTLED},
	    {"RequestLimitExceeded", 400, WIRE_THROTTLED},
	    {"UnrecognizedClientException", 400, WIRE_AUTH},
	    {"InvalidSignatureException", 400, WIRE_AUTH},
	    {"MissingAuthenticationToken", 403, WIRE_AUTH},
	    {"ExpiredTokenException", 400, WIRE_AUTH},
	    {"AccessDeniedException", 400, WIRE_ACCESS_DENIED},
	    {"InternalServerError", 500, WIRE_SERVER},
	    {"ServiceUnavailable", 503, WIRE_SERVER},
	    {"ValidationException", 400, WIRE_CLIENT},
	    {"SomethingNewException", 400, WIRE_CLIENT},
	    {"SomethingNewException", 503, WIRE_SERVER},
	    {"", 429, WIRE_THROTTLED},
	    {NULL, 400, WIRE_CLIENT},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum wire_status st = ddb_error_status(cases[i].type, cases[i].http);

		TAP_OK(st == cases[i].st, "status of '%s' (http %ld) is %s (got %s)",
		       cases[i].type ? cases[i].type : "(null)", cases[i].http,
		       wire_status_str(cases[i].st), wire_status_str(st));
	}
	TAP_OK(ddb_error_status("ConditionalCheckFailedException", 400) !=
		   ddb_error_status("ValidationException", 400),
	       "condition failed is distinct from a validation error");
}

static void test_error_bodies(void)
{
	struct wire_error e;
	enum wire_status st;
	char *big, *longtype;
	size_t n;

	st = dec_err(400,
		     "{\"__type\":\"com.amazonaws.dynamodb.v20120810#"
		     "ConditionalCheckFailedException\",\"message\":\"The conditional request "
		     "failed\"}",
		     &e);
	TAP_OK(st == WIRE_CONDITION_FAILED, "namespaced __type decodes to condition failed");
	TAP_STREQ(e.code, "ConditionalCheckFailedException", "type is the part after '#'");
	TAP_STREQ(e.message, "The conditional request failed", "lower-case message key");
	TAP_OK(e.http_status == 400, "http status kept");

	st =
	    dec_err(400, "{\"__type\":\"ResourceNotFoundException\",\"Message\":\"no table\"}", &e);
	TAP_OK(st == WIRE_NO_TABLE, "__type without '#' decodes");
	TAP_STREQ(e.message, "no table", "capitalised Message key");

	st = dec_err(400, "{\"MESSAGE\":\"odd\",\"__type\":\"x#ValidationException\"}", &e);
	TAP_OK(st == WIRE_CLIENT, "validation error is a client error");
	TAP_STREQ(e.message, "odd", "message key matched case-insensitively");

	st = dec_err(400, "{\"__type\":\"x#ThrottlingException\"}", &e);
	TAP_OK(st == WIRE_THROTTLED && e.message[0] == '\0', "no message: empty message");

	st = dec_err(400, "{\"__type\":\"x#BrandNewException\",\"message\":\"m\"}", &e);
	TAP_OK(st == WIRE_CLIENT, "unknown type on 400 is a client error");
	TAP_STREQ(e.code, "BrandNewException", "unknown type still reported");

	st = dec_err(400, "<html>bad gateway</html>", &e);
	TAP_OK(st == WIRE_BAD_RESPONSE, "non-JSON 400 body is a bad response");
	st = dec_err(502, "<html>bad gateway</html>", &e);
	TAP_OK(st == WIRE_SERVER, "non-JSON 502 body is a server error");
	st = dec_err(429, "", &e);
	TAP_OK(st == WIRE_THROTTLED, "empty 429 body is throttling");
	st = dec_err(400, NULL, &e);
	TAP_OK(st == WIRE_BAD_RESPONSE, "missing 400 body is a bad response");
	st = dec_err(400, "{\"__type\":\"x#ConditionalCheckFail", &e);
	TAP_OK(st == WIRE_BAD_RESPONSE, "truncated error body is a bad response");
	st = dec_err(400, "{\"__type\":17,\"message\":\"m\"}", &e);
	TAP_OK(st == WIRE_BAD_RESPONSE, "__type that is not a string is a bad response");
	st = dec_err(400, "[\"__type\"]", &e);
	TAP_OK(st == WIRE_BAD_RESPONSE, "array body is a bad response");
	st = dec_err(400, "{\"__type\":\"a#ValidationException\",\"__type\":\"b#X\"}", &e);
	TAP_OK(st == WIRE_BAD_RESPONSE, "duplicate keys are a bad response");
	st = ddb_decode_error(400, "{\"__type\":\"x#ValidationException\"}\0junk", 40, &e);
	TAP_OK(st == WIRE_BAD_RESPONSE, "embedded NUL is a bad response");

	/* Oversized: larger than DDB_MAX_REPLY, even if well-formed. */
	n = DDB_MAX_REPLY + 64;
	big = malloc(n + 1);
	if (big) {
		memset(big, ' ', n);
		memcpy(big, "{\"__type\":\"x#ThrottlingException\"}", 34);
		big[n] = '\0';
		st = ddb_decode_error(400, big, n, &e);
		TAP_OK(st == WIRE_BAD_RESPONSE, "oversized error body is a bad response");
		st = ddb_decode_error(400, big, 40, &e);
		TAP_OK(st == WIRE_THROTTLED, "same body within the cap decodes");
		free(big);
	}

	/* A type longer than the buffer is cut, NUL-terminated, unmatched. */
	longtype = malloc(4096);
	if (longtype) {
		memset(longtype, 0, 4096);
		strcpy(longtype, "{\"__type\":\"x#ConditionalCheckFailedException");
		n = strlen(longtype);
		memset(longtype + n, 'Z', 1000);
		strcpy(longtype + n + 1000, "\",\"message\":\"");
		n = strlen(longtype);
		memset(longtype + n, 'm', 2000);
		strcpy(longtype + n + 2000, "\"}");
		st = dec_err(400, longtype, &e);
		TAP_OK(st == WIRE_CLIENT, "overlong unknown type is a client error");
		TAP_OK(strlen(e.code) == sizeof(e.code) - 1, "overlong type truncated to %zu",
		       sizeof(e.code) - 1);
		TAP_OK(strlen(e.message) == sizeof(e.message) - 1,
		       "overlong message truncated to %zu", sizeof(e.message) - 1);
		free(longtype);
	}

	st = dec_err(400, "{\"__type\":\"x#ValidationException\",\"message\":\"a\\nb\\u001bc\"}",
		     &e);
	TAP_STREQ(e.message, "a?b?c", "control characters in message replaced");

	st = dec_err(400, "{\"__type\":\"x#ValidationException\",\"message\":\"a\\u0000b\"}", &e);
	TAP_OK(st == WIRE_BAD_RESPONSE, "escaped NUL in message is a bad response");

	st = ddb_decode_error(500, "{}", 2, NULL);
	TAP_OK(st == WIRE_SERVER, "NULL err accepted (classify callback)");
}

static void test_replies(void)
{
	json_t *out = NULL;
	enum wire_status st;
	char *big;
	size_t n;

	st = ddb_decode_reply("{\"Item\":{\"id\":{\"S\":\"1\"}}}", 25, &out);
	TAP_OK(st == WIRE_OK && json_is_object(out), "good reply decodes");
	json_decref(out);
	st = ddb_decode_reply("{}", 2, &out);
	TAP_OK(st == WIRE_OK && json_object_size(out) == 0, "empty object reply decodes");
	json_decref(out);
	st = ddb_decode_reply("", 0, &out);
	TAP_OK(st == WIRE_BAD_RESPONSE && !out, "empty reply is a bad response");
	st = ddb_decode_reply(NULL, 0, &out);
	TAP_OK(st == WIRE_BAD_RESPONSE && !out, "NULL reply is a bad response");
	st = ddb_decode_reply("{\"Item\":{\"id\":{\"S\":\"1\"}}", 24, &out);
	TAP_OK(st == WIRE_BAD_RESPONSE && !out, "truncated reply is a bad response");
	st = ddb_decode_reply("[1,2]", 5, &out);
	TAP_OK(st == WIRE_BAD_RESPONSE && !out, "array reply is a bad response");
	st = ddb_decode_reply("\"x\"", 3, &out);
	TAP_OK(st == WIRE_BAD_RESPONSE && !out, "string reply is a bad response");
	st = ddb_decode_reply("{} trailing", 11, &out);
	TAP_OK(st == WIRE_BAD_RESPONSE && !out, "trailing garbage is a bad response");

	n = DDB_MAX_REPLY + 1;
	big = malloc(n);
	if (big) {
		memset(big, ' ', n);
		big[0] = '{';
		big[n - 1] = '}';
		st = ddb_decode_reply(big, n, &out);
		TAP_OK(st == WIRE_BAD_RESPONSE && !out, "oversized reply is a bad response");
		st = ddb_decode_reply(big, n - 1, &out);
		TAP_OK(st == WIRE_BAD_RESPONSE && !out, "its cut-off prefix is too");
		big[n - 2] = '}';
		st = ddb_decode_reply(big, n - 1, &out);
		TAP_OK(st == WIRE_OK, "a reply of exactly the cap decodes");
		json_decref(out);
		free(big);
	}
}

static void test_numbers(void)
{
	int64_t s = 7;

	TAP_OK(ddb_parse_i64("-9223372036854775808", &s) == 0 && s == INT64_MIN, "i64 min");
	TAP_OK(ddb_parse_i64("9223372036854775807", &s) == 0 && s == INT64_MAX, "i64 max");
	TAP_OK(ddb_parse_i64("9223372036854775808", &s) == -EINVAL, "i64 overflow rejected");
	TAP_OK(ddb_parse_i64("-9223372036854775809", &s) == -EINVAL, "i64 underflow rejected");
	TAP_OK(ddb_parse_i64("-", &s) == -EINVAL, "lone minus rejected");
	TAP_OK(ddb_parse_i64("-42", &s) == 0 && s == -42, "negative i64");
}

static void test_attr_values(void)
{
	json_t *m = json_object(), *v;
	char buf[4], *dump;
	uint64_t u;
	int64_t s;

	json_object_set_new(m, "s", ddb_av_s("abc"));
	json_object_set_new(m, "long", ddb_av_s("abcd"));
	json_object_set_new(m, "n", ddb_av_n_u64(UINT64_MAX));
	json_object_set_new(m, "neg", ddb_av_n_i64(-5));
	json_object_set_new(m, "two", json_pack("{s:s, s:s}", "S", "a", "N", "1"));
	json_object_set_new(m, "ns", json_pack("{s:i}", "N", 5));
	json_object_set_new(m, "nul", json_pack("{s:s%}", "S", "a\0b", (size_t)3));

	v = ddb_av_s("x");
	dump = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
	TAP_STREQ(dump, "{\"S\":\"x\"}", "string attribute value encodes");
	free(dump);
	json_decref(v);
	v = ddb_av_n_i64(-12);
	dump = json_dumps(v, JSON_COMPACT);
	TAP_STREQ(dump, "{\"N\":\"-12\"}", "number attribute value encodes as a string");
	free(dump);
	json_decref(v);

	TAP_OK(ddb_av_get_s(m, "s", buf, sizeof(buf)) == 0 && strcmp(buf, "abc") == 0,
	       "string that exactly fits");
	TAP_OK(ddb_av_get_s(m, "long", buf, sizeof(buf)) == -E2BIG && buf[0] == '\0',
	       "string one too long is -E2BIG, buffer left empty");
	TAP_OK(ddb_av_get_s(m, "n", buf, sizeof(buf)) == -EINVAL, "N read as S is -EINVAL");
	TAP_OK(ddb_av_get_u64(m, "s", &u) == -EINVAL, "S read as N is -EINVAL");
	TAP_OK(ddb_av_get_u64(m, "missing", &u) == -ENOENT, "absent is -ENOENT");
	TAP_OK(ddb_av_get_u64(m, "n", &u) == 0 && u == UINT64_MAX, "u64 round trip");
	TAP_OK(ddb_av_get_i64(m, "neg", &s) == 0 && s == -5, "i64 round trip");
	TAP_OK(ddb_av_get_u64(m, "neg", &u) == -EINVAL, "negative read as u64 is -EINVAL");
	TAP_OK(ddb_av_get_s(m, "two", buf, sizeof(buf)) == -EINVAL,
	       "attribute value with two types is -EINVAL");
	TAP_OK(ddb_av_get_u64(m, "ns", &u) == -EINVAL, "JSON number instead of string: -EINVAL");
	TAP_OK(ddb_av_get_s(m, "nul", buf, sizeof(buf)) == -EINVAL,
	       "string with embedded NUL is -EINVAL");
	TAP_OK(ddb_av_get_s(NULL, "s", buf, sizeof(buf)) == -ENOENT, "NULL item is -ENOENT");
	json_decref(m);
}

/* ---- catalog items ---- */

static const char *good_item =
    "{\"id\":{\"S\":\"42\"},\"owner\":{\"S\":\"node-a\"},\"expires\":{\"N\":\"1700000000000\"},"
    "\"epoch\":{\"N\":\"3\"},\"gen\":{\"N\":\"2\"},"
    "\"hash\":{\"S\":\"0123456789abcdef0123456789abcdef\"},\"size\":{\"N\":\"4096\"},"
    "\"mtime\":{\"N\":\"1699999999999\"},\"want\":{\"S\":\"node-b\"},"
    "\"hist\":{\"L\":[{\"M\":{\"t\":{\"N\":\"10\"},\"g\":{\"N\":\"1\"},"
    "\"h\":{\"S\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}}},"
    "{\"M\":{\"t\":{\"N\":\"20\"},\"g\":{\"N\":\"2\"},"
    "\"h\":{\"S\":\"0123456789abcdef0123456789abcdef\"}}}]},"
    "\"extra\":{\"BOOL\":true}}";

/* Decodes good_item with attribute name replaced by the JSON value repl
 * (NULL removes it). */
static int decode_variant(const char *name, const char *repl, struct cat_item *it)
{
	json_t *m = json_loads(good_item, 0, NULL);
	int rc;

	if (!m)
		return -12345;
	if (repl)
		json_object_set_new(m, name, json_loads(repl, JSON_DECODE_ANY, NULL));
	else
		json_object_del(m, name);
	rc = catalog_ddb_decode_item(m, it);
	json_decref(m);
	return rc;
}

static void test_items(void)
{
	struct cat_item it;
	char idbuf[300], *j;
	json_t *m;
	int rc, i;

	rc = decode_variant("none", NULL, &it);
	TAP_OK(rc == 0, "good item decodes (rc %d)", rc);
	TAP_STREQ(it.id, "42", "id");
	TAP_STREQ(it.owner, "node-a", "owner");
	TAP_OK(it.expires_ms == 1700000000000LL && it.epoch == 3 && it.gen == 2 &&
		   it.size == 4096 && it.mtime_ms == 1699999999999LL && it.deleted_ms == 0,
	       "numbers");
	TAP_STREQ(it.hash, "0123456789abcdef0123456789abcdef", "hash");
	TAP_STREQ(it.want, "node-b", "want");
	TAP_OK(it.n_hist == 2 && it.hist[0].gen == 1 && it.hist[1].time_ms == 20 &&
		   strcmp(it.hist[0].hash, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa") == 0,
	       "hist");

	rc = decode_variant("owner", NULL, &it);
	TAP_OK(rc == 0 && it.owner[0] == '\0', "absent owner reads as free");
	rc = decode_variant("gen", NULL, &it);
	TAP_OK(rc == 0 && it.gen == 0, "absent gen reads as 0");
	rc = decode_variant("deleted", "{\"N\":\"77\"}", &it);
	TAP_OK(rc == 0 && it.deleted_ms == 77, "tombstone time");

	TAP_OK(decode_variant("id", NULL, &it) == -EIO, "missing id rejected");
	TAP_OK(decode_variant("id", "{\"S\":\"\"}", &it) == -EIO, "empty id rejected");
	TAP_OK(decode_variant("id", "{\"N\":\"42\"}", &it) == -EIO, "numeric id rejected");
	memset(idbuf, 0, sizeof(idbuf));
	strcpy(idbuf, "{\"S\":\"");
	memset(idbuf + 6, 'x', CAT_ID_MAX);
	strcat(idbuf, "\"}");
	rc = decode_variant("id", idbuf, &it);
	TAP_OK(rc == 0 && strlen(it.id) == CAT_ID_MAX, "id of CAT_ID_MAX accepted");
	memset(idbuf + 6, 'x', CAT_ID_MAX + 1);
	strcpy(idbuf + 6 + CAT_ID_MAX + 1, "\"}");
	rc = decode_variant("id", idbuf, &it);
	TAP_OK(rc == -EIO && it.id[0] == '\0', "id longer than CAT_ID_MAX rejected");
	TAP_OK(decode_variant("owner", "{\"N\":\"1\"}", &it) == -EIO, "numeric owner rejected");
	TAP_OK(decode_variant("owner", "\"node-a\"", &it) == -EIO, "bare string owner rejected");
	TAP_OK(decode_variant("epoch", "{\"N\":\"abc\"}", &it) == -EIO, "bad epoch rejected");
	TAP_OK(decode_variant("epoch", "{\"S\":\"3\"}", &it) == -EIO, "string epoch rejected");
	TAP_OK(decode_variant("expires", "{\"N\":\"1.5\"}", &it) == -EIO,
	       "fractional expires rejected");
	TAP_OK(decode_variant("gen", "{\"N\":\"-1\"}", &it) == -EIO, "negative gen rejected");
	TAP_OK(decode_variant("hash", "{\"S\":\"0123456789abcdef0123456789abcdef0\"}", &it) == -EIO,
	       "hash of 33 digits rejected");
	TAP_OK(decode_variant("hash", "{\"S\":\"0123456789ABCDEF0123456789abcdef\"}", &it) == -EIO,
	       "upper-case hash rejected");
	TAP_OK(decode_variant("hist", "{\"M\":{}}", &it) == -EIO, "hist that is a map rejected");
	TAP_OK(decode_variant("hist", "{\"L\":[{\"M\":{\"t\":{\"N\":\"1\"}}}]}", &it) == -EIO,
	       "hist entry without g rejected");
	TAP_OK(decode_variant("hist", "{\"L\":[{\"S\":\"x\"}]}", &it) == -EIO,
	       "hist entry that is a string rejected");
	TAP_OK(decode_variant("hist",
			      "{\"L\":[{\"M\":{\"t\":{\"N\":\"1\"},\"g\":{\"N\":\"1\"},"
			      "\"h\":{\"N\":\"1\"}}}]}",
			      &it) == -EIO,
	       "hist entry with numeric hash rejected");
	rc = decode_variant("hist", "{\"L\":[{\"M\":{\"t\":{\"N\":\"1\"},\"g\":{\"N\":\"1\"}}}]}",
			    &it);
	TAP_OK(rc == 0 && it.n_hist == 1 && it.hist[0].hash[0] == '\0',
	       "hist entry without hash (tombstone) accepted");

	m = json_loads("[1]", 0, NULL);
	TAP_OK(catalog_ddb_decode_item(m, &it) == -EIO, "array instead of item rejected");
	json_decref(m);
	TAP_OK(catalog_ddb_decode_item(NULL, &it) == -EIO, "NULL item rejected");

	/* 12 hist entries stored by someone else: the last CAT_HIST_MAX kept. */
	m = json_loads(good_item, 0, NULL);
	{
		json_t *l = json_array();

		for (i = 0; i < 12; i++)
			json_array_append_new(l,
					      json_pack("{s:{s:o, s:o}}", "M", "t", ddb_av_n_i64(i),
							"g", ddb_av_n_u64((uint64_t)i + 100)));
		json_object_set_new(m, "hist", json_pack("{s:o}", "L", l));
	}
	rc = catalog_ddb_decode_item(m, &it);
	TAP_OK(rc == 0 && it.n_hist == CAT_HIST_MAX && it.hist[0].gen == 12 - CAT_HIST_MAX + 100 &&
		   it.hist[CAT_HIST_MAX - 1].gen == 111,
	       "overlong hist keeps the last %d", CAT_HIST_MAX);
	json_decref(m);

	/* hist_push on a full hist drops the oldest and appends the new. */
	memset(&it, 0, sizeof(it));
	strcpy(it.id, "7");
	for (i = 0; i < CAT_HIST_MAX; i++) {
		it.hist[i].gen = (uint64_t)i + 1;
		it.hist[i].time_ms = i;
		strcpy(it.hist[i].hash, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
	}
	it.n_hist = CAT_HIST_MAX;
	m = json_pack(
	    "{s:o, s:o}", "id", ddb_av_s("7"), "hist",
	    catalog_ddb_hist_push(&it, 999, CAT_HIST_MAX + 1, "cccccccccccccccccccccccccccccccc"));
	rc = catalog_ddb_decode_item(m, &it);
	TAP_OK(rc == 0 && it.n_hist == CAT_HIST_MAX && it.hist[0].gen == 2 &&
		   it.hist[CAT_HIST_MAX - 1].gen == CAT_HIST_MAX + 1 &&
		   it.hist[CAT_HIST_MAX - 1].time_ms == 999 &&
		   strcmp(it.hist[CAT_HIST_MAX - 1].hash, "cccccccccccccccccccccccccccccccc") == 0,
	       "hist_push trims to CAT_HIST_MAX, oldest dropped");
	j = json_dumps(json_object_get(m, "hist"), JSON_COMPACT);
	TAP_OK(j && strstr(j, "\"L\":[{\"M\":") != NULL, "hist encodes as L of M");
	free(j);
	json_decref(m);

	memset(&it, 0, sizeof(it));
	m = json_pack("{s:o, s:o}", "id", ddb_av_s("8"), "hist",
		      catalog_ddb_hist_push(&it, 5, 1, ""));
	rc = catalog_ddb_decode_item(m, &it);
	TAP_OK(rc == 0 && it.n_hist == 1 && it.hist[0].gen == 1 && it.hist[0].hash[0] == '\0',
	       "hist_push on an empty hist, without hash");
	json_decref(m);
}

/* The one error record of the wire layer (status.h), as the decoder and
 * its helpers fill it. */
static void test_error_record(void)
{
	struct wire_error e;
	enum wire_status st;

	st = dec_err(400, "{\"__type\":\"x#ThrottlingException\",\"message\":\"slow\"}", &e);
	TAP_OK(st == WIRE_THROTTLED && e.status == st && wire_status_is_retryable(e.status) &&
		   e.http_status == 400 && !strcmp(e.code, "ThrottlingException") &&
		   !strcmp(e.message, "slow"),
	       "decoded error: status, retryable, http status, code and message");
	st = dec_err(400, "{\"__type\":\"x#ConditionalCheckFailedException\"}", &e);
	TAP_OK(e.status == WIRE_CONDITION_FAILED && !wire_status_is_retryable(e.status) &&
		   e.message[0] == '\0',
	       "a failed condition is not retryable and has no message");
	st = dec_err(503, "not json", &e);
	TAP_OK(st == WIRE_SERVER && e.status == st && wire_status_is_retryable(e.status) &&
		   e.code[0] == '\0',
	       "undecodable 503: server error, retryable, no code");

	st = wire_error_set(&e, WIRE_TIMEOUT, "waited %d ms", 7);
	TAP_OK(st == WIRE_TIMEOUT && e.status == st && wire_status_is_retryable(e.status) &&
		   !strcmp(e.message, "waited 7 ms") && e.http_status == 503,
	       "wire_error_set: status, retry class, message; http status kept");
	wire_error_clear(&e);
	TAP_OK(e.status == WIRE_OK && !wire_status_is_retryable(e.status) && !e.http_status &&
		   !e.code[0] && !e.message[0],
	       "wire_error_clear empties the record");
	TAP_OK(wire_error_set(NULL, WIRE_NOMEM, "x") == WIRE_NOMEM, "a NULL record is allowed");
	wire_error_clear(NULL);
}

int main(void)
{
	/* Decoding failures are logged on purpose here; keep stderr quiet. */
	tfs_log_set_level(LOG_CRIT);
	test_status_map();
	test_error_bodies();
	test_error_record();
	test_replies();
	test_numbers();
	test_attr_values();
	test_items();
	return TAP_DONE();
}
