/* The engine's lock order, written once: the ranks its locks get at init
 * (s3/base/tsa.h, tfs_mutex_rank), outermost first. A thread takes a lock
 * only while every ranked lock it holds has a lower rank; taking one out
 * of order fails an assert on the first run that does it (every build:
 * nothing defines NDEBUG) [unit/test_lockorder].
 *
 *   fam->wlock  ->  fam->dirty_mu  ->  tc->mu  ->  tc->ic_mu  ->  state's own mutex
 *   tc->mu  ->  tc->gate.mu
 *   tc->obs_mu (lease observations), tc->sess_mu (the session): leaves,
 *   nothing is taken under them.
 * Never hold any of them across a store or catalog call: the annotations
 * (EXCLUDES on what reaches the store or the catalog, REQUIRES on what
 * needs a lock held) say that to clang, checked in `make tsa`. */
#ifndef TFS_ENGINE_LOCKORDER_H
#define TFS_ENGINE_LOCKORDER_H

enum tc_lock_rank {
	RANK_FAM_WLOCK = 1,
	RANK_FAM_DIRTY,
	RANK_TC_MU,
	RANK_TC_ITEMS,
	RANK_STATE,
	RANK_GATE,
	RANK_LEAF, /* obs_mu, sess_mu */
};

#endif
