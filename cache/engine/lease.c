/* The lease manager: the node's session (start, heartbeat, loss),
 * acquire (waiting for a holder elsewhere, asking it to hand over, taking
 * over a holder whose session died), release (or keep the lease marked
 * stranded when unpublished writes remain), and the local check that
 * refuses writes once the heartbeat is overdue.
 *
 * DESIGN: a node holds all its leases through one session, its heartbeat
 * item in the catalog, renewed every ttl/3 whatever the number of leases:
 * a held, idle database costs no catalog write. Every lease item names the
 * session it was taken in; fencing stays per database (owner + epoch +
 * base gen on every commit).
 *
 * No wall clock decides who owns a lease (the DynamoDB lock client's
 * method, applied to the session). Every heartbeat changes the session's
 * rev. An acquirer that finds an item held in a live session remembers
 * (session, rev) and when, on its own monotonic clock, the reply that
 * first showed it arrived. Once it has seen that same pair unchanged for
 * a full lease_ttl, measured from that arrival to the send of its next
 * request, it kills the session on the condition "sess and rev are still
 * those" (a final mark: no heartbeat of that session succeeds again) and
 * then takes the item on the condition "owner, session and epoch are
 * still those". A session that is killed, or replaced by a newer one of
 * its node (a restart), is dead: its items are taken without waiting.
 *
 * Why a live holder never loses its lease, and a killed one never writes
 * after the kill: the holder refuses writes after S + ttl - margin, S
 * being the send time of its last successful heartbeat (or of the session
 * start), on its own monotonic clock. The heartbeat that produced rev R
 * was applied before the catalog answered the read showing R, so S comes
 * before the arrival A of that reply in real time. The kill is sent at A +
 * ttl or later on the acquirer's clock. As long as the two monotonic
 * clocks run at rates within margin/ttl (20%) of each other, S + ttl -
 * margin < A + ttl: the holder's fence closes before the kill is sent. A
 * holder that heartbeats before that time changes rev and the conditional
 * kill fails. The holder's next heartbeat after a kill fails: it treats
 * every lease of that session as lost (its changes are quarantined), and
 * begins a new session for new leases. A commit or release of the old
 * holder after a takeover fails on the epoch. Wall clocks may be off by
 * any amount in either direction: they are only written into expires,
 * for humans.
 *
 * At shutdown a node ends its own session (session_end: the same final
 * mark as a kill) after marking stranded every lease that still holds
 * unpublished writes: one write frees all its clean leases for other
 * nodes at once, however many, where releasing them one by one cost one
 * write each (an unmount holding 2,000 leases on moto: 19.8 s and 2,002
 * writes, against 0.15 s and one). The stranded ones stay fenced off;
 * epochs still fence every commit. If a stranded mark fails, the session
 * is left to lapse and the clean leases are released one by one.
 *
 * A hand-over request (want) goes to the holder's session item; the
 * holder finds it in its next heartbeat's reply, which costs it nothing
 * more, and releases that database once it is closed and clean.
 *
 * Items from before sessions (sess 0) are taken over as they were then:
 * after their own rev stayed unchanged for a whole ttl.
 *
 * The observations live in one bounded table per engine (tc->obs, its own
 * mutex), so they outlive a failed open: with lease_wait shorter than the
 * ttl, the open fails with EBUSY and a later open completes the takeover.
 * Losing an observation (its slot reused) only delays a takeover. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "cache/engine/cache_i.h"
#include "cache/engine/famtab_i.h"
#include "cache/engine/lease_i.h"
#include "cache/engine/sched_i.h"
#include "s3/base/clock.h"
#include "s3/base/log.h"

#define LEASE_POLL_MS 50

/* Writes are refused this long before the lease would run out, so the
 * catalog's expiry is never reached while we still accept writes. */
static int64_t lease_margin(struct tcache *tc)
{
	return tc->opt.lease_ttl_ms / 5;
}

