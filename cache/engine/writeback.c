/* The jobs the scheduler (sched.c) queues for a family: write-back (snapshot,
 * check, upload, commit, with the settling of commits whose outcome is
 * unknown), quarantine, release, recovery, and the LRU eviction. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache/engine/activate_i.h"
#include "cache/engine/cache_i.h"
#include "cache/engine/famtab_i.h"
#include "cache/engine/itemcache_i.h"
#include "cache/engine/lease_i.h"
#include "cache/engine/snapshot_i.h"
#include "cache/engine/writeback_i.h"
#include "cache/store/keys.h"
#include "cache/store/verrec.h"
#include "s3/base/fsutil.h"
#include "s3/base/log.h"

#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 60000
#define EVICT_BATCH    32

void tc_key(struct tcache *tc, const char *id, const char *hash, char *buf, size_t cap)
{
	struct key_layout l = {.prefix = tc->key_prefix, .shard_keys = tc->opt.shard_keys};

	key_version(&l, id, hash, buf, cap);
}

void tc_record_commit(struct tcache *tc, const char *id, const struct cat_commit *cm)
{
	struct key_layout l = {.prefix = tc->key_prefix, .shard_keys = tc->opt.shard_keys};

	verrec_record_commit(tc->store, &l, id, tc->node, cm);
}

/* tc->mu held. */
static void backoff(struct tcache *tc, struct fam *fam) REQUIRES(tc->mu)
{
	fam->backoff_ms = fam->backoff_ms ? fam->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (fam->backoff_ms > BACKOFF_MAX_MS)
		fam->backoff_ms = BACKOFF_MAX_MS;
	/* Half of it at random: the databases an outage failed together do
	 * not all come back in the same instant when it ends. */
	fam->retry_at = tc_mono(tc) + fam->backoff_ms / 2 + random() % (fam->backoff_ms / 2 + 1);
}

static void set_error(struct tcache *tc, struct fam *fam, const char *msg) EXCLUDES(tc->mu)
{
	tfs_mutex_lock(&tc->mu);
	snprintf(fam->error, sizeof(fam->error), "%s", msg);
	tfs_mutex_unlock(&tc->mu);
	state_set_error(tc->state, fam->id, msg);
}

/* ---- quarantine --------------------------------------------------------- */

int tc_quarantine(struct tcache *tc, struct fam *fam, const char *why)
{
	static const char *const sufs[] = {"", "-journal", "-wal"};
	char dir[PATH_MAX], src[PATH_MAX], dst[PATH_MAX];
	struct state_row row;
	uint64_t epoch;
	size_t i;
	int rc;

	tfs_mutex_lock(&tc->mu);
	epoch = fam->epoch;
	tfs_mutex_unlock(&tc->mu);
	rc = tc_path(dir, sizeof(dir), "%s/%s.%llu.%lld", tc->dir_quar, fam->id,
		     (unsigned long long)epoch, (long long)tc_now(tc));
	if (rc == 0 && mkdir(dir, 0700) < 0)
		rc = -errno;
	if (rc < 0) {
		log_err("cannot quarantine %s: %s: %s", fam->id, dir, strerror(-rc));
		return rc;
	}
	/* Writers must not change the files while they move. */
	tfs_rwlock_wrlock(&fam->wlock);
	for (i = 0; i < sizeof(sufs) / sizeof(sufs[0]); i++) {
		tc_db_path(tc, fam->id, sufs[i], src, sizeof(src));
		tc_path(dst, sizeof(dst), "%s/%s.db%s", dir, fam->id, sufs[i]);
		if (rename(src, dst) < 0 && errno != ENOENT)
			log_err("cannot quarantine %s: rename %s: %s", fam->id, src,
				strerror(errno));
	}
	tc_db_path(tc, fam->id, "-shm", src, sizeof(src));
	unlink(src);
	atomic_store(&fam->dirty, false);
	tfs_rwlock_unlock(&fam->wlock);
	fs_fsync_dir(dir);
	fs_fsync_dir(tc->dir_db);
	fs_fsync_dir(tc->dir_quar);

	memset(&row, 0, sizeof(row));
	snprintf(row.id, sizeof(row.id), "%s", fam->id);
	row.epoch = epoch;
	row.atime = tc_now(tc);
	snprintf(row.error, sizeof(row.error), "quarantined: %s", why);
	snprintf(row.quarantine, sizeof(row.quarantine), "%s", dir);
	state_put(tc->state, &row);
	state_clear_pending(tc->state, fam->id);
	tfs_mutex_lock(&tc->mu);
	fam->base_gen = 0;
	fam->base_hash[0] = '\0';
	fam->pending = false;
	snprintf(fam->error, sizeof(fam->error), "%s", row.error);
	tfs_mutex_unlock(&tc->mu);
	atomic_fetch_add(&tc->st.quarantined, 1);
	log_err("QUARANTINED %s (epoch %llu): %s; its local changes were NOT published and "
		"are kept in %s",
		fam->id, (unsigned long long)epoch, why, dir);
	return 0;
}

