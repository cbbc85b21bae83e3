/* Credential chain tests: explicit and environment keys, the shared
 * credentials and config files (profiles, malformed lines), region and
 * endpoint precedence, which container endpoint URLs may carry a token,
 * and the container endpoint and IMDSv2 against a tiny Python http.server
 * on 127.0.0.1, with a forced clock for refreshes. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "s3/base/log.h"
#include "s3/wire/creds.h"
#include "tests/unit/tap.h"

static char tmpdir[512];
static int64_t fake_now;

static int64_t test_clock(void)
{
	return __atomic_load_n(&fake_now, __ATOMIC_RELAXED);
}

static const char *const aws_vars[] = {
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_EC2_METADATA_DISABLED",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_STS",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_CA_BUNDLE",
};

/* Every test starts from an empty AWS environment and an empty HOME. */
static void clean_env(void)
{
	for (size_t i = 0; i < sizeof(aws_vars) / sizeof(aws_vars[0]); i++)
		unsetenv(aws_vars[i]);
	setenv("HOME", tmpdir, 1);
}

static char *tpath(const char *name)
{
	static char buf[4][700];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", tmpdir, name);
	return buf[i];
}

static void write_file(const char *name, const char *text)
{
	FILE *f = fopen(tpath(name), "we");

	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		printf("Bail out! cannot write %s\n", tpath(name));
		exit(1);
	}
}

/* One provider, one get. */
static enum wire_status get_once(const struct cred_options *o, struct aws_creds *c)
{
	struct cred_provider *p = cred_provider_new(o);
	enum wire_status st;

	if (!p)
		return WIRE_NOMEM;
	st = cred_provider_get(p, c);
	cred_provider_free(p);
	return st;
}

static int streq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/* ---- local sources ---- */

static void test_clear(void)
{
	struct aws_creds c = {strdup("AK"), strdup("SK"), strdup("TOK"), 42};

	aws_creds_clear(&c);
	TAP_OK(!c.access_key && !c.secret_key && !c.session_token && c.expires_ms == 0,
	       "aws_creds_clear frees and zeroes every field");
	/* A second clear must not free again (ASan and valgrind see a double
	 * free); the struct stays empty. */
	aws_creds_clear(&c);
	aws_creds_clear(NULL);
	TAP_OK(!c.access_key && !c.secret_key && !c.session_token && c.expires_ms == 0,
	       "aws_creds_clear twice and on NULL is harmless");
}

static void test_none(void)
{
	struct cred_options o = {.disable_imds = 1};
	struct aws_creds c = {0};
	enum wire_status st;

	clean_env();
	setenv("AWS_SHARED_CREDENTIALS_FILE", tpath("nonexistent"), 1);
	setenv("AWS_CONFIG_FILE", tpath("nonexistent2"), 1);
	st = get_once(&o, &c);
	TAP_OK(st == WIRE_NO_CREDENTIALS && !c.access_key, "empty chain: no credentials (%s)",
	       wire_status_str(st));
	setenv("AWS_ACCESS_KEY_ID", "AKONLY", 1);
	st = get_once(&o, &c);
	TAP_OK(st == WIRE_NO_CREDENTIALS, "an access key without a secret is not credentials");
	setenv("AWS_ACCESS_KEY_ID", "", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "", 1);
	st = get_once(&o, &c);
	TAP_OK(st == WIRE_NO_CREDENTIALS, "empty environment values count as unset");
	aws_creds_clear(&c);
}

static void test_explicit_and_env(void)
{
	struct cred_options o = {.disable_imds = 1};
	struct aws_creds c = {0};
	enum wire_status st;

	clean_env();
	setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SKENV", 1);
	st = get_once(&o, &c);
	TAP_OK(st == WIRE_OK && streq(c.access_key, "AKENV") && streq(c.secret_key, "SKENV") &&
		   !c.session_token && c.expires_ms == 0,
	       "environment keys without token");
	aws_creds_clear(&c);

	setenv("AWS_SESSION_TOKEN", "TOKENV", 1);
	st = get_once(&o, &c);
	TAP_OK(st == WIRE_OK && streq(c.session_token, "TOKENV"), "environment session token");
	aws_creds_clear(&c);

	o.access_key = "AKEXP";
	o.secret_key = "SKEXP";
	st = get_once(&o, &c);
	TAP_OK(st == WIRE_OK && streq(c.access_key, "AKEXP") && streq(c.secret_key, "SKEXP") &&
		   !c.session_token,
	       "explicit keys win over the environment");
	aws_creds_clear(&c);

	/* The environment wins over the files. */
	o.access_key = o.secret_key = NULL;
	write_file("credentials", "[default]\naws_access_key_id = AKFILE\n"
				  "aws_secret_access_key = SKFILE\n");
	setenv("AWS_SHARED_CREDENTIALS_FILE", tpath("credentials"), 1);
	st = get_once(&o, &c);
	TAP_OK(st == WIRE_OK && streq(c.access_key, "AKENV"), "environment wins over files");
	aws_creds_clear(&c);
}

