/* `tenantfs history` (see history.h): one database's versions from its
 * catalog item, its version records and one listing of its folder, each
 * with gc's verdict computed exactly as gc computes it (verrec_protect,
 * by the store's clock). Reads only, but for the clock probe
 * (verrec_store_now). */
#include "cache/fleet/history.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "cache/store/verrec.h"
#include "s3/base/log.h"

/* ---- durations ------------------------------------------------------------- */

int tfs_parse_duration(const char *s, int64_t *ms)
{
	static const struct {
		const char *unit;
		int64_t ms;
	} units[] = {{"", 1000},     {"ms", 1},		{"s", 1000},	      {"m", 60000},
		     {"h", 3600000}, {"d", 86400000LL}, {"w", 7 * 86400000LL}};
	uint64_t v = 0;
	const char *p = s;
	size_t i;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > (uint64_t)INT64_MAX / (7 * 86400000ULL))
			return -EINVAL;
	}
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (!strcmp(p, units[i].unit)) {
			*ms = (int64_t)v * units[i].ms;
			return 0;
		}
	return -EINVAL;
}

/* ---- what snapshots name ------------------------------------------------------ */

static uint64_t ref_fp(const char *id, const char *hash)
{
	char buf[CAT_ID_MAX + CAT_HASH_HEX + 2];
	int n = snprintf(buf, sizeof(buf), "%s/%s", id, hash);

	return XXH3_64bits(buf, n > 0 ? (size_t)n : 0);
}

struct names_acc {
	char **names;
	size_t n, cap;
	int err;
};

static int name_cb(void *arg, const char *name, const struct store_info *info)
{
	struct names_acc *a = arg;

	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 16;
		char **v = realloc(a->names, cap * sizeof(*v));

		if (!v)
			return a->err = -ENOMEM;
		a->names = v;
		a->cap = cap;
	}
	a->names[a->n] = strdup(name);
	if (!a->names[a->n])
		return a->err = -ENOMEM;
	a->n++;
	return 0;
}

struct entry_acc {
	struct snaprefs *r;
	const char *only_id;
};

