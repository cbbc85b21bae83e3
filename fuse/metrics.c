/* The metrics endpoint (see metrics.h): libmicrohttpd serves GET /metrics
 * on its own thread; each scrape builds the status document (a short copy
 * under the engine's lock) and writes it out as counters and gauges with
 * HELP and TYPE lines, in base units (seconds, bytes, dollars). */
#include "fuse/metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuse/control.h"
#include "s3/base/log.h"

#define METRICS_CONN_LIMIT 8
#define METRICS_TIMEOUT_S  10

int tfs_metrics_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len, bool *loopback)
{
	char host[INET6_ADDRSTRLEN + 2];
	struct addrinfo hints, *ai = NULL;
	const char *colon, *port, *h = s;
	size_t hl;
	char *end;
	long p;

	if (!s)
		return -EINVAL;
	colon = strrchr(s, ':');
	if (!colon || colon == s)
		return -EINVAL;
	port = colon + 1;
	hl = (size_t)(colon - s);
	if (s[0] == '[') {
		/* [IPv6]:PORT */
		if (hl < 3 || s[hl - 1] != ']')
			return -EINVAL;
		h = s + 1;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	errno = 0;
	p = strtol(port, &end, 10);
	if (errno || end == port || *end || p < 1 || p > 65535)
		return -EINVAL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_family = s[0] == '[' ? AF_INET6 : AF_INET;
	if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai)
		return -EINVAL;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	if (ai->ai_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ai->ai_addr;

		*loopback = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	} else {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ai->ai_addr;

		*loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
	}
	freeaddrinfo(ai);
	return 0;
}

int tfs_metrics_bind(const char *addr, int *fd)
{
	struct sockaddr_storage ss;
	socklen_t len;
	bool lo;
	int s, one = 1, rc;

	*fd = -1;
	if (tfs_metrics_parse(addr, &ss, &len, &lo) < 0) {
		log_err("cannot serve metrics on '%s': not ADDR:PORT", addr);
		return -EINVAL;
	}
	s = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		rc = -errno;
		log_err("cannot serve metrics on %s: socket: %s", addr, strerror(-rc));
		return rc;
	}
	if (setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(s, (struct sockaddr *)&ss, len) < 0 || listen(s, 16) < 0) {
		rc = -errno;
		log_err("cannot serve metrics on %s: %s", addr, strerror(-rc));
		close(s);
		return rc;
	}
	*fd = s;
	return 0;
}

/* ---- the exposition ------------------------------------------------------ */