static void test_profiles(void)
{
	struct cred_options o = {.disable_imds = 1};
	struct aws_creds c = {0};
	enum wire_status st;

	clean_env();
	write_file("credentials", "# shared credentials\n"
				  "[default]\n"
				  "aws_access_key_id = AKDEF\n"
				  "aws_secret_access_key = SKDEF\n"
				  "\n"
				  "[dev]\n"
				  "aws_access_key_id=AKDEV\n"
				  "aws_secret_access_key   =   SK/DEV+x=\n"
				  "aws_session_token = TOKDEV\n"
				  "[prod]\r\n"
				  "aws_access_key_id = AKPROD\r\n"
				  "aws_secret_access_key = SKPROD\r\n");
	write_file("config", "[default]\n"
			     "region = ap-south-1\n"
			     "[profile dev]\n"
			     "region = eu-north-1\n"
			     "aws_access_key_id = AKWRONG\n"
			     "aws_secret_access_key = SKWRONG\n"
			     "[profile cfgonly]\n"
			     "aws_access_key_id = AKCFG\n"
			     "aws_secret_access_key = SKCFG\n"
			     "[cfgonly]\n"
			     "region = not-a-profile-section\n");
	setenv("AWS_SHARED_CREDENTIALS_FILE", tpath("credentials"), 1);
	setenv("AWS_CONFIG_FILE", tpath("config"), 1);

	st = get_once(&o, &c);
	TAP_OK(st == WIRE_OK && streq(c.access_key, "AKDEF") && streq(c.secret_key, "SKDEF"),
	       "default profile from the credentials file");
	aws_creds_clear(&c);

	setenv("AWS_PROFILE", "dev", 1);
	st = get_once(&o, &c);
	TAP_OK(st == WIRE_OK && streq(c.access_key, "AKDEV") && streq(c.secret_key, "SK/DEV+x=") &&
		   streq(c.session_token, "TOKDEV"),
	       "AWS_PROFILE selects a section; credentials file wins over config");
	aws_creds_clear(&c);

	o.profile = "prod";
	st = get_once(&o, &c);
	TAP_OK(st == WIRE_OK && streq(c.access_key, "AKPROD") && streq(c.secret_key, "SKPROD"),
	       "explicit profile wins over AWS_PROFILE; CRLF lines read");
	aws_creds_clear(&c);

	o.profile = "cfgonly";
	st = get_once(&o, &c);
	TAP_OK(st == WIRE_OK && streq(c.access_key, "AKCFG"),
	       "keys from [profile x] in the config file");
	aws_creds_clear(&c);

	o.profile = "nosuch";
	st = get_once(&o, &c);
	TAP_OK(st == WIRE_NO_CREDENTIALS, "unknown profile: no credentials");
	aws_creds_clear(&c);

	/* The default home locations. */
	clean_env();
	mkdir(tpath(".aws"), 0700);
	write_file(".aws/credentials", "[default]\naws_access_key_id = AKHOME\n"
				       "aws_secret_access_key = SKHOME\n");
	o.profile = NULL;
	st = get_once(&o, &c);
	TAP_OK(st == WIRE_OK && streq(c.access_key, "AKHOME"), "$HOME/.aws/credentials");
	aws_creds_clear(&c);
	unlink(tpath(".aws/credentials"));
}

static void test_malformed_ini(void)
{
	struct cred_options o = {.disable_imds = 1};
	struct aws_creds c = {0};
	enum wire_status st;

	clean_env();
	setenv("AWS_SHARED_CREDENTIALS_FILE", tpath("credentials"), 1);
	setenv("AWS_CONFIG_FILE", tpath("nonexistent"), 1);
	write_file("credentials", "garbage line without equals\n"
				  "aws_access_key_id = AKBEFORESECTION\n"
				  "=\n"
				  "[\n"
				  "   [weird]\n"
				  "[ spaced ]\n"
				  "  ; indented comment\n"
				  "; comment = [default]\n"
				  "# comment\n"
				  "AWS_ACCESS_KEY_ID = AKSPACED\n"
				  "nested =\n"
				  "  aws_secret_access_key = SKNESTED\n"
				  "aws_secret_access_key = SKSPACED # not a comment\n"
				  "aws_secret_access_key = SKSECOND\n"
				  "[half]\n"
				  "aws_access_key_id = AKHALF\n"
				  "[broken\n"
				  "aws_secret_access_key = SKBROKEN\n"
				  "[nolf]\n"
				  "aws_access_key_id = AKNOLF\n"
				  "aws_secret_access_key = SKNOLF");
	o.profile = "spaced";
	st = get_once(&o, &c);
	TAP_OK(st == WIRE_OK && streq(c.access_key, "AKSPACED") &&
		   streq(c.secret_key, "SKSPACED # not a comment"),
	       "malformed and indented lines skipped, keys case-insensitive, first key wins");
	aws_creds_clear(&c);

	o.profile = "half";
	st = get_once(&o, &c);
	TAP_OK(st == WIRE_NO_CREDENTIALS,
	       "a key after a malformed section header does not join the previous section");
	aws_creds_clear(&c);

	o.profile = "nolf";
	st = get_once(&o, &c);
	TAP_OK(st == WIRE_OK && streq(c.secret_key, "SKNOLF"), "last line without newline");
	aws_creds_clear(&c);

	o.profile = "weird";
	st = get_once(&o, &c);
	TAP_OK(st == WIRE_NO_CREDENTIALS, "an indented section header is not a section");
	aws_creds_clear(&c);

	/* A directory where the file should be: an i/o error, not a crash. */
	mkdir(tpath("adir"), 0700);
	setenv("AWS_SHARED_CREDENTIALS_FILE", tpath("adir"), 1);
	st = get_once(&o, &c);
	TAP_OK(st == WIRE_LOCAL_IO, "unreadable credentials file: local i/o error (%s)",
	       wire_status_str(st));
	aws_creds_clear(&c);
}