void lease_init(struct tcache *tc)
{
	tfs_mutex_init(&tc->obs_mu);
	tfs_mutex_rank(&tc->obs_mu, RANK_LEAF);
	tfs_mutex_init(&tc->sess_mu);
	tfs_mutex_rank(&tc->sess_mu, RANK_LEAF);
	pthread_cond_init(&tc->sess_cond, NULL);
}

void lease_fini(struct tcache *tc)
{
	tfs_mutex_destroy(&tc->obs_mu);
	tfs_mutex_destroy(&tc->sess_mu);
	pthread_cond_destroy(&tc->sess_cond);
}

/* ---- observations of leases held elsewhere ---------------------------- */

/* obs_mu held. The slot of id, or (create) a free or the least recently
 * looked-at one among its probe range, or NULL. */
static struct lease_obs *obs_slot(struct tcache *tc, const char *id, bool create)
    REQUIRES(tc->obs_mu)
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

/* Records what a reply that arrived at mono ms `arrived` showed under key
 * (a database id, or a session key): the first sight of this exact
 * (owner, epoch, rev) starts its clock, a later sight of the same keeps
 * it, anything else restarts it. For a session, epoch is its sess. *since
 * gets the start. */
static void obs_note(struct tcache *tc, const char *id, const char *owner, uint64_t epoch,
		     uint64_t rev, int64_t arrived, int64_t *since) EXCLUDES(tc->obs_mu)
{
	struct lease_obs *o;

	tfs_mutex_lock(&tc->obs_mu);
	o = obs_slot(tc, id, true);
	if (!o->used || strcmp(o->owner, owner) != 0 || o->epoch != epoch || o->rev != rev) {
		o->used = true;
		snprintf(o->id, sizeof(o->id), "%s", id);
		snprintf(o->owner, sizeof(o->owner), "%s", owner);
		o->epoch = epoch;
		o->rev = rev;
		o->since = arrived;
	}
	o->touched = arrived;
	*since = o->since;
	tfs_mutex_unlock(&tc->obs_mu);
}

/* True when what key names was seen unchanged for a whole ttl by
 * `sending` (the mono time of the request about to go out): *tk (owner in
 * owner_buf; epoch, rev as noted, sess 0) then names it, and *held_ms says
 * for how long. */
static bool obs_ripe(struct tcache *tc, const char *id, int64_t sending, struct cat_takeover *tk,
		     char owner_buf[CAT_NODE_MAX + 1], int64_t *held_ms) EXCLUDES(tc->obs_mu)
{
	struct lease_obs *o;
	bool ripe = false;

	tfs_mutex_lock(&tc->obs_mu);
	o = obs_slot(tc, id, false);
	if (o && sending - o->since >= tc->opt.lease_ttl_ms) {
		snprintf(owner_buf, CAT_NODE_MAX + 1, "%s", o->owner);
		tk->owner = owner_buf;
		tk->sess = 0;
		tk->epoch = o->epoch;
		tk->rev = o->rev;
		*held_ms = sending - o->since;
		ripe = true;
	}
	tfs_mutex_unlock(&tc->obs_mu);
	return ripe;
}

static void obs_forget(struct tcache *tc, const char *id) EXCLUDES(tc->obs_mu)
{
	struct lease_obs *o;

	tfs_mutex_lock(&tc->obs_mu);
	o = obs_slot(tc, id, false);
	if (o)
		memset(o, 0, sizeof(*o));
	tfs_mutex_unlock(&tc->obs_mu);
}

/* Notes that every session of node up to sess is over. */
static void over_note(struct tcache *tc, const char *node, uint64_t sess) EXCLUDES(tc->obs_mu)
{
	size_t h = (size_t)XXH3_64bits(node, strlen(node)) % LEASE_OVER_SLOTS;

	tfs_mutex_lock(&tc->obs_mu);
	if (strcmp(tc->over[h].node, node) != 0) {
		snprintf(tc->over[h].node, sizeof(tc->over[h].node), "%s", node);
		tc->over[h].sess = 0;
	}
	if (sess > tc->over[h].sess)
		tc->over[h].sess = sess;
	tfs_mutex_unlock(&tc->obs_mu);
}

