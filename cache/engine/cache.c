/* The engine's life: setup (folders, cache lock, identity, state database,
 * back-end checks), start (recovery of what the last run left dirty),
 * shutdown (write back, release or strand) and teardown; plus the clocks and
 * paths every engine file uses. The file map is in cache_i.h. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache/engine/cache_i.h"
#include "cache/engine/catgate_i.h"
#include "cache/engine/famtab_i.h"
#include "cache/engine/identity_i.h"
#include "cache/engine/lease_i.h"
#include "cache/engine/sched_i.h"
#include "cache/engine/snapshot_i.h"
#include "cache/engine/writeback_i.h"
#include "cache/store/keys.h"
#include "s3/base/clock.h"
#include "s3/base/fsutil.h"
#include "s3/base/log.h"
#include "s3/base/tsa.h"

/* ---- helpers ---------------------------------------------------------- */

int64_t tc_now(struct tcache *tc)
{
	return tc->opt.now_ms ? tc->opt.now_ms() : tfs_wall_ms();
}

int64_t tc_mono(struct tcache *tc)
{
	return tc->opt.mono_ms ? tc->opt.mono_ms() : tfs_mono_ms();
}

int tc_path(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap) {
		if (cap)
			buf[0] = '\0';
		return -ENAMETOOLONG;
	}
	return 0;
}

void tc_db_path(struct tcache *tc, const char *id, const char *suffix, char *buf, size_t cap)
{
	tc_path(buf, cap, "%s/%s.db%s", tc->dir_db, id, suffix);
}

static const char *const side_suffixes[] = {"-journal", "-wal", "-shm"};

/* Removes the local db (unless side_only) and its side files. Stale side
 * files must go before a new version is served: a -wal or -journal of the
 * old copy applied to the new one would corrupt it. */
void tc_remove_local(struct tcache *tc, const char *id, bool side_only)
{
	char path[PATH_MAX];
	size_t i;

	for (i = 0; i < sizeof(side_suffixes) / sizeof(side_suffixes[0]); i++) {
		tc_db_path(tc, id, side_suffixes[i], path, sizeof(path));
		if (unlink(path) < 0 && errno != ENOENT)
			log_warn("cannot remove %s: %s", path, strerror(errno));
	}
	if (!side_only) {
		tc_db_path(tc, id, "", path, sizeof(path));
		if (unlink(path) < 0 && errno != ENOENT)
			log_warn("cannot remove %s: %s", path, strerror(errno));
	}
	fs_fsync_dir(tc->dir_db);
}

/* ---- engine ----------------------------------------------------------- */

static char *xstrdup(const char *s)
{
	return strdup(s ? s : "");
}

/* The bounds that make every version key and every path the engine builds
 * fit (tc_key and tc_path cannot fail on them): 0 or -errno. */
static int check_options(const struct tcache_options *opt, struct store *store, struct catalog *cat)
{
	if (!opt || !opt->cache_dir || !opt->node || !opt->node[0] || !store || !cat)
		return -EINVAL;
	if (opt->key_prefix && strlen(opt->key_prefix) > KEY_PREFIX_MAX) {
		log_err("cannot start the engine: key prefix over %d bytes", KEY_PREFIX_MAX);
		return -ENAMETOOLONG;
	}
	if (strlen(opt->cache_dir) > TCACHE_DIR_MAX) {
		log_err("cannot start the engine: cache folder name over %d bytes", TCACHE_DIR_MAX);
		return -ENAMETOOLONG;
	}
	return 0;
}

/* A zeroed engine with its locks and condition variables set up. */
static struct tcache *tcache_alloc(const struct tcache_options *opt, struct store *store,
				   struct catalog *cat)
{
	struct tcache *tc = calloc(1, sizeof(*tc));

	if (!tc)
		return NULL;
	tc->lock_fd = -1;
	tc->opt = *opt;
	tc->store = store;
	tc->cat = cat;
	tfs_mutex_init(&tc->mu);
	tfs_mutex_rank(&tc->mu, RANK_TC_MU);
	tfs_mutex_init(&tc->ic_mu);
	tfs_mutex_rank(&tc->ic_mu, RANK_TC_ITEMS);
	lease_init(tc);
	pthread_cond_init(&tc->fam_cond, NULL);
	pthread_cond_init(&tc->uq.cond, NULL);
	pthread_cond_init(&tc->lq.cond, NULL);
	pthread_cond_init(&tc->sched_cond, NULL);
	tc_gate_init(tc);
	return tc;
}

static void set_defaults(struct tcache_options *o)
{
	if (o->idle_ms <= 0)
		o->idle_ms = 5000;
	if (o->max_dirty_ms <= 0)
		o->max_dirty_ms = 60000;
	if (o->lease_ttl_ms <= 0)
		o->lease_ttl_ms = 30000;
	if (o->linger_ms < 0)
		o->linger_ms = 0;
	if (o->lease_wait_ms < 0)
		o->lease_wait_ms = 0;
	if (o->upload_workers <= 0)
		o->upload_workers = 4;
	if (o->shutdown_timeout_ms <= 0)
		o->shutdown_timeout_ms = 60000;
}

