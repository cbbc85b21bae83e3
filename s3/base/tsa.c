/* The run-time half of s3/base/tsa.h: the ranked locks each thread holds,
 * and the lock-order check. */
#include "s3/base/tsa.h"

#include <assert.h>

#include "s3/base/log.h"

/* The ranks this thread holds, in the order taken (a few at a time: the
 * engine nests at most five). */
static _Thread_local struct {
	int rank[TFS_RANK_HELD_MAX];
	int n;
} held;

void tfs_rank_held(int rank)
{
	assert(held.n < TFS_RANK_HELD_MAX);
	if (held.n < TFS_RANK_HELD_MAX)
		held.rank[held.n++] = rank;
}

void tfs_rank_take(int rank)
{
	int i;

	for (i = 0; i < held.n; i++)
		if (held.rank[i] >= rank) {
			log_err("lock order: rank %d taken while rank %d is held", rank,
				held.rank[i]);
			assert(!"a lock taken out of order (see its module's lock ranks)");
			break;
		}
	tfs_rank_held(rank);
}

void tfs_rank_drop(int rank)
{
	int i;

	for (i = held.n - 1; i >= 0; i--)
		if (held.rank[i] == rank) {
			for (; i + 1 < held.n; i++)
				held.rank[i] = held.rank[i + 1];
			held.n--;
			return;
		}
	assert(!"a ranked lock given back that this thread does not hold");
}

int tfs_rank_depth(void)
{
	return held.n;
}
