/* Internals of the HTTP client shared by http_client.c (the client, its
 * handle pool and counters) and http.c (sending a request). */
#ifndef TFS_HTTP_I_H
#define TFS_HTTP_I_H

#include <pthread.h>
#include <stdint.h>

#include <curl/curl.h>

#include "s3/base/tsa.h"
#include "s3/wire/http.h"

struct http_client {
	struct http_options opt; /* immutable after new; ca_file points at ca_file below */
	char *ca_file;
	struct cred_provider *creds; /* borrowed, thread-safe itself */
	CURLSH *share;
	tfs_mutex share_lock[CURL_LOCK_DATA_LAST]; /* curl takes these itself */
	tfs_mutex lock;				   /* protects pool and n_pool */
	CURL **pool;		 /* idle handles, at most opt.max_connections; protected by lock */
	int n_pool;		 /* protected by lock */
	struct http_stats stats; /* updated with __atomic builtins, no lock */
};

/* An easy handle from the pool, or a new one set up for this client
 * (share, TLS, timeouts); NULL on ENOMEM. */
CURL *http_handle_get(struct http_client *c);
/* Back to the pool when healthy and there is room, else cleaned up. */
void http_handle_put(struct http_client *c, CURL *h, int healthy);
/* Counts one request in c's stats, by service, method and operation. */
void http_count_request(struct http_client *c, const struct http_request *req, const char *query);
/* Adds one to a counter of http_stats (atomic, no lock). */
void http_stat_inc(uint64_t *v);

#endif
