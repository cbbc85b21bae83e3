/* `tenantfs verify` (see verify.h). Three passes, in this order so that a
 * commit made while it runs cannot make a referenced object look orphaned:
 *   1. the catalog (scan, or a get per --id): HEAD of each live database's
 *      current version against the catalog's size and hash; every version
 *      an item names (current and history) is remembered;
 *   2. the snapshot manifests: every version they name is remembered;
 *   3. the listing under the prefix: an object nobody named is re-checked
 *      against its database's item as it is now (a commit since pass 1),
 *      then reported as an orphan; a version a manifest names that the
 *      listing did not show is reported missing.
 * What is remembered is a 64-bit fingerprint of each key (18 to 36 bytes a
 * version in a table at most half full): a collision can only hide an
 * orphan or a missing snapshot version, never invent one. */
#include "cache/fleet/verify.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "cache/engine/cache.h"
#include "cache/store/verrec.h"
#include "s3/base/hash.h"
#include "s3/base/log.h"
#include "s3/base/progress.h"

/* ---- the set of referenced keys ------------------------------------------ */

#define REF_CATALOG  1 /* an item names it (current version or history) */
#define REF_SNAPSHOT 2 /* a snapshot manifest names it */
#define REF_SEEN     4 /* the listing showed it */

/* Open addressing on the fingerprint (never 0), at most half full. */
struct refset {
	uint64_t *fp;
	uint8_t *flags;
	size_t cap, n;
};

static uint64_t key_fp(const char *key)
{
	uint64_t h = XXH3_64bits(key, strlen(key));

	return h ? h : 1;
}

static size_t refset_slot(const struct refset *r, uint64_t fp)
{
	size_t i = (size_t)fp & (r->cap - 1);

	while (r->fp[i] && r->fp[i] != fp)
		i = (i + 1) & (r->cap - 1);
	return i;
}

static int refset_grow(struct refset *r)
{
	struct refset g = {.cap = r->cap ? r->cap * 2 : 1024};
	size_t i, j;

	g.fp = calloc(g.cap, sizeof(*g.fp));
	g.flags = calloc(g.cap, sizeof(*g.flags));
	if (!g.fp || !g.flags) {
		free(g.fp);
		free(g.flags);
		return -ENOMEM;
	}
	for (i = 0; i < r->cap; i++)
		if (r->fp[i]) {
			j = refset_slot(&g, r->fp[i]);
			g.fp[j] = r->fp[i];
			g.flags[j] = r->flags[i];
		}
	g.n = r->n;
	free(r->fp);
	free(r->flags);
	*r = g;
	return 0;
}

static int refset_add(struct refset *r, const char *key, uint8_t flag)
{
	uint64_t fp = key_fp(key);
	size_t i;

	if ((r->n + 1) * 2 > r->cap && refset_grow(r) < 0)
		return -ENOMEM;
	i = refset_slot(r, fp);
	if (!r->fp[i]) {
		r->fp[i] = fp;
		r->n++;
	}
	r->flags[i] |= flag;
	return 0;
}

/* The flags of key, or NULL if nothing named it. */
static uint8_t *refset_find(struct refset *r, const char *key)
{
	size_t i;

	if (!r->cap)
		return NULL;
	i = refset_slot(r, key_fp(key));
	return r->fp[i] ? &r->flags[i] : NULL;
}

static void refset_release(struct refset *r)
{
	free(r->fp);
	free(r->flags);
	memset(r, 0, sizeof(*r));
}

/* ---- one run -------------------------------------------------------------- */

struct vctx {
	struct store *s;
	struct catalog *c;
	const struct key_layout *l;
	const struct verify_options *o;
	struct verify_result *res;
	struct refset refs;
	char work[PATH_MAX];	/* temp folder for downloads, "" until made */
	char snap_dir[KEY_MAX]; /* "PREFIX/_snapshots/": manifests, never orphans */
	const char *manifest;	/* the manifest being read */
	uint64_t listed_bytes;
	int err; /* what stopped a pass (a negative errno), 0 while fine */
	/* The folder being listed (keys come sorted, a folder's together):
	 * its unnamed objects wait until its version records are seen. */
	char folder[KEY_MAX];
	struct vcand {
		char *key;
		uint64_t size;
	} * cand;
	size_t n_cand, cap_cand;
	char (*rec_hash)[CAT_HASH_HEX + 1]; /* hashes the folder's records name */
	size_t n_rec, cap_rec;
};

