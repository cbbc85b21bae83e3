/* Small system-call helpers every cache file needs: full writes, directory
 * fsync, mkdir -p and whole-file copies (reflink when the filesystem can).
 * All retry EINTR and return 0 or -errno; none keeps state between calls. */
#ifndef TFS_FSUTIL_H
#define TFS_FSUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Writes all len bytes of buf at offset off with pwrite (the file position
 * is not used). -EIO if the file stops taking bytes (write returns 0). */
int fs_write_all(int fd, const void *buf, size_t len, off_t off);

/* Reads up to len bytes at off with pread, stopping only at end of file;
 * *got (may be NULL) gets the count. */
int fs_read_full(int fd, void *buf, size_t len, off_t off, size_t *got);

/* fsyncs the directory dir, so a rename or create inside it is durable. */
int fs_fsync_dir(const char *dir);

/* Creates path and any missing parent with mode; an existing directory is
 * fine, an existing non-directory is -ENOTDIR. */
int fs_mkdir_p(const char *path, mode_t mode);

/* Copies the whole of src_fd (from offset 0, to its end) over dst_fd (from
 * offset 0; dst is truncated to the copy's size). Tries a FICLONE reflink
 * first, then copy_file_range, then read/write. Neither file position is
 * used. *size (may be NULL) gets the bytes copied. Does not fsync. */
int fs_copy_file(int src_fd, int dst_fd, uint64_t *size);

/* The same, starting at a given method: tests use it to reach the
 * fallbacks on filesystems that do support reflinks. *used (may be NULL)
 * gets the method that finished the copy (FS_COPY_RW also when
 * copy_file_range stopped part way and read/write did the rest). */
enum fs_copy_method {
	FS_COPY_CLONE = 0, /* FICLONE, then the others */
	FS_COPY_RANGE,	   /* copy_file_range, then read/write */
	FS_COPY_RW,	   /* read/write only */
};
int fs_copy_file_with(int src_fd, int dst_fd, uint64_t *size, enum fs_copy_method how,
		      enum fs_copy_method *used);

/* The getxattr(2) reply of the len bytes at v: len when size is 0 (the
 * caller asks how big), -ERANGE when buf's size is smaller, else len with
 * the bytes copied to buf (not terminated). */
ssize_t fs_xattr_reply(const char *v, size_t len, char *buf, size_t size);

#endif
