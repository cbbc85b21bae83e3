/* The AWS credential chain (explicit, environment, shared credentials and
 * config files, then the sources of creds_process.c and creds_remote.c),
 * the cache that refreshes temporary credentials before they expire, and
 * region/endpoint resolution. */
#include "s3/wire/creds.h"
#include "s3/base/clock.h"
#include "s3/wire/creds_i.h"

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

#include <jansson.h>
#include <openssl/crypto.h>

#include "s3/base/log.h"
#include "s3/base/tsa.h"

#define REFRESH_MARGIN_MS (5 * 60 * 1000) /* refresh this long before expiry */
#define INI_MAX_BYTES	  (1 << 20)	  /* shared config files are small */
#define WAIT_REFRESH_MS	  10000 /* a thread waits at least this long for another's refresh */
#define IMDS_DEFAULT	  "http://169.254.169.254"

/* ---- small helpers ---- */

void creds_wipe_free(char *s)
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
	creds_wipe_free(c->access_key);
	creds_wipe_free(c->secret_key);
	creds_wipe_free(c->session_token);
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
enum wire_status creds_set(struct aws_creds *c, const char *ak, const char *sk, const char *token,
			   int64_t expires_ms)
{
	struct aws_creds src = {(char *)(uintptr_t)ak, (char *)(uintptr_t)sk,
				token && *token ? (char *)(uintptr_t)token : NULL, expires_ms};

	return creds_copy(c, &src) ? WIRE_NOMEM : WIRE_OK;
}

/* getenv() that treats an empty value as unset. */
const char *creds_env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

char *creds_trim(char *s)
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
int creds_read_small_file(const char *path, size_t max, char **out)
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
	const char *v = creds_env(var), *home = creds_env("HOME");
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
	rc = creds_read_small_file(path, INI_MAX_BYTES, &buf);
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
		t = creds_trim(line);
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
			in_section = section_matches(creds_trim(t + 1), profile, is_config);
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
		if (strcasecmp(creds_trim(t), key) == 0) {
			*out = strdup(creds_trim(eq + 1));
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
	return creds_env("AWS_PROFILE") ? creds_env("AWS_PROFILE") : "default";
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
	creds_wipe_free(ak);
	creds_wipe_free(sk);
	creds_wipe_free(tok);
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
	tfs_mutex lock;
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
	if (tfs_mutex_init(&p->lock))
		goto fail;
	if (pthread_cond_init(&p->cond, NULL)) {
		tfs_mutex_destroy(&p->lock);
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
	tfs_mutex_destroy(&p->lock);
	free(p);
}

static int imds_disabled(const struct cred_provider *p)
{
	const char *v = creds_env("AWS_EC2_METADATA_DISABLED");

	return p->disable_imds || (v && strcasecmp(v, "true") == 0);
}

/* Runs the chain once, without the lock. A source that is configured but
 * fails stops the chain with its status (a broken container endpoint must
 * not silently fall back to other keys); IMDS, the implicit last resort,
 * says WIRE_NO_CREDENTIALS when unreachable unless it served us before. */
static enum wire_status resolve_chain(struct cred_provider *p, enum cred_source prev,
				      struct aws_creds *out, enum cred_source *src)
    EXCLUDES(p->lock)
{
	const char *ak = creds_env("AWS_ACCESS_KEY_ID"), *sk = creds_env("AWS_SECRET_ACCESS_KEY");
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
		return creds_set(out, ak, sk, creds_env("AWS_SESSION_TOKEN"), 0);
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
		const char *base = p->imds_endpoint
				       ? p->imds_endpoint
				       : creds_env("AWS_EC2_METADATA_SERVICE_ENDPOINT");

		st = creds_from_imds(base ? base : IMDS_DEFAULT, out);
		if (st == WIRE_OK || prev == SRC_IMDS || st == WIRE_NOMEM) {
			*src = SRC_IMDS;
			return st;
		}
	}
	return WIRE_NO_CREDENTIALS;
}

static int fresh_enough(const struct cred_provider *p, int64_t now) REQUIRES(p->lock)
{
	return p->have && (p->cur.expires_ms == 0 || now < p->cur.expires_ms - REFRESH_MARGIN_MS);
}

static int not_expired(const struct cred_provider *p, int64_t now) REQUIRES(p->lock)
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
	tfs_mutex_lock(&p->lock);
	now = p->now_ms();
	while (!fresh_enough(p, now) && p->refreshing) {
		struct timespec until;

		/* Another thread is fetching: use what we have while it is
		 * still valid, else wait (bounded) for the fetch to end. */
		if (not_expired(p, now))
			break;
		tfs_wall_deadline(&until, wait_s * 1000L);
		if (tfs_cond_timedwait(&p->cond, &p->lock, &until) == ETIMEDOUT) {
			tfs_mutex_unlock(&p->lock);
			log_warn("cannot get credentials: another refresh is still running");
			return WIRE_TIMEOUT;
		}
		now = p->now_ms();
	}
	if (fresh_enough(p, now) || (p->refreshing && not_expired(p, now))) {
		st = creds_copy(out, &p->cur) ? WIRE_NOMEM : WIRE_OK;
		tfs_mutex_unlock(&p->lock);
		return st;
	}
	p->refreshing = 1;
	prev = p->last;
	tfs_mutex_unlock(&p->lock);

	st = resolve_chain(p, prev, &fresh, &src);

	tfs_mutex_lock(&p->lock);
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
	tfs_mutex_unlock(&p->lock);
	aws_creds_clear(&fresh);
	return st;
}

/* ---- region and endpoints ---- */

char *aws_resolve_region(const char *explicit_region, const char *profile)
{
	const char *r = explicit_region && *explicit_region ? explicit_region : NULL;
	char *path, *v = NULL;

	if (!r)
		r = creds_env("AWS_REGION");
	if (!r)
		r = creds_env("AWS_DEFAULT_REGION");
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
	const char *v = explicit_ca && *explicit_ca ? explicit_ca : creds_env("AWS_CA_BUNDLE");
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
	v = creds_env(var);
	if (!v)
		v = creds_env("AWS_ENDPOINT_URL");
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
