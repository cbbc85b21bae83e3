/* The commands that talk to a running mount's control socket (control.h):
 * `tenantfs status`, `flush` and `evict`. They find the mount in
 * /proc/self/mounts, send one JSON request and print the answer. */
#include "fuse/control.h"
#include "fuse/control_i.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <mntent.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <xxhash.h>

#include "cache/engine/cache.h"
#include "fuse/fs.h"
#include "fuse/options.h"
#include "fuse/setup.h"
#include "s3/base/clock.h"
#include "s3/base/log.h"
#include "s3/base/progress.h"
#include "s3/wire/http.h"

/* ---- the commands -------------------------------------------------------- */

static const char *const commands[] = {"status", "flush", "evict", NULL};

bool tfs_control_command(const char *arg)
{
	size_t i;

	for (i = 0; arg && commands[i]; i++)
		if (!strcmp(arg, commands[i]))
			return true;
	return false;
}

#define STATUS_SYNOPSIS "tenantfs status MOUNTPOINT [--json] [--top N]"
#define FLUSH_SYNOPSIS	"tenantfs flush MOUNTPOINT [ID ...] [--timeout SECONDS]"
#define EVICT_SYNOPSIS	"tenantfs evict MOUNTPOINT ID ..."

static void usage(const char *cmd, FILE *out)
{
	if (!strcmp(cmd, "status"))
		fputs("usage: " STATUS_SYNOPSIS "\n"
		      "status shows the running mount at MOUNTPOINT: node identity, store,\n"
		      "catalog and uptime; leases held; the open, dirty (with their age),\n"
		      "uploading, failed (with the last error) and quarantined databases; the\n"
		      "oldest unpublished change; the cache's databases and bytes; the request\n"
		      "counters with the cost estimate. --json prints one JSON object. --top N\n"
		      "shows instead the N databases whose requests cost most since the start.\n",
		      out);
	else if (!strcmp(cmd, "flush"))
		fputs("usage: " FLUSH_SYNOPSIS "\n"
		      "flush writes back now every dirty database of the mount at MOUNTPOINT,\n"
		      "open or closed (or only those named) and waits until they are published,\n"
		      "at most --timeout SECONDS (default 60). Exit status 0 when all are\n"
		      "published, else 1, naming each that is not and why.\n",
		      out);
	else
		fputs("usage: " EVICT_SYNOPSIS "\n"
		      "evict drops the named databases from the cache of the mount at\n"
		      "MOUNTPOINT; only clean, closed ones: an open or dirty one is refused,\n"
		      "with the reason. Exit status 0 when every one was evicted, else 1.\n",
		      out);
}

static int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "tenantfs %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	usage(cmd, stderr);
	return 2;
}

/* The mount at mountpoint: 0 and the daemon's uid, or -ENOENT when no
 * tenantfs mount is there. */
static int find_mount(const char *mountpoint, uid_t *uid)
{
	char mp[PATH_MAX], *opt;
	struct mntent *e, ent;
	char buf[4096];
	FILE *f;
	int rc;

	rc = ctl_resolve_mountpoint(mountpoint, mp, sizeof(mp));
	if (rc < 0)
		return rc;
	f = setmntent("/proc/self/mounts", "re");
	if (!f)
		return -errno;
	rc = -ENOENT;
	/* The last entry at the path is the one on top. */
	while ((e = getmntent_r(f, &ent, buf, sizeof(buf)))) {
		if (strcmp(e->mnt_dir, mp) || strcmp(e->mnt_type, "fuse.tenantfs"))
			continue;
		opt = hasmntopt(e, "user_id");
		*uid = opt ? (uid_t)strtoul(opt + 8, NULL, 10) : 0;
		rc = 0;
	}
	endmntent(f);
	return rc;
}

/* Sends req (stolen) to the mount at mp and returns its answer (NULL on
 * failure, said on stderr).
 * Long because one exchange with the daemon in order (find the mount, both socket folders,
 * connect, send, read, decode), each failure said on stderr, one cleanup exit. */
