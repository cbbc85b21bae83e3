/* Unit tests of s3/base/hash.c: golden XXH3-128 values computed by the
 * independent xxhsum -H2, and the streaming fd path against the one-shot
 * buffer path across the 1 MiB chunk boundary. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "s3/base/fsutil.h"
#include "s3/base/hash.h"
#include "tests/unit/tap.h"

static const char fox[] = "The quick brown fox jumps over the lazy dog";

static unsigned char *pattern(size_t n)
{
	unsigned char *p = malloc(n ? n : 1);
	size_t i;

	for (i = 0; p && i < n; i++)
		p[i] = (unsigned char)((i * 131 + (i >> 8)) & 0xff);
	return p;
}

static int tmpfile_with(const unsigned char *buf, size_t n)
{
	char path[] = "/tmp/tfs-hash-XXXXXX";
	int fd = mkostemp(path, O_CLOEXEC);

	if (fd < 0)
		return -1;
	unlink(path);
	if (fs_write_all(fd, buf, n, 0) < 0) {
		close(fd);
		return -1;
	}
	/* Move the file position: tfs_hash_fd must not depend on it. */
	lseek(fd, 7, SEEK_SET);
	return fd;
}

int main(void)
{
	char h[TFS_HASH_HEX + 1], h2[TFS_HASH_HEX + 1];
	const size_t big = 2u * 1024 * 1024 + 12345;
	unsigned char *p = pattern(big);
	uint64_t size = 1;
	size_t sizes[] = {0, 1, 4096, (1u << 20) - 1, 1u << 20, (1u << 20) + 1};
	unsigned i;
	int fd, rc;

	tfs_hash_buf("", 0, h);
	TAP_STREQ(h, "99aa06d3014798d86001c324468d497f", "hash of empty buffer (xxhsum -H2)");
	tfs_hash_buf("abc", 3, h);
	TAP_STREQ(h, "06b05ab6733a618578af5f94892f3950", "hash of abc (xxhsum -H2)");
	tfs_hash_buf(fox, sizeof(fox) - 1, h);
	TAP_STREQ(h, "ddd650205ca3e7fa24a1cc2e3a8a7651", "hash of the fox (xxhsum -H2)");
	TAP_OK(strlen(h) == TFS_HASH_HEX, "hash is %d hex digits", TFS_HASH_HEX);

	fd = tmpfile_with(p, big);
	TAP_OK(fd >= 0, "temp file of %zu bytes", big);
	rc = tfs_hash_fd(fd, h, &size);
	TAP_OK(rc == 0, "tfs_hash_fd of a 2 MiB+ file returns 0 (rc %d)", rc);
	TAP_STREQ(h, "108e8bd855627e2695bff277961b3579",
		  "hash of 2 MiB+ pattern file (xxhsum -H2)");
	TAP_OK(size == big, "size reported %llu == %zu", (unsigned long long)size, big);
	tfs_hash_buf(p, big, h2);
	TAP_STREQ(h, h2, "fd hash equals buffer hash for the big file");
	close(fd);

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		fd = tmpfile_with(p, sizes[i]);
		size = 12345678;
		rc = tfs_hash_fd(fd, h, &size);
		tfs_hash_buf(p, sizes[i], h2);
		TAP_OK(rc == 0 && size == sizes[i] && strcmp(h, h2) == 0,
		       "fd and buffer hashes agree at %zu bytes", sizes[i]);
		if (fd >= 0)
			close(fd);
	}

	/* One changed byte changes the hash. */
	p[big / 2] ^= 1;
	tfs_hash_buf(p, big, h2);
	TAP_OK(strcmp(h2, "108e8bd855627e2695bff277961b3579") != 0,
	       "one flipped bit changes the hash");

	fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	rc = tfs_hash_fd(fd, h, NULL);
	TAP_OK(rc == -EISDIR, "hashing a directory fails with -EISDIR (rc %d)", rc);
	close(fd);
	rc = tfs_hash_fd(-1, h, NULL);
	TAP_OK(rc == -EBADF, "hashing a bad fd fails with -EBADF (rc %d)", rc);

	free(p);
	return TAP_DONE();
}
