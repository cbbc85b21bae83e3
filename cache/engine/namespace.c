/* The namespace calls on a database and its side files: getattr (the active
 * family, the cached copy, else the catalog item), truncate, and unlink (a
 * tombstone commit under the lease; a side file as a change of the family). */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache/engine/activate_i.h"
#include "cache/engine/cache_i.h"
#include "cache/engine/catgate_i.h"
#include "cache/engine/famtab_i.h"
#include "cache/engine/io_i.h"
#include "cache/engine/itemcache_i.h"
#include "cache/engine/lease_i.h"
#include "cache/engine/namespace_i.h"
#include "cache/engine/writeback_i.h"
#include "s3/base/log.h"

void tc_item_stat(const struct cat_item *it, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFREG | 0644;
	st->st_nlink = 1;
	st->st_size = (off_t)it->size;
	st->st_mtim.tv_sec = it->mtime_ms / 1000;
	st->st_mtim.tv_nsec = (it->mtime_ms % 1000) * 1000000L;
	st->st_ctim = st->st_mtim;
	st->st_atim = st->st_mtim;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((it->size + 511) / 512);
}

int tcache_getattr(struct tcache *tc, const char *id, const char *suffix, struct stat *st)
{
	char path[PATH_MAX];
	struct cat_item item;
	struct state_row row;
	struct fam *fam;
	int rc;

	if (!suffix)
		suffix = "";
	if (!tfs_valid_id(id) || (suffix[0] && !tc_side_suffix_valid(id, suffix)))
		return -EINVAL;
	tc_db_path(tc, id, suffix, path, sizeof(path));
	if (suffix[0])
		return stat(path, st) < 0 ? -errno : 0;

	tfs_mutex_lock(&tc->mu);
	fam = fam_find(tc, id);
	if (fam && fam->unlinked) {
		tfs_mutex_unlock(&tc->mu);
		return -ENOENT;
	}
	if (fam && fam->fd >= 0 && !fam_exclusive(fam)) {
		rc = fstat(fam->fd, st) < 0 ? -errno : 0;
		tfs_mutex_unlock(&tc->mu);
		return rc;
	}
	tfs_mutex_unlock(&tc->mu);

	if (state_get(tc->state, id, &row) == 0 && stat(path, st) == 0)
		return 0;
	rc = tc_item_get(tc, id, &item);
	if (rc < 0)
		return rc;
	if (item.gen == 0 || item.deleted_ms)
		return -ENOENT;
	tc_item_stat(&item, st);
	return 0;
}

int tcache_truncate(struct tcache *tc, const char *id, const char *suffix, off_t size)
{
	struct tfile *f;
	int rc;

	rc = tcache_open(tc, id, suffix, O_RDWR, 0644, &f, NULL);
	if (rc < 0)
		return rc;
	rc = tfile_truncate(f, size);
	tfile_close(f);
	return rc;
}

/* Removes a side file. -shm is shared memory, not content: it goes at once.
 * A journal or -wal is content (a hot journal is what rolls a torn
 * transaction back; a -wal holds commits the main file lacks), so removing
 * one is a change of the family, made under its write lock and lease like a
 * write, and only while a handle of the family is open here: SQLite deletes
 * its journals with the database open, and nothing else has a reason to.
 * Otherwise (closed; or dirty and waiting for its recovery after a restart,
 * when a hot journal is all that makes the copy whole) it is refused with
 * -EBUSY, and the recovery or the next open settles the file as SQLite
 * would. */
