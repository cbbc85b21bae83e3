/* The catalog on DynamoDB: one item per database and one session item per
 * node (id CAT_SESSION_PREFIX + node) in the same table, every lease,
 * session and pointer change a conditional UpdateItem (ReturnValues
 * ALL_NEW), reads strongly consistent. The catalog holds no mutable state, so it is thread-safe as
 * long as the borrowed ddb_client is (it is). */
#include "cache/catalog/catalog_ddb_i.h"
#include "s3/base/clock.h"
#include "s3/base/parse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "s3/base/log.h"
#include "s3/wire/ddb.h"

/* An acquire whose condition failed re-reads the item; if the item then
 * looks free (released or expired between the two calls) it tries again,
 * this many times in all. */
#define ACQUIRE_TRIES 4
/* How long `tenantfs init` waits for a new table to become ACTIVE. */
#define TABLE_ACTIVE_TIMEOUT_MS 60000

struct catalog_ddb *catalog_ddb_of(struct catalog *c)
{
	return (struct catalog_ddb *)c;
}

/* ---- calls ---- */

json_t *catalog_ddb_item_key(const char *id)
{
	return json_pack("{s:o}", "id", ddb_av_s(id));
}

static bool args_ok(const char *id, const char *node)
{
	if (!id || !*id || strlen(id) > CAT_ID_MAX)
		return false;
	return !node || (*node && strlen(node) <= CAT_NODE_MAX);
}

/* One conditional UpdateItem with ReturnValues ALL_NEW. names and values
 * are stolen (NULL means ENOMEM while building them). The new item goes
 * to *out when out is not NULL. */
static int update(struct catalog_ddb *cd, const char *what, const char *id, const char *expr,
		  const char *cond, json_t *names, json_t *values, struct cat_item *out,
		  enum wire_status *stp)
{
	struct ddb_cond dc = {cond, names, values, "ALL_NEW"};
	json_t *key = catalog_ddb_item_key(id), *attrs = NULL;
	enum wire_status st = WIRE_NOMEM;
	int rc = -ENOMEM;

	if (!key || !names || !values)
		goto out;
	st = ddb_update_item(cd->client, cd->table, key, expr, &dc, &attrs, NULL);
	if (st != WIRE_OK) {
		rc = wire_status_errno(st);
		if (st != WIRE_CONDITION_FAILED)
			log_err("cannot %s '%s' in table '%s': %s", what, id, cd->table,
				wire_status_str(st));
		goto out;
	}
	rc = 0;
	if (out) {
		if (!attrs) {
			log_err("cannot %s '%s' in table '%s': reply without the item", what, id,
				cd->table);
			rc = -EIO;
		} else {
			rc = catalog_ddb_decode_item(attrs, out);
		}
	}
out:
	if (stp)
		*stp = st;
	json_decref(attrs);
	json_decref(key);
	json_decref(names);
	json_decref(values);
	return rc;
}

static int ddb_get(struct catalog *c, const char *id, struct cat_item *out)
{
	struct catalog_ddb *cd = catalog_ddb_of(c);
	json_t *key, *item = NULL;
	enum wire_status st;
	int rc;

	if (!args_ok(id, NULL))
		return -EINVAL;
	key = catalog_ddb_item_key(id);
	if (!key)
		return -ENOMEM;
	st = ddb_get_item(cd->client, cd->table, key, &item, NULL);
	if (st == WIRE_OK)
		rc = catalog_ddb_decode_item(item, out);
	else
		rc = st == WIRE_NOT_FOUND ? -ENOENT : wire_status_errno(st);
	json_decref(item);
	json_decref(key);
	return rc;
}

/* "#rev = :NAME", true also of an item written before rev existed when the
 * expected rev is 0 (such an item reads as rev 0). */
static const char *rev_cond(uint64_t rev, const char *name, char *buf, size_t cap)
{
	snprintf(buf, cap, rev == 0 ? "(attribute_not_exists(#rev) OR #rev = %s)" : "#rev = %s",
		 name);
	return buf;
}

static int ddb_acquire(struct catalog *c, const char *id, const char *node, uint64_t sess,
		       int64_t now_ms, int64_t ttl_ms, const struct cat_takeover *tk,
		       struct cat_item *out)
{
	struct catalog_ddb *cd = catalog_ddb_of(c);
	char cond[400], rc_buf[64], tk_cond[224] = "";
	enum wire_status st;
	json_t *names, *values;
	int rc = -EINVAL, tries;

