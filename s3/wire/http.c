/* Sending a request (http.h): SigV4 signing of every attempt, bodies from
 * memory or streamed from a file, response bodies capped in memory or
 * streamed to a file, and retries with exponential backoff and full jitter
 * inside a time budget. The client, its handle pool and its counters are
 * in http_client.c. */
#include "s3/wire/http.h"
#include "s3/wire/http_i.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "s3/base/clock.h"
#include "s3/base/log.h"
#include "s3/wire/sigv4.h"

/* ---- small helpers ---------------------------------------------------- */

void http_request_init(struct http_request *r)
{
	memset(r, 0, sizeof(*r));
	r->body_fd = -1;
	r->out_fd = -1;
}

static void headers_free(struct http_header *h, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(h[i].name);
		free(h[i].value);
	}
	free(h);
}

void http_response_free(struct http_response *resp)
{
	if (!resp)
		return;
	if (resp->wipe && resp->body)
		OPENSSL_cleanse(resp->body, resp->body_len);
	free(resp->body);
	headers_free(resp->headers, resp->n_headers);
	resp->body = NULL;
	resp->body_len = 0;
	resp->headers = NULL;
	resp->n_headers = 0;
}

const char *http_response_header(const struct http_response *resp, const char *name)
{
	size_t i;

	for (i = 0; i < resp->n_headers; i++)
		if (strcasecmp(resp->headers[i].name, name) == 0)
			return resp->headers[i].value;
	return NULL;
}

static int64_t wall_ms(const struct http_client *c)
{
	return c->opt.now_ms ? c->opt.now_ms() : tfs_wall_ms();
}

static void sleep_ms(const struct http_client *c, long ms)
{
	/* The injected sleeper sees every backoff, a zero one too: full
	 * jitter draws 0 now and then, and tests count the sleeps. */
	if (c->opt.sleep_ms) {
		c->opt.sleep_ms(ms);
		return;
	}
	tfs_sleep_ms(ms);
}

/* xorshift64*, per thread, seeded from the clocks and the thread: jitter
 * only needs to decorrelate clients, not to be unpredictable. */
static uint64_t jitter_rand(void)
{
	static __thread uint64_t s;
	struct timespec ts;

	if (!s) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		s = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)&s ^
		    0x9e3779b97f4a7c15ULL;
	}
	s ^= s >> 12;
	s ^= s << 25;
	s ^= s >> 27;
	return s * 2685821657736338717ULL;
}

/* Full jitter: uniform in [0, min(cap, base * 2^retry)]. */
static long backoff_delay(const struct http_client *c, int retry)
{
	long ceiling = c->opt.backoff_base_ms;
	int i;

	for (i = 0; i < retry && ceiling < c->opt.backoff_cap_ms; i++)
		ceiling *= 2;
	if (ceiling > c->opt.backoff_cap_ms)
		ceiling = c->opt.backoff_cap_ms;
	return (long)(jitter_rand() % (uint64_t)(ceiling + 1));
}

static ssize_t pread_full(int fd, void *buf, size_t len, off_t off)
{
	ssize_t n;

	do
		n = pread(fd, buf, len, off);
	while (n < 0 && errno == EINTR);
	return n;
}

