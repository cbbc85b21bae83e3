/* AWS Signature Version 4: canonical request, string to sign, signing key
 * chain and Authorization header, on OpenSSL's SHA-256 and HMAC. Every
 * intermediate key and every buffer that held a secret is wiped with
 * OPENSSL_cleanse before it is freed or goes out of scope. */
#include "s3/wire/sigv4.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "s3/base/log.h"

/* ---- a growable string with a sticky failure flag ---- */

struct sbuf {
	char *s;
	size_t len;
	size_t cap;
	int failed; /* an allocation failed; every later append is a no-op */
};

static void sb_grow(struct sbuf *b, size_t more)
{
	size_t need, ncap;
	char *n;

	if (b->failed)
		return;
	need = b->len + more + 1;
	if (need <= b->cap)
		return;
	ncap = b->cap ? b->cap : 128;
	while (ncap < need)
		ncap *= 2;
	/* No realloc: the old block may hold a session token and must be
	 * wiped rather than left behind by the allocator. */
	n = malloc(ncap);
	if (!n) {
		b->failed = 1;
		return;
	}
	if (b->s) {
		memcpy(n, b->s, b->len + 1);
		OPENSSL_cleanse(b->s, b->cap);
		free(b->s);
	}
	b->s = n;
	b->cap = ncap;
}

static void sb_addn(struct sbuf *b, const char *s, size_t n)
{
	sb_grow(b, n);
	if (b->failed)
		return;
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void sb_add(struct sbuf *b, const char *s)
{
	sb_addn(b, s, strlen(s));
}

static void sb_addc(struct sbuf *b, char c)
{
	sb_addn(b, &c, 1);
}

/* Wipes and frees the buffer. */
static void sb_wipe(struct sbuf *b)
{
	if (b->s) {
		OPENSSL_cleanse(b->s, b->cap);
		free(b->s);
	}
	b->s = NULL;
	b->len = b->cap = 0;
}

/* Hands the string over to the caller, or NULL (and wipes) on failure. */
static char *sb_take(struct sbuf *b)
{
	char *s;

	if (b->failed) {
		sb_wipe(b);
		return NULL;
	}
	if (!b->s) {
		sb_grow(b, 0);
		if (b->failed)
			return NULL;
		b->s[0] = '\0';
	}
	s = b->s;
	b->s = NULL;
	b->len = b->cap = 0;
	return s;
}

/* ---- encoding ---- */

static const char hexdig_lower[] = "0123456789abcdef";
static const char hexdig_upper[] = "0123456789ABCDEF";

static int is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == '~';
}

/* RFC 3986 encoding as SigV4 wants it: unreserved bytes kept, '/' kept when
 * keep_slash, everything else %XX in upper case. */
static void uri_encode(struct sbuf *b, const char *s, size_t n, int keep_slash)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (is_unreserved(c) || (keep_slash && c == '/')) {
			sb_addc(b, (char)c);
		} else {
			char e[3] = {'%', hexdig_upper[c >> 4], hexdig_upper[c & 15]};

			sb_addn(b, e, 3);
		}
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes %XX in s[0..n) into a new NUL-terminated string. A '%' not
 * followed by two hex digits stays literal, and '+' stays '+': our own
 * clients encode a space as %20, and S3 reads '+' in a query literally. */
static char *pct_decode(const char *s, size_t n, size_t *out_len)
{
	char *d = malloc(n + 1);
	size_t j = 0;

	if (!d)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		int hi, lo;

		if (s[i] == '%' && i + 2 < n && (hi = hexval(s[i + 1])) >= 0 &&
		    (lo = hexval(s[i + 2])) >= 0) {
			d[j++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			d[j++] = s[i];
		}
	}
	d[j] = '\0';
	*out_len = j;
	return d;
}

/* ---- hashing ---- */

static void to_hex(const unsigned char *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexdig_lower[in[i] >> 4];
		out[2 * i + 1] = hexdig_lower[in[i] & 15];
	}
	out[2 * n] = '\0';
}

void sigv4_sha256_hex(const void *data, size_t len, char hex[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
		/* Only on a broken OpenSSL; an empty hex makes the signature
		 * fail loudly at the server rather than silently differ. */
		log_err("sha-256 failed: openssl digest error");
		hex[0] = '\0';
		return;
	}
	to_hex(md, 32, hex);
}

