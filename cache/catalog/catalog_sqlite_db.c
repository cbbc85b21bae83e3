/* The embedded catalog's connection (catalog_sqlite_i.h): the schema and
 * its upgrades, opening the file (WAL, synchronous=FULL), the lock that
 * guards the connection (within a caller's time budget, and across fork),
 * statements, columns and write transactions. */
#include "cache/catalog/catalog_sqlite_i.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "s3/base/clock.h"
#include "s3/base/log.h"

#define BUSY_TIMEOUT_MS 5000

struct catalog_sqlite *cs_of(struct catalog *c)
{
	return (struct catalog_sqlite *)c;
}

const char cs_schema_sql[] = "CREATE TABLE IF NOT EXISTS items ("
			     " id TEXT PRIMARY KEY,"
			     " owner TEXT NOT NULL DEFAULT '',"
			     " expires INTEGER NOT NULL DEFAULT 0,"
			     " epoch INTEGER NOT NULL DEFAULT 0,"
			     " gen INTEGER NOT NULL DEFAULT 0,"
			     " hash TEXT NOT NULL DEFAULT '',"
			     " size INTEGER NOT NULL DEFAULT 0,"
			     " mtime INTEGER NOT NULL DEFAULT 0,"
			     " deleted INTEGER NOT NULL DEFAULT 0,"
			     " want TEXT NOT NULL DEFAULT '',"
			     " hist TEXT NOT NULL DEFAULT '',"
			     " rev INTEGER NOT NULL DEFAULT 0,"
			     " stranded INTEGER NOT NULL DEFAULT 0,"
			     " sess INTEGER NOT NULL DEFAULT 0,"
			     " gc_seq INTEGER NOT NULL DEFAULT 0,"
			     " gc_since INTEGER NOT NULL DEFAULT 0,"
			     " gc_doomed TEXT NOT NULL DEFAULT '');"
			     "CREATE TABLE IF NOT EXISTS sessions ("
			     " node TEXT PRIMARY KEY,"
			     " sess INTEGER NOT NULL,"
			     " rev INTEGER NOT NULL,"
			     " expires INTEGER NOT NULL DEFAULT 0,"
			     " killed INTEGER NOT NULL DEFAULT 0);"
			     "CREATE TABLE IF NOT EXISTS wants ("
			     " node TEXT NOT NULL,"
			     " id TEXT NOT NULL,"
			     " PRIMARY KEY (node, id)) WITHOUT ROWID";

/* Columns added after the first release: a file written before them gets
 * them with their default (rev 0 is how an old item reads, sess 0 a lease
 * from before sessions). The tables sessions and wants are created by
 * cs_schema_sql on any file. */
static const char *const added_cols[][2] = {
    {"rev", "ALTER TABLE items ADD COLUMN rev INTEGER NOT NULL DEFAULT 0"},
    {"stranded", "ALTER TABLE items ADD COLUMN stranded INTEGER NOT NULL DEFAULT 0"},
    {"sess", "ALTER TABLE items ADD COLUMN sess INTEGER NOT NULL DEFAULT 0"},
    {"gc_seq", "ALTER TABLE items ADD COLUMN gc_seq INTEGER NOT NULL DEFAULT 0"},
    {"gc_since", "ALTER TABLE items ADD COLUMN gc_since INTEGER NOT NULL DEFAULT 0"},
    {"gc_doomed", "ALTER TABLE items ADD COLUMN gc_doomed TEXT NOT NULL DEFAULT ''"},
};

/* ---- connection ------------------------------------------------------ */

/* Runs sql; on failure logs what it was doing and for which id (NULL
 * for the whole file) with SQLite's message. */
