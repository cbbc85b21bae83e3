/* The AWS credential chain (explicit, environment, shared credentials and
 * config files, container endpoint, EC2 instance metadata with IMDSv2),
 * the cache that refreshes temporary credentials before they expire, and
 * region/endpoint resolution. The two metadata services are fetched with
 * libcurl directly, not s3/http.c, which itself depends on this file. */
#include "creds.h"
#include "creds_i.h"
#include "s3/clock.h"

#include "s3/parse.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "log.h"
#include "xml_i.h"

#define REFRESH_MARGIN_MS (5 * 60 * 1000) /* refresh this long before expiry */
#define INI_MAX_BYTES	  (1 << 20)	  /* shared config files are small */
#define META_MAX_BYTES	  (64 * 1024)	  /* a metadata reply is a few hundred bytes */
#define META_CONNECT_MS	  1000L
#define META_TOTAL_MS	  3000L
#define WAIT_REFRESH_MS	  10000 /* a thread waits at least this long for another's refresh */
#define CONTAINER_HOST	  "http://169.254.170.2"
#define IMDS_DEFAULT	  "http://169.254.169.254"
#define IMDS_TOKEN_TTL	  "21600"
#define STS_TOTAL_MS	  10000L      /* STS is a regional service, not a local agent */
#define WEB_TOKEN_MAX	  (64 * 1024) /* STS takes tokens of up to 20000 bytes */

/* ---- small helpers ---- */

static void wipe_free(char *s)
{
	if (!s)
		return;
	OPENSSL_cleanse(s, strlen(s));
	free(s);
}

void aws_creds_clear(struct aws_creds *c)
{
	if (!c)
		return;
	wipe_free(c->access_key);
	wipe_free(c->secret_key);
	wipe_free(c->session_token);
	c->access_key = c->secret_key = c->session_token = NULL;
	c->expires_ms = 0;
}

/* A deep copy; 0 or -ENOMEM (dst cleared). */
static int creds_copy(struct aws_creds *dst, const struct aws_creds *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->access_key = strdup(src->access_key);
	dst->secret_key = strdup(src->secret_key);
	dst->session_token = src->session_token ? strdup(src->session_token) : NULL;
	dst->expires_ms = src->expires_ms;
	if (!dst->access_key || !dst->secret_key || (src->session_token && !dst->session_token)) {
		aws_creds_clear(dst);
		return -ENOMEM;
	}
	return 0;
}

/* Fills *c from three strings (token may be NULL or empty); WIRE_NOMEM. */
static enum wire_status creds_set(struct aws_creds *c, const char *ak, const char *sk,
				  const char *token, int64_t expires_ms)
{
	struct aws_creds src = {(char *)(uintptr_t)ak, (char *)(uintptr_t)sk,
				token && *token ? (char *)(uintptr_t)token : NULL, expires_ms};

	return creds_copy(c, &src) ? WIRE_NOMEM : WIRE_OK;
}

/* getenv() that treats an empty value as unset. */
static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static char *trim(char *s)
{
	char *e;

	while (*s && isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Reads a whole small file; 0, -ENOENT, -EFBIG or another -errno. The
 * buffer may hold secrets: the caller wipes it (wipe_free). */
static int read_small_file(const char *path, size_t max, char **out)
{
	char *buf = NULL;
	size_t len = 0;
	int fd, rc = 0;
	struct stat st;

	*out = NULL;
	do
		fd = open(path, O_RDONLY | O_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		rc = -EFBIG;
		goto out;
	}
	buf = malloc(max + 1);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, max - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == max) {
			/* Grown past the cap since fstat. */
			rc = -EFBIG;
			goto out;
		}
	}
	buf[len] = '\0';
	*out = buf;
	buf = NULL;
out:
	if (buf) {
		OPENSSL_cleanse(buf, max + 1);
		free(buf);
	}
	close(fd);
	return rc;
}

