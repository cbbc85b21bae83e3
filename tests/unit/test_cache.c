/* Unit tests of the cache engine (cache/engine/cache.h) over an in-memory store and
 * the real SQLite catalog: fault-in, write-back, dedup by hash, snapshot of
 * journal and WAL databases, timers on a forced clock, quarantine, crash
 * recovery, eviction, unlink, readdir, leases between two nodes. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache/engine/cache.h"
#include "cache/engine/state.h"
#include "cache/store/keys.h"
#include "s3/base/hash.h"
#include "s3/base/log.h"
#include "tests/unit/fake_backends.h"
#include "tests/unit/tap.h"

static char scratch[512];
static atomic_llong fake_mono = 1000000;

/* Armed by a test thread, its next clock read is the last before a stall of
 * stall_ms: every later read (any thread) sees the time after it. The first
 * clock read of a write is its lease check, so this stalls the write between
 * the check and the pwrite, as a paused process or a hung disk would. */
static _Thread_local bool stall_next;
static long stall_ms;

static int64_t test_mono(void)
{
	int64_t v = atomic_load(&fake_mono);

	if (stall_next) {
		stall_next = false;
		atomic_fetch_add(&fake_mono, stall_ms);
	}
	return v;
}

static void advance(long ms)
{
	atomic_fetch_add(&fake_mono, ms);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* ---- fixtures ----------------------------------------------------------- */

struct env {
	struct mem_store *ms;
	struct wrap_cat *wc;
	char catpath[600];
};

static void env_init(struct env *e, const char *name)
{
	struct catalog *c;

	snprintf(e->catpath, sizeof(e->catpath), "%s/%s.catalog", scratch, name);
	e->ms = mem_store_new();
	c = catalog_sqlite_new(e->catpath);
	if (c)
		c->ops->init(c);
	e->wc = wrap_cat_new(c);
	if (!e->ms || !e->wc) {
		printf("Bail out! cannot build test back ends\n");
		exit(1);
	}
}

static void env_free(struct env *e)
{
	store_free(&e->ms->base);
	catalog_free(&e->wc->base);
}

static void opts(struct tcache_options *o, const char *dir, const char *node)
{
	memset(o, 0, sizeof(*o));
	o->cache_dir = dir;
	o->node = node;
	o->key_prefix = "v";
	o->idle_ms = 60000;
	o->max_dirty_ms = 600000;
	o->lease_ttl_ms = 60000;
	o->linger_ms = 0;
	o->upload_workers = 2;
	o->shutdown_timeout_ms = 10000;
	o->mono_ms = test_mono;
}

static struct tcache *mk(struct env *e, const struct tcache_options *o, bool start)
{
	struct tcache *tc = NULL;
	int rc = tcache_new(o, &e->ms->base, &e->wc->base, &tc);

	if (rc < 0) {
		printf("Bail out! tcache_new %s: %s\n", o->cache_dir, strerror(-rc));
		exit(1);
	}
	if (start && tcache_start(tc) < 0) {
		printf("Bail out! tcache_start\n");
		exit(1);
	}
	return tc;
}

static char *dirname_of(const char *name)
{
	static char buf[8][600];
	static int k;
	char *b = buf[k++ % 8];

	snprintf(b, 600, "%s/%s", scratch, name);
	return b;
}

/* Builds a real SQLite database with rows rows in journal mode mode and
 * returns its bytes. */
static unsigned char *read_file(const char *path, size_t *len)
{
	struct stat st;
	unsigned char *b;
	int fd = open(path, O_RDONLY);

	*len = 0;
	if (fd < 0)
		return NULL;
	fstat(fd, &st);
	b = malloc((size_t)st.st_size + 1);
	if (b && read(fd, b, (size_t)st.st_size) != st.st_size) {
		free(b);
		b = NULL;
	}
	*len = (size_t)st.st_size;
	close(fd);
	return b;
}

static int exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);

	if (rc != SQLITE_OK)
		printf("# sqlite: %s: %s\n", sql, msg ? msg : "?");
	sqlite3_free(msg);
	return rc;
}

static unsigned char *make_db(const char *name, int rows, size_t *len)
{
	char path[700], sql[256];
	sqlite3 *db;
	unsigned char *b;
	int i;

	snprintf(path, sizeof(path), "%s/%s", scratch, name);
	unlink(path);
	sqlite3_open(path, &db);
	exec(db, "CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)");
	exec(db, "BEGIN");
	for (i = 0; i < rows; i++) {
		snprintf(sql, sizeof(sql), "INSERT INTO t(v) VALUES ('row %d of %s')", i, name);
		exec(db, sql);
	}
	exec(db, "COMMIT");
	sqlite3_close(db);
	b = read_file(path, len);
	return b;
}

/* Counts rows of t in a database held in memory; -1 if it is not a sound
 * database (integrity_check fails). */
static int count_rows(const unsigned char *bytes, size_t len, int *wal_byte)
{
	char path[700];
	sqlite3 *db;
	sqlite3_stmt *s;
	int fd, n = -1;

	snprintf(path, sizeof(path), "%s/check.%d.db", scratch, rand());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, bytes, len) != (ssize_t)len) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	if (wal_byte)
		*wal_byte = len > 19 ? bytes[18] : -1;
	if (sqlite3_open(path, &db) != SQLITE_OK)
		goto out;
	if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL) == SQLITE_OK) {
		if (sqlite3_step(s) == SQLITE_ROW &&
		    !strcmp((const char *)sqlite3_column_text(s, 0), "ok"))
			n = 0;
		sqlite3_finalize(s);
	}
	if (n == 0 && sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &s, NULL) == SQLITE_OK) {
		n = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
		sqlite3_finalize(s);
	}
out:
	sqlite3_close(db);
	unlink(path);
	return n;
}

static int write_file(struct tcache *tc, const char *id, const char *suffix, const unsigned char *b,
		      size_t len, int flags)
{
	struct tfile *f;
	ssize_t n;
	int rc;

	rc = tcache_open(tc, id, suffix, O_RDWR | flags, 0644, &f, NULL);
	if (rc < 0)
		return rc;
	n = tfile_write(f, b, len, 0);
	if (n >= 0)
		rc = tfile_truncate(f, (off_t)len);
	else
		rc = (int)n;
	tfile_close(f);
	return rc;
}

/* The bytes of a database of rows rows caught mid-transaction (more rows and
 * an update, spilled to the file by a tiny page cache) in *db and its hot
 * journal in *jb: what a crash at that instant leaves. */
static void make_torn(const char *name, int rows, unsigned char **db, size_t *dl,
		      unsigned char **jb, size_t *jl)
{
	char path[700], sql[200];
	unsigned char *base;
	size_t bl;
	sqlite3 *s;
	int i;

	base = make_db(name, rows, &bl);
	snprintf(path, sizeof(path), "%s/%s", scratch, name);
	sqlite3_open(path, &s);
	exec(s, "PRAGMA cache_size=2");
	exec(s, "BEGIN");
	for (i = 0; i < 2000; i++) {
		snprintf(sql, sizeof(sql),
			 "INSERT INTO t(v) VALUES ('uncommitted row %d padding padding padding')",
			 i);
		exec(s, sql);
	}
	exec(s, "UPDATE t SET v = v || 'x'");
	*db = read_file(path, dl);
	snprintf(path, sizeof(path), "%s/%s-journal", scratch, name);
	*jb = read_file(path, jl);
	exec(s, "ROLLBACK");
	sqlite3_close(s);
	TAP_OK(*db && *jb && *jl > 0 && *dl > bl,
	       "%s: hot journal state captured (db %zu, journal %zu)", name, *dl, *jl);
	free(base);
}

static struct tcache_stats stats(struct tcache *tc)
{
	struct tcache_stats s;

	tcache_get_stats(tc, &s);
	return s;
}

/* Polls until the engine made at least n commits; bounded in real time. */
static bool wait_commits(struct tcache *tc, uint64_t n, long ms)
{
	long i;

	for (i = 0; i < ms / 20; i++) {
		if (stats(tc).commits >= n)
			return true;
		sleep_ms(20);
	}
	return stats(tc).commits >= n;
}

/* Write-back and recovery jobs queued or running (tcache_report). */
static size_t jobs_busy(struct tcache *tc)
{
	struct tcache_report r;
	size_t n;

	if (tcache_report(tc, &r) < 0) {
		printf("Bail out! tcache_report\n");
		exit(1);
	}
	n = r.nuploading;
	tcache_report_release(&r);
	return n;
}

/* Waits until the scheduler has decided on what the caller did before this
 * call, and what it decided on has run: two more passes (the second began
 * after this call, so it saw everything before it, and it queues its jobs
 * before it counts), then no write-back or recovery job queued or running.
 * What it did not do by then it did not decide to do. Bounded in real
 * time; false when it timed out. */
static bool wait_settled(struct tcache *tc, long ms)
{
	uint64_t until = stats(tc).sched_passes + 2;
	long i;

	for (i = 0; i < ms / 10; i++) {
		if (stats(tc).sched_passes >= until && jobs_busy(tc) == 0)
			return true;
		sleep_ms(10);
	}
	return false;
}

static bool wait_item(struct env *e, const char *id, uint64_t gen, struct cat_item *it, long ms)
{
	long i;

	for (i = 0; i < ms / 20; i++) {
		if (e->wc->in->ops->get(e->wc->in, id, it) == 0 && it->gen >= gen)
			return true;
		sleep_ms(20);
	}
	return false;
}

/* Waits until nobody holds id's lease. */
static bool wait_released(struct env *e, const char *id, long ms)
{
	struct cat_item it;
	long i;

	for (i = 0; i < ms / 20; i++) {
		if (e->wc->in->ops->get(e->wc->in, id, &it) == 0 && !it.owner[0])
			return true;
		sleep_ms(20);
	}
	return false;
}

/* True when node's session is over (ended or killed): every lease taken
 * in it that is not stranded is free for other nodes. node is an owner as
 * the items name it (the cache's identity, not the node= label). */
static bool session_over(struct env *e, const char *node)
{
	struct cat_session s;

	return e->wc->in->ops->session_get(e->wc->in, node, &s) == 0 && s.killed_ms != 0;
}

static unsigned char *object_of(struct env *e, const char *id, const struct cat_item *it,
				size_t *len)
{
	char key[400];

	snprintf(key, sizeof(key), "v/%s/%s.db", id, it->hash);
	return mem_store_copy(e->ms, key, len);
}

static void xattr(struct tcache *tc, const char *id, const char *name, char *buf, size_t cap)
{
	ssize_t n = tcache_getxattr(tc, id, name, buf, cap - 1);

	buf[n > 0 ? n : 0] = '\0';
}

/* ---- tests -------------------------------------------------------------- */

