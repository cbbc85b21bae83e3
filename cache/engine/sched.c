/* The background half of the engine: one scheduler thread that decides what
 * is due (write-back, the node's heartbeat, release, recovery, eviction) and a
 * small pool of workers that do it, fed by one queue.
 *
 * DESIGN: the scheduler only looks at in-memory state under tc->mu and
 * queues jobs; it never blocks on I/O. A family has at most one write-back,
 * release or recovery job queued or running at a time (its state is
 * FAM_WRITEBACK, FAM_RELEASING or FAM_RECOVERING until the job ends, see
 * cache/engine/famstate.h), so jobs of one family never race each other. The node has at most one
 * heartbeat job (tc->hb_busy): it renews every lease at once (lease.c).
 *
 * Lease traffic (heartbeat, release; a heartbeat is also where a hand-over
 * request from another node is seen) has its own queue and threads, apart
 * from the upload workers: with S3 hanging and every upload worker stuck in
 * a PUT, heartbeats still go out and open databases stay writable. The lease
 * queue runs the heartbeat first, then releases; its pool
 * starts at LEASE_THREADS_MIN and grows (up to LEASE_THREADS_MAX) when the
 * oldest lease job has waited lease_grow_ms() with every thread busy. */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cache/engine/cache_i.h"
#include "cache/engine/famtab_i.h"
#include "cache/engine/lease_i.h"
#include "cache/engine/sched_i.h"
#include "cache/engine/writeback_i.h"
#include "s3/base/clock.h"
#include "s3/base/log.h"

#define SCHED_TICK_MS 100
/* The lease pool: heartbeats and releases, one catalog call each. */
#define LEASE_THREADS_MIN 2
#define LEASE_THREADS_MAX 8

static struct jobq *queue_of(struct tcache *tc, enum job_kind kind)
{
	return kind == JOB_HEARTBEAT || kind == JOB_RELEASE ? &tc->lq : &tc->uq;
}

/* tc->mu held. Marks the job's family (or the evictor, or the heartbeat)
 * free again: a family's job ends its busy state on ev (what the job did,
 * FEV_DROPPED for one that never ran). */
static void job_unbusy(struct tcache *tc, enum job_kind kind, struct fam *fam, enum fam_event ev)
    REQUIRES(tc->mu)
{
	if (kind == JOB_HEARTBEAT)
		tc->hb_busy = false;
	else if (fam)
		fam_end(tc, fam, ev);
	else
		tc->evict_busy = false;
}

/* tc->mu held. */
static void enqueue(struct tcache *tc, enum job_kind kind, struct fam *fam) REQUIRES(tc->mu)
{
	struct jobq *q = queue_of(tc, kind);
	struct job *j = calloc(1, sizeof(*j));

	assert(tc_mu_held(tc));
	assert(!fam || fam_job(fam)); /* a family's job runs in its job state */
	if (!j) {
		/* Try again at the next tick. */
		job_unbusy(tc, kind, fam, FEV_DROPPED);
		return;
	}
	j->kind = kind;
	j->fam = fam;
	j->queued_at = tfs_mono_ms();
	if (kind == JOB_HEARTBEAT) {
		/* Before releases: a late heartbeat refuses writes, a late
		 * release costs nothing. */
		if (q->prio_tail) {
			j->next = q->prio_tail->next;
			q->prio_tail->next = j;
		} else {
			j->next = q->head;
			q->head = j;
		}
		q->prio_tail = j;
		if (!j->next)
			q->tail = j;
	} else {
		if (q->tail)
			q->tail->next = j;
		else
			q->head = j;
		q->tail = j;
	}
	pthread_cond_signal(&q->cond);
}

/* A thread of q: runs its jobs until the engine stops. */
static void *worker_main(void *arg)
{
	struct jobq *q = arg;
	struct tcache *tc = q->tc;
	enum fam_event ev;
	struct job *j;

	tfs_mutex_lock(&tc->mu);
	while (!tc->stopping) {
		j = q->head;
		if (!j) {
			q->idle++;
			tfs_cond_wait(&q->cond, &tc->mu);
			q->idle--;
			continue;
		}
		q->head = j->next;
		if (!q->head)
			q->tail = NULL;
		if (q->prio_tail == j)
			q->prio_tail = NULL;
		tc->jobs_running++;
		tfs_mutex_unlock(&tc->mu);

		ev = FEV_DROPPED;
		switch (j->kind) {
		case JOB_WRITEBACK: ev = tc_job_writeback(tc, j->fam); break;
		case JOB_HEARTBEAT: lease_heartbeat(tc); break;
		case JOB_RELEASE: ev = tc_job_release(tc, j->fam); break;
		case JOB_RECOVER: ev = tc_job_recover(tc, j->fam); break;
		case JOB_EVICT: tc_evict(tc); break;
		}

		tfs_mutex_lock(&tc->mu);
		tc->jobs_running--;
		job_unbusy(tc, j->kind, j->fam, ev);
		free(j);
		pthread_cond_broadcast(&tc->fam_cond);
		pthread_cond_signal(&tc->sched_cond);
	}
	tfs_mutex_unlock(&tc->mu);
	return NULL;
}

