/* PUT of a file to S3 (s3_put_file, s3.h): one request up to the client's
 * multipart threshold, else a multipart upload whose parts go in parallel,
 * each with its own MD5 and SHA-256 of the file range, aborted on failure. */
#include "s3/wire/s3.h"
#include "s3/wire/s3_i.h"

#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "s3/base/log.h"
#include "s3/base/tsa.h"
#include "s3/wire/xml_i.h"

/* ---- digests of a file range ------------------------------------------ */

struct digests {
	char sha256_hex[65];
	char md5_b64[32];
};

/* SHA-256 (for the signature) and MD5 (for Content-MD5) in one streamed
 * pass over len bytes of fd from off. */
static enum wire_status file_digests(int fd, off_t off, uint64_t len, struct digests *d,
				     struct wire_error *err)
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
		wire_error_set(err, st, "digest init failed");
		goto out;
	}
	while (len > 0) {
		do
			n = pread(fd, buf, len < chunk ? (size_t)len : chunk, off);
		while (n < 0 && errno == EINTR);
		if (n <= 0) {
			wire_error_set(err, st, "cannot read the source file: %s",
				       n < 0 ? strerror(errno) : "file shorter than its size");
			goto out;
		}
		EVP_DigestUpdate(sha, buf, (size_t)n);
		EVP_DigestUpdate(md5, buf, (size_t)n);
		off += n;
		len -= (uint64_t)n;
	}
	if (EVP_DigestFinal_ex(sha, dig, &dl) != 1 || EVP_DigestFinal_ex(md5, mdig, &ml) != 1) {
		wire_error_set(err, st, "digest final failed");
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

/* What a PUT of size bytes that S3 answered with etag (may be NULL) stored:
 * the same for one request and for a multipart upload. out may be NULL. */
static void put_info(struct s3_object_info *out, uint64_t size, const char *etag,
		     const struct s3_put_options *opt)
{
	if (!out)
		return;
	memset(out, 0, sizeof(*out));
	out->size = size;
	if (etag)
		snprintf(out->etag, sizeof(out->etag), "%s", etag);
	if (opt && opt->meta_xxh3)
		snprintf(out->meta_hash, sizeof(out->meta_hash), "%s", opt->meta_xxh3);
}

static enum wire_status put_single(struct s3_client *c, const char *key, int fd, uint64_t size,
				   const struct s3_put_options *opt, struct s3_object_info *out,
				   struct wire_error *err)
{
	enum wire_status st;
	struct http_request req;
	struct http_response resp = {0};
	struct http_header h[3];
	struct digests d;
	size_t nh = 0;
	char *url = s3_make_url(c, key, NULL);

	if (!url) {
		st = wire_error_set(err, WIRE_NOMEM, "out of memory");
		goto out;
	}
	st = file_digests(fd, 0, size, &d, err);
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
	st = s3_send(c, &req, &resp, NULL, err);
	if (st == WIRE_OK)
		put_info(out, size, http_response_header(&resp, "etag"), opt);
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
	tfs_mutex lock; /* protects next, failed, st, err, etags[] */
	unsigned next;	/* next part index to send */
	int failed;
	enum wire_status st;   /* first failure */
	struct wire_error err; /* its reason */
	char **etags;	       /* n_parts, malloc'ed, NULL until sent */
};

static enum wire_status put_part(struct mp_upload *m, unsigned i, char **etag,
				 struct wire_error *err) EXCLUDES(m->lock)
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
	url = s3_make_url(m->c, m->key, query);
	if (!url) {
		st = wire_error_set(err, WIRE_NOMEM, "%s: out of memory", name);
		goto out;
	}
	st = file_digests(m->fd, (off_t)off, len, &d, err);
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
	st = s3_send(m->c, &req, &resp, name, err);
	if (st != WIRE_OK)
		goto out;
	v = http_response_header(&resp, "etag");
	if (!v || !*v) {
		st = wire_error_set(err, WIRE_BAD_RESPONSE, "%s: reply has no ETag", name);
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
	struct wire_error err;
	enum wire_status st;
	unsigned i;
	char *etag;

	for (;;) {
		tfs_mutex_lock(&m->lock);
		if (m->failed || m->next >= m->n_parts) {
			tfs_mutex_unlock(&m->lock);
			break;
		}
		i = m->next++;
		tfs_mutex_unlock(&m->lock);

		wire_error_clear(&err);
		st = put_part(m, i, &etag, &err);
		tfs_mutex_lock(&m->lock);
		if (st == WIRE_OK) {
			m->etags[i] = etag;
		} else if (!m->failed) {
			m->failed = 1;
			m->st = st;
			m->err = err;
		}
		tfs_mutex_unlock(&m->lock);
	}
	return NULL;
}

static void abort_upload(struct s3_client *c, const char *key, const char *upload_id_enc)
{
	struct http_request req;
	struct http_response resp = {0};
	struct wire_error err; /* the abort's own: the caller keeps the one that made us abort */
	char query[512];
	char *url;

	wire_error_clear(&err);
	snprintf(query, sizeof(query), "uploadId=%s", upload_id_enc);
	url = s3_make_url(c, key, query);
	if (!url)
		goto out;
	http_request_init(&req);
	req.method = "DELETE";
	req.url = url;
	if (s3_send(c, &req, &resp, "abort multipart upload", &err) != WIRE_OK &&
	    resp.status != 404)
		log_warn("%s", err.message);
out:
	http_response_free(&resp);
	free(url);
}

static enum wire_status complete_upload(struct s3_client *c, struct mp_upload *m,
					const struct s3_put_options *opt, char *etag,
					size_t etag_sz, struct wire_error *err)
{
	enum wire_status st = WIRE_NOMEM;
	struct http_request req;
	struct http_response resp = {0};
	struct http_header h[2];
	size_t nh = 0, cap, len = 0;
	char *body = NULL, *url = NULL, query[512], why[256];
	unsigned i;
	int n, tries;

	snprintf(query, sizeof(query), "uploadId=%s", m->upload_id_enc);
	url = s3_make_url(c, m->key, query);
	cap = 128 + (size_t)m->n_parts * 160;
	body = malloc(cap);
	if (!url || !body) {
		wire_error_set(err, st, "complete multipart upload: out of memory");
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
			st = wire_error_set(err, WIRE_BAD_RESPONSE,
					    "complete multipart upload: part etag too long");
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
		st = s3_send(c, &req, &resp, "complete multipart upload", err);
		if (st != WIRE_OK)
			break;
		st = s3_xml_parse_complete(resp.body, resp.body_len, etag, etag_sz, why,
					   sizeof(why));
		if (st == WIRE_OK)
			break;
		wire_error_set(err, st, "complete multipart upload: %s", why);
		if (!wire_status_is_retryable(st))
			break;
	}
out:
	http_response_free(&resp);
	free(body);
	free(url);
	return st;
}

/* Long because initiate, parallel parts, complete and abort-on-failure share the upload's state
 * and its one cleanup exit. */
static enum wire_status put_multipart(struct s3_client *c, const char *key, int fd, uint64_t size,
				      const struct s3_put_options *opt, struct s3_object_info *out,
				      struct wire_error *err)
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
		st = s3_head(c, key, &info, err);
		if (st == WIRE_OK) {
			st = wire_error_set(err, WIRE_PRECONDITION, "object already exists");
			goto out;
		}
		if (st != WIRE_NOT_FOUND)
			goto out;
	}
	url = s3_make_url(c, key, "uploads");
	if (!url) {
		st = wire_error_set(err, WIRE_NOMEM, "out of memory");
		goto out;
	}
	if (opt && opt->meta_xxh3)
		h[nh++] = hdr("x-amz-meta-xxh3", opt->meta_xxh3);
	http_request_init(&req);
	req.method = "POST";
	req.url = url;
	req.headers = h;
	req.n_headers = nh;
	st = s3_send(c, &req, &resp, "start multipart upload", err);
	if (st != WIRE_OK)
		goto out;
	st = s3_xml_parse_initiate(resp.body, resp.body_len, &upload_id);
	if (st != WIRE_OK) {
		wire_error_set(err, st, "start multipart upload: %s reply", wire_status_str(st));
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
		st = wire_error_set(err, WIRE_NOMEM, "out of memory");
		goto abort;
	}
	tfs_mutex_init(&m.lock);
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
		if (err)
			*err = m.err;
		goto abort;
	}
	for (p = 0; p < m.n_parts; p++)
		if (!m.etags[p]) {
			st =
			    wire_error_set(err, WIRE_BAD_RESPONSE, "part %u was never sent", p + 1);
			goto abort;
		}
	st = complete_upload(c, &m, opt, etag, sizeof(etag), err);
	if (st != WIRE_OK)
		goto abort;
	put_info(out, size, etag, opt);
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
		tfs_mutex_destroy(&m.lock);
	free(upload_id);
	http_response_free(&resp);
	free(url);
	return st;
}

enum wire_status s3_put_file(struct s3_client *c, const char *key, int fd, uint64_t size,
			     const struct s3_put_options *opt, struct s3_object_info *out,
			     struct wire_error *err)
{
	wire_error_clear(err);
	if (!c || !key || !*key || fd < 0)
		return wire_error_set(err, WIRE_INVALID, "invalid argument");
	if (size > c->threshold)
		return put_multipart(c, key, fd, size, opt, out, err);
	return put_single(c, key, fd, size, opt, out, err);
}