static void test_create_commit_reopen(void)
{
	struct env e;
	struct tcache_options o;
	struct tcache *tc;
	struct cat_item it;
	struct tfile *f;
	struct stat st;
	unsigned char *db, *obj, buf[64];
	char hash[CAT_HASH_HEX + 1], x[128];
	size_t len, olen = 0;
	bool kc = false;
	int gets, puts;

	env_init(&e, "basic");
	opts(&o, dirname_of("basic"), "node-a");
	tc = mk(&e, &o, true);
	db = make_db("basic.src", 50, &len);
	tfs_hash_buf(db, len, hash);

	TAP_OK(tcache_open(tc, "alice", "", O_RDWR, 0644, &f, NULL) == -ENOENT,
	       "open without O_CREAT of an unknown database is -ENOENT");
	TAP_OK(write_file(tc, "alice", "", db, len, O_CREAT) == 0, "create and write alice.db");
	TAP_OK(wait_item(&e, "alice", 1, &it, 5000), "closing publishes gen 1");
	TAP_STREQ(it.hash, hash, "catalog hash is the hash of the written bytes");
	TAP_OK(it.size == len, "catalog size %llu", (unsigned long long)it.size);
	obj = object_of(&e, "alice", &it, &olen);
	TAP_OK(obj && olen == len && !memcmp(obj, db, len),
	       "object v/alice/<hash>.db holds the bytes");
	TAP_OK(obj && count_rows(obj, olen, NULL) == 50, "published copy passes integrity_check");
	free(obj);
	TAP_OK(wait_released(&e, "alice", 5000), "lease released after close (linger 0)");

	gets = atomic_load(&e.ms->gets);
	puts = atomic_load(&e.ms->puts);
	TAP_OK(tcache_open(tc, "alice", "", O_RDWR, 0644, &f, &kc) == 0, "reopen alice");
	TAP_OK(atomic_load(&e.ms->gets) == gets, "reopen of the current version does no GET");
	TAP_OK(kc, "keep_cache when nothing changed");
	TAP_OK(tfile_read(f, buf, 16, 0) == 16 && !memcmp(buf, "SQLite format 3", 15),
	       "read through the handle");
	TAP_OK(tfile_fstat(f, &st) == 0 && st.st_size == (off_t)len, "fstat size");
	xattr(tc, "alice", "user.tenantfs.dirty", x, sizeof(x));
	TAP_STREQ(x, "0", "xattr dirty is 0 while clean");
	xattr(tc, "alice", "user.tenantfs.gen", x, sizeof(x));
	TAP_STREQ(x, "1", "xattr gen");
	xattr(tc, "alice", "user.tenantfs.owner", x, sizeof(x));
	TAP_STREQ(x, tcache_node(tc), "xattr owner while open: the node identity");
	tfile_close(f);
	TAP_OK(wait_settled(tc, 5000), "the scheduler looked at alice after the close");
	TAP_OK(atomic_load(&e.ms->puts) == puts, "a session that changes nothing makes no PUT");
	TAP_OK(stats(tc).commits == 1, "... and no commit");

	/* Rewrite identical bytes: dirty, but the hash is unchanged. */
	TAP_OK(write_file(tc, "alice", "", db, len, 0) == 0, "rewrite the same bytes");
	{
		int i;

		for (i = 0; i < 100 && stats(tc).puts_skipped < 1; i++)
			sleep_ms(20);
	}
	TAP_OK(stats(tc).puts_skipped == 1, "unchanged content skips the PUT");
	TAP_OK(atomic_load(&e.ms->puts) == puts, "no PUT for identical content");
	TAP_OK(e.wc->in->ops->get(e.wc->in, "alice", &it) == 0 && it.gen == 1,
	       "no commit for identical content");

	TAP_OK(tcache_getattr(tc, "alice", "", &st) == 0 && st.st_size == (off_t)len,
	       "getattr of the cached copy");
	TAP_OK(tcache_getattr(tc, "nobody", "", &st) == -ENOENT, "getattr of an absent id");
	TAP_OK(tcache_shutdown(tc) == 0, "shutdown with nothing dirty returns 0");
	tcache_free(tc);

	/* A second node with an empty cache: getattr from the catalog, then a GET. */
	opts(&o, dirname_of("basic2"), "node-b");
	tc = mk(&e, &o, true);
	gets = atomic_load(&e.ms->gets);
	TAP_OK(tcache_getattr(tc, "alice", "", &st) == 0 && st.st_size == (off_t)len,
	       "getattr of an uncached database comes from the catalog");
	TAP_OK(atomic_load(&e.ms->gets) == gets, "... with no store request");
	TAP_OK(tcache_open(tc, "alice", "", O_RDONLY, 0, &f, &kc) == 0, "open on node b");
	TAP_OK(atomic_load(&e.ms->gets) == gets + 1, "fault-in is one GET");
	TAP_OK(!kc, "no keep_cache after a fault-in");
	{
		struct tfile *g = NULL;

		/* The kernel may not have dropped the old pages yet when this
		 * second open is answered: it must not keep them either. */
		kc = true;
		TAP_OK(tcache_open(tc, "alice", "", O_RDONLY, 0, &g, &kc) == 0 && !kc,
		       "no keep_cache for an open while the fault-in's handle is open");
		tfile_close(g);
		kc = true;
		TAP_OK(tcache_open(tc, "alice", "", O_RDONLY, 0, &g, &kc) == 0 && !kc,
		       "... nor for one after it, while a handle since the fault-in is open");
		tfile_close(g);
	}
	tfile_close(f);
	kc = false;
	TAP_OK(tcache_open(tc, "alice", "", O_RDONLY, 0, &f, &kc) == 0 && kc,
	       "keep_cache again once every handle since the fault-in closed");
	TAP_OK(atomic_load(&e.ms->gets) == gets + 1, "... and no second GET");
	tfile_close(f);
	TAP_OK(tcache_shutdown(tc) == 0, "node b shuts down clean");
	tcache_free(tc);
	free(db);
	env_free(&e);
}

static void test_hash_mismatch(void)
{
	struct env e;
	struct tcache_options oa, ob;
	struct tcache *a, *b;
	struct cat_item it;
	struct tfile *f;
	unsigned char *v1, *v2, *cached;
	char key[300], path[800];
	size_t l1, l2, cl;

	env_init(&e, "mism");
	opts(&oa, dirname_of("mism-a"), "node-a");
	opts(&ob, dirname_of("mism-b"), "node-b");
	a = mk(&e, &oa, true);
	b = mk(&e, &ob, true);
	v1 = make_db("mism.v1", 10, &l1);
	v2 = make_db("mism.v2", 20, &l2);
	TAP_OK(write_file(a, "bob", "", v1, l1, O_CREAT) == 0 && wait_item(&e, "bob", 1, &it, 5000),
	       "node a publishes bob gen 1");
	TAP_OK(wait_released(&e, "bob", 5000), "node a released bob");
	TAP_OK(write_file(b, "bob", "", v2, l2, 0) == 0 && wait_item(&e, "bob", 2, &it, 5000),
	       "node b publishes bob gen 2");
	TAP_OK(wait_released(&e, "bob", 5000), "node b released bob");
	snprintf(key, sizeof(key), "v/bob/%s.db", it.hash);
	TAP_OK(mem_store_corrupt(e.ms, key) == 0, "corrupt the gen 2 object");
	TAP_OK(tcache_open(a, "bob", "", O_RDWR, 0, &f, NULL) == -EIO,
	       "open fetching a corrupt object fails with -EIO");
	snprintf(path, sizeof(path), "%s/db/bob.db", oa.cache_dir);
	cached = read_file(path, &cl);
	TAP_OK(cached && cl == l1 && !memcmp(cached, v1, l1), "the cached gen 1 file is untouched");
	free(cached);
	TAP_OK(wait_released(&e, "bob", 5000), "the failed open gave the lease back");
	tcache_shutdown(a);
	tcache_shutdown(b);
	tcache_free(a);
	tcache_free(b);
	free(v1);
	free(v2);
	env_free(&e);
}

static void test_wal_and_journal(void)
{
	struct env e;
	struct tcache_options o;
	struct tcache *tc;
	struct cat_item it;
	char path[700], sql[200];
	unsigned char *dbb, *walb, *jb, *obj;
	size_t dl, wl, jl, ol;
	sqlite3 *db;
	int i, walbyte = 0, n;

	env_init(&e, "walj");
	opts(&o, dirname_of("walj"), "node-a");
	tc = mk(&e, &o, true);

	/* A WAL database with commits still in the -wal file. */
	snprintf(path, sizeof(path), "%s/wal.src.db", scratch);
	unlink(path);
	sqlite3_open(path, &db);
	exec(db, "PRAGMA journal_mode=WAL");
	exec(db, "PRAGMA wal_autocheckpoint=0");
	exec(db, "CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)");
	for (i = 0; i < 30; i++) {
		snprintf(sql, sizeof(sql), "INSERT INTO t(v) VALUES ('wal row %d')", i);
		exec(db, sql);
	}
	dbb = read_file(path, &dl);
	snprintf(path, sizeof(path), "%s/wal.src.db-wal", scratch);
	walb = read_file(path, &wl);
	sqlite3_close(db);
	TAP_OK(dbb && walb && wl > 0, "WAL source has %zu bytes of WAL", wl);
	{
		struct tfile *f, *w;

		TAP_OK(tcache_open(tc, "walu", "", O_RDWR | O_CREAT, 0644, &f, NULL) == 0,
		       "create walu");
		TAP_OK(tfile_write(f, dbb, dl, 0) == (ssize_t)dl, "write the WAL db");
		TAP_OK(tcache_open(tc, "walu", "-wal", O_RDWR | O_CREAT, 0644, &w, NULL) == 0,
		       "create walu.db-wal while the db is open");
		TAP_OK(tfile_write(w, walb, wl, 0) == (ssize_t)wl, "write the -wal");
		tfile_close(w);
		tfile_close(f);
	}
	TAP_OK(wait_item(&e, "walu", 1, &it, 5000), "WAL database published");
	obj = object_of(&e, "walu", &it, &ol);
	n = obj ? count_rows(obj, ol, &walbyte) : -1;
	TAP_OK(n == 30, "published WAL database is checkpointed: %d rows of 30", n);
	TAP_OK(walbyte == 2, "WAL mode byte kept in the header (%d)", walbyte);
	free(obj);
	free(dbb);
	free(walb);

	/* A rollback-journal database caught mid-transaction: hot journal. */
	make_torn("hot.src.db", 40, &dbb, &dl, &jb, &jl);
	{
		struct tfile *f, *j;

		TAP_OK(tcache_open(tc, "hot", "", O_RDWR | O_CREAT, 0644, &f, NULL) == 0,
		       "create hot.db");
		TAP_OK(tfile_write(f, dbb, dl, 0) == (ssize_t)dl, "write the mid-transaction db");
		TAP_OK(tcache_open(tc, "hot", "-journal", O_RDWR | O_CREAT, 0644, &j, NULL) == 0,
		       "create hot.db-journal");
		TAP_OK(tfile_write(j, jb, jl, 0) == (ssize_t)jl, "write the hot journal");
		tfile_close(j);
		tfile_close(f);
	}
	TAP_OK(wait_item(&e, "hot", 1, &it, 5000), "hot-journal database published");
	obj = object_of(&e, "hot", &it, &ol);
	n = obj ? count_rows(obj, ol, NULL) : -1;
	TAP_OK(n == 40, "snapshot rolled the hot journal back: %d rows of 40", n);
	free(obj);
	free(dbb);
	free(jb);
	tcache_shutdown(tc);
	tcache_free(tc);
	env_free(&e);
}

