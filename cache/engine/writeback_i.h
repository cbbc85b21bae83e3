/* The engine's writeback.c, for the engine files that call it (the
 * structures they share are in cache_i.h). */
#ifndef TFS_ENGINE_WRITEBACK_I_H
#define TFS_ENGINE_WRITEBACK_I_H

#include "cache/engine/cache_i.h"

/* writeback.c */
/* Writes the version record of a commit that landed (cache/store/verrec.h);
 * logs, and otherwise ignores, a failure. */
void tc_record_commit(struct tcache *tc, const char *id, const struct cat_commit *cm)
    EXCLUDES(tc->mu);
/* The jobs of a family, run by a worker (sched.c) with the family in
 * FAM_WRITEBACK, FAM_RELEASING, FAM_RECOVERING: each returns the event that
 * ends that state (cache/engine/famstate.h). */
enum fam_event tc_job_writeback(struct tcache *tc, struct fam *fam) EXCLUDES(tc->mu);
enum fam_event tc_job_release(struct tcache *tc, struct fam *fam) EXCLUDES(tc->mu);
enum fam_event tc_job_recover(struct tcache *tc, struct fam *fam) EXCLUDES(tc->mu);

/* writeback.c */
/* The store key of id's version hash (key_version) into buf, cap >= KEY_MAX.
 * Cannot fail: tcache_new bounds the prefix (KEY_PREFIX_MAX), ids are
 * valid and hashes at most CAT_HASH_HEX digits. */
void tc_key(struct tcache *tc, const char *id, const char *hash, char *buf, size_t cap);
int tc_quarantine(struct tcache *tc, struct fam *fam, const char *why) EXCLUDES(tc->mu);
void tc_evict(struct tcache *tc) EXCLUDES(tc->mu);

#endif
