/* Test doubles for the cache engine's unit tests: an in-memory object
 * store that counts requests and can corrupt an object, and a catalog
 * wrapper that counts calls and injects failures around any real catalog
 * (the SQLite one in practice). Header-only; tests include it once. */
#ifndef TFS_FAKE_BACKENDS_H
#define TFS_FAKE_BACKENDS_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache/catalog/catalog.h"
#include "cache/store/store.h"
#include "s3/base/tsa.h"

#define MEM_MAX_OBJ 4096

struct mem_obj {
	char *key;
	unsigned char *data;
	size_t len;
};

struct mem_store {
	struct store base;
	tfs_mutex mu;
	struct mem_obj obj[MEM_MAX_OBJ]; /* protected by mu */
	int n;				 /* protected by mu */
	atomic_int puts, gets, heads;
	atomic_int fail_put; /* > 0: the next puts fail with -EIO */
	atomic_int hold_put; /* != 0: puts hang (up to 60 s) until it is 0: a stuck S3 */
};

static struct mem_obj *mem_find(struct mem_store *m, const char *key)
{
	int i;

	for (i = 0; i < m->n; i++)
		if (!strcmp(m->obj[i].key, key))
			return &m->obj[i];
	return NULL;
}

static int mem_put(struct store *s, const char *key, int fd, uint64_t size, const char *hash)
{
	struct mem_store *m = (struct mem_store *)s;
	unsigned char *buf;
	size_t got = 0;
	ssize_t r;
	int rc = 0;

	atomic_fetch_add(&m->puts, 1);
	for (int i = 0; i < 6000 && atomic_load(&m->hold_put); i++)
		usleep(10000);
	if (atomic_load(&m->fail_put) > 0) {
		atomic_fetch_sub(&m->fail_put, 1);
		return -EIO;
	}
	buf = malloc(size ? size : 1);
	if (!buf)
		return -ENOMEM;
	while (got < size) {
		r = pread(fd, buf + got, size - got, (off_t)got);
		if (r <= 0) {
			free(buf);
			return r < 0 ? -errno : -EIO;
		}
		got += (size_t)r;
	}
	tfs_mutex_lock(&m->mu);
	if (mem_find(m, key)) {
		free(buf);
	} else if (m->n == MEM_MAX_OBJ) {
		free(buf);
		rc = -ENOSPC;
	} else {
		m->obj[m->n].key = strdup(key);
		m->obj[m->n].data = buf;
		m->obj[m->n].len = size;
		m->n++;
	}
	tfs_mutex_unlock(&m->mu);
	return rc;
}

static int mem_get(struct store *s, const char *key, int fd, struct store_info *info)
{
	struct mem_store *m = (struct mem_store *)s;
	struct mem_obj *o;
	int rc = 0;

	atomic_fetch_add(&m->gets, 1);
	tfs_mutex_lock(&m->mu);
	o = mem_find(m, key);
	if (!o) {
		rc = -ENOENT;
	} else if (ftruncate(fd, 0) < 0 ||
		   (o->len && pwrite(fd, o->data, o->len, 0) != (ssize_t)o->len)) {
		rc = -EIO;
	} else if (info) {
		info->size = o->len;
		info->mtime_ms = 0;
	}
	tfs_mutex_unlock(&m->mu);
	return rc;
}

static int mem_head(struct store *s, const char *key, struct store_info *info)
{
	struct mem_store *m = (struct mem_store *)s;
	struct mem_obj *o;
	int rc = 0;

	atomic_fetch_add(&m->heads, 1);
	tfs_mutex_lock(&m->mu);
	o = mem_find(m, key);
	if (!o)
		rc = -ENOENT;
	else if (info)
		info->size = o->len;
	tfs_mutex_unlock(&m->mu);
	return rc;
}

static int mem_del(struct store *s, const char *key)
{
	return -ENOTSUP;
}

static int mem_list(struct store *s, const char *prefix, char **token,
		    int (*cb)(void *arg, const char *key, const struct store_info *info), void *arg)
{
	struct mem_store *m = (struct mem_store *)s;
	struct store_info info = {0};
	int i, rc = 0;

	*token = NULL;
	tfs_mutex_lock(&m->mu);
	for (i = 0; i < m->n && !rc; i++) {
		if (strncmp(m->obj[i].key, prefix, strlen(prefix)))
			continue;
		info.size = m->obj[i].len;
		rc = cb(arg, m->obj[i].key, &info);
	}
	tfs_mutex_unlock(&m->mu);
	return rc;
}

static int mem_check(struct store *s)
{
	return 0;
}

