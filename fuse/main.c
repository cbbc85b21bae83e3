/* tenantfs(8): parses the command line, checks store and catalog while
 * errors can still reach the terminal, mounts, daemonizes, starts the
 * engine, serves, and on unmount or SIGTERM writes every database back. */
#include <errno.h>
#include <fuse.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cache/engine/cache.h"
#include "fuse/admin.h"
#include "fuse/control.h"
#include "fuse/fs.h"
#include "fuse/kio.h"
#include "fuse/metrics.h"
#include "fuse/options.h"
#include "fuse/setup.h"
#include "s3/base/clock.h"
#include "s3/base/log.h"
#include "s3/wire/http.h"

/* FUSE worker threads at most; a share is kept from the catalog (topt). */
#define FUSE_MAX_THREADS 64

/* libfuse's own messages go through our logger (and so to syslog once
 * daemonized); they end in a newline which ours adds itself. */
static void fuse_log_to_tfs(enum fuse_log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void fuse_log_to_tfs(enum fuse_log_level level, const char *fmt, va_list ap)
{
	tfs_vlog_from((int)level, "libfuse", fmt, ap);
}

static void log_counters(struct tcache *tc, const struct tfs_backend *b)
{
	char line[512];
	struct tcache_stats s;
	struct http_stats h;

	tcache_get_stats(tc, &s);
	tfs_backend_http_stats(b, &h);
	tfs_tcache_stats_fmt(&s, line, sizeof(line));
	log_info("stats: %s", line);
	tfs_http_stats_fmt(&h, line, sizeof(line));
	log_info("requests: %s", line);
}

/* Every open database holds a descriptor of its cache file while it is
 * open (closed ones hold none), so the soft limit's usual 1024 would cap a
 * node at about a thousand open databases: take the hard limit, which the
 * administrator sets (LimitNOFILE= in packaging/tenantfs@.service). */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		log_warn("cannot read the file descriptor limit: %s", strerror(errno));
		return;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t was = rl.rlim_cur;

		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
			log_warn("cannot raise the file descriptor limit from %llu to %llu: %s",
				 (unsigned long long)was, (unsigned long long)rl.rlim_max,
				 strerror(errno));
			return;
		}
	}
	log_info("file descriptor limit %llu (each open database holds one)",
		 (unsigned long long)rl.rlim_cur);
}

/* Long because the mount's start in the one order that is safe (checks before daemonizing, back
 * ends, engine, control and metrics, the FUSE loop, then shutdown in reverse); split further it
 * would pass a dozen locals. */
