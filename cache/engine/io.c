/* Opening a database or a side file (served from the active family, renewed
 * first when overdue, or activated: lease + fault-in) and the per-handle I/O
 * path, where every change takes the family's write lock and checks the lease. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache/engine/activate_i.h"
#include "cache/engine/cache_i.h"
#include "cache/engine/catgate_i.h"
#include "cache/engine/famtab_i.h"
#include "cache/engine/io_i.h"
#include "cache/engine/lease_i.h"
#include "s3/base/log.h"

bool tc_side_suffix_valid(const char *id, const char *suffix)
{
	char name[CAT_ID_MAX + 96], pid[CAT_ID_MAX + 1];
	const char *suf = NULL;

	if (tc_path(name, sizeof(name), "%s.db%s", id, suffix) < 0)
		return false;
	return tfs_parse_name(name, pid, &suf) == NAME_SIDE && !strcmp(pid, id);
}

/* Marks the family dirty, durably, before the first write after a clean
 * state is acknowledged. Called with fam->wlock held shared. */
static int mark_dirty(struct tcache *tc, struct fam *fam) REQUIRES_SHARED(fam->wlock)
{
	int rc = 0;

	tfs_mutex_lock(&fam->dirty_mu);
	if (!atomic_load(&fam->dirty)) {
		rc = state_set_dirty(tc->state, fam->id, true, tc_now(tc));
		/* No row: the database was unlinked while open; its changes
		 * are never published, so there is nothing to recover. */
		if (rc == -ENOENT)
			rc = 0;
		if (rc == 0) {
			atomic_store(&fam->dirty_since, tc_mono(tc));
			atomic_store(&fam->dirty, true);
		} else {
			log_err("cannot mark %s dirty: %s", fam->id, strerror(-rc));
			rc = -EIO;
		}
	}
	tfs_mutex_unlock(&fam->dirty_mu);
	return rc;
}

/* Enters a change of the family: shared write lock, lease check, dirty
 * mark. On 0 the caller changes the file, then calls change_end. */
int tc_change_begin(struct tcache *tc, struct fam *fam)
{
	int rc;

	tfs_rwlock_rdlock(&fam->wlock);
	if (!lease_writable(tc, fam)) {
		if (!atomic_exchange(&fam->refuse_logged, true))
			log_err("write to %s refused: %s", fam->id,
				atomic_load(&fam->lease_lost) ? "the lease was lost"
							      : "the lease renewal is overdue");
		rc = -EIO;
		goto fail;
	}
	if (!atomic_load(&fam->dirty)) {
		rc = mark_dirty(tc, fam);
		if (rc < 0)
			goto fail;
	}
	return 0;
fail:
	tfs_rwlock_unlock(&fam->wlock);
	return rc;
}

/* Leaves a change of the family, checking the lease again. The check in
 * change_begin and the reply to the application are apart by the change
 * itself, which can stall (a paused process, a slow disk) past the lease's
 * local deadline, and by then another node may own the database: such a
 * change is not acknowledged, -EIO.
 *
 * Its bytes are in the cache file all the same, and they stay, like those
 * of a write a failing disk answered with EIO (whose outcome POSIX leaves
 * open): SQLite rolls a hot journal back, and the family goes the way of
 * every change made under this lease. If the lease did move, the renewal or
 * the commit is refused (the epoch changed) and the copy is quarantined,
 * never published. If it did not (the renewal was only late), a renewal at
 * the same epoch proves nobody acquired the lease meanwhile, so no other node
 * served the database while these bytes were written, and publishing them
 * forks nothing. */
int tc_change_end(struct tcache *tc, struct fam *fam)
{
	bool held = lease_writable(tc, fam);

	atomic_fetch_add(&fam->wseq, 1);
	atomic_store(&fam->last_write, tc_mono(tc));
	tfs_rwlock_unlock(&fam->wlock);
	if (held)
		return 0;
	if (!atomic_exchange(&fam->refuse_logged, true))
		log_err("write to %s refused: %s while it was being written", fam->id,
			atomic_load(&fam->lease_lost) ? "the lease was lost"
						      : "the lease renewal fell overdue");
	return -EIO;
}

