/* `tenantfs gc` (see gc.h). One LIST of the whole prefix, in key order, so
 * each database's folder (its versions and version records) arrives in
 * one piece; per folder: the catalog item, gc's verdict on every object
 * (verrec_protect, by the store's clock, with the snapshot manifests read
 * once at the start), then the deletions inside gc phases that open only
 * if the item is still as the verdict saw it (see open_phases). The mount never lists:
 * LIST is made here and by verify only. */
#include "cache/fleet/gc.h"
#include "s3/base/clock.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache/engine/cache.h"
#include "cache/fleet/history.h"
#include "cache/store/verrec.h"
#include "s3/base/log.h"
#include "s3/base/progress.h"

/* A phase deletes for at most GC_PHASE_MAX_MS by the run's monotonic
 * clock; another run closes one open for GC_PHASE_STALE_MS by the store's
 * clock (twice as long: a run never deletes in a phase closed by another). */
#define GC_PHASE_MAX_MS	  (5 * 60 * 1000)
#define GC_PHASE_STALE_MS (2LL * GC_PHASE_MAX_MS)
/* How long a run waits before it makes a failed DELETE of a phase again
 * (see settle): far longer than a store takes to act on a request. */
#define GC_SETTLE_MS (30 * 1000)

struct gcx {
	struct store *s;
	struct catalog *c;
	const struct key_layout *l;
	const struct gc_options *o;
	struct gc_result *res;
	struct snaprefs refs;
	int64_t now_ms; /* the store's clock at the start */
	/* --keep, or longer while a snapshot is being taken: back to its
	 * marker's store time (see taking_cb). */
	int64_t keep_ms;
	char root[KEY_MAX];   /* "PREFIX/" or "" */
	char folder[KEY_MAX]; /* the folder being gathered */
	struct verchain ch;   /* its keys */
	const char *id;	      /* the database of the folder, during gc_folder */
};

static void progress(struct gcx *g)
{
	if (g->o->progress)
		progress_update(g->o->progress, "databases", g->res->folders, g->res->bytes);
}

