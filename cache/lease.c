/* The lease manager: acquire (waiting for a holder elsewhere, asking it to
 * hand over), renew, release, and the local check that refuses writes once
 * a renewal is overdue. Correctness rests on the catalog's conditions; the
 * local deadline only stops us early. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "cache/cache_i.h"
#include "s3/log.h"

#define LEASE_POLL_MS 50

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Writes are refused this long before the lease would run out, so the
 * catalog's expiry is never reached while we still accept writes. */
static int64_t lease_margin(struct tcache *tc)
{
	return tc->opt.lease_ttl_ms / 5;
}

int lease_acquire(struct tcache *tc, const char *id, long wait_ms, struct cat_item *item,
		  int64_t *mono_at)
{
	long tries = wait_ms / LEASE_POLL_MS + 1, i;
	bool wanted = false;
	int rc = -EBUSY;

	/* Bounded by a count, not by the (injectable) clock. */
	for (i = 0; i < tries; i++) {
		/* The catalog's deadline counts from this request, so the local
		 * one must too, not from before a wait of many seconds. */
		if (mono_at)
			*mono_at = tc_mono(tc);
		rc = tc->cat->ops->acquire(tc->cat, id, tc->node, tc_now(tc), tc->opt.lease_ttl_ms,
					   item);
		if (rc != -EBUSY)
			break;
		if (i + 1 == tries)
			break;
		if (!wanted) {
			int wrc = tc->cat->ops->want(tc->cat, id, tc->node);

			if (wrc < 0)
				log_warn("cannot ask for the lease of %s: %s", id, strerror(-wrc));
			wanted = true;
		}
		sleep_ms(LEASE_POLL_MS);
	}
	if (rc == -EBUSY)
		log_warn("cannot lease %s: held by %s (epoch %llu) for %lld ms more", id,
			 item->owner[0] ? item->owner : "another node",
			 (unsigned long long)item->epoch,
			 (long long)(item->expires_ms - tc_now(tc)));
	else if (rc < 0)
		log_err("cannot lease %s: %s", id, strerror(-rc));
	else
		atomic_fetch_add(&tc->st.lease_acquires, 1);
	return rc;
}

void lease_set_renewed(struct tcache *tc, struct fam *fam, int64_t mono_at_call)
{
	atomic_store(&fam->lease_until, mono_at_call + tc->opt.lease_ttl_ms - lease_margin(tc));
	atomic_store(&fam->refuse_logged, false);
}

bool lease_writable(struct tcache *tc, struct fam *fam)
{
	if (atomic_load(&fam->lease_lost))
		return false;
	return tc_mono(tc) <= atomic_load(&fam->lease_until);
}

int lease_renew(struct tcache *tc, struct fam *fam)
{
	struct cat_item item;
	uint64_t epoch;
	int64_t t0 = tc_mono(tc);
	int rc;

	pthread_mutex_lock(&tc->mu);
	epoch = fam->epoch;
	pthread_mutex_unlock(&tc->mu);

	memset(&item, 0, sizeof(item));
	rc = tc->cat->ops->renew(tc->cat, fam->id, tc->node, epoch,
				 tc_now(tc) + tc->opt.lease_ttl_ms, &item);
	pthread_mutex_lock(&tc->mu);
	if (rc == 0) {
		/* Only forward: a write-back's own renewal may overlap the lease
		 * pool's and finish last with an older start. */
		int64_t until = t0 + tc->opt.lease_ttl_ms - lease_margin(tc);
		int64_t cur = atomic_load(&fam->lease_until);

		while (cur < until && !atomic_compare_exchange_weak(&fam->lease_until, &cur, until))
			;
		atomic_store(&fam->refuse_logged, false);
		if (fam->next_renew < t0 + tc->opt.lease_ttl_ms / 3)
			fam->next_renew = t0 + tc->opt.lease_ttl_ms / 3;
		if (item.want[0] && strcmp(item.want, tc->node) != 0 && !fam->want) {
			log_info("node %s asks for %s: handing over once closed and clean",
				 item.want, fam->id);
			fam->want = true;
		}
		atomic_fetch_add(&tc->st.lease_renews, 1);
	} else if (rc == -ESTALE) {
		atomic_store(&fam->lease_lost, true);
		log_err("lease of %s (epoch %llu) was lost: writes refused, local changes will "
			"be quarantined",
			fam->id, (unsigned long long)epoch);
	} else {
		/* Try again soon; the local deadline stops writes if this lasts. */
		fam->next_renew = t0 + LEASE_POLL_MS * 10;
		log_warn("cannot renew the lease of %s: %s", fam->id, strerror(-rc));
	}
	pthread_mutex_unlock(&tc->mu);
	return rc;
}

int lease_release(struct tcache *tc, struct fam *fam)
{
	uint64_t epoch;
	int rc;

	pthread_mutex_lock(&tc->mu);
	epoch = fam->epoch;
	pthread_mutex_unlock(&tc->mu);
	rc = tc->cat->ops->release(tc->cat, fam->id, tc->node, epoch);
	if (rc == 0)
		atomic_fetch_add(&tc->st.lease_releases, 1);
	else
		log_warn("cannot release the lease of %s (epoch %llu): %s", fam->id,
			 (unsigned long long)epoch, strerror(-rc));
	return rc;
}
