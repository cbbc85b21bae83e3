/* Unit tests of cache/fleet/snapshot_manifest.c: the time cut over an item's
 * history (tombstones, short history, created after the cut), names, times
 * and keys, and take / list / read / restore against the embedded store
 * and the SQLite catalog (no mount, no network). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "cache/catalog/catalog.h"
#include "cache/fleet/snapshot_manifest.h"
#include "cache/store/store.h"
#include "s3/base/hash.h"
#include "tests/unit/tap.h"

#define H(c) c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c

static void item_init(struct cat_item *it, const char *id)
{
	memset(it, 0, sizeof(*it));
	snprintf(it->id, sizeof(it->id), "%s", id);
}

static void push(struct cat_item *it, int64_t t, const char *hash, uint64_t size, bool deleted)
{
	struct cat_hist *h = &it->hist[it->n_hist++];

	it->gen++;
	h->time_ms = t;
	h->gen = it->gen;
	snprintf(h->hash, sizeof(h->hash), "%s", hash);
	snprintf(it->hash, sizeof(it->hash), "%s", hash);
	it->size = deleted ? 0 : size;
	it->mtime_ms = t;
	it->deleted_ms = deleted ? t : 0;
}

static void test_version_at(void)
{
	struct cat_item it;
	struct snapm_entry e;
	bool ns;
	int r;

	item_init(&it, "u");
	TAP_OK(snapm_version_at(&it, 1000, &e, &ns) == 0, "never committed: not listed");

	push(&it, 100, H("a"), 10, false);
	r = snapm_version_at(&it, 1000, &e, &ns);
	TAP_OK(r == 1 && e.gen == 1 && !strcmp(e.hash, H("a")) && e.size == 10 && !ns &&
		   !e.short_hist,
	       "current version before the cut: as it is, size known");
	TAP_OK(snapm_version_at(&it, 50, &e, &ns) == 0, "first commit after the cut: not listed");

	push(&it, 200, H("b"), 20, false);
	push(&it, 300, H("c"), 30, false);
	r = snapm_version_at(&it, 250, &e, &ns);
	TAP_OK(r == 1 && e.gen == 2 && !strcmp(e.hash, H("b")) && e.mtime_ms == 200 && ns,
	       "committed after the cut: the history's version then, size to look up");
	r = snapm_version_at(&it, 200, &e, &ns);
	TAP_OK(r == 1 && e.gen == 2, "a commit exactly at the cut belongs to it");

	push(&it, 400, H("c"), 0, true); /* tombstone repeats the hash */
	TAP_OK(snapm_version_at(&it, 500, &e, &ns) == 0, "deleted before the cut: not listed");
	r = snapm_version_at(&it, 350, &e, &ns);
	TAP_OK(r == 1 && e.gen == 3, "deleted after the cut: listed at its version then");
	push(&it, 600, H("d"), 40, false); /* created again */
	TAP_OK(snapm_version_at(&it, 500, &e, &ns) == 0,
	       "a tombstone in the history (same hash as before) is not a version");
	r = snapm_version_at(&it, 700, &e, &ns);
	TAP_OK(r == 1 && e.gen == 5 && !strcmp(e.hash, H("d")), "re-created: the new version");

	item_init(&it, "v");
	push(&it, 100, "", 0, true);
	TAP_OK(snapm_version_at(&it, 200, &e, &ns) == 0, "tombstone of a never-committed one");

	/* history that no longer reaches back */
	item_init(&it, "w");
	for (int i = 0; i < CAT_HIST_MAX + 3; i++) {
		char h[CAT_HASH_HEX + 1];

		snprintf(h, sizeof(h), "%032x", i + 1);
		if (it.n_hist == CAT_HIST_MAX) {
			memmove(&it.hist[0], &it.hist[1], sizeof(it.hist[0]) * (CAT_HIST_MAX - 1));
			it.n_hist--;
		}
		push(&it, 1000 + i * 100, h, 5, false);
	}
	r = snapm_version_at(&it, 1050, &e, &ns);
	TAP_OK(r == 1 && e.short_hist && e.gen == 4 && ns,
	       "history too short: oldest known version, flagged (gen %llu)",
	       (unsigned long long)e.gen);
}

