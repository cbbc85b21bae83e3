/* The embedded catalog: one SQLite file (WAL, synchronous=FULL) holding
 * table items, one row per database, table sessions, one row per node
 * (its heartbeat), and table wants, the hand-over requests addressed to a
 * node's session. Every write is a single conditional
 * statement or one BEGIN IMMEDIATE transaction, so several processes on one
 * machine (two mounts) can share the file safely. The connection, its
 * lock and the schema are in catalog_sqlite_db.c. */
#include "cache/catalog/catalog.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache/catalog/catalog_sqlite_i.h"
#include "s3/base/log.h"
#include "s3/base/page.h"
#include "s3/base/parse.h"

#define SCAN_PAGE 500

#define ITEM_COLS                                                                                 \
	"id, owner, expires, epoch, gen, hash, size, mtime, deleted, want, hist, rev, stranded, " \
	"sess, gc_seq, gc_since"

/* ---- items --------------------------------------------------------- */

/* hist is "time:gen:hash;time:gen:hash", oldest first; we write it, so
 * anything else (too many entries included) is damage: false. */
static bool hist_decode(const char *s, struct cat_item *it)
{
	it->n_hist = 0;
	while (s && *s) {
		struct cat_hist *h;
		const char *rest;
		char *end;
		size_t hl;

		if (it->n_hist == CAT_HIST_MAX)
			return false;
		h = &it->hist[it->n_hist];
		errno = 0;
		h->time_ms = strtoll(s, &end, 10);
		if (end == s || *end != ':' || errno)
			return false;
		s = end + 1;
		if (tfs_parse_u64(s, &h->gen, &rest) < 0 || *rest != ':')
			return false;
		s = rest + 1;
		hl = strcspn(s, ";");
		if (hl > CAT_HASH_HEX) /* "" is a tombstone's */
			return false;
		memcpy(h->hash, s, hl);
		h->hash[hl] = '\0';
		it->n_hist++;
		s += hl;
		if (*s == ';' && !*++s)
			return false; /* a trailing ';' */
	}
	return true;
}

static void hist_encode(const struct cat_item *it, char *buf, size_t cap)
{
	size_t len = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < it->n_hist; i++) {
		int n = snprintf(buf + len, cap - len, "%s%" PRId64 ":%" PRIu64 ":%s", i ? ";" : "",
				 it->hist[i].time_ms, it->hist[i].gen, it->hist[i].hash);

		if (n < 0 || (size_t)n >= cap - len)
			break;
		len += (size_t)n;
	}
}

/* Pushes a version onto it->hist, dropping the oldest beyond CAT_HIST_MAX,
 * and encodes the result into buf. */
static void hist_push(struct cat_item *it, int64_t time_ms, uint64_t gen, const char *hash,
		      char *buf, size_t cap)
{
	if (it->n_hist == CAT_HIST_MAX) {
		memmove(&it->hist[0], &it->hist[1], sizeof(it->hist[0]) * (CAT_HIST_MAX - 1));
		it->n_hist--;
	}
	it->hist[it->n_hist].time_ms = time_ms;
	it->hist[it->n_hist].gen = gen;
	snprintf(it->hist[it->n_hist].hash, sizeof(it->hist[0].hash), "%s", hash);
	it->n_hist++;
	hist_encode(it, buf, cap);
}

/* Reads a row selected with ITEM_COLS starting at column 0. A row this
 * code did not write (edited by hand, damaged) is -EIO, naming the
 * column, rather than half an item. */
