/* Unit tests of cache/engine/inspect.c over the in-memory store and the SQLite
 * catalog: the report of active databases, flush on demand (past the idle
 * timer and a failed write-back's back-off), evict by id, and the request
 * cost per database (wrappers and their bounded table). */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache/engine/cache.h"
#include "s3/base/log.h"
#include "tests/unit/fake_backends.h"
#include "tests/unit/tap.h"

static char scratch[512];
static atomic_llong fake_mono = 1000000;

/* The scheduler's clock stands still: only a flush makes a write-back due
 * while a database is open. */
static int64_t test_mono(void)
{
	return atomic_load(&fake_mono);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static const struct tcache_dbinfo *find_db(const struct tcache_report *r, const char *id)
{
	size_t i;

	for (i = 0; i < r->ndb; i++)
		if (!strcmp(r->db[i].id, id))
			return &r->db[i];
	return NULL;
}

/* The bytes of a small SQLite database (malloc'ed) in *len. */
static unsigned char *small_db(size_t *len)
{
	char path[600];
	sqlite3 *db = NULL;
	unsigned char *b = NULL;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/small.db", scratch);
	unlink(path);
	if (sqlite3_open(path, &db) != SQLITE_OK ||
	    sqlite3_exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES('hello');", NULL, NULL,
			 NULL) != SQLITE_OK) {
		printf("Bail out! cannot make a database\n");
		exit(1);
	}
	sqlite3_close(db);
	f = fopen(path, "rb");
	if (f && fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (b = malloc((size_t)n)) && fread(b, 1, (size_t)n, f) == (size_t)n)
		*len = (size_t)n;
	if (f)
		fclose(f);
	if (!*len) {
		printf("Bail out! cannot read %s\n", path);
		exit(1);
	}
	return b;
}

/* Polls items until none is pending (at most ms): the last states. */
static void flush_wait(struct tcache *tc, struct tcache_flush_item *v, size_t n, int64_t since,
		       long ms)
{
	size_t i, pending;

	for (; ms > 0; ms -= 20) {
		tcache_flush_poll(tc, v, n, since);
		for (i = pending = 0; i < n; i++)
			pending += v[i].state == TFLUSH_PENDING;
		if (!pending)
			return;
		sleep_ms(20);
	}
}

