/* The control socket of a running mount (see control.h): the server, one
 * thread answering one request per connection, and the commands `tenantfs
 * status`, `flush` and `evict` that talk to it. Messages are JSON
 * (jansson) both ways. */
#include "fuse/control.h"
#include "s3/clock.h"

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

#include "cache/cache.h"
#include "fuse/fs.h"
#include "fuse/options.h"
#include "fuse/progress.h"
#include "fuse/setup.h"
#include "s3/http.h"
#include "s3/log.h"

/* Bytes of one request or answer line: a status of 100,000 active
 * databases is about 17 MB, a flush poll of as many about 6 MB. */
#define REQ_MAX		 (64 << 20)
#define IO_TIMEOUT_MS	 5000 /* a peer that sends or reads nothing this long is dropped */
#define FLUSH_POLL_MS	 250
#define FLUSH_DEFAULT_MS 60000
#define IDS_MAX		 10000	 /* databases named in one flush or evict */
#define POLL_MAX	 1000000 /* databases one flush waits for */

/* ---- paths --------------------------------------------------------------- */

/* The absolute, resolved mount point: realpath, or that of its parent
 * (another user's mount point cannot be stat'ed, not even by root). */
static int resolve_mountpoint(const char *mp, char *buf, size_t cap)
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
static int sock_name(const char *mountpoint, const char *dir, char *buf, size_t cap)
{
	char mp[PATH_MAX];
	int rc, n;

	rc = resolve_mountpoint(mountpoint, mp, sizeof(mp));
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
	return rc < 0 ? rc : sock_name(mountpoint, dir, buf, cap);
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
static int read_line(int fd, char **out, size_t *len, int64_t deadline)
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
static int send_json(int fd, json_t *obj, int64_t deadline)
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
		send_json(fd,
			  err_json("permission denied: uid %u is neither root nor the mounting "
				   "user",
				   (unsigned)cr.uid),
			  deadline);
		return;
	}
	rc = read_line(fd, &line, &len, deadline);
	if (rc < 0) {
		log_warn("control socket: cannot read a request of pid %d: %s", (int)cr.pid,
			 strerror(-rc));
		if (rc == -EMSGSIZE)
			send_json(fd, err_json("request too long"), deadline);
		return;
	}
	req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	free(line);
	if (!json_is_object(req)) {
		json_decref(req);
		send_json(fd, err_json("bad request: %s", req ? "not an object" : jerr.text),
			  deadline);
		return;
	}
	rc = send_json(fd, dispatch(&c->ctx, req), deadline);
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

/* ---- the commands -------------------------------------------------------- */

static const char *const commands[] = {"status", "flush", "evict", NULL};

bool tfs_control_command(const char *arg)
{
	size_t i;

	for (i = 0; arg && commands[i]; i++)
		if (!strcmp(arg, commands[i]))
			return true;
	return false;
}

#define STATUS_SYNOPSIS "tenantfs status MOUNTPOINT [--json] [--top N]"
#define FLUSH_SYNOPSIS	"tenantfs flush MOUNTPOINT [ID ...] [--timeout SECONDS]"
#define EVICT_SYNOPSIS	"tenantfs evict MOUNTPOINT ID ..."

static void usage(const char *cmd, FILE *out)
{
	if (!strcmp(cmd, "status"))
		fputs("usage: " STATUS_SYNOPSIS "\n"
		      "status shows the running mount at MOUNTPOINT: node identity, store,\n"
		      "catalog and uptime; leases held; the open, dirty (with their age),\n"
		      "uploading, failed (with the last error) and quarantined databases; the\n"
		      "oldest unpublished change; the cache's databases and bytes; the request\n"
		      "counters with the cost estimate. --json prints one JSON object. --top N\n"
		      "shows instead the N databases whose requests cost most since the start.\n",
		      out);
	else if (!strcmp(cmd, "flush"))
		fputs("usage: " FLUSH_SYNOPSIS "\n"
		      "flush writes back now every dirty database of the mount at MOUNTPOINT,\n"
		      "open or closed (or only those named) and waits until they are published,\n"
		      "at most --timeout SECONDS (default 60). Exit status 0 when all are\n"
		      "published, else 1, naming each that is not and why.\n",
		      out);
	else
		fputs("usage: " EVICT_SYNOPSIS "\n"
		      "evict drops the named databases from the cache of the mount at\n"
		      "MOUNTPOINT; only clean, closed ones: an open or dirty one is refused,\n"
		      "with the reason. Exit status 0 when every one was evicted, else 1.\n",
		      out);
}