static void test_check_failure(void)
{
	struct env e;
	struct tcache_options o;
	struct tcache *tc;
	struct cat_item it;
	char junk[8192], x[300];
	int i;

	env_init(&e, "junk");
	opts(&o, dirname_of("junk"), "node-a");
	tc = mk(&e, &o, true);
	for (i = 0; i < (int)sizeof(junk); i++)
		junk[i] = (char)(i * 7 + 3);
	TAP_OK(write_file(tc, "junk", "", (unsigned char *)junk, sizeof(junk), O_CREAT) == 0,
	       "write bytes that are not a database");
	for (i = 0; i < 250; i++) {
		xattr(tc, "junk", "user.tenantfs.error", x, sizeof(x));
		if (x[0])
			break;
		sleep_ms(20);
	}
	TAP_OK(wait_settled(tc, 5000), "the write-back of junk ran and failed (%s)", x);
	TAP_OK(atomic_load(&e.ms->puts) == 0, "a copy failing quick_check is not uploaded");
	TAP_OK(e.wc->in->ops->get(e.wc->in, "junk", &it) == 0 && it.gen == 0, "nothing committed");
	xattr(tc, "junk", "user.tenantfs.dirty", x, sizeof(x));
	TAP_STREQ(x, "1", "it stays dirty");
	xattr(tc, "junk", "user.tenantfs.error", x, sizeof(x));
	TAP_OK(strstr(x, "quick_check") != NULL || strstr(x, "open") != NULL,
	       "xattr error says why: %s", x);
	TAP_OK(tcache_shutdown(tc) == -EIO, "shutdown reports what is left dirty");
	tcache_free(tc);
	env_free(&e);
}

static void test_timers(void)
{
	struct env e;
	struct tcache_options o;
	struct tcache *tc;
	struct cat_item it;
	struct tfile *f;
	unsigned char *db;
	size_t len;
	int i;

	env_init(&e, "timers");
	opts(&o, dirname_of("timers"), "node-a");
	o.idle_ms = 2000;
	o.max_dirty_ms = 10000;
	tc = mk(&e, &o, true);
	db = make_db("timers.src", 5, &len);
	TAP_OK(tcache_open(tc, "tim", "", O_RDWR | O_CREAT, 0644, &f, NULL) == 0, "open tim");
	TAP_OK(tfile_write(f, db, len, 0) == (ssize_t)len, "write tim");
	TAP_OK(wait_settled(tc, 5000), "the scheduler looked at tim while it was open");
	TAP_OK(stats(tc).commits == 0 && stats(tc).writebacks == 0,
	       "no write-back while open and not idle");
	advance(2100);
	TAP_OK(wait_commits(tc, 1, 3000), "idle timer writes back while still open");
	/* Keep writing every 1 s of forced time: never idle, but too long dirty. */
	for (i = 0; i < 12; i++) {
		db[len - 1] = (unsigned char)('a' + i); /* text of the first row */
		tfile_write(f, db, len, 0);
		advance(1000);
		wait_settled(tc, 5000);
		/* A commit, not a write-back: under valgrind on a loaded
		 * machine the idle write-back can still be finishing (it then
		 * leaves the family dirty) when this loop starts, and a pass
		 * that finds nothing new to publish commits nothing. */
		if (stats(tc).commits >= 2)
			break;
	}
	TAP_OK(stats(tc).commits >= 2 && i >= 8,
	       "max-dirty timer writes back a busy database (after %d s)", i + 1);
	tfile_close(f);
	(void)it;
	tcache_shutdown(tc);
	tcache_free(tc);
	free(db);
	env_free(&e);
}

static void test_quarantine_on_estale(void)
{
	struct env e;
	struct tcache_options o;
	struct tcache *tc;
	struct cat_item it;
	unsigned char *db;
	char x[1024];
	struct stat st;
	size_t len;
	int i;

	env_init(&e, "stale");
	opts(&o, dirname_of("stale"), "node-a");
	tc = mk(&e, &o, true);
	db = make_db("stale.src", 7, &len);
	atomic_store(&e.wc->commit_estale, 1);
	TAP_OK(write_file(tc, "carol", "", db, len, O_CREAT) == 0, "write carol");
	for (i = 0; i < 250 && stats(tc).quarantined == 0; i++)
		sleep_ms(20);
	TAP_OK(stats(tc).quarantined == 1, "a commit refused with -ESTALE quarantines");
	TAP_OK(e.wc->in->ops->get(e.wc->in, "carol", &it) == 0 && it.gen == 0,
	       "nothing was published");
	xattr(tc, "carol", "user.tenantfs.quarantine", x, sizeof(x));
	TAP_OK(x[0] && strstr(x, "quarantine/carol."), "xattr quarantine names the folder: %s", x);
	strncat(x, "/carol.db", sizeof(x) - strlen(x) - 1);
	TAP_OK(stat(x, &st) == 0 && st.st_size == (off_t)len, "the local copy is kept there");
	xattr(tc, "carol", "user.tenantfs.dirty", x, sizeof(x));
	TAP_STREQ(x, "0", "quarantined copy is no longer dirty");

	/* A commit that went through but whose reply was lost. */
	atomic_store(&e.wc->commit_lost_reply, 1);
	db[len - 1] = 'q';
	TAP_OK(write_file(tc, "ida", "", db, len, O_CREAT) == 0, "write ida");
	TAP_OK(wait_item(&e, "ida", 1, &it, 5000), "ida gen 1 is in the catalog");
	for (i = 0; i < 100 && stats(tc).commits < 1; i++)
		sleep_ms(20);
	TAP_OK(stats(tc).commits == 1 && stats(tc).quarantined == 1,
	       "a commit whose reply was lost is recognised, not quarantined");
	for (i = 0; i < 100; i++) {
		xattr(tc, "ida", "user.tenantfs.dirty", x, sizeof(x));
		if (!strcmp(x, "0"))
			break;
		sleep_ms(20);
	}
	TAP_STREQ(x, "0", "ida is clean");
	tcache_shutdown(tc);
	tcache_free(tc);
	free(db);
	env_free(&e);
}

/* Another node takes id over on the record it reads now, as a node that saw
 * the holder's heartbeat unchanged for lease_ttl would: it kills the
 * holder's session, then takes the item. *out gets the item after the
 * write. */
static int take_over(struct catalog *c, const char *id, const char *node, struct cat_item *out)
{
	struct cat_takeover tk;
	struct cat_session s;
	struct cat_item held;
	int rc = c->ops->get(c, id, &held);

	if (rc < 0)
		return rc;
	if (c->ops->session_get(c, held.owner, &s) == 0 && s.sess == held.sess &&
	    (rc = c->ops->session_kill(c, held.owner, s.sess, s.rev, 1000)) < 0)
		return rc;
	tk.owner = held.owner;
	tk.epoch = held.epoch;
	tk.rev = held.rev;
	tk.sess = held.sess;
	return c->ops->acquire(c, id, node, 0, 1000, 1000, &tk, out);
}

static void test_recovery(void)
{
	struct env e;
	struct tcache_options o;
	struct tcache *tc;
	struct cat_item it;
	struct cat_commit cm = {0};
	unsigned char *db;
	char hash[CAT_HASH_HEX + 1], x[64], me[CAT_NODE_MAX + 1];
	size_t len;
	int i;

	env_init(&e, "crash");
	opts(&o, dirname_of("crash"), "node-a");
	db = make_db("crash.src", 12, &len);
	tfs_hash_buf(db, len, hash);
	/* No threads: nothing is written back before the "crash". */
	tc = mk(&e, &o, false);
	snprintf(me, sizeof(me), "%s", tcache_node(tc));
	TAP_OK(write_file(tc, "dave", "", db, len, O_CREAT) == 0, "write dave, then crash");
	TAP_OK(write_file(tc, "erin", "", db, len, O_CREAT) == 0, "write erin, then crash");
	TAP_OK(write_file(tc, "fay", "", db, len, O_CREAT) == 0, "write fay, then crash");
	tcache_free(tc);

	/* fay: the crash hit between our commit and the state update. */
	{
		struct state *st = NULL;
		char sp[700];

		snprintf(sp, sizeof(sp), "%s/state.db", o.cache_dir);
		TAP_OK(state_open(sp, &st) == 0 &&
			   state_add_pending(st, "fay", 1, "00000000000000000000000000000fa1") == 0,
		       "fay: a commit was in flight");
		state_close(st);
		cm.new_gen = 1;
		cm.hash = "00000000000000000000000000000fa1";
		cm.size = 1;
		cm.mtime_ms = 1;
		TAP_OK(e.wc->in->ops->get(e.wc->in, "fay", &it) == 0 &&
			   e.wc->in->ops->commit(e.wc->in, "fay", me, it.epoch, 0, &cm) == 0,
		       "fay: ... and it landed");
	}
	TAP_OK(e.wc->in->ops->get(e.wc->in, "dave", &it) == 0 && it.gen == 0,
	       "nothing published before the crash");

	/* Someone else takes erin over (its holder stopped renewing) and commits. */
	TAP_OK(take_over(e.wc->in, "erin", "node-z", &it) == 0,
	       "erin is held, and node z takes it over on the record it saw");
	cm.new_gen = 1;
	cm.hash = "00000000000000000000000000000001";
	cm.size = 1;
	cm.mtime_ms = 1;
	TAP_OK(e.wc->in->ops->commit(e.wc->in, "erin", "node-z", it.epoch, 0, &cm) == 0 &&
		   e.wc->in->ops->release(e.wc->in, "erin", "node-z", it.epoch) == 0,
	       "node z commits erin gen 1");

	tc = mk(&e, &o, true);
	TAP_OK(wait_item(&e, "dave", 1, &it, 5000), "restart recovers dave: gen 1");
	TAP_STREQ(it.hash, hash, "recovered dave has the written bytes");
	for (i = 0; i < 250 && stats(tc).quarantined == 0; i++)
		sleep_ms(20);
	TAP_OK(stats(tc).quarantined == 1, "erin, overtaken meanwhile, is quarantined");
	TAP_OK(e.wc->in->ops->get(e.wc->in, "erin", &it) == 0 && it.gen == 1 &&
		   !strcmp(it.hash, cm.hash),
	       "node z's version of erin stands");
	for (i = 0; i < 250; i++) {
		xattr(tc, "dave", "user.tenantfs.dirty", x, sizeof(x));
		if (!strcmp(x, "0"))
			break;
		sleep_ms(20);
	}
	TAP_STREQ(x, "0", "dave is clean after recovery");
	TAP_OK(wait_item(&e, "fay", 2, &it, 5000) && !strcmp(it.hash, hash),
	       "fay is rebased on its own landed commit and written back as gen 2");
	TAP_OK(stats(tc).quarantined == 1, "... not quarantined");
	TAP_OK(tcache_shutdown(tc) == 0, "clean shutdown after recovery");
	tcache_free(tc);
	free(db);
	env_free(&e);
}

