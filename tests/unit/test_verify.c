/* Unit tests of cache/fleet/verify.c against the embedded store and the SQLite
 * catalog (no mount, no network): 600 databases (the fingerprint table
 * grows) pass; a commit that lands between the catalog pass and the
 * listing makes no orphan, an upload nobody committed is one; a missing
 * version is named with its id, gen and key; a database called _snapshots
 * is no manifest. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache/catalog/catalog.h"
#include "cache/fleet/verify.h"
#include "cache/store/store.h"
#include "s3/base/hash.h"
#include "tests/unit/tap.h"

#define N_DBS 600

/* In memory where there is /dev/shm: 600 commits fsync 2,400 times. */
static char root[64];
static const struct key_layout layout = {"", 0};

/* Puts bytes under their version key of id; hash gets their hash. */
static int put_version(struct store *s, const char *id, const char *bytes,
		       char hash[CAT_HASH_HEX + 1])
{
	char key[512], blob[512];
	size_t n = strlen(bytes);
	int fd, rc;

	tfs_hash_buf(bytes, n, hash);
	key_version(&layout, id, hash, key, sizeof(key));
	snprintf(blob, sizeof(blob), "%s/blob", root);
	fd = open(blob, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	rc = write(fd, bytes, n) == (ssize_t)n ? s->ops->put(s, key, fd, n, hash) : -EIO;
	close(fd);
	return rc;
}

/* Makes hash (of size bytes) the current version of id, as node "t". */
static int publish(struct catalog *c, const char *id, const char *hash, uint64_t size)
{
	struct cat_commit cm = {.hash = hash, .size = size, .mtime_ms = 1000};
	struct cat_item it;
	int rc = c->ops->acquire(c, id, "t", 0, 1000, 30000, NULL, &it);

	if (rc < 0)
		return rc;
	cm.new_gen = it.gen + 1;
	rc = c->ops->commit(c, id, "t", it.epoch, it.gen, &cm);
	return rc < 0 ? rc : c->ops->release(c, id, "t", it.epoch);
}

static int add_db(struct store *s, struct catalog *c, const char *id, const char *bytes)
{
	char h[CAT_HASH_HEX + 1];
	int rc = put_version(s, id, bytes, h);

	return rc < 0 ? rc : publish(c, id, h, strlen(bytes));
}

/* A store that, at its first listing, runs a commit of a new version of
 * "d0": what a node does while verify is between its passes. */
struct racing_store {
	struct store base;
	struct store *inner;
	struct catalog *cat;
	const char *bytes; /* the new version, NULL: only upload, no commit */
	int fired;
};

static struct racing_store *rs_of(struct store *s)
{
	return (struct racing_store *)s;
}

static int rs_get(struct store *s, const char *key, int fd, struct store_info *info)
{
	return rs_of(s)->inner->ops->get(rs_of(s)->inner, key, fd, info);
}

static int rs_head(struct store *s, const char *key, struct store_info *info)
{
	return rs_of(s)->inner->ops->head(rs_of(s)->inner, key, info);
}

static int rs_list(struct store *s, const char *prefix, char **token,
		   int (*cb)(void *arg, const char *key, const struct store_info *info), void *arg)
{
	struct racing_store *r = rs_of(s);
	char h[CAT_HASH_HEX + 1];

	if (!r->fired && strcmp(prefix, "_snapshots/") != 0) {
		r->fired = 1;
		if (put_version(r->inner, "d0", r->bytes, h) < 0 ||
		    (r->cat && publish(r->cat, "d0", h, strlen(r->bytes)) < 0))
			return -EIO;
	}
	return r->inner->ops->list(r->inner, prefix, token, cb, arg);
}

static const struct store_ops racing_ops = {.get = rs_get, .head = rs_head, .list = rs_list};

static int run(struct store *s, struct catalog *c, const char *const *ids, int n_ids,
	       struct verify_result *res, char **text)
{
	size_t len;
	FILE *out = open_memstream(text, &len);
	struct verify_options o = {.ids = ids, .n_ids = n_ids, .tmpdir = root, .out = out};
	int rc;

	if (!out)
		return -ENOMEM;
	rc = tfs_verify(s, c, &layout, &o, res);
	fclose(out);
	return rc;
}

int main(void)
{
	struct racing_store rs = {.base.ops = &racing_ops};
	struct verify_result res;
	struct cat_item it;
	struct store *s;
	struct catalog *c;
	char path[1024], id[16], bytes[32], key[512], mhash[CAT_HASH_HEX + 1], *text = NULL;
	const char *one[] = {"d1"};
	int i, rc, fd;
	uint64_t problems;

	snprintf(root, sizeof(root), "/dev/shm/tfs-verify-XXXXXX");
	if (!mkdtemp(root)) {
		snprintf(root, sizeof(root), "/tmp/tfs-verify-XXXXXX");
		if (!mkdtemp(root))
			return 1;
	}
	s = store_local_new(root);
	snprintf(path, sizeof(path), "%s/catalog.db", root);
	c = catalog_sqlite_new(path);
	TAP_OK(s && c && c->ops->init(c) == 0, "embedded store and catalog");
	if (!s || !c)
		return TAP_DONE();
	for (i = 0, rc = 0; i < N_DBS && rc == 0; i++) {
		snprintf(id, sizeof(id), "d%d", i);
		snprintf(bytes, sizeof(bytes), "version 1 of %d", i);
		rc = add_db(s, c, id, bytes);
	}
	TAP_OK(rc == 0, "%d databases committed", N_DBS);

	rc = run(s, c, NULL, 0, &res, &text);
	TAP_OK(rc == 0 && res.databases == N_DBS && res.objects == N_DBS && res.problems == 0 &&
		   text && !text[0],
	       "a healthy store: %d checked, %d listed, no problem (rc %d, '%s')", N_DBS, N_DBS, rc,
	       text ? text : "");
	free(text);

	rs.inner = s;
	rs.cat = c;
	rs.bytes = "version 2 of 0";
	rc = run(&rs.base, c, NULL, 0, &res, &text);
	TAP_OK(rc == 0 && rs.fired && res.objects == N_DBS + 1 && res.problems == 0,
	       "a commit between the catalog pass and the listing makes no orphan (%llu "
	       "problems: '%s')",
	       (unsigned long long)res.problems, text ? text : "");
	free(text);

	rs.fired = 0;
	rs.cat = NULL;
	rs.bytes = "uploaded, never committed";
	rc = run(&rs.base, c, NULL, 0, &res, &text);
	TAP_OK(rc == 0 && res.problems == 1 && text && !strncmp(text, "orphan d0/", 10),
	       "an upload nobody committed is an orphan ('%s')", text ? text : "");
	free(text);

	TAP_OK(c->ops->get(c, "d1", &it) == 0, "d1's item");
	key_version(&layout, "d1", it.hash, key, sizeof(key));
	TAP_OK(s->ops->del(s, key) == 0, "d1's version deleted");
	rc = run(s, c, one, 1, &res, &text);
	snprintf(path, sizeof(path), "missing d1 gen 1 key %s\n", key);
	TAP_OK(rc == 0 && res.databases == 1 && res.problems == 1 && text && !strcmp(text, path),
	       "--id d1: its missing version named, nothing else ('%s')", text ? text : "");
	free(text);

	/* A database may be called _snapshots: its versions are no manifests. */
	rc = add_db(s, c, "_snapshots", "a database, not a manifest");
	if (rc == 0)
		rc = put_version(s, "_snapshots", "uploaded, never committed", path);
	TAP_OK(rc == 0, "a database called _snapshots, and an upload of it nobody committed");
	rc = run(s, c, NULL, 0, &res, &text);
	TAP_OK(
	    rc == 0 && text && strstr(text, "\norphan _snapshots/") && res.databases == N_DBS + 1,
	    "its orphan is found under _snapshots/, its version checked ('%s')", text ? text : "");
	problems = res.problems;
	free(text);

	/* The marker of a snapshot being taken is no orphan either. */
	tfs_hash_buf("{}", 2, mhash);
	snprintf(path, sizeof(path), "%s/blob", root);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	rc = fd >= 0 && write(fd, "{}", 2) == 2 ? 0 : -EIO;
	if (rc == 0)
		rc = s->ops->put(s, "_snapshots/s.taking", fd, 2, mhash);
	if (fd >= 0)
		close(fd);
	TAP_OK(rc == 0, "a snapshot marker in the store");
	rc = run(s, c, NULL, 0, &res, &text);
	TAP_OK(rc == 0 && res.problems == problems && text && !strstr(text, "s.taking"),
	       "the marker of a snapshot being taken is no orphan ('%s')", text ? text : "");
	free(text);

	catalog_free(c);
	store_free(s);
	snprintf(path, sizeof(path), "rm -rf '%s'", root);
	if (system(path) != 0)
		TAP_OK(0, "cleanup of %s", root);
	return TAP_DONE();
}