	if (!args_ok(id, node) || ttl_ms <= 0 || (tk && !args_ok(id, tk->owner)))
		goto out;
	/* No clock in the condition: a held item is taken only as exactly
	 * the holder the caller saw, and never while stranded. */
	if (tk && tk->sess)
		snprintf(tk_cond, sizeof(tk_cond),
			 " OR (#owner = :tko AND #epoch = :tke AND "
			 "#sess = :tks AND attribute_not_exists(#stranded))");
	else if (tk)
		snprintf(tk_cond, sizeof(tk_cond),
			 " OR (#owner = :tko AND #epoch = :tke AND attribute_not_exists(#sess) AND "
			 "attribute_not_exists(#stranded) AND %s)",
			 rev_cond(tk->rev, ":tkr", rc_buf, sizeof(rc_buf)));
	snprintf(cond, sizeof(cond),
		 "attribute_not_exists(#id) OR attribute_not_exists(#owner) OR #owner = :me%s",
		 tk_cond);
	for (tries = 0; tries < ACQUIRE_TRIES; tries++) {
		values = json_pack("{s:o, s:o, s:o, s:o}", ":me", ddb_av_s(node), ":exp",
				   ddb_av_n_i64(now_ms + ttl_ms), ":zero", ddb_av_n_u64(0), ":one",
				   ddb_av_n_u64(1));
		names = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "#id", "id", "#owner",
				  "owner", "#expires", "expires", "#epoch", "epoch", "#gen", "gen",
				  "#rev", "rev", "#sess", "sess", "#want", "want");
		/* DynamoDB refuses names and values the expressions do not use. */
		if (values && sess && json_object_set_new(values, ":sess", ddb_av_n_u64(sess)) != 0)
			values = (json_decref(values), NULL);
		if (values && tk &&
		    (json_object_set_new(values, ":tko", ddb_av_s(tk->owner)) != 0 ||
		     json_object_set_new(values, ":tke", ddb_av_n_u64(tk->epoch)) != 0 ||
		     json_object_set_new(values, tk->sess ? ":tks" : ":tkr",
					 ddb_av_n_u64(tk->sess ? tk->sess : tk->rev)) != 0))
			values = (json_decref(values), NULL);
		if (names && tk && json_object_set_new(names, "#stranded", json_string("stranded")))
			names = (json_decref(names), NULL);
		/* gen is created as 0 so that commit can always compare it. A
		 * want mark of a version before sessions goes with the
		 * acquisition, as it did then for the acquirer's own. */
		rc = update(cd, "acquire", id,
			    sess ? "SET #owner = :me, #expires = :exp, #sess = :sess, "
				   "#epoch = if_not_exists(#epoch, :zero) + :one, "
				   "#rev = if_not_exists(#rev, :zero) + :one, "
				   "#gen = if_not_exists(#gen, :zero) REMOVE #want"
				 : "SET #owner = :me, #expires = :exp, "
				   "#epoch = if_not_exists(#epoch, :zero) + :one, "
				   "#rev = if_not_exists(#rev, :zero) + :one, "
				   "#gen = if_not_exists(#gen, :zero) REMOVE #want, #sess",
			    cond, names, values, out, &st);
		if (st != WIRE_CONDITION_FAILED)
			break;
		/* Held by someone: say by whom, unless it was freed meanwhile. */
		rc = ddb_get(c, id, out);
		if (rc == -ENOENT) {
			rc = -EBUSY;
			continue;
		}
		if (rc)
			goto out;
		if (!cat_may_acquire(out, node, tk)) {
			/* The caller may poll while it waits: it logs the holder. */
			log_debug("lease on '%s' is held by '%s' (session %llu, epoch %llu, rev "
				  "%llu%s)",
				  id, out->owner, (unsigned long long)out->sess,
				  (unsigned long long)out->epoch, (unsigned long long)out->rev,
				  out->stranded_ms ? ", stranded" : "");
			rc = -EBUSY;
			goto out;
		}
		rc = -EBUSY;
	}
out:
	return rc;
}