static int pwrite_full(int fd, const char *buf, size_t len, off_t off)
{
	ssize_t n;

	while (len > 0) {
		n = pwrite(fd, buf, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

/* SHA-256 of len bytes of fd from off, streamed in 256 KiB reads. */
static enum wire_status file_sha256_hex(int fd, off_t off, uint64_t len, char hex[65],
					struct wire_error *err)
{
	enum wire_status st = WIRE_LOCAL_IO;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char dig[32];
	unsigned int dlen = 0;
	size_t chunk = 256 * 1024, i;
	char *buf = malloc(chunk);
	ssize_t n;

	if (!md || !buf) {
		st = WIRE_NOMEM;
		goto out;
	}
	if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		goto out;
	while (len > 0) {
		n = pread_full(fd, buf, len < chunk ? (size_t)len : chunk, off);
		if (n <= 0) {
			wire_error_set(err, st, "cannot read request body: %s",
				       n < 0 ? strerror(errno) : "file shorter than expected");
			goto out;
		}
		EVP_DigestUpdate(md, buf, (size_t)n);
		off += n;
		len -= (uint64_t)n;
	}
	if (EVP_DigestFinal_ex(md, dig, &dlen) != 1)
		goto out;
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", dig[i]);
	st = WIRE_OK;
out:
	EVP_MD_CTX_free(md);
	free(buf);
	return st;
}

/* ---- one attempt -------------------------------------------------------- */

struct xfer {
	const struct http_client *c;
	const struct http_request *req;
	struct http_response *resp;
	CURL *h;
	uint64_t body_pos;   /* bytes of the request body handed to curl */
	uint64_t body_total; /* request body length */
	size_t cap;	     /* memory body capacity */
	int overflow;	     /* response body over max_body */
	int local_err;	     /* errno of a failed local read/write, 0 if none */
	int to_file;	     /* this response's body goes to out_fd (decided at first byte) */
	int decided;
	int64_t start_ms; /* monotonic, when the attempt began */
	int timed_out;	  /* progress_cb aborted the transfer: past its time cap */
};

/* Time one attempt may take to move len bytes: the request timeout plus
 * 1 s per MiB (8 Mbit/s worst case), so a large body is not cut off, but
 * never more than max_transfer_ms. */
static long transfer_timeout_ms(const struct http_client *c, uint64_t len)
{
	uint64_t t = (uint64_t)c->opt.request_timeout_ms + (len >> 20) * 1000;

	return t < (uint64_t)c->opt.max_transfer_ms ? (long)t : c->opt.max_transfer_ms;
}

/* A streamed download has no size known when it starts: its cap grows
 * with the size the reply announces (or the bytes seen so far, for a
 * reply without a length). A reply that trickles in just above the
 * low-speed floor would otherwise hold the thread for as long as the
 * server likes. */
static int progress_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct xfer *x = arg;
	uint64_t expect = (uint64_t)(dltotal > dlnow ? dltotal : dlnow);

	if (tfs_mono_ms() - x->start_ms <= transfer_timeout_ms(x->c, expect))
		return 0;
	x->timed_out = 1;
	return 1; /* CURLE_ABORTED_BY_CALLBACK */
}

static size_t read_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	struct xfer *x = arg;
	size_t want = size * nitems;
	uint64_t left = x->body_total - x->body_pos;
	ssize_t n;

	if (want > left)
		want = (size_t)left;
	if (want == 0)
		return 0;
	if (x->req->body_fd >= 0) {
		n = pread_full(x->req->body_fd, buf, want, x->req->body_off + (off_t)x->body_pos);
		if (n <= 0) {
			/* A file that shrinks under us must not upload short. */
			x->local_err = n < 0 ? errno : EIO;
			return CURL_READFUNC_ABORT;
		}
		want = (size_t)n;
	} else {
		memcpy(buf, (const char *)x->req->body + x->body_pos, want);
	}
	x->body_pos += want;
	return want;
}

static int seek_cb(void *arg, curl_off_t off, int origin)
{
	struct xfer *x = arg;

	if (origin != SEEK_SET || off < 0 || (uint64_t)off > x->body_total)
		return CURL_SEEKFUNC_CANTSEEK;
	x->body_pos = (uint64_t)off;
	return CURL_SEEKFUNC_OK;
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	struct http_response *r = x->resp;
	size_t n = size * nmemb, ncap;
	long code = 0;
	char *nb;
	int rc;

	if (!x->decided) {
		/* Only a 2xx body is the payload; an error body is kept in
		 * memory for the caller's classify, never written to the file. */
		curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &code);
		x->to_file = x->req->out_fd >= 0 && code >= 200 && code < 300;
		x->decided = 1;
	}
	if (x->to_file) {
		rc =
		    pwrite_full(x->req->out_fd, data, n, x->req->out_off + (off_t)r->bytes_written);
		if (rc < 0) {
			x->local_err = -rc;
			return 0;
		}
		r->bytes_written += n;
		return n;
	}
	if (r->body_len + n > x->c->opt.max_body) {
		x->overflow = 1;
		return 0;
	}
	if (r->body_len + n + 1 > x->cap) {
		/* A secret is never moved by realloc: all of the cap at once. */
		ncap = x->cap ? x->cap : x->req->secret_reply ? x->c->opt.max_body + 1 : 4096;
		while (ncap < r->body_len + n + 1)
			ncap *= 2;
		nb = realloc(r->body, ncap);
		if (!nb) {
			x->local_err = ENOMEM;
			return 0;
		}
		r->body = nb;
		x->cap = ncap;
	}
	memcpy(r->body + r->body_len, data, n);
	r->body_len += n;
	r->body[r->body_len] = '\0';
	return n;
}

