/* FUSE operations of tenantfs on the high-level libfuse3 API: names are
 * checked with tfs_parse_name, data and namespace calls go to the cache
 * engine, and the kernel is configured for SQLite's access pattern. */
#include "fuse/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "cache/cache.h"
#include "s3/log.h"

/* An open file: the engine's handle plus the first write error not yet
 * reported. Writes fail in the kernel's writeback threads long after the
 * write(2) that made the page dirty; flush is the last place an error can
 * still reach the application (close(2)), release never does. */
struct fs_file {
	struct tfile *f;
	int err; /* a negative errno or 0; accessed with __atomic builtins */
};

static struct tfs_fs *fs_ctx(void)
{
	return fuse_get_context()->private_data;
}

static struct tfs_fs *fs_count(enum fs_op op)
{
	struct tfs_fs *fs = fs_ctx();

	__atomic_fetch_add(&fs->ops[op], 1, __ATOMIC_RELAXED);
	return fs;
}

static struct fs_file *fs_handle(const struct fuse_file_info *fi)
{
	return (struct fs_file *)(uintptr_t)fi->fh;
}

/* Splits "/<name>" into id and suffix. Only the root is a directory, so a
 * second '/' never names anything. */
static enum name_kind fs_parse(const char *path, char id[CAT_ID_MAX + 1], const char **suffix)
{
	if (!path || path[0] != '/' || strchr(path + 1, '/'))
		return NAME_INVALID;
	return tfs_parse_name(path + 1, id, suffix);
}

/* path made fit for a log line: bytes outside printable ASCII (a name may
 * hold a newline or an escape sequence) as \xNN, cut to fit out. */
static const char *fs_printable(const char *path, char *out, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)(path ? path : "");
	size_t o = 0;

	for (; *p && o + 5 < cap; p++) {
		if (*p >= 0x20 && *p < 0x7f && *p != '\\') {
			out[o++] = (char)*p;
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	out[o] = '\0';
	return out;
}

/* A refused operation is the caller's mistake, not ours: say at notice
 * level what was refused and why, so that the errno an application got
 * can be explained from the log. Returns err. */
static int fs_refuse(const char *op, const char *path, int err, const char *why)
{
	char name[256];

	log_notice("cannot %s %s: %s", op, fs_printable(path, name, sizeof(name)), why);
	return err;
}

#define FS_NAME_RULE                                                                       \
	"not a database name (<id>.db, id of 1-128 letters, digits, '.', '_' or '-', not " \
	"starting with '.')"

/* Every file is a plain single-link file owned by the daemon's user:
 * ownership and mode are not stored in the catalog (see chmod). */
static void fs_fix_stat(const struct tfs_fs *fs, struct stat *st)
{
	/* Never setuid, setgid or sticky: the kernel is told (kio.c) that
	 * writes need not ask to clear them. */
	mode_t perm = st->st_mode & 0777;

	st->st_mode = S_IFREG | (perm ? perm : 0644);
	st->st_nlink = 1;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	if (st->st_blksize == 0)
		st->st_blksize = 4096;
}

static void fs_root_stat(const struct tfs_fs *fs, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFDIR | 0755;
	st->st_nlink = 2;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_blksize = 4096;
	st->st_atim.tv_sec = st->st_mtim.tv_sec = st->st_ctim.tv_sec = fs->mount_time;
}

/* ---- setup ---------------------------------------------------------- */

static void *fs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	struct tfs_fs *fs = fs_ctx();

	/* Unlinking an open side file must remove it, not rename it to
	 * .fuse_hidden (rename is refused here anyway). */
	cfg->hard_remove = 1;
	cfg->use_ino = 0;
	cfg->nullpath_ok = 1;
	/* The page cache is kept across opens only when the engine says the
	 * content did not change (keep_cache per open). */
	cfg->kernel_cache = 0;
	cfg->auto_cache = 0;
	cfg->direct_io = 0;

	/* The writeback cache lets the kernel merge SQLite's small page
	 * writes before they reach us. Measured with tests/bench/bench.py on
	 * the embedded store (a loaded 2-core machine, so noisy): 2000 WAL
	 * transactions 0.68 s with it, 0.72 s without; the rollback journal
	 * was within noise. Kept on; open() turns O_WRONLY into O_RDWR. */
	if (__atomic_load_n(&fs->writeback, __ATOMIC_RELAXED)) {
		if (conn->capable & FUSE_CAP_WRITEBACK_CACHE) {
			conn->want |= FUSE_CAP_WRITEBACK_CACHE;
		} else {
			log_warn("kernel lacks the FUSE writeback cache: writes go through");
			__atomic_store_n(&fs->writeback, 0, __ATOMIC_RELAXED);
		}
	}
	/* No lock/flock operation: the kernel keeps POSIX locks locally,
	 * which is what several SQLite processes on this node need. */
	conn->want &= ~(unsigned)(FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS);
	/* Only this mount writes the cache files while they are open (a
	 * fault-in replaces a file that no one has open, and open() then
	 * drops the page cache: keep_cache). So a new mtime or size in a
	 * getattr reply is our own write, and must not throw away the page
	 * cache: with the default auto_inval_data every transaction's write
	 * made the next getattr invalidate the whole database's pages, and
	 * SQLite read them back through the daemon. */
	conn->want &= ~(unsigned)FUSE_CAP_AUTO_INVAL_DATA;
	if (conn->capable & FUSE_CAP_EXPLICIT_INVAL_DATA)
		conn->want |= FUSE_CAP_EXPLICIT_INVAL_DATA;
	log_info("mounted: writeback cache %s, entry/attr timeout %.1f/%.1f s, negative %.1f s",
		 __atomic_load_n(&fs->writeback, __ATOMIC_RELAXED) ? "on" : "off",
		 cfg->entry_timeout, cfg->attr_timeout, cfg->negative_timeout);
	return fs;
}

