/* The catalog: one item per database holding its lease (owner, the
 * owner's session, fencing epoch, record version rev, stranded mark) and
 * its pointer (gen, hash, size), and one session item per node (its
 * heartbeat). A node renews all its leases at once by renewing its
 * session: a held, idle database costs no catalog write. Every change is a
 * conditional write and no condition compares clocks: a session is
 * declared dead (killed) only on the heartbeat version the caller saw, and
 * a lease of another node is taken over only on the item the caller saw
 * (see acquire). Back ends: a local SQLite file (catalog_sqlite.c) and
 * DynamoDB (catalog_ddb.c). All calls return 0 or a negative errno; all
 * are thread-safe. */
#ifndef TFS_CATALOG_H
#define TFS_CATALOG_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "s3/base/hash.h"

#define CAT_ID_MAX   128
#define CAT_NODE_MAX 128
#define CAT_HASH_HEX TFS_HASH_HEX /* XXH3-128 as 32 lower-case hex digits (hash.h) */
#define CAT_HIST_MAX 8
/* gc dooms at most this many hashes per phase (comma-separated). */
#define CAT_GC_DOOM_N	  32
#define CAT_GC_DOOMED_MAX (CAT_GC_DOOM_N * (CAT_HASH_HEX + 1))
/* Hand-over requests a heartbeat reply carries at most; more wait for the
 * next heartbeat. */
#define CAT_WANTS_MAX 32

struct cat_hist {
	int64_t time_ms;
	uint64_t gen;
	char hash[CAT_HASH_HEX + 1];
};

struct cat_item {
	char id[CAT_ID_MAX + 1];
	char owner[CAT_NODE_MAX + 1]; /* "" when nobody holds the lease */
	/* The owner's session (struct cat_session.sess) the lease was taken
	 * in: it lives as long as that session does. 0: a lease from before
	 * sessions, renewed item by item by its owner (see acquire). */
	uint64_t sess;
	/* The holder's wall clock + ttl at its acquire: for humans only, no
	 * condition reads it (the session's expires is the renewed one). */
	int64_t expires_ms;
	uint64_t epoch; /* fencing token, +1 at every acquisition */
	/* Record version: +1 at every acquire, commit, release and stranded
	 * mark. An item written before rev existed reads as rev 0. */
	uint64_t rev;
	/* Non-zero (the holder's wall clock ms when it set it): the owner
	 * stopped while holding acknowledged writes it could not publish.
	 * No other node may acquire the item until the owner publishes or
	 * an operator abandons the copy. */
	int64_t stranded_ms;
	uint64_t gen;		     /* commit counter, 0 = never committed */
	char hash[CAT_HASH_HEX + 1]; /* XXH3-128 hex of the committed bytes, "" if gen 0 */
	uint64_t size;
	int64_t mtime_ms;
	int64_t deleted_ms; /* tombstone time, 0 = live */
	/* A hand-over request written on the item by a version before
	 * sessions, "" if none; acquire clears it. Requests now go to the
	 * holder's session (want). */
	char want[CAT_NODE_MAX + 1];
	int n_hist;
	struct cat_hist hist[CAT_HIST_MAX];
	/* The gc fence (see gc_begin): +1 at every gc phase that deletes
	 * versions of this database; gc_since_ms is non-zero (the store's
	 * clock when the phase began) while a phase is open. */
	uint64_t gc_seq;
	int64_t gc_since_ms;
};

struct cat_commit {
	uint64_t new_gen; /* base_gen + 1 */
	const char *hash;
	uint64_t size;
	int64_t mtime_ms;
	bool deleted; /* tombstone instead of a version */
	/* The commit names an object that must exist (a new version, a
	 * restore): it is refused (-ESTALE) unless the item's gc_seq is
	 * still gc_seq and no open gc phase dooms hash. The writer must
	 * take gc_seq from a read made before it put or checked the object
	 * and that showed no open phase (gc_since_ms 0): a phase open at the
	 * read may delete the object after the put. Not set for a tombstone or an abandon
	 * (they name the current version, which gc never dooms). */
	bool gc_fenced;
	uint64_t gc_seq;
};

