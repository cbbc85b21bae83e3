/* Command line parsing for tenantfs: our own -o options through a
 * fuse_opt template table, value checks (values.c) with messages naming the option,
 * defaults derived from SOURCE, and FUSE/mount options passed through. */
#include "fuse/options.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache/engine/cache.h"
#include "cache/store/keys.h"
#include "fuse/metrics.h"

/* ---- the option table ----------------------------------------------- */

enum {
	K_FOREGROUND,
	K_DEBUG,
	K_HELP,
	K_VERSION,
	K_CATALOG,
	K_CACHE,
	K_CACHE_SIZE,
	K_NODE,
	K_IDLE,
	K_MAX_DIRTY,
	K_LEASE_TTL,
	K_LINGER,
	K_LEASE_WAIT,
	K_CATALOG_TIMEOUT,
	K_REGION,
	K_ENDPOINT,
	K_DDB_ENDPOINT,
	K_S3_ADDRESSING,
	K_WRITEBACK_CACHE,
	K_SHARD_KEYS,
	K_NONEMPTY,
	K_METRICS,
	K_METRICS_REMOTE,
	K_UID,
	K_GID,
	K_UMASK,
};

static const struct fuse_opt tfs_opts[] = {
    FUSE_OPT_KEY("-f", K_FOREGROUND),
    FUSE_OPT_KEY("-d", K_DEBUG),
    FUSE_OPT_KEY("debug", K_DEBUG),
    FUSE_OPT_KEY("-h", K_HELP),
    FUSE_OPT_KEY("--help", K_HELP),
    FUSE_OPT_KEY("-V", K_VERSION),
    FUSE_OPT_KEY("--version", K_VERSION),
    FUSE_OPT_KEY("catalog=", K_CATALOG),
    FUSE_OPT_KEY("cache=", K_CACHE),
    FUSE_OPT_KEY("cache_size=", K_CACHE_SIZE),
    FUSE_OPT_KEY("node=", K_NODE),
    FUSE_OPT_KEY("idle=", K_IDLE),
    FUSE_OPT_KEY("max_dirty=", K_MAX_DIRTY),
    FUSE_OPT_KEY("lease_ttl=", K_LEASE_TTL),
    FUSE_OPT_KEY("linger=", K_LINGER),
    FUSE_OPT_KEY("lease_wait=", K_LEASE_WAIT),
    FUSE_OPT_KEY("catalog_timeout=", K_CATALOG_TIMEOUT),
    FUSE_OPT_KEY("region=", K_REGION),
    FUSE_OPT_KEY("endpoint=", K_ENDPOINT),
    FUSE_OPT_KEY("dynamodb_endpoint=", K_DDB_ENDPOINT),
    FUSE_OPT_KEY("s3_addressing=", K_S3_ADDRESSING),
    FUSE_OPT_KEY("writeback_cache", K_WRITEBACK_CACHE),
    FUSE_OPT_KEY("shard_keys", K_SHARD_KEYS),
    FUSE_OPT_KEY("nonempty", K_NONEMPTY),
    FUSE_OPT_KEY("metrics=", K_METRICS),
    FUSE_OPT_KEY("metrics_remote", K_METRICS_REMOTE),
    FUSE_OPT_KEY("uid=", K_UID),
    FUSE_OPT_KEY("gid=", K_GID),
    FUSE_OPT_KEY("umask=", K_UMASK),
    FUSE_OPT_END,
};

/* Options of libfuse (library, session and mount) we hand to fuse_new().
 * An entry ending in '=' takes a value. libfuse checks the values. */