static void test_region_endpoint(void)
{
	char *r;

	clean_env();
	setenv("AWS_CONFIG_FILE", tpath("config"), 1);
	write_file("config", "[default]\nregion = ap-south-1\n[profile dev]\nregion = eu-north-1\n"
			     "[profile noregion]\noutput = json\n");

	r = aws_resolve_region(NULL, NULL);
	TAP_STREQ(r, "ap-south-1", "region from the default profile");
	free(r);
	setenv("AWS_PROFILE", "dev", 1);
	r = aws_resolve_region(NULL, NULL);
	TAP_STREQ(r, "eu-north-1", "region from the AWS_PROFILE profile");
	free(r);
	r = aws_resolve_region(NULL, "default");
	TAP_STREQ(r, "ap-south-1", "region from the explicit profile");
	free(r);
	r = aws_resolve_region(NULL, "noregion");
	TAP_STREQ(r, "us-east-1", "profile without region: us-east-1");
	free(r);
	setenv("AWS_DEFAULT_REGION", "sa-east-1", 1);
	r = aws_resolve_region(NULL, NULL);
	TAP_STREQ(r, "sa-east-1", "AWS_DEFAULT_REGION wins over the config file");
	free(r);
	setenv("AWS_REGION", "eu-west-3", 1);
	r = aws_resolve_region(NULL, NULL);
	TAP_STREQ(r, "eu-west-3", "AWS_REGION wins over AWS_DEFAULT_REGION");
	free(r);
	r = aws_resolve_region("us-west-1", NULL);
	TAP_STREQ(r, "us-west-1", "explicit region wins");
	free(r);
	clean_env();
	r = aws_resolve_region(NULL, NULL);
	TAP_STREQ(r, "us-east-1", "no region anywhere: us-east-1");
	free(r);

	r = aws_resolve_endpoint("s3", NULL, "eu-west-1");
	TAP_STREQ(r, "https://s3.eu-west-1.amazonaws.com", "default s3 endpoint");
	free(r);
	r = aws_resolve_endpoint("dynamodb", NULL, "us-west-2");
	TAP_STREQ(r, "https://dynamodb.us-west-2.amazonaws.com", "default dynamodb endpoint");
	free(r);
	r = aws_resolve_endpoint("s3", NULL, "cn-north-1");
	TAP_STREQ(r, "https://s3.cn-north-1.amazonaws.com.cn", "china partition endpoint");
	free(r);
	r = aws_resolve_endpoint("s3", NULL, NULL);
	TAP_STREQ(r, "https://s3.us-east-1.amazonaws.com", "no region: the resolved region");
	free(r);
	setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000", 1);
	r = aws_resolve_endpoint("s3", NULL, "eu-west-1");
	TAP_STREQ(r, "http://127.0.0.1:5000", "AWS_ENDPOINT_URL wins over the default");
	free(r);
	setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9000", 1);
	r = aws_resolve_endpoint("s3", NULL, "eu-west-1");
	TAP_STREQ(r, "http://127.0.0.1:9000", "AWS_ENDPOINT_URL_S3 wins over AWS_ENDPOINT_URL");
	free(r);
	r = aws_resolve_endpoint("dynamodb", NULL, "eu-west-1");
	TAP_STREQ(r, "http://127.0.0.1:5000", "AWS_ENDPOINT_URL_S3 does not apply to dynamodb");
	free(r);
	setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000", 1);
	r = aws_resolve_endpoint("dynamodb", NULL, "eu-west-1");
	TAP_STREQ(r, "http://127.0.0.1:8000", "AWS_ENDPOINT_URL_DYNAMODB");
	free(r);
	r = aws_resolve_endpoint("s3", "https://minio.local:9000", "eu-west-1");
	TAP_STREQ(r, "https://minio.local:9000", "explicit endpoint wins over everything");
	free(r);
	clean_env();
}

/* ---- concurrency: many threads, one provider ---- */

static void *getter(void *arg)
{
	struct cred_provider *p = arg;
	uintptr_t bad = 0;

	for (int i = 0; i < 200; i++) {
		struct aws_creds c = {0};

		if (cred_provider_get(p, &c) != WIRE_OK || !streq(c.access_key, "AKENV"))
			bad++;
		aws_creds_clear(&c);
	}
	return (void *)bad;
}

static void test_threads(void)
{
	struct cred_options o = {.disable_imds = 1};
	struct cred_provider *p;
	pthread_t t[4];
	uintptr_t bad = 0;

	clean_env();
	setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SKENV", 1);
	p = cred_provider_new(&o);
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, getter, p);
	for (int i = 0; i < 4; i++) {
		void *r;

		pthread_join(t[i], &r);
		bad += (uintptr_t)r;
	}
	cred_provider_free(p);
	TAP_OK(bad == 0, "4 threads x 200 gets on one provider (%lu bad)", (unsigned long)bad);
}

/* The container endpoint check on its own: each URL is refused, or taken
 * and handed on in libcurl's spelling (NULL: refused). */