/* True when session sess of node is known to be over. */
static bool over_known(struct tcache *tc, const char *node, uint64_t sess) EXCLUDES(tc->obs_mu)
{
	size_t h = (size_t)XXH3_64bits(node, strlen(node)) % LEASE_OVER_SLOTS;
	bool over;

	tfs_mutex_lock(&tc->obs_mu);
	over = !strcmp(tc->over[h].node, node) && sess <= tc->over[h].sess;
	tfs_mutex_unlock(&tc->obs_mu);
	return over;
}

/* ---- the session -------------------------------------------------------- */

/* The key of node's session in the observation table. */
static void sess_key(char *buf, size_t cap, const char *node)
{
	snprintf(buf, cap, "%s%s", CAT_SESSION_PREFIX, node);
}

/* Moves the write deadline of the session to sent + ttl - margin, sent
 * being the send time of a heartbeat that succeeded; only forward, since
 * two heartbeats (the scheduled one, a write-back's) may overlap. */
static void sess_extend(struct tcache *tc, int64_t sent)
{
	int64_t until = sent + tc->opt.lease_ttl_ms - lease_margin(tc);
	int64_t cur = atomic_load(&tc->sess_until);

	while (cur < until && !atomic_compare_exchange_weak(&tc->sess_until, &cur, until))
		;
}

/* Begins a new session: 0, or -errno (logged) leaving none. */
static int sess_begin(struct tcache *tc) EXCLUDES(tc->mu, tc->sess_mu)
{
	struct cat_session s;
	int64_t t0 = tc_mono(tc);
	int rc;

	rc = tc->cat->ops->session_start(tc->cat, tc->node, tc_now(tc), tc->opt.lease_ttl_ms, &s);
	if (rc < 0) {
		log_err("cannot begin a session of node %s: %s", tc->node, strerror(-rc));
		return rc;
	}
	tfs_mutex_lock(&tc->sess_mu);
	tc->n_done = 0;
	atomic_store(&tc->sess, s.sess);
	tfs_mutex_unlock(&tc->sess_mu);
	sess_extend(tc, t0);
	tfs_mutex_lock(&tc->mu);
	tc->next_hb = t0 + tc->opt.lease_ttl_ms / 3;
	tfs_mutex_unlock(&tc->mu);
	log_info("node %s began session %llu: its leases are renewed by one heartbeat every "
		 "%lld ms",
		 tc->node, (unsigned long long)s.sess, (long long)tc->opt.lease_ttl_ms / 3);
	return 0;
}

int lease_start(struct tcache *tc)
{
	int rc = 0;

	tfs_mutex_lock(&tc->sess_mu);
	while (tc->sess_starting)
		tfs_cond_wait(&tc->sess_cond, &tc->sess_mu);
	if (atomic_load(&tc->sess) == 0) {
		tc->sess_starting = true;
		tfs_mutex_unlock(&tc->sess_mu);
		rc = sess_begin(tc);
		tfs_mutex_lock(&tc->sess_mu);
		tc->sess_starting = false;
		pthread_cond_broadcast(&tc->sess_cond);
	}
	tfs_mutex_unlock(&tc->sess_mu);
	return rc;
}

/* The heartbeat of session sess said it is gone: every lease taken in it
 * is lost, and a new session begins for new leases. Once per session. */
