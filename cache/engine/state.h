/* The state database: one SQLite file (WAL, synchronous=FULL) in the cache
 * folder listing every database cached on this node, what it is based on
 * and whether it is dirty. It is what crash recovery reads at start. */
#ifndef TFS_STATE_H
#define TFS_STATE_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "cache/catalog/catalog.h"

#define STATE_ERR_MAX 256

struct state_row {
	char id[CAT_ID_MAX + 1];
	uint64_t base_gen;		  /* committed gen this copy is based on */
	char base_hash[CAT_HASH_HEX + 1]; /* hash of that committed version, "" if none */
	uint64_t epoch;			  /* lease epoch last held for it */
	bool dirty;			  /* local changes not yet committed */
	int64_t dirty_since;		  /* wall ms of the clean->dirty transition */
	uint64_t size;			  /* bytes of the cached db file */
	int64_t atime;			  /* wall ms of the last use (LRU) */
	char error[STATE_ERR_MAX];	  /* last write-back error, "" if none */
	char quarantine[PATH_MAX];	  /* quarantine folder, "" if none */
};

struct state;

/* Opens (creates) the state database at path. */
int state_open(const char *path, struct state **out);
void state_close(struct state *st);

/* -ENOENT when there is no row for id. */
int state_get(struct state *st, const char *id, struct state_row *out);
/* Inserts or replaces the whole row; durable when it returns. */
int state_put(struct state *st, const struct state_row *row);
/* Sets only the dirty flag (and dirty_since when dirty); creates no row:
 * -ENOENT when there is none. Durable when it returns. */
int state_set_dirty(struct state *st, const char *id, bool dirty, int64_t since);
int state_set_error(struct state *st, const char *id, const char *error);
/*
 * Pending commits: every commit of id sent whose outcome is not known yet (a
 * lost reply may hide a success). Each is recorded, durably, before it is
 * sent, and all of them are kept until the base moves past their gen: a
 * later write-back or a restart then recognises any of them in the catalog
 * as our own, not only the last one. state_put drops those at or below the
 * row's base_gen, state_del all of the id's.
 */
int state_add_pending(struct state *st, const char *id, uint64_t gen, const char *hash);
/* 1 when a commit of gen with hash (any hash when NULL) is pending, else 0. */
int state_has_pending(struct state *st, const char *id, uint64_t gen, const char *hash);
int state_clear_pending(struct state *st, const char *id);
int state_touch(struct state *st, const char *id, int64_t atime);
int state_del(struct state *st, const char *id);

enum state_filter {
	STATE_DIRTY,	   /* dirty rows */
	STATE_CLEAN_LRU,   /* clean rows, least recently used first */
	STATE_UNCOMMITTED, /* rows never committed (base_gen 0) */
	STATE_QUARANTINED, /* rows naming a quarantine folder */
};
/* Returns a malloc'ed array of matching rows (at most limit; 0 = all) in
 * *rows and their count; the caller frees it. */
int state_list(struct state *st, enum state_filter f, int limit, struct state_row **rows, int *n);
/* Sum of size over clean rows. */
int state_clean_bytes(struct state *st, uint64_t *out);
/* Number of rows and sum of size over all of them. */
int state_totals(struct state *st, uint64_t *rows, uint64_t *bytes);

#endif
