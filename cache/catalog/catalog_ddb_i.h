/* Internals of the DynamoDB catalog (cache/catalog/catalog_ddb.c), also for the
 * unit tests: the mapping between a catalog item or session and a DynamoDB
 * attribute map, in both directions (catalog_ddb_item.c). */
#ifndef TFS_CATALOG_DDB_I_H
#define TFS_CATALOG_DDB_I_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/catalog/catalog.h"

struct ddb_client;

struct catalog_ddb {
	struct catalog base;
	struct ddb_client *client; /* borrowed, thread-safe */
	char *table;		   /* immutable */
};

/* c as the DynamoDB catalog it is. */
struct catalog_ddb *catalog_ddb_of(struct catalog *c);
/* The key map {"id": {"S": id}} of an item; new reference, NULL on ENOMEM. */
json_t *catalog_ddb_item_key(const char *id);

/* ---- sessions (catalog_ddb_session.c) ---- */

/* The key of node's session item (id CAT_SESSION_PREFIX + node). */
json_t *catalog_ddb_session_key(const char *node);
/* id is a session item's, not a database's. */
bool catalog_ddb_is_session_id(const char *id);
/* One UpdateItem on node's session item (names, values stolen; NULL =
 * ENOMEM); *out (may be NULL) gets the session after it. -ESTALE when
 * cond fails. */
int catalog_ddb_session_update(struct catalog *c, const char *what, const char *node,
			       const char *expr, const char *cond, json_t *names, json_t *values,
			       struct cat_session *out);
/* The catalog_ops session calls (catalog.h). */
int catalog_ddb_session_start(struct catalog *c, const char *node, int64_t now_ms, int64_t ttl_ms,
			      struct cat_session *out);
int catalog_ddb_heartbeat(struct catalog *c, const char *node, uint64_t sess, int64_t now_ms,
			  int64_t ttl_ms, const char (*done)[CAT_ID_MAX + 1], int n_done,
			  struct cat_session *out);
int catalog_ddb_session_get(struct catalog *c, const char *node, struct cat_session *out);
int catalog_ddb_session_kill(struct catalog *c, const char *node, uint64_t sess, uint64_t rev,
			     int64_t now_ms);
int catalog_ddb_session_end(struct catalog *c, const char *node, uint64_t sess, int64_t now_ms);

/* Decodes a DynamoDB attribute map into *out. Absent optional attributes
 * read as 0 / "". -EIO (and a log line naming the item) for a malformed
 * item: not a map, no id, an attribute of the wrong type, a number that is
 * not a plain integer, a string longer than its field, a hash that is not
 * lower-case hex, a hist entry that is not {t: N, g: N, h: S}. More than
 * CAT_HIST_MAX hist entries keep the last CAT_HIST_MAX. */
int catalog_ddb_decode_item(json_t *item, struct cat_item *out);

/* The hist attribute value ({"L": [{"M": {t, g, h}}...]}) of it->hist
 * followed by one more entry (time_ms, gen, hash), trimmed to the last
 * CAT_HIST_MAX entries. New reference, NULL on ENOMEM. hash may be "". */
json_t *catalog_ddb_hist_push(const struct cat_item *it, int64_t time_ms, uint64_t gen,
			      const char *hash);

/* Decodes node's session item into *out; -EIO (logged) when malformed. */
int catalog_ddb_decode_session(json_t *item, const char *node, struct cat_session *out);

#endif