static const char *const fuse_passthrough[] = {
    "allow_other",
    "allow_root",
    "default_permissions",
    "auto_unmount",
    "blkdev",
    "fsname=",
    "subtype=",
    "max_read=",
    "blksize=",
    "rootmode=",
    "user_id=",
    "group_id=",
    "kernel_cache",
    "auto_cache",
    "noauto_cache",
    "no_rofd_flush",
    "entry_timeout=",
    "attr_timeout=",
    "ac_attr_timeout=",
    "negative_timeout=",
    "noforget",
    "remember=",
    "ro",
    "rw",
    "suid",
    "nosuid",
    "dev",
    "nodev",
    "exec",
    "noexec",
    "async",
    "sync",
    "dirsync",
    "atime",
    "noatime",
    "diratime",
    "nodiratime",
    "relatime",
    "norelatime",
    "strictatime",
    "nostrictatime",
    "lazytime",
    "nolazytime",
    "context=",
    "fscontext=",
    "defcontext=",
    "rootcontext=",
    NULL,
};

/* Options mount(8), fstab and systemd put on the line that mean nothing
 * to the file system itself: accepted and dropped. */
static const char *const mount_ignored[] = {
    "defaults", "auto",	  "noauto",  "user",	 "users", "nouser",
    "owner",	"nofail", "_netdev", "comment=", "x-",	  NULL,
};

static int in_list(const char *const *list, const char *arg)
{
	for (size_t i = 0; list[i]; i++) {
		size_t n = strlen(list[i]);
		char last = list[i][n - 1];

		if (last == '=' || last == '-') {
			if (strncmp(arg, list[i], n) == 0)
				return 1;
		} else if (strcmp(arg, list[i]) == 0) {
			return 1;
		}
	}
	return 0;
}

/* Command words of tenantfs, present or planned: as SOURCE they would
 * mount a store of that name from the current directory over the next
 * argument (a mistyped `tenantfs verify /srv/store` hid the store it
 * meant to check), so they are a usage error instead. */
static const char *const reserved_commands[] = {
    "verify", "gc", "history", "purge", "status", "flush", "evict", "help", "mount", NULL,
};

struct parse_ctx {
	struct tfs_options *o;
	char *err;
	size_t errlen;
	int nonopt; /* positional arguments seen */
	int failed;
};

static void __attribute__((format(printf, 2, 3))) set_err(struct parse_ctx *c, const char *fmt, ...)
{
	va_list ap;

	if (c->failed)
		return;
	c->failed = 1;
	va_start(ap, fmt);
	vsnprintf(c->err, c->errlen, fmt, ap);
	va_end(ap);
}

static int set_str(struct parse_ctx *c, char **dst, const char *name, const char *val)
{
	char *copy;

	if (*val == '\0') {
		set_err(c, "option '%s' needs a value", name);
		return -1;
	}
	copy = strdup(val);
	if (!copy) {
		set_err(c, "out of memory");
		return -1;
	}
	free(*dst);
	*dst = copy;
	return 0;
}

/* positive: zero is refused (a lease of 0 s could never be renewed) */
static int set_secs(struct parse_ctx *c, long *dst, const char *name, const char *val, int positive)
{
	long ms;

	if (tfs_parse_seconds(val, &ms) < 0) {
		set_err(c, "invalid value '%s' for option '%s': expected seconds (e.g. 5 or 0.5)",
			val, name);
		return -1;
	}
	if (positive && ms == 0) {
		set_err(c, "invalid value '%s' for option '%s': must be greater than zero", val,
			name);
		return -1;
	}
	*dst = ms;
	return 0;
}

