/* What an operator asks a running engine (`tenantfs status`, `flush`,
 * `evict`, the metrics endpoint): a copy of the active databases' state,
 * a write-back on demand, the eviction of one database, and the request
 * cost of each database, counted by wrappers around the store and catalog.
 * Everything here takes tc->mu only for a copy or a flag, never across a
 * store, catalog or state call. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "cache/engine/cache_i.h"
#include "cache/engine/famtab_i.h"
#include "cache/engine/lease_i.h"
#include "cache/engine/sched_i.h"
#include "s3/base/log.h"
#include "s3/base/tsa.h"

/* ---- report ------------------------------------------------------------ */

static int cmp_dbinfo(const void *a, const void *b)
{
	return strcmp(((const struct tcache_dbinfo *)a)->id, ((const struct tcache_dbinfo *)b)->id);
}

/* tc->mu held. */
static void fam_info(struct tcache *tc, struct fam *f, int64_t now, struct tcache_dbinfo *d)
    REQUIRES(tc->mu)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->id, sizeof(d->id), "%s", f->id);
	d->nopen = f->nopen;
	d->leased = fam_leased(f);
	d->dirty = atomic_load(&f->dirty);
	d->uploading = f->state == FAM_WRITEBACK || f->state == FAM_RECOVERING;
	d->recovering = fam_recovery_due(f);
	d->check_failed = f->check_failed && atomic_load(&f->wseq) == f->check_seq;
	d->lease_lost = atomic_load(&f->lease_lost);
	if (d->dirty || d->recovering) {
		int64_t since = atomic_load(&f->dirty_since);

		d->dirty_ms = since > 0 && now > since ? now - since : 0;
	}
	snprintf(d->error, sizeof(d->error), "%s", f->error);
}

int tcache_report(struct tcache *tc, struct tcache_report *r)
{
	struct state_row *rows = NULL;
	struct fam *f;
	size_t cap, i;
	int64_t now;
	int n = 0, b, rc;

	memset(r, 0, sizeof(*r));
	tcache_get_stats(tc, &r->stats);
	/* Sized outside the lock; families that arrive meanwhile wait for the
	 * next report. */
	tfs_mutex_lock(&tc->mu);
	cap = tc->nfam + 16;
	tfs_mutex_unlock(&tc->mu);
	r->db = calloc(cap, sizeof(*r->db));
	if (!r->db)
		return -ENOMEM;
	tfs_mutex_lock(&tc->mu);
	now = tc_mono(tc);
	for (b = 0; b < FAM_BUCKETS; b++) {
		for (f = tc->tab[b]; f && r->ndb < cap; f = f->next) {
			/* A placeholder of the evictor or an open still faulting in
			 * shows only once it is something. */
			if (fam_exclusive(f) && !fam_leased(f) && !fam_recovery_due(f))
				continue;
			fam_info(tc, f, now, &r->db[r->ndb++]);
		}
	}
	tfs_mutex_unlock(&tc->mu);
	qsort(r->db, r->ndb, sizeof(*r->db), cmp_dbinfo);
	for (i = 0; i < r->ndb; i++) {
		const struct tcache_dbinfo *d = &r->db[i];

		r->nleases += d->leased;
		r->nopen += d->nopen > 0;
		r->ndirty += d->dirty || d->recovering;
		r->nuploading += d->uploading;
		r->nfailed += d->error[0] != '\0';
		if ((d->dirty || d->recovering) && d->dirty_ms >= r->oldest_dirty_ms) {
			r->oldest_dirty_ms = d->dirty_ms;
			snprintf(r->oldest_dirty_id, sizeof(r->oldest_dirty_id), "%s", d->id);
		}
	}
	rc = state_totals(tc->state, &r->cache_entries, &r->cache_bytes);
	if (rc == 0)
		rc = state_list(tc->state, STATE_QUARANTINED, TCACHE_REPORT_QUAR_MAX, &rows, &n);
	if (rc == 0 && n > 0) {
		r->quar = calloc((size_t)n, sizeof(*r->quar));
		if (!r->quar)
			rc = -ENOMEM;
		for (i = 0; r->quar && i < (size_t)n; i++) {
			snprintf(r->quar[i].id, sizeof(r->quar[i].id), "%s", rows[i].id);
			snprintf(r->quar[i].error, sizeof(r->quar[i].error), "%s", rows[i].error);
			snprintf(r->quar[i].path, sizeof(r->quar[i].path), "%s",
				 rows[i].quarantine);
		}
		r->nquar = r->quar ? (size_t)n : 0;
	}
	free(rows);
	if (rc < 0)
		tcache_report_release(r);
	return rc;
}

