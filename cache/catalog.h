/* The catalog: one item per database holding its lease (owner, expires,
 * fencing epoch) and its pointer (gen, hash, size). Every change is a
 * conditional write, so correctness never rests on clocks. Back ends: a
 * local SQLite file (catalog_sqlite.c) and DynamoDB (catalog_ddb.c). All
 * calls return 0 or a negative errno; all are thread-safe. */
#ifndef TFS_CATALOG_H
#define TFS_CATALOG_H

#include <stdbool.h>
#include <stdint.h>

#define CAT_ID_MAX   128
#define CAT_NODE_MAX 128
#define CAT_HASH_HEX 32 /* XXH3-128 as 32 lower-case hex digits */
#define CAT_HIST_MAX 8

struct cat_hist {
	int64_t time_ms;
	uint64_t gen;
	char hash[CAT_HASH_HEX + 1];
};

struct cat_item {
	char id[CAT_ID_MAX + 1];
	char owner[CAT_NODE_MAX + 1]; /* "" when nobody holds the lease */
	int64_t expires_ms;	      /* lease deadline, wall clock ms */
	uint64_t epoch;		      /* fencing token, +1 at every acquisition */
	uint64_t gen;		      /* commit counter, 0 = never committed */
	char hash[CAT_HASH_HEX + 1];  /* XXH3-128 hex of the committed bytes, "" if gen 0 */
	uint64_t size;
	int64_t mtime_ms;
	int64_t deleted_ms;	     /* tombstone time, 0 = live */
	char want[CAT_NODE_MAX + 1]; /* node asking the owner to hand over, "" if none */
	int n_hist;
	struct cat_hist hist[CAT_HIST_MAX];
};

struct cat_commit {
	uint64_t new_gen; /* base_gen + 1 */
	const char *hash;
	uint64_t size;
	int64_t mtime_ms;
	bool deleted; /* tombstone instead of a version */
};

struct catalog;

struct catalog_ops {
	/* Takes the lease: succeeds when the item does not exist, or its
	 * owner is node, or the lease expired (expires_ms < now_ms), or
	 * the owner released it. Sets owner = node, expires = now + ttl,
	 * epoch = epoch + 1, clears want if it was node's. *out gets the
	 * whole item after the write. -EBUSY when another node holds it:
	 * *out then describes the holder. */
	int (*acquire)(struct catalog *c, const char *id, const char *node, int64_t now_ms,
		       int64_t ttl_ms, struct cat_item *out);
	/* Extends the lease: condition owner = node AND epoch = epoch.
	 * -ESTALE when the condition fails (lease lost). *out (may be NULL)
	 * gets the item, so the caller sees a want mark. */
	int (*renew)(struct catalog *c, const char *id, const char *node, uint64_t epoch,
		     int64_t expires_ms, struct cat_item *out);
	/* Publishes a version: condition owner = node AND epoch = epoch AND
	 * gen = base_gen. Sets gen, hash, size, mtime, pushes hist (keeps
	 * the last CAT_HIST_MAX), sets or clears deleted. -ESTALE when the
	 * condition fails. */
	int (*commit)(struct catalog *c, const char *id, const char *node, uint64_t epoch,
		      uint64_t base_gen, const struct cat_commit *cm);
	/* Gives the lease up: condition owner = node AND epoch = epoch;
	 * clears owner and expires. -ESTALE when the condition fails. */
	int (*release)(struct catalog *c, const char *id, const char *node, uint64_t epoch);
	/* Asks the holder to hand over: sets want = node if the item exists. */
	int (*want)(struct catalog *c, const char *id, const char *node);
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
/* DynamoDB catalog in table (partition key "id", a string). The client is
 * borrowed and must outlive the catalog. */
struct catalog *catalog_ddb_new(struct ddb_client *client, const char *table);

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
