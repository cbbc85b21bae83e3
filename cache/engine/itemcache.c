/* The catalog item cache: one slot per id hash, answers getattr and getxattr
 * of uncached databases for ITEM_CACHE_MS, so the kernel's lookups cost one
 * catalog read a second at most; activations and commits forget the id. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "cache/engine/cache_i.h"
#include "cache/engine/catgate_i.h"
#include "cache/engine/itemcache_i.h"
#include "cache/engine/lease_i.h"

static struct cat_cache_slot *ic_slot(struct tcache *tc, const char *id) REQUIRES(tc->ic_mu)
{
	return &tc->ic[XXH3_64bits(id, strlen(id)) % ITEM_CACHE_SLOTS];
}

void tc_item_forget(struct tcache *tc, const char *id)
{
	struct cat_cache_slot *s;

	tfs_mutex_lock(&tc->ic_mu);
	s = ic_slot(tc, id);
	if (s->used && !strcmp(s->item.id, id))
		s->used = false;
	tfs_mutex_unlock(&tc->ic_mu);
}

int tc_item_get(struct tcache *tc, const char *id, struct cat_item *out)
{
	struct cat_cache_slot *s;
	int64_t now = tc_mono(tc);
	long saved;
	int rc;

	tfs_mutex_lock(&tc->ic_mu);
	s = ic_slot(tc, id);
	if (s->used && !strcmp(s->item.id, id) && now - s->at < ITEM_CACHE_MS) {
		rc = s->rc;
		*out = s->item;
		tfs_mutex_unlock(&tc->ic_mu);
		return rc;
	}
	tfs_mutex_unlock(&tc->ic_mu);

	memset(out, 0, sizeof(*out));
	/* Only FUSE requests (getattr, getxattr) come here. */
	rc = tc_gate_enter(tc, "lookup", id, &saved);
	if (rc < 0)
		return rc;
	rc = tc->cat->ops->get(tc->cat, id, out);
	tc_gate_leave(tc, saved);
	if (rc == 0 || rc == -ENOENT) {
		tfs_mutex_lock(&tc->ic_mu);
		s = ic_slot(tc, id);
		s->used = true;
		s->at = now;
		s->rc = rc;
		s->item = *out;
		snprintf(s->item.id, sizeof(s->item.id), "%s", id);
		tfs_mutex_unlock(&tc->ic_mu);
	}
	return rc;
}
