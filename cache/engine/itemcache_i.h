/* The engine's itemcache.c, for the engine files that call it (the
 * structures they share are in cache_i.h). */
#ifndef TFS_ENGINE_ITEMCACHE_I_H
#define TFS_ENGINE_ITEMCACHE_I_H

#include "cache/engine/cache_i.h"

/* itemcache.c */
/* The catalog item of id through the item cache (~1 s): 0, -ENOENT, or
 * -errno of the catalog (a FUSE request: it enters the gate). */
int tc_item_get(struct tcache *tc, const char *id, struct cat_item *out)
    EXCLUDES(tc->mu, tc->ic_mu);
void tc_item_forget(struct tcache *tc, const char *id) EXCLUDES(tc->ic_mu);

#endif
