/* DynamoDB client: the JSON 1.0 protocol over s3/wire/http.h (signed for service
 * "dynamodb"), error bodies mapped onto enum wire_status, typed wrappers for
 * the calls the catalog needs, and helpers for DynamoDB's typed attribute
 * values ({"S": "..."}, {"N": "..."}). Decoding lives in s3/wire/json.c. */
#ifndef TFS_DDB_H
#define TFS_DDB_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "s3/wire/http.h"
#include "s3/wire/status.h"

/* Largest reply body we decode. DynamoDB caps a Scan/Query page at 1 MB of
 * item data and an item at 400 KB; its JSON encoding stays well below. */
#define DDB_MAX_REPLY (4u << 20)

struct ddb_client;

/* What DynamoDB said about a failed call goes into the caller's struct
 * wire_error (status.h; err may be NULL): code is the part of "__type"
 * after the '#' ("ConditionalCheckFailedException"), message the
 * "message" / "Message" member (either case) or what failed before a
 * reply, both cut to fit, always NUL-terminated and free of control
 * characters; http_status is 0 when no reply arrived. */

/* endpoint: "http://127.0.0.1:P" or "https://dynamodb.<region>.amazonaws.com"
 * (a trailing '/' is accepted). http is borrowed and must outlive the
 * client. NULL on ENOMEM or a bad argument. The client holds no mutable
 * state once built: share it freely between threads. */
struct ddb_client *ddb_client_new(const char *endpoint, const char *region,
				  struct http_client *http);
void ddb_client_free(struct ddb_client *c);

/* Limit used by ddb_scan_page() when called with limit 0 (default 0: no
 * Limit, DynamoDB's own 1 MB pages). Set it before sharing the client. */
void ddb_client_set_page_limit(struct ddb_client *c, int limit);

/* A time bound, in ms, on each DynamoDB call the calling thread makes from
 * now on, retries included (0: the HTTP client's retry budget and
 * timeouts). Per thread, so that one shared client serves both callers
 * that may wait out an outage (lease renewals, write-back commits) and
 * callers that must give up soon (calls made for a FUSE request). Returns
 * the previous bound, for the caller to restore. */
long ddb_set_thread_budget(long ms);

/* Generic call. target is the operation ("GetItem"; sent as X-Amz-Target:
 * DynamoDB_20120810.GetItem with Content-Type application/x-amz-json-1.0);
 * body is borrowed. On WIRE_OK *out is the decoded reply object (caller
 * json_decref()s it); on any other status *out is NULL and err (may be
 * NULL) says why. Throttling and 5xx are retried by the HTTP layer.
 * Every failure is logged with its type and message. */
enum wire_status ddb_call(struct ddb_client *c, const char *target, json_t *body, json_t **out,
			  struct wire_error *err);

/* The conditional part of a write. Every field may be NULL. names and
 * values are borrowed JSON objects (ExpressionAttributeNames /
 * ExpressionAttributeValues); return_values is "NONE", "ALL_OLD",
 * "ALL_NEW", "UPDATED_OLD" or "UPDATED_NEW". */
struct ddb_cond {
	const char *condition;
	json_t *names;
	json_t *values;
	const char *return_values;
};

/* Typed wrappers. key and item are borrowed attribute maps
 * ({"id": {"S": "42"}}). Where an output pointer is given, it receives a
 * new reference the caller json_decref()s, or NULL. A failed condition is
 * WIRE_CONDITION_FAILED and nothing else. */

/* Strongly consistent read. WIRE_NOT_FOUND (and *item NULL) when absent. */
enum wire_status ddb_get_item(struct ddb_client *c, const char *table, json_t *key, json_t **item,
			      struct wire_error *err);
/* *attrs (may be NULL) gets "Attributes" per cond->return_values. */
enum wire_status ddb_put_item(struct ddb_client *c, const char *table, json_t *item,
			      const struct ddb_cond *cond, json_t **attrs, struct wire_error *err);