static void progress(struct vctx *v, const char *stage, uint64_t done, uint64_t bytes)
{
	if (v->o->progress)
		progress_update(v->o->progress, stage, done, bytes);
}

static void problem(struct vctx *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void problem(struct vctx *v, const char *fmt, ...)
{
	va_list ap;

	if (v->o->progress)
		progress_clear(v->o->progress);
	va_start(ap, fmt);
	vfprintf(v->o->out, fmt, ap);
	va_end(ap);
	fputc('\n', v->o->out);
	fflush(v->o->out);
	v->res->problems++;
}

static bool wanted(const struct vctx *v, const char *id)
{
	int i;

	if (v->o->n_ids == 0)
		return true;
	for (i = 0; i < v->o->n_ids; i++)
		if (!strcmp(v->o->ids[i], id))
			return true;
	return false;
}

/* Removes what a download and SQLite left in the work folder. */
static void remove_download(const char *path)
{
	static const char *const side[] = {"", "-journal", "-wal", "-shm"};
	char p[PATH_MAX + 16];
	size_t i;

	for (i = 0; i < sizeof(side) / sizeof(side[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", path, side[i]);
		unlink(p);
	}
}

/* Downloads key into WORK/object.db and hashes it: 0, or a negative errno
 * (-ENOENT: gone). path gets the file's name. */
static int download(struct vctx *v, const char *key, char *path, size_t cap,
		    char hash[CAT_HASH_HEX + 1], uint64_t *size)
{
	int fd, rc;

	if (!v->work[0]) {
		if (snprintf(v->work, sizeof(v->work), "%s/tenantfs-verify-XXXXXX", v->o->tmpdir) >=
		    (int)sizeof(v->work)) {
			v->work[0] = '\0';
			return -ENAMETOOLONG;
		}
		if (!mkdtemp(v->work)) {
			rc = -errno;
			log_err("cannot create a temporary folder in %s: %s", v->o->tmpdir,
				strerror(-rc));
			v->work[0] = '\0';
			return rc;
		}
	}
	if (snprintf(path, cap, "%s/object.db", v->work) >= (int)cap)
		return -ENAMETOOLONG;
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		log_err("cannot create %s: %s", path, strerror(-rc));
		return rc;
	}
	rc = v->s->ops->get(v->s, key, fd, NULL);
	if (rc == 0)
		rc = tfs_hash_fd(fd, hash, size);
	v->res->downloaded += rc == 0 ? *size : 0;
	close(fd);
	if (rc < 0)
		remove_download(path);
	return rc;
}

/* PRAGMA integrity_check on the download at path: NULL when it says ok,
 * else what it says (up to a few lines joined by "; ") in buf. */
static const char *integrity(const char *path, char *buf, size_t cap)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	size_t len = 0;
	int rc, rows = 0;
	bool ok = false;

	buf[0] = '\0';
	/* Read-write on our own copy, so SQLite may make the -shm of a WAL
	 * database beside it (a read-only open of one without it fails). */
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
		SQLITE_OK ||
	    sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL) != SQLITE_OK) {
		snprintf(buf, cap, "%s", db ? sqlite3_errmsg(db) : "out of memory");
		goto out;
	}
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const char *row = (const char *)sqlite3_column_text(q, 0);

		if (rows++ == 0 && row && !strcmp(row, "ok"))
			ok = true;
		if (rows <= 3 && len < cap)
			len += (size_t)snprintf(buf + len, cap - len, "%s%s", rows > 1 ? "; " : "",
						row ? row : "");
	}
	if (rc != SQLITE_DONE) {
		snprintf(buf, cap, "%s", sqlite3_errmsg(db));
		ok = false;
	} else if (rows > 3 && len < cap) {
		snprintf(buf + len, cap - len, "; ... (%d lines)", rows);
	}