static void sess_lost(struct tcache *tc, uint64_t sess) EXCLUDES(tc->mu, tc->sess_mu)
{
	struct fam *f;
	int i, n = 0;

	tfs_mutex_lock(&tc->sess_mu);
	if (atomic_load(&tc->sess) != sess || tc->sess_starting) {
		tfs_mutex_unlock(&tc->sess_mu);
		return;
	}
	tc->sess_starting = true;
	/* Nothing is writable until the new session says so. */
	atomic_store(&tc->sess, 0);
	tfs_mutex_unlock(&tc->sess_mu);

	tfs_mutex_lock(&tc->mu);
	for (i = 0; i < FAM_BUCKETS; i++)
		for (f = tc->tab[i]; f; f = f->next)
			if (fam_leased(f) && atomic_load(&f->sess) == sess) {
				atomic_store(&f->lease_lost, true);
				/* Bounded: the summary below counts them all. */
				if (n++ < 100)
					log_err("lease of %s (epoch %llu) was lost with session "
						"%llu: writes refused, local changes will be "
						"quarantined",
						f->id, (unsigned long long)f->epoch,
						(unsigned long long)sess);
			}
	pthread_cond_signal(&tc->sched_cond);
	tfs_mutex_unlock(&tc->mu);
	log_err("session %llu of node %s is gone (another node saw its heartbeat stop and "
		"declared it dead): its %d leases are lost, writes refused, local changes will "
		"be quarantined",
		(unsigned long long)sess, tc->node, n);

	sess_begin(tc);
	tfs_mutex_lock(&tc->sess_mu);
	tc->sess_starting = false;
	pthread_cond_broadcast(&tc->sess_cond);
	tfs_mutex_unlock(&tc->sess_mu);
}

int lease_heartbeat(struct tcache *tc)
{
	char done[CAT_WANTS_MAX][CAT_ID_MAX + 1];
	struct cat_session s;
	int64_t t0 = tc_mono(tc);
	uint64_t sess;
	int rc, n_done, i;

	tfs_mutex_lock(&tc->sess_mu);
	sess = atomic_load(&tc->sess);
	n_done = tc->n_done;
	memcpy(done, tc->done, sizeof(done[0]) * (size_t)n_done);
	tfs_mutex_unlock(&tc->sess_mu);
	if (sess == 0)
		return lease_start(tc);

	rc = tc->cat->ops->heartbeat(tc->cat, tc->node, sess, tc_now(tc), tc->opt.lease_ttl_ms,
				     done, n_done, &s);
	if (rc == -ESTALE) {
		sess_lost(tc, sess);
		return rc;
	}
	if (rc < 0) {
		/* Try again soon; the local deadline stops writes if this lasts. */
		tfs_mutex_lock(&tc->mu);
		tc->next_hb = t0 + LEASE_POLL_MS * 10;
		tfs_mutex_unlock(&tc->mu);
		atomic_store(&tc->hb_failed_at, tc_mono(tc));
		log_warn("cannot renew the session of node %s: %s", tc->node, strerror(-rc));
		return rc;
	}
	sess_extend(tc, t0);
	atomic_fetch_add(&tc->st.lease_renews, 1);
	/* The requests of this reply are seen: the next heartbeat removes them. */
	tfs_mutex_lock(&tc->sess_mu);
	if (atomic_load(&tc->sess) == sess) {
		tc->n_done = s.n_wants;
		memcpy(tc->done, s.wants, sizeof(s.wants[0]) * (size_t)s.n_wants);
	}
	tfs_mutex_unlock(&tc->sess_mu);
	tfs_mutex_lock(&tc->mu);
	if (tc->next_hb < t0 + tc->opt.lease_ttl_ms / 3)
		tc->next_hb = t0 + tc->opt.lease_ttl_ms / 3;
	for (i = 0; i < s.n_wants; i++) {
		struct fam *f = fam_find(tc, s.wants[i]);

		if (f && fam_leased(f) && !f->want) {
			log_info("another node asks for %s: handing over once closed and clean",
				 f->id);
			f->want = true;
		}
	}
	tfs_mutex_unlock(&tc->mu);
	return 0;
}

/* ---- acquire, release ------------------------------------------------- */