int cs_exec(struct catalog_sqlite *cs, const char *sql, const char *what, const char *id)
{
	char *msg = NULL;

	if (sqlite3_exec(cs->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		log_err("catalog %s: cannot %s%s%s%s: %s", cs->path, what, id ? " '" : "",
			id ? id : "", id ? "'" : "", msg ? msg : sqlite3_errmsg(cs->db));
		sqlite3_free(msg);
		return -EIO;
	}
	return 0;
}

/* Adds the columns an older file lacks, in one write transaction so that
 * two processes opening it at once do not both add them. */
static int cs_upgrade(struct catalog_sqlite *cs)
{
	char sql[64];
	size_t i;
	int rc;

	rc = cs_exec(cs, "BEGIN IMMEDIATE", "begin upgrade of table items", NULL);
	for (i = 0; rc == 0 && i < sizeof(added_cols) / sizeof(added_cols[0]); i++) {
		snprintf(sql, sizeof(sql), "SELECT %s FROM items LIMIT 0", added_cols[i][0]);
		if (sqlite3_exec(cs->db, sql, NULL, NULL, NULL) == SQLITE_OK)
			continue;
		log_info("catalog %s: adding column %s to table items", cs->path, added_cols[i][0]);
		rc = cs_exec(cs, added_cols[i][1], "add a column to table items", NULL);
	}
	if (rc == 0)
		rc = cs_exec(cs, "COMMIT", "commit upgrade of table items", NULL);
	if (rc < 0)
		sqlite3_exec(cs->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* Opens the connection and sets it up. Called with cs->lock held (or
 * before the catalog is shared). */
int cs_open(struct catalog_sqlite *cs)
{
	sqlite3 *db = NULL;
	int rc;

	rc = sqlite3_open_v2(
	    cs->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		log_err("catalog %s: cannot open: %s", cs->path,
			db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return -EIO;
	}
	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	cs->db = db;
	cs->db_pid = getpid();
	/* journal_mode=WAL persists in the file; synchronous is per connection. */
	rc = cs_exec(cs, "PRAGMA journal_mode=WAL", "enable WAL", NULL);
	if (rc == 0)
		rc = cs_exec(cs, "PRAGMA synchronous=FULL", "set synchronous=FULL", NULL);
	if (rc == 0)
		rc = cs_exec(cs, cs_schema_sql, "create table items", NULL);
	if (rc == 0)
		rc = cs_upgrade(cs);
	if (rc < 0) {
		sqlite3_close(db);
		cs->db = NULL;
	}
	return rc;
}

/* Takes cs->lock and makes sure the connection belongs to this process.
 * SQLite connections must not cross fork(): a child (the daemon after it
 * detached) abandons the inherited one without closing it, since closing
 * could drop locks or checkpoint on the parent's behalf, and opens its
 * own. */
int cs_lock(struct catalog_sqlite *cs)
{
	long budget = catalog_thread_budget(), busy = BUSY_TIMEOUT_MS;
	struct timespec ts;
	int64_t t0;
	int rc = 0;

	if (budget > 0) {
		/* A caller with a time bound (a FUSE request) waits for the
		 * connection, then for SQLite's file lock, within it: one
		 * statement stuck in a busy wait must not hold every caller
		 * queued behind this mutex for its whole timeout each. */
		t0 = tfs_mono_ms();
		tfs_wall_deadline(&ts, budget);
		rc = tfs_mutex_timedlock(&cs->lock, &ts);
		if (rc != 0) {
			log_err("catalog %s: busy for more than %ld ms, giving up", cs->path,
				budget);
			return -ETIMEDOUT;
		}
		busy = budget - (long)(tfs_mono_ms() - t0);
		busy = busy < 1 ? 1 : busy > BUSY_TIMEOUT_MS ? BUSY_TIMEOUT_MS : busy;
	} else {
		tfs_mutex_lock(&cs->lock);
	}
	if (cs->db && cs->db_pid != getpid()) {
		cs->inherited = cs->db;
		cs->db = NULL;
	}
	if (!cs->db)
		rc = cs_open(cs);
	if (rc < 0)
		tfs_mutex_unlock(&cs->lock);
	else
		sqlite3_busy_timeout(cs->db, (int)busy);
	return rc;
}

void cs_unlock(struct catalog_sqlite *cs)
{
	tfs_mutex_unlock(&cs->lock);
}

int cs_prepare(struct catalog_sqlite *cs, const char *sql, const char *id, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v2(cs->db, sql, -1, st, NULL) != SQLITE_OK) {
		log_err("catalog %s: cannot prepare statement for '%s': %s", cs->path, id,
			sqlite3_errmsg(cs->db));
		*st = NULL;
		return -EIO;
	}
	return 0;
}

/* Copies a text column; false when it is NULL, not text or too long. */
bool col_text(sqlite3_stmt *st, int col, char *dst, size_t cap)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	int len = sqlite3_column_bytes(st, col);

	dst[0] = '\0';
	if (!t || sqlite3_column_type(st, col) != SQLITE_TEXT || len < 0 || (size_t)len >= cap ||
	    strlen((const char *)t) != (size_t)len)
		return false;
	memcpy(dst, t, (size_t)len + 1);
	return true;
}

/* Reads an integer column that must not be negative (epoch, gen, size). */
bool col_count(sqlite3_stmt *st, int col, uint64_t *out)
{
	sqlite3_int64 v = sqlite3_column_int64(st, col);

	*out = (uint64_t)v;
	return sqlite3_column_type(st, col) == SQLITE_INTEGER && v >= 0;
}

/* Takes the lock and begins a write transaction (what and id name it in a
 * log line): 0 with both held, or -errno with neither. */
int cs_begin(struct catalog_sqlite *cs, const char *what, const char *id)
{
	int rc = cs_lock(cs);

	if (rc != 0)
		return rc;
	rc = cs_exec(cs, "BEGIN IMMEDIATE", what, id);
	if (rc < 0)
		cs_unlock(cs);
	return rc;
}

int cs_end(struct catalog_sqlite *cs, int rc)
{
	if (rc < 0)
		sqlite3_exec(cs->db, "ROLLBACK", NULL, NULL, NULL);
	cs_unlock(cs);
	return rc;
}
