/* The engine's lease.c, for the engine files that call it (the
 * structures they share are in cache_i.h). */
#ifndef TFS_ENGINE_LEASE_I_H
#define TFS_ENGINE_LEASE_I_H

#include "cache/engine/cache_i.h"

/* lease.c */
void lease_init(struct tcache *tc); /* before any other lease call */
void lease_fini(struct tcache *tc);
/* Begins the node's session if there is none yet (mount start; an
 * acquire calls it too): 0 or -errno. */
int lease_start(struct tcache *tc) EXCLUDES(tc->mu);
/* Renews the session, which renews every lease of the node, and notes the
 * hand-over requests it carries (fam->want). -ESTALE: the session was
 * declared dead, every lease taken in it is marked lost and a new session
 * begins. The scheduler runs it every ttl/3 (JOB_HEARTBEAT). */
int lease_heartbeat(struct tcache *tc) EXCLUDES(tc->mu);
/* *mono_at (may be NULL) gets tc_mono() just before the request that took
 * the lease. On success item->sess is the session it was taken in: pass
 * the item to lease_set_held. */
int lease_acquire(struct tcache *tc, const char *id, long wait_ms, struct cat_item *item,
		  int64_t *mono_at) EXCLUDES(tc->mu);
void lease_set_held(struct tcache *tc, struct fam *fam, const struct cat_item *item);
/* A heartbeat for fam's sake (a write-back past the local deadline):
 * -ESTALE when fam's lease is lost. */
int lease_renew(struct tcache *tc, struct fam *fam) EXCLUDES(tc->mu);
int lease_release(struct tcache *tc, struct fam *fam) EXCLUDES(tc->mu);
bool lease_writable(struct tcache *tc, struct fam *fam);
/* tc->mu held. True when fam's lease needs no write of its own at
 * shutdown: leased, clean, not unlinked, not lost; the end of the session
 * frees it (lease_release_all). */
bool lease_ends_with_session(struct tcache *tc, struct fam *fam) REQUIRES(tc->mu);
/* At shutdown, after sched_stop: gives up every lease still held. Those
 * with unpublished writes are marked stranded one by one first (their
 * databases stay fenced off); then one session_end frees all the clean
 * ones at once, whatever their number. If a mark or the end fails, the
 * session is left to lapse and each clean lease is released on its own. */
void lease_release_all(struct tcache *tc) EXCLUDES(tc->mu);
/* True when the node's last heartbeat, after its last successful one,
 * failed without an answer from the catalog less than lease_ttl ago: this
 * node is cut off from the catalog, and asking again now would only wait
 * for the same outcome. */
bool lease_cut_off(struct tcache *tc);

#endif