/* Long because it is one case per option of the table above, each a few lines of checks. */
static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct parse_ctx *c = data;
	struct tfs_options *o = c->o;
	const char *eq = strchr(arg, '=');
	const char *val = eq ? eq + 1 : "";
	char name[64];

	snprintf(name, sizeof(name), "%.*s", eq ? (int)(eq - arg) : (int)strlen(arg), arg);

	switch (key) {
	case FUSE_OPT_KEY_NONOPT:
		if (c->nonopt == 0 && o->mode == TFS_MODE_MOUNT && strcmp(arg, "init") == 0 &&
		    !o->source) {
			o->mode = TFS_MODE_INIT;
			return 0;
		}
		if (c->nonopt == 0 && o->mode == TFS_MODE_MOUNT &&
		    in_list(reserved_commands, arg)) {
			set_err(c,
				"unknown command '%s' (to mount a directory of that name, write "
				"./%s)",
				arg, arg);
			return -1;
		}
		c->nonopt++;
		if (!o->source)
			return set_str(c, &o->source, "SOURCE", arg) ? -1 : 0;
		if (!o->mountpoint && o->mode == TFS_MODE_MOUNT)
			return set_str(c, &o->mountpoint, "MOUNTPOINT", arg) ? -1 : 0;
		set_err(c, "unexpected argument '%s'", arg);
		return -1;
	case FUSE_OPT_KEY_OPT:
		if (arg[0] == '-') {
			set_err(c, "unknown command line option '%s' (see --help)", arg);
			return -1;
		}
		if (in_list(mount_ignored, arg))
			return 0;
		if (in_list(fuse_passthrough, arg))
			return 1;
		set_err(c, "unknown option '%s' (see --help)", name);
		return -1;
	case K_FOREGROUND: o->foreground = 1; return 0;
	case K_DEBUG:
		o->debug = 1;
		o->foreground = 1;
		return 1; /* libfuse prints its own request trace */
	case K_HELP: o->mode = TFS_MODE_HELP; return 0;
	case K_VERSION: o->mode = TFS_MODE_VERSION; return 0;
	case K_CATALOG:
		if (strncmp(val, "dynamodb:", 9) == 0 && val[9]) {
			o->catalog_kind = TFS_CATALOG_DYNAMODB;
			return set_str(c, &o->catalog, name, val + 9) ? -1 : 0;
		}
		if (strncmp(val, "sqlite:", 7) == 0 && val[7]) {
			o->catalog_kind = TFS_CATALOG_SQLITE;
			return set_str(c, &o->catalog, name, val + 7) ? -1 : 0;
		}
		set_err(c,
			"invalid value '%s' for option 'catalog': expected dynamodb:TABLE or "
			"sqlite:PATH",
			val);
		return -1;
	case K_CACHE: return set_str(c, &o->cache_dir, name, val) ? -1 : 0;
	case K_CACHE_SIZE:
		if (tfs_parse_size(val, &o->cache_size) < 0) {
			set_err(c,
				"invalid value '%s' for option 'cache_size': expected bytes with "
				"an optional K, M, G or T suffix",
				val);
			return -1;
		}
		return 0;
	case K_NODE:
		/* a label: the cache's random id is appended (tcache_node) */
		if (!tcache_valid_label(val)) {
			set_err(c,
				"invalid value '%s' for option 'node': 1-%d characters of "
				"A-Z a-z 0-9 . _ -, not starting with '.' or '-'",
				val, TCACHE_LABEL_MAX);
			return -1;
		}
		return set_str(c, &o->node, name, val) ? -1 : 0;
	case K_IDLE: return set_secs(c, &o->idle_ms, name, val, 0) ? -1 : 0;
	case K_MAX_DIRTY: return set_secs(c, &o->max_dirty_ms, name, val, 1) ? -1 : 0;
	case K_LEASE_TTL: return set_secs(c, &o->lease_ttl_ms, name, val, 1) ? -1 : 0;
	case K_LINGER: return set_secs(c, &o->linger_ms, name, val, 0) ? -1 : 0;
	case K_LEASE_WAIT: return set_secs(c, &o->lease_wait_ms, name, val, 0) ? -1 : 0;
	case K_CATALOG_TIMEOUT: return set_secs(c, &o->catalog_timeout_ms, name, val, 1) ? -1 : 0;
	case K_REGION: return set_str(c, &o->region, name, val) ? -1 : 0;
	case K_ENDPOINT: return set_str(c, &o->endpoint, name, val) ? -1 : 0;
	case K_DDB_ENDPOINT: return set_str(c, &o->ddb_endpoint, name, val) ? -1 : 0;
	case K_S3_ADDRESSING:
		if (strcmp(val, "auto") == 0 || strcmp(val, "path") == 0 ||
		    strcmp(val, "virtual") == 0) {
			o->path_style = val[0] == 'a' ? -1 : val[0] == 'p';
			return 0;
		}
		set_err(c,
			"invalid value '%s' for option 's3_addressing': expected auto, virtual or "
			"path",
			val);
		return -1;
	case K_WRITEBACK_CACHE: o->writeback_cache = 1; return 0;
	case K_SHARD_KEYS: o->shard_keys = 1; return 0;
	case K_NONEMPTY: o->nonempty = 1; return 0;
	case K_METRICS: {
		struct sockaddr_storage ss;
		socklen_t len;
		bool lo;

		if (tfs_metrics_parse(val, &ss, &len, &lo) < 0) {
			set_err(
			    c,
			    "invalid value '%s' for option 'metrics': expected ADDR:PORT with a "
			    "numeric address, e.g. 127.0.0.1:9100 or [::1]:9100",
			    val);
			return -1;
		}
		o->metrics_loopback = lo;
		return set_str(c, &o->metrics, name, val) ? -1 : 0;
	}
	case K_METRICS_REMOTE: o->metrics_remote = 1; return 0;
	case K_UID:
	case K_GID: {
		unsigned int id;

		if (tfs_parse_id(val, &id) < 0) {
			set_err(c,
				"invalid value '%s' for option '%s': expected a numeric %s id "
				"(0-4294967294)",
				val, name, key == K_UID ? "user" : "group");
			return -1;
		}
		if (key == K_UID)
			o->uid = (uid_t)id;
		else
			o->gid = (gid_t)id;
		return 0;
	}
	case K_UMASK:
		if (tfs_parse_umask(val, &o->umask) < 0) {
			set_err(c,
				"invalid value '%s' for option 'umask': expected octal permission "
				"bits to take away, 0-777 (e.g. 077: only the owner, 027: the "
				"group may read)",
				val);
			return -1;
		}
		return 0;
	}
	set_err(c, "internal error parsing '%s'", arg);
	return -1;
}