/* The engine's own copies of the names in its options, and the folder
 * paths under the cache folder: 0 or -ENOMEM. */
static int copy_names(struct tcache *tc, const struct tcache_options *opt)
{
	tc->cache_dir = xstrdup(opt->cache_dir);
	tc->node = xstrdup(opt->node);
	tc->key_prefix = xstrdup(opt->key_prefix);
	if (!tc->cache_dir || !tc->node || !tc->key_prefix)
		return -ENOMEM;
	/* strip trailing '/' of the prefix so keys never hold "//" */
	while (tc->key_prefix[0] && tc->key_prefix[strlen(tc->key_prefix) - 1] == '/')
		tc->key_prefix[strlen(tc->key_prefix) - 1] = '\0';
	tc->opt.cache_dir = tc->cache_dir;
	tc->opt.node = tc->node;
	tc->opt.key_prefix = tc->key_prefix;
	if (asprintf(&tc->dir_db, "%s/db", tc->cache_dir) < 0 ||
	    asprintf(&tc->dir_tmp, "%s/tmp", tc->cache_dir) < 0 ||
	    asprintf(&tc->dir_staging, "%s/staging", tc->cache_dir) < 0 ||
	    asprintf(&tc->dir_quar, "%s/quarantine", tc->cache_dir) < 0) {
		tc->dir_db = tc->dir_tmp = tc->dir_staging = tc->dir_quar = NULL;
		return -ENOMEM;
	}
	return 0;
}

static int make_folders(struct tcache *tc)
{
	int rc;

	if ((rc = fs_mkdir_p(tc->dir_db, 0700)) < 0 || (rc = fs_mkdir_p(tc->dir_tmp, 0700)) < 0 ||
	    (rc = fs_mkdir_p(tc->dir_staging, 0700)) < 0 ||
	    (rc = fs_mkdir_p(tc->dir_quar, 0700)) < 0) {
		log_err("cannot create the cache folder %s: %s", tc->cache_dir, strerror(-rc));
		return rc;
	}
	return 0;
}

/* The cache lock, the node identity and the state database: 0 or -errno. */
static int open_local(struct tcache *tc, const char *node)
{
	char path[PATH_MAX];
	int rc;

	if ((rc = tc_cache_lock(tc)) < 0)
		return rc;
	if ((rc = tc_identity_load(tc, node)) < 0)
		return rc;
	tc->opt.node = tc->node;
	if ((rc = tc_path(path, sizeof(path), "%s/state.db", tc->cache_dir)) < 0)
		return rc;
	return state_open(path, &tc->state);
}

static int check_backends(struct store *store, struct catalog *cat)
{
	int rc;

	if (store->ops->check && (rc = store->ops->check(store)) < 0) {
		log_err("cannot use the object store: %s", strerror(-rc));
		return rc;
	}
	if (cat->ops->check && (rc = cat->ops->check(cat)) < 0) {
		log_err("cannot use the catalog: %s", strerror(-rc));
		return rc;
	}
	return 0;
}

int tcache_new(const struct tcache_options *opt, struct store *store, struct catalog *cat,
	       struct tcache **out)
{
	struct tcache *tc;
	int rc;

	*out = NULL;
	rc = check_options(opt, store, cat);
	if (rc < 0)
		return rc;
	tc = tcache_alloc(opt, store, cat);
	if (!tc)
		return -ENOMEM;
	set_defaults(&tc->opt);
	if ((rc = copy_names(tc, opt)) < 0 || (rc = make_folders(tc)) < 0 ||
	    (rc = open_local(tc, opt->node)) < 0 || (rc = check_backends(store, cat)) < 0)
		goto out;
	*out = tc;
	tc = NULL;
	rc = 0;
out:
	tcache_free(tc);
	return rc;
}

/* Lists every dirty row of the state database as a family to recover. */
static int recover_all(struct tcache *tc) EXCLUDES(tc->mu)
{
	struct state_row *rows = NULL;
	struct fam *fam;
	int n = 0, i, rc;

	rc = state_list(tc->state, STATE_DIRTY, 0, &rows, &n);
	if (rc < 0)
		return rc;
	tfs_mutex_lock(&tc->mu);
	for (i = 0; i < n; i++) {
		if (fam_find(tc, rows[i].id))
			continue;
		fam = fam_insert(tc, rows[i].id);
		if (!fam) {
			rc = -ENOMEM;
			break;
		}
		fam_set(tc, fam, FAM_RECOVER_WAIT, FEV_START_DIRTY);
		log_info("recovering %s: dirty since the last run (base gen %llu)", rows[i].id,
			 (unsigned long long)rows[i].base_gen);
	}
	tfs_mutex_unlock(&tc->mu);
	sched_wake(tc);
	free(rows);
	return rc;
}