static void test_report_flush_evict(void)
{
	struct tcache_options o;
	struct tcache_report r;
	struct tcache_flush_item *v = NULL;
	struct mem_store *ms = mem_store_new();
	struct wrap_cat *wc;
	struct catalog *sc;
	struct tcache *tc = NULL;
	struct tfile *f = NULL;
	struct cat_item it;
	const struct tcache_dbinfo *d;
	const char *one[] = {"a"};
	char dir[600], cat[600], why[TCACHE_ERR_MAX];
	unsigned char *bytes;
	size_t n = 0, blen = 0;
	int64_t since;
	int rc, i;

	snprintf(dir, sizeof(dir), "%s/c1", scratch);
	snprintf(cat, sizeof(cat), "%s/c1.catalog", scratch);
	sc = catalog_sqlite_new(cat);
	sc->ops->init(sc);
	wc = wrap_cat_new(sc);
	memset(&o, 0, sizeof(o));
	o.cache_dir = dir;
	o.node = "n1";
	o.key_prefix = "v";
	o.idle_ms = 600000;
	o.max_dirty_ms = 6000000;
	o.lease_ttl_ms = 600000;
	o.upload_workers = 2;
	o.shutdown_timeout_ms = 10000;
	o.mono_ms = test_mono;
	if (tcache_new(&o, &ms->base, &wc->base, &tc) < 0 || tcache_start(tc) < 0) {
		printf("Bail out! cannot start the engine\n");
		exit(1);
	}
	bytes = small_db(&blen);
	rc = tcache_open(tc, "a", "", O_RDWR | O_CREAT, 0644, &f, NULL);
	TAP_OK(rc == 0 && tfile_write(f, bytes, blen, 0) == (ssize_t)blen, "a open and written");
	atomic_fetch_add(&fake_mono, 1500);

	TAP_OK(tcache_report(tc, &r) == 0, "report");
	d = find_db(&r, "a");
	TAP_OK(d && d->dirty && d->nopen == 1 && d->leased && d->dirty_ms == 1500 && !d->uploading,
	       "report: a open, leased, dirty for 1.5 s");
	TAP_OK(r.ndirty == 1 && r.nopen == 1 && r.nleases == 1 && r.oldest_dirty_ms == 1500 &&
		   !strcmp(r.oldest_dirty_id, "a"),
	       "report: counts and the oldest unpublished change (a, 1500 ms)");
	tcache_report_release(&r);

	/* the idle timer (10 minutes on a clock that stands still) never
	 * fires: only the flush makes it due; the first upload fails */
	atomic_store(&ms->fail_put, 1);
	TAP_OK(tcache_flush(tc, NULL, 0, &v, &n, &since) == 0 && n == 1 && !strcmp(v[0].id, "a") &&
		   v[0].state == TFLUSH_PENDING,
	       "flush (all): a to wait for");
	for (i = 0; i < 250 && atomic_load(&ms->puts) < 1; i++)
		sleep_ms(20);
	sleep_ms(100);
	tcache_flush_poll(tc, v, n, since);
	TAP_OK(v[0].state == TFLUSH_PENDING && strstr(v[0].error, "upload"),
	       "a failed upload: still pending, with the error (%s)", v[0].error);
	free(v);
	/* the back-off (a second or more on the standing clock) is skipped */
	TAP_OK(tcache_flush(tc, one, 1, &v, &n, &since) == 0 && n == 1, "flush a again");
	flush_wait(tc, v, n, since, 5000);
	TAP_OK(v[0].state == TFLUSH_DONE && !v[0].error[0], "flush past the back-off: published");
	TAP_OK(wc->base.ops->get(&wc->base, "a", &it) == 0 && it.gen == 1,
	       "a is at gen 1 in the catalog, still open");
	free(v);
	TAP_OK(tcache_flush(tc, one, 1, &v, &n, &since) == 0 && n == 1 && v[0].state == TFLUSH_DONE,
	       "flush of a clean database: done at once");
	free(v);

	rc = tcache_evict_id(tc, "a", why, sizeof(why));
	TAP_OK(rc == -EBUSY && strstr(why, "open"), "evict of an open database: -EBUSY (%s)", why);
	tfile_close(f);
	for (i = 0; i < 250; i++) {
		rc = tcache_evict_id(tc, "a", why, sizeof(why));
		if (rc != -EBUSY)
			break;
		sleep_ms(20);
	}
	TAP_OK(rc == 0, "evict once closed and released: %s", why);
	TAP_OK(tcache_report(tc, &r) == 0 && r.cache_entries == 0 && r.ndb == 0,
	       "the cache is empty");
	tcache_report_release(&r);
	rc = tcache_evict_id(tc, "a", why, sizeof(why));
	TAP_OK(rc == -ENOENT && strstr(why, "not cached"), "evict again: -ENOENT (%s)", why);
	rc = tcache_open(tc, "a", "", O_RDWR, 0644, &f, NULL);
	{
		unsigned char *buf = calloc(1, blen);

		TAP_OK(rc == 0 && buf && tfile_read(f, buf, blen, 0) == (ssize_t)blen &&
			   !memcmp(buf, bytes, blen),
		       "a opens again from the store with its bytes");
		free(buf);
	}
	if (rc == 0)
		tfile_close(f);

	/* a copy that fails quick_check can never be published: failed */
	rc = tcache_open(tc, "junk", "", O_RDWR | O_CREAT, 0644, &f, NULL);
	TAP_OK(rc == 0 && tfile_write(f, "not a database", 14, 0) == 14, "junk open and written");
	{
		const char *j[] = {"junk"};

		TAP_OK(tcache_flush(tc, j, 1, &v, &n, &since) == 0 && n == 1, "flush junk");
		flush_wait(tc, v, n, since, 5000);
		TAP_OK(v[0].state == TFLUSH_FAILED && strstr(v[0].error, "quick_check"),
		       "a copy failing its check: the flush fails with the reason (%s)",
		       v[0].error);
		free(v);
	}
	if (rc == 0)
		tfile_close(f);
	tcache_shutdown(tc);
	tcache_free(tc);
	store_free(&ms->base);
	catalog_free(&wc->base);
	free(bytes);
}

/* A database left dirty by the last run is recovered at wseq 0: a flush
 * must wait for its write-back, not take "nothing changed since" for
 * published. */