static void test_container_urls(void)
{
	static const struct {
		const char *url, *want;
	} cases[] = {
	    {"http://127.0.0.1:8080/creds", "http://127.0.0.1:8080/creds"},
	    {"http://127.9.8.7/v2/x?a=b", "http://127.9.8.7/v2/x?a=b"},
	    {"http://localhost/creds", "http://localhost/creds"},
	    {"HTTP://LocalHost:80/creds", "http://LocalHost:80/creds"},
	    {"http://[::1]:9/creds", "http://[::1]:9/creds"},
	    {"http://[0:0:0:0:0:0:0:1]/creds", "http://[::1]/creds"},
	    {"http://[::ffff:127.0.0.1]/creds", "http://[::ffff:127.0.0.1]/creds"},
	    {"http://169.254.170.2/v2/credentials/id", "http://169.254.170.2/v2/credentials/id"},
	    {"http://169.254.170.23/v1/credentials", "http://169.254.170.23/v1/credentials"},
	    {"http://[fd00:ec2::23]/v1/credentials", "http://[fd00:ec2::23]/v1/credentials"},
	    {"http://[FD00:EC2:0::23]:80/x", "http://[fd00:ec2::23]:80/x"},
	    {"https://creds.example.com/x", "https://creds.example.com/x"},
	    {"https://10.1.2.3:8443/x", "https://10.1.2.3:8443/x"},
	    /* Percent-encoding and short IPv4 forms: the host libcurl contacts. */
	    {"http://%31%32%37.0.0.1/creds", "http://127.0.0.1/creds"},
	    {"http://127.1/creds", "http://127.0.0.1/creds"},
	    {"http://0x7f.0.0.1/creds", "http://127.0.0.1/creds"},
	    {"http://2130706433/creds", "http://127.0.0.1/creds"},
	    /* A fragment is not part of the host. */
	    {"http://127.0.0.1#@evil.com/", "http://127.0.0.1/#@evil.com/"},
	    /* Refused: user information, wherever it points. */
	    {"http://127.0.0.1@evil.com/", NULL},
	    {"http://127.0.0.1:80@evil.com/", NULL},
	    {"http://127.0.0.1%2f@evil.com/", NULL},
	    {"http://127.0.0.1\\@evil.com/", NULL},
	    {"http://evil.com@127.0.0.1/", NULL},
	    {"http://@127.0.0.1/", NULL},
	    {"http://:@127.0.0.1/", NULL},
	    {"https://user:pw@creds.example.com/", NULL},
	    /* Refused: names that only start like loopback, trailing dots. */
	    {"http://127.0.0.1.evil.com/", NULL},
	    {"http://localhost.evil.com/", NULL},
	    {"http://localhost./creds", NULL},
	    {"http://127.0.0.1./creds", NULL},
	    {"http://evil.localhost/creds", NULL},
	    {"http://169.254.170.2.evil.com/", NULL},
	    {"http://169.254.170.3/creds", NULL},
	    {"http://169.254.169.254/creds", NULL},
	    {"http://[::2]/creds", NULL},
	    {"http://[fd00:ec2::24]/creds", NULL},
	    {"http://[::ffff:10.0.0.1]/creds", NULL},
	    {"http://128.0.0.1/creds", NULL},
	    {"http://example.com/creds", NULL},
	    /* Refused: not http(s), not a URL. */
	    {"ftp://127.0.0.1/creds", NULL},
	    {"file:///etc/passwd", NULL},
	    {"127.0.0.1/creds", NULL},
	    {"http://127.0.0.1:99999/", NULL},
	    {"http://127.0.0.1 /", NULL},
	    {"", NULL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out = (char *)1;
		enum wire_status st = aws_container_url(cases[i].url, &out);

		if (cases[i].want)
			TAP_OK(st == WIRE_OK && streq(out, cases[i].want),
			       "container url '%s' taken as '%s' (%s, '%s')", cases[i].url,
			       cases[i].want, wire_status_str(st), out ? out : "(null)");
		else
			TAP_OK(st == WIRE_INVALID && !out, "container url '%s' refused (%s)",
			       cases[i].url, wire_status_str(st));
		curl_free(out);
	}
}

/* ---- credential_process ---- */

/* A script in the scratch folder, executable. */
static void write_script(const char *name, const char *text)
{
	write_file(name, text);
	chmod(tpath(name), 0700);
}

/* The profile "p" of a fresh config file runs the script of the scratch
 * folder with args. */
static void process_profile(const char *script, const char *args)
{
	char text[1700];

	snprintf(text, sizeof(text), "[profile p]\ncredential_process = %s/%s%s\n", tmpdir, script,
		 args);
	write_file("proc-config", text);
	setenv("AWS_CONFIG_FILE", tpath("proc-config"), 1);
}

/* What the log received while fn ran (a file as the log's extra fd). */
static char logbuf[16384];

static void log_capture_start(void)
{
	int fd = open(tpath("proc.log"), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	tfs_log_set_fd(fd);
}

static const char *log_capture_end(void)
{
	int fd = open(tpath("proc.log"), O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, logbuf, sizeof(logbuf) - 1);

	tfs_log_set_fd(-1);
	logbuf[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
	return logbuf;
}

static void test_process(void)
{
	struct cred_options o = {.disable_imds = 1, .profile = "p", .process_timeout_ms = 500};
	struct aws_creds c = {0};
	enum wire_status st;
	const char *log;

	clean_env();
	setenv("AWS_SHARED_CREDENTIALS_FILE", tpath("nonexistent"), 1);
	/* The argument with a space arrives as one word, without a shell:
	 * "$HOME" stays literal. */
	write_script("cp-ok", "#!/bin/sh\n"
			      "[ \"$1\" = 'two words' ] && [ \"$2\" = '$HOME' ] || exit 9\n"
			      "echo 'progress: fetching keys' >&2\n"
			      "echo 'leaked: procsecret/1' >&2\n"
			      "printf '{\"Version\": 1, \"AccessKeyId\": \"AKPROC\", "
			      "\"SecretAccessKey\": \"procsecret/1\", \"SessionToken\": \"ptok\", "
			      "\"Expiration\": \"2030-01-01T00:00:00Z\"}'\n");
	process_profile("cp-ok", " \"two words\" '$HOME'");
	log_capture_start();
	st = get_once(&o, &c);
	log = log_capture_end();
	TAP_OK(st == WIRE_OK && streq(c.access_key, "AKPROC") &&
		   streq(c.secret_key, "procsecret/1") && streq(c.session_token, "ptok") &&
		   c.expires_ms == 1893456000LL * 1000,
	       "credential_process: keys, token and expiration from its json (%s)",
	       wire_status_str(st));
	aws_creds_clear(&c);
	TAP_OK(strstr(log, "says: progress: fetching keys") != NULL,
	       "credential_process: its stderr reaches the log");
	TAP_OK(strstr(log, "procsecret/1") == NULL && strstr(log, "withheld") != NULL,
	       "credential_process: a stderr line holding the secret is withheld");

	/* Keys in the credentials file win, as in the AWS CLI. */
	write_file("proc-creds", "[p]\naws_access_key_id = AKFILE\naws_secret_access_key = SK\n");
	setenv("AWS_SHARED_CREDENTIALS_FILE", tpath("proc-creds"), 1);
	st = get_once(&o, &c);
	TAP_OK(st == WIRE_OK && streq(c.access_key, "AKFILE"),
	       "credentials file keys come before credential_process");
	aws_creds_clear(&c);
	setenv("AWS_SHARED_CREDENTIALS_FILE", tpath("nonexistent"), 1);

	write_script("cp-fail", "#!/bin/sh\necho 'no sso session' >&2\nexit 3\n");
	process_profile("cp-fail", "");
	log_capture_start();
	st = get_once(&o, &c);
	log = log_capture_end();
	TAP_OK(st == WIRE_AUTH && !c.access_key,
	       "credential_process exiting non-zero is an error (%s)", wire_status_str(st));
	TAP_OK(strstr(log, "exited with status 3") && strstr(log, "says: no sso session"),
	       "credential_process: its status and stderr are logged");

	write_script("cp-bad", "#!/bin/sh\necho '{\"Version\": 1, \"AccessKeyId\": '\n");
	process_profile("cp-bad", "");
	st = get_once(&o, &c);
	TAP_OK(st == WIRE_BAD_RESPONSE, "credential_process printing bad json is refused (%s)",
	       wire_status_str(st));
	write_script("cp-v2", "#!/bin/sh\necho '{\"Version\": 2, \"AccessKeyId\": \"A\", "
			      "\"SecretAccessKey\": \"S\"}'\n");
	process_profile("cp-v2", "");
	st = get_once(&o, &c);
	TAP_OK(st == WIRE_BAD_RESPONSE,
	       "credential_process json of another Version is refused (%s)", wire_status_str(st));
	write_script("cp-static", "#!/bin/sh\necho '{\"Version\": 1, \"AccessKeyId\": \"A\", "
				  "\"SecretAccessKey\": \"S\"}'\n");
	process_profile("cp-static", "");
	st = get_once(&o, &c);
	TAP_OK(st == WIRE_OK && streq(c.access_key, "A") && !c.session_token && c.expires_ms == 0,
	       "credential_process without token and expiration: long-term keys (%s)",
	       wire_status_str(st));
	aws_creds_clear(&c);

	/* A hung command is killed at the timeout (0.5 s here), its child
	 * holding the pipe too. */
	write_script("cp-hang", "#!/bin/sh\nsleep 30\n");
	process_profile("cp-hang", "");
	st = get_once(&o, &c);
	TAP_OK(st == WIRE_TIMEOUT, "a hung credential_process is killed at the timeout (%s)",
	       wire_status_str(st));

	process_profile("cp-ok", " \"unclosed");
	st = get_once(&o, &c);
	TAP_OK(st == WIRE_INVALID, "credential_process with an unclosed quote is refused (%s)",
	       wire_status_str(st));
	/* posix_spawnp says ENOENT; under valgrind it forks first, and the
	 * child's failed exec shows as exit status 127 instead. */
	process_profile("no-such-program", "");
	st = get_once(&o, &c);
	TAP_OK(st == WIRE_LOCAL_IO || st == WIRE_AUTH,
	       "credential_process that does not exist is an error (%s)", wire_status_str(st));
	clean_env();
}

/* ---- the metadata services, served by python on loopback ---- */

static const char server_py[] =
    "import http.server, json, sys\n"
    "state = {'n': 0, 'mode': 'ok', 'puts': 0}\n"
    "EXP = sys.argv[1]\n"
    "P = '/latest/meta-data/iam/security-credentials/'\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    protocol_version = 'HTTP/1.1'\n"
    "    def log_message(self, *a):\n"
    "        pass\n"
    "    def reply(self, code, body, ctype='application/json'):\n"
    "        b = body.encode()\n"
    "        self.send_response(code)\n"
    "        self.send_header('Content-Type', ctype)\n"
    "        self.send_header('Content-Length', str(len(b)))\n"
    "        self.end_headers()\n"
    "        self.wfile.write(b)\n"
    "    def creds(self, prefix):\n"
    "        state['n'] += 1\n"
    "        n = state['n']\n"
    "        return json.dumps({'Code': 'Success', 'AccessKeyId': '%s%d' % (prefix, n),\n"
    "                           'SecretAccessKey': 'secret/%d' % n, 'Token': 'tok+%d' % n,\n"
    "                           'Expiration': EXP})\n"
    "    def do_PUT(self):\n"
    "        if state['mode'] == 'fail':\n"
    "            return self.reply(500, '{}')\n"
    "        ttl = self.headers.get('X-aws-ec2-metadata-token-ttl-seconds')\n"
    "        if self.path == '/latest/api/token' and ttl and int(ttl) > 0:\n"
    "            state['puts'] += 1\n"
    "            return self.reply(200, 'IMDSTOKEN', 'text/plain')\n"
    "        self.reply(400, 'bad')\n"
    "    def do_GET(self):\n"
    "        p = self.path\n"
    "        if p.startswith('/mode/'):\n"
    "            state['mode'] = p[6:]\n"
    "            return self.reply(200, '{}')\n"
    "        if state['mode'] == 'fail':\n"
    "            return self.reply(500, '{}')\n"
    "        if p == '/creds':\n"
    "            if self.headers.get('Authorization') != 'Bearer tok-123':\n"
    "                return self.reply(401, '{}')\n"
    "            return self.reply(200, self.creds('ASIACONT'))\n"
    "        if p == '/big':\n"
    "            return self.reply(200, '{\"AccessKeyId\": \"' + 'x' * 200000 + '\"}')\n"
    "        if p == '/garbage':\n"
    "            return self.reply(200, '{not json')\n"
    "        if p == '/nokey':\n"
    "            return self.reply(200, '{\"SecretAccessKey\": \"s\"}')\n"
    "        if p == '/failcode':\n"
    "            return self.reply(200, '{\"Code\": \"Failure\", \"AccessKeyId\": \"A\", '\n"
    "                              '\"SecretAccessKey\": \"S\"}')\n"
    "        if p.startswith(P):\n"
    "            if self.headers.get('X-aws-ec2-metadata-token') != 'IMDSTOKEN':\n"
    "                return self.reply(401, '')\n"
    "            rest = p[len(P):]\n"
    "            if rest == '':\n"
    "                return self.reply(200, 'tfs-role\\n', 'text/plain')\n"
    "            if rest == 'tfs-role':\n"
    "                return self.reply(200, self.creds('ASIAIMDS'))\n"
    "        self.reply(404, '{}')\n"
    "    def do_POST(self):\n"
    "        import urllib.parse\n"
    "        n = int(self.headers.get('Content-Length', '0'))\n"
    "        f = urllib.parse.parse_qs(self.rfile.read(n).decode())\n"
    "        one = lambda k: f.get(k, [''])[0]\n"
    "        if self.path != '/sts' or self.headers.get('Authorization'):\n"
    "            return self.reply(400, '')\n"
    "        if (one('Action') != 'AssumeRoleWithWebIdentity' or one('Version') != '2011-06-15'\n"
    "                or one('RoleArn') != 'arn:aws:iam::123456789012:role/tfs'\n"
    "                or one('WebIdentityToken') != 'jwt+a/b=c'\n"
    "                or not one('RoleSessionName')):\n"
    "            return self.reply(400, '<ErrorResponse><Error><Type>Sender</Type>'\n"
    "                              '<Code>InvalidIdentityToken</Code><Message>no good'\n"
    "                              '</Message></Error></ErrorResponse>', 'text/xml')\n"
    "        state['n'] += 1\n"
    "        n = state['n']\n"
    "        state['session'] = one('RoleSessionName')\n"
    "        self.reply(200, '<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.'\n"
    "                   'amazonaws.com/doc/2011-06-15/\"><AssumeRoleWithWebIdentityResult>'\n"
    "                   '<Credentials><AccessKeyId>ASIAWEB%d</AccessKeyId><SecretAccessKey>'\n"
    "                   'websecret/%d</SecretAccessKey><SessionToken>webtok+%d'\n"
    "                   '</SessionToken><Expiration>%s</Expiration></Credentials>'\n"
    "                   '</AssumeRoleWithWebIdentityResult>'\n"
    "                   '</AssumeRoleWithWebIdentityResponse>' % (n, n, n, EXP), 'text/xml')\n"
    "class S(http.server.ThreadingHTTPServer):\n"
    "    def handle_error(self, request, client_address):\n"
    "        pass  # the client aborting an oversized reply is expected\n"
    "srv = S(('127.0.0.1', 0), H)\n"
    "print(srv.server_address[1], flush=True)\n"
    "srv.serve_forever()\n";

#define EXPIRY_S   1893456000LL /* 2030-01-01T00:00:00Z, what the server says */
#define EXPIRY_ISO "2030-01-01T00:00:00Z"

static pid_t server_pid = -1;
static int server_port;

static int start_server(void)
{
	int pfd[2];
	char buf[32] = {0};
	ssize_t n = 0;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -1;
	server_pid = fork();
	if (server_pid < 0)
		return -1;
	if (server_pid == 0) {
		/* The server must not outlive the test. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(pfd[1], 1);
		execlp("python3", "python3", "-c", server_py, EXPIRY_ISO, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	for (size_t got = 0; got < sizeof(buf) - 1;) {
		n = read(pfd[0], buf + got, sizeof(buf) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || memchr(buf, '\n', got + (size_t)n))
			break;
		got += (size_t)n;
	}
	close(pfd[0]);
	server_port = atoi(buf);
	return server_port > 0 ? 0 : -1;
}

static void stop_server(void)
{
	if (server_pid > 0) {
		kill(server_pid, SIGTERM);
		waitpid(server_pid, NULL, 0);
	}
	server_pid = -1;
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *arg)
{
	return size * nmemb;
}

static void server_mode(const char *mode)
{
	char url[128];
	CURL *h = curl_easy_init();
	CURLcode cc;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/mode/%s", server_port, mode);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 3000L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	cc = curl_easy_perform(h);
	curl_easy_cleanup(h);
	TAP_OK(cc == CURLE_OK, "server mode set to %s", mode);
}

static void set_url(const char *var, const char *path)
{
	char url[128];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", server_port, path);
	setenv(var, url, 1);
}

static void test_container(void)
{
	struct cred_options o = {.disable_imds = 1, .now_ms = test_clock};
	struct cred_provider *p;
	struct aws_creds c = {0};
	enum wire_status st;

	clean_env();
	set_url("AWS_CONTAINER_CREDENTIALS_FULL_URI", "/creds");
	setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer tok-123", 1);
	fake_now = (EXPIRY_S - 86400) * 1000;
	p = cred_provider_new(&o);
	st = cred_provider_get(p, &c);
	TAP_OK(st == WIRE_OK && streq(c.access_key, "ASIACONT1") &&
		   streq(c.secret_key, "secret/1") && streq(c.session_token, "tok+1") &&
		   c.expires_ms == EXPIRY_S * 1000,
	       "container credentials with token and expiration (%s)", wire_status_str(st));
	aws_creds_clear(&c);

	fake_now = (EXPIRY_S - 301) * 1000;
	st = cred_provider_get(p, &c);
	TAP_OK(st == WIRE_OK && streq(c.access_key, "ASIACONT1"),
	       "cached until five minutes before expiry");
	aws_creds_clear(&c);

	fake_now = (EXPIRY_S - 299) * 1000;
	st = cred_provider_get(p, &c);
	TAP_OK(st == WIRE_OK && streq(c.access_key, "ASIACONT2"),
	       "refreshed within five minutes of expiry");
	aws_creds_clear(&c);

	/* The server now fails: the current keys serve until they expire. */
	server_mode("fail");
	fake_now = (EXPIRY_S - 10) * 1000;
	st = cred_provider_get(p, &c);
	TAP_OK(st == WIRE_OK && streq(c.access_key, "ASIACONT2"),
	       "failed refresh keeps the still-valid keys");
	aws_creds_clear(&c);
	fake_now = (EXPIRY_S + 1) * 1000;
	st = cred_provider_get(p, &c);
	TAP_OK(st == WIRE_SERVER && !c.access_key, "failed refresh after expiry: server error (%s)",
	       wire_status_str(st));
	aws_creds_clear(&c);
	server_mode("ok");
	fake_now = (EXPIRY_S - 3600) * 1000;
	st = cred_provider_get(p, &c);
	TAP_OK(st == WIRE_OK && streq(c.access_key, "ASIACONT3"), "recovers when the server does");
	aws_creds_clear(&c);
	cred_provider_free(p);

	setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer wrong", 1);
	st = get_once(&o, &c);
	TAP_OK(st == WIRE_AUTH, "wrong authorization token: auth error (%s)", wire_status_str(st));

	/* EKS style: the token comes from a file, re-read at each fetch. */
	unsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
	write_file("eks-token", "Bearer tok-123\n");
	setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", tpath("eks-token"), 1);
	st = get_once(&o, &c);
	TAP_OK(st == WIRE_OK && streq(c.access_key, "ASIACONT4"), "token from a token file");
	aws_creds_clear(&c);
	unsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer tok-123", 1);

	set_url("AWS_CONTAINER_CREDENTIALS_FULL_URI", "/big");
	st = get_once(&o, &c);
	TAP_OK(st == WIRE_BAD_RESPONSE, "oversized reply is refused (%s)", wire_status_str(st));
	set_url("AWS_CONTAINER_CREDENTIALS_FULL_URI", "/garbage");
	st = get_once(&o, &c);
	TAP_OK(st == WIRE_BAD_RESPONSE, "malformed json is refused (%s)", wire_status_str(st));
	set_url("AWS_CONTAINER_CREDENTIALS_FULL_URI", "/nokey");
	st = get_once(&o, &c);
	TAP_OK(st == WIRE_BAD_RESPONSE, "reply without key id is refused (%s)",
	       wire_status_str(st));
	set_url("AWS_CONTAINER_CREDENTIALS_FULL_URI", "/failcode");
	st = get_once(&o, &c);
	TAP_OK(st == WIRE_BAD_RESPONSE, "reply with a failure code is refused (%s)",
	       wire_status_str(st));

	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://example.com/creds", 1);
	st = get_once(&o, &c);
	TAP_OK(st == WIRE_INVALID, "plain http to a non-loopback host is refused (%s)",
	       wire_status_str(st));

	/* URLs that only look like loopback or the container agent: the host
	 * libcurl would contact is another one, which must not get the token
	 * in clear text. Refused before any request is made. */
	{
		static const char *const disguised[] = {
		    "http://127.0.0.1@evil.invalid/creds",
		    "http://127.0.0.1:80@evil.invalid/creds",
		    "http://localhost:1@evil.invalid/creds",
		    "http://127.0.0.1.evil.invalid/creds",
		    "http://localhost.evil.invalid/creds",
		    "http://169.254.170.2@evil.invalid/creds",
		    "http://169.254.170.23.evil.invalid/creds",
		    "http://[::1]@evil.invalid/creds",
		};

		for (size_t i = 0; i < sizeof(disguised) / sizeof(disguised[0]); i++) {
			setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", disguised[i], 1);
			st = get_once(&o, &c);
			TAP_OK(st == WIRE_INVALID, "container url %s is refused (%s)", disguised[i],
			       wire_status_str(st));
			aws_creds_clear(&c);
		}
	}
	/* Loopback spelled another way is still loopback: what counts is the
	 * host libcurl parses, not the text. */
	{
		static const char *const prefixes[] = {
		    "HTTP://LOCALHOST:",
		    "http://%31%32%37.0.0.1:",
		    "http://127.1:",
		};
		char url[128];

		for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
			snprintf(url, sizeof(url), "%s%d/creds", prefixes[i], server_port);
			setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
			st = get_once(&o, &c);
			TAP_OK(st == WIRE_OK && c.access_key &&
				   strncmp(c.access_key, "ASIACONT", 8) == 0,
			       "container url %s is loopback (%s)", url, wire_status_str(st));
			aws_creds_clear(&c);
		}
	}

	/* Configured but unreachable: an error, not a silent fall-through. */
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/creds", 1);
	st = get_once(&o, &c);
	TAP_OK(st == WIRE_NETWORK, "unreachable container endpoint: network error (%s)",
	       wire_status_str(st));
	aws_creds_clear(&c);
	clean_env();
}

/* Web identity against the fake STS above: the form it posts, the XML it
 * reads, the refresh before expiry with the token file read again, a
 * refused token, and the configuration errors. */
static void test_web_identity(void)
{
	struct cred_options o = {.disable_imds = 1, .now_ms = test_clock};
	struct cred_provider *p;
	struct aws_creds c = {0};
	enum wire_status st;

	clean_env();
	setenv("AWS_SHARED_CREDENTIALS_FILE", tpath("nonexistent"), 1);
	setenv("AWS_CONFIG_FILE", tpath("nonexistent"), 1);
	set_url("AWS_ENDPOINT_URL_STS", "/sts");
	write_file("web-token", "jwt+a/b=c\n");
	setenv("AWS_WEB_IDENTITY_TOKEN_FILE", tpath("web-token"), 1);
	setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/tfs", 1);
	fake_now = (EXPIRY_S - 86400) * 1000;
	p = cred_provider_new(&o);
	st = cred_provider_get(p, &c);
	TAP_OK(st == WIRE_OK && strncmp(c.access_key ? c.access_key : "", "ASIAWEB", 7) == 0 &&
		   strncmp(c.secret_key ? c.secret_key : "", "websecret/", 10) == 0 &&
		   strncmp(c.session_token ? c.session_token : "", "webtok+", 7) == 0 &&
		   c.expires_ms == EXPIRY_S * 1000,
	       "web identity: temporary credentials from AssumeRoleWithWebIdentity (%s)",
	       wire_status_str(st));
	aws_creds_clear(&c);
	/* Past the refresh margin with a broken token: the refresh reads the
	 * file again, STS refuses it, the current keys serve until expiry. */
	write_file("web-token", "stale\n");
	fake_now = (EXPIRY_S - 60) * 1000;
	st = cred_provider_get(p, &c);
	TAP_OK(st == WIRE_OK && c.expires_ms == EXPIRY_S * 1000,
	       "web identity: a refused refresh keeps the still-valid keys (%s)",
	       wire_status_str(st));
	aws_creds_clear(&c);
	fake_now = (EXPIRY_S + 1) * 1000;
	st = cred_provider_get(p, &c);
	TAP_OK(st == WIRE_AUTH && !c.access_key,
	       "web identity: a token STS refuses is an auth error (%s)", wire_status_str(st));
	aws_creds_clear(&c);
	write_file("web-token", "jwt+a/b=c");
	fake_now = (EXPIRY_S - 3600) * 1000;
	st = cred_provider_get(p, &c);
	TAP_OK(st == WIRE_OK && c.access_key, "web identity: the rotated token file is read again");
	aws_creds_clear(&c);
	cred_provider_free(p);

	setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SKENV", 1);
	st = get_once(&o, &c);
	TAP_OK(st == WIRE_OK && streq(c.access_key, "AKENV"),
	       "environment keys come before web identity");
	aws_creds_clear(&c);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");

	setenv("AWS_WEB_IDENTITY_TOKEN_FILE", tpath("no-such-token"), 1);
	st = get_once(&o, &c);
	TAP_OK(st == WIRE_LOCAL_IO, "web identity: a missing token file is an error (%s)",
	       wire_status_str(st));
	write_file("empty-token", "\n");
	setenv("AWS_WEB_IDENTITY_TOKEN_FILE", tpath("empty-token"), 1);
	st = get_once(&o, &c);
	TAP_OK(st == WIRE_INVALID, "web identity: an empty token file is refused (%s)",
	       wire_status_str(st));
	unsetenv("AWS_ROLE_ARN");
	st = get_once(&o, &c);
	TAP_OK(st == WIRE_NO_CREDENTIALS, "web identity: a token file without a role is not used");
	unsetenv("AWS_WEB_IDENTITY_TOKEN_FILE");

	/* The profile form. */
	write_file("wi-config", "[profile eks]\nweb_identity_token_file = ");
	{
		FILE *f = fopen(tpath("wi-config"), "ae");

		fprintf(f,
			"%s\nrole_arn = arn:aws:iam::123456789012:role/tfs\n"
			"role_session_name = pod-1\n[profile half]\n"
			"web_identity_token_file = %s\n",
			tpath("web-token"), tpath("web-token"));
		fclose(f);
	}
	setenv("AWS_CONFIG_FILE", tpath("wi-config"), 1);
	o.profile = "eks";
	st = get_once(&o, &c);
	TAP_OK(st == WIRE_OK && strncmp(c.access_key ? c.access_key : "", "ASIAWEB", 7) == 0,
	       "web identity from the profile's web_identity_token_file and role_arn (%s)",
	       wire_status_str(st));
	aws_creds_clear(&c);
	o.profile = "half";
	st = get_once(&o, &c);
	TAP_OK(st == WIRE_INVALID, "a profile's token file without role_arn is refused (%s)",
	       wire_status_str(st));
	o.profile = NULL;

	/* Nothing listening where STS should be. */
	setenv("AWS_CONFIG_FILE", tpath("nonexistent"), 1);
	setenv("AWS_WEB_IDENTITY_TOKEN_FILE", tpath("web-token"), 1);
	setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/tfs", 1);
	setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:1", 1);
	st = get_once(&o, &c);
	TAP_OK(st == WIRE_NETWORK, "web identity: unreachable sts is a network error (%s)",
	       wire_status_str(st));
	clean_env();
}

static void test_imds(void)
{
	struct cred_options o = {.now_ms = test_clock};
	struct cred_provider *p;
	struct aws_creds c = {0};
	char base[64];
	enum wire_status st;

	clean_env();
	setenv("AWS_SHARED_CREDENTIALS_FILE", tpath("nonexistent"), 1);
	setenv("AWS_CONFIG_FILE", tpath("nonexistent"), 1);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", server_port);
	o.imds_endpoint = base;
	fake_now = (EXPIRY_S - 7200) * 1000;
	st = get_once(&o, &c);
	TAP_OK(st == WIRE_OK && strncmp(c.access_key ? c.access_key : "", "ASIAIMDS", 8) == 0 &&
		   c.session_token && c.expires_ms == EXPIRY_S * 1000,
	       "imdsv2 credentials through a session token (%s)", wire_status_str(st));
	aws_creds_clear(&c);

	o.imds_endpoint = NULL;
	snprintf(base, sizeof(base), "http://127.0.0.1:%d/", server_port);
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", base, 1);
	st = get_once(&o, &c);
	TAP_OK(st == WIRE_OK && strncmp(c.access_key ? c.access_key : "", "ASIAIMDS", 8) == 0,
	       "AWS_EC2_METADATA_SERVICE_ENDPOINT (%s)", wire_status_str(st));
	aws_creds_clear(&c);

	/* Once IMDS has served us, its failure is reported, not hidden. */
	p = cred_provider_new(&o);
	st = cred_provider_get(p, &c);
	TAP_OK(st == WIRE_OK, "imds via a provider kept across refreshes");
	aws_creds_clear(&c);
	server_mode("fail");
	fake_now = (EXPIRY_S - 60) * 1000;
	st = cred_provider_get(p, &c);
	TAP_OK(st == WIRE_OK && c.expires_ms == EXPIRY_S * 1000,
	       "imds down during the refresh window: current keys kept");
	aws_creds_clear(&c);
	fake_now = (EXPIRY_S + 60) * 1000;
	st = cred_provider_get(p, &c);
	TAP_OK(st == WIRE_SERVER, "imds down after expiry: server error, not no credentials (%s)",
	       wire_status_str(st));
	aws_creds_clear(&c);
	server_mode("ok");
	fake_now = (EXPIRY_S - 7200) * 1000;
	cred_provider_free(p);

	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	st = get_once(&o, &c);
	TAP_OK(st == WIRE_NO_CREDENTIALS, "AWS_EC2_METADATA_DISABLED=true skips imds");
	unsetenv("AWS_EC2_METADATA_DISABLED");
	o.disable_imds = 1;
	st = get_once(&o, &c);
	TAP_OK(st == WIRE_NO_CREDENTIALS, "disable_imds skips imds");
	o.disable_imds = 0;

	/* Nothing listening: IMDS is a probe, so "no credentials". */
	o.imds_endpoint = "http://127.0.0.1:1";
	st = get_once(&o, &c);
	TAP_OK(st == WIRE_NO_CREDENTIALS, "unreachable imds: no credentials (%s)",
	       wire_status_str(st));
	aws_creds_clear(&c);
	clean_env();
}

int main(void)
{
	const char *base = getenv("TFS_TEST_TMP");

	snprintf(tmpdir, sizeof(tmpdir), "%s/tfs-creds-XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(tmpdir)) {
		printf("Bail out! cannot create a temp dir under %s\n", base ? base : "/tmp");
		return 1;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	test_clear();
	test_none();
	test_explicit_and_env();
	test_profiles();
	test_malformed_ini();
	test_region_endpoint();
	test_threads();
	test_container_urls();
	test_process();
	if (start_server() == 0) {
		test_container();
		test_web_identity();
		test_imds();
	} else {
		TAP_OK(0, "python3 http.server for the metadata tests starts");
	}
	stop_server();
	curl_global_cleanup();
	/* Leave no secrets behind in the scratch folder. */
	if (!getenv("TFS_KEEP_TMP")) {
		char cmd[700];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			printf("# cannot remove %s\n", tmpdir);
	}
	return TAP_DONE();
}
