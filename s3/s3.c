/* The S3 client over http.c: URLs (path-style or virtual-hosted, keys
 * URI-encoded per segment), PutObject with Content-MD5, multipart upload
 * with parts in parallel threads, streamed GET, HEAD, DELETE and
 * ListObjectsV2, with S3 error bodies decoded into wire statuses. */
#include "s3.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "log.h"
#include "s3/parse.h"
#include "xml_i.h"

#define MIN_PART_SIZE (5ull << 20)
#define MAX_PARTS     10000ull

struct s3_client {
	/* All fields are immutable after s3_client_new: no lock needed. */
	struct http_client *http; /* borrowed */
	char *scheme;		  /* "http" or "https" */
	char *hostport;		  /* endpoint authority, "127.0.0.1:5000" */
	char *base_path;	  /* endpoint path without trailing '/', often "" */
	char *region;
	char *bucket;
	int path_style;
	uint64_t threshold;
	uint64_t part_size;
	int parallel;
};

/* http_header holds non-const strings (it also carries replies); ours are
 * only read, so dropping const through uintptr_t is safe here. */
static struct http_header hdr(const char *name, const char *value)
{
	return (struct http_header){(char *)(uintptr_t)name, (char *)(uintptr_t)value};
}

/* ---- last error, per thread ------------------------------------------- */

static __thread char last_err[512];

const char *s3_last_error(void)
{
	return last_err;
}

static void set_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void set_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_err, sizeof(last_err), fmt, ap);
	va_end(ap);
}

/* ---- client ------------------------------------------------------------- */

static int host_is_aws(const char *hostport)
{
	const char *suffix = ".amazonaws.com";
	size_t n = strcspn(hostport, ":"), sl = strlen(suffix);

	return n > sl && strncasecmp(hostport + n - sl, suffix, sl) == 0;
}

struct s3_client *s3_client_new(const struct s3_config *cfg, struct http_client *http)
{
	struct s3_client *c = NULL;
	char *query = NULL;
	size_t bl;
	int rc;

	if (!cfg || !cfg->endpoint || !cfg->bucket || !*cfg->bucket || !http) {
		log_err("cannot create s3 client: endpoint and bucket are required");
		return NULL;
	}
	/* A bare "host:port" would parse as scheme "host": a scheme is required. */
	if (!strstr(cfg->endpoint, "://")) {
		log_err("cannot create s3 client: endpoint '%s' has no scheme", cfg->endpoint);
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->http = http;
	rc = http_url_split(cfg->endpoint, &c->scheme, &c->hostport, &c->base_path, &query);
	free(query);
	if (rc < 0) {
		log_err("cannot create s3 client: endpoint '%s' is not a url with a host",
			cfg->endpoint);
		goto fail;
	}
	bl = strlen(c->base_path);
	while (bl > 0 && c->base_path[bl - 1] == '/')
		bl--;
	c->base_path[bl] = '\0';
	c->region = strdup(cfg->region && *cfg->region ? cfg->region : "us-east-1");
	c->bucket = strdup(cfg->bucket);
	if (!c->region || !c->bucket)
		goto fail;
	c->path_style = cfg->path_style;
	if (c->path_style < 0)
		/* Virtual-hosted needs DNS for bucket.host and a certificate
		 * that covers it: AWS has both; a dotted bucket breaks the
		 * wildcard certificate, so it stays path-style. */
		c->path_style = !(host_is_aws(c->hostport) && !strchr(c->bucket, '.'));
	c->threshold = cfg->multipart_threshold ? cfg->multipart_threshold : 16ull << 20;
	c->part_size = cfg->part_size ? cfg->part_size : 8ull << 20;
	if (c->part_size < MIN_PART_SIZE)
		c->part_size = MIN_PART_SIZE; /* S3 refuses smaller parts but the last */
	c->parallel = cfg->part_parallel > 0 ? cfg->part_parallel : 4;
	return c;
fail:
	s3_client_free(c);
	return NULL;
}

void s3_client_free(struct s3_client *c)
{
	if (!c)
		return;
	free(c->scheme);
	free(c->hostport);
	free(c->base_path);
	free(c->region);
	free(c->bucket);
	free(c);
}

/* URL of key (NULL: the bucket itself) with an optional query string. */
static char *make_url(const struct s3_client *c, const char *key, const char *query)
{
	char *ek = NULL, *url = NULL;
	const char *q = query && *query ? "?" : "";
	int n;

	if (key) {
		ek = http_uri_encode(key, 1);
		if (!ek)
			return NULL;
	}
	if (c->path_style)
		n = asprintf(&url, "%s://%s%s/%s%s%s%s%s", c->scheme, c->hostport, c->base_path,
			     c->bucket, key ? "/" : "", key ? ek : "", q, query ? query : "");
	else
		n = asprintf(&url, "%s://%s.%s%s/%s%s%s", c->scheme, c->bucket, c->hostport,
			     c->base_path, key ? ek : "", q, query ? query : "");
	free(ek);
	return n < 0 ? NULL : url;
}

/* Refines a failed reply from its <Error><Code>; WIRE_OK keeps the status
 * http.c derived from the HTTP status. */
static enum wire_status s3_classify(const struct http_response *resp, void *arg)
{
	char code[128];