static void say(struct gcx *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(struct gcx *g, const char *fmt, ...)
{
	va_list ap;

	if (g->o->progress)
		progress_clear(g->o->progress);
	va_start(ap, fmt);
	vfprintf(g->o->out, fmt, ap);
	va_end(ap);
	fflush(g->o->out);
}

/* The id of folder "PREFIX/[SS/]ID/", or false when it is no database's
 * (the manifests, the clock probes, keys of another layout). */
static bool folder_id(struct gcx *g, const char *folder, char *id, size_t cap)
{
	char want[KEY_MAX];
	const char *p = folder + strlen(g->root), *end;

	if (strncmp(folder, g->root, strlen(g->root)) != 0)
		return false;
	if (g->l->shard_keys) {
		p = strchr(p, '/');
		if (!p)
			return false;
		p++;
	}
	end = strchr(p, '/');
	if (!end || end[1] || (size_t)(end - p) >= cap)
		return false;
	memcpy(id, p, (size_t)(end - p));
	id[end - p] = '\0';
	return tfs_valid_id(id) && key_folder(g->l, id, want, sizeof(want)) == 0 &&
	       !strcmp(want, folder);
}

static bool snap_has(void *arg, const char *hash)
{
	struct gcx *g = arg;

	return snaprefs_has(&g->refs, g->id, hash);
}

/* One DELETE (none under --dry-run): 0 when key is gone (or would be),
 * else the errno, nothing logged. */
static int try_delete(struct gcx *g, const char *key)
{
	int rc;

	if (g->o->dry_run)
		return 0;
	g->res->requests++;
	rc = g->s->ops->del(g->s, key);
	return rc == -ENOENT ? 0 : rc;
}

static void deleted(struct gcx *g, const char *what, const char *key, uint64_t size,
		    uint64_t *count)
{
	say(g, "%s %s %s (%" PRIu64 " bytes)\n", g->o->dry_run ? "would delete" : "deleted", what,
	    key, size);
	(*count)++;
	g->res->bytes += size;
}

/* 0 when key is gone (or would be), -1 when its DELETE failed (logged,
 * counted). */
static int delete_key(struct gcx *g, const char *what, const char *key, uint64_t size,
		      uint64_t *count)
{
	int rc = try_delete(g, key);

	if (rc < 0) {
		log_err("gc: cannot delete %s: %s", key, strerror(-rc));
		g->res->failed++;
		return -1;
	}
	deleted(g, what, key, size, count);
	return 0;
}

/* Closes phase seq, retrying: a phase left open holds up the commits of
 * the database until another run closes it as stale. A retry after a
 * lost reply finds the same gc_seq and closes again: idempotent. */
static int end_phase(struct gcx *g, const char *id, uint64_t seq)
{
	int rc = -EIO, i;

	for (i = 0; i < 5; i++) {
		g->res->requests++;
		rc = g->c->ops->gc_end(g->c, id, seq);
		if (rc == 0 || rc == -ESTALE || rc == -EINVAL)
			break;
		tfs_sleep_ms(200);
	}
	return rc;
}

/* gc_begin failed: a timeout may hide a phase that was opened (a retried
 * request then fails its own condition). If the item shows our phase
 * (gc_seq + 1 and our since), it is closed again at once, deleting
 * nothing; the database is judged again next run. Returns the error to
 * report. */
static int begin_landed(struct gcx *g, const char *id, const struct cat_item *seen)
{
	struct cat_item now;

	g->res->requests++;
	if (g->c->ops->get(g->c, id, &now) == 0 && now.gc_seq == seen->gc_seq + 1 &&
	    now.gc_since_ms == (g->now_ms > 0 ? g->now_ms : 1)) {
		log_info("gc: %s: the phase it could not confirm was opened: closing it", id);
		end_phase(g, id, now.gc_seq);
	}
	return -ESTALE;
}

/* Never delete past the time after which another run may close the phase
 * begun at t0 as stale (monotonic: no clock skew): true, logged and
 * counted, when that time has come. */
static bool phase_overdue(struct gcx *g, const char *id, int64_t t0)
{
	if (tfs_mono_ms() - t0 <= GC_PHASE_MAX_MS)
		return false;
	log_err("gc: %s: the gc phase took longer than %d s: stopping; the next run closes it", id,
		GC_PHASE_MAX_MS / 1000);
	g->res->failed++;
	return true;
}

/* Some DELETEs of the phase begun at t0 failed. Such a request may still
 * land (the store received it and did not answer): closing the phase now
 * would let a commit name that object again (a restore, identical bytes)
 * and lose it to the late DELETE. So they are made again GC_SETTLE_MS
 * later, inside the phase's time; only when all of them succeed then is
 * the phase closed, else it stays open for a later run to close as stale. */
static int settle(struct gcx *g, const char *id, int64_t t0, const size_t *late, size_t n)
{
	char key[KEY_MAX];
	int bad = 0;
	size_t k;

	log_warn("gc: %s: %zu deletions failed; making them again in %d s before closing its "
		 "gc phase",
		 id, n, GC_SETTLE_MS / 1000);
	tfs_sleep_ms(GC_SETTLE_MS);
	for (k = 0; k < n; k++) {
		if (phase_overdue(g, id, t0))
			return -ETIMEDOUT;
		if (key_version(g->l, id, g->ch.objs[late[k]].hash, key, sizeof(key)) == 0)
			bad |= delete_key(g, "version", key, g->ch.objs[late[k]].size,
					  &g->res->objects);
	}
	if (bad) {
		log_err("gc: %s: a deletion failed again, so its gc phase stays open (commits "
			"of it wait until a run closes it, %d s after it opened)",
			id, (int)(GC_PHASE_STALE_MS / 1000));
		return -EIO;
	}
	return 0;
}

/* Deletes the objects marked in drop[from, to) (at most CAT_GC_DOOM_N)
 * inside the open phase seq, then closes it. 0, or an errno with the
 * phase left open (logged, counted): a later run closes it as stale. */
static int delete_in_phase(struct gcx *g, const char *id, uint64_t seq, const bool *drop,
			   size_t from, size_t to)
{
	char key[KEY_MAX];
	int64_t t0 = tfs_mono_ms();
	size_t i, late[CAT_GC_DOOM_N], n_late = 0;
	int rc;

	for (i = from; i < to; i++) {
		if (!drop[i] || key_version(g->l, id, g->ch.objs[i].hash, key, sizeof(key)) < 0)
			continue;
		if (phase_overdue(g, id, t0))
			return -ETIMEDOUT;
		rc = try_delete(g, key);
		if (rc == 0) {
			deleted(g, "version", key, g->ch.objs[i].size, &g->res->objects);
			continue;
		}
		log_warn("gc: cannot delete %s yet: %s", key, strerror(-rc));
		assert(n_late < CAT_GC_DOOM_N); /* a phase dooms at most that many */
		late[n_late++] = i;
	}
	if (n_late && (rc = settle(g, id, t0, late, n_late)) < 0)
		return rc;
	rc = end_phase(g, id, seq);
	if (rc < 0) {
		log_err("gc: %s: cannot close its gc phase (commits of it wait until the "
			"next run closes it): %s",
			id, strerror(-rc));
		g->res->failed++;
	}
	return rc;
}

/* Deletes the objects marked in drop of the database id (item *it as read
 * after the listing) inside gc phases of at most CAT_GC_DOOM_N objects
 * each (cache/catalog/catalog.h gc_begin): a phase opens only if the item is still
 * at the gen the verdict saw, and from then on a commit naming one of
 * them, or of an object put before the phase, is refused. A phase left
 * open by a run that stopped is closed once stale. 0, or -ESTALE /
 * an errno when the database is left alone (logged, counted). */
static int open_phases(struct gcx *g, const char *id, struct cat_item *it, const bool *drop)
{
	char doomed[CAT_GC_DOOMED_MAX + 1];
	size_t i = 0, j, n;
	int rc;

	if (it->gc_since_ms) {
		if (g->now_ms - it->gc_since_ms < GC_PHASE_STALE_MS) {
			log_info("gc: %s left alone this run: another gc run is deleting its "
				 "versions",
				 id);
			g->res->skipped++;
			return -EBUSY;
		}
		/* That run stopped (or stops itself: GC_PHASE_MAX_MS). */
		g->res->requests++;
		rc = g->c->ops->gc_end(g->c, id, it->gc_seq);
		log_warn("gc: %s: closing a gc phase left open since %lld ms ago by a run that "
			 "stopped: %s",
			 id, (long long)(g->now_ms - it->gc_since_ms), rc ? strerror(-rc) : "done");
		g->res->skipped++;
		return -EBUSY; /* decided again next run, on the item as it is then */
	}
	while (i < g->ch.n_objs) {
		doomed[0] = '\0';
		for (n = 0, j = i; j < g->ch.n_objs && n < CAT_GC_DOOM_N; j++)
			if (drop[j]) {
				if (n)
					strcat(doomed, ",");
				strcat(doomed, g->ch.objs[j].hash);
				n++;
			}
		if (!n)
			break;
		g->res->requests++;
		rc = g->c->ops->gc_begin(g->c, id, it->gen, it->gc_seq, doomed, g->now_ms);
		if (rc < 0)
			rc = begin_landed(g, id, it);
		if (rc < 0) {
			if (rc == -ESTALE)
				log_info("gc: %s left alone this run: it changed since it was read "
					 "(a commit, or another gc run)",
					 id);
			else
				log_err("gc: %s left alone: cannot open a gc phase: %s", id,
					strerror(-rc));
			g->res->skipped++;
			return rc;
		}
		it->gc_seq++;
		rc = delete_in_phase(g, id, it->gc_seq, drop, i, j);
		if (rc < 0)
			return rc;
		i = j;
	}
	return 0;
}

/* A tombstone older than --keep (by its record's store time) goes with
 * its versions and records, unless a snapshot names one of them. Its
 * item may still name the node that deleted it (a node that stops keeps
 * its owner fields and ends its session): remove_tombstone takes the
 * lease, refused while a live node holds it. */
static bool tombstone_due(struct gcx *g, const struct cat_item *it)
{
	const struct verrec *r = verrec_find(&g->ch, it->gen);
	size_t i;

	if (!it->deleted_ms || !r || !r->deleted ||
	    r->store_ms + VERREC_CLOCK_RES_MS > g->now_ms - g->keep_ms)
		return false;
	for (i = 0; i < g->ch.n_objs; i++)
		if (snap_has(g, g->ch.objs[i].hash))
			return false;
	return true;
}

/* Removes the deleted database id under its lease: nobody opens, commits
 * or restores it meanwhile; the item goes last, conditional on the lease. */
static void remove_tombstone(struct gcx *g, const char *id, const struct cat_item *seen)
{
	struct cat_item it;
	char key[KEY_MAX];
	size_t i;
	int rc;

	if (!g->o->dry_run) {
		g->res->requests++;
		rc = cat_acquire_free(g->c, id, g->o->node, g->o->wall_now_ms, g->o->lease_ttl_ms,
				      &it);
		if (rc < 0) {
			log_info("gc: tombstone %s left alone this run: %s", id,
				 rc == -EBUSY ? "a node holds its lease" : strerror(-rc));
			g->res->skipped++;
			return;
		}
		if (it.gen != seen->gen || !it.deleted_ms) {
			log_info("gc: tombstone %s left alone: it was created again meanwhile", id);
			g->res->skipped++;
			goto release;
		}
	}
	for (i = 0; i < g->ch.n_objs; i++)
		if (key_version(g->l, id, g->ch.objs[i].hash, key, sizeof(key)) == 0)
			delete_key(g, "version", key, g->ch.objs[i].size, &g->res->objects);
	for (i = 0; i < g->ch.n_recs; i++) {
		const struct verrec *r = &g->ch.recs[i];

		if (verrec_key(g->l, id, r->gen, r->deleted, r->hash, key, sizeof(key)) == 0)
			delete_key(g, "record", key, 0, &g->res->records);
	}
	if (g->o->dry_run) {
		say(g, "would delete tombstone %s (gen %llu)\n", id, (unsigned long long)seen->gen);
		g->res->tombstones++;
		return;
	}
	g->res->requests++;
	rc = g->c->ops->remove(g->c, id, g->o->node, it.epoch);
	if (rc == 0) {
		say(g, "deleted tombstone %s (gen %llu)\n", id, (unsigned long long)seen->gen);
		g->res->tombstones++;
		return;
	}
	log_err("gc: cannot remove the catalog item of tombstone %s: %s", id, strerror(-rc));
	g->res->failed++;
release:
	g->res->requests++;
	if (g->c->ops->release(g->c, id, g->o->node, it.epoch) < 0)
		log_warn("gc: cannot release the lease of %s; it expires by itself", id);
}

/* Decides and deletes for the folder gathered in g->ch.
 * Long because one decision per record of the folder, in the order the retention rules give,
 * with the fence checks between them. */
static void gc_folder(struct gcx *g)
{
	struct cat_item item, *it = &item;
	char id[CAT_ID_MAX + 1], key[KEY_MAX];
	int64_t horizon = g->now_ms - g->keep_ms;
	size_t i, n_obj = 0, n_rec = 0;
	bool *drop_obj = NULL, *drop_rec = NULL;
	int rc;

	if (!g->folder[0] || !folder_id(g, g->folder, id, sizeof(id)) ||
	    (g->ch.n_objs == 0 && g->ch.n_recs == 0))
		goto out;
	g->id = id;
	g->res->folders++;
	verrec_chain_sort(&g->ch);
	g->res->requests++;
	rc = g->c->ops->get(g->c, id, &item);
	if (rc == -ENOENT) {
		it = NULL;
	} else if (rc < 0) {
		log_err("gc: %s left alone: cannot read its catalog item: %s", id, strerror(-rc));
		g->res->skipped++;
		goto out;
	}
	if (it && tombstone_due(g, it)) {
		remove_tombstone(g, id, it);
		goto out;
	}
	drop_obj = calloc(g->ch.n_objs + 1, sizeof(*drop_obj));
	drop_rec = calloc(g->ch.n_recs + 1, sizeof(*drop_rec));
	if (!drop_obj || !drop_rec) {
		log_err("gc: %s left alone: out of memory", id);
		g->res->skipped++;
		goto out;
	}
	for (i = 0; i < g->ch.n_objs; i++) {
		drop_obj[i] = verrec_protect(&g->ch, it, &g->ch.objs[i], g->now_ms, g->keep_ms,
					     g->o->grace_ms, snap_has, g) == VP_NONE;
		n_obj += drop_obj[i];
		g->res->kept += !drop_obj[i];
	}
	/* A record goes once its version was superseded before the window
	 * (unprotected versions are a prefix of the chain: the bounds grow
	 * with gen), never the current commit's. */
	for (i = 0; i < g->ch.n_recs; i++) {
		const struct verrec *r = &g->ch.recs[i];

		drop_rec[i] = (!it || r->gen < it->gen) &&
			      verrec_superseded_bound(&g->ch, it, r->gen) <= horizon &&
			      r->store_ms + VERREC_CLOCK_RES_MS <= g->now_ms - g->o->grace_ms;
		n_rec += drop_rec[i];
	}
	if (!n_obj && !n_rec)
		goto out;
	if (n_obj && !it) {
		/* No item to fence commits on (a node creating it now would
		 * commit unfenced by any phase): never deleted by gc. */
		log_info("gc: %s has %zu objects but no catalog item: left alone", id, n_obj);
		g->res->skipped++;
	} else if (n_obj && !g->o->dry_run) {
		rc = open_phases(g, id, it, drop_obj);
		if (rc < 0)
			goto out; /* logged, counted */
	} else {
		for (i = 0; i < g->ch.n_objs; i++)
			if (drop_obj[i] &&
			    key_version(g->l, id, g->ch.objs[i].hash, key, sizeof(key)) == 0)
				delete_key(g, "version", key, g->ch.objs[i].size, &g->res->objects);
	}
	for (i = 0; i < g->ch.n_recs; i++) {
		const struct verrec *r = &g->ch.recs[i];

		if (drop_rec[i] &&
		    verrec_key(g->l, id, r->gen, r->deleted, r->hash, key, sizeof(key)) == 0)
			delete_key(g, "record", key, 0, &g->res->records);
	}
out:
	free(drop_obj);
	free(drop_rec);
	g->id = NULL;
	verrec_chain_release(&g->ch);
	progress(g);
}

static int list_cb(void *arg, const char *key, const struct store_info *info)
{
	struct gcx *g = arg;
	const char *last = strrchr(key, '/');
	size_t n = last ? (size_t)(last - key) + 1 : 0;

	if (n != strlen(g->folder) || strncmp(key, g->folder, n) != 0) {
		gc_folder(g);
		snprintf(g->folder, sizeof(g->folder), "%.*s", (int)n, key);
	}
	return verrec_chain_add(&g->ch, key + n, info);
}

/* Incomplete multipart uploads under the prefix older than --grace (by
 * the store's clock) are aborted: no commit can name an object that was
 * never completed. */
static int upload_cb(void *arg, const char *key, const char *upload_id, int64_t started_ms)
{
	struct gcx *g = arg;
	char when[32];
	int rc = 0;

	if (!started_ms || started_ms + VERREC_CLOCK_RES_MS > g->now_ms - g->o->grace_ms)
		return 0;
	snapm_format_time(started_ms, when, sizeof(when));
	if (!g->o->dry_run) {
		g->res->requests++;
		rc = g->s->ops->abort_upload(g->s, key, upload_id);
	}
	if (rc < 0) {
		g->res->failed++;
		return 0; /* logged; the others are still tried */
	}
	say(g, "%s upload %s (started %s)\n", g->o->dry_run ? "would abort" : "aborted", key, when);
	g->res->uploads++;
	return 0;
}

/* A snapshot being taken (cache/fleet/snapshot_manifest.h): every version
 * current at or after its marker's store time is kept this run, whatever
 * --keep says; a marker older than SNAPM_TAKING_STALE_MS is a take that
 * died and protects nothing. */
static int taking_cb(void *arg, const char *name, const struct store_info *info)
{
	struct gcx *g = arg;
	int64_t age = g->now_ms - info->mtime_ms;

	if (age > SNAPM_TAKING_STALE_MS) {
		log_warn("gc: snapshot '%s' has been announced as being taken for %lld min: a "
			 "take that stopped; its marker is ignored (remove "
			 "_snapshots/%s.taking)",
			 name, (long long)(age / 60000), name);
		return 0;
	}
	if (age + VERREC_CLOCK_RES_MS > g->keep_ms) {
		g->keep_ms = age + VERREC_CLOCK_RES_MS;
		say(g,
		    "snapshot %s is being taken (announced %lld s ago): the versions current "
		    "since then are kept\n",
		    name, (long long)(age / 1000));
	}
	return 0;
}

int tfs_gc(struct store *s, struct catalog *c, const struct key_layout *l,
	   const struct gc_options *o, struct gc_result *res)
{
	struct gcx g = {.s = s, .c = c, .l = l, .o = o, .res = res};
	char *token = NULL;
	int rc;

	memset(res, 0, sizeof(*res));
	snprintf(g.root, sizeof(g.root), "%s%s", l->prefix, l->prefix[0] ? "/" : "");
	/* The store's clock, not ours: object times are the store's. */
	rc = verrec_store_now(s, l->prefix, "gc", &g.now_ms);
	res->requests += 3;
	if (rc < 0)
		return rc;
	/* The snapshots being taken before the manifests: one whose marker
	 * this listing misses was either not begun (it names versions
	 * current after now_ms, which the rules keep) or is done, and then
	 * the manifests listed next include it. */
	g.keep_ms = o->keep_ms;
	rc = snapm_list_taking(s, l->prefix, taking_cb, &g);
	res->requests++;
	if (rc < 0) {
		log_err("gc: stopped: cannot list the snapshots being taken: %s", strerror(-rc));
		goto out;
	}
	rc = snaprefs_load(s, l->prefix, o->tmpdir, NULL, &g.refs);
	res->requests += 1 + g.refs.manifests;
	if (rc < 0) {
		log_err("gc: stopped: the snapshot manifests cannot be read, so what they name "
			"is not known");
		goto out;
	}
	do {
		res->requests++;
		rc = s->ops->list(s, g.root, &token, list_cb, &g);
	} while (rc == 0 && token);
	free(token);
	if (rc == 0)
		gc_folder(&g);
	else
		log_err("gc: stopped: cannot list '%s': %s", g.root, strerror(-rc));
	if (rc == 0 && s->ops->list_uploads) {
		res->requests++;
		rc = s->ops->list_uploads(s, g.root, upload_cb, &g);
	}
out:
	verrec_chain_release(&g.ch);
	snaprefs_release(&g.refs);
	return rc;
}

int tfs_gc_command(struct store *s, struct catalog *c, const struct key_layout *l,
		   const struct gc_options *opt)
{
	struct gc_options o = *opt;
	struct gc_result res;
	struct progress p;
	int rc;

	o.out = stdout;
	progress_init(&p, stderr, "gc", 0);
	o.progress = &p;
	rc = tfs_gc(s, c, l, &o, &res);
	progress_clear(&p);
	printf("gc%s: %" PRIu64 " databases, %s %" PRIu64 " versions, %" PRIu64 " records, %" PRIu64
	       " tombstones and %" PRIu64 " uploads, %" PRIu64 " bytes freed%s; %" PRIu64
	       " versions kept, %" PRIu64 " databases left alone, %" PRIu64
	       " deletions failed, %" PRIu64 " requests\n",
	       o.dry_run ? " --dry-run" : "", res.folders, o.dry_run ? "would delete" : "deleted",
	       res.objects, res.records, res.tombstones, res.uploads, res.bytes,
	       o.dry_run ? " (would be)" : "", res.kept, res.skipped, res.failed, res.requests);
	return rc < 0 || res.failed ? 1 : 0;
}
