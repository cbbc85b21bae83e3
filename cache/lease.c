/* The lease manager: acquire (waiting for a holder elsewhere, asking it to
 * hand over, taking over a holder that stopped renewing), renew, release
 * (or keep the lease marked stranded when unpublished writes remain), and
 * the local check that refuses writes once a renewal is overdue.
 *
 * DESIGN (the DynamoDB lock client's method): no wall clock decides who
 * owns a lease. Every acquire, renew, commit and release changes the
 * item's record version rev. An acquirer that finds the item held by
 * another node remembers (owner, epoch, rev) and when, on its own
 * monotonic clock, the reply that first showed it arrived. Once it has
 * seen that same triple unchanged for a full lease_ttl, measured from
 * that arrival to the send of its next acquire, it asks the catalog to
 * take the item on the condition "owner, epoch and rev are still those".
 *
 * Why a live holder never loses its lease, and a taken-over one never
 * writes after the takeover: the holder refuses writes after S + ttl -
 * margin, S being the send time of its last successful renewal (or of the
 * acquire), on its own monotonic clock. The renewal that produced rev R was
 * applied before the catalog answered the read showing R, so S comes
 * before the arrival A of that reply in real time. The takeover is sent
 * at A + ttl or later on the acquirer's clock. As long as the two
 * monotonic clocks run at rates within margin/ttl (20%) of each other,
 * S + ttl - margin < A + ttl: the holder's fence closes before the
 * takeover is sent. A holder that renews before that time changes rev and
 * the conditional takeover fails; its epoch fences any late renewal or
 * commit after a takeover. Wall clocks may be off by any amount in either
 * direction: they are only written into expires, for humans.
 *
 * The observations live in one bounded table per engine (tc->obs, its own
 * mutex), so they outlive a failed open: with lease_wait shorter than the
 * ttl, the open fails with EBUSY and a later open completes the takeover.
 * Losing an observation (its slot reused) only delays a takeover. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

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

void lease_init(struct tcache *tc)
{
	pthread_mutex_init(&tc->obs_mu, NULL);
}

void lease_fini(struct tcache *tc)
{
	pthread_mutex_destroy(&tc->obs_mu);
}

/* ---- observations of leases held elsewhere ---------------------------- */

/* obs_mu held. The slot of id, or (create) a free or the least recently
 * looked-at one among its probe range, or NULL. */
static struct lease_obs *obs_slot(struct tcache *tc, const char *id, bool create)
{
	size_t h = (size_t)XXH3_64bits(id, strlen(id)), i;
	struct lease_obs *o, *victim = NULL;

	for (i = 0; i < LEASE_OBS_PROBE; i++) {
		o = &tc->obs[(h + i) % LEASE_OBS_SLOTS];
		if (o->used && !strcmp(o->id, id))
			return o;
		if (!victim || (victim->used && (!o->used || o->touched < victim->touched)))
			victim = o;
	}
	if (!create)
		return NULL;
	memset(victim, 0, sizeof(*victim));
	return victim;
}

/* Records what a reply that arrived at mono ms `arrived` showed of id's
 * holder: the first sight of this exact (owner, epoch, rev) starts its
 * clock, a later sight of the same keeps it, anything else restarts it.
 * *since gets the start. */
static void obs_note(struct tcache *tc, const char *id, const struct cat_item *it, int64_t arrived,
		     int64_t *since)
{
	struct lease_obs *o;

	pthread_mutex_lock(&tc->obs_mu);
	o = obs_slot(tc, id, true);
	if (!o->used || strcmp(o->owner, it->owner) != 0 || o->epoch != it->epoch ||
	    o->rev != it->rev) {
		o->used = true;
		snprintf(o->id, sizeof(o->id), "%s", id);
		snprintf(o->owner, sizeof(o->owner), "%s", it->owner);
		o->epoch = it->epoch;
		o->rev = it->rev;
		o->since = arrived;
	}
	o->touched = arrived;
	*since = o->since;
	pthread_mutex_unlock(&tc->obs_mu);
}

/* True when the holder of id was seen unchanged for a whole ttl by
 * `sending` (the mono time of the request about to go out): *tk (owner in
 * owner_buf) then names it, and *held_ms says for how long. */
static bool obs_ripe(struct tcache *tc, const char *id, int64_t sending, struct cat_takeover *tk,
		     char owner_buf[CAT_NODE_MAX + 1], int64_t *held_ms)
{
	struct lease_obs *o;
	bool ripe = false;

	pthread_mutex_lock(&tc->obs_mu);
	o = obs_slot(tc, id, false);
	if (o && sending - o->since >= tc->opt.lease_ttl_ms) {
		snprintf(owner_buf, CAT_NODE_MAX + 1, "%s", o->owner);
		tk->owner = owner_buf;
		tk->epoch = o->epoch;
		tk->rev = o->rev;
		*held_ms = sending - o->since;
		ripe = true;
	}
	pthread_mutex_unlock(&tc->obs_mu);
	return ripe;
}

