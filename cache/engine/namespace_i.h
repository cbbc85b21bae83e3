/* The engine's namespace.c, for the engine files that call it (the
 * structures they share are in cache_i.h). */
#ifndef TFS_ENGINE_NAMESPACE_I_H
#define TFS_ENGINE_NAMESPACE_I_H

#include "cache/engine/cache_i.h"

/* namespace.c: a stat of the catalog item it, as getattr gives it for an
 * uncached database. */
void tc_item_stat(const struct cat_item *it, struct stat *st);

#endif