/* How long the oldest lease job may wait, every lease thread busy, before
 * the pool gets one more thread: a twentieth of the ttl leaves most of the
 * slack between a heartbeat falling due (ttl/3) and writes being refused
 * (ttl - ttl/5) to the heartbeat itself. */
static int64_t lease_grow_ms(struct tcache *tc)
{
	int64_t ms = tc->opt.lease_ttl_ms / 20;

	return ms < 100 ? 100 : ms;
}

/* tc->mu held. A slow catalog (throttling, retries) or many leases falling
 * due at once back the lease queue up: add a thread, up to the cap. Threads
 * are never taken away before sched_stop; the cap bounds them. */
static void lease_pool_grow(struct tcache *tc) REQUIRES(tc->mu)
{
	struct jobq *q = &tc->lq;
	int rc;

	if (!q->head || q->idle > 0 || q->nthr >= q->max ||
	    tfs_mono_ms() - q->head->queued_at < lease_grow_ms(tc))
		return;
	rc = pthread_create(&q->thr[q->nthr], NULL, worker_main, q);
	if (rc) {
		log_warn("cannot start lease thread %d: %s", q->nthr + 1, strerror(rc));
		q->max = q->nthr;
		return;
	}
	q->nthr++;
	log_info("lease jobs are waiting: %d lease threads now", q->nthr);
}

/* Queues a job of kind for fam, entering to on ev. tc->mu held. */
static void fam_queue(struct tcache *tc, struct fam *fam, enum job_kind kind, enum fam_state to,
		      enum fam_event ev) REQUIRES(tc->mu)
{
	fam_set(tc, fam, to, ev);
	enqueue(tc, kind, fam);
}

/* Decides what a family holding the lease needs. tc->mu held. */
static void sched_held(struct tcache *tc, struct fam *fam, int64_t now) REQUIRES(tc->mu)
{
	bool dirty = atomic_load(&fam->dirty), lost = atomic_load(&fam->lease_lost);
	/* At shutdown the FUSE session has ended (tcache_shutdown): a handle
	 * still counted open will never be used nor released, so it keeps
	 * no lease from other nodes for the whole shutdown timeout. */
	bool closed = fam->nopen == 0 || tc->shutting_down;
	bool due, blocked;

	if (lost) {
		if (dirty)
			fam_queue(tc, fam, JOB_WRITEBACK, FAM_WRITEBACK, FEV_WRITEBACK_DUE);
		else
			fam_set(tc, fam, FAM_UNLEASED, FEV_LEASE_LOST);
		return;
	}
	if (fam->unlinked) {
		if (fam->nopen == 0)
			fam_queue(tc, fam, JOB_RELEASE, FAM_RELEASING, FEV_RELEASE_DUE);
		return;
	}
	if (dirty) {
		blocked = fam->check_failed && atomic_load(&fam->wseq) == fam->check_seq;
		due = closed || fam->flush ||
		      now - atomic_load(&fam->last_write) >= tc->opt.idle_ms ||
		      now - atomic_load(&fam->dirty_since) >= tc->opt.max_dirty_ms;
		if (!blocked && due && (fam->flush || now >= fam->retry_at)) {
			fam->flush = false;
			fam_queue(tc, fam, JOB_WRITEBACK, FAM_WRITEBACK, FEV_WRITEBACK_DUE);
		} else if (tc->shutting_down && blocked) {
			/* Stays dirty in the state database for the next start. */
			fam_queue(tc, fam, JOB_RELEASE, FAM_RELEASING, FEV_RELEASE_DUE);
		}
		return;
	}
	/* At shutdown the end of the session frees it with the others in one
	 * write (lease_release_all). */
	if (tc->shutting_down)
		return;
	if (closed && (fam->want || now - fam->last_close >= tc->opt.linger_ms))
		fam_queue(tc, fam, JOB_RELEASE, FAM_RELEASING, FEV_RELEASE_DUE);
}

/* Decides what one family needs, by its state. tc->mu held; may free fam. */
static void sched_fam(struct tcache *tc, struct fam *fam, int64_t now) REQUIRES(tc->mu)
{
	switch (fam->state) {
	case FAM_RECOVER_WAIT:
		if (!tc->shutting_down && now >= fam->retry_at)
			fam_queue(tc, fam, JOB_RECOVER, FAM_RECOVERING, FEV_RECOVERY_DUE);
		break;
	case FAM_HELD: sched_held(tc, fam, now); break;
	case FAM_UNLEASED:
		if (fam->nopen == 0) {
			fam_set(tc, fam, FAM_ABSENT, FEV_FORGET);
			fam_remove(tc, fam);
		}
		break;
	default: break; /* busy: its thread or job ends it */
	}
}