/* tc->mu held; drops it for the catalog call and takes it again. The open
 * of a family leased here whose renewal is overdue (a pause, a cut-off)
 * renews first, so that it is never served as current a copy another node
 * may have replaced meanwhile: renewed, the copy is current (nobody took the
 * lease); -ESTALE marks the lease lost and the caller takes the lost-lease
 * path (refetch, quarantine of unpublished changes); the catalog
 * unreachable, the caller serves the cached copy (see open_db_gated).
 * fam is pinned by a count in nopen meanwhile, and fam->open_renew makes
 * other opens wait for this one's outcome. */
static void open_renew(struct tcache *tc, struct fam *fam) REQUIRES(tc->mu)
{
	long saved = 0;
	int rc;

	fam->open_renew = true;
	fam->nopen++;
	tfs_mutex_unlock(&tc->mu);
	rc = tc_gate_enter(tc, "open", fam->id, &saved);
	if (rc == 0) {
		rc = lease_renew(tc, fam);
		tc_gate_leave(tc, saved);
	}
	if (rc < 0 && rc != -ESTALE)
		log_warn("open of %s serves the cached copy: its lease renewal is overdue and "
			 "the catalog did not answer (%s); writes stay refused until a renewal "
			 "succeeds",
			 fam->id, strerror(-rc));
	tfs_mutex_lock(&tc->mu);
	assert(fam->nopen > 0);
	fam->nopen--;
	fam->open_renew = false;
	pthread_cond_broadcast(&tc->fam_cond);
}

/* tc->mu held, and released on return: activates fam (settled, or new in
 * FAM_ABSENT) for an open, which holds it in FAM_OPENING meanwhile; on 0 tf
 * has a handle of it and *kc says whether the kernel may keep its pages. */
static int open_activate(struct tcache *tc, struct fam *fam, int flags, struct tfile *tf, bool *kc)
    RELEASE(tc->mu)
{
	bool fresh = false;
	int rc;

	fam_set(tc, fam, FAM_OPENING, FEV_OPEN);
	tfs_mutex_unlock(&tc->mu);

	rc = tc_fam_activate(tc, fam, flags, true, &fresh);

	tfs_mutex_lock(&tc->mu);
	fam_end(tc, fam, rc == 0 ? FEV_LEASED : FEV_FAILED);
	if (rc == 0) {
		fam->nopen++;
		tf->fd = fam->fd;
		tf->fam = fam;
		if (fresh)
			fam->replaced = true;
		fresh = fam->replaced;
	}
	pthread_cond_broadcast(&tc->fam_cond);
	pthread_cond_signal(&tc->sched_cond);
	tfs_mutex_unlock(&tc->mu);
	*kc = !fresh;
	return rc;
}

/* Gives back the count in fam->nopen an open took, when it fails after all
 * (its handle is never returned): the family lingers from now. */
static void unpin(struct tcache *tc, struct fam *fam)
{
	tfs_mutex_lock(&tc->mu);
	assert(fam->nopen > 0);
	fam->nopen--;
	fam->last_close = tc_mono(tc);
	tfs_mutex_unlock(&tc->mu);
}

/* O_TRUNC of an open handle tf of fam: a change; on failure the handle's
 * count is given back (the caller frees tf). */
static int open_truncate(struct tcache *tc, struct fam *fam, struct tfile *tf)
{
	int rc, end;

	rc = tc_change_begin(tc, fam);
	if (rc == 0) {
		if (ftruncate(tf->fd, 0) < 0)
			rc = -errno;
		end = tc_change_end(tc, fam);
		if (rc == 0)
			rc = end;
	}
	if (rc < 0)
		unpin(tc, fam);
	return rc;
}

