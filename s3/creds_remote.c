/* The credential chain's remote sources (creds_i.h): the container
 * credentials endpoint (ECS/EKS), EC2 instance metadata with IMDSv2, and
 * STS AssumeRoleWithWebIdentity; replies capped, secrets wiped. */
#include "creds.h"
#include "creds_i.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "creds_i.h"
#include "log.h"
#include "s3/parse.h"
#include "xml_i.h"

/* ---- metadata services over libcurl ---- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init_once(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct capbuf {
	char *buf;
	size_t len;
	size_t cap;
	int overflow; /* the reply went past META_MAX_BYTES */
};

static size_t capbuf_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct capbuf *b = arg;
	size_t n = size * nmemb;

	if (b->len + n > META_MAX_BYTES) {
		b->overflow = 1;
		return 0; /* aborts the transfer */
	}
	if (!b->buf) {
		b->buf = malloc(META_MAX_BYTES + 1);
		if (!b->buf)
			return 0;
		b->cap = META_MAX_BYTES + 1;
	}
	memcpy(b->buf + b->len, ptr, n);
	b->len += n;
	b->buf[b->len] = '\0';
	return n;
}

static void capbuf_wipe(struct capbuf *b)
{
	if (b->buf) {
		OPENSSL_cleanse(b->buf, b->cap);
		free(b->buf);
	}
	memset(b, 0, sizeof(*b));
}

static size_t no_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
	return 0;
}

/* One request to a credentials service (metadata, STS). */
struct meta_req {
	const char *method; /* "GET", "PUT" (empty body) or "POST" */
	const char *url;    /* logged: holds no secret */
	const struct curl_slist *headers;
	const char *post;    /* POST body (may hold a secret), else NULL */
	const char *ca_file; /* CA bundle, NULL: the system's */
	long total_ms;	     /* 0: META_TOTAL_MS */
};

/* One request: no proxy, no redirects, TLS peer verification on, short
 * timeouts, a capped reply. *body (malloc'ed, the caller wipes it) is the
 * reply on a 2xx and on another HTTP status (then it may stay NULL).
 * Long because it is the one libcurl set-up of the credential services: options, the transfer,
 * and the mapping of its outcome to a status. */
static enum wire_status meta_fetch(const struct meta_req *r, char **body, long *status)
{
	const char *method = r->method, *url = r->url;
	enum wire_status st = WIRE_NETWORK;
	struct capbuf b = {0};
	CURL *h = NULL;
	CURLcode cc;

	*body = NULL;
	*status = 0;
	pthread_once(&curl_once, curl_init_once);
	if (curl_init_rc != CURLE_OK) {
		log_err("cannot fetch credentials: libcurl init failed");
		return WIRE_NETWORK;
	}
	h = curl_easy_init();
	if (!h)
		return WIRE_NOMEM;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, META_CONNECT_MS);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, r->total_ms ? r->total_ms : META_TOTAL_MS);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, r->headers);
	if (r->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, r->ca_file);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, capbuf_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	if (strcmp(method, "PUT") == 0) {
		/* An empty PUT body: IMDSv2 wants a PUT for its token. */
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)0);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, no_body);
	} else if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->post ? r->post : "");
	}
	cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	if (cc != CURLE_OK) {
		if (b.overflow) {
			st = WIRE_BAD_RESPONSE;
			log_warn("credentials endpoint reply too large: over %d bytes",
				 META_MAX_BYTES);
		} else if (cc == CURLE_OPERATION_TIMEDOUT) {
			st = WIRE_TIMEOUT;
		} else if (cc == CURLE_OUT_OF_MEMORY || cc == CURLE_WRITE_ERROR) {
			st = WIRE_NOMEM;
		} else {
			st = WIRE_NETWORK;
		}
		/* The URL holds no secret: tokens travel in headers. */
		log_debug("credentials endpoint %s %s failed: %s", method, url,
			  curl_easy_strerror(cc));
		goto out;
	}
	if (*status < 200 || *status > 299) {
		st = *status >= 500			? WIRE_SERVER
		     : *status == 401 || *status == 403 ? WIRE_AUTH
							: WIRE_CLIENT;
		log_debug("credentials endpoint %s %s answered http %ld", method, url, *status);
		*body = b.buf; /* an error document (STS) says why */
		b.buf = NULL;
		goto out;
	}
	if (!b.buf) {
		b.buf = strdup("");
		if (!b.buf) {
			st = WIRE_NOMEM;
			goto out;
		}
		b.cap = 1;
	}
	*body = b.buf;
	b.buf = NULL;
	st = WIRE_OK;
