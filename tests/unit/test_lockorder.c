/* Unit tests of the lock ranks of s3/base/tsa.h (the run-time lock-order
 * check) and of the engine's order in cache/engine/lockorder.h: in order
 * is taken, out of order aborts the process before it can deadlock, a
 * trylock and an unranked lock are not checked. The aborting cases run
 * in a child process. */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cache/engine/lockorder.h"
#include "s3/base/tsa.h"
#include "tests/unit/tap.h"

static tfs_mutex tc_mu, items, gate, leaf, plain;
static tfs_rwlock wlock;

/* Runs fn in a child; its wait status. The child's stderr is kept (the
 * check names both ranks there). */
static int in_child(void (*fn)(void))
{
	int status = 0;
	pid_t pid = fork();

	if (pid == 0) {
		fn();
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return status;
}

static void outer_under_inner(void) NO_THREAD_SAFETY_ANALYSIS
{
	tfs_mutex_lock(&tc_mu);
	tfs_rwlock_wrlock(&wlock); /* wlock is outer: out of order */
}

static void same_rank_twice(void) NO_THREAD_SAFETY_ANALYSIS
{
	tfs_mutex_lock(&leaf);
	tfs_mutex_lock(&gate); /* gate is below the leaves: out of order */
}

static void drop_unheld(void) NO_THREAD_SAFETY_ANALYSIS
{
	tfs_rank_drop(RANK_TC_MU);
}

static bool aborted(int status)
{
	return status > 0 && WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

int main(void) NO_THREAD_SAFETY_ANALYSIS
{
	tfs_mutex_init(&tc_mu);
	tfs_mutex_rank(&tc_mu, RANK_TC_MU);
	tfs_mutex_init(&items);
	tfs_mutex_rank(&items, RANK_TC_ITEMS);
	tfs_mutex_init(&gate);
	tfs_mutex_rank(&gate, RANK_GATE);
	tfs_mutex_init(&leaf);
	tfs_mutex_rank(&leaf, RANK_LEAF);
	tfs_mutex_init(&plain);
	tfs_rwlock_init(&wlock);
	tfs_rwlock_rank(&wlock, RANK_FAM_WLOCK);

	TAP_OK(RANK_FAM_WLOCK < RANK_FAM_DIRTY && RANK_FAM_DIRTY < RANK_TC_MU &&
		   RANK_TC_MU < RANK_TC_ITEMS && RANK_TC_ITEMS < RANK_STATE &&
		   RANK_TC_MU < RANK_GATE && RANK_GATE < RANK_LEAF,
	       "the engine's ranks follow the order lockorder.h writes");

	/* In order: wlock (shared) -> tc->mu -> items -> leaf. */
	tfs_rwlock_rdlock(&wlock);
	tfs_mutex_lock(&tc_mu);
	tfs_mutex_lock(&items);
	tfs_mutex_lock(&leaf);
	TAP_OK(tfs_rank_depth() == 4, "four locks taken in order are held (%d)", tfs_rank_depth());
	tfs_mutex_lock(&plain); /* unranked: not checked, not counted */
	TAP_OK(tfs_rank_depth() == 4, "an unranked lock is not counted");
	tfs_mutex_unlock(&plain);
	/* Given back in any order. */
	tfs_mutex_unlock(&items);
	tfs_rwlock_unlock(&wlock);
	tfs_mutex_unlock(&leaf);
	tfs_mutex_unlock(&tc_mu);
	TAP_OK(tfs_rank_depth() == 0, "all given back (%d held)", tfs_rank_depth());

	/* A trylock never waits: taken under an inner lock, it is allowed. */
	tfs_mutex_lock(&items);
	TAP_OK(tfs_mutex_trylock(&tc_mu) == 0 && tfs_rank_depth() == 2,
	       "a trylock out of order is allowed and counted");
	tfs_mutex_unlock(&tc_mu);
	tfs_mutex_unlock(&items);
	TAP_OK(tfs_rank_depth() == 0, "... and given back");

	TAP_OK(aborted(in_child(outer_under_inner)),
	       "taking an outer lock (fam->wlock) under tc->mu aborts");
	TAP_OK(aborted(in_child(same_rank_twice)), "taking the gate under a leaf aborts");
	TAP_OK(aborted(in_child(drop_unheld)), "giving back a ranked lock not held aborts");
	TAP_OK(tfs_rank_depth() == 0, "the parent holds nothing after the children");

	return TAP_DONE();
}