/* ---- write-back ------------------------------------------------------- */

enum landed {
	LANDED_UNKNOWN, /* the catalog could not be read */
	LANDED_NONE,	/* neither this commit nor an earlier pending one */
	LANDED_THIS,	/* this very commit */
	LANDED_EARLIER, /* an earlier commit of ours whose reply was lost */
};

/* After a failed or ambiguous commit (a timeout may hide a success): which
 * of our commits, if any, is the catalog's version? This one: only an item
 * at our epoch, still owned by us, with exactly our gen and hash. An earlier
 * one: the item is live at the gen we tried and its hash is one of the
 * pending commits the state database keeps for that gen (the reply of one
 * was lost, and a newer write-back was sent before that was settled). A
 * hash names content: whoever wrote that version, our copy is those bytes
 * plus later changes, so it is a base to build on, never a conflict. *it
 * gets the item. */
static enum landed commit_landed(struct tcache *tc, const char *id, uint64_t epoch,
				 const struct cat_commit *cm, struct cat_item *it) EXCLUDES(tc->mu)
{
	memset(it, 0, sizeof(*it));
	if (tc->cat->ops->get(tc->cat, id, it) < 0)
		return LANDED_UNKNOWN;
	if (it->gen != cm->new_gen || it->deleted_ms)
		return LANDED_NONE;
	if (it->epoch == epoch && !strcmp(it->owner, tc->node) && !strcmp(it->hash, cm->hash))
		return LANDED_THIS;
	return state_has_pending(tc->state, id, it->gen, it->hash) == 1 ? LANDED_EARLIER
									: LANDED_NONE;
}

/* Makes the catalog's version gen/hash (our own earlier commit) the base of
 * the still dirty copy, durably before anything is sent on top of it: a
 * restart must look for the next commit at gen + 1. */
static int rebase(struct tcache *tc, struct fam *fam, uint64_t gen, const char *hash)
    EXCLUDES(tc->mu)
{
	struct state_row row;
	int rc;

	rc = state_get(tc->state, fam->id, &row);
	if (rc < 0)
		return rc;
	row.base_gen = gen;
	snprintf(row.base_hash, sizeof(row.base_hash), "%s", hash);
	rc = state_put(tc->state, &row);
	if (rc < 0)
		return rc;
	tfs_mutex_lock(&tc->mu);
	fam->base_gen = gen;
	snprintf(fam->base_hash, sizeof(fam->base_hash), "%s", hash);
	fam->pending = false;
	tfs_mutex_unlock(&tc->mu);
	return 0;
}

/* One write-back pass: the snapshot and the base it builds on, carried
 * through the steps below. */
struct wb {
	struct tcache *tc;
	struct fam *fam;
	struct snap s;
	struct cat_commit cm;
	struct cat_item it; /* the catalog's item after a failed commit */
	char key[KEY_MAX];
	char base_hash[CAT_HASH_HEX + 1];
	char msg[STATE_ERR_MAX]; /* why the pass is postponed (WB_RETRY) */
	uint64_t epoch, base_gen, gc_seq;
	bool pending, rebased, committed, gc_retried;
};

/* Where a step sends the pass: the next step, or one of its three ends
 * (WB_RETRY: with backoff, WB_LOST: the lease is gone, WB_OUT: as is). */
enum wb_step { WB_UPLOAD, WB_COMMIT, WB_DONE, WB_RETRY, WB_LOST, WB_OUT };

