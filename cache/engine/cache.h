/* The cache engine: per-user SQLite databases faulted in from the object
 * store, leased through the catalog, written back when closed, idle or too
 * long dirty, deduplicated by content hash, evicted by LRU. fuse/ talks
 * only to this header; the engine talks to storage only through store.h
 * and catalog.h. All calls return 0 (or a count) or a negative errno and
 * are thread-safe unless said otherwise. */
#ifndef TFS_CACHE_H
#define TFS_CACHE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "cache/catalog/catalog.h"
#include "cache/store/store.h"

/* ---- names ---------------------------------------------------------- */

enum name_kind {
	NAME_INVALID = 0,
	NAME_DB,   /* "<id>.db" */
	NAME_SIDE, /* "<id>.db-journal", "-wal", "-shm", "-mj<anything valid>" */
};

/* Splits a file name of the root directory. id: 1-128 bytes of
 * [A-Za-z0-9._-], not starting with '.'. On NAME_DB/NAME_SIDE id gets the
 * id and *suffix points into name at "" (db) or "-journal" etc. */
enum name_kind tfs_parse_name(const char *name, char id[CAT_ID_MAX + 1], const char **suffix);
bool tfs_valid_id(const char *id);

/* ---- engine --------------------------------------------------------- */

struct tcache_options {
	const char *cache_dir;	  /* local cache folder (created if missing) */
	uint64_t cache_size;	  /* bytes of clean closed databases to keep; 0 = unlimited */
	const char *node;	  /* label of this node (see tcache_node) */
	const char *key_prefix;	  /* store key prefix for versions, "" for none */
	int shard_keys;		  /* put a short hash shard before the id in keys */
	long idle_ms;		  /* write back after this long without writes (5000) */
	long max_dirty_ms;	  /* ... or after this long dirty (60000) */
	long lease_ttl_ms;	  /* lease length (30000), renewed every ttl/3 */
	long linger_ms;		  /* keep the lease this long after the last close (0..) */
	long lease_wait_ms;	  /* wait this long for a lease held elsewhere (0) */
	int upload_workers;	  /* write-back threads (4) */
	long shutdown_timeout_ms; /* bound on the final write-back at unmount (60000) */
	/* Catalog calls made for a FUSE request (lookup/getattr of a name not
	 * cached, open's lease, readdir's scan, unlink's tombstone): each
	 * gives up after catalog_timeout_ms (10000), and at most catalog_slots
	 * requests (32) are inside them at once; others wait up to a second
	 * for a place, then fail with -EAGAIN, and while the catalog is slow
	 * only half as many more may wait, the rest fail at once. Set
	 * catalog_slots to a share of the FUSE threads, so the others stay
	 * free for reads and writes of open files. Background jobs are not
	 * bounded by either. */
	long catalog_timeout_ms;
	int catalog_slots;
	int64_t (*now_ms)(void);  /* wall clock (mtime, expires for humans); NULL: real */
	int64_t (*mono_ms)(void); /* monotonic clock (timers); NULL: real */
};

struct tcache;

/* A node's identity is its cache folder, not its host name (two daemons on
 * one host, cloned machines and containers share host names). At the
 * cache's first start the engine draws TCACHE_NODE_ID_HEX random hex
 * digits and keeps "LABEL~ID" in CACHE/node (LABEL: opt->node then); every
 * later start reads it back, whatever label it is given, and a malformed
 * file fails tcache_new with -EINVAL. That string is the owner of every
 * lease the engine takes: `owner = me` can only match this cache. */
#define TCACHE_NODE_ID_HEX 32
/* The longest cache folder name tcache_new takes: every path the engine
 * builds under it (an id, a generation, a suffix) then fits in PATH_MAX. */
#define TCACHE_DIR_MAX	 2048
#define TCACHE_LABEL_MAX (CAT_NODE_MAX - 1 - TCACHE_NODE_ID_HEX)