/* ---- attributes ----------------------------------------------------- */

static int fs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct tfs_fs *fs = fs_count(FS_OP_GETATTR);
	char id[CAT_ID_MAX + 1];
	const char *suffix;
	int rc;

	if (fi && fi->fh) {
		rc = tfile_fstat(fs_handle(fi)->f, st);
	} else if (path && strcmp(path, "/") == 0) {
		fs_root_stat(fs, st);
		return 0;
	} else if (fs_parse(path, id, &suffix) == NAME_INVALID) {
		return -ENOENT;
	} else {
		rc = tcache_getattr(fs->tc, id, suffix, st);
	}
	if (rc == 0)
		fs_fix_stat(fs, st);
	return rc;
}

/* Mode and owner are not part of a database's state in the catalog, so
 * they cannot follow it to another node. They are accepted and dropped,
 * so that `cp -p`, `install` and `rsync -a` (which chown and chmod as
 * root) work; getattr keeps showing 0644 and the daemon's user. */
static int fs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	fs_count(FS_OP_SETATTR);
	return 0;
}

static int fs_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	fs_count(FS_OP_SETATTR);
	return 0;
}

/* Times: the cache file's mtime is what getattr shows; SQLite never sets
 * times, cp -p and the kernel's writeback cache (on flush) do. Accepted,
 * not persisted. */
static int fs_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	fs_count(FS_OP_SETATTR);
	return 0;
}

static int fs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct tfs_fs *fs = fs_count(FS_OP_SETATTR);
	char id[CAT_ID_MAX + 1];
	const char *suffix;

	if (size < 0)
		return -EINVAL;
	if (fi && fi->fh)
		return tfile_truncate(fs_handle(fi)->f, size);
	if (fs_parse(path, id, &suffix) == NAME_INVALID)
		return path && strcmp(path, "/") == 0 ? -EISDIR : -ENOENT;
	return tcache_truncate(fs->tc, id, suffix, size);
}