static void test_flush_recovered(void)
{
	struct tcache_options o;
	struct tcache_flush_item *v = NULL;
	struct mem_store *ms = mem_store_new();
	struct wrap_cat *wc;
	struct catalog *sc;
	struct tcache *tc = NULL;
	struct tfile *f = NULL;
	struct cat_item it;
	unsigned char *bytes;
	char dir[600], cat[600];
	size_t n = 0, blen = 0;
	int64_t since;
	int i, run;

	snprintf(dir, sizeof(dir), "%s/c3", scratch);
	snprintf(cat, sizeof(cat), "%s/c3.catalog", scratch);
	sc = catalog_sqlite_new(cat);
	sc->ops->init(sc);
	wc = wrap_cat_new(sc);
	memset(&o, 0, sizeof(o));
	o.cache_dir = dir;
	o.node = "n1";
	o.key_prefix = "v";
	o.idle_ms = 600000;
	o.max_dirty_ms = 6000000;
	o.lease_ttl_ms = 600000;
	o.upload_workers = 2;
	o.shutdown_timeout_ms = 2000;
	o.mono_ms = test_mono;
	bytes = small_db(&blen);
	atomic_store(&ms->fail_put, 1000000);
	for (run = 0; run < 2; run++) {
		if (tcache_new(&o, &ms->base, &wc->base, &tc) < 0 || tcache_start(tc) < 0) {
			printf("Bail out! cannot start the engine\n");
			exit(1);
		}
		if (run == 0) {
			TAP_OK(tcache_open(tc, "r", "", O_RDWR | O_CREAT, 0644, &f, NULL) == 0 &&
				   tfile_write(f, bytes, blen, 0) == (ssize_t)blen,
			       "r written while S3 fails");
			tfile_close(f);
			TAP_OK(tcache_shutdown(tc) < 0, "shutdown leaves r dirty");
			tcache_free(tc);
			continue;
		}
		/* the recovery job leases it; its upload still fails */
		for (i = 0; i < 250 && atomic_load(&ms->puts) < 2; i++)
			sleep_ms(20);
		TAP_OK(tcache_flush(tc, NULL, 0, &v, &n, &since) == 0 && n == 1 &&
			   !strcmp(v[0].id, "r"),
		       "flush after the restart waits for the recovered r");
		sleep_ms(300);
		tcache_flush_poll(tc, v, n, since);
		TAP_OK(v[0].state == TFLUSH_PENDING, "r is not published while S3 fails (%s)",
		       v[0].error);
		atomic_store(&ms->fail_put, 0);
		free(v);
		tcache_flush(tc, NULL, 0, &v, &n, &since);
		flush_wait(tc, v, n, since, 5000);
		TAP_OK(n == 1 && v[0].state == TFLUSH_DONE &&
			   wc->base.ops->get(&wc->base, "r", &it) == 0 && it.gen == 1,
		       "once S3 is back the flush publishes r (gen 1)");
		free(v);
		tcache_shutdown(tc);
		tcache_free(tc);
	}
	store_free(&ms->base);
	catalog_free(&wc->base);
	free(bytes);
}

static void test_cost_table(void)
{
	struct mem_store *ms = mem_store_new();
	struct tcost *c = tcost_new();
	struct store *s = tcost_wrap_store(c, &ms->base);
	struct tcost_row *rows = NULL;
	struct tcost_counts others;
	struct store_info info;
	uint64_t puts = 0;
	size_t nrows = 0, tracked = 0, i;
	char key[256];
	int fd, n = TCOST_SLOTS + 1000, ok = 1;
	FILE *tmp = tmpfile();

	fd = fileno(tmp);
	if (write(fd, "0123456789", 10) != 10)
		ok = 0;
	/* sharded and plain keys name the folder above the version */
	s->ops->put(s, "v/ab/hot/h1.db", fd, 10, "h1");
	for (i = 0; i < 20; i++)
		s->ops->put(s, "v/hot/h2.db", fd, 10, "h2");
	s->ops->get(s, "v/hot/h2.db", fd, &info);
	s->ops->head(s, "v/hot/h2.db", &info);
	for (i = 0; i < (size_t)n; i++) {
		snprintf(key, sizeof(key), "v/id%zu/h.db", i);
		s->ops->put(s, key, fd, 10, "h");
	}
	TAP_OK(ok && tcost_top(c, 3, &rows, &nrows, &others, &tracked) == 0 && nrows == 3, "top 3");
	TAP_OK(!strcmp(rows[0].id, "hot") && rows[0].c.s3_put == 21 && rows[0].c.s3_get == 1 &&
		   rows[0].c.s3_head == 1 && rows[0].c.bytes_up == 210 &&
		   rows[0].c.bytes_down == 10,
	       "the costly database stays first through %d newcomers", n);
	TAP_OK(tcost_usd(&rows[0].c) > tcost_usd(&rows[1].c), "sorted by cost");
	TAP_OK(tracked <= TCOST_SLOTS && tracked > TCOST_SLOTS / 2,
	       "the table is bounded: %zu rows of %d", tracked, TCOST_SLOTS);
	free(rows);
	tcost_top(c, TCOST_SLOTS, &rows, &nrows, &others, &tracked);
	for (i = 0; i < nrows; i++)
		puts += rows[i].c.s3_put;
	TAP_OK(puts + others.s3_put == 21 + (uint64_t)n && others.s3_put > 0,
	       "nothing is lost: rows + others count every PUT (%llu + %llu)",
	       (unsigned long long)puts, (unsigned long long)others.s3_put);
	free(rows);
	fclose(tmp);
	store_free(s);
	store_free(&ms->base);
	tcost_free(c);
}

/* An S3-like store: the in-memory one with the optional upload calls. */
static int up_calls;

