/* A contract test suite for any struct catalog (cache/catalog/catalog.h): the
 * SQLite catalog's unit test and the DynamoDB integration test both run
 * it, so the two back ends keep exactly the same semantics. Entry point:
 * catalog_contract_run(c, prefix); every id it touches starts with
 * prefix, so runs may share one table. Uses tests/unit/tap.h.
 *
 * Conventions it pins down beyond the header comments:
 * - hist is oldest first: hist[n_hist - 1] is the newest commit;
 * - a tombstone commit sets deleted_ms to a non-zero time, a later
 *   commit sets it back to 0;
 * - release clears owner to "" and expires_ms to 0;
 * - rev starts at 1 and every acquire, commit, release and strand adds 1;
 *   a failed write leaves it alone; a heartbeat writes no database item;
 * - a session starts at sess 1, rev 1; every session_start adds 1 to both,
 *   every heartbeat 1 to rev; a kill or an end is final for that session;
 * - no argument now_ms changes an outcome: only owner, session, epoch, rev
 *   and the stranded mark do;
 * - want to a node without a session creates nothing. */
#ifndef TFS_CATALOG_CONTRACT_H
#define TFS_CATALOG_CONTRACT_H

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/catalog/catalog.h"
#include "tests/unit/tap.h"

#define CC_NODE_A "node-a"
#define CC_NODE_B "node-b"
#define CC_NOW	  1700000000000LL /* any fixed wall clock: conditions use the given now */
#define CC_TTL	  30000LL

static void cc_id(char *id, const char *prefix, const char *what)
{
	snprintf(id, CAT_ID_MAX + 1, "%s-%s", prefix, what);
}

static void cc_hash(char out[CAT_HASH_HEX + 1], unsigned n)
{
	snprintf(out, CAT_HASH_HEX + 1, "%016x%016x", 0xabcu + n, n);
}

static int cc_commit(struct catalog *c, const char *id, const char *node, uint64_t epoch,
		     uint64_t base, unsigned hash_n, bool deleted)
{
	char h[CAT_HASH_HEX + 1];
	struct cat_commit cm = {
	    .new_gen = base + 1,
	    .hash = h,
	    .size = 1000 + hash_n,
	    .mtime_ms = CC_NOW + hash_n,
	    .deleted = deleted,
	};

	/* hash_n 0: an empty hash, as the engine writes for a tombstone. */
	if (hash_n)
		cc_hash(h, hash_n);
	else
		h[0] = '\0';
	return c->ops->commit(c, id, node, epoch, base, &cm);
}

static void cc_acquire_basics(struct catalog *c, const char *prefix)
{
	struct cat_item it;
	char id[CAT_ID_MAX + 1];
	int rc;

	cc_id(id, prefix, "acq");
	memset(&it, 0x5a, sizeof(it));
	rc = c->ops->acquire(c, id, CC_NODE_A, 0, CC_NOW, CC_TTL, NULL, &it);
	TAP_OK(rc == 0, "contract: acquire of a new id succeeds (rc %d)", rc);
	TAP_OK(strcmp(it.id, id) == 0 && strcmp(it.owner, CC_NODE_A) == 0,
	       "contract: new item names its id and owner");
	TAP_OK(it.epoch == 1 && it.gen == 0 && it.rev == 1 && it.stranded_ms == 0,
	       "contract: new item has epoch 1, gen 0, rev 1 (got %" PRIu64 ", %" PRIu64 ")",
	       it.epoch, it.gen);
	TAP_OK(it.expires_ms == CC_NOW + CC_TTL, "contract: new lease expires at now + ttl");
	TAP_OK(it.hash[0] == '\0' && it.deleted_ms == 0 && it.want[0] == '\0' && it.n_hist == 0,
	       "contract: new item has no hash, tombstone, want or hist");

	rc = c->ops->acquire(c, id, CC_NODE_A, 0, CC_NOW + 10, CC_TTL, NULL, &it);
	TAP_OK(rc == 0 && it.epoch == 2 && it.rev == 2 && it.expires_ms == CC_NOW + 10 + CC_TTL,
	       "contract: re-acquire by the holder bumps epoch and rev to 2 (rc %d epoch "
	       "%" PRIu64 ")",
	       rc, it.epoch);

	memset(&it, 0, sizeof(it));
	rc = c->ops->acquire(c, id, CC_NODE_B, 0, CC_NOW + 20, CC_TTL, NULL, &it);
	TAP_OK(rc == -EBUSY, "contract: acquire by another node while held -> -EBUSY (rc %d)", rc);
	TAP_OK(strcmp(it.owner, CC_NODE_A) == 0 && it.epoch == 2 && it.rev == 2,
	       "contract: -EBUSY reports the holder (owner '%s' epoch %" PRIu64 " rev %" PRIu64 ")",
	       it.owner, it.epoch, it.rev);

	/* No clock decides: far past the holder's expires it still holds. */
	rc = c->ops->acquire(c, id, CC_NODE_B, 0, CC_NOW + 100 * CC_TTL, CC_TTL, NULL, &it);
	TAP_OK(rc == -EBUSY, "contract: acquire long after expires, no takeover -> -EBUSY (rc %d)",
	       rc);
	rc = c->ops->get(c, id, &it);
	TAP_OK(rc == 0 && strcmp(it.owner, CC_NODE_A) == 0 && it.epoch == 2 &&
		   it.expires_ms == CC_NOW + 10 + CC_TTL,
	       "contract: get sees the holder unchanged (rc %d)", rc);
}