/* ---- the AWS INI subset ---- */

/* $NAME if set, else $HOME/<rel>; "~/" at the start expanded. Malloc'ed or
 * NULL (no HOME, ENOMEM). */
char *creds_aws_file(const char *var, const char *rel)
{
	const char *v = env(var), *home = env("HOME");
	char *p = NULL;

	if (v && strncmp(v, "~/", 2) != 0)
		return strdup(v);
	if (!home)
		return NULL;
	if (v) {
		if (asprintf(&p, "%s/%s", home, v + 2) < 0)
			p = NULL;
	} else if (asprintf(&p, "%s/%s", home, rel) < 0) {
		p = NULL;
	}
	return p;
}

/* Does the section header text (between the brackets, trimmed) name the
 * profile? The credentials file says [name]; the config file says
 * [profile name], except for the default profile, which may be [default]. */
static int section_matches(const char *text, const char *profile, int is_config)
{
	if (!is_config)
		return strcmp(text, profile) == 0;
	if (strncmp(text, "profile", 7) == 0 && isspace((unsigned char)text[7])) {
		const char *n = text + 8;

		while (isspace((unsigned char)*n))
			n++;
		return strcmp(n, profile) == 0;
	}
	return strcmp(profile, "default") == 0 && strcmp(text, "default") == 0;
}

/* Looks key up in the profile's section of an INI file. Returns 0 with
 * *out malloc'ed, or 0 with *out NULL when the file, the section or the key
 * is absent; -errno when the file exists but cannot be read. Lines that are
 * neither a section, a "key = value" nor a comment are skipped; indented
 * lines are the nested values (s3 = ...) we do not use. First key wins. */
int creds_ini_get(const char *path, const char *profile, int is_config, const char *key, char **out)
{
	char *buf = NULL, *line, *save = NULL;
	int rc, in_section = 0, lineno = 0;

	*out = NULL;
	rc = read_small_file(path, INI_MAX_BYTES, &buf);
	if (rc == -ENOENT)
		return 0;
	if (rc) {
		log_warn("cannot read aws config file '%s': %s", path, strerror(-rc));
		return rc;
	}
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq, *t;

		lineno++;
		if (*line == ' ' || *line == '\t')
			continue;
		t = trim(line);
		if (!*t || *t == '#' || *t == ';')
			continue;
		if (*t == '[') {
			char *close = strchr(t, ']');

			if (!close) {
				log_debug("aws config file '%s' line %d: no closing bracket", path,
					  lineno);
				in_section = 0;
				continue;
			}
			*close = '\0';
			in_section = section_matches(trim(t + 1), profile, is_config);
			continue;
		}
		eq = strchr(t, '=');
		if (!eq) {
			log_debug("aws config file '%s' line %d: not key = value", path, lineno);
			continue;
		}
		if (!in_section)
			continue;
		*eq = '\0';
		if (strcasecmp(trim(t), key) == 0) {
			*out = strdup(trim(eq + 1));
			rc = *out ? 0 : -ENOMEM;
			break;
		}
	}
	if (buf) {
		OPENSSL_cleanse(buf, strlen(buf));
		free(buf);
	}
	return rc;
}

/* The profile in effect: explicit, else AWS_PROFILE, else "default". */
static const char *profile_name(const char *explicit_profile)
{
	if (explicit_profile && *explicit_profile)
		return explicit_profile;
	return env("AWS_PROFILE") ? env("AWS_PROFILE") : "default";
}

/* Keys from one INI file; WIRE_OK, WIRE_NO_CREDENTIALS (none there),
 * WIRE_LOCAL_IO, WIRE_NOMEM. */
static enum wire_status creds_from_ini(const char *path, const char *profile, int is_config,
				       struct aws_creds *out)
{
	char *ak = NULL, *sk = NULL, *tok = NULL;
	enum wire_status st = WIRE_NO_CREDENTIALS;