/* ---- derived values ------------------------------------------------- */

/* An absolute version of path (which need not exist); malloc'ed. */
static char *absolute(const char *path)
{
	char cwd[PATH_MAX];
	char *out = NULL;
	size_t n;

	if (path[0] == '/') {
		out = strdup(path);
	} else if (getcwd(cwd, sizeof(cwd))) {
		if (asprintf(&out, "%s/%s", cwd, path) < 0)
			out = NULL;
	}
	if (!out)
		return NULL;
	/* trailing slashes would make "SOURCE/objects" read oddly in logs */
	n = strlen(out);
	while (n > 1 && out[n - 1] == '/')
		out[--n] = '\0';
	return out;
}

static int parse_source(struct parse_ctx *c)
{
	struct tfs_options *o = c->o;
	const char *s = o->source;

	if (strncmp(s, "s3://", 5) == 0) {
		const char *b = s + 5;
		const char *slash = strchr(b, '/');
		size_t blen = slash ? (size_t)(slash - b) : strlen(b);
		size_t plen;
		const char *p;

		o->is_s3 = 1;
		o->bucket = strndup(b, blen);
		if (!o->bucket)
			goto nomem;
		if (!tfs_valid_bucket(o->bucket)) {
			set_err(c, "invalid bucket name '%s' in SOURCE '%s'", o->bucket, s);
			return -1;
		}
		p = slash ? slash : "";
		while (*p == '/')
			p++;
		plen = strlen(p);
		while (plen > 0 && p[plen - 1] == '/')
			plen--;
		if (plen > KEY_PREFIX_MAX) {
			set_err(c, "the key prefix in SOURCE is %zu bytes, longer than %d", plen,
				KEY_PREFIX_MAX);
			return -1;
		}
		o->prefix = strndup(p, plen);
		if (!o->prefix)
			goto nomem;
		return 0;
	}
	if (strstr(s, "://")) {
		set_err(c, "unsupported SOURCE '%s': expected s3://BUCKET[/PREFIX] or a directory",
			s);
		return -1;
	}
	o->source_dir = absolute(s);
	if (!o->source_dir)
		goto nomem;
	return 0;
nomem:
	set_err(c, "out of memory");
	return -1;
}