	if (!resp->body || resp->body_len == 0)
		return WIRE_OK;
	if (s3_xml_parse_error(resp->body, resp->body_len, code, sizeof(code), NULL, 0) != WIRE_OK)
		return WIRE_OK;
	return s3_error_code_status(code, WIRE_OK);
}

/* Sends a signed S3 request. On failure sets the thread's last error to
 * "[<what>: ]<Code>: <Message> (<transport detail>)" (what names a step of
 * a larger operation, NULL for none) and
 * copies the S3 error code into code (if given, "" when none). */
static enum wire_status s3_send(struct s3_client *c, struct http_request *req,
				struct http_response *resp, const char *what, char *code,
				size_t code_sz)
{
	enum wire_status st;
	char ecode[128] = "", emsg[256] = "";

	req->service = "s3";
	req->region = c->region;
	req->classify = s3_classify;
	req->classify_arg = c;
	st = http_send(c->http, req, resp);
	if (code && code_sz)
		code[0] = '\0';
	if (st == WIRE_OK)
		return st;
	if (resp->body && resp->body_len &&
	    s3_xml_parse_error(resp->body, resp->body_len, ecode, sizeof(ecode), emsg,
			       sizeof(emsg)) == WIRE_OK &&
	    ecode[0]) {
		set_err("%s%s%s: %s (%s)", what ? what : "", what ? ": " : "", ecode,
			emsg[0] ? emsg : wire_status_str(st), resp->error);
		if (code && code_sz)
			snprintf(code, code_sz, "%s", ecode);
	} else {
		set_err("%s%s%s (%s)", what ? what : "", what ? ": " : "", wire_status_str(st),
			resp->error);
	}
	return st;
}

static int64_t parse_http_date_ms(const char *s)
{
	struct tm tm;
	const char *end;
	time_t t;

	if (!s)
		return 0;
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%a, %d %b %Y %H:%M:%S", &tm);
	if (!end)
		return 0;
	t = timegm(&tm);
	return t == (time_t)-1 ? 0 : (int64_t)t * 1000;
}

/* A header's decimal value; the header may keep a trailing CR or space. */
static int header_u64(const char *s, uint64_t *out)
{
	const char *end;

	if (tfs_parse_u64(s, out, &end) < 0 || (*end && *end != '\r' && *end != ' '))
		return -EINVAL;
	return 0;
}

/* Object info from HEAD/GET reply headers. A ranged reply gives the whole
 * size in Content-Range ("bytes 0-9/100"). */
static void info_from_headers(const struct http_response *resp, struct s3_object_info *out)
{
	const char *v;

	memset(out, 0, sizeof(*out));
	v = http_response_header(resp, "content-range");
	if (v && (v = strchr(v, '/')) && header_u64(v + 1, &out->size) == 0) {
		/* size from the range's total */
	} else if (header_u64(http_response_header(resp, "content-length"), &out->size) < 0) {
		out->size = resp->bytes_written;
	}
	v = http_response_header(resp, "etag");
	if (v)
		snprintf(out->etag, sizeof(out->etag), "%s", v);
	out->mtime_ms = parse_http_date_ms(http_response_header(resp, "last-modified"));
	v = http_response_header(resp, "x-amz-meta-xxh3");
	if (v)
		snprintf(out->meta_hash, sizeof(out->meta_hash), "%s", v);
}

/* ---- digests of a file range ------------------------------------------ */

struct digests {
	char sha256_hex[65];
	char md5_b64[32];
};

/* SHA-256 (for the signature) and MD5 (for Content-MD5) in one streamed
 * pass over len bytes of fd from off. */
static enum wire_status file_digests(int fd, off_t off, uint64_t len, struct digests *d)
{
	enum wire_status st = WIRE_NOMEM;
	EVP_MD_CTX *sha = EVP_MD_CTX_new(), *md5 = EVP_MD_CTX_new();
	size_t chunk = 256 * 1024, i;
	unsigned char dig[32], mdig[16];
	unsigned int dl = 0, ml = 0;
	char *buf = malloc(chunk);
	ssize_t n;

