/* Snapshots of every database and point-in-time restore, on top of store.h
 * and catalog.h only: a snapshot is a manifest of pointers to committed,
 * immutable versions (PREFIX/_snapshots/NAME.json); a restore makes such a
 * version current again as a new commit under the lease. Nothing here
 * ever deletes or overwrites a version. All calls return 0 or a negative
 * errno and log what failed and why. */
#ifndef TFS_SNAPSHOT_MANIFEST_H
#define TFS_SNAPSHOT_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/catalog/catalog.h"
#include "cache/store/keys.h"
#include "cache/store/store.h"

#define SNAP_NAME_MAX 128
#define SNAP_FORMAT   "tenantfs-snapshot/1"

/* One database in a manifest: the version current at the cut. */
struct snapm_entry {
	char id[CAT_ID_MAX + 1];
	uint64_t gen;
	char hash[CAT_HASH_HEX + 1];
	uint64_t size;
	int64_t mtime_ms; /* when that version was committed (the committer's clock) */
	/* The catalog's history (CAT_HIST_MAX commits) did not reach back to
	 * the cut: this is the oldest version still known, newer than the cut
	 * (snapm_take sets it only when the version records cannot tell
	 * either). */
	bool short_hist;
};

/* A manifest name: 1-128 bytes of [A-Za-z0-9._-], not starting with '.'
 * or '-' (so it is a safe file name and S3 key segment). */
bool snapm_valid_name(const char *name);

/* The default name of a snapshot cut at ms: "20250102T030405.678Z"
 * (UTC; sorts by time). buf needs 24 bytes. */
void snapm_default_name(int64_t ms, char *buf, size_t cap);

/* "2025-01-02T03:04:05Z", "2025-01-02T03:04:05.678Z" (UTC) or "@SECONDS"
 * with up to 3 fraction digits: 0 or -EINVAL. snapm_format_time writes the
 * first form with milliseconds (buf needs 25 bytes). */
int snapm_parse_time(const char *s, int64_t *ms);
void snapm_format_time(int64_t ms, char *buf, size_t cap);

/* The version of it that was current at cut_ms, from the item and its
 * history (commit times are the committing node's wall clock). Returns 1
 * with *out filled when the database was live then (*need_size set when
 * out->size is not known: the history keeps no sizes), 0 when it was
 * not (never committed, deleted, or created after the cut). A tombstone
 * in the history is recognised by repeating its predecessor's hash
 * (write-back never commits an unchanged hash). */
int snapm_version_at(const struct cat_item *it, int64_t cut_ms, struct snapm_entry *out,
		     bool *need_size);

/* The version of it current at at_ms by its version records (one LIST of
 * its folder; record times are the store's clock), for a time beyond the
 * item's history: 1 with *e replaced (size unknown: *need_size set), 0
 * when it did not exist then (or was deleted), -ERANGE (or an error,
 * logged) when the records cannot tell: *e is then untouched. */
int snapm_chain_version_at(struct store *s, const struct key_layout *l, const struct cat_item *it,
			   int64_t at_ms, struct snapm_entry *e, bool *need_size);

struct snapm_take_result {
	uint64_t count;	  /* databases listed */
	uint64_t flagged; /* of which short_hist */
	uint64_t scanned; /* catalog items read */
	int64_t cut_ms;	  /* the cut used */
};

/* cut_ms of snapm_take: the wall clock once the snapshot is announced. */
#define SNAPM_CUT_NOW INT64_MIN
/* A snapshot being taken is announced by PREFIX/_snapshots/NAME.taking
 * (key_marker),
 * put before its cut and removed once its manifest is stored (or it
 * failed): while gc sees one, it keeps every version current at or after
 * the marker's store time (cache/fleet/gc.c), so the versions the snapshot names
 * survive a gc run that read the manifests before this one was stored.
 * A take stops without a manifest once it has run for SNAPM_TAKE_MAX_MS
 * (its monotonic clock); gc ignores a marker older than
 * SNAPM_TAKING_STALE_MS by the store's clock (a take that died). */
#define SNAPM_TAKE_MAX_MS     (30LL * 60 * 1000)
#define SNAPM_TAKING_STALE_MS (2 * SNAPM_TAKE_MAX_MS)

/* Scans the catalog page by page and writes the manifest of every
 * database live at cut_ms (each at its version then: from the item's
 * history, beyond it from the version records, one LIST of the database's
 * folder; flagged short_hist where neither reaches back) under name:
 * streamed to a temp file in tmpdir (bounded memory), then put. -EEXIST
 * if a manifest of that name exists (never overwritten). tick, when not
 * NULL, is called with tick_arg and the counts so far after every item
 * read (progress of a long run; it must be cheap). */
int snapm_take(struct store *s, struct catalog *c, const struct key_layout *l, const char *name,
	       int64_t cut_ms, const char *tmpdir, struct snapm_take_result *res,
	       void (*tick)(void *tick_arg, const struct snapm_take_result *sofar), void *tick_arg);

/* Lists the manifests under prefix: cb gets each name (without
 * ".json"); a non-zero cb return stops the listing and is returned. */
int snapm_list(struct store *s, const char *prefix,
	       int (*cb)(void *arg, const char *name, const struct store_info *info), void *arg);
/* The same for the snapshots being taken (their ".taking" markers). */
int snapm_list_taking(struct store *s, const char *prefix,
		      int (*cb)(void *arg, const char *name, const struct store_info *info),
		      void *arg);

/* What a manifest says about itself. */
struct snapm_header {
	char name[SNAP_NAME_MAX + 1];
	int64_t cut_ms;
	uint64_t count;
};

/* Downloads manifest name into a temp file in tmpdir and calls cb for
 * each database (in manifest order). -ENOENT if there is no such
 * manifest, -EINVAL (logged) if it is malformed. A non-zero cb return
 * stops and is returned. */
int snapm_read(struct store *s, const char *prefix, const char *name, const char *tmpdir,
	       struct snapm_header *hdr, int (*cb)(void *arg, const struct snapm_entry *e),
	       void *arg);

/* Rewrites manifest name without the entry of id (`tenantfs purge`), if
 * it has one (*dropped then true): the same name, cut and other entries.
 * Written as a side copy NAME.json.rewrite, then the manifest anew, then
 * the side copy removed. */
int snapm_drop_id(struct store *s, const char *prefix, const char *name, const char *id,
		  const char *tmpdir, bool *dropped);

enum snapm_restore_outcome {
	SNAP_RESTORED,	/* committed as a new generation */
	SNAP_UNCHANGED, /* that version was already current: nothing written */
};

struct snapm_restore_info {
	enum snapm_restore_outcome outcome;
	uint64_t new_gen;	       /* SNAP_RESTORED: the new generation */
	char holder[CAT_NODE_MAX + 1]; /* -EBUSY: who holds the lease */
	int64_t holder_expires_ms;     /* -EBUSY: until when */
};

/* Makes version e of e->id current again as a new commit: checks the
 * object exists (store head), takes the lease as node (-EBUSY when
 * another node holds it: info->holder says who; nothing is written),
 * commits gen + 1 with e's hash (also over a tombstone), releases. The
 * version's bytes are never copied: the object is already there. */
int snapm_restore_one(struct store *s, struct catalog *c, const struct key_layout *l,
		      const struct snapm_entry *e, const char *node, int64_t ttl_ms, int64_t now_ms,
		      struct snapm_restore_info *info);

#endif