/* Reads what the pass builds on under tc->mu: false when there is nothing
 * to write back (not leased, unlinked, not open). */
static bool wb_load(struct wb *w, bool *lost) EXCLUDES(w->tc->mu)
{
	struct tcache *tc = w->tc;
	struct fam *fam = w->fam;

	tfs_mutex_lock(&tc->mu);
	assert(fam->state == FAM_WRITEBACK);
	if (!fam_leased(fam) || fam->unlinked || fam->fd < 0) {
		tfs_mutex_unlock(&tc->mu);
		return false;
	}
	w->epoch = fam->epoch;
	w->base_gen = fam->base_gen;
	snprintf(w->base_hash, sizeof(w->base_hash), "%s", fam->base_hash);
	w->pending = fam->pending;
	/* The gc fence as known before the put: a gc phase on this database
	 * after that refuses the commit, so it never names an object that
	 * phase deletes (cache/catalog/catalog.h gc_begin). Known from the last
	 * refusal; a stale value only costs one refused commit. */
	w->gc_seq = fam->gc_seq;
	*lost = atomic_load(&fam->lease_lost);
	tfs_mutex_unlock(&tc->mu);
	return true;
}

/* Renews a lease past its local deadline, takes and checks the snapshot. */
static enum wb_step wb_snapshot(struct wb *w, bool lost) EXCLUDES(w->tc->mu)
{
	struct tcache *tc = w->tc;
	struct fam *fam = w->fam;
	int rc;

	if (!lost && !lease_writable(tc, fam)) {
		/* Past the local deadline (paused, cut off): another node may
		 * own it by now. Renew before uploading anything, so a stale
		 * node does not even leave an orphan object behind. */
		rc = lease_renew(tc, fam);
		if (rc == -ESTALE) {
			lost = true;
		} else if (rc < 0) {
			snprintf(w->msg, sizeof(w->msg), "the lease could not be renewed: %s",
				 strerror(-rc));
			return WB_RETRY;
		}
	}
	if (lost) {
		tc_quarantine(tc, fam, "the lease was lost before write-back");
		return WB_LOST;
	}
	atomic_fetch_add(&tc->st.writebacks, 1);
	rc = snap_take(tc, fam, &w->s);
	if (rc < 0) {
		snprintf(w->msg, sizeof(w->msg), "snapshot failed: %s", strerror(-rc));
		return WB_RETRY;
	}
	rc = snap_check(tc, fam->id, &w->s);
	if (rc < 0) {
		/* Never uploaded; tried again only after new writes. */
		tfs_mutex_lock(&tc->mu);
		fam->check_failed = true;
		fam->check_seq = w->s.seq;
		tfs_mutex_unlock(&tc->mu);
		set_error(tc, fam, w->s.why[0] ? w->s.why : "check failed");
		return WB_OUT;
	}
	/* With a commit still unsettled the catalog may hold a newer version
	 * than the base: only a commit tells, so it is sent even so. */
	if (!strcmp(w->s.hash, w->base_hash) && !w->pending) {
		atomic_fetch_add(&tc->st.puts_skipped, 1);
		log_debug("write-back of %s: unchanged (%s), no upload", fam->id, w->s.hash);
		return WB_DONE;
	}
	tc_key(tc, fam->id, w->s.hash, w->key, sizeof(w->key));
	return WB_UPLOAD;
}

static enum wb_step wb_upload(struct wb *w) EXCLUDES(w->tc->mu)
{
	struct tcache *tc = w->tc;
	int rc, fd;

	fd = open(w->s.db, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		snprintf(w->msg, sizeof(w->msg), "cannot reopen the snapshot: %s", strerror(-rc));
		return WB_RETRY;
	}
	rc = tc->store->ops->put(tc->store, w->key, fd, w->s.size, w->s.hash);
	close(fd);
	if (rc < 0) {
		snprintf(w->msg, sizeof(w->msg), "upload of %.160s failed: %s", w->key,
			 strerror(-rc));
		return WB_RETRY;
	}
	atomic_fetch_add(&tc->st.puts, 1);
	return WB_COMMIT;
}

/* The catalog's version is our own earlier commit whose reply was lost:
 * settled at last, build on it and send this snapshot on top (once: a
 * second rebase in one pass would be a bug). */
