/* Unit tests of s3/http.c that need no peer: URI encoding, request
 * defaults, and the retry loop (attempt count, full-jitter backoff bounds,
 * the final message, no_retry) against a loopback port that refuses
 * connections, with the backoff sleep injected. */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "s3/http.h"
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
	ws = http_send(c, &req, &resp);
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
	TAP_OK(strstr(resp.error, "after 5 attempts") != NULL, "final error says so: %s",
	       resp.error);
	http_response_free(&resp);
	http_client_stats(c, &st);
	TAP_OK(st.retries == 4, "4 retries counted (%llu)", (unsigned long long)st.retries);

	req.no_retry = 1;
	n_delays = 0;
	ws = http_send(c, &req, &resp);
	TAP_OK(ws == WIRE_NETWORK && resp.attempts == 1 && n_delays == 0,
	       "no_retry: one attempt, no sleep");
	http_response_free(&resp);

	req.no_retry = 0;
	req.url = "not a url";
	ws = http_send(c, &req, &resp);
	TAP_OK(ws == WIRE_INVALID, "malformed url is invalid, not retried (%s, %d attempts)",
	       wire_status_str(ws), resp.attempts);
	http_response_free(&resp);
out:
	if (fd >= 0)
		close(fd);
	http_client_free(c);
}

static void test_budget(void)
{
	/* Real sleeps, a 300 ms budget, attempts unbounded in practice: the
	 * budget must stop it. */
	struct http_options o = {.max_attempts = 1000,
				 .backoff_base_ms = 50,
				 .backoff_cap_ms = 100,
				 .retry_budget_ms = 300};
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
	http_send(c, &req, &resp);
	TAP_OK(resp.attempts > 1 && resp.attempts < 1000,
	       "retry budget stops the loop (%d attempts)", resp.attempts);
	http_response_free(&resp);
out:
	if (fd >= 0)
		close(fd);
	http_client_free(c);
}

int main(void)
{
	test_encode();
	test_retries();
	test_budget();
	return TAP_DONE();
}