static size_t header_cb(char *data, size_t size, size_t nitems, void *arg)
{
	struct xfer *x = arg;
	struct http_response *r = x->resp;
	size_t n = size * nitems, nl, vl;
	const char *colon, *v, *end;
	struct http_header *nh;
	char *name = NULL, *value = NULL;
	size_t i;

	if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		/* A new status line (after a 100 Continue): forget the
		 * headers of the interim response. */
		headers_free(r->headers, r->n_headers);
		r->headers = NULL;
		r->n_headers = 0;
		return n;
	}
	colon = memchr(data, ':', n);
	if (!colon)
		return n;
	nl = (size_t)(colon - data);
	v = colon + 1;
	end = data + n;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	vl = (size_t)(end - v);
	name = strndup(data, nl);
	value = strndup(v, vl);
	nh = realloc(r->headers, (r->n_headers + 1) * sizeof(*nh));
	if (!name || !value || !nh) {
		free(name);
		free(value);
		if (nh)
			r->headers = nh;
		return n; /* a lost header is better than a failed transfer */
	}
	for (i = 0; i < nl; i++)
		name[i] = (char)tolower((unsigned char)name[i]);
	r->headers = nh;
	r->headers[r->n_headers].name = name;
	r->headers[r->n_headers].value = value;
	r->n_headers++;
	return n;
}

static enum wire_status status_of_http(long code)
{
	if (code >= 200 && code < 300)
		return WIRE_OK;
	switch (code) {
	case 401: return WIRE_AUTH;
	case 403: return WIRE_ACCESS_DENIED;
	case 404: return WIRE_NOT_FOUND;
	case 408: return WIRE_TIMEOUT;
	case 412: return WIRE_PRECONDITION;
	case 429: return WIRE_THROTTLED;
	}
	if (code >= 500)
		return WIRE_SERVER;
	if (code >= 400)
		return WIRE_CLIENT;
	return WIRE_BAD_RESPONSE;
}

static enum wire_status status_of_curl(CURLcode rc)
{
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT: return WIRE_TIMEOUT;
	case CURLE_OUT_OF_MEMORY: return WIRE_NOMEM;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL: return WIRE_INVALID;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
		/* Retrying cannot fix a certificate. */
		return WIRE_CLIENT;
	default: return WIRE_NETWORK;
	}
}

static struct curl_slist *slist_addf(struct curl_slist *l, int *oom, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static struct curl_slist *slist_addf(struct curl_slist *l, int *oom, const char *fmt, ...)
{
	char *line = NULL;
	struct curl_slist *nl;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&line, fmt, ap);
	va_end(ap);
	if (n < 0) {
		*oom = 1;
		return l;
	}
	nl = curl_slist_append(l, line);
	/* The line may hold the Authorization header: wipe our copy. */
	explicit_bzero(line, (size_t)n);
	free(line);
	if (!nl) {
		*oom = 1;
		return l;
	}
	return nl;
}