/* rev and the takeover condition: owner, epoch and rev exactly as seen. */
static void cc_takeover(struct catalog *c, const char *prefix)
{
	struct cat_takeover tk = {.sess = 0};
	struct cat_item it, seen;
	char id[CAT_ID_MAX + 1];
	uint64_t rev;
	int rc;

	cc_id(id, prefix, "take");
	rc = c->ops->acquire(c, id, CC_NODE_A, 0, CC_NOW, CC_TTL, NULL, &it);
	TAP_OK(rc == 0 && it.rev == 1, "contract: a new item has rev 1 (rev %" PRIu64 ")", it.rev);
	rc = c->ops->acquire(c, id, CC_NODE_B, 0, CC_NOW, CC_TTL, NULL, &seen);
	TAP_OK(rc == -EBUSY && seen.rev == 1 && seen.epoch == 1,
	       "contract: B sees A at epoch 1 rev 1 (rc %d)", rc);
	/* A lease from before sessions (sess 0) showed life by its rev. */
	rc = cc_commit(c, id, CC_NODE_A, 1, 0, 1, false);
	TAP_OK(rc == 0 && c->ops->get(c, id, &it) == 0 && it.rev == 2 && it.epoch == 1,
	       "contract: a commit bumps rev, keeps epoch (rev %" PRIu64 ")", it.rev);

	tk.owner = seen.owner;
	tk.epoch = seen.epoch;
	tk.rev = seen.rev;
	memset(&it, 0, sizeof(it));
	rc = c->ops->acquire(c, id, CC_NODE_B, 0, CC_NOW, CC_TTL, &tk, &it);
	TAP_OK(rc == -EBUSY && strcmp(it.owner, CC_NODE_A) == 0 && it.rev == 2,
	       "contract: a renewal between observation and takeover defeats it (rc %d rev "
	       "%" PRIu64 ")",
	       rc, it.rev);
	rev = it.rev;
	tk.rev = rev;
	tk.epoch = 2;
	rc = c->ops->acquire(c, id, CC_NODE_B, 0, CC_NOW, CC_TTL, &tk, &it);
	TAP_OK(rc == -EBUSY, "contract: takeover with the wrong epoch -> -EBUSY (rc %d)", rc);
	tk.epoch = 1;
	tk.owner = CC_NODE_B;
	rc = c->ops->acquire(c, id, CC_NODE_B, 0, CC_NOW, CC_TTL, &tk, &it);
	TAP_OK(rc == -EBUSY, "contract: takeover with the wrong owner -> -EBUSY (rc %d)", rc);
	tk.owner = CC_NODE_A;
	tk.rev = rev + 1;
	rc = c->ops->acquire(c, id, CC_NODE_B, 0, CC_NOW, CC_TTL, &tk, &it);
	TAP_OK(rc == -EBUSY, "contract: takeover with the wrong rev -> -EBUSY (rc %d)", rc);
	rc = c->ops->get(c, id, &it);
	TAP_OK(rc == 0 && strcmp(it.owner, CC_NODE_A) == 0 && it.rev == rev,
	       "contract: failed takeovers change nothing, rev included");

	/* Any wall clock, even one far behind the holder's expires. */
	tk.rev = rev;
	rc = c->ops->acquire(c, id, CC_NODE_B, 0, CC_NOW - 100 * CC_TTL, CC_TTL, &tk, &it);
	TAP_OK(rc == 0 && strcmp(it.owner, CC_NODE_B) == 0 && it.epoch == 2 && it.rev == rev + 1,
	       "contract: takeover on exactly (owner, epoch, rev) seen -> epoch 2 (rc %d)", rc);
	rc = c->ops->strand(c, id, CC_NODE_A, 1, CC_NOW);
	TAP_OK(rc == -ESTALE, "contract: the old holder's strand is refused after (rc %d)", rc);
	rc = cc_commit(c, id, CC_NODE_A, 1, 1, 2, false);
	TAP_OK(rc == -ESTALE, "contract: the old holder's commit is refused after (rc %d)", rc);

	/* The takeover condition does not stop free or own items. */
	tk.owner = "nobody";
	rc = c->ops->acquire(c, id, CC_NODE_B, 0, CC_NOW, CC_TTL, &tk, &it);
	TAP_OK(rc == 0 && it.epoch == 3, "contract: the holder re-acquires with a stale takeover");
	cc_id(id, prefix, "take-new");
	rc = c->ops->acquire(c, id, CC_NODE_B, 0, CC_NOW, CC_TTL, &tk, &it);
	TAP_OK(rc == 0 && it.epoch == 1, "contract: an absent id is acquired despite a takeover");
}

/* The stranded mark: only the holder sets it, it stops every takeover,
 * the holder's own acquire keeps it, a commit or release clears it. */
static void cc_stranded(struct catalog *c, const char *prefix)
{
	struct cat_takeover tk = {.sess = 0};
	struct cat_item it;
	char id[CAT_ID_MAX + 1];
	uint64_t rev;
	int rc;

	cc_id(id, prefix, "strand");
	c->ops->acquire(c, id, CC_NODE_A, 0, CC_NOW, CC_TTL, NULL, &it); /* epoch 1 */
	rc = cc_commit(c, id, CC_NODE_A, 1, 0, 1, false);
	TAP_OK(rc == 0, "contract: strand: gen 1 committed (rc %d)", rc);
	TAP_OK(c->ops->get(c, id, &it) == 0 && it.stranded_ms == 0,
	       "contract: a new item is not stranded");
	rc = c->ops->strand(c, id, CC_NODE_B, 1, CC_NOW);
	TAP_OK(rc == -ESTALE, "contract: strand by a non-holder -> -ESTALE (rc %d)", rc);
	rc = c->ops->strand(c, id, CC_NODE_A, 2, CC_NOW);
	TAP_OK(rc == -ESTALE, "contract: strand with a wrong epoch -> -ESTALE (rc %d)", rc);
	rev = it.rev;
	rc = c->ops->strand(c, id, CC_NODE_A, 1, CC_NOW);
	TAP_OK(rc == 0, "contract: strand by the holder (rc %d)", rc);
	rc = c->ops->get(c, id, &it);
	TAP_OK(rc == 0 && it.stranded_ms != 0 && it.rev == rev + 1 &&
		   strcmp(it.owner, CC_NODE_A) == 0 && it.epoch == 1,
	       "contract: strand sets the mark and rev + 1, keeps owner and epoch");

	tk.owner = CC_NODE_A;
	tk.epoch = it.epoch;
	tk.rev = it.rev;
	memset(&it, 0, sizeof(it));
	rc = c->ops->acquire(c, id, CC_NODE_B, 0, CC_NOW + 100 * CC_TTL, CC_TTL, &tk, &it);
	TAP_OK(rc == -EBUSY && it.stranded_ms != 0 && strcmp(it.owner, CC_NODE_A) == 0,
	       "contract: a takeover on the exact record is refused while stranded (rc %d)", rc);
	rc = c->ops->acquire(c, id, CC_NODE_A, 0, CC_NOW, CC_TTL, NULL, &it);
	TAP_OK(rc == 0 && it.epoch == 2 && it.stranded_ms != 0,
	       "contract: the holder's own acquire succeeds and keeps the mark (rc %d)", rc);
	rc = cc_commit(c, id, CC_NODE_A, 2, 1, 2, false);
	TAP_OK(rc == 0 && c->ops->get(c, id, &it) == 0 && it.stranded_ms == 0 && it.gen == 2,
	       "contract: a commit clears the mark (rc %d)", rc);
	rc = c->ops->strand(c, id, CC_NODE_A, 2, CC_NOW);
	rc |= c->ops->release(c, id, CC_NODE_A, 2);
	TAP_OK(rc == 0 && c->ops->get(c, id, &it) == 0 && it.stranded_ms == 0 && !it.owner[0],
	       "contract: a release clears the mark (rc %d)", rc);
}

