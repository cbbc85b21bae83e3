/* Integration test of DynamoDB error handling through tests/lib/faultproxy.py
 * in front of a real peer (dynalite, else moto_server): throttling and 5xx
 * are retried, other errors are not, malformed replies are reported as
 * such, and a commit whose reply is lost after it was applied still
 * reports success. Exit 77 when no peer is configured. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cache/catalog/catalog.h"
#include "s3/base/log.h"
#include "s3/wire/creds.h"
#include "s3/wire/ddb.h"
#include "s3/wire/http.h"
#include "tests/unit/tap.h"

static char proxy_url[64];
static struct http_client *ctl_http; /* unsigned, for the proxy control API */

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Starts the proxy in front of target; its pid, or -1. */
static pid_t start_proxy(const char *repo, const char *target, const char *tmp)
{
	char script[512], port_file[512], buf[32];
	int i, fd;
	pid_t pid;
	ssize_t n;

	snprintf(script, sizeof(script), "%s/tests/lib/faultproxy.py", repo);
	snprintf(port_file, sizeof(port_file), "%s/ddb-faultproxy-%d.port", tmp, (int)getpid());
	unlink(port_file);
	if (access(script, R_OK) != 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (fd >= 0)
			dup2(fd, 2);
		execlp("python3", "python3", script, "--target", target, "--listen", "127.0.0.1:0",
		       "--port-file", port_file, "--max-lifetime", "600", (char *)NULL);
		_exit(127);
	}
	if (pid < 0)
		return -1;
	for (i = 0; i < 200; i++) {
		fd = open(port_file, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			n = read(fd, buf, sizeof(buf) - 1);
			close(fd);
			if (n > 0) {
				buf[n] = '\0';
				snprintf(proxy_url, sizeof(proxy_url), "http://127.0.0.1:%d",
					 atoi(buf));
				unlink(port_file);
				return pid;
			}
		}
		sleep_ms(50);
	}
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	return -1;
}

static void record_pid(const char *tmp, pid_t pid)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/pids", tmp);
	f = fopen(path, "ae");
	if (f) {
		fprintf(f, "%d python3\n", (int)pid);
		fclose(f);
	}
}

/* POSTs body to the proxy control path; the reply body (malloc'ed) or NULL. */
static char *control(const char *method, const char *path, const char *body)
{
	struct http_request req;
	struct http_response resp;
	char url[128], *out = NULL;

	memset(&resp, 0, sizeof(resp));
	snprintf(url, sizeof(url), "%s/__proxy/%s", proxy_url, path);
	http_request_init(&req);
	req.method = method;
	req.url = url;
	req.body = body;
	req.body_len = body ? strlen(body) : 0;
	req.no_retry = 1;
	if (http_send(ctl_http, &req, &resp, NULL) == WIRE_OK && resp.body)
		out = strdup(resp.body);
	http_response_free(&resp);
	return out;
}

static int set_rules(const char *rules)
{
	char *r;

	free(control("POST", "reset", "{}"));
	r = control("POST", "rules", rules);
	free(r);
	return r ? 0 : -1;
}

/* How many requests of operation op the proxy has seen since the reset. */
static int op_count(const char *op)
{
	char *s = control("GET", "stats", NULL);
	json_t *j = s ? json_loads(s, 0, NULL) : NULL;
	int n = -1;

	if (j)
		n = (int)json_integer_value(json_object_get(json_object_get(j, "counts"), op));
	json_decref(j);
	free(s);
	return n;
}

static json_t *key_of(const char *id)
{
	return json_pack("{s:o}", "id", ddb_av_s(id));
}

