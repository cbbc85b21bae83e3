/* `tenantfs history` and what it shares with `tenantfs gc` and `purge`:
 * durations, the versions snapshot manifests name, and one database's
 * versions with gc's verdict on each (cache/store/verrec.h has the rules). */
#ifndef TFS_FUSE_HISTORY_H
#define TFS_FUSE_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/catalog/catalog.h"
#include "cache/fleet/snapshot_manifest.h"
#include "cache/store/store.h"

#define TFS_HISTORY_SYNOPSIS \
	"tenantfs history SOURCE [-o OPTIONS] --id ID [--keep DURATION] [--grace DURATION]"
#define TFS_KEEP_DEFAULT_MS  (7LL * 24 * 3600 * 1000)
#define TFS_GRACE_DEFAULT_MS (3600LL * 1000)

/* "500ms", "30s", "15m", "1h", "7d", "2w" or plain seconds: 0 or -EINVAL. */
int tfs_parse_duration(const char *s, int64_t *ms);

/* The versions the snapshot manifests name: 64-bit fingerprints of
 * "ID/HASH", sorted. A collision can only keep a version more. */
struct snaprefs {
	uint64_t *fp;
	size_t n, cap;
	uint64_t manifests; /* manifests read */
};

/* Reads every manifest under prefix (one LIST, a GET each); only_id, if
 * not NULL, keeps only that database's entries. Released with
 * snaprefs_release (also after a failure). */
int snaprefs_load(struct store *s, const char *prefix, const char *tmpdir, const char *only_id,
		  struct snaprefs *out);
bool snaprefs_has(const struct snaprefs *r, const char *id, const char *hash);
void snaprefs_release(struct snaprefs *r);

/* The command; returns the exit status (0, 1 a failure). */
int tfs_history_command(struct store *s, struct catalog *c, const struct key_layout *l,
			const char *id, int64_t keep_ms, int64_t grace_ms, const char *tmpdir);

#endif
