/* The embedded catalog's node sessions (catalog.h): table sessions, one row
 * per node, and table wants, the hand-over requests addressed to a
 * session; each call one statement or one BEGIN IMMEDIATE transaction. */
#include "cache/catalog/catalog_sqlite_i.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "s3/base/log.h"

/* ---- sessions ---------------------------------------------------------- */

static bool node_ok(const char *node)
{
	return node && *node && strlen(node) <= CAT_NODE_MAX;
}

/* Reads node's session and its wants under the lock: 1 found, 0 absent,
 * -EIO. out may be NULL. */
static int read_session(struct catalog_sqlite *cs, const char *node, struct cat_session *out)
{
	struct cat_session s;
	sqlite3_stmt *st = NULL;
	int rc;

	memset(&s, 0, sizeof(s));
	rc = cs_prepare(cs, "SELECT sess, rev, expires, killed FROM sessions WHERE node = ?1", node,
			&st);
	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, node, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(s.node, sizeof(s.node), "%s", node);
		if (!col_count(st, 0, &s.sess) || !col_count(st, 1, &s.rev)) {
			log_err("catalog %s: cannot decode the session of '%s': malformed",
				cs->path, node);
			rc = -EIO;
		} else {
			s.expires_ms = sqlite3_column_int64(st, 2);
			s.killed_ms = sqlite3_column_int64(st, 3);
			rc = 1;
		}
	} else if (rc == SQLITE_DONE) {
		rc = 0;
	} else {
		log_err("catalog %s: cannot read the session of '%s': %s", cs->path, node,
			sqlite3_errmsg(cs->db));
		rc = -EIO;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (rc == 1 &&
	    cs_prepare(cs, "SELECT id FROM wants WHERE node = ?1 LIMIT ?2", node, &st) == 0) {
		sqlite3_bind_text(st, 1, node, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, CAT_WANTS_MAX);
		while (sqlite3_step(st) == SQLITE_ROW && s.n_wants < CAT_WANTS_MAX)
			if (col_text(st, 0, s.wants[s.n_wants], sizeof(s.wants[0])))
				s.n_wants++;
		sqlite3_finalize(st);
	} else if (rc == 1) {
		rc = -EIO;
	}
	if (rc == 1 && out)
		*out = s;
	return rc;
}

int cs_session_get(struct catalog *c, const char *node, struct cat_session *out)
{
	struct catalog_sqlite *cs = cs_of(c);
	int rc;

	if (!node_ok(node))
		return -EINVAL;
	rc = cs_lock(cs);
	if (rc != 0)
		return rc;
	rc = read_session(cs, node, out);
	cs_unlock(cs);
	return rc < 0 ? rc : rc == 0 ? -ENOENT : 0;
}

/* Runs the session write sql (binding ?1 node, ?2 a, ?3 b, ?4 d) and
 * deletes the n_done wants named in done (n_done -1: all of node's), in
 * one transaction; then reads the session into *out (may be NULL).
 * -ESTALE when sql changed no row. */
static int session_write(struct catalog *c, const char *what, const char *sql, const char *node,
			 int64_t a, int64_t b, int64_t d, const char (*done)[CAT_ID_MAX + 1],
			 int n_done, struct cat_session *out)
{
	struct catalog_sqlite *cs = cs_of(c);
	sqlite3_stmt *st = NULL;
	int rc, i;

	if (!node_ok(node))
		return -EINVAL;
	rc = cs_begin(cs, what, node);
	if (rc != 0)
		return rc;
	rc = cs_prepare(cs, sql, node, &st);
	if (rc < 0)
		goto out;
	sqlite3_bind_text(st, 1, node, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, a);
	if (sqlite3_bind_parameter_count(st) >= 3)
		sqlite3_bind_int64(st, 3, b);
	if (sqlite3_bind_parameter_count(st) >= 4)
		sqlite3_bind_int64(st, 4, d);
	rc = cs_step_item(cs, st, node, NULL);
	sqlite3_finalize(st);
	st = NULL;
	if (rc < 0)
		goto out;
	if (sqlite3_changes(cs->db) != 1) {
		rc = -ESTALE;
		goto out;
	}
	for (i = 0; i < (n_done < 0 ? 1 : n_done); i++) {
		rc = cs_prepare(cs,
				n_done < 0 ? "DELETE FROM wants WHERE node = ?1"
					   : "DELETE FROM wants WHERE node = ?1 AND id = ?2",
				node, &st);
		if (rc < 0)
			goto out;
		sqlite3_bind_text(st, 1, node, -1, SQLITE_STATIC);
		if (n_done >= 0)
			sqlite3_bind_text(st, 2, done[i], -1, SQLITE_STATIC);
		rc = cs_step_item(cs, st, node, NULL);
		sqlite3_finalize(st);
		st = NULL;
		if (rc < 0)
			goto out;
	}
	rc = read_session(cs, node, out);
	if (rc < 0)
		goto out;
	rc = cs_exec(cs, "COMMIT", what, node);
out:
	return cs_end(cs, rc);
}

int cs_session_start(struct catalog *c, const char *node, int64_t now_ms, int64_t ttl_ms,
		     struct cat_session *out)
{
	/* A new session starts with no request: they were for the old one. */
	return session_write(c, "begin a session of",
			     "INSERT INTO sessions (node, sess, rev, expires, killed)"
			     " VALUES (?1, 1, 1, ?2, 0) ON CONFLICT (node) DO UPDATE SET"
			     " sess = sess + 1, rev = rev + 1, expires = ?2, killed = 0",
			     node, now_ms + ttl_ms, 0, 0, NULL, -1, out);
}

int cs_heartbeat(struct catalog *c, const char *node, uint64_t sess, int64_t now_ms, int64_t ttl_ms,
		 const char (*done)[CAT_ID_MAX + 1], int n_done, struct cat_session *out)
{
	return session_write(c, "heartbeat of",
			     "UPDATE sessions SET rev = rev + 1, expires = ?2"
			     " WHERE node = ?1 AND sess = ?3 AND killed = 0",
			     node, now_ms + ttl_ms, (int64_t)sess, 0, done, n_done, out);
}

int cs_session_kill(struct catalog *c, const char *node, uint64_t sess, uint64_t rev,
		    int64_t now_ms)
{
	/* A zero time would read as "alive". */
	return session_write(c, "kill the session of",
			     "UPDATE sessions SET killed = ?2"
			     " WHERE node = ?1 AND sess = ?3 AND rev = ?4 AND killed = 0",
			     node, now_ms > 0 ? now_ms : 1, (int64_t)sess, (int64_t)rev, NULL, 0,
			     NULL);
}

int cs_session_end(struct catalog *c, const char *node, uint64_t sess, int64_t now_ms)
{
	/* As a kill, without the rev: the node ends its own session. */
	return session_write(c, "end the session of",
			     "UPDATE sessions SET killed = ?2"
			     " WHERE node = ?1 AND sess = ?3 AND killed = 0",
			     node, now_ms > 0 ? now_ms : 1, (int64_t)sess, 0, NULL, 0, NULL);
}
