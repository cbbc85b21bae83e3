/* The lease acquire of the fleet tools (restore, gc, purge): they run
 * without a session of their own, so they take a lease only when nobody
 * can be using it: no owner, the tool's own node, or a holder whose
 * session is over. A node ends its session at shutdown (session_end)
 * and keeps its clean leases' owner fields, so "over" is the common case
 * after an unmount; a live holder is never taken over (no waiting, no
 * kill: that is the mounted nodes' business, cache/engine/lease.c). */
#include "cache/catalog/catalog.h"

#include <errno.h>
#include <string.h>

int cat_acquire_free(struct catalog *c, const char *id, const char *node, int64_t now_ms,
		     int64_t ttl_ms, struct cat_item *out)
{
	struct cat_takeover tk;
	struct cat_session s;
	char owner[CAT_NODE_MAX + 1];
	int rc;

	rc = c->ops->acquire(c, id, node, 0, now_ms, ttl_ms, NULL, out);
	if (rc != -EBUSY || out->sess == 0 || out->stranded_ms)
		return rc;
	rc = c->ops->session_get(c, out->owner, &s);
	if (rc < 0 && rc != -ENOENT)
		return -EBUSY;
	/* Session numbers only grow: a newer one replaced the holder's. */
	if (rc == 0 && s.sess == out->sess && !s.killed_ms)
		return -EBUSY;
	memcpy(owner, out->owner, sizeof(owner));
	memset(&tk, 0, sizeof(tk));
	tk.owner = owner;
	tk.sess = out->sess;
	tk.epoch = out->epoch;
	tk.rev = out->rev;
	return c->ops->acquire(c, id, node, 0, now_ms, ttl_ms, &tk, out);
}