static void test_eviction(void)
{
	struct env e;
	struct tcache_options o;
	struct tcache *tc;
	struct stat st;
	unsigned char *db;
	char id[16], path[800];
	size_t len;
	int i, present = 0, gets;
	struct tfile *f;

	env_init(&e, "evict");
	opts(&o, dirname_of("evict"), "node-a");
	db = make_db("evict.src", 100, &len);
	o.cache_size = 3 * len + len / 2;
	tc = mk(&e, &o, true);
	for (i = 0; i < 6; i++) {
		snprintf(id, sizeof(id), "ev%d", i);
		db[len - 1] = (unsigned char)i;
		write_file(tc, id, "", db, len, O_CREAT);
		wait_commits(tc, (uint64_t)i + 1, 5000);
		sleep_ms(30);
	}
	for (i = 0; i < 100 && stats(tc).evictions < 3; i++)
		sleep_ms(20);
	TAP_OK(stats(tc).evictions >= 3, "evicted %llu clean databases over cache_size",
	       (unsigned long long)stats(tc).evictions);
	for (i = 0; i < 6; i++) {
		snprintf(path, sizeof(path), "%s/db/ev%d.db", o.cache_dir, i);
		present += stat(path, &st) == 0;
	}
	TAP_OK(present <= 3, "at most 3 cached copies left (%d)", present);
	snprintf(path, sizeof(path), "%s/db/ev0.db", o.cache_dir);
	TAP_OK(stat(path, &st) < 0, "the least recently used one went first");
	gets = atomic_load(&e.ms->gets);
	TAP_OK(tcache_open(tc, "ev0", "", O_RDONLY, 0, &f, NULL) == 0 &&
		   atomic_load(&e.ms->gets) == gets + 1,
	       "an evicted database faults back in with one GET");
	tfile_close(f);
	tcache_shutdown(tc);
	tcache_free(tc);
	free(db);
	env_free(&e);
}

struct names {
	char list[64][160];
	int n;
};

static int collect(void *arg, const char *name, const struct stat *st)
{
	struct names *nm = arg;

	if (nm->n < 64)
		snprintf(nm->list[nm->n++], 160, "%s", name);
	return 0;
}

static int count_name(struct names *nm, const char *name)
{
	int i, c = 0;

	for (i = 0; i < nm->n; i++)
		c += !strcmp(nm->list[i], name);
	return c;
}

static void test_unlink_readdir(void)
{
	struct env e;
	struct tcache_options o;
	struct tcache *tc;
	struct cat_item it;
	struct names nm;
	struct stat st;
	struct tfile *f, *j, *j2;
	unsigned char *db;
	size_t len;

	env_init(&e, "ns");
	opts(&o, dirname_of("ns"), "node-a");
	tc = mk(&e, &o, true);
	db = make_db("ns.src", 3, &len);
	write_file(tc, "one", "", db, len, O_CREAT);
	write_file(tc, "two", "", db, len, O_CREAT);
	write_file(tc, "gone", "", db, len, O_CREAT);
	TAP_OK(wait_commits(tc, 3, 5000), "three databases published");
	TAP_OK(wait_released(&e, "gone", 5000), "gone released");
	TAP_OK(tcache_unlink(tc, "gone", "") == 0, "unlink gone.db");
	TAP_OK(e.wc->in->ops->get(e.wc->in, "gone", &it) == 0 && it.deleted_ms != 0,
	       "a tombstone is committed");
	TAP_OK(tcache_getattr(tc, "gone", "", &st) == -ENOENT, "getattr of a tombstone: -ENOENT");
	TAP_OK(tcache_open(tc, "gone", "", O_RDWR, 0, &f, NULL) == -ENOENT,
	       "open of a tombstone: -ENOENT");
	TAP_OK(tcache_unlink(tc, "never", "") == -ENOENT, "unlink of an absent db: -ENOENT");

	/* An uncommitted local database with a journal, held open. */
	TAP_OK(tcache_open(tc, "three", "", O_RDWR | O_CREAT, 0644, &f, NULL) == 0, "create three");
	tfile_write(f, db, len, 0);
	TAP_OK(tcache_open(tc, "three", "-journal", O_RDWR | O_CREAT, 0644, &j, NULL) == 0,
	       "create three.db-journal");
	TAP_OK(tcache_open(tc, "four", "-journal", O_RDWR | O_CREAT, 0644, &j2, NULL) == -EPERM,
	       "creating a side file of a database not open here: -EPERM");
	memset(&nm, 0, sizeof(nm));
	TAP_OK(tcache_readdir(tc, collect, &nm) == 0, "readdir");
	TAP_OK(count_name(&nm, "one.db") == 1 && count_name(&nm, "two.db") == 1,
	       "readdir lists the committed databases once");
	TAP_OK(count_name(&nm, "three.db") == 1, "... the local uncommitted one once");
	TAP_OK(count_name(&nm, "three.db-journal") == 1, "... its side file");
	TAP_OK(count_name(&nm, "gone.db") == 0, "... and not the tombstone (%d names)", nm.n);
	tfile_close(j);
	TAP_OK(tcache_unlink(tc, "three", "-journal") == 0, "unlink a side file");
	TAP_OK(tcache_getattr(tc, "three", "-journal", &st) == -ENOENT, "side file is gone");
	tfile_close(f);

	/* POSIX-like: unlink while open commits the tombstone now, the handle
	 * keeps working, the local files go at the last close. */
	{
		char path[800];
		int i;

		TAP_OK(tcache_open(tc, "one", "", O_RDWR, 0, &f, NULL) == 0, "open one");
		TAP_OK(tcache_unlink(tc, "one", "") == 0, "unlink one while it is open");
		TAP_OK(tfile_write(f, db, len, 0) == (ssize_t)len,
		       "the open handle still takes writes");
		TAP_OK(tcache_getattr(tc, "one", "", &st) == -ENOENT, "getattr says it is gone");
		tfile_close(f);
		snprintf(path, sizeof(path), "%s/db/one.db", o.cache_dir);
		for (i = 0; i < 100 && stat(path, &st) == 0; i++)
			sleep_ms(20);
		TAP_OK(stat(path, &st) < 0, "local file removed after the last close");
		TAP_OK(wait_settled(tc, 5000), "the scheduler looked at one after the close");
		TAP_OK(e.wc->in->ops->get(e.wc->in, "one", &it) == 0 && it.deleted_ms != 0,
		       "writes after the unlink are never published");
	}
	tcache_shutdown(tc);
	tcache_free(tc);
	free(db);
	env_free(&e);
}

static void test_two_nodes(void)
{
	struct env e;
	struct tcache_options oa, ob;
	struct tcache *a, *b;
	struct cat_item it;
	struct tfile *f;
	unsigned char *db;
	size_t len;
	int i, rc = -1;

	env_init(&e, "two");
	opts(&oa, dirname_of("two-a"), "node-a");
	oa.linger_ms = 600000;
	opts(&ob, dirname_of("two-b"), "node-b");
	ob.lease_wait_ms = 100;
	a = mk(&e, &oa, true);
	b = mk(&e, &ob, true);
	db = make_db("two.src", 4, &len);
	TAP_OK(write_file(a, "fred", "", db, len, O_CREAT) == 0 &&
		   wait_item(&e, "fred", 1, &it, 5000),
	       "node a publishes fred and keeps the lease (long linger)");
	TAP_OK(tcache_open(b, "fred", "", O_RDWR, 0, &f, NULL) == -EBUSY,
	       "node b gets -EBUSY while node a holds the lease");
	{
		struct cat_session s;

		TAP_OK(e.wc->in->ops->session_get(e.wc->in, tcache_node(a), &s) == 0 &&
			   s.n_wants == 1 && !strcmp(s.wants[0], "fred"),
		       "node b left a hand-over request on node a's session");
	}
	advance(oa.lease_ttl_ms / 3 + 10);
	for (i = 0; i < 100; i++) {
		rc = tcache_open(b, "fred", "", O_RDWR, 0, &f, NULL);
		if (rc == 0)
			break;
		advance(oa.lease_ttl_ms / 3 + 10);
		sleep_ms(50);
	}
	TAP_OK(rc == 0, "node a hands over on its next renewal; node b opens fred");
	if (rc == 0)
		tfile_close(f);

	/* Writes are refused once renewal is overdue. */
	TAP_OK(tcache_open(b, "fred", "", O_RDWR, 0, &f, NULL) == 0, "node b opens fred again");
	atomic_store(&e.wc->renew_fail, 1);
	advance(ob.lease_ttl_ms);
	TAP_OK(tfile_write(f, db, 10, 0) == -EIO, "write refused when the renewal is overdue");
	atomic_store(&e.wc->renew_fail, 0);
	for (i = 0; i < 100 && tfile_write(f, db, 10, 0) < 0; i++) {
		advance(600); /* past the retry time of the failed renewal */
		sleep_ms(20);
	}
	TAP_OK(i < 100, "writes resume after a successful renewal");
	tfile_close(f);
	tcache_shutdown(a);
	tcache_shutdown(b);
	tcache_free(a);
	tcache_free(b);
	free(db);
	env_free(&e);
}

/* Every write-back worker stuck in a PUT that does not return: renewals and
 * releases still go out (their own threads), the open database stays
 * writable past several lease lengths, and everything is written back once
 * the store answers again. */
static void test_renew_while_uploads_hang(void)
{
	struct env e;
	struct tcache_options oa, ob;
	struct tcache *a, *b;
	struct cat_item it, held;
	struct tfile *f = NULL, *g;
	unsigned char *db;
	char id[16];
	size_t len;
	int64_t expires;
	int i, k, rounds_ok = 0, writes_ok = 0, puts0;

	env_init(&e, "hang");
	opts(&oa, dirname_of("hang-a"), "node-a");
	oa.lease_ttl_ms = 3000; /* renewal due every 1000 ms, writes refused 2400 ms after */
	opts(&ob, dirname_of("hang-b"), "node-b");
	a = mk(&e, &oa, true);
	b = mk(&e, &ob, true);
	db = make_db("hang.src", 3, &len);
	TAP_OK(write_file(a, "rel", "", db, len, O_CREAT) == 0 &&
		   wait_item(&e, "rel", 1, &it, 5000) && wait_released(&e, "rel", 5000),
	       "hang: rel published and released before the store hangs");
	TAP_OK(tcache_open(a, "hold", "", O_RDWR | O_CREAT, 0644, &f, NULL) == 0 &&
		   tfile_write(f, db, len, 0) == (ssize_t)len,
	       "hang: hold is open and written");
	memset(&held, 0, sizeof(held));
	e.wc->in->ops->get(e.wc->in, "hold", &held);

	/* rel's version and its version record went before */
	puts0 = atomic_load(&e.ms->puts);
	atomic_store(&e.ms->hold_put, 1);
	for (i = 0; i < 4; i++) {
		snprintf(id, sizeof(id), "up%d", i);
		write_file(a, id, "", db, len, O_CREAT);
	}
	for (i = 0; i < 500 && atomic_load(&e.ms->puts) - puts0 < oa.upload_workers; i++)
		sleep_ms(10);
	TAP_OK(atomic_load(&e.ms->puts) - puts0 >= oa.upload_workers,
	       "hang: every write-back worker is stuck in a PUT");

	/* Five lease lengths on the forced clock, one heartbeat period at a
	 * time; each round waits for the node's heartbeat (its session's expiry
	 * moves), so the forced clock never runs ahead of the heartbeats. */
	{
		struct cat_session s;

		e.wc->in->ops->session_get(e.wc->in, tcache_node(a), &s);
		expires = s.expires_ms;
	}
	for (k = 0; k < 15 && f; k++) {
		struct cat_session s = {.expires_ms = 0};

		advance(oa.lease_ttl_ms / 3 + 10);
		/* Bounded by 30 s, not 5: under a loaded sanitizer run the
		 * heartbeat thread was seen to take longer to be scheduled. */
		for (i = 0; i < 3000; i++) {
			if (e.wc->in->ops->session_get(e.wc->in, tcache_node(a), &s) == 0 &&
			    s.expires_ms > expires)
				break;
			sleep_ms(10);
		}
		rounds_ok += s.expires_ms > expires;
		expires = s.expires_ms;
		writes_ok += tfile_write(f, db, len, 0) == (ssize_t)len;
	}
	TAP_OK(rounds_ok == 15, "hang: hold renewed every period while the uploads hang (%d/15)",
	       rounds_ok);
	TAP_OK(writes_ok == 15, "hang: every write to hold accepted (%d/15)", writes_ok);
	TAP_OK(tcache_open(b, "hold", "", O_RDWR, 0, &g, NULL) == -EBUSY,
	       "hang: another node gets -EBUSY for hold");
	TAP_OK(e.wc->in->ops->get(e.wc->in, "hold", &it) == 0 &&
		   !strcmp(it.owner, tcache_node(a)) && it.epoch == held.epoch,
	       "hang: hold keeps its owner and epoch");

	/* A release is lease traffic too: it does not wait for the uploads. */
	TAP_OK(tcache_open(a, "rel", "", O_RDWR, 0, &g, NULL) == 0,
	       "hang: rel opened again (lease taken)");
	tfile_close(g);
	TAP_OK(wait_released(&e, "rel", 5000), "hang: rel released while the uploads hang");
	TAP_OK(atomic_load(&e.ms->puts) - puts0 <= oa.upload_workers,
	       "hang: no write-back got through meanwhile (the store really hung)");

	atomic_store(&e.ms->hold_put, 0);
	tfile_close(f);
	TAP_OK(tcache_shutdown(a) == 0, "hang: a writes everything back once the store answers");
	for (i = 0, k = 0; i < 4; i++) {
		snprintf(id, sizeof(id), "up%d", i);
		k += e.wc->in->ops->get(e.wc->in, id, &it) == 0 && it.gen == 1;
	}
	TAP_OK(k == 4 && e.wc->in->ops->get(e.wc->in, "hold", &it) == 0 && it.gen >= 1,
	       "hang: every database committed");
	tcache_shutdown(b);
	tcache_free(a);
	tcache_free(b);
	free(db);
	env_free(&e);
}