static void test_names_times_keys(void)
{
	struct key_layout plain = {"", 0}, pre = {"p/q", 0}, sh = {"p", 1};
	char buf[256], want[256];
	int64_t ms = 0;

	TAP_OK(snapm_valid_name("s1") && snapm_valid_name("2025_01.x-y"), "valid names");
	TAP_OK(!snapm_valid_name("") && !snapm_valid_name(".x") && !snapm_valid_name("-x") &&
		   !snapm_valid_name("a/b") && !snapm_valid_name("a b") && !snapm_valid_name(NULL),
	       "invalid names");
	TAP_OK(snapm_parse_time("2025-01-02T03:04:05Z", &ms) == 0 && ms == 1735787045000LL,
	       "ISO time");
	TAP_OK(snapm_parse_time("2025-01-02T03:04:05.5Z", &ms) == 0 && ms == 1735787045500LL,
	       "ISO time with a fraction");
	TAP_OK(snapm_parse_time("@1735787045.123", &ms) == 0 && ms == 1735787045123LL, "@seconds");
	TAP_OK(snapm_parse_time("2025-01-02T03:04:05", &ms) < 0 &&
		   snapm_parse_time("2025-01-02T03:04:05+01:00", &ms) < 0 &&
		   snapm_parse_time("@", &ms) < 0 && snapm_parse_time("@12x", &ms) < 0 &&
		   snapm_parse_time("@1.", &ms) < 0 && snapm_parse_time("now", &ms) < 0,
	       "malformed times refused");
	snapm_format_time(1735787045123LL, buf, sizeof(buf));
	TAP_STREQ(buf, "2025-01-02T03:04:05.123Z", "time formats as ISO UTC");
	TAP_OK(snapm_parse_time(buf, &ms) == 0 && ms == 1735787045123LL, "and parses back");
	snapm_default_name(1735787045123LL, buf, sizeof(buf));
	TAP_STREQ(buf, "20250102T030405.123Z", "default name");
	TAP_OK(snapm_valid_name(buf), "the default name is a valid name");

	key_version(&plain, "u1", H("a"), buf, sizeof(buf));
	TAP_STREQ(buf, "u1/" H("a") ".db", "version key without prefix");
	key_version(&pre, "u1", H("a"), buf, sizeof(buf));
	TAP_STREQ(buf, "p/q/u1/" H("a") ".db", "version key with prefix");
	snprintf(want, sizeof(want), "p/%02x/u1/%s.db", (unsigned)(XXH3_64bits("u1", 2) & 0xff),
		 H("a"));
	key_version(&sh, "u1", H("a"), buf, sizeof(buf));
	TAP_STREQ(buf, want, "version key with the engine's shard");
	key_manifest("p", "s1", buf, sizeof(buf));
	TAP_STREQ(buf, "p/_snapshots/s1.json", "manifest key");
	key_manifest("p", "", buf, sizeof(buf));
	TAP_STREQ(buf, "p/_snapshots/", "manifest folder (name \"\")");
	key_manifest("", "", buf, sizeof(buf));
	TAP_STREQ(buf, "_snapshots/", "manifest folder without prefix");
	{
		/* The bound tc_key relies on: the longest prefix, shard, id and
		 * hash fit in KEY_MAX; a short buffer is -ENAMETOOLONG. */
		char prefix[KEY_PREFIX_MAX + 1], id[CAT_ID_MAX + 1], key[KEY_MAX];
		struct key_layout big = {.prefix = prefix, .shard_keys = 1};

		memset(prefix, 'p', KEY_PREFIX_MAX);
		prefix[KEY_PREFIX_MAX] = '\0';
		memset(id, 'i', CAT_ID_MAX);
		id[CAT_ID_MAX] = '\0';
		TAP_OK(key_version(&big, id, H("f"), key, sizeof(key)) == 0,
		       "the longest prefix, id and hash make a key of %zu bytes", strlen(key));
		TAP_OK(key_version(&big, id, H("f"), key, 600) == -ENAMETOOLONG,
		       "a buffer too short is -ENAMETOOLONG");
	}
}

/* ---- against the embedded store and the SQLite catalog ----------------- */

static char root[] = "/tmp/tfs-snapm-XXXXXX";

/* Stores bytes as a version of id and commits it as node n. */
static int commit(struct store *s, struct catalog *c, const char *id, const char *bytes,
		  int64_t now, char hash[CAT_HASH_HEX + 1])
{
	struct key_layout l = {"", 0};
	struct cat_item it;
	struct cat_commit cm;
	char key[512], path[512];
	int fd, rc;

	tfs_hash_buf(bytes, strlen(bytes), hash);
	key_version(&l, id, hash, key, sizeof(key));
	snprintf(path, sizeof(path), "%s/blob", root);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, bytes, strlen(bytes)) != (ssize_t)strlen(bytes))
		return -EIO;
	rc = s->ops->put(s, key, fd, strlen(bytes), hash);
	close(fd);
	if (rc < 0)
		return rc;
	rc = c->ops->acquire(c, id, "n", 0, now, 30000, NULL, &it);
	if (rc < 0)
		return rc;
	memset(&cm, 0, sizeof(cm));
	cm.new_gen = it.gen + 1;
	cm.hash = hash;
	cm.size = strlen(bytes);
	cm.mtime_ms = now;
	rc = c->ops->commit(c, id, "n", it.epoch, it.gen, &cm);
	if (rc == 0)
		rc = c->ops->release(c, id, "n", it.epoch);
	return rc;
}