static int entry_cb(void *arg, const struct snapm_entry *e)
{
	struct entry_acc *a = arg;
	struct snaprefs *r = a->r;

	if (a->only_id && strcmp(a->only_id, e->id) != 0)
		return 0;
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;
		uint64_t *v = realloc(r->fp, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		r->fp = v;
		r->cap = cap;
	}
	r->fp[r->n++] = ref_fp(e->id, e->hash);
	return 0;
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

int snaprefs_load(struct store *s, const char *prefix, const char *tmpdir, const char *only_id,
		  struct snaprefs *out)
{
	struct names_acc na = {0};
	struct entry_acc ea = {.r = out, .only_id = only_id};
	struct snapm_header hdr;
	size_t i;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = snapm_list(s, prefix, name_cb, &na);
	if (rc == 0 && na.err)
		rc = na.err;
	for (i = 0; rc == 0 && i < na.n; i++) {
		rc = snapm_read(s, prefix, na.names[i], tmpdir, &hdr, entry_cb, &ea);
		if (rc == -ENOENT)
			rc = 0; /* removed meanwhile: it protects nothing any more */
		else if (rc == 0)
			out->manifests++;
		else
			log_err("cannot read snapshot manifest '%s': %s", na.names[i],
				strerror(-rc));
	}
	for (i = 0; i < na.n; i++)
		free(na.names[i]);
	free(na.names);
	if (out->n > 1)
		qsort(out->fp, out->n, sizeof(*out->fp), cmp_u64);
	return rc;
}

bool snaprefs_has(const struct snaprefs *r, const char *id, const char *hash)
{
	uint64_t k = ref_fp(id, hash);

	return r->n && bsearch(&k, r->fp, r->n, sizeof(*r->fp), cmp_u64) != NULL;
}

void snaprefs_release(struct snaprefs *r)
{
	free(r->fp);
	memset(r, 0, sizeof(*r));
}

/* ---- the command ----------------------------------------------------------------- */

struct hctx {
	const char *id;
	const struct snaprefs *refs;
};

static bool snap_has(void *arg, const char *hash)
{
	const struct hctx *h = arg;

	return snaprefs_has(h->refs, h->id, hash);
}

static const struct verobj *find_obj(const struct verchain *ch, const char *hash)
{
	size_t i;

	for (i = 0; i < ch->n_objs; i++)
		if (!strcmp(ch->objs[i].hash, hash))
			return &ch->objs[i];
	return NULL;
}

/* The verdict on one version's object, as a phrase. */
static void verdict(const struct verchain *ch, const struct cat_item *it, const char *hash,
		    int64_t now, int64_t keep, int64_t grace, struct hctx *h, char *buf, size_t cap)
{
	const struct verobj *o = find_obj(ch, hash);
	enum verprot p;

	if (!o) {
		snprintf(buf, cap, "missing from the store (collected, or never uploaded)");
		return;
	}
	p = verrec_protect(ch, it, o, now, keep, grace, snap_has, h);
	if (p == VP_NONE)
		snprintf(buf, cap, "not protected: gc deletes it");
	else
		snprintf(buf, cap, "protected: %s", verprot_str(p));
}

/* Long because it prints one table from three sources read once (catalog item, version records,
 * snapshot references). */
int tfs_history_command(struct store *s, struct catalog *c, const struct key_layout *l,
			const char *id, int64_t keep_ms, int64_t grace_ms, const char *tmpdir)
{
	struct verchain ch = {0};
	struct snaprefs refs = {0};
	struct cat_item item, *it = &item;
	struct hctx h = {.id = id, .refs = &refs};
	char when[32], now_s[32], why[160], node[CAT_NODE_MAX + 16];
	int64_t now = 0;
	uint64_t gen, top = 0, rows = 0;
	size_t i;
	int rc, status = 1;

	rc = c->ops->get(c, id, &item);
	if (rc == -ENOENT) {
		it = NULL;
	} else if (rc < 0) {
		log_err("cannot show the history of %s: cannot read its catalog item: %s", id,
			strerror(-rc));
		return 1;
	}
	if (verrec_store_now(s, l->prefix, "history", &now) < 0 ||
	    verrec_chain_read(s, l, id, &ch) < 0 ||
	    snaprefs_load(s, l->prefix, tmpdir, id, &refs) < 0)
		goto out;
	snapm_format_time(now, now_s, sizeof(now_s));
	printf("history %s: %s; %zu version objects, %zu version records; store clock %s\n", id,
	       !it		? "no catalog item"
	       : it->deleted_ms ? "deleted (tombstone)"
	       : it->gen	? "live"
				: "never committed",
	       ch.n_objs, ch.n_recs, now_s);
	if (it)
		top = it->gen;
	if (ch.n_recs && ch.recs[ch.n_recs - 1].gen > top)
		top = ch.recs[ch.n_recs - 1].gen;
	for (gen = top; gen > 0; gen--) {
		const struct verrec *rec = verrec_find(&ch, gen);
		const struct cat_hist *hi = verrec_hist_find(it, gen);
		const char *hash = NULL;
		bool deleted = false;
		struct verrec body;
		uint64_t size = 0;
		int64_t t = 0;
		const char *clock = "";

		node[0] = '\0';
		if (rec) {
			body = *rec;
			hash = rec->hash;
			deleted = rec->deleted;
			t = rec->store_ms;
			clock = "store";
			if (verrec_get(s, l, id, &body) == 0) {
				size = body.size;
				snprintf(node, sizeof(node), "node %s", body.node);
			}
		} else if (it && gen == it->gen) {
			hash = it->hash;
			deleted = it->deleted_ms != 0;
			t = it->mtime_ms;
			size = it->size;
			clock = "node clock";
		} else if (hi) {
			hash = hi->hash;
			t = hi->time_ms;
			clock = "node clock";
		} else {
			continue; /* nothing known about it any more */
		}
		if (!node[0])
			snprintf(node, sizeof(node), "node ?");
		if (!size && !deleted && find_obj(&ch, hash))
			size = find_obj(&ch, hash)->size;
		snapm_format_time(t, when, sizeof(when));
		if (deleted)
			snprintf(why, sizeof(why),
				 "tombstone: gc removes it with its versions "
				 "once older than --keep");
		else
			verdict(&ch, it, hash, now, keep_ms, grace_ms, &h, why, sizeof(why));
		printf("gen %" PRIu64 " %s (%s) %" PRIu64 " bytes %s %s%s: %s\n", gen, when, clock,
		       size, hash[0] ? hash : "-", node, rec ? "" : " (no record)", why);
		rows++;
	}
	/* Objects no known commit names: uploads not committed (yet), or
	 * versions of commits whose record is gone. */
	for (i = 0; i < ch.n_objs; i++) {
		const struct verobj *o = &ch.objs[i];
		bool named = it && !strcmp(it->hash, o->hash);
		size_t j;
		int k;

		for (j = 0; !named && j < ch.n_recs; j++)
			named = !strcmp(ch.recs[j].hash, o->hash);
		for (k = 0; !named && it && k < it->n_hist; k++)
			named = !strcmp(it->hist[k].hash, o->hash);
		if (named)
			continue;
		snapm_format_time(o->store_ms, when, sizeof(when));
		verdict(&ch, it, o->hash, now, keep_ms, grace_ms, &h, why, sizeof(why));
		printf("object %s %" PRIu64 " bytes written %s (store), no known commit: %s\n",
		       o->hash, o->size, when, why);
	}
	printf("history %s: %" PRIu64 " commits shown\n", id, rows);
	status = 0;
out:
	snaprefs_release(&refs);
	verrec_chain_release(&ch);
	return status;
}