	if (!path)
		return WIRE_NO_CREDENTIALS;
	if (creds_ini_get(path, profile, is_config, "aws_access_key_id", &ak) ||
	    creds_ini_get(path, profile, is_config, "aws_secret_access_key", &sk) ||
	    creds_ini_get(path, profile, is_config, "aws_session_token", &tok)) {
		st = WIRE_LOCAL_IO;
		goto out;
	}
	if (ak && sk && *ak && *sk) {
		st = creds_set(out, ak, sk, tok, 0);
		if (st == WIRE_OK)
			log_debug("credentials from '%s', profile %s", path, profile);
	} else if (ak || sk) {
		log_warn("ignoring profile %s in '%s': it has only one of the two keys", profile,
			 path);
	}
out:
	wipe_free(ak);
	wipe_free(sk);
	wipe_free(tok);
	return st;
}

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
 * reply on a 2xx and on another HTTP status (then it may stay NULL). */
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
static enum wire_status creds_from_container(const char *ca_file, struct aws_creds *out)
{
	struct meta_req req = {.method = "GET", .ca_file = ca_file};
	const char *rel = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char *full = env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	const char *tok = env("AWS_CONTAINER_AUTHORIZATION_TOKEN");
	const char *tok_file = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
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
		rc = read_small_file(tok_file, 16384, &file_tok);
		if (rc) {
			log_err("cannot read container authorization token file '%s': %s", tok_file,
				strerror(-rc));
			st = WIRE_LOCAL_IO;
			goto out;
		}
		tok = trim(file_tok);
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
	wipe_free(auth);
	wipe_free(file_tok);
	wipe_free(body);
	curl_free(url);
	return st;
}

/* EC2 instance metadata, IMDSv2 only: PUT a session token, then the role
 * name, then its credentials, each with the token. */
static enum wire_status creds_from_imds(const char *base, struct aws_creds *out)
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
	tok = trim(token);
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
	wipe_free(hdr);
	wipe_free(token);
	wipe_free(body);
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
	const char *tf = env("AWS_WEB_IDENTITY_TOKEN_FILE"), *arn = env("AWS_ROLE_ARN");
	const char *sn = env("AWS_ROLE_SESSION_NAME");
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
		wipe_free(*buf);
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
static enum wire_status creds_from_web_identity(const char *profile, const char *region,
						const char *ca_file, int64_t now,
						struct aws_creds *out)
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
	rc = read_small_file(w.token_file, WEB_TOKEN_MAX, &tok_buf);
	if (rc) {
		log_err("cannot read web identity token file '%s': %s", w.token_file,
			strerror(-rc));
		st = WIRE_LOCAL_IO;
		goto out;
	}
	if (!*trim(tok_buf)) {
		log_err("cannot use web identity token file '%s': it is empty", w.token_file);
		st = WIRE_INVALID;
		goto out;
	}
	snprintf(session, sizeof(session), "tenantfs-%lld", (long long)now);
	post = strdup("Action=AssumeRoleWithWebIdentity&Version=2011-06-15");
	if (!post || form_add(&post, "RoleArn", w.role_arn) ||
	    form_add(&post, "RoleSessionName", w.session ? w.session : session) ||
	    form_add(&post, "WebIdentityToken", trim(tok_buf))) {
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
	wipe_free(tok_buf);
	wipe_free(post);
	wipe_free(body);
	free(ep);
	free(own_region);
	return st;
}

/* ---- the provider ---- */

enum cred_source {
	SRC_NONE,
	SRC_EXPLICIT,
	SRC_ENV,
	SRC_WEB_IDENTITY,
	SRC_FILES,
	SRC_PROCESS,
	SRC_CONTAINER,
	SRC_IMDS,
};