/* abandon: a stranded copy given up by an operator. */
static void cc_abandon(struct catalog *c, const char *prefix)
{
	struct cat_item it, seen;
	char id[CAT_ID_MAX + 1], h[CAT_HASH_HEX + 1];
	int rc;

	cc_id(id, prefix, "abandon");
	c->ops->acquire(c, id, CC_NODE_A, 0, CC_NOW, CC_TTL, NULL, &it); /* epoch 1 */
	cc_commit(c, id, CC_NODE_A, 1, 0, 1, false);
	rc = c->ops->get(c, id, &seen);
	TAP_OK(rc == 0 && seen.gen == 1, "contract: abandon: gen 1 committed");
	rc = c->ops->abandon(c, &seen, CC_NOW + 5);
	TAP_OK(rc == -ESTALE, "contract: abandon of an item not stranded -> -ESTALE (rc %d)", rc);
	c->ops->strand(c, id, CC_NODE_A, 1, CC_NOW);
	rc = c->ops->get(c, id, &seen);
	seen.gen = 0;
	rc = c->ops->abandon(c, &seen, CC_NOW + 5);
	TAP_OK(rc == -ESTALE, "contract: abandon with another gen than seen -> -ESTALE (rc %d)",
	       rc);
	seen.gen = 1;
	snprintf(seen.owner, sizeof(seen.owner), "%s", CC_NODE_B);
	rc = c->ops->abandon(c, &seen, CC_NOW + 5);
	TAP_OK(rc == -ESTALE, "contract: abandon with another owner than seen -> -ESTALE (rc %d)",
	       rc);
	snprintf(seen.owner, sizeof(seen.owner), "%s", CC_NODE_A);
	rc = c->ops->abandon(c, &seen, CC_NOW + 5);
	TAP_OK(rc == 0, "contract: abandon of the stranded item as seen (rc %d)", rc);
	rc = c->ops->get(c, id, &it);
	cc_hash(h, 1);
	TAP_OK(rc == 0 && it.gen == 2 && strcmp(it.hash, h) == 0 && it.size == 1001 &&
		   it.deleted_ms == 0,
	       "contract: abandon commits gen + 1 with the same hash and size (gen %" PRIu64 ")",
	       it.gen);
	TAP_OK(rc == 0 && !it.owner[0] && it.stranded_ms == 0 && it.epoch == 1 &&
		   it.rev == seen.rev + 1 && it.n_hist == 2 && it.hist[1].gen == 2 &&
		   strcmp(it.hist[1].hash, h) == 0,
	       "contract: abandon clears owner and mark, rev + 1, pushes hist");
	rc = cc_commit(c, id, CC_NODE_A, 1, 1, 3, false);
	TAP_OK(rc == -ESTALE, "contract: the old holder cannot commit after abandon (rc %d)", rc);
	rc = c->ops->acquire(c, id, CC_NODE_B, 0, CC_NOW, CC_TTL, NULL, &it);
	TAP_OK(rc == 0 && it.epoch == 2, "contract: another node acquires it at once (rc %d)", rc);

	cc_id(id, prefix, "abandon-new");
	c->ops->acquire(c, id, CC_NODE_A, 0, CC_NOW, CC_TTL, NULL, &it);
	c->ops->strand(c, id, CC_NODE_A, 1, CC_NOW);
	c->ops->get(c, id, &seen);
	rc = c->ops->abandon(c, &seen, CC_NOW + 5);
	TAP_OK(rc == 0 && c->ops->get(c, id, &it) == 0 && it.gen == 1 && it.deleted_ms != 0 &&
		   !it.hash[0] && !it.owner[0],
	       "contract: abandoning a never-committed item leaves a tombstone (rc %d)", rc);
}

static void cc_commit_rules(struct catalog *c, const char *prefix)
{
	struct cat_item it;
	char id[CAT_ID_MAX + 1], h[CAT_HASH_HEX + 1];
	int rc;

	cc_id(id, prefix, "commit");
	c->ops->acquire(c, id, CC_NODE_A, 0, CC_NOW, CC_TTL, NULL, &it); /* A, epoch 1 */

	rc = cc_commit(c, id, CC_NODE_A, 1, 0, 1, false);
	TAP_OK(rc == 0, "contract: commit with the right base gen succeeds (rc %d)", rc);
	rc = c->ops->get(c, id, &it);
	cc_hash(h, 1);
	TAP_OK(rc == 0 && it.gen == 1 && strcmp(it.hash, h) == 0 && it.size == 1001 &&
		   it.mtime_ms == CC_NOW + 1 && it.deleted_ms == 0,
	       "contract: commit sets gen, hash, size and mtime");
	TAP_OK(it.n_hist == 1 && it.hist[0].gen == 1 && strcmp(it.hist[0].hash, h) == 0,
	       "contract: commit pushes one hist entry (n_hist %d)", it.n_hist);
	TAP_OK(strcmp(it.owner, CC_NODE_A) == 0 && it.epoch == 1,
	       "contract: commit keeps the lease");

	rc = cc_commit(c, id, CC_NODE_A, 1, 0, 2, false);
	TAP_OK(rc == -ESTALE, "contract: commit with a wrong base gen -> -ESTALE (rc %d)", rc);
	rc = cc_commit(c, id, CC_NODE_A, 1, 5, 2, false);
	TAP_OK(rc == -ESTALE, "contract: commit with a future base gen -> -ESTALE (rc %d)", rc);
	rc = cc_commit(c, id, CC_NODE_A, 2, 1, 2, false);
	TAP_OK(rc == -ESTALE, "contract: commit with a wrong epoch -> -ESTALE (rc %d)", rc);
	rc = c->ops->get(c, id, &it);
	TAP_OK(rc == 0 && it.gen == 1 && strcmp(it.hash, h) == 0 && it.n_hist == 1 &&
		   it.size == 1001,
	       "contract: failed commits leave the item unchanged");

	/* B takes the lease over: A's commit must now be refused. */
	{
		struct cat_takeover tk = {CC_NODE_A, it.epoch, it.rev, 0};

		rc = c->ops->get(c, id, &it);
		tk.rev = it.rev;
		rc = c->ops->acquire(c, id, CC_NODE_B, 0, CC_NOW, CC_TTL, &tk, &it);
	}
	TAP_OK(rc == 0 && it.epoch == 2 && it.gen == 1, "contract: B takes the lease over");
	rc = cc_commit(c, id, CC_NODE_A, 1, 1, 3, false);
	TAP_OK(rc == -ESTALE, "contract: commit by a node that lost the lease -> -ESTALE (rc %d)",
	       rc);
	rc = cc_commit(c, id, CC_NODE_B, 2, 1, 4, false);
	TAP_OK(rc == 0, "contract: the new holder commits on the same base (rc %d)", rc);
	rc = c->ops->get(c, id, &it);
	cc_hash(h, 4);
	TAP_OK(rc == 0 && it.gen == 2 && strcmp(it.hash, h) == 0 && it.n_hist == 2 &&
		   it.hist[1].gen == 2 && strcmp(it.hist[1].hash, h) == 0,
	       "contract: item holds the new holder's version, newest hist last");
}

static void cc_release(struct catalog *c, const char *prefix)
{
	struct cat_item it;
	char id[CAT_ID_MAX + 1];
	int rc;

	cc_id(id, prefix, "release");
	c->ops->acquire(c, id, CC_NODE_A, 0, CC_NOW, CC_TTL, NULL, &it); /* epoch 1 */
	rc = c->ops->release(c, id, CC_NODE_B, 1);
	TAP_OK(rc == -ESTALE, "contract: release by a non-holder -> -ESTALE (rc %d)", rc);
	rc = c->ops->release(c, id, CC_NODE_A, 2);
	TAP_OK(rc == -ESTALE, "contract: release with a wrong epoch -> -ESTALE (rc %d)", rc);
	rc = c->ops->release(c, id, CC_NODE_A, 1);
	TAP_OK(rc == 0, "contract: release by the holder succeeds (rc %d)", rc);
	rc = c->ops->get(c, id, &it);
	TAP_OK(rc == 0 && it.owner[0] == '\0' && it.expires_ms == 0 && it.epoch == 1 && it.rev == 2,
	       "contract: release clears owner and expires, keeps epoch, rev + 1");
	rc = c->ops->release(c, id, CC_NODE_A, 1);
	TAP_OK(rc == -ESTALE, "contract: a second release -> -ESTALE (rc %d)", rc);
	rc = c->ops->strand(c, id, CC_NODE_A, 1, CC_NOW + 5);
	TAP_OK(rc == -ESTALE, "contract: strand after release -> -ESTALE (rc %d)", rc);
	/* Well before the old deadline: the released lease is free at once. */
	rc = c->ops->acquire(c, id, CC_NODE_B, 0, CC_NOW + 1, CC_TTL, NULL, &it);
	TAP_OK(rc == 0 && strcmp(it.owner, CC_NODE_B) == 0 && it.epoch == 2,
	       "contract: another node acquires a released lease (rc %d epoch %" PRIu64 ")", rc,
	       it.epoch);
}