/* A write by the holder: expr (which adds 1 to rev) under the condition
 * owner = node AND epoch = epoch; names and values get #owner, #epoch,
 * #rev, :me, :epoch, :zero and :one added (both stolen, NULL = ENOMEM).
 * -ESTALE, logged, when the condition fails. */
static int holder_update(struct catalog *c, const char *what, const char *id, const char *node,
			 uint64_t epoch, const char *expr, json_t *names, json_t *values,
			 struct cat_item *out)
{
	enum wire_status st;
	int rc;

	if (!args_ok(id, node)) {
		json_decref(names);
		json_decref(values);
		return -EINVAL;
	}
	if (names && (json_object_set_new(names, "#owner", json_string("owner")) != 0 ||
		      json_object_set_new(names, "#epoch", json_string("epoch")) != 0 ||
		      json_object_set_new(names, "#rev", json_string("rev")) != 0))
		names = (json_decref(names), NULL);
	if (values && (json_object_set_new(values, ":me", ddb_av_s(node)) != 0 ||
		       json_object_set_new(values, ":epoch", ddb_av_n_u64(epoch)) != 0 ||
		       json_object_set_new(values, ":zero", ddb_av_n_u64(0)) != 0 ||
		       json_object_set_new(values, ":one", ddb_av_n_u64(1)) != 0))
		values = (json_decref(values), NULL);
	rc = update(catalog_ddb_of(c), what, id, expr, "#owner = :me AND #epoch = :epoch", names,
		    values, out, &st);
	if (st == WIRE_CONDITION_FAILED) {
		log_warn("cannot %s '%s': no longer held by '%s' at epoch %llu", what, id, node,
			 (unsigned long long)epoch);
		rc = -ESTALE;
	}
	return rc;
}

/* True when the item already holds exactly this commit under this lease.
 * The HTTP layer retries a request whose connection dropped, so a commit
 * may have been applied by an attempt whose reply was lost; the retry then
 * fails its gen condition. Only the holder at this epoch can have written
 * this gen, so finding our own version there means the commit succeeded. */
static bool already_applied(const struct cat_item *cur, const char *node, uint64_t epoch,
			    const struct cat_commit *cm, const char *hash)
{
	return strcmp(cur->owner, node) == 0 && cur->epoch == epoch && cur->gen == cm->new_gen &&
	       strcmp(cur->hash, hash) == 0 && cur->size == cm->size &&
	       cur->mtime_ms == cm->mtime_ms && (cur->deleted_ms != 0) == cm->deleted;
}

/* Long because the conditional UpdateItem of a commit is built in one place: the read, the hist,
 * the condition and the lost-reply check must agree. */