int tcache_start(struct tcache *tc)
{
	int rc;

	if (tc->started)
		return -EALREADY;
	tc_lock_note_pid(tc); /* the daemon's pid, after fuse_daemonize() */
	tc_clean_dir(tc->dir_staging);
	tc_clean_dir(tc->dir_tmp);
	/* A catalog out of reach now is no reason not to mount: the first
	 * acquire tries again. */
	lease_start(tc);
	rc = sched_start(tc);
	if (rc < 0)
		return rc;
	return recover_all(tc);
}

bool tc_timed_wait(pthread_cond_t *c, tfs_mutex *m, long ms)
{
	struct timespec ts;

	tfs_wall_deadline(&ts, ms);
	return tfs_cond_timedwait(c, m, &ts) == 0;
}

int tcache_shutdown(struct tcache *tc)
{
	struct state_row *rows = NULL;
	int64_t deadline = tfs_mono_ms() + tc->opt.shutdown_timeout_ms;
	struct fam *f;
	bool busy;
	int n = 0, i, rc = 0;

	tfs_mutex_lock(&tc->mu);
	tc->shutting_down = true;
	/* A write-back waiting out its backoff tries again at once: the peer
	 * may be back, and the wait could outlast the shutdown timeout. */
	for (i = 0; i < FAM_BUCKETS; i++)
		for (f = tc->tab[i]; f; f = f->next)
			f->retry_at = 0;
	pthread_cond_signal(&tc->sched_cond);
	/* Real time bounds this wait: a test clock may stand still. */
	while (tc->started && tfs_mono_ms() < deadline) {
		busy = false;
		for (i = 0; i < FAM_BUCKETS && !busy; i++)
			for (f = tc->tab[i]; f && !busy; f = f->next)
				busy = (fam_leased(f) && !lease_ends_with_session(tc, f)) ||
				       fam_state_busy(f->state);
		if (!busy)
			break;
		tc_timed_wait(&tc->fam_cond, &tc->mu, 50);
	}
	tfs_mutex_unlock(&tc->mu);
	sched_stop(tc);

	/* What is still dirty could not be written back in time: the state
	 * database keeps it for the next start, and its lease stays marked
	 * stranded so that nobody else serves an older version meanwhile.
	 * The clean leases go with the session, in one write. The FUSE
	 * session and the jobs have ended: every family is in a settled
	 * state. */
	lease_release_all(tc);

	if (state_list(tc->state, STATE_DIRTY, 0, &rows, &n) < 0 || n > 0) {
		for (i = 0; i < n; i++)
			log_err("database %s is still dirty at shutdown: it will be written back "
				"at the next start",
				rows[i].id);
		rc = -EIO;
	}
	free(rows);
	return rc;
}

void tcache_free(struct tcache *tc)
{
	struct fam *f;
	int i;

	if (!tc)
		return;
	sched_stop(tc);
	/* Teardown: no thread is left, but fam_remove asserts the lock. */
	tfs_mutex_lock(&tc->mu);
	tc->stopping = true;
	for (i = 0; i < FAM_BUCKETS; i++)
		while ((f = tc->tab[i]))
			fam_remove(tc, f);
	tfs_mutex_unlock(&tc->mu);
	state_close(tc->state);
	/* Last: the next daemon may use the folder once this is closed. */
	if (tc->lock_fd >= 0)
		close(tc->lock_fd);
	tfs_mutex_destroy(&tc->mu);
	tfs_mutex_destroy(&tc->ic_mu);
	lease_fini(tc);
	pthread_cond_destroy(&tc->fam_cond);
	pthread_cond_destroy(&tc->uq.cond);
	pthread_cond_destroy(&tc->lq.cond);
	pthread_cond_destroy(&tc->sched_cond);
	tc_gate_destroy(tc);
	free(tc->cache_dir);
	free(tc->node);
	free(tc->key_prefix);
	free(tc->dir_db);
	free(tc->dir_tmp);
	free(tc->dir_staging);
	free(tc->dir_quar);
	free(tc);
}

void tcache_get_stats(struct tcache *tc, struct tcache_stats *o)
{
	o->opens = atomic_load(&tc->st.opens);
	o->faults = atomic_load(&tc->st.faults);
	o->fault_bytes = atomic_load(&tc->st.fault_bytes);
	o->writebacks = atomic_load(&tc->st.writebacks);
	o->puts = atomic_load(&tc->st.puts);
	o->puts_skipped = atomic_load(&tc->st.puts_skipped);
	o->commits = atomic_load(&tc->st.commits);
	o->quarantined = atomic_load(&tc->st.quarantined);
	o->evictions = atomic_load(&tc->st.evictions);
	o->lease_acquires = atomic_load(&tc->st.lease_acquires);
	o->lease_renews = atomic_load(&tc->st.lease_renews);
	o->lease_releases = atomic_load(&tc->st.lease_releases);
	o->sched_passes = atomic_load(&tc->st.sched_passes);
}
