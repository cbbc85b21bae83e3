/* The catalog gate: how many FUSE requests may wait on the catalog at once.
 * A catalog outage would otherwise tie up every FUSE thread in retries and
 * stall reads of databases already open, which need no catalog at all.
 * Requests past the share wait briefly for a place and fail with EAGAIN
 * when none comes free. While the catalog is slow (a wait for a place
 * timed out within the last GATE_WAIT_MS) only a small waiting room may
 * wait, the others fail at once: so a quarter of the FUSE threads stays
 * free, yet a busy but healthy catalog, whose places come free quickly,
 * refuses nobody. Background jobs never come here. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "cache/engine/cache_i.h"
#include "cache/engine/catgate_i.h"
#include "cache/engine/lease_i.h"
#include "s3/base/clock.h"
#include "s3/base/log.h"

#define GATE_SLOTS_DEFAULT   32
#define GATE_TIMEOUT_DEFAULT 10000
/* How long a request waits for a place before it gives up. */
#define GATE_WAIT_MS 1000
/* One log line per burst: refusals within this long of the last line are
 * counted into the next one. */
#define GATE_LOG_MS 10000

/* Gate places held by this thread: nested enters share the outer one. */
static __thread int gate_depth;

void tc_gate_init(struct tcache *tc)
{
	struct cat_gate *g = &tc->gate;
	pthread_condattr_t ca;

	tfs_mutex_init(&g->mu);
	tfs_mutex_rank(&g->mu, RANK_GATE);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g->cond, &ca);
	pthread_condattr_destroy(&ca);
	g->slots = tc->opt.catalog_slots > 0 ? tc->opt.catalog_slots : GATE_SLOTS_DEFAULT;
	/* Half as many again may wait: with the default share of half the
	 * FUSE threads, a quarter of them always stays free for open files. */
	g->max_waiting = g->slots / 2;
	g->timeout_ms =
	    tc->opt.catalog_timeout_ms > 0 ? tc->opt.catalog_timeout_ms : GATE_TIMEOUT_DEFAULT;
	g->logged_at = INT64_MIN / 2;
	g->timed_out_at = INT64_MIN / 2;
}

void tc_gate_destroy(struct tcache *tc)
{
	tfs_mutex_destroy(&tc->gate.mu);
	pthread_cond_destroy(&tc->gate.cond);
}

/* Called with g->mu held. */
static void gate_refused(struct cat_gate *g, const char *what, const char *id) REQUIRES(g->mu)
{
	int64_t now = tfs_mono_ms();

	g->refused++;
	if (now - g->logged_at < GATE_LOG_MS)
		return;
	log_warn("catalog is slow or unreachable: %d FUSE requests are waiting on it (at most "
		 "%d, each for up to %ld ms); %s of %s and %llu more in the last %d s refused "
		 "with EAGAIN",
		 g->inside, g->slots, g->timeout_ms, what, id ? id : "-",
		 (unsigned long long)(g->refused - 1), GATE_LOG_MS / 1000);
	g->logged_at = now;
	g->refused = 0;
}

int tc_gate_enter(struct tcache *tc, const char *what, const char *id, long *saved)
{
	struct cat_gate *g = &tc->gate;
	struct timespec ts;
	bool in = false;
	int64_t until;

	if (gate_depth > 0) {
		gate_depth++;
		*saved = catalog_thread_budget();
		return 0;
	}
	tfs_mutex_lock(&g->mu);
	if (g->inside < g->slots) {
		in = true;
	} else if (g->waiting < g->max_waiting || tfs_mono_ms() - g->timed_out_at >= GATE_WAIT_MS) {
		g->waiting++;
		until = tfs_mono_ms() + GATE_WAIT_MS;
		ts.tv_sec = (time_t)(until / 1000);
		ts.tv_nsec = (long)(until % 1000) * 1000000L;
		/* Bounded by the deadline; a spurious wake-up loops. */
		while (g->inside >= g->slots) {
			if (tfs_cond_timedwait(&g->cond, &g->mu, &ts) == ETIMEDOUT)
				break;
		}
		in = g->inside < g->slots;
		if (!in)
			g->timed_out_at = tfs_mono_ms();
		g->waiting--;
	}
	if (in)
		g->inside++;
	else
		gate_refused(g, what, id);
	tfs_mutex_unlock(&g->mu);
	if (!in)
		return -EAGAIN;
	gate_depth = 1;
	*saved = catalog_set_thread_budget(g->timeout_ms);
	return 0;
}

static unsigned failed_slot(struct cat_gate *g, const char *id)
{
	return (unsigned)(XXH3_64bits(id, strlen(id)) % (sizeof(g->failed) / sizeof(g->failed[0])));
}

void tc_gate_note_failed(struct tcache *tc, const char *id, int rc)
{
	struct cat_gate *g = &tc->gate;
	unsigned k = failed_slot(g, id);

	tfs_mutex_lock(&g->mu);
	snprintf(g->failed[k].id, sizeof(g->failed[k].id), "%s", id);
	g->failed[k].rc = rc;
	g->failed[k].at = tc_mono(tc);
	tfs_mutex_unlock(&g->mu);
}

int tc_gate_failed(struct tcache *tc, const char *id, int64_t since)
{
	struct cat_gate *g = &tc->gate;
	unsigned k = failed_slot(g, id);
	int rc = 0;

	tfs_mutex_lock(&g->mu);
	if (g->failed[k].rc < 0 && g->failed[k].at >= since && !strcmp(g->failed[k].id, id))
		rc = g->failed[k].rc;
	tfs_mutex_unlock(&g->mu);
	return rc;
}

void tc_gate_leave(struct tcache *tc, long saved)
{
	struct cat_gate *g = &tc->gate;

	if (--gate_depth > 0)
		return;
	catalog_set_thread_budget(saved);
	tfs_mutex_lock(&g->mu);
	g->inside--;
	pthread_cond_signal(&g->cond);
	tfs_mutex_unlock(&g->mu);
}
