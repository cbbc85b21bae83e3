/* The engine's identity.c, for the engine files that call it (the
 * structures they share are in cache_i.h). */
#ifndef TFS_ENGINE_IDENTITY_I_H
#define TFS_ENGINE_IDENTITY_I_H

#include "cache/engine/cache_i.h"

/* identity.c: takes <cache>/lock for the engine's life (-EBUSY: another
 * tenantfs has it), writes the pid into it (again after fuse_daemonize), and
 * sets tc->node from <cache>/node, creating it at the first start. */
void tc_lock_note_pid(struct tcache *tc);
int tc_cache_lock(struct tcache *tc);
int tc_identity_load(struct tcache *tc, const char *label);

#endif