/* After an acquire of id said -EBUSY with the holder in *it: whether the
 * holder may be taken over now, *tk (owner in owner_buf) then naming it.
 * May read the holder's session and kill it (see DESIGN). *since gets the
 * start of the observation that decides, for the log. */
static bool may_take(struct tcache *tc, const char *id, const struct cat_item *it,
		     struct cat_takeover *tk, char owner_buf[CAT_NODE_MAX + 1], int64_t *since)
    EXCLUDES(tc->mu, tc->obs_mu)
{
	char key[sizeof(CAT_SESSION_PREFIX) + CAT_NODE_MAX];
	struct cat_session s;
	int64_t held_ms = 0;
	int rc;

	*since = tc_mono(tc);
	if (it->stranded_ms || !it->owner[0])
		return false;
	if (it->sess == 0) {
		/* A lease from before sessions: its own rev is its heartbeat. */
		obs_note(tc, id, it->owner, it->epoch, it->rev, tc_mono(tc), since);
		if (!obs_ripe(tc, id, tc_mono(tc), tk, owner_buf, &held_ms))
			return false;
		log_warn("taking over the lease of %s from %s: its record (epoch %llu, rev "
			 "%llu) stayed unchanged for %lld ms",
			 id, tk->owner, (unsigned long long)tk->epoch, (unsigned long long)tk->rev,
			 (long long)held_ms);
		return true;
	}
	if (over_known(tc, it->owner, it->sess)) {
		/* Seen over before: a kill, an end and a restart are final, and
		 * session numbers only grow (nothing deletes a session item;
		 * one that is not there is taken as over below too). */
		log_debug("lease of %s: session %llu of node %s is over, taking it over", id,
			  (unsigned long long)it->sess, it->owner);
		goto take;
	}
	rc = tc->cat->ops->session_get(tc->cat, it->owner, &s);
	if (rc < 0 && rc != -ENOENT) {
		log_warn("cannot read the session of node %s, holder of %s: %s", it->owner, id,
			 strerror(-rc));
		return false;
	}
	if (rc == 0 && s.sess == it->sess && !s.killed_ms) {
		sess_key(key, sizeof(key), it->owner);
		obs_note(tc, key, it->owner, s.sess, s.rev, tc_mono(tc), since);
		if (!obs_ripe(tc, key, tc_mono(tc), tk, owner_buf, &held_ms))
			return false;
		rc = tc->cat->ops->session_kill(tc->cat, it->owner, s.sess, s.rev, tc_now(tc));
		if (rc < 0) {
			/* -ESTALE: it came back, or another node killed it: look again. */
			if (rc != -ESTALE)
				log_warn("cannot end the session of node %s: %s", it->owner,
					 strerror(-rc));
			return false;
		}
		obs_forget(tc, key);
		over_note(tc, it->owner, s.sess);
		log_warn("declared session %llu of node %s dead: its heartbeat (rev %llu) stayed "
			 "unchanged for %lld ms; taking over its leases",
			 (unsigned long long)s.sess, it->owner, (unsigned long long)s.rev,
			 (long long)held_ms);
	} else {
		if (rc == 0)
			over_note(tc, it->owner, s.killed_ms ? s.sess : s.sess - 1);
		log_info("lease of %s: session %llu of node %s is %s, taking it over", id,
			 (unsigned long long)it->sess, it->owner,
			 rc == -ENOENT ? "unknown"
			 : s.killed_ms ? "over (ended at its shutdown, or declared dead)"
				       : "replaced by a newer one");
	}
take:
	snprintf(owner_buf, CAT_NODE_MAX + 1, "%s", it->owner);
	tk->owner = owner_buf;
	tk->sess = it->sess;
	tk->epoch = it->epoch;
	tk->rev = it->rev;
	return true;
}