out:
	capbuf_wipe(&b);
	curl_easy_cleanup(h);
	return st;
}

/* Header lists carry tokens: wipe before freeing. */
static void slist_wipe_free(struct curl_slist *l)
{
	for (struct curl_slist *n = l; n; n = n->next)
		OPENSSL_cleanse(n->data, strlen(n->data));
	curl_slist_free_all(l);
}

/* The JSON both services answer with: AccessKeyId, SecretAccessKey, Token,
 * Expiration (and Code from IMDS); a credential_process names the token
 * SessionToken (token_field). */
enum wire_status creds_from_json(const char *body, const char *what, const char *token_field,
				 struct aws_creds *out)
{
	json_error_t jerr;
	json_t *j = json_loads(body, 0, &jerr);
	const char *ak, *sk, *tok, *exp, *code;
	int64_t expires = 0;
	enum wire_status st = WIRE_BAD_RESPONSE;

	if (!j || !json_is_object(j)) {
		log_warn("cannot read %s credentials: reply is not a json object", what);
		goto out;
	}
	code = json_string_value(json_object_get(j, "Code"));
	if (code && strcmp(code, "Success") != 0) {
		log_warn("cannot read %s credentials: service says %.64s", what, code);
		goto out;
	}
	ak = json_string_value(json_object_get(j, "AccessKeyId"));
	sk = json_string_value(json_object_get(j, "SecretAccessKey"));
	tok = json_string_value(json_object_get(j, token_field));
	exp = json_string_value(json_object_get(j, "Expiration"));
	if (!ak || !sk || !*ak || !*sk) {
		log_warn("cannot read %s credentials: no key id or secret in the reply", what);
		goto out;
	}
	if (exp) {
		/* AWS sends "Z"; other agents a numeric offset */
		if (tfs_parse_iso8601_ms(exp, false, &expires) < 0 || expires <= 0) {
			log_warn("cannot read %s credentials: bad expiration '%.40s'", what, exp);
			goto out;
		}
	}
	st = creds_set(out, ak, sk, tok, expires);
out:
	/* jansson frees its copies of the strings without wiping them; all
	 * we can do is keep the json short-lived. */
	json_decref(j);
	return st;
}

/* An IPv4 or IPv6 literal of loopback (127.0.0.0/8, ::1, ::ffff:127.x)
 * or of a container agent (169.254.170.2 for ECS, 169.254.170.23 and
 * fd00:ec2::23 for EKS pod identity). host is libcurl's form: IPv6 in
 * brackets, the zone id already split off. */
static int container_host_trusted(const char *host)
{
	static const uint8_t eks6[16] = {0xfd, 0x00, 0x0e, 0xc2, [15] = 0x23};
	struct in6_addr a6;
	struct in_addr a4;
	char buf[INET6_ADDRSTRLEN + 2];
	size_t n = strlen(host);
	uint32_t v4;

	if (strcasecmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1) {
		v4 = ntohl(a4.s_addr);
		return v4 >> 24 == 127 || v4 == 0xa9feaa02 || v4 == 0xa9feaa17;
	}
	if (n < 3 || n - 2 >= sizeof(buf) || host[0] != '[' || host[n - 1] != ']')
		return 0;
	memcpy(buf, host + 1, n - 2);
	buf[n - 2] = '\0';
	if (inet_pton(AF_INET6, buf, &a6) != 1)
		return 0;
	if (IN6_IS_ADDR_LOOPBACK(&a6) || memcmp(a6.s6_addr, eks6, 16) == 0)
		return 1;
	return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
}

enum wire_status aws_container_url(const char *url, char **out)
{
	enum wire_status st = WIRE_INVALID;
	char *scheme = NULL, *host = NULL, *user = NULL, *pass = NULL;
	CURLU *u = curl_url();
	CURLUcode rc;