static enum wb_step wb_rebase(struct wb *w) EXCLUDES(w->tc->mu)
{
	int rc;

	log_info("%s: gen %llu is our own earlier commit (%s), whose reply was lost; "
		 "committing on top of it",
		 w->fam->id, (unsigned long long)w->it.gen, w->it.hash);
	rc = rebase(w->tc, w->fam, w->it.gen, w->it.hash);
	if (rc < 0) {
		snprintf(w->msg, sizeof(w->msg), "cannot record the base: %s", strerror(-rc));
		return WB_RETRY;
	}
	w->rebased = true;
	w->base_gen = w->it.gen;
	snprintf(w->base_hash, sizeof(w->base_hash), "%s", w->it.hash);
	if (!strcmp(w->s.hash, w->base_hash))
		return WB_DONE;
	return WB_COMMIT;
}

/* Refused by the gc fence, not for the lease: upload again (the object
 * may be gone) on the fence now read, at once if no gc phase is open (once
 * a pass), else after a backoff. */
static enum wb_step wb_gc_fenced(struct wb *w) EXCLUDES(w->tc->mu)
{
	struct tcache *tc = w->tc;
	struct fam *fam = w->fam;

	/* A value read while a phase is open is not taken: that phase
	 * may still delete what a put after the read found. */
	tfs_mutex_lock(&tc->mu);
	if (!w->it.gc_since_ms)
		fam->gc_seq = w->it.gc_seq;
	tfs_mutex_unlock(&tc->mu);
	if (!w->gc_retried && !w->it.gc_since_ms) {
		log_info("%s: gc ran on it since gc_seq %llu: uploading again on gc_seq "
			 "%llu",
			 fam->id, (unsigned long long)w->gc_seq, (unsigned long long)w->it.gc_seq);
		w->gc_retried = true;
		w->gc_seq = w->it.gc_seq;
		return WB_UPLOAD;
	}
	snprintf(w->msg, sizeof(w->msg),
		 "commit of gen %llu refused by a gc run on it meanwhile; uploading "
		 "again",
		 (unsigned long long)w->cm.new_gen);
	return WB_RETRY;
}

/* Where a commit that returned rc leaves the pass (landed: which of our
 * commits the catalog holds, when rc < 0). */
static enum wb_step wb_settle(struct wb *w, int rc, enum landed landed) EXCLUDES(w->tc->mu)
{
	struct tcache *tc = w->tc;
	struct fam *fam = w->fam;
	const struct cat_item *it = &w->it;

	if (rc < 0 && landed == LANDED_THIS) {
		/* A retried request whose first attempt had gone through. */
		log_info("commit of %s gen %llu went through despite: %s", fam->id,
			 (unsigned long long)w->cm.new_gen, strerror(-rc));
		rc = 0;
	} else if (rc < 0 && landed == LANDED_EARLIER && !w->rebased) {
		return wb_rebase(w);
	} else if (rc < 0 && landed == LANDED_UNKNOWN) {
		/* Even a refusal may hide an earlier commit of ours: never
		 * quarantine before the catalog could be read. */
		snprintf(w->msg, sizeof(w->msg),
			 "commit of gen %llu failed (%s) and the catalog cannot be read to "
			 "settle it",
			 (unsigned long long)w->cm.new_gen, strerror(-rc));
		return WB_RETRY;
	}
	if (rc == -ESTALE && landed == LANDED_NONE && !strcmp(it->owner, tc->node) &&
	    it->epoch == w->epoch && it->gen == w->base_gen &&
	    (it->gc_seq != w->cm.gc_seq || it->gc_since_ms))
		return wb_gc_fenced(w);
	if (rc == -ESTALE) {
		atomic_store(&fam->lease_lost, true);
		tc_quarantine(tc, fam,
			      "commit refused: the lease was lost or another node "
			      "committed");
		return WB_LOST;
	}
	if (rc < 0) {
		snprintf(w->msg, sizeof(w->msg), "commit of gen %llu failed: %s",
			 (unsigned long long)w->cm.new_gen, strerror(-rc));
		return WB_RETRY;
	}
	w->committed = true;
	atomic_fetch_add(&tc->st.commits, 1);
	tc_record_commit(tc, fam->id, &w->cm);
	log_info("committed %s gen %llu (%llu bytes, %s)", fam->id,
		 (unsigned long long)w->cm.new_gen, (unsigned long long)w->s.size, w->s.hash);
	return WB_DONE;
}