/* tc->mu held throughout (dropped and taken again around each wait, gate
 * call and renewal). Waits until the family of id can be served as it is,
 * or activated: a loop that re-reads the family after every wait or
 * dropped lock, with the gate place, the one renewal and the wait budget
 * carried across its turns. 0 with *out the family (NULL: none, a new one
 * is needed), or -errno.
 *
 * *gated: the caller holds a place at the catalog gate when it returns
 * (saved is the budget to restore): it waited on another opener's lease
 * acquire, which is waiting on the catalog as much as its own would be. */
static int open_wait_settled(struct tcache *tc, const char *id, struct fam **out, bool *gated,
			     long *saved) REQUIRES(tc->mu)
{
	struct fam *fam;
	int64_t waited = 0;   /* mono ms we began waiting on another's acquire */
	bool renewed = false; /* this open renewed the lease (open_renew) */
	bool acquiring;	      /* fam is opening and its lease acquire is in flight */
	int rc, waits = 0;

	for (;;) {
		if (tc->stopping || tc->shutting_down)
			return -ESHUTDOWN;
		if (waited && (rc = tc_gate_failed(tc, id, waited)) < 0) {
			/* The acquire we waited on failed: so do we, at once,
			 * rather than asking the catalog again one after the other
			 * (the family may even be gone from the table by now). */
			return rc;
		}
		fam = fam_find(tc, id);
		if (!fam)
			break; /* none: the open activates a new one */
		acquiring = fam->state == FAM_OPENING && fam->acquiring;
		if (acquiring && !*gated) {
			tfs_mutex_unlock(&tc->mu);
			rc = tc_gate_enter(tc, "open", id, saved);
			tfs_mutex_lock(&tc->mu);
			if (rc < 0)
				return rc;
			*gated = true;
			continue; /* fam may have changed meanwhile */
		}
		if (*gated && !acquiring) {
			/* Not waiting on the catalog (any more): a fault-in or a
			 * write-back may take long, and holds no place. */
			tfs_mutex_unlock(&tc->mu);
			tc_gate_leave(tc, *saved);
			tfs_mutex_lock(&tc->mu);
			*gated = false;
			continue;
		}
		if (acquiring && !waited)
			waited = tc_mono(tc);
		if (fam_exclusive(fam) || fam->state == FAM_RELEASING || fam->open_renew) {
			/* wait */
		} else if (fam->nopen > 0 && (atomic_load(&fam->lease_lost) || fam->unlinked)) {
			log_err("cannot open %s: %s, close its open handles first", id,
				fam->unlinked ? "it was deleted" : "its lease was lost");
			return fam->unlinked ? -ENOENT : -EIO;
		} else if (fam->unlinked) {
			/* wait for the release job to drop it */
		} else if (fam_leased(fam) && !atomic_load(&fam->lease_lost) && fam->fd >= 0) {
			/* Served at once while writes would be accepted (the lease
			 * is current) or the catalog is known to be out of reach
			 * (reads go on during an outage: the cached view, possibly
			 * stale if another node took the lease meanwhile; writes
			 * stay refused). Otherwise renew first, once. */
			if (renewed || lease_writable(tc, fam) || lease_cut_off(tc))
				break;
			open_renew(tc, fam);
			renewed = true;
			continue; /* lost, renewed or cut off: look again */
		} else if (!fam_job(fam) && fam->nopen == 0) {
			break; /* settled, not served as it is: take the lease */
		}
		if ((rc = tc_fam_wait(tc, &waits)) < 0)
			return rc;
	}
	*out = fam;
	return 0;
}

/* Opens the database id: served as it is, or activated (see
 * open_wait_settled for *gated and *saved). */
