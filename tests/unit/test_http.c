/* Unit tests of s3/wire/http.c that need no peer: URI encoding, request
 * defaults, the retry loop (attempt count, full-jitter backoff bounds, the
 * final message, no_retry) against a loopback port that refuses
 * connections, with the backoff sleep injected, the time cap of a
 * streamed GET against a loopback server thread that trickles its reply,
 * and a request's own time cap against a port that never answers. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "s3/wire/http.h"
#include "tests/unit/tap.h"

static long delays[64];
static int n_delays;

static void fake_sleep(long ms)
{
	if (n_delays < 64)
		delays[n_delays++] = ms;
}

static void test_encode(void)
{
	char *s;

	s = http_uri_encode("a/b c+d%e~f_g.h-i", 1);
	TAP_STREQ(s, "a/b%20c%2Bd%25e~f_g.h-i", "encode keeps '/' when asked");
	free(s);
	s = http_uri_encode("a/b=c&d", 0);
	TAP_STREQ(s, "a%2Fb%3Dc%26d", "encode of a query value escapes '/', '=', '&'");
	free(s);
	s = http_uri_encode("\xc3\xa9", 1);
	TAP_STREQ(s, "%C3%A9", "UTF-8 bytes as upper-case %XX");
	free(s);
	s = http_uri_encode("", 1);
	TAP_STREQ(s, "", "empty string");
	free(s);
}

/* A TCP socket bound but never listening: connecting to it is refused at
 * once, with no race against another process taking the port. */
static int refusing_port(int *fd)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	*fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*fd < 0 || bind(*fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(*fd, (struct sockaddr *)&sa, &len) < 0)
		return -1;
	return ntohs(sa.sin_port);
}

static void test_retries(void)
{
	struct wire_error err = {0};
	struct http_options o = {.max_attempts = 5,
				 .backoff_base_ms = 100,
				 .backoff_cap_ms = 250,
				 .retry_budget_ms = 60000,
				 .connect_timeout_ms = 2000,
				 .sleep_ms = fake_sleep};
	struct http_client *c = http_client_new(&o, NULL);
	struct http_request req;
	struct http_response resp;
	struct http_stats st;
	enum wire_status ws;
	char url[128];
	int fd = -1, port = refusing_port(&fd), i, bounded = 1;

	TAP_OK(c != NULL && port > 0, "client and refusing port");
	if (!c || port <= 0)
		goto out;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/bucket/key", port);
	http_request_init(&req);
	TAP_OK(req.body_fd == -1 && req.out_fd == -1 && req.body == NULL,
	       "request_init: no body, no output file");
	req.method = "GET";
	req.url = url;
	n_delays = 0;
	ws = http_send(c, &req, &resp, &err);
	TAP_OK(ws == WIRE_NETWORK, "refused connection is a network error (%s)",
	       wire_status_str(ws));
	TAP_OK(resp.attempts == 5 && n_delays == 4, "5 attempts, 4 backoff sleeps (%d, %d)",
	       resp.attempts, n_delays);
	for (i = 0; i < n_delays; i++) {
		long ceiling = 100L << i;

		if (ceiling > 250)
			ceiling = 250;
		if (delays[i] < 0 || delays[i] > ceiling)
			bounded = 0;
	}
	TAP_OK(bounded, "each delay within [0, min(cap, base*2^n)]: %ld %ld %ld %ld", delays[0],
	       delays[1], delays[2], delays[3]);
	TAP_OK(strstr(err.message, "after 5 attempts") != NULL, "final error says so: %s",
	       err.message);
	TAP_OK(err.status == WIRE_NETWORK && wire_status_is_retryable(err.status) &&
		   err.http_status == 0 && !err.code[0],
	       "error record: network error, retryable, no reply, no code");
	http_response_free(&resp);
	http_client_stats(c, &st);
	TAP_OK(st.retries == 4, "4 retries counted (%llu)", (unsigned long long)st.retries);

	req.no_retry = 1;
	n_delays = 0;
	ws = http_send(c, &req, &resp, &err);
	TAP_OK(ws == WIRE_NETWORK && resp.attempts == 1 && n_delays == 0,
	       "no_retry: one attempt, no sleep");
	http_response_free(&resp);

	req.no_retry = 0;
	req.url = "not a url";
	ws = http_send(c, &req, &resp, &err);
	TAP_OK(ws == WIRE_INVALID, "malformed url is invalid, not retried (%s, %d attempts)",
	       wire_status_str(ws), resp.attempts);
	http_response_free(&resp);
out:
	if (fd >= 0)
		close(fd);
	http_client_free(c);
}