/* The holder an acquirer saw and wants to take over. sess != 0: the item
 * must still be that (owner, sess, epoch), and the caller has seen that
 * session dead (killed, or replaced by a newer session of the owner).
 * sess 0, a lease from before sessions: the item must still be exactly
 * (owner, epoch, rev) with no session, and the caller has seen that rev
 * unchanged for a whole ttl. */
struct cat_takeover {
	const char *owner;
	uint64_t epoch;
	uint64_t rev;
	uint64_t sess;
};

/* A node's session: its heartbeat item. One per node identity; a start of
 * the node begins a new session (sess + 1), and every lease names the
 * session it was taken in. */
struct cat_session {
	char node[CAT_NODE_MAX + 1];
	uint64_t sess; /* +1 at every session_start */
	uint64_t rev;  /* +1 at every session_start and heartbeat */
	/* The node's wall clock + ttl at its last heartbeat: for humans. */
	int64_t expires_ms;
	/* Non-zero: the session is over, either declared dead by another
	 * node that saw rev unchanged for a whole ttl (session_kill, the
	 * killer's wall clock ms) or ended by the node itself at its
	 * shutdown (session_end, its wall clock ms). Final: no heartbeat of
	 * this session succeeds again, and its leases that are not stranded
	 * may be taken over at once. */
	int64_t killed_ms;
	/* Databases other nodes asked this node to hand over (want), at most
	 * CAT_WANTS_MAX of them, in no given order. */
	int n_wants;
	char wants[CAT_WANTS_MAX][CAT_ID_MAX + 1];
};

struct catalog;