struct got {
	int n;
	struct snapm_entry e[8];
};

static int collect(void *arg, const struct snapm_entry *e)
{
	struct got *g = arg;

	if (g->n < 8)
		g->e[g->n] = *e;
	g->n++;
	return 0;
}

static int count_names(void *arg, const char *name, const struct store_info *info)
{
	(*(int *)arg)++;
	return strcmp(name, "s1") == 0 || strcmp(name, "past") == 0 ? 0 : -EINVAL;
}

struct ticks {
	int calls;
	uint64_t last;	 /* scanned at the last call */
	struct store *s; /* when set: is the marker of "s1" there at each call? */
	int marked;
};

static void count_ticks(void *arg, const struct snapm_take_result *sofar)
{
	struct ticks *t = arg;

	struct store_info info;

	t->calls++;
	t->last = sofar->scanned;
	if (t->s && t->s->ops->head(t->s, "_snapshots/s1.taking", &info) == 0)
		t->marked++;
}

static void test_store(void)
{
	static const char bad[] = "{\"format\":\"tenantfs-snapshot/1\",\"cut_ms\":1,\"count\":1,"
				  "\"databases\":[{\"id\":\"../x\",\"gen\":1}]}";
	struct key_layout l = {"", 0};
	struct snapm_take_result res;
	struct snapm_restore_info info;
	struct snapm_header hdr;
	struct snapm_entry e;
	struct cat_item it;
	struct store_info si;
	struct store *s;
	struct catalog *c;
	char path[512], h1[CAT_HASH_HEX + 1], h2[CAT_HASH_HEX + 1], hx[CAT_HASH_HEX + 1];
	struct got g = {0};
	struct ticks ticks = {0};
	int n = 0, rc, fd;

	if (!mkdtemp(root)) {
		TAP_OK(0, "mkdtemp");
		return;
	}
	s = store_local_new(root);
	snprintf(path, sizeof(path), "%s/catalog.db", root);
	c = catalog_sqlite_new(path);
	TAP_OK(s && c && c->ops->init(c) == 0, "embedded store and catalog");
	if (!s || !c)
		goto out;
	TAP_OK(commit(s, c, "a", "one", 1000, h1) == 0 && commit(s, c, "b", "bee", 1000, hx) == 0 &&
		   commit(s, c, "_snapshots", "odd id", 1000, hx) == 0,
	       "three databases committed (one with the id _snapshots)");
	TAP_OK(commit(s, c, "a", "two", 3000, h2) == 0, "a changed after the cut");

	ticks.s = s;
	rc = snapm_take(s, c, &l, "s1", 2000, root, &res, count_ticks, &ticks);
	TAP_OK(rc == 0 && res.count == 3 && res.scanned == 3 && res.flagged == 0 &&
		   res.cut_ms == 2000,
	       "take at a cut between two commits: 3 databases (%d, %llu)", rc,
	       (unsigned long long)res.count);
	TAP_OK(ticks.calls == 3 && ticks.last == 3,
	       "progress: one tick per catalog item read, with the count so far (%d, %llu)",
	       ticks.calls, (unsigned long long)ticks.last);
	n = 0;
	TAP_OK(ticks.marked == 3 && snapm_list_taking(s, "", count_names, &n) == 0 && n == 0,
	       "announced by its marker while it scans (%d of 3 items), which is gone after",
	       ticks.marked);
	TAP_OK(snapm_take(s, c, &l, "s1", 2000, root, &res, NULL, NULL) == -EEXIST,
	       "names are never reused");
	TAP_OK(snapm_take(s, c, &l, "../x", 2000, root, &res, NULL, NULL) == -EINVAL,
	       "bad name refused");
	rc = snapm_list(s, "", count_names, &n);
	TAP_OK(rc == 0 && n == 1, "list finds the one manifest, not the _snapshots database");

	rc = snapm_read(s, "", "s1", root, &hdr, collect, &g);
	TAP_OK(rc == 0 && g.n == 3 && hdr.count == 3 && hdr.cut_ms == 2000, "read it back");
	for (int i = 0; i < g.n && i < 8; i++)
		if (!strcmp(g.e[i].id, "a"))
			TAP_OK(g.e[i].gen == 1 && !strcmp(g.e[i].hash, h1) && g.e[i].size == 3 &&
				   g.e[i].mtime_ms == 1000,
			       "a is at its version at the cut, size from the store");
	TAP_OK(snapm_read(s, "", "nosuch", root, &hdr, collect, &g) == -ENOENT,
	       "a missing manifest is -ENOENT");

	/* a malformed manifest restores nothing */
	snprintf(path, sizeof(path), "%s/bad", root);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	TAP_OK(fd >= 0 && write(fd, bad, strlen(bad)) == (ssize_t)strlen(bad),
	       "write a bad manifest");
	snprintf(path, sizeof(path), "_snapshots/bad.json");
	rc = s->ops->put(s, path, fd, (uint64_t)lseek(fd, 0, SEEK_END), H("0"));
	close(fd);
	g.n = 0;
	TAP_OK(rc == 0 && snapm_read(s, "", "bad", root, &hdr, collect, &g) == -EINVAL && g.n == 0,
	       "a malformed manifest is -EINVAL before any database is handed out");

	/* restore a to gen 1's version */
	memset(&e, 0, sizeof(e));
	snprintf(e.id, sizeof(e.id), "a");
	snprintf(e.hash, sizeof(e.hash), "%s", h1);
	e.gen = 1;
	e.size = 3;
	rc = snapm_restore_one(s, c, &l, &e, "restore", 30000, 5000, &info);
	TAP_OK(rc == 0 && info.outcome == SNAP_RESTORED && info.new_gen == 3, "restore: new gen");
	TAP_OK(c->ops->get(c, "a", &it) == 0 && it.gen == 3 && !strcmp(it.hash, h1) &&
		   it.size == 3 && !it.owner[0],
	       "restore: catalog points at the old version, lease released");
	rc = snapm_restore_one(s, c, &l, &e, "restore", 30000, 6000, &info);
	TAP_OK(rc == 0 && info.outcome == SNAP_UNCHANGED, "restore again: unchanged, no commit");
	TAP_OK(c->ops->get(c, "a", &it) == 0 && it.gen == 3, "... gen stays");

	TAP_OK(c->ops->acquire(c, "a", "other", 0, 7000, 30000, NULL, &it) == 0,
	       "another node leases a");
	snprintf(e.hash, sizeof(e.hash), "%s", h2);
	rc = snapm_restore_one(s, c, &l, &e, "restore", 30000, 8000, &info);
	TAP_OK(rc == -EBUSY && !strcmp(info.holder, "other") && info.holder_expires_ms == 37000,
	       "restore of a leased database: -EBUSY naming the holder");
	TAP_OK(c->ops->get(c, "a", &it) == 0 && it.gen == 3 && !strcmp(it.owner, "other"),
	       "... and nothing changed");

	snprintf(e.hash, sizeof(e.hash), "%s", H("f"));
	rc = snapm_restore_one(s, c, &l, &e, "restore", 30000, 9000, &info);
	TAP_OK(rc == -EIO, "restore of a version missing from the store: -EIO before the lease");

	rc = snapm_take(s, c, &l, "past", 2000, root, &res, NULL, NULL);
	TAP_OK(rc == 0 && res.count == 3, "a later take at the same cut lists the same count");

	/* At 4000 a was at gen 2 (h2), no longer current: once its object is
	 * gone, no manifest names it. */
	key_version(&l, "a", h2, path, sizeof(path));
	TAP_OK(s->ops->del(s, path) == 0, "gen 2's version of a removed from the store");
	rc = snapm_take(s, c, &l, "gone", 4000, root, &res, NULL, NULL);
	n = 0;
	TAP_OK(rc == -EIO && s->ops->head(s, "_snapshots/gone.json", &si) == -ENOENT &&
		   snapm_list_taking(s, "", count_names, &n) == 0 && n == 0,
	       "a cut whose version is gone: -EIO, no manifest, no marker left (%d)", rc);
out:
	catalog_free(c);
	store_free(s);
	snprintf(path, sizeof(path), "rm -rf '%s'", root);
	if (system(path) != 0)
		TAP_OK(0, "clean up %s", root);
}

int main(void)
{
	test_version_at();
	test_names_times_keys();
	test_store();
	return TAP_DONE();
}
