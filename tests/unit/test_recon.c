/* Unit tests of the crash-recovery reconciliation (cache/engine/recon.h): every
 * combination of the state row, the local file, the catalog item, the
 * pending commits, the local hash and the caller (open with its flags, or
 * recovery) against the rules it must keep, and the named cases of
 * DESIGN.md's "Crash recovery" with the action each must give. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cache/engine/recon.h"
#include "tests/unit/tap.h"

#define H_BASE "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0"
#define H_NEW  "c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1"
#define H_LOC  "d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2"

/* Decides, answering what it asks from pending and local_hash; counts the
 * questions. */
static void decide(struct recon_in *in, int pending, const char *local_hash, struct recon_out *out,
		   int *asked_pending, int *asked_hash)
{
	int i;

	in->pending = -1;
	in->local_hash = NULL;
	*asked_pending = *asked_hash = 0;
	for (i = 0; i < 4; i++) {
		recon_decide(in, out);
		if (out->then == RECON_ASK_PENDING) {
			(*asked_pending)++;
			in->pending = pending;
		} else if (out->then == RECON_ASK_HASH) {
			(*asked_hash)++;
			in->local_hash = local_hash;
		} else {
			return;
		}
	}
}

static int violations;

static void rule(bool ok, const char *what, const struct recon_in *in, const struct recon_out *out)
{
	if (ok)
		return;
	if (violations++ < 20)
		TAP_OK(0,
		       "%s: row %d dirty %d file %d base %llu item gen %llu deleted %d hash %s "
		       "pending %d local %s open %d creat %d excl %d -> %s keep %d rebase %d "
		       "quarantine %d err %d",
		       what, in->have_row, in->dirty, in->have_file,
		       (unsigned long long)in->base_gen, (unsigned long long)in->gen, in->deleted,
		       in->hash, in->pending, in->local_hash ? in->local_hash : "(not asked)",
		       in->open, in->creat, in->excl, recon_then_str(out->then), out->keep,
		       out->rebase, out->quarantine, out->err);
}

static void check(struct recon_in *in, int pending, const char *lh)
{
	struct recon_out o;
	int ap, ah;
	bool live = in->gen > 0 && !in->deleted, next = live && in->gen == in->base_gen + 1;
	bool ours = next && (pending == 1 || (lh[0] && !strcmp(lh, in->hash)));
	bool dirty_copy = in->have_row && in->dirty && in->have_file;
	bool kept, eexist;

	decide(in, pending, lh, &o, &ap, &ah);
	kept = o.keep != RECON_KEEP_NONE;
	eexist = o.then == RECON_FAIL && o.err == -EEXIST;
	rule(ap <= 1 && ah <= 1 && o.then != RECON_ASK_PENDING && o.then != RECON_ASK_HASH,
	     "settles after at most one question of each kind", in, &o);
	rule(!ap || (dirty_copy && next),
	     "asks for pending commits only for a dirty copy one gen behind", in, &o);
	rule(!ah || (dirty_copy && next && pending != 1),
	     "hashes the local file only when that can decide", in, &o);
	/* nothing acknowledged is lost silently */
	rule(!dirty_copy || o.keep == RECON_KEEP_DIRTY || o.quarantine,
	     "a dirty copy is kept or quarantined, never dropped", in, &o);
	rule(!o.quarantine || (dirty_copy && in->base_gen != in->gen && !ours),
	     "quarantines only a dirty copy another node's commit overtook", in, &o);
	rule(!(o.rebase && o.quarantine), "never rebases and quarantines at once", in, &o);
	rule(o.rebase == (dirty_copy && in->base_gen != in->gen && ours),
	     "rebases exactly on our own next commit", in, &o);
	rule(o.rebase_by_hash == (o.rebase && pending != 1),
	     "rebases by hash only when no pending commit names it", in, &o);
	rule(o.keep != RECON_KEEP_DIRTY || (dirty_copy && (in->base_gen == in->gen || o.rebase)),
	     "keeps a dirty copy only when it is based on the current gen", in, &o);
	/* a stale copy is never served */
	rule(o.keep != RECON_KEEP_CLEAN ||
		 (in->have_row && !in->dirty && in->have_file && live && in->base_gen == in->gen &&
		  !strcmp(in->base_hash, in->hash)),
	     "keeps a clean copy only when it is the committed version", in, &o);
	rule(!(in->have_row && !in->dirty && in->have_file && live && in->base_gen == in->gen &&
	       !strcmp(in->base_hash, in->hash)) ||
		 o.keep == RECON_KEEP_CLEAN,
	     "a current clean copy costs no GET", in, &o);
	rule(eexist == (in->open && in->creat && in->excl && (live || kept)),
	     "O_CREAT|O_EXCL fails with EEXIST exactly when the database exists", in, &o);
	rule(in->open || (o.then == RECON_SERVE || o.then == RECON_LEASE_ONLY),
	     "recovery never fetches, creates or fails", in, &o);
	rule(o.then != RECON_LEASE_ONLY || (!in->open && !kept),
	     "lease only: recovery with nothing kept", in, &o);
	rule(eexist || (o.then == RECON_SERVE) == kept, "serves exactly what it keeps", in, &o);
	rule(!in->open || kept || eexist ||
		 o.then == (live	? RECON_FETCH
			    : in->creat ? RECON_CREATE
					: RECON_FAIL),
	     "an open with nothing kept fetches a live item, else creates or fails", in, &o);
	rule(o.then != RECON_FAIL || o.err == -EEXIST ||
		 (o.err == -ENOENT && in->open && !in->creat),
	     "ENOENT only for an open without O_CREAT", in, &o);
}

