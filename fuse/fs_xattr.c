/* The extended attributes of the mount (see fs.h): the root's statistics
 * and node identity, each database's from the engine, and the stats line
 * and request cost they report. */
#include "fuse/fs.h"
#include "fuse/fs_i.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cache/engine/cache.h"
#include "fuse/setup.h"
#include "s3/base/fsutil.h"
#include "s3/wire/http.h"

double tfs_http_cost_usd(const struct http_stats *h)
{
	return (double)(h->s3_put + h->s3_list + h->s3_other) * TFS_PRICE_S3_PUT +
	       (double)(h->s3_get + h->s3_head) * TFS_PRICE_S3_GET +
	       (double)h->ddb_write * TFS_PRICE_DDB_WRITE +
	       (double)h->ddb_read * TFS_PRICE_DDB_READ;
}

/* "name=value" for each of the n counters, space separated, into buf
 * (cap > 0; cut at cap). */
static void fmt_counters(char *buf, size_t cap, const char *const *names, const uint64_t *vals,
			 size_t n)
{
	size_t len = 0, i;
	int k;

	buf[0] = '\0';
	for (i = 0; i < n && len < cap; i++) {
		k = snprintf(buf + len, cap - len, "%s%s=%llu", i ? " " : "", names[i],
			     (unsigned long long)vals[i]);
		if (k < 0)
			break;
		len += (size_t)k;
	}
}

#define NCOUNTERS(a) (sizeof(a) / sizeof((a)[0]))

void tfs_tcache_stats_fmt(const struct tcache_stats *s, char *buf, size_t cap)
{
	static const char *const names[] = {"opens",	      "faults",	      "fault_bytes",
					    "writebacks",     "puts",	      "puts_skipped",
					    "commits",	      "quarantined",  "evictions",
					    "lease_acquires", "lease_renews", "lease_releases"};
	const uint64_t v[] = {s->opens,	    s->faults,	       s->fault_bytes,	s->writebacks,
			      s->puts,	    s->puts_skipped,   s->commits,	s->quarantined,
			      s->evictions, s->lease_acquires, s->lease_renews, s->lease_releases};

	_Static_assert(NCOUNTERS(names) == NCOUNTERS(v), "a name for every counter");
	fmt_counters(buf, cap, names, v, NCOUNTERS(v));
}

void tfs_http_stats_fmt(const struct http_stats *h, char *buf, size_t cap)
{
	static const char *const names[] = {"s3_get",	 "s3_put",   "s3_head",	 "s3_list",
					    "s3_delete", "s3_other", "ddb_read", "ddb_write",
					    "ddb_other", "retries"};
	const uint64_t v[] = {h->s3_get,   h->s3_put,	h->s3_head,   h->s3_list,   h->s3_delete,
			      h->s3_other, h->ddb_read, h->ddb_write, h->ddb_other, h->retries};

	_Static_assert(NCOUNTERS(names) == NCOUNTERS(v), "a name for every counter");
	fmt_counters(buf, cap, names, v, NCOUNTERS(v));
}

/* Each part is under 512 bytes (twelve counters of at most 20 digits and
 * their names, ten for the requests). */
size_t tfs_fs_stats_line(struct tfs_fs *fs, char *buf, size_t cap)
{
	char engine[512], requests[512];
	struct tcache_stats s;
	struct http_stats h;
	unsigned long long fuse = 0;
	int i, n;

	tcache_get_stats(fs->tc, &s);
	memset(&h, 0, sizeof(h));
	if (fs->backend)
		tfs_backend_http_stats(fs->backend, &h);
	for (i = 0; i < FS_NOPS; i++)
		fuse += __atomic_load_n(&fs->ops[i], __ATOMIC_RELAXED);
	tfs_tcache_stats_fmt(&s, engine, sizeof(engine));
	tfs_http_stats_fmt(&h, requests, sizeof(requests));
	n = snprintf(buf, cap, "%s %s fuse_requests=%llu cost_usd=%.6f", engine, requests, fuse,
		     tfs_http_cost_usd(&h));
	return n < 0 ? 0 : (size_t)n;
}

/* The root has two attributes, the counters and the node identity; a line
 * is well under 1 KiB. */
static int fs_root_getxattr(struct tfs_fs *fs, const char *name, char *value, size_t size)
{
	char line[1024];
	size_t n;

	if (!strcmp(name, TFS_XATTR_NODE))
		n = (size_t)snprintf(line, sizeof(line), "%s", tcache_node(fs->tc));
	else if (!strcmp(name, TFS_XATTR_STATS))
		n = tfs_fs_stats_line(fs, line, sizeof(line));
	else
		return -ENODATA;
	if (n >= sizeof(line))
		return -E2BIG;
	return (int)fs_xattr_reply(line, n, value, size);
}

int fs_getxattr(const char *path, const char *name, char *value, size_t size)
{
	char id[CAT_ID_MAX + 1];
	const char *suffix;
	ssize_t n;

	fs_count(FS_OP_XATTR);
	if (fs_is_root(path))
		return fs_root_getxattr(fs_ctx(), name, value, size);
	if (fs_parse(path, id, &suffix) == NAME_INVALID)
		return -ENOENT;
	n = tcache_getxattr(fs_ctx()->tc, id, name, value, size);
	return n > INT_MAX ? -E2BIG : (int)n;
}

int fs_listxattr(const char *path, char *list, size_t size)
{
	char id[CAT_ID_MAX + 1];
	const char *suffix;
	ssize_t n;

	fs_count(FS_OP_XATTR);
	if (path && strcmp(path, "/") == 0) {
		static const char names[] = TFS_XATTR_STATS "\0" TFS_XATTR_NODE;

		if (size == 0)
			return (int)sizeof(names);
		if (size < sizeof(names))
			return -ERANGE;
		memcpy(list, names, sizeof(names));
		return (int)sizeof(names);
	}
	if (fs_parse(path, id, &suffix) == NAME_INVALID)
		return -ENOENT;
	n = tcache_listxattr(fs_ctx()->tc, id, list, size);
	return n > INT_MAX ? -E2BIG : (int)n;
}

/* The attributes show engine state: they are read-only. */
int fs_setxattr(const char *path, const char *name, const char *value, size_t size, int flags)
{
	fs_count(FS_OP_XATTR);
	return -ENOTSUP;
}

int fs_removexattr(const char *path, const char *name)
{
	fs_count(FS_OP_XATTR);
	return -ENOTSUP;
}
