/* Unit tests of the lease manager (cache/engine/lease.c) on two engines sharing one
 * SQLite catalog, each with its own forced monotonic and wall clock: a live
 * node, heartbeating, never loses a lease whatever the wall clocks say, and
 * its held databases cost no catalog write; a node whose heartbeat stops is
 * declared dead lease_ttl after the other node first saw its last
 * heartbeat, on that node's own monotonic clock, across separate opens, and
 * then every database of it is taken at once; the dead node's writes are
 * refused and it begins a new session; a hand-over request reaches the
 * holder through its heartbeat; a holder that stops with unpublished writes
 * keeps the database fenced off (stranded) until abandoned, and then
 * quarantines. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache/catalog/catalog.h"
#include "cache/engine/cache.h"
#include "s3/base/log.h"
#include "tests/unit/fake_backends.h"
#include "tests/unit/tap.h"

#define TTL 3000

static atomic_llong mono_a = 1000000, mono_b = 5000000;

static int64_t clock_a(void)
{
	return atomic_load(&mono_a);
}

static int64_t clock_b(void)
{
	return atomic_load(&mono_b);
}

/* Wall clocks ten minutes apart, B's ahead, and standing still: only the
 * monotonic clocks move. */
static int64_t wall_a(void)
{
	return 1700000000000LL;
}