static int find_key(void *arg, const char *key, const struct store_info *info)
{
	snprintf(arg, 300, "%s", key);
	return 1;
}

/* Key layouts, leftovers at start, and the real local-directory store. */
static void test_keys_and_local_store(void)
{
	struct env e;
	struct tcache_options o;
	struct tcache *tc;
	struct cat_item it;
	struct store *ls;
	struct stat st;
	unsigned char *db;
	char key[300] = "", want[300], path[800], sdir[700];
	char *tok = NULL;
	size_t len;
	int fd;

	env_init(&e, "keys");
	opts(&o, dirname_of("keys"), "node-a");
	o.key_prefix = "";
	o.shard_keys = 1;
	tc = mk(&e, &o, false);
	snprintf(path, sizeof(path), "%s/staging/leftover.1", o.cache_dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/tmp/leftover.get", o.cache_dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	if (fd >= 0)
		close(fd);
	TAP_OK(tcache_start(tc) == 0, "start");
	TAP_OK(stat(path, &st) < 0, "tmp/ leftovers are deleted at start");
	snprintf(path, sizeof(path), "%s/staging/leftover.1", o.cache_dir);
	TAP_OK(stat(path, &st) < 0, "staging/ leftovers are deleted at start");
	db = make_db("keys.src", 3, &len);
	TAP_OK(write_file(tc, "gina", "", db, len, O_CREAT) == 0 &&
		   wait_item(&e, "gina", 1, &it, 5000),
	       "publish gina with sharded keys and no prefix");
	e.ms->base.ops->list(&e.ms->base, "", &tok, find_key, key);
	free(tok);
	snprintf(want, sizeof(want), "/gina/%s.db", it.hash);
	TAP_OK(strlen(key) == 2 + strlen(want) && !strcmp(key + 2, want) && key[0] != '/',
	       "key is <2 hex>/<id>/<hash>.db: %s", key);
	tcache_shutdown(tc);
	tcache_free(tc);

	/* The embedded default: local directory store + SQLite catalog. */
	snprintf(sdir, sizeof(sdir), "%s/objects-local", scratch);
	mkdir(sdir, 0700);
	ls = store_local_new(sdir);
	TAP_OK(ls != NULL, "store_local_new");
	if (ls && ls->ops->check(ls) == 0) {
		struct tcache *t2 = NULL;
		struct tfile *f;

		opts(&o, dirname_of("keys-local"), "node-a");
		if (tcache_new(&o, ls, &e.wc->base, &t2) < 0 || tcache_start(t2) < 0) {
			printf("Bail out! engine over the local store\n");
			exit(1);
		}
		db[len - 1] = 'z';
		TAP_OK(write_file(t2, "hank", "", db, len, O_CREAT) == 0 &&
			   wait_item(&e, "hank", 1, &it, 5000),
		       "publish hank to the local store");
		TAP_OK(ls->ops->head(ls, (snprintf(key, sizeof(key), "v/hank/%s.db", it.hash), key),
				     NULL) == 0,
		       "object %s is in the local store", key);
		tcache_shutdown(t2);
		tcache_free(t2);
		opts(&o, dirname_of("keys-local2"), "node-b");
		t2 = NULL;
		if (tcache_new(&o, ls, &e.wc->base, &t2) < 0 || tcache_start(t2) < 0) {
			printf("Bail out! second node over the local store\n");
			exit(1);
		}
		f = NULL;
		TAP_OK(tcache_open(t2, "hank", "", O_RDONLY, 0, &f, NULL) == 0,
		       "fault hank in from the local store (hash verified)");
		if (f) {
			unsigned char b2[8192];

			TAP_OK(tfile_read(f, b2, len > sizeof(b2) ? sizeof(b2) : len, 0) > 0 &&
				   !memcmp(b2, db, len > sizeof(b2) ? sizeof(b2) : len),
			       "same bytes on the second node");
			tfile_close(f);
		}
		tcache_shutdown(t2);
		tcache_free(t2);
	} else {
		TAP_OK(false, "local store in %s is usable", sdir);
	}
	store_free(ls);
	free(db);
	env_free(&e);
}

struct stress {
	struct tfile *f;
	size_t len;
	atomic_bool stop;
	unsigned seed;
	int writes;
};

static void *stress_writer(void *arg)
{
	struct stress *st = arg;
	unsigned char c;
	off_t off;

	while (!atomic_load(&st->stop)) {
		c = (unsigned char)('a' + rand_r(&st->seed) % 26);
		off = (off_t)st->len - 1 - (off_t)(rand_r(&st->seed) % 4);
		if (tfile_write(st->f, &c, 1, off) == 1)
			st->writes++;
	}
	return NULL;
}

/* Writers racing write-backs: the last published version must be exactly
 * the final content, and the database must end clean. */
static void test_write_race(void)
{
	struct env e;
	struct tcache_options o;
	struct tcache *tc;
	struct cat_item it;
	struct stress sw[2];
	pthread_t th[2];
	unsigned char *db, *fin;
	char hash[CAT_HASH_HEX + 1], x[16];
	size_t len;
	int i, k;

	env_init(&e, "race");
	opts(&o, dirname_of("race"), "node-a");
	o.idle_ms = 1;
	o.max_dirty_ms = 1;
	tc = mk(&e, &o, true);
	db = make_db("race.src", 20, &len);
	TAP_OK(write_file(tc, "race", "", db, len, O_CREAT) == 0, "create race");
	memset(sw, 0, sizeof(sw));
	for (k = 0; k < 2; k++) {
		sw[k].len = len;
		sw[k].seed = 17u + (unsigned)k;
		if (tcache_open(tc, "race", "", O_RDWR, 0, &sw[k].f, NULL) < 0) {
			printf("Bail out! open race\n");
			exit(1);
		}
		pthread_create(&th[k], NULL, stress_writer, &sw[k]);
	}
	for (i = 0; i < 40; i++) {
		advance(5);
		sleep_ms(25);
	}
	for (k = 0; k < 2; k++) {
		atomic_store(&sw[k].stop, true);
		pthread_join(th[k], NULL);
	}
	TAP_OK(stats(tc).commits >= 3, "%llu write-backs committed while %d+%d writes raced",
	       (unsigned long long)stats(tc).commits, sw[0].writes, sw[1].writes);
	fin = malloc(len);
	TAP_OK(fin && tfile_read(sw[0].f, fin, len, 0) == (ssize_t)len, "read the final content");
	for (k = 0; k < 2; k++)
		tfile_close(sw[k].f);
	tfs_hash_buf(fin, len, hash);
	for (i = 0; i < 250; i++) {
		xattr(tc, "race", "user.tenantfs.dirty", x, sizeof(x));
		if (!strcmp(x, "0"))
			break;
		sleep_ms(20);
	}
	TAP_STREQ(x, "0", "race ends clean");
	TAP_OK(e.wc->in->ops->get(e.wc->in, "race", &it) == 0, "get race");
	TAP_STREQ(it.hash, hash, "the last commit is exactly the final content");
	tcache_shutdown(tc);
	tcache_free(tc);
	free(fin);
	free(db);
	env_free(&e);
}

/* One cache folder, one engine: a second tcache_new on a folder in use is
 * -EBUSY (two daemons would take each other's files for stale); once the
 * first is freed the folder is usable again. */
static void test_cache_lock(void)
{
	struct env e;
	struct tcache_options o;
	struct tcache *a, *b = NULL;
	char path[700], buf[32] = "";
	ssize_t n = 0;
	int fd, rc;

	env_init(&e, "lock");
	opts(&o, dirname_of("lock"), "node-a");
	a = mk(&e, &o, false);
	rc = tcache_new(&o, &e.ms->base, &e.wc->base, &b);
	TAP_OK(rc == -EBUSY && !b, "a second engine on a cache folder in use is -EBUSY (rc %d)",
	       rc);
	tcache_free(b);
	snprintf(path, sizeof(path), "%s/lock", o.cache_dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		n = read(fd, buf, sizeof(buf) - 1);
	buf[n > 0 ? strcspn(buf, "\n") : 0] = '\0';
	TAP_OK(atol(buf) == (long)getpid(), "the lock file names the holder's pid (%s)", buf);
	if (fd >= 0)
		close(fd);
	tcache_free(a);
	b = NULL;
	rc = tcache_new(&o, &e.ms->base, &e.wc->base, &b);
	TAP_OK(rc == 0, "the folder is usable again once the first engine is gone (rc %d)", rc);
	tcache_free(b);
	env_free(&e);
}

struct gate_call {
	struct tcache *tc;
	char id[16];
	int rc;
};

static void *gate_getattr(void *arg)
{
	struct gate_call *g = arg;
	struct stat st;

	g->rc = tcache_getattr(g->tc, g->id, "", &st);
	return NULL;
}

/* The catalog gate: with catalog_slots lookups of uncached names stuck in
 * the catalog, the next ones wait briefly and fail with -EAGAIN, while
 * reads, writes and fsync of an open database go on; a call inside carries
 * catalog_timeout as its thread's catalog budget, a background commit
 * none; once the catalog answers, lookups work again. */
static void test_catalog_gate(void)
{
	struct env e;
	struct tcache_options o;
	struct tcache *tc;
	struct tfile *f = NULL;
	struct gate_call calls[2];
	pthread_t thr[2];
	struct stat st;
	unsigned char *db, buf[16];
	size_t len = 0;
	bool kc;
	int i, rc, rc3, rc4;

	env_init(&e, "gate");
	opts(&o, dirname_of("gate"), "node-a");
	o.catalog_slots = 2;
	o.catalog_timeout_ms = 4321;
	tc = mk(&e, &o, true);
	db = make_db("gate-src.db", 5, &len);
	rc = tcache_open(tc, "held", "", O_CREAT | O_RDWR, 0644, &f, &kc);
	TAP_OK(rc == 0 && db && tfile_write(f, db, len, 0) == (ssize_t)len,
	       "an open database to read (rc %d)", rc);
	atomic_store(&e.wc->hold_get, 1);
	for (i = 0; i < 2; i++) {
		calls[i].tc = tc;
		snprintf(calls[i].id, sizeof(calls[i].id), "ghost%d", i);
		pthread_create(&thr[i], NULL, gate_getattr, &calls[i]);
	}
	for (i = 0; i < 1000 && atomic_load(&e.wc->gets) < 2; i++)
		sleep_ms(10);
	TAP_OK(atomic_load(&e.wc->gets) == 2, "two lookups are stuck in the catalog");
	TAP_OK(atomic_load(&e.wc->get_budget) == 4321,
	       "a call inside the gate carries catalog_timeout as its budget (%ld)",
	       (long)atomic_load(&e.wc->get_budget));
	rc3 = tcache_getattr(tc, "ghost3", "", &st);
	rc4 = tcache_getattr(tc, "ghost4", "", &st);
	TAP_OK(rc3 == -EAGAIN && rc4 == -EAGAIN, "lookups past the slots fail with EAGAIN (%d, %d)",
	       rc3, rc4);
	TAP_OK(atomic_load(&e.wc->gets) == 2, "they never reached the catalog");
	TAP_OK(f && db && tfile_read(f, buf, 16, 0) == 16 && !memcmp(buf, db, 16) &&
		   tfile_write(f, db, len, 0) == (ssize_t)len && tfile_fsync(f, 0) == 0 &&
		   tfile_fstat(f, &st) == 0 && st.st_size == (off_t)len,
	       "the open database reads, writes and syncs meanwhile");
	atomic_store(&e.wc->hold_get, 0);
	for (i = 0; i < 2; i++)
		pthread_join(thr[i], NULL);
	TAP_OK(calls[0].rc == -ENOENT && calls[1].rc == -ENOENT,
	       "the stuck lookups finish once the catalog answers (%d, %d)", calls[0].rc,
	       calls[1].rc);
	rc = tcache_getattr(tc, "ghost5", "", &st);
	TAP_OK(rc == -ENOENT, "the gate is open again (rc %d)", rc);
	tfile_close(f);
	for (i = 0; i < 1000 && atomic_load(&e.wc->commits) < 1; i++)
		sleep_ms(10);
	TAP_OK(atomic_load(&e.wc->commits) >= 1 && atomic_load(&e.wc->commit_budget) == 0,
	       "a write-back commit carries no budget (%ld)",
	       (long)atomic_load(&e.wc->commit_budget));
	tcache_shutdown(tc);
	tcache_free(tc);
	free(db);
	env_free(&e);
}

/* Waits until xattr name of id contains text (bounded in real time). */
static bool wait_xattr(struct tcache *tc, const char *id, const char *name, const char *text,
		       long ms)
{
	char x[1024];
	long i;

	for (i = 0; i < ms / 20; i++) {
		xattr(tc, id, name, x, sizeof(x));
		if (strstr(x, text))
			return true;
		sleep_ms(20);
	}
	return false;
}

/* A commit applied whose reply was lost, with the catalog unreadable so it
 * cannot be settled, then a newer write-back before it is: the catalog's
 * version is our own older pending commit, a base to build on, never a
 * reason to quarantine. */
static void test_lost_reply_then_newer(void)
{
	struct env e;
	struct tcache_options o;
	struct tcache *tc;
	struct cat_item it;
	unsigned char *v1, *v2, *obj;
	char h1[CAT_HASH_HEX + 1], h2[CAT_HASH_HEX + 1];
	size_t l1, l2, ol = 0;
	int i, n;

	env_init(&e, "lost2");
	opts(&o, dirname_of("lost2"), "node-a");
	tc = mk(&e, &o, true);
	v1 = make_db("lost2.v1", 10, &l1);
	v2 = make_db("lost2.v2", 30, &l2);
	tfs_hash_buf(v1, l1, h1);
	tfs_hash_buf(v2, l2, h2);
	atomic_store(&e.wc->commit_lost_reply, 1);
	atomic_store(&e.wc->get_fail, 1);
	TAP_OK(write_file(tc, "lr", "", v1, l1, O_CREAT) == 0, "lost reply: write v1");
	TAP_OK(wait_item(&e, "lr", 1, &it, 5000) && !strcmp(it.hash, h1),
	       "lost reply: the commit of v1 is applied (its reply is lost)");
	TAP_OK(wait_xattr(tc, "lr", "user.tenantfs.error", "cannot be read", 5000),
	       "lost reply: the write-back cannot settle it while the catalog is unreadable");
	TAP_OK(write_file(tc, "lr", "", v2, l2, 0) == 0,
	       "lost reply: write v2 before it is settled");
	/* Newer write-backs, refused (gen moved) and still unsettled. */
	for (i = 0; i < 250 && atomic_load(&e.wc->commits) < 3; i++) {
		advance(2000); /* past the backoff */
		sleep_ms(20);
	}
	TAP_OK(atomic_load(&e.wc->commits) >= 3,
	       "lost reply: v2 was sent on top of gen 0 (%d commits)", atomic_load(&e.wc->commits));
	TAP_OK(stats(tc).quarantined == 0,
	       "lost reply: a refusal that cannot be settled quarantines nothing");
	atomic_store(&e.wc->get_fail, 0);
	for (i = 0; i < 250; i++) {
		if (e.wc->in->ops->get(e.wc->in, "lr", &it) == 0 && it.gen >= 2)
			break;
		advance(2000);
		sleep_ms(20);
	}
	TAP_OK(it.gen == 2 && !strcmp(it.hash, h2),
	       "lost reply: once settled, v2 is committed on top of v1 as gen 2 (gen %llu)",
	       (unsigned long long)it.gen);
	TAP_OK(stats(tc).quarantined == 0, "lost reply: nothing was quarantined");
	obj = object_of(&e, "lr", &it, &ol);
	n = obj ? count_rows(obj, ol, NULL) : -1;
	TAP_OK(n == 30, "lost reply: the head holds v2 (%d rows of 30)", n);
	free(obj);
	TAP_OK(wait_xattr(tc, "lr", "user.tenantfs.dirty", "0", 5000), "lost reply: lr ends clean");
	tcache_shutdown(tc);
	tcache_free(tc);
	free(v1);
	free(v2);
	env_free(&e);
}

/* Writes id's main file and one side file through an engine without threads
 * (nothing is written back), then "crashes" (frees it). */
/* node (may be NULL) gets the crashed engine's identity, the owner of the
 * lease it leaves behind. */
static void crash_with_side(struct env *e, const struct tcache_options *o, const char *id,
			    const unsigned char *mb, size_t ml, const char *suffix,
			    const unsigned char *sb, size_t sl, char node[CAT_NODE_MAX + 1])
{
	struct tcache *tc = mk(e, o, false);
	struct tfile *f, *w;

	TAP_OK(tcache_open(tc, id, "", O_RDWR | O_CREAT, 0644, &f, NULL) == 0 &&
		   tfile_write(f, mb, ml, 0) == (ssize_t)ml,
	       "%s: write the main file", id);
	TAP_OK(tcache_open(tc, id, suffix, O_RDWR | O_CREAT, 0644, &w, NULL) == 0 &&
		   tfile_write(w, sb, sl, 0) == (ssize_t)sl,
	       "%s: write %s", id, suffix);
	tfile_close(w);
	tfile_close(f);
	if (node)
		snprintf(node, CAT_NODE_MAX + 1, "%s", tcache_node(tc));
	tcache_free(tc);
}

/* At restart the catalog's next gen has the bytes of the cached main file
 * but no pending record names it (another node committed those bytes, or
 * an older layout kept only the last pending commit), and the family's
 * -wal holds commits on top: the copy is not clean, the -wal's commits are
 * published. */
static void test_restart_wal_family(void)
{
	struct env e;
	struct tcache_options o;
	struct tcache *tc;
	struct cat_item it;
	struct cat_commit cm = {0};
	char path[700], sql[200], hm[CAT_HASH_HEX + 1], me[CAT_NODE_MAX + 1];
	unsigned char *mb, *wb, *obj;
	size_t ml, wl, ol = 0;
	sqlite3 *db;
	int i, n = -1;

	env_init(&e, "walfam");
	opts(&o, dirname_of("walfam"), "node-a");
	snprintf(path, sizeof(path), "%s/walfam.src.db", scratch);
	unlink(path);
	sqlite3_open(path, &db);
	exec(db, "PRAGMA journal_mode=WAL");
	exec(db, "PRAGMA wal_autocheckpoint=0");
	exec(db, "CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)");
	for (i = 0; i < 20; i++) {
		if (i == 10)
			exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
		snprintf(sql, sizeof(sql), "INSERT INTO t(v) VALUES ('walfam row %d')", i);
		exec(db, sql);
	}
	mb = read_file(path, &ml);
	snprintf(path, sizeof(path), "%s/walfam.src.db-wal", scratch);
	wb = read_file(path, &wl);
	sqlite3_close(db);
	TAP_OK(mb && wb && wl > 0 && count_rows(mb, ml, NULL) == 10,
	       "walfam: the main file holds 10 rows, the -wal %zu bytes of 10 more", wl);
	tfs_hash_buf(mb, ml, hm);

	crash_with_side(&e, &o, "wf", mb, ml, "-wal", wb, wl, me);
	cm.new_gen = 1;
	cm.hash = hm;
	cm.size = ml;
	cm.mtime_ms = 1;
	TAP_OK(e.wc->in->ops->get(e.wc->in, "wf", &it) == 0 &&
		   e.wc->in->ops->commit(e.wc->in, "wf", me, it.epoch, 0, &cm) == 0,
	       "walfam: gen 1 = the bytes of the main file alone, no pending record");

	tc = mk(&e, &o, true);
	for (i = 0; i < 250; i++) {
		if (e.wc->in->ops->get(e.wc->in, "wf", &it) == 0 && it.gen >= 2)
			break;
		advance(100);
		sleep_ms(20);
	}
	obj = it.gen >= 2 ? object_of(&e, "wf", &it, &ol) : NULL;
	n = obj ? count_rows(obj, ol, NULL) : -1;
	TAP_OK(it.gen == 2 && n == 20,
	       "walfam: restart publishes the -wal's commits as gen 2 (gen %llu, %d rows of 20)",
	       (unsigned long long)it.gen, n);
	free(obj);
	TAP_OK(stats(tc).quarantined == 0, "walfam: nothing quarantined");
	TAP_OK(tcache_shutdown(tc) == 0, "walfam: clean shutdown");
	tcache_free(tc);
	free(mb);
	free(wb);
	env_free(&e);
}

/* A write that stalls between its lease check and its pwrite past the
 * lease's local deadline is not acknowledged: -EIO. If another node took the
 * lease meanwhile the copy is quarantined and nothing of it published; if
 * nobody did, the renewal at the same epoch keeps the bytes (see change_end). */
static void test_write_fence(void)
{
	struct env e;
	struct tcache_options o;
	struct tcache *tc;
	struct cat_item it;
	struct cat_commit cm = {0};
	struct tfile *f;
	unsigned char *v1, *v2;
	char h2[CAT_HASH_HEX + 1];
	size_t l1, l2;
	ssize_t n;
	int i;

	env_init(&e, "fence");
	opts(&o, dirname_of("fence"), "node-a");
	tc = mk(&e, &o, true);
	v1 = make_db("fence.v1", 8, &l1);
	v2 = make_db("fence.v2", 8, &l2);
	TAP_OK(l1 == l2, "fence: two versions of one size (%zu)", l1);
	tfs_hash_buf(v2, l2, h2);

	/* Another node takes the lease while the write stalls. */
	TAP_OK(tcache_open(tc, "fa", "", O_RDWR | O_CREAT, 0644, &f, NULL) == 0 &&
		   tfile_write(f, v1, l1, 0) == (ssize_t)l1,
	       "fence: node a writes fa");
	TAP_OK(take_over(e.wc->in, "fa", "node-b", &it) == 0,
	       "fence: node b reads fa's lease and takes it (a's copy is stale from now on)");
	cm.new_gen = 1;
	cm.hash = "000000000000000000000000000000bb";
	cm.size = 1;
	cm.mtime_ms = 1;
	TAP_OK(e.wc->in->ops->commit(e.wc->in, "fa", "node-b", it.epoch, 0, &cm) == 0,
	       "fence: node b commits fa gen 1");
	stall_ms = o.lease_ttl_ms;
	stall_next = true;
	n = tfile_write(f, v2, l2, 0);
	stall_next = false;
	TAP_OK(n == -EIO, "fence: a write that stalled past the lease is not acknowledged (%zd)",
	       n);
	for (i = 0; i < 250 && stats(tc).quarantined == 0; i++)
		sleep_ms(20);
	TAP_OK(stats(tc).quarantined == 1, "fence: a's copy is quarantined");
	TAP_OK(e.wc->in->ops->get(e.wc->in, "fa", &it) == 0 && it.gen == 1 &&
		   !strcmp(it.hash, cm.hash),
	       "fence: node b's version stands");
	TAP_OK(tfile_write(f, v2, l2, 0) == -EIO, "fence: further writes on a are refused");
	tfile_close(f);

	/* Nobody takes it: the renewal was only late. */
	TAP_OK(tcache_open(tc, "fb", "", O_RDWR | O_CREAT, 0644, &f, NULL) == 0 &&
		   tfile_write(f, v1, l1, 0) == (ssize_t)l1,
	       "fence: node a writes fb");
	atomic_store(&e.wc->renew_fail, 1);
	stall_next = true;
	n = tfile_write(f, v2, l2, 0);
	stall_next = false;
	TAP_OK(n == -EIO, "fence: a write that stalled past an unrenewed lease is -EIO (%zd)", n);
	atomic_store(&e.wc->renew_fail, 0);
	for (i = 0; i < 100 && tfile_write(f, v2, 1, 0) < 0; i++) {
		advance(600); /* past the retry time of the failed renewal */
		sleep_ms(20);
	}
	TAP_OK(i < 100, "fence: writes resume after a renewal at the same epoch");
	tfile_close(f);
	TAP_OK(wait_item(&e, "fb", 1, &it, 5000) && !strcmp(it.hash, h2),
	       "fence: nobody else served fb, so the stalled write's bytes are kept and "
	       "published");
	TAP_OK(stats(tc).quarantined == 1, "fence: fb is not quarantined");
	tcache_shutdown(tc);
	tcache_free(tc);
	free(v1);
	free(v2);
	env_free(&e);
}

/* A node paused past its lease (the forced clock jumps) while another node
 * took the database over and committed a new version: the next open on the
 * paused node, which still believes it holds the lease, renews first, learns
 * the lease moved and serves the new version, never its cached copy (found
 * by test_jepsen). With the catalog unreachable instead, the open serves the
 * cached copy (reads go on during an outage) and writes stay refused. */
static void test_open_after_pause(void)
{
	struct env e;
	struct tcache_options oa, ob;
	struct tcache *a, *b;
	struct cat_item it;
	struct tfile *f;
	unsigned char *v1, *v2, buf[65536];
	size_t l1, l2;
	ssize_t n = -1;
	bool kc = true;
	int rc;

	env_init(&e, "pause");
	opts(&oa, dirname_of("pause-a"), "node-a");
	oa.linger_ms = 600000; /* a keeps the lease of the closed database */
	opts(&ob, dirname_of("pause-b"), "node-b");
	a = mk(&e, &oa, true);
	b = mk(&e, &ob, true);
	v1 = make_db("pause.v1", 8, &l1);
	v2 = make_db("pause.v2", 8, &l2);
	TAP_OK(l1 == l2 && l2 <= sizeof(buf) && memcmp(v1, v2, l1) != 0,
	       "pause: two versions of one size (%zu)", l1);
	TAP_OK(write_file(a, "gina", "", v1, l1, O_CREAT) == 0 &&
		   wait_item(&e, "gina", 1, &it, 5000),
	       "pause: node a publishes gina and keeps its lease");
	/* While a is paused (its clock does not move yet), the lease goes. */
	TAP_OK(take_over(e.wc->in, "gina", "node-z", &it) == 0 &&
		   e.wc->in->ops->release(e.wc->in, "gina", "node-z", it.epoch) == 0,
	       "pause: another node takes gina's lease over and lets it go");
	TAP_OK(write_file(b, "gina", "", v2, l2, 0) == 0 && wait_item(&e, "gina", 2, &it, 5000) &&
		   wait_released(&e, "gina", 5000),
	       "pause: node b writes gina, publishes gen 2 and releases it");
	advance(oa.lease_ttl_ms); /* a runs again, past its lease */
	rc = tcache_open(a, "gina", "", O_RDWR, 0, &f, &kc);
	TAP_OK(rc == 0, "pause: node a opens gina again (%d)", rc);
	if (rc == 0) {
		n = tfile_read(f, buf, l2, 0);
		TAP_OK(n == (ssize_t)l2 && !memcmp(buf, v2, l2),
		       "pause: node a serves b's version, not its stale cached copy");
		TAP_OK(!kc, "pause: without the kernel's cached pages");
		tfile_close(f);
	}

	/* Cut off from the catalog instead: reads go on, writes wait. */
	advance(oa.lease_ttl_ms);
	atomic_store(&e.wc->renew_fail, 1);
	rc = tcache_open(a, "gina", "", O_RDWR, 0, &f, NULL);
	TAP_OK(rc == 0, "pause: catalog unreachable, the open serves the cached copy (%d)", rc);
	if (rc == 0) {
		n = tfile_read(f, buf, l2, 0);
		TAP_OK(n == (ssize_t)l2 && !memcmp(buf, v2, l2), "pause: ... which reads");
		TAP_OK(tfile_write(f, v2, 10, 0) == -EIO, "pause: ... and refuses writes");
		tfile_close(f);
	}
	atomic_store(&e.wc->renew_fail, 0);
	tcache_shutdown(a);
	tcache_shutdown(b);
	tcache_free(a);
	tcache_free(b);
	free(v1);
	free(v2);
	env_free(&e);
}

struct shut_arg {
	struct tcache *tc;
	int rc;
};

static void *shut_main(void *arg)
{
	struct shut_arg *sa = arg;

	sa->rc = tcache_shutdown(sa->tc);
	return NULL;
}

/* SIGTERM with a database still open: the FUSE session has ended before
 * the shutdown, so the handle is never used nor released again; the
 * database is written back and its lease released at once, not held from
 * other nodes for the whole shutdown timeout (found by test_jepsen: a
 * SIGTERM held a lease another node asked for for 60 s). */
static void test_shutdown_open_handle(void)
{
	struct env e;
	struct tcache_options o;
	struct tcache *tc;
	struct cat_item it;
	struct shut_arg sa;
	struct tfile *f;
	unsigned char *db;
	pthread_t th;
	size_t len;

	env_init(&e, "shut");
	opts(&o, dirname_of("shut"), "node-a");
	o.shutdown_timeout_ms = 60000;
	tc = mk(&e, &o, true);
	db = make_db("shut.src", 5, &len);
	TAP_OK(tcache_open(tc, "hana", "", O_RDWR | O_CREAT, 0644, &f, NULL) == 0 &&
		   tfile_write(f, db, len, 0) == (ssize_t)len,
	       "shut: hana is written and stays open");
	sa.tc = tc;
	sa.rc = 1;
	if (pthread_create(&th, NULL, shut_main, &sa) != 0) {
		printf("Bail out! pthread_create\n");
		exit(1);
	}
	pthread_join(th, NULL);
	TAP_OK(sa.rc == 0, "shut: shutdown returns 0 (%d)", sa.rc);
	TAP_OK(e.wc->in->ops->get(e.wc->in, "hana", &it) == 0 && it.gen == 1 && !it.stranded_ms,
	       "shut: the shutdown publishes hana though its handle was never closed");
	TAP_OK(it.owner[0] && session_over(&e, it.owner),
	       "shut: ... and ends the session that holds its lease");
	tfile_close(f);
	tcache_free(tc);
	opts(&o, dirname_of("shut-b"), "node-b");
	tc = mk(&e, &o, true);
	TAP_OK(tcache_open(tc, "hana", "", O_RDONLY, 0, &f, NULL) == 0,
	       "shut: another node opens hana at once");
	tfile_close(f);
	tcache_shutdown(tc);
	tcache_free(tc);
	free(db);
	env_free(&e);
}

/* A shutdown holding many clean leases and one dirty database it cannot
 * publish: the dirty one is marked stranded first, then one session end
 * frees every clean lease (no release each); other nodes open the clean
 * ones at once and get EBUSY for the stranded one. If the mark fails, the
 * session is not ended: the clean leases are released one by one and the
 * dirty one lapses with the session. */
static void test_shutdown_session_end(void)
{
	struct env e;
	struct tcache_options o;
	struct tcache *tc;
	struct cat_item it;
	struct tfile *f;
	unsigned char *db;
	char id[32];
	size_t len;
	int i, ok, rel0, rc, round;

	for (round = 0; round < 2; round++) {
		const char *tag = round ? "send-fail" : "send";

		env_init(&e, tag);
		opts(&o, dirname_of(round ? "send-fail-a" : "send-a"), "node-a");
		o.linger_ms = 3600000; /* closed clean databases keep their lease */
		o.shutdown_timeout_ms = 500;
		tc = mk(&e, &o, true);
		db = make_db("send.src", 5, &len);
		for (i = 0, ok = 0; i < 20; i++) {
			snprintf(id, sizeof(id), "clean%d", i);
			if (tcache_open(tc, id, "", O_RDWR | O_CREAT, 0644, &f, NULL) == 0) {
				ok += tfile_write(f, db, len, 0) == (ssize_t)len;
				tfile_close(f);
			}
		}
		for (i = 0; i < 20; i++) {
			snprintf(id, sizeof(id), "clean%d", i);
			ok += wait_item(&e, id, 1, &it, 5000);
		}
		TAP_OK(ok == 40, "%s: 20 databases written back, their leases kept (%d)", tag, ok);
		atomic_store(&e.ms->fail_put, 1000000);
		TAP_OK(tcache_open(tc, "dirty0", "", O_RDWR | O_CREAT, 0644, &f, NULL) == 0 &&
			   tfile_write(f, db, len, 0) == (ssize_t)len,
		       "%s: a dirty database the store refuses", tag);
		if (round)
			atomic_store(&e.wc->strand_fail, 1);
		rel0 = atomic_load(&e.wc->releases);
		rc = tcache_shutdown(tc);
		TAP_OK(rc == -EIO, "%s: shutdown reports the dirty one (%d)", tag, rc);
		tfile_close(f);
		tcache_free(tc);
		atomic_store(&e.ms->fail_put, 0);
		e.wc->in->ops->get(e.wc->in, "clean0", &it);
		if (!round) {
			TAP_OK(atomic_load(&e.wc->ends) == 1 &&
				   atomic_load(&e.wc->releases) == rel0 &&
				   session_over(&e, it.owner),
			       "send: one session end, no release (%d ends, %d releases)",
			       atomic_load(&e.wc->ends), atomic_load(&e.wc->releases) - rel0);
			TAP_OK(e.wc->in->ops->get(e.wc->in, "dirty0", &it) == 0 && it.stranded_ms,
			       "send: the dirty database is marked stranded");
		} else {
			struct cat_item dt;

			e.wc->in->ops->get(e.wc->in, "dirty0", &dt);
			TAP_OK(atomic_load(&e.wc->ends) == 0 &&
				   atomic_load(&e.wc->releases) == rel0 + 20 && dt.owner[0] &&
				   !session_over(&e, dt.owner) && !it.owner[0],
			       "send-fail: no session end after a failed mark; 20 releases (%d "
			       "ends, %d releases)",
			       atomic_load(&e.wc->ends), atomic_load(&e.wc->releases) - rel0);
		}
		opts(&o, dirname_of(round ? "send-fail-b" : "send-b"), "node-b");
		tc = mk(&e, &o, true);
		for (i = 0, ok = 0; i < 20; i++) {
			snprintf(id, sizeof(id), "clean%d", i);
			if (tcache_open(tc, id, "", O_RDONLY, 0, &f, NULL) == 0) {
				ok++;
				tfile_close(f);
			}
		}
		TAP_OK(ok == 20, "%s: another node opens every clean database at once (%d)", tag,
		       ok);
		if (!round) {
			rc = tcache_open(tc, "dirty0", "", O_RDONLY, 0, &f, NULL);
			TAP_OK(rc == -EBUSY, "send: ... and gets EBUSY for the stranded one (%d)",
			       rc);
			if (rc == 0)
				tfile_close(f);
		}
		tcache_shutdown(tc);
		tcache_free(tc);
		free(db);
		env_free(&e);
	}
}

/* A journal or -wal is content: it can be removed only while its database
 * is open here (as SQLite does), never while the database is closed or, as
 * here, dirty and waiting for its recovery with a hot journal. */
static void test_unlink_side_guarded(void)
{
	struct env e;
	struct tcache_options o;
	struct tcache *tc;
	struct cat_item it;
	struct tfile *f;
	struct stat st;
	char jpath[800];
	unsigned char *dbb, *jb, *obj;
	size_t dl, jl, ol = 0;
	int i, n;

	env_init(&e, "uside");
	opts(&o, dirname_of("uside"), "node-a");
	make_torn("uside.src.db", 40, &dbb, &dl, &jb, &jl);

	crash_with_side(&e, &o, "hj", dbb, dl, "-journal", jb, jl, NULL);

	atomic_store(&e.wc->acquire_fail, 1); /* recovery waits for the catalog */
	tc = mk(&e, &o, true);
	for (i = 0; i < 250 && atomic_load(&e.wc->acquires) == 0; i++)
		sleep_ms(20);
	snprintf(jpath, sizeof(jpath), "%s/db/hj.db-journal", o.cache_dir);
	TAP_OK(tcache_unlink(tc, "hj", "-journal") == -EBUSY,
	       "uside: removing the hot journal of a database awaiting recovery is -EBUSY");
	TAP_OK(stat(jpath, &st) == 0 && st.st_size == (off_t)jl,
	       "uside: the hot journal is intact");
	TAP_OK(tcache_unlink(tc, "hj", "-wal") == -ENOENT, "uside: an absent side file is -ENOENT");
	atomic_store(&e.wc->acquire_fail, 0);
	for (i = 0; i < 250; i++) {
		if (e.wc->in->ops->get(e.wc->in, "hj", &it) == 0 && it.gen >= 1)
			break;
		advance(2000); /* past the recovery's backoff */
		sleep_ms(20);
	}
	obj = it.gen >= 1 ? object_of(&e, "hj", &it, &ol) : NULL;
	n = obj ? count_rows(obj, ol, NULL) : -1;
	TAP_OK(n == 40, "uside: recovery rolls the hot journal back and publishes 40 rows (%d)", n);
	free(obj);
	TAP_OK(wait_released(&e, "hj", 5000), "uside: hj is closed and released");
	TAP_OK(tcache_unlink(tc, "hj", "-journal") == -EBUSY && stat(jpath, &st) == 0,
	       "uside: ... and its side files still cannot be removed while it is closed");
	TAP_OK(tcache_open(tc, "hj", "", O_RDWR, 0, &f, NULL) == 0, "uside: open hj");
	TAP_OK(tcache_unlink(tc, "hj", "-journal") == 0 && stat(jpath, &st) < 0,
	       "uside: with the database open the journal goes, as a change");
	tfile_close(f);
	tcache_shutdown(tc);
	tcache_free(tc);
	free(dbb);
	free(jb);
	env_free(&e);
}

/* The node identity is the cache folder's: LABEL~ID drawn once, kept
 * across restarts and labels, distinct for another folder with the same
 * label; a damaged identity file stops the engine instead of being
 * replaced. */
static void test_identity(void)
{
	struct env e;
	struct tcache_options o, o2;
	struct tcache *a, *b = NULL;
	char first[CAT_NODE_MAX + 1], path[700];
	const char *tilde;
	int fd, rc;

	env_init(&e, "ident");
	opts(&o, dirname_of("ident"), "lab");
	a = mk(&e, &o, false);
	snprintf(first, sizeof(first), "%s", tcache_node(a));
	tilde = strchr(first, '~');
	TAP_OK(!strncmp(first, "lab~", 4) && tilde && strlen(tilde + 1) == TCACHE_NODE_ID_HEX &&
		   strspn(tilde + 1, "0123456789abcdef") == TCACHE_NODE_ID_HEX,
	       "the identity is LABEL~%d hex digits (%s)", TCACHE_NODE_ID_HEX, first);
	opts(&o2, dirname_of("ident2"), "lab");
	b = mk(&e, &o2, false);
	TAP_OK(strcmp(tcache_node(b), first) != 0,
	       "another cache with the same label is another node (%s)", tcache_node(b));
	tcache_free(b);
	tcache_free(a);
	opts(&o, dirname_of("ident"), "renamed");
	a = mk(&e, &o, false);
	TAP_STREQ(tcache_node(a), first, "a restart keeps the identity, whatever its label");
	tcache_free(a);

	snprintf(path, sizeof(path), "%s/node", o.cache_dir);
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	TAP_OK(fd >= 0 && write(fd, "lab~xyz\n", 8) == 8, "damage the identity file");
	if (fd >= 0)
		close(fd);
	b = NULL;
	rc = tcache_new(&o, &e.ms->base, &e.wc->base, &b);
	TAP_OK(rc == -EINVAL && !b, "a malformed identity file is -EINVAL (rc %d)", rc);
	tcache_free(b);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	TAP_OK(fd >= 0 && read(fd, path, 8) == 8 && !memcmp(path, "lab~xyz\n", 8),
	       "... and it is left as it was");
	if (fd >= 0)
		close(fd);
	opts(&o, dirname_of("ident3"), "x");
	o.node = "bad~label";
	b = NULL;
	TAP_OK(tcache_new(&o, &e.ms->base, &e.wc->base, &b) == -EINVAL && !b,
	       "a label with '~' is -EINVAL");
	tcache_free(b);
	env_free(&e);
}

/* The bounds that make the engine's keys and paths fit: a longer key
 * prefix or cache folder name is refused at tcache_new, nothing made. */
static void test_name_bounds(void)
{
	static char longdir[TCACHE_DIR_MAX + 64], longpfx[KEY_PREFIX_MAX + 2];
	struct tcache_options o;
	struct tcache *tc = NULL;
	struct env e;
	struct stat st;
	int rc;

	env_init(&e, "bounds");
	snprintf(longdir, sizeof(longdir), "%s/", dirname_of("bounds-d"));
	memset(longdir + strlen(longdir), 'd', sizeof(longdir) - strlen(longdir) - 1);
	longdir[sizeof(longdir) - 1] = '\0';
	opts(&o, longdir, "node-a");
	rc = tcache_new(&o, &e.ms->base, &e.wc->base, &tc);
	TAP_OK(rc == -ENAMETOOLONG && !tc && stat(dirname_of("bounds-d"), &st) < 0,
	       "a cache folder name over %d bytes: -ENAMETOOLONG, nothing made (%d)",
	       TCACHE_DIR_MAX, rc);
	memset(longpfx, 'p', sizeof(longpfx) - 1);
	longpfx[sizeof(longpfx) - 1] = '\0';
	opts(&o, dirname_of("bounds-p"), "node-a");
	o.key_prefix = longpfx;
	rc = tcache_new(&o, &e.ms->base, &e.wc->base, &tc);
	TAP_OK(rc == -ENAMETOOLONG && !tc && stat(dirname_of("bounds-p"), &st) < 0,
	       "a key prefix over %d bytes: -ENAMETOOLONG, nothing made (%d)", KEY_PREFIX_MAX, rc);
	env_free(&e);
}

int main(void)
{
	const char *base = getenv("TFS_TEST_TMP");

	snprintf(scratch, sizeof(scratch), "%s/test_cache.XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(scratch)) {
		printf("Bail out! mkdtemp %s\n", scratch);
		return 1;
	}
	if (!getenv("TFS_TEST_VERBOSE"))
		tfs_log_set_level(LOG_ERR);
	test_create_commit_reopen();
	test_hash_mismatch();
	test_wal_and_journal();
	test_check_failure();
	test_timers();
	test_quarantine_on_estale();
	test_recovery();
	test_eviction();
	test_unlink_readdir();
	test_two_nodes();
	test_renew_while_uploads_hang();
	test_keys_and_local_store();
	test_write_race();
	test_cache_lock();
	test_identity();
	test_catalog_gate();
	test_lost_reply_then_newer();
	test_restart_wal_family();
	test_write_fence();
	test_open_after_pause();
	test_shutdown_open_handle();
	test_shutdown_session_end();
	test_unlink_side_guarded();
	test_name_bounds();
	if (!tap_failed) {
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", scratch);
		if (system(cmd) != 0)
			printf("# cannot remove %s\n", scratch);
	}
	return TAP_DONE();
}
