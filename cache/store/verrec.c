/* Version records (see verrec.h): keys, the record body, reading a
 * database's folder as a chain, and the retention rules over a chain. */
#include "cache/store/verrec.h"
#include "s3/base/parse.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "s3/base/fsutil.h"
#include "s3/base/hash.h"
#include "s3/base/log.h"

#define GEN_DIGITS 20
#define BODY_MAX   4096

/* ---- keys ----------------------------------------------------------------- */

int verrec_key(const struct key_layout *l, const char *id, uint64_t gen, bool deleted,
	       const char *hash, char *buf, size_t cap)
{
	size_t n;
	int rc, w;

	rc = key_folder(l, id, buf, cap);
	if (rc < 0)
		return rc;
	n = strlen(buf);
	w = snprintf(buf + n, cap - n, "%0*" PRIu64 "-%c-%s.ver", GEN_DIGITS, gen,
		     deleted ? 't' : 'v', hash);
	return w < 0 || (size_t)w >= cap - n ? -ENAMETOOLONG : 0;
}

int verrec_parse_name(const char *name, struct verrec *r)
{
	size_t n = strlen(name), hl;
	uint64_t gen = 0;
	int i;

	/* GEN-K-.ver at least */
	if (n < GEN_DIGITS + 3 + 4 || strcmp(name + n - 4, ".ver") != 0)
		return 0;
	for (i = 0; i < GEN_DIGITS; i++) {
		if (name[i] < '0' || name[i] > '9')
			return 0;
		if (gen > (UINT64_MAX - 9) / 10)
			return 0;
		gen = gen * 10 + (uint64_t)(name[i] - '0');
	}
	if (name[GEN_DIGITS] != '-' ||
	    (name[GEN_DIGITS + 1] != 'v' && name[GEN_DIGITS + 1] != 't') ||
	    name[GEN_DIGITS + 2] != '-' || gen == 0)
		return 0;
	hl = n - 4 - (GEN_DIGITS + 3);
	if (hl != 0 && (hl != CAT_HASH_HEX || !tfs_is_hex(name + GEN_DIGITS + 3, hl)))
		return 0;
	if (hl == 0 && name[GEN_DIGITS + 1] == 'v')
		return 0; /* a version always has a hash */
	memset(r, 0, sizeof(*r));
	r->gen = gen;
	r->deleted = name[GEN_DIGITS + 1] == 't';
	memcpy(r->hash, name + GEN_DIGITS + 3, hl);
	r->hash[hl] = '\0';
	return 1;
}

/* ---- the record body -------------------------------------------------------- */

int verrec_put(struct store *s, const struct key_layout *l, const char *id, const struct verrec *r)
{
	char key[1024], hash[CAT_HASH_HEX + 1], *body = NULL;
	json_t *o = NULL;
	size_t len;
	int rc, fd = -1;

	rc = verrec_key(l, id, r->gen, r->deleted, r->hash, key, sizeof(key));
	if (rc < 0)
		goto out;
	rc = -ENOMEM;
	o = json_pack("{s:s, s:s, s:I, s:s, s:b, s:I, s:I, s:s}", "format", VERREC_FORMAT, "id", id,
		      "gen", (json_int_t)r->gen, "hash", r->hash, "deleted", r->deleted, "size",
		      (json_int_t)r->size, "time_ms", (json_int_t)r->time_ms, "node", r->node);
	if (!o)
		goto out;
	body = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
	if (!body)
		goto out;
	len = strlen(body);
	tfs_hash_buf(body, len, hash);
	/* The store puts from a descriptor: an anonymous file, never on disk. */
	fd = memfd_create("tenantfs-verrec", MFD_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		log_err("cannot write the version record of %s gen %" PRIu64 ": memfd: %s", id,
			r->gen, strerror(-rc));
		goto out;
	}
	rc = fs_write_all(fd, body, len, 0);
	if (rc < 0) {
		log_err("cannot write the version record of %s gen %" PRIu64 ": %s", id, r->gen,
			strerror(-rc));
		goto out;
	}
	rc = s->ops->put(s, key, fd, len, hash);
	if (rc < 0)
		log_err("cannot write the version record %s: %s", key, strerror(-rc));
out:
	if (fd >= 0)
		close(fd);
	free(body);
	json_decref(o);
	return rc;
}