/* update is the UpdateExpression ("SET #a = :a REMOVE #b"). */
enum wire_status ddb_update_item(struct ddb_client *c, const char *table, json_t *key,
				 const char *update, const struct ddb_cond *cond, json_t **attrs,
				 struct wire_error *err);
enum wire_status ddb_delete_item(struct ddb_client *c, const char *table, json_t *key,
				 const struct ddb_cond *cond, json_t **attrs,
				 struct wire_error *err);
/* One page of a strongly consistent Scan. start_key (may be NULL) is the
 * previous page's *last_key. *items gets the "Items" array (possibly
 * empty, never NULL on WIRE_OK); *last_key the LastEvaluatedKey or NULL at
 * the end. limit 0 means the client's page limit. */
enum wire_status ddb_scan_page(struct ddb_client *c, const char *table, json_t *start_key,
			       int limit, json_t **items, json_t **last_key,
			       struct wire_error *err);
/* Creates table with hash key "id" (S), on-demand billing. A table that
 * already exists (ResourceInUseException) is WIRE_OK: the caller then
 * waits for it with ddb_wait_active(). */
enum wire_status ddb_create_table(struct ddb_client *c, const char *table, struct wire_error *err);
/* TableStatus ("CREATING", "ACTIVE", ...) into status (may be NULL).
 * WIRE_NO_TABLE when the table does not exist. */
enum wire_status ddb_describe_table(struct ddb_client *c, const char *table, char status[32],
				    struct wire_error *err);
/* Polls DescribeTable until ACTIVE, for at most timeout_ms (and at most
 * 600 polls). WIRE_TIMEOUT when it did not become active in time. */
enum wire_status ddb_wait_active(struct ddb_client *c, const char *table, long timeout_ms,
				 struct wire_error *err);

/* ---- decoding (s3/wire/json.c): pure functions, no network ---- */

/* Status for an error "__type" (the part after '#', or the whole string)
 * and the HTTP status of the reply. Unknown types are WIRE_CLIENT on a
 * 4xx and WIRE_SERVER on a 5xx. */
enum wire_status ddb_error_status(const char *type, long http_status);

/* Decodes an error reply into *err (status, code, message, http_status) and returns
 * its status. A body that is not a JSON object with a string "__type" is
 * WIRE_SERVER on a 5xx, WIRE_THROTTLED on a 429, else WIRE_BAD_RESPONSE. */
enum wire_status ddb_decode_error(long http_status, const char *body, size_t len,
				  struct wire_error *err);

/* Parses a success reply: a JSON object of at most DDB_MAX_REPLY bytes.
 * WIRE_BAD_RESPONSE for anything else (empty, truncated, not an object,
 * oversized, embedded NUL). *out is the caller's to json_decref(). */
enum wire_status ddb_decode_reply(const char *body, size_t len, json_t **out);

/* Attribute values, new references (NULL on ENOMEM). */
json_t *ddb_av_s(const char *s);
json_t *ddb_av_n_u64(uint64_t v);
json_t *ddb_av_n_i64(int64_t v);

/* Attribute value of item member name, read with strict types:
 * 0, -ENOENT when absent, -EINVAL when of another type or a number that is
 * not a plain integer in range, -E2BIG when a string needs more than
 * size - 1 bytes (buf is left "" then). item may be a map of attribute
 * values or NULL. */
int ddb_av_get_s(json_t *item, const char *name, char *buf, size_t size);
int ddb_av_get_u64(json_t *item, const char *name, uint64_t *v);
int ddb_av_get_i64(json_t *item, const char *name, int64_t *v);

/* Parses a DynamoDB "N" string as a plain decimal integer ([-]digits, no
 * spaces, no exponent). 0 or -EINVAL. Unsigned: tfs_parse_u64 (parse.h). */
int ddb_parse_i64(const char *s, int64_t *v);

#endif
