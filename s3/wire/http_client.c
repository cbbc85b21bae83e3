/* The HTTP client's life (http.h): libcurl's global set-up, the share for
 * DNS and TLS sessions, the pool of easy handles (each keeps its
 * connections alive) and the request counters. */
#include "s3/wire/http.h"
#include "s3/wire/http_i.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "s3/base/log.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init_once(void)
{
	/* Not thread-safe in libcurl 7.88, hence the once. */
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* curl takes a share lock in one callback and gives it back in the other:
 * no function holds it from start to end, so there is nothing for the
 * analysis to check here. */
static void share_lock_cb(CURL *h, curl_lock_data data, curl_lock_access access,
			  void *arg) NO_THREAD_SAFETY_ANALYSIS
{
	struct http_client *c = arg;

	if (data >= 0 && data < CURL_LOCK_DATA_LAST)
		tfs_mutex_lock(&c->share_lock[data]);
}

static void share_unlock_cb(CURL *h, curl_lock_data data, void *arg) NO_THREAD_SAFETY_ANALYSIS
{
	struct http_client *c = arg;

	if (data >= 0 && data < CURL_LOCK_DATA_LAST)
		tfs_mutex_unlock(&c->share_lock[data]);
}

struct http_client *http_client_new(const struct http_options *opt, struct cred_provider *creds)
{
	struct http_client *c;
	int i;

	pthread_once(&curl_once, curl_init_once);
	if (curl_init_rc != CURLE_OK) {
		log_err("cannot initialise libcurl: %s", curl_easy_strerror(curl_init_rc));
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	if (opt)
		c->opt = *opt;
	if (c->opt.connect_timeout_ms <= 0)
		c->opt.connect_timeout_ms = 3000;
	if (c->opt.request_timeout_ms <= 0)
		c->opt.request_timeout_ms = 30000;
	if (c->opt.max_transfer_ms <= 0)
		c->opt.max_transfer_ms = 3600000;
	if (c->opt.max_transfer_ms < c->opt.request_timeout_ms)
		c->opt.max_transfer_ms = c->opt.request_timeout_ms;
	if (c->opt.retry_budget_ms <= 0)
		c->opt.retry_budget_ms = 20000;
	if (c->opt.max_attempts <= 0)
		c->opt.max_attempts = 6;
	if (c->opt.backoff_base_ms <= 0)
		c->opt.backoff_base_ms = 100;
	if (c->opt.backoff_cap_ms <= 0)
		c->opt.backoff_cap_ms = 5000;
	if (c->opt.max_body == 0)
		c->opt.max_body = 8u << 20;
	if (c->opt.max_connections <= 0)
		c->opt.max_connections = 16;
	if (opt && opt->ca_file) {
		c->ca_file = strdup(opt->ca_file);
		if (!c->ca_file)
			goto fail;
	}
	c->opt.ca_file = c->ca_file;
	c->creds = creds;
	tfs_mutex_init(&c->lock);
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		tfs_mutex_init(&c->share_lock[i]);
	c->pool = calloc((size_t)c->opt.max_connections, sizeof(*c->pool));
	c->share = curl_share_init();
	if (!c->pool || !c->share)
		goto fail_locks;
	curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock_cb);
	curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock_cb);
	curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	return c;

fail_locks:
	if (c->share)
		curl_share_cleanup(c->share);
	free(c->pool);
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		tfs_mutex_destroy(&c->share_lock[i]);
	tfs_mutex_destroy(&c->lock);
fail:
	free(c->ca_file);
	free(c);
	return NULL;
}

void http_client_free(struct http_client *c)
{
	int i;

	if (!c)
		return;
	/* Easy handles go before the share they use. */
	for (i = 0; i < c->n_pool; i++)
		curl_easy_cleanup(c->pool[i]);
	free(c->pool);
	curl_share_cleanup(c->share);
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		tfs_mutex_destroy(&c->share_lock[i]);
	tfs_mutex_destroy(&c->lock);
	free(c->ca_file);
	free(c);
}

CURL *http_handle_get(struct http_client *c)
{
	CURL *h = NULL;

	tfs_mutex_lock(&c->lock);
	if (c->n_pool > 0)
		h = c->pool[--c->n_pool];
	tfs_mutex_unlock(&c->lock);
	if (!h)
		h = curl_easy_init();
	else
		curl_easy_reset(h); /* keeps the live connections and the share */
	return h;
}

