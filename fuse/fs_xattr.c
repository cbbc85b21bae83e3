/* The extended attributes of the mount (see fs.h): the root's statistics
 * and node identity, each database's from the engine, and the stats line
 * and request cost they report. */
#include "fuse/fs.h"
#include "fuse/fs_i.h"

#include <errno.h>
#include <limits.h>
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

size_t tfs_fs_stats_line(struct tfs_fs *fs, char *buf, size_t cap)
{
	struct tcache_stats s;
	struct http_stats h;
	unsigned long long fuse = 0;
	double cost;
	int i, n;

	tcache_get_stats(fs->tc, &s);
	memset(&h, 0, sizeof(h));
	if (fs->backend)
		tfs_backend_http_stats(fs->backend, &h);
	for (i = 0; i < FS_NOPS; i++)
		fuse += __atomic_load_n(&fs->ops[i], __ATOMIC_RELAXED);
	cost = tfs_http_cost_usd(&h);
	n = snprintf(buf, cap,
		     "opens=%llu faults=%llu fault_bytes=%llu writebacks=%llu puts=%llu "
		     "puts_skipped=%llu commits=%llu quarantined=%llu evictions=%llu "
		     "lease_acquires=%llu lease_renews=%llu lease_releases=%llu "
		     "s3_get=%llu s3_put=%llu s3_head=%llu s3_list=%llu s3_delete=%llu "
		     "s3_other=%llu ddb_read=%llu ddb_write=%llu ddb_other=%llu retries=%llu "
		     "fuse_requests=%llu cost_usd=%.6f",
		     (unsigned long long)s.opens, (unsigned long long)s.faults,
		     (unsigned long long)s.fault_bytes, (unsigned long long)s.writebacks,
		     (unsigned long long)s.puts, (unsigned long long)s.puts_skipped,
		     (unsigned long long)s.commits, (unsigned long long)s.quarantined,
		     (unsigned long long)s.evictions, (unsigned long long)s.lease_acquires,
		     (unsigned long long)s.lease_renews, (unsigned long long)s.lease_releases,
		     (unsigned long long)h.s3_get, (unsigned long long)h.s3_put,
		     (unsigned long long)h.s3_head, (unsigned long long)h.s3_list,
		     (unsigned long long)h.s3_delete, (unsigned long long)h.s3_other,
		     (unsigned long long)h.ddb_read, (unsigned long long)h.ddb_write,
		     (unsigned long long)h.ddb_other, (unsigned long long)h.retries, fuse, cost);
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