int lease_acquire(struct tcache *tc, const char *id, long wait_ms, struct cat_item *item,
		  int64_t *mono_at)
{
	long tries = wait_ms / LEASE_POLL_MS + 1, i;
	char tk_owner[CAT_NODE_MAX + 1];
	struct cat_takeover tk;
	int64_t since = tc_mono(tc);
	bool wanted = false, take = false, extra = false;
	int retakes = 0;
	uint64_t sess;
	int rc = -EBUSY;

	rc = lease_start(tc);
	if (rc < 0)
		return rc;
	/* Bounded by a count, not by the (injectable) clock. */
	for (i = 0; i < tries; i++) {
		if (mono_at)
			*mono_at = tc_mono(tc);
		sess = atomic_load(&tc->sess);
		if (sess == 0 && (rc = lease_start(tc)) < 0)
			break;
		sess = atomic_load(&tc->sess);
		rc = tc->cat->ops->acquire(tc->cat, id, tc->node, sess, tc_now(tc),
					   tc->opt.lease_ttl_ms, take ? &tk : NULL, item);
		if (rc == 0) {
			obs_forget(tc, id);
			if (take && item->epoch == tk.epoch + 1)
				log_warn("took over the lease of %s from %s (epoch %llu)", id,
					 tk.owner, (unsigned long long)tk.epoch);
			/* Our session was replaced meanwhile: take it again in the
			 * new one (a bounded number of times, not counted as a poll;
			 * past them the lease stays unwritable, lease_writable). */
			if (item->sess == atomic_load(&tc->sess) || retakes++ == 2)
				break;
			take = false;
			tries++;
			continue;
		}
		if (rc != -EBUSY)
			break;
		take = may_take(tc, id, item, &tk, tk_owner, &since);
		if (take && !extra && i + 1 == tries) {
			/* The takeover is ready: one more try, even past the wait. */
			extra = true;
			tries++;
		}
		if (take || i + 1 == tries)
			continue;
		if (!wanted && item->owner[0] && !item->stranded_ms) {
			int wrc = tc->cat->ops->want(tc->cat, id, item->owner);

			if (wrc < 0 && wrc != -ENOENT)
				log_warn("cannot ask for the lease of %s: %s", id, strerror(-wrc));
			wanted = true;
		}
		tfs_sleep_ms(LEASE_POLL_MS);
	}
	if (rc == -EBUSY && item->stranded_ms)
		log_warn("cannot lease %s: node %s stopped holding acknowledged writes of it that "
			 "it could not publish (stranded, epoch %llu); nobody else is served it "
			 "until that node publishes them at its next start, or an operator gives "
			 "them up with `tenantfs abandon`",
			 id, item->owner, (unsigned long long)item->epoch);
	else if (rc == -EBUSY)
		log_warn("cannot lease %s: held by %s (session %llu, epoch %llu); taken over if "
			 "its heartbeat stays unchanged for %lld ms more",
			 id, item->owner[0] ? item->owner : "another node",
			 (unsigned long long)item->sess, (unsigned long long)item->epoch,
			 (long long)(tc->opt.lease_ttl_ms - (tc_mono(tc) - since)));
	else if (rc < 0)
		log_err("cannot lease %s: %s", id, strerror(-rc));
	else
		atomic_fetch_add(&tc->st.lease_acquires, 1);
	return rc;
}

void lease_set_held(struct tcache *tc, struct fam *fam, const struct cat_item *item)
{
	(void)tc;
	atomic_store(&fam->sess, item->sess);
	atomic_store(&fam->refuse_logged, false);
}

bool lease_writable(struct tcache *tc, struct fam *fam)
{
	uint64_t sess = atomic_load(&fam->sess);

	if (atomic_load(&fam->lease_lost) || sess == 0 || sess != atomic_load(&tc->sess))
		return false;
	return tc_mono(tc) <= atomic_load(&tc->sess_until);
}

bool lease_cut_off(struct tcache *tc)
{
	int64_t failed = atomic_load(&tc->hb_failed_at);
	/* The send time of the last successful heartbeat (or session start). */
	int64_t renewed = atomic_load(&tc->sess_until) - tc->opt.lease_ttl_ms + lease_margin(tc);

	return failed > 0 && failed > renewed && tc_mono(tc) - failed < tc->opt.lease_ttl_ms;
}