static int run_mount(struct tfs_options *o)
{
	struct tfs_backend b;
	struct tcache_options topt;
	struct tcache *tc = NULL;
	struct tfs_fs fs;
	struct fuse *f = NULL;
	struct fuse_session *se;
	struct fuse_loop_config *lcfg = NULL;
	struct tcost *cost = NULL;
	struct store *cstore = NULL;
	struct catalog *ccat = NULL;
	struct tfs_control_ctx cctx;
	struct tfs_control *control = NULL;
	struct tfs_metrics *metrics = NULL;
	int metrics_fd = -1;
	char control_path[PATH_MAX] = "";
	int mounted = 0, handlers = 0, started = 0;
	int rc = 1, r;

	memset(&b, 0, sizeof(b));
	/* Everything that can fail for a reason the user must fix happens
	 * here, in the foreground, before fuse_daemonize() detaches; nothing
	 * is created before the mount point and the store are known good. */
	if (tfs_check_mountpoint(o) < 0 || tfs_backend_check(o) < 0)
		goto out;
	/* Bound now, so that a port in use fails the mount here; served once
	 * the daemon has forked (threads do not survive a fork). */
	if (o->metrics && tfs_metrics_bind(o->metrics, &metrics_fd) < 0)
		goto out;
	raise_nofile();
	if (tfs_backend_open(o, 0, &b) < 0)
		goto out;
	/* The engine sees the store and catalog through counters per database
	 * (status --top). */
	cost = tcost_new();
	cstore = cost ? tcost_wrap_store(cost, b.store) : NULL;
	ccat = cost ? tcost_wrap_catalog(cost, b.cat) : NULL;
	if (!ccat) {
		log_err("cannot set up the request counters: out of memory");
		goto out;
	}
	/* Named now: once mounted, resolving the mount point would ask the
	 * FUSE loop, which is not running yet. */
	r = tfs_control_path(o->mountpoint, geteuid(), control_path, sizeof(control_path));
	if (r < 0) {
		log_warn("no control socket: cannot name it for %s: %s", o->mountpoint,
			 strerror(-r));
		control_path[0] = '\0';
	}

	memset(&topt, 0, sizeof(topt));
	topt.cache_dir = o->cache_dir;
	topt.cache_size = o->cache_size;
	topt.node = o->node;
	topt.key_prefix = o->is_s3 ? o->prefix : "";
	topt.shard_keys = o->shard_keys;
	topt.idle_ms = o->idle_ms;
	topt.max_dirty_ms = o->max_dirty_ms;
	topt.lease_ttl_ms = o->lease_ttl_ms;
	topt.linger_ms = o->linger_ms;
	topt.lease_wait_ms = o->lease_wait_ms;
	topt.catalog_timeout_ms = o->catalog_timeout_ms;
	/* At most half the FUSE threads wait on the catalog (a quarter more
	 * wait for a place): the rest serve files already open. */
	topt.catalog_slots = FUSE_MAX_THREADS / 2;
	topt.upload_workers = 4;
	topt.shutdown_timeout_ms = 60000;
	r = tcache_new(&topt, cstore, ccat, &tc);
	if (r < 0) {
		log_err("cannot open the cache %s: %s", o->cache_dir, strerror(-r));
		goto out;
	}

	memset(&fs, 0, sizeof(fs));
	fs.tc = tc;
	fs.backend = &b;
	fs.cache_dir = o->cache_dir;
	/* No kernel writeback cache: with it a write(2) succeeds into the
	 * page cache and the daemon's write happens later, so a full cache
	 * disk (or any write error) drops pages SQLite was told were written
	 * and the page cache hides it until the file is reopened. SQLite's
	 * journal cannot recover from that: tests/integration/
	 * test_bad_input.py found a corrupt database after ENOSPC. Without
	 * it ENOSPC reaches write(2) and SQLite reports "database or disk
	 * is full" with the database intact. Opt-in (-o writeback_cache) for
	 * those who trade that for speed: tests/bench/bench.py measured 2000
	 * WAL commits at 1.3x the local disk with it, 5x without (three
	 * round trips per commit instead of one per 30 commits). */
	fs.writeback = o->writeback_cache;
	fs.uid = o->uid;
	fs.gid = o->gid;
	fs.umask = o->umask;
	fs.mount_time = time(NULL);
	f = fuse_new(&o->fuse_args, tfs_fs_operations(), sizeof(struct fuse_operations), &fs);
	if (!f) {
		log_err("cannot set up fuse: bad FUSE option (see above)");
		goto out;
	}
	if (fuse_mount(f, o->mountpoint) != 0) {
		log_err("cannot mount on %s (see above)", o->mountpoint);
		goto out;
	}
	mounted = 1;
	se = fuse_get_session(f);
	/* Before the loop reads the kernel's INIT request. */
	tfs_kio_install(se);
	if (fuse_daemonize(o->foreground) != 0) {
		log_err("cannot daemonize");
		goto out;
	}
	if (!o->foreground)
		tfs_log_use_syslog("tenantfs");
	if (fuse_set_signal_handlers(se) != 0) {
		log_err("cannot install signal handlers");
		goto out;
	}
	handlers = 1;
	/* Threads only now: fuse_daemonize() forked, and threads do not
	 * survive a fork. */
	r = tcache_start(tc);
	if (r < 0) {
		log_err("cannot start the cache engine: %s", strerror(-r));
		goto out;
	}
	started = 1;
	memset(&cctx, 0, sizeof(cctx));
	cctx.tc = tc;
	cctx.fs = &fs;
	cctx.backend = &b;
	cctx.cost = cost;
	cctx.o = o;
	cctx.control_path = control_path;
	cctx.started = fs.mount_time;
	cctx.started_mono_ms = tfs_mono_ms();
	if (control_path[0])
		tfs_control_start(&cctx, control_path, &control);
	if (metrics_fd >= 0) {
		r = tfs_metrics_start(&cctx, metrics_fd, &metrics);
		metrics_fd = -1;
		if (r < 0)
			goto out;
		log_info("metrics on http://%s/metrics", o->metrics);
	}
	log_info("serving %s on %s (node %s, cache %s)", o->source, o->mountpoint, tcache_node(tc),
		 o->cache_dir);

	lcfg = fuse_loop_cfg_create();
	if (!lcfg) {
		log_err("cannot create the fuse loop configuration: out of memory");
		goto out;
	}
	fuse_loop_cfg_set_clone_fd(lcfg, 0);
	fuse_loop_cfg_set_idle_threads(lcfg, 8);
	fuse_loop_cfg_set_max_threads(lcfg, FUSE_MAX_THREADS);
	r = fuse_loop_mt(f, lcfg);
	if (r != 0 && r != -EINTR && !fuse_session_exited(se))
		log_err("fuse loop stopped: %s", strerror(r < 0 ? -r : r));
	rc = 0;
out:
	/* No more requests: a flush asked now could not be waited for. */
	tfs_control_stop(control);
	tfs_metrics_stop(metrics);
	if (metrics_fd >= 0)
		close(metrics_fd);
	if (handlers)
		fuse_remove_signal_handlers(fuse_get_session(f));
	/* Unmount first so that no request arrives while we write back. */
	if (mounted)
		fuse_unmount(f);
	if (started) {
		log_info("unmounted %s: writing back", o->mountpoint);
		r = tcache_shutdown(tc);
		if (r < 0) {
			log_err("cannot write back every database at unmount: %s; they stay "
				"dirty in %s for the next start",
				strerror(-r), o->cache_dir);
			rc = 1;
		}
		log_counters(tc, &b);
		tfs_fs_log_counters(&fs);
	}
	if (lcfg)
		fuse_loop_cfg_destroy(lcfg);
	if (f)
		fuse_destroy(f);
	if (tc)
		tcache_free(tc);
	store_free(cstore);
	catalog_free(ccat);
	tcost_free(cost);
	tfs_backend_close(&b);
	return rc;
}