static json_t *call(const char *cmd, const char *mp, json_t *req)
{
	struct sockaddr_un sa;
	char path[PATH_MAX], dir[64], first[PATH_MAX] = "", *line = NULL;
	int64_t deadline = tfs_mono_ms() + 30000;
	json_error_t jerr;
	json_t *ans = NULL;
	size_t len;
	uid_t uid = 0;
	int fd = -1, rc, i;

	rc = find_mount(mp, &uid);
	if (rc < 0) {
		fprintf(stderr, "tenantfs %s: %s is not a tenantfs mount point (%s)\n", cmd, mp,
			rc == -ENOENT ? "no tenantfs mount there" : strerror(-rc));
		goto out;
	}
	/* The daemon chose /run/user/UID when it existed at its start: a
	 * login or logout since may have changed that, so try both. */
	for (i = 0; i < 2; i++) {
		if (uid == 0 && i > 0)
			break;
		if (uid == 0)
			snprintf(dir, sizeof(dir), "/run/tenantfs");
		else if (i == 0)
			snprintf(dir, sizeof(dir), "/run/user/%u/tenantfs", (unsigned)uid);
		else
			snprintf(dir, sizeof(dir), "/tmp/tenantfs-%u", (unsigned)uid);
		rc = ctl_sock_name(mp, dir, path, sizeof(path));
		if (rc == 0 && strlen(path) >= sizeof(sa.sun_path))
			rc = -ENAMETOOLONG;
		if (rc < 0) {
			fprintf(stderr, "tenantfs %s: cannot name the control socket of %s: %s\n",
				cmd, mp, strerror(-rc));
			goto out;
		}
		memset(&sa, 0, sizeof(sa));
		sa.sun_family = AF_UNIX;
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
		if (fd < 0)
			fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			rc = -errno;
			break;
		}
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			rc = 0;
			break;
		}
		rc = -errno;
		if (i == 0)
			snprintf(first, sizeof(first), "%s", path);
		if (rc != -ENOENT)
			break;
	}
	if (rc < 0) {
		fprintf(stderr, "tenantfs %s: cannot reach the daemon of %s at %s: %s%s\n", cmd, mp,
			rc == -ENOENT && first[0] ? first : path, strerror(-rc),
			rc == -EACCES ? " (only root and the mounting user may)" : "");
		goto out;
	}
	rc = ctl_send_json(fd, req, deadline);
	req = NULL;
	/* A refusal may come before the request was read: read it anyway. */
	if (rc == 0 || rc == -EPIPE || rc == -ECONNRESET) {
		int sent = rc;

		rc = ctl_read_line(fd, &line, &len, deadline);
		if (rc < 0 && sent < 0)
			rc = sent;
	}
	if (rc < 0) {
		fprintf(stderr, "tenantfs %s: no answer from the daemon of %s: %s\n", cmd, mp,
			strerror(-rc));
		goto out;
	}
	ans = json_loadb(line, len, 0, &jerr);
	if (!json_is_object(ans)) {
		fprintf(stderr, "tenantfs %s: unreadable answer from the daemon of %s: %s\n", cmd,
			mp, ans ? "not an object" : jerr.text);
		json_decref(ans);
		ans = NULL;
	} else if (!json_is_true(json_object_get(ans, "ok"))) {
		fprintf(stderr, "tenantfs %s: the daemon of %s refused: %s\n", cmd, mp,
			json_string_value(json_object_get(ans, "error"))
			    ? json_string_value(json_object_get(ans, "error"))
			    : "no reason given");
		json_decref(ans);
		ans = NULL;
	}
out:
	json_decref(req);
	free(line);
	if (fd >= 0)
		close(fd);
	return ans;
}

static void print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);

	if (s)
		puts(s);
	free(s);
}

static double num(json_t *o, const char *k)
{
	return json_number_value(json_object_get(o, k));
}

static const char *str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

static void print_status(json_t *s)
{
	json_t *c = json_object_get(s, "counts"), *v, *d, *ctr;
	const char *k;
	size_t i;

	printf("mount point: %s\nnode:        %s\nstore:       %s\ncatalog:     %s\n"
	       "cache:       %s (%.0f databases, %.0f bytes)\nuptime:      %.0f s (pid %.0f, "
	       "version %s)\nleases held: %.0f\n",
	       str(s, "mountpoint"), str(s, "node"), str(s, "store"), str(s, "catalog"),
	       str(s, "cache_dir"), num(json_object_get(s, "cache"), "entries"),
	       num(json_object_get(s, "cache"), "bytes"), num(s, "uptime_seconds"), num(s, "pid"),
	       str(s, "version"), num(s, "leases"));
	printf("databases:   %.0f open, %.0f dirty, %.0f uploading, %.0f failed, %.0f "
	       "quarantined\n",
	       num(c, "open"), num(c, "dirty"), num(c, "uploading"), num(c, "failed"),
	       num(c, "quarantined"));
	v = json_object_get(s, "oldest_unpublished");
	if (json_is_object(v))
		printf("oldest unpublished change: %s, %.1f s ago (what losing this machine now "
		       "would lose)\n",
		       str(v, "id"), num(v, "age_seconds"));
	else
		printf("oldest unpublished change: none (everything is published)\n");
	json_array_foreach(json_object_get(s, "databases"), i, d)
	{
		printf("  %-24s %s%s%s%s", str(d, "id"), num(d, "open") > 0 ? "open " : "closed ",
		       json_is_true(json_object_get(d, "leased")) ? "leased " : "",
		       json_is_true(json_object_get(d, "uploading")) ? "uploading " : "",
		       json_is_true(json_object_get(d, "recovering")) ? "recovering " : "");
		if (json_is_true(json_object_get(d, "dirty")))
			printf("dirty %.1f s", num(d, "dirty_seconds"));
		else
			printf("clean");
		if (str(d, "error")[0])
			printf(", failed: %s", str(d, "error"));
		putchar('\n');
	}
	json_array_foreach(json_object_get(s, "quarantined"), i, d) printf(
	    "  %-24s QUARANTINED in %s: %s\n", str(d, "id"), str(d, "path"), str(d, "error"));
	ctr = json_object_get(s, "counters");
	printf("counters since start:\n");
	json_object_foreach(ctr, k, v)
	{
		if (json_is_real(v))
			printf("  %-16s %.6f\n", k, json_real_value(v));
		else
			printf("  %-16s %lld\n", k, (long long)json_integer_value(v));
	}
}