static int row_to_item(struct catalog_sqlite *cs, sqlite3_stmt *st, struct cat_item *it)
{
	const char *bad = NULL;

	memset(it, 0, sizeof(*it));
	if (!col_text(st, 0, it->id, sizeof(it->id)) || !it->id[0])
		bad = "id";
	else if (!col_text(st, 1, it->owner, sizeof(it->owner)))
		bad = "owner";
	else if (!col_count(st, 3, &it->epoch))
		bad = "epoch";
	else if (!col_count(st, 4, &it->gen))
		bad = "gen";
	else if (!col_text(st, 5, it->hash, sizeof(it->hash)))
		bad = "hash";
	else if (!col_count(st, 6, &it->size))
		bad = "size";
	else if (!col_text(st, 9, it->want, sizeof(it->want)))
		bad = "want";
	else if (!hist_decode((const char *)sqlite3_column_text(st, 10), it))
		bad = "hist";
	else if (!col_count(st, 11, &it->rev))
		bad = "rev";
	else if (!col_count(st, 13, &it->sess))
		bad = "sess";
	else if (!col_count(st, 14, &it->gc_seq))
		bad = "gc_seq";
	if (bad) {
		log_err("catalog %s: cannot decode item '%s': column %s is malformed", cs->path,
			it->id[0] ? it->id : (const char *)sqlite3_column_text(st, 0), bad);
		return -EIO;
	}
	it->expires_ms = sqlite3_column_int64(st, 2);
	it->mtime_ms = sqlite3_column_int64(st, 7);
	it->deleted_ms = sqlite3_column_int64(st, 8);
	it->stranded_ms = sqlite3_column_int64(st, 12);
	it->gc_since_ms = sqlite3_column_int64(st, 15);
	return 0;
}

int cs_step_item(struct catalog_sqlite *cs, sqlite3_stmt *st, const char *id, struct cat_item *it)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW) {
		if (it && row_to_item(cs, st, it) < 0)
			return -EIO;
		return 1;
	}
	if (rc == SQLITE_DONE)
		return 0;
	log_err("catalog %s: statement on '%s' failed: %s", cs->path, id, sqlite3_errmsg(cs->db));
	return -EIO;
}

/* Reads id into *it under the lock: 1 found, 0 absent, -EIO. */
static int read_item(struct catalog_sqlite *cs, const char *id, struct cat_item *it)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = cs_prepare(cs, "SELECT " ITEM_COLS " FROM items WHERE id = ?1", id, &st);
	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = cs_step_item(cs, st, id, it);
	sqlite3_finalize(st);
	return rc;
}

static bool args_ok(const char *id, const char *node)
{
	if (!id || !*id || strlen(id) > CAT_ID_MAX)
		return false;
	if (node && (!*node || strlen(node) > CAT_NODE_MAX))
		return false;
	return true;
}

/* ---- operations ------------------------------------------------------ */

/* Runs the conditional UPDATE st (finalized here) of a transaction and
 * commits it: -ESTALE when it changed no row; the caller rolls back on
 * any error. */
static int cs_step_commit(struct catalog_sqlite *cs, sqlite3_stmt *st, const char *what,
			  const char *id)
{
	int rc = cs_step_item(cs, st, id, NULL);

	sqlite3_finalize(st);
	if (rc < 0)
		return rc;
	if (sqlite3_changes(cs->db) != 1)
		return -ESTALE;
	return cs_exec(cs, "COMMIT", what, id);
}

static int cs_acquire(struct catalog *c, const char *id, const char *node, uint64_t sess,
		      int64_t now_ms, int64_t ttl_ms, const struct cat_takeover *tk,
		      struct cat_item *out)
{
	struct catalog_sqlite *cs = cs_of(c);
	struct cat_item cur;
	sqlite3_stmt *st = NULL;
	int rc, found;

	if (!args_ok(id, node))
		return -EINVAL;
	rc = cs_begin(cs, "begin acquire of", id);
	if (rc != 0)
		return rc;
	found = read_item(cs, id, &cur);
	if (found < 0) {
		rc = found;
		goto out;
	}
	if (found && !cat_may_acquire(&cur, node, tk)) {
		if (out)
			*out = cur;
		rc = -EBUSY;
		goto out;
	}
	rc = cs_prepare(
	    cs,
	    "INSERT INTO items (id, owner, expires, epoch, rev, sess) VALUES (?1, ?2, ?3, 1, 1, ?4)"
	    " ON CONFLICT (id) DO UPDATE SET owner = ?2, expires = ?3,"
	    " epoch = epoch + 1, rev = rev + 1, sess = ?4, want = ''"
	    " RETURNING " ITEM_COLS,
	    id, &st);
	if (rc < 0)
		goto out;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, node, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now_ms + ttl_ms);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)sess);
	found = cs_step_item(cs, st, id, &cur);
	sqlite3_finalize(st);
	if (found <= 0) {
		rc = found < 0 ? found : -EIO;
		goto out;
	}
	rc = cs_exec(cs, "COMMIT", "commit acquire of", id);
	if (rc == 0 && out)
		*out = cur;
