/* The control socket of a running mount (see control.h): the server, one
 * thread answering one request per connection, and the status document.
 * The commands that talk to it are in control_cli.c. Messages are JSON
 * (jansson) both ways. */
#include "fuse/control.h"
#include "fuse/control_i.h"
#include "s3/base/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <mntent.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <xxhash.h>

#include "cache/engine/cache.h"
#include "fuse/fs.h"
#include "fuse/options.h"
#include "fuse/setup.h"
#include "s3/base/log.h"
#include "s3/base/progress.h"
#include "s3/wire/http.h"

/* ---- paths --------------------------------------------------------------- */

/* The absolute, resolved mount point: realpath, or that of its parent
 * (another user's mount point cannot be stat'ed, not even by root). */
int ctl_resolve_mountpoint(const char *mp, char *buf, size_t cap)
{
	char tmp[PATH_MAX], parent[PATH_MAX], *a, *b;
	int rc = 0;

	if (realpath(mp, tmp)) {
		if (strlen(tmp) >= cap)
			return -ENAMETOOLONG;
		snprintf(buf, cap, "%s", tmp);
		return 0;
	}
	if (errno != EACCES && errno != EPERM && errno != ENOTCONN)
		return -errno;
	/* basename and dirname may change their argument: one copy each */
	a = strdup(mp);
	b = strdup(mp);
	if (!a || !b)
		rc = -ENOMEM;
	else if (!realpath(dirname(b), parent))
		rc = -errno;
	else if ((size_t)snprintf(buf, cap, "%s/%s", strcmp(parent, "/") ? parent : "",
				  basename(a)) >= cap)
		rc = -ENAMETOOLONG;
	free(a);
	free(b);
	return rc;
}

