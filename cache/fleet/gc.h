/* `tenantfs gc`: deletes the stored versions and version records no
 * retention rule protects (cache/store/verrec.h has the rules). */
#ifndef TFS_FUSE_GC_H
#define TFS_FUSE_GC_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cache/catalog/catalog.h"
#include "cache/fleet/snapshot_manifest.h"
#include "cache/store/store.h"

#define TFS_GC_SYNOPSIS \
	"tenantfs gc SOURCE [-o OPTIONS] [--keep DURATION] [--grace DURATION] [--dry-run]"

struct progress;

struct gc_options {
	int64_t keep_ms, grace_ms;
	bool dry_run;		   /* print what would go, delete nothing */
	const char *tmpdir;	   /* manifests are read through it */
	FILE *out;		   /* one line per deletion, then the summary */
	struct progress *progress; /* may be NULL */
	/* The lease gc takes to remove a tombstone with its versions. */
	const char *node;
	int64_t lease_ttl_ms, wall_now_ms;
};

struct gc_result {
	uint64_t folders;	   /* database folders looked at */
	uint64_t objects, records; /* deleted (or would be) */
	uint64_t bytes;		   /* freed (or would be) */
	uint64_t kept;		   /* version objects kept */
	uint64_t skipped;	   /* databases left alone this run (changed meanwhile, errors) */
	uint64_t requests;	   /* store and catalog requests made */
	uint64_t failed;	   /* deletions that failed */
	uint64_t tombstones;	   /* deleted databases removed (or would be) */
	uint64_t uploads;	   /* incomplete multipart uploads aborted (or would be) */
};

/* One run over the whole prefix. 0 when it completed (res says what it
 * did), or a negative errno when it had to stop (logged). */
int tfs_gc(struct store *s, struct catalog *c, const struct key_layout *l,
	   const struct gc_options *o, struct gc_result *res);

/* The command: exit status 0, or 1 on any failure. */
int tfs_gc_command(struct store *s, struct catalog *c, const struct key_layout *l,
		   const struct gc_options *o);

#endif