static int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "tenantfs %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	usage(cmd, stderr);
	return 2;
}

/* The mount at mountpoint: 0 and the daemon's uid, or -ENOENT when no
 * tenantfs mount is there. */
static int find_mount(const char *mountpoint, uid_t *uid)
{
	char mp[PATH_MAX], *opt;
	struct mntent *e, ent;
	char buf[4096];
	FILE *f;
	int rc;

	rc = resolve_mountpoint(mountpoint, mp, sizeof(mp));
	if (rc < 0)
		return rc;
	f = setmntent("/proc/self/mounts", "re");
	if (!f)
		return -errno;
	rc = -ENOENT;
	/* The last entry at the path is the one on top. */
	while ((e = getmntent_r(f, &ent, buf, sizeof(buf)))) {
		if (strcmp(e->mnt_dir, mp) || strcmp(e->mnt_type, "fuse.tenantfs"))
			continue;
		opt = hasmntopt(e, "user_id");
		*uid = opt ? (uid_t)strtoul(opt + 8, NULL, 10) : 0;
		rc = 0;
	}
	endmntent(f);
	return rc;
}

/* Sends req (stolen) to the mount at mp and returns its answer (NULL on
 * failure, said on stderr). */
static json_t *call(const char *cmd, const char *mp, json_t *req)
{
	struct sockaddr_un sa;
	char path[PATH_MAX], dir[64], first[PATH_MAX] = "", *line = NULL;
	int64_t deadline = tfs_mono_ms() + 30000;
	json_error_t jerr;
	json_t *ans = NULL;
	size_t len;
	uid_t uid = 0;
	int fd = -1, rc, i;

	rc = find_mount(mp, &uid);
	if (rc < 0) {
		fprintf(stderr, "tenantfs %s: %s is not a tenantfs mount point (%s)\n", cmd, mp,
			rc == -ENOENT ? "no tenantfs mount there" : strerror(-rc));
		goto out;
	}
	/* The daemon chose /run/user/UID when it existed at its start: a
	 * login or logout since may have changed that, so try both. */
	for (i = 0; i < 2; i++) {
		if (uid == 0 && i > 0)
			break;
		if (uid == 0)
			snprintf(dir, sizeof(dir), "/run/tenantfs");
		else if (i == 0)
			snprintf(dir, sizeof(dir), "/run/user/%u/tenantfs", (unsigned)uid);
		else
			snprintf(dir, sizeof(dir), "/tmp/tenantfs-%u", (unsigned)uid);
		rc = sock_name(mp, dir, path, sizeof(path));
		if (rc == 0 && strlen(path) >= sizeof(sa.sun_path))
			rc = -ENAMETOOLONG;
		if (rc < 0) {
			fprintf(stderr, "tenantfs %s: cannot name the control socket of %s: %s\n",
				cmd, mp, strerror(-rc));
			goto out;
		}
		memset(&sa, 0, sizeof(sa));
		sa.sun_family = AF_UNIX;
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
		if (fd < 0)
			fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			rc = -errno;
			break;
		}
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			rc = 0;
			break;
		}
		rc = -errno;
		if (i == 0)
			snprintf(first, sizeof(first), "%s", path);
		if (rc != -ENOENT)
			break;
	}
	if (rc < 0) {
		fprintf(stderr, "tenantfs %s: cannot reach the daemon of %s at %s: %s%s\n", cmd, mp,
			rc == -ENOENT && first[0] ? first : path, strerror(-rc),
			rc == -EACCES ? " (only root and the mounting user may)" : "");
		goto out;
	}
	rc = send_json(fd, req, deadline);
	req = NULL;
	/* A refusal may come before the request was read: read it anyway. */
	if (rc == 0 || rc == -EPIPE || rc == -ECONNRESET) {
		int sent = rc;

		rc = read_line(fd, &line, &len, deadline);
		if (rc < 0 && sent < 0)
			rc = sent;
	}
	if (rc < 0) {
		fprintf(stderr, "tenantfs %s: no answer from the daemon of %s: %s\n", cmd, mp,
			strerror(-rc));
		goto out;
	}
	ans = json_loadb(line, len, 0, &jerr);
	if (!json_is_object(ans)) {
		fprintf(stderr, "tenantfs %s: unreadable answer from the daemon of %s: %s\n", cmd,
			mp, ans ? "not an object" : jerr.text);
		json_decref(ans);
		ans = NULL;
	} else if (!json_is_true(json_object_get(ans, "ok"))) {
		fprintf(stderr, "tenantfs %s: the daemon of %s refused: %s\n", cmd, mp,
			json_string_value(json_object_get(ans, "error"))
			    ? json_string_value(json_object_get(ans, "error"))
			    : "no reason given");
		json_decref(ans);
		ans = NULL;
	}
