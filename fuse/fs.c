/* FUSE operations of tenantfs on the high-level libfuse3 API: names are
 * checked with tfs_parse_name, data and namespace calls go to the cache
 * engine, and the kernel is configured for SQLite's access pattern. */
#include "fuse/fs.h"
#include "fuse/fs_i.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "cache/engine/cache.h"
#include "fuse/setup.h"
#include "s3/base/log.h"
#include "s3/wire/http.h"

/* An open file: the engine's handle plus the first write error not yet
 * reported. Writes fail in the kernel's writeback threads long after the
 * write(2) that made the page dirty; flush is the last place an error can
 * still reach the application (close(2)), release never does. */
struct fs_file {
	struct tfile *f;
	int err; /* a negative errno or 0; accessed with __atomic builtins */
};

struct tfs_fs *fs_ctx(void)
{
	return fuse_get_context()->private_data;
}

struct tfs_fs *fs_count(enum fs_op op)
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
enum name_kind fs_parse(const char *path, char id[CAT_ID_MAX + 1], const char **suffix)
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

/* A refused operation is the caller's mistake, not ours: say what was
 * refused and why, so that the errno an application got can be explained
 * from the log. Returns err. */
static int fs_refuse_at(int level, const char *op, const char *path, int err, const char *why)
{
	char name[256];

	tfs_log(level, "cannot %s %s: %s", op, fs_printable(path, name, sizeof(name)), why);
	return err;
}

static int fs_refuse(const char *op, const char *path, int err, const char *why)
{
	return fs_refuse_at(LOG_NOTICE, op, path, err, why);
}

#define FS_NAME_RULE                                                                       \
	"not a database name (<id>.db, id of 1-128 letters, digits, '.', '_' or '-', not " \
	"starting with '.')"

/* ---- permissions -----------------------------------------------------
 *
 * Owner, group and mode are a policy of the whole mount (uid=, gid=,
 * umask=), not a property of each database: the catalog stores none, so a
 * per-file mode could not follow a database to another node, and a mode
 * kept on one node alone would grant there what another node refuses. The
 * kernel enforces what getattr shows (default_permissions is always on,
 * options.c), which with allow_other is the only thing keeping the other
 * local users out. chmod and chown to what a file already has succeed (cp
 * -p, install -m, SQLite's fchown of a new journal as root); to anything
 * else they fail with EPERM, never succeed without effect. */

/* Every file, side files included: never setuid, setgid or sticky (the
 * kernel is told, kio.c, that writes need not ask to clear them). */
static mode_t fs_file_perm(const struct tfs_fs *fs)
{
	return 0666 & ~fs->umask;
}

/* The root: creating and unlinking databases is the owner's alone, so it
 * is never group or other writable; reading and searching follow umask. */
static mode_t fs_root_perm(const struct tfs_fs *fs)
{
	return 0777 & ~fs->umask & ~(mode_t)(S_IWGRP | S_IWOTH);
}

int fs_is_root(const char *path)
{
	return path && strcmp(path, "/") == 0;
}

/* Every file is a plain single-link file with the mount's owner and mode. */
static void fs_fix_stat(const struct tfs_fs *fs, struct stat *st)
{
	st->st_mode = S_IFREG | fs_file_perm(fs);
	st->st_nlink = 1;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	if (st->st_blksize == 0)
		st->st_blksize = 4096;
}

static void fs_root_stat(const struct tfs_fs *fs, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFDIR | fs_root_perm(fs);
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
	log_info("permissions: every file %lu:%lu mode %04o, the root %04o (umask=%03o), "
		 "checked by the kernel (default_permissions)",
		 (unsigned long)fs->uid, (unsigned long)fs->gid, (unsigned)fs_file_perm(fs),
		 (unsigned)fs_root_perm(fs), (unsigned)fs->umask);
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
	} else if (fs_is_root(path)) {
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

/* See "permissions" above. The kernel has already checked that the caller
 * owns the file (or is root). Refusals are logged at info, not notice: a
 * `cp -rp` of a tree may meet one per file. path is NULL for an open file
 * that was unlinked (nullpath_ok): a file, not the root. */
static int fs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct tfs_fs *fs = fs_count(FS_OP_SETATTR);
	mode_t have = fs_is_root(path) ? fs_root_perm(fs) : fs_file_perm(fs);
	char why[160];

	if ((mode & 07777) == have)
		return 0;
	snprintf(why, sizeof(why),
		 "mode %04o asked, but modes are the mount's: %s %04o (umask=%03o, tenantfs(8))",
		 (unsigned)(mode & 07777), fs_is_root(path) ? "the root has" : "every file has",
		 (unsigned)have, (unsigned)fs->umask);
	return fs_refuse_at(LOG_INFO, "chmod", path ? path : "an unlinked file", -EPERM, why);
}

