/* XXH3-128 content hashes as the catalog and the store keys spell them:
 * 32 lower-case hex digits, high 64 bits first (the canonical big-endian
 * form). Thread-safe; no shared state. */
#ifndef TFS_HASH_H
#define TFS_HASH_H

#include <stddef.h>
#include <stdint.h>

/* The length of a hash in hex digits (the catalog's CAT_HASH_HEX). */
#define TFS_HASH_HEX 32

/* Hashes the whole file behind fd, read with pread from offset 0 in 1 MiB
 * chunks until end of file (the file position is not used). *size (may
 * be NULL) gets the number of bytes hashed. 0 or -errno (-ENOMEM, or the
 * read error). */
int tfs_hash_fd(int fd, char out[TFS_HASH_HEX + 1], uint64_t *size);

/* Hashes len bytes of buf. */
void tfs_hash_buf(const void *buf, size_t len, char out[TFS_HASH_HEX + 1]);

#endif
