/* Crash-recovery reconciliation: what an activation (an open, or the
 * recovery at start of a database the state database lists dirty) does with
 * the locally cached copy, given its state row and the catalog item it just
 * leased. A pure function: no lock, no I/O; what it needs that costs I/O
 * (the pending commits, the hash of the local file) it asks for. */
#ifndef TFS_RECON_H
#define TFS_RECON_H

#include <stdbool.h>
#include <stdint.h>

struct recon_in {
	/* the state database's row and the local file */
	bool have_row;
	bool dirty;	       /* row: local changes not yet committed */
	uint64_t base_gen;     /* row: the committed gen the copy is based on */
	const char *base_hash; /* row: hash of that gen, "" if none */
	bool have_file;	       /* the cached db file exists */
	/* the catalog item, as the lease acquire returned it */
	uint64_t gen; /* 0: never committed */
	const char *hash;
	bool deleted; /* tombstone */
	/* asked for lazily: -1 (NULL) until the answer says RECON_ASK_* */
	int pending;		/* 1: a commit of ours of (gen, hash) is pending */
	const char *local_hash; /* hash of the local file, "" if unreadable */
	/* the caller */
	bool open;	  /* an open (FUSE request); false: recovery */
	bool creat, excl; /* the open's O_CREAT, O_EXCL */
};

enum recon_then {
	RECON_ASK_PENDING, /* set in->pending (state_has_pending(gen, hash)) and ask again */
	RECON_ASK_HASH,	   /* set in->local_hash (hash of the local file) and ask again */
	RECON_SERVE,	   /* serve the local copy (kept dirty or clean, see keep) */
	RECON_FETCH,	   /* GET the committed version */
	RECON_CREATE,	   /* a new, empty database (O_CREAT) */
	RECON_LEASE_ONLY,  /* recovery: nothing local to keep; hold the lease only */
	RECON_FAIL,	   /* fail the open with err */
};

enum recon_keep {
	RECON_KEEP_NONE,  /* nothing local is kept: stale, absent, or quarantined */
	RECON_KEEP_DIRTY, /* a dirty copy based on the current gen: newer than it */
	RECON_KEEP_CLEAN, /* the cached copy is the committed version: no GET */
};

struct recon_out {
	enum recon_then then;
	enum recon_keep keep;
	/* The item's gen is one of our own commits (a pending one, or the
	 * local copy's hash equals it): the dirty copy is rebased on it. */
	bool rebase, rebase_by_hash;
	/* A dirty copy overtaken by another node's commit: quarantined first. */
	bool quarantine;
	int err; /* RECON_FAIL: -EEXIST or -ENOENT */
};

void recon_decide(const struct recon_in *in, struct recon_out *out);
const char *recon_then_str(enum recon_then t);

#endif
