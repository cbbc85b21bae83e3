/* DynamoDB client: one signed POST per call (JSON 1.0 protocol), error
 * bodies classified so that the HTTP layer retries only throttling and
 * server errors, and typed wrappers for the item and table calls the
 * catalog uses. Decoding is in s3/wire/json.c. */
#include "s3/wire/ddb.h"
#include "s3/base/clock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "s3/base/log.h"

struct ddb_client {
	char *url;		  /* endpoint with one trailing '/'; immutable */
	char *region;		  /* immutable */
	struct http_client *http; /* borrowed, thread-safe */
	int page_limit;		  /* set before the client is shared, read-only after */
};

/* See ddb_set_thread_budget(); read by ddb_call() of the same thread. */
static __thread long thread_budget_ms;

long ddb_set_thread_budget(long ms)
{
	long old = thread_budget_ms;

	thread_budget_ms = ms > 0 ? ms : 0;
	return old;
}

struct ddb_client *ddb_client_new(const char *endpoint, const char *region,
				  struct http_client *http)
{
	struct ddb_client *c;
	size_t len;

	if (!endpoint || !region || !http || !*region ||
	    (strncmp(endpoint, "http://", 7) != 0 && strncmp(endpoint, "https://", 8) != 0)) {
		log_err("cannot create dynamodb client: bad endpoint or region");
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	len = strlen(endpoint);
	while (len > 0 && endpoint[len - 1] == '/')
		len--;
	if (asprintf(&c->url, "%.*s/", (int)len, endpoint) < 0) {
		c->url = NULL;
		goto fail;
	}
	c->region = strdup(region);
	if (!c->region)
		goto fail;
	c->http = http;
	return c;
fail:
	ddb_client_free(c);
	return NULL;
}

void ddb_client_free(struct ddb_client *c)
{
	if (!c)
		return;
	free(c->url);
	free(c->region);
	free(c);
}

void ddb_client_set_page_limit(struct ddb_client *c, int limit)
{
	c->page_limit = limit > 0 ? limit : 0;
}

/* Called by the HTTP layer after each failed attempt: the JSON __type
 * decides whether a 400 is throttling (retried) or final. An attempt that
 * failed below HTTP (a 200 cut off mid-body) is no error reply: WIRE_OK
 * keeps the transport's own verdict, so it is retried. */
static enum wire_status ddb_classify(const struct http_response *resp, void *arg)
{
	(void)arg;
	if (resp->status < 300)
		return WIRE_OK;
	return ddb_decode_error(resp->status, resp->body, resp->body_len, NULL);
}

static void log_failure(const char *target, json_t *body, enum wire_status st,
			const struct wire_error *err)
{
	const char *table = json_string_value(json_object_get(body, "TableName"));
	int level = st == WIRE_CONDITION_FAILED ? LOG_DEBUG : LOG_ERR;

	/* A failed condition is how the catalog learns a lease is held: an
	 * expected answer, not an incident. */
	if (level == LOG_DEBUG && tfs_log_level() < LOG_DEBUG)
		return;
	tfs_log(level, "dynamodb %s on table '%s' failed: %s (%s%s%s, http %ld)", target,
		table ? table : "-", wire_status_str(st), err->code[0] ? err->code : "no type",
		err->message[0] ? ": " : "", err->message, err->http_status);
}

enum wire_status ddb_call(struct ddb_client *c, const char *target, json_t *body, json_t **out,
			  struct wire_error *err)
{
	char name_target[] = "X-Amz-Target", name_type[] = "Content-Type";
	char value_type[] = "application/x-amz-json-1.0";
	char value_target[96];
	struct wire_error scratch;
	struct http_header hdrs[2];
	struct http_request req;
	struct http_response resp;
	enum wire_status st;
	char *payload = NULL;
	json_t *reply = NULL;
	int n;

