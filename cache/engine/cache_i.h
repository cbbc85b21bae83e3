/* Internals of the cache engine, shared by its files (one concern each):
 *   cache.c      engine setup, start, shutdown, teardown; clocks, paths
 *   identity.c   the cache lock and the node identity
 *   famstate.c   a family's state machine (famstate.h) and fam_set
 *   famtab.c     the table of active families
 *   itemcache.c  the catalog item cache (getattr, getxattr)
 *   activate.c   lease + reconciliation (recon.h) + fault-in
 *   io.c         open and the per-handle I/O path
 *   namespace.c  getattr, truncate, unlink;  readdir.c, xattr.c
 *   lease.c      the node's session, acquire, release;  catgate.c
 *   snapshot.c   the staging copy;  writeback.c  the jobs;  sched.c  the
 *                scheduler and its workers;  inspect.c  tenantfs status/flush
 * This header holds what they all share: the structures, the lock order,
 * the questions asked of a family's state and cache.c's clocks and paths.
 * The functions each file offers the others are declared in its own
 * header next to it (lease_i.h, famtab_i.h, writeback_i.h, ...), and a file
 * includes only those it calls, so its includes say what it depends on.
 * Nothing outside cache/ includes this. */
#ifndef TFS_CACHE_I_H
#define TFS_CACHE_I_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>

#include "cache/engine/cache.h"
#include "cache/engine/famstate.h"
#include "cache/engine/lockorder.h"
#include "cache/engine/state.h"
#include "s3/base/tsa.h"

/* Lock order: cache/engine/lockorder.h (the ranks, checked as locks are
 * taken). Fields name their lock in a comment only (s3/base/tsa.h says
 * why). */

#define FAM_BUCKETS	 4096
#define ITEM_CACHE_SLOTS 256
#define ITEM_CACHE_MS	 1000
/* Lease observations: slots, and how many a lookup probes. */
#define LEASE_OBS_SLOTS	 1024
#define LEASE_OBS_PROBE	 8
#define LEASE_OVER_SLOTS 64

/* A database family (the db and its side files) that is ACTIVE on this node:
 * open, dirty, leased, being written back or waiting for recovery. Cached
 * but closed and released databases live only in the state database. */
struct fam {
	struct fam *next; /* hash chain; protected by tc->mu */
	char id[CAT_ID_MAX + 1];

	/* Writes hold it shared; the snapshot holds it exclusive for the
	 * instant of the copy, and so does clearing the dirty flag. */
	tfs_rwlock wlock;
	/* Serialises the clean->dirty transition among concurrent writers. */
	tfs_mutex dirty_mu;

	/* protected by tc->mu */
	int nopen; /* open handles: db and side files */
	int fd;	   /* cache file of the db, -1 when none */
	/* Where the family is in its life here (cache/engine/famstate.h); changed
	 * only by fam_set. resume: the settled state a busy one returns to. */
	enum fam_state state, resume;
	/* FAM_OPENING only: its lease acquire is in flight. Opens waiting on
	 * it wait on the catalog too (they take a gate place), and share its
	 * failure (tc_gate_failed) instead of each asking in turn. */
	bool acquiring;
	uint64_t epoch; /* of the lease, while fam_leased() */
	/* protected by tc->mu: the catalog item's gc fence as last seen by a
	 * write-back (0 until a commit is refused by it; cache/catalog/catalog.h). */
	uint64_t gc_seq;
	uint64_t base_gen; /* committed gen the cached copy is based on */
	char base_hash[CAT_HASH_HEX + 1];
	bool unlinked; /* tombstone committed: drop files at last close */
	bool want;     /* another node asked for the lease */
	/* The cache file was replaced (a fetch) since the family became
	 * active: the kernel may still hold pages of the old content, and an
	 * open answered with keep_cache before the fetching open's reply has
	 * made the kernel drop them would read them. Every open gets
	 * keep_cache off until the last handle closes: by then the kernel has
	 * processed every open answered since the fetch, the fetching one's
	 * page drop included. */
	bool replaced;
	bool check_failed; /* quick_check failed at write seq check_seq */
	/* A commit of this lease's epoch whose outcome is unknown (the state
	 * database lists it) may still land: "unchanged since the base" proves
	 * nothing until one commit settles it. */
	bool pending;
	uint64_t check_seq;
	/* `tenantfs flush` asked for a write-back now (inspect.c): the next
	 * tick queues it whatever the timers and the retry back-off say;
	 * cleared when queued. */
	bool flush;
	/* 1 + wseq of the last snapshot published (or found unchanged):
	 * every change before it is in the catalog's version; 0 while
	 * nothing was published since the family became active (a family
	 * recovered after a restart is dirty at wseq 0). */
	uint64_t pub_seq;
	int64_t last_close; /* mono ms of the last close */
	/* An open is renewing the lease before it serves the cached copy:
	 * other opens wait for its outcome instead of each asking in turn. */
	bool open_renew;
	int64_t retry_at; /* mono ms: no write-back/recovery before */
	long backoff_ms;
	char error[STATE_ERR_MAX];

