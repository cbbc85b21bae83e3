/* The engine's sched.c, for the engine files that call it (the
 * structures they share are in cache_i.h). */
#ifndef TFS_ENGINE_SCHED_I_H
#define TFS_ENGINE_SCHED_I_H

#include "cache/engine/cache_i.h"

/* sched.c */
int sched_start(struct tcache *tc) EXCLUDES(tc->mu);
void sched_stop(struct tcache *tc) EXCLUDES(tc->mu);
void sched_wake(struct tcache *tc); /* tc->mu held or not */

#endif
