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

#include "cache/catalog.h"
#include "cache/store.h"

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
#define TCACHE_LABEL_MAX   (CAT_NODE_MAX - 1 - TCACHE_NODE_ID_HEX)

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
};
void tcache_get_stats(struct tcache *tc, struct tcache_stats *out);

#endif