/* Node names unique to this run: sessions are per node, and runs may share
 * a table. */
static void cc_node(char *node, const char *prefix, const char *what)
{
	snprintf(node, CAT_NODE_MAX + 1, "%s~%s", prefix, what);
}

/* Sessions: start, heartbeat, and that a heartbeat costs no item write. */
static void cc_heartbeat(struct catalog *c, const char *prefix)
{
	char na[CAT_NODE_MAX + 1], id[CAT_ID_MAX + 1];
	struct cat_session s, s2;
	struct cat_item it;
	int rc;

	cc_node(na, prefix, "hb-a");
	cc_id(id, prefix, "hb");
	rc = c->ops->session_get(c, na, &s);
	TAP_OK(rc == -ENOENT, "contract: no session before the first start (rc %d)", rc);
	memset(&s, 0x5a, sizeof(s));
	rc = c->ops->session_start(c, na, CC_NOW, CC_TTL, &s);
	TAP_OK(rc == 0 && s.sess == 1 && s.rev == 1 && s.killed_ms == 0 && s.n_wants == 0 &&
		   s.expires_ms == CC_NOW + CC_TTL && strcmp(s.node, na) == 0,
	       "contract: a first session has sess 1, rev 1 (rc %d sess %" PRIu64 " rev %" PRIu64
	       ")",
	       rc, s.sess, s.rev);
	rc = c->ops->acquire(c, id, na, s.sess, CC_NOW, CC_TTL, NULL, &it);
	TAP_OK(rc == 0 && it.sess == 1 && it.rev == 1,
	       "contract: an acquire names the session (rc %d sess %" PRIu64 ")", rc, it.sess);
	memset(&s2, 0, sizeof(s2));
	rc = c->ops->heartbeat(c, na, 1, CC_NOW + 10, CC_TTL, NULL, 0, &s2);
	TAP_OK(rc == 0 && s2.sess == 1 && s2.rev == 2 && s2.expires_ms == CC_NOW + 10 + CC_TTL,
	       "contract: a heartbeat bumps rev and sets expires (rc %d rev %" PRIu64 ")", rc,
	       s2.rev);
	rc = c->ops->heartbeat(c, na, 1, CC_NOW + 20, CC_TTL, NULL, 0, NULL);
	TAP_OK(rc == 0, "contract: a heartbeat with out NULL works (rc %d)", rc);
	rc = c->ops->heartbeat(c, na, 2, CC_NOW + 30, CC_TTL, NULL, 0, &s2);
	TAP_OK(rc == -ESTALE, "contract: a heartbeat of another session -> -ESTALE (rc %d)", rc);
	rc = c->ops->session_get(c, na, &s2);
	TAP_OK(rc == 0 && s2.sess == 1 && s2.rev == 3 && s2.expires_ms == CC_NOW + 20 + CC_TTL,
	       "contract: get sees the session, failed heartbeat changed nothing (rev %" PRIu64 ")",
	       s2.rev);
	rc = c->ops->get(c, id, &it);
	TAP_OK(rc == 0 && it.rev == 1 && it.expires_ms == CC_NOW + CC_TTL,
	       "contract: heartbeats leave the held item alone (rev %" PRIu64 ")", it.rev);
	rc = c->ops->heartbeat(c, "", 1, CC_NOW, CC_TTL, NULL, 0, NULL);
	TAP_OK(rc == -EINVAL, "contract: a heartbeat without a node -> -EINVAL (rc %d)", rc);

	rc = c->ops->session_start(c, na, CC_NOW + 40, CC_TTL, &s2);
	TAP_OK(rc == 0 && s2.sess == 2 && s2.rev == 4,
	       "contract: a restart begins session 2 (sess %" PRIu64 " rev %" PRIu64 ")", s2.sess,
	       s2.rev);
	rc = c->ops->heartbeat(c, na, 1, CC_NOW + 50, CC_TTL, NULL, 0, NULL);
	TAP_OK(rc == -ESTALE, "contract: the old session's heartbeat -> -ESTALE (rc %d)", rc);
	rc = c->ops->acquire(c, id, na, 2, CC_NOW, CC_TTL, NULL, &it);
	TAP_OK(rc == 0 && it.sess == 2 && it.epoch == 2,
	       "contract: the owner takes its item again in its new session (rc %d)", rc);
}

/* Two live sessions, of nodes na and nb (named after tag); A holds id
 * (committed, gen 1) and id2 (stranded). *sa, *sb get the sessions. */
static void cc_two_holders(struct catalog *c, const char *prefix, const char *tag, char *na,
			   char *nb, char *id, char *id2, struct cat_session *sa,
			   struct cat_session *sb)
{
	char what[32];
	struct cat_item it;
	int rc;

	snprintf(what, sizeof(what), "%s-a", tag);
	cc_node(na, prefix, what);
	snprintf(what, sizeof(what), "%s-b", tag);
	cc_node(nb, prefix, what);
	snprintf(what, sizeof(what), "s%s", tag);
	cc_id(id, prefix, what);
	snprintf(what, sizeof(what), "s%s2", tag);
	cc_id(id2, prefix, what);
	c->ops->session_start(c, na, CC_NOW, CC_TTL, sa);
	c->ops->session_start(c, nb, CC_NOW, CC_TTL, sb);
	rc = c->ops->acquire(c, id, na, sa->sess, CC_NOW, CC_TTL, NULL, &it);
	TAP_OK(rc == 0 && cc_commit(c, id, na, it.epoch, 0, 7, false) == 0,
	       "contract: %s: A holds and commits (rc %d)", tag, rc);
	c->ops->acquire(c, id2, na, sa->sess, CC_NOW, CC_TTL, NULL, &it);
	rc = c->ops->strand(c, id2, na, it.epoch, CC_NOW);
	TAP_OK(rc == 0, "contract: %s: A strands a second item (rc %d)", tag, rc);
}

/* A live session keeps its leases; one seen dead is killed, which fences it:
 * its heartbeat, commit, release and strand fail, its items are taken. */