/* Frees a header list that may hold the Authorization header, wiping it. */
static void slist_wipe_free(struct curl_slist *l)
{
	struct curl_slist *p;

	for (p = l; p; p = p->next)
		if (p->data)
			explicit_bzero(p->data, strlen(p->data));
	curl_slist_free_all(l);
}

struct url_parts {
	char *host, *path, *query;
};

/* Long because one attempt is one curl set-up (signing, headers, body source and sink, timeouts)
 * and its outcome; split, it would pass the same dozen locals around. */
static enum wire_status attempt(struct http_client *c, CURL *h, const struct http_request *req,
				const struct url_parts *u, const char *payload_hash,
				struct http_response *resp, long timeout_ms, struct wire_error *err)
{
	enum wire_status st = WIRE_NOMEM;
	struct curl_slist *hl = NULL;
	struct sigv4_header *sh = NULL, *signed_out = NULL;
	size_t nsh = 0, n_out = 0, i;
	struct aws_creds creds = {0};
	struct sigv4_request sr;
	struct xfer x;
	CURLcode rc;
	int oom = 0, has_ct = 0, has_body, sign;
	char cerr[CURL_ERROR_SIZE] = "";

	memset(&x, 0, sizeof(x));
	x.c = c;
	x.req = req;
	x.resp = resp;
	x.h = h;
	x.body_total = req->body_fd >= 0 ? req->body_file_len : req->body_len;
	has_body = req->body_fd >= 0 || req->body != NULL || !strcmp(req->method, "PUT") ||
		   !strcmp(req->method, "POST");

	sign = req->service && c->creds;
	if (sign) {
		st = cred_provider_get(c->creds, &creds);
		if (st != WIRE_OK) {
			wire_error_set(err, st, "no usable credentials: %s", wire_status_str(st));
			goto out;
		}
		st = WIRE_NOMEM;
		sh = calloc(req->n_headers + 1, sizeof(*sh));
		if (!sh)
			goto out;
		sh[nsh].name = "host";
		sh[nsh++].value = u->host;
		for (i = 0; i < req->n_headers; i++) {
			sh[nsh].name = req->headers[i].name;
			sh[nsh++].value = req->headers[i].value;
		}
		memset(&sr, 0, sizeof(sr));
		sr.method = req->method;
		sr.path = u->path;
		sr.query = u->query[0] ? u->query : NULL;
		sr.headers = sh;
		sr.n_headers = nsh;
		sr.payload_hash = payload_hash;
		sr.region = req->region ? req->region : "us-east-1";
		sr.service = req->service;
		/* Signed afresh for every attempt: a retry minutes later needs a
		 * current date, and credentials may have been refreshed. */
		sr.when = (time_t)(wall_ms(c) / 1000);
		st = sigv4_sign(
		    &sr,
		    &(struct sigv4_creds){creds.access_key, creds.secret_key, creds.session_token},
		    &signed_out, &n_out);
		if (st != WIRE_OK) {
			wire_error_set(err, st, "cannot sign request: %s", wire_status_str(st));
			goto out;
		}
		st = WIRE_NOMEM;
	}

	hl = slist_addf(hl, &oom, "Host: %s", u->host);
	for (i = 0; i < req->n_headers; i++) {
		if (!strcasecmp(req->headers[i].name, "content-type"))
			has_ct = 1;
		hl = slist_addf(hl, &oom, "%s: %s", req->headers[i].name, req->headers[i].value);
	}
	for (i = 0; i < n_out; i++)
		hl = slist_addf(hl, &oom, "%s: %s", signed_out[i].name, signed_out[i].value);
	if (has_body && !has_ct)
		hl = slist_addf(hl, &oom, "Content-Type: application/octet-stream");
	/* libcurl would wait up to a second for a 100 Continue on big PUTs. */
	hl = slist_addf(hl, &oom, "Expect:");
	if (oom)
		goto out;