	if (!err)
		err = &scratch;
	wire_error_clear(err);
	memset(&resp, 0, sizeof(resp));
	if (out)
		*out = NULL;
	if (!c || !target || !json_is_object(body)) {
		st = WIRE_INVALID;
		goto out;
	}
	n = snprintf(value_target, sizeof(value_target), "DynamoDB_20120810.%s", target);
	if (n < 0 || (size_t)n >= sizeof(value_target)) {
		st = WIRE_INVALID;
		goto out;
	}
	payload = json_dumps(body, JSON_COMPACT);
	if (!payload) {
		st = WIRE_NOMEM;
		goto out;
	}
	hdrs[0] = (struct http_header){name_target, value_target};
	hdrs[1] = (struct http_header){name_type, value_type};
	http_request_init(&req);
	req.method = "POST";
	req.url = c->url;
	req.headers = hdrs;
	req.n_headers = 2;
	req.body = payload;
	req.body_len = strlen(payload);
	req.service = "dynamodb";
	req.region = c->region;
	req.classify = ddb_classify;
	req.budget_ms = thread_budget_ms;

	st = http_send(c->http, &req, &resp, err);
	if (st == WIRE_OK) {
		st = ddb_decode_reply(resp.body, resp.body_len, &reply);
		if (st != WIRE_OK)
			snprintf(err->message, sizeof(err->message),
				 "undecodable reply (%zu bytes)", resp.body_len);
	} else if (resp.status >= 300) {
		/* The reply's own type and message replace the transport's. */
		st = ddb_decode_error(resp.status, resp.body, resp.body_len, err);
	}
out:
	if (st != WIRE_OK) {
		if (st == WIRE_INVALID)
			snprintf(err->message, sizeof(err->message), "bad request arguments");
		err->status = st;
		log_failure(target ? target : "-", body, st, err);
	} else if (out) {
		*out = reply;
		reply = NULL;
	}
	json_decref(reply);
	http_response_free(&resp);
	free(payload);
	return st;
}

/* ---- typed wrappers ---- */

/* DynamoDB table names: 3 to 255 of [A-Za-z0-9_.-]. Checked here so a bad
 * name is a clear local error instead of a ValidationException. */
static bool table_name_ok(const char *t)
{
	size_t len = t ? strlen(t) : 0;

	if (len < 3 || len > 255)
		return false;
	return strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") ==
	       len;
}

/* A call that failed before it was sent: err says only what. */
static enum wire_status local_error(struct wire_error *err, enum wire_status st, const char *what)
{
	wire_error_clear(err);
	return wire_error_set(err, st, "%s", what);
}

static enum wire_status invalid(struct wire_error *err, const char *what, const char *table)
{
	log_err("dynamodb request on table '%s' not sent: %s", table ? table : "-", what);
	return local_error(err, WIRE_INVALID, what);
}

/* A request body with TableName, or NULL on ENOMEM. */
static json_t *new_body(const char *table)
{
	json_t *b = json_object();

	if (b && json_object_set_new(b, "TableName", json_string(table)) != 0) {
		json_decref(b);
		b = NULL;
	}
	return b;
}

static int add_cond(json_t *b, const struct ddb_cond *cond)
{
	int rc = 0;

	if (!cond)
		return 0;
	if (cond->condition)
		rc |= json_object_set_new(b, "ConditionExpression", json_string(cond->condition));
	/* DynamoDB rejects empty maps here, so an empty one is left out. */
	if (cond->names && json_object_size(cond->names) > 0)
		rc |= json_object_set(b, "ExpressionAttributeNames", cond->names);
	if (cond->values && json_object_size(cond->values) > 0)
		rc |= json_object_set(b, "ExpressionAttributeValues", cond->values);
	if (cond->return_values)
		rc |= json_object_set_new(b, "ReturnValues", json_string(cond->return_values));
	return rc;
}

/* *dst = new reference to reply[member] if it is an object, else NULL. */
static void take_object(json_t *reply, const char *member, json_t **dst)
{
	json_t *v;

	if (!dst)
		return;
	v = json_object_get(reply, member);
	*dst = json_is_object(v) ? json_incref(v) : NULL;
}

/* Shared body of PutItem, UpdateItem and DeleteItem. */
static enum wire_status write_item(struct ddb_client *c, const char *target, const char *table,
				   const char *member, json_t *key_or_item, const char *update,
				   const struct ddb_cond *cond, json_t **attrs,
				   struct wire_error *err)
{
	json_t *b = NULL, *reply = NULL;
	enum wire_status st;