static void mem_free(struct store *s)
{
	struct mem_store *m = (struct mem_store *)s;
	int i;

	for (i = 0; i < m->n; i++) {
		free(m->obj[i].key);
		free(m->obj[i].data);
	}
	tfs_mutex_destroy(&m->mu);
	free(m);
}

static const struct store_ops mem_store_ops = {
    .put = mem_put,
    .get = mem_get,
    .head = mem_head,
    .del = mem_del,
    .list = mem_list,
    .check = mem_check,
    .free = mem_free,
};

static struct mem_store *mem_store_new(void)
{
	struct mem_store *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->base.ops = &mem_store_ops;
	tfs_mutex_init(&m->mu);
	return m;
}

/* Copies the bytes of key into a malloc'ed buffer; NULL if absent. */
static inline unsigned char *mem_store_copy(struct mem_store *m, const char *key, size_t *len)
{
	struct mem_obj *o;
	unsigned char *b = NULL;

	tfs_mutex_lock(&m->mu);
	o = mem_find(m, key);
	if (o) {
		b = malloc(o->len ? o->len : 1);
		if (b) {
			memcpy(b, o->data, o->len);
			*len = o->len;
		}
	}
	tfs_mutex_unlock(&m->mu);
	return b;
}

/* Flips one byte of key's object so its hash no longer matches. */
static inline int mem_store_corrupt(struct mem_store *m, const char *key)
{
	struct mem_obj *o;
	int rc = -ENOENT;

	tfs_mutex_lock(&m->mu);
	o = mem_find(m, key);
	if (o && o->len) {
		o->data[o->len / 2] ^= 0x5a;
		rc = 0;
	}
	tfs_mutex_unlock(&m->mu);
	return rc;
}

/* ---- catalog wrapper ------------------------------------------------- */

struct wrap_cat {
	struct catalog base;
	struct catalog *in; /* owned */
	/* renews counts heartbeats (session_start not included): the one
	 * renewal of every lease of a node */
	atomic_int acquires, renews, commits, releases, strands, abandons, wants, gets, scans;
	atomic_int kills, session_gets, ends;
	atomic_int commit_estale;     /* > 0: the next commits fail with -ESTALE */
	atomic_int renew_fail;	      /* != 0: heartbeats fail with -EIO */
	atomic_int commit_lost_reply; /* > 0: the next commits succeed but say -ETIMEDOUT */
	atomic_int hold_get;	      /* != 0: gets hang (up to 30 s) until it is 0 */
	atomic_long get_budget;	      /* catalog_thread_budget() of the last get's caller */
	atomic_long commit_budget;    /* ... and of the last commit's */
	atomic_int get_fail;	      /* != 0: reads fail with -EIO (catalog unreachable) */
	atomic_int acquire_fail;      /* != 0: acquisitions fail with -EIO */
	atomic_int strand_fail;	      /* != 0: stranded marks fail with -EIO */
};

#define WC(c) ((struct wrap_cat *)(c))

static int wc_acquire(struct catalog *c, const char *id, const char *node, uint64_t sess,
		      int64_t now_ms, int64_t ttl_ms, const struct cat_takeover *tk,
		      struct cat_item *out)
{
	atomic_fetch_add(&WC(c)->acquires, 1);
	if (atomic_load(&WC(c)->acquire_fail))
		return -EIO;
	return WC(c)->in->ops->acquire(WC(c)->in, id, node, sess, now_ms, ttl_ms, tk, out);
}

static int wc_session_start(struct catalog *c, const char *node, int64_t now_ms, int64_t ttl_ms,
			    struct cat_session *out)
{
	if (atomic_load(&WC(c)->acquire_fail))
		return -EIO;
	return WC(c)->in->ops->session_start(WC(c)->in, node, now_ms, ttl_ms, out);
}

static int wc_heartbeat(struct catalog *c, const char *node, uint64_t sess, int64_t now_ms,
			int64_t ttl_ms, const char (*done)[CAT_ID_MAX + 1], int n_done,
			struct cat_session *out)
{
	atomic_fetch_add(&WC(c)->renews, 1);
	if (atomic_load(&WC(c)->renew_fail))
		return -EIO;
	return WC(c)->in->ops->heartbeat(WC(c)->in, node, sess, now_ms, ttl_ms, done, n_done, out);
}

static int wc_session_get(struct catalog *c, const char *node, struct cat_session *out)
{
	atomic_fetch_add(&WC(c)->session_gets, 1);
	if (atomic_load(&WC(c)->get_fail))
		return -EIO;
	return WC(c)->in->ops->session_get(WC(c)->in, node, out);
}