static int fill_defaults(struct parse_ctx *c)
{
	struct tfs_options *o = c->o;
	char host[256];
	char *tmp;

	if (!o->catalog) {
		if (o->is_s3) {
			set_err(c, "an s3:// SOURCE needs a catalog: -o catalog=dynamodb:TABLE or "
				   "-o catalog=sqlite:PATH");
			return -1;
		}
		if (asprintf(&o->catalog, "%s/catalog.db", o->source_dir) < 0) {
			o->catalog = NULL;
			goto nomem;
		}
		o->catalog_kind = TFS_CATALOG_SQLITE;
	} else if (o->catalog_kind == TFS_CATALOG_SQLITE) {
		tmp = absolute(o->catalog);
		if (!tmp)
			goto nomem;
		free(o->catalog);
		o->catalog = tmp;
	}

	if (!o->cache_dir) {
		int n = o->is_s3 ? asprintf(&o->cache_dir, "/var/cache/tenantfs/%s", o->bucket)
				 : asprintf(&o->cache_dir, "%s/cache", o->source_dir);
		if (n < 0) {
			o->cache_dir = NULL;
			goto nomem;
		}
	} else {
		tmp = absolute(o->cache_dir);
		if (!tmp)
			goto nomem;
		free(o->cache_dir);
		o->cache_dir = tmp;
	}

	if (!o->node) {
		if (gethostname(host, sizeof(host)) < 0) {
			set_err(c,
				"cannot read the host name for the node label: %s; give -o "
				"node=LABEL",
				strerror(errno));
			return -1;
		}
		host[sizeof(host) - 1] = '\0';
		if (!tcache_valid_label(host)) {
			set_err(c, "host name '%s' is not a valid node label; give -o node=LABEL",
				host);
			return -1;
		}
		o->node = strdup(host);
		if (!o->node)
			goto nomem;
	}

	if (o->mode == TFS_MODE_MOUNT) {
		char real[PATH_MAX];

		if (!realpath(o->mountpoint, real)) {
			set_err(c, "cannot use mountpoint '%s': %s", o->mountpoint,
				strerror(errno));
			return -1;
		}
		tmp = strdup(real);
		if (!tmp)
			goto nomem;
		free(o->mountpoint);
		o->mountpoint = tmp;
	}
	return 0;
nomem:
	set_err(c, "out of memory");
	return -1;
}

/* Our defaults go first so that options on the command line override them
 * (default_permissions cannot be turned off: libfuse has no option for it):
 * a one-second negative entry spares the round trip of SQLite's probe for a
 * hot journal before every transaction. */
static int add_fuse_defaults(struct tfs_options *o)
{
	char *opts = NULL;
	char *fsname = NULL;
	int rc = -ENOMEM;

	/* fsname must not split on a comma inside SOURCE: escape it */
	if (asprintf(&fsname, "fsname=%s", o->source) < 0) {
		fsname = NULL;
		goto out;
	}
	/* default_permissions always: the kernel checks every access against
	 * the owner and mode getattr shows (fs.c), which is the only thing
	 * keeping the other local users of an allow_other mount out. Cost,
	 * counted: the kernel drops the root's attributes at each create or
	 * unlink in it and asks for them before the next check, so a
	 * rollback-journal transaction costs two GETATTR of the root more
	 * (answered without the engine); WAL transactions cost none. */
	if (fuse_opt_add_opt(&opts, "subtype=tenantfs,default_permissions") < 0 ||
	    fuse_opt_add_opt_escaped(&opts, fsname) < 0 ||
	    fuse_opt_add_opt(&opts, "entry_timeout=1,attr_timeout=1,negative_timeout=1") < 0)
		goto out;
	if (fuse_opt_insert_arg(&o->fuse_args, 1, "-o") < 0 ||
	    fuse_opt_insert_arg(&o->fuse_args, 2, opts) < 0)
		goto out;
	rc = 0;
out:
	free(fsname);
	free(opts);
	return rc;
}