struct cred_provider {
	/* Set at creation, read-only after. */
	char *profile;			 /* NULL: AWS_PROFILE at each resolution, then "default" */
	struct aws_creds explicit_creds; /* access_key NULL when not given */
	int disable_imds;
	char *imds_endpoint;
	char *region;  /* of STS; NULL: resolved with the profile */
	char *ca_file; /* for STS and the container endpoint; NULL: the system's */
	long process_timeout_ms;
	int64_t (*now_ms)(void);

	/* Lock order: lock is a leaf; it is never held across a fetch. */
	pthread_mutex_t lock;
	pthread_cond_t cond;   /* signalled when a refresh ends; with lock */
	struct aws_creds cur;  /* protected by lock */
	int have;	       /* cur is valid; protected by lock */
	int refreshing;	       /* a thread is running the chain; protected by lock */
	enum cred_source last; /* where cur came from; protected by lock */
};

struct cred_provider *cred_provider_new(const struct cred_options *opt)
{
	struct cred_provider *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->now_ms = opt && opt->now_ms ? opt->now_ms : tfs_wall_ms;
	p->process_timeout_ms = PROCESS_TIMEOUT_MS;
	if (opt) {
		p->disable_imds = opt->disable_imds;
		if (opt->profile && *opt->profile && !(p->profile = strdup(opt->profile)))
			goto fail;
		if (opt->imds_endpoint && !(p->imds_endpoint = strdup(opt->imds_endpoint)))
			goto fail;
		if (opt->region && *opt->region && !(p->region = strdup(opt->region)))
			goto fail;
		if (opt->ca_file && *opt->ca_file && !(p->ca_file = strdup(opt->ca_file)))
			goto fail;
		if (opt->process_timeout_ms > 0)
			p->process_timeout_ms = opt->process_timeout_ms;
		if (opt->access_key && opt->secret_key && *opt->access_key && *opt->secret_key &&
		    creds_set(&p->explicit_creds, opt->access_key, opt->secret_key,
			      opt->session_token, 0) != WIRE_OK)
			goto fail;
	}
	if (pthread_mutex_init(&p->lock, NULL))
		goto fail;
	if (pthread_cond_init(&p->cond, NULL)) {
		pthread_mutex_destroy(&p->lock);
		goto fail;
	}
	return p;
fail:
	aws_creds_clear(&p->explicit_creds);
	free(p->profile);
	free(p->imds_endpoint);
	free(p->region);
	free(p->ca_file);
	free(p);
	return NULL;
}