static int up_list(struct store *s, const char *prefix,
		   int (*cb)(void *arg, const char *key, const char *upload_id, int64_t started_ms),
		   void *arg)
{
	(void)s;
	(void)prefix;
	up_calls++;
	return cb(arg, "v/u1/h.db", "up1", 1000);
}

static int up_abort(struct store *s, const char *key, const char *upload_id)
{
	(void)s;
	up_calls += !strcmp(key, "v/u1/h.db") && !strcmp(upload_id, "up1");
	return 0;
}

static int up_seen(void *arg, const char *key, const char *upload_id, int64_t started_ms)
{
	(void)key;
	(void)upload_id;
	*(int64_t *)arg = started_ms;
	return 0;
}

/* The store contract says NULL is "not supported": the wrapper keeps an
 * optional operation NULL where the wrapped store has it NULL, and
 * forwards it (counted) where the store has it. */
static void test_cost_optional_ops(void)
{
	struct mem_store *plain = mem_store_new(), *s3ish = mem_store_new();
	struct store_ops with_uploads = *plain->base.ops;
	struct tcost *c = tcost_new();
	struct store *wp, *ws;
	struct tcost_row *rows = NULL;
	size_t nrows = 0;
	int64_t started = 0;

	with_uploads.list_uploads = up_list;
	with_uploads.abort_upload = up_abort;
	s3ish->base.ops = &with_uploads;
	wp = tcost_wrap_store(c, &plain->base);
	ws = tcost_wrap_store(c, &s3ish->base);
	TAP_OK(wp && !wp->ops->list_uploads && !wp->ops->abort_upload,
	       "a store without uploads: the wrapper's list_uploads and abort_upload are NULL");
	TAP_OK(wp && wp->ops->put && wp->ops->list && wp->ops->check,
	       "... and its other operations are the wrapper's");
	TAP_OK(ws && ws->ops->list_uploads && ws->ops->abort_upload &&
		   ws->ops->list_uploads(ws, "v/", up_seen, &started) == 0 && started == 1000 &&
		   ws->ops->abort_upload(ws, "v/u1/h.db", "up1") == 0 && up_calls == 2,
	       "a store with uploads: both forwarded");
	TAP_OK(tcost_top(c, 5, &rows, &nrows, NULL, NULL) == 0 && nrows == 1 &&
		   !strcmp(rows[0].id, "u1") && rows[0].c.s3_delete == 1,
	       "the abort is counted for the database its key names");
	free(rows);
	store_free(wp);
	store_free(ws);
	store_free(&plain->base);
	store_free(&s3ish->base);
	tcost_free(c);
}

static void test_cost_catalog(void)
{
	char cat[600];
	struct catalog *sc, *w;
	struct tcost *c = tcost_new();
	struct tcost_row *rows = NULL;
	struct cat_item it;
	struct cat_session s;
	size_t nrows = 0;

	snprintf(cat, sizeof(cat), "%s/c2.catalog", scratch);
	sc = catalog_sqlite_new(cat);
	sc->ops->init(sc);
	w = tcost_wrap_catalog(c, sc);
	/* The node's session calls are no database's: only in the totals. */
	w->ops->session_start(w, "n1", 0, 1000, &s);
	w->ops->acquire(w, "x", "n1", s.sess, 0, 1000, NULL, &it);
	w->ops->heartbeat(w, "n1", s.sess, 0, 1000, NULL, 0, NULL);
	w->ops->want(w, "x", "n1");
	w->ops->get(w, "x", &it);
	w->ops->release(w, "x", "n1", it.epoch);
	TAP_OK(tcost_top(c, 5, &rows, &nrows, NULL, NULL) == 0 && nrows == 1 &&
		   !strcmp(rows[0].id, "x") && rows[0].c.ddb_write == 3 && rows[0].c.ddb_read == 1,
	       "catalog calls: 3 writes and 1 read for x, the session's calls on no database");
	TAP_OK(tcost_usd(&rows[0].c) == 3 * TFS_PRICE_DDB_WRITE + TFS_PRICE_DDB_READ,
	       "priced at the documented DynamoDB prices");
	free(rows);
	catalog_free(w);
	catalog_free(sc);
	tcost_free(c);
}

int main(void)
{
	const char *base = getenv("TFS_TEST_TMP");

	snprintf(scratch, sizeof(scratch), "%s/test_inspect.XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(scratch)) {
		printf("Bail out! mkdtemp %s\n", scratch);
		return 1;
	}
	if (!getenv("TFS_TEST_VERBOSE"))
		tfs_log_set_level(LOG_ERR);
	test_report_flush_evict();
	test_flush_recovered();
	test_cost_table();
	test_cost_optional_ops();
	test_cost_catalog();
	if (!tap_failed) {
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", scratch);
		if (system(cmd) != 0)
			printf("# cannot remove %s\n", scratch);
	}
	return TAP_DONE();
}
