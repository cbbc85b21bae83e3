/* `tenantfs purge`: erases one database for good. */
#ifndef TFS_FUSE_PURGE_H
#define TFS_FUSE_PURGE_H

#include "cache/catalog/catalog.h"
#include "cache/fleet/snapshot_manifest.h"
#include "cache/store/store.h"

#define TFS_PURGE_SYNOPSIS "tenantfs purge SOURCE [-o OPTIONS] --id ID --yes"

/* Takes id's lease as node (refused, naming the holder, while another
 * node holds it), deletes every object of its folder (versions and
 * version records), rewrites every snapshot manifest naming it without
 * its entry, then removes its catalog item (conditional on still holding
 * the lease). Returns the exit status (0, 1 a failure: what was erased so
 * far is said; run it again to finish). */
int tfs_purge_command(struct store *s, struct catalog *c, const struct key_layout *l,
		      const char *id, const char *node, int64_t ttl_ms, int64_t now_ms,
		      const char *tmpdir);

#endif