/* Records the commit as pending, sends it on base_gen and settles it. */
static enum wb_step wb_commit(struct wb *w) EXCLUDES(w->tc->mu)
{
	struct tcache *tc = w->tc;
	struct fam *fam = w->fam;
	struct cat_commit *cm = &w->cm;
	enum landed landed;
	int rc;

	cm->new_gen = w->base_gen + 1;
	cm->hash = w->s.hash;
	cm->size = w->s.size;
	cm->mtime_ms = tc_now(tc);
	cm->gc_fenced = true;
	cm->gc_seq = w->gc_seq;
	rc = state_add_pending(tc->state, fam->id, cm->new_gen, w->s.hash);
	if (rc < 0) {
		snprintf(w->msg, sizeof(w->msg), "cannot record the commit: %s", strerror(-rc));
		return WB_RETRY;
	}
	tfs_mutex_lock(&tc->mu);
	fam->pending = true;
	tfs_mutex_unlock(&tc->mu);
	rc = tc->cat->ops->commit(tc->cat, fam->id, tc->node, w->epoch, w->base_gen, cm);
	tc_item_forget(tc, fam->id);
	landed = rc < 0 ? commit_landed(tc, fam->id, w->epoch, cm, &w->it) : LANDED_THIS;
	return wb_settle(w, rc, landed);
}

/* The pass ended holding the lease: the new base, and dirty cleared only
 * if no change arrived since the snapshot. */
static void wb_done(struct wb *w) EXCLUDES(w->tc->mu)
{
	struct tcache *tc = w->tc;
	struct fam *fam = w->fam;
	struct state_row row;
	struct stat sb;
	bool clean;
	int rc;

	tfs_rwlock_wrlock(&fam->wlock);
	clean = atomic_load(&fam->wseq) == w->s.seq;
	tfs_mutex_lock(&tc->mu);
	if (w->committed) {
		fam->base_gen = w->cm.new_gen;
		snprintf(fam->base_hash, sizeof(fam->base_hash), "%s", w->s.hash);
	}
	/* The base moved past every pending commit (state_put drops them). */
	if (w->committed || w->rebased)
		fam->pending = false;
	fam->pub_seq = w->s.seq + 1;
	fam->backoff_ms = 0;
	fam->retry_at = 0;
	fam->check_failed = false;
	fam->error[0] = '\0';
	memset(&row, 0, sizeof(row));
	snprintf(row.id, sizeof(row.id), "%s", fam->id);
	row.base_gen = fam->base_gen;
	snprintf(row.base_hash, sizeof(row.base_hash), "%s", fam->base_hash);
	row.epoch = fam->epoch;
	row.size = fstat(fam->fd, &sb) == 0 ? (uint64_t)sb.st_size : w->s.size;
	tc->evict_due = true;
	tfs_mutex_unlock(&tc->mu);
	row.dirty = !clean;
	row.dirty_since = clean ? 0 : tc_now(tc);
	row.atime = tc_now(tc);
	rc = state_put(tc->state, &row);
	if (clean && rc == 0)
		atomic_store(&fam->dirty, false);
	tfs_rwlock_unlock(&fam->wlock);
}

/* The write-back job: FEV_WRITTEN when it ends holding the lease (done,
 * unchanged, postponed, check failed), FEV_LEASE_LOST when the lease is
 * gone (the copy quarantined). Steps: snapshot (renew, take, check),
 * upload, commit (settle an unknown outcome), done; an upload is sent
 * again after a gc fence, a commit again after a rebase. */
enum fam_event tc_job_writeback(struct tcache *tc, struct fam *fam)
{
	struct wb w;
	enum wb_step step;
	bool lost;