static void test_every_combination(void)
{
	static const uint64_t gens[] = {0, 5, 6, 7};
	static const char *const lhs[] = {H_NEW, H_LOC, ""};
	struct recon_in in;
	int n = 0, b;

	violations = 0;
	for (b = 0; b < (1 << 9); b++) {
		for (size_t g = 0; g < 4; g++) {
			for (size_t l = 0; l < 3; l++) {
				memset(&in, 0, sizeof(in));
				in.have_row = b & 1;
				in.dirty = in.have_row && (b & 2);
				in.have_file = b & 4;
				in.deleted = b & 8;
				in.open = b & 16;
				in.creat = in.open && (b & 32);
				in.excl = in.creat && (b & 64);
				in.base_gen = in.have_row ? 5 : 0;
				in.base_hash = in.have_row ? H_BASE : "";
				in.gen = gens[g];
				in.hash = (b & 128) ? H_BASE : H_NEW;
				check(&in, (b & 256) ? 1 : 0, lhs[l]);
				n++;
			}
		}
	}
	TAP_OK(violations == 0, "%d combinations keep every rule (%d violations)", n, violations);
}

/* One named case: dirty copy of base gen 5 (row, file) unless said. */
static struct recon_out named(bool dirty, uint64_t gen, const char *hash, int pending,
			      const char *lh, bool open, bool creat)
{
	struct recon_in in = {.have_row = true,
			      .dirty = dirty,
			      .base_gen = 5,
			      .base_hash = H_BASE,
			      .have_file = true,
			      .gen = gen,
			      .hash = hash,
			      .open = open,
			      .creat = creat};
	struct recon_out o;
	int ap, ah;

	decide(&in, pending, lh, &o, &ap, &ah);
	return o;
}

static void test_named(void)
{
	struct recon_out o;
	struct recon_in in;
	int ap, ah;

	o = named(true, 5, H_BASE, 0, H_LOC, false, false);
	TAP_OK(o.then == RECON_SERVE && o.keep == RECON_KEEP_DIRTY && !o.rebase,
	       "restart, nobody committed meanwhile: recover the dirty copy (%s)",
	       recon_then_str(o.then));
	o = named(true, 6, H_NEW, 1, H_LOC, false, false);
	TAP_OK(o.then == RECON_SERVE && o.keep == RECON_KEEP_DIRTY && o.rebase && !o.rebase_by_hash,
	       "restart after our pending commit landed: rebase on it, stay dirty");
	o = named(true, 6, H_NEW, 0, H_NEW, false, false);
	TAP_OK(o.then == RECON_SERVE && o.keep == RECON_KEEP_DIRTY && o.rebase_by_hash,
	       "restart after a commit whose record was lost: the hash proves it ours");
	o = named(true, 6, H_NEW, 0, H_LOC, false, false);
	TAP_OK(o.quarantine && o.then == RECON_LEASE_ONLY,
	       "restart, another node committed meanwhile: quarantine, hold the lease only");
	o = named(true, 7, H_NEW, 1, H_NEW, true, false);
	TAP_OK(o.quarantine && o.then == RECON_FETCH,
	       "open, two gens committed elsewhere: quarantine, then fetch the current one");
	o = named(false, 5, H_BASE, 0, "", true, false);
	TAP_OK(o.then == RECON_SERVE && o.keep == RECON_KEEP_CLEAN,
	       "open of a current clean copy: no GET");
	o = named(false, 6, H_NEW, 0, "", true, false);
	TAP_OK(o.then == RECON_FETCH && o.keep == RECON_KEEP_NONE,
	       "open of a stale clean copy: GET");
	memset(&in, 0, sizeof(in));
	in.base_hash = "";
	in.hash = "";
	in.open = in.creat = true;
	decide(&in, 0, "", &o, &ap, &ah);
	TAP_OK(o.then == RECON_CREATE && !ap && !ah, "open O_CREAT of a new database: create");
	in.creat = false;
	decide(&in, 0, "", &o, &ap, &ah);
	TAP_OK(o.then == RECON_FAIL && o.err == -ENOENT, "open of a database nobody has: ENOENT");
	in.open = false;
	decide(&in, 0, "", &o, &ap, &ah);
	TAP_OK(o.then == RECON_LEASE_ONLY, "recovery of a row with no file: lease only");
}

int main(void)
{
	test_every_combination();
	test_named();
	return TAP_DONE();
}
