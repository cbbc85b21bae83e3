/* Snapshot manifests: the time cut over the catalog's history (beyond it,
 * the version records), the manifest written as one JSON document
 * streamed entry by entry (every value encoded by jansson), read back and
 * rewritten without one database (purge). The restore of one database is
 * in snapshot_restore.c. */
#include "cache/fleet/snapshot_manifest.h"
#include "s3/base/parse.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache/engine/cache.h"
#include "cache/store/verrec.h"
#include "s3/base/clock.h"
#include "s3/base/hash.h"
#include "s3/base/log.h"

/* ---- names, keys and times ---------------------------------------------- */

bool snapm_valid_name(const char *name)
{
	return name && name[0] != '-' &&
	       tfs_valid_name(name, strnlen(name, SNAP_NAME_MAX + 1), SNAP_NAME_MAX);
}

static void utc_parts(int64_t ms, struct tm *tm, int *frac)
{
	time_t sec = (time_t)(ms / 1000);

	*frac = (int)(ms % 1000);
	if (*frac < 0) {
		*frac += 1000;
		sec--;
	}
	gmtime_r(&sec, tm);
}

/* ms as UTC to the millisecond: ISO 8601 extended (with '-' and ':'), or
 * basic (without them: a snapshot name may not hold ':'). */
static void format_utc(int64_t ms, bool basic, char *buf, size_t cap)
{
	struct tm tm;
	int frac;

	utc_parts(ms, &tm, &frac);
	snprintf(buf, cap,
		 basic ? "%04d%02d%02dT%02d%02d%02d.%03dZ" : "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 frac);
}

void snapm_default_name(int64_t ms, char *buf, size_t cap)
{
	format_utc(ms, true, buf, cap);
}

void snapm_format_time(int64_t ms, char *buf, size_t cap)
{
	format_utc(ms, false, buf, cap);
}

/* ".123" or "" after whole seconds: milliseconds, or -1. */
static int parse_frac(const char *p, const char **end)
{
	int ms = 0, digits = 0;

	*end = p;
	if (*p != '.')
		return 0;
	p++;
	while (*p >= '0' && *p <= '9' && digits < 3) {
		ms = ms * 10 + (*p - '0');
		digits++;
		p++;
	}
	if (digits == 0)
		return -1;
	while (digits++ < 3)
		ms *= 10;
	*end = p;
	return ms;
}

int snapm_parse_time(const char *s, int64_t *ms)
{
	const char *end;
	int frac;

	if (!s || !*s)
		return -EINVAL;
	if (s[0] == '@') {
		uint64_t sec;

		if (tfs_parse_u64(s + 1, &sec, &end) < 0 || sec > 100000000000ULL)
			return -EINVAL;
		frac = parse_frac(end, &end);
		if (frac < 0 || *end)
			return -EINVAL;
		*ms = (int64_t)sec * 1000 + frac;
		return 0;
	}
	/* An instant an operator types: UTC only, no offset to get wrong. */
	return tfs_parse_iso8601_ms(s, true, ms);
}

/* ---- the time cut ------------------------------------------------------- */

static void fill(struct snapm_entry *out, const char *id, uint64_t gen, const char *hash,
		 uint64_t size, int64_t mtime_ms)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->id, sizeof(out->id), "%s", id);
	out->gen = gen;
	snprintf(out->hash, sizeof(out->hash), "%s", hash);
	out->size = size;
	out->mtime_ms = mtime_ms;
}

/* hist[i] is a tombstone: a never-committed one has no hash, any other
 * repeats the hash before it (history stays readable), which a write-back
 * never does. A restore or a re-create with the same bytes right after a
 * tombstone looks alike: it is taken for the tombstone. */
static bool hist_tombstone(const struct cat_item *it, int i)
{
	if (!it->hist[i].hash[0])
		return true;
	return i > 0 && strcmp(it->hist[i - 1].hash, it->hist[i].hash) == 0;
}