/* A label: 1..TCACHE_LABEL_MAX bytes of [A-Za-z0-9._-], not starting with
 * '.' or '-' (so '~' always separates label and id). */
bool tcache_valid_label(const char *label);

/* Opens the cache folder and its state database, and checks store and
 * catalog. Does not start threads (call tcache_start after the daemon has
 * forked). The store and catalog are borrowed. */
int tcache_new(const struct tcache_options *opt, struct store *store, struct catalog *cat,
	       struct tcache **out);

/* The owner string "LABEL~ID" of this cache (valid until tcache_free). */
const char *tcache_node(const struct tcache *tc);

/* Starts the scheduler and the write-back workers, then recovers: every
 * database the state database lists as dirty is re-leased and written
 * back (or quarantined when another node committed meanwhile). */
int tcache_start(struct tcache *tc);

/* Writes back every dirty database, releases every lease and stops the
 * threads; bounded by shutdown_timeout_ms. What could not be written back
 * stays dirty in the cache for the next start. Returns -EIO if anything
 * is left dirty. Called once nothing uses the open tfiles any more (the
 * FUSE session has ended): a file still open does not hold its lease. */
int tcache_shutdown(struct tcache *tc);
void tcache_free(struct tcache *tc);

/* ---- files ---------------------------------------------------------- */

/* An open handle of a database or one of its side files. */
struct tfile;

/* Opens id + suffix. flags are open(2) flags (O_CREAT, O_TRUNC, O_EXCL
 * honoured). Opening the database takes the lease (may wait up to
 * lease_wait_ms, then -EBUSY) and faults it in. Opening a side file
 * needs the database to be open already on this node (SQLite always opens
 * the database first); otherwise -ENOENT or, with O_CREAT, -EPERM.
 * *keep_cache is set when the kernel's page cache of this file is still
 * valid (the content did not change since the last open). */
int tcache_open(struct tcache *tc, const char *id, const char *suffix, int flags, mode_t mode,
		struct tfile **out, bool *keep_cache);
ssize_t tfile_read(struct tfile *f, void *buf, size_t size, off_t off);
/* -EIO when the lease is overdue (writes refused until renewed). */
ssize_t tfile_write(struct tfile *f, const void *buf, size_t size, off_t off);
int tfile_truncate(struct tfile *f, off_t size);
/* Reaches the cache disk before it returns. */
int tfile_fsync(struct tfile *f, int datasync);
int tfile_fstat(struct tfile *f, struct stat *st);
/* Closes the handle; the last close of a family schedules write-back. */
int tfile_close(struct tfile *f);

/* ---- namespace ------------------------------------------------------ */

/* Attributes of id + suffix: from the cache file when there is one, else
 * from the catalog item (no store request). -ENOENT if absent or a
 * tombstone. */
int tcache_getattr(struct tcache *tc, const char *id, const char *suffix, struct stat *st);
/* truncate(2) on a path without an open handle. */
int tcache_truncate(struct tcache *tc, const char *id, const char *suffix, off_t size);
/* Unlinking "<id>.db" writes a tombstone (needs the lease); unlinking a
 * side file removes the local file. */
int tcache_unlink(struct tcache *tc, const char *id, const char *suffix);

/* A directory listing in progress, read page by page: first this node's
 * uncommitted databases and side files, then one catalog page per call,
 * skipping tombstones, never-committed items and names already listed
 * locally; each name once. It holds the local names and the catalog's
 * continuation token, never more than one page of items. Not thread-safe:
 * one caller at a time per tdir (different tdirs run concurrently). */
struct tdir;

/* Starts a listing (reads the local state; no catalog request yet). */
int tcache_readdir_open(struct tcache *tc, struct tdir **out);
/* Lists the next page through cb (st may be NULL when not known cheaply;
 * a page may list nothing). Returns 1 while more pages may follow, 0 at
 * the end, or a negative errno (the listing is then over). A non-zero cb
 * return ends the listing: the rest is not listed, later calls return 0. */