static void run(struct ddb_client *d, struct ddb_client *direct, const char *table)
{
	struct wire_error err;
	enum wire_status st;
	json_t *key = key_of("f-1"), *item, *got = NULL;
	struct catalog *cat;
	struct cat_item it;
	struct cat_commit cm = {
	    .new_gen = 1, .hash = "0123456789abcdef0123456789abcdef", .size = 10, .mtime_ms = 1000};
	int rc, n;

	item = json_pack("{s:o, s:o}", "id", ddb_av_s("f-1"), "v", ddb_av_n_u64(1));

	set_rules("[{\"target\":\"PutItem\",\"action\":\"status\",\"status\":400,"
		  "\"code\":\"ThrottlingException\",\"count\":2}]");
	st = ddb_put_item(d, table, item, NULL, NULL, &err);
	n = op_count("PutItem");
	TAP_OK(st == WIRE_OK && n == 3, "a 400 ThrottlingException is retried (%s, %d requests)",
	       wire_status_str(st), n);

	set_rules("[{\"target\":\"GetItem\",\"action\":\"status\",\"status\":500,\"count\":1}]");
	st = ddb_get_item(d, table, key, &got, &err);
	n = op_count("GetItem");
	TAP_OK(st == WIRE_OK && json_equal(got, item) && n == 2,
	       "a 500 InternalServerError is retried (%s, %d requests)", wire_status_str(st), n);
	json_decref(got);

	set_rules("[{\"target\":\"GetItem\",\"action\":\"status\",\"status\":400,"
		  "\"code\":\"ProvisionedThroughputExceededException\",\"count\":-1}]");
	st = ddb_get_item(d, table, key, &got, &err);
	n = op_count("GetItem");
	TAP_OK(st == WIRE_THROTTLED && n == 4,
	       "endless throttling gives up as throttled after max attempts (%s, %d requests)",
	       wire_status_str(st), n);

	set_rules("[{\"target\":\"UpdateItem\",\"action\":\"status\",\"status\":400,"
		  "\"code\":\"ValidationException\",\"count\":1}]");
	st = ddb_update_item(d, table, key, "SET v = :v", NULL, NULL, &err);
	n = op_count("UpdateItem");
	TAP_OK(st == WIRE_CLIENT && n == 1 && strcmp(err.code, "ValidationException") == 0,
	       "a ValidationException is not retried (%s, %d requests)", wire_status_str(st), n);
	TAP_STREQ(err.message, "injected by faultproxy", "error message decoded");

	set_rules("[{\"target\":\"UpdateItem\",\"action\":\"status\",\"status\":400,"
		  "\"code\":\"ConditionalCheckFailedException\",\"count\":1}]");
	st = ddb_update_item(d, table, key, "SET v = :v", NULL, NULL, &err);
	n = op_count("UpdateItem");
	TAP_OK(st == WIRE_CONDITION_FAILED && n == 1,
	       "a condition failure is not retried (%s, %d requests)", wire_status_str(st), n);

	set_rules("[{\"target\":\"GetItem\",\"action\":\"status\",\"status\":400,"
		  "\"code\":\"UnrecognizedClientException\",\"count\":1}]");
	st = ddb_get_item(d, table, key, &got, &err);
	n = op_count("GetItem");
	TAP_OK(st == WIRE_AUTH && n == 1, "an unknown key id is an auth error, not retried (%s)",
	       wire_status_str(st));

	set_rules("[{\"target\":\"GetItem\",\"action\":\"status\",\"status\":400,"
		  "\"code\":\"AccessDeniedException\",\"count\":1}]");
	st = ddb_get_item(d, table, key, &got, &err);
	TAP_OK(st == WIRE_ACCESS_DENIED, "AccessDeniedException is access denied (%s)",
	       wire_status_str(st));

	set_rules("[{\"target\":\"GetItem\",\"action\":\"status\",\"status\":200,"
		  "\"body\":\"{\\\"Item\\\":{\\\"id\\\":\",\"count\":1}]");
	st = ddb_get_item(d, table, key, &got, &err);
	TAP_OK(st == WIRE_BAD_RESPONSE && !got, "a truncated 200 reply is a bad response (%s)",
	       wire_status_str(st));

	set_rules("[{\"target\":\"GetItem\",\"action\":\"status\",\"status\":200,"
		  "\"body\":\"{\\\"Item\\\":[1,2]}\",\"count\":1}]");
	st = ddb_get_item(d, table, key, &got, &err);
	TAP_OK(st == WIRE_BAD_RESPONSE && !got, "an Item that is not a map is a bad response (%s)",
	       wire_status_str(st));

	set_rules("[{\"target\":\"GetItem\",\"action\":\"drop_mid_body\",\"count\":1}]");
	st = ddb_get_item(d, table, key, &got, &err);
	n = op_count("GetItem");
	TAP_OK(st == WIRE_OK && json_equal(got, item) && n == 2,
	       "a reply cut mid-body is retried (%s, %d requests)", wire_status_str(st), n);
	json_decref(got);
	got = NULL;

	/* A commit applied upstream whose reply is lost: the retry fails its
	 * gen condition, and the catalog must still report success. */
	cat = catalog_ddb_new(direct, table);
	rc =
	    cat ? cat->ops->acquire(cat, "f-commit", "node-a", 0, 1000, 60000, NULL, &it) : -ENOMEM;
	TAP_OK(rc == 0, "lease taken directly (rc %d)", rc);
	catalog_free(cat);
	cat = catalog_ddb_new(d, table);
	set_rules("[{\"target\":\"UpdateItem\",\"action\":\"drop_after\",\"count\":1}]");
	rc = cat ? cat->ops->commit(cat, "f-commit", "node-a", it.epoch, 0, &cm) : -ENOMEM;
	n = op_count("UpdateItem");
	TAP_OK(rc == 0 && n == 2, "commit whose reply was lost reports success (rc %d, %d updates)",
	       rc, n);
	rc = cat ? cat->ops->get(cat, "f-commit", &it) : -ENOMEM;
	TAP_OK(rc == 0 && it.gen == 1 && it.n_hist == 1 && strcmp(it.hash, cm.hash) == 0,
	       "the item holds the commit once (gen %llu, n_hist %d)", (unsigned long long)it.gen,
	       it.n_hist);
	/* A different version on the same base is still refused. */
	set_rules("[]");
	cm.hash = "ffffffffffffffffffffffffffffffff";
	rc = cat ? cat->ops->commit(cat, "f-commit", "node-a", it.epoch, 0, &cm) : -ENOMEM;
	TAP_OK(rc == -ESTALE, "another version on the old base is refused (rc %d)", rc);
	catalog_free(cat);

	json_decref(item);
	json_decref(key);
}

