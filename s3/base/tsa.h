/* Lock annotations for clang's thread safety analysis (-Wthread-safety),
 * and the locks they describe: tfs_mutex and tfs_rwlock wrap the pthread
 * ones as capabilities. Empty under compilers without the analysis (gcc);
 * `make tsa` (tests/check-tsa) compiles every source with clang and
 * -Wthread-safety -Werror.
 *
 * Where an annotation can stand in C (clang 14):
 * - on functions: REQUIRES(tc->mu), EXCLUDES(tc->mu), ACQUIRE/RELEASE may
 *   name any lock reachable from a parameter; this is how the engine says
 *   which lock a function needs.
 * - on globals: GUARDED_BY(a global lock) (s3/base/log.c).
 * - not on struct fields naming a sibling field: `int n GUARDED_BY(mu);`
 *   inside struct tcache fails with "use of undeclared identifier 'mu'".
 *   Clang parses the argument where the attribute stands, and in C (unlike
 *   C++, where attributes in a class are parsed late, once the class is
 *   complete) the struct's fields are not names in scope there; a lock in
 *   another object has no name to refer to either. So a shared field
 *   names its lock in a comment ("protected by tc->mu"), and the
 *   functions that touch it say REQUIRES. GUARDED_BY and PT_GUARDED_BY are
 *   defined for globals and for the day the compiler parses them late. */
#ifndef TFS_TSA_H
#define TFS_TSA_H

#include <pthread.h>
#include <time.h>

#if defined(__clang__)
#define TFS_TSA(x) __attribute__((x))
#else
#define TFS_TSA(x)
#endif

#define CAPABILITY(x)		  TFS_TSA(capability(x))
#define GUARDED_BY(x)		  TFS_TSA(guarded_by(x))
#define PT_GUARDED_BY(x)	  TFS_TSA(pt_guarded_by(x))
#define ACQUIRED_BEFORE(...)	  TFS_TSA(acquired_before(__VA_ARGS__))
#define ACQUIRED_AFTER(...)	  TFS_TSA(acquired_after(__VA_ARGS__))
#define REQUIRES(...)		  TFS_TSA(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...)	  TFS_TSA(requires_shared_capability(__VA_ARGS__))
#define ACQUIRE(...)		  TFS_TSA(acquire_capability(__VA_ARGS__))
#define ACQUIRE_SHARED(...)	  TFS_TSA(acquire_shared_capability(__VA_ARGS__))
#define RELEASE(...)		  TFS_TSA(release_capability(__VA_ARGS__))
#define RELEASE_SHARED(...)	  TFS_TSA(release_shared_capability(__VA_ARGS__))
#define RELEASE_GENERIC(...)	  TFS_TSA(release_generic_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...)	  TFS_TSA(try_acquire_capability(__VA_ARGS__))
#define TRY_ACQUIRE_SHARED(...)	  TFS_TSA(try_acquire_shared_capability(__VA_ARGS__))
#define EXCLUDES(...)		  TFS_TSA(locks_excluded(__VA_ARGS__))
#define ASSERT_CAPABILITY(x)	  TFS_TSA(assert_capability(x))
#define RETURN_CAPABILITY(x)	  TFS_TSA(lock_returned(x))
#define NO_THREAD_SAFETY_ANALYSIS TFS_TSA(no_thread_safety_analysis)

/* Lock ranks: the lock order, checked as the program runs (what clang
 * cannot check in C: ACQUIRED_BEFORE would have to name sibling fields).
 * A module numbers its locks outermost first (cache/engine/lockorder.h)
 * and gives each its rank once, after init (tfs_mutex_rank). A thread
 * may then take a ranked lock only while every ranked lock it holds has a
 * lower rank: taking one out of order fails an assert before it can
 * deadlock, on the first run that does it, whether or not another thread
 * is there to deadlock with. Rank 0 (the default) is not checked. A
 * trylock never waits, so it is not checked, only counted as held. */
#define TFS_RANK_HELD_MAX 16
void tfs_rank_take(int rank); /* asserts the order, then counts it held */
void tfs_rank_held(int rank); /* counts it held (a trylock that took it) */
void tfs_rank_drop(int rank); /* given back */
int tfs_rank_depth(void);     /* ranked locks this thread holds */

/* A pthread mutex (default attributes) as a capability. The functions
 * return what the pthread ones do. */
typedef struct CAPABILITY("mutex") tfs_mutex {
	pthread_mutex_t m;
	int rank; /* see tfs_rank_take; 0: unranked */
} tfs_mutex;

#define TFS_MUTEX_INITIALIZER                \
	{                                    \
		PTHREAD_MUTEX_INITIALIZER, 0 \
	}