	*out = NULL;
	if (!u)
		return WIRE_NOMEM;
	rc = curl_url_set(u, CURLUPART_URL, url, 0);
	if (rc != CURLUE_OK) {
		/* Not the URL itself: it could hold a password. */
		log_err("cannot use container credentials: malformed endpoint url: %s",
			curl_url_strerror(rc));
		goto out;
	}
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		log_err("cannot use container credentials: endpoint url has no scheme or host");
		goto out;
	}
	/* "http://127.0.0.1@evil/" names the host evil: userinfo is how a
	 * loopback-looking URL points elsewhere, and no endpoint needs it. */
	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PASSWORD, &pass, 0) == CURLUE_OK) {
		log_err("cannot use container credentials at host %s: the url holds user "
			"information",
			host);
		goto out;
	}
	if (strcmp(scheme, "https") != 0 &&
	    (strcmp(scheme, "http") != 0 || !container_host_trusted(host))) {
		/* A token must not cross an untrusted network in the clear. */
		log_err("cannot use container credentials at %s://%s: plain http only to "
			"loopback or the container agent",
			scheme, host);
		goto out;
	}
	/* The URL fetched is the one checked, in libcurl's own spelling. */
	rc = curl_url_get(u, CURLUPART_URL, out, 0);
	st = rc == CURLUE_OK ? WIRE_OK : rc == CURLUE_OUT_OF_MEMORY ? WIRE_NOMEM : WIRE_INVALID;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_free(pass);
	curl_url_cleanup(u);
	return st;
}

/* The container credentials endpoint (ECS task role, EKS pod identity).
 * WIRE_NO_CREDENTIALS when not configured. */
enum wire_status creds_from_container(const char *ca_file, struct aws_creds *out)
{
	struct meta_req req = {.method = "GET", .ca_file = ca_file};
	const char *rel = creds_env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char *full = creds_env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	const char *tok = creds_env("AWS_CONTAINER_AUTHORIZATION_TOKEN");
	const char *tok_file = creds_env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	struct curl_slist *hdrs = NULL, *n;
	char *url = NULL, *joined = NULL, *body = NULL, *file_tok = NULL, *auth = NULL;
	enum wire_status st;
	long status;
	int rc;

	if (!rel && !full)
		return WIRE_NO_CREDENTIALS;
	if (rel) {
		/* Appended to the agent's address, never resolved against it:
		 * a relative "//host/x" must not change the host. */
		if (asprintf(&joined, "%s%s%s", CONTAINER_HOST, rel[0] == '/' ? "" : "/", rel) < 0)
			return WIRE_NOMEM;
	}
	st = aws_container_url(rel ? joined : full, &url);
	free(joined);
	if (st != WIRE_OK)
		goto out;
	if (tok_file) {
		/* EKS rotates the file: read it at each fetch. */
		rc = creds_read_small_file(tok_file, 16384, &file_tok);
		if (rc) {
			log_err("cannot read container authorization token file '%s': %s", tok_file,
				strerror(-rc));
			st = WIRE_LOCAL_IO;
			goto out;
		}
		tok = creds_trim(file_tok);
	}
	if (tok) {
		if (strpbrk(tok, "\r\n")) {
			log_err("cannot use container authorization token: it spans lines");
			st = WIRE_INVALID;
			goto out;
		}
		if (asprintf(&auth, "Authorization: %s", tok) < 0) {
			auth = NULL;
			st = WIRE_NOMEM;
			goto out;
		}
		n = curl_slist_append(hdrs, auth);
		if (!n) {
			st = WIRE_NOMEM;
			goto out;
		}
		hdrs = n;
	}
	req.url = url;
	req.headers = hdrs;
	st = meta_fetch(&req, &body, &status);
	if (st != WIRE_OK) {
		log_warn("cannot fetch container credentials from '%s': %s (http %ld)", url,
			 wire_status_str(st), status);
		goto out;
	}
	st = creds_from_json(body, "container", "Token", out);
	if (st == WIRE_OK)
		log_debug("credentials from the container endpoint");
out:
	slist_wipe_free(hdrs);
	creds_wipe_free(auth);
	creds_wipe_free(file_tok);
	creds_wipe_free(body);
	curl_free(url);
	return st;
}

/* EC2 instance metadata, IMDSv2 only: PUT a session token, then the role
 * name, then its credentials, each with the token.
 * Long because IMDSv2's three requests (token, role, credentials) share the token and its
 * wiping. */
enum wire_status creds_from_imds(const char *base, struct aws_creds *out)
{
	struct curl_slist *hdrs = NULL, *n;
	char *url = NULL, *token = NULL, *roles = NULL, *body = NULL, *hdr = NULL, *role, *tok;
	const char *b = base;
	size_t blen = strlen(b);
	enum wire_status st;
	long status;

	while (blen && b[blen - 1] == '/')
		blen--;

