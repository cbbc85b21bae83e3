/* Activation: taking the lease of a family for an open or a recovery and
 * reconciling the cached copy with the catalog item (recon.h decides; this
 * carries it out: serve, fetch with hash check, create, quarantine). */
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
#include "cache/engine/itemcache_i.h"
#include "cache/engine/lease_i.h"
#include "cache/engine/recon.h"
#include "cache/engine/writeback_i.h"
#include "s3/base/fsutil.h"
#include "s3/base/hash.h"
#include "s3/base/log.h"

/* Whether fd starts with SQLite's 16-byte magic "SQLite format 3\0". */
static bool sqlite_magic(int fd)
{
	static const char magic[] = "SQLite format 3";
	char buf[sizeof(magic)];

	return pread(fd, buf, sizeof(buf), 0) == (ssize_t)sizeof(buf) &&
	       !memcmp(buf, magic, sizeof(buf));
}

/* GETs the committed version of item into tmp/, verifies its hash and
 * renames it over the cached copy. The old copy is untouched on error. */
static int fault_in(struct tcache *tc, const struct cat_item *item, struct state_row *row)
    EXCLUDES(tc->mu)
{
	char key[1024], tmp[PATH_MAX], dst[PATH_MAX], hash[CAT_HASH_HEX + 1];
	struct store_info info;
	uint64_t size = 0;
	int fd = -1, rc;

	tc_key(tc, item->id, item->hash, key, sizeof(key));
	tc_path(tmp, sizeof(tmp), "%s/%s.%llu.get", tc->dir_tmp, item->id,
		(unsigned long long)atomic_fetch_add(&tc->seq, 1));
	tc_db_path(tc, item->id, "", dst, sizeof(dst));
	fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		log_err("cannot fetch %s: %s: %s", item->id, tmp, strerror(-rc));
		goto out;
	}
	rc = tc->store->ops->get(tc->store, key, fd, &info);
	if (rc < 0) {
		log_err("cannot fetch %s (gen %llu): get %s: %s", item->id,
			(unsigned long long)item->gen, key, strerror(-rc));
		/* The catalog says it exists: a missing object is an I/O error,
		 * not "no such file". */
		if (rc == -ENOENT)
			rc = -EIO;
		goto out;
	}
	rc = tfs_hash_fd(fd, hash, &size);
	if (rc < 0) {
		log_err("cannot fetch %s: hash: %s", item->id, strerror(-rc));
		goto out;
	}
	if (strcmp(hash, item->hash) != 0) {
		log_err("cannot fetch %s (gen %llu): object %s has hash %s, expected %s", item->id,
			(unsigned long long)item->gen, key, hash, item->hash);
		rc = -EIO;
		goto out;
	}
	if (fchmod(fd, 0644) < 0 || fsync(fd) < 0) {
		rc = -errno;
		log_err("cannot fetch %s: fsync: %s", item->id, strerror(-rc));
		goto out;
	}
	tc_remove_local(tc, item->id, true);
	if (rename(tmp, dst) < 0) {
		rc = -errno;
		log_err("cannot fetch %s: rename into the cache: %s", item->id, strerror(-rc));
		goto out;
	}
	tmp[0] = '\0';
	fs_fsync_dir(tc->dir_db);
	row->base_gen = item->gen;
	snprintf(row->base_hash, sizeof(row->base_hash), "%s", item->hash);
	row->dirty = false;
	row->dirty_since = 0;
	row->size = size;
	row->error[0] = '\0';
	if (size > 0 && !sqlite_magic(fd)) {
		/* Not committed by tenantfs, whose versions all passed
		 * quick_check: served as stored (it can still be copied out,
		 * overwritten or unlinked), and said loudly. */
		log_warn("%s (gen %llu): object %s is not a SQLite database", item->id,
			 (unsigned long long)item->gen, key);
		snprintf(row->error, sizeof(row->error), "gen %llu is not a SQLite database",
			 (unsigned long long)item->gen);
	}
	atomic_fetch_add(&tc->st.faults, 1);
	atomic_fetch_add(&tc->st.fault_bytes, size);
out:
	if (fd >= 0)
		close(fd);
	if (tmp[0])
		unlink(tmp);
	return rc;
}