/* A handle whose last transfer failed at the transport level is dropped
 * rather than pooled: its connection may be half-dead. */
void http_handle_put(struct http_client *c, CURL *h, int healthy)
{
	if (!h)
		return;
	if (healthy) {
		tfs_mutex_lock(&c->lock);
		if (c->n_pool < c->opt.max_connections) {
			c->pool[c->n_pool++] = h;
			h = NULL;
		}
		tfs_mutex_unlock(&c->lock);
	}
	if (h)
		curl_easy_cleanup(h);
}

void http_client_stats(struct http_client *c, struct http_stats *out)
{
	out->s3_get = __atomic_load_n(&c->stats.s3_get, __ATOMIC_RELAXED);
	out->s3_put = __atomic_load_n(&c->stats.s3_put, __ATOMIC_RELAXED);
	out->s3_head = __atomic_load_n(&c->stats.s3_head, __ATOMIC_RELAXED);
	out->s3_list = __atomic_load_n(&c->stats.s3_list, __ATOMIC_RELAXED);
	out->s3_delete = __atomic_load_n(&c->stats.s3_delete, __ATOMIC_RELAXED);
	out->s3_other = __atomic_load_n(&c->stats.s3_other, __ATOMIC_RELAXED);
	out->ddb_read = __atomic_load_n(&c->stats.ddb_read, __ATOMIC_RELAXED);
	out->ddb_write = __atomic_load_n(&c->stats.ddb_write, __ATOMIC_RELAXED);
	out->ddb_other = __atomic_load_n(&c->stats.ddb_other, __ATOMIC_RELAXED);
	out->retries = __atomic_load_n(&c->stats.retries, __ATOMIC_RELAXED);
}

void http_stat_inc(uint64_t *v)
{
	__atomic_add_fetch(v, 1, __ATOMIC_RELAXED);
}

static const char *find_header(const struct http_request *req, const char *name)
{
	size_t i;

	for (i = 0; i < req->n_headers; i++)
		if (strcasecmp(req->headers[i].name, name) == 0)
			return req->headers[i].value;
	return NULL;
}

static int query_has(const char *query, const char *name)
{
	size_t n = strlen(name);
	const char *p = query;

	while (p && *p) {
		if (strncmp(p, name, n) == 0 && (p[n] == '=' || p[n] == '&' || p[n] == '\0'))
			return 1;
		p = strchr(p, '&');
		if (p)
			p++;
	}
	return 0;
}

void http_count_request(struct http_client *c, const struct http_request *req, const char *query)
{
	const char *m = req->method, *target, *op;

	if (req->service && strcmp(req->service, "dynamodb") == 0) {
		target = find_header(req, "x-amz-target");
		op = target ? strchr(target, '.') : NULL;
		op = op ? op + 1 : "";
		if (!strcmp(op, "GetItem") || !strcmp(op, "Query") || !strcmp(op, "Scan") ||
		    !strcmp(op, "BatchGetItem") || !strcmp(op, "TransactGetItems"))
			http_stat_inc(&c->stats.ddb_read);
		else if (!strcmp(op, "PutItem") || !strcmp(op, "UpdateItem") ||
			 !strcmp(op, "DeleteItem") || !strcmp(op, "BatchWriteItem") ||
			 !strcmp(op, "TransactWriteItems"))
			http_stat_inc(&c->stats.ddb_write);
		else
			http_stat_inc(&c->stats.ddb_other);
		return;
	}
	if (!req->service || strcmp(req->service, "s3") != 0)
		return;
	if (!strcmp(m, "GET"))
		http_stat_inc(query_has(query, "list-type") ? &c->stats.s3_list : &c->stats.s3_get);
	else if (!strcmp(m, "PUT"))
		http_stat_inc(&c->stats.s3_put);
	else if (!strcmp(m, "HEAD"))
		http_stat_inc(&c->stats.s3_head);
	else if (!strcmp(m, "DELETE"))
		http_stat_inc(&c->stats.s3_delete);
	else
		http_stat_inc(&c->stats.s3_other);
}
