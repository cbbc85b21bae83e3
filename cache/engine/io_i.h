/* The engine's io.c, for the engine files that call it (the
 * structures they share are in cache_i.h). */
#ifndef TFS_ENGINE_IO_I_H
#define TFS_ENGINE_IO_I_H

#include "cache/engine/cache_i.h"

/* io.c */
/* id.db + suffix is a valid side file name of id. */
bool tc_side_suffix_valid(const char *id, const char *suffix);
/* A change of the family (a write, truncate, journal create or removal):
 * tc_change_begin takes fam->wlock shared, checks the lease and marks the
 * family dirty; on 0 the caller changes the file, then calls tc_change_end,
 * which checks the lease again (-EIO: not acknowledged). */
int tc_change_begin(struct tcache *tc, struct fam *fam) TRY_ACQUIRE_SHARED(0, fam->wlock);
int tc_change_end(struct tcache *tc, struct fam *fam) RELEASE_SHARED(fam->wlock);

#endif