out:
	sqlite3_finalize(q);
	sqlite3_close(db);
	return ok && rows == 1 ? NULL : buf;
}

/* The current version of it could not be read: gone, or the store failed. */
static void unreadable(struct vctx *v, const struct cat_item *it, const char *key, int rc)
{
	if (rc == -ENOENT)
		problem(v, "missing %s gen %llu key %s", it->id, (unsigned long long)it->gen, key);
	else
		problem(v, "error %s gen %llu key %s: cannot read it: %s", it->id,
			(unsigned long long)it->gen, key, strerror(-rc));
}

/* Pass 1 for one item. */
static int check_item(struct vctx *v, const struct cat_item *it)
{
	struct store_info info;
	char key[KEY_MAX], path[PATH_MAX], got[CAT_HASH_HEX + 1], why[512];
	const char *bad;
	uint64_t size = 0;
	int i, rc;

	/* What the item names is not an orphan, live or not. */
	for (i = -1; i < it->n_hist; i++) {
		const char *h = i < 0 ? it->hash : it->hist[i].hash;

		if (!h[0] || key_version(v->l, it->id, h, key, sizeof(key)) < 0)
			continue;
		if (refset_add(&v->refs, key, REF_CATALOG) < 0)
			return -ENOMEM;
	}
	if (it->deleted_ms || it->gen == 0 || !it->hash[0]) {
		if (v->o->n_ids) {
			fprintf(stderr, "tenantfs: verify: %s skipped: %s\n", it->id,
				it->deleted_ms ? "deleted (a tombstone)" : "never committed");
			v->res->skipped++;
		}
		return 0;
	}
	rc = key_version(v->l, it->id, it->hash, key, sizeof(key));
	if (rc < 0) {
		problem(v, "error %s gen %llu: its key is too long", it->id,
			(unsigned long long)it->gen);
		return 0;
	}
	v->res->databases++;
	v->res->bytes += it->size;
	rc = v->s->ops->head(v->s, key, &info);
	if (rc < 0) {
		unreadable(v, it, key, rc);
		return 0;
	}
	if (info.size != it->size) {
		problem(v, "size %s gen %llu key %s: %llu bytes in the store, %llu in the catalog",
			it->id, (unsigned long long)it->gen, key, (unsigned long long)info.size,
			(unsigned long long)it->size);
		return 0;
	}
	if (info.hash[0] && strcmp(info.hash, it->hash) != 0) {
		problem(v, "hash %s gen %llu key %s: the store's %s, the catalog's %s", it->id,
			(unsigned long long)it->gen, key, info.hash, it->hash);
		return 0;
	}
	/* A store that keeps no hash (the local folder) is checked by
	 * reading the bytes; --deep reads them anyway. */
	if (info.hash[0] && !v->o->deep)
		return 0;
	rc = download(v, key, path, sizeof(path), got, &size);
	if (rc < 0) {
		unreadable(v, it, key, rc);
		return 0;
	}
	if (size != it->size)
		problem(v, "size %s gen %llu key %s: %llu bytes read, %llu in the catalog", it->id,
			(unsigned long long)it->gen, key, (unsigned long long)size,
			(unsigned long long)it->size);
	else if (strcmp(got, it->hash) != 0)
		problem(v, "hash %s gen %llu key %s: the bytes hash to %s, the catalog's %s",
			it->id, (unsigned long long)it->gen, key, got, it->hash);
	if (v->o->deep && (bad = integrity(path, why, sizeof(why))))
		problem(v, "corrupt %s gen %llu key %s: integrity_check says %s", it->id,
			(unsigned long long)it->gen, key, bad);
	remove_download(path);
	return 0;
}

static int scan_cb(void *arg, const struct cat_item *it)
{
	struct vctx *v = arg;
	int rc = check_item(v, it);

	progress(v, "databases checked", v->res->databases, v->res->bytes);
	return rc;
}