static void hmac256(const void *key, size_t keylen, const void *msg, size_t msglen,
		    unsigned char out[32])
{
	unsigned int outlen = 32;

	if (!HMAC(EVP_sha256(), key, (int)keylen, msg, msglen, out, &outlen) || outlen != 32) {
		log_err("hmac-sha256 failed: openssl error");
		memset(out, 0, 32);
	}
}

void sigv4_amz_date(time_t when, char buf[17])
{
	struct tm tm;

	if (!gmtime_r(&when, &tm) || strftime(buf, 17, "%Y%m%dT%H%M%SZ", &tm) != 16)
		snprintf(buf, 17, "19700101T000000Z");
}

/* ---- canonical query ---- */

struct qparam {
	char *name;  /* encoded */
	char *value; /* encoded */
};

static int qparam_cmp(const void *a, const void *b)
{
	const struct qparam *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->value, y->value);
}

/* Decodes then re-encodes s[0..n) into a new string, NULL on ENOMEM. */
static char *reencode(const char *s, size_t n)
{
	struct sbuf b = {0};
	size_t dlen;
	char *d = pct_decode(s, n, &dlen);

	if (!d)
		return NULL;
	uri_encode(&b, d, dlen, 0);
	OPENSSL_cleanse(d, dlen);
	free(d);
	return sb_take(&b);
}

char *sigv4_canonical_query(const char *query)
{
	struct qparam *ps = NULL;
	size_t np = 0, cap = 0;
	struct sbuf b = {0};
	const char *p;
	char *out = NULL;

	if (!query)
		query = "";
	p = query;
	while (*p) {
		const char *amp = strchr(p, '&');
		size_t seg = amp ? (size_t)(amp - p) : strlen(p);
		const char *eq = memchr(p, '=', seg);
		size_t nlen = eq ? (size_t)(eq - p) : seg;

		/* An empty segment ("a=1&&b=2") carries no parameter. */
		if (seg > 0) {
			if (np == cap) {
				size_t ncap = cap ? cap * 2 : 8;
				struct qparam *n = realloc(ps, ncap * sizeof(*ps));

				if (!n)
					goto out;
				ps = n;
				cap = ncap;
			}
			ps[np].name = reencode(p, nlen);
			ps[np].value = eq ? reencode(eq + 1, seg - nlen - 1) : strdup("");
			np++;
			if (!ps[np - 1].name || !ps[np - 1].value)
				goto out;
		}
		p += seg;
		if (*p == '&')
			p++;
	}
	if (np > 1)
		qsort(ps, np, sizeof(*ps), qparam_cmp);
	for (size_t i = 0; i < np; i++) {
		if (i)
			sb_addc(&b, '&');
		sb_add(&b, ps[i].name);
		sb_addc(&b, '=');
		sb_add(&b, ps[i].value);
	}
	out = sb_take(&b);
out:
	sb_wipe(&b);
	for (size_t i = 0; i < np; i++) {
		free(ps[i].name);
		free(ps[i].value);
	}
	free(ps);
	return out;
}

/* ---- canonical URI ---- */

/* For every service but s3, AWS normalises the path (dot segments and empty
 * segments removed, as the SDKs do) and then URI-encodes it a second time,
 * so an encoded "%20" becomes "%2520". S3 signs the path exactly as sent. */
static void canonical_uri(struct sbuf *b, const char *path, const char *service)
{
	const char **segs = NULL;
	size_t *lens = NULL;
	size_t nseg = 0, plen;
	const char *p;

	if (!path || !*path) {
		sb_addc(b, '/');
		return;
	}
	if (strcmp(service, "s3") == 0) {
		sb_add(b, path);
		return;
	}
	plen = strlen(path);
	segs = malloc((plen + 1) * sizeof(*segs));
	lens = malloc((plen + 1) * sizeof(*lens));
	if (!segs || !lens) {
		b->failed = 1;
		goto out;
	}
	p = path;
	for (;;) {
		const char *sl = strchr(p, '/');
		size_t n = sl ? (size_t)(sl - p) : strlen(p);

		if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (nseg)
				nseg--;
		} else if (n > 0 && !(n == 1 && p[0] == '.')) {
			segs[nseg] = p;
			lens[nseg] = n;
			nseg++;
		}
		if (!sl)
			break;
		p = sl + 1;
	}
	if (path[0] == '/')
		sb_addc(b, '/');
	for (size_t i = 0; i < nseg; i++) {
		if (i)
			sb_addc(b, '/');
		uri_encode(b, segs[i], lens[i], 0);
	}
	if (path[plen - 1] == '/' && nseg)
		sb_addc(b, '/');