out:
	json_decref(req);
	free(line);
	if (fd >= 0)
		close(fd);
	return ans;
}

static void print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);

	if (s)
		puts(s);
	free(s);
}

static double num(json_t *o, const char *k)
{
	return json_number_value(json_object_get(o, k));
}

static const char *str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

static void print_status(json_t *s)
{
	json_t *c = json_object_get(s, "counts"), *v, *d, *ctr;
	const char *k;
	size_t i;

	printf("mount point: %s\nnode:        %s\nstore:       %s\ncatalog:     %s\n"
	       "cache:       %s (%.0f databases, %.0f bytes)\nuptime:      %.0f s (pid %.0f, "
	       "version %s)\nleases held: %.0f\n",
	       str(s, "mountpoint"), str(s, "node"), str(s, "store"), str(s, "catalog"),
	       str(s, "cache_dir"), num(json_object_get(s, "cache"), "entries"),
	       num(json_object_get(s, "cache"), "bytes"), num(s, "uptime_seconds"), num(s, "pid"),
	       str(s, "version"), num(s, "leases"));
	printf("databases:   %.0f open, %.0f dirty, %.0f uploading, %.0f failed, %.0f "
	       "quarantined\n",
	       num(c, "open"), num(c, "dirty"), num(c, "uploading"), num(c, "failed"),
	       num(c, "quarantined"));
	v = json_object_get(s, "oldest_unpublished");
	if (json_is_object(v))
		printf("oldest unpublished change: %s, %.1f s ago (what losing this machine now "
		       "would lose)\n",
		       str(v, "id"), num(v, "age_seconds"));
	else
		printf("oldest unpublished change: none (everything is published)\n");
	json_array_foreach(json_object_get(s, "databases"), i, d)
	{
		printf("  %-24s %s%s%s%s", str(d, "id"), num(d, "open") > 0 ? "open " : "closed ",
		       json_is_true(json_object_get(d, "leased")) ? "leased " : "",
		       json_is_true(json_object_get(d, "uploading")) ? "uploading " : "",
		       json_is_true(json_object_get(d, "recovering")) ? "recovering " : "");
		if (json_is_true(json_object_get(d, "dirty")))
			printf("dirty %.1f s", num(d, "dirty_seconds"));
		else
			printf("clean");
		if (str(d, "error")[0])
			printf(", failed: %s", str(d, "error"));
		putchar('\n');
	}
	json_array_foreach(json_object_get(s, "quarantined"), i, d) printf(
	    "  %-24s QUARANTINED in %s: %s\n", str(d, "id"), str(d, "path"), str(d, "error"));
	ctr = json_object_get(s, "counters");
	printf("counters since start:\n");
	json_object_foreach(ctr, k, v)
	{
		if (json_is_real(v))
			printf("  %-16s %.6f\n", k, json_real_value(v));
		else
			printf("  %-16s %lld\n", k, (long long)json_integer_value(v));
	}
}