	curl_easy_setopt(h, CURLOPT_URL, req->url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(h, CURLOPT_SHARE, c->share);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->opt.connect_timeout_ms);
	if (req->out_fd >= 0) {
		/* A streamed download: a cap that scales with its size
		 * (progress_cb), curl's own timeout only as the hard maximum,
		 * and an abort when under 1 KiB/s for a request timeout. */
		x.start_ms = tfs_mono_ms();
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->opt.max_transfer_ms);
		curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, progress_cb);
		curl_easy_setopt(h, CURLOPT_XFERINFODATA, &x);
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME,
				 timeout_ms >= 2000 ? timeout_ms / 1000 : 1L);
	} else {
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	}
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (c->opt.ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->opt.ca_file);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	if (req->no_proxy)
		curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	if (!strcmp(req->method, "HEAD")) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (has_body) {
		/* UPLOAD streams the body through read_cb for any method. */
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x.body_total);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
		curl_easy_setopt(h, CURLOPT_READDATA, &x);
		curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, seek_cb);
		curl_easy_setopt(h, CURLOPT_SEEKDATA, &x);
		if (strcmp(req->method, "PUT") != 0)
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
	} else if (strcmp(req->method, "GET") != 0) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
	}

	http_count_request(c, req, u->query);
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
	if (rc != CURLE_OK) {
		if (x.overflow) {
			st = WIRE_BAD_RESPONSE;
			wire_error_set(err, st, "response body over the %zu byte cap",
				       c->opt.max_body);
		} else if (x.local_err == ENOMEM) {
			st = WIRE_NOMEM;
			wire_error_set(err, st, "out of memory for response");
		} else if (x.local_err) {
			st = WIRE_LOCAL_IO;
			wire_error_set(err, st, "local file i/o failed: %s", strerror(x.local_err));
		} else if (x.timed_out) {
			/* Retried like any other timeout. */
			st = WIRE_TIMEOUT;
			wire_error_set(
			    err, st, "reply not complete within %lld ms (%" PRIu64 " bytes in)",
			    (long long)(tfs_mono_ms() - x.start_ms), resp->bytes_written);
		} else {
			st = status_of_curl(rc);
			wire_error_set(err, st, "%s", cerr[0] ? cerr : curl_easy_strerror(rc));
		}
		goto out;
	}
	st = status_of_http(resp->status);
	if (st != WIRE_OK)
		wire_error_set(err, st, "HTTP %ld", resp->status);
out:
	/* curl keeps pointers to these until the next setopt; drop them. */
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	slist_wipe_free(hl);
	if (signed_out)
		sigv4_headers_free(signed_out, n_out);
	free(sh);
	aws_creds_clear(&creds);
	return st;
}

/* Reset what a previous attempt left in resp and in the output file. */
static enum wire_status reset_for_retry(const struct http_request *req, struct http_response *r,
					struct wire_error *err)
{
	http_response_free(r);
	r->status = 0;
	r->bytes_written = 0;
	if (req->out_fd >= 0) {
		while (ftruncate(req->out_fd, req->out_off) < 0) {
			if (errno == EINTR)
				continue;
			return wire_error_set(err, WIRE_LOCAL_IO, "cannot truncate output file: %s",
					      strerror(errno));
		}
	}
	return WIRE_OK;
}

/* Long because the retry loop and its budget rules (see the comment inside) are one piece of
 * logic. */
enum wire_status http_send(struct http_client *c, const struct http_request *req,
			   struct http_response *resp, struct wire_error *err)
{
	enum wire_status st = WIRE_INVALID;
	struct url_parts u = {0};
	char hash_buf[65];
	const char *payload_hash = req->payload_hash;
	int64_t start = tfs_mono_ms(), deadline, left;
	long timeout_ms, delay = 0;
	int capped;
	uint64_t body_len;
	CURL *h = NULL;
	struct wire_error own;
	char why[160];
	int healthy;