	if (attrs)
		*attrs = NULL;
	if (!table_name_ok(table))
		return invalid(err, "bad table name", table);
	if (!json_is_object(key_or_item))
		return invalid(err, "no key or item", table);
	b = new_body(table);
	if (!b || json_object_set(b, member, key_or_item) != 0 ||
	    (update && json_object_set_new(b, "UpdateExpression", json_string(update)) != 0) ||
	    add_cond(b, cond) != 0) {
		st = local_error(err, WIRE_NOMEM, "out of memory");
		goto out;
	}
	st = ddb_call(c, target, b, &reply, err);
	if (st == WIRE_OK)
		take_object(reply, "Attributes", attrs);
out:
	json_decref(reply);
	json_decref(b);
	return st;
}

enum wire_status ddb_put_item(struct ddb_client *c, const char *table, json_t *item,
			      const struct ddb_cond *cond, json_t **attrs, struct wire_error *err)
{
	return write_item(c, "PutItem", table, "Item", item, NULL, cond, attrs, err);
}

enum wire_status ddb_update_item(struct ddb_client *c, const char *table, json_t *key,
				 const char *update, const struct ddb_cond *cond, json_t **attrs,
				 struct wire_error *err)
{
	if (!update || !*update)
		return invalid(err, "empty update expression", table);
	return write_item(c, "UpdateItem", table, "Key", key, update, cond, attrs, err);
}

enum wire_status ddb_delete_item(struct ddb_client *c, const char *table, json_t *key,
				 const struct ddb_cond *cond, json_t **attrs,
				 struct wire_error *err)
{
	return write_item(c, "DeleteItem", table, "Key", key, NULL, cond, attrs, err);
}

enum wire_status ddb_get_item(struct ddb_client *c, const char *table, json_t *key, json_t **item,
			      struct wire_error *err)
{
	json_t *b = NULL, *reply = NULL, *it;
	enum wire_status st;

	*item = NULL;
	if (!table_name_ok(table))
		return invalid(err, "bad table name", table);
	if (!json_is_object(key))
		return invalid(err, "no key", table);
	b = new_body(table);
	if (!b || json_object_set(b, "Key", key) != 0 ||
	    json_object_set_new(b, "ConsistentRead", json_true()) != 0) {
		st = local_error(err, WIRE_NOMEM, "out of memory");
		goto out;
	}
	st = ddb_call(c, "GetItem", b, &reply, err);
	if (st != WIRE_OK)
		goto out;
	it = json_object_get(reply, "Item");
	if (!it) {
		st = wire_error_set(err, WIRE_NOT_FOUND, "no such item");
	} else if (!json_is_object(it)) {
		log_err("dynamodb GetItem on table '%s': malformed reply: Item is not a map",
			table);
		st = wire_error_set(err, WIRE_BAD_RESPONSE, "malformed reply: Item is not a map");
	} else {
		*item = json_incref(it);
	}
out:
	json_decref(reply);
	json_decref(b);
	return st;
}

enum wire_status ddb_scan_page(struct ddb_client *c, const char *table, json_t *start_key,
			       int limit, json_t **items, json_t **last_key, struct wire_error *err)
{
	json_t *b = NULL, *reply = NULL, *arr;
	enum wire_status st;

	*items = NULL;
	*last_key = NULL;
	if (!table_name_ok(table))
		return invalid(err, "bad table name", table);
	if (limit <= 0)
		limit = c->page_limit;
	b = new_body(table);
	if (!b || json_object_set_new(b, "ConsistentRead", json_true()) != 0 ||
	    (limit > 0 && json_object_set_new(b, "Limit", json_integer(limit)) != 0) ||
	    (start_key && json_object_set(b, "ExclusiveStartKey", start_key) != 0)) {
		st = local_error(err, WIRE_NOMEM, "out of memory");
		goto out;
	}
	st = ddb_call(c, "Scan", b, &reply, err);
	if (st != WIRE_OK)
		goto out;
	arr = json_object_get(reply, "Items");
	if (!json_is_array(arr)) {
		log_err("dynamodb Scan on table '%s': malformed reply: no Items list", table);
		st = wire_error_set(err, WIRE_BAD_RESPONSE, "malformed reply: no Items list");
		goto out;
	}
	*items = json_incref(arr);
	take_object(reply, "LastEvaluatedKey", last_key);
out:
	json_decref(reply);
	json_decref(b);
	return st;
}

enum wire_status ddb_create_table(struct ddb_client *c, const char *table, struct wire_error *err)
{
	struct wire_error scratch;
	json_t *b = NULL;
	enum wire_status st;