out:
	free(segs);
	free(lens);
}

/* ---- canonical headers ---- */

struct chdr {
	char *name;  /* lower case */
	char *value; /* trimmed, whitespace runs folded */
	size_t idx;  /* position in the caller's array, keeps sort stable */
};

static int chdr_cmp(const void *a, const void *b)
{
	const struct chdr *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static char *trim_fold(const char *v)
{
	size_t n = strlen(v), j = 0;
	char *d = malloc(n + 1);
	int pending = 0;

	if (!d)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (is_ws(v[i])) {
			pending = j > 0;
			continue;
		}
		if (pending)
			d[j++] = ' ';
		pending = 0;
		d[j++] = v[i];
	}
	d[j] = '\0';
	return d;
}

/* Long because it follows the canonical request's definition step by step (method, path, query,
 * headers, signed headers, payload hash). */
char *sigv4_canonical_request(const struct sigv4_request *req, char **signed_headers)
{
	struct chdr *hs = NULL;
	struct sbuf b = {0}, sh = {0};
	char *qs = NULL, *out = NULL;
	size_t n = 0;

	if (signed_headers)
		*signed_headers = NULL;
	if (!req || !req->method || !req->service || !req->payload_hash)
		return NULL;
	if (req->n_headers) {
		hs = calloc(req->n_headers, sizeof(*hs));
		if (!hs)
			goto out;
	}
	for (n = 0; n < req->n_headers; n++) {
		const char *name = req->headers[n].name ? req->headers[n].name : "";
		const char *value = req->headers[n].value ? req->headers[n].value : "";
		size_t nl = strlen(name);

		hs[n].idx = n;
		hs[n].value = trim_fold(value);
		hs[n].name = malloc(nl + 1);
		if (!hs[n].name || !hs[n].value) {
			n++;
			goto out;
		}
		/* Names are trimmed too: a stray space must not change the sort. */
		while (nl && is_ws(name[nl - 1]))
			nl--;
		while (nl && is_ws(*name)) {
			name++;
			nl--;
		}
		for (size_t i = 0; i < nl; i++)
			hs[n].name[i] = (char)tolower((unsigned char)name[i]);
		hs[n].name[nl] = '\0';
	}
	if (n > 1)
		qsort(hs, n, sizeof(*hs), chdr_cmp);

	qs = sigv4_canonical_query(req->query);
	if (!qs)
		goto out;

	sb_add(&b, req->method);
	sb_addc(&b, '\n');
	canonical_uri(&b, req->path, req->service);
	sb_addc(&b, '\n');
	sb_add(&b, qs);
	sb_addc(&b, '\n');
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && strcmp(hs[i].name, hs[i - 1].name) == 0) {
			/* A repeated header: its values join the first line. */
			sb_addc(&b, ',');
			sb_add(&b, hs[i].value);
			continue;
		}
		if (i > 0)
			sb_addc(&b, '\n');
		sb_add(&b, hs[i].name);
		sb_addc(&b, ':');
		sb_add(&b, hs[i].value);
		if (sh.len || sh.failed)
			sb_addc(&sh, ';');
		sb_add(&sh, hs[i].name);
	}
	if (n)
		sb_addc(&b, '\n');
	sb_addc(&b, '\n');
	if (sh.failed)
		goto out;
	sb_add(&b, sh.s ? sh.s : "");
	sb_addc(&b, '\n');
	sb_add(&b, req->payload_hash);
	if (b.failed)
		goto out;
	if (signed_headers) {
		*signed_headers = sb_take(&sh);
		if (!*signed_headers)
			goto out;
	}
	out = sb_take(&b);