/* ---- namespace ------------------------------------------------------ */

struct fs_dir_fill {
	const struct tfs_fs *fs;
	void *buf;
	fuse_fill_dir_t filler;
	int plus; /* the kernel asked for READDIRPLUS */
};

static int fs_readdir_cb(void *arg, const char *name, const struct stat *st)
{
	struct fs_dir_fill *d = arg;
	struct stat copy;

	if (st && d->plus) {
		copy = *st;
		fs_fix_stat(d->fs, &copy);
		return d->filler(d->buf, name, &copy, 0, FUSE_FILL_DIR_PLUS);
	}
	return d->filler(d->buf, name, NULL, 0, 0);
}

static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct tfs_fs *fs = fs_count(FS_OP_READDIR);
	struct fs_dir_fill d = {
	    .fs = fs, .buf = buf, .filler = filler, .plus = !!(flags & FUSE_READDIR_PLUS)};
	struct stat root;
	int rc;

	/* The root is the only directory; with nullpath_ok libfuse passes no
	 * path to directory handles. */
	if (path && strcmp(path, "/") != 0)
		return -ENOTDIR;
	/* Offsets are not used (0 to filler): libfuse buffers the listing and
	 * serves the kernel's pages from it, so one catalog scan per opendir. */
	fs_root_stat(fs, &root);
	if (filler(buf, ".", &root, 0, 0) || filler(buf, "..", NULL, 0, 0))
		return -ENOMEM;
	rc = tcache_readdir(fs->tc, fs_readdir_cb, &d);
	if (rc > 0)
		rc = 0; /* stopped by a full buffer: libfuse reports it */
	if (rc < 0)
		log_warn("cannot list the databases: %s", strerror(-rc));
	return rc < 0 ? rc : 0;
}

static int fs_unlink(const char *path)
{
	char id[CAT_ID_MAX + 1];
	const char *suffix;

	fs_count(FS_OP_UNLINK);
	if (fs_parse(path, id, &suffix) == NAME_INVALID)
		return -ENOENT;
	return tcache_unlink(fs_ctx()->tc, id, suffix);
}

/* The root is flat and names are bound to database ids: no directories,
 * no links, no renames (a rename would change a database's identity). */
static int fs_mkdir(const char *path, mode_t mode)
{
	return fs_refuse("mkdir", path, -EPERM, "the root is flat, it holds databases only");
}

static int fs_rmdir(const char *path)
{
	return fs_refuse("rmdir", path, -EPERM, "the root is flat, it holds databases only");
}

static int fs_rename(const char *from, const char *to, unsigned int flags)
{
	return fs_refuse("rename", from, -EPERM,
			 "a database's name is its identity (copy it to the new name instead)");
}

static int fs_link(const char *from, const char *to)
{
	return fs_refuse("link", to, -EPERM, "no hard links: one name per database");
}

static int fs_symlink(const char *target, const char *path)
{
	return fs_refuse("symlink", path, -EPERM, "no symbolic links: databases only");
}

/* ---- files ---------------------------------------------------------- */