static int wc_session_kill(struct catalog *c, const char *node, uint64_t sess, uint64_t rev,
			   int64_t now_ms)
{
	atomic_fetch_add(&WC(c)->kills, 1);
	return WC(c)->in->ops->session_kill(WC(c)->in, node, sess, rev, now_ms);
}

static int wc_session_end(struct catalog *c, const char *node, uint64_t sess, int64_t now_ms)
{
	atomic_fetch_add(&WC(c)->ends, 1);
	return WC(c)->in->ops->session_end(WC(c)->in, node, sess, now_ms);
}

static int wc_commit(struct catalog *c, const char *id, const char *node, uint64_t epoch,
		     uint64_t base_gen, const struct cat_commit *cm)
{
	atomic_fetch_add(&WC(c)->commits, 1);
	atomic_store(&WC(c)->commit_budget, catalog_thread_budget());
	if (atomic_load(&WC(c)->commit_estale) > 0) {
		atomic_fetch_sub(&WC(c)->commit_estale, 1);
		return -ESTALE;
	}
	if (atomic_load(&WC(c)->commit_lost_reply) > 0) {
		atomic_fetch_sub(&WC(c)->commit_lost_reply, 1);
		WC(c)->in->ops->commit(WC(c)->in, id, node, epoch, base_gen, cm);
		return -ETIMEDOUT;
	}
	return WC(c)->in->ops->commit(WC(c)->in, id, node, epoch, base_gen, cm);
}

static int wc_release(struct catalog *c, const char *id, const char *node, uint64_t epoch)
{
	atomic_fetch_add(&WC(c)->releases, 1);
	return WC(c)->in->ops->release(WC(c)->in, id, node, epoch);
}

static int wc_strand(struct catalog *c, const char *id, const char *node, uint64_t epoch,
		     int64_t now_ms)
{
	atomic_fetch_add(&WC(c)->strands, 1);
	if (atomic_load(&WC(c)->strand_fail))
		return -EIO;
	return WC(c)->in->ops->strand(WC(c)->in, id, node, epoch, now_ms);
}

static int wc_abandon(struct catalog *c, const struct cat_item *seen, int64_t now_ms)
{
	atomic_fetch_add(&WC(c)->abandons, 1);
	return WC(c)->in->ops->abandon(WC(c)->in, seen, now_ms);
}

static int wc_want(struct catalog *c, const char *id, const char *holder)
{
	atomic_fetch_add(&WC(c)->wants, 1);
	return WC(c)->in->ops->want(WC(c)->in, id, holder);
}

static int wc_get(struct catalog *c, const char *id, struct cat_item *out)
{
	int i;

	atomic_fetch_add(&WC(c)->gets, 1);
	atomic_store(&WC(c)->get_budget, catalog_thread_budget());
	for (i = 0; i < 3000 && atomic_load(&WC(c)->hold_get); i++)
		usleep(10000);
	if (atomic_load(&WC(c)->get_fail))
		return -EIO;
	return WC(c)->in->ops->get(WC(c)->in, id, out);
}

static int wc_scan(struct catalog *c, char **token, int (*cb)(void *, const struct cat_item *),
		   void *arg)
{
	atomic_fetch_add(&WC(c)->scans, 1);
	return WC(c)->in->ops->scan(WC(c)->in, token, cb, arg);
}

static int wc_init(struct catalog *c)
{
	return WC(c)->in->ops->init(WC(c)->in);
}

static int wc_check(struct catalog *c)
{
	return WC(c)->in->ops->check(WC(c)->in);
}

static void wc_free(struct catalog *c)
{
	catalog_free(WC(c)->in);
	free(c);
}

static const struct catalog_ops wrap_cat_ops = {
    .acquire = wc_acquire,
    .session_start = wc_session_start,
    .heartbeat = wc_heartbeat,
    .session_get = wc_session_get,
    .session_kill = wc_session_kill,
    .session_end = wc_session_end,
    .commit = wc_commit,
    .release = wc_release,
    .strand = wc_strand,
    .abandon = wc_abandon,
    .want = wc_want,
    .get = wc_get,
    .scan = wc_scan,
    .init = wc_init,
    .check = wc_check,
    .free = wc_free,
};

/* Wraps in (owned from now on). */
static struct wrap_cat *wrap_cat_new(struct catalog *in)
{
	struct wrap_cat *w = calloc(1, sizeof(*w));

	if (!w || !in) {
		free(w);
		catalog_free(in);
		return NULL;
	}
	w->base.ops = &wrap_cat_ops;
	w->in = in;
	return w;
}

#endif
