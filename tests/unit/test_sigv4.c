/* SigV4 tests: every stage against golden vectors frozen from botocore (the
 * JSON files in tests/unit/sigv4_vectors) and the AWS documentation example,
 * plus the signing driver for the botocore oracle: `test_sigv4 --sign` reads
 * one JSON request per line on stdin and writes one JSON line of headers. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "s3/wire/sigv4.h"
#include "tests/unit/tap.h"

/* A request decoded from JSON; the strings point into the json_t, which
 * must outlive it. */
struct jreq {
	struct sigv4_request req;
	struct sigv4_creds creds;
	struct sigv4_header *hdrs;
};

static const char *jstr(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static int load_headers(json_t *arr, struct sigv4_header **out, size_t *n)
{
	size_t i;
	json_t *h;

	*n = json_array_size(arr);
	*out = calloc(*n ? *n : 1, sizeof(**out));
	if (!*out)
		return -1;
	json_array_foreach(arr, i, h)
	{
		(*out)[i].name = json_string_value(json_array_get(h, 0));
		(*out)[i].value = json_string_value(json_array_get(h, 1));
		if (!(*out)[i].name || !(*out)[i].value)
			return -1;
	}
	return 0;
}

static int jreq_load(json_t *o, struct jreq *r)
{
	memset(r, 0, sizeof(*r));
	r->req.method = jstr(o, "method");
	r->req.path = jstr(o, "path");
	r->req.query = jstr(o, "query");
	r->req.payload_hash = jstr(o, "payload_hash");
	r->req.region = jstr(o, "region");
	r->req.service = jstr(o, "service");
	r->req.when = (time_t)json_integer_value(json_object_get(o, "when"));
	r->creds.access_key = jstr(o, "access_key");
	r->creds.secret_key = jstr(o, "secret_key");
	r->creds.session_token = jstr(o, "session_token");
	if (load_headers(json_object_get(o, "headers"), &r->hdrs, &r->req.n_headers))
		return -1;
	r->req.headers = r->hdrs;
	return r->req.method && r->req.path && r->req.service ? 0 : -1;
}

/* ---- the oracle driver ---- */

static int sign_mode(void)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	long lines = 0;

	/* Bounded: the oracle sends a few thousand requests at most. */
	while ((len = getline(&line, &cap, stdin)) > 0 && lines++ < 1000000) {
		json_error_t jerr;
		json_t *in = json_loadb(line, (size_t)len, 0, &jerr);
		json_t *out = json_object();
		struct sigv4_header *oh = NULL;
		size_t n_oh = 0;
		struct jreq r;
		char *s;

		if (!in || jreq_load(in, &r)) {
			json_object_set_new(out, "error", json_string("bad request line"));
		} else {
			enum wire_status st = sigv4_sign(&r.req, &r.creds, &oh, &n_oh);

			if (st != WIRE_OK) {
				json_object_set_new(out, "error", json_string(wire_status_str(st)));
			} else {
				json_t *arr = json_array();

				for (size_t i = 0; i < n_oh; i++)
					json_array_append_new(
					    arr, json_pack("[ss]", oh[i].name, oh[i].value));
				json_object_set_new(out, "headers", arr);
			}
			sigv4_headers_free(oh, n_oh);
		}
		free(r.hdrs);
		s = json_dumps(out, JSON_COMPACT);
		printf("%s\n", s ? s : "{\"error\":\"nomem\"}");
		free(s);
		json_decref(out);
		json_decref(in);
	}
	free(line);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- golden vectors ---- */

static int header_cmp(const void *a, const void *b)
{
	const struct sigv4_header *x = a, *y = b;

	return strcmp(x->name, y->name);
}

/* The headers sigv4_sign() returned equal the ones botocore set. */
static int same_headers(struct sigv4_header *got, size_t n_got, json_t *want)
{
	size_t i;
	json_t *h;

	if (json_array_size(want) != n_got)
		return 0;
	qsort(got, n_got, sizeof(*got), header_cmp);
	json_array_foreach(want, i, h)
	{
		const char *n = json_string_value(json_array_get(h, 0));
		const char *v = json_string_value(json_array_get(h, 1));

		if (!n || !v || strcmp(n, got[i].name) || strcmp(v, got[i].value)) {
			printf("#   header %s: got %s: %s\n", n ? n : "?", got[i].name,
			       got[i].value);
			return 0;
		}
	}
	return 1;
}

static const char *stage(char nm[400], const char *vector, const char *what)
{
	snprintf(nm, 400, "%.300s: %.80s", vector, what);
	return nm;
}

static void run_vector(const char *path)
{
	json_error_t jerr;
	json_t *v = json_load_file(path, 0, &jerr);
	json_t *req, *exp;
	struct jreq r;
	struct sigv4_request all;
	struct sigv4_header *all_h = NULL, *oh = NULL;
	size_t n_all = 0, n_oh = 0;
	char *creq = NULL, *sh = NULL, *sts = NULL, name[300], nm[400];
	unsigned char key[32];
	char keyhex[65], sig[65];
	enum wire_status st;

	memset(&r, 0, sizeof(r));
	if (!v) {
		TAP_OK(0, "vector %s parses: %s", path, jerr.text);
		return;
	}
	snprintf(name, sizeof(name), "%.250s", jstr(v, "name") ? jstr(v, "name") : path);
	req = json_object_get(v, "request");
	exp = json_object_get(v, "expect");
	if (jreq_load(req, &r) ||
	    load_headers(json_object_get(exp, "all_headers"), &all_h, &n_all)) {
		TAP_OK(0, "%s: vector is well formed", name);
		goto out;
	}

	/* Stages over the full header set botocore signed. */
	all = r.req;
	all.headers = all_h;
	all.n_headers = n_all;
	creq = sigv4_canonical_request(&all, &sh);
	TAP_STREQ(creq, jstr(exp, "canonical_request"), stage(nm, name, "canonical request"));
	TAP_STREQ(sh, jstr(exp, "signed_headers"), stage(nm, name, "signed headers"));
	sts = creq ? sigv4_string_to_sign(&all, creq) : NULL;
	TAP_STREQ(sts, jstr(exp, "string_to_sign"), stage(nm, name, "string to sign"));
	sigv4_signing_key(r.creds.secret_key, r.req.when, r.req.region, r.req.service, key);
	for (int i = 0; i < 32; i++)
		snprintf(keyhex + 2 * i, 3, "%02x", key[i]);
	TAP_STREQ(keyhex, jstr(exp, "signing_key"), stage(nm, name, "signing key"));
	sigv4_signature(key, jstr(exp, "string_to_sign"), sig);
	TAP_STREQ(sig, jstr(exp, "signature"), stage(nm, name, "signature"));

	/* The whole signature from the caller's headers alone. */
	st = sigv4_sign(&r.req, &r.creds, &oh, &n_oh);
	TAP_OK(st == WIRE_OK && same_headers(oh, n_oh, json_object_get(exp, "headers")),
	       "%s: sigv4_sign headers and authorization", name);
out:
	sigv4_headers_free(oh, n_oh);
	free(creq);
	free(sh);
	free(sts);
	free(r.hdrs);
	free(all_h);
	json_decref(v);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *vector_dir(const char *argv0, char *buf, size_t len)
{
	const char *env = getenv("TFS_SIGV4_VECTORS");
	char *slash;

	if (env)
		return env;
	if (access("tests/unit/sigv4_vectors/get-vanilla.json", R_OK) == 0)
		return "tests/unit/sigv4_vectors";
	/* Run from elsewhere: BUILD/tests/unit/test_sigv4 sits three levels
	 * below the source tree when BUILD is a top-level folder. */
	snprintf(buf, len, "%s", argv0);
	slash = strrchr(buf, '/');
	if (slash) {
		*slash = '\0';
		if (strlen(buf) + 40 < len)
			strcat(buf, "/../../../tests/unit/sigv4_vectors");
		return buf;
	}
	return "tests/unit/sigv4_vectors";
}

static void run_vectors(const char *argv0)
{
	char dbuf[PATH_MAX], path[PATH_MAX + 300];
	const char *dir = vector_dir(argv0, dbuf, sizeof(dbuf));
	char *names[256];
	size_t n = 0;
	struct dirent *de;
	DIR *d = opendir(dir);

	TAP_OK(d != NULL, "vector folder %s opens", dir);
	if (!d)
		return;
	while ((de = readdir(d)) && n < 256) {
		size_t l = strlen(de->d_name);

		if (l > 5 && strcmp(de->d_name + l - 5, ".json") == 0)
			names[n++] = strdup(de->d_name);
	}
	closedir(d);
	/* A folder that lost its files must not pass quietly. */
	TAP_OK(n >= 19, "found %zu golden vectors (want at least 19)", n);
	qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		run_vector(path);
		free(names[i]);
	}
}

/* ---- stage tests that need no vector file ---- */

static void test_doc_signing_key(void)
{
	/* The AWS documentation's key derivation example (20120215, iam). */
	unsigned char key[32];
	char hex[65];

	sigv4_signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", 1329264000, "us-east-1",
			  "iam", key);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", key[i]);
	TAP_STREQ(hex, "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d",
		  "signing key of the aws documentation example");
	/* Any second of the same UTC day gives the same key. */
	sigv4_signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", 1329264000 + 86399,
			  "us-east-1", "iam", key);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", key[i]);
	TAP_STREQ(hex, "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d",
		  "signing key depends on the day only");
}