	if (asprintf(&url, "%.*s/latest/api/token", (int)blen, b) < 0) {
		url = NULL;
		st = WIRE_NOMEM;
		goto out;
	}
	n = curl_slist_append(NULL, "X-aws-ec2-metadata-token-ttl-seconds: " IMDS_TOKEN_TTL);
	if (!n) {
		st = WIRE_NOMEM;
		goto out;
	}
	hdrs = n;
	st = meta_fetch(&(struct meta_req){.method = "PUT", .url = url, .headers = hdrs}, &token,
			&status);
	slist_wipe_free(hdrs);
	hdrs = NULL;
	if (st != WIRE_OK) {
		log_debug("cannot get an imds session token from %.*s: %s (http %ld)", (int)blen, b,
			  wire_status_str(st), status);
		goto out;
	}
	tok = creds_trim(token);
	if (!*tok || strpbrk(tok, "\r\n")) {
		log_warn("cannot use imds session token: empty or malformed");
		st = WIRE_BAD_RESPONSE;
		goto out;
	}
	if (asprintf(&hdr, "X-aws-ec2-metadata-token: %s", tok) < 0) {
		hdr = NULL;
		st = WIRE_NOMEM;
		goto out;
	}
	hdrs = curl_slist_append(NULL, hdr);
	if (!hdrs) {
		st = WIRE_NOMEM;
		goto out;
	}

	free(url);
	if (asprintf(&url, "%.*s/latest/meta-data/iam/security-credentials/", (int)blen, b) < 0) {
		url = NULL;
		st = WIRE_NOMEM;
		goto out;
	}
	st = meta_fetch(&(struct meta_req){.method = "GET", .url = url, .headers = hdrs}, &roles,
			&status);
	if (st != WIRE_OK) {
		log_warn("cannot list the instance role from imds: %s (http %ld)",
			 wire_status_str(st), status);
		if (st == WIRE_CLIENT && status == 404)
			st = WIRE_NO_CREDENTIALS; /* an instance without a role */
		goto out;
	}
	/* One role per instance profile: the first line. */
	role = roles + strspn(roles, " \t\r\n");
	role[strcspn(role, " \t\r\n")] = '\0';
	if (!*role || strchr(role, '/') || strchr(role, '?') || strchr(role, '#')) {
		log_warn("cannot use instance role from imds: empty or malformed name");
		st = WIRE_BAD_RESPONSE;
		goto out;
	}
	free(url);
	if (asprintf(&url, "%.*s/latest/meta-data/iam/security-credentials/%s", (int)blen, b,
		     role) < 0) {
		url = NULL;
		st = WIRE_NOMEM;
		goto out;
	}
	st = meta_fetch(&(struct meta_req){.method = "GET", .url = url, .headers = hdrs}, &body,
			&status);
	if (st != WIRE_OK) {
		log_warn("cannot fetch credentials of instance role %s from imds: %s (http %ld)",
			 role, wire_status_str(st), status);
		goto out;
	}
	st = creds_from_json(body, "instance metadata", "Token", out);
	if (st == WIRE_OK)
		log_debug("credentials from imds, role %s", role);
out:
	slist_wipe_free(hdrs);
	creds_wipe_free(hdr);
	creds_wipe_free(token);
	creds_wipe_free(body);
	free(roles);
	free(url);
	return st;
}

/* ---- web identity: STS AssumeRoleWithWebIdentity ---- */

/* Where to find the role and the token: the environment (as EKS sets it
 * for a pod) wins over the profile's web_identity_token_file, role_arn and
 * role_session_name. Malloc'ed strings, freed by web_identity_free. */
struct web_identity {
	char *token_file;
	char *role_arn;
	char *session; /* NULL: tenantfs-<ms> */
};

static void web_identity_free(struct web_identity *w)
{
	free(w->token_file);
	free(w->role_arn);
	free(w->session);
	memset(w, 0, sizeof(*w));
}

/* WIRE_OK with *w filled, WIRE_NO_CREDENTIALS when neither source names a
 * token file, WIRE_INVALID for a token file without a role, WIRE_LOCAL_IO,
 * WIRE_NOMEM. */
static enum wire_status web_identity_config(const char *profile, struct web_identity *w)
{
	const char *tf = creds_env("AWS_WEB_IDENTITY_TOKEN_FILE"), *arn = creds_env("AWS_ROLE_ARN");
	const char *sn = creds_env("AWS_ROLE_SESSION_NAME");
	enum wire_status st = WIRE_NO_CREDENTIALS;
	char *path = NULL;

