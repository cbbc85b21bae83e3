/* The extended attributes of a database (user.tenantfs.owner, .epoch, .gen,
 * .hash, .dirty, .quarantine, .error): from the active family, else the state
 * database, else the catalog item. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cache/engine/cache_i.h"
#include "cache/engine/famtab_i.h"
#include "cache/engine/itemcache_i.h"
#include "s3/base/fsutil.h"

#define XA "user.tenantfs."
static const char *const xattr_names[] = {XA "owner", XA "epoch",      XA "gen",  XA "hash",
					  XA "dirty", XA "quarantine", XA "error"};

static int xattr_value(struct tcache *tc, const char *id, const char *name, char *v, size_t cap)
    EXCLUDES(tc->mu)
{
	struct state_row row;
	struct cat_item item;
	struct fam *fam;
	bool have_row, active = false, dirty = false, leased = false;
	uint64_t epoch = 0, gen = 0;
	char hash[CAT_HASH_HEX + 1] = "", error[STATE_ERR_MAX] = "";
	int rc;

	if (!tfs_valid_id(id))
		return -EINVAL;
	if (strncmp(name, XA, strlen(XA)) != 0)
		return -ENODATA;
	tfs_mutex_lock(&tc->mu);
	fam = fam_find(tc, id);
	if (fam && !fam_exclusive(fam) && fam_leased(fam)) {
		active = true;
		leased = true;
		epoch = fam->epoch;
		gen = fam->base_gen;
		snprintf(hash, sizeof(hash), "%s", fam->base_hash);
		dirty = atomic_load(&fam->dirty);
		snprintf(error, sizeof(error), "%s", fam->error);
	}
	tfs_mutex_unlock(&tc->mu);
	have_row = state_get(tc->state, id, &row) == 0;
	if (!active && have_row) {
		gen = row.base_gen;
		snprintf(hash, sizeof(hash), "%s", row.base_hash);
		dirty = row.dirty;
		epoch = row.epoch;
		snprintf(error, sizeof(error), "%s", row.error);
	}

	if (!strcmp(name, XA "dirty"))
		return tc_path(v, cap, "%d", dirty ? 1 : 0);
	if (!strcmp(name, XA "quarantine")) {
		if (!have_row || !row.quarantine[0])
			return -ENODATA;
		return tc_path(v, cap, "%s", row.quarantine);
	}
	if (!strcmp(name, XA "error")) {
		if (!error[0])
			return -ENODATA;
		return tc_path(v, cap, "%s", error);
	}
	if (!leased && (!strcmp(name, XA "owner") || !strcmp(name, XA "epoch") ||
			(!have_row && (!strcmp(name, XA "gen") || !strcmp(name, XA "hash"))))) {
		rc = tc_item_get(tc, id, &item);
		if (rc < 0)
			return rc == -ENOENT && have_row ? -ENODATA : rc;
		/* The holder until it releases or is taken over: no wall
		 * clock says otherwise (see lease.c). */
		if (!strcmp(name, XA "owner"))
			return tc_path(v, cap, "%s", item.owner);
		if (!strcmp(name, XA "epoch"))
			return tc_path(v, cap, "%llu", (unsigned long long)item.epoch);
		gen = item.gen;
		snprintf(hash, sizeof(hash), "%s", item.hash);
	}
	if (!strcmp(name, XA "owner"))
		return tc_path(v, cap, "%s", tc->node);
	if (!strcmp(name, XA "epoch"))
		return tc_path(v, cap, "%llu", (unsigned long long)epoch);
	if (!strcmp(name, XA "gen"))
		return tc_path(v, cap, "%llu", (unsigned long long)gen);
	if (!strcmp(name, XA "hash"))
		return tc_path(v, cap, "%s", hash);
	return -ENODATA;
}

ssize_t tcache_getxattr(struct tcache *tc, const char *id, const char *name, char *buf, size_t size)
{
	char v[PATH_MAX + 64];
	int rc;

	rc = xattr_value(tc, id, name, v, sizeof(v));
	if (rc < 0)
		return rc;
	return fs_xattr_reply(v, strlen(v), buf, size);
}

ssize_t tcache_listxattr(struct tcache *tc, const char *id, char *buf, size_t size)
{
	char v[PATH_MAX + 64];
	size_t len = 0, i, l;

	if (!tfs_valid_id(id))
		return -EINVAL;
	for (i = 0; i < sizeof(xattr_names) / sizeof(xattr_names[0]); i++) {
		if ((i >= 5) && xattr_value(tc, id, xattr_names[i], v, sizeof(v)) < 0)
			continue;
		l = strlen(xattr_names[i]) + 1;
		if (size) {
			if (len + l > size)
				return -ERANGE;
			memcpy(buf + len, xattr_names[i], l);
		}
		len += l;
	}
	return (ssize_t)len;
}
