/* `tenantfs verify`: checks that what the catalog points at is in the
 * store, whole and sound, and finds objects nothing points at. Reads
 * only (store head/get/list, catalog get/scan, snapshot manifests); never
 * writes or deletes anything. */
#ifndef TFS_FUSE_VERIFY_H
#define TFS_FUSE_VERIFY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cache/fleet/snapshot_manifest.h"

struct progress;

/* The command line, for the usage texts. */
#define TFS_VERIFY_SYNOPSIS "tenantfs verify SOURCE [-o OPTIONS] [--id ID ...] [--deep]"

struct verify_options {
	const char *const *ids; /* only these databases (and their folders), or all if n_ids 0 */
	int n_ids;
	bool deep;		   /* download each current version and run integrity_check */
	const char *tmpdir;	   /* where --deep and hashing downloads go */
	FILE *out;		   /* one line per problem, then the summary */
	struct progress *progress; /* may be NULL */
};

struct verify_result {
	uint64_t databases;  /* live databases whose current version was checked */
	uint64_t skipped;    /* --id given but a tombstone or never committed */
	uint64_t objects;    /* objects listed under the prefix (orphan search) */
	uint64_t bytes;	     /* bytes of the checked current versions */
	uint64_t downloaded; /* bytes fetched (--deep, or a store keeping no hash) */
	uint64_t manifests;  /* snapshot manifests read */
	uint64_t problems;   /* lines printed: missing, size, hash, corrupt, orphan, error */
};

/* Runs the checks and prints a line per problem to o->out:
 *   missing ID gen G key K
 *   size ID gen G key K: N bytes in the store, M in the catalog
 *   hash ID gen G key K: the store's X, the catalog's Y
 *   corrupt ID gen G key K: integrity_check says ...
 *   orphan KEY (N bytes)
 *   error ...   (a check that could not be made: counted as a problem)
 * Returns 0 when the run completed (res says what it found), -EINVAL for
 * an invalid --id (nothing checked), or a negative errno when it had to
 * stop (logged). */
int tfs_verify(struct store *s, struct catalog *c, const struct key_layout *l,
	       const struct verify_options *o, struct verify_result *res);

/* The command: tfs_verify with progress on stderr and the summary line;
 * returns the exit status (0 healthy, 1 a problem or a failure, 2 usage). */
int tfs_verify_command(struct store *s, struct catalog *c, const struct key_layout *l,
		       const char *const *ids, int n_ids, bool deep, const char *tmpdir);

#endif