	if (!err)
		err = &own;
	wire_error_clear(err);
	memset(resp, 0, sizeof(*resp));
	resp->wipe = req->secret_reply;
	if (!req->method || !req->url || (req->body_fd >= 0 && req->body)) {
		wire_error_set(err, st, "invalid request");
		goto out;
	}
	if (http_url_split(req->url, NULL, &u.host, &u.path, &u.query) < 0) {
		wire_error_set(err, st, "malformed url");
		goto out;
	}
	body_len = req->body_fd >= 0 ? req->body_file_len : req->body_len;
	if (req->service && c->creds && !payload_hash) {
		if (req->body_fd >= 0) {
			st = file_sha256_hex(req->body_fd, req->body_off, req->body_file_len,
					     hash_buf, err);
			if (st != WIRE_OK)
				goto out;
		} else {
			sigv4_sha256_hex(req->body ? req->body : "", req->body_len, hash_buf);
		}
		payload_hash = hash_buf;
	}
	timeout_ms = transfer_timeout_ms(c, body_len);
	capped = req->budget_ms > 0 && req->budget_ms < c->opt.retry_budget_ms;
	deadline = start + (capped ? req->budget_ms : c->opt.retry_budget_ms);

	for (;;) {
		if (resp->attempts > 0) {
			st = reset_for_retry(req, resp, err);
			if (st != WIRE_OK)
				goto out;
			http_stat_inc(&c->stats.retries);
			sleep_ms(c, delay);
		}
		h = http_handle_get(c);
		if (!h) {
			st = WIRE_NOMEM;
			wire_error_set(err, st, "cannot create curl handle");
			goto out;
		}
		resp->attempts++;
		err->message[0] = '\0';
		/* A capped request never outlives its cap, one attempt included. */
		left = capped ? deadline - tfs_mono_ms() : timeout_ms;
		st = attempt(c, h, req, &u, payload_hash, resp,
			     left < timeout_ms ? (left > 0 ? left : 1) : timeout_ms, err);
		healthy = st == WIRE_OK || resp->status != 0;
		http_handle_put(c, h, healthy);
		h = NULL;
		if (st != WIRE_OK && resp->status != 0 && req->classify) {
			enum wire_status cst = req->classify(resp, req->classify_arg);

			if (cst != WIRE_OK)
				st = cst;
		}
		if (st == WIRE_OK || !wire_status_is_retryable(st) || req->no_retry)
			break;
		if (resp->attempts >= c->opt.max_attempts)
			break;
		delay = backoff_delay(c, resp->attempts - 1);
		/* The budget bounds when an attempt may start: never begin one
		 * (or a sleep) that starts past it. Except the second: one
		 * attempt that timed out (request timeout > budget) would
		 * otherwise never be retried, so a single slow reply would fail
		 * the request. Worst case: 2 timeouts, or budget + 1 timeout.
		 * A capped request (budget_ms) has no such exception: its cap
		 * is a hard bound, and each attempt was cut to fit inside it. */
		if ((resp->attempts > 1 || capped) && tfs_mono_ms() + delay >= deadline)
			break;
		log_debug("%s %s: %s (%s), retrying in %ld ms", req->method, u.path,
			  wire_status_str(st), err->message, delay);
	}
	if (st != WIRE_OK && (resp->attempts > 1 || wire_status_is_retryable(st))) {
		snprintf(why, sizeof(why), "%.150s", err->message);
		wire_error_set(err, st, "%s after %d attempt%s in %lld ms", why, resp->attempts,
			       resp->attempts == 1 ? "" : "s", (long long)(tfs_mono_ms() - start));
	}
out:
	/* The class decided last (classify may have refined it), whatever
	 * set the message. */
	if (st == WIRE_OK) {
		wire_error_clear(err);
	} else {
		err->status = st;
		err->http_status = resp->status;
	}
	free(u.host);
	free(u.path);
	free(u.query);
	return st;
}