out:
	if (rc == -EIO)
		log_err("catalog %s: cannot acquire '%s' for %s", cs->path, id, node);
	return cs_end(cs, rc);
}

/* The gc condition of a fenced commit (cat_gc_allows), in the commit's
 * transaction: 0, -ESTALE, -EIO. */
static int gc_allows(struct catalog_sqlite *cs, const char *id, const struct cat_item *cur,
		     const struct cat_commit *cm)
{
	char doomed[CAT_GC_DOOMED_MAX + 1] = "";
	sqlite3_stmt *st = NULL;
	int rc;

	rc = cs_prepare(cs, "SELECT gc_doomed FROM items WHERE id = ?1", id, &st);
	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		col_text(st, 0, doomed, sizeof(doomed));
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW) {
		log_err("catalog %s: cannot read the gc phase of '%s': %s", cs->path, id,
			sqlite3_errmsg(cs->db));
		return -EIO;
	}
	if (cat_gc_allows(cur, doomed, cm))
		return 0;
	log_info("catalog %s: commit of '%s' refused: a gc run deleted or is deleting "
		 "versions since its upload (gc_seq %" PRIu64 ", the commit's %" PRIu64 ")",
		 cs->path, id, cur->gc_seq, cm->gc_seq);
	return -ESTALE;
}

static int cs_commit(struct catalog *c, const char *id, const char *node, uint64_t epoch,
		     uint64_t base_gen, const struct cat_commit *cm)
{
	struct catalog_sqlite *cs = cs_of(c);
	char hist[CAT_HIST_MAX * (CAT_HASH_HEX + 48)];
	const char *hash = cm->hash ? cm->hash : "";
	sqlite3_stmt *st = NULL;
	struct cat_item cur;
	int rc, found;

	if (!args_ok(id, node) || strlen(hash) > CAT_HASH_HEX)
		return -EINVAL;
	rc = cs_begin(cs, "begin commit of", id);
	if (rc != 0)
		return rc;
	found = read_item(cs, id, &cur);
	if (found < 0) {
		rc = found;
		goto out;
	}
	if (!found || strcmp(cur.owner, node) != 0 || cur.epoch != epoch || cur.gen != base_gen) {
		rc = -ESTALE;
		goto out;
	}
	if (cm->gc_fenced) {
		rc = gc_allows(cs, id, &cur, cm);
		if (rc < 0)
			goto out;
	}
	hist_push(&cur, cm->mtime_ms, cm->new_gen, hash, hist, sizeof(hist));

	/* The condition is repeated in the statement: it costs nothing and
	 * keeps the write self-contained. */
	rc = cs_prepare(cs,
			"UPDATE items SET gen = ?5, hash = ?6, size = ?7, mtime = ?8, deleted = "
			"?9,"
			" hist = ?10, rev = rev + 1, stranded = 0"
			" WHERE id = ?1 AND owner = ?2 AND epoch = ?3 AND gen = ?4",
			id, &st);
	if (rc < 0)
		goto out;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, node, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)epoch);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)base_gen);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)cm->new_gen);
	sqlite3_bind_text(st, 6, hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)cm->size);
	sqlite3_bind_int64(st, 8, cm->mtime_ms);
	/* A tombstone records when it was written; mtime 0 still marks it. */
	sqlite3_bind_int64(st, 9, cm->deleted ? (cm->mtime_ms > 0 ? cm->mtime_ms : 1) : 0);
	sqlite3_bind_text(st, 10, hist, -1, SQLITE_STATIC);
	rc = cs_step_commit(cs, st, "commit a version of", id);
out:
	if (rc == -EIO)
		log_err("catalog %s: cannot commit gen %" PRIu64 " of '%s'", cs->path, cm->new_gen,
			id);
	return cs_end(cs, rc);
}

/* Runs one UPDATE binding id, node, (if with_epoch) epoch and, when the
 * statement has a ?4, arg4; returns the number of changed rows or -EIO. */