int lease_renew(struct tcache *tc, struct fam *fam)
{
	int rc = lease_heartbeat(tc);

	if (atomic_load(&fam->lease_lost) || atomic_load(&fam->sess) != atomic_load(&tc->sess))
		return -ESTALE;
	return rc;
}

/* True when fam holds acknowledged writes not yet published: dirty in
 * memory, or in the state database (a recovery that has not finished). */
static bool unpublished(struct tcache *tc, struct fam *fam) EXCLUDES(tc->mu)
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

	tfs_mutex_lock(&tc->mu);
	epoch = fam->epoch;
	tfs_mutex_unlock(&tc->mu);
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

/* ---- shutdown ----------------------------------------------------------- */

bool lease_ends_with_session(struct tcache *tc, struct fam *fam)
{
	(void)tc;
	return fam_leased(fam) && !fam->unlinked && !atomic_load(&fam->dirty) &&
	       !atomic_load(&fam->lease_lost);
}

void lease_release_all(struct tcache *tc)
{
	uint64_t sess = atomic_load(&tc->sess);
	int i, failed = 0, clean = 0, rc;
	bool ended = false, ends;
	struct fam *f;

	/* After sched_stop nothing else changes the table, and nothing
	 * removes a family: the loops may drop tc->mu around their calls. */
	tfs_mutex_lock(&tc->mu);
	for (i = 0; i < FAM_BUCKETS; i++) {
		for (f = tc->tab[i]; f; f = f->next) {
			if (f->state != FAM_HELD)
				continue;
			if (atomic_load(&f->lease_lost)) {
				fam_set(tc, f, FAM_UNLEASED, FEV_SHUTDOWN);
				continue;
			}
			ends = lease_ends_with_session(tc, f);
			tfs_mutex_unlock(&tc->mu);
			/* unpublished() also reads the state database: a
			 * family clean in memory may still hold a dirty row. */
			if (ends && !unpublished(tc, f)) {
				clean++;
				tfs_mutex_lock(&tc->mu);
				continue;
			}
			/* Marked stranded (or released) one by one, before the
			 * session ends: the end must not free these. */
			rc = lease_release(tc, f);
			tfs_mutex_lock(&tc->mu);
			failed += rc < 0;
			fam_set(tc, f, FAM_UNLEASED, FEV_SHUTDOWN);
		}
	}
	tfs_mutex_unlock(&tc->mu);
	if (clean == 0)
		return;
	if (failed == 0 && sess != 0) {
		rc = tc->cat->ops->session_end(tc->cat, tc->node, sess, tc_now(tc));
		if (rc == 0)
			log_info("ended session %llu of node %s: its %d clean leases are free for "
				 "other nodes at once (one catalog write)",
				 (unsigned long long)sess, tc->node, clean);
		else
			log_warn("cannot end session %llu of node %s: %s; releasing its %d clean "
				 "leases one by one",
				 (unsigned long long)sess, tc->node, strerror(-rc), clean);
		ended = rc == 0;
	} else if (failed > 0) {
		log_warn("%d leases of node %s could not be marked stranded or released: its "
			 "session stays (it lapses after lease_ttl), and its %d clean leases are "
			 "released one by one",
			 failed, tc->node, clean);
	}
	tfs_mutex_lock(&tc->mu);
	for (i = 0; i < FAM_BUCKETS; i++) {
		for (f = tc->tab[i]; f; f = f->next) {
			if (f->state != FAM_HELD)
				continue;
			if (!ended) {
				tfs_mutex_unlock(&tc->mu);
				lease_release(tc, f);
				tfs_mutex_lock(&tc->mu);
			}
			fam_set(tc, f, FAM_UNLEASED, FEV_SHUTDOWN);
		}
	}
	tfs_mutex_unlock(&tc->mu);
}