static int ddb_commit(struct catalog *c, const char *id, const char *node, uint64_t epoch,
		      uint64_t base_gen, const struct cat_commit *cm)
{
	struct catalog_ddb *cd = catalog_ddb_of(c);
	const char *hash = cm && cm->hash ? cm->hash : "";
	char expr[320], cond[512], rm[48];
	struct cat_item cur;
	enum wire_status st;
	json_t *names, *values;
	int64_t del_ms;
	int rc;

	if (!args_ok(id, node) || !cm || cm->new_gen != base_gen + 1 ||
	    strlen(hash) > CAT_HASH_HEX || (*hash && !tfs_is_hex(hash, strlen(hash))) ||
	    (!cm->deleted && !*hash))
		return -EINVAL;
	/* hist is rewritten whole from the current item; the gen condition
	 * below makes this read-modify-write safe: if anyone committed since
	 * the read, the write fails. */
	rc = ddb_get(c, id, &cur);
	if (rc == -ENOENT)
		rc = -ESTALE;
	if (rc)
		goto out;
	if (strcmp(cur.owner, node) != 0 || cur.epoch != epoch || cur.gen != base_gen) {
		rc = already_applied(&cur, node, epoch, cm, hash) ? 0 : -ESTALE;
		if (rc)
			goto stale;
		goto out;
	}
	if (!cat_gc_allows(&cur, NULL, cm)) {
		log_info("cannot commit '%s' gen %llu: a gc run deleted versions since its upload "
			 "(gc_seq %llu, the commit's %llu)",
			 id, (unsigned long long)cm->new_gen, (unsigned long long)cur.gc_seq,
			 (unsigned long long)cm->gc_seq);
		return -ESTALE;
	}
	del_ms = cm->mtime_ms > 0 ? cm->mtime_ms : tfs_wall_ms();
	names = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "#owner", "owner",
			  "#epoch", "epoch", "#gen", "gen", "#hash", "hash", "#size", "size",
			  "#mtime", "mtime", "#hist", "hist", "#deleted", "deleted", "#rev", "rev",
			  "#stranded", "stranded");
	values = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", ":me", ddb_av_s(node),
			   ":epoch", ddb_av_n_u64(epoch), ":base", ddb_av_n_u64(base_gen), ":gen",
			   ddb_av_n_u64(cm->new_gen), ":size", ddb_av_n_u64(cm->size), ":mtime",
			   ddb_av_n_i64(cm->mtime_ms), ":hist",
			   catalog_ddb_hist_push(&cur, cm->mtime_ms, cm->new_gen, hash), ":zero",
			   ddb_av_n_u64(0), ":one", ddb_av_n_u64(1));
	/* Empty strings are not stored (older DynamoDB and dynalite reject
	 * them): a commit without a hash removes the attribute. */
	if (values && *hash && json_object_set_new(values, ":hash", ddb_av_s(hash)) != 0)
		values = (json_decref(values), NULL);
	if (values && cm->deleted && json_object_set_new(values, ":del", ddb_av_n_i64(del_ms)) != 0)
		values = (json_decref(values), NULL);
	/* A commit ends a stranded mark: the writes are published. */
	snprintf(rm, sizeof(rm), "#stranded%s%s", *hash ? "" : ", #hash",
		 cm->deleted ? "" : ", #deleted");
	snprintf(expr, sizeof(expr),
		 "SET #gen = :gen, #size = :size, #mtime = :mtime, #hist = :hist, "
		 "#rev = if_not_exists(#rev, :zero) + :one%s%s REMOVE %s",
		 *hash ? ", #hash = :hash" : "", cm->deleted ? ", #deleted = :del" : "", rm);
	/* An item from another writer may lack gen; 0 is its base then. */
	snprintf(cond, sizeof(cond), "#owner = :me AND #epoch = :epoch AND %s%s%s",
		 base_gen == 0 ? "(attribute_not_exists(#gen) OR #gen = :base)" : "#gen = :base",
		 !cm->gc_fenced	   ? ""
		 : cm->gc_seq == 0 ? " AND (attribute_not_exists(#gcseq) OR #gcseq = :gcseq)"
				   : " AND #gcseq = :gcseq",
		 cm->gc_fenced && *hash
		     ? " AND (attribute_not_exists(#gcdoom) OR NOT contains(#gcdoom, :hash))"
		     : "");
	if (cm->gc_fenced && names &&
	    (json_object_set_new(names, "#gcseq", json_string("gc_seq")) != 0 ||
	     (*hash && json_object_set_new(names, "#gcdoom", json_string("gc_doomed")) != 0)))
		names = (json_decref(names), NULL);
	if (cm->gc_fenced && values &&
	    json_object_set_new(values, ":gcseq", ddb_av_n_u64(cm->gc_seq)) != 0)
		values = (json_decref(values), NULL);
	rc = update(cd, "commit", id, expr, cond, names, values, NULL, &st);
	if (st == WIRE_CONDITION_FAILED) {
		rc = ddb_get(c, id, &cur);
		if (rc == 0 && already_applied(&cur, node, epoch, cm, hash))
			goto out;
		rc = -ESTALE;
		goto stale;
	}
	goto out;
stale:
	log_warn("cannot commit '%s' gen %llu: lease or base lost (owner '%s' epoch %llu gen "
		 "%llu, expected '%s' epoch %llu gen %llu)",
		 id, (unsigned long long)cm->new_gen, cur.owner, (unsigned long long)cur.epoch,
		 (unsigned long long)cur.gen, node, (unsigned long long)epoch,
		 (unsigned long long)base_gen);
out:
	return rc;
}

static int ddb_release(struct catalog *c, const char *id, const char *node, uint64_t epoch)
{
	return holder_update(
	    c, "release the lease on", id, node, epoch,
	    "SET #expires = :zero, #rev = if_not_exists(#rev, :zero) + :one "
	    "REMOVE #owner, #stranded",
	    json_pack("{s:s, s:s}", "#expires", "expires", "#stranded", "stranded"), json_object(),
	    NULL);
}