static int fs_open_common(const char *path, int flags, mode_t mode, struct fuse_file_info *fi)
{
	struct tfs_fs *fs = fs_count(FS_OP_OPEN);
	char id[CAT_ID_MAX + 1];
	const char *suffix;
	struct fs_file *h = NULL;
	bool keep = false;
	int rc;

	if (fs_parse(path, id, &suffix) == NAME_INVALID)
		return (flags & O_CREAT) ? fs_refuse("create", path, -EINVAL, FS_NAME_RULE)
					 : -ENOENT;
	/* With the writeback cache the kernel reads pages to fill partial
	 * writes even on O_WRONLY files, and it positions appends itself. */
	if (__atomic_load_n(&fs->writeback, __ATOMIC_RELAXED)) {
		if ((flags & O_ACCMODE) == O_WRONLY)
			flags = (flags & ~O_ACCMODE) | O_RDWR;
		flags &= ~O_APPEND;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	rc = tcache_open(fs->tc, id, suffix, flags, mode, &h->f, &keep);
	if (rc < 0) {
		free(h);
		return rc;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->keep_cache = keep;
	fi->direct_io = 0;
	/* Without the writeback cache every write error reaches write(2)
	 * itself, so flush has nothing left to report: the kernel then skips
	 * the FLUSH round trip at every close (SQLite closes the rollback
	 * journal at every commit). */
	fi->noflush = !__atomic_load_n(&fs->writeback, __ATOMIC_RELAXED);
	return 0;
}

static int fs_open(const char *path, struct fuse_file_info *fi)
{
	return fs_open_common(path, fi->flags & ~O_CREAT, 0, fi);
}

static int fs_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	return fs_open_common(path, fi->flags | O_CREAT, mode, fi);
}

/* Only reached when create is not used (e.g. mknod(2) itself): make an
 * empty regular file; any other type has no place here. */
static int fs_mknod(const char *path, mode_t mode, dev_t rdev)
{
	struct fuse_file_info fi;
	int rc;

	if (!S_ISREG(mode))
		return fs_refuse("mknod", path, -EPERM, "only regular files (databases)");
	memset(&fi, 0, sizeof(fi));
	rc = fs_open_common(path, O_CREAT | O_EXCL | O_RDWR, mode, &fi);
	if (rc < 0)
		return rc;
	rc = tfile_close(fs_handle(&fi)->f);
	free(fs_handle(&fi));
	return rc;
}

static int fs_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	ssize_t n;

	fs_count(FS_OP_READ);
	if (size > INT_MAX)
		size = INT_MAX;
	n = tfile_read(fs_handle(fi)->f, buf, size, off);
	return (int)n;
}

static int fs_write(const char *path, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fs_file *h = fs_handle(fi);
	ssize_t n;
	int zero = 0;

	fs_count(FS_OP_WRITE);
	if (size > INT_MAX)
		size = INT_MAX;
	n = tfile_write(h->f, buf, size, off);
	if (n < 0)
		__atomic_compare_exchange_n(&h->err, &zero, (int)n, 0, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED);
	return (int)n;
}

static int fs_flush(const char *path, struct fuse_file_info *fi)
{
	fs_count(FS_OP_FLUSH);
	return __atomic_exchange_n(&fs_handle(fi)->err, 0, __ATOMIC_RELAXED);
}

static int fs_release(const char *path, struct fuse_file_info *fi)
{
	struct fs_file *h = fs_handle(fi);
	int rc;

	fs_count(FS_OP_RELEASE);
	rc = tfile_close(h->f);
	if (rc < 0)
		log_warn("closing %s failed: %s", path ? path : "an unlinked file", strerror(-rc));
	free(h);
	fi->fh = 0;
	return rc;
}

static int fs_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	struct fs_file *h = fs_handle(fi);
	int rc;

	fs_count(FS_OP_FSYNC);
	rc = tfile_fsync(h->f, datasync);
	if (rc == 0)
		rc = __atomic_exchange_n(&h->err, 0, __ATOMIC_RELAXED);
	return rc;
}

static int fs_fsyncdir(const char *path, int datasync, struct fuse_file_info *fi)
{
	fs_count(FS_OP_FSYNCDIR);
	/* The directory is the catalog: nothing to sync locally. A side
	 * file's name in the cache folder is made durable by the fsync of the
	 * file itself (ext4, XFS and btrfs commit the creation with it), which
	 * SQLite always does before relying on a journal. ENOSYS makes the
	 * kernel answer every later fsync(dir) with success by itself: SQLite
	 * syncs the directory after creating each rollback journal, a round
	 * trip per transaction saved. */
	return -ENOSYS;
}

static int fs_statfs(const char *path, struct statvfs *st)
{
	fs_count(FS_OP_OTHER);
	if (statvfs(fs_ctx()->cache_dir, st) < 0)
		return -errno;
	st->f_namemax = CAT_ID_MAX + 16;
	return 0;
}

