/* The object key layout of a store (keys.h), written once. */
#include "cache/store/keys.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

static int fits(int n, size_t cap)
{
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int key_version(const struct key_layout *l, const char *id, const char *hash, char *buf, size_t cap)
{
	char shard[8] = "";

	if (l->shard_keys)
		snprintf(shard, sizeof(shard), "%02x/",
			 (unsigned)(XXH3_64bits(id, strlen(id)) & 0xff));
	return fits(snprintf(buf, cap, "%s%s%s%s/%s.db", l->prefix, l->prefix[0] ? "/" : "", shard,
			     id, hash),
		    cap);
}

int key_folder(const struct key_layout *l, const char *id, char *buf, size_t cap)
{
	int rc = key_version(l, id, "", buf, cap);

	if (rc == 0)
		buf[strlen(buf) - strlen(".db")] = '\0';
	return rc;
}

int key_manifest(const char *prefix, const char *name, char *buf, size_t cap)
{
	return fits(snprintf(buf, cap, "%s%s%s/%s%s", prefix, prefix[0] ? "/" : "", SNAP_DIR, name,
			     name[0] ? ".json" : ""),
		    cap);
}

int key_marker(const char *prefix, const char *name, char *buf, size_t cap)
{
	return fits(
	    snprintf(buf, cap, "%s%s%s/%s.taking", prefix, prefix[0] ? "/" : "", SNAP_DIR, name),
	    cap);
}