static int ddb_strand(struct catalog *c, const char *id, const char *node, uint64_t epoch,
		      int64_t now_ms)
{
	return holder_update(c, "mark as stranded", id, node, epoch,
			     "SET #stranded = :now, #rev = if_not_exists(#rev, :zero) + :one",
			     json_pack("{s:s}", "#stranded", "stranded"),
			     json_pack("{s:o}", ":now", ddb_av_n_i64(now_ms > 0 ? now_ms : 1)),
			     NULL);
}

static int ddb_abandon(struct catalog *c, const struct cat_item *seen, int64_t now_ms)
{
	struct cat_item cur;
	enum wire_status st;
	char expr[256], cond[200];
	json_t *values;
	int rc;

	if (!seen || !args_ok(seen->id, seen->owner))
		return -EINVAL;
	/* hist is rewritten whole: the gen condition makes this safe. */
	rc = ddb_get(c, seen->id, &cur);
	if (rc == -ENOENT)
		return -ESTALE;
	if (rc)
		return rc;
	if (!cur.stranded_ms || strcmp(cur.owner, seen->owner) != 0 || cur.epoch != seen->epoch ||
	    cur.gen != seen->gen)
		return -ESTALE;
	values = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o}", ":owner", ddb_av_s(seen->owner),
			   ":epoch", ddb_av_n_u64(seen->epoch), ":base", ddb_av_n_u64(cur.gen),
			   ":gen", ddb_av_n_u64(cur.gen + 1), ":hist",
			   catalog_ddb_hist_push(&cur, now_ms, cur.gen + 1, cur.hash), ":zero",
			   ddb_av_n_u64(0), ":one", ddb_av_n_u64(1));
	/* Never committed: the abandoned copy leaves a tombstone. */
	if (values && cur.gen == 0 &&
	    json_object_set_new(values, ":del", ddb_av_n_i64(now_ms > 0 ? now_ms : 1)) != 0)
		values = (json_decref(values), NULL);
	snprintf(expr, sizeof(expr),
		 "SET #gen = :gen, #hist = :hist, #expires = :zero, "
		 "#rev = if_not_exists(#rev, :zero) + :one%s REMOVE #owner, #stranded",
		 cur.gen == 0 ? ", #deleted = :del" : "");
	snprintf(cond, sizeof(cond),
		 "#owner = :owner AND #epoch = :epoch AND attribute_exists(#stranded) AND %s",
		 cur.gen == 0 ? "(attribute_not_exists(#gen) OR #gen = :base)" : "#gen = :base");
	rc = update(catalog_ddb_of(c), "abandon the stranded copy of", seen->id, expr, cond,
		    cur.gen == 0
			? json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "#owner", "owner",
				    "#epoch", "epoch", "#gen", "gen", "#hist", "hist", "#expires",
				    "expires", "#rev", "rev", "#stranded", "stranded", "#deleted",
				    "deleted")
			: json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "#owner", "owner",
				    "#epoch", "epoch", "#gen", "gen", "#hist", "hist", "#expires",
				    "expires", "#rev", "rev", "#stranded", "stranded"),
		    values, NULL, &st);
	if (st == WIRE_CONDITION_FAILED)
		rc = -ESTALE;
	return rc;
}

static int ddb_gc_begin(struct catalog *c, const char *id, uint64_t seen_gen, uint64_t seen_seq,
			const char *doomed, int64_t now_ms)
{
	char cond[256];
	enum wire_status st;
	int rc;

	if (!args_ok(id, NULL) || !doomed || !*doomed || strlen(doomed) > CAT_GC_DOOMED_MAX)
		return -EINVAL;
	snprintf(cond, sizeof(cond),
		 "attribute_exists(#id) AND #gen = :gen AND %s AND "
		 "attribute_not_exists(#gcsince)",
		 seen_seq == 0 ? "(attribute_not_exists(#gcseq) OR #gcseq = :seq)"
			       : "#gcseq = :seq");
	rc = update(catalog_ddb_of(c), "open a gc phase on", id,
		    "SET #gcseq = if_not_exists(#gcseq, :zero) + :one, #gcdoom = :doom, "
		    "#gcsince = :now",
		    cond,
		    json_pack("{s:s, s:s, s:s, s:s, s:s}", "#id", "id", "#gen", "gen", "#gcseq",
			      "gc_seq", "#gcdoom", "gc_doomed", "#gcsince", "gc_since"),
		    json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", ":gen", ddb_av_n_u64(seen_gen),
			      ":seq", ddb_av_n_u64(seen_seq), ":zero", ddb_av_n_u64(0), ":one",
			      ddb_av_n_u64(1), ":doom", ddb_av_s(doomed), ":now",
			      ddb_av_n_i64(now_ms > 0 ? now_ms : 1)),
		    NULL, &st);
	if (st == WIRE_CONDITION_FAILED)
		rc = -ESTALE;
	return rc;
}

