/* The FUSE operations of tenantfs (high-level libfuse3 API): a flat root
 * of "<id>.db" files and their SQLite side files, each call mapped onto
 * cache/cache.h. */
#ifndef TFS_FUSE_FS_H
#define TFS_FUSE_FS_H

#include <fuse.h>
#include <sys/types.h>

struct tcache;

/* Passed as private_data to fuse_new(); must outlive the session. All
 * fields are set before fuse_new() and only read afterwards, except
 * writeback which the init callback clears when the kernel lacks it. */
struct tfs_fs {
	struct tcache *tc;     /* the engine (borrowed) */
	const char *cache_dir; /* statfs reports this file system */
	int writeback;	       /* ask for the kernel's writeback cache; atomic */
	uid_t uid;	       /* owner shown for every file */
	gid_t gid;
	time_t mount_time; /* times of the root directory */
};

/* The operation table for fuse_new(). */
const struct fuse_operations *tfs_fs_operations(void);

#endif
