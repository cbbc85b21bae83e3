/* XXH3-128 of files and buffers through libxxhash's streaming API, spelled
 * as hex high64 then low64. */
#include "s3/base/hash.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "s3/base/log.h"

#define HASH_CHUNK (1u << 20)

static void hash_hex(XXH128_hash_t h, char out[TFS_HASH_HEX + 1])
{
	snprintf(out, TFS_HASH_HEX + 1, "%016" PRIx64 "%016" PRIx64, (uint64_t)h.high64,
		 (uint64_t)h.low64);
}

int tfs_hash_fd(int fd, char out[TFS_HASH_HEX + 1], uint64_t *size)
{
	XXH3_state_t *st = NULL;
	char *buf = NULL;
	uint64_t off = 0;
	int rc = -ENOMEM;

	out[0] = '\0';
	st = XXH3_createState();
	buf = malloc(HASH_CHUNK);
	if (!st || !buf) {
		log_err("cannot hash file: out of memory");
		goto out;
	}
	if (XXH3_128bits_reset(st) != XXH_OK) {
		rc = -EINVAL;
		log_err("cannot hash file: xxh3 reset failed");
		goto out;
	}
	for (;;) {
		ssize_t n = pread(fd, buf, HASH_CHUNK, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			log_err("cannot hash file: read at %" PRIu64 ": %s", off, strerror(-rc));
			goto out;
		}
		if (n == 0)
			break;
		XXH3_128bits_update(st, buf, (size_t)n);
		off += (uint64_t)n;
	}
	hash_hex(XXH3_128bits_digest(st), out);
	if (size)
		*size = off;
	rc = 0;
out:
	free(buf);
	XXH3_freeState(st);
	return rc;
}

void tfs_hash_buf(const void *buf, size_t len, char out[TFS_HASH_HEX + 1])
{
	hash_hex(XXH3_128bits(buf, len), out);
}
