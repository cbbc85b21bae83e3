/* System-call helpers for the cache: EINTR-safe full reads and writes,
 * directory fsync, mkdir -p and whole-file copies with reflink first. */
#include "s3/base/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define COPY_CHUNK (1u << 20)

int fs_write_all(int fd, const void *buf, size_t len, off_t off)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

int fs_read_full(int fd, void *buf, size_t len, off_t off, size_t *got)
{
	char *p = buf;
	size_t done = 0;
	int rc = 0;

	while (done < len) {
		ssize_t n = pread(fd, p + done, len - done, off + (off_t)done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	if (got)
		*got = done;
	return rc;
}

int fs_fsync_dir(const char *dir)
{
	int fd, rc = 0;

	do
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return -errno;
	while (fsync(fd) < 0) {
		if (errno != EINTR) {
			rc = -errno;
			break;
		}
	}
	close(fd);
	return rc;
}

static int mkdir_one(const char *path, mode_t mode)
{
	struct stat st;

	if (mkdir(path, mode) == 0)
		return 0;
	if (errno != EEXIST)
		return -errno;
	if (stat(path, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int fs_mkdir_p(const char *path, mode_t mode)
{
	char *copy = NULL, *p;
	int rc;

	if (!path || !*path)
		return -EINVAL;
	copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	/* Create each parent in turn; skip repeated slashes. */
	for (p = copy + 1; *p; p++) {
		if (*p != '/' || p[-1] == '/')
			continue;
		*p = '\0';
		rc = mkdir_one(copy, mode);
		*p = '/';
		if (rc < 0)
			goto out;
	}
	rc = mkdir_one(copy, mode);
out:
	free(copy);
	return rc;
}

static int truncate_fd(int fd, off_t size)
{
	while (ftruncate(fd, size) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

/* Errors after which the next, plainer method is worth a try. */
static bool copy_fallback(int err)
{
	return err == EXDEV || err == ENOSYS || err == EOPNOTSUPP || err == EINVAL ||
	       err == ENOTTY || err == EPERM || err == ETXTBSY || err == EBADF;
}

static int copy_rw(int src, int dst, uint64_t *off)
{
	char *buf = malloc(COPY_CHUNK);
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		size_t got;

		rc = fs_read_full(src, buf, COPY_CHUNK, (off_t)*off, &got);
		if (rc < 0 || got == 0)
			break;
		rc = fs_write_all(dst, buf, got, (off_t)*off);
		if (rc < 0)
			break;
		*off += got;
	}
	free(buf);
	return rc;
}

int fs_copy_file_with(int src_fd, int dst_fd, uint64_t *size, enum fs_copy_method how,
		      enum fs_copy_method *used)
{
	struct stat st;
	uint64_t off = 0;
	enum fs_copy_method ran = FS_COPY_RW;
	int rc;

	/* First, for every method: a clone only grows the destination, it
	 * never cuts a longer old tail. */
	rc = truncate_fd(dst_fd, 0);
	if (rc < 0)
		return rc;
	if (how <= FS_COPY_CLONE) {
		int r;

		do
			r = ioctl(dst_fd, FICLONE, src_fd);
		while (r < 0 && errno == EINTR);
		if (r == 0) {
			if (fstat(dst_fd, &st) < 0)
				return -errno;
			off = (uint64_t)st.st_size;
			ran = FS_COPY_CLONE;
			goto out;
		}
		/* Not every filesystem clones: any failure falls through to a
		 * real copy, which reports a real error if there is one. */
	}
	if (how <= FS_COPY_RANGE) {
		for (;;) {
			loff_t in = (loff_t)off, outo = (loff_t)off;
			ssize_t n = copy_file_range(src_fd, &in, dst_fd, &outo, COPY_CHUNK, 0);

			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (copy_fallback(errno))
					break;
				return -errno;
			}
			if (n == 0) {
				rc = 0;
				ran = FS_COPY_RANGE;
				goto out;
			}
			off += (uint64_t)n;
		}
	}
	/* Continue with read/write from wherever copy_file_range stopped. */
	rc = copy_rw(src_fd, dst_fd, &off);
	if (rc < 0)
		return rc;
out:
	if (size)
		*size = off;
	if (used)
		*used = ran;
	return rc;
}

int fs_copy_file(int src_fd, int dst_fd, uint64_t *size)
{
	return fs_copy_file_with(src_fd, dst_fd, size, FS_COPY_CLONE, NULL);
}

ssize_t fs_xattr_reply(const char *v, size_t len, char *buf, size_t size)
{
	if (size == 0)
		return (ssize_t)len;
	if (size < len)
		return -ERANGE;
	memcpy(buf, v, len);
	return (ssize_t)len;
}