static void test_basics(void)
{
	char buf[17], hex[65];

	sigv4_amz_date(1440938160, buf);
	TAP_STREQ(buf, "20150830T123600Z", "amz date");
	sigv4_amz_date(0, buf);
	TAP_STREQ(buf, "19700101T000000Z", "amz date at the epoch");
	sigv4_sha256_hex("", 0, hex);
	TAP_STREQ(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		  "sha256 of nothing");
	sigv4_sha256_hex("abc", 3, hex);
	TAP_STREQ(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		  "sha256 of abc");
}

static void test_canonical_query(void)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
	    {NULL, ""},
	    {"", ""},
	    {"b=2&a=1", "a=1&b=2"},
	    {"a=2&a=1&a=10", "a=1&a=10&a=2"},
	    {"a&b=&c", "a=&b=&c="},
	    {"a=1&&b=2&", "a=1&b=2"},
	    {"k=a%20b", "k=a%20b"},
	    {"k=a%2fb%3d", "k=a%2Fb%3D"},
	    {"k=%7E%41-_.~", "k=~A-_.~"},
	    {"k=a+b", "k=a%2Bb"},
	    {"k=!*'()", "k=%21%2A%27%28%29"},
	    {"k=%zz%4", "k=%25zz%254"},
	    {"k=x=y", "k=x%3Dy"},
	    {"%E2%82%AC=1&Z=2&a=3", "%E2%82%AC=1&Z=2&a=3"},
	    {"list-type=2&prefix=users%2F", "list-type=2&prefix=users%2F"},
	    {"uploads", "uploads="},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = sigv4_canonical_query(cases[i].in);
		char name[200];

		snprintf(name, sizeof(name), "canonical query of \"%s\"",
			 cases[i].in ? cases[i].in : "(null)");
		TAP_STREQ(got, cases[i].want, name);
		free(got);
	}
}

