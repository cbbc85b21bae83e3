/* Control of a running mount: a unix socket per mount, served by one
 * thread of the daemon, and the commands that talk to it (`tenantfs
 * status`, `flush`, `evict`). Only root and the mounting user get in: the
 * socket lives in a folder of mode 0700 owned by the daemon's user, has
 * mode 0600, and the server checks every peer with SO_PEERCRED.
 *
 * Where: RUNDIR/<16 hex digits of XXH3-64 of the mount point>.sock, RUNDIR
 * being /run/tenantfs for a daemon run by root, /run/user/UID/tenantfs when
 * that folder exists, else /tmp/tenantfs-UID. A command finds the mount in
 * /proc/self/mounts (type fuse.tenantfs; its user_id= is the daemon's
 * user) and so the socket, without touching the mount itself (root may not
 * enter a user's mount).
 *
 * Protocol: the client sends one JSON object on one line, {"op": ...},
 * and reads one JSON object back, {"ok": true, ...} or {"ok": false,
 * "error": "..."}; then the server closes the connection. Ops: status,
 * top {n}, flush {ids}, flush_poll {since, items}, evict {ids}. */
#ifndef TFS_CONTROL_H
#define TFS_CONTROL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct tcache;
struct tcost;
struct tfs_fs;
struct tfs_backend;
struct tfs_options;

/* What the status document is made of; all borrowed, and must outlive the
 * server and the metrics endpoint. */
struct tfs_control_ctx {
	struct tcache *tc;
	struct tfs_fs *fs;		   /* FUSE request counters */
	const struct tfs_backend *backend; /* HTTP request counters */
	struct tcost *cost;		   /* per-database request counters */
	const struct tfs_options *o;	   /* source, catalog, cache, mount point */
	const char *control_path;	   /* the socket, "" when none */
	time_t started;			   /* wall clock at start */
	int64_t started_mono_ms;	   /* CLOCK_MONOTONIC ms at start */
};

/* arg is a command of a running mount (status, flush, evict). */
bool tfs_control_command(const char *arg);
/* Runs it: 0 done, 1 failed (not a tenantfs mount, no answer, a database
 * not published or not evicted), 2 usage. */
int tfs_control_main(int argc, char *argv[]);

/* The socket path of the mount at mountpoint (resolved with realpath, or
 * its parent when the mount point itself may not be entered) of a daemon
 * run by uid, into buf. 0 or a negative errno. */
int tfs_control_path(const char *mountpoint, uid_t uid, char *buf, size_t cap);

/* The status document (see tenantfs(8), STATUS): a new reference, NULL
 * when out of memory. Takes the engine's lock only to copy. */
json_t *tfs_control_status(const struct tfs_control_ctx *ctx);

struct tfs_control;

/* Creates the socket at path (its folder too) and starts the thread
 * serving it. 0 or a negative errno (logged); the mount works without. */
int tfs_control_start(const struct tfs_control_ctx *ctx, const char *path,
		      struct tfs_control **out);
/* Stops the thread, removes the socket. NULL is fine. */
void tfs_control_stop(struct tfs_control *c);

#endif