static void cc_session_takeover(struct catalog *c, const char *prefix)
{
	char na[CAT_NODE_MAX + 1], nb[CAT_NODE_MAX + 1], id[CAT_ID_MAX + 1], id2[CAT_ID_MAX + 1];
	struct cat_session sa, sb, s;
	struct cat_takeover tk;
	struct cat_item it, seen;
	int rc;

	cc_two_holders(c, prefix, "tk", na, nb, id, id2, &sa, &sb);

	memset(&seen, 0, sizeof(seen));
	rc = c->ops->acquire(c, id, nb, sb.sess, CC_NOW + 100 * CC_TTL, CC_TTL, NULL, &seen);
	TAP_OK(rc == -EBUSY && strcmp(seen.owner, na) == 0 && seen.sess == sa.sess &&
		   seen.epoch == 1,
	       "contract: acquire of a live session's item -> -EBUSY naming owner and session "
	       "(rc %d)",
	       rc);
	/* The heartbeat B saw; then A heartbeats once more. */
	rc = c->ops->session_get(c, na, &s);
	TAP_OK(rc == 0 && s.rev == sa.rev && !s.killed_ms, "contract: B reads A's session");
	c->ops->heartbeat(c, na, sa.sess, CC_NOW, CC_TTL, NULL, 0, NULL);
	rc = c->ops->session_kill(c, na, s.sess, s.rev, CC_NOW);
	TAP_OK(rc == -ESTALE,
	       "contract: a heartbeat after the observation defeats the kill (rc %d)", rc);
	rc = c->ops->session_get(c, na, &s);
	rc = c->ops->session_kill(c, na, s.sess + 1, s.rev, CC_NOW);
	TAP_OK(rc == -ESTALE, "contract: a kill naming another session -> -ESTALE (rc %d)", rc);
	rc = c->ops->session_kill(c, na, s.sess, s.rev, CC_NOW - 100 * CC_TTL);
	TAP_OK(rc == 0, "contract: a kill on the observed (sess, rev), any clock (rc %d)", rc);
	rc = c->ops->session_get(c, na, &s);
	TAP_OK(rc == 0 && s.killed_ms != 0, "contract: the session reads killed");
	rc = c->ops->session_kill(c, na, s.sess, s.rev, CC_NOW);
	TAP_OK(rc == -ESTALE, "contract: a second kill -> -ESTALE (rc %d)", rc);
	rc = c->ops->heartbeat(c, na, sa.sess, CC_NOW, CC_TTL, NULL, 0, NULL);
	TAP_OK(rc == -ESTALE, "contract: the killed session's heartbeat -> -ESTALE (rc %d)", rc);

	/* The item is taken only as exactly the holder seen. */
	tk.owner = na;
	tk.epoch = seen.epoch;
	tk.rev = seen.rev;
	tk.sess = seen.sess + 1;
	rc = c->ops->acquire(c, id, nb, sb.sess, CC_NOW, CC_TTL, &tk, &it);
	TAP_OK(rc == -EBUSY, "contract: takeover naming another session -> -EBUSY (rc %d)", rc);
	tk.sess = 0;
	rc = c->ops->acquire(c, id, nb, sb.sess, CC_NOW, CC_TTL, &tk, &it);
	TAP_OK(rc == -EBUSY, "contract: a session item is not taken by its rev alone (rc %d)", rc);
	tk.sess = seen.sess;
	tk.epoch = seen.epoch + 1;
	rc = c->ops->acquire(c, id, nb, sb.sess, CC_NOW, CC_TTL, &tk, &it);
	TAP_OK(rc == -EBUSY, "contract: takeover naming another epoch -> -EBUSY (rc %d)", rc);
	tk.epoch = seen.epoch;
	tk.rev = 999; /* rev does not matter once the session is dead */
	rc = c->ops->acquire(c, id, nb, sb.sess, CC_NOW, CC_TTL, &tk, &it);
	TAP_OK(rc == 0 && strcmp(it.owner, nb) == 0 && it.sess == sb.sess && it.epoch == 2 &&
		   it.gen == 1,
	       "contract: acquire after the session was seen dead -> B at epoch 2 (rc %d)", rc);

	/* The killed node comes back: everything it writes is refused. */
	rc = cc_commit(c, id, na, 1, 1, 8, false);
	TAP_OK(rc == -ESTALE, "contract: the killed node's commit is refused (rc %d)", rc);
	rc = c->ops->release(c, id, na, 1);
	TAP_OK(rc == -ESTALE, "contract: the killed node's release is refused (rc %d)", rc);
	rc = c->ops->get(c, id, &it);
	TAP_OK(rc == 0 && strcmp(it.owner, nb) == 0 && it.gen == 1 && it.epoch == 2,
	       "contract: the new holder's item is untouched");
	rc = cc_commit(c, id, nb, 2, 1, 9, false);
	TAP_OK(rc == 0, "contract: the new holder commits (rc %d)", rc);

	/* A stranded item stays with its owner, dead session or not. */
	rc = c->ops->acquire(c, id2, nb, sb.sess, CC_NOW, CC_TTL, NULL, &seen);
	tk.epoch = seen.epoch;
	tk.sess = seen.sess;
	rc = c->ops->acquire(c, id2, nb, sb.sess, CC_NOW, CC_TTL, &tk, &it);
	TAP_OK(rc == -EBUSY && it.stranded_ms != 0,
	       "contract: a stranded item of a dead session is not taken (rc %d)", rc);

	/* A restart after the kill begins a live session again. */
	rc = c->ops->session_start(c, na, CC_NOW, CC_TTL, &s);
	TAP_OK(rc == 0 && s.sess == sa.sess + 1 && s.killed_ms == 0,
	       "contract: a restart after a kill begins a new, live session (rc %d)", rc);
	rc = c->ops->heartbeat(c, na, s.sess, CC_NOW, CC_TTL, NULL, 0, NULL);
	TAP_OK(rc == 0, "contract: the new session heartbeats (rc %d)", rc);
}

/* A node ends its own session at shutdown: one write frees every lease
 * taken in it, except the stranded ones; epochs still fence its writes. */