int tfs_options_parse(int argc, char *argv[], struct tfs_options *o, char *err, size_t errlen)
{
	struct parse_ctx c = {.o = o, .err = err, .errlen = errlen};
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);

	memset(o, 0, sizeof(*o));
	o->path_style = -1;
	o->idle_ms = 5000;
	o->max_dirty_ms = 60000;
	o->lease_ttl_ms = 30000;
	o->linger_ms = 2000;
	o->lease_wait_ms = 0;
	/* The mounting user owns everything and nobody else gets in, unless
	 * uid=, gid= or umask= say otherwise. */
	o->uid = getuid();
	o->gid = getgid();
	o->umask = 077;
	o->catalog_timeout_ms = 10000;
	if (errlen)
		err[0] = '\0';

	if (fuse_opt_parse(&args, &c, tfs_opts, opt_proc) < 0) {
		set_err(&c, "cannot parse the command line");
		goto fail;
	}
	o->fuse_args = args;
	if (o->mode == TFS_MODE_HELP || o->mode == TFS_MODE_VERSION)
		return 0;
	if (!o->source) {
		set_err(&c, o->mode == TFS_MODE_INIT
				? "missing SOURCE (tenantfs init SOURCE)"
				: "missing SOURCE and MOUNTPOINT (see --help)");
		goto fail;
	}
	if (o->mode == TFS_MODE_MOUNT && !o->mountpoint) {
		set_err(&c, "missing MOUNTPOINT (see --help)");
		goto fail;
	}
	if (parse_source(&c) < 0 || fill_defaults(&c) < 0)
		goto fail;
	if (o->metrics && !o->metrics_loopback && !o->metrics_remote) {
		/* Counters name databases and nodes: not for the network unless
		 * the administrator says so. */
		set_err(&c,
			"option 'metrics': %s is not a loopback address; add -o metrics_remote "
			"to serve metrics beyond this machine",
			o->metrics);
		goto fail;
	}
	if (o->catalog_kind == TFS_CATALOG_DYNAMODB && !tfs_valid_node(o->catalog)) {
		/* table names: 3-255 of [A-Za-z0-9_.-]; the node rule is close */
		set_err(&c, "invalid DynamoDB table name '%s' in option 'catalog'", o->catalog);
		goto fail;
	}
	if (add_fuse_defaults(o) < 0) {
		set_err(&c, "out of memory");
		goto fail;
	}
	return 0;
fail:
	/* o->fuse_args is either empty or the parsed copy: release frees it */
	tfs_options_release(o);
	return -EINVAL;
}

void tfs_options_release(struct tfs_options *o)
{
	free(o->source);
	free(o->mountpoint);
	free(o->bucket);
	free(o->prefix);
	free(o->source_dir);
	free(o->catalog);
	free(o->cache_dir);
	free(o->node);
	free(o->region);
	free(o->endpoint);
	free(o->ddb_endpoint);
	free(o->metrics);
	fuse_opt_free_args(&o->fuse_args);
	memset(o, 0, sizeof(*o));
}

void tfs_print_synopsis(FILE *out, const char *progname)
{
	fprintf(
	    out,
	    "usage: %s [-f] [-d] [-o OPTIONS] SOURCE MOUNTPOINT\n"
	    "       %s init SOURCE [-o OPTIONS]\n"
	    "       %s snapshot SOURCE [-o OPTIONS] [--name NAME] [--as-of TIME]\n"
	    "       %s snapshots SOURCE [-o OPTIONS]\n"
	    "       %s restore SOURCE [-o OPTIONS] --snapshot NAME [--id ID ...]\n"
	    "       %s restore SOURCE [-o OPTIONS] --as-of TIME --id ID\n"
	    "       %s verify SOURCE [-o OPTIONS] [--id ID ...] [--deep]\n"
	    "       %s abandon SOURCE [-o OPTIONS] --id ID --yes\n"
	    "       %s history SOURCE [-o OPTIONS] --id ID [--keep DURATION] [--grace DURATION]\n"
	    "       %s gc SOURCE [-o OPTIONS] [--keep DURATION] [--grace DURATION] [--dry-run]\n"
	    "       %s purge SOURCE [-o OPTIONS] --id ID --yes\n"
	    "       %s status MOUNTPOINT [--json] [--top N]\n"
	    "       %s flush MOUNTPOINT [ID ...] [--timeout SECONDS]\n"
	    "       %s evict MOUNTPOINT ID ...\n"
	    "       %s --help | --version\n",
	    progname, progname, progname, progname, progname, progname, progname, progname,
	    progname, progname, progname, progname, progname, progname, progname);
}