int snapm_version_at(const struct cat_item *it, int64_t cut_ms, struct snapm_entry *out,
		     bool *need_size)
{
	int i;

	*need_size = false;
	if (it->gen == 0 || !it->hash[0])
		return 0;
	if (it->mtime_ms <= cut_ms) {
		/* The current version (or tombstone) predates the cut. */
		if (it->deleted_ms)
			return 0;
		fill(out, it->id, it->gen, it->hash, it->size, it->mtime_ms);
		return 1;
	}
	/* Committed after the cut: the newest earlier commit in the history. */
	for (i = it->n_hist - 1; i >= 0; i--)
		if (it->hist[i].time_ms <= cut_ms)
			break;
	if (i >= 0) {
		if (hist_tombstone(it, i))
			return 0;
		fill(out, it->id, it->hist[i].gen, it->hist[i].hash, 0, it->hist[i].time_ms);
		*need_size = it->hist[i].gen != it->gen;
		if (!*need_size)
			out->size = it->size;
		return 1;
	}
	if (it->n_hist == 0) {
		/* No history at all (an item written before hist existed):
		 * the current version is all there is. */
		if (it->deleted_ms)
			return 0;
		fill(out, it->id, it->gen, it->hash, it->size, it->mtime_ms);
		out->short_hist = true;
		return 1;
	}
	/* Every known commit is newer than the cut. A first commit there
	 * means the database did not exist yet. */
	if (it->hist[0].gen <= 1 || !it->hist[0].hash[0])
		return 0;
	fill(out, it->id, it->hist[0].gen, it->hist[0].hash, 0, it->hist[0].time_ms);
	*need_size = it->hist[0].gen != it->gen;
	if (!*need_size)
		out->size = it->size;
	out->short_hist = true;
	return 1;
}

int snapm_chain_version_at(struct store *s, const struct key_layout *l, const struct cat_item *it,
			   int64_t at_ms, struct snapm_entry *e, bool *need_size)
{
	struct verchain ch;
	struct verrec v;
	int rc;

	rc = verrec_chain_read(s, l, it->id, &ch);
	if (rc == 0)
		rc = verrec_version_at(&ch, it, at_ms, &v);
	verrec_chain_release(&ch);
	if (rc == 1) {
		memset(e, 0, sizeof(*e));
		snprintf(e->id, sizeof(e->id), "%s", it->id);
		e->gen = v.gen;
		snprintf(e->hash, sizeof(e->hash), "%s", v.hash);
		e->mtime_ms = v.store_ms;
		*need_size = true;
	}
	return rc;
}

/* ---- writing a manifest ------------------------------------------------- */

/* The manifest is one JSON object whose "databases" array is written one
 * element per line as the scan goes, so a million databases never sit in
 * memory. Only the constant ASCII keys and the punctuation between values
 * are written here; every value is encoded by jansson. */
static int put_value(FILE *f, const char *lead, json_t *v)
{
	int rc = 0;

	if (!v)
		return -ENOMEM;
	if (fputs(lead, f) == EOF ||
	    json_dumpf(v, f, JSON_COMPACT | JSON_ENCODE_ANY | JSON_ENSURE_ASCII) != 0)
		rc = -EIO;
	json_decref(v);
	return rc;
}