out:
	sb_wipe(&b);
	sb_wipe(&sh);
	free(qs);
	for (size_t i = 0; i < n; i++) {
		free(hs[i].name);
		if (hs[i].value) {
			/* Values may include x-amz-security-token. */
			OPENSSL_cleanse(hs[i].value, strlen(hs[i].value));
			free(hs[i].value);
		}
	}
	free(hs);
	if (!out && signed_headers && *signed_headers) {
		free(*signed_headers);
		*signed_headers = NULL;
	}
	return out;
}

/* ---- string to sign, signing key, signature ---- */

static void scope_date(time_t when, char date[9])
{
	char amz[17];

	sigv4_amz_date(when, amz);
	memcpy(date, amz, 8);
	date[8] = '\0';
}

char *sigv4_string_to_sign(const struct sigv4_request *req, const char *canonical_request)
{
	struct sbuf b = {0};
	char amz[17], date[9], hex[65];

	if (!req || !canonical_request || !req->region || !req->service)
		return NULL;
	sigv4_amz_date(req->when, amz);
	scope_date(req->when, date);
	sigv4_sha256_hex(canonical_request, strlen(canonical_request), hex);
	sb_add(&b, "AWS4-HMAC-SHA256\n");
	sb_add(&b, amz);
	sb_addc(&b, '\n');
	sb_add(&b, date);
	sb_addc(&b, '/');
	sb_add(&b, req->region);
	sb_addc(&b, '/');
	sb_add(&b, req->service);
	sb_add(&b, "/aws4_request\n");
	sb_add(&b, hex);
	return sb_take(&b);
}

void sigv4_signing_key(const char *secret_key, time_t when, const char *region, const char *service,
		       unsigned char key[32])
{
	unsigned char k1[32], k2[32], k3[32];
	struct sbuf ks = {0};
	char date[9];

	scope_date(when, date);
	sb_add(&ks, "AWS4");
	sb_add(&ks, secret_key ? secret_key : "");
	if (ks.failed || !region || !service) {
		/* A zero key makes the server refuse the request instead of
		 * us crashing. */
		log_err("cannot derive signing key: %s",
			ks.failed ? "out of memory" : "no region or service");
		memset(key, 0, 32);
		goto out;
	}
	hmac256(ks.s, ks.len, date, 8, k1);
	hmac256(k1, 32, region, strlen(region), k2);
	hmac256(k2, 32, service, strlen(service), k3);
	hmac256(k3, 32, "aws4_request", 12, key);
out:
	OPENSSL_cleanse(k1, sizeof(k1));
	OPENSSL_cleanse(k2, sizeof(k2));
	OPENSSL_cleanse(k3, sizeof(k3));
	sb_wipe(&ks);
}

void sigv4_signature(const unsigned char key[32], const char *string_to_sign, char hex[65])
{
	unsigned char mac[32];

	hmac256(key, 32, string_to_sign, strlen(string_to_sign), mac);
	to_hex(mac, 32, hex);
	OPENSSL_cleanse(mac, sizeof(mac));
}

/* ---- the whole signature ---- */

/* Frees a string we allocated into a const char * field of sigv4_header. */
static void free_wiped(const char *s)
{
	char *p = (char *)(uintptr_t)s;

	if (!p)
		return;
	OPENSSL_cleanse(p, strlen(p));
	free(p);
}

void sigv4_headers_free(struct sigv4_header *h, size_t n)
{
	if (!h)
		return;
	for (size_t i = 0; i < n; i++) {
		free_wiped(h[i].name);
		free_wiped(h[i].value);
	}
	free(h);
}

static int add_out(struct sigv4_header *out, size_t *n, const char *name, const char *value)
{
	out[*n].name = strdup(name);
	out[*n].value = strdup(value);
	(*n)++;
	return out[*n - 1].name && out[*n - 1].value ? 0 : -1;
}

/* Headers sigv4_sign() owns: the caller's copies are dropped, ours signed. */
static int replaced_header(const char *name, int is_s3, int has_token)
{
	char lname[32];
	size_t n = strlen(name);

	if (n >= sizeof(lname))
		return 0;
	for (size_t i = 0; i <= n; i++)
		lname[i] = (char)tolower((unsigned char)name[i]);
	return strcmp(lname, "x-amz-date") == 0 || strcmp(lname, "authorization") == 0 ||
	       (is_s3 && strcmp(lname, "x-amz-content-sha256") == 0) ||
	       (has_token && strcmp(lname, "x-amz-security-token") == 0);
}