static int unlink_side(struct tcache *tc, const char *id, const char *suffix) EXCLUDES(tc->mu)
{
	char path[PATH_MAX];
	struct stat st;
	struct fam *fam;
	int rc, end, waits = 0;

	tc_db_path(tc, id, suffix, path, sizeof(path));
	if (!strcmp(suffix, "-shm"))
		return unlink(path) < 0 ? -errno : 0;
	tfs_mutex_lock(&tc->mu);
	while ((fam = fam_find(tc, id)) && fam_exclusive(fam) && tc_fam_wait(tc, &waits) == 0)
		; /* an opener: wait for it */
	if (fam && fam->nopen > 0 && !fam_exclusive(fam) && atomic_load(&fam->lease_lost)) {
		tfs_mutex_unlock(&tc->mu);
		if (!atomic_exchange(&fam->refuse_logged, true))
			log_err("write to %s refused: the lease was lost (cannot remove %s)", id,
				suffix);
		return -EIO;
	}
	if (!fam || fam_exclusive(fam) || !fam_leased(fam) || fam->fd < 0 || fam->nopen == 0) {
		tfs_mutex_unlock(&tc->mu);
		if (lstat(path, &st) < 0)
			return -errno;
		log_warn("cannot remove %s.db%s: %s.db is not open on this node, and its side "
			 "files are part of its content",
			 id, suffix, id);
		return -EBUSY;
	}
	fam->nopen++; /* pins fam */
	tfs_mutex_unlock(&tc->mu);
	/* Deleting the journal commits a transaction: a change. */
	rc = tc_change_begin(tc, fam);
	if (rc == 0) {
		rc = unlink(path) < 0 ? -errno : 0;
		end = tc_change_end(tc, fam);
		if (rc == 0)
			rc = end;
	}
	tfs_mutex_lock(&tc->mu);
	assert(fam->nopen > 0);
	fam->nopen--;
	tfs_mutex_unlock(&tc->mu);
	return rc;
}

/* The lease an unlink of fam (FAM_UNLINKING) takes when it holds none: the
 * tombstone is committed on *epoch, *base_gen and the hash tomb of the item;
 * the unlink then ends holding the lease, whatever follows. -ENOENT when the
 * catalog has no live version and no local copy exists either. */
static int unlink_lease(struct tcache *tc, struct fam *fam, uint64_t *epoch, uint64_t *base_gen,
			char tomb[CAT_HASH_HEX + 1]) EXCLUDES(tc->mu)
{
	struct state_row row;
	struct cat_item item;
	int rc;

	memset(&item, 0, sizeof(item));
	rc = lease_acquire(tc, fam->id, tc->opt.lease_wait_ms, &item, NULL);
	if (rc < 0)
		return rc;
	*epoch = item.epoch;
	*base_gen = item.gen;
	snprintf(tomb, CAT_HASH_HEX + 1, "%s", item.hash);
	tfs_mutex_lock(&tc->mu);
	fam_took_lease(tc, fam, &item, *base_gen, tomb);
	tfs_mutex_unlock(&tc->mu);
	if ((item.gen == 0 || item.deleted_ms) && state_get(tc->state, fam->id, &row) < 0)
		return -ENOENT;
	return 0;
}

/* Waits out a busy family and puts it in the exclusive FAM_UNLINKING
 * phase (keeps write-back, release and openers away), tc->mu taken and
 * released here. When this node holds its lease, *mine is set with the
 * lease's epoch, base gen and hash. 0, -EBUSY, -ENOENT or -ENOMEM (no
 * phase entered). */
static int unlink_begin(struct tcache *tc, const char *id, struct fam **out, bool *mine,
			uint64_t *epoch, uint64_t *base_gen, char tomb[CAT_HASH_HEX + 1])
    EXCLUDES(tc->mu)
{
	struct fam *fam;
	int waits = 0;

	tfs_mutex_lock(&tc->mu);
	while ((fam = fam_find(tc, id)) && fam_state_busy(fam->state)) {
		if (tc_fam_wait(tc, &waits) < 0) {
			tfs_mutex_unlock(&tc->mu);
			return -EBUSY;
		}
	}
	if (fam && fam->unlinked) {
		tfs_mutex_unlock(&tc->mu);
		return -ENOENT;
	}
	if (!fam) {
		fam = fam_insert(tc, id);
		if (!fam) {
			tfs_mutex_unlock(&tc->mu);
			return -ENOMEM;
		}
	}
	if (fam_leased(fam) && !atomic_load(&fam->lease_lost)) {
		*mine = true;
		*epoch = fam->epoch;
		*base_gen = fam->base_gen;
		snprintf(tomb, CAT_HASH_HEX + 1, "%s", fam->base_hash);
	}
	fam_set(tc, fam, FAM_UNLINKING, FEV_UNLINK);
	tfs_mutex_unlock(&tc->mu);
	*out = fam;
	return 0;
}

