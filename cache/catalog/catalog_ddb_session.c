/* The node sessions of the DynamoDB catalog (catalog.h): one item per node,
 * id CAT_SESSION_PREFIX + node, started, renewed by heartbeats, read and
 * killed with conditional UpdateItems. */
#include "cache/catalog/catalog_ddb_i.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "s3/base/log.h"
#include "s3/wire/ddb.h"

json_t *catalog_ddb_session_key(const char *node)
{
	char id[sizeof(CAT_SESSION_PREFIX) + CAT_NODE_MAX];

	snprintf(id, sizeof(id), "%s%s", CAT_SESSION_PREFIX, node);
	return catalog_ddb_item_key(id);
}

bool catalog_ddb_is_session_id(const char *id)
{
	return strncmp(id, CAT_SESSION_PREFIX, strlen(CAT_SESSION_PREFIX)) == 0;
}

/* One UpdateItem on node's session item (names, values stolen; NULL =
 * ENOMEM); *out (may be NULL) gets the session after it. -ESTALE when cond
 * fails. */
int catalog_ddb_session_update(struct catalog *c, const char *what, const char *node,
			       const char *expr, const char *cond, json_t *names, json_t *values,
			       struct cat_session *out)
{
	struct catalog_ddb *cd = catalog_ddb_of(c);
	struct ddb_cond dc = {cond, names, values, "ALL_NEW"};
	json_t *key = NULL, *attrs = NULL;
	enum wire_status st;
	int rc = -EINVAL;

	if (!node || !*node || strlen(node) > CAT_NODE_MAX)
		goto out;
	rc = -ENOMEM;
	key = catalog_ddb_session_key(node);
	if (!key || !names || !values)
		goto out;
	st = ddb_update_item(cd->client, cd->table, key, expr, &dc, &attrs, NULL);
	if (st == WIRE_CONDITION_FAILED) {
		rc = -ESTALE;
	} else if (st != WIRE_OK) {
		log_err("cannot %s '%s' in table '%s': %s", what, node, cd->table,
			wire_status_str(st));
		rc = wire_status_errno(st);
	} else if (!out) {
		rc = 0;
	} else if (!attrs) {
		log_err("cannot %s '%s' in table '%s': reply without the item", what, node,
			cd->table);
		rc = -EIO;
	} else {
		rc = catalog_ddb_decode_session(attrs, node, out);
	}
out:
	json_decref(attrs);
	json_decref(key);
	json_decref(names);
	json_decref(values);
	return rc;
}

int catalog_ddb_session_start(struct catalog *c, const char *node, int64_t now_ms, int64_t ttl_ms,
			      struct cat_session *out)
{
	/* Requests were for the old session: a new one starts without. */
	return catalog_ddb_session_update(
	    c, "begin a session of", node,
	    "SET #sess = if_not_exists(#sess, :zero) + :one, #rev = if_not_exists(#rev, :zero) + "
	    ":one, #expires = :exp REMOVE #killed, #wants",
	    NULL,
	    json_pack("{s:s, s:s, s:s, s:s, s:s}", "#sess", "sess", "#rev", "rev", "#expires",
		      "expires", "#killed", "killed", "#wants", "wants"),
	    json_pack("{s:o, s:o, s:o}", ":zero", ddb_av_n_u64(0), ":one", ddb_av_n_u64(1), ":exp",
		      ddb_av_n_i64(now_ms + ttl_ms)),
	    out);
}

int catalog_ddb_heartbeat(struct catalog *c, const char *node, uint64_t sess, int64_t now_ms,
			  int64_t ttl_ms, const char (*done)[CAT_ID_MAX + 1], int n_done,
			  struct cat_session *out)
{
	json_t *values, *set = NULL;
	struct cat_session scratch;
	int i;

	values = json_pack("{s:o, s:o, s:o}", ":one", ddb_av_n_u64(1), ":exp",
			   ddb_av_n_i64(now_ms + ttl_ms), ":sess", ddb_av_n_u64(sess));
	if (values && n_done > 0) {
		/* DELETE of a string set value: DynamoDB takes no empty set. */
		set = json_array();
		for (i = 0; set && i < n_done; i++)
			if (json_array_append_new(set, json_string(done[i])) != 0)
				set = (json_decref(set), NULL);
		if (!set ||
		    json_object_set_new(values, ":done", json_pack("{s:o}", "SS", set)) != 0)
			values = (json_decref(values), NULL);
	}
	return catalog_ddb_session_update(
	    c, "heartbeat of", node,
	    n_done > 0 ? "SET #rev = #rev + :one, #expires = :exp DELETE #wants :done"
		       : "SET #rev = #rev + :one, #expires = :exp",
	    "#sess = :sess AND attribute_not_exists(#killed)",
	    n_done > 0 ? json_pack("{s:s, s:s, s:s, s:s, s:s}", "#sess", "sess", "#rev", "rev",
				   "#expires", "expires", "#killed", "killed", "#wants", "wants")
		       : json_pack("{s:s, s:s, s:s, s:s}", "#sess", "sess", "#rev", "rev",
				   "#expires", "expires", "#killed", "killed"),
	    values, out ? out : &scratch);
}

int catalog_ddb_session_get(struct catalog *c, const char *node, struct cat_session *out)
{
	struct catalog_ddb *cd = catalog_ddb_of(c);
	json_t *key, *item = NULL;
	struct cat_session scratch;
	enum wire_status st;
	int rc;

	if (!node || !*node || strlen(node) > CAT_NODE_MAX)
		return -EINVAL;
	key = catalog_ddb_session_key(node);
	if (!key)
		return -ENOMEM;
	st = ddb_get_item(cd->client, cd->table, key, &item, NULL);
	if (st == WIRE_OK)
		rc = catalog_ddb_decode_session(item, node, out ? out : &scratch);
	else
		rc = st == WIRE_NOT_FOUND ? -ENOENT : wire_status_errno(st);
	json_decref(item);
	json_decref(key);
	return rc;
}

int catalog_ddb_session_kill(struct catalog *c, const char *node, uint64_t sess, uint64_t rev,
			     int64_t now_ms)
{
	return catalog_ddb_session_update(
	    c, "kill the session of", node, "SET #killed = :now",
	    "#sess = :sess AND #rev = :rev AND attribute_not_exists(#killed)",
	    json_pack("{s:s, s:s, s:s}", "#sess", "sess", "#rev", "rev", "#killed", "killed"),
	    json_pack("{s:o, s:o, s:o}", ":sess", ddb_av_n_u64(sess), ":rev", ddb_av_n_u64(rev),
		      ":now", ddb_av_n_i64(now_ms > 0 ? now_ms : 1)),
	    NULL);
}

int catalog_ddb_session_end(struct catalog *c, const char *node, uint64_t sess, int64_t now_ms)
{
	/* As a kill, without the rev: the node ends its own session. */
	return catalog_ddb_session_update(
	    c, "end the session of", node, "SET #killed = :now",
	    "#sess = :sess AND attribute_not_exists(#killed)",
	    json_pack("{s:s, s:s}", "#sess", "sess", "#killed", "killed"),
	    json_pack("{s:o, s:o}", ":sess", ddb_av_n_u64(sess), ":now",
		      ddb_av_n_i64(now_ms > 0 ? now_ms : 1)),
	    NULL);
}