static int pass_catalog(struct vctx *v)
{
	struct cat_item it;
	char *token = NULL;
	int i, rc = 0;

	if (v->o->n_ids) {
		for (i = 0; i < v->o->n_ids && rc == 0; i++) {
			rc = v->c->ops->get(v->c, v->o->ids[i], &it);
			if (rc == -ENOENT) {
				problem(v, "missing %s: no such database in the catalog",
					v->o->ids[i]);
				rc = 0;
				continue;
			}
			if (rc == 0)
				rc = scan_cb(v, &it);
		}
		if (rc < 0)
			log_err("cannot verify: cannot read the catalog: %s", strerror(-rc));
		return rc;
	}
	do {
		rc = v->c->ops->scan(v->c, &token, scan_cb, v);
	} while (rc == 0 && token);
	free(token);
	if (rc < 0)
		log_err("cannot verify: cannot scan the catalog: %s", strerror(-rc));
	return rc;
}

/* ---- snapshot manifests ------------------------------------------------- */

struct names {
	char **v;
	size_t n, cap;
};

static int name_cb(void *arg, const char *name, const struct store_info *info)
{
	struct names *n = arg;
	char **grown;

	if (n->n == n->cap) {
		n->cap = n->cap ? n->cap * 2 : 16;
		grown = realloc(n->v, n->cap * sizeof(*n->v));
		if (!grown)
			return -ENOMEM;
		n->v = grown;
	}
	if (!(n->v[n->n] = strdup(name)))
		return -ENOMEM;
	n->n++;
	return 0;
}

static int manifest_refs_cb(void *arg, const struct snapm_entry *e)
{
	struct vctx *v = arg;
	char key[KEY_MAX];

	if (!wanted(v, e->id) || key_version(v->l, e->id, e->hash, key, sizeof(key)) < 0)
		return 0;
	return refset_add(&v->refs, key, REF_SNAPSHOT);
}

/* Second reading, only when the listing missed something a manifest
 * names: the lines need the id and gen the fingerprints do not keep. */
static int manifest_missing_cb(void *arg, const struct snapm_entry *e)
{
	struct vctx *v = arg;
	char key[KEY_MAX];
	uint8_t *f;

	if (!wanted(v, e->id) || key_version(v->l, e->id, e->hash, key, sizeof(key)) < 0)
		return 0;
	f = refset_find(&v->refs, key);
	if (f && !(*f & REF_SEEN))
		problem(v, "missing %s gen %llu key %s (named by snapshot %s)", e->id,
			(unsigned long long)e->gen, key, v->manifest);
	return 0;
}

static int read_manifests(struct vctx *v, const struct names *names,
			  int (*cb)(void *arg, const struct snapm_entry *e))
{
	struct snapm_header hdr;
	size_t i;
	int rc;

	for (i = 0; i < names->n; i++) {
		v->manifest = names->v[i];
		rc = snapm_read(v->s, v->l->prefix, names->v[i], v->o->tmpdir, &hdr, cb, v);
		if (rc == -ENOMEM)
			return rc;
		if (rc < 0 && cb == manifest_refs_cb)
			/* logged; what it names cannot be told from orphans */
			problem(v, "error snapshot %s: cannot read the manifest: %s", names->v[i],
				strerror(-rc));
		if (cb == manifest_refs_cb)
			v->res->manifests++;
		progress(v, "snapshot manifests read", v->res->manifests, 0);
	}
	return 0;
}

/* ---- the listing --------------------------------------------------------- */

/* A listed key nobody named in passes 1 and 2: it is still referenced if
 * it is a version of a database whose item names it now (a commit since
 * pass 1 read that item). */