/* Inside the catalog gate: takes the lease when this node did not hold it
 * and commits the tombstone (*cm) over base_gen. 0 or -errno (logged when
 * the commit failed; -ESTALE marks the lease lost). */
static int unlink_commit(struct tcache *tc, struct fam *fam, const char *id, bool mine,
			 uint64_t epoch, uint64_t base_gen, char tomb[CAT_HASH_HEX + 1],
			 struct cat_commit *cm) EXCLUDES(tc->mu)
{
	long saved = 0;
	int rc;

	rc = tc_gate_enter(tc, "unlink", id, &saved);
	if (rc < 0)
		return rc;
	if (!mine && (rc = unlink_lease(tc, fam, &epoch, &base_gen, tomb)) < 0) {
		tc_gate_leave(tc, saved);
		return rc;
	}
	/* A tombstone keeps the last version's hash (history stays
	 * readable); one never committed has none, and both catalogs store
	 * and read back an empty hash. */
	cm->new_gen = base_gen + 1;
	cm->hash = tomb;
	cm->size = 0;
	cm->mtime_ms = tc_now(tc);
	cm->deleted = true;
	rc = tc->cat->ops->commit(tc->cat, id, tc->node, epoch, base_gen, cm);
	tc_item_forget(tc, id);
	tc_gate_leave(tc, saved);
	if (rc < 0) {
		log_err("cannot delete %s: commit of the tombstone: %s", id, strerror(-rc));
		if (rc == -ESTALE)
			atomic_store(&fam->lease_lost, true);
	}
	return rc;
}

/* After the tombstone landed: nothing of this family is published again. */
static void unlink_discard(struct tcache *tc, struct fam *fam, const char *id,
			   const struct cat_commit *cm) EXCLUDES(tc->mu)
{
	atomic_fetch_add(&tc->st.commits, 1);
	tc_record_commit(tc, id, cm);
	log_info("deleted %s (tombstone gen %llu)", id, (unsigned long long)cm->new_gen);
	tfs_rwlock_wrlock(&fam->wlock);
	atomic_store(&fam->dirty, false);
	tfs_rwlock_unlock(&fam->wlock);
	state_del(tc->state, id);
	tfs_mutex_lock(&tc->mu);
	fam->base_gen = cm->new_gen;
	fam->base_hash[0] = '\0';
	fam->unlinked = true;
	tfs_mutex_unlock(&tc->mu);
}

int tcache_unlink(struct tcache *tc, const char *id, const char *suffix)
{
	struct cat_commit cm = {0};
	char tomb[CAT_HASH_HEX + 1] = "";
	struct fam *fam = NULL;
	bool mine = false;
	uint64_t epoch = 0, base_gen = 0;
	int rc;

	if (!suffix)
		suffix = "";
	if (!tfs_valid_id(id) || (suffix[0] && !tc_side_suffix_valid(id, suffix)))
		return -EINVAL;
	if (suffix[0])
		return unlink_side(tc, id, suffix);

	rc = unlink_begin(tc, id, &fam, &mine, &epoch, &base_gen, tomb);
	if (rc < 0)
		return rc;
	rc = unlink_commit(tc, fam, id, mine, epoch, base_gen, tomb, &cm);
	if (rc == 0)
		unlink_discard(tc, fam, id, &cm);
	/* The single end of the FAM_UNLINKING phase. */
	tfs_mutex_lock(&tc->mu);
	fam_end(tc, fam, rc == 0 ? FEV_LEASED : FEV_FAILED);
	pthread_cond_broadcast(&tc->fam_cond);
	pthread_cond_signal(&tc->sched_cond);
	tfs_mutex_unlock(&tc->mu);
	return rc;
}
