/* What the FUSE operations (fs.c) and the extended attributes (fs_xattr.c)
 * share: the mount of the calling request, its counters, the name split,
 * and the xattr handlers for the operation table. Called only from FUSE
 * request threads (fuse_get_context). */
#ifndef TFS_FS_I_H
#define TFS_FS_I_H

#include <stddef.h>

#include "cache/engine/cache.h"
#include "fuse/fs.h"

/* The mount of the calling FUSE request. */
struct tfs_fs *fs_ctx(void);
/* The same, after counting op. */
struct tfs_fs *fs_count(enum fs_op op);
/* Splits "/<name>" into id and suffix. Only the root is a directory, so a
 * second '/' never names anything. */
enum name_kind fs_parse(const char *path, char id[CAT_ID_MAX + 1], const char **suffix);
/* path is "/". */
int fs_is_root(const char *path);

/* The xattr operations (fs_xattr.c). */
int fs_getxattr(const char *path, const char *name, char *value, size_t size);
int fs_listxattr(const char *path, char *list, size_t size);
int fs_setxattr(const char *path, const char *name, const char *value, size_t size, int flags);
int fs_removexattr(const char *path, const char *name);

#endif
