/* Unit tests of s3/base/fsutil.c: full writes and reads, mkdir -p, directory
 * fsync and whole-file copies by each method (clone, copy_file_range,
 * read/write), checked byte for byte. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "s3/base/fsutil.h"
#include "tests/unit/tap.h"

static char root[256];

static int open_tmp(const char *name, int flags)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", root, name);
	return open(path, flags | O_CLOEXEC, 0600);
}

static int same_content(int a, int b, size_t n)
{
	char *x = malloc(n + 1), *y = malloc(n + 1);
	size_t ga = 0, gb = 0;
	int same = x && y && fs_read_full(a, x, n + 1, 0, &ga) == 0 &&
		   fs_read_full(b, y, n + 1, 0, &gb) == 0 && ga == n && gb == n &&
		   memcmp(x, y, n) == 0;

	free(x);
	free(y);
	return same;
}

/* 1 when the first extent of fd is shared with another file (a reflink),
 * 0 when not, -1 when FIEMAP cannot tell. */
static int first_extent_shared(int fd)
{
	char buf[sizeof(struct fiemap) + sizeof(struct fiemap_extent)];
	struct fiemap *fm = (struct fiemap *)buf;

	memset(buf, 0, sizeof(buf));
	fm->fm_length = ~0ULL;
	fm->fm_flags = FIEMAP_FLAG_SYNC;
	fm->fm_extent_count = 1;
	if (ioctl(fd, FS_IOC_FIEMAP, fm) < 0 || fm->fm_mapped_extents < 1)
		return -1;
	return (fm->fm_extents[0].fe_flags & FIEMAP_EXTENT_SHARED) ? 1 : 0;
}

static void rm_rf(const char *path)
{
	char cmd[600];

	/* root comes from mkdtemp under /tmp: safe to quote. */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	if (system(cmd) != 0)
		printf("# cleanup of %s failed\n", path);
}