static int ddb_gc_end(struct catalog *c, const char *id, uint64_t seq)
{
	enum wire_status st;
	int rc;

	if (!args_ok(id, NULL))
		return -EINVAL;
	rc = update(catalog_ddb_of(c), "close the gc phase on", id, "REMOVE #gcdoom, #gcsince",
		    "#gcseq = :seq",
		    json_pack("{s:s, s:s, s:s}", "#gcseq", "gc_seq", "#gcdoom", "gc_doomed",
			      "#gcsince", "gc_since"),
		    json_pack("{s:o}", ":seq", ddb_av_n_u64(seq)), NULL, &st);
	if (st == WIRE_CONDITION_FAILED)
		rc = -ESTALE;
	return rc;
}

static int ddb_remove(struct catalog *c, const char *id, const char *node, uint64_t epoch)
{
	struct catalog_ddb *cd = catalog_ddb_of(c);
	struct ddb_cond dc = {"#owner = :me AND #epoch = :epoch", NULL, NULL, "NONE"};
	enum wire_status st = WIRE_NOMEM;
	json_t *key;
	int rc = -ENOMEM;

	if (!args_ok(id, node))
		return -EINVAL;
	key = catalog_ddb_item_key(id);
	dc.names = json_pack("{s:s, s:s}", "#owner", "owner", "#epoch", "epoch");
	dc.values = json_pack("{s:o, s:o}", ":me", ddb_av_s(node), ":epoch", ddb_av_n_u64(epoch));
	if (key && dc.names && dc.values) {
		st = ddb_delete_item(cd->client, cd->table, key, &dc, NULL, NULL);
		rc = st == WIRE_OK		   ? 0
		     : st == WIRE_CONDITION_FAILED ? -ESTALE
						   : wire_status_errno(st);
		if (rc < 0 && rc != -ESTALE)
			log_err("cannot remove '%s' from table '%s': %s", id, cd->table,
				wire_status_str(st));
	}
	json_decref(key);
	json_decref(dc.names);
	json_decref(dc.values);
	return rc;
}

/* ---- sessions ---- */

static int ddb_want(struct catalog *c, const char *id, const char *holder)
{
	int rc;

	if (!args_ok(id, holder))
		return -EINVAL;
	rc = catalog_ddb_session_update(c, "ask for a hand-over", holder, "ADD #wants :ids",
					"attribute_exists(#sess)",
					json_pack("{s:s, s:s}", "#wants", "wants", "#sess", "sess"),
					json_pack("{s:{s:[s]}}", ":ids", "SS", id), NULL);
	return rc == -ESTALE ? -ENOENT : rc;
}

/* The continuation token is the id of the last item of the page (the
 * table's whole key), sent back as ExclusiveStartKey. On success the
 * incoming *token is freed and replaced; on failure it is left as it was
 * (still the caller's). Items that do not decode are logged and skipped,
 * so one bad item cannot hide the rest of the listing. */