static int open_db_gated(struct tcache *tc, const char *id, int flags, struct tfile *tf, bool *kc,
			 bool *gated, long *saved)
{
	struct fam *fam;
	int rc;

	tfs_mutex_lock(&tc->mu);
	rc = open_wait_settled(tc, id, &fam, gated, saved);
	if (rc < 0)
		goto unlock;
	if (fam && fam_leased(fam) && !atomic_load(&fam->lease_lost) && fam->fd >= 0) {
		if ((flags & O_CREAT) && (flags & O_EXCL)) {
			rc = -EEXIST;
			goto unlock;
		}
		fam->nopen++;
		tf->fd = fam->fd;
		tf->fam = fam;
		*kc = !fam->replaced;
		tfs_mutex_unlock(&tc->mu);
		rc = 0;
		goto opened;
	}
	if (!fam) {
		fam = fam_insert(tc, id);
		if (!fam) {
			rc = -ENOMEM;
			goto unlock;
		}
	}
	rc = open_activate(tc, fam, flags, tf, kc); /* drops tc->mu */
	if (rc < 0)
		return rc;
opened:
	/* The LRU time was written by the activation or the last write-back:
	 * a shared open costs no state database write. */
	if (flags & O_TRUNC) {
		*kc = false;
		return open_truncate(tc, fam, tf);
	}
	return 0;
unlock:
	tfs_mutex_unlock(&tc->mu);
	return rc;
}

static int open_db(struct tcache *tc, const char *id, int flags, struct tfile *tf, bool *kc)
{
	bool gated = false;
	long saved = 0;
	int rc;

	rc = open_db_gated(tc, id, flags, tf, kc, &gated, &saved);
	if (gated)
		tc_gate_leave(tc, saved);
	return rc;
}

static int open_side(struct tcache *tc, const char *id, const char *suffix, int flags, mode_t mode,
		     struct tfile *tf)
{
	char path[PATH_MAX];
	struct fam *fam;
	int fd, rc, end;

	tfs_mutex_lock(&tc->mu);
	fam = fam_find(tc, id);
	if (fam && fam->nopen > 0 && !fam_exclusive(fam) && atomic_load(&fam->lease_lost)) {
		/* Still open here, but another node owns it now: SQLite's
		 * journal is a write like any other, refused the same way. */
		if (!atomic_exchange(&fam->refuse_logged, true))
			log_err("write to %s refused: the lease was lost (cannot open %s)", id,
				suffix);
		tfs_mutex_unlock(&tc->mu);
		return -EIO;
	}
	if (!fam || fam_exclusive(fam) || !fam_leased(fam) || fam->fd < 0 || fam->unlinked) {
		tfs_mutex_unlock(&tc->mu);
		return (flags & O_CREAT) ? -EPERM : -ENOENT;
	}
	fam->nopen++; /* pins fam while we open the file */
	tfs_mutex_unlock(&tc->mu);

	tc_db_path(tc, id, suffix, path, sizeof(path));
	tf->is_shm = !strcmp(suffix, "-shm");
	if ((flags & (O_CREAT | O_TRUNC)) && !tf->is_shm) {
		/* Creating or truncating a journal changes the family. */
		rc = tc_change_begin(tc, fam);
		if (rc != 0)
			goto fail;
		fd = open(path, (flags & ~O_ACCMODE) | O_RDWR | O_CLOEXEC, mode ? mode : 0644);
		rc = fd < 0 ? -errno : 0;
		end = tc_change_end(tc, fam);
		if (rc == 0 && end < 0) {
			close(fd);
			rc = end;
		}
	} else {
		fd = open(path, (flags & ~O_ACCMODE) | O_RDWR | O_CLOEXEC, mode ? mode : 0644);
		rc = fd < 0 ? -errno : 0;
	}
	if (rc < 0)
		goto fail;
	tf->fd = fd;
	tf->fam = fam;
	return 0;
fail:
	unpin(tc, fam);
	return rc;
}

int tcache_open(struct tcache *tc, const char *id, const char *suffix, int flags, mode_t mode,
		struct tfile **out, bool *keep_cache)
{
	struct tfile *tf;
	bool kc = false;
	int rc;