static int cs_update(struct catalog_sqlite *cs, const char *sql, const char *id, const char *node,
		     uint64_t epoch, bool with_epoch, int64_t arg4)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = cs_lock(cs);
	if (rc != 0)
		return rc;
	rc = cs_prepare(cs, sql, id, &st);
	if (rc < 0)
		goto out;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, node, -1, SQLITE_STATIC);
	if (with_epoch)
		sqlite3_bind_int64(st, 3, (sqlite3_int64)epoch);
	if (sqlite3_bind_parameter_count(st) >= 4)
		sqlite3_bind_int64(st, 4, arg4);
	rc = cs_step_item(cs, st, id, NULL);
	if (rc == 0)
		rc = sqlite3_changes(cs->db);
	else if (rc > 0)
		rc = -EIO; /* no statement here returns rows */
out:
	sqlite3_finalize(st);
	cs_unlock(cs);
	return rc;
}

/* A write by the holder (sql conditioned on owner = ?2 AND epoch = ?3):
 * 0, or -ESTALE when no row matched. */
static int cs_holder_update(struct catalog *c, const char *sql, const char *id, const char *node,
			    uint64_t epoch, int64_t arg4)
{
	int rc;

	if (!args_ok(id, node))
		return -EINVAL;
	rc = cs_update(cs_of(c), sql, id, node, epoch, true, arg4);
	if (rc < 0)
		return rc;
	return rc == 1 ? 0 : -ESTALE;
}

static int cs_release(struct catalog *c, const char *id, const char *node, uint64_t epoch)
{
	return cs_holder_update(
	    c,
	    "UPDATE items SET owner = '', expires = 0, stranded = 0, rev = rev + 1"
	    " WHERE id = ?1 AND owner = ?2 AND epoch = ?3",
	    id, node, epoch, 0);
}

static int cs_strand(struct catalog *c, const char *id, const char *node, uint64_t epoch,
		     int64_t now_ms)
{
	/* A zero time would read as "not stranded". */
	return cs_holder_update(c,
				"UPDATE items SET stranded = ?4, rev = rev + 1"
				" WHERE id = ?1 AND owner = ?2 AND epoch = ?3",
				id, node, epoch, now_ms > 0 ? now_ms : 1);
}

static int cs_abandon(struct catalog *c, const struct cat_item *seen, int64_t now_ms)
{
	struct catalog_sqlite *cs = cs_of(c);
	char hist[CAT_HIST_MAX * (CAT_HASH_HEX + 48)];
	sqlite3_stmt *st = NULL;
	struct cat_item cur;
	int rc, found;

	if (!seen || !args_ok(seen->id, seen->owner))
		return -EINVAL;
	rc = cs_begin(cs, "begin abandon of", seen->id);
	if (rc != 0)
		return rc;
	found = read_item(cs, seen->id, &cur);
	if (found < 0) {
		rc = found;
		goto out;
	}
	if (!found || !cur.stranded_ms || strcmp(cur.owner, seen->owner) != 0 ||
	    cur.epoch != seen->epoch || cur.gen != seen->gen) {
		rc = -ESTALE;
		goto out;
	}
	hist_push(&cur, now_ms, cur.gen + 1, cur.hash, hist, sizeof(hist));
	rc = cs_prepare(
	    cs,
	    "UPDATE items SET gen = gen + 1, hist = ?5, owner = '', expires = 0,"
	    " stranded = 0, rev = rev + 1,"
	    " deleted = CASE WHEN gen = 0 THEN ?6 ELSE deleted END"
	    " WHERE id = ?1 AND owner = ?2 AND epoch = ?3 AND gen = ?4 AND stranded != 0",
	    seen->id, &st);
	if (rc < 0)
		goto out;
	sqlite3_bind_text(st, 1, seen->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, seen->owner, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)seen->epoch);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)seen->gen);
	sqlite3_bind_text(st, 5, hist, -1, SQLITE_STATIC);
	/* Never committed: the abandoned copy leaves a tombstone. */
	sqlite3_bind_int64(st, 6, now_ms > 0 ? now_ms : 1);
	rc = cs_step_commit(cs, st, "commit abandon of", seen->id);
out:
	return cs_end(cs, rc);
}