static json_t *entry_json(const struct snapm_entry *e)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	if (json_object_set_new(o, "id", json_string(e->id)) ||
	    json_object_set_new(o, "gen", json_integer((json_int_t)e->gen)) ||
	    json_object_set_new(o, "hash", json_string(e->hash)) ||
	    json_object_set_new(o, "size", json_integer((json_int_t)e->size)) ||
	    json_object_set_new(o, "mtime_ms", json_integer(e->mtime_ms)) ||
	    (e->short_hist && json_object_set_new(o, "short_history", json_true()))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

struct take_ctx {
	struct store *s;
	const struct key_layout *l;
	int64_t cut_ms;
	FILE *f;
	struct snapm_take_result *res;
	void (*tick)(void *tick_arg, const struct snapm_take_result *sofar);
	void *tick_arg;
	int err;
};

static int take_item(void *arg, const struct cat_item *it)
{
	struct take_ctx *t = arg;
	struct snapm_entry e;
	bool need_size;
	int rc;

	t->res->scanned++;
	if (t->tick)
		t->tick(t->tick_arg, t->res);
	if (snapm_version_at(it, t->cut_ms, &e, &need_size) == 0)
		return 0;
	if (e.short_hist) {
		/* Older than the item's history: its version records tell (one
		 * LIST of its folder), within gc's --keep. */
		rc = snapm_chain_version_at(t->s, t->l, it, t->cut_ms, &e, &need_size);
		if (rc == 0)
			return 0; /* not live at the cut */
		if (rc < 0 && rc != -ERANGE) {
			log_err("cannot snapshot %s: its version records cannot be read: %s",
				it->id, strerror(-rc));
			t->err = rc;
			return rc;
		}
	}
	/* A version other than the current one may be gone already (gc, for
	 * a cut older than its --keep): the manifest never names one that is
	 * not in the store. */
	if (need_size || e.gen != it->gen || it->deleted_ms) {
		struct store_info info;
		char key[1024];

		rc = key_version(t->l, e.id, e.hash, key, sizeof(key));
		if (rc == 0)
			rc = t->s->ops->head(t->s, key, &info);
		if (rc < 0) {
			log_err("cannot snapshot %s: version gen %llu (%s) is not readable in the "
				"store: %s%s",
				e.id, (unsigned long long)e.gen, key, strerror(-rc),
				rc == -ENOENT
				    ? " (gc removed it: is the cut older than gc's --keep?)"
				    : "");
			t->err = rc == -ENOENT ? -EIO : rc;
			return t->err;
		}
		e.size = info.size;
	}
	if (e.short_hist) {
		t->res->flagged++;
		log_warn("snapshot: the history of %s does not reach back to the cut; listed at "
			 "its oldest known version, gen %llu",
			 e.id, (unsigned long long)e.gen);
	}
	rc = put_value(t->f, t->res->count ? ",\n" : "\n", entry_json(&e));
	if (rc < 0) {
		log_err("cannot snapshot: cannot write the manifest entry of %s: %s", e.id,
			strerror(-rc));
		t->err = rc;
		return rc;
	}
	t->res->count++;
	return 0;
}

static FILE *temp_file(const char *tmpdir, const char *what, char *path, size_t cap, int *fd)
{
	FILE *f;

	snprintf(path, cap, "%s/tenantfs-%s.XXXXXX", tmpdir, what);
	*fd = mkostemp(path, O_CLOEXEC);
	if (*fd < 0) {
		log_err("cannot create a temp file in %s: %s", tmpdir, strerror(errno));
		return NULL;
	}
	unlink(path); /* nothing to clean up later, whatever happens */
	f = fdopen(dup(*fd), "w+");
	if (!f) {
		log_err("cannot create a temp file in %s: %s", tmpdir, strerror(errno));
		close(*fd);
		*fd = -1;
	}
	return f;
}

/* Puts the marker that announces the snapshot name being taken (see
 * SNAPM_CUT_NOW in the header): a small JSON body naming it. */
static int announce(struct store *s, const char *key, const char *name, const char *tmpdir)
{
	char path[4096], hash[CAT_HASH_HEX + 1];
	uint64_t size;
	FILE *f;
	int fd, rc;

	f = temp_file(tmpdir, "taking", path, sizeof(path), &fd);
	if (!f)
		return -EIO;
	rc = put_value(f, "{\"format\":", json_string(SNAP_FORMAT));
	if (!rc)
		rc = put_value(f, ",\"taking\":", json_string(name));
	if (!rc && (fputs("}\n", f) == EOF || fflush(f) != 0))
		rc = -EIO;
	if (!rc)
		rc = tfs_hash_fd(fd, hash, &size);
	if (!rc)
		rc = s->ops->put(s, key, fd, size, hash);
	fclose(f);
	close(fd);
	if (rc < 0)
		log_err("cannot snapshot: cannot store its marker %s: %s", key, strerror(-rc));
	return rc;
}

/* The scan and the manifest of snapm_take, once announced. */
static int take_scan(struct store *s, struct catalog *c, struct take_ctx *t, const char *name,
		     const char *key, const char *tmpdir, int64_t started)
{
	char path[4096], when[32], hash[CAT_HASH_HEX + 1];
	struct snapm_take_result *res = t->res;
	char *token = NULL;
	uint64_t size;
	int fd = -1, rc;
	long pages = 0;
	int64_t cut_ms = t->cut_ms;

	t->f = temp_file(tmpdir, "snapshot", path, sizeof(path), &fd);
	if (!t->f)
		return -EIO;
	snapm_format_time(cut_ms, when, sizeof(when));
	rc = put_value(t->f, "{\"format\":", json_string(SNAP_FORMAT));
	if (!rc)
		rc = put_value(t->f, ",\"name\":", json_string(name));
	if (!rc)
		rc = put_value(t->f, ",\"cut_ms\":", json_integer(cut_ms));
	if (!rc)
		rc = put_value(t->f, ",\"cut\":", json_string(when));
	if (!rc && fputs(",\"databases\":[", t->f) == EOF)
		rc = -EIO;
	if (rc < 0) {
		log_err("cannot snapshot: cannot write the manifest: %s", strerror(-rc));
		goto out;
	}
	do {
		rc = c->ops->scan(c, &token, take_item, t);
		pages++;
		if (rc < 0) {
			if (!t->err)
				log_err("cannot snapshot: catalog scan (page %ld): %s", pages,
					strerror(-rc));
			goto out;
		}
	} while (token);
	if (fputs("\n]", t->f) == EOF)
		rc = -EIO;
	if (!rc)
		rc = put_value(t->f, ",\"count\":", json_integer((json_int_t)res->count));
	if (!rc)
		rc = put_value(t->f, ",\"short_history\":", json_integer((json_int_t)res->flagged));
	if (!rc && (fputs("}\n", t->f) == EOF || fflush(t->f) != 0))
		rc = -EIO;
	if (rc < 0) {
		log_err("cannot snapshot: cannot write the manifest: %s", strerror(-rc));
		goto out;
	}
	rc = tfs_hash_fd(fd, hash, &size);
	if (rc < 0) {
		log_err("cannot snapshot: cannot read back the manifest: %s", strerror(-rc));
		goto out;
	}
	if (tfs_mono_ms() - started > SNAPM_TAKE_MAX_MS) {
		/* gc may treat its marker as stale from now on. */
		log_err("cannot snapshot: it took longer than %lld min; the manifest is not stored",
			SNAPM_TAKE_MAX_MS / 60000);
		rc = -ETIMEDOUT;
		goto out;
	}
	rc = s->ops->put(s, key, fd, size, hash);
	if (rc < 0)
		log_err("cannot snapshot: cannot store the manifest %s: %s", key, strerror(-rc));
out:
	free(token);
	if (t->f)
		fclose(t->f);
	if (fd >= 0)
		close(fd);
	return rc;
}

int snapm_take(struct store *s, struct catalog *c, const struct key_layout *l, const char *name,
	       int64_t cut_ms, const char *tmpdir, struct snapm_take_result *res,
	       void (*tick)(void *tick_arg, const struct snapm_take_result *sofar), void *tick_arg)
{
	struct take_ctx t = {
	    .s = s, .l = l, .cut_ms = cut_ms, .res = res, .tick = tick, .tick_arg = tick_arg};
	char key[1024], marker[1024];
	struct store_info info;
	int64_t started = tfs_mono_ms();
	int rc, r;

	memset(res, 0, sizeof(*res));
	if (!snapm_valid_name(name)) {
		log_err("cannot snapshot: invalid name '%s' (1-128 of A-Z a-z 0-9 . _ -)", name);
		return -EINVAL;
	}
	rc = key_manifest(l->prefix, name, key, sizeof(key));
	if (rc == 0)
		rc = key_marker(l->prefix, name, marker, sizeof(marker));
	if (rc < 0)
		return rc;
	/* Named snapshots are never overwritten (a put of an existing key
	 * could be skipped or replace it, depending on the back end). */
	rc = s->ops->head(s, key, &info);
	if (rc == 0) {
		log_err("cannot snapshot: a snapshot named '%s' exists already (%s)", name, key);
		return -EEXIST;
	}
	if (rc != -ENOENT)
		return rc;
	/* Announced before the cut, so that gc keeps what it will name. */
	rc = announce(s, marker, name, tmpdir);
	if (rc < 0)
		return rc;
	if (t.cut_ms == SNAPM_CUT_NOW)
		t.cut_ms = tfs_wall_ms();
	res->cut_ms = t.cut_ms;
	rc = take_scan(s, c, &t, name, key, tmpdir, started);
	r = s->ops->del(s, marker);
	if (r < 0 && r != -ENOENT)
		log_warn("snapshot %s: cannot remove its marker %s (gc keeps more versions until "
			 "it is %lld min old): %s",
			 name, marker, SNAPM_TAKING_STALE_MS / 60000, strerror(-r));
	return rc;
}

/* ---- listing and reading ------------------------------------------------ */

struct list_ctx {
	int (*cb)(void *arg, const char *name, const struct store_info *info);
	void *arg;
	size_t skip;	    /* length of "PREFIX/_snapshots/" */
	const char *suffix; /* ".json" (manifests) or ".taking" (markers) */
};

static int list_one(void *arg, const char *key, const struct store_info *info)
{
	struct list_ctx *l = arg;
	char name[SNAP_NAME_MAX + 1];
	const char *rest;
	size_t n;

	if (strlen(key) <= l->skip)
		return 0;
	rest = key + l->skip;
	n = strlen(rest);
	/* Only our own manifests: a database whose id is "_snapshots" keeps
	 * its versions here too, as HASH.db. */
	size_t k = strlen(l->suffix);

	if (n <= k || strcmp(rest + n - k, l->suffix) != 0 || n - k > SNAP_NAME_MAX)
		return 0;
	memcpy(name, rest, n - k);
	name[n - k] = '\0';
	if (!snapm_valid_name(name))
		return 0;
	return l->cb(l->arg, name, info);
}

static int list_suffix(struct store *s, const char *prefix, const char *suffix,
		       int (*cb)(void *arg, const char *name, const struct store_info *info),
		       void *arg)
{
	struct list_ctx l = {.cb = cb, .arg = arg, .suffix = suffix};
	char dir[1024];
	char *token = NULL;
	int rc, pages = 0;

	rc = key_manifest(prefix, "", dir, sizeof(dir));
	if (rc < 0)
		return rc;
	l.skip = strlen(dir);
	do {
		rc = s->ops->list(s, dir, &token, list_one, &l);
		/* A store that keeps returning tokens would spin forever. */
	} while (rc == 0 && token && ++pages < 1000000);
	free(token);
	return rc;
}

int snapm_list(struct store *s, const char *prefix,
	       int (*cb)(void *arg, const char *name, const struct store_info *info), void *arg)
{
	return list_suffix(s, prefix, ".json", cb, arg);
}

int snapm_list_taking(struct store *s, const char *prefix,
		      int (*cb)(void *arg, const char *name, const struct store_info *info),
		      void *arg)
{
	return list_suffix(s, prefix, ".taking", cb, arg);
}

static int json_u64(json_t *o, const char *k, uint64_t *out)
{
	json_t *v = json_object_get(o, k);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -EINVAL;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static bool hex_hash(const char *h)
{
	if (strlen(h) != CAT_HASH_HEX)
		return false;
	for (int i = 0; i < CAT_HASH_HEX; i++)
		if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f')))
			return false;
	return true;
}

static int entry_from_json(json_t *o, struct snapm_entry *e)
{
	json_t *id = json_object_get(o, "id"), *hash = json_object_get(o, "hash");
	json_t *mt = json_object_get(o, "mtime_ms");

	memset(e, 0, sizeof(*e));
	if (!json_is_object(o) || !json_is_string(id) || !tfs_valid_id(json_string_value(id)) ||
	    !json_is_string(hash) || !hex_hash(json_string_value(hash)) ||
	    json_u64(o, "gen", &e->gen) < 0 || e->gen == 0 || json_u64(o, "size", &e->size) < 0 ||
	    !json_is_integer(mt))
		return -EINVAL;
	snprintf(e->id, sizeof(e->id), "%s", json_string_value(id));
	snprintf(e->hash, sizeof(e->hash), "%s", json_string_value(hash));
	e->mtime_ms = json_integer_value(mt);
	e->short_hist = json_is_true(json_object_get(o, "short_history"));
	return 0;
}

int snapm_read(struct store *s, const char *prefix, const char *name, const char *tmpdir,
	       struct snapm_header *hdr, int (*cb)(void *arg, const struct snapm_entry *e),
	       void *arg)
{
	char key[1024], path[4096];
	struct store_info info;
	json_error_t jerr;
	json_t *root = NULL, *dbs, *v;
	FILE *f = NULL;
	int fd = -1, rc;
	size_t i;

	memset(hdr, 0, sizeof(*hdr));
	if (!snapm_valid_name(name)) {
		log_err("cannot read snapshot '%s': invalid name", name);
		return -EINVAL;
	}
	rc = key_manifest(prefix, name, key, sizeof(key));
	if (rc < 0)
		return rc;
	f = temp_file(tmpdir, "manifest", path, sizeof(path), &fd);
	if (!f)
		return -EIO;
	rc = s->ops->get(s, key, fd, &info);
	if (rc < 0) {
		if (rc == -ENOENT)
			log_err("cannot read snapshot '%s': no such snapshot (%s)", name, key);
		else
			log_err("cannot read snapshot '%s': %s", name, strerror(-rc));
		goto out;
	}
	rewind(f);
	root = json_loadf(f, 0, &jerr);
	rc = -EINVAL;
	if (!root) {
		log_err("cannot read snapshot '%s': not JSON: %s (line %d)", name, jerr.text,
			jerr.line);
		goto out;
	}
	v = json_object_get(root, "format");
	if (!json_is_string(v) || strcmp(json_string_value(v), SNAP_FORMAT) != 0) {
		log_err("cannot read snapshot '%s': not a %s manifest", name, SNAP_FORMAT);
		goto out;
	}
	dbs = json_object_get(root, "databases");
	v = json_object_get(root, "cut_ms");
	if (!json_is_array(dbs) || !json_is_integer(v) || json_u64(root, "count", &hdr->count) ||
	    hdr->count != json_array_size(dbs)) {
		log_err("cannot read snapshot '%s': incomplete manifest", name);
		goto out;
	}
	hdr->cut_ms = json_integer_value(v);
	snprintf(hdr->name, sizeof(hdr->name), "%s", name);
	for (i = 0; i < json_array_size(dbs); i++) {
		struct snapm_entry e;

		if (entry_from_json(json_array_get(dbs, i), &e) < 0) {
			log_err("cannot read snapshot '%s': database %zu is malformed", name, i);
			rc = -EINVAL;
			goto out;
		}
	}
	rc = 0;
	for (i = 0; i < json_array_size(dbs) && rc == 0; i++) {
		struct snapm_entry e;

		entry_from_json(json_array_get(dbs, i), &e);
		rc = cb(arg, &e);
	}
out:
	json_decref(root);
	if (f)
		fclose(f);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* ---- erasing one database from a manifest ------------------------------- */

struct drop_ctx {
	const char *id;
	FILE *f;
	uint64_t count, flagged, dropped;
	int err;
};

static int drop_scan_cb(void *arg, const struct snapm_entry *e)
{
	struct drop_ctx *d = arg;

	d->dropped += !strcmp(e->id, d->id);
	return 0;
}

static int drop_copy_cb(void *arg, const struct snapm_entry *e)
{
	struct drop_ctx *d = arg;
	int rc;

	if (!strcmp(e->id, d->id))
		return 0;
	rc = put_value(d->f, d->count ? ",\n" : "\n", entry_json(e));
	if (rc < 0)
		return d->err = rc;
	d->count++;
	d->flagged += e->short_hist;
	return 0;
}

int snapm_drop_id(struct store *s, const char *prefix, const char *name, const char *id,
		  const char *tmpdir, bool *dropped)
{
	struct drop_ctx d = {.id = id};
	struct snapm_header hdr;
	char key[1024], side[1100], path[4096], when[32], hash[CAT_HASH_HEX + 1];
	uint64_t size;
	int fd = -1, rc;

	*dropped = false;
	rc = key_manifest(prefix, name, key, sizeof(key));
	if (rc < 0)
		return rc;
	rc = snapm_read(s, prefix, name, tmpdir, &hdr, drop_scan_cb, &d);
	if (rc < 0 || !d.dropped)
		return rc;
	d.f = temp_file(tmpdir, "snapshot", path, sizeof(path), &fd);
	if (!d.f)
		return -EIO;
	snapm_format_time(hdr.cut_ms, when, sizeof(when));
	rc = put_value(d.f, "{\"format\":", json_string(SNAP_FORMAT));
	if (!rc)
		rc = put_value(d.f, ",\"name\":", json_string(hdr.name));
	if (!rc)
		rc = put_value(d.f, ",\"cut_ms\":", json_integer(hdr.cut_ms));
	if (!rc)
		rc = put_value(d.f, ",\"cut\":", json_string(when));
	if (!rc && fputs(",\"databases\":[", d.f) == EOF)
		rc = -EIO;
	if (!rc)
		rc = snapm_read(s, prefix, name, tmpdir, &hdr, drop_copy_cb, &d);
	if (!rc && d.err)
		rc = d.err;
	if (!rc && fputs("\n]", d.f) == EOF)
		rc = -EIO;
	if (!rc)
		rc = put_value(d.f, ",\"count\":", json_integer((json_int_t)d.count));
	if (!rc)
		rc = put_value(d.f, ",\"short_history\":", json_integer((json_int_t)d.flagged));
	if (!rc && (fputs("}\n", d.f) == EOF || fflush(d.f) != 0))
		rc = -EIO;
	if (!rc)
		rc = tfs_hash_fd(fd, hash, &size);
	if (rc < 0) {
		log_err("cannot rewrite snapshot '%s' without %s: %s", name, id, strerror(-rc));
		goto out;
	}
	/* Objects are never overwritten in place: a side copy first (not a
	 * manifest name: it ends in .rewrite), then the manifest anew, then
	 * the side copy goes. A crash in between leaves the side copy. */
	snprintf(side, sizeof(side), "%s.rewrite", key);
	rc = s->ops->put(s, side, fd, size, hash);
	if (rc == 0)
		rc = s->ops->del(s, key);
	if (rc == 0)
		rc = s->ops->put(s, key, fd, size, hash);
	if (rc == 0)
		rc = s->ops->del(s, side);
	if (rc < 0)
		log_err("cannot rewrite snapshot '%s' without %s (its side copy is %s): %s", name,
			id, side, strerror(-rc));
	else
		*dropped = true;
out:
	fclose(d.f);
	close(fd);
	return rc;
}
