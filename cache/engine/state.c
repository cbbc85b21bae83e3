/* The state database behind state.h: a single table of cached databases in
 * SQLite (WAL, synchronous=FULL so every change is on disk when a call
 * returns). One connection, serialised by one mutex. */
#include "cache/engine/state.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/engine/lockorder.h"
#include "s3/base/log.h"
#include "s3/base/tsa.h"

struct state {
	tfs_mutex mu; /* serialises every use of db */
	sqlite3 *db;  /* protected by mu */
};

static const char schema[] = "PRAGMA journal_mode=WAL;"
			     "PRAGMA synchronous=FULL;"
			     "CREATE TABLE IF NOT EXISTS dbs ("
			     " id TEXT PRIMARY KEY,"
			     " base_gen INTEGER NOT NULL DEFAULT 0,"
			     " base_hash TEXT NOT NULL DEFAULT '',"
			     " epoch INTEGER NOT NULL DEFAULT 0,"
			     " dirty INTEGER NOT NULL DEFAULT 0,"
			     " dirty_since INTEGER NOT NULL DEFAULT 0,"
			     " size INTEGER NOT NULL DEFAULT 0,"
			     " atime INTEGER NOT NULL DEFAULT 0,"
			     " error TEXT NOT NULL DEFAULT '',"
			     " quarantine TEXT NOT NULL DEFAULT '');"
			     "CREATE INDEX IF NOT EXISTS dbs_dirty ON dbs(dirty, atime);"
			     "CREATE TABLE IF NOT EXISTS pending ("
			     " id TEXT NOT NULL,"
			     " gen INTEGER NOT NULL,"
			     " hash TEXT NOT NULL,"
			     " PRIMARY KEY (id, gen, hash));"
			     /* Commits at or below a row's base are settled: dropped in
			      * the statement (one transaction) that writes the row. */
			     "CREATE TRIGGER IF NOT EXISTS pending_settled AFTER INSERT ON dbs"
			     " BEGIN DELETE FROM pending WHERE id = NEW.id AND gen <= NEW.base_gen;"
			     " END;";

/* Columns added after the first layout; "duplicate column" is expected. */
static const char upgrade[] = "ALTER TABLE dbs ADD COLUMN pending_hash TEXT NOT NULL DEFAULT ''";
/* An older layout kept only the last pending commit, in dbs.pending_hash. */
static const char migrate[] =
    "INSERT OR IGNORE INTO pending (id, gen, hash)"
    " SELECT id, base_gen + 1, pending_hash FROM dbs WHERE pending_hash != '';"
    "UPDATE dbs SET pending_hash = '' WHERE pending_hash != '';";

static int sql_err(struct state *st, const char *what) REQUIRES(st->mu)
{
	log_err("state database: cannot %s: %s", what, sqlite3_errmsg(st->db));
	return -EIO;
}