void tcache_report_release(struct tcache_report *r)
{
	free(r->db);
	free(r->quar);
	memset(r, 0, sizeof(*r));
}

/* ---- flush --------------------------------------------------------------- */

/* tc->mu held. Marks fam for a write-back now; 1 if there is one to wait
 * for (dirty), else 0. */
static int flush_mark(struct tcache *tc, struct fam *f, struct tcache_flush_item *it)
    REQUIRES(tc->mu)
{
	/* A write-back that just published everything may not have cleared
	 * the dirty flag yet: pub_seq says so first. */
	if ((!atomic_load(&f->dirty) && !fam_recovery_due(f)) || f->pub_seq > atomic_load(&f->wseq))
		return 0;
	memset(it, 0, sizeof(*it));
	snprintf(it->id, sizeof(it->id), "%s", f->id);
	it->seq = atomic_load(&f->wseq);
	it->state = TFLUSH_PENDING;
	f->flush = true;
	return 1;
}

int tcache_flush(struct tcache *tc, const char *const *ids, size_t n,
		 struct tcache_flush_item **items, size_t *nitems, int64_t *since)
{
	struct tcache_flush_item *v;
	struct fam *f;
	size_t cap, k = 0, i;
	int b;

	*items = NULL;
	*nitems = 0;
	*since = tc_now(tc);
	tfs_mutex_lock(&tc->mu);
	cap = n ? n : tc->nfam + 16;
	tfs_mutex_unlock(&tc->mu);
	v = calloc(cap ? cap : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	tfs_mutex_lock(&tc->mu);
	if (n) {
		for (i = 0; i < n; i++) {
			f = fam_find(tc, ids[i]);
			if (!f || !flush_mark(tc, f, &v[k])) {
				/* Nothing unpublished here: done at once. */
				memset(&v[k], 0, sizeof(v[k]));
				snprintf(v[k].id, sizeof(v[k].id), "%s", ids[i]);
				v[k].state = TFLUSH_DONE;
			}
			k++;
		}
	} else {
		for (b = 0; b < FAM_BUCKETS; b++)
			for (f = tc->tab[b]; f && k < cap; f = f->next)
				k += (size_t)flush_mark(tc, f, &v[k]);
	}
	sched_wake(tc);
	tfs_mutex_unlock(&tc->mu);
	log_info("flush requested: %zu database%s to publish", k, k == 1 ? "" : "s");
	*items = v;
	*nitems = k;
	return 0;
}

static bool is_quarantine_error(const char *e)
{
	return !strncmp(e, "quarantined", 11);
}

/* The state of one item whose family left the table (or never was in it):
 * it was clean when it left, unless it was quarantined since the flush. */
static void flush_poll_gone(struct tcache *tc, struct tcache_flush_item *it, int64_t since)
    EXCLUDES(tc->mu)
{
	struct state_row row;

	if (state_get(tc->state, it->id, &row) == 0 && row.quarantine[0] && row.atime >= since) {
		it->state = TFLUSH_FAILED;
		snprintf(it->error, sizeof(it->error), "%s", row.error);
	} else if (state_get(tc->state, it->id, &row) == 0 && row.dirty) {
		it->state = TFLUSH_PENDING;
		snprintf(it->error, sizeof(it->error), "%s", row.error);
	} else {
		it->state = TFLUSH_DONE;
	}
}

int tcache_flush_poll(struct tcache *tc, struct tcache_flush_item *items, size_t n, int64_t since)
{
	struct fam *f;
	size_t i;
	bool gone;

	for (i = 0; i < n; i++) {
		struct tcache_flush_item *it = &items[i];

		if (it->state != TFLUSH_PENDING)
			continue;
		it->uploading = false;
		it->error[0] = '\0';
		tfs_mutex_lock(&tc->mu);
		f = fam_find(tc, it->id);
		gone = !f;
		if (f) {
			bool dirty = atomic_load(&f->dirty) || fam_recovery_due(f);

			it->uploading = f->state == FAM_WRITEBACK || f->state == FAM_RECOVERING;
			snprintf(it->error, sizeof(it->error), "%s", f->error);
			if (is_quarantine_error(f->error)) {
				it->state = TFLUSH_FAILED;
			} else if (!dirty || f->pub_seq > it->seq) {
				it->state = TFLUSH_DONE;
				it->error[0] = '\0';
			} else if (atomic_load(&f->lease_lost)) {
				it->state = TFLUSH_FAILED;
				if (!it->error[0])
					snprintf(it->error, sizeof(it->error),
						 "the lease was lost");
			} else if (f->check_failed && atomic_load(&f->wseq) == f->check_seq) {
				it->state = TFLUSH_FAILED;
			}
		}
		tfs_mutex_unlock(&tc->mu);
		if (gone)
			flush_poll_gone(tc, it, since);
	}
	return 0;
}

/* ---- evict --------------------------------------------------------------- */

int tcache_evict_id(struct tcache *tc, const char *id, char *why, size_t cap)
{
	struct state_row row;
	struct fam *f, *ph;
	int rc;

	why[0] = '\0';
	tfs_mutex_lock(&tc->mu);
	f = fam_find(tc, id);
	if (f) {
		if (f->nopen > 0)
			snprintf(why, cap, "it is open");
		else if (atomic_load(&f->dirty) || fam_recovery_due(f))
			snprintf(why, cap, "it has changes not yet published");
		else
			snprintf(why, cap,
				 "it is still in use (lease held or being written back); try again "
				 "in a moment");
		tfs_mutex_unlock(&tc->mu);
		return -EBUSY;
	}
	/* A placeholder family keeps openers away while the files go (as the
	 * LRU evictor does). */
	ph = fam_insert(tc, id);
	if (!ph) {
		tfs_mutex_unlock(&tc->mu);
		snprintf(why, cap, "out of memory");
		return -ENOMEM;
	}
	fam_set(tc, ph, FAM_EVICTING, FEV_EVICT);
	tfs_mutex_unlock(&tc->mu);
	rc = state_get(tc->state, id, &row);
	if (rc == -ENOENT) {
		snprintf(why, cap, "it is not cached on this node");
	} else if (rc < 0) {
		snprintf(why, cap, "cannot read the state database: %s", strerror(-rc));
	} else if (row.dirty) {
		snprintf(why, cap, "it has changes not yet published");
		rc = -EBUSY;
	} else {
		tc_remove_local(tc, id, false);
		rc = state_del(tc->state, id);
		if (rc < 0) {
			snprintf(why, cap, "cannot update the state database: %s", strerror(-rc));
		} else {
			atomic_fetch_add(&tc->st.evictions, 1);
			log_info("evicted %s on request (%llu bytes)", id,
				 (unsigned long long)row.size);
		}
	}
	tfs_mutex_lock(&tc->mu);
	fam_set(tc, ph, FAM_ABSENT, FEV_FORGET);
	fam_remove(tc, ph);
	pthread_cond_broadcast(&tc->fam_cond);
	tfs_mutex_unlock(&tc->mu);
	return rc;
}

/* ---- request cost per database --------------------------------------- */

double tcost_usd(const struct tcost_counts *c)
{
	return (double)(c->s3_put + c->s3_list) * TFS_PRICE_S3_PUT +
	       (double)(c->s3_get + c->s3_head) * TFS_PRICE_S3_GET +
	       (double)c->ddb_write * TFS_PRICE_DDB_WRITE +
	       (double)c->ddb_read * TFS_PRICE_DDB_READ;
}

struct tcost {
	tfs_mutex mu;
	struct tcost_row rows[TCOST_SLOTS]; /* protected by mu; id "" = free */
	struct tcost_counts others;	    /* protected by mu */
	size_t used;			    /* protected by mu */
};

struct tcost *tcost_new(void)
{
	struct tcost *c = calloc(1, sizeof(*c));