static void obs_forget(struct tcache *tc, const char *id)
{
	struct lease_obs *o;

	pthread_mutex_lock(&tc->obs_mu);
	o = obs_slot(tc, id, false);
	if (o)
		memset(o, 0, sizeof(*o));
	pthread_mutex_unlock(&tc->obs_mu);
}

/* ---- acquire, renew, release ------------------------------------------ */

int lease_acquire(struct tcache *tc, const char *id, long wait_ms, struct cat_item *item,
		  int64_t *mono_at)
{
	long tries = wait_ms / LEASE_POLL_MS + 1, i;
	char tk_owner[CAT_NODE_MAX + 1];
	struct cat_takeover tk;
	int64_t sent, since = 0, held_ms = 0;
	bool wanted = false, take = false;
	int rc = -EBUSY;

	/* Bounded by a count, not by the (injectable) clock. */
	for (i = 0; i < tries; i++) {
		/* The local write deadline counts from the send of the request
		 * that took the lease, not from before a wait of many seconds. */
		sent = tc_mono(tc);
		if (mono_at)
			*mono_at = sent;
		take = obs_ripe(tc, id, sent, &tk, tk_owner, &held_ms);
		rc = tc->cat->ops->acquire(tc->cat, id, tc->node, tc_now(tc), tc->opt.lease_ttl_ms,
					   take ? &tk : NULL, item);
		if (rc == 0)
			obs_forget(tc, id);
		if (rc == 0 && take && item->epoch == tk.epoch + 1)
			log_warn("took over the lease of %s from %s: its record (epoch %llu, rev "
				 "%llu) stayed unchanged for %lld ms",
				 id, tk.owner, (unsigned long long)tk.epoch,
				 (unsigned long long)tk.rev, (long long)held_ms);
		if (rc != -EBUSY)
			break;
		obs_note(tc, id, item, tc_mono(tc), &since);
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
	if (rc == -EBUSY && item->stranded_ms)
		log_warn("cannot lease %s: node %s stopped holding acknowledged writes of it that "
			 "it could not publish (stranded, epoch %llu); nobody else is served it "
			 "until that node publishes them at its next start, or an operator gives "
			 "them up with `tenantfs abandon`",
			 id, item->owner, (unsigned long long)item->epoch);
	else if (rc == -EBUSY)
		log_warn("cannot lease %s: held by %s (epoch %llu, rev %llu); taken over if its "
			 "record stays unchanged for %lld ms more",
			 id, item->owner[0] ? item->owner : "another node",
			 (unsigned long long)item->epoch, (unsigned long long)item->rev,
			 (long long)(tc->opt.lease_ttl_ms - (tc_mono(tc) - since)));
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

bool lease_cut_off(struct tcache *tc, struct fam *fam)
{
	int64_t failed = fam->renew_failed_at;
	/* The send time of the last successful renewal (or acquire). */
	int64_t renewed = atomic_load(&fam->lease_until) - tc->opt.lease_ttl_ms + lease_margin(tc);

	return failed > 0 && failed > renewed && tc_mono(tc) - failed < tc->opt.lease_ttl_ms;
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
		fam->renew_failed_at = tc_mono(tc);
		log_warn("cannot renew the lease of %s: %s", fam->id, strerror(-rc));
	}
	pthread_mutex_unlock(&tc->mu);
	return rc;
}

/* True when fam holds acknowledged writes not yet published: dirty in
 * memory, or in the state database (a recovery that has not finished). */
static bool unpublished(struct tcache *tc, struct fam *fam)
{
	struct state_row row;

	if (atomic_load(&fam->dirty))
		return true;
	return state_get(tc->state, fam->id, &row) == 0 && row.dirty;
}

int lease_release(struct tcache *tc, struct fam *fam)
{
	uint64_t epoch;
	int rc;

	pthread_mutex_lock(&tc->mu);
	epoch = fam->epoch;
	pthread_mutex_unlock(&tc->mu);
	if (unpublished(tc, fam)) {
		/* Releasing would let another node serve the previous version
		 * while our acknowledged writes wait here for the next start. */
		rc = tc->cat->ops->strand(tc->cat, fam->id, tc->node, epoch, tc_now(tc));
		if (rc == 0)
			log_warn("%s holds acknowledged writes that are not published yet: its "
				 "lease stays with %s, marked stranded, and other nodes get EBUSY "
				 "until they are published at the next start (or given up with "
				 "`tenantfs abandon`)",
				 fam->id, tc->node);
		else
			log_err("cannot mark %s as stranded (epoch %llu): %s; its lease will "
				"lapse, and if another node takes it over, this copy is "
				"quarantined at the next start",
				fam->id, (unsigned long long)epoch, strerror(-rc));
		return rc;
	}
	rc = tc->cat->ops->release(tc->cat, fam->id, tc->node, epoch);
	if (rc == 0)
		atomic_fetch_add(&tc->st.lease_releases, 1);
	else
		log_warn("cannot release the lease of %s (epoch %llu): %s", fam->id,
			 (unsigned long long)epoch, strerror(-rc));
	return rc;
}