static bool named_now(struct vctx *v, const char *key)
{
	char id[CAT_ID_MAX + 1], want[KEY_MAX];
	const char *last, *seg;
	struct cat_item it;
	int i;

	last = strrchr(key, '/');
	if (!last)
		return false;
	for (seg = last; seg > key && seg[-1] != '/'; seg--)
		;
	if (last - seg > CAT_ID_MAX || last == seg)
		return false;
	memcpy(id, seg, (size_t)(last - seg));
	id[last - seg] = '\0';
	if (!tfs_valid_id(id) || v->c->ops->get(v->c, id, &it) < 0)
		return false;
	for (i = -1; i < it.n_hist; i++) {
		const char *h = i < 0 ? it.hash : it.hist[i].hash;

		if (h[0] && key_version(v->l, id, h, want, sizeof(want)) == 0 && !strcmp(want, key))
			return true;
	}
	return false;
}

/* The folder's unnamed objects: orphans unless a version record of the
 * folder or the item as it is now names them. */
static void flush_folder(struct vctx *v)
{
	size_t i, j;

	for (i = 0; i < v->n_cand; i++) {
		const char *last = strrchr(v->cand[i].key, '/');
		const char *name = last ? last + 1 : v->cand[i].key;
		bool named = false;

		for (j = 0; !named && j < v->n_rec; j++)
			named = !strncmp(name, v->rec_hash[j], CAT_HASH_HEX) &&
				!strcmp(name + CAT_HASH_HEX, ".db");
		if (!named && !named_now(v, v->cand[i].key))
			problem(v, "orphan %s (%llu bytes)", v->cand[i].key,
				(unsigned long long)v->cand[i].size);
		free(v->cand[i].key);
	}
	v->n_cand = 0;
	v->n_rec = 0;
}

static int grow(void *pp, size_t *cap, size_t n, size_t size)
{
	void **p = pp, *q;
	size_t c = *cap ? *cap * 2 : 16;

	if (n < *cap)
		return 0;
	q = realloc(*p, c * size);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = c;
	return 0;
}

static int list_cb(void *arg, const char *key, const struct store_info *info)
{
	struct vctx *v = arg;
	const char *last;
	struct verrec rec;
	uint8_t *f;
	size_t n;

	v->res->objects++;
	v->listed_bytes += info->size;
	progress(v, "objects listed", v->res->objects, v->listed_bytes);
	/* Manifests and the markers of snapshots being taken; a database
	 * may be named "_snapshots" too, so only .json and .taking */
	n = strlen(key);
	if (!strncmp(key, v->snap_dir, strlen(v->snap_dir)) &&
	    ((n > 5 && !strcmp(key + n - 5, ".json")) ||
	     (n > 7 && !strcmp(key + n - 7, ".taking"))))
		return 0;
	last = strrchr(key, '/');
	n = last ? (size_t)(last - key) + 1 : 0;
	if (n != strlen(v->folder) || strncmp(key, v->folder, n) != 0) {
		flush_folder(v);
		snprintf(v->folder, sizeof(v->folder), "%.*s", (int)n, key);
	}
	f = refset_find(&v->refs, key);
	if (f) {
		*f |= REF_SEEN;
		return 0;
	}
	/* Version records (cache/store/verrec.h) are the chain, not versions; the
	 * versions they name are not orphans (a restore within --keep may
	 * need them). */
	if (verrec_parse_name(key + n, &rec)) {
		if (rec.hash[0]) {
			if (grow(&v->rec_hash, &v->cap_rec, v->n_rec, sizeof(*v->rec_hash)) < 0)
				return -ENOMEM;
			memcpy(v->rec_hash[v->n_rec++], rec.hash, sizeof(rec.hash));
		}
		return 0;
	}
	if (grow(&v->cand, &v->cap_cand, v->n_cand, sizeof(*v->cand)) < 0)
		return -ENOMEM;
	v->cand[v->n_cand].key = strdup(key);
	if (!v->cand[v->n_cand].key)
		return -ENOMEM;
	v->cand[v->n_cand++].size = info->size;
	return 0;
}

static int list_prefix(struct vctx *v, const char *prefix)
{
	char *token = NULL;
	int rc;

	do {
		rc = v->s->ops->list(v->s, prefix, &token, list_cb, v);
	} while (rc == 0 && token);
	free(token);
	if (rc == 0)
		flush_folder(v);
	if (rc < 0)
		log_err("cannot verify: cannot list '%s': %s", prefix, strerror(-rc));
	return rc;
}

