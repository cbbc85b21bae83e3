/* S3 client and S3 store against moto_server ($TFS_TEST_MOTO): round trips
 * of 0 B, 1 B and 20 MiB (multipart), head, delete, conditional PUT and
 * GET, paginated listing, odd key names, and the store_ops over it (a put
 * onto a key holding other bytes fails).
 * Skips (77) when TFS_TEST_MOTO is unset. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache/store/store.h"
#include "s3/wire/creds.h"
#include "s3/wire/http.h"
#include "s3/wire/s3.h"
#include "tests/unit/tap.h"

static char tmpdir[4096];

/* A temp file holding len bytes of data (or a byte pattern when NULL). */
static int make_file(const void *data, size_t len)
{
	char path[4200];
	int fd;

	snprintf(path, sizeof(path), "%s/s3moto-XXXXXX", tmpdir);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return -1;
	unlink(path);
	if (len && pwrite(fd, data, len, 0) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	return fd;
}

static char *read_all(int fd, size_t *len)
{
	struct stat sb;
	char *buf;

	if (fstat(fd, &sb) < 0)
		return NULL;
	buf = malloc((size_t)sb.st_size + 1);
	if (!buf)
		return NULL;
	if (pread(fd, buf, (size_t)sb.st_size, 0) != sb.st_size) {
		free(buf);
		return NULL;
	}
	*len = (size_t)sb.st_size;
	return buf;
}

/* Puts data under key and reads it back; true when the bytes match. */
static int round_trip(struct s3_client *c, const char *key, const void *data, size_t len,
		      const char *hash)
{
	struct s3_put_options po = {.meta_xxh3 = hash};
	struct s3_object_info pi, gi, hi;
	struct wire_error err = {0};
	enum wire_status st;
	int in = make_file(data, len), out = make_file(NULL, 0), good = 0;
	size_t got_len = 0;
	char *got = NULL;

	if (in < 0 || out < 0)
		goto out;
	st = s3_put_file(c, key, in, len, &po, &pi, &err);
	TAP_OK(st == WIRE_OK, "put %zu bytes as '%s' (%s %s)", len, key, wire_status_str(st),
	       err.message);
	if (st != WIRE_OK)
		goto out;
	st = s3_get_to_file(c, key, out, 0, 0, NULL, &gi, &err);
	TAP_OK(st == WIRE_OK, "get '%s' (%s %s)", key, wire_status_str(st), err.message);
	got = read_all(out, &got_len);
	good = got && got_len == len && (len == 0 || memcmp(got, data, len) == 0);
	TAP_OK(good, "'%s': %zu bytes read back equal the %zu put", key, got_len, len);
	TAP_OK(gi.size == len && strcmp(gi.etag, pi.etag) == 0 && gi.mtime_ms > 0,
	       "get info: size %" PRIu64 ", etag %s (put said %s)", gi.size, gi.etag, pi.etag);
	st = s3_head(c, key, &hi, &err);
	TAP_OK(st == WIRE_OK && hi.size == len && strcmp(hi.meta_hash, hash) == 0,
	       "head '%s': size %" PRIu64 ", x-amz-meta-xxh3 '%s'", key, hi.size, hi.meta_hash);
out:
	free(got);
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return good;
}

static void test_round_trips(struct s3_client *c, struct http_client *http)
{
	size_t big = (20u << 20) + 123, i;
	unsigned char *data = malloc(big);
	struct http_stats before, after;
	uint64_t x = 0x1234567887654321ULL;

	if (!data) {
		TAP_OK(0, "malloc 20 MiB");
		return;
	}
	for (i = 0; i < big; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		data[i] = (unsigned char)x;
	}
	round_trip(c, "rt/empty.db", "", 0, "h0");
	round_trip(c, "rt/one.db", "x", 1, "h1");
	http_client_stats(http, &before);
	round_trip(c, "rt/big.db", data, big, "h20");
	http_client_stats(http, &after);
	/* 20 MiB over the 16 MiB threshold in 8 MiB parts: 3 part PUTs plus
	 * initiate and complete (POSTs). */
	TAP_OK(after.s3_put - before.s3_put == 3 && after.s3_other - before.s3_other == 2,
	       "20 MiB went multipart: %" PRIu64 " part PUTs, %" PRIu64 " POSTs",
	       after.s3_put - before.s3_put, after.s3_other - before.s3_other);
	free(data);
}

static void test_conditional(struct s3_client *c)
{
	struct s3_put_options po = {.meta_xxh3 = "first", .if_none_match = 1};
	struct wire_error err = {0};
	struct s3_object_info oi;
	enum wire_status st;
	int a = make_file("original", 8), b = make_file("intruder!", 9), out = make_file(NULL, 0);
	size_t n = 0;
	char *got = NULL;

	st = s3_put_file(c, "cond/k.db", a, 8, &po, &oi, &err);
	TAP_OK(st == WIRE_OK, "conditional put of a new key succeeds (%s)", wire_status_str(st));
	po.meta_xxh3 = "second";
	st = s3_put_file(c, "cond/k.db", b, 9, &po, NULL, &err);
	TAP_OK(st == WIRE_PRECONDITION, "conditional put on an existing key: %s (%s)",
	       wire_status_str(st), err.message);
	st = s3_get_to_file(c, "cond/k.db", out, 0, 0, NULL, &oi, &err);
	got = read_all(out, &n);
	TAP_OK(st == WIRE_OK && got && n == 8 && memcmp(got, "original", 8) == 0 &&
		   strcmp(oi.meta_hash, "first") == 0,
	       "object unchanged after the refused put");
	free(got);

	st = s3_get_to_file(c, "cond/k.db", out, 0, 0, "\"0123456789abcdef0123456789abcdef\"", NULL,
			    &err);
	TAP_OK(st == WIRE_PRECONDITION, "GET with a stale If-Match: %s", wire_status_str(st));
	st = s3_get_to_file(c, "cond/k.db", out, 0, 0, oi.etag, NULL, &err);
	TAP_OK(st == WIRE_OK, "GET with the current If-Match: %s", wire_status_str(st));
	st = s3_get_to_file(c, "cond/k.db", out, 2, 3, NULL, &oi, &err);
	got = read_all(out, &n);
	TAP_OK(st == WIRE_OK && got && n >= 5 && memcmp(got + 2, "igi", 3) == 0 && oi.size == 8,
	       "ranged GET of 3 bytes at 2 lands at offset 2; whole size %" PRIu64, oi.size);
	free(got);
	close(a);
	close(b);
	close(out);
}

static void test_missing_and_delete(struct s3_client *c, struct s3_client *nob)
{
	struct wire_error err = {0};
	struct s3_object_info oi;
	enum wire_status st;
	int out = make_file(NULL, 0), in = make_file("d", 1);

	st = s3_get_to_file(c, "nope/missing.db", out, 0, 0, NULL, &oi, &err);
	TAP_OK(st == WIRE_NOT_FOUND, "GET of a missing key: %s (%s)", wire_status_str(st),
	       err.message);
	TAP_OK(strstr(err.message, "NoSuchKey") != NULL, "error names NoSuchKey: %s", err.message);
	TAP_OK(err.status == WIRE_NOT_FOUND && !wire_status_is_retryable(err.status) &&
		   err.http_status == 404 && strcmp(err.code, "NoSuchKey") == 0,
	       "error record: not found, not retryable, http %ld, code '%s'", err.http_status,
	       err.code);
	st = s3_head(c, "nope/missing.db", &oi, &err);
	TAP_OK(st == WIRE_NOT_FOUND, "HEAD of a missing key: %s", wire_status_str(st));
	st = s3_get_to_file(nob, "k", out, 0, 0, NULL, &oi, &err);
	TAP_OK(st == WIRE_NO_BUCKET, "GET in a missing bucket: %s", wire_status_str(st));
	st = s3_head_bucket(nob, &err);
	TAP_OK(st == WIRE_NO_BUCKET, "HEAD of a missing bucket: %s", wire_status_str(st));
	st = s3_head_bucket(c, &err);
	TAP_OK(st == WIRE_OK, "HEAD of our bucket: %s", wire_status_str(st));

	st = s3_put_file(c, "del/x.db", in, 1, NULL, NULL, &err);
	TAP_OK(st == WIRE_OK, "put before delete");
	st = s3_delete(c, "del/x.db", &err);
	TAP_OK(st == WIRE_OK, "delete: %s", wire_status_str(st));
	st = s3_head(c, "del/x.db", &oi, &err);
	TAP_OK(st == WIRE_NOT_FOUND, "deleted key is gone: %s", wire_status_str(st));
	st = s3_delete(c, "del/x.db", &err);
	TAP_OK(st == WIRE_OK, "delete of a missing key is ok: %s", wire_status_str(st));
	close(out);
	close(in);
}

static void test_list(struct s3_client *c)
{
	static const char *keys[] = {"ls/a.db",	  "ls/b c.db", "ls/d+e.db", "ls/f%g.db",
				     "ls/h/i.db", "ls/j~k.db", "ls/z.db"};
	size_t nk = sizeof(keys) / sizeof(keys[0]), i, seen = 0;
	struct wire_error err = {0};
	struct s3_list_page page;
	enum wire_status st = WIRE_OK;
	char *token = NULL;
	int pages = 0, in = make_file("L", 1), order_ok = 1;
	char last[256] = "";

	for (i = 0; i < nk; i++)
		if (s3_put_file(c, keys[i], in, 1, NULL, NULL, &err) != WIRE_OK)
			break;
	TAP_OK(i == nk, "put %zu keys with odd characters (%s)", nk, err.message);
	do {
		st = s3_list_page(c, "ls/", token, 2, &page, &err);
		free(token);
		token = NULL;
		if (st != WIRE_OK)
			break;
		pages++;
		for (i = 0; i < page.n; i++) {
			if (seen < nk && strcmp(page.entries[i].key, keys[seen]) != 0)
				order_ok = 0;
			if (strcmp(page.entries[i].key, last) <= 0 || page.entries[i].size != 1)
				order_ok = 0;
			snprintf(last, sizeof(last), "%s", page.entries[i].key);
			seen++;
		}
		token = page.next;
		page.next = NULL;
		s3_list_page_free(&page);
	} while (token && pages < 100);
	TAP_OK(st == WIRE_OK, "listing pages: %s (%s)", wire_status_str(st), err.message);
	TAP_OK(pages == 4, "7 keys at 2 per page: %d pages", pages);
	TAP_OK(seen == nk && order_ok, "every key once, in order, names intact (%zu seen)", seen);
	free(token);

	st = s3_list_page(c, "ls/h/", NULL, 0, &page, &err);
	TAP_OK(st == WIRE_OK && page.n == 1 && strcmp(page.entries[0].key, "ls/h/i.db") == 0 &&
		   page.next == NULL,
	       "prefix narrows the listing");
	s3_list_page_free(&page);
	st = s3_list_page(c, "no-such-prefix/", NULL, 0, &page, &err);
	TAP_OK(st == WIRE_OK && page.n == 0 && page.next == NULL, "empty listing");
	s3_list_page_free(&page);
	close(in);
}

static int count_cb(void *arg, const char *key, const struct store_info *info)
{
	int *n = arg;

	if (info->size == 5 && strncmp(key, "st/", 3) == 0)
		(*n)++;
	return 0;
}

static void test_store(struct s3_client *c)
{
	struct store *s = store_s3_new(c);
	struct store_info si;
	int in = make_file("store", 5), other = make_file("other", 5), out = make_file(NULL, 0);
	char *token = NULL, *got = NULL;
	int rc, n = 0, rounds = 0;
	size_t len = 0;

	TAP_OK(s != NULL, "store_s3_new");
	if (!s)
		return;
	TAP_OK(s->ops->check(s) == 0, "store check on an existing bucket");
	rc = s->ops->put(s, "st/1.db", in, 5, "hash1");
	TAP_OK(rc == 0, "store put: %d", rc);
	/* The same bytes again: the 412 is success once a HEAD shows the
	 * object has this size and hash. */
	rc = s->ops->put(s, "st/1.db", in, 5, "hash1");
	TAP_OK(rc == 0, "store put of a key already holding these bytes is success: %d", rc);
	if (pwrite(out, "garbage-longer-than-five", 24, 0) != 24)
		TAP_OK(0, "prefill output");
	rc = s->ops->get(s, "st/1.db", out, &si);
	got = read_all(out, &len);
	TAP_OK(rc == 0 && got && len == 5 && memcmp(got, "store", 5) == 0 && si.size == 5,
	       "store get truncates and writes the original bytes (%d, %zu bytes)", rc, len);
	free(got);
	rc = s->ops->head(s, "st/1.db", &si);
	TAP_OK(rc == 0 && si.size == 5 && si.mtime_ms > 0, "store head");
	s->ops->put(s, "st/2.db", in, 5, "hash2");
	do {
		rc = s->ops->list(s, "st/", &token, count_cb, &n);
	} while (rc == 0 && token && ++rounds < 100);
	TAP_OK(rc == 0 && n == 2 && token == NULL, "store list sees both keys (%d)", n);
	free(token);
	rc = s->ops->del(s, "st/1.db");
	TAP_OK(rc == 0, "store del");
	rc = s->ops->get(s, "st/1.db", out, &si);
	TAP_OK(rc == -ENOENT, "store get of a deleted key: %d", rc);
	rc = s->ops->head(s, "st/1.db", &si);
	TAP_OK(rc == -ENOENT, "store head of a deleted key: %d", rc);
	store_free(s);
	close(in);
	close(other);
	close(out);
}

/* A key that already holds other bytes (another writer, a bug, a torn
 * upload by some other tool): the 412 of If-None-Match: * must not count as
 * uploaded, or a commit would publish a pointer to the wrong bytes. */
static void test_store_existing(struct s3_client *c)
{
	struct store *s = store_s3_new(c);
	struct s3_put_options po = {0};
	struct wire_error err = {0};
	struct s3_object_info oi;
	uint64_t big = (20u << 20) + 123; /* rt/big.db, from test_round_trips */
	int in = make_file("store", 5), other = make_file("other", 5),
	    longer = make_file("longer!", 7);
	int out = make_file(NULL, 0), bigf = make_file(NULL, 0);
	char *got = NULL;
	size_t len = 0;
	int rc;

	if (!s || in < 0 || other < 0 || longer < 0 || out < 0 || bigf < 0 ||
	    ftruncate(bigf, (off_t)big) < 0) {
		TAP_OK(0, "store and files for the existing-key tests");
		goto out;
	}
	po.meta_xxh3 = "hash-other";
	s3_put_file(c, "stx/other.db", other, 5, &po, NULL, &err);
	rc = s->ops->put(s, "stx/other.db", in, 5, "hash-store");
	TAP_OK(rc == -EIO, "store put onto other bytes of the same size fails: %d", rc);
	rc = s->ops->get(s, "stx/other.db", out, NULL);
	got = read_all(out, &len);
	TAP_OK(rc == 0 && got && len == 5 && memcmp(got, "other", 5) == 0,
	       "and the object there is left alone");
	free(got);

	po.meta_xxh3 = "hash-store";
	s3_put_file(c, "stx/longer.db", longer, 7, &po, NULL, &err);
	rc = s->ops->put(s, "stx/longer.db", in, 5, "hash-store");
	TAP_OK(rc == -EIO, "store put onto an object of another size (same hash) fails: %d", rc);

	s3_put_file(c, "stx/nometa.db", other, 5, NULL, NULL, &err);
	rc = s->ops->put(s, "stx/nometa.db", in, 5, "hash-store");
	TAP_OK(rc == -EIO, "store put onto an object without a hash fails: %d", rc);

	/* Multipart size: the client HEADs before uploading any part. */
	rc = s->ops->put(s, "rt/big.db", bigf, big, "h20-other");
	TAP_OK(rc == -EIO, "multipart store put onto another 20 MiB object fails: %d", rc);
	rc = s->ops->put(s, "rt/big.db", bigf, big, "h20");
	TAP_OK(rc == 0, "multipart store put onto the same size and hash is success: %d", rc);
	TAP_OK(s3_head(c, "rt/big.db", &oi, &err) == WIRE_OK && strcmp(oi.meta_hash, "h20") == 0,
	       "and the object keeps its hash (%s)", oi.meta_hash);
out:
	store_free(s);
	if (in >= 0)
		close(in);
	if (other >= 0)
		close(other);
	if (longer >= 0)
		close(longer);
	if (out >= 0)
		close(out);
	if (bigf >= 0)
		close(bigf);
}

int main(void)
{
	const char *moto = getenv("TFS_TEST_MOTO"), *tmp = getenv("TFS_TEST_TMP");
	struct cred_options co = {.disable_imds = 1};
	struct http_options ho = {.max_attempts = 2, .retry_budget_ms = 5000};
	struct wire_error err = {0};
	struct s3_config cfg = {.path_style = -1}, nocfg;
	struct cred_provider *cp = NULL;
	struct http_client *http = NULL;
	struct s3_client *c = NULL, *nob = NULL;
	char bucket[64], nobucket[64];
	enum wire_status st;

	if (!moto || !*moto) {
		printf("# skip: TFS_TEST_MOTO is not set\n");
		return 77;
	}
	snprintf(tmpdir, sizeof(tmpdir), "%s", tmp && *tmp ? tmp : "/tmp");
	snprintf(bucket, sizeof(bucket), "s3moto-%ld-%d", (long)time(NULL), (int)getpid());
	snprintf(nobucket, sizeof(nobucket), "s3none-%ld-%d", (long)time(NULL), (int)getpid());
	co.access_key = getenv("AWS_ACCESS_KEY_ID") ? getenv("AWS_ACCESS_KEY_ID") : "testing";
	co.secret_key =
	    getenv("AWS_SECRET_ACCESS_KEY") ? getenv("AWS_SECRET_ACCESS_KEY") : "testing";
	cfg.endpoint = moto;
	cfg.region = "us-east-1";
	cfg.bucket = bucket;
	nocfg = cfg;
	nocfg.bucket = nobucket;
	cp = cred_provider_new(&co);
	http = cp ? http_client_new(&ho, cp) : NULL;
	c = http ? s3_client_new(&cfg, http) : NULL;
	nob = http ? s3_client_new(&nocfg, http) : NULL;
	TAP_OK(c && nob, "clients created");
	if (!c || !nob)
		goto out;
	st = s3_create_bucket(c, &err);
	TAP_OK(st == WIRE_OK, "create bucket %s: %s (%s)", bucket, wire_status_str(st),
	       err.message);
	if (st != WIRE_OK)
		goto out;
	st = s3_create_bucket(c, &err);
	TAP_OK(st == WIRE_OK, "create an existing bucket of ours is ok: %s", wire_status_str(st));

	test_round_trips(c, http);
	test_conditional(c);
	test_missing_and_delete(c, nob);
	test_list(c);
	test_store(c);
	test_store_existing(c);
out:
	s3_client_free(c);
	s3_client_free(nob);
	http_client_free(http);
	cred_provider_free(cp);
	return TAP_DONE();
}
