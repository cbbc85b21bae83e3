/* The engine's activate.c, for the engine files that call it (the
 * structures they share are in cache_i.h). */
#ifndef TFS_ENGINE_ACTIVATE_I_H
#define TFS_ENGINE_ACTIVATE_I_H

#include "cache/engine/cache_i.h"

/* activate.c */
/* Takes the lease of fam (FAM_OPENING: an open, fault; FAM_RECOVERING: a
 * recovery) and reconciles the cached copy with the catalog item. */
int tc_fam_activate(struct tcache *tc, struct fam *fam, int flags, bool fault, bool *fresh)
    EXCLUDES(tc->mu);
/* tc->mu held: the busy state of fam took the lease of item, its copy based
 * on base_gen/base_hash: it ends HELD, at the item's epoch. */
void fam_took_lease(struct tcache *tc, struct fam *fam, const struct cat_item *item,
		    uint64_t base_gen, const char *base_hash) REQUIRES(tc->mu);

#endif