	if (!err)
		err = &scratch;
	if (!table_name_ok(table))
		return invalid(err, "bad table name", table);
	b = json_pack("{s:s, s:[{s:s, s:s}], s:[{s:s, s:s}], s:s}", "TableName", table,
		      "AttributeDefinitions", "AttributeName", "id", "AttributeType", "S",
		      "KeySchema", "AttributeName", "id", "KeyType", "HASH", "BillingMode",
		      "PAY_PER_REQUEST");
	if (!b)
		return local_error(err, WIRE_NOMEM, "out of memory");
	st = ddb_call(c, "CreateTable", b, NULL, err);
	if (st == WIRE_CLIENT && strcmp(err->code, "ResourceInUseException") == 0) {
		log_info("dynamodb table '%s' already exists", table);
		st = WIRE_OK;
		wire_error_clear(err);
	}
	json_decref(b);
	return st;
}

enum wire_status ddb_describe_table(struct ddb_client *c, const char *table, char status[32],
				    struct wire_error *err)
{
	json_t *b = NULL, *reply = NULL, *ts;
	enum wire_status st;

	if (status)
		status[0] = '\0';
	if (!table_name_ok(table))
		return invalid(err, "bad table name", table);
	b = new_body(table);
	if (!b)
		return local_error(err, WIRE_NOMEM, "out of memory");
	st = ddb_call(c, "DescribeTable", b, &reply, err);
	if (st != WIRE_OK)
		goto out;
	ts = json_object_get(json_object_get(reply, "Table"), "TableStatus");
	if (!json_is_string(ts) || json_string_length(ts) >= 32) {
		log_err("dynamodb DescribeTable on table '%s': malformed reply: no TableStatus",
			table);
		st = wire_error_set(err, WIRE_BAD_RESPONSE, "malformed reply: no TableStatus");
		goto out;
	}
	if (status)
		snprintf(status, 32, "%s", json_string_value(ts));
out:
	json_decref(reply);
	json_decref(b);
	return st;
}

enum wire_status ddb_wait_active(struct ddb_client *c, const char *table, long timeout_ms,
				 struct wire_error *err)
{
	long deadline = tfs_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0), delay = 50, left;
	char status[32] = "";
	enum wire_status st;
	int polls;

	for (polls = 0; polls < 600; polls++) {
		st = ddb_describe_table(c, table, status, err);
		if (st != WIRE_OK)
			return st;
		if (strcmp(status, "ACTIVE") == 0)
			return WIRE_OK;
		left = deadline - tfs_mono_ms();
		if (left <= 0)
			break;
		tfs_sleep_ms(delay < left ? delay : left);
		delay = delay * 2 > 1000 ? 1000 : delay * 2;
	}
	log_err("dynamodb table '%s' not active after %ld ms (status %s)", table, timeout_ms,
		status);
	wire_error_clear(err);
	return wire_error_set(err, WIRE_TIMEOUT, "table status %s", status);
}