int main(void)
{
	const size_t n = 3u * 1024 * 1024 + 777;
	const char *names[] = {"clone", "copy_file_range", "read/write"};
	char *buf = malloc(n), path[512], small[16];
	struct stat st;
	size_t got, i;
	int src, dst, rc, how, can_clone, can_range, shared;
	enum fs_copy_method used;
	uint64_t size;

	/* TFS_TEST_REFLINK_DIR names a folder on a filesystem with reflinks
	 * (XFS, btrfs) to test the clone path for real; /tmp otherwise. */
	snprintf(root, sizeof(root), "%s/tfs-fsutil-XXXXXX",
		 getenv("TFS_TEST_REFLINK_DIR") ? getenv("TFS_TEST_REFLINK_DIR") : "/tmp");
	if (!mkdtemp(root) || !buf) {
		printf("not ok - cannot make a temp dir\n");
		return 1;
	}
	for (i = 0; i < n; i++)
		buf[i] = (char)(i * 7 + (i >> 12));

	/* fs_write_all / fs_read_full */
	src = open_tmp("src", O_RDWR | O_CREAT | O_TRUNC);
	rc = fs_write_all(src, buf, n, 0);
	TAP_OK(rc == 0 && fstat(src, &st) == 0 && (size_t)st.st_size == n,
	       "fs_write_all writes %zu bytes (rc %d)", n, rc);
	rc = fs_write_all(src, "XY", 2, 10);
	rc |= fs_read_full(src, small, 4, 9, &got);
	TAP_OK(rc == 0 && got == 4 && memcmp(small, (char[]){buf[9], 'X', 'Y', buf[12]}, 4) == 0,
	       "fs_write_all writes at the given offset");
	rc = fs_write_all(src, buf + 10, 2, 10);
	TAP_OK(rc == 0 && lseek(src, 0, SEEK_CUR) == 0, "file position untouched by fs_write_all");
	rc = fs_read_full(src, small, sizeof(small), (off_t)n - 3, &got);
	TAP_OK(rc == 0 && got == 3, "fs_read_full stops at end of file (got %zu)", got);
	rc = fs_write_all(-1, "x", 1, 0);
	TAP_OK(rc == -EBADF, "fs_write_all on a bad fd -> -EBADF (rc %d)", rc);

	/* What this filesystem can do, probed by hand: each copy must report
	 * the method that really ran, so a clone or copy_file_range that
	 * silently fell back to read/write fails here. */
	{
		int p1 = open_tmp("probe1", O_RDWR | O_CREAT | O_TRUNC);
		int p2 = open_tmp("probe2", O_RDWR | O_CREAT | O_TRUNC);
		int p3 = open_tmp("probe3", O_RDWR | O_CREAT | O_TRUNC);
		loff_t in = 0, out = 0;

		fs_write_all(p1, buf, 65536, 0);
		fsync(p1);
		can_clone = ioctl(p2, FICLONE, p1) == 0;
		can_range = copy_file_range(p1, &in, p3, &out, 65536, 0) > 0;
		printf("# reflink %s, copy_file_range %s on %s\n",
		       can_clone ? "supported" : "not supported",
		       can_range ? "supported" : "not supported", root);
		close(p1);
		close(p2);
		close(p3);
	}
	/* copies, by each method */
	for (how = FS_COPY_CLONE; how <= FS_COPY_RW; how++) {
		enum fs_copy_method want = (enum fs_copy_method)how;

		if (want == FS_COPY_CLONE && !can_clone)
			want = FS_COPY_RANGE;
		if (want == FS_COPY_RANGE && !can_range)
			want = FS_COPY_RW;
		dst = open_tmp("dst", O_RDWR | O_CREAT | O_TRUNC);
		/* Longer stale content first: the copy must truncate it. */
		fs_write_all(dst, buf, n, 0);
		fs_write_all(dst, "garbage", 7, (off_t)n + 100);
		size = 0;
		used = (enum fs_copy_method) - 1;
		rc = fs_copy_file_with(src, dst, &size, (enum fs_copy_method)how, &used);
		TAP_OK(rc == 0 && size == n, "copy by %s returns 0 and size %zu (rc %d size %llu)",
		       names[how], n, rc, (unsigned long long)size);
		TAP_OK(used == want, "copy starting at %s is done by %s (reported %d, want %d)",
		       names[how], names[want], (int)used, (int)want);
		TAP_OK(same_content(src, dst, n), "copy by %s is byte-identical and truncated",
		       names[how]);
		close(dst);
	}
	dst = open_tmp("dst2", O_RDWR | O_CREAT | O_TRUNC);
	rc = fs_copy_file(src, dst, &size);
	TAP_OK(rc == 0 && size == n && same_content(src, dst, n), "fs_copy_file copies (rc %d)",
	       rc);
	/* Where this filesystem clones, the copy must share its extents;
	 * where it does not, the fallback must not. */
	shared = first_extent_shared(dst);
	TAP_OK(shared == -1 || shared == can_clone,
	       "copy shares extents exactly when the filesystem clones (shared %d, clone %d)",
	       shared, can_clone);
	close(dst);
	dst = open_tmp("empty", O_RDWR | O_CREAT | O_TRUNC);
	close(src);
	src = open_tmp("empty2", O_RDWR | O_CREAT | O_TRUNC);
	fs_write_all(dst, "abc", 3, 0);
	size = 99;
	rc = fs_copy_file_with(src, dst, &size, FS_COPY_RW, NULL);
	TAP_OK(rc == 0 && size == 0 && fstat(dst, &st) == 0 && st.st_size == 0,
	       "copy of an empty file leaves an empty file");
	close(dst);
	dst = open_tmp("src", O_RDONLY);
	rc = fs_copy_file_with(src, dst, NULL, FS_COPY_RANGE, NULL);
	TAP_OK(rc < 0, "copy into a read-only fd fails (rc %d)", rc);
	close(dst);
	close(src);

	/* mkdir -p */
	snprintf(path, sizeof(path), "%s/a/b//c/d", root);
	rc = fs_mkdir_p(path, 0700);
	TAP_OK(rc == 0 && stat(path, &st) == 0 && S_ISDIR(st.st_mode), "fs_mkdir_p makes a/b/c/d");
	rc = fs_mkdir_p(path, 0700);
	TAP_OK(rc == 0, "fs_mkdir_p on an existing dir returns 0 (rc %d)", rc);
	snprintf(path, sizeof(path), "%s/src/x", root);
	rc = fs_mkdir_p(path, 0700);
	TAP_OK(rc == -ENOTDIR, "fs_mkdir_p under a file -> -ENOTDIR (rc %d)", rc);
	snprintf(path, sizeof(path), "%s/src", root);
	rc = fs_mkdir_p(path, 0700);
	TAP_OK(rc == -ENOTDIR, "fs_mkdir_p of a file -> -ENOTDIR (rc %d)", rc);
	TAP_OK(fs_mkdir_p("", 0700) == -EINVAL, "fs_mkdir_p of \"\" -> -EINVAL");

	/* fsync dir */
	rc = fs_fsync_dir(root);
	TAP_OK(rc == 0, "fs_fsync_dir of a dir returns 0 (rc %d)", rc);
	snprintf(path, sizeof(path), "%s/nope", root);
	rc = fs_fsync_dir(path);
	TAP_OK(rc == -ENOENT, "fs_fsync_dir of a missing dir -> -ENOENT (rc %d)", rc);
	snprintf(path, sizeof(path), "%s/src", root);
	rc = fs_fsync_dir(path);
	TAP_OK(rc == -ENOTDIR, "fs_fsync_dir of a file -> -ENOTDIR (rc %d)", rc);

	/* getxattr replies: the size asked for, too small a buffer, a copy */
	memset(small, 'x', sizeof(small));
	TAP_OK(fs_xattr_reply("abcd", 4, NULL, 0) == 4,
	       "fs_xattr_reply with size 0 gives the length");
	TAP_OK(fs_xattr_reply("abcd", 4, small, 3) == -ERANGE && small[0] == 'x',
	       "fs_xattr_reply into a smaller buffer -> -ERANGE, nothing copied");
	TAP_OK(fs_xattr_reply("abcd", 4, small, 4) == 4 && !memcmp(small, "abcd", 4) &&
		   small[4] == 'x',
	       "fs_xattr_reply copies the bytes, unterminated");

	rm_rf(root);
	free(buf);
	return TAP_DONE();
}