	/* Read on the write path without tc->mu. dirty changes from false to
	 * true under wlock (shared) + dirty_mu, from true to false under wlock
	 * exclusive. */
	atomic_bool dirty;
	atomic_uint_fast64_t wseq;	 /* +1 after every change of the family */
	atomic_int_fast64_t last_write;	 /* mono ms of the last change */
	atomic_int_fast64_t dirty_since; /* mono ms of the clean->dirty transition */
	/* The session the lease was taken in (lease_set_held): writable only
	 * while it is the node's current one. */
	atomic_uint_fast64_t sess;
	atomic_bool lease_lost; /* a heartbeat or commit said -ESTALE */
	atomic_bool refuse_logged;
};

struct tfile {
	struct tcache *tc;
	struct fam *fam;
	int fd; /* fam->fd for the db (not owned), own descriptor for side files */
	bool is_db;
	bool is_shm; /* -shm is shared memory, not content: no dirty, no lock */
	char suffix[80];
};

enum job_kind {
	JOB_WRITEBACK,
	JOB_HEARTBEAT, /* the node's session, not a family's */
	JOB_RELEASE,
	JOB_RECOVER,
	JOB_EVICT,
};

struct job {
	struct job *next;
	enum job_kind kind;
	struct fam *fam;   /* NULL for JOB_EVICT */
	int64_t queued_at; /* mono ms */
};

/* A job queue and its pool of threads. Uploads (write-back, recovery,
 * eviction) and lease traffic (renew, release) have one each, so a renewal
 * never waits behind an upload however long S3 takes. */
struct jobq {
	struct tcache *tc; /* set up once: the engine the threads work for */
	struct job *head, *tail;
	struct job *prio_tail; /* last heartbeat job: it goes before releases */
	pthread_cond_t cond;   /* a job is queued, or stopping */
	pthread_t *thr;	       /* allocated for max threads */
	int nthr, max;	       /* nthr grows up to max (lease pool only) */
	int idle;	       /* threads waiting on cond */
	const char *what;      /* "write-back", "lease" for logs */
};

struct cat_cache_slot {
	bool used;
	int64_t at; /* mono ms */
	int rc;	    /* 0 or -ENOENT */
	struct cat_item item;
};

/* What this node saw of a lease held elsewhere (lease.c): the holder's
 * session (id CAT_SESSION_PREFIX + node, epoch its sess, rev its
 * heartbeat), or for a lease from before sessions the item (owner, epoch,
 * rev), and since when, on our monotonic clock, from the arrival of the
 * first reply that showed exactly it. */
struct lease_obs {
	bool used;
	char id[sizeof(CAT_SESSION_PREFIX) + CAT_NODE_MAX + CAT_ID_MAX];
	char owner[CAT_NODE_MAX + 1];
	uint64_t epoch, rev;
	int64_t since;	 /* mono ms */
	int64_t touched; /* mono ms of the last look: the least recent is replaced */
};

/* The catalog gate (catgate.c): a counting semaphore on the catalog calls
 * made for FUSE requests. See tcache_options.catalog_slots. */