static double num_at(json_t *doc, const char *obj, const char *key)
{
	json_t *o = obj ? json_object_get(doc, obj) : doc;

	return json_number_value(json_object_get(o, key));
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample(FILE *f, const char *name, const char *labels, double v)
{
	/* %.15g: integers below 10^15 exactly, and no float noise */
	fprintf(f, "%s%s%s%s %.15g\n", name, labels ? "{" : "", labels ? labels : "",
		labels ? "}" : "", v);
}

static void one(FILE *f, const char *name, const char *type, const char *help, double v)
{
	family(f, name, type, help);
	sample(f, name, NULL, v);
}

/* Counters of doc.counters, one family each. */
static const struct {
	const char *key, *name, *help;
} engine_counters[] = {
    {"opens", "tenantfs_opens_total", "Database opens served."},
    {"faults", "tenantfs_faults_total", "Databases fetched from the object store."},
    {"fault_bytes", "tenantfs_fault_bytes_total", "Bytes fetched from the object store."},
    {"writebacks", "tenantfs_writebacks_total", "Write-backs started."},
    {"puts", "tenantfs_puts_total", "Versions uploaded to the object store."},
    {"puts_skipped", "tenantfs_puts_skipped_total",
     "Write-backs that found the content unchanged and uploaded nothing."},
    {"commits", "tenantfs_commits_total", "Versions published in the catalog."},
    {"quarantined", "tenantfs_quarantines_total",
     "Local copies quarantined (their changes were not published)."},
    {"evictions", "tenantfs_evictions_total", "Databases dropped from the cache."},
    {"lease_acquires", "tenantfs_lease_acquires_total", "Leases taken."},
    {"lease_renews", "tenantfs_lease_renewals_total", "Lease renewals."},
    {"lease_releases", "tenantfs_lease_releases_total", "Leases given back."},
    {"retries", "tenantfs_http_retries_total", "HTTP requests retried."},
    {"fuse_requests", "tenantfs_fuse_requests_total", "FUSE requests served."},
};

static const char *const s3_ops[] = {"get", "put", "head", "list", "delete", "other"};
static const char *const ddb_ops[] = {"read", "write", "other"};
static const char *const db_states[] = {"open", "dirty", "uploading", "failed", "quarantined"};

char *tfs_metrics_render(json_t *doc, size_t *len)
{
	char *buf = NULL, key[32], lab[64];
	json_t *oldest = json_object_get(doc, "oldest_unpublished");
	const char *node = json_string_value(json_object_get(doc, "node"));
	const char *ver = json_string_value(json_object_get(doc, "version"));
	size_t i;
	FILE *f;

	*len = 0;
	f = open_memstream(&buf, len);
	if (!f)
		return NULL;
	/* node ids and versions are [A-Za-z0-9._~-]: nothing to escape */
	family(f, "tenantfs_info", "gauge", "Identity of this node; always 1.");
	fprintf(f, "tenantfs_info{node=\"%s\",version=\"%s\"} 1\n", node ? node : "",
		ver ? ver : "");
	one(f, "tenantfs_start_time_seconds", "gauge", "Unix time the mount started.",
	    num_at(doc, NULL, "started"));
	one(f, "tenantfs_uptime_seconds", "gauge", "Seconds since the mount started.",
	    num_at(doc, NULL, "uptime_seconds"));
	one(f, "tenantfs_leases_held", "gauge", "Leases this node holds.",
	    num_at(doc, NULL, "leases"));
	family(f, "tenantfs_databases", "gauge",
	       "Databases active on this node by state (a database may be in several).");
	for (i = 0; i < sizeof(db_states) / sizeof(db_states[0]); i++) {
		snprintf(lab, sizeof(lab), "state=\"%s\"", db_states[i]);
		sample(f, "tenantfs_databases", lab, num_at(doc, "counts", db_states[i]));
	}
	one(f, "tenantfs_oldest_unpublished_change_age_seconds", "gauge",
	    "Age of the oldest change not yet published (0: none): what losing this machine "
	    "would lose at most.",
	    json_is_object(oldest) ? num_at(oldest, NULL, "age_seconds") : 0);
	one(f, "tenantfs_cache_databases", "gauge", "Databases in the local cache.",
	    num_at(doc, "cache", "entries"));
	one(f, "tenantfs_cache_bytes", "gauge", "Bytes of the databases in the local cache.",
	    num_at(doc, "cache", "bytes"));
	for (i = 0; i < sizeof(engine_counters) / sizeof(engine_counters[0]); i++)
		one(f, engine_counters[i].name, "counter", engine_counters[i].help,
		    num_at(doc, "counters", engine_counters[i].key));
	family(f, "tenantfs_s3_requests_total", "counter", "S3 requests sent, by operation.");
	for (i = 0; i < sizeof(s3_ops) / sizeof(s3_ops[0]); i++) {
		snprintf(key, sizeof(key), "s3_%s", s3_ops[i]);
		snprintf(lab, sizeof(lab), "op=\"%s\"", s3_ops[i]);
		sample(f, "tenantfs_s3_requests_total", lab, num_at(doc, "counters", key));
	}
	family(f, "tenantfs_dynamodb_requests_total", "counter",
	       "DynamoDB requests sent, by kind.");
	for (i = 0; i < sizeof(ddb_ops) / sizeof(ddb_ops[0]); i++) {
		snprintf(key, sizeof(key), "ddb_%s", ddb_ops[i]);
		snprintf(lab, sizeof(lab), "op=\"%s\"", ddb_ops[i]);
		sample(f, "tenantfs_dynamodb_requests_total", lab, num_at(doc, "counters", key));
	}
	one(f, "tenantfs_estimated_cost_dollars_total", "counter",
	    "Estimated cost of the requests sent, in US dollars at AWS on-demand list prices.",
	    num_at(doc, "counters", "cost_usd"));
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* ---- the server -------------------------------------------------------- */

struct tfs_metrics {
	const struct tfs_control_ctx *ctx;
	struct MHD_Daemon *d;
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type,
			     char *body, size_t len)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	/* body is malloc'ed: MHD frees it with the response */
	r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **req_cls)
{
	static int first;
	struct tfs_metrics *m = cls;
	json_t *doc;
	char *body;
	size_t len = 0;

	if (!*req_cls) {
		/* the headers only: answer at the next call */
		*req_cls = &first;
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0; /* a body is ignored */
		return MHD_YES;
	}
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain",
			     strdup("only GET /metrics\n"), strlen("only GET /metrics\n"));
	if (strcmp(url, "/metrics"))
		return reply(conn, MHD_HTTP_NOT_FOUND, "text/plain", strdup("see /metrics\n"),
			     strlen("see /metrics\n"));
	doc = tfs_control_status(m->ctx);
	body = doc ? tfs_metrics_render(doc, &len) : NULL;
	json_decref(doc);
	if (!body)
		return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain",
			     strdup("out of memory\n"), strlen("out of memory\n"));
	return reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", body, len);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	tfs_vlog_from(LOG_WARNING, "metrics", fmt, ap);
}

int tfs_metrics_start(const struct tfs_control_ctx *ctx, int fd, struct tfs_metrics **out)
{
	struct tfs_metrics *m = calloc(1, sizeof(*m));

	*out = NULL;
	if (!m) {
		close(fd);
		return -ENOMEM;
	}
	m->ctx = ctx;
	/* poll, not select: every open database holds a descriptor, so an
	 * accepted connection's is often above FD_SETSIZE (found by
	 * tests/bench/bench_control.py with 2000 databases open) */
	m->d = MHD_start_daemon(MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
				handle, m, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)METRICS_CONN_LIMIT,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)METRICS_TIMEOUT_S,
				MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
	if (!m->d) {
		log_err("cannot start the metrics server");
		close(fd);
		free(m);
		return -EIO;
	}
	*out = m;
	return 0;
}

void tfs_metrics_stop(struct tfs_metrics *m)
{
	int fd;

	if (!m)
		return;
	/* MHD does not close a socket it was given */
	fd = (int)MHD_quiesce_daemon(m->d);
	MHD_stop_daemon(m->d);
	if (fd >= 0)
		close(fd);
	free(m);
}