static void cc_session_end(struct catalog *c, const char *prefix)
{
	char na[CAT_NODE_MAX + 1], nb[CAT_NODE_MAX + 1], nx[CAT_NODE_MAX + 1];
	char id[CAT_ID_MAX + 1], id2[CAT_ID_MAX + 1], id3[CAT_ID_MAX + 1];
	struct cat_session sa, sb, s;
	struct cat_takeover tk;
	struct cat_item it, seen;
	int rc;

	cc_two_holders(c, prefix, "end", na, nb, id, id2, &sa, &sb);
	cc_node(nx, prefix, "end-x");
	cc_id(id3, prefix, "send3");
	rc = c->ops->acquire(c, id3, na, sa.sess, CC_NOW, CC_TTL, NULL, &it);
	TAP_OK(rc == 0, "contract: end: A holds a third item (rc %d)", rc);

	rc = c->ops->session_end(c, na, sa.sess + 1, CC_NOW);
	TAP_OK(rc == -ESTALE, "contract: ending another session -> -ESTALE (rc %d)", rc);
	rc = c->ops->session_end(c, nx, 1, CC_NOW);
	TAP_OK(rc == -ESTALE, "contract: ending a node without a session -> -ESTALE (rc %d)", rc);
	rc = c->ops->session_get(c, nx, &s);
	TAP_OK(rc == -ENOENT, "contract: ... and creates no session (rc %d)", rc);
	rc = c->ops->session_get(c, na, &s);
	TAP_OK(rc == 0 && s.sess == sa.sess && !s.killed_ms,
	       "contract: a failed end changes nothing (rc %d)", rc);
	/* any rev: the node ends its own session whatever heartbeats it sent */
	c->ops->heartbeat(c, na, sa.sess, CC_NOW, CC_TTL, NULL, 0, NULL);
	rc = c->ops->session_end(c, na, sa.sess, CC_NOW - 100 * CC_TTL);
	TAP_OK(rc == 0, "contract: a node ends its own session, any rev, any clock (rc %d)", rc);
	rc = c->ops->session_get(c, na, &s);
	TAP_OK(rc == 0 && s.sess == sa.sess && s.killed_ms != 0,
	       "contract: the ended session reads over (killed set)");
	rc = c->ops->session_end(c, na, sa.sess, CC_NOW);
	TAP_OK(rc == -ESTALE, "contract: a second end -> -ESTALE (rc %d)", rc);
	rc = c->ops->session_kill(c, na, s.sess, s.rev, CC_NOW);
	TAP_OK(rc == -ESTALE, "contract: a kill of an ended session -> -ESTALE (rc %d)", rc);
	rc = c->ops->heartbeat(c, na, sa.sess, CC_NOW, CC_TTL, NULL, 0, NULL);
	TAP_OK(rc == -ESTALE, "contract: the ended session's heartbeat -> -ESTALE (rc %d)", rc);

	/* Its items are taken at once, as of a killed session: exactly as seen. */
	memset(&seen, 0, sizeof(seen));
	rc = c->ops->acquire(c, id, nb, sb.sess, CC_NOW, CC_TTL, NULL, &seen);
	TAP_OK(rc == -EBUSY && strcmp(seen.owner, na) == 0 && seen.sess == sa.sess,
	       "contract: the catalog alone still names A's session on its item (rc %d)", rc);
	tk.owner = na;
	tk.sess = seen.sess;
	tk.epoch = seen.epoch + 1;
	tk.rev = seen.rev;
	rc = c->ops->acquire(c, id, nb, sb.sess, CC_NOW, CC_TTL, &tk, &it);
	TAP_OK(rc == -EBUSY,
	       "contract: after an end, a takeover naming another epoch -> -EBUSY "
	       "(rc %d)",
	       rc);
	tk.epoch = seen.epoch;
	rc = c->ops->acquire(c, id, nb, sb.sess, CC_NOW, CC_TTL, &tk, &it);
	TAP_OK(rc == 0 && strcmp(it.owner, nb) == 0 && it.epoch == seen.epoch + 1 && it.gen == 1,
	       "contract: an item of the ended session is taken at once (rc %d epoch %" PRIu64 ")",
	       rc, it.epoch);
	rc = cc_commit(c, id, na, seen.epoch, 1, 12, false);
	TAP_OK(rc == -ESTALE, "contract: the ended holder's late commit is refused (rc %d)", rc);
	rc = c->ops->acquire(c, id2, nb, sb.sess, CC_NOW, CC_TTL, NULL, &seen);
	tk.sess = seen.sess;
	tk.epoch = seen.epoch;
	tk.rev = seen.rev;
	rc = c->ops->acquire(c, id2, nb, sb.sess, CC_NOW, CC_TTL, &tk, &it);
	TAP_OK(rc == -EBUSY && it.stranded_ms != 0 && strcmp(it.owner, na) == 0,
	       "contract: a stranded item of the ended session stays fenced off (rc %d)", rc);

	/* The node's next start takes its own items back, stranded or not. */
	rc = c->ops->session_start(c, na, CC_NOW, CC_TTL, &s);
	TAP_OK(rc == 0 && s.sess == sa.sess + 1 && s.killed_ms == 0,
	       "contract: a start after an end begins a new, live session (rc %d)", rc);
	rc = c->ops->acquire(c, id2, na, s.sess, CC_NOW, CC_TTL, NULL, &it);
	TAP_OK(rc == 0 && it.stranded_ms != 0 && it.sess == s.sess,
	       "contract: ... re-takes its stranded item, the mark kept (rc %d)", rc);
	rc = c->ops->acquire(c, id3, na, s.sess, CC_NOW, CC_TTL, NULL, &it);
	TAP_OK(rc == 0 && it.sess == s.sess, "contract: ... and its other item (rc %d)", rc);
}

/* The fleet tools' acquire (cat_acquire_free, session 0): a live or
 * stranded holder keeps its lease; one whose session is over, or was
 * replaced by a newer one, gives it up. */
static void cc_tool_acquire(struct catalog *c, const char *prefix)
{
	char na[CAT_NODE_MAX + 1], nb[CAT_NODE_MAX + 1], nt[CAT_NODE_MAX + 1];
	char id[CAT_ID_MAX + 1], id2[CAT_ID_MAX + 1], id3[CAT_ID_MAX + 1];
	struct cat_session sa, sb, s;
	struct cat_item it;
	int rc;

	cc_two_holders(c, prefix, "tool", na, nb, id, id2, &sa, &sb);
	cc_node(nt, prefix, "tool-t");
	cc_id(id3, prefix, "stool3");
	rc = c->ops->acquire(c, id3, nb, sb.sess, CC_NOW, CC_TTL, NULL, &it);
	TAP_OK(rc == 0, "contract: tool: B holds a third item (rc %d)", rc);
	rc = cat_acquire_free(c, id, nt, CC_NOW, CC_TTL, &it);
	TAP_OK(rc == -EBUSY && strcmp(it.owner, na) == 0,
	       "contract: tool: a live holder keeps its lease (rc %d)", rc);
	rc = c->ops->session_end(c, na, sa.sess, CC_NOW);
	rc = rc ? rc : cat_acquire_free(c, id, nt, CC_NOW, CC_TTL, &it);
	TAP_OK(rc == 0 && strcmp(it.owner, nt) == 0 && it.sess == 0,
	       "contract: tool: the lease of an ended session is taken (rc %d)", rc);
	rc = cat_acquire_free(c, id2, nt, CC_NOW, CC_TTL, &it);
	TAP_OK(rc == -EBUSY && it.stranded_ms != 0,
	       "contract: tool: a stranded one of it is not (rc %d)", rc);
	rc = c->ops->session_start(c, nb, CC_NOW, CC_TTL, &s);
	rc = rc ? rc : cat_acquire_free(c, id3, nt, CC_NOW, CC_TTL, &it);
	TAP_OK(rc == 0 && strcmp(it.owner, nt) == 0,
	       "contract: tool: the lease of a session replaced by a newer one is taken (rc %d)",
	       rc);
}