static int cs_gc_begin(struct catalog *c, const char *id, uint64_t seen_gen, uint64_t seen_seq,
		       const char *doomed, int64_t now_ms)
{
	struct catalog_sqlite *cs = cs_of(c);
	sqlite3_stmt *st = NULL;
	int rc;

	if (!args_ok(id, NULL) || !doomed || !*doomed || strlen(doomed) > CAT_GC_DOOMED_MAX)
		return -EINVAL;
	rc = cs_lock(cs);
	if (rc != 0)
		return rc;
	rc = cs_prepare(cs,
			"UPDATE items SET gc_seq = gc_seq + 1, gc_doomed = ?4, gc_since = ?5"
			" WHERE id = ?1 AND gen = ?2 AND gc_seq = ?3 AND gc_since = 0",
			id, &st);
	if (rc < 0)
		goto out;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)seen_gen);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)seen_seq);
	sqlite3_bind_text(st, 4, doomed, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, now_ms > 0 ? now_ms : 1);
	rc = cs_step_item(cs, st, id, NULL);
	if (rc == 0)
		rc = sqlite3_changes(cs->db) == 1 ? 0 : -ESTALE;
	else if (rc > 0)
		rc = -EIO;
out:
	sqlite3_finalize(st);
	cs_unlock(cs);
	return rc;
}

static int cs_gc_end(struct catalog *c, const char *id, uint64_t seq)
{
	struct catalog_sqlite *cs = cs_of(c);
	int rc;

	if (!args_ok(id, NULL))
		return -EINVAL;
	/* cs_update binds ?2 (node) and ?4: node is unused, ?4 is seq. */
	rc = cs_update(cs,
		       "UPDATE items SET gc_doomed = '', gc_since = 0"
		       " WHERE id = ?1 AND ?2 = ?2 AND gc_seq = ?4",
		       id, "", 0, false, (int64_t)seq);
	if (rc < 0)
		return rc;
	return rc == 1 ? 0 : -ESTALE;
}

static int cs_remove(struct catalog *c, const char *id, const char *node, uint64_t epoch)
{
	return cs_holder_update(c, "DELETE FROM items WHERE id = ?1 AND owner = ?2 AND epoch = ?3",
				id, node, epoch, 0);
}

static int cs_want(struct catalog *c, const char *id, const char *holder)
{
	int rc;

	if (!args_ok(id, holder))
		return -EINVAL;
	/* ?2 is the holder: a request to a node without a session adds nothing. */
	rc = cs_update(cs_of(c),
		       "INSERT OR IGNORE INTO wants (node, id)"
		       " SELECT ?2, ?1 WHERE EXISTS (SELECT 1 FROM sessions WHERE node = ?2)",
		       id, holder, 0, false, 0);
	if (rc < 0)
		return rc;
	if (rc == 1)
		return 0;
	/* Already asked: nothing changed, but the session is there. */
	return cs_session_get(c, holder, NULL) == 0 ? 0 : -ENOENT;
}

static int cs_get(struct catalog *c, const char *id, struct cat_item *out)
{
	struct catalog_sqlite *cs = cs_of(c);
	struct cat_item it;
	int rc;

	if (!args_ok(id, NULL))
		return -EINVAL;
	rc = cs_lock(cs);
	if (rc != 0)
		return rc;
	rc = read_item(cs, id, &it);
	cs_unlock(cs);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return -ENOENT;
	if (out)
		*out = it;
	return 0;
}