static void print_top(json_t *t)
{
	json_t *r, *o = json_object_get(t, "others");
	size_t i;

	printf("%-24s %10s %8s %8s %8s %8s %12s %12s %10s\n", "database", "cost_usd", "s3_put",
	       "s3_get", "ddb_wr", "ddb_rd", "bytes_up", "bytes_down", "s3_head");
	json_array_foreach(json_object_get(t, "top"), i, r)
	    printf("%-24s %10.6f %8.0f %8.0f %8.0f %8.0f %12.0f %12.0f %10.0f\n", str(r, "id"),
		   num(r, "cost_usd"), num(r, "s3_put"), num(r, "s3_get"), num(r, "ddb_write"),
		   num(r, "ddb_read"), num(r, "bytes_up"), num(r, "bytes_down"), num(r, "s3_head"));
	if (num(o, "cost_usd") > 0 || num(o, "bytes_up") + num(o, "bytes_down") > 0)
		printf("%-24s %10.6f %8.0f %8.0f %8.0f %8.0f %12.0f %12.0f %10.0f\n", "(others)",
		       num(o, "cost_usd"), num(o, "s3_put"), num(o, "s3_get"), num(o, "ddb_write"),
		       num(o, "ddb_read"), num(o, "bytes_up"), num(o, "bytes_down"),
		       num(o, "s3_head"));
	printf("(%.0f databases tracked, at most %.0f; requests the engine made, priced at "
	       "AWS list prices)\n",
	       num(t, "tracked"), num(t, "slots"));
}

static int parse_count(const char *s, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int cmd_status(int argc, char *argv[])
{
	const char *mp = NULL;
	long top = 0;
	int json = 0, i;
	json_t *ans;

	for (i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = 1;
		} else if (!strcmp(argv[i], "--top")) {
			if (i + 1 >= argc || parse_count(argv[i + 1], TCOST_SLOTS, &top) < 0)
				return usage_error("status", "--top needs a count of 1 to %d",
						   TCOST_SLOTS);
			i++;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage("status", stdout);
			return 0;
		} else if (argv[i][0] == '-' || mp) {
			return usage_error("status", "unexpected argument '%s'", argv[i]);
		} else {
			mp = argv[i];
		}
	}
	if (!mp)
		return usage_error("status", "missing MOUNTPOINT");
	ans = call("status", mp,
		   top ? json_pack("{s:s,s:I}", "op", "top", "n", (json_int_t)top)
		       : json_pack("{s:s}", "op", "status"));
	if (!ans)
		return 1;
	json_object_del(ans, "ok");
	if (json)
		print_json(ans);
	else if (top)
		print_top(ans);
	else
		print_status(ans);
	json_decref(ans);
	return 0;
}

/* Collects the ID arguments of flush and evict (validated) into ids. */
static int add_id(const char *cmd, json_t *ids, const char *id)
{
	if (!tfs_valid_id(id))
		return usage_error(cmd, "invalid database id '%s'", id);
	if (json_array_size(ids) >= IDS_MAX)
		return usage_error(cmd, "too many database ids (at most %d)", IDS_MAX);
	json_array_append_new(ids, json_string(id));
	return 0;
}