/* Hashes the cached copy of id; "" on any error. */
static void hash_local(struct tcache *tc, const char *id, char out[CAT_HASH_HEX + 1])
{
	char path[PATH_MAX];
	int fd;

	out[0] = '\0';
	tc_db_path(tc, id, "", path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (tfs_hash_fd(fd, out, NULL) < 0)
		out[0] = '\0';
	close(fd);
}

/* tc->mu held: the busy state of fam took the lease of item (lease_acquire),
 * its copy based on base_gen/base_hash: it ends HELD, at the item's epoch
 * and session, lingering from now. */
void fam_took_lease(struct tcache *tc, struct fam *fam, const struct cat_item *item,
		    uint64_t base_gen, const char *base_hash)
{
	assert(tc_mu_held(tc));
	assert(fam_state_busy(fam->state));
	fam->resume = FAM_HELD;
	fam_saw_item(fam, item);
	fam->base_gen = base_gen;
	snprintf(fam->base_hash, sizeof(fam->base_hash), "%s", base_hash);
	fam->last_close = tc_mono(tc);
	lease_set_held(tc, fam, item);
}

/* Asks recon_decide (cache/engine/recon.h) what to do with the cached copy of id,
 * answering its questions from the state database and the local file. */
static void reconcile(struct tcache *tc, const char *id, const struct state_row *row, bool have_row,
		      bool have_file, const struct cat_item *item, int flags, bool fault,
		      struct recon_out *out) EXCLUDES(tc->mu)
{
	char h[CAT_HASH_HEX + 1];
	struct recon_in in = {
	    .have_row = have_row,
	    .dirty = have_row && row->dirty,
	    .base_gen = row->base_gen,
	    .base_hash = row->base_hash,
	    .have_file = have_file,
	    .gen = item->gen,
	    .hash = item->hash,
	    .deleted = item->deleted_ms != 0,
	    .pending = -1,
	    .open = fault,
	    .creat = (flags & O_CREAT) != 0,
	    .excl = (flags & O_EXCL) != 0,
	};
	int i;

	/* At most one question of each kind (tests/unit/test_recon.c). */
	for (i = 0; i < 3; i++) {
		recon_decide(&in, out);
		if (out->then == RECON_ASK_PENDING) {
			in.pending = state_has_pending(tc->state, id, item->gen, item->hash) == 1;
		} else if (out->then == RECON_ASK_HASH) {
			hash_local(tc, id, h);
			in.local_hash = h;
		} else {
			return;
		}
	}
	assert(!"recon_decide kept asking");
}

/* Creates the empty cache file of a new database (O_CREAT of an id nobody
 * has), dirty at item's gen: 0 with *fd open, or -errno (logged). */
static int create_local(struct tcache *tc, const char *id, const char *path,
			const struct cat_item *item, struct state_row *row, int *fd)
    EXCLUDES(tc->mu)
{
	int rc;

	tc_remove_local(tc, id, true);
	*fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (*fd < 0) {
		rc = -errno;
		log_err("cannot create %s: %s", path, strerror(-rc));
		return rc;
	}
	fs_fsync_dir(tc->dir_db);
	row->base_gen = item->gen;
	row->base_hash[0] = '\0';
	row->dirty = true;
	row->dirty_since = tc_now(tc);
	row->size = 0;
	return 0;
}

/* The lease acquire of an activation: an open's (fault) enters the catalog
 * gate and marks fam acquiring, so that opens waiting on it share its
 * outcome; a recovery job's does neither and does not wait for a holder. */
static int activate_lease(struct tcache *tc, struct fam *fam, bool fault, struct cat_item *item)
    EXCLUDES(tc->mu)
{
	long saved = 0;
	int rc;

	if (fault && (rc = tc_gate_enter(tc, "open", fam->id, &saved)) < 0)
		return rc;
	if (fault) {
		tfs_mutex_lock(&tc->mu);
		fam->acquiring = true;
		tfs_mutex_unlock(&tc->mu);
	}
	rc = lease_acquire(tc, fam->id, fault ? tc->opt.lease_wait_ms : 0, item, NULL);
	if (fault) {
		tc_gate_leave(tc, saved);
		if (rc < 0)
			tc_gate_note_failed(tc, fam->id, rc);
		tfs_mutex_lock(&tc->mu);
		fam->acquiring = false;
		tfs_mutex_unlock(&tc->mu);
	}
	return rc;
}

/* The end of a successful activation: fam holds the lease of item with the
 * copy row describes (fd its cache file, -1 when none), writable and due
 * for nothing yet. */
static void activated(struct tcache *tc, struct fam *fam, const struct cat_item *item,
		      const struct state_row *row, int fd) EXCLUDES(tc->mu)
{
	tfs_mutex_lock(&tc->mu);
	fam_took_lease(tc, fam, item, row->base_gen, row->base_hash);
	if (fam->fd >= 0 && fam->fd != fd)
		close(fam->fd);
	fam->fd = fd;
	fam->retry_at = 0;
	fam->backoff_ms = 0;
	fam->want = false;
	fam->unlinked = false;
	fam->check_failed = false;
	/* Commits of an older epoch can no longer land: this acquisition
	 * moved the epoch. Those that did were settled by the reconciliation. */
	fam->pending = false;
	snprintf(fam->error, sizeof(fam->error), "%s", row->error);
	atomic_store(&fam->dirty, row->dirty);
	atomic_store(&fam->lease_lost, false);
	atomic_store(&fam->last_write, tc_mono(tc));
	atomic_store(&fam->dirty_since, tc_mono(tc));
	tfs_mutex_unlock(&tc->mu);
}

/* What the reconciliation says of the local copy before it is served: the
 * base moves onto our own landed commit (rebase), or the dirty copy goes to
 * quarantine (quar gets its folder, for user.tenantfs.quarantine). */
static void settle_local(struct tcache *tc, struct fam *fam, const struct cat_item *item,
			 const struct recon_out *rd, struct state_row *row, char *quar, size_t cap)
    EXCLUDES(tc->mu)
{
	if (rd->rebase) {
		/* One of our own commits landed just before a crash: rebase on
		 * it and keep the copy dirty (it may hold later writes). */
		if (rd->rebase_by_hash)
			log_info("%s: local copy matches committed gen %llu", fam->id,
				 (unsigned long long)item->gen);
		else
			log_info("%s: gen %llu is our own last commit", fam->id,
				 (unsigned long long)item->gen);
		row->base_gen = item->gen;
		snprintf(row->base_hash, sizeof(row->base_hash), "%s", item->hash);
	}
	if (rd->quarantine) {
		tfs_mutex_lock(&tc->mu);
		fam_saw_item(fam, item);
		tfs_mutex_unlock(&tc->mu);
		tc_quarantine(tc, fam, "another node committed a newer version meanwhile");
		/* Keep its folder in the row below: user.tenantfs.quarantine. */
		if (state_get(tc->state, fam->id, row) == 0)
			snprintf(quar, cap, "%s", row->quarantine);
	}
}

/* An activation failed after its lease acquire: give the lease back (an
 * open's release is a FUSE request's catalog call, through the gate). */
static void activate_failed(struct tcache *tc, struct fam *fam, const struct cat_item *item,
			    bool fault) EXCLUDES(tc->mu)
{
	long saved = 0;

	tfs_mutex_lock(&tc->mu);
	fam_saw_item(fam, item);
	tfs_mutex_unlock(&tc->mu);
	if (!fault)
		lease_release(tc, fam);
	else if (tc_gate_enter(tc, "release", fam->id, &saved) == 0) {
		lease_release(tc, fam);
		tc_gate_leave(tc, saved);
	}
	/* else the lease runs out by itself after lease_ttl */
}

/*
 * Takes the lease of fam and reconciles the cached copy with the catalog
 * item: serve the cached copy, serve a dirty copy based on the current gen,
 * quarantine a dirty copy overtaken by another node's commit, create a new
 * database (O_CREAT), or (fault) GET the committed version. The caller put
 * fam in FAM_OPENING (or FAM_RECOVERING: !fault), so nobody else touches fam
 * meanwhile. On success fam->resume is FAM_HELD (the caller ends the busy
 * state), with fam->fd open (unless there is no local copy and !fault);
 * *fresh says the content changed under the kernel's page cache.
 */
int tc_fam_activate(struct tcache *tc, struct fam *fam, int flags, bool fault, bool *fresh)
{
	struct cat_item item;
	struct state_row row;
	char path[PATH_MAX], quar[PATH_MAX] = "";
	struct recon_out rd;
	struct stat sb;
	bool have_row;
	int rc, fd = -1;

	*fresh = false;
	memset(&item, 0, sizeof(item));
	tfs_mutex_lock(&tc->mu);
	assert(fam->state == (fault ? FAM_OPENING : FAM_RECOVERING));
	tfs_mutex_unlock(&tc->mu);
	rc = activate_lease(tc, fam, fault, &item);
	if (rc < 0)
		return rc;
	tc_item_forget(tc, fam->id);
	tc_db_path(tc, fam->id, "", path, sizeof(path));
	rc = state_get(tc->state, fam->id, &row);
	if (rc < 0 && rc != -ENOENT)
		goto fail;
	have_row = rc == 0;
	if (!have_row) {
		memset(&row, 0, sizeof(row));
		snprintf(row.id, sizeof(row.id), "%s", fam->id);
	}
	reconcile(tc, fam->id, &row, have_row, stat(path, &sb) == 0, &item, flags, fault, &rd);
	settle_local(tc, fam, &item, &rd, &row, quar, sizeof(quar));
	if (rd.keep == RECON_KEEP_NONE) {
		memset(&row, 0, sizeof(row));
		snprintf(row.id, sizeof(row.id), "%s", fam->id);
	}
	switch (rd.then) {
	case RECON_FAIL: rc = rd.err; goto fail;
	case RECON_FETCH:
		rc = fault_in(tc, &item, &row);
		if (rc < 0)
			goto fail;
		*fresh = true;
		break;
	case RECON_CREATE:
		rc = create_local(tc, fam->id, path, &item, &row, &fd);
		if (rc < 0)
			goto fail;
		*fresh = true;
		break;
	case RECON_LEASE_ONLY:
		/* Recovery found nothing to keep: forget the row, unless it
		 * names what it just quarantined. */
		if (!quar[0])
			state_del(tc->state, fam->id);
		goto lease_only;
	default: break; /* RECON_SERVE */
	}
	if (fd < 0) {
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			rc = -errno;
			log_err("cannot open %s: %s", path, strerror(-rc));
			goto fail;
		}
	}
	row.epoch = item.epoch;
	row.atime = tc_now(tc);
	snprintf(row.quarantine, sizeof(row.quarantine), "%s", quar);
	rc = state_put(tc->state, &row);
	if (rc < 0)
		goto fail;

lease_only:
	activated(tc, fam, &item, &row, fd);
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	activate_failed(tc, fam, &item, fault);
	return rc;
}