	if (!sha || !md5 || !buf)
		goto out;
	st = WIRE_LOCAL_IO;
	if (EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestInit_ex(md5, EVP_md5(), NULL) != 1) {
		set_err("digest init failed");
		goto out;
	}
	while (len > 0) {
		do
			n = pread(fd, buf, len < chunk ? (size_t)len : chunk, off);
		while (n < 0 && errno == EINTR);
		if (n <= 0) {
			set_err("cannot read the source file: %s",
				n < 0 ? strerror(errno) : "file shorter than its size");
			goto out;
		}
		EVP_DigestUpdate(sha, buf, (size_t)n);
		EVP_DigestUpdate(md5, buf, (size_t)n);
		off += n;
		len -= (uint64_t)n;
	}
	if (EVP_DigestFinal_ex(sha, dig, &dl) != 1 || EVP_DigestFinal_ex(md5, mdig, &ml) != 1) {
		set_err("digest final failed");
		goto out;
	}
	for (i = 0; i < 32; i++)
		snprintf(d->sha256_hex + 2 * i, 3, "%02x", dig[i]);
	EVP_EncodeBlock((unsigned char *)d->md5_b64, mdig, 16);
	st = WIRE_OK;
out:
	EVP_MD_CTX_free(sha);
	EVP_MD_CTX_free(md5);
	free(buf);
	return st;
}

/* ---- PUT ---------------------------------------------------------------- */

static enum wire_status put_single(struct s3_client *c, const char *key, int fd, uint64_t size,
				   const struct s3_put_options *opt, struct s3_object_info *out)
{
	enum wire_status st;
	struct http_request req;
	struct http_response resp = {0};
	struct http_header h[3];
	struct digests d;
	size_t nh = 0;
	char *url = make_url(c, key, NULL);
	const char *v;

	if (!url) {
		st = WIRE_NOMEM;
		set_err("out of memory");
		goto out;
	}
	st = file_digests(fd, 0, size, &d);
	if (st != WIRE_OK)
		goto out;
	h[nh++] = hdr("Content-MD5", d.md5_b64);
	if (opt && opt->meta_xxh3)
		h[nh++] = hdr("x-amz-meta-xxh3", opt->meta_xxh3);
	if (opt && opt->if_none_match)
		h[nh++] = hdr("If-None-Match", "*");
	http_request_init(&req);
	req.method = "PUT";
	req.url = url;
	req.headers = h;
	req.n_headers = nh;
	req.body_fd = fd;
	req.body_off = 0;
	req.body_file_len = size;
	req.payload_hash = d.sha256_hex;
	st = s3_send(c, &req, &resp, NULL, NULL, 0);
	if (st == WIRE_OK && out) {
		memset(out, 0, sizeof(*out));
		out->size = size;
		v = http_response_header(&resp, "etag");
		if (v)
			snprintf(out->etag, sizeof(out->etag), "%s", v);
		if (opt && opt->meta_xxh3)
			snprintf(out->meta_hash, sizeof(out->meta_hash), "%s", opt->meta_xxh3);
	}
out:
	http_response_free(&resp);
	free(url);
	return st;
}

struct mp_upload {
	struct s3_client *c;
	const char *key;
	char *upload_id_enc; /* URI-encoded upload id, malloc'ed */
	int fd;
	uint64_t size;
	uint64_t part_size;
	unsigned n_parts;
	pthread_mutex_t lock; /* protects next, failed, st, err, etags[] */
	unsigned next;	      /* next part index to send */
	int failed;
	enum wire_status st; /* first failure */
	char err[512];	     /* its message */
	char **etags;	     /* n_parts, malloc'ed, NULL until sent */
};

static enum wire_status put_part(struct mp_upload *m, unsigned i, char **etag)
{
	enum wire_status st;
	struct http_request req;
	struct http_response resp = {0};
	struct http_header h[1];
	struct digests d;
	uint64_t off = (uint64_t)i * m->part_size;
	uint64_t len = m->size - off < m->part_size ? m->size - off : m->part_size;
	char query[512], name[64];
	char *url = NULL;
	const char *v;

