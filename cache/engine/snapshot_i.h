/* The engine's snapshot.c, for the engine files that call it (the
 * structures they share are in cache_i.h). */
#ifndef TFS_ENGINE_SNAPSHOT_I_H
#define TFS_ENGINE_SNAPSHOT_I_H

#include "cache/engine/cache_i.h"

/* snapshot.c */
struct snap {
	char dir[PATH_MAX];
	char db[PATH_MAX];
	uint64_t seq; /* fam->wseq at the copy */
	uint64_t size;
	char hash[CAT_HASH_HEX + 1];
	char why[STATE_ERR_MAX]; /* quick_check failure */
};
int snap_take(struct tcache *tc, struct fam *fam, struct snap *s) EXCLUDES(tc->mu);
int snap_check(struct tcache *tc, const char *id, struct snap *s);
void snap_drop(struct snap *s);
void tc_rm_tree(const char *dir);
/* Removes everything inside dir, keeping dir itself. */
void tc_clean_dir(const char *dir);

#endif
