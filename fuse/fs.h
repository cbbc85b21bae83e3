/* The FUSE operations of tenantfs (high-level libfuse3 API): a flat root
 * of "<id>.db" files and their SQLite side files, each call mapped onto
 * cache/engine/cache.h. */
#ifndef TFS_FUSE_FS_H
#define TFS_FUSE_FS_H

#include <fuse.h>
#include <stdint.h>
#include <sys/types.h>

struct tcache;
struct tfs_backend;

/* Requests served, by kind (the bench and tests count round trips per
 * transaction with them). */
enum fs_op {
	FS_OP_GETATTR,
	FS_OP_SETATTR, /* chmod, chown, utimens, truncate */
	FS_OP_OPEN,    /* open, create, mknod */
	FS_OP_READ,
	FS_OP_WRITE,
	FS_OP_FLUSH,
	FS_OP_RELEASE,
	FS_OP_FSYNC,
	FS_OP_FSYNCDIR,
	FS_OP_UNLINK,
	FS_OP_READDIR,
	FS_OP_XATTR, /* getxattr, listxattr, setxattr, removexattr */
	FS_OP_OTHER,
	FS_NOPS
};

/* Passed as private_data to fuse_new(); must outlive the session. All
 * fields are set before fuse_new() and only read afterwards, except
 * writeback which the init callback clears when the kernel lacks it. */
struct tfs_fs {
	struct tcache *tc; /* the engine (borrowed) */
	/* request counters of the wire (borrowed; NULL: none) */
	const struct tfs_backend *backend;
	const char *cache_dir; /* statfs reports this file system */
	int writeback;	       /* ask for the kernel's writeback cache; atomic */
	/* The mount-wide permission policy (uid=, gid=, umask=): the owner,
	 * group and mode every file and the root show, which the kernel
	 * enforces (default_permissions). Not stored per database. */
	uid_t uid;
	gid_t gid;
	mode_t umask;
	time_t mount_time;     /* times of the root directory */
	uint64_t ops[FS_NOPS]; /* requests served; __atomic builtins */
};

/* The operation table for fuse_new(). */
const struct fuse_operations *tfs_fs_operations(void);

/* The name of the read-only extended attribute of the mount root that
 * shows the counters (getfattr -n user.tenantfs.stats MOUNTPOINT). */
#define TFS_XATTR_STATS "user.tenantfs.stats"
/* On the root too: this node's identity LABEL~ID (tcache_node). */
#define TFS_XATTR_NODE "user.tenantfs.node"

/* Writes the counters as one line of name=value pairs (engine counters,
 * S3 and DynamoDB requests, FUSE requests served, and cost_usd: the
 * requests priced at AWS list prices, see tenantfs(8)) into buf, NUL
 * terminated. Returns the length without the NUL, which may exceed cap
 * (then buf holds a cut line), like snprintf. */
size_t tfs_fs_stats_line(struct tfs_fs *fs, char *buf, size_t cap);

/* The requests h counts priced at TFS_PRICE_* (cache/engine/cache.h): S3 PUT,
 * LIST and other requests PUT-class, GET and HEAD GET-class, DELETE free,
 * one DynamoDB request unit per call. */
struct http_stats;
double tfs_http_cost_usd(const struct http_stats *h);

/* The engine's counters s as "opens=N faults=N ... lease_releases=N", and
 * the HTTP client's h as "s3_get=N ... retries=N", into buf (NUL
 * terminated, cut at cap); the stats line and the counters logged at
 * unmount both use them. */
struct tcache_stats;
void tfs_tcache_stats_fmt(const struct tcache_stats *s, char *buf, size_t cap);
void tfs_http_stats_fmt(const struct http_stats *h, char *buf, size_t cap);

/* Logs the request counters ("fuse requests: getattr=N ..."), at info. */
void tfs_fs_log_counters(struct tfs_fs *fs);

#endif
