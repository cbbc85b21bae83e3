/* The engine's catgate.c, for the engine files that call it (the
 * structures they share are in cache_i.h). */
#ifndef TFS_ENGINE_CATGATE_I_H
#define TFS_ENGINE_CATGATE_I_H

#include "cache/engine/cache_i.h"

/* catgate.c */
void tc_gate_init(struct tcache *tc);
void tc_gate_destroy(struct tcache *tc);
/* Enters the gate before the catalog calls of a FUSE request (what and id
 * name it for the log): 0, with the calling thread's catalog budget set to
 * the per-call bound (*saved gets the previous one), or -EAGAIN when no
 * place came free within the short wait. Nested enters of one thread take
 * one place. Every 0 is paired with tc_gate_leave(tc, *saved). */
int tc_gate_enter(struct tcache *tc, const char *what, const char *id, long *saved)
    EXCLUDES(tc->gate.mu);
void tc_gate_leave(struct tcache *tc, long saved) EXCLUDES(tc->gate.mu);
/* An open's lease acquire of id failed with rc: opens that waited on it
 * fail the same way. tc_gate_failed returns that rc when it failed at or
 * after since (tc_mono() ms), else 0. Either may be called with tc->mu held. */
void tc_gate_note_failed(struct tcache *tc, const char *id, int rc) EXCLUDES(tc->gate.mu);
int tc_gate_failed(struct tcache *tc, const char *id, int64_t since) EXCLUDES(tc->gate.mu);

#endif