static inline int tfs_mutex_init(tfs_mutex *mu)
{
	mu->rank = 0;
	return pthread_mutex_init(&mu->m, NULL);
}

static inline void tfs_mutex_rank(tfs_mutex *mu, int rank)
{
	mu->rank = rank;
}

static inline int tfs_mutex_destroy(tfs_mutex *mu)
{
	return pthread_mutex_destroy(&mu->m);
}

/* 0: taken. */
static inline int tfs_mutex_trylock(tfs_mutex *mu) TRY_ACQUIRE(0, mu) NO_THREAD_SAFETY_ANALYSIS
{
	int rc = pthread_mutex_trylock(&mu->m);

	if (rc == 0 && mu->rank)
		tfs_rank_held(mu->rank);
	return rc;
}

/* 0: taken before the CLOCK_REALTIME time at. */
static inline int tfs_mutex_timedlock(tfs_mutex *mu, const struct timespec *at)
    TRY_ACQUIRE(0, mu) NO_THREAD_SAFETY_ANALYSIS
{
	int rc;

	if (mu->rank)
		tfs_rank_take(mu->rank);
	rc = pthread_mutex_timedlock(&mu->m, at);
	if (rc != 0 && mu->rank)
		tfs_rank_drop(mu->rank);
	return rc;
}

/* A pthread rwlock as a capability: readers hold it shared. */
typedef struct CAPABILITY("rwlock") tfs_rwlock {
	pthread_rwlock_t l;
	int rank; /* see tfs_rank_take; 0: unranked */
} tfs_rwlock;

static inline void tfs_rwlock_rank(tfs_rwlock *rw, int rank)
{
	rw->rank = rank;
}

/* Writers first: a writer waiting keeps new readers out, so a steady
 * stream of readers cannot starve it. 0 or an errno. */
static inline int tfs_rwlock_init(tfs_rwlock *rw)
{
	pthread_rwlockattr_t ra;
	int rc = pthread_rwlockattr_init(&ra);

	rw->rank = 0;
	if (rc)
		return rc;
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	rc = pthread_rwlock_init(&rw->l, &ra);
	pthread_rwlockattr_destroy(&ra);
	return rc;
}

static inline int tfs_rwlock_destroy(tfs_rwlock *rw)
{
	return pthread_rwlock_destroy(&rw->l);
}

/* Taking and giving back a tfs_mutex or tfs_rwlock: the pthread call,
 * annotated. With default attributes they fail only when misused (a lock
 * not initialised, or given back when not held), which the analysis is
 * there to catch: their results are not looked at. */
#define TFS_LOCK_OP(name, type, call, field, annotation)                       \
	static inline void name(type *lk) annotation NO_THREAD_SAFETY_ANALYSIS \
	{                                                                      \
		if (lk->rank)                                                  \
			tfs_rank_take(lk->rank);                               \
		call(&lk->field);                                              \
	}
#define TFS_UNLOCK_OP(name, type, call, field, annotation)                     \
	static inline void name(type *lk) annotation NO_THREAD_SAFETY_ANALYSIS \
	{                                                                      \
		call(&lk->field);                                              \
		if (lk->rank)                                                  \
			tfs_rank_drop(lk->rank);                               \
	}

TFS_LOCK_OP(tfs_mutex_lock, tfs_mutex, pthread_mutex_lock, m, ACQUIRE(lk))
TFS_UNLOCK_OP(tfs_mutex_unlock, tfs_mutex, pthread_mutex_unlock, m, RELEASE(lk))
/* Shared: readers at once, none while a writer holds it. */
TFS_LOCK_OP(tfs_rwlock_rdlock, tfs_rwlock, pthread_rwlock_rdlock, l, ACQUIRE_SHARED(lk))
TFS_LOCK_OP(tfs_rwlock_wrlock, tfs_rwlock, pthread_rwlock_wrlock, l, ACQUIRE(lk))
/* Ends either hold, shared or exclusive. */
TFS_UNLOCK_OP(tfs_rwlock_unlock, tfs_rwlock, pthread_rwlock_unlock, l, RELEASE_GENERIC(lk))

/* Condition variables stay pthread_cond_t; a wait takes the mutex it
 * releases and retakes, which the caller holds. */
static inline int tfs_cond_wait(pthread_cond_t *cv, tfs_mutex *mu)
    REQUIRES(mu) NO_THREAD_SAFETY_ANALYSIS
{
	return pthread_cond_wait(cv, &mu->m);
}

static inline int tfs_cond_timedwait(pthread_cond_t *cv, tfs_mutex *mu, const struct timespec *at)
    REQUIRES(mu) NO_THREAD_SAFETY_ANALYSIS
{
	return pthread_cond_timedwait(cv, &mu->m, at);
}

#endif
