/* Internals of the embedded catalog shared by its files: catalog_sqlite.c
 * (items, leases, gc, scan), catalog_sqlite_session.c (node sessions) and
 * catalog_sqlite_db.c (the connection). */
#ifndef TFS_CATALOG_SQLITE_I_H
#define TFS_CATALOG_SQLITE_I_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cache/catalog/catalog.h"
#include "s3/base/tsa.h"

/* Locking: one connection under one mutex (cs->lock); no other lock is ever
 * taken inside it, and it is never held across a call back into the
 * caller (scan copies a page out first). SQLite's own locks order the
 * processes sharing the file. */
struct catalog_sqlite {
	struct catalog base;
	tfs_mutex lock;
	char *path;   /* immutable after new */
	sqlite3 *db;  /* protected by lock */
	pid_t db_pid; /* protected by lock: process that opened db */
	/* protected by lock: the connection inherited across fork, never used
	 * or closed (see cs_lock); kept so that it stays reachable rather than
	 * a leak in valgrind's eyes */
	sqlite3 *inherited;
};

/* c as the SQLite catalog it is. */
struct catalog_sqlite *cs_of(struct catalog *c);

/* The tables (items, sessions, wants), created if missing. */
extern const char cs_schema_sql[];

/* Opens the connection and sets it up (schema, upgrades). Called with
 * cs->lock held (or before the catalog is shared). 0 or -EIO. */
int cs_open(struct catalog_sqlite *cs);
/* Runs sql; on failure logs what it was doing and for which id (NULL
 * for the whole file) with SQLite's message. 0 or -EIO. */
int cs_exec(struct catalog_sqlite *cs, const char *sql, const char *what, const char *id);
/* Takes cs->lock (within the calling thread's catalog budget) and opens
 * the connection if needed (again after a fork): 0, -ETIMEDOUT or -EIO. */
int cs_lock(struct catalog_sqlite *cs) TRY_ACQUIRE(0, cs->lock);
void cs_unlock(struct catalog_sqlite *cs) RELEASE(cs->lock);
/* Prepares sql (lock held); logs and -EIO on failure. */
int cs_prepare(struct catalog_sqlite *cs, const char *sql, const char *id, sqlite3_stmt **st);
/* Takes the lock and begins a write transaction (what and id name it in a
 * log line): 0 with both held, or -errno with neither. */
int cs_begin(struct catalog_sqlite *cs, const char *what, const char *id) TRY_ACQUIRE(0, cs->lock);
/* Ends what cs_begin began: rolls the transaction back when rc < 0 (a
 * failed COMMIT may have done so already: this one's error is ignored),
 * releases the lock; returns rc. */
int cs_end(struct catalog_sqlite *cs, int rc) RELEASE(cs->lock);

/* Copies a text column; false when it is NULL, not text or too long. */
bool col_text(sqlite3_stmt *st, int col, char *dst, size_t cap);
/* Reads an integer column that must not be negative (epoch, gen, size). */
bool col_count(sqlite3_stmt *st, int col, uint64_t *out);

/* Steps st once: 1 with a row in *it (if it), 0 when done, -EIO
 * (catalog_sqlite.c). */
int cs_step_item(struct catalog_sqlite *cs, sqlite3_stmt *st, const char *id, struct cat_item *it);

/* ---- sessions (catalog_sqlite_session.c): the catalog_ops calls ---- */

int cs_session_get(struct catalog *c, const char *node, struct cat_session *out);
int cs_session_start(struct catalog *c, const char *node, int64_t now_ms, int64_t ttl_ms,
		     struct cat_session *out);
int cs_heartbeat(struct catalog *c, const char *node, uint64_t sess, int64_t now_ms, int64_t ttl_ms,
		 const char (*done)[CAT_ID_MAX + 1], int n_done, struct cat_session *out);
int cs_session_kill(struct catalog *c, const char *node, uint64_t sess, uint64_t rev,
		    int64_t now_ms);
int cs_session_end(struct catalog *c, const char *node, uint64_t sess, int64_t now_ms);

#endif