static int pass_listing(struct vctx *v)
{
	char prefix[KEY_MAX];
	size_t n;
	int i, rc;

	if (v->o->n_ids == 0) {
		snprintf(prefix, sizeof(prefix), "%s%s", v->l->prefix, v->l->prefix[0] ? "/" : "");
		return list_prefix(v, prefix);
	}
	/* Only the folders of the databases asked for: "PREFIX/[SS/]ID/". */
	for (i = 0; i < v->o->n_ids; i++) {
		rc = key_version(v->l, v->o->ids[i], "", prefix, sizeof(prefix));
		if (rc < 0)
			return rc;
		n = strlen(prefix);
		prefix[n - strlen(".db")] = '\0';
		rc = list_prefix(v, prefix);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---- entry points -------------------------------------------------------- */

int tfs_verify(struct store *s, struct catalog *c, const struct key_layout *l,
	       const struct verify_options *o, struct verify_result *res)
{
	struct vctx v = {.s = s, .c = c, .l = l, .o = o, .res = res};
	struct names names = {0};
	bool snap_unseen = false;
	size_t i;
	int rc;

	memset(res, 0, sizeof(*res));
	for (i = 0; i < (size_t)o->n_ids; i++)
		if (!tfs_valid_id(o->ids[i]))
			return -EINVAL;
	rc = key_manifest(l->prefix, "", v.snap_dir, sizeof(v.snap_dir));
	if (rc < 0)
		return rc;

	rc = pass_catalog(&v);
	if (rc < 0)
		goto out;
	rc = snapm_list(s, l->prefix, name_cb, &names);
	if (rc < 0) {
		log_err("cannot verify: cannot list the snapshots: %s", strerror(-rc));
		goto out;
	}
	rc = read_manifests(&v, &names, manifest_refs_cb);
	if (rc < 0)
		goto out;
	rc = pass_listing(&v);
	if (rc < 0)
		goto out;
	for (i = 0; i < v.refs.cap && !snap_unseen; i++)
		snap_unseen = (v.refs.flags[i] & (REF_SNAPSHOT | REF_SEEN)) == REF_SNAPSHOT;
	if (snap_unseen)
		rc = read_manifests(&v, &names, manifest_missing_cb);
out:
	if (rc == -ENOMEM)
		log_err("cannot verify: out of memory");
	for (i = 0; i < names.n; i++)
		free(names.v[i]);
	free(names.v);
	refset_release(&v.refs);
	for (i = 0; i < v.n_cand; i++)
		free(v.cand[i].key); /* a listing that failed: reported nothing */
	free(v.cand);
	free(v.rec_hash);
	if (v.work[0] && rmdir(v.work) < 0)
		log_warn("cannot remove %s: %s", v.work, strerror(errno));
	return rc;
}

int tfs_verify_command(struct store *s, struct catalog *c, const struct key_layout *l,
		       const char *const *ids, int n_ids, bool deep, const char *tmpdir)
{
	struct verify_options o = {
	    .ids = ids, .n_ids = n_ids, .deep = deep, .tmpdir = tmpdir, .out = stdout};
	struct verify_result res;
	struct progress p;
	int i, rc;

	for (i = 0; i < n_ids; i++)
		if (!tfs_valid_id(ids[i])) {
			fprintf(stderr, "tenantfs: invalid database id '%s'\nusage: %s\n", ids[i],
				TFS_VERIFY_SYNOPSIS);
			return 2;
		}
	progress_init(&p, stderr, "verify", 0);
	o.progress = &p;
	rc = tfs_verify(s, c, l, &o, &res);
	progress_clear(&p);
	printf("verify: %llu databases checked, %llu objects, %llu bytes, %llu problems\n",
	       (unsigned long long)res.databases, (unsigned long long)res.objects,
	       (unsigned long long)res.bytes, (unsigned long long)res.problems);
	if (rc < 0)
		printf("verify: stopped early (see the messages above): not everything was "
		       "checked\n");
	return rc < 0 || res.problems ? 1 : 0;
}