int main(int argc, char *argv[])
{
	struct tfs_options o;
	char err[512];
	int rc;

	fuse_set_log_func(fuse_log_to_tfs);
	if (argc > 1 && tfs_admin_command(argv[1]))
		return tfs_admin_main(argc, argv);
	if (argc > 1 && tfs_control_command(argv[1]))
		return tfs_control_main(argc, argv);
	if (tfs_options_parse(argc, argv, &o, err, sizeof(err)) < 0) {
		fprintf(stderr, "tenantfs: %s\n", err);
		tfs_print_synopsis(stderr, "tenantfs");
		return 2;
	}
	switch (o.mode) {
	case TFS_MODE_HELP:
		tfs_print_usage(stdout, "tenantfs");
		rc = 0;
		break;
	case TFS_MODE_VERSION:
		printf("tenantfs %s (libfuse %s)\n", TFS_VERSION, fuse_pkgversion());
		rc = 0;
		break;
	case TFS_MODE_INIT:
		if (o.debug)
			tfs_log_set_level(LOG_DEBUG);
		rc = tfs_backend_init(&o) < 0 ? 1 : 0;
		break;
	case TFS_MODE_MOUNT:
	default:
		if (o.debug)
			tfs_log_set_level(LOG_DEBUG);
		rc = run_mount(&o);
		break;
	}
	tfs_options_release(&o);
	return rc;
}