static int run_dir(uid_t uid, char *buf, size_t cap)
{
	char user[64];
	struct stat st;
	int n;

	if (uid == 0) {
		n = snprintf(buf, cap, "/run/tenantfs");
	} else {
		snprintf(user, sizeof(user), "/run/user/%u", (unsigned)uid);
		if (stat(user, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == uid)
			n = snprintf(buf, cap, "%s/tenantfs", user);
		else
			n = snprintf(buf, cap, "/tmp/tenantfs-%u", (unsigned)uid);
	}
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* dir/<hash of the resolved mount point>.sock into buf. */
int ctl_sock_name(const char *mountpoint, const char *dir, char *buf, size_t cap)
{
	char mp[PATH_MAX];
	int rc, n;

	rc = ctl_resolve_mountpoint(mountpoint, mp, sizeof(mp));
	if (rc < 0)
		return rc;
	n = snprintf(buf, cap, "%s/%016llx.sock", dir,
		     (unsigned long long)XXH3_64bits(mp, strlen(mp)));
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int tfs_control_path(const char *mountpoint, uid_t uid, char *buf, size_t cap)
{
	char dir[PATH_MAX];
	int rc;

	rc = run_dir(uid, dir, sizeof(dir));
	return rc < 0 ? rc : ctl_sock_name(mountpoint, dir, buf, cap);
}

/* ---- the status document --------------------------------------------- */

static int set_new(json_t *o, const char *k, json_t *v)
{
	return json_object_set_new(o, k, v);
}

static json_t *counters_json(const struct tfs_control_ctx *ctx)
{
	struct tcache_stats s;
	struct http_stats h;
	json_t *c = json_object();
	unsigned long long fuse = 0;
	double cost;
	int i, bad = 0;

	if (!c)
		return NULL;
	tcache_get_stats(ctx->tc, &s);
	memset(&h, 0, sizeof(h));
	if (ctx->backend)
		tfs_backend_http_stats(ctx->backend, &h);
	if (ctx->fs)
		for (i = 0; i < FS_NOPS; i++)
			fuse += __atomic_load_n(&ctx->fs->ops[i], __ATOMIC_RELAXED);
	cost = tfs_http_cost_usd(&h);
#define N(k, v) bad |= set_new(c, k, json_integer((json_int_t)(v)))
	N("opens", s.opens);
	N("faults", s.faults);
	N("fault_bytes", s.fault_bytes);
	N("writebacks", s.writebacks);
	N("puts", s.puts);
	N("puts_skipped", s.puts_skipped);
	N("commits", s.commits);
	N("quarantined", s.quarantined);
	N("evictions", s.evictions);
	N("lease_acquires", s.lease_acquires);
	N("lease_renews", s.lease_renews);
	N("lease_releases", s.lease_releases);
	N("s3_get", h.s3_get);
	N("s3_put", h.s3_put);
	N("s3_head", h.s3_head);
	N("s3_list", h.s3_list);
	N("s3_delete", h.s3_delete);
	N("s3_other", h.s3_other);
	N("ddb_read", h.ddb_read);
	N("ddb_write", h.ddb_write);
	N("ddb_other", h.ddb_other);
	N("retries", h.retries);
	N("fuse_requests", fuse);
#undef N
	bad |= set_new(c, "cost_usd", json_real(cost));
	if (bad) {
		json_decref(c);
		return NULL;
	}
	return c;
}

static json_t *counts_json(const struct tcost_counts *k)
{
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f}", "s3_put",
			 (json_int_t)k->s3_put, "s3_get", (json_int_t)k->s3_get, "s3_head",
			 (json_int_t)k->s3_head, "s3_list", (json_int_t)k->s3_list, "s3_delete",
			 (json_int_t)k->s3_delete, "ddb_write", (json_int_t)k->ddb_write,
			 "ddb_read", (json_int_t)k->ddb_read, "bytes_up", (json_int_t)k->bytes_up,
			 "bytes_down", (json_int_t)k->bytes_down, "cost_usd", tcost_usd(k));
}

static json_t *top_json(const struct tfs_control_ctx *ctx, size_t n)
{
	struct tcost_row *rows = NULL;
	struct tcost_counts others;
	size_t nrows = 0, tracked = 0, i;
	json_t *out, *arr, *o;

	if (!ctx->cost || tcost_top(ctx->cost, n, &rows, &nrows, &others, &tracked) < 0)
		return NULL;
	arr = json_array();
	for (i = 0; arr && i < nrows; i++) {
		o = counts_json(&rows[i].c);
		if (!o || set_new(o, "id", json_string(rows[i].id)) < 0 ||
		    json_array_append_new(arr, o) < 0) {
			json_decref(arr);
			arr = NULL;
		}
	}
	free(rows);
	if (!arr)
		return NULL;
	out = json_pack("{s:o,s:o*,s:I,s:I}", "top", arr, "others", counts_json(&others), "tracked",
			(json_int_t)tracked, "slots", (json_int_t)TCOST_SLOTS);
	return out;
}

static json_t *db_json(const struct tcache_dbinfo *d)
{
	return json_pack("{s:s,s:i,s:b,s:b,s:f,s:b,s:b,s:b,s:b,s:s}", "id", d->id, "open", d->nopen,
			 "leased", d->leased, "dirty", d->dirty || d->recovering, "dirty_seconds",
			 (double)d->dirty_ms / 1000.0, "uploading", d->uploading, "recovering",
			 d->recovering, "check_failed", d->check_failed, "lease_lost",
			 d->lease_lost, "error", d->error);
}

static void store_desc(const struct tfs_options *o, char *buf, size_t cap)
{
	if (o->is_s3)
		snprintf(buf, cap, "s3://%s%s%s", o->bucket, o->prefix[0] ? "/" : "", o->prefix);
	else
		snprintf(buf, cap, "%s/objects", o->source_dir ? o->source_dir : o->source);
}

json_t *tfs_control_status(const struct tfs_control_ctx *ctx)
{
	const struct tfs_options *o = ctx->o;
	struct tcache_report r;
	json_t *doc, *dbs, *quar, *oldest, *counters;
	char store[PATH_MAX + 64], cat[PATH_MAX + 16];
	size_t i;
	int bad = 0;

	if (tcache_report(ctx->tc, &r) < 0)
		return NULL;
	store_desc(o, store, sizeof(store));
	snprintf(cat, sizeof(cat), "%s:%s",
		 o->catalog_kind == TFS_CATALOG_DYNAMODB ? "dynamodb" : "sqlite", o->catalog);
	dbs = json_array();
	for (i = 0; dbs && i < r.ndb; i++)
		bad |= json_array_append_new(dbs, db_json(&r.db[i]));
	quar = json_array();
	for (i = 0; quar && i < r.nquar; i++)
		bad |= json_array_append_new(quar,
					     json_pack("{s:s,s:s,s:s}", "id", r.quar[i].id, "error",
						       r.quar[i].error, "path", r.quar[i].path));
	oldest = r.oldest_dirty_id[0] ? json_pack("{s:s,s:f}", "id", r.oldest_dirty_id,
						  "age_seconds", (double)r.oldest_dirty_ms / 1000.0)
				      : json_null();
	counters = counters_json(ctx);
	doc = json_object();
	if (bad || !dbs || !quar || !oldest || !counters || !doc) {
		json_decref(dbs);
		json_decref(quar);
		json_decref(oldest);
		json_decref(counters);
		json_decref(doc);
		tcache_report_release(&r);
		return NULL;
	}
	bad |= set_new(doc, "mountpoint", json_string(o->mountpoint));
	bad |= set_new(doc, "node", json_string(tcache_node(ctx->tc)));
	bad |= set_new(doc, "version", json_string(TFS_VERSION));
	bad |= set_new(doc, "pid", json_integer(getpid()));
	bad |= set_new(doc, "source", json_string(o->source));
	bad |= set_new(doc, "store", json_string(store));
	bad |= set_new(doc, "catalog", json_string(cat));
	bad |= set_new(doc, "cache_dir", json_string(o->cache_dir));
	bad |= set_new(doc, "control", json_string(ctx->control_path ? ctx->control_path : ""));
	bad |= set_new(doc, "started", json_integer((json_int_t)ctx->started));
	bad |= set_new(doc, "uptime_seconds",
		       json_real((double)(tfs_mono_ms() - ctx->started_mono_ms) / 1000.0));
	bad |= set_new(doc, "leases", json_integer((json_int_t)r.nleases));
	bad |=
	    set_new(doc, "counts",
		    json_pack("{s:I,s:I,s:I,s:I,s:I}", "open", (json_int_t)r.nopen, "dirty",
			      (json_int_t)r.ndirty, "uploading", (json_int_t)r.nuploading, "failed",
			      (json_int_t)r.nfailed, "quarantined", (json_int_t)r.nquar));
	bad |= set_new(doc, "databases", dbs);
	bad |= set_new(doc, "quarantined", quar);
	bad |= set_new(doc, "oldest_unpublished", oldest);
	bad |= set_new(doc, "cache",
		       json_pack("{s:I,s:I}", "entries", (json_int_t)r.cache_entries, "bytes",
				 (json_int_t)r.cache_bytes));
	bad |= set_new(doc, "counters", counters);
	bad |= set_new(doc, "prices_usd",
		       json_pack("{s:f,s:f,s:f,s:f}", "s3_put", TFS_PRICE_S3_PUT, "s3_get",
				 TFS_PRICE_S3_GET, "ddb_write", TFS_PRICE_DDB_WRITE, "ddb_read",
				 TFS_PRICE_DDB_READ));
	if (bad) {
		json_decref(doc);
		doc = NULL;
	}
	tcache_report_release(&r);
	return doc;
}

/* ---- the server -------------------------------------------------------- */

struct tfs_control {
	struct tfs_control_ctx ctx; /* a copy; immutable */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int lfd;     /* the listening socket */
	int stop[2]; /* a pipe: the thread stops when it becomes readable */
	pthread_t thr;
};

static json_t *err_json(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *err_json(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return json_pack("{s:b,s:s}", "ok", 0, "error", msg);
}

/* The ids of req's "ids" (an array of strings) into a malloc'ed vector
 * (the strings are borrowed from req). NULL with *n 0 when absent. */
static int req_ids(json_t *req, const char ***out, size_t *n, char *why, size_t cap)
{
	json_t *a = json_object_get(req, "ids"), *v;
	const char **ids;
	size_t i;

	*out = NULL;
	*n = 0;
	if (!a)
		return 0;
	if (!json_is_array(a) || json_array_size(a) > IDS_MAX) {
		snprintf(why, cap, "ids must be an array of at most %d ids", IDS_MAX);
		return -EINVAL;
	}
	if (json_array_size(a) == 0)
		return 0;
	ids = calloc(json_array_size(a), sizeof(*ids));
	if (!ids)
		return -ENOMEM;
	json_array_foreach(a, i, v)
	{
		if (!json_is_string(v) || !tfs_valid_id(json_string_value(v))) {
			snprintf(why, cap, "invalid database id at position %zu", i);
			free(ids);
			return -EINVAL;
		}
		ids[i] = json_string_value(v);
	}
	*out = ids;
	*n = json_array_size(a);
	return 0;
}

static const char *flush_state_str(enum tcache_flush_state s)
{
	return s == TFLUSH_DONE ? "published" : s == TFLUSH_FAILED ? "failed" : "pending";
}

static json_t *items_json(const struct tcache_flush_item *v, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a && i < n; i++) {
		if (json_array_append_new(a, json_pack("{s:s,s:I,s:s,s:b,s:s}", "id", v[i].id,
						       "seq", (json_int_t)v[i].seq, "state",
						       flush_state_str(v[i].state), "uploading",
						       v[i].uploading, "error", v[i].error)) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *op_flush(const struct tfs_control_ctx *ctx, json_t *req)
{
	struct tcache_flush_item *v = NULL;
	const char **ids = NULL;
	size_t n = 0, nv = 0;
	int64_t since = 0;
	char why[128];
	json_t *out;
	int rc;

	rc = req_ids(req, &ids, &n, why, sizeof(why));
	if (rc < 0)
		return err_json("%s", rc == -EINVAL ? why : strerror(-rc));
	rc = tcache_flush(ctx->tc, ids, n, &v, &nv, &since);
	free(ids);
	if (rc < 0)
		return err_json("cannot flush: %s", strerror(-rc));
	tcache_flush_poll(ctx->tc, v, nv, since);
	out = json_pack("{s:b,s:I,s:o*}", "ok", 1, "since", (json_int_t)since, "items",
			items_json(v, nv));
	free(v);
	return out;
}

static json_t *op_flush_poll(const struct tfs_control_ctx *ctx, json_t *req)
{
	json_t *a = json_object_get(req, "items"), *it, *out;
	json_int_t since = json_integer_value(json_object_get(req, "since"));
	struct tcache_flush_item *v;
	size_t i, n;

	if (!json_is_array(a) || json_array_size(a) > POLL_MAX)
		return err_json("items must be an array of at most %d items", POLL_MAX);
	n = json_array_size(a);
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return err_json("out of memory");
	json_array_foreach(a, i, it)
	{
		const char *id = json_string_value(json_object_get(it, "id"));

		if (!id || !tfs_valid_id(id)) {
			free(v);
			return err_json("invalid database id in item %zu", i);
		}
		snprintf(v[i].id, sizeof(v[i].id), "%s", id);
		v[i].seq = (uint64_t)json_integer_value(json_object_get(it, "seq"));
		v[i].state = TFLUSH_PENDING;
	}
	tcache_flush_poll(ctx->tc, v, n, (int64_t)since);
	out = json_pack("{s:b,s:o*}", "ok", 1, "items", items_json(v, n));
	free(v);
	return out;
}

static json_t *op_evict(const struct tfs_control_ctx *ctx, json_t *req)
{
	const char **ids = NULL;
	char why[TCACHE_ERR_MAX];
	json_t *res, *out;
	size_t n = 0, i;
	int rc;

	rc = req_ids(req, &ids, &n, why, sizeof(why));
	if (rc < 0)
		return err_json("%s", rc == -EINVAL ? why : strerror(-rc));
	if (n == 0) {
		free(ids);
		return err_json("evict needs at least one database id");
	}
	res = json_array();
	for (i = 0; res && i < n; i++) {
		rc = tcache_evict_id(ctx->tc, ids[i], why, sizeof(why));
		if (json_array_append_new(res, json_pack("{s:s,s:b,s:s}", "id", ids[i], "evicted",
							 rc == 0, "error", rc == 0 ? "" : why)) <
		    0) {
			json_decref(res);
			res = NULL;
		}
	}
	free(ids);
	out = json_pack("{s:b,s:o*}", "ok", 1, "results", res);
	return out;
}

static json_t *dispatch(const struct tfs_control_ctx *ctx, json_t *req)
{
	const char *op = json_string_value(json_object_get(req, "op"));
	json_t *out;

	if (!op)
		return err_json("a request needs an \"op\"");
	if (!strcmp(op, "status")) {
		out = tfs_control_status(ctx);
		if (out)
			set_new(out, "ok", json_true());
		return out ? out : err_json("cannot build the status: out of memory");
	}
	if (!strcmp(op, "top")) {
		json_int_t n = json_integer_value(json_object_get(req, "n"));

		if (n < 1 || n > TCOST_SLOTS)
			return err_json("top needs n between 1 and %d", TCOST_SLOTS);
		out = top_json(ctx, (size_t)n);
		if (out)
			set_new(out, "ok", json_true());
		return out ? out : err_json("cannot build the table: out of memory");
	}
	if (!strcmp(op, "flush"))
		return op_flush(ctx, req);
	if (!strcmp(op, "flush_poll"))
		return op_flush_poll(ctx, req);
	if (!strcmp(op, "evict"))
		return op_evict(ctx, req);
	return err_json("unknown op '%.64s'", op);
}

/* Waits until fd is ready for events, at most until deadline (mono ms):
 * 0, or -ETIMEDOUT / -errno. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd p = {.fd = fd, .events = events};
	int64_t left;
	int r;

	for (;;) {
		left = deadline - tfs_mono_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&p, 1, (int)left);
		if (r > 0)
			return 0;
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

/* Reads one line (without its '\n') into a malloc'ed, NUL-terminated
 * buffer: 0, or a negative errno (-EMSGSIZE past REQ_MAX). */
int ctl_read_line(int fd, char **out, size_t *len, int64_t deadline)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap), *nl = NULL, *nb;
	ssize_t r;
	int rc = 0;

	*out = NULL;
	if (!buf)
		return -ENOMEM;
	while (!nl) {
		if (n + 1 >= cap) {
			if (cap >= REQ_MAX) {
				rc = -EMSGSIZE;
				break;
			}
			nb = realloc(buf, cap * 2);
			if (!nb) {
				rc = -ENOMEM;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		rc = wait_fd(fd, POLLIN, deadline);
		if (rc < 0)
			break;
		r = read(fd, buf + n, cap - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			break;
		}
		if (r == 0) {
			rc = n ? 0 : -ECONNRESET;
			break;
		}
		nl = memchr(buf + n, '\n', (size_t)r);
		n += (size_t)r;
	}
	if (rc < 0) {
		free(buf);
		return rc;
	}
	if (nl)
		n = (size_t)(nl - buf);
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

static int write_all(int fd, const char *p, size_t n, int64_t deadline)
{
	ssize_t w;
	int rc;

	while (n > 0) {
		rc = wait_fd(fd, POLLOUT, deadline);
		if (rc < 0)
			return rc;
		w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Sends obj (stolen) as one line. */
int ctl_send_json(int fd, json_t *obj, int64_t deadline)
{
	char *s = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
	int rc = -ENOMEM;

	json_decref(obj);
	if (s) {
		rc = write_all(fd, s, strlen(s), deadline);
		if (rc == 0)
			rc = write_all(fd, "\n", 1, deadline);
	}
	free(s);
	return rc;
}

static void serve_one(struct tfs_control *c, int fd)
{
	int64_t deadline = tfs_mono_ms() + IO_TIMEOUT_MS;
	struct ucred cr;
	socklen_t crlen = sizeof(cr);
	json_error_t jerr;
	json_t *req;
	char *line = NULL;
	size_t len = 0;
	int rc;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) < 0) {
		log_warn("control socket: cannot read the peer's credentials: %s", strerror(errno));
		return;
	}
	if (cr.uid != 0 && cr.uid != geteuid()) {
		log_warn("control socket: refused pid %d uid %u: only root and uid %u may control "
			 "this mount",
			 (int)cr.pid, (unsigned)cr.uid, (unsigned)geteuid());
		ctl_send_json(fd,
			      err_json("permission denied: uid %u is neither root nor the mounting "
				       "user",
				       (unsigned)cr.uid),
			      deadline);
		return;
	}
	rc = ctl_read_line(fd, &line, &len, deadline);
	if (rc < 0) {
		log_warn("control socket: cannot read a request of pid %d: %s", (int)cr.pid,
			 strerror(-rc));
		if (rc == -EMSGSIZE)
			ctl_send_json(fd, err_json("request too long"), deadline);
		return;
	}
	req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	free(line);
	if (!json_is_object(req)) {
		json_decref(req);
		ctl_send_json(fd, err_json("bad request: %s", req ? "not an object" : jerr.text),
			      deadline);
		return;
	}
	rc = ctl_send_json(fd, dispatch(&c->ctx, req), deadline);
	json_decref(req);
	if (rc < 0)
		log_warn("control socket: cannot answer pid %d: %s", (int)cr.pid, strerror(-rc));
}

static void *serve(void *arg)
{
	struct tfs_control *c = arg;
	struct pollfd p[2];
	int fd;

	for (;;) {
		p[0].fd = c->lfd;
		p[0].events = POLLIN;
		p[1].fd = c->stop[0];
		p[1].events = POLLIN;
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_err("control socket: poll failed: %s; no more requests served",
				strerror(errno));
			break;
		}
		if (p[1].revents)
			break;
		if (!(p[0].revents & POLLIN))
			continue;
		fd = accept4(c->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
				log_warn("control socket: accept failed: %s", strerror(errno));
			continue;
		}
		serve_one(c, fd);
		close(fd);
	}
	return NULL;
}

/* Makes dir (mode 0700) unless it is there, and checks it is ours and
 * no symbolic link: nobody else may put a socket where we listen. */
static int own_dir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (lstat(dir, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022))
		return -EPERM;
	return 0;
}

int tfs_control_start(const struct tfs_control_ctx *ctx, const char *path, struct tfs_control **out)
{
	struct sockaddr_un sa;
	struct tfs_control *c;
	char dir[PATH_MAX], *slash;
	int rc;

	*out = NULL;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_warn("no control socket: its path %s is too long", path);
		return -ENAMETOOLONG;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	rc = own_dir(dir);
	if (rc < 0) {
		log_warn("no control socket: %s: %s (it must be a folder of this user, not "
			 "writable by others)",
			 dir, strerror(-rc));
		return rc;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->ctx = *ctx;
	c->stop[0] = c->stop[1] = -1;
	snprintf(c->path, sizeof(c->path), "%s", path);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	c->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->lfd < 0) {
		rc = -errno;
		goto fail;
	}
	/* A socket left by a daemon that died: the cache lock says no other
	 * daemon serves this cache, and the mount point is ours now. */
	if (unlink(path) < 0 && errno != ENOENT) {
		rc = -errno;
		goto fail;
	}
	if (bind(c->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0600) < 0 ||
	    listen(c->lfd, 16) < 0 || pipe2(c->stop, O_CLOEXEC) < 0) {
		rc = -errno;
		goto fail;
	}
	rc = pthread_create(&c->thr, NULL, serve, c);
	if (rc) {
		rc = -rc;
		goto fail;
	}
	log_info("control socket %s", path);
	*out = c;
	return 0;
fail:
	log_warn("no control socket %s: %s", path, strerror(-rc));
	if (c->lfd >= 0) {
		close(c->lfd);
		unlink(path);
	}
	if (c->stop[0] >= 0) {
		close(c->stop[0]);
		close(c->stop[1]);
	}
	free(c);
	return rc;
}

void tfs_control_stop(struct tfs_control *c)
{
	ssize_t w;

	if (!c)
		return;
	do
		w = write(c->stop[1], "x", 1);
	while (w < 0 && errno == EINTR);
	pthread_join(c->thr, NULL);
	close(c->lfd);
	unlink(c->path);
	close(c->stop[0]);
	close(c->stop[1]);
	free(c);
}