	memset(&w, 0, sizeof(w));
	w.tc = tc;
	w.fam = fam;
	if (!wb_load(&w, &lost))
		return FEV_WRITTEN;
	step = wb_snapshot(&w, lost);
	while (step == WB_UPLOAD || step == WB_COMMIT)
		step = step == WB_UPLOAD ? wb_upload(&w) : wb_commit(&w);
	if (step == WB_DONE) {
		wb_done(&w);
	} else if (step == WB_RETRY) {
		log_warn("write-back of %s postponed: %s", fam->id, w.msg);
		set_error(tc, fam, w.msg);
		tfs_mutex_lock(&tc->mu);
		backoff(tc, fam);
		tfs_mutex_unlock(&tc->mu);
	} else if (step == WB_LOST) {
		tfs_mutex_lock(&tc->mu);
		fam->resume = FAM_UNLEASED;
		tfs_mutex_unlock(&tc->mu);
	}
	snap_drop(&w.s);
	return step == WB_LOST ? FEV_LEASE_LOST : FEV_WRITTEN;
}

/* ---- release, recovery, eviction ------------------------------------- */

/* The release job: gives the lease up, or keeps it marked stranded when
 * unpublished writes remain (lease_release); FEV_RELEASED either way. */
enum fam_event tc_job_release(struct tcache *tc, struct fam *fam)
{
	bool unlinked, ends;

	tfs_mutex_lock(&tc->mu);
	assert(fam->state == FAM_RELEASING);
	unlinked = fam->unlinked;
	/* Queued before the shutdown began: the session end frees it (it
	 * stays held until lease_release_all). */
	ends = tc->shutting_down && lease_ends_with_session(tc, fam);
	tfs_mutex_unlock(&tc->mu);
	if (ends)
		return FEV_DROPPED;
	if (!atomic_load(&fam->lease_lost))
		lease_release(tc, fam);
	if (unlinked) {
		tc_remove_local(tc, fam->id, false);
		state_del(tc->state, fam->id);
	}
	tfs_mutex_lock(&tc->mu);
	fam->resume = FAM_UNLEASED;
	fam->want = false;
	tc->evict_due = true;
	tfs_mutex_unlock(&tc->mu);
	return FEV_RELEASED;
}

/* The recovery job: FEV_LEASED once the lease is taken and the cached copy
 * reconciled with the catalog (tc_fam_activate), else FEV_FAILED. */
enum fam_event tc_job_recover(struct tcache *tc, struct fam *fam)
{
	bool fresh;
	int rc;

	rc = tc_fam_activate(tc, fam, 0, false, &fresh);
	if (rc < 0) {
		log_warn("recovery of %s postponed: %s", fam->id, strerror(-rc));
		tfs_mutex_lock(&tc->mu);
		backoff(tc, fam);
		tfs_mutex_unlock(&tc->mu);
		return FEV_FAILED;
	}
	return FEV_LEASED;
}

void tc_evict(struct tcache *tc)
{
	struct state_row *rows = NULL, cur;
	struct fam *ph;
	uint64_t total;
	bool any;
	int n, i, round;

	if (!tc->opt.cache_size)
		return;
	for (round = 0; round < 1000; round++) {
		if (state_clean_bytes(tc->state, &total) < 0 || total <= tc->opt.cache_size)
			break;
		if (state_list(tc->state, STATE_CLEAN_LRU, EVICT_BATCH, &rows, &n) < 0)
			break;
		any = false;
		for (i = 0; i < n && total > tc->opt.cache_size; i++) {
			/* A placeholder family keeps openers away while files go. */
			tfs_mutex_lock(&tc->mu);
			if (fam_find(tc, rows[i].id) || !(ph = fam_insert(tc, rows[i].id))) {
				tfs_mutex_unlock(&tc->mu);
				continue;
			}
			fam_set(tc, ph, FAM_EVICTING, FEV_EVICT);
			tfs_mutex_unlock(&tc->mu);
			if (state_get(tc->state, rows[i].id, &cur) == 0 && !cur.dirty) {
				tc_remove_local(tc, rows[i].id, false);
				state_del(tc->state, rows[i].id);
				total -= cur.size < total ? cur.size : total;
				atomic_fetch_add(&tc->st.evictions, 1);
				log_debug("evicted %s (%llu bytes)", rows[i].id,
					  (unsigned long long)cur.size);
				any = true;
			}
			tfs_mutex_lock(&tc->mu);
			fam_set(tc, ph, FAM_ABSENT, FEV_FORGET);
			fam_remove(tc, ph);
			tfs_mutex_unlock(&tc->mu);
		}
		free(rows);
		rows = NULL;
		if (!any)
			break;
	}
	free(rows);
}