	*out = NULL;
	if (keep_cache)
		*keep_cache = false;
	if (!suffix)
		suffix = "";
	if (!tfs_valid_id(id))
		return -EINVAL;
	if (suffix[0] && !tc_side_suffix_valid(id, suffix))
		return -EINVAL;
	tf = calloc(1, sizeof(*tf));
	if (!tf)
		return -ENOMEM;
	tf->tc = tc;
	tf->fd = -1;
	tf->is_db = !suffix[0];
	snprintf(tf->suffix, sizeof(tf->suffix), "%s", suffix);
	if (tf->is_db)
		rc = open_db(tc, id, flags, tf, &kc);
	else
		rc = open_side(tc, id, suffix, flags, mode, tf);
	if (rc < 0) {
		free(tf);
		return rc;
	}
	atomic_fetch_add(&tc->st.opens, 1);
	if (keep_cache)
		*keep_cache = tf->is_db && kc;
	*out = tf;
	return 0;
}

ssize_t tfile_read(struct tfile *f, void *buf, size_t size, off_t off)
{
	ssize_t n;

	do
		n = pread(f->fd, buf, size, off);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

/* A write the cache disk refuses (ENOSPC, EIO) goes back to the application
 * as it is, and SQLite reports it; the log says which database it was, at
 * most once a second so that an application retrying cannot flood it. */
static void write_failed(struct tfile *f, int err)
{
	static _Atomic int64_t last = INT64_MIN / 2;
	int64_t now = tc_mono(f->tc), prev = atomic_load(&last);

	if (now - prev < 1000 || !atomic_compare_exchange_strong(&last, &prev, now))
		return;
	log_err("cannot write %s.db%s: %s", f->fam->id, f->suffix, strerror(err));
}

ssize_t tfile_write(struct tfile *f, const void *buf, size_t size, off_t off)
{
	ssize_t n;
	int rc;

	if (f->is_shm) {
		do
			n = pwrite(f->fd, buf, size, off);
		while (n < 0 && errno == EINTR);
		return n < 0 ? -errno : n;
	}
	rc = tc_change_begin(f->tc, f->fam);
	if (rc != 0)
		return rc;
	do
		n = pwrite(f->fd, buf, size, off);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		n = -errno;
		write_failed(f, (int)-n);
	}
	rc = tc_change_end(f->tc, f->fam);
	return n >= 0 && rc < 0 ? rc : n;
}

int tfile_truncate(struct tfile *f, off_t size)
{
	int rc, end;

	if (f->is_shm)
		return ftruncate(f->fd, size) < 0 ? -errno : 0;
	rc = tc_change_begin(f->tc, f->fam);
	if (rc != 0)
		return rc;
	if (ftruncate(f->fd, size) < 0)
		rc = -errno;
	end = tc_change_end(f->tc, f->fam);
	return rc == 0 ? end : rc;
}

int tfile_fsync(struct tfile *f, int datasync)
{
	int r;

	do
		r = datasync ? fdatasync(f->fd) : fsync(f->fd);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}

int tfile_fstat(struct tfile *f, struct stat *st)
{
	return fstat(f->fd, st) < 0 ? -errno : 0;
}

int tfile_close(struct tfile *f)
{
	struct tcache *tc;
	struct fam *fam;

	if (!f)
		return 0;
	tc = f->tc;
	fam = f->fam;
	if (!f->is_db && f->fd >= 0)
		close(f->fd);
	tfs_mutex_lock(&tc->mu);
	assert(fam->nopen > 0);
	fam->nopen--;
	fam->last_close = tc_mono(tc);
	if (fam->nopen == 0) {
		fam->replaced = false;
		tc->evict_due = true;
		pthread_cond_signal(&tc->sched_cond);
	}
	tfs_mutex_unlock(&tc->mu);
	free(f);
	return 0;
}