void cred_provider_free(struct cred_provider *p)
{
	if (!p)
		return;
	aws_creds_clear(&p->cur);
	aws_creds_clear(&p->explicit_creds);
	free(p->profile);
	free(p->imds_endpoint);
	free(p->region);
	free(p->ca_file);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

static int imds_disabled(const struct cred_provider *p)
{
	const char *v = env("AWS_EC2_METADATA_DISABLED");

	return p->disable_imds || (v && strcasecmp(v, "true") == 0);
}

/* Runs the chain once, without the lock. A source that is configured but
 * fails stops the chain with its status (a broken container endpoint must
 * not silently fall back to other keys); IMDS, the implicit last resort,
 * says WIRE_NO_CREDENTIALS when unreachable unless it served us before. */
static enum wire_status resolve_chain(struct cred_provider *p, enum cred_source prev,
				      struct aws_creds *out, enum cred_source *src)
{
	const char *ak = env("AWS_ACCESS_KEY_ID"), *sk = env("AWS_SECRET_ACCESS_KEY");
	const char *profile = profile_name(p->profile);
	char *path;
	enum wire_status st;

	*src = SRC_NONE;
	if (p->explicit_creds.access_key) {
		*src = SRC_EXPLICIT;
		return creds_copy(out, &p->explicit_creds) ? WIRE_NOMEM : WIRE_OK;
	}
	if (ak && sk) {
		*src = SRC_ENV;
		return creds_set(out, ak, sk, env("AWS_SESSION_TOKEN"), 0);
	}
	if (ak || sk)
		log_warn("ignoring AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY: only one is set");

	st = creds_from_web_identity(profile, p->region, p->ca_file, p->now_ms(), out);
	if (st != WIRE_NO_CREDENTIALS) {
		*src = SRC_WEB_IDENTITY;
		return st;
	}

	/* The AWS CLI's order: keys in the credentials file, the profile's
	 * credential_process, then keys in the config file. */
	path = creds_aws_file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials");
	st = creds_from_ini(path, profile, 0, out);
	free(path);
	if (st != WIRE_NO_CREDENTIALS) {
		*src = SRC_FILES;
		return st;
	}
	st = creds_from_profile_process(profile, p->process_timeout_ms, out);
	if (st != WIRE_NO_CREDENTIALS) {
		*src = SRC_PROCESS;
		return st;
	}
	path = creds_aws_file("AWS_CONFIG_FILE", ".aws/config");
	st = creds_from_ini(path, profile, 1, out);
	free(path);
	if (st != WIRE_NO_CREDENTIALS) {
		*src = SRC_FILES;
		return st;
	}

	st = creds_from_container(p->ca_file, out);
	if (st != WIRE_NO_CREDENTIALS) {
		*src = SRC_CONTAINER;
		return st;
	}

	if (!imds_disabled(p)) {
		const char *base =
		    p->imds_endpoint ? p->imds_endpoint : env("AWS_EC2_METADATA_SERVICE_ENDPOINT");

		st = creds_from_imds(base ? base : IMDS_DEFAULT, out);
		if (st == WIRE_OK || prev == SRC_IMDS || st == WIRE_NOMEM) {
			*src = SRC_IMDS;
			return st;
		}
	}
	return WIRE_NO_CREDENTIALS;
}

static int fresh_enough(const struct cred_provider *p, int64_t now)
{
	return p->have && (p->cur.expires_ms == 0 || now < p->cur.expires_ms - REFRESH_MARGIN_MS);
}

static int not_expired(const struct cred_provider *p, int64_t now)
{
	return p->have && (p->cur.expires_ms == 0 || now < p->cur.expires_ms);
}

enum wire_status cred_provider_get(struct cred_provider *p, struct aws_creds *out)
{
	struct aws_creds fresh = {0};
	enum wire_status st;
	enum cred_source prev, src;
	int64_t now;
	long wait_s;

	memset(out, 0, sizeof(*out));
	if (!p)
		return WIRE_INVALID;
	/* A credential_process may run up to its own timeout. */
	wait_s =
	    (p->process_timeout_ms > WAIT_REFRESH_MS ? p->process_timeout_ms : WAIT_REFRESH_MS) /
		1000 +
	    1;
	pthread_mutex_lock(&p->lock);
	now = p->now_ms();
	while (!fresh_enough(p, now) && p->refreshing) {
		struct timespec until;

		/* Another thread is fetching: use what we have while it is
		 * still valid, else wait (bounded) for the fetch to end. */
		if (not_expired(p, now))
			break;
		tfs_wall_deadline(&until, wait_s * 1000L);
		if (pthread_cond_timedwait(&p->cond, &p->lock, &until) == ETIMEDOUT) {
			pthread_mutex_unlock(&p->lock);
			log_warn("cannot get credentials: another refresh is still running");
			return WIRE_TIMEOUT;
		}
		now = p->now_ms();
	}
	if (fresh_enough(p, now) || (p->refreshing && not_expired(p, now))) {
		st = creds_copy(out, &p->cur) ? WIRE_NOMEM : WIRE_OK;
		pthread_mutex_unlock(&p->lock);
		return st;
	}
	p->refreshing = 1;
	prev = p->last;
	pthread_mutex_unlock(&p->lock);

	st = resolve_chain(p, prev, &fresh, &src);

	pthread_mutex_lock(&p->lock);
	p->refreshing = 0;
	pthread_cond_broadcast(&p->cond);
	now = p->now_ms();
	if (st == WIRE_OK) {
		if (fresh.expires_ms && fresh.expires_ms - REFRESH_MARGIN_MS <= now)
			log_warn("credentials expire within five minutes of being fetched");
		aws_creds_clear(&p->cur);
		p->cur = fresh;
		memset(&fresh, 0, sizeof(fresh));
		p->have = 1;
		p->last = src;
		st = creds_copy(out, &p->cur) ? WIRE_NOMEM : WIRE_OK;
	} else if (not_expired(p, now)) {
		/* Refresh failed early: the old keys still work for a while. */
		log_warn("cannot refresh credentials: %s; using the current ones until they "
			 "expire",
			 wire_status_str(st));
		st = creds_copy(out, &p->cur) ? WIRE_NOMEM : WIRE_OK;
	} else {
		if (p->have) {
			aws_creds_clear(&p->cur);
			p->have = 0;
		}
		if (st == WIRE_NO_CREDENTIALS)
			log_err("cannot find aws credentials: none in the environment, web "
				"identity, the shared files or credential_process (profile %s), a "
				"container endpoint or instance metadata",
				profile_name(p->profile));
		else
			log_err("cannot get aws credentials: %s", wire_status_str(st));
	}
	pthread_mutex_unlock(&p->lock);
	aws_creds_clear(&fresh);
	return st;
}

/* ---- region and endpoints ---- */

char *aws_resolve_region(const char *explicit_region, const char *profile)
{
	const char *r = explicit_region && *explicit_region ? explicit_region : NULL;
	char *path, *v = NULL;

	if (!r)
		r = env("AWS_REGION");
	if (!r)
		r = env("AWS_DEFAULT_REGION");
	if (r)
		return strdup(r);
	path = creds_aws_file("AWS_CONFIG_FILE", ".aws/config");
	if (path) {
		creds_ini_get(path, profile_name(profile), 1, "region", &v);
		free(path);
	}
	if (v && *v)
		return v;
	free(v);
	return strdup("us-east-1");
}

char *aws_resolve_ca_bundle(const char *explicit_ca, const char *profile)
{
	const char *v = explicit_ca && *explicit_ca ? explicit_ca : env("AWS_CA_BUNDLE");
	char *path, *out = NULL;

	if (v)
		return strdup(v);
	path = creds_aws_file("AWS_CONFIG_FILE", ".aws/config");
	if (path) {
		creds_ini_get(path, profile_name(profile), 1, "ca_bundle", &out);
		free(path);
	}
	if (out && !*out) {
		free(out);
		out = NULL;
	}
	return out;
}

char *aws_resolve_endpoint(const char *service, const char *explicit_endpoint, const char *region)
{
	char var[64], *out = NULL, *own_region = NULL;
	const char *v;
	size_t i, n;

	if (explicit_endpoint && *explicit_endpoint)
		return strdup(explicit_endpoint);
	if (!service || !*service)
		return NULL;
	/* AWS_ENDPOINT_URL_<SERVICE>: upper case, '-' and ' ' become '_'. */
	n = (size_t)snprintf(var, sizeof(var), "AWS_ENDPOINT_URL_");
	for (i = 0; service[i] && n + 1 < sizeof(var); i++, n++) {
		char c = service[i];

		var[n] = c == '-' || c == ' ' ? '_' : (char)toupper((unsigned char)c);
	}
	var[n] = '\0';
	v = env(var);
	if (!v)
		v = env("AWS_ENDPOINT_URL");
	if (v)
		return strdup(v);
	if (!region || !*region) {
		own_region = aws_resolve_region(NULL, NULL);
		if (!own_region)
			return NULL;
		region = own_region;
	}
	if (asprintf(&out, "https://%s.%s.amazonaws.com%s", service, region,
		     strncmp(region, "cn-", 3) == 0 ? ".cn" : "") < 0)
		out = NULL;
	free(own_region);
	return out;
}
