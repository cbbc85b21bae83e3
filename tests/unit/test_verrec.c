/* Unit tests of cache/store/verrec.c: record keys and names, put / get / chain
 * read against the embedded store, the retention rules (current, keep,
 * snapshot, grace, a missing record) and the time cut over a chain (no
 * mount, no network). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache/catalog/catalog.h"
#include "cache/store/store.h"
#include "cache/store/verrec.h"
#include "tests/unit/tap.h"

#define H(c) c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c

static void test_names(void)
{
	struct key_layout l = {"pre", 0}, ls = {"", 1};
	struct verrec r;
	char key[256];

	TAP_OK(verrec_key(&l, "u1", 7, false, H("a"), key, sizeof(key)) == 0 &&
		   !strcmp(key, "pre/u1/00000000000000000007-v-" H("a") ".ver"),
	       "record key: PREFIX/ID/GEN-v-HASH.ver (%s)", key);
	TAP_OK(verrec_key(&ls, "u1", 7, true, "", key, sizeof(key)) == 0 &&
		   !strcmp(key + 3, "u1/00000000000000000007-t-.ver") && key[2] == '/',
	       "sharded tombstone of a never committed database: SS/ID/GEN-t-.ver (%s)", key);
	TAP_OK(key_folder(&l, "u1", key, sizeof(key)) == 0 && !strcmp(key, "pre/u1/"),
	       "folder with the slash");
	TAP_OK(verrec_parse_name("00000000000000000007-v-" H("a") ".ver", &r) == 1 && r.gen == 7 &&
		   !r.deleted && !strcmp(r.hash, H("a")),
	       "name parses back");
	TAP_OK(verrec_parse_name("00000000000000000009-t-" H("b") ".ver", &r) == 1 && r.deleted &&
		   r.gen == 9,
	       "tombstone parses");
	TAP_OK(verrec_parse_name(H("a") ".db", &r) == 0, "a version is not a record");
	TAP_OK(verrec_parse_name("00000000000000000007-v-.ver", &r) == 0,
	       "a version record without a hash is refused");
	TAP_OK(verrec_parse_name("00000000000000000000-v-" H("a") ".ver", &r) == 0,
	       "gen 0 is refused");
	TAP_OK(verrec_parse_name("0000000000000000007-v-" H("a") ".ver", &r) == 0,
	       "19 digits are refused");
	TAP_OK(verrec_parse_name("00000000000000000007-v-" H("A") ".ver", &r) == 0,
	       "upper-case hex is refused");
}

/* A chain built by hand: gen i has record time 1000 * i. */
static void add_rec(struct verchain *ch, uint64_t gen, const char *hash, bool del, int64_t t)
{
	struct verrec *r;

	ch->recs = realloc(ch->recs, (ch->n_recs + 1) * sizeof(*r));
	r = &ch->recs[ch->n_recs++];
	memset(r, 0, sizeof(*r));
	r->gen = gen;
	snprintf(r->hash, sizeof(r->hash), "%s", hash);
	r->deleted = del;
	r->store_ms = t;
}

static bool snap_b(void *arg, const char *hash)
{
	return !strcmp(hash, H("b"));
}