int state_open(const char *path, struct state **out)
{
	struct state *st;
	char *msg = NULL;
	int rc = -ENOMEM;

	*out = NULL;
	st = calloc(1, sizeof(*st));
	if (!st)
		goto out;
	tfs_mutex_init(&st->mu);
	tfs_mutex_rank(&st->mu, RANK_STATE);
	if (sqlite3_open_v2(path, &st->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		log_err("cannot open state database %s: %s", path,
			st->db ? sqlite3_errmsg(st->db) : "out of memory");
		rc = -EIO;
		goto out;
	}
	sqlite3_busy_timeout(st->db, 5000);
	if (sqlite3_exec(st->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
		log_err("cannot set up state database %s: %s", path, msg ? msg : "?");
		sqlite3_free(msg);
		rc = -EIO;
		goto out;
	}
	sqlite3_exec(st->db, upgrade, NULL, NULL, NULL);
	if (sqlite3_exec(st->db, migrate, NULL, NULL, &msg) != SQLITE_OK) {
		log_err("cannot upgrade state database %s: %s", path, msg ? msg : "?");
		sqlite3_free(msg);
		rc = -EIO;
		goto out;
	}
	*out = st;
	st = NULL;
	rc = 0;
out:
	state_close(st);
	return rc;
}

void state_close(struct state *st)
{
	if (!st)
		return;
	sqlite3_close(st->db);
	tfs_mutex_destroy(&st->mu);
	free(st);
}

static void copy_text(char *dst, size_t cap, const unsigned char *src)
{
	snprintf(dst, cap, "%s", src ? (const char *)src : "");
}

static void read_row(sqlite3_stmt *s, struct state_row *r)
{
	memset(r, 0, sizeof(*r));
	copy_text(r->id, sizeof(r->id), sqlite3_column_text(s, 0));
	r->base_gen = (uint64_t)sqlite3_column_int64(s, 1);
	copy_text(r->base_hash, sizeof(r->base_hash), sqlite3_column_text(s, 2));
	r->epoch = (uint64_t)sqlite3_column_int64(s, 3);
	r->dirty = sqlite3_column_int(s, 4) != 0;
	r->dirty_since = sqlite3_column_int64(s, 5);
	r->size = (uint64_t)sqlite3_column_int64(s, 6);
	r->atime = sqlite3_column_int64(s, 7);
	copy_text(r->error, sizeof(r->error), sqlite3_column_text(s, 8));
	copy_text(r->quarantine, sizeof(r->quarantine), sqlite3_column_text(s, 9));
}

#define COLS "id, base_gen, base_hash, epoch, dirty, dirty_since, size, atime, error, quarantine"

int state_get(struct state *st, const char *id, struct state_row *out)
{
	sqlite3_stmt *s = NULL;
	int rc;

	tfs_mutex_lock(&st->mu);
	if (sqlite3_prepare_v2(st->db, "SELECT " COLS " FROM dbs WHERE id = ?", -1, &s, NULL) !=
	    SQLITE_OK) {
		rc = sql_err(st, "prepare select");
		goto out;
	}
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		read_row(s, out);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = -ENOENT;
	} else {
		rc = sql_err(st, "read a row");
	}
out:
	sqlite3_finalize(s);
	tfs_mutex_unlock(&st->mu);
	return rc;
}

int state_put(struct state *st, const struct state_row *r)
{
	sqlite3_stmt *s = NULL;
	int rc;

	tfs_mutex_lock(&st->mu);
	if (sqlite3_prepare_v2(st->db,
			       "INSERT OR REPLACE INTO dbs (" COLS
			       ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			       -1, &s, NULL) != SQLITE_OK) {
		rc = sql_err(st, "prepare insert");
		goto out;
	}
	sqlite3_bind_text(s, 1, r->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)r->base_gen);
	sqlite3_bind_text(s, 3, r->base_hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, (sqlite3_int64)r->epoch);
	sqlite3_bind_int(s, 5, r->dirty ? 1 : 0);
	sqlite3_bind_int64(s, 6, r->dirty_since);
	sqlite3_bind_int64(s, 7, (sqlite3_int64)r->size);
	sqlite3_bind_int64(s, 8, r->atime);
	sqlite3_bind_text(s, 9, r->error, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 10, r->quarantine, -1, SQLITE_STATIC);
	rc = sqlite3_step(s) == SQLITE_DONE ? 0 : sql_err(st, "write a row");
out:
	sqlite3_finalize(s);
	tfs_mutex_unlock(&st->mu);
	return rc;
}

/* Runs one INSERT, UPDATE or DELETE: id is ?1, then nint integers, then text if
 * given. need_row turns "no such row" into -ENOENT. */
static int exec_id(struct state *st, const char *sql, const char *id, int nint, const int64_t *ints,
		   const char *text, bool need_row)
{
	sqlite3_stmt *s = NULL;
	int rc, i;

	tfs_mutex_lock(&st->mu);
	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
		rc = sql_err(st, "prepare an update");
		goto out;
	}
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	for (i = 0; i < nint; i++)
		sqlite3_bind_int64(s, 2 + i, ints[i]);
	if (text)
		sqlite3_bind_text(s, 2 + nint, text, -1, SQLITE_STATIC);
	if (sqlite3_step(s) != SQLITE_DONE) {
		rc = sql_err(st, "update a row");
		goto out;
	}
	rc = (need_row && sqlite3_changes(st->db) == 0) ? -ENOENT : 0;
out:
	sqlite3_finalize(s);
	tfs_mutex_unlock(&st->mu);
	return rc;
}

int state_set_dirty(struct state *st, const char *id, bool dirty, int64_t since)
{
	int64_t v[2] = {dirty ? 1 : 0, since};

	return exec_id(st,
		       "UPDATE dbs SET dirty = ?2, dirty_since = CASE WHEN ?2 THEN ?3 ELSE 0 END"
		       " WHERE id = ?1",
		       id, 2, v, NULL, true);
}

int state_set_error(struct state *st, const char *id, const char *error)
{
	return exec_id(st, "UPDATE dbs SET error = ?2 WHERE id = ?1", id, 0, NULL,
		       error ? error : "", true);
}

int state_add_pending(struct state *st, const char *id, uint64_t gen, const char *hash)
{
	int64_t g = (int64_t)gen;

	return exec_id(st, "INSERT OR IGNORE INTO pending (id, gen, hash) VALUES (?1, ?2, ?3)", id,
		       1, &g, hash ? hash : "", false);
}