static void *sched_main(void *arg)
{
	struct tcache *tc = arg;
	struct fam *f, *next;
	int i;

	tfs_mutex_lock(&tc->mu);
	while (!tc->stopping) {
		int64_t now = tc_mono(tc);

		for (i = 0; i < FAM_BUCKETS; i++) {
			for (f = tc->tab[i]; f; f = next) {
				next = f->next;
				sched_fam(tc, f, now);
			}
		}
		/* One heartbeat per node, however many leases: see lease.c. */
		if (atomic_load(&tc->sess) && !tc->hb_busy && now >= tc->next_hb) {
			tc->hb_busy = true;
			enqueue(tc, JOB_HEARTBEAT, NULL);
		}
		if (tc->evict_due && !tc->evict_busy && tc->opt.cache_size) {
			tc->evict_due = false;
			tc->evict_busy = true;
			enqueue(tc, JOB_EVICT, NULL);
		}
		lease_pool_grow(tc);
		atomic_fetch_add(&tc->st.sched_passes, 1);
		tc_timed_wait(&tc->sched_cond, &tc->mu, SCHED_TICK_MS);
	}
	tfs_mutex_unlock(&tc->mu);
	return NULL;
}

void sched_wake(struct tcache *tc)
{
	pthread_cond_signal(&tc->sched_cond);
}

/* Starts n threads of q (tc->mu not held, no scheduler yet): 0 when at
 * least one runs, else a negative errno. */
static int pool_start(struct tcache *tc, struct jobq *q, int n, int max)
{
	int rc = 0;

	q->tc = tc;
	q->thr = calloc((size_t)max, sizeof(pthread_t));
	if (!q->thr)
		return -ENOMEM;
	q->max = max;
	while (q->nthr < n) {
		rc = pthread_create(&q->thr[q->nthr], NULL, worker_main, q);
		if (rc) {
			log_err("cannot start a %s thread: %s", q->what, strerror(rc));
			break;
		}
		q->nthr++;
	}
	return q->nthr ? 0 : rc ? -rc : -EAGAIN;
}

/* Joins the threads of q (stopping set), drops what is still queued. */
static void pool_stop(struct tcache *tc, struct jobq *q)
{
	struct job *j;
	int i, n;

	tfs_mutex_lock(&tc->mu);
	n = q->nthr; /* the scheduler, which grows it, has stopped */
	tfs_mutex_unlock(&tc->mu);
	for (i = 0; i < n; i++)
		pthread_join(q->thr[i], NULL);
	tfs_mutex_lock(&tc->mu);
	while ((j = q->head)) {
		q->head = j->next;
		job_unbusy(tc, j->kind, j->fam, FEV_DROPPED);
		free(j);
	}
	q->tail = q->prio_tail = NULL;
	q->nthr = q->max = q->idle = 0;
	tfs_mutex_unlock(&tc->mu);
	free(q->thr);
	q->thr = NULL;
}

int sched_start(struct tcache *tc)
{
	int rc;

	tc->stopping = false;
	tc->uq.what = "write-back";
	tc->lq.what = "lease";
	rc = pool_start(tc, &tc->uq, tc->opt.upload_workers, tc->opt.upload_workers);
	if (!rc)
		rc = pool_start(tc, &tc->lq, LEASE_THREADS_MIN, LEASE_THREADS_MAX);
	if (!rc)
		rc = -pthread_create(&tc->sched, NULL, sched_main, tc);
	if (rc) {
		log_err("cannot start the scheduler: %s", strerror(-rc));
		tfs_mutex_lock(&tc->mu);
		tc->stopping = true;
		pthread_cond_broadcast(&tc->uq.cond);
		pthread_cond_broadcast(&tc->lq.cond);
		tfs_mutex_unlock(&tc->mu);
		pool_stop(tc, &tc->uq);
		pool_stop(tc, &tc->lq);
		return rc;
	}
	tc->started = true;
	return 0;
}

void sched_stop(struct tcache *tc)
{
	if (!tc->started)
		return;
	tfs_mutex_lock(&tc->mu);
	tc->stopping = true;
	pthread_cond_broadcast(&tc->uq.cond);
	pthread_cond_broadcast(&tc->lq.cond);
	pthread_cond_broadcast(&tc->sched_cond);
	tfs_mutex_unlock(&tc->mu);
	pthread_join(tc->sched, NULL);
	pool_stop(tc, &tc->uq);
	pool_stop(tc, &tc->lq);
	tfs_mutex_lock(&tc->mu);
	tc->evict_busy = false;
	tfs_mutex_unlock(&tc->mu);
	tc->started = false;
}