/* Sleeps for real and adds up what it slept. */
static long slept_total;

static void real_sleep(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	slept_total += ms;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void test_budget(void)
{
	struct wire_error err = {0};
	/* Real sleeps and a 300 ms budget: the budget must stop the loop, and
	 * no backoff may start that would end past the budget. The attempt
	 * cap (60) is far above what the budget lets through: backoffs are
	 * uniform in [0, 50] then [0, 100] ms, so 59 of them average about
	 * 2.9 s, and staying inside 300 ms is as likely as 59 draws averaging
	 * 5 ms. A client that ignores the budget ends at the cap, within
	 * seconds, and fails the check below. */
	struct http_options o = {.max_attempts = 60,
				 .backoff_base_ms = 50,
				 .backoff_cap_ms = 100,
				 .retry_budget_ms = 300,
				 .sleep_ms = real_sleep};
	struct http_client *c = http_client_new(&o, NULL);
	struct http_request req;
	struct http_response resp;
	char url[128];
	int fd = -1, port = refusing_port(&fd);

	if (!c || port <= 0) {
		TAP_OK(0, "client and refusing port");
		goto out;
	}
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
	http_request_init(&req);
	req.method = "HEAD";
	req.url = url;
	slept_total = 0;
	http_send(c, &req, &resp, &err);
	TAP_OK(resp.attempts > 1 && resp.attempts < o.max_attempts && slept_total < 300,
	       "retry budget stops the loop (%d attempts, %ld ms of backoff in a 300 ms budget)",
	       resp.attempts, slept_total);
	http_response_free(&resp);
out:
	if (fd >= 0)
		close(fd);
	http_client_free(c);
}

/* ---- a trickling server ---- */

/* Serves each connection one reply: Content-Length len, the body sent in
 * chunks of chunk bytes every gap_ms. Each connection is given up after
 * give_up_ms, so a client without a time cap still ends (with a short
 * body) and the test stays bounded. */
struct trickle {
	int lfd;
	uint64_t len;
	size_t chunk;
	long gap_ms;
	long give_up_ms;
	int stop;	 /* set by the test; atomic */
	int connections; /* written by the server thread only; read after join */
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void serve_one(struct trickle *t, int fd)
{
	static char body[64 * 1024];
	char hdr[160], req[4096];
	uint64_t sent = 0;
	int64_t start = now_ms();
	size_t got = 0;
	int n;

	memset(body, 'x', sizeof(body));
	/* Read the request head (no body for a GET). */
	while (got < sizeof(req) - 1 && !memmem(req, got, "\r\n\r\n", 4)) {
		ssize_t r = recv(fd, req + got, sizeof(req) - 1 - got, 0);

		if (r <= 0)
			return;
		got += (size_t)r;
	}
	n = snprintf(hdr, sizeof(hdr),
		     "HTTP/1.1 200 OK\r\nContent-Length: %llu\r\n"
		     "Content-Type: application/octet-stream\r\n\r\n",
		     (unsigned long long)t->len);
	if (send(fd, hdr, (size_t)n, MSG_NOSIGNAL) != n)
		return;
	while (sent < t->len && !__atomic_load_n(&t->stop, __ATOMIC_RELAXED) &&
	       now_ms() - start < t->give_up_ms) {
		size_t k = t->chunk < t->len - sent ? t->chunk : (size_t)(t->len - sent);
		ssize_t w;

		if (k > sizeof(body))
			k = sizeof(body);
		w = send(fd, body, k, MSG_NOSIGNAL);
		if (w <= 0)
			return; /* the client gave up */
		sent += (uint64_t)w;
		if (t->gap_ms > 0)
			poll(NULL, 0, (int)t->gap_ms);
	}
}

static void *trickle_main(void *arg)
{
	struct trickle *t = arg;

	while (!__atomic_load_n(&t->stop, __ATOMIC_RELAXED)) {
		struct pollfd p = {.fd = t->lfd, .events = POLLIN};
		int fd;

		if (poll(&p, 1, 100) <= 0)
			continue;
		fd = accept4(t->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		t->connections++;
		serve_one(t, fd);
		close(fd);
	}
	return NULL;
}

static int trickle_start(struct trickle *t, pthread_t *th)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	t->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (t->lfd < 0 || bind(t->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(t->lfd, 4) < 0 || getsockname(t->lfd, (struct sockaddr *)&sa, &len) < 0 ||
	    pthread_create(th, NULL, trickle_main, t) != 0) {
		if (t->lfd >= 0)
			close(t->lfd);
		return -1;
	}
	return ntohs(sa.sin_port);
}

static void trickle_stop(struct trickle *t, pthread_t th)
{
	__atomic_store_n(&t->stop, 1, __ATOMIC_RELAXED);
	pthread_join(th, NULL);
	close(t->lfd);
}

static int temp_file(void)
{
	const char *base = getenv("TFS_TEST_TMP");
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/tfs-http-XXXXXX", base ? base : "/tmp");
	fd = mkostemp(path, O_CLOEXEC);
	if (fd >= 0)
		unlink(path);
	return fd;
}

/* A GET streamed to a file whose reply trickles in above the low-speed
 * floor (1 KiB/s) must not pin the thread for as long as the server
 * likes: it times out like any other slow attempt and is retried. */
static void test_get_time_cap(void)
{
	struct wire_error err = {0};
	struct http_options o = {.max_attempts = 2,
				 .request_timeout_ms = 1000,
				 .retry_budget_ms = 60000,
				 .sleep_ms = fake_sleep};
	/* 100 KB at 4 KiB/s: 25 s a connection; given up after 8 s. */
	struct trickle t = {.len = 100000, .chunk = 256, .gap_ms = 60, .give_up_ms = 8000};
	struct http_client *c = http_client_new(&o, NULL);
	struct http_request req;
	struct http_response resp;
	struct stat sb;
	enum wire_status ws;
	pthread_t th;
	char url[128];
	int port = -1, fd = temp_file();

	if (c && fd >= 0)
		port = trickle_start(&t, &th);
	TAP_OK(c && fd >= 0 && port > 0, "client, temp file and trickling server");
	if (port <= 0)
		goto out;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/bucket/slow", port);
	http_request_init(&req);
	req.method = "GET";
	req.url = url;
	req.out_fd = fd;
	n_delays = 0;
	ws = http_send(c, &req, &resp, &err);
	trickle_stop(&t, th);
	TAP_OK(ws == WIRE_TIMEOUT, "a trickling GET times out (%s: %s)", wire_status_str(ws),
	       err.message);
	TAP_OK(resp.attempts == 2 && t.connections == 2 && n_delays == 1,
	       "and is retried like another transient failure (%d attempts, %d connections)",
	       resp.attempts, t.connections);
	TAP_OK(fstat(fd, &sb) == 0 && (uint64_t)sb.st_size == resp.bytes_written &&
		   resp.bytes_written < t.len,
	       "the file holds only the last attempt's partial bytes (%lld, %llu written)",
	       (long long)sb.st_size, (unsigned long long)resp.bytes_written);
	http_response_free(&resp);
out:
	if (fd >= 0)
		close(fd);
	http_client_free(c);
}

/* The cap scales with the size the reply announces: a large object that
 * takes several request timeouts to arrive, at a steady rate above the
 * floor the cap assumes (1 MiB/s), still downloads. */
static void test_get_large_ok(void)
{
	struct wire_error err = {0};
	struct http_options o = {.max_attempts = 1, .request_timeout_ms = 1000};
	/* 6 MiB in 64 KiB chunks every 40 ms: about 1.6 MiB/s, 4 s in all
	 * (four request timeouts); the cap is 1 s + 6 s. */
	struct trickle t = {.len = 6u << 20, .chunk = 64 * 1024, .gap_ms = 40, .give_up_ms = 30000};
	struct http_client *c = http_client_new(&o, NULL);
	struct http_request req;
	struct http_response resp;
	enum wire_status ws;
	pthread_t th;
	char url[128];
	int port = -1, fd = temp_file();
	int64_t start;

	if (c && fd >= 0)
		port = trickle_start(&t, &th);
	TAP_OK(c && fd >= 0 && port > 0, "client, temp file and steady server");
	if (port <= 0)
		goto out;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/bucket/big", port);
	http_request_init(&req);
	req.method = "GET";
	req.url = url;
	req.out_fd = fd;
	start = now_ms();
	ws = http_send(c, &req, &resp, &err);
	trickle_stop(&t, th);
	TAP_OK(ws == WIRE_OK && resp.bytes_written == t.len,
	       "6 MiB over %lld ms with a 1000 ms request timeout downloads (%s: %s, %llu bytes)",
	       (long long)(now_ms() - start), wire_status_str(ws), err.message,
	       (unsigned long long)resp.bytes_written);
	http_response_free(&resp);
out:
	if (fd >= 0)
		close(fd);
	http_client_free(c);
}

/* A request's own cap (budget_ms) ends even a hung attempt: a port that
 * listens but never answers, a 30 s request timeout and a 20 s retry
 * budget that would let a second 30 s attempt start. */
static void test_request_cap(void)
{
	struct wire_error err = {0};
	struct http_options o = {.retry_budget_ms = 20000, .request_timeout_ms = 30000};
	struct http_client *c = http_client_new(&o, NULL);
	struct http_request req;
	struct http_response resp;
	struct timespec t0, t1;
	enum wire_status ws;
	char url[128];
	int fd = -1, port = refusing_port(&fd);
	long took;

	if (!c || port <= 0 || listen(fd, 8) < 0) {
		TAP_OK(0, "client and silent port");
		goto out;
	}
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
	http_request_init(&req);
	req.method = "GET";
	req.url = url;
	req.budget_ms = 300;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ws = http_send(c, &req, &resp, &err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	took = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	TAP_OK(ws == WIRE_TIMEOUT && resp.attempts == 1,
	       "a hung request with budget_ms is one attempt that times out (%s, %d attempts)",
	       wire_status_str(ws), resp.attempts);
	/* Which timer ended it, not how fast: the cap, not the 30 s timeout. */
	TAP_OK(took < 10000, "the cap ended it, not the request timeout (%ld ms)", took);
	http_response_free(&resp);
out:
	if (fd >= 0)
		close(fd);
	http_client_free(c);
}

/* The one URL splitter (libcurl's URL API) the client and the S3
 * endpoint parsing share. */
static void test_url_split(void)
{
	char *sc, *h, *p, *q;

	TAP_OK(http_url_split("http://127.0.0.1:5000", &sc, &h, &p, &q) == 0 &&
		   !strcmp(sc, "http") && !strcmp(h, "127.0.0.1:5000") && !strcmp(p, "/") &&
		   !strcmp(q, ""),
	       "scheme, host with its port, path \"/\", no query");
	free(sc), free(h), free(p), free(q);
	TAP_OK(http_url_split("https://s3.example.com:443/base/x/../y/?a=1&b", &sc, &h, &p, &q) ==
		       0 &&
		   !strcmp(sc, "https") && !strcmp(h, "s3.example.com") && !strcmp(p, "/base/y/") &&
		   !strcmp(q, "a=1&b"),
	       "default port dropped, dot segments removed, query kept (%s %s)", h, p);
	free(sc), free(h), free(p), free(q);
	TAP_OK(http_url_split("http://[::1]:9000/", NULL, &h, &p, &q) == 0 &&
		   !strcmp(h, "[::1]:9000"),
	       "an IPv6 host keeps its brackets (%s)", h);
	free(h), free(p), free(q);
	TAP_OK(http_url_split("not a url", &sc, &h, &p, &q) == -EINVAL && !sc && !h && !p && !q,
	       "a malformed url is -EINVAL, nothing to free");
	TAP_OK(http_url_split("http://", &sc, &h, &p, &q) == -EINVAL,
	       "a url without a host is -EINVAL");
}

int main(void)
{
	test_url_split();
	test_encode();
	test_retries();
	test_budget();
	test_get_time_cap();
	test_get_large_ok();
	test_request_cap();
	return TAP_DONE();
}