/* (uid_t)-1 and (gid_t)-1 leave that one unchanged. */
static int fs_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	struct tfs_fs *fs = fs_count(FS_OP_SETATTR);
	char why[160];

	if ((uid == (uid_t)-1 || uid == fs->uid) && (gid == (gid_t)-1 || gid == fs->gid))
		return 0;
	snprintf(why, sizeof(why),
		 "owner %ld:%ld asked, but owners are the mount's: everything belongs to "
		 "%lu:%lu (uid=, gid=, tenantfs(8))",
		 uid == (uid_t)-1 ? -1L : (long)uid, gid == (gid_t)-1 ? -1L : (long)gid,
		 (unsigned long)fs->uid, (unsigned long)fs->gid);
	return fs_refuse_at(LOG_INFO, "chown", path ? path : "an unlinked file", -EPERM, why);
}

/* Times: the cache file's mtime is what getattr shows; SQLite never sets
 * times, cp -p and the kernel's writeback cache (on flush) do. Accepted,
 * not persisted: unlike a mode, a time grants nothing. */
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
		return fs_is_root(path) ? -EISDIR : -ENOENT;
	return tcache_truncate(fs->tc, id, suffix, size);
}

/* ---- namespace ------------------------------------------------------ */

/* The root directory is listed in offset mode (non-zero offsets to the
 * filler): libfuse then passes every READDIR of the kernel through to us
 * with the offset to resume from, instead of buffering the whole listing
 * per opendir. An open directory holds one page of the engine's listing.
 *
 * Positions: 0 is ".", 1 is "..", 2 + k the k-th name of the listing; the
 * offset handed to the filler for position i is i + 1, and the kernel
 * comes back with the offset of the last entry it kept, which is the
 * position to resume at. libfuse serializes the requests of one directory
 * handle (its dh->lock), so a fs_dir needs no lock of its own. */
struct fs_dirent {
	char *name;
	struct stat st;
	int has_st;
};

struct fs_dir {
	struct tdir *td;       /* the engine's cursor; NULL: start over */
	struct fs_dirent *ent; /* the current page */
	size_t n, cap;
	off_t base;		 /* position of ent[0] */
	int more;		 /* the engine may have pages after this one */
	int err;		 /* a failure while filling the page */
	const struct tfs_fs *fs; /* for fs_fix_stat */
};

/* Positions skipped without being sent, per request, before giving up on
 * a seek far ahead (seekdir to an offset of a listing long gone). */
#define FS_DIR_SKIP_MAX (64L * 1024 * 1024)

static struct fs_dir *fs_dir_handle(const struct fuse_file_info *fi)
{
	return (struct fs_dir *)(uintptr_t)fi->fh;
}

static void fs_dir_clear(struct fs_dir *d)
{
	size_t k;

	for (k = 0; k < d->n; k++)
		free(d->ent[k].name);
	d->n = 0;
}

static void fs_dir_reset(struct fs_dir *d)
{
	fs_dir_clear(d);
	tcache_readdir_close(d->td);
	d->td = NULL;
	d->base = 2;
	d->more = 1;
}

static int fs_dir_add(void *arg, const char *name, const struct stat *st)
{
	struct fs_dir *d = arg;
	struct fs_dirent *nv;
	size_t cap;

	if (d->n == d->cap) {
		cap = d->cap ? d->cap * 2 : 64;
		nv = realloc(d->ent, cap * sizeof(*nv));
		if (!nv)
			return d->err = -ENOMEM;
		d->ent = nv;
		d->cap = cap;
	}
	nv = &d->ent[d->n];
	nv->name = strdup(name);
	if (!nv->name)
		return d->err = -ENOMEM;
	nv->has_st = st != NULL;
	if (st) {
		nv->st = *st;
		fs_fix_stat(d->fs, &nv->st);
	}
	d->n++;
	return 0;
}

