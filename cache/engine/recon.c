/* The reconciliation of a cached copy with its catalog item (recon.h). */
#include "cache/engine/recon.h"

#include <errno.h>
#include <string.h>

/* Whether the dirty copy's base moves to the item's gen: the item is the next
 * gen and one of our own commits, which a crash (or a lost reply) kept us from
 * recording. out->then is RECON_ASK_* when an input is still missing. */
static bool own_commit(const struct recon_in *in, struct recon_out *out)
{
	bool live = in->gen > 0 && !in->deleted;

	if (!in->have_row || !in->dirty || in->base_gen == in->gen || !in->have_file)
		return false;
	if (live && in->gen == in->base_gen + 1) {
		/* Any of our pending commits: a newer one may have been sent
		 * before the reply of an older was seen. */
		if (in->pending < 0) {
			out->then = RECON_ASK_PENDING;
			return false;
		}
		if (in->pending == 1) {
			out->rebase = true;
			return true;
		}
	}
	/* Our last commit may have landed before a crash that lost its record.
	 * Its main file alone says nothing of the family (a -wal or a hot
	 * journal can hold commits on top of exactly these bytes): rebase, but
	 * stay dirty, and the write-back finds it unchanged or publishes what
	 * the side file adds. */
	if (!live || in->gen != in->base_gen + 1)
		return false;
	if (!in->local_hash) {
		out->then = RECON_ASK_HASH;
		return false;
	}
	if (in->local_hash[0] && !strcmp(in->local_hash, in->hash)) {
		out->rebase = out->rebase_by_hash = true;
		return true;
	}
	return false;
}

void recon_decide(const struct recon_in *in, struct recon_out *out)
{
	bool live = in->gen > 0 && !in->deleted, have_file = in->have_file;
	uint64_t base_gen = in->base_gen;

	memset(out, 0, sizeof(*out));
	out->then = RECON_SERVE;
	if (own_commit(in, out))
		base_gen = in->gen;
	if (out->then == RECON_ASK_PENDING || out->then == RECON_ASK_HASH)
		return;
	if (in->have_row && in->dirty && have_file && base_gen == in->gen) {
		out->keep = RECON_KEEP_DIRTY;
	} else if (in->have_row && in->dirty && have_file) {
		out->quarantine = true;
		have_file = false;
	} else if (in->have_row && have_file && live && in->base_gen == in->gen &&
		   !strcmp(in->base_hash, in->hash)) {
		out->keep = RECON_KEEP_CLEAN;
	} else {
		have_file = false; /* anything local is stale */
	}
	if (in->open && in->creat && in->excl && (live || have_file)) {
		out->then = RECON_FAIL;
		out->err = -EEXIST;
	} else if (have_file) {
		out->then = RECON_SERVE;
	} else if (in->open && live) {
		out->then = RECON_FETCH;
	} else if (in->open && in->creat) {
		out->then = RECON_CREATE;
	} else if (in->open) {
		out->then = RECON_FAIL;
		out->err = -ENOENT;
	} else {
		out->then = RECON_LEASE_ONLY;
	}
}

const char *recon_then_str(enum recon_then t)
{
	switch (t) {
	case RECON_ASK_PENDING: return "ask-pending";
	case RECON_ASK_HASH: return "ask-hash";
	case RECON_SERVE: return "serve";
	case RECON_FETCH: return "fetch";
	case RECON_CREATE: return "create";
	case RECON_LEASE_ONLY: return "lease-only";
	case RECON_FAIL: return "fail";
	}
	return "?";
}
