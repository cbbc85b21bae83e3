/* Restore of one database to a version named by a manifest or by its
 * history: an ordinary leased commit of a version already in the store,
 * fenced against gc like a write-back (cache/catalog/catalog.h gc_fenced). */
#include "cache/fleet/snapshot_manifest.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cache/store/keys.h"
#include "cache/store/verrec.h"
#include "s3/base/log.h"

/* Long because the restore's steps are in the one safe order (version present, lease, fence,
 * commit, release), each with its own message. */
int snapm_restore_one(struct store *s, struct catalog *c, const struct key_layout *l,
		      const struct snapm_entry *e, const char *node, int64_t ttl_ms, int64_t now_ms,
		      struct snapm_restore_info *info)
{
	struct store_info si;
	struct cat_commit cm;
	struct cat_item item;
	char key[1024];
	int rc, r;

	memset(info, 0, sizeof(*info));
	rc = key_version(l, e->id, e->hash, key, sizeof(key));
	if (rc < 0)
		return rc;
	/* Before the lease: a missing version must not cost anyone an open. */
	rc = s->ops->head(s, key, &si);
	if (rc < 0) {
		log_err("cannot restore %s to gen %llu: its version %s is not in the store: %s",
			e->id, (unsigned long long)e->gen, key, strerror(-rc));
		return rc == -ENOENT ? -EIO : rc;
	}
	if (e->size && si.size != e->size) {
		log_err("cannot restore %s to gen %llu: %s holds %llu bytes, the snapshot says "
			"%llu",
			e->id, (unsigned long long)e->gen, key, (unsigned long long)si.size,
			(unsigned long long)e->size);
		return -EIO;
	}
	/* Session 0: the tool holds the lease for this one restore only, with
	 * no heartbeat; it releases it at once. */
	rc = cat_acquire_free(c, e->id, node, now_ms, ttl_ms, &item);
	if (rc == -EBUSY) {
		snprintf(info->holder, sizeof(info->holder), "%s", item.owner);
		info->holder_expires_ms = item.expires_ms;
		return rc;
	}
	if (rc < 0) {
		log_err("cannot restore %s: cannot take its lease: %s", e->id, strerror(-rc));
		return rc;
	}
	if (item.gen > 0 && !item.deleted_ms && strcmp(item.hash, e->hash) == 0) {
		info->outcome = SNAP_UNCHANGED;
		goto release;
	}
	if (item.gc_since_ms) {
		log_err("cannot restore %s now: a gc run is deleting versions of it; run restore "
			"again in a moment",
			e->id);
		rc = -EAGAIN;
		goto release;
	}
	/* Again after the gc fence was read (the acquire's item): a gc phase
	 * that deletes it from now on refuses the commit below. */
	rc = s->ops->head(s, key, &si);
	if (rc < 0) {
		log_err("cannot restore %s to gen %llu: its version %s is no longer in the "
			"store: %s",
			e->id, (unsigned long long)e->gen, key, strerror(-rc));
		rc = rc == -ENOENT ? -EIO : rc;
		goto release;
	}
	memset(&cm, 0, sizeof(cm));
	cm.new_gen = item.gen + 1;
	cm.hash = e->hash;
	cm.size = si.size;
	cm.mtime_ms = now_ms;
	cm.deleted = false;
	cm.gc_fenced = true;
	cm.gc_seq = item.gc_seq;
	rc = c->ops->commit(c, e->id, node, item.epoch, item.gen, &cm);
	if (rc < 0) {
		log_err("cannot restore %s: commit of gen %llu: %s", e->id,
			(unsigned long long)cm.new_gen,
			rc == -ESTALE
			    ? "the lease was lost meanwhile, or a gc run deleted versions "
			      "of it meanwhile (run restore again)"
			    : strerror(-rc));
		goto release;
	}
	info->outcome = SNAP_RESTORED;
	info->new_gen = cm.new_gen;
	verrec_record_commit(s, l, e->id, node, &cm);
	log_info("restored %s to the version of gen %llu (%s) as gen %llu", e->id,
		 (unsigned long long)e->gen, e->hash, (unsigned long long)cm.new_gen);
release:
	r = c->ops->release(c, e->id, node, item.epoch);
	if (r < 0 && r != -ESTALE)
		/* The commit stands; the lease simply expires. */
		log_warn("restore of %s: cannot release its lease: %s", e->id, strerror(-r));
	return rc;
}
