/* The table of active families (struct fam, cache_i.h): a hash of chains
 * under tc->mu, and the bounded wait for a family another thread is busy
 * with (cache/engine/famstate.h). */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "cache/engine/cache_i.h"
#include "cache/engine/famtab_i.h"

static unsigned bucket(const char *id)
{
	return (unsigned)(XXH3_64bits(id, strlen(id)) % FAM_BUCKETS);
}

struct fam *fam_find(struct tcache *tc, const char *id)
{
	assert(tc_mu_held(tc));
	struct fam *f;

	for (f = tc->tab[bucket(id)]; f; f = f->next)
		if (!strcmp(f->id, id))
			return f;
	return NULL;
}

struct fam *fam_insert(struct tcache *tc, const char *id)
{
	struct fam *f = calloc(1, sizeof(*f));
	unsigned b = bucket(id);

	assert(tc_mu_held(tc));
	assert(!fam_find(tc, id));
	if (!f)
		return NULL;
	snprintf(f->id, sizeof(f->id), "%s", id);
	/* Writers first: a steady stream of writes must not starve the snapshot. */
	tfs_rwlock_init(&f->wlock);
	tfs_rwlock_rank(&f->wlock, RANK_FAM_WLOCK);
	tfs_mutex_init(&f->dirty_mu);
	tfs_mutex_rank(&f->dirty_mu, RANK_FAM_DIRTY);
	f->fd = -1;
	f->next = tc->tab[b];
	tc->tab[b] = f;
	tc->nfam++;
	return f;
}

void fam_remove(struct tcache *tc, struct fam *fam)
{
	struct fam **pp;

	assert(tc_mu_held(tc));
	/* a family leaves the table in FAM_ABSENT, or at teardown */
	assert(fam->state == FAM_ABSENT || tc->stopping);

	for (pp = &tc->tab[bucket(fam->id)]; *pp; pp = &(*pp)->next) {
		if (*pp == fam) {
			*pp = fam->next;
			tc->nfam--;
			break;
		}
	}
	if (fam->fd >= 0)
		close(fam->fd);
	tfs_rwlock_destroy(&fam->wlock);
	tfs_mutex_destroy(&fam->dirty_mu);
	free(fam);
	pthread_cond_broadcast(&tc->fam_cond);
}

/* How long a request waits for another thread to be done with a family: 20
 * minutes of 50 ms waits on tc->fam_cond (a count, not the injectable
 * clock, bounds it). */
#define FAM_WAIT_MS  50
#define FAM_WAIT_MAX 24000

/* tc->mu held: waits once for a family to change (fam_cond), *waits counting
 * one caller's waits: 0, or -EBUSY without waiting once they are used up. */
int tc_fam_wait(struct tcache *tc, int *waits)
{
	assert(tc_mu_held(tc));
	if (*waits > FAM_WAIT_MAX)
		return -EBUSY;
	(*waits)++;
	tc_timed_wait(&tc->fam_cond, &tc->mu, FAM_WAIT_MS);
	return 0;
}