static int cmd_flush(int argc, char *argv[])
{
	const char *mp = NULL;
	json_t *ids = json_array(), *ans = NULL, *items, *poll_req, *it;
	long timeout_ms = FLUSH_DEFAULT_MS;
	int64_t deadline, since;
	struct progress p;
	size_t i, done, failed, total;
	int rc = 1;

	for (i = 2; i < (size_t)argc; i++) {
		if (!strcmp(argv[i], "--timeout")) {
			if (i + 1 >= (size_t)argc ||
			    tfs_parse_seconds(argv[i + 1], &timeout_ms) < 0 || timeout_ms == 0) {
				rc = usage_error("flush", "--timeout needs a number of seconds");
				goto out;
			}
			i++;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage("flush", stdout);
			rc = 0;
			goto out;
		} else if (argv[i][0] == '-') {
			rc = usage_error("flush", "unexpected argument '%s'", argv[i]);
			goto out;
		} else if (!mp) {
			mp = argv[i];
		} else if ((rc = add_id("flush", ids, argv[i])) != 0) {
			goto out;
		}
	}
	if (!mp) {
		rc = usage_error("flush", "missing MOUNTPOINT");
		goto out;
	}
	rc = 1;
	deadline = tfs_mono_ms() + timeout_ms;
	ans = call("flush", mp, json_pack("{s:s,s:O}", "op", "flush", "ids", ids));
	if (!ans)
		goto out;
	since = (int64_t)json_integer_value(json_object_get(ans, "since"));
	total = json_array_size(json_object_get(ans, "items"));
	progress_init(&p, stderr, "flush", total);
	for (;;) {
		items = json_object_get(ans, "items");
		done = failed = 0;
		json_array_foreach(items, i, it)
		{
			done += !strcmp(str(it, "state"), "published");
			failed += !strcmp(str(it, "state"), "failed");
		}
		progress_update(&p, "published", done, 0);
		if (done + failed == total || tfs_mono_ms() >= deadline)
			break;
		tfs_sleep_ms(FLUSH_POLL_MS);
		poll_req = json_pack("{s:s,s:I,s:O}", "op", "flush_poll", "since",
				     (json_int_t)since, "items", items);
		json_decref(ans);
		ans = call("flush", mp, poll_req);
		if (!ans)
			goto out;
	}
	progress_clear(&p);
	json_array_foreach(json_object_get(ans, "items"), i, it)
	{
		const char *st = str(it, "state"), *e = str(it, "error");

		if (!strcmp(st, "published"))
			continue;
		fprintf(stderr, "tenantfs flush: %s: not published: %s\n", str(it, "id"),
			!strcmp(st, "failed") ? (e[0] ? e : "it cannot be published")
			: e[0]		      ? e
			: json_is_true(json_object_get(it, "uploading"))
			    ? "still being written back at the timeout"
			    : "still waiting for its write-back at the timeout");
	}
	printf("%zu of %zu database%s published\n", done, total, total == 1 ? "" : "s");
	rc = done == total ? 0 : 1;
out:
	json_decref(ans);
	json_decref(ids);
	return rc;
}

static int cmd_evict(int argc, char *argv[])
{
	const char *mp = NULL;
	json_t *ids = json_array(), *ans = NULL, *r;
	size_t i, bad = 0, n = 0;
	int rc;

	for (i = 2; i < (size_t)argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage("evict", stdout);
			rc = 0;
			goto out;
		} else if (argv[i][0] == '-') {
			rc = usage_error("evict", "unexpected argument '%s'", argv[i]);
			goto out;
		} else if (!mp) {
			mp = argv[i];
		} else if ((rc = add_id("evict", ids, argv[i])) != 0) {
			goto out;
		}
	}
	if (!mp) {
		rc = usage_error("evict", "missing MOUNTPOINT");
		goto out;
	}
	if (json_array_size(ids) == 0) {
		rc = usage_error("evict", "missing ID: name the databases to evict");
		goto out;
	}
	rc = 1;
	ans = call("evict", mp, json_pack("{s:s,s:O}", "op", "evict", "ids", ids));
	if (!ans)
		goto out;
	json_array_foreach(json_object_get(ans, "results"), i, r)
	{
		n++;
		if (json_is_true(json_object_get(r, "evicted"))) {
			printf("%s: evicted\n", str(r, "id"));
		} else {
			bad++;
			fprintf(stderr, "tenantfs evict: %s: not evicted: %s\n", str(r, "id"),
				str(r, "error"));
		}
	}
	rc = bad || n != json_array_size(ids) ? 1 : 0;
out:
	json_decref(ans);
	json_decref(ids);
	return rc;
}

int tfs_control_main(int argc, char *argv[])
{
	if (!strcmp(argv[1], "flush"))
		return cmd_flush(argc, argv);
	if (!strcmp(argv[1], "evict"))
		return cmd_evict(argc, argv);
	return cmd_status(argc, argv);
}
