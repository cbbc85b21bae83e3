/* `tenantfs status MOUNTPOINT [--json]`: the node identity and the
 * request counters with the cost estimate of a running mount, read from
 * the root's attributes (the same line getfattr shows), as a short report
 * or, with --json, one JSON object (jansson) for scripts. */
#include "fuse/control.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "fuse/fs.h"

#define STATUS_SYNOPSIS "tenantfs status MOUNTPOINT [--json]"

bool tfs_control_command(const char *arg)
{
	return arg && !strcmp(arg, "status");
}

static void usage(FILE *out)
{
	fputs("usage: " STATUS_SYNOPSIS "\n"
	      "status shows the node identity of the mount at MOUNTPOINT and its request\n"
	      "counters since it started, with the cost estimate (cost_usd); --json\n"
	      "prints them as one JSON object.\n",
	      out);
}

/* Reads attribute name of path into buf (NUL terminated): 0 or -errno. */
static int read_attr(const char *path, const char *name, char *buf, size_t cap)
{
	ssize_t n = getxattr(path, name, buf, cap - 1);

	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

/* "k=v k=v ...": each pair into obj, numbers as numbers. */
static int parse_stats(char *line, json_t *obj)
{
	char *save = NULL, *tok, *eq, *end;

	for (tok = strtok_r(line, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		eq = strchr(tok, '=');
		if (!eq)
			continue;
		*eq = '\0';
		if (strchr(eq + 1, '.')) {
			double d = strtod(eq + 1, &end);

			if (json_object_set_new(obj, tok, json_real(d)) < 0)
				return -ENOMEM;
		} else {
			unsigned long long v = strtoull(eq + 1, &end, 10);

			if (json_object_set_new(obj, tok, json_integer((json_int_t)v)) < 0)
				return -ENOMEM;
		}
	}
	return 0;
}

int tfs_control_main(int argc, char *argv[])
{
	const char *mp = NULL;
	char node[512], line[2048];
	json_t *root, *stats;
	const char *k;
	json_t *v;
	int json = 0, i, rc;

	for (i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = 1;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else if (argv[i][0] == '-' || mp) {
			fprintf(stderr, "tenantfs status: unexpected argument '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		} else {
			mp = argv[i];
		}
	}
	if (!mp) {
		fprintf(stderr, "tenantfs status: missing MOUNTPOINT\n");
		usage(stderr);
		return 2;
	}
	rc = read_attr(mp, TFS_XATTR_NODE, node, sizeof(node));
	if (rc == 0)
		rc = read_attr(mp, TFS_XATTR_STATS, line, sizeof(line));
	if (rc < 0) {
		/* ENODATA/ENOTSUP: a folder, but no tenantfs mount root */
		fprintf(stderr, "tenantfs status: %s is not a tenantfs mount point (%s)\n", mp,
			rc == -ENODATA || rc == -ENOTSUP ? "it has no tenantfs attributes"
							 : strerror(-rc));
		return 1;
	}
	root = json_object();
	stats = json_object();
	if (!root || !stats || json_object_set_new(root, "mountpoint", json_string(mp)) < 0 ||
	    json_object_set_new(root, "node", json_string(node)) < 0 ||
	    parse_stats(line, stats) < 0 || json_object_set(root, "counters", stats) < 0) {
		fprintf(stderr, "tenantfs status: out of memory\n");
		json_decref(stats);
		json_decref(root);
		return 1;
	}
	if (json) {
		char *s = json_dumps(root, JSON_COMPACT);

		if (s)
			puts(s);
		free(s);
	} else {
		printf("mount point: %s\nnode:        %s\ncounters since start:\n", mp, node);
		json_object_foreach(stats, k, v)
		{
			if (json_is_real(v))
				printf("  %-16s %.6f\n", k, json_real_value(v));
			else
				printf("  %-16s %lld\n", k, (long long)json_integer_value(v));
		}
	}
	json_decref(stats);
	json_decref(root);
	return 0;
}