	*etag = NULL;
	snprintf(name, sizeof(name), "part %u", i + 1);
	snprintf(query, sizeof(query), "partNumber=%u&uploadId=%s", i + 1, m->upload_id_enc);
	url = make_url(m->c, m->key, query);
	if (!url) {
		st = WIRE_NOMEM;
		set_err("%s: out of memory", name);
		goto out;
	}
	st = file_digests(m->fd, (off_t)off, len, &d);
	if (st != WIRE_OK)
		goto out;
	h[0] = hdr("Content-MD5", d.md5_b64);
	http_request_init(&req);
	req.method = "PUT";
	req.url = url;
	req.headers = h;
	req.n_headers = 1;
	req.body_fd = m->fd;
	req.body_off = (off_t)off;
	req.body_file_len = len;
	req.payload_hash = d.sha256_hex;
	st = s3_send(m->c, &req, &resp, name, NULL, 0);
	if (st != WIRE_OK)
		goto out;
	v = http_response_header(&resp, "etag");
	if (!v || !*v) {
		st = WIRE_BAD_RESPONSE;
		set_err("%s: reply has no ETag", name);
		goto out;
	}
	*etag = strdup(v);
	if (!*etag)
		st = WIRE_NOMEM;
out:
	http_response_free(&resp);
	free(url);
	return st;
}

static void *part_worker(void *arg)
{
	struct mp_upload *m = arg;
	enum wire_status st;
	unsigned i;
	char *etag;

	for (;;) {
		pthread_mutex_lock(&m->lock);
		if (m->failed || m->next >= m->n_parts) {
			pthread_mutex_unlock(&m->lock);
			break;
		}
		i = m->next++;
		pthread_mutex_unlock(&m->lock);

		st = put_part(m, i, &etag);
		pthread_mutex_lock(&m->lock);
		if (st == WIRE_OK) {
			m->etags[i] = etag;
		} else if (!m->failed) {
			m->failed = 1;
			m->st = st;
			/* last_err is this thread's; hand it to the caller's. */
			snprintf(m->err, sizeof(m->err), "%s", last_err);
		}
		pthread_mutex_unlock(&m->lock);
	}
	return NULL;
}

static void abort_upload(struct s3_client *c, const char *key, const char *upload_id_enc)
{
	struct http_request req;
	struct http_response resp = {0};
	char query[512], saved[sizeof(last_err)];
	char *url;

	/* Keep the error that made us abort, not the abort's own. */
	memcpy(saved, last_err, sizeof(saved));
	snprintf(query, sizeof(query), "uploadId=%s", upload_id_enc);
	url = make_url(c, key, query);
	if (!url)
		goto out;
	http_request_init(&req);
	req.method = "DELETE";
	req.url = url;
	if (s3_send(c, &req, &resp, "abort multipart upload", NULL, 0) != WIRE_OK &&
	    resp.status != 404)
		log_warn("%s", last_err);
out:
	memcpy(last_err, saved, sizeof(saved));
	http_response_free(&resp);
	free(url);
}

static enum wire_status complete_upload(struct s3_client *c, struct mp_upload *m,
					const struct s3_put_options *opt, char *etag,
					size_t etag_sz)
{
	enum wire_status st = WIRE_NOMEM;
	struct http_request req;
	struct http_response resp = {0};
	struct http_header h[2];
	size_t nh = 0, cap, len = 0;
	char *body = NULL, *url = NULL, query[512], err[256];
	unsigned i;
	int n, tries;

	snprintf(query, sizeof(query), "uploadId=%s", m->upload_id_enc);
	url = make_url(c, m->key, query);
	cap = 128 + (size_t)m->n_parts * 160;
	body = malloc(cap);
	if (!url || !body) {
		set_err("complete multipart upload: out of memory");
		goto out;
	}
	len = (size_t)snprintf(
	    body, cap,
	    "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
	for (i = 0; i < m->n_parts; i++) {
		n = snprintf(body + len, cap - len,
			     "<Part><PartNumber>%u</PartNumber><ETag>%s</ETag></Part>", i + 1,
			     m->etags[i]);
		if (n < 0 || (size_t)n >= cap - len) {
			st = WIRE_BAD_RESPONSE;
			set_err("complete multipart upload: part etag too long");
			goto out;
		}
		len += (size_t)n;
	}
	n = snprintf(body + len, cap - len, "</CompleteMultipartUpload>");
	if (n < 0 || (size_t)n >= cap - len)
		goto out;
	len += (size_t)n;

	h[nh++] = hdr("Content-Type", "application/xml");
	if (opt && opt->if_none_match)
		h[nh++] = hdr("If-None-Match", "*");
	/* S3 may answer 200 and then report an error in the body, after the
	 * status line went out: http.c cannot see it, so retry here. */
	for (tries = 0; tries < 3; tries++) {
		http_request_init(&req);
		req.method = "POST";
		req.url = url;
		req.headers = h;
		req.n_headers = nh;
		req.body = body;
		req.body_len = len;
		http_response_free(&resp);
		st = s3_send(c, &req, &resp, "complete multipart upload", NULL, 0);
		if (st != WIRE_OK)
			break;
		st = s3_xml_parse_complete(resp.body, resp.body_len, etag, etag_sz, err,
					   sizeof(err));
		if (st == WIRE_OK)
			break;
		set_err("complete multipart upload: %s", err);
		if (!wire_status_is_retryable(st))
			break;
	}
out:
	http_response_free(&resp);
	free(body);
	free(url);
	return st;
}

static enum wire_status put_multipart(struct s3_client *c, const char *key, int fd, uint64_t size,
				      const struct s3_put_options *opt, struct s3_object_info *out)
{
	enum wire_status st;
	struct http_request req;
	struct http_response resp = {0};
	struct http_header h[1];
	struct mp_upload m;
	struct s3_object_info info;
	pthread_t th[64];
	int nth = 0, want, i, lock_ok = 0;
	char *url = NULL, *upload_id = NULL, etag[80];
	size_t nh = 0;
	unsigned p;

	memset(&m, 0, sizeof(m));
	if (opt && opt->if_none_match) {
		/* Content-addressed keys: an object already there holds these
		 * bytes, so a HEAD (cheap) saves uploading every part. */
		st = s3_head(c, key, &info);
		if (st == WIRE_OK) {
			set_err("object already exists");
			st = WIRE_PRECONDITION;
			goto out;
		}
		if (st != WIRE_NOT_FOUND)
			goto out;
	}
	url = make_url(c, key, "uploads");
	if (!url) {
		st = WIRE_NOMEM;
		set_err("out of memory");
		goto out;
	}
	if (opt && opt->meta_xxh3)
		h[nh++] = hdr("x-amz-meta-xxh3", opt->meta_xxh3);
	http_request_init(&req);
	req.method = "POST";
	req.url = url;
	req.headers = h;
	req.n_headers = nh;
	st = s3_send(c, &req, &resp, "start multipart upload", NULL, 0);
	if (st != WIRE_OK)
		goto out;
	st = s3_xml_parse_initiate(resp.body, resp.body_len, &upload_id);
	if (st != WIRE_OK) {
		set_err("start multipart upload: %s reply", wire_status_str(st));
		goto out;
	}

	m.c = c;
	m.key = key;
	m.fd = fd;
	m.size = size;
	m.part_size = c->part_size;
	if ((size + m.part_size - 1) / m.part_size > MAX_PARTS)
		m.part_size = (size + MAX_PARTS - 1) / MAX_PARTS;
	m.n_parts = (unsigned)((size + m.part_size - 1) / m.part_size);
	m.upload_id_enc = http_uri_encode(upload_id, 0);
	m.etags = calloc(m.n_parts, sizeof(*m.etags));
	if (!m.upload_id_enc || !m.etags) {
		st = WIRE_NOMEM;
		set_err("out of memory");
		goto abort;
	}
	pthread_mutex_init(&m.lock, NULL);
	lock_ok = 1;
	want = c->parallel;
	if ((unsigned)want > m.n_parts)
		want = (int)m.n_parts;
	if (want > (int)(sizeof(th) / sizeof(th[0])))
		want = (int)(sizeof(th) / sizeof(th[0]));
	for (i = 0; i < want; i++) {
		if (pthread_create(&th[nth], NULL, part_worker, &m) != 0)
			break;
		nth++;
	}
	if (nth == 0)
		part_worker(&m); /* no thread to be had: send them one by one */
	for (i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	if (m.failed) {
		st = m.st;
		set_err("%s", m.err);
		goto abort;
	}
	for (p = 0; p < m.n_parts; p++)
		if (!m.etags[p]) {
			st = WIRE_BAD_RESPONSE;
			set_err("part %u was never sent", p + 1);
			goto abort;
		}
	st = complete_upload(c, &m, opt, etag, sizeof(etag));
	if (st != WIRE_OK)
		goto abort;
	if (out) {
		memset(out, 0, sizeof(*out));
		out->size = size;
		snprintf(out->etag, sizeof(out->etag), "%s", etag);
		if (opt && opt->meta_xxh3)
			snprintf(out->meta_hash, sizeof(out->meta_hash), "%s", opt->meta_xxh3);
	}
	goto out;
abort:
	if (m.upload_id_enc)
		abort_upload(c, key, m.upload_id_enc);
out:
	if (m.etags)
		for (p = 0; p < m.n_parts; p++)
			free(m.etags[p]);
	free(m.etags);
	free(m.upload_id_enc);
	if (lock_ok)
		pthread_mutex_destroy(&m.lock);
	free(upload_id);
	http_response_free(&resp);
	free(url);
	return st;
}

enum wire_status s3_put_file(struct s3_client *c, const char *key, int fd, uint64_t size,
			     const struct s3_put_options *opt, struct s3_object_info *out)
{
	last_err[0] = '\0';
	if (!c || !key || !*key || fd < 0) {
		set_err("invalid argument");
		return WIRE_INVALID;
	}
	if (size > c->threshold)
		return put_multipart(c, key, fd, size, opt, out);
	return put_single(c, key, fd, size, opt, out);
}

/* ---- GET, HEAD, DELETE ------------------------------------------------- */

/* Sends req (initialised, with its method and any headers or out_fd set) to
 * the object key, or to the bucket itself when key is NULL, and fills info
 * from the reply's headers when it succeeds and info is given. */
static enum wire_status send_simple(struct s3_client *c, const char *key, struct http_request *req,
				    struct s3_object_info *info)
{
	enum wire_status st = WIRE_NOMEM;
	struct http_response resp = {0};
	char *url = make_url(c, key, NULL);

	if (!url) {
		set_err("out of memory");
		goto out;
	}
	req->url = url;
	st = s3_send(c, req, &resp, NULL, NULL, 0);
	if (st == WIRE_OK && info)
		info_from_headers(&resp, info);
out:
	http_response_free(&resp);
	free(url);
	return st;
}

enum wire_status s3_get_to_file(struct s3_client *c, const char *key, int fd, uint64_t range_start,
				uint64_t range_len, const char *if_match,
				struct s3_object_info *out)
{
	struct http_request req;
	struct http_header h[2];
	char range[64];
	size_t nh = 0;

	last_err[0] = '\0';
	if (!c || !key || !*key || fd < 0) {
		set_err("invalid argument");
		return WIRE_INVALID;
	}
	if (range_len) {
		snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64, range_start,
			 range_start + range_len - 1);
		h[nh++] = hdr("Range", range);
	} else if (range_start) {
		snprintf(range, sizeof(range), "bytes=%" PRIu64 "-", range_start);
		h[nh++] = hdr("Range", range);
	}
	if (if_match)
		h[nh++] = hdr("If-Match", if_match);
	http_request_init(&req);
	req.method = "GET";
	req.headers = h;
	req.n_headers = nh;
	req.out_fd = fd;
	req.out_off = (off_t)range_start;
	return send_simple(c, key, &req, out);
}

enum wire_status s3_head(struct s3_client *c, const char *key, struct s3_object_info *out)
{
	struct http_request req;

	last_err[0] = '\0';
	if (!c || !key || !*key) {
		set_err("invalid argument");
		return WIRE_INVALID;
	}
	http_request_init(&req);
	req.method = "HEAD";
	return send_simple(c, key, &req, out);
}

enum wire_status s3_delete(struct s3_client *c, const char *key)
{
	enum wire_status st;
	struct http_request req;

	last_err[0] = '\0';
	if (!c || !key || !*key) {
		set_err("invalid argument");
		return WIRE_INVALID;
	}
	http_request_init(&req);
	req.method = "DELETE";
	st = send_simple(c, key, &req, NULL);
	if (st == WIRE_NOT_FOUND) {
		/* S3 itself answers 204 here; some stores say NoSuchKey. */
		st = WIRE_OK;
		last_err[0] = '\0';
	}
	return st;
}

/* ---- listing and buckets ----------------------------------------------- */

/* GETs the bucket with query (its own, freed here) and parses the reply
 * with parse into out: the shared half of the two listings. */
static enum wire_status
get_bucket_doc(struct s3_client *c, char *query,
	       enum wire_status (*parse)(const char *buf, size_t len, void *out), void *out)
{
	enum wire_status st = WIRE_NOMEM;
	struct http_request req;
	struct http_response resp = {0};
	char *url = make_url(c, NULL, query);

	if (!url) {
		set_err("out of memory");
		goto out;
	}
	http_request_init(&req);
	req.method = "GET";
	req.url = url;
	st = s3_send(c, &req, &resp, NULL, NULL, 0);
	if (st != WIRE_OK)
		goto out;
	st = parse(resp.body, resp.body_len, out);
	if (st != WIRE_OK)
		set_err("%s reply", wire_status_str(st));
out:
	http_response_free(&resp);
	free(query);
	free(url);
	return st;
}

static enum wire_status parse_list(const char *buf, size_t len, void *out)
{
	return s3_xml_parse_list(buf, len, out);
}

static enum wire_status parse_uploads(const char *buf, size_t len, void *out)
{
	return s3_xml_parse_uploads(buf, len, out);
}

enum wire_status s3_list_page(struct s3_client *c, const char *prefix, const char *continuation,
			      int max_keys, struct s3_list_page *out)
{
	enum wire_status st = WIRE_NOMEM;
	char *ep = NULL, *et = NULL, *query = NULL;

	last_err[0] = '\0';
	memset(out, 0, sizeof(*out));
	if (!c) {
		set_err("invalid argument");
		return WIRE_INVALID;
	}
	if (max_keys <= 0 || max_keys > 1000)
		max_keys = 1000;
	ep = http_uri_encode(prefix ? prefix : "", 0);
	et = continuation ? http_uri_encode(continuation, 0) : NULL;
	if (ep && (!continuation || et) &&
	    asprintf(&query, "list-type=2&max-keys=%d&prefix=%s%s%s", max_keys, ep,
		     et ? "&continuation-token=" : "", et ? et : "") >= 0)
		st = get_bucket_doc(c, query, parse_list, out);
	else
		set_err("out of memory");
	free(ep);
	free(et);
	return st;
}

enum wire_status s3_list_uploads_page(struct s3_client *c, const char *prefix,
				      const char *key_marker, const char *upload_id_marker,
				      struct s3_upload_page *out)
{
	enum wire_status st = WIRE_NOMEM;
	char *ep = NULL, *ek = NULL, *eu = NULL, *query = NULL;

	last_err[0] = '\0';
	memset(out, 0, sizeof(*out));
	if (!c) {
		set_err("invalid argument");
		return WIRE_INVALID;
	}
	ep = http_uri_encode(prefix ? prefix : "", 0);
	ek = key_marker ? http_uri_encode(key_marker, 0) : NULL;
	eu = upload_id_marker ? http_uri_encode(upload_id_marker, 0) : NULL;
	if (ep && (!key_marker || ek) && (!upload_id_marker || eu) &&
	    asprintf(&query, "uploads&prefix=%s%s%s%s%s", ep, ek ? "&key-marker=" : "",
		     ek ? ek : "", eu ? "&upload-id-marker=" : "", eu ? eu : "") >= 0)
		st = get_bucket_doc(c, query, parse_uploads, out);
	else
		set_err("out of memory");
	free(ep);
	free(ek);
	free(eu);
	return st;
}

enum wire_status s3_abort_upload(struct s3_client *c, const char *key, const char *upload_id)
{
	struct http_request req;
	struct http_response resp = {0};
	enum wire_status st = WIRE_NOMEM;
	char *enc = NULL, *query = NULL, *url = NULL;

	last_err[0] = '\0';
	enc = http_uri_encode(upload_id, 0);
	if (!enc || asprintf(&query, "uploadId=%s", enc) < 0) {
		query = NULL;
		set_err("out of memory");
		goto out;
	}
	url = make_url(c, key, query);
	if (!url) {
		set_err("out of memory");
		goto out;
	}
	http_request_init(&req);
	req.method = "DELETE";
	req.url = url;
	st = s3_send(c, &req, &resp, "abort multipart upload", NULL, 0);
	if (st == WIRE_NOT_FOUND)
		st = WIRE_OK; /* NoSuchUpload: gone already */
out:
	http_response_free(&resp);
	free(enc);
	free(query);
	free(url);
	return st;
}

enum wire_status s3_head_bucket(struct s3_client *c)
{
	enum wire_status st;
	struct http_request req;

	last_err[0] = '\0';
	http_request_init(&req);
	req.method = "HEAD";
	st = send_simple(c, NULL, &req, NULL);
	if (st == WIRE_NOT_FOUND) {
		/* A HEAD has no body to say NoSuchBucket: 404 is all there is. */
		st = WIRE_NO_BUCKET;
		set_err("no such bucket '%s'", c->bucket);
	}
	return st;
}

enum wire_status s3_create_bucket(struct s3_client *c)
{
	enum wire_status st = WIRE_NOMEM;
	struct http_request req;
	struct http_response resp = {0};
	char *url, *body = NULL, code[64];
	int n = 0;

	last_err[0] = '\0';
	url = make_url(c, NULL, NULL);
	if (!url)
		goto oom;
	http_request_init(&req);
	if (strcmp(c->region, "us-east-1") != 0) {
		n = asprintf(
		    &body,
		    "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		    "<LocationConstraint>%s</LocationConstraint></CreateBucketConfiguration>",
		    c->region);
		if (n < 0) {
			body = NULL;
			goto oom;
		}
		req.body = body;
		req.body_len = (size_t)n;
	}
	req.method = "PUT";
	req.url = url;
	st = s3_send(c, &req, &resp, NULL, code, sizeof(code));
	if (st != WIRE_OK && strcmp(code, "BucketAlreadyOwnedByYou") == 0) {
		st = WIRE_OK;
		last_err[0] = '\0';
	}
	goto out;
oom:
	st = WIRE_NOMEM;
	set_err("out of memory");
out:
	http_response_free(&resp);
	free(body);
	free(url);
	return st;
}
