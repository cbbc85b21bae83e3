/* The engine's famtab.c, for the engine files that call it (the
 * structures they share are in cache_i.h). */
#ifndef TFS_ENGINE_FAMTAB_I_H
#define TFS_ENGINE_FAMTAB_I_H

#include "cache/engine/cache_i.h"

/* famtab.c: the table of active families, tc->mu held */
struct fam *fam_find(struct tcache *tc, const char *id) REQUIRES(tc->mu);
struct fam *fam_insert(struct tcache *tc, const char *id) REQUIRES(tc->mu); /* in FAM_ABSENT */
void fam_remove(struct tcache *tc, struct fam *fam) REQUIRES(tc->mu);	    /* frees */
/* Waits once (50 ms at most) for a family to change; *waits counts one
 * caller's waits: 0, or -EBUSY without waiting once 24,000 are used up. */
int tc_fam_wait(struct tcache *tc, int *waits) REQUIRES(tc->mu);

#endif