struct catalog_ops {
	/* Takes the lease in node's session sess: succeeds when the item
	 * does not exist, or has no owner (released, abandoned), or its
	 * owner is node (whatever its session; a stranded mark then stays
	 * until a commit or release clears it), or takeover is not NULL, the
	 * item is not stranded and matches takeover (see struct
	 * cat_takeover). Sets owner = node, sess, expires = now + ttl (for
	 * humans), epoch + 1, rev + 1, clears want. *out gets the whole item
	 * after the write. -EBUSY when another node holds it: *out then
	 * describes the holder (owner, sess, epoch, rev, stranded_ms), which
	 * is what the caller may later pass as takeover. now_ms decides
	 * nothing. The catalog does not look at sessions here: deciding that
	 * the holder's session is dead is the caller's (lease.c). */
	int (*acquire)(struct catalog *c, const char *id, const char *node, uint64_t sess,
		       int64_t now_ms, int64_t ttl_ms, const struct cat_takeover *takeover,
		       struct cat_item *out);
	/* Begins a new session of node: creates its session item or sets
	 * sess + 1, rev + 1, expires = now + ttl, clears killed and wants.
	 * Unconditional: one process per node identity (the cache lock).
	 * *out gets the session. Every lease of an older session of node
	 * may then be taken over by anyone. */
	int (*session_start)(struct catalog *c, const char *node, int64_t now_ms, int64_t ttl_ms,
			     struct cat_session *out);
	/* Renews every lease of the session at once: condition sess = sess
	 * AND not killed; sets rev + 1, expires = now + ttl (for humans), and
	 * removes the n_done ids of done from wants (requests the caller has
	 * seen). *out (may be NULL) gets the session after the write, its
	 * wants included. -ESTALE when the condition fails: the session is
	 * gone (killed or replaced), and with it every lease taken in it. */
	int (*heartbeat)(struct catalog *c, const char *node, uint64_t sess, int64_t now_ms,
			 int64_t ttl_ms, const char (*done)[CAT_ID_MAX + 1], int n_done,
			 struct cat_session *out);
	/* Reads node's session (strongly consistent). -ENOENT if none. */
	int (*session_get)(struct catalog *c, const char *node, struct cat_session *out);
	/* Declares node's session dead: condition sess = sess AND rev = rev
	 * AND not killed; sets killed = now_ms. The caller must have seen
	 * exactly (sess, rev) unchanged for a whole ttl on its own monotonic
	 * clock (lease.c). -ESTALE when the condition fails (a heartbeat came
	 * in, or someone else killed it, or it was replaced). */
	int (*session_kill)(struct catalog *c, const char *node, uint64_t sess, uint64_t rev,
			    int64_t now_ms);
	/* Ends node's own session sess at its shutdown, which frees every
	 * lease taken in it at once (one write, however many), except the
	 * stranded ones: condition sess = sess AND not killed; sets killed =
	 * now_ms, as session_kill does. The caller must have marked every
	 * lease of the session holding unpublished writes stranded first,
	 * and must not write through any lease of the session afterwards
	 * (its epochs still fence it if it does). -ESTALE when the
	 * condition fails (killed, or replaced). */
	int (*session_end)(struct catalog *c, const char *node, uint64_t sess, int64_t now_ms);
	/* Publishes a version: condition owner = node AND epoch = epoch AND
	 * gen = base_gen. Sets gen, hash, size, mtime, pushes hist (keeps
	 * the last CAT_HIST_MAX), sets or clears deleted, rev + 1, clears
	 * stranded. -ESTALE when the condition fails. */
	int (*commit)(struct catalog *c, const char *id, const char *node, uint64_t epoch,
		      uint64_t base_gen, const struct cat_commit *cm);
	/* Gives the lease up: condition owner = node AND epoch = epoch;
	 * clears owner, expires and stranded, rev + 1. -ESTALE when the
	 * condition fails. */
	int (*release)(struct catalog *c, const char *id, const char *node, uint64_t epoch);
	/* Keeps the lease instead of releasing it, for a holder that stops
	 * with unpublished writes: condition owner = node AND epoch = epoch;
	 * sets stranded = now_ms, rev + 1. -ESTALE when the condition
	 * fails. */
	int (*strand)(struct catalog *c, const char *id, const char *node, uint64_t epoch,
		      int64_t now_ms);
	/* An operator gives up a stranded copy (`tenantfs abandon`):
	 * condition stranded AND owner, epoch and gen as in *seen. Commits
	 * gen + 1 with the same hash and size (readers see the content they
	 * saw; a never-committed item becomes a tombstone), pushes hist,
	 * clears owner, expires and stranded, rev + 1, so that the holder's
	 * recovery sees another commit and quarantines its copy. -ESTALE
	 * when the condition fails. */
	int (*abandon)(struct catalog *c, const struct cat_item *seen, int64_t now_ms);
	/* gc opens a phase on one database before it deletes any of its
	 * objects: condition gen = seen_gen AND gc_seq = seen_seq AND no
	 * phase open; sets gc_seq + 1, gc_doomed = doomed (the hashes to
	 * delete, comma-separated) and gc_since = now_ms (the store's
	 * clock). A fenced commit of a doomed hash, or of a version put
	 * before the phase, is refused from then on. -ESTALE when the
	 * condition fails. Touches neither the lease nor rev. */
	int (*gc_begin)(struct catalog *c, const char *id, uint64_t seen_gen, uint64_t seen_seq,
			const char *doomed, int64_t now_ms);
	/* Closes the phase once its objects are deleted (or a crashed run's
	 * after it is stale): condition gc_seq = seq; clears gc_doomed and
	 * gc_since. -ESTALE when the condition fails. */
	int (*gc_end)(struct catalog *c, const char *id, uint64_t seq);
	/* Erases the item (`tenantfs purge`): condition owner = node AND
	 * epoch = epoch, so the purger holds the lease and nobody opens or
	 * commits it meanwhile. -ESTALE when the condition fails. */
	int (*remove)(struct catalog *c, const char *id, const char *node, uint64_t epoch);
	/* Asks holder to hand id over: adds id to the wants of holder's
	 * session, which holder sees in its next heartbeat reply (it reads
	 * no item to find out). -ENOENT when holder has no session. */
	int (*want)(struct catalog *c, const char *id, const char *holder);
	/* Reads an item (strongly consistent). -ENOENT if absent. */
	int (*get)(struct catalog *c, const char *id, struct cat_item *out);
	/* One page of all items (tombstones included), in no given order:
	 * start with *token NULL; on return *token is a malloc'ed
	 * continuation or NULL at the end. A non-zero cb return stops the
	 * scan and is returned. */
	int (*scan)(struct catalog *c, char **token,
		    int (*cb)(void *arg, const struct cat_item *it), void *arg);
	/* Creates the table / file if missing (`tenantfs init`). */
	int (*init)(struct catalog *c);
	/* Checks the catalog is reachable and exists (mount time). */
	int (*check)(struct catalog *c);
	void (*free)(struct catalog *c);
};