int tcache_readdir_next(struct tdir *d,
			int (*cb)(void *arg, const char *name, const struct stat *st), void *arg);
void tcache_readdir_close(struct tdir *d);

/* The whole listing in one call (open, next until the end, close). A
 * non-zero cb return stops it and is returned. */
int tcache_readdir(struct tcache *tc, int (*cb)(void *arg, const char *name, const struct stat *st),
		   void *arg);

/* Extended attributes: user.tenantfs.owner, .epoch, .gen, .hash, .dirty,
 * .quarantine. getxattr semantics: size 0 asks for the length. */
ssize_t tcache_getxattr(struct tcache *tc, const char *id, const char *name, char *buf,
			size_t size);
ssize_t tcache_listxattr(struct tcache *tc, const char *id, char *buf, size_t size);

/* Counters for logs and the benchmark. */
struct tcache_stats {
	uint64_t opens, faults, fault_bytes, writebacks, puts, puts_skipped, commits, quarantined,
	    evictions, lease_acquires, lease_renews, lease_releases;
	/* Scheduler passes over every family so far: a pass counted has
	 * queued (and marked busy) each job it decided on, so tests wait
	 * for passes instead of sleeping to see that it decided nothing. */
	uint64_t sched_passes;
};
void tcache_get_stats(struct tcache *tc, struct tcache_stats *out);

/* ---- inspection and control of a running engine (inspect.c) ---------- */

#define TCACHE_ERR_MAX 256 /* an error message, NUL included */

/* One active database (open, dirty, leased, being written back or
 * waiting for recovery), as seen at one instant. */
struct tcache_dbinfo {
	char id[CAT_ID_MAX + 1];
	int nopen;	   /* open handles, side files included */
	bool leased;	   /* this node holds its lease */
	bool dirty;	   /* changes not yet published */
	bool uploading;	   /* a write-back or recovery job is queued or running */
	bool recovering;   /* dirty from before a restart, lease not taken yet */
	bool check_failed; /* quick_check failed: not uploaded until new writes */
	bool lease_lost;
	int64_t dirty_ms;	    /* how long dirty (0 when clean) */
	char error[TCACHE_ERR_MAX]; /* last write-back error, "" if none */
};

/* A database whose local copy was quarantined (its changes unpublished). */
struct tcache_quarinfo {
	char id[CAT_ID_MAX + 1];
	char error[TCACHE_ERR_MAX];
	char path[4096]; /* the quarantine folder */
};

#define TCACHE_REPORT_QUAR_MAX 100 /* quarantined databases listed at most */

struct tcache_report {
	struct tcache_dbinfo *db; /* active databases, by id; ndb of them */
	size_t ndb;
	size_t nleases, nopen, ndirty, nuploading, nfailed;
	/* The oldest unpublished change: how long ago (ms; 0 when nothing is
	 * dirty) and of which database. What losing this machine now would
	 * lose at most goes back that far. */
	int64_t oldest_dirty_ms;
	char oldest_dirty_id[CAT_ID_MAX + 1];
	uint64_t cache_entries, cache_bytes; /* databases cached, bytes of their files */
	struct tcache_quarinfo *quar;	     /* at most TCACHE_REPORT_QUAR_MAX */
	size_t nquar;
	struct tcache_stats stats;
};

/* Fills r (owned by the caller: tcache_report_release). Takes the engine's
 * lock once, for the copy of the active databases, and the state
 * database's for two short queries; no store or catalog request. */
int tcache_report(struct tcache *tc, struct tcache_report *r);
void tcache_report_release(struct tcache_report *r);

/* A database `flush` waits for: its id and the change it must see
 * published (seq); state and error are set by tcache_flush_poll. */
enum tcache_flush_state {
	TFLUSH_DONE,	/* everything up to seq is published (or it was clean) */
	TFLUSH_PENDING, /* a write-back is due, running or postponed (error says why) */
	TFLUSH_FAILED,	/* it cannot be published: quarantined, lease lost, check failed */
};
struct tcache_flush_item {
	char id[CAT_ID_MAX + 1];
	uint64_t seq;
	enum tcache_flush_state state;
	bool uploading;
	char error[TCACHE_ERR_MAX];
};

