/* Version records: the chain of a database's commits kept outside its
 * catalog item (which keeps only the last CAT_HIST_MAX), so that restore,
 * history and gc reach every version within the retention window while
 * the item stays the same size. One small object per commit, in the
 * database's own folder beside its versions:
 *   PREFIX/[SS/]ID/GEN-K-HASH.ver   (GEN: 20 digits; K: v version, t tombstone)
 * Everything gc needs is in the key, so one LIST of the folder gives the
 * whole chain with the store's own time of each record (LastModified);
 * the body (JSON) adds the committer's node and clock for humans.
 *
 * A record is written only after its commit landed, by the node whose
 * commit it was: it carries no authority (the catalog item does) and
 * cannot weaken fencing, and its store time is never earlier than the
 * commit. A node may die between the commit and the record: the chain then
 * has a gap, which every reader treats conservatively (see verrec_protect).
 * All calls return 0 or a negative errno and log what failed and why. */
#ifndef TFS_VERREC_H
#define TFS_VERREC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/catalog/catalog.h"
#include "cache/store/keys.h"
#include "cache/store/store.h"

#define VERREC_FORMAT "tenantfs-version/1"
/* The resolution of store times: S3 gives LastModified in whole seconds
 * (truncated), so every comparison allows this much on the safe side. */
#define VERREC_CLOCK_RES_MS 1000

/* One commit. */
struct verrec {
	uint64_t gen;
	char hash[CAT_HASH_HEX + 1]; /* "" for a tombstone of a never-committed database */
	bool deleted;		     /* a tombstone */
	int64_t store_ms;	     /* the record's time by the store's clock (from a listing) */
	/* From the body (verrec_get) or given to verrec_put: */
	uint64_t size;
	int64_t time_ms; /* the committer's wall clock at the commit */
	char node[CAT_NODE_MAX + 1];
};

/* An object of the database's folder: one of its versions. */
struct verobj {
	char hash[CAT_HASH_HEX + 1];
	uint64_t size;
	int64_t store_ms; /* LastModified: the store's clock */
};

/* The folder of one database as one listing saw it. */
struct verchain {
	struct verrec *recs; /* sorted by gen */
	size_t n_recs;
	struct verobj *objs; /* sorted by hash */
	size_t n_objs;
	uint64_t other;	     /* keys of the folder that are neither (left alone) */
	uint64_t list_pages; /* LIST requests made */
	uint64_t rec_bytes;  /* bytes of the records */
	size_t cap_recs, cap_objs;
};

/* A record's key, in its database's folder (key_folder). -ENAMETOOLONG. */
int verrec_key(const struct key_layout *l, const char *id, uint64_t gen, bool deleted,
	       const char *hash, char *buf, size_t cap);

/* Parses the last segment of a key (after the folder): a record name
 * gives 1 and fills gen, hash and deleted of *r; anything else 0. */
int verrec_parse_name(const char *name, struct verrec *r);

/* Writes the record of a commit of id (r: gen, hash, deleted, size,
 * time_ms, node). Idempotent: the same record twice is one object. */
int verrec_put(struct store *s, const struct key_layout *l, const char *id, const struct verrec *r);

/* verrec_put of the record of a commit cm of id by node that landed: a
 * failure only makes gc keep more (a gap, see verrec_protect), so it is
 * logged and the commit stands (no retry). */
void verrec_record_commit(struct store *s, const struct key_layout *l, const char *id,
			  const char *node, const struct cat_commit *cm);

/* Reads the body of a record (node, time, size) into *r. */
int verrec_get(struct store *s, const struct key_layout *l, const char *id, struct verrec *r);

/* Lists id's folder into *out (released with verrec_chain_release, also
 * after a failure). */
int verrec_chain_read(struct store *s, const struct key_layout *l, const char *id,
		      struct verchain *out);
void verrec_chain_release(struct verchain *ch);

/* Building a chain from a listing made elsewhere (gc lists the whole
 * prefix once): adds the key whose last segment is name (a record, a
 * version, or counted as other), then sort once at the end. */
int verrec_chain_add(struct verchain *ch, const char *name, const struct store_info *info);
void verrec_chain_sort(struct verchain *ch);

/* The record of gen, or NULL. */
const struct verrec *verrec_find(const struct verchain *ch, uint64_t gen);

/* The entry for gen in the item's own history (it may be NULL), or NULL. */
const struct cat_hist *verrec_hist_find(const struct cat_item *it, uint64_t gen);

/* An upper bound, by the store's clock, on when gen stopped being current:
 * the store time of the first record after it (written after a later
 * commit, so not earlier than gen's end) plus VERREC_CLOCK_RES_MS. INT64_MAX when none is known:
 * gen is current, or every later commit lacks its record. */
int64_t verrec_superseded_bound(const struct verchain *ch, const struct cat_item *it, uint64_t gen);

/* Why gc keeps an object (VP_NONE: it may go). */
enum verprot {
	VP_NONE = 0,
	VP_CURRENT,  /* the item's current version */
	VP_KEEP,     /* was current within --keep */
	VP_SNAPSHOT, /* a snapshot manifest names it */
	VP_GRACE,    /* written less than --grace ago (store clock) */
	/* The chain has a commit whose record is missing (a node died
	 * between commit and record, or it predates records) and that might
	 * have been current within --keep: any object nobody names might be
	 * that version, so none goes. */
	VP_GAP,
};

const char *verprot_str(enum verprot p);

/* The rules of gc for one object of the folder, all times by the store's
 * clock: now_ms (the store's time, see verrec_store_now), keep_ms,
 * grace_ms. it is the catalog item (NULL when there is none). snap_has(arg,
 * hash) says whether a manifest names that version of the database. */
enum verprot verrec_protect(const struct verchain *ch, const struct cat_item *it,
			    const struct verobj *o, int64_t now_ms, int64_t keep_ms,
			    int64_t grace_ms, bool (*snap_has)(void *arg, const char *hash),
			    void *arg);

/* The version current at at_ms by the chain, for a restore beyond the
 * item's history: 1 with *out filled (hash, gen; size 0 = unknown), 0 when
 * the database did not exist then or was deleted, -ERANGE when the chain
 * cannot tell (a missing record there, or it does not reach back). Times
 * are the store's clock (record times). */
int verrec_version_at(const struct verchain *ch, const struct cat_item *it, int64_t at_ms,
		      struct verrec *out);

/* The store's own clock, read by writing, heading and deleting a probe
 * object PREFIX/_gc-clock-* (three requests): gc and history compare
 * object times with this, never with this node's clock. */
int verrec_store_now(struct store *s, const char *prefix, const char *tmp_tag, int64_t *now_ms);

#endif