struct catalog {
	const struct catalog_ops *ops;
};

/* Local SQLite catalog in one file (WAL mode, busy timeout): several
 * processes on one machine may share it. */
struct catalog *catalog_sqlite_new(const char *path);

struct ddb_client;
/* DynamoDB catalog in table (partition key "id", a string): database
 * items under their id, session items under CAT_SESSION_PREFIX + node
 * ('#' is never in a database id). The client is borrowed and must
 * outlive the catalog. */
#define CAT_SESSION_PREFIX "node#"

struct catalog *catalog_ddb_new(struct ddb_client *client, const char *table);

/* acquire for a tool without a session (restore, gc, purge; session 0):
 * also takes over a holder whose session is over (ended at its shutdown,
 * or declared dead), never a live or stranded one. As acquire: 0, or
 * -EBUSY with *out describing the holder, or an errno. */
int cat_acquire_free(struct catalog *c, const char *id, const char *node, int64_t now_ms,
		     int64_t ttl_ms, struct cat_item *out);

/* The gc condition of a fenced commit of hash on the current item cur
 * whose phase dooms doomed ("" if none): one definition for every back
 * end. */
static inline bool cat_gc_allows(const struct cat_item *cur, const char *doomed,
				 const struct cat_commit *cm)
{
	if (!cm->gc_fenced)
		return true;
	return cur->gc_seq == cm->gc_seq &&
	       (!doomed || !cm->hash || !cm->hash[0] || !strstr(doomed, cm->hash));
}

/* The acquire condition of catalog_ops.acquire on the current item cur,
 * for node: one definition for every back end. */
static inline bool cat_may_acquire(const struct cat_item *cur, const char *node,
				   const struct cat_takeover *tk)
{
	if (!cur->owner[0] || !strcmp(cur->owner, node))
		return true;
	if (!tk || cur->stranded_ms || strcmp(cur->owner, tk->owner) != 0 ||
	    cur->epoch != tk->epoch || cur->sess != tk->sess)
		return false;
	return tk->sess != 0 || cur->rev == tk->rev;
}

static inline void catalog_free(struct catalog *c)
{
	if (c)
		c->ops->free(c);
}

/* A time bound, in ms, on each catalog call the calling thread makes from
 * now on (0: none beyond the back end's own retry budget and timeouts).
 * Per thread, so that one catalog serves both the background jobs, which
 * may wait out an outage (renewals, write-back commits: no bound), and the
 * calls made for a FUSE request, which must give up within the bound. A
 * call past it fails with -ETIMEDOUT (or the error that ended it). The
 * DynamoDB back end bounds each request by it (ddb_set_thread_budget), the
 * SQLite one its lock and busy wait. Returns the previous bound, for the
 * caller to restore. */
long catalog_set_thread_budget(long ms);
long catalog_thread_budget(void);

#endif
