/* `tenantfs purge` (see purge.h). Order: the lease first (nobody opens,
 * commits or restores the database meanwhile), then the objects, then the
 * manifests, the item last: a purge that stops half-way is run again and
 * finds what is left through the item it has not removed yet. */
#include "cache/fleet/purge.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/store/verrec.h"
#include "s3/base/log.h"

struct names {
	char **v;
	size_t n, cap;
};

static int name_cb(void *arg, const char *name, const struct store_info *info)
{
	struct names *a = arg;

	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 16;
		char **v = realloc(a->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n] = strdup(name);
	if (!a->v[a->n])
		return -ENOMEM;
	a->n++;
	return 0;
}

/* Deletes every key of the folder: versions, records. */
static int erase_objects(struct store *s, const struct key_layout *l, const char *id,
			 uint64_t *n_obj, uint64_t *n_rec, uint64_t *bytes)
{
	struct verchain ch;
	char key[1024];
	size_t i;
	int rc, r;

	rc = verrec_chain_read(s, l, id, &ch);
	for (i = 0; rc == 0 && i < ch.n_objs; i++) {
		rc = key_version(l, id, ch.objs[i].hash, key, sizeof(key));
		if (rc == 0 && (r = s->ops->del(s, key)) < 0 && r != -ENOENT)
			rc = r;
		if (rc == 0) {
			(*n_obj)++;
			*bytes += ch.objs[i].size;
		} else {
			log_err("cannot purge %s: cannot delete %s: %s", id, key, strerror(-rc));
		}
	}
	for (i = 0; rc == 0 && i < ch.n_recs; i++) {
		const struct verrec *v = &ch.recs[i];

		rc = verrec_key(l, id, v->gen, v->deleted, v->hash, key, sizeof(key));
		if (rc == 0 && (r = s->ops->del(s, key)) < 0 && r != -ENOENT)
			rc = r;
		if (rc == 0)
			(*n_rec)++;
		else
			log_err("cannot purge %s: cannot delete %s: %s", id, key, strerror(-rc));
	}
	if (rc == 0 && ch.other)
		log_warn("purge of %s: %" PRIu64 " keys in its folder are neither versions nor "
			 "records and were left alone",
			 id, ch.other);
	verrec_chain_release(&ch);
	return rc;
}

int tfs_purge_command(struct store *s, struct catalog *c, const struct key_layout *l,
		      const char *id, const char *node, int64_t ttl_ms, int64_t now_ms,
		      const char *tmpdir)
{
	struct names names = {0};
	struct cat_item it;
	char when[32];
	uint64_t n_obj = 0, n_rec = 0, bytes = 0, n_man = 0;
	bool leased = false, dropped;
	size_t i;
	int rc, status = 1;

	rc = cat_acquire_free(c, id, node, now_ms, ttl_ms, &it);
	if (rc == -EBUSY) {
		snapm_format_time(it.expires_ms, when, sizeof(when));
		log_err("cannot purge %s: its lease is held by node %s (until %s)%s; close it "
			"there or unmount that node, then run purge again; nothing was erased",
			id, it.owner, when, it.stranded_ms ? " with unpublished writes" : "");
		return 1;
	}
	if (rc < 0) {
		log_err("cannot purge %s: cannot take its lease: %s; nothing was erased", id,
			strerror(-rc));
		return 1;
	}
	leased = true;
	rc = erase_objects(s, l, id, &n_obj, &n_rec, &bytes);
	if (rc < 0)
		goto out;
	rc = snapm_list(s, l->prefix, name_cb, &names);
	for (i = 0; rc == 0 && i < names.n; i++) {
		rc = snapm_drop_id(s, l->prefix, names.v[i], id, tmpdir, &dropped);
		if (rc == -ENOENT)
			rc = 0; /* removed meanwhile */
		n_man += rc == 0 && dropped;
	}
	if (rc < 0) {
		log_err("cannot purge %s: the snapshot manifests could not all be rewritten: %s",
			id, strerror(-rc));
		goto out;
	}
	rc = c->ops->remove(c, id, node, it.epoch);
	if (rc < 0) {
		log_err("cannot purge %s: cannot remove its catalog item: %s", id,
			rc == -ESTALE ? "the lease was lost meanwhile" : strerror(-rc));
		goto out;
	}
	leased = false;
	printf("purged %s: %" PRIu64 " versions (%" PRIu64 " bytes), %" PRIu64
	       " version records, its entry in %" PRIu64 " snapshot manifests, its catalog item\n",
	       id, n_obj, bytes, n_rec, n_man);
	status = 0;
out:
	if (status)
		printf("purge of %s incomplete: %" PRIu64 " versions, %" PRIu64
		       " records and %" PRIu64 " manifest entries erased so far; run it again\n",
		       id, n_obj, n_rec, n_man);
	if (leased && c->ops->release(c, id, node, it.epoch) < 0)
		log_warn("purge of %s: cannot release its lease; it expires by itself", id);
	for (i = 0; i < names.n; i++)
		free(names.v[i]);
	free(names.v);
	return status;
}