/* Long because it is the --help text, one line per option. */
void tfs_print_usage(FILE *out, const char *progname)
{
	tfs_print_synopsis(out, progname);
	fprintf(out,
		"\n"
		"Presents one SQLite database per user, MOUNTPOINT/<id>.db, backed by an\n"
		"object store and leased through a catalog.\n"
		"\n"
		"SOURCE is s3://BUCKET[/PREFIX] or a local directory holding an embedded\n"
		"store made by `init` (objects in SOURCE/objects, catalog SOURCE/catalog.db,\n"
		"cache SOURCE/cache). MOUNTPOINT must be an empty directory outside the store\n"
		"and the cache.\n"
		"\n"
		"  -f                      stay in the foreground\n"
		"  -d                      debug output (implies -f)\n"
		"  -h, --help              print this help and exit\n"
		"  -V, --version           print the version and exit\n"
		"\n"
		"tenantfs options (-o NAME=VALUE,...):\n"
		"  catalog=dynamodb:TABLE  lease and pointer table in DynamoDB\n"
		"  catalog=sqlite:PATH     ... or in a local SQLite file\n"
		"                          (default for a directory SOURCE: SOURCE/catalog.db;\n"
		"                          required for an s3:// SOURCE)\n"
		"  cache=DIR               local cache folder (default: SOURCE/cache, or\n"
		"                          /var/cache/tenantfs/BUCKET for s3://)\n"
		"  cache_size=SIZE         bytes of clean closed databases kept, K/M/G/T\n"
		"                          suffixes (default 0: unlimited)\n"
		"  node=LABEL              this node's label in leases and logs (default: the\n"
		"                          host name, at most 95 characters); the cache's own\n"
		"                          random id, drawn at its first start and kept in\n"
		"                          CACHE/node, follows it: LABEL~ID\n"
		"  idle=SECONDS            write back after this long without writes (5)\n"
		"  max_dirty=SECONDS       write back after this long dirty (60)\n"
		"  lease_ttl=SECONDS       lease length, renewed every third of it (30); a\n"
		"                          node that stops renewing is taken over this long\n"
		"                          after another node first tries to open its database\n"
		"  linger=SECONDS          keep the lease this long after the last close (2)\n"
		"  lease_wait=SECONDS      wait this long for a lease held elsewhere before\n"
		"                          failing the open with EBUSY (0)\n"
		"  catalog_timeout=SECONDS give up on a catalog request made for a file\n"
		"                          operation after this long (10); background jobs\n"
		"                          (renewals, write-back) keep retrying longer\n"
		"  region=REGION           AWS region (default: AWS_REGION, profile, us-east-1)\n"
		"  endpoint=URL            S3 endpoint (any S3-compatible store)\n"
		"  dynamodb_endpoint=URL   DynamoDB endpoint\n"
		"  s3_addressing=STYLE     virtual (BUCKET.HOST/KEY), path (HOST/BUCKET/KEY)\n"
		"                          or auto (default: virtual for amazonaws.com\n"
		"                          unless the bucket name has a dot, else path)\n"
		"  writeback_cache         let the kernel cache writes (WAL commits cost no\n"
		"                          daemon round trip) at a price: a write error (full\n"
		"                          cache disk, lost lease) shows only at fsync or\n"
		"                          close, and commits SQLite reported may be lost\n"
		"  shard_keys              store versions as PREFIX/<2 hex>/<id>/<hash>.db\n"
		"                          (spreads hot key prefixes); every node of a fleet\n"
		"                          must use the same setting, and it cannot change\n"
		"                          once a store holds databases\n"
		"  metrics=ADDR:PORT       serve /metrics (Prometheus text format) on this\n"
		"                          numeric address, e.g. 127.0.0.1:9100 or [::1]:9100;\n"
		"                          loopback only unless metrics_remote\n"
		"  metrics_remote          allow a metrics= address that is not loopback\n"
		"  nonempty                mount over a MOUNTPOINT that is not empty (never\n"
		"                          over a store or the cache)\n"
		"  uid=UID                 numeric owner of every file and of the root\n"
		"                          (default: the user running tenantfs)\n"
		"  gid=GID                 their numeric group (default: that user's group)\n"
		"  umask=MASK              octal bits taken from 0666 for files and from 0777\n"
		"                          for the root, which only the owner may write\n"
		"                          (default 077: files 0600, root 0700); chmod and\n"
		"                          chown to anything else fail with EPERM\n"
		"\n"
		"FUSE and mount options are passed through to libfuse, e.g. allow_other,\n"
		"auto_unmount, ro, noatime, fsname=, entry_timeout=, attr_timeout=,\n"
		"negative_timeout=. default_permissions is always on: the kernel checks\n"
		"every access against uid=, gid= and umask=. defaults, auto, noauto, user,\n"
		"users, nofail, _netdev and x-* are accepted and ignored (fstab).\n"
		"\n"
		"Credentials come from the AWS chain: environment keys, web identity\n"
		"(AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN), the credentials file,\n"
		"credential_process, the config file, the container endpoint (EKS Pod\n"
		"Identity), IMDSv2. AWS_CA_BUNDLE names the CA certificates to trust;\n"
		"TLS verification is always on. See tenantfs(8), ENVIRONMENT.\n"
		"\n"
		"init creates the embedded store of a directory SOURCE (a mount never\n"
		"creates one), or the DynamoDB table or local catalog, and checks that the\n"
		"bucket exists. snapshot writes a manifest of every\n"
		"database's committed version (a time cut) to PREFIX/_snapshots/;\n"
		"snapshots lists them; restore makes a snapshot's versions (or one\n"
		"database's version at TIME) current again as new commits. verify checks\n"
		"that every live database's version is in the store with the catalog's size\n"
		"and hash (--deep: downloads it and runs PRAGMA integrity_check) and lists\n"
		"objects nothing refers to; exit status 1 if it found a problem. abandon\n"
		"gives up a stranded database's unpublished writes (its node stopped before\n"
		"it could publish them): it opens again at its last published version, and\n"
		"that node quarantines its copy when it next starts.\n"
		"history lists one database's versions (gen, commit time, size, hash, node)\n"
		"and whether gc keeps each and why. gc deletes every stored version no rule\n"
		"keeps: the current one, one current within --keep (default 7d), one a\n"
		"snapshot names, anything written less than --grace (default 1h) ago, by\n"
		"the store's clock; tombstones older than --keep go with their versions,\n"
		"incomplete uploads older than --grace are aborted; --dry-run deletes\n"
		"nothing. purge erases one database for good (versions, history, snapshot\n"
		"entries, catalog item), refused while a node holds it.\n"
		"\n"
		"status, flush and evict talk to a running mount through its control\n"
		"socket (root and the mounting user only). status shows the node, store,\n"
		"catalog, uptime, leases held, the open, dirty, uploading, failed and\n"
		"quarantined databases, the oldest unpublished change, the cache and the\n"
		"request counters with the cost estimate (--json: one JSON object; --top N:\n"
		"the N databases whose requests cost most). flush writes back every dirty\n"
		"database (or those named) and waits until they are published, at most\n"
		"--timeout SECONDS (60); exit status 1 names each that is not. evict drops\n"
		"clean, closed databases from the cache.\n");
}