/* Asks for a write-back now of every dirty database (ids NULL, n 0) or of
 * those named (a clean or unknown one is TFLUSH_DONE at once): the
 * scheduler's next tick queues it, idle timer and retry back-off of a
 * failed write-back notwithstanding (not a recovery's back-off). *items (malloc'ed, the caller
 * frees) gets one entry per database to wait for, *since the engine's wall clock (ms) at the call.
 * Does not wait: poll with tcache_flush_poll. */
int tcache_flush(struct tcache *tc, const char *const *ids, size_t n,
		 struct tcache_flush_item **items, size_t *nitems, int64_t *since);
/* Sets state and error of each item (since: tcache_flush's). */
int tcache_flush_poll(struct tcache *tc, struct tcache_flush_item *items, size_t n, int64_t since);

/* Drops the cached copy of id: 0; -EBUSY when it is open, dirty or still
 * active (leased, written back), -ENOENT when not cached; why (cap bytes)
 * gets the reason of a refusal. */
int tcache_evict_id(struct tcache *tc, const char *id, char *why, size_t cap);

/* ---- request cost per database (inspect.c) ---------------------------- */

/* The prices the cost estimates assume, USD per request: AWS list prices
 * of us-east-1, S3 Standard and DynamoDB on-demand (one request unit per
 * call). S3 LIST, COPY and POST are PUT-class, HEAD is GET-class, DELETE
 * is free. tenantfs(8) and the README state them. */
#define TFS_PRICE_S3_PUT    (0.005 / 1000)
#define TFS_PRICE_S3_GET    (0.0004 / 1000)
#define TFS_PRICE_DDB_WRITE (0.625 / 1000000)
#define TFS_PRICE_DDB_READ  (0.125 / 1000000)

/* Requests and bytes of one database. */
struct tcost_counts {
	uint64_t s3_put, s3_get, s3_head, s3_list, s3_delete;
	uint64_t ddb_write, ddb_read;
	uint64_t bytes_up, bytes_down;
};
double tcost_usd(const struct tcost_counts *c);

struct tcost_row {
	char id[CAT_ID_MAX + 1];
	struct tcost_counts c;
};

/* Counts the store and catalog calls the engine makes, per database: a
 * table of TCOST_SLOTS rows, each found by a hash of the id and probing
 * TCOST_PROBE slots. When those are all taken, the newcomer replaces the
 * cheapest of them, whose counts move to the "others" row: memory stays
 * bounded (about 200 bytes a row) however many databases pass, and a
 * database that costs much keeps its row. One mutex (a leaf), held only
 * for the update of a row. */
#define TCOST_SLOTS 4096
#define TCOST_PROBE 8
struct tcost;

struct tcost *tcost_new(void);
void tcost_free(struct tcost *c);
/* Wrappers that count every call for the database it names (a store key
 * names it by its folder: PREFIX/[SHARD/]ID/HASH.db) and pass it on to
 * inner, which they borrow. An optional operation inner lacks (NULL:
 * list_uploads, abort_upload) is NULL in the wrapper too. Freeing a
 * wrapper frees only the wrapper; the tcost must outlive it. NULL when out
 * of memory. */
struct store *tcost_wrap_store(struct tcost *c, struct store *inner);
struct catalog *tcost_wrap_catalog(struct tcost *c, struct catalog *inner);
/* The n rows that cost most, most expensive first, into *rows (malloc'ed,
 * the caller frees; *nrows of them), others (may be NULL) the counts of
 * databases whose rows were given up, tracked the number of rows in use. */
int tcost_top(struct tcost *c, size_t n, struct tcost_row **rows, size_t *nrows,
	      struct tcost_counts *others, size_t *tracked);

#endif