static void print_top(json_t *t)
{
	json_t *r, *o = json_object_get(t, "others");
	size_t i;

	printf("%-24s %10s %8s %8s %8s %8s %12s %12s %10s\n", "database", "cost_usd", "s3_put",
	       "s3_get", "ddb_wr", "ddb_rd", "bytes_up", "bytes_down", "s3_head");
	json_array_foreach(json_object_get(t, "top"), i, r)
	    printf("%-24s %10.6f %8.0f %8.0f %8.0f %8.0f %12.0f %12.0f %10.0f\n", str(r, "id"),
		   num(r, "cost_usd"), num(r, "s3_put"), num(r, "s3_get"), num(r, "ddb_write"),
		   num(r, "ddb_read"), num(r, "bytes_up"), num(r, "bytes_down"), num(r, "s3_head"));
	if (num(o, "cost_usd") > 0 || num(o, "bytes_up") + num(o, "bytes_down") > 0)
		printf("%-24s %10.6f %8.0f %8.0f %8.0f %8.0f %12.0f %12.0f %10.0f\n", "(others)",
		       num(o, "cost_usd"), num(o, "s3_put"), num(o, "s3_get"), num(o, "ddb_write"),
		       num(o, "ddb_read"), num(o, "bytes_up"), num(o, "bytes_down"),
		       num(o, "s3_head"));
	printf("(%.0f databases tracked, at most %.0f; requests the engine made, priced at "
	       "AWS list prices)\n",
	       num(t, "tracked"), num(t, "slots"));
}

static int parse_count(const char *s, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int cmd_status(int argc, char *argv[])
{
	const char *mp = NULL;
	long top = 0;
	int json = 0, i;
	json_t *ans;

	for (i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = 1;
		} else if (!strcmp(argv[i], "--top")) {
			if (i + 1 >= argc || parse_count(argv[i + 1], TCOST_SLOTS, &top) < 0)
				return usage_error("status", "--top needs a count of 1 to %d",
						   TCOST_SLOTS);
			i++;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage("status", stdout);
			return 0;
		} else if (argv[i][0] == '-' || mp) {
			return usage_error("status", "unexpected argument '%s'", argv[i]);
		} else {
			mp = argv[i];
		}
	}
	if (!mp)
		return usage_error("status", "missing MOUNTPOINT");
	ans = call("status", mp,
		   top ? json_pack("{s:s,s:I}", "op", "top", "n", (json_int_t)top)
		       : json_pack("{s:s}", "op", "status"));
	if (!ans)
		return 1;
	json_object_del(ans, "ok");
	if (json)
		print_json(ans);
	else if (top)
		print_top(ans);
	else
		print_status(ans);
	json_decref(ans);
	return 0;
}

/* Collects the ID arguments of flush and evict (validated) into ids. */
static int add_id(const char *cmd, json_t *ids, const char *id)
{
	if (!tfs_valid_id(id))
		return usage_error(cmd, "invalid database id '%s'", id);
	if (json_array_size(ids) >= IDS_MAX)
		return usage_error(cmd, "too many database ids (at most %d)", IDS_MAX);
	json_array_append_new(ids, json_string(id));
	return 0;
}

/* Long because its argument loop and its bounded poll loop share the request and the progress
 * line; one cleanup exit. */