int state_has_pending(struct state *st, const char *id, uint64_t gen, const char *hash)
{
	sqlite3_stmt *s = NULL;
	int rc;

	tfs_mutex_lock(&st->mu);
	if (sqlite3_prepare_v2(st->db,
			       "SELECT 1 FROM pending WHERE id = ?1 AND gen = ?2 AND"
			       " (?3 IS NULL OR hash = ?3) LIMIT 1",
			       -1, &s, NULL) != SQLITE_OK) {
		rc = sql_err(st, "prepare a pending lookup");
		goto out;
	}
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)gen);
	if (hash)
		sqlite3_bind_text(s, 3, hash, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 3);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		rc = 1;
	else if (rc == SQLITE_DONE)
		rc = 0;
	else
		rc = sql_err(st, "look up a pending commit");
out:
	sqlite3_finalize(s);
	tfs_mutex_unlock(&st->mu);
	return rc;
}

int state_clear_pending(struct state *st, const char *id)
{
	return exec_id(st, "DELETE FROM pending WHERE id = ?1", id, 0, NULL, NULL, false);
}

int state_touch(struct state *st, const char *id, int64_t atime)
{
	return exec_id(st, "UPDATE dbs SET atime = ?2 WHERE id = ?1", id, 1, &atime, NULL, false);
}

int state_del(struct state *st, const char *id)
{
	int rc = exec_id(st, "DELETE FROM dbs WHERE id = ?1", id, 0, NULL, NULL, false);

	return rc < 0 ? rc : state_clear_pending(st, id);
}

int state_list(struct state *st, enum state_filter f, int limit, struct state_row **rows, int *n)
{
	static const char *const sql[] = {
	    [STATE_DIRTY] = "SELECT " COLS " FROM dbs WHERE dirty = 1 ORDER BY id LIMIT ?",
	    [STATE_CLEAN_LRU] =
		"SELECT " COLS " FROM dbs WHERE dirty = 0 ORDER BY atime, id LIMIT ?",
	    [STATE_UNCOMMITTED] = "SELECT " COLS " FROM dbs WHERE base_gen = 0 ORDER BY id LIMIT ?",
	    [STATE_QUARANTINED] =
		"SELECT " COLS " FROM dbs WHERE quarantine != '' ORDER BY id LIMIT ?",
	};
	sqlite3_stmt *s = NULL;
	struct state_row *v = NULL, *nv;
	int cap = 0, cnt = 0, rc, step;

	*rows = NULL;
	*n = 0;
	tfs_mutex_lock(&st->mu);
	if (sqlite3_prepare_v2(st->db, sql[f], -1, &s, NULL) != SQLITE_OK) {
		rc = sql_err(st, "prepare a listing");
		goto out;
	}
	sqlite3_bind_int64(s, 1, limit > 0 ? limit : -1);
	while ((step = sqlite3_step(s)) == SQLITE_ROW) {
		if (cnt == cap) {
			cap = cap ? cap * 2 : 16;
			nv = realloc(v, (size_t)cap * sizeof(*v));
			if (!nv) {
				rc = -ENOMEM;
				goto out;
			}
			v = nv;
		}
		read_row(s, &v[cnt++]);
	}
	if (step != SQLITE_DONE) {
		rc = sql_err(st, "list rows");
		goto out;
	}
	*rows = v;
	*n = cnt;
	v = NULL;
	rc = 0;
out:
	free(v);
	sqlite3_finalize(s);
	tfs_mutex_unlock(&st->mu);
	return rc;
}

/* One row of two integers from sql into a and b (b may be NULL). */
static int sum2(struct state *st, const char *sql, uint64_t *a, uint64_t *b)
{
	sqlite3_stmt *s = NULL;
	int rc;

	*a = 0;
	if (b)
		*b = 0;
	tfs_mutex_lock(&st->mu);
	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
		rc = sql_err(st, "prepare a sum");
		goto out;
	}
	if (sqlite3_step(s) != SQLITE_ROW) {
		rc = sql_err(st, "sum sizes");
		goto out;
	}
	*a = (uint64_t)sqlite3_column_int64(s, 0);
	if (b)
		*b = (uint64_t)sqlite3_column_int64(s, 1);
	rc = 0;
out:
	sqlite3_finalize(s);
	tfs_mutex_unlock(&st->mu);
	return rc;
}

int state_clean_bytes(struct state *st, uint64_t *out)
{
	return sum2(st, "SELECT COALESCE(SUM(size), 0) FROM dbs WHERE dirty = 0", out, NULL);
}

int state_totals(struct state *st, uint64_t *rows, uint64_t *bytes)
{
	return sum2(st, "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM dbs", rows, bytes);
}