/* ---- extended attributes -------------------------------------------- */

static int fs_getxattr(const char *path, const char *name, char *value, size_t size)
{
	char id[CAT_ID_MAX + 1];
	const char *suffix;
	ssize_t n;

	fs_count(FS_OP_XATTR);
	if (fs_parse(path, id, &suffix) == NAME_INVALID)
		return path && strcmp(path, "/") == 0 ? -ENODATA : -ENOENT;
	n = tcache_getxattr(fs_ctx()->tc, id, name, value, size);
	return n > INT_MAX ? -E2BIG : (int)n;
}

static int fs_listxattr(const char *path, char *list, size_t size)
{
	char id[CAT_ID_MAX + 1];
	const char *suffix;
	ssize_t n;

	fs_count(FS_OP_XATTR);
	if (fs_parse(path, id, &suffix) == NAME_INVALID)
		return path && strcmp(path, "/") == 0 ? 0 : -ENOENT;
	n = tcache_listxattr(fs_ctx()->tc, id, list, size);
	return n > INT_MAX ? -E2BIG : (int)n;
}

/* The attributes show engine state: they are read-only. */
static int fs_setxattr(const char *path, const char *name, const char *value, size_t size,
		       int flags)
{
	fs_count(FS_OP_XATTR);
	return -ENOTSUP;
}

static int fs_removexattr(const char *path, const char *name)
{
	fs_count(FS_OP_XATTR);
	return -ENOTSUP;
}

/* ---- the table ------------------------------------------------------ */

static const struct fuse_operations fs_ops = {
    .init = fs_init,
    .getattr = fs_getattr,
    .chmod = fs_chmod,
    .chown = fs_chown,
    .utimens = fs_utimens,
    .truncate = fs_truncate,
    .readdir = fs_readdir,
    .unlink = fs_unlink,
    .mkdir = fs_mkdir,
    .rmdir = fs_rmdir,
    .rename = fs_rename,
    .link = fs_link,
    .symlink = fs_symlink,
    .mknod = fs_mknod,
    .open = fs_open,
    .create = fs_create,
    .read = fs_read,
    .write = fs_write,
    .flush = fs_flush,
    .release = fs_release,
    .fsync = fs_fsync,
    .fsyncdir = fs_fsyncdir,
    .statfs = fs_statfs,
    .getxattr = fs_getxattr,
    .listxattr = fs_listxattr,
    .setxattr = fs_setxattr,
    .removexattr = fs_removexattr,
};

const struct fuse_operations *tfs_fs_operations(void)
{
	return &fs_ops;
}

void tfs_fs_log_counters(struct tfs_fs *fs)
{
	static const char *const names[FS_NOPS] = {
	    [FS_OP_GETATTR] = "getattr", [FS_OP_SETATTR] = "setattr", [FS_OP_OPEN] = "open",
	    [FS_OP_READ] = "read",	 [FS_OP_WRITE] = "write",     [FS_OP_FLUSH] = "flush",
	    [FS_OP_RELEASE] = "release", [FS_OP_FSYNC] = "fsync",     [FS_OP_FSYNCDIR] = "fsyncdir",
	    [FS_OP_UNLINK] = "unlink",	 [FS_OP_READDIR] = "readdir", [FS_OP_XATTR] = "xattr",
	    [FS_OP_OTHER] = "other"};
	char line[512] = "";
	size_t len = 0;
	int i, n;

	for (i = 0; i < FS_NOPS && len < sizeof(line); i++) {
		n = snprintf(line + len, sizeof(line) - len, " %s=%llu", names[i],
			     (unsigned long long)__atomic_load_n(&fs->ops[i], __ATOMIC_RELAXED));
		if (n < 0)
			break;
		len += (size_t)n;
	}
	log_info("fuse requests:%s", line);
}
