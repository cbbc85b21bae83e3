/* The mapping between catalog items and sessions and DynamoDB attribute
 * maps (catalog_ddb_i.h), both directions; pure functions. */
#include "cache/catalog/catalog_ddb_i.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "s3/base/log.h"
#include "s3/base/parse.h"
#include "s3/wire/ddb.h"

/* ---- item decoding ---- */

/* Reads an optional attribute; *bad names it when malformed. */
static int opt_s(json_t *m, const char *name, char *buf, size_t size, const char **bad)
{
	int rc = ddb_av_get_s(m, name, buf, size);

	if (rc == -ENOENT)
		return 0;
	if (rc)
		*bad = name;
	return rc;
}

static int opt_u64(json_t *m, const char *name, uint64_t *v, const char **bad)
{
	int rc = ddb_av_get_u64(m, name, v);

	if (rc == -ENOENT) {
		*v = 0;
		return 0;
	}
	if (rc)
		*bad = name;
	return rc;
}

static int opt_i64(json_t *m, const char *name, int64_t *v, const char **bad)
{
	int rc = ddb_av_get_i64(m, name, v);

	if (rc == -ENOENT) {
		*v = 0;
		return 0;
	}
	if (rc)
		*bad = name;
	return rc;
}

static int decode_hist(json_t *item, struct cat_item *out, const char **bad)
{
	json_t *av, *list, *e, *m;
	size_t n, i, first;

	*bad = "hist";
	av = json_object_get(item, "hist");
	if (!av)
		goto ok;
	list = json_object_get(av, "L");
	if (!json_is_object(av) || json_object_size(av) != 1 || !json_is_array(list))
		return -EINVAL;
	n = json_array_size(list);
	first = n > CAT_HIST_MAX ? n - CAT_HIST_MAX : 0;
	for (i = first; i < n; i++) {
		struct cat_hist *h = &out->hist[out->n_hist];

		e = json_array_get(list, i);
		m = json_object_get(e, "M");
		if (!json_is_object(e) || json_object_size(e) != 1 || !json_is_object(m))
			return -EINVAL;
		if (ddb_av_get_i64(m, "t", &h->time_ms) != 0 ||
		    ddb_av_get_u64(m, "g", &h->gen) != 0)
			return -EINVAL;
		/* A tombstone commit may carry no hash. */
		if (opt_s(m, "h", h->hash, sizeof(h->hash), bad) != 0 ||
		    (h->hash[0] && !tfs_is_hex(h->hash, strlen(h->hash)))) {
			*bad = "hist";
			return -EINVAL;
		}
		out->n_hist++;
	}
ok:
	*bad = NULL;
	return 0;
}

int catalog_ddb_decode_item(json_t *item, struct cat_item *out)
{
	const char *bad = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(item)) {
		log_err("cannot decode catalog item: not an attribute map");
		return -EIO;
	}
	rc = ddb_av_get_s(item, "id", out->id, sizeof(out->id));
	if (rc || !out->id[0]) {
		log_err("cannot decode catalog item: %s (at most %d characters)",
			rc == -ENOENT  ? "no id"
			: rc == -E2BIG ? "id too long"
				       : "malformed id",
			CAT_ID_MAX);
		memset(out, 0, sizeof(*out));
		return -EIO;
	}
	if (opt_s(item, "owner", out->owner, sizeof(out->owner), &bad) ||
	    opt_i64(item, "expires", &out->expires_ms, &bad) ||
	    opt_u64(item, "epoch", &out->epoch, &bad) || opt_u64(item, "rev", &out->rev, &bad) ||
	    opt_u64(item, "sess", &out->sess, &bad) ||
	    opt_i64(item, "stranded", &out->stranded_ms, &bad) ||
	    opt_u64(item, "gen", &out->gen, &bad) ||
	    opt_s(item, "hash", out->hash, sizeof(out->hash), &bad) ||
	    opt_u64(item, "size", &out->size, &bad) ||
	    opt_i64(item, "mtime", &out->mtime_ms, &bad) ||
	    opt_i64(item, "deleted", &out->deleted_ms, &bad) ||
	    opt_s(item, "want", out->want, sizeof(out->want), &bad) ||
	    opt_u64(item, "gc_seq", &out->gc_seq, &bad) ||
	    opt_i64(item, "gc_since", &out->gc_since_ms, &bad) || decode_hist(item, out, &bad))
		goto malformed;
	if (out->hash[0] && !tfs_is_hex(out->hash, strlen(out->hash))) {
		bad = "hash";
		goto malformed;
	}
	return 0;
malformed:
	log_err("cannot decode catalog item '%s': attribute '%s' is malformed", out->id,
		bad ? bad : "?");
	memset(out, 0, sizeof(*out));
	return -EIO;
}

/* ---- item encoding ---- */

static json_t *hist_entry(int64_t t, uint64_t g, const char *h)
{
	json_t *m = json_object();

	if (!m || json_object_set_new(m, "t", ddb_av_n_i64(t)) != 0 ||
	    json_object_set_new(m, "g", ddb_av_n_u64(g)) != 0 ||
	    (h && *h && json_object_set_new(m, "h", ddb_av_s(h)) != 0)) {
		json_decref(m);
		return NULL;
	}
	return json_pack("{s:o}", "M", m);
}

json_t *catalog_ddb_hist_push(const struct cat_item *it, int64_t time_ms, uint64_t gen,
			      const char *hash)
{
	json_t *list = json_array();
	int i, first = it->n_hist + 1 > CAT_HIST_MAX ? it->n_hist + 1 - CAT_HIST_MAX : 0;

	if (!list)
		return NULL;
	for (i = first; i < it->n_hist; i++)
		if (json_array_append_new(list, hist_entry(it->hist[i].time_ms, it->hist[i].gen,
							   it->hist[i].hash)) != 0)
			goto fail;
	if (json_array_append_new(list, hist_entry(time_ms, gen, hash)) != 0)
		goto fail;
	return json_pack("{s:o}", "L", list);
fail:
	json_decref(list);
	return NULL;
}

/* ---- session decoding ---- */

/* Decodes a session item; -EIO (logged) when malformed. */
int catalog_ddb_decode_session(json_t *item, const char *node, struct cat_session *out)
{
	const char *bad = NULL;
	json_t *ss, *v;
	size_t i;

	memset(out, 0, sizeof(*out));
	snprintf(out->node, sizeof(out->node), "%s", node);
	if (!json_is_object(item) || ddb_av_get_u64(item, "sess", &out->sess) != 0) {
		bad = "sess";
		goto malformed;
	}
	if (opt_u64(item, "rev", &out->rev, &bad) ||
	    opt_i64(item, "expires", &out->expires_ms, &bad) ||
	    opt_i64(item, "killed", &out->killed_ms, &bad))
		goto malformed;
	v = json_object_get(item, "wants");
	if (v) {
		ss = json_object_get(v, "SS");
		if (!json_is_array(ss)) {
			bad = "wants";
			goto malformed;
		}
		json_array_foreach(ss, i, v)
		{
			const char *w = json_string_value(v);

			if (!w || !*w || strlen(w) > CAT_ID_MAX) {
				bad = "wants";
				goto malformed;
			}
			if (out->n_wants < CAT_WANTS_MAX)
				snprintf(out->wants[out->n_wants++], sizeof(out->wants[0]), "%s",
					 w);
		}
	}
	return 0;
malformed:
	log_err("cannot decode the session of '%s': attribute '%s' is malformed", node,
		bad ? bad : "?");
	memset(out, 0, sizeof(*out));
	return -EIO;
}