	if (c)
		tfs_mutex_init(&c->mu);
	return c;
}

void tcost_free(struct tcost *c)
{
	if (!c)
		return;
	tfs_mutex_destroy(&c->mu);
	free(c);
}

static void counts_add(struct tcost_counts *a, const struct tcost_counts *b)
{
	a->s3_put += b->s3_put;
	a->s3_get += b->s3_get;
	a->s3_head += b->s3_head;
	a->s3_list += b->s3_list;
	a->s3_delete += b->s3_delete;
	a->ddb_write += b->ddb_write;
	a->ddb_read += b->ddb_read;
	a->bytes_up += b->bytes_up;
	a->bytes_down += b->bytes_down;
}

/* Adds d to id's row (see TCOST_SLOTS for what happens when it is full). */
static void tcost_add(struct tcost *c, const char *id, const struct tcost_counts *d) EXCLUDES(c->mu)
{
	size_t h, i, slot, cheapest = 0;
	double least = -1, x;

	if (!c || !id || !id[0])
		return;
	h = (size_t)XXH3_64bits(id, strlen(id));
	tfs_mutex_lock(&c->mu);
	for (i = 0; i < TCOST_PROBE; i++) {
		struct tcost_row *r;

		slot = (h + i) % TCOST_SLOTS;
		r = &c->rows[slot];
		if (!strcmp(r->id, id))
			goto found;
		if (!r->id[0]) {
			snprintf(r->id, sizeof(r->id), "%s", id);
			c->used++;
			goto found;
		}
		x = tcost_usd(&r->c);
		if (least < 0 || x < least) {
			least = x;
			cheapest = slot;
		}
	}
	slot = cheapest;
	counts_add(&c->others, &c->rows[slot].c);
	memset(&c->rows[slot], 0, sizeof(c->rows[slot]));
	snprintf(c->rows[slot].id, sizeof(c->rows[slot].id), "%s", id);
found:
	counts_add(&c->rows[slot].c, d);
	tfs_mutex_unlock(&c->mu);
}

static int cmp_cost_desc(const void *a, const void *b)
{
	const struct tcost_row *x = a, *y = b;
	double cx = tcost_usd(&x->c), cy = tcost_usd(&y->c);
	uint64_t bx = x->c.bytes_up + x->c.bytes_down, by = y->c.bytes_up + y->c.bytes_down;

	if (cx != cy)
		return cx > cy ? -1 : 1;
	if (bx != by)
		return bx > by ? -1 : 1;
	return strcmp(x->id, y->id);
}

int tcost_top(struct tcost *c, size_t n, struct tcost_row **rows, size_t *nrows,
	      struct tcost_counts *others, size_t *tracked)
{
	struct tcost_row *v;
	size_t k = 0, i;