struct cat_gate {
	tfs_mutex mu;
	pthread_cond_t cond;  /* a place was given back; CLOCK_MONOTONIC */
	int slots;	      /* immutable after init */
	int max_waiting;      /* immutable after init: the waiting room while slow */
	long timeout_ms;      /* immutable after init: the per-call bound */
	int inside;	      /* protected by mu */
	int waiting;	      /* protected by mu */
	int64_t logged_at;    /* protected by mu: mono ms of the last refusal logged */
	int64_t timed_out_at; /* protected by mu: mono ms a wait for a place last failed */
	uint64_t refused;     /* protected by mu: refusals not logged since */
	struct {
		char id[CAT_ID_MAX + 1];
		int rc;
		int64_t at; /* tc_mono() ms */
	} failed[64];	    /* protected by mu: recent failed lease acquires of opens, by id hash */
};

struct tcache {
	struct tcache_options opt; /* strings below are our own copies */
	char *cache_dir, *node, *key_prefix;
	char *dir_db, *dir_tmp, *dir_staging, *dir_quar;
	struct store *store;
	struct catalog *cat;
	struct state *state;
	/* <cache>/lock, flock()ed exclusively for the engine's life: one
	 * daemon per cache folder. The kernel drops the lock when the process
	 * dies, so a kill -9 never leaves it stuck. -1 before it is taken. */
	int lock_fd;

	tfs_mutex mu;		      /* the families table, fam fields, job queue */
	pthread_cond_t fam_cond;      /* a family finished opening or left the table */
	pthread_cond_t sched_cond;    /* wake the scheduler */
	struct fam *tab[FAM_BUCKETS]; /* protected by mu */
	size_t nfam;		      /* protected by mu */
	struct jobq uq;		      /* uploads; protected by mu (cond, thr: set up once) */
	struct jobq lq;		      /* heartbeat, lease release; protected by mu */
	bool stopping;		      /* protected by mu: threads exit */
	bool shutting_down;	      /* protected by mu: write back now, ignore timers */
	bool evict_due, evict_busy;   /* protected by mu */
	int jobs_running;	      /* protected by mu */

	pthread_t sched;
	bool started;

	struct cat_gate gate; /* its own lock: a leaf, never held across a call */

	tfs_mutex ic_mu;			    /* the catalog item cache */
	struct cat_cache_slot ic[ITEM_CACHE_SLOTS]; /* protected by ic_mu */

	/* Engine-wide, not per open: an observation outlives a failed open, so
	 * repeated opens of a dead node's database converge on a takeover. */
	tfs_mutex obs_mu;		       /* the lease observations */
	struct lease_obs obs[LEASE_OBS_SLOTS]; /* protected by obs_mu */
	/* Sessions of other nodes seen over (killed, ended or replaced): every
	 * session of node up to sess is (a session begins only by replacing
	 * the one before), so their leases are taken without reading the
	 * session again. By a hash of node; losing one costs one read. */
	struct {
		char node[CAT_NODE_MAX + 1];
		uint64_t sess;
	} over[LEASE_OVER_SLOTS]; /* protected by obs_mu */

	/* The node's session (lease.c): one heartbeat renews every lease. */
	tfs_mutex sess_mu;	  /* the session fields below */
	pthread_cond_t sess_cond; /* sess_starting went false */
	/* Current session, 0 when none (before the first start, during a
	 * restart after a loss). Written under sess_mu, read anywhere. */
	atomic_uint_fast64_t sess;
	bool sess_starting; /* protected by sess_mu: a session_start is in flight */
	/* mono ms: writes of every lease refused after it (send time of the
	 * last heartbeat that succeeded + ttl - margin); only moves forward. */
	atomic_int_fast64_t sess_until;
	/* mono ms a heartbeat last failed without an answer from the catalog
	 * (unreachable, timed out); 0 when none did. */
	atomic_int_fast64_t hb_failed_at;
	/* protected by sess_mu: hand-over requests the last heartbeat reply
	 * showed, removed from the session by the next one */
	int n_done;
	char done[CAT_WANTS_MAX][CAT_ID_MAX + 1];
	int64_t next_hb; /* protected by mu: mono ms the next heartbeat is due */
	bool hb_busy;	 /* protected by mu: a heartbeat job is queued or running */