	memset(w, 0, sizeof(*w));
	if (tf && arn) {
		w->token_file = strdup(tf);
		w->role_arn = strdup(arn);
		w->session = sn ? strdup(sn) : NULL;
		st = w->token_file && w->role_arn && (!sn || w->session) ? WIRE_OK : WIRE_NOMEM;
		goto out;
	}
	if (tf || arn)
		log_warn("ignoring AWS_WEB_IDENTITY_TOKEN_FILE / AWS_ROLE_ARN: only one is set");
	path = creds_aws_file("AWS_CONFIG_FILE", ".aws/config");
	if (!path)
		goto out;
	if (creds_ini_get(path, profile, 1, "web_identity_token_file", &w->token_file) ||
	    creds_ini_get(path, profile, 1, "role_arn", &w->role_arn) ||
	    creds_ini_get(path, profile, 1, "role_session_name", &w->session)) {
		st = WIRE_LOCAL_IO;
		goto out;
	}
	if (!w->token_file || !*w->token_file)
		goto out;
	if (!w->role_arn || !*w->role_arn) {
		log_err("cannot use web identity of profile %s in '%s': web_identity_token_file "
			"without role_arn",
			profile, path);
		st = WIRE_INVALID;
		goto out;
	}
	st = WIRE_OK;
out:
	free(path);
	if (st != WIRE_OK)
		web_identity_free(w);
	return st;
}

/* "&name=value" appended to *buf with value form-encoded; -ENOMEM. The
 * buffer may hold the token: the caller wipes it. */
static int form_add(char **buf, const char *name, const char *value)
{
	char *enc = curl_easy_escape(NULL, value, 0), *n = NULL;
	int rc = -ENOMEM;

	if (!enc)
		return -ENOMEM;
	if (asprintf(&n, "%s&%s=%s", *buf, name, enc) >= 0) {
		creds_wipe_free(*buf);
		*buf = n;
		rc = 0;
	}
	OPENSSL_cleanse(enc, strlen(enc));
	curl_free(enc);
	return rc;
}

/* Temporary credentials for the role from STS AssumeRoleWithWebIdentity,
 * an unsigned POST: the token file is read at each call (EKS rotates it).
 * WIRE_NO_CREDENTIALS when web identity is not configured. */
enum wire_status creds_from_web_identity(const char *profile, const char *region,
					 const char *ca_file, int64_t now, struct aws_creds *out)
{
	struct web_identity w;
	struct meta_req req = {.method = "POST", .ca_file = ca_file, .total_ms = STS_TOTAL_MS};
	char *tok_buf = NULL, *post = NULL, *ep = NULL, *body = NULL, *own_region = NULL;
	char session[64], err[320];
	enum wire_status st, pst;
	long status = 0;
	int rc;

	st = web_identity_config(profile, &w);
	if (st != WIRE_OK)
		return st;
	rc = creds_read_small_file(w.token_file, WEB_TOKEN_MAX, &tok_buf);
	if (rc) {
		log_err("cannot read web identity token file '%s': %s", w.token_file,
			strerror(-rc));
		st = WIRE_LOCAL_IO;
		goto out;
	}
	if (!*creds_trim(tok_buf)) {
		log_err("cannot use web identity token file '%s': it is empty", w.token_file);
		st = WIRE_INVALID;
		goto out;
	}
	snprintf(session, sizeof(session), "tenantfs-%lld", (long long)now);
	post = strdup("Action=AssumeRoleWithWebIdentity&Version=2011-06-15");
	if (!post || form_add(&post, "RoleArn", w.role_arn) ||
	    form_add(&post, "RoleSessionName", w.session ? w.session : session) ||
	    form_add(&post, "WebIdentityToken", creds_trim(tok_buf))) {
		st = WIRE_NOMEM;
		goto out;
	}
	if (!region)
		region = own_region = aws_resolve_region(NULL, profile);
	ep = region ? aws_resolve_endpoint("sts", NULL, region) : NULL;
	if (!ep) {
		st = WIRE_NOMEM;
		goto out;
	}
	req.url = ep;
	req.post = post;
	st = meta_fetch(&req, &body, &status);
	if (!body) {
		log_err("cannot assume role %s with web identity at %s: %s (http %ld)", w.role_arn,
			ep, wire_status_str(st), status);
		goto out;
	}
	pst = sts_xml_parse_credentials(body, strlen(body), out, err, sizeof(err));
	if (pst != WIRE_OK) {
		log_err("cannot assume role %s with web identity at %s: %s (http %ld)", w.role_arn,
			ep, err, status);
		/* A refused token says so; a 5xx without a document stays 5xx. */
		st = st == WIRE_OK || pst != WIRE_BAD_RESPONSE ? pst : st;
		goto out;
	}
	st = WIRE_OK;
	log_debug("credentials from sts for role %s", w.role_arn);
out:
	web_identity_free(&w);
	creds_wipe_free(tok_buf);
	creds_wipe_free(post);
	creds_wipe_free(body);
	free(ep);
	free(own_region);
	return st;
}