	*rows = NULL;
	*nrows = 0;
	/* A copy of the whole table (under a megabyte), sorted outside the lock. */
	v = malloc(sizeof(c->rows));
	if (!v)
		return -ENOMEM;
	tfs_mutex_lock(&c->mu);
	for (i = 0; i < TCOST_SLOTS; i++)
		if (c->rows[i].id[0])
			v[k++] = c->rows[i];
	if (others)
		*others = c->others;
	if (tracked)
		*tracked = c->used;
	tfs_mutex_unlock(&c->mu);
	qsort(v, k, sizeof(*v), cmp_cost_desc);
	*rows = v;
	*nrows = k < n ? k : n;
	return 0;
}

/* The id a version key names: the folder above HASH.db. */
static void key_id(const char *key, char id[CAT_ID_MAX + 1])
{
	const char *end = strrchr(key, '/'), *start;
	size_t len;

	id[0] = '\0';
	if (!end)
		return;
	for (start = end; start > key && start[-1] != '/'; start--)
		;
	len = (size_t)(end - start);
	if (len == 0 || len > CAT_ID_MAX)
		return;
	memcpy(id, start, len);
	id[len] = '\0';
}

/* The wrappers below forward every operation; one added to either table
 * must be added here too, or it would be called through a NULL pointer. */
_Static_assert(sizeof(struct store_ops) == 9 * sizeof(void (*)(void)),
	       "store_ops changed: forward the new operation in cstore_ops");
_Static_assert(sizeof(struct catalog_ops) == 19 * sizeof(void (*)(void)),
	       "catalog_ops changed: forward the new operation in ccat_ops");

struct cstore {
	struct store base;
	/* cstore_ops, with the operations inner lacks NULL as in inner: the
	 * store contract says NULL is "not supported" (cache/store/store.h). */
	struct store_ops ops;
	struct store *inner;
	struct tcost *c;
};

static void count_key(struct tcost *c, const char *key, const struct tcost_counts *d)
{
	char id[CAT_ID_MAX + 1];

	key_id(key, id);
	tcost_add(c, id, d);
}

static int cs_put(struct store *s, const char *key, int fd, uint64_t size, const char *hash)
{
	struct cstore *cs = (struct cstore *)s;
	int rc = cs->inner->ops->put(cs->inner, key, fd, size, hash);
	struct tcost_counts d = {.s3_put = 1, .bytes_up = rc == 0 ? size : 0};

	count_key(cs->c, key, &d);
	return rc;
}

static int cs_get(struct store *s, const char *key, int fd, struct store_info *info)
{
	struct cstore *cs = (struct cstore *)s;
	int rc = cs->inner->ops->get(cs->inner, key, fd, info);
	struct tcost_counts d = {.s3_get = 1, .bytes_down = rc == 0 && info ? info->size : 0};

	count_key(cs->c, key, &d);
	return rc;
}

static int cs_head(struct store *s, const char *key, struct store_info *info)
{
	struct cstore *cs = (struct cstore *)s;
	struct tcost_counts d = {.s3_head = 1};

	count_key(cs->c, key, &d);
	return cs->inner->ops->head(cs->inner, key, info);
}

static int cs_del(struct store *s, const char *key)
{
	struct cstore *cs = (struct cstore *)s;
	struct tcost_counts d = {.s3_delete = 1};

	count_key(cs->c, key, &d);
	return cs->inner->ops->del(cs->inner, key);
}

static int cs_list(struct store *s, const char *prefix, char **token,
		   int (*cb)(void *arg, const char *key, const struct store_info *info), void *arg)
{
	struct cstore *cs = (struct cstore *)s;

	/* A listing names a prefix, not a database: priced in the totals only. */
	return cs->inner->ops->list(cs->inner, prefix, token, cb, arg);
}

static int cs_list_uploads(struct store *s, const char *prefix,
			   int (*cb)(void *arg, const char *key, const char *upload_id,
				     int64_t started_ms),
			   void *arg)
{
	struct cstore *cs = (struct cstore *)s;

	/* Names a prefix, not a database: priced in the totals only. */
	return cs->inner->ops->list_uploads(cs->inner, prefix, cb, arg);
}

static int cs_abort_upload(struct store *s, const char *key, const char *upload_id)
{
	struct cstore *cs = (struct cstore *)s;
	struct tcost_counts d = {.s3_delete = 1};

	count_key(cs->c, key, &d);
	return cs->inner->ops->abort_upload(cs->inner, key, upload_id);
}

static int cs_check(struct store *s)
{
	struct cstore *cs = (struct cstore *)s;

	return cs->inner->ops->check(cs->inner);
}

static void cs_free(struct store *s)
{
	free(s);
}

static const struct store_ops cstore_ops = {
    .put = cs_put,
    .get = cs_get,
    .head = cs_head,
    .del = cs_del,
    .list = cs_list,
    .list_uploads = cs_list_uploads,
    .abort_upload = cs_abort_upload,
    .check = cs_check,
    .free = cs_free,
};

struct store *tcost_wrap_store(struct tcost *c, struct store *inner)
{
	struct cstore *cs = calloc(1, sizeof(*cs));