static int64_t wall_b(void)
{
	return 1700000000000LL + 600000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static char scratch[] = "/tmp/tfs-lease-XXXXXX";
static long linger_ms, wait_ms; /* of the engines mk makes */

static struct tcache *mk(struct mem_store *ms, struct wrap_cat *wc, const char *name, bool is_a)
{
	static char dirs[4][600];
	static int k;
	struct tcache_options o;
	struct tcache *tc = NULL;
	char *dir = dirs[k++ % 4];

	snprintf(dir, 600, "%s/%s", scratch, name);
	memset(&o, 0, sizeof(o));
	o.cache_dir = dir;
	o.node = is_a ? "node-a" : "node-b";
	o.key_prefix = "v";
	o.idle_ms = 600000;
	o.max_dirty_ms = 6000000;
	o.lease_ttl_ms = TTL;
	o.linger_ms = linger_ms;
	o.lease_wait_ms = wait_ms;
	o.upload_workers = 2;
	o.shutdown_timeout_ms = 2000;
	o.mono_ms = is_a ? clock_a : clock_b;
	o.now_ms = is_a ? wall_a : wall_b;
	if (tcache_new(&o, &ms->base, &wc->base, &tc) < 0 || tcache_start(tc) < 0) {
		printf("Bail out! cannot start the engine in %s\n", dir);
		exit(1);
	}
	return tc;
}

static uint64_t rev_of(struct wrap_cat *wc, const char *id)
{
	struct cat_item it;

	return wc->in->ops->get(wc->in, id, &it) == 0 ? it.rev : 0;
}

/* The heartbeat count of node's session, 0 if none. */
static uint64_t hb_of(struct wrap_cat *wc, const char *node)
{
	struct cat_session s;

	return wc->in->ops->session_get(wc->in, node, &s) == 0 ? s.rev : 0;
}

/* Moves A's clock one heartbeat period and waits (bounded) for A's
 * heartbeat to change its session. */
static bool a_renews(struct wrap_cat *wc, struct tcache *a)
{
	uint64_t rev = hb_of(wc, tcache_node(a));
	int i;

	atomic_fetch_add(&mono_a, TTL / 3 + 10);
	for (i = 0; i < 500 && hb_of(wc, tcache_node(a)) == rev; i++)
		sleep_ms(10);
	return hb_of(wc, tcache_node(a)) != rev;
}

/* O_CREAT: x is never committed by A, so a taken-over x is created anew. */
static int try_open(struct tcache *tc, const char *id)
{
	struct tfile *f = NULL;
	int rc = tcache_open(tc, id, "", O_RDWR | O_CREAT, 0644, &f, NULL);

	if (rc == 0)
		tfile_close(f);
	return rc;
}

static void test_takeover(struct mem_store *ms, struct wrap_cat *wc)
{
	struct tcache *a = mk(ms, wc, "ta", true), *b = mk(ms, wc, "tb", false);
	struct tfile *fa = NULL, *fz[20];
	struct cat_session sa;
	struct cat_item it;
	char id[16];
	int i, busy = 0, renewed = 0, writes = 0, taken = 0, rc, kills, reads;
	uint64_t xrev;

	TAP_OK(tcache_open(a, "x", "", O_RDWR | O_CREAT, 0644, &fa, NULL) == 0,
	       "takeover: A creates and holds x");
	/* Twenty more held open by A: the session renews them all. */
	for (i = 0; i < 20; i++) {
		snprintf(id, sizeof(id), "z%d", i);
		fz[i] = NULL;
		if (tcache_open(a, id, "", O_RDWR | O_CREAT, 0644, &fz[i], NULL) < 0)
			break;
	}
	TAP_OK(i == 20, "takeover: A holds 20 more databases open (%d)", i);
	xrev = rev_of(wc, "x");
	/* Three lease lengths on B's clock while A renews every period. */
	for (i = 0; i < 9; i++) {
		renewed += a_renews(wc, a);
		atomic_fetch_add(&mono_b, TTL / 3 + 10);
		busy += try_open(b, "x") == -EBUSY;
		writes += tfile_write(fa, "0123456789", 10, 0) == 10;
	}
	TAP_OK(renewed == 9, "takeover: A renewed every period (%d/9)", renewed);
	TAP_OK(rev_of(wc, "x") == xrev && rev_of(wc, "z7") == 1,
	       "takeover: A's heartbeats wrote none of its held databases (rev %llu -> %llu)",
	       (unsigned long long)xrev, (unsigned long long)rev_of(wc, "x"));
	TAP_OK(busy == 9, "takeover: B, its wall clock 10 min ahead, got EBUSY every time (%d/9)",
	       busy);
	TAP_OK(writes == 9, "takeover: every write of A was accepted (%d/9)", writes);

	/* A stops renewing (its clock stands still, as if it were dead). */
	rc = try_open(b, "x");
	TAP_OK(rc == -EBUSY, "takeover: B's first look at A's last record -> EBUSY (rc %d)", rc);
	atomic_fetch_add(&mono_b, TTL - 10);
	rc = try_open(b, "x");
	TAP_OK(rc == -EBUSY, "takeover: not before lease_ttl on B's clock (rc %d)", rc);
	atomic_fetch_add(&mono_b, 20);
	kills = atomic_load(&wc->kills);
	rc = try_open(b, "x");
	TAP_OK(rc == 0 && wc->in->ops->get(wc->in, "x", &it) == 0 && it.epoch == 2,
	       "takeover: a later open by B takes x over once lease_ttl passed (rc %d)", rc);
	rc = wc->in->ops->session_get(wc->in, tcache_node(a), &sa);
	TAP_OK(rc == 0 && sa.killed_ms != 0 && atomic_load(&wc->kills) == kills + 1,
	       "takeover: B declared A's session dead, with one kill write");
	/* Every other database of the dead session: at once, no wait, and
	 * without reading the session again (a kill is final). */
	reads = atomic_load(&wc->session_gets);
	for (i = 0; i < 20; i++) {
		snprintf(id, sizeof(id), "z%d", i);
		taken += try_open(b, id) == 0;
	}
	TAP_OK(taken == 20 && atomic_load(&wc->kills) == kills + 1,
	       "takeover: B then takes A's 20 other databases without waiting (%d/20)", taken);
	TAP_OK(atomic_load(&wc->session_gets) == reads,
	       "takeover: ... with no further read of A's session (%d)",
	       atomic_load(&wc->session_gets) - reads);
	/* A comes back (its clock moves on as B's did): its writes are
	 * refused, its heartbeat too, its leases are lost, and it begins a
	 * new session. */
	atomic_fetch_add(&mono_a, TTL);
	TAP_OK(tfile_write(fa, "x", 1, 0) < 0,
	       "takeover: the old holder's writes are refused (its deadline passed)");
	for (i = 0; i < 500 &&
		    (wc->in->ops->session_get(wc->in, tcache_node(a), &sa) != 0 || sa.killed_ms);
	     i++)
		sleep_ms(10);
	TAP_OK(sa.killed_ms == 0 && sa.sess == 2, "takeover: A began session 2 (sess %llu)",
	       (unsigned long long)sa.sess);
	TAP_OK(tfile_write(fa, "x", 1, 0) < 0 && tfile_write(fz[3], "x", 1, 0) < 0,
	       "takeover: A's writes stay refused in its new session");
	tfile_close(fa);
	for (i = 0; i < 20; i++)
		tfile_close(fz[i]);
	tcache_shutdown(a);
	tcache_shutdown(b);
	tcache_free(a);
	tcache_free(b);
}

/* A holds w closed, lingering for an hour; B's open asks for it through
 * A's session, A sees it in its heartbeat and hands over. */
static void test_want(struct mem_store *ms, struct wrap_cat *wc)
{
	struct tcache *a, *b;
	struct tfile *fa = NULL;
	struct cat_item it;
	int rc, i, wants, hb;

	linger_ms = 3600000;
	a = mk(ms, wc, "wa", true);
	wait_ms = 200;
	b = mk(ms, wc, "wb", false);
	wait_ms = 0;
	rc = tcache_open(a, "w", "", O_RDWR | O_CREAT, 0644, &fa, NULL);
	TAP_OK(rc == 0, "want: A opens w (rc %d)", rc);
	tfile_close(fa);
	sleep_ms(300);
	rc = wc->in->ops->get(wc->in, "w", &it);
	TAP_OK(rc == 0 && !strcmp(it.owner, tcache_node(a)),
	       "want: A keeps the lease of the closed w (lingering)");
	wants = atomic_load(&wc->wants);
	rc = try_open(b, "w");
	TAP_OK(rc == -EBUSY && atomic_load(&wc->wants) == wants + 1,
	       "want: B is refused and asks once (rc %d)", rc);
	hb = atomic_load(&wc->renews);
	atomic_fetch_add(&mono_a, TTL / 3 + 10);
	for (i = 0; i < 500 && wc->in->ops->get(wc->in, "w", &it) == 0 && it.owner[0]; i++)
		sleep_ms(10);
	TAP_OK(!it.owner[0] && atomic_load(&wc->renews) > hb,
	       "want: A's heartbeat carried the request, A released w");
	rc = try_open(b, "w");
	TAP_OK(rc == 0, "want: B opens w (rc %d)", rc);
	tcache_shutdown(a);
	tcache_shutdown(b);
	tcache_free(a);
	tcache_free(b);
	linger_ms = 0;
}

static void test_stranded(struct mem_store *ms, struct wrap_cat *wc)
{
	struct tcache *a = mk(ms, wc, "sa", true), *b = mk(ms, wc, "sb", false);
	struct tcache_stats st;
	struct cat_item it;
	struct tfile *fa = NULL;
	int rc;

	/* Not a database: its snapshot fails the check, so it is never
	 * published, like an upload that keeps failing. */
	TAP_OK(tcache_open(a, "s", "", O_RDWR | O_CREAT, 0644, &fa, NULL) == 0 &&
		   tfile_write(fa, "not a database", 14, 0) == 14,
	       "stranded: A writes s");
	tfile_close(fa);
	tcache_shutdown(a);
	tcache_free(a);
	rc = wc->in->ops->get(wc->in, "s", &it);
	TAP_OK(rc == 0 && it.stranded_ms != 0 && !strncmp(it.owner, "node-a~", 7),
	       "stranded: A stopped with unpublished writes: the item stays A's, stranded");
	rc = try_open(b, "s");
	TAP_OK(rc == -EBUSY, "stranded: B gets EBUSY (rc %d)", rc);
	atomic_fetch_add(&mono_b, 10 * TTL);
	rc = try_open(b, "s");
	TAP_OK(rc == -EBUSY, "stranded: ... also after ten lease lengths seen unchanged (rc %d)",
	       rc);
	rc = wc->in->ops->abandon(wc->in, &it, wall_b());
	TAP_OK(rc == 0, "stranded: an operator abandons A's copy (rc %d)", rc);
	rc = try_open(b, "s");
	TAP_OK(rc == 0, "stranded: B is served s again (rc %d)", rc);
	for (int i = 0; i < 500 && wc->in->ops->get(wc->in, "s", &it) == 0 && it.owner[0]; i++)
		sleep_ms(10);
	a = mk(ms, wc, "sa", true);
	for (int i = 0; i < 500; i++) {
		tcache_get_stats(a, &st);
		if (st.quarantined)
			break;
		atomic_fetch_add(&mono_a, 100); /* past a recovery's backoff */
		sleep_ms(10);
	}
	TAP_OK(st.quarantined == 1, "stranded: A's restart quarantines its abandoned copy");
	tcache_shutdown(a);
	tcache_shutdown(b);
	tcache_free(a);
	tcache_free(b);
}

int main(void)
{
	struct mem_store *ms;
	struct wrap_cat *wc;
	char path[600], cmd[700];

	if (!mkdtemp(scratch)) {
		printf("Bail out! mkdtemp\n");
		return 1;
	}
	tfs_log_set_level(LOG_CRIT);
	snprintf(path, sizeof(path), "%s/catalog.db", scratch);
	ms = mem_store_new();
	wc = wrap_cat_new(catalog_sqlite_new(path));
	if (!ms || !wc) {
		printf("Bail out! cannot build the test back ends\n");
		return 1;
	}
	test_takeover(ms, wc);
	test_want(ms, wc);
	test_stranded(ms, wc);
	store_free(&ms->base);
	catalog_free(&wc->base);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", scratch);
	if (system(cmd) != 0)
		printf("# cleanup failed\n");
	return TAP_DONE();
}