/* Moves to the next page: 1 when there is one (maybe empty), 0 at the
 * end, or a negative errno. */
static int fs_dir_next_page(struct tcache *tc, struct fs_dir *d)
{
	int rc;

	d->base += (off_t)d->n;
	fs_dir_clear(d);
	if (!d->more)
		return 0;
	if (!d->td) {
		rc = tcache_readdir_open(tc, &d->td);
		if (rc < 0)
			return rc;
	}
	d->err = 0;
	rc = tcache_readdir_next(d->td, fs_dir_add, d);
	if (rc < 0)
		return rc;
	/* A page cut short by memory ended the listing in the engine. */
	if (d->err < 0)
		return d->err;
	d->more = rc > 0;
	return 1;
}

static int fs_opendir(const char *path, struct fuse_file_info *fi)
{
	struct tfs_fs *fs = fs_count(FS_OP_OTHER);
	struct fs_dir *d;

	if (path && strcmp(path, "/") != 0)
		return -ENOTDIR;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->fs = fs;
	fs_dir_reset(d);
	fi->fh = (uint64_t)(uintptr_t)d;
	return 0;
}

static int fs_releasedir(const char *path, struct fuse_file_info *fi)
{
	struct fs_dir *d = fs_dir_handle(fi);

	fs_count(FS_OP_OTHER);
	if (d) {
		fs_dir_clear(d);
		tcache_readdir_close(d->td);
		free(d->ent);
		free(d);
	}
	fi->fh = 0;
	return 0;
}

static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct tfs_fs *fs = fs_count(FS_OP_READDIR);
	struct fs_dir *d = fs_dir_handle(fi);
	int plus = !!(flags & FUSE_READDIR_PLUS);
	struct fs_dirent *e;
	struct stat root;
	long skipped = 0;
	off_t pos = off;
	int rc;

	if (!d)
		return -EBADF;
	/* A rewind (offset 0) lists afresh, as SUS wants of rewinddir(); an
	 * offset before the page held (seekdir back) restarts the listing and
	 * skips to it. */
	if (off <= 0 || off < d->base) {
		fs_dir_reset(d);
		pos = off > 0 ? off : 0;
	}
	fs_root_stat(fs, &root);
	if (pos == 0) {
		if (filler(buf, ".", &root, 1, 0))
			return 0;
		pos = 1;
	}
	if (pos == 1) {
		if (filler(buf, "..", &root, 2, 0))
			return 0;
		pos = 2;
	}
	for (;;) {
		while (pos >= d->base + (off_t)d->n) {
			/* Bounded: each page moves base forward or ends. */
			skipped += (long)d->n;
			if (skipped > FS_DIR_SKIP_MAX)
				return -EINVAL;
			rc = fs_dir_next_page(fs->tc, d);
			if (rc == 0)
				return 0;
			if (rc < 0) {
				log_warn("cannot list the databases: %s", strerror(-rc));
				fs_dir_reset(d);
				return rc;
			}
		}
		e = &d->ent[pos - d->base];
		if (e->has_st && plus)
			rc = filler(buf, e->name, &e->st, pos + 1, FUSE_FILL_DIR_PLUS);
		else
			rc = filler(buf, e->name, e->has_st ? &e->st : NULL, pos + 1, 0);
		if (rc)
			return 0; /* the reply is full: the kernel asks again from here */
		pos++;
	}
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

/* The mode asked for is not what the file shows: modes are the mount's
 * (see "permissions"), as on a FAT file system. */
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

/* ---- the table ------------------------------------------------------ */

static const struct fuse_operations fs_ops = {
    .init = fs_init,
    .getattr = fs_getattr,
    .chmod = fs_chmod,
    .chown = fs_chown,
    .utimens = fs_utimens,
    .truncate = fs_truncate,
    .opendir = fs_opendir,
    .readdir = fs_readdir,
    .releasedir = fs_releasedir,
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
