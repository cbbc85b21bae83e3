/* The S3 client over http.c: URLs (path-style or virtual-hosted, keys
 * URI-encoded per segment), streamed GET, HEAD, DELETE and ListObjectsV2,
 * with S3 error bodies decoded into wire statuses. PUT and multipart
 * upload are in s3_put.c. */
#include "s3/wire/s3.h"
#include "s3/wire/s3_i.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "s3/base/log.h"
#include "s3/base/parse.h"
#include "s3/wire/xml_i.h"

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
char *s3_make_url(const struct s3_client *c, const char *key, const char *query)
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

/* Sends a signed S3 request. On failure fills err (may be NULL): its
 * message "[<what>: ]<Code>: <Message> (<transport detail>)" (what names a
 * step of a larger operation, NULL for none), the S3 error code and the
 * HTTP status. */
enum wire_status s3_send(struct s3_client *c, struct http_request *req, struct http_response *resp,
			 const char *what, struct wire_error *err)
{
	enum wire_status st;
	char emsg[256] = "", detail[256]; /* the transport detail, cut as it always was */

	req->service = "s3";
	req->region = c->region;
	req->classify = s3_classify;
	req->classify_arg = c;
	st = http_send(c->http, req, resp, err);
	if (st == WIRE_OK || !err)
		return st;
	/* err holds the transport's detail; the reply's code and message go first. */
	snprintf(detail, sizeof(detail), "%.255s", err->message);
	if (resp->body && resp->body_len &&
	    s3_xml_parse_error(resp->body, resp->body_len, err->code, sizeof(err->code), emsg,
			       sizeof(emsg)) == WIRE_OK &&
	    err->code[0])
		wire_error_set(err, st, "%s%s%s: %s (%s)", what ? what : "", what ? ": " : "",
			       err->code, emsg[0] ? emsg : wire_status_str(st), detail);
	else
		wire_error_set(err, st, "%s%s%s (%s)", what ? what : "", what ? ": " : "",
			       wire_status_str(st), detail);
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

/* ---- GET, HEAD, DELETE ------------------------------------------------- */

/* Sends req (initialised, with its method and any headers or out_fd set) to
 * the object key, or to the bucket itself when key is NULL, and fills info
 * from the reply's headers when it succeeds and info is given. */
static enum wire_status send_simple(struct s3_client *c, const char *key, struct http_request *req,
				    struct s3_object_info *info, struct wire_error *err)
{
	enum wire_status st = WIRE_NOMEM;
	struct http_response resp = {0};
	char *url = s3_make_url(c, key, NULL);

	if (!url) {
		wire_error_set(err, st, "out of memory");
		goto out;
	}
	req->url = url;
	st = s3_send(c, req, &resp, NULL, err);
	if (st == WIRE_OK && info)
		info_from_headers(&resp, info);
out:
	http_response_free(&resp);
	free(url);
	return st;
}

/* Starts a request of method on the object key: clears err, checks the
 * arguments every object call takes (args_ok: the call's own) and
 * initialises req. WIRE_OK or WIRE_INVALID. */
static enum wire_status object_request(struct s3_client *c, const char *key, bool args_ok,
				       const char *method, struct http_request *req,
				       struct wire_error *err)
{
	wire_error_clear(err);
	if (!c || !key || !*key || !args_ok)
		return wire_error_set(err, WIRE_INVALID, "invalid argument");
	http_request_init(req);
	req->method = method;
	return WIRE_OK;
}

enum wire_status s3_get_to_file(struct s3_client *c, const char *key, int fd, uint64_t range_start,
				uint64_t range_len, const char *if_match,
				struct s3_object_info *out, struct wire_error *err)
{
	struct http_request req;
	struct http_header h[2];
	char range[64];
	size_t nh = 0;

	if (object_request(c, key, fd >= 0, "GET", &req, err) != WIRE_OK)
		return WIRE_INVALID;
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
	req.headers = h;
	req.n_headers = nh;
	req.out_fd = fd;
	req.out_off = (off_t)range_start;
	return send_simple(c, key, &req, out, err);
}

enum wire_status s3_head(struct s3_client *c, const char *key, struct s3_object_info *out,
			 struct wire_error *err)
{
	struct http_request req;

	if (object_request(c, key, true, "HEAD", &req, err) != WIRE_OK)
		return WIRE_INVALID;
	return send_simple(c, key, &req, out, err);
}

enum wire_status s3_delete(struct s3_client *c, const char *key, struct wire_error *err)
{
	enum wire_status st;
	struct http_request req;

	if (object_request(c, key, true, "DELETE", &req, err) != WIRE_OK)
		return WIRE_INVALID;
	st = send_simple(c, key, &req, NULL, err);
	if (st == WIRE_NOT_FOUND) {
		/* S3 itself answers 204 here; some stores say NoSuchKey. */
		st = WIRE_OK;
		wire_error_clear(err);
	}
	return st;
}

/* ---- listing and buckets ----------------------------------------------- */

/* GETs the bucket with query (its own, freed here) and parses the reply
 * with parse into out: the shared half of the two listings. */
static enum wire_status get_bucket_doc(struct s3_client *c, char *query,
				       enum wire_status (*parse)(const char *buf, size_t len,
								 void *out),
				       void *out, struct wire_error *err)
{
	enum wire_status st = WIRE_NOMEM;
	struct http_request req;
	struct http_response resp = {0};
	char *url = s3_make_url(c, NULL, query);

	if (!url) {
		wire_error_set(err, st, "out of memory");
		goto out;
	}
	http_request_init(&req);
	req.method = "GET";
	req.url = url;
	st = s3_send(c, &req, &resp, NULL, err);
	if (st != WIRE_OK)
		goto out;
	st = parse(resp.body, resp.body_len, out);
	if (st != WIRE_OK)
		wire_error_set(err, st, "%s reply", wire_status_str(st));
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
			      int max_keys, struct s3_list_page *out, struct wire_error *err)
{
	enum wire_status st = WIRE_NOMEM;
	char *ep = NULL, *et = NULL, *query = NULL;

	wire_error_clear(err);
	memset(out, 0, sizeof(*out));
	if (!c)
		return wire_error_set(err, WIRE_INVALID, "invalid argument");
	if (max_keys <= 0 || max_keys > 1000)
		max_keys = 1000;
	ep = http_uri_encode(prefix ? prefix : "", 0);
	et = continuation ? http_uri_encode(continuation, 0) : NULL;
	if (ep && (!continuation || et) &&
	    asprintf(&query, "list-type=2&max-keys=%d&prefix=%s%s%s", max_keys, ep,
		     et ? "&continuation-token=" : "", et ? et : "") >= 0)
		st = get_bucket_doc(c, query, parse_list, out, err);
	else
		wire_error_set(err, st, "out of memory");
	free(ep);
	free(et);
	return st;
}

enum wire_status s3_list_uploads_page(struct s3_client *c, const char *prefix,
				      const char *key_marker, const char *upload_id_marker,
				      struct s3_upload_page *out, struct wire_error *err)
{
	enum wire_status st = WIRE_NOMEM;
	char *ep = NULL, *ek = NULL, *eu = NULL, *query = NULL;

	wire_error_clear(err);
	memset(out, 0, sizeof(*out));
	if (!c)
		return wire_error_set(err, WIRE_INVALID, "invalid argument");
	ep = http_uri_encode(prefix ? prefix : "", 0);
	ek = key_marker ? http_uri_encode(key_marker, 0) : NULL;
	eu = upload_id_marker ? http_uri_encode(upload_id_marker, 0) : NULL;
	if (ep && (!key_marker || ek) && (!upload_id_marker || eu) &&
	    asprintf(&query, "uploads&prefix=%s%s%s%s%s", ep, ek ? "&key-marker=" : "",
		     ek ? ek : "", eu ? "&upload-id-marker=" : "", eu ? eu : "") >= 0)
		st = get_bucket_doc(c, query, parse_uploads, out, err);
	else
		wire_error_set(err, st, "out of memory");
	free(ep);
	free(ek);
	free(eu);
	return st;
}

enum wire_status s3_abort_upload(struct s3_client *c, const char *key, const char *upload_id,
				 struct wire_error *err)
{
	struct http_request req;
	struct http_response resp = {0};
	enum wire_status st = WIRE_NOMEM;
	char *enc = NULL, *query = NULL, *url = NULL;

	wire_error_clear(err);
	enc = http_uri_encode(upload_id, 0);
	if (!enc || asprintf(&query, "uploadId=%s", enc) < 0) {
		query = NULL;
		wire_error_set(err, st, "out of memory");
		goto out;
	}
	url = s3_make_url(c, key, query);
	if (!url) {
		wire_error_set(err, st, "out of memory");
		goto out;
	}
	http_request_init(&req);
	req.method = "DELETE";
	req.url = url;
	st = s3_send(c, &req, &resp, "abort multipart upload", err);
	if (st == WIRE_NOT_FOUND) {
		st = WIRE_OK; /* NoSuchUpload: gone already */
		wire_error_clear(err);
	}
out:
	http_response_free(&resp);
	free(enc);
	free(query);
	free(url);
	return st;
}

enum wire_status s3_head_bucket(struct s3_client *c, struct wire_error *err)
{
	enum wire_status st;
	struct http_request req;

	wire_error_clear(err);
	http_request_init(&req);
	req.method = "HEAD";
	st = send_simple(c, NULL, &req, NULL, err);
	if (st == WIRE_NOT_FOUND)
		/* A HEAD has no body to say NoSuchBucket: 404 is all there is. */
		st = wire_error_set(err, WIRE_NO_BUCKET, "no such bucket '%s'", c->bucket);
	return st;
}

enum wire_status s3_create_bucket(struct s3_client *c, struct wire_error *err)
{
	enum wire_status st = WIRE_NOMEM;
	struct http_request req;
	struct http_response resp = {0};
	struct wire_error own;
	char *url, *body = NULL;
	int n = 0;

	if (!err)
		err = &own; /* the error code decides */
	wire_error_clear(err);
	url = s3_make_url(c, NULL, NULL);
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
	st = s3_send(c, &req, &resp, NULL, err);
	if (st != WIRE_OK && strcmp(err->code, "BucketAlreadyOwnedByYou") == 0) {
		st = WIRE_OK;
		wire_error_clear(err);
	}
	goto out;
oom:
	st = wire_error_set(err, WIRE_NOMEM, "out of memory");
out:
	http_response_free(&resp);
	free(body);
	free(url);
	return st;
}