void verrec_record_commit(struct store *s, const struct key_layout *l, const char *id,
			  const char *node, const struct cat_commit *cm)
{
	struct verrec r;
	int rc;

	memset(&r, 0, sizeof(r));
	r.gen = cm->new_gen;
	snprintf(r.hash, sizeof(r.hash), "%s", cm->hash ? cm->hash : "");
	r.deleted = cm->deleted;
	r.size = cm->size;
	r.time_ms = cm->mtime_ms;
	snprintf(r.node, sizeof(r.node), "%s", node);
	rc = verrec_put(s, l, id, &r);
	if (rc < 0)
		log_warn("%s gen %llu: its version record is missing (%s); gc keeps every "
			 "version this commit might have superseded until a later commit's "
			 "record bounds it",
			 id, (unsigned long long)cm->new_gen, strerror(-rc));
}

int verrec_get(struct store *s, const struct key_layout *l, const char *id, struct verrec *r)
{
	char key[1024], buf[BODY_MAX + 1];
	struct store_info info;
	json_error_t jerr;
	json_t *o = NULL;
	const char *node = NULL;
	json_int_t size = 0, t = 0;
	size_t got = 0;
	int rc, fd = -1;

	rc = verrec_key(l, id, r->gen, r->deleted, r->hash, key, sizeof(key));
	if (rc < 0)
		return rc;
	fd = memfd_create("tenantfs-verrec", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = s->ops->get(s, key, fd, &info);
	if (rc < 0)
		goto out;
	rc = fs_read_full(fd, buf, BODY_MAX, 0, &got);
	if (rc < 0)
		goto out;
	buf[got] = '\0';
	o = json_loads(buf, 0, &jerr);
	if (!o ||
	    json_unpack(o, "{s:I, s:I, s?s}", "size", &size, "time_ms", &t, "node", &node) != 0) {
		log_err("version record %s is malformed: %s", key, o ? "fields" : jerr.text);
		rc = -EINVAL;
		goto out;
	}
	r->size = (uint64_t)size;
	r->time_ms = (int64_t)t;
	snprintf(r->node, sizeof(r->node), "%s", node ? node : "");
	rc = 0;
out:
	json_decref(o);
	close(fd);
	return rc;
}

/* ---- reading a folder --------------------------------------------------------- */

struct chain_acc {
	struct verchain *ch;
	size_t folder_len;
};

int verrec_chain_add(struct verchain *ch, const char *name, const struct store_info *info)
{
	size_t n = strlen(name);
	struct verrec r;

	if (strchr(name, '/')) {
		ch->other++;
		return 0;
	}
	if (verrec_parse_name(name, &r)) {
		if (ch->n_recs == ch->cap_recs) {
			size_t cap = ch->cap_recs ? ch->cap_recs * 2 : 16;
			struct verrec *v = realloc(ch->recs, cap * sizeof(*v));

			if (!v)
				return -ENOMEM;
			ch->recs = v;
			ch->cap_recs = cap;
		}
		r.store_ms = info->mtime_ms;
		ch->recs[ch->n_recs++] = r;
		ch->rec_bytes += info->size;
		return 0;
	}
	if (n == CAT_HASH_HEX + 3 && !strcmp(name + CAT_HASH_HEX, ".db") &&
	    tfs_is_hex(name, CAT_HASH_HEX)) {
		if (ch->n_objs == ch->cap_objs) {
			size_t cap = ch->cap_objs ? ch->cap_objs * 2 : 16;
			struct verobj *v = realloc(ch->objs, cap * sizeof(*v));

			if (!v)
				return -ENOMEM;
			ch->objs = v;
			ch->cap_objs = cap;
		}
		memcpy(ch->objs[ch->n_objs].hash, name, CAT_HASH_HEX);
		ch->objs[ch->n_objs].hash[CAT_HASH_HEX] = '\0';
		ch->objs[ch->n_objs].size = info->size;
		ch->objs[ch->n_objs].store_ms = info->mtime_ms;
		ch->n_objs++;
		return 0;
	}
	ch->other++;
	return 0;
}

static int chain_cb(void *arg, const char *key, const struct store_info *info)
{
	struct chain_acc *a = arg;

	if (strlen(key) < a->folder_len) {
		a->ch->other++;
		return 0;
	}
	return verrec_chain_add(a->ch, key + a->folder_len, info);
}

static int cmp_rec(const void *x, const void *y)
{
	const struct verrec *a = x, *b = y;

	return a->gen < b->gen ? -1 : a->gen > b->gen;
}

static int cmp_obj(const void *x, const void *y)
{
	return strcmp(((const struct verobj *)x)->hash, ((const struct verobj *)y)->hash);
}

int verrec_chain_read(struct store *s, const struct key_layout *l, const char *id,
		      struct verchain *out)
{
	char folder[1024], *token = NULL;
	struct chain_acc a = {.ch = out};

	int rc;

	memset(out, 0, sizeof(*out));
	rc = key_folder(l, id, folder, sizeof(folder));
	if (rc < 0)
		return rc;
	a.folder_len = strlen(folder);
	do {
		out->list_pages++;
		rc = s->ops->list(s, folder, &token, chain_cb, &a);
	} while (rc == 0 && token);
	free(token);
	if (rc < 0) {
		log_err("cannot read the versions of %s: cannot list '%s': %s", id, folder,
			strerror(-rc));
		return rc;
	}
	verrec_chain_sort(out);
	return 0;
}

void verrec_chain_sort(struct verchain *ch)
{
	/* qsort's base must not be NULL, even for no element */
	if (ch->n_recs > 1)
		qsort(ch->recs, ch->n_recs, sizeof(*ch->recs), cmp_rec);
	if (ch->n_objs > 1)
		qsort(ch->objs, ch->n_objs, sizeof(*ch->objs), cmp_obj);
}

void verrec_chain_release(struct verchain *ch)
{
	free(ch->recs);
	free(ch->objs);
	memset(ch, 0, sizeof(*ch));
}

/* ---- rules -------------------------------------------------------------------- */

/* Index of the first record with gen > after (n_recs if none). */
static size_t first_after(const struct verchain *ch, uint64_t after)
{
	size_t lo = 0, hi = ch->n_recs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ch->recs[mid].gen <= after)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct verrec *verrec_find(const struct verchain *ch, uint64_t gen)
{
	size_t i = first_after(ch, gen - 1);

	return i < ch->n_recs && ch->recs[i].gen == gen ? &ch->recs[i] : NULL;
}

int64_t verrec_superseded_bound(const struct verchain *ch, const struct cat_item *it, uint64_t gen)
{
	size_t i;

	if (it && gen >= it->gen)
		return INT64_MAX;
	i = first_after(ch, gen);
	return i < ch->n_recs ? ch->recs[i].store_ms + VERREC_CLOCK_RES_MS : INT64_MAX;
}

const struct cat_hist *verrec_hist_find(const struct cat_item *it, uint64_t gen)
{
	int i;

	for (i = 0; it && i < it->n_hist; i++)
		if (it->hist[i].gen == gen)
			return &it->hist[i];
	return NULL;
}

/* The highest commit of the item whose hash nothing tells (no record, not
 * in the history), or 0. */
static uint64_t highest_gap(const struct verchain *ch, const struct cat_item *it)
{
	uint64_t g;

	if (!it)
		return 0;
	for (g = it->gen; g > 0; g--)
		if (!verrec_find(ch, g) && !verrec_hist_find(it, g) &&
		    !(g == it->gen && it->hash[0]))
			return g;
	return 0;
}

const char *verprot_str(enum verprot p)
{
	switch (p) {
	case VP_NONE: return "not protected";
	case VP_CURRENT: return "current";
	case VP_KEEP: return "current within --keep";
	case VP_SNAPSHOT: return "named by a snapshot";
	case VP_GRACE: return "younger than --grace";
	case VP_GAP: return "a commit within --keep has no record";
	}
	return "?";
}

enum verprot verrec_protect(const struct verchain *ch, const struct cat_item *it,
			    const struct verobj *o, int64_t now_ms, int64_t keep_ms,
			    int64_t grace_ms, bool (*snap_has)(void *arg, const char *hash),
			    void *arg)
{
	int64_t horizon = now_ms - keep_ms;
	uint64_t gap;
	size_t i;
	int h;

	if (it && it->gen && !it->deleted_ms && !strcmp(o->hash, it->hash))
		return VP_CURRENT;
	for (i = 0; i < ch->n_recs; i++)
		if (!ch->recs[i].deleted && !strcmp(ch->recs[i].hash, o->hash) &&
		    verrec_superseded_bound(ch, it, ch->recs[i].gen) > horizon)
			return VP_KEEP;
	for (h = 0; it && h < it->n_hist; h++)
		if (!strcmp(it->hist[h].hash, o->hash) &&
		    verrec_superseded_bound(ch, it, it->hist[h].gen) > horizon)
			return VP_KEEP;
	if (snap_has && snap_has(arg, o->hash))
		return VP_SNAPSHOT;
	if (o->store_ms + VERREC_CLOCK_RES_MS > now_ms - grace_ms)
		return VP_GRACE;
	gap = highest_gap(ch, it);
	if (gap && verrec_superseded_bound(ch, it, gap) > horizon)
		return VP_GAP;
	return VP_NONE;
}

int verrec_version_at(const struct verchain *ch, const struct cat_item *it, int64_t at_ms,
		      struct verrec *out)
{
	const struct verrec *r = NULL;
	size_t i;

	/* Records surely written by at_ms (their commits are earlier). */
	for (i = 0; i < ch->n_recs; i++)
		if (ch->recs[i].store_ms + VERREC_CLOCK_RES_MS <= at_ms)
			r = &ch->recs[i];
	if (!r) {
		/* Every record is newer: fine only if the first commit is among them. */
		if (ch->n_recs && ch->recs[0].gen == 1)
			return 0;
		return -ERANGE;
	}
	/* The next commit must be recorded too, or it might predate at_ms. */
	i = (size_t)(r - ch->recs) + 1;
	if (i < ch->n_recs ? ch->recs[i].gen != r->gen + 1 : (it && r->gen != it->gen))
		return -ERANGE;
	if (r->deleted)
		return 0;
	*out = *r;
	out->size = 0;
	return 1;
}

/* ---- the store's clock -------------------------------------------------------- */

int verrec_store_now(struct store *s, const char *prefix, const char *tmp_tag, int64_t *now_ms)
{
	static const char body[] = "tenantfs clock probe\n";
	char key[1024], hash[CAT_HASH_HEX + 1];
	struct store_info info;
	struct timespec ts;
	int rc, r, fd;

	/* A fresh key: an existing object of the same bytes would not be
	 * written again (content-addressed puts) and keep its old time. */
	clock_gettime(CLOCK_REALTIME, &ts);
	/* No folder of its own: the embedded store leaves empty folders. */
	if (snprintf(key, sizeof(key), "%s%s_gc-clock-%s-%ld-%ld.%09ld", prefix,
		     prefix[0] ? "/" : "", tmp_tag, (long)getpid(), (long)ts.tv_sec,
		     ts.tv_nsec) >= (int)sizeof(key))
		return -ENAMETOOLONG;
	fd = memfd_create("tenantfs-clock", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = fs_write_all(fd, body, sizeof(body) - 1, 0);
	tfs_hash_buf(body, sizeof(body) - 1, hash);
	if (rc == 0)
		rc = s->ops->put(s, key, fd, sizeof(body) - 1, hash);
	close(fd);
	if (rc < 0) {
		log_err("cannot read the store's clock: cannot write %s: %s", key, strerror(-rc));
		return rc;
	}
	rc = s->ops->head(s, key, &info);
	if (rc < 0)
		log_err("cannot read the store's clock: cannot read %s back: %s", key,
			strerror(-rc));
	else
		*now_ms = info.mtime_ms;
	r = s->ops->del(s, key);
	if (r < 0 && r != -ENOENT)
		log_warn("cannot remove the clock probe %s: %s", key, strerror(-r));
	return rc;
}