static void test_rules(void)
{
	struct verchain ch = {0};
	struct cat_item it;
	struct verobj o = {.size = 1, .store_ms = 500};
	struct verrec r;
	const int64_t keep = 10000, grace = 100;

	memset(&it, 0, sizeof(it));
	it.gen = 4;
	snprintf(it.hash, sizeof(it.hash), "%s", H("d"));
	add_rec(&ch, 1, H("a"), false, 1000);
	add_rec(&ch, 2, H("b"), false, 2000);
	add_rec(&ch, 3, H("c"), false, 3000);
	add_rec(&ch, 4, H("d"), false, 40000);

	snprintf(o.hash, sizeof(o.hash), "%s", H("d"));
	TAP_OK(verrec_protect(&ch, &it, &o, 50000, keep, grace, NULL, NULL) == VP_CURRENT,
	       "the current version is kept");
	snprintf(o.hash, sizeof(o.hash), "%s", H("c"));
	TAP_OK(verrec_protect(&ch, &it, &o, 45000, keep, grace, NULL, NULL) == VP_KEEP,
	       "superseded 5 s ago with a keep of 10 s: kept");
	TAP_OK(verrec_protect(&ch, &it, &o, 50500, keep, grace, NULL, NULL) == VP_KEEP,
	       "superseded keep ago by a store time of 1 s resolution: still kept");
	TAP_OK(verrec_protect(&ch, &it, &o, 51001, keep, grace, NULL, NULL) == VP_NONE,
	       "superseded more than keep ago: may go");
	TAP_OK(verrec_superseded_bound(&ch, &it, 3) == 41000 &&
		   verrec_superseded_bound(&ch, &it, 4) == INT64_MAX,
	       "superseded bound: the next record's store time; current: never");
	snprintf(o.hash, sizeof(o.hash), "%s", H("b"));
	TAP_OK(verrec_protect(&ch, &it, &o, 60000, keep, grace, snap_b, NULL) == VP_SNAPSHOT,
	       "named by a snapshot: kept");
	snprintf(o.hash, sizeof(o.hash), "%s", H("e"));
	o.store_ms = 58950;
	TAP_OK(verrec_protect(&ch, &it, &o, 60000, keep, grace, NULL, NULL) == VP_GRACE,
	       "an unnamed object younger than the grace (store clock): kept");
	o.store_ms = 500;
	TAP_OK(verrec_protect(&ch, &it, &o, 60000, keep, grace, NULL, NULL) == VP_NONE,
	       "an old object nobody names: may go");

	/* gen 3's record missing: whatever is unnamed might be gen 3. */
	memmove(&ch.recs[2], &ch.recs[3], sizeof(ch.recs[0]));
	ch.n_recs = 3;
	TAP_OK(verrec_protect(&ch, &it, &o, 45000, keep, grace, NULL, NULL) == VP_GAP,
	       "a commit without a record that might be within keep protects unnamed objects");
	TAP_OK(verrec_protect(&ch, &it, &o, 51001, keep, grace, NULL, NULL) == VP_NONE,
	       "... until the next record bounds it outside keep");
	snprintf(o.hash, sizeof(o.hash), "%s", H("b"));
	TAP_OK(verrec_protect(&ch, &it, &o, 45000, keep, grace, NULL, NULL) == VP_KEEP,
	       "the version before the gap: bounded by the next record (gen 4's)");
	/* The catalog's own history fills a gap. */
	it.n_hist = 1;
	it.hist[0].gen = 3;
	snprintf(it.hist[0].hash, sizeof(it.hist[0].hash), "%s", H("c"));
	snprintf(o.hash, sizeof(o.hash), "%s", H("e"));
	TAP_OK(verrec_protect(&ch, &it, &o, 45000, keep, grace, NULL, NULL) == VP_NONE,
	       "a gap the item's history fills is no gap");
	snprintf(o.hash, sizeof(o.hash), "%s", H("c"));
	TAP_OK(verrec_protect(&ch, &it, &o, 45000, keep, grace, NULL, NULL) == VP_KEEP,
	       "a version known only from the item's history is kept within keep");
	it.n_hist = 0;
	/* Last commit without a record: nothing bounds it. */
	ch.n_recs = 2;
	snprintf(o.hash, sizeof(o.hash), "%s", H("a"));
	TAP_OK(verrec_protect(&ch, &it, &o, 1000000, keep, grace, NULL, NULL) == VP_GAP,
	       "later commits all unrecorded: every unnamed object is kept");
	verrec_chain_release(&ch);

	/* The time cut. */
	add_rec(&ch, 1, H("a"), false, 10000);
	add_rec(&ch, 2, H("b"), false, 20000);
	add_rec(&ch, 3, H("b"), true, 30000);
	add_rec(&ch, 4, H("d"), false, 40000);
	it.gen = 4;
	TAP_OK(verrec_version_at(&ch, &it, 25000, &r) == 1 && r.gen == 2 && !strcmp(r.hash, H("b")),
	       "version at a time between two records");
	TAP_OK(verrec_version_at(&ch, &it, 20500, &r) == 1 && r.gen == 1,
	       "within the store's 1 s resolution of a record: the one before");
	TAP_OK(verrec_version_at(&ch, &it, 35000, &r) == 0, "at a tombstone: did not exist");
	TAP_OK(verrec_version_at(&ch, &it, 5000, &r) == 0,
	       "before the first commit: did not exist");
	TAP_OK(verrec_version_at(&ch, &it, 90000, &r) == 1 && r.gen == 4, "the current one");
	memmove(&ch.recs[1], &ch.recs[2], 2 * sizeof(ch.recs[0]));
	ch.n_recs = 3;
	TAP_OK(verrec_version_at(&ch, &it, 15000, &r) == -ERANGE,
	       "the next commit's record missing: cannot tell");
	memmove(&ch.recs[0], &ch.recs[1], 2 * sizeof(ch.recs[0]));
	ch.n_recs = 2;
	TAP_OK(verrec_version_at(&ch, &it, 5000, &r) == -ERANGE,
	       "the chain does not reach back: cannot tell");
	verrec_chain_release(&ch);
}