/* Hand-over requests travel on the holder's session. */
static void cc_want(struct catalog *c, const char *prefix)
{
	char na[CAT_NODE_MAX + 1], nb[CAT_NODE_MAX + 1], nx[CAT_NODE_MAX + 1], id[CAT_ID_MAX + 1],
	    id2[CAT_ID_MAX + 1];
	const char(*done)[CAT_ID_MAX + 1];
	struct cat_session sa, sb, s;
	struct cat_item it;
	int rc, i, found = 0;

	cc_node(na, prefix, "want-a");
	cc_node(nb, prefix, "want-b");
	cc_node(nx, prefix, "want-none");
	cc_id(id, prefix, "want");
	cc_id(id2, prefix, "want2");
	c->ops->session_start(c, na, CC_NOW, CC_TTL, &sa);
	c->ops->session_start(c, nb, CC_NOW, CC_TTL, &sb);
	c->ops->acquire(c, id, na, sa.sess, CC_NOW, CC_TTL, NULL, &it); /* epoch 1 */
	c->ops->acquire(c, id2, na, sa.sess, CC_NOW, CC_TTL, NULL, &it);
	rc = c->ops->acquire(c, id, nb, sb.sess, CC_NOW + 1, CC_TTL, NULL, &it);
	TAP_OK(rc == -EBUSY, "contract: B is refused while A holds (rc %d)", rc);
	rc = c->ops->want(c, id, it.owner);
	TAP_OK(rc == 0, "contract: want by B to the holder succeeds (rc %d)", rc);
	rc = c->ops->want(c, id, it.owner);
	TAP_OK(rc == 0, "contract: asking twice succeeds (rc %d)", rc);
	rc = c->ops->want(c, id2, na);
	TAP_OK(rc == 0, "contract: a second request (rc %d)", rc);
	memset(&s, 0, sizeof(s));
	rc = c->ops->heartbeat(c, na, sa.sess, CC_NOW, CC_TTL, NULL, 0, &s);
	for (i = 0; i < s.n_wants; i++)
		found |= !strcmp(s.wants[i], id) ? 1 : !strcmp(s.wants[i], id2) ? 2 : 4;
	TAP_OK(rc == 0 && s.n_wants == 2 && found == 3,
	       "contract: the holder sees both requests in its heartbeat reply (n %d)", s.n_wants);
	rc = c->ops->get(c, id, &it);
	TAP_OK(rc == 0 && it.rev == 1 && it.want[0] == '\0',
	       "contract: a request writes no database item (rev %" PRIu64 ")", it.rev);
	done = (const char(*)[CAT_ID_MAX + 1]) s.wants;
	for (i = 0; i < s.n_wants && strcmp(done[i], id) != 0; i++)
		;
	rc = c->ops->heartbeat(c, na, sa.sess, CC_NOW, CC_TTL, done + i, 1, &s);
	TAP_OK(rc == 0 && s.n_wants == 1 && strcmp(s.wants[0], id2) == 0,
	       "contract: a heartbeat removes the requests it names as done (n %d)", s.n_wants);
	rc = c->ops->release(c, id, na, 1);
	TAP_OK(rc == 0, "contract: holder hands over by releasing (rc %d)", rc);
	rc = c->ops->acquire(c, id, nb, sb.sess, CC_NOW + 3, CC_TTL, NULL, &it);
	TAP_OK(rc == 0 && strcmp(it.owner, nb) == 0,
	       "contract: the asking node acquires after the release (rc %d)", rc);

	rc = c->ops->want(c, id, nx);
	TAP_OK(rc == -ENOENT, "contract: want to a node without a session -> -ENOENT (rc %d)", rc);
	rc = c->ops->session_get(c, nx, &s);
	TAP_OK(rc == -ENOENT, "contract: ... and creates no session (rc %d)", rc);
	rc = c->ops->session_start(c, na, CC_NOW, CC_TTL, &s);
	TAP_OK(rc == 0 && s.n_wants == 0, "contract: a new session starts without requests (n %d)",
	       s.n_wants);
}

static void cc_tombstone_and_hist(struct catalog *c, const char *prefix)
{
	struct cat_item it;
	char id[CAT_ID_MAX + 1], h[CAT_HASH_HEX + 1];
	uint64_t gen = 0;
	int rc, i, ok = 1;

	cc_id(id, prefix, "tomb");
	c->ops->acquire(c, id, CC_NODE_A, 0, CC_NOW, CC_TTL, NULL, &it); /* epoch 1 */
	rc = cc_commit(c, id, CC_NODE_A, 1, gen++, 1, false);
	rc |= cc_commit(c, id, CC_NODE_A, 1, gen++, 0, true);
	TAP_OK(rc == 0, "contract: version then tombstone commit with an empty hash (rc %d)", rc);
	rc = c->ops->get(c, id, &it);
	TAP_OK(rc == 0 && it.deleted_ms != 0 && it.gen == 2,
	       "contract: tombstone commit sets deleted (rc %d deleted_ms %" PRId64 ")", rc,
	       it.deleted_ms);
	TAP_OK(rc == 0 && it.hash[0] == '\0' && it.n_hist == 2 && it.hist[1].hash[0] == '\0' &&
		   it.hist[1].gen == 2,
	       "contract: the tombstone's empty hash reads back, in the item and its hist");
	rc = cc_commit(c, id, CC_NODE_A, 1, gen++, 3, false);
	TAP_OK(rc == 0, "contract: commit over a tombstone succeeds (rc %d)", rc);
	rc = c->ops->get(c, id, &it);
	cc_hash(h, 3);
	TAP_OK(rc == 0 && it.deleted_ms == 0 && it.gen == 3 && strcmp(it.hash, h) == 0,
	       "contract: a later commit revives the item");

	for (i = 0; i < CAT_HIST_MAX + 3 && ok; i++)
		ok = cc_commit(c, id, CC_NODE_A, 1, gen++, 10 + (unsigned)i, false) == 0;
	TAP_OK(ok, "contract: %d more commits succeed", CAT_HIST_MAX + 3);
	rc = c->ops->get(c, id, &it);
	TAP_OK(rc == 0 && it.n_hist == CAT_HIST_MAX && it.gen == gen,
	       "contract: hist trimmed to CAT_HIST_MAX (n_hist %d gen %" PRIu64 ")", it.n_hist,
	       it.gen);
	for (i = 0, ok = 1; i < it.n_hist && i < CAT_HIST_MAX; i++) {
		cc_hash(h, 10 + CAT_HIST_MAX + 3 - (unsigned)it.n_hist + (unsigned)i);
		ok &= it.hist[i].gen == gen - (uint64_t)it.n_hist + 1 + (uint64_t)i &&
		      strcmp(it.hist[i].hash, h) == 0 && it.hist[i].time_ms != 0;
	}
	TAP_OK(ok, "contract: hist holds the last %d commits, oldest first", CAT_HIST_MAX);
}

struct cc_scan {
	const char *prefix;
	int seen[25];
	int other;
	int stop_after;
	int calls;
};

static int cc_scan_cb(void *arg, const struct cat_item *it)
{
	struct cc_scan *s = arg;
	size_t pl = strlen(s->prefix);
	int n;

	s->calls++;
	if (s->stop_after && s->calls >= s->stop_after)
		return 42;
	if (strncmp(it->id, s->prefix, pl) != 0 || strncmp(it->id + pl, "-scan-", 6) != 0)
		return 0;
	n = atoi(it->id + pl + 6);
	if (n >= 0 && n < 25)
		s->seen[n]++;
	else
		s->other++;
	return 0;
}

static void cc_scan(struct catalog *c, const char *prefix)
{
	struct cc_scan s = {.prefix = prefix};
	struct cat_item it;
	char id[CAT_ID_MAX + 1], what[32], *token = NULL;
	int i, rc = 0, pages = 0, once = 1, ok = 1;

	for (i = 0; i < 25; i++) {
		snprintf(what, sizeof(what), "scan-%d", i);
		cc_id(id, prefix, what);
		ok &= c->ops->acquire(c, id, CC_NODE_A, 0, CC_NOW, CC_TTL, NULL, &it) == 0;
		if (i % 5 == 0) /* tombstones are listed too */
			ok &= cc_commit(c, id, CC_NODE_A, 1, 0, 1, true) == 0;
	}
	TAP_OK(ok, "contract: 25 items created for the scan");
	/* Bounded: a table shared with other runs may hold many items. */
	do {
		rc = c->ops->scan(c, &token, cc_scan_cb, &s);
		pages++;
	} while (rc == 0 && token && pages < 100000);
	TAP_OK(rc == 0 && !token, "contract: scan ends with a NULL token (rc %d, %d pages)", rc,
	       pages);
	free(token);
	for (i = 0; i < 25; i++)
		once &= s.seen[i] == 1;
	TAP_OK(once && s.other == 0, "contract: scan sees each of the 25 items exactly once");

	memset(&s, 0, sizeof(s));
	s.prefix = prefix;
	s.stop_after = 3;
	token = NULL;
	rc = c->ops->scan(c, &token, cc_scan_cb, &s);
	TAP_OK(rc == 42 && s.calls == 3,
	       "contract: a non-zero callback return stops the scan (rc %d)", rc);
	free(token);
}