static int ddb_scan(struct catalog *c, char **token,
		    int (*cb)(void *arg, const struct cat_item *it), void *arg)
{
	struct catalog_ddb *cd = catalog_ddb_of(c);
	json_t *start = NULL, *items = NULL, *last = NULL, *v;
	char last_id[CAT_ID_MAX + 1], *next = NULL;
	struct cat_item *it = NULL;
	enum wire_status st;
	size_t i;
	int rc = -ENOMEM;

	if (*token) {
		if (!args_ok(*token, NULL)) {
			rc = -EINVAL;
			goto out;
		}
		start = catalog_ddb_item_key(*token);
		if (!start)
			goto out;
	}
	it = malloc(sizeof(*it));
	if (!it)
		goto out;
	st = ddb_scan_page(cd->client, cd->table, start, 0, &items, &last, NULL);
	if (st != WIRE_OK) {
		log_err("cannot scan table '%s': %s", cd->table, wire_status_str(st));
		rc = wire_status_errno(st);
		goto out;
	}
	if (last) {
		if (ddb_av_get_s(last, "id", last_id, sizeof(last_id)) != 0 || !last_id[0]) {
			log_err("cannot scan table '%s': malformed LastEvaluatedKey", cd->table);
			rc = -EIO;
			goto out;
		}
		next = strdup(last_id);
		if (!next)
			goto out;
	}
	json_array_foreach(items, i, v)
	{
		char vid[CAT_ID_MAX + 1];

		/* Sessions share the table; they are not databases. */
		if (ddb_av_get_s(v, "id", vid, sizeof(vid)) != -E2BIG &&
		    catalog_ddb_is_session_id(vid))
			continue;
		if (catalog_ddb_decode_item(v, it) != 0)
			continue;
		rc = cb(arg, it);
		if (rc)
			goto out;
	}
	rc = 0;
	free(*token);
	*token = next;
	next = NULL;
out:
	free(next);
	free(it);
	json_decref(last);
	json_decref(items);
	json_decref(start);
	return rc;
}

static int ddb_check(struct catalog *c)
{
	struct catalog_ddb *cd = catalog_ddb_of(c);
	char status[32];
	enum wire_status st;

	st = ddb_describe_table(cd->client, cd->table, status, NULL);
	if (st == WIRE_NO_TABLE) {
		log_err("cannot use catalog: table '%s' does not exist (create it with "
			"`tenantfs init`)",
			cd->table);
		return -ENXIO;
	}
	if (st != WIRE_OK) {
		log_err("cannot use catalog: table '%s': %s", cd->table, wire_status_str(st));
		return wire_status_errno(st);
	}
	if (strcmp(status, "CREATING") == 0)
		st = ddb_wait_active(cd->client, cd->table, TABLE_ACTIVE_TIMEOUT_MS, NULL);
	return wire_status_errno(st);
}

static int ddb_init(struct catalog *c)
{
	struct catalog_ddb *cd = catalog_ddb_of(c);
	enum wire_status st;

	st = ddb_describe_table(cd->client, cd->table, NULL, NULL);
	if (st == WIRE_NO_TABLE) {
		log_info("creating dynamodb table '%s'", cd->table);
		st = ddb_create_table(cd->client, cd->table, NULL);
	}
	if (st == WIRE_OK)
		st = ddb_wait_active(cd->client, cd->table, TABLE_ACTIVE_TIMEOUT_MS, NULL);
	if (st != WIRE_OK)
		log_err("cannot create catalog table '%s': %s", cd->table, wire_status_str(st));
	return wire_status_errno(st);
}

static void ddb_free(struct catalog *c)
{
	struct catalog_ddb *cd = catalog_ddb_of(c);

	free(cd->table);
	free(cd);
}

static const struct catalog_ops ddb_ops = {
    .acquire = ddb_acquire,
    .session_start = catalog_ddb_session_start,
    .heartbeat = catalog_ddb_heartbeat,
    .session_get = catalog_ddb_session_get,
    .session_kill = catalog_ddb_session_kill,
    .session_end = catalog_ddb_session_end,
    .commit = ddb_commit,
    .release = ddb_release,
    .strand = ddb_strand,
    .abandon = ddb_abandon,
    .gc_begin = ddb_gc_begin,
    .gc_end = ddb_gc_end,
    .remove = ddb_remove,
    .want = ddb_want,
    .get = ddb_get,
    .scan = ddb_scan,
    .init = ddb_init,
    .check = ddb_check,
    .free = ddb_free,
};

struct catalog *catalog_ddb_new(struct ddb_client *client, const char *table)
{
	struct catalog_ddb *cd;

	if (!client || !table || !*table)
		return NULL;
	cd = calloc(1, sizeof(*cd));
	if (!cd)
		return NULL;
	cd->table = strdup(table);
	if (!cd->table) {
		free(cd);
		return NULL;
	}
	cd->base.ops = &ddb_ops;
	cd->client = client;
	return &cd->base;
}
