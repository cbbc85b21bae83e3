/* The credential chain's remote sources (creds_i.h): the container
 * credentials endpoint (ECS/EKS), EC2 instance metadata with IMDSv2, and
 * STS AssumeRoleWithWebIdentity; replies capped, secrets wiped. */
#include "s3/wire/creds.h"
#include "s3/wire/creds_i.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3/base/log.h"
#include "s3/base/parse.h"
#include "s3/wire/creds_i.h"
#include "s3/wire/http.h"
#include "s3/wire/xml_i.h"

/* ---- the credential services over the shared HTTP client ---- */

/* One request to a credentials service (metadata, STS). */
struct meta_req {
	const char *method; /* "GET", "PUT" (empty body) or "POST" */
	const char *url;    /* logged: holds no secret */
	const char *header; /* one "Name" header (may hold a secret), NULL: none */
	const char *value;
	const char *post;    /* POST body (may hold a secret), else NULL */
	const char *ca_file; /* CA bundle, NULL: the system's */
	long total_ms;	     /* 0: META_TOTAL_MS */
};

/* One request through s3/wire/http.c, unsigned, one attempt: no proxy, no
 * redirects, TLS peer verification on, short timeouts, a reply capped at
 * META_MAX_BYTES that holds a secret (never moved by realloc, wiped when
 * freed). *body (malloc'ed, the caller wipes it) is the reply on a 2xx and
 * on another HTTP status (then it may stay NULL). An HTTP error is
 * WIRE_AUTH (401, 403), WIRE_SERVER (5xx) or WIRE_CLIENT. */
static enum wire_status meta_fetch(const struct meta_req *r, char **body, long *status)
{
	struct http_options o = {.connect_timeout_ms = META_CONNECT_MS,
				 .request_timeout_ms = r->total_ms ? r->total_ms : META_TOTAL_MS,
				 .max_attempts = 1,
				 .max_body = META_MAX_BYTES,
				 .max_connections = 1,
				 .ca_file = r->ca_file};
	struct http_header h[2];
	struct http_request req;
	struct http_response resp;
	struct http_client *c;
	struct wire_error err;
	enum wire_status st;
	int http_err;

	*body = NULL;
	*status = 0;
	c = http_client_new(&o, NULL);
	if (!c)
		return WIRE_NOMEM;
	http_request_init(&req);
	req.method = r->method;
	req.url = r->url;
	req.no_retry = 1;
	req.secret_reply = 1;
	req.no_proxy = 1;
	if (r->header) {
		h[req.n_headers++] =
		    (struct http_header){(char *)(uintptr_t)r->header, (char *)(uintptr_t)r->value};
	}
	if (!strcmp(r->method, "POST")) {
		/* STS reads a form. */
		h[req.n_headers++] =
		    (struct http_header){(char *)(uintptr_t) "Content-Type",
					 (char *)(uintptr_t) "application/x-www-form-urlencoded"};
		req.body = r->post ? r->post : "";
		req.body_len = strlen(req.body);
	}
	req.headers = h;
	st = http_send(c, &req, &resp, &err);
	*status = resp.status;
	/* An HTTP error answer (not a transport failure, not an oversized
	 * 200): the callers tell these three apart. */
	http_err = st != WIRE_OK && resp.status >= 300;
	if (http_err)
		st = resp.status >= 500				? WIRE_SERVER
		     : resp.status == 401 || resp.status == 403 ? WIRE_AUTH
								: WIRE_CLIENT;
	if (st == WIRE_OK && !resp.body && !(resp.body = strdup("")))
		st = WIRE_NOMEM;
	if (st == WIRE_OK || http_err) {
		/* An error document (STS) says why. */
		*body = resp.body;
		resp.body = NULL;
	}
	/* The URL holds no secret: tokens travel in headers. */
	if (st == WIRE_BAD_RESPONSE)
		log_warn("credentials endpoint %s %s: %s", r->method, r->url, err.message);
	else if (st != WIRE_OK)
		log_debug("credentials endpoint %s %s failed: %s (%s)", r->method, r->url,
			  wire_status_str(st), err.message);
	http_response_free(&resp);
	http_client_free(c);
	return st;
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
	char *url = NULL, *joined = NULL, *body = NULL, *file_tok = NULL;
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
		req.header = "Authorization";
		req.value = tok;
	}
	req.url = url;
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
	creds_wipe_free(file_tok);
	creds_wipe_free(body);
	curl_free(url);
	return st;
}

/* GET base/latest/meta-data/iam/security-credentials/<role> with the
 * IMDSv2 session token (role "" lists the roles). */
static enum wire_status imds_role_get(const char *base, size_t blen, const char *role,
				      const char *tok, char **out, long *status)
{
	enum wire_status st;
	char *url;

	if (asprintf(&url, "%.*s/latest/meta-data/iam/security-credentials/%s", (int)blen, base,
		     role) < 0)
		return WIRE_NOMEM;
	st = meta_fetch(
	    &(struct meta_req){
		.method = "GET", .url = url, .header = "X-aws-ec2-metadata-token", .value = tok},
	    out, status);
	free(url);
	return st;
}

/* EC2 instance metadata, IMDSv2 only: PUT a session token, then the role
 * name, then its credentials, each with the token. */
enum wire_status creds_from_imds(const char *base, struct aws_creds *out)
{
	char *url = NULL, *token = NULL, *roles = NULL, *body = NULL, *role, *tok = NULL;
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
	st = meta_fetch(&(struct meta_req){.method = "PUT",
					   .url = url,
					   .header = "X-aws-ec2-metadata-token-ttl-seconds",
					   .value = IMDS_TOKEN_TTL},
			&token, &status);
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

	st = imds_role_get(b, blen, "", tok, &roles, &status);
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
	st = imds_role_get(b, blen, role, tok, &body, &status);
	if (st != WIRE_OK) {
		log_warn("cannot fetch credentials of instance role %s from imds: %s (http %ld)",
			 role, wire_status_str(st), status);
		goto out;
	}
	st = creds_from_json(body, "instance metadata", "Token", out);
	if (st == WIRE_OK)
		log_debug("credentials from imds, role %s", role);
out:
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