/* Long because it follows SigV4's steps in order (headers to add, canonical request, string to
 * sign, key, signature, Authorization), wiping each secret on the one exit. */
enum wire_status sigv4_sign(const struct sigv4_request *req, const struct sigv4_creds *creds,
			    struct sigv4_header **out_headers, size_t *n_out)
{
	enum wire_status st = WIRE_NOMEM;
	struct sigv4_header *all = NULL, *out = NULL;
	struct sigv4_request r;
	struct sbuf auth = {0};
	char *creq = NULL, *sts = NULL, *sh = NULL;
	unsigned char key[32];
	char amz[17], date[9], sig[65];
	size_t n_all = 0, n = 0;
	int is_s3, has_token, has_host = 0;

	memset(key, 0, sizeof(key));
	if (out_headers)
		*out_headers = NULL;
	if (n_out)
		*n_out = 0;
	if (!req || !creds || !out_headers || !n_out || !req->method || !req->region ||
	    !req->service || !req->payload_hash || !creds->access_key || !creds->secret_key ||
	    (req->n_headers && !req->headers)) {
		st = WIRE_INVALID;
		goto out;
	}
	is_s3 = strcmp(req->service, "s3") == 0;
	has_token = creds->session_token && *creds->session_token;
	for (size_t i = 0; i < req->n_headers; i++) {
		if (!req->headers[i].name || !req->headers[i].value) {
			st = WIRE_INVALID;
			goto out;
		}
		if (strcasecmp(req->headers[i].name, "host") == 0)
			has_host = 1;
	}
	if (!has_host) {
		log_err("cannot sign %s request: no host header", req->method);
		st = WIRE_INVALID;
		goto out;
	}

	sigv4_amz_date(req->when, amz);
	scope_date(req->when, date);

	/* What goes on the wire besides the caller's headers: date, payload
	 * hash for s3 (S3 requires it), token, authorization. */
	out = calloc(4, sizeof(*out));
	all = calloc(req->n_headers + 3, sizeof(*all));
	if (!out || !all)
		goto out;
	if (add_out(out, &n, "x-amz-date", amz))
		goto out;
	if (is_s3 && add_out(out, &n, "x-amz-content-sha256", req->payload_hash))
		goto out;
	if (has_token && add_out(out, &n, "x-amz-security-token", creds->session_token))
		goto out;

	for (size_t i = 0; i < req->n_headers; i++)
		if (!replaced_header(req->headers[i].name, is_s3, has_token))
			all[n_all++] = req->headers[i];
	for (size_t i = 0; i < n; i++)
		all[n_all++] = out[i];

	r = *req;
	r.headers = all;
	r.n_headers = n_all;
	creq = sigv4_canonical_request(&r, &sh);
	if (!creq)
		goto out;
	sts = sigv4_string_to_sign(&r, creq);
	if (!sts)
		goto out;
	sigv4_signing_key(creds->secret_key, req->when, req->region, req->service, key);
	sigv4_signature(key, sts, sig);

	sb_add(&auth, "AWS4-HMAC-SHA256 Credential=");
	sb_add(&auth, creds->access_key);
	sb_addc(&auth, '/');
	sb_add(&auth, date);
	sb_addc(&auth, '/');
	sb_add(&auth, req->region);
	sb_addc(&auth, '/');
	sb_add(&auth, req->service);
	sb_add(&auth, "/aws4_request, SignedHeaders=");
	sb_add(&auth, sh);
	sb_add(&auth, ", Signature=");
	sb_add(&auth, sig);
	if (auth.failed)
		goto out;
	out[n].name = strdup("authorization");
	out[n].value = sb_take(&auth);
	n++;
	if (!out[n - 1].name || !out[n - 1].value)
		goto out;

	*out_headers = out;
	*n_out = n;
	out = NULL;
	st = WIRE_OK;
out:
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(sig, sizeof(sig));
	sb_wipe(&auth);
	free_wiped(creq);
	free_wiped(sts);
	free(sh);
	free(all);
	sigv4_headers_free(out, n);
	return st;
}