	atomic_uint_fast64_t seq; /* unique names in tmp/ and staging/ */
	struct {
		atomic_uint_fast64_t opens, faults, fault_bytes, writebacks, puts, puts_skipped,
		    commits, quarantined, evictions, lease_acquires, lease_renews, lease_releases,
		    sched_passes;
	} st;
};

/* tc->mu is held (by some thread; in debug builds an assert). */
static inline bool tc_mu_held(struct tcache *tc)
{
	if (tfs_mutex_trylock(&tc->mu) != 0)
		return true;
	tfs_mutex_unlock(&tc->mu);
	return false;
}

/* famstate.c, tc->mu held: moves fam to `to` on ev, asserting that the
 * transition is in the table; entering a busy state from a settled one sets
 * fam->resume to the settled state (UNLEASED for ABSENT). fam_end ends a
 * busy state: fam_set(fam->resume). */
void fam_set(struct tcache *tc, struct fam *fam, enum fam_state to, enum fam_event ev)
    REQUIRES(tc->mu);
void fam_end(struct tcache *tc, struct fam *fam, enum fam_event ev) REQUIRES(tc->mu);

/* The questions the engine asks of a family's state, tc->mu held. */
/* A thread (open, unlink, the evictor) holds the family: others wait. */
static inline bool fam_exclusive(const struct fam *fam)
{
	return fam->state == FAM_OPENING || fam->state == FAM_UNLINKING ||
	       fam->state == FAM_EVICTING;
}

/* A write-back, release or recovery job is queued or running. */
static inline bool fam_job(const struct fam *fam)
{
	return fam->state == FAM_WRITEBACK || fam->state == FAM_RELEASING ||
	       fam->state == FAM_RECOVERING;
}

/* We hold the lease at fam->epoch (lost or not: see fam->lease_lost). */
static inline bool fam_leased(const struct fam *fam)
{
	return fam_state_busy(fam->state) ? fam->resume == FAM_HELD : fam->state == FAM_HELD;
}

/* Dirty in the state database since the last run, lease not taken yet. */
static inline bool fam_recovery_due(const struct fam *fam)
{
	return fam_state_busy(fam->state) ? fam->resume == FAM_RECOVER_WAIT
					  : fam->state == FAM_RECOVER_WAIT;
}

/* tc->mu held: fam's lease is at the epoch of it, the item a lease acquire
 * returned, and the gc fence is the one it shows (read before any put of
 * this lease); a read with a gc phase open is not taken (cache/catalog/catalog.h,
 * struct cat_commit). Saves the refused first commit of every database gc
 * has touched. */
static inline void fam_saw_item(struct fam *fam, const struct cat_item *it)
{
	fam->epoch = it->epoch;
	if (!it->gc_since_ms)
		fam->gc_seq = it->gc_seq;
}

/* cache.c: engine setup and teardown, clocks and paths */
/* snprintf into a path buffer; -ENAMETOOLONG (buf holds "") if it does not
 * fit. A path under the cache folder of an id, a generation and a suffix
 * always fits a PATH_MAX buffer (tcache_new bounds the folder by
 * TCACHE_DIR_MAX): those calls do not check the result. */
int tc_path(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int64_t tc_now(struct tcache *tc);  /* wall ms, injectable (opt.now_ms) */
int64_t tc_mono(struct tcache *tc); /* monotonic ms, injectable (opt.mono_ms) */
/* Waits on c (m held) for at most ms of real time: true when signalled. */
bool tc_timed_wait(pthread_cond_t *c, tfs_mutex *m, long ms) REQUIRES(m);
void tc_db_path(struct tcache *tc, const char *id, const char *suffix, char *buf, size_t cap);
void tc_remove_local(struct tcache *tc, const char *id, bool side_only);

#endif
