/* Internals of the DynamoDB catalog (cache/catalog_ddb.c), also for the
 * unit tests: the mapping between a catalog item or session and a DynamoDB
 * attribute map, in both directions (catalog_ddb_item.c). */
#ifndef TFS_CATALOG_DDB_I_H
#define TFS_CATALOG_DDB_I_H

#include <jansson.h>

#include "catalog.h"

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