static const char *find_header(const struct sigv4_header *h, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(h[i].name, name) == 0)
			return h[i].value;
	return NULL;
}

static void test_sign_rules(void)
{
	struct sigv4_header hs[] = {{"Host", "b.s3.amazonaws.com"}};
	struct sigv4_header stale[] = {{"Host", "b.s3.amazonaws.com"},
				       {"X-Amz-Date", "20000101T000000Z"},
				       {"Authorization", "AWS4-HMAC-SHA256 old"},
				       {"x-amz-content-sha256", "0000"}};
	struct sigv4_header nohost[] = {{"Content-Type", "text/plain"}};
	struct sigv4_request req = {
	    .method = "GET",
	    .path = "/b/k",
	    .headers = hs,
	    .n_headers = 1,
	    .payload_hash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	    .region = "us-east-1",
	    .service = "s3",
	    .when = 1718100000,
	};
	struct sigv4_creds creds = {"AKID", "SECRET", NULL};
	struct sigv4_header *oh = NULL, *oh2 = NULL;
	size_t n = 99, n2 = 0;
	enum wire_status st;

	st = sigv4_sign(&req, &creds, &oh, &n);
	TAP_OK(st == WIRE_OK && n == 3, "s3 without token: date, content sha256, authorization");
	TAP_STREQ(find_header(oh, n, "x-amz-content-sha256"), req.payload_hash,
		  "s3 content sha256 is the payload hash");
	TAP_OK(find_header(oh, n, "x-amz-security-token") == NULL, "no token header without token");
	TAP_OK(strstr(find_header(oh, n, "authorization"),
		      "SignedHeaders=host;x-amz-content-sha256;x-amz-date,") != NULL,
	       "s3 signs host, content sha256 and date");
	TAP_OK(strstr(find_header(oh, n, "authorization"), "SECRET") == NULL,
	       "the secret is not in the authorization header");

	/* The caller's stale date, authorization and hash are replaced. */
	req.headers = stale;
	req.n_headers = 4;
	st = sigv4_sign(&req, &creds, &oh2, &n2);
	TAP_OK(st == WIRE_OK && n2 == 3, "stale signing headers are dropped");
	TAP_STREQ(find_header(oh2, n2, "authorization"), find_header(oh, n, "authorization"),
		  "stale signing headers do not change the signature");
	sigv4_headers_free(oh, n);
	sigv4_headers_free(oh2, n2);

	req.headers = hs;
	req.n_headers = 1;
	req.service = "dynamodb";
	creds.session_token = "TOKEN";
	st = sigv4_sign(&req, &creds, &oh, &n);
	TAP_OK(st == WIRE_OK && n == 3, "dynamodb with token: date, token, authorization");
	TAP_STREQ(find_header(oh, n, "x-amz-security-token"), "TOKEN", "token header");
	TAP_OK(find_header(oh, n, "x-amz-content-sha256") == NULL,
	       "no content sha256 header for dynamodb");
	TAP_OK(strstr(find_header(oh, n, "authorization"),
		      "/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date;"
		      "x-amz-security-token,") != NULL,
	       "dynamodb scope and signed headers");
	sigv4_headers_free(oh, n);

	req.headers = nohost;
	oh = (struct sigv4_header *)1;
	st = sigv4_sign(&req, &creds, &oh, &n);
	TAP_OK(st == WIRE_INVALID && oh == NULL && n == 0, "no host header: invalid");
	req.headers = hs;
	creds.secret_key = NULL;
	st = sigv4_sign(&req, &creds, &oh, &n);
	TAP_OK(st == WIRE_INVALID && oh == NULL, "no secret key: invalid");
	TAP_OK(sigv4_sign(&req, NULL, &oh, &n) == WIRE_INVALID, "no credentials: invalid");
	TAP_OK(sigv4_canonical_request(NULL, NULL) == NULL, "canonical request of nothing is NULL");
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--sign") == 0)
		return sign_mode();
	test_basics();
	test_doc_signing_key();
	test_canonical_query();
	test_sign_rules();
	run_vectors(argv[0]);
	return TAP_DONE();
}