static void test_store(void)
{
	char root[] = "/tmp/tfs-verrec-XXXXXX", cmd[600];
	struct key_layout l = {"", 0};
	struct verchain ch;
	struct verrec r;
	struct store *s;
	int64_t now = 0;
	int i, rc;

	if (!mkdtemp(root)) {
		TAP_OK(0, "mkdtemp");
		return;
	}
	s = store_local_new(root);
	TAP_OK(s != NULL, "embedded store");
	if (!s)
		goto out;
	for (i = 1; i <= 3; i++) {
		memset(&r, 0, sizeof(r));
		r.gen = (uint64_t)i;
		snprintf(r.hash, sizeof(r.hash), "%s", i == 1 ? H("1") : i == 2 ? H("2") : H("3"));
		r.size = 100u * (unsigned)i;
		r.time_ms = 1000 * i;
		snprintf(r.node, sizeof(r.node), "node-%d", i);
		rc = verrec_put(s, &l, "db", &r);
		TAP_OK(rc == 0, "put record gen %d", i);
	}
	TAP_OK(verrec_put(s, &l, "db", &r) == 0, "the same record again: fine");
	rc = verrec_chain_read(s, &l, "db", &ch);
	TAP_OK(rc == 0 && ch.n_recs == 3 && ch.recs[0].gen == 1 && ch.recs[2].gen == 3 &&
		   ch.n_objs == 0 && ch.recs[0].store_ms > 0,
	       "the chain reads back sorted with store times");
	r = ch.recs[1];
	rc = verrec_get(s, &l, "db", &r);
	TAP_OK(rc == 0 && r.size == 200 && r.time_ms == 2000 && !strcmp(r.node, "node-2"),
	       "the body gives size, node and committer time");
	verrec_chain_release(&ch);
	rc = verrec_store_now(s, "", "test", &now);
	TAP_OK(rc == 0 && now > 0, "the store's clock");
	snprintf(cmd, sizeof(cmd), "find '%s' -name '_gc*' | grep -q .", root);
	rc = verrec_chain_read(s, &l, "db", &ch);
	TAP_OK(rc == 0 && ch.n_recs == 3 && ch.other == 0, "the clock probe is removed");
	verrec_chain_release(&ch);
	TAP_OK(system(cmd) != 0, "the clock probe leaves no file or folder behind (%s)", root);
out:
	store_free(s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		TAP_OK(0, "clean up %s", root);
}

int main(void)
{
	test_names();
	test_rules();
	test_store();
	return TAP_DONE();
}