static int cs_scan(struct catalog *c, char **token, int (*cb)(void *arg, const struct cat_item *it),
		   void *arg)
{
	struct catalog_sqlite *cs = cs_of(c);
	const char *after = *token ? *token : "";
	struct cat_item *page = NULL;
	sqlite3_stmt *st = NULL;
	char *next = NULL, last[CAT_ID_MAX * 4 + 1] = "";
	int rc, n = 0, rows = 0, i;

	page = malloc(sizeof(*page) * SCAN_PAGE);
	if (!page)
		return -ENOMEM;
	rc = cs_lock(cs);
	if (rc != 0)
		goto out_free;
	/* Ids are never "", so "" starts from the first one. */
	rc = cs_prepare(cs, "SELECT " ITEM_COLS " FROM items WHERE id > ?1 ORDER BY id LIMIT ?2",
			after, &st);
	if (rc == 0) {
		sqlite3_bind_text(st, 1, after, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, SCAN_PAGE);
		/* A row that does not decode is logged and skipped, so one
		 * damaged item cannot hide the rest; it still counts toward
		 * the page and the token. */
		while (rows < SCAN_PAGE && (rc = sqlite3_step(st)) == SQLITE_ROW) {
			const unsigned char *rid = sqlite3_column_text(st, 0);

			rows++;
			snprintf(last, sizeof(last), "%s", rid ? (const char *)rid : "");
			if (row_to_item(cs, st, &page[n]) == 0)
				n++;
		}
		if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
			rc = 0;
		} else {
			log_err("catalog %s: cannot scan after '%s': %s", cs->path, after,
				sqlite3_errmsg(cs->db));
			rc = -EIO;
		}
	}
	sqlite3_finalize(st);
	cs_unlock(cs);
	if (rc < 0)
		goto out_free;
	/* A full page may have more behind it; an empty next page ends it. */
	if (rows == SCAN_PAGE) {
		next = strdup(last);
		if (!next) {
			rc = -ENOMEM;
			goto out_free;
		}
	}
	/* Callbacks run without the lock: they may call back into us. */
	for (i = 0; i < n; i++) {
		rc = cb(arg, &page[i]);
		if (rc)
			break;
	}
	tfs_page_next(token, next, rc);
out_free:
	free(page);
	return rc;
}

/* Runs sql (what names it in a log line) under the lock; a transaction
 * it leaves open by failing part way is rolled back. 0 or -errno. */
static int cs_exec_locked(struct catalog *c, const char *sql, const char *what)
{
	struct catalog_sqlite *cs = cs_of(c);
	int rc = cs_lock(cs);

	if (rc != 0)
		return rc;
	rc = cs_exec(cs, sql, what, NULL);
	if (rc < 0 && !sqlite3_get_autocommit(cs->db))
		sqlite3_exec(cs->db, "ROLLBACK", NULL, NULL, NULL);
	cs_unlock(cs);
	return rc;
}

static int cs_init(struct catalog *c)
{
	return cs_exec_locked(c, cs_schema_sql, "create table items");
}

static int cs_check(struct catalog *c)
{
	/* Proves the table is there and that we can take the write lock. */
	return cs_exec_locked(c,
			      "BEGIN IMMEDIATE; SELECT count(*) FROM items WHERE id = ''; ROLLBACK",
			      "check table items");
}

static void cs_free(struct catalog *c)
{
	struct catalog_sqlite *cs = cs_of(c);

	if (!cs)
		return;
	/* An inherited connection belongs to the parent: see cs_lock. */
	if (cs->db && cs->db_pid == getpid() && sqlite3_close(cs->db) != SQLITE_OK)
		log_warn("catalog %s: cannot close: %s", cs->path, sqlite3_errmsg(cs->db));
	tfs_mutex_destroy(&cs->lock);
	free(cs->path);
	free(cs);
}

static const struct catalog_ops catalog_sqlite_ops = {
    .acquire = cs_acquire,
    .session_start = cs_session_start,
    .heartbeat = cs_heartbeat,
    .session_get = cs_session_get,
    .session_kill = cs_session_kill,
    .session_end = cs_session_end,
    .commit = cs_commit,
    .release = cs_release,
    .strand = cs_strand,
    .abandon = cs_abandon,
    .gc_begin = cs_gc_begin,
    .gc_end = cs_gc_end,
    .remove = cs_remove,
    .want = cs_want,
    .get = cs_get,
    .scan = cs_scan,
    .init = cs_init,
    .check = cs_check,
    .free = cs_free,
};

struct catalog *catalog_sqlite_new(const char *path)
{
	struct catalog_sqlite *cs = NULL;

	if (!path || !*path) {
		log_err("catalog: cannot open a sqlite catalog without a path");
		return NULL;
	}
	cs = calloc(1, sizeof(*cs));
	if (!cs || !(cs->path = strdup(path))) {
		log_err("catalog %s: cannot open: out of memory", path);
		free(cs);
		return NULL;
	}
	cs->base.ops = &catalog_sqlite_ops;
	tfs_mutex_init(&cs->lock);
	if (cs_open(cs) < 0) {
		cs_free(&cs->base);
		return NULL;
	}
	return &cs->base;
}