static void cc_get_missing(struct catalog *c, const char *prefix)
{
	struct cat_item it;
	char id[CAT_ID_MAX + 1];
	int rc;

	cc_id(id, prefix, "never");
	rc = c->ops->get(c, id, &it);
	TAP_OK(rc == -ENOENT, "contract: get of a missing id -> -ENOENT (rc %d)", rc);
	rc = cc_commit(c, id, CC_NODE_A, 1, 0, 1, false);
	TAP_OK(rc == -ESTALE, "contract: commit to a missing id -> -ESTALE (rc %d)", rc);
	rc = c->ops->release(c, id, CC_NODE_A, 1);
	TAP_OK(rc == -ESTALE, "contract: release of a missing id -> -ESTALE (rc %d)", rc);
	rc = c->ops->get(c, id, &it);
	TAP_OK(rc == -ENOENT, "contract: failed writes created nothing (rc %d)", rc);
}

/* A fenced commit (a version gc must not have deleted) of hash n on seq. */
static int cc_fenced(struct catalog *c, const char *id, uint64_t epoch, uint64_t base,
		     unsigned hash_n, uint64_t seq)
{
	char h[CAT_HASH_HEX + 1];
	struct cat_commit cm = {
	    .new_gen = base + 1,
	    .hash = h,
	    .size = 1000 + hash_n,
	    .mtime_ms = CC_NOW + hash_n,
	    .gc_fenced = true,
	    .gc_seq = seq,
	};

	cc_hash(h, hash_n);
	return c->ops->commit(c, id, CC_NODE_A, epoch, base, &cm);
}

/* The gc fence: a phase opens only on the gen gc saw and when none is
 * open; a fenced commit on an older gc_seq, or of a doomed hash while the
 * phase is open, is refused; other hashes commit on the new gc_seq; an
 * unfenced commit (a tombstone) ignores the fence; closing needs the
 * phase's gc_seq. No lease field moves. */
static void cc_gc_fence(struct catalog *c, const char *prefix)
{
	char id[CAT_ID_MAX + 1], doom[2 * CAT_HASH_HEX + 2], h3[CAT_HASH_HEX + 1],
	    h4[CAT_HASH_HEX + 1];
	struct cat_item it, after;

	cc_id(id, prefix, "gc");
	cc_hash(h3, 3);
	cc_hash(h4, 4);
	snprintf(doom, sizeof(doom), "%s,%s", h3, h4);
	TAP_OK(c->ops->acquire(c, id, CC_NODE_A, 0, CC_NOW, CC_TTL, NULL, &it) == 0 &&
		   it.gc_seq == 0 && it.gc_since_ms == 0,
	       "gc: a new item has gc_seq 0 and no phase");
	TAP_OK(cc_fenced(c, id, it.epoch, 0, 1, 0) == 0, "gc: a fenced commit on gc_seq 0");
	TAP_OK(c->ops->gc_begin(c, id, 0, 0, doom, CC_NOW) == -ESTALE,
	       "gc: a phase on a gen that moved is refused");
	TAP_OK(c->ops->gc_begin(c, id, 1, 1, doom, CC_NOW) == -ESTALE,
	       "gc: a phase on a wrong gc_seq is refused");
	TAP_OK(c->ops->gc_begin(c, id, 1, 0, doom, CC_NOW + 5) == 0, "gc: a phase opens");
	TAP_OK(c->ops->get(c, id, &after) == 0 && after.gc_seq == 1 &&
		   after.gc_since_ms == CC_NOW + 5 && after.rev == it.rev + 1 &&
		   after.epoch == it.epoch && !strcmp(after.owner, CC_NODE_A),
	       "gc: gc_seq + 1, since set, the lease untouched (rev moved by the commit only)");
	TAP_OK(c->ops->gc_begin(c, id, 1, 1, doom, CC_NOW) == -ESTALE,
	       "gc: a second phase while one is open is refused");
	TAP_OK(cc_fenced(c, id, it.epoch, 1, 2, 0) == -ESTALE,
	       "gc: a commit whose upload predates the phase is refused");
	TAP_OK(cc_fenced(c, id, it.epoch, 1, 3, 1) == -ESTALE,
	       "gc: a commit of a doomed hash is refused while the phase is open");
	TAP_OK(cc_fenced(c, id, it.epoch, 1, 5, 1) == 0,
	       "gc: another hash commits on the new gc_seq");
	TAP_OK(cc_commit(c, id, CC_NODE_A, it.epoch, 2, 0, true) == 0,
	       "gc: an unfenced tombstone ignores the fence");
	TAP_OK(c->ops->gc_end(c, id, 2) == -ESTALE, "gc: closing needs the phase's gc_seq");
	TAP_OK(c->ops->gc_end(c, id, 1) == 0 && c->ops->get(c, id, &after) == 0 &&
		   after.gc_seq == 1 && after.gc_since_ms == 0,
	       "gc: the phase closes, gc_seq stays");
	TAP_OK(cc_fenced(c, id, it.epoch, 3, 3, 1) == 0,
	       "gc: after the phase a doomed hash commits again (uploaded anew)");
	TAP_OK(c->ops->gc_begin(c, "no-such-item-gc", 0, 0, doom, CC_NOW) != 0,
	       "gc: no phase on a missing item");
	TAP_OK(c->ops->gc_begin(c, id, 4, 1, "", CC_NOW) == -EINVAL,
	       "gc: an empty doom is refused");
}

/* remove: only by the holder at its epoch; the item is gone after. */
static void cc_remove(struct catalog *c, const char *prefix)
{
	char id[CAT_ID_MAX + 1];
	struct cat_item it;

	cc_id(id, prefix, "rm");
	TAP_OK(c->ops->acquire(c, id, CC_NODE_A, 0, CC_NOW, CC_TTL, NULL, &it) == 0 &&
		   cc_commit(c, id, CC_NODE_A, it.epoch, 0, 1, false) == 0,
	       "remove: an item with a version");
	TAP_OK(c->ops->remove(c, id, CC_NODE_B, it.epoch) == -ESTALE,
	       "remove: refused to a node that does not hold the lease");
	TAP_OK(c->ops->remove(c, id, CC_NODE_A, it.epoch + 1) == -ESTALE,
	       "remove: refused at another epoch");
	TAP_OK(c->ops->remove(c, id, CC_NODE_A, it.epoch) == 0 &&
		   c->ops->get(c, id, &it) == -ENOENT,
	       "remove: by the holder; the item is gone");
	TAP_OK(c->ops->remove(c, id, CC_NODE_A, 1) == -ESTALE,
	       "remove: of a missing item: -ESTALE");
}

/* Runs the whole contract against c. prefix must be a valid id of at most
 * about 100 bytes, unique to this run. */
static inline void catalog_contract_run(struct catalog *c, const char *prefix)
{
	cc_acquire_basics(c, prefix);
	cc_takeover(c, prefix);
	cc_stranded(c, prefix);
	cc_abandon(c, prefix);
	cc_heartbeat(c, prefix);
	cc_session_takeover(c, prefix);
	cc_session_end(c, prefix);
	cc_tool_acquire(c, prefix);
	cc_commit_rules(c, prefix);
	cc_release(c, prefix);
	cc_want(c, prefix);
	cc_tombstone_and_hist(c, prefix);
	cc_get_missing(c, prefix);
	cc_scan(c, prefix);
	cc_gc_fence(c, prefix);
	cc_remove(c, prefix);
}

#endif