static int cmd_flush(int argc, char *argv[])
{
	const char *mp = NULL;
	json_t *ids = json_array(), *ans = NULL, *items, *poll_req, *it;
	long timeout_ms = FLUSH_DEFAULT_MS;
	int64_t deadline, since;
	struct progress p;
	size_t i, done, failed, total;
	int rc = 1;

	for (i = 2; i < (size_t)argc; i++) {
		if (!strcmp(argv[i], "--timeout")) {
			if (i + 1 >= (size_t)argc ||
			    tfs_parse_seconds(argv[i + 1], &timeout_ms) < 0 || timeout_ms == 0) {
				rc = usage_error("flush", "--timeout needs a number of seconds");
				goto out;
			}
			i++;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage("flush", stdout);
			rc = 0;
			goto out;
		} else if (argv[i][0] == '-') {
			rc = usage_error("flush", "unexpected argument '%s'", argv[i]);
			goto out;
		} else if (!mp) {
			mp = argv[i];
		} else if ((rc = add_id("flush", ids, argv[i])) != 0) {
			goto out;
		}
	}
	if (!mp) {
		rc = usage_error("flush", "missing MOUNTPOINT");
		goto out;
	}
	rc = 1;
	deadline = tfs_mono_ms() + timeout_ms;
	ans = call("flush", mp, json_pack("{s:s,s:O}", "op", "flush", "ids", ids));
	if (!ans)
		goto out;
	since = (int64_t)json_integer_value(json_object_get(ans, "since"));
	total = json_array_size(json_object_get(ans, "items"));
	progress_init(&p, stderr, "flush", total);
	for (;;) {
		items = json_object_get(ans, "items");
		done = failed = 0;
		json_array_foreach(items, i, it)
		{
			done += !strcmp(str(it, "state"), "published");
			failed += !strcmp(str(it, "state"), "failed");
		}
		progress_update(&p, "published", done, 0);
		if (done + failed == total || tfs_mono_ms() >= deadline)
			break;
		tfs_sleep_ms(FLUSH_POLL_MS);
		poll_req = json_pack("{s:s,s:I,s:O}", "op", "flush_poll", "since",
				     (json_int_t)since, "items", items);
		json_decref(ans);
		ans = call("flush", mp, poll_req);
		if (!ans)
			goto out;
	}
	progress_clear(&p);
	json_array_foreach(json_object_get(ans, "items"), i, it)
	{
		const char *st = str(it, "state"), *e = str(it, "error");

		if (!strcmp(st, "published"))
			continue;
		fprintf(stderr, "tenantfs flush: %s: not published: %s\n", str(it, "id"),
			!strcmp(st, "failed") ? (e[0] ? e : "it cannot be published")
			: e[0]		      ? e
			: json_is_true(json_object_get(it, "uploading"))
			    ? "still being written back at the timeout"
			    : "still waiting for its write-back at the timeout");
	}
	printf("%zu of %zu database%s published\n", done, total, total == 1 ? "" : "s");
	rc = done == total ? 0 : 1;
out:
	json_decref(ans);
	json_decref(ids);
	return rc;
}

static int cmd_evict(int argc, char *argv[])
{
	const char *mp = NULL;
	json_t *ids = json_array(), *ans = NULL, *r;
	size_t i, bad = 0, n = 0;
	int rc;

	for (i = 2; i < (size_t)argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage("evict", stdout);
			rc = 0;
			goto out;
		} else if (argv[i][0] == '-') {
			rc = usage_error("evict", "unexpected argument '%s'", argv[i]);
			goto out;
		} else if (!mp) {
			mp = argv[i];
		} else if ((rc = add_id("evict", ids, argv[i])) != 0) {
			goto out;
		}
	}
	if (!mp) {
		rc = usage_error("evict", "missing MOUNTPOINT");
		goto out;
	}
	if (json_array_size(ids) == 0) {
		rc = usage_error("evict", "missing ID: name the databases to evict");
		goto out;
	}
	rc = 1;
	ans = call("evict", mp, json_pack("{s:s,s:O}", "op", "evict", "ids", ids));
	if (!ans)
		goto out;
	json_array_foreach(json_object_get(ans, "results"), i, r)
	{
		n++;
		if (json_is_true(json_object_get(r, "evicted"))) {
			printf("%s: evicted\n", str(r, "id"));
		} else {
			bad++;
			fprintf(stderr, "tenantfs evict: %s: not evicted: %s\n", str(r, "id"),
				str(r, "error"));
		}
	}
	rc = bad || n != json_array_size(ids) ? 1 : 0;
out:
	json_decref(ans);
	json_decref(ids);
	return rc;
}

int tfs_control_main(int argc, char *argv[])
{
	if (!strcmp(argv[1], "flush"))
		return cmd_flush(argc, argv);
	if (!strcmp(argv[1], "evict"))
		return cmd_evict(argc, argv);
	return cmd_status(argc, argv);
}