int main(void)
{
	const char *dyn = getenv("TFS_TEST_DYNALITE"), *moto = getenv("TFS_TEST_MOTO");
	const char *ak = getenv("AWS_ACCESS_KEY_ID"), *sk = getenv("AWS_SECRET_ACCESS_KEY");
	const char *repo = getenv("TFS_TEST_REPO"), *tmp = getenv("TFS_TEST_TMP");
	const char *peer = dyn ? dyn : moto;
	struct cred_options co = {0};
	struct http_options ho = {0};
	struct cred_provider *creds = NULL;
	struct http_client *http = NULL;
	struct ddb_client *d = NULL, *direct = NULL;
	char table[96];
	json_t *body;
	pid_t pid;

	if (!peer) {
		printf("# skip: TFS_TEST_DYNALITE and TFS_TEST_MOTO unset\n");
		return 77;
	}
	if (!repo)
		repo = ".";
	if (!tmp)
		tmp = "/tmp";
	tfs_log_set_level(LOG_CRIT);
	ctl_http = http_client_new(NULL, NULL);
	pid = ctl_http ? start_proxy(repo, peer, tmp) : -1;
	if (pid < 0) {
		printf("# skip: cannot start tests/lib/faultproxy.py\n");
		http_client_free(ctl_http);
		return 77;
	}
	record_pid(tmp, pid);

	co.access_key = ak ? ak : "testing";
	co.secret_key = sk ? sk : "testing";
	co.disable_imds = 1;
	creds = cred_provider_new(&co);
	/* Short backoff so the retry tests run fast; 4 attempts. */
	ho.backoff_base_ms = 5;
	ho.backoff_cap_ms = 20;
	ho.max_attempts = 4;
	ho.retry_budget_ms = 10000;
	ho.request_timeout_ms = 10000;
	http = creds ? http_client_new(&ho, creds) : NULL;
	d = http ? ddb_client_new(proxy_url, "us-east-1", http) : NULL;
	direct = http ? ddb_client_new(peer, "us-east-1", http) : NULL;
	TAP_OK(d && direct, "clients through %s and direct to %s", proxy_url, peer);
	if (!d || !direct)
		goto out;
	snprintf(table, sizeof(table), "tfs-test-ddbfault-%d-%ld", (int)getpid(), (long)time(NULL));
	TAP_OK(ddb_create_table(direct, table, NULL) == WIRE_OK &&
		   ddb_wait_active(direct, table, 30000, NULL) == WIRE_OK,
	       "table %s created", table);
	run(d, direct, table);
	body = json_pack("{s:s}", "TableName", table);
	ddb_call(direct, "DeleteTable", body, NULL, NULL);
	json_decref(body);
out:
	ddb_client_free(d);
	ddb_client_free(direct);
	http_client_free(http);
	cred_provider_free(creds);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	http_client_free(ctl_http);
	return TAP_DONE();
}