	if (!cs)
		return NULL;
	cs->ops = cstore_ops;
	if (!inner->ops->list_uploads)
		cs->ops.list_uploads = NULL;
	if (!inner->ops->abort_upload)
		cs->ops.abort_upload = NULL;
	cs->base.ops = &cs->ops;
	cs->inner = inner;
	cs->c = c;
	return &cs->base;
}

struct ccat {
	struct catalog base;
	struct catalog *inner;
	struct tcost *c;
};

#define CC(x) struct ccat *cc = (struct ccat *)(x)

static void count_ddb(struct tcost *c, const char *id, bool write)
{
	struct tcost_counts d = {.ddb_write = write, .ddb_read = !write};

	tcost_add(c, id, &d);
}

static int cc_acquire(struct catalog *c, const char *id, const char *node, uint64_t sess,
		      int64_t now_ms, int64_t ttl_ms, const struct cat_takeover *takeover,
		      struct cat_item *out)
{
	CC(c);
	count_ddb(cc->c, id, true);
	return cc->inner->ops->acquire(cc->inner, id, node, sess, now_ms, ttl_ms, takeover, out);
}

/* The session calls below are the node's, not a database's: priced in the
 * totals only. */
static int cc_session_start(struct catalog *c, const char *node, int64_t now_ms, int64_t ttl_ms,
			    struct cat_session *out)
{
	CC(c);
	return cc->inner->ops->session_start(cc->inner, node, now_ms, ttl_ms, out);
}

static int cc_heartbeat(struct catalog *c, const char *node, uint64_t sess, int64_t now_ms,
			int64_t ttl_ms, const char (*done)[CAT_ID_MAX + 1], int n_done,
			struct cat_session *out)
{
	CC(c);
	return cc->inner->ops->heartbeat(cc->inner, node, sess, now_ms, ttl_ms, done, n_done, out);
}

static int cc_session_get(struct catalog *c, const char *node, struct cat_session *out)
{
	CC(c);
	return cc->inner->ops->session_get(cc->inner, node, out);
}

static int cc_session_kill(struct catalog *c, const char *node, uint64_t sess, uint64_t rev,
			   int64_t now_ms)
{
	CC(c);
	return cc->inner->ops->session_kill(cc->inner, node, sess, rev, now_ms);
}

static int cc_session_end(struct catalog *c, const char *node, uint64_t sess, int64_t now_ms)
{
	CC(c);
	return cc->inner->ops->session_end(cc->inner, node, sess, now_ms);
}

static int cc_commit(struct catalog *c, const char *id, const char *node, uint64_t epoch,
		     uint64_t base_gen, const struct cat_commit *cm)
{
	CC(c);
	count_ddb(cc->c, id, true);
	return cc->inner->ops->commit(cc->inner, id, node, epoch, base_gen, cm);
}

static int cc_release(struct catalog *c, const char *id, const char *node, uint64_t epoch)
{
	CC(c);
	count_ddb(cc->c, id, true);
	return cc->inner->ops->release(cc->inner, id, node, epoch);
}

static int cc_strand(struct catalog *c, const char *id, const char *node, uint64_t epoch,
		     int64_t now_ms)
{
	CC(c);
	count_ddb(cc->c, id, true);
	return cc->inner->ops->strand(cc->inner, id, node, epoch, now_ms);
}

static int cc_abandon(struct catalog *c, const struct cat_item *seen, int64_t now_ms)
{
	CC(c);
	count_ddb(cc->c, seen->id, true);
	return cc->inner->ops->abandon(cc->inner, seen, now_ms);
}

static int cc_want(struct catalog *c, const char *id, const char *holder)
{
	CC(c);
	count_ddb(cc->c, id, true);
	return cc->inner->ops->want(cc->inner, id, holder);
}

static int cc_gc_begin(struct catalog *c, const char *id, uint64_t seen_gen, uint64_t seen_seq,
		       const char *doomed, int64_t now_ms)
{
	CC(c);
	count_ddb(cc->c, id, true);
	return cc->inner->ops->gc_begin(cc->inner, id, seen_gen, seen_seq, doomed, now_ms);
}

static int cc_gc_end(struct catalog *c, const char *id, uint64_t seq)
{
	CC(c);
	count_ddb(cc->c, id, true);
	return cc->inner->ops->gc_end(cc->inner, id, seq);
}

static int cc_remove(struct catalog *c, const char *id, const char *node, uint64_t epoch)
{
	CC(c);
	count_ddb(cc->c, id, true);
	return cc->inner->ops->remove(cc->inner, id, node, epoch);
}

static int cc_get(struct catalog *c, const char *id, struct cat_item *out)
{
	CC(c);
	count_ddb(cc->c, id, false);
	return cc->inner->ops->get(cc->inner, id, out);
}

static int cc_scan(struct catalog *c, char **token, int (*cb)(void *arg, const struct cat_item *it),
		   void *arg)
{
	CC(c);
	/* A page of many databases: priced in the totals only. */
	return cc->inner->ops->scan(cc->inner, token, cb, arg);
}

static int cc_init(struct catalog *c)
{
	CC(c);
	return cc->inner->ops->init(cc->inner);
}

static int cc_check(struct catalog *c)
{
	CC(c);
	return cc->inner->ops->check(cc->inner);
}

static void cc_free(struct catalog *c)
{
	free(c);
}

static const struct catalog_ops ccat_ops = {
    .acquire = cc_acquire,
    .session_start = cc_session_start,
    .heartbeat = cc_heartbeat,
    .session_get = cc_session_get,
    .session_kill = cc_session_kill,
    .session_end = cc_session_end,
    .commit = cc_commit,
    .release = cc_release,
    .strand = cc_strand,
    .abandon = cc_abandon,
    .want = cc_want,
    .gc_begin = cc_gc_begin,
    .gc_end = cc_gc_end,
    .remove = cc_remove,
    .get = cc_get,
    .scan = cc_scan,
    .init = cc_init,
    .check = cc_check,
    .free = cc_free,
};

struct catalog *tcost_wrap_catalog(struct tcost *c, struct catalog *inner)
{
	struct ccat *cc = calloc(1, sizeof(*cc));

	if (!cc)
		return NULL;
	cc->base.ops = &ccat_ops;
	cc->inner = inner;
	cc->c = c;
	return &cc->base;
}
