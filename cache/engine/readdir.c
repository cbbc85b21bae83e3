/* The root listing: the local part (uncommitted databases and side files,
 * from the state database and the cache folder) first, then the catalog,
 * one page at a time, with the attributes getattr would give. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache/engine/cache_i.h"
#include "cache/engine/catgate_i.h"
#include "cache/engine/famtab_i.h"
#include "cache/engine/namespace_i.h"
#include "s3/base/log.h"

/* A listing in progress. Memory: the sorted names listed from local state
 * (this node's uncommitted databases and side files, few) and the
 * catalog's continuation token; never more than one catalog page, which
 * the catalog back end holds only while it calls us back. */
struct tdir {
	struct tcache *tc;
	char **local; /* sorted names of the local part, to skip in the scan */
	size_t nlocal;
	bool local_done; /* the local part was listed */
	bool scanning;	 /* the first catalog page was asked for */
	bool done;	 /* the catalog has no page left */
	char *token;	 /* catalog continuation (malloc'ed), NULL: start or end */
	/* current page only */
	int (*cb)(void *arg, const char *name, const struct stat *st);
	void *arg;
	int stop;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int rd_item(void *arg, const struct cat_item *it)
{
	struct tdir *d = arg;
	char name[CAT_ID_MAX + 8], path[PATH_MAX];
	const char *key = name;
	struct fam *fam;
	struct stat st;
	bool have;

	if (it->gen == 0 || it->deleted_ms || !tfs_valid_id(it->id))
		return 0;
	snprintf(name, sizeof(name), "%s.db", it->id);
	if (d->nlocal && bsearch(&key, d->local, d->nlocal, sizeof(char *), cmp_str))
		return 0;
	/* Attributes as getattr shows them: the listing may hand them to the
	 * kernel (readdirplus), which then trusts them for a file this node
	 * has open, so a cached copy (maybe written since the commit) wins
	 * over the catalog's size. One local stat per name, no request. */
	tfs_mutex_lock(&d->tc->mu);
	fam = fam_find(d->tc, it->id);
	if (fam && fam->unlinked) {
		tfs_mutex_unlock(&d->tc->mu);
		return 0;
	}
	have = fam && fam->fd >= 0 && !fam_exclusive(fam) && fstat(fam->fd, &st) == 0;
	tfs_mutex_unlock(&d->tc->mu);
	if (!have) {
		tc_db_path(d->tc, it->id, "", path, sizeof(path));
		if (stat(path, &st) < 0)
			tc_item_stat(it, &st);
	}
	d->stop = d->cb(d->arg, name, &st);
	return d->stop;
}

static int add_local(struct tdir *d, size_t *cap, const char *name)
{
	char **nv;

	if (d->nlocal == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		nv = realloc(d->local, *cap * sizeof(char *));
		if (!nv)
			return -ENOMEM;
		d->local = nv;
	}
	d->local[d->nlocal] = strdup(name);
	if (!d->local[d->nlocal])
		return -ENOMEM;
	d->nlocal++;
	return 0;
}

void tcache_readdir_close(struct tdir *d)
{
	size_t k;

	if (!d)
		return;
	for (k = 0; k < d->nlocal; k++)
		free(d->local[k]);
	free(d->local);
	free(d->token);
	free(d);
}

int tcache_readdir_open(struct tcache *tc, struct tdir **out)
{
	struct tdir *d;
	struct state_row *rows = NULL;
	char name[CAT_ID_MAX + 96], pid[CAT_ID_MAX + 1];
	const char *suf;
	struct dirent *de;
	size_t cap = 0, k, w;
	int n = 0, i, rc;
	DIR *dir;

	*out = NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->tc = tc;
	/* Local first: uncommitted databases and side files, from the cache. */
	rc = state_list(tc->state, STATE_UNCOMMITTED, 0, &rows, &n);
	if (rc < 0)
		goto out;
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%s.db", rows[i].id);
		if ((rc = add_local(d, &cap, name)) < 0)
			goto out;
	}
	dir = opendir(tc->dir_db);
	if (dir) {
		while ((de = readdir(dir))) {
			if (tfs_parse_name(de->d_name, pid, &suf) != NAME_SIDE)
				continue;
			if ((rc = add_local(d, &cap, de->d_name)) < 0)
				break;
		}
		closedir(dir);
		if (rc < 0)
			goto out;
	}
	if (d->nlocal)
		qsort(d->local, d->nlocal, sizeof(char *), cmp_str);
	/* Each name once, also for the bsearch of the scan. */
	for (k = 0, w = 0; k < d->nlocal; k++) {
		if (w > 0 && !strcmp(d->local[k], d->local[w - 1]))
			free(d->local[k]);
		else
			d->local[w++] = d->local[k];
	}
	d->nlocal = w;
	rc = 0;
out:
	free(rows);
	if (rc < 0)
		tcache_readdir_close(d);
	else
		*out = d;
	return rc;
}

int tcache_readdir_next(struct tdir *d,
			int (*cb)(void *arg, const char *name, const struct stat *st), void *arg)
{
	char path[PATH_MAX];
	struct stat st;
	long saved;
	size_t k;
	int rc;

	if (!d->local_done) {
		d->local_done = true;
		for (k = 0; k < d->nlocal; k++) {
			tc_path(path, sizeof(path), "%s/%s", d->tc->dir_db, d->local[k]);
			if (stat(path, &st) < 0)
				continue;
			if (cb(arg, d->local[k], &st)) {
				d->done = true;
				return 0;
			}
		}
		return 1;
	}
	if (d->done || (d->scanning && !d->token))
		return 0;
	d->scanning = true;
	d->cb = cb;
	d->arg = arg;
	d->stop = 0;
	rc = tc_gate_enter(d->tc, "readdir", NULL, &saved);
	if (rc == 0) {
		rc = d->tc->cat->ops->scan(d->tc->cat, &d->token, rd_item, d);
		tc_gate_leave(d->tc, saved);
	}
	d->cb = NULL;
	d->arg = NULL;
	if (rc < 0 && !d->stop) {
		log_err("cannot list the catalog: %s", strerror(-rc));
		d->done = true;
		return rc;
	}
	if (d->stop || !d->token)
		d->done = true;
	return d->done ? 0 : 1;
}

struct rd_all {
	int (*cb)(void *arg, const char *name, const struct stat *st);
	void *arg;
	int rc; /* what cb returned when it stopped the listing */
};

static int rd_all_cb(void *arg, const char *name, const struct stat *st)
{
	struct rd_all *a = arg;

	a->rc = a->cb(a->arg, name, st);
	return a->rc;
}

int tcache_readdir(struct tcache *tc, int (*cb)(void *arg, const char *name, const struct stat *st),
		   void *arg)
{
	struct rd_all s = {.cb = cb, .arg = arg};
	struct tdir *d;
	long pages;
	int rc;

	rc = tcache_readdir_open(tc, &d);
	if (rc < 0)
		return rc;
	/* Bounded in pages: a catalog that never ends its scan is a bug. */
	for (pages = 0; pages < 100000000L; pages++) {
		rc = tcache_readdir_next(d, rd_all_cb, &s);
		if (rc <= 0 || s.rc)
			break;
	}
	tcache_readdir_close(d);
	if (s.rc)
		return s.rc;
	return rc < 0 ? rc : 0;
}
