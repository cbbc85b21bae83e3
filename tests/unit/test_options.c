/* Unit tests of the tenantfs command line (fuse/options.c): defaults from
 * SOURCE, value checks and their messages, FUSE options passed through,
 * mount(8) options dropped. No mount, no network. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuse/options.h"
#include "tests/unit/tap.h"

static char mnt[PATH_MAX];
static char err[512];

/* Parses a NULL-terminated list of arguments after the program name. */
static int parse(struct tfs_options *o, ...)
{
	static char prog[] = "tenantfs";
	char *argv[32];
	int argc = 0;
	va_list ap;
	char *a;

	argv[argc++] = prog;
	va_start(ap, o);
	/* string literals are char[] in C: no const to cast away */
	while ((a = va_arg(ap, char *)) && argc < 31)
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	return tfs_options_parse(argc, argv, o, err, sizeof(err));
}

/* argv of fuse_new holds an option (inside any -o list) */
static int fuse_arg_has(const struct tfs_options *o, const char *opt)
{
	for (int i = 1; i < o->fuse_args.argc; i++) {
		const char *a = o->fuse_args.argv[i];
		const char *p = strstr(a, opt);

		while (p) {
			size_t n = strlen(opt);
			int start = p == a || p[-1] == ',' || (p - a == 2 && a[0] == '-');

			if (start && (p[n] == '\0' || p[n] == ','))
				return 1;
			p = strstr(p + 1, opt);
		}
	}
	return 0;
}

static void test_values(void)
{
	long ms = -1;
	uint64_t b = 0;

	TAP_OK(tfs_parse_seconds("5", &ms) == 0 && ms == 5000, "seconds: 5 -> 5000 ms");
	TAP_OK(tfs_parse_seconds("0.5", &ms) == 0 && ms == 500, "seconds: 0.5 -> 500 ms");
	TAP_OK(tfs_parse_seconds("0", &ms) == 0 && ms == 0, "seconds: 0 -> 0 ms");
	TAP_OK(tfs_parse_seconds("1.25", &ms) == 0 && ms == 1250, "seconds: 1.25 -> 1250 ms");
	TAP_OK(tfs_parse_seconds("-1", &ms) == -EINVAL, "seconds: negative refused");
	TAP_OK(tfs_parse_seconds("abc", &ms) == -EINVAL, "seconds: non-numeric refused");
	TAP_OK(tfs_parse_seconds("", &ms) == -EINVAL, "seconds: empty refused");
	TAP_OK(tfs_parse_seconds("5s", &ms) == -EINVAL, "seconds: trailing garbage refused");
	TAP_OK(tfs_parse_seconds("1.", &ms) == -EINVAL, "seconds: bare dot refused");
	TAP_OK(tfs_parse_seconds("1.0001", &ms) == -EINVAL, "seconds: sub-ms precision refused");
	TAP_OK(tfs_parse_seconds("99999999999", &ms) == -EINVAL, "seconds: huge refused");

	TAP_OK(tfs_parse_size("4096", &b) == 0 && b == 4096, "size: plain bytes");
	TAP_OK(tfs_parse_size("512K", &b) == 0 && b == 512ull << 10, "size: K");
	TAP_OK(tfs_parse_size("10M", &b) == 0 && b == 10ull << 20, "size: M");
	TAP_OK(tfs_parse_size("2g", &b) == 0 && b == 2ull << 30, "size: lower-case g");
	TAP_OK(tfs_parse_size("1TiB", &b) == 0 && b == 1ull << 40, "size: TiB");
	TAP_OK(tfs_parse_size("3GB", &b) == 0 && b == 3ull << 30, "size: GB");
	TAP_OK(tfs_parse_size("1.5G", &b) == -EINVAL, "size: fraction refused");
	TAP_OK(tfs_parse_size("-1", &b) == -EINVAL, "size: negative refused");
	TAP_OK(tfs_parse_size("10X", &b) == -EINVAL, "size: unknown suffix refused");
	TAP_OK(tfs_parse_size("99999999999999999999", &b) == -EINVAL, "size: overflow refused");
	TAP_OK(tfs_parse_size("16777216T", &b) == -EINVAL, "size: overflow by suffix refused");

	TAP_OK(tfs_valid_node("node-1.example_com"), "node: host name accepted");
	TAP_OK(!tfs_valid_node(""), "node: empty refused");
	TAP_OK(!tfs_valid_node("a/b"), "node: slash refused");
	TAP_OK(!tfs_valid_node(".hidden"), "node: leading dot refused");
	TAP_OK(!tfs_valid_node("a b"), "node: space refused");
	TAP_OK(tfs_valid_bucket("my-bucket.1"), "bucket: valid name");
	TAP_OK(!tfs_valid_bucket("My_Bucket"), "bucket: upper case refused");
	TAP_OK(!tfs_valid_bucket("ab"), "bucket: too short refused");
}

static void test_directory_source(void)
{
	struct tfs_options o;
	char cwd[PATH_MAX], want[PATH_MAX + 32];
	char host[256];

	if (!getcwd(cwd, sizeof(cwd)))
		cwd[0] = '\0';
	gethostname(host, sizeof(host));
	host[255] = '\0';

	TAP_OK(parse(&o, "store", mnt, NULL) == 0, "directory source parses: %s", err);
	TAP_OK(o.mode == TFS_MODE_MOUNT && !o.is_s3, "mode mount, not s3");
	snprintf(want, sizeof(want), "%s/store", cwd);
	TAP_STREQ(o.source_dir, want, "relative source made absolute");
	snprintf(want, sizeof(want), "%s/store/catalog.db", cwd);
	TAP_STREQ(o.catalog, want, "default catalog SOURCE/catalog.db");
	TAP_OK(o.catalog_kind == TFS_CATALOG_SQLITE, "default catalog is sqlite");
	snprintf(want, sizeof(want), "%s/store/cache", cwd);
	TAP_STREQ(o.cache_dir, want, "default cache SOURCE/cache");
	TAP_STREQ(o.node, host, "default node is the host name");
	TAP_OK(o.idle_ms == 5000 && o.max_dirty_ms == 60000 && o.lease_ttl_ms == 30000 &&
		   o.linger_ms == 2000 && o.lease_wait_ms == 0 && o.cache_size == 0 &&
		   o.catalog_timeout_ms == 10000,
	       "default times and sizes");
	TAP_OK(!o.foreground && !o.debug, "background by default");
	TAP_OK(!o.shard_keys, "shard_keys off by default");
	TAP_OK(fuse_arg_has(&o, "subtype=tenantfs"), "subtype=tenantfs passed to libfuse");
	TAP_OK(fuse_arg_has(&o, "negative_timeout=1"), "negative_timeout default passed");
	tfs_options_release(&o);

	TAP_OK(parse(&o, "-f", "-o", "idle=0.5,max_dirty=10,lease_ttl=3,linger=0,lease_wait=2",
		     "-o", "cache_size=64M,node=n1,cache=/tmp/c1,catalog=sqlite:cat.db", "/srv/x/",
		     mnt, NULL) == 0,
	       "all options parse: %s", err);
	TAP_OK(o.foreground, "-f sets foreground");
	TAP_OK(!o.shard_keys, "shard_keys stays off when not given");
	tfs_options_release(&o);

	TAP_OK(parse(&o, "-o", "shard_keys,idle=1", "/srv/x", mnt, NULL) == 0,
	       "-o shard_keys parses: %s", err);
	TAP_OK(o.shard_keys && o.idle_ms == 1000, "shard_keys set, other options kept");
	tfs_options_release(&o);
	TAP_OK(parse(&o, "-o", "catalog_timeout=2.5", "/srv/x", mnt, NULL) == 0 &&
		   o.catalog_timeout_ms == 2500 && !fuse_arg_has(&o, "catalog_timeout=2.5"),
	       "catalog_timeout parsed, not passed to libfuse: %s", err);
	TAP_OK(!fuse_arg_has(&o, "shard_keys"), "shard_keys is not passed to libfuse");
	tfs_options_release(&o);
	TAP_OK(parse(&o, "-o", "shard_keys=1", "/srv/x", mnt, NULL) < 0,
	       "shard_keys takes no value: refused");
	tfs_options_release(&o);

	TAP_OK(parse(&o, "-f", "-o", "idle=0.5,max_dirty=10,lease_ttl=3,linger=0,lease_wait=2",
		     "-o", "cache_size=64M,node=n1,cache=/tmp/c1,catalog=sqlite:cat.db", "/srv/x/",
		     mnt, NULL) == 0,
	       "all options parse again: %s", err);
	TAP_OK(o.idle_ms == 500 && o.max_dirty_ms == 10000 && o.lease_ttl_ms == 3000 &&
		   o.linger_ms == 0 && o.lease_wait_ms == 2000,
	       "times parsed");
	TAP_OK(o.cache_size == 64ull << 20, "cache_size parsed");
	TAP_STREQ(o.node, "n1", "node parsed");
	TAP_STREQ(o.cache_dir, "/tmp/c1", "cache parsed");
	TAP_STREQ(o.source_dir, "/srv/x", "trailing slash of SOURCE dropped");
	snprintf(want, sizeof(want), "%s/cat.db", cwd);
	TAP_STREQ(o.catalog, want, "sqlite catalog path made absolute");
	TAP_STREQ(o.mountpoint, mnt, "mountpoint kept");
	tfs_options_release(&o);
}

static void test_s3_source(void)
{
	struct tfs_options o;

	TAP_OK(parse(&o, "s3://my-bucket/some/prefix/", mnt, "-o",
		     "catalog=dynamodb:tfs-table,region=eu-west-1,endpoint=http://127.0.0.1:9,"
		     "dynamodb_endpoint=http://127.0.0.1:8",
		     NULL) == 0,
	       "s3 source parses: %s", err);
	TAP_OK(o.is_s3, "s3 detected");
	TAP_STREQ(o.bucket, "my-bucket", "bucket");
	TAP_STREQ(o.prefix, "some/prefix", "prefix without slashes");
	TAP_OK(o.catalog_kind == TFS_CATALOG_DYNAMODB, "dynamodb catalog");
	TAP_STREQ(o.catalog, "tfs-table", "table name");
	TAP_STREQ(o.cache_dir, "/var/cache/tenantfs/my-bucket", "default s3 cache");
	TAP_STREQ(o.region, "eu-west-1", "region");
	TAP_STREQ(o.endpoint, "http://127.0.0.1:9", "endpoint");
	TAP_STREQ(o.ddb_endpoint, "http://127.0.0.1:8", "dynamodb endpoint");
	TAP_OK(o.path_style == -1, "s3_addressing defaults to auto");
	tfs_options_release(&o);

	TAP_OK(parse(&o, "s3://bucket1", mnt, "-o", "catalog=dynamodb:t1,s3_addressing=virtual",
		     NULL) == 0 &&
		   o.path_style == 0,
	       "s3_addressing=virtual");
	tfs_options_release(&o);
	TAP_OK(parse(&o, "s3://bucket1", mnt, "-o", "catalog=dynamodb:t1,s3_addressing=path",
		     NULL) == 0 &&
		   o.path_style == 1,
	       "s3_addressing=path");
	tfs_options_release(&o);
	{
		/* A prefix that leaves too little of S3's 1024-byte key for the
		 * shard, id and hash is refused up front, not at the first PUT. */
		char src[600] = "s3://bucket1/";

		memset(src + strlen(src), 'p', 513);
		TAP_OK(parse(&o, src, mnt, "-o", "catalog=dynamodb:t1", NULL) == -EINVAL &&
			   strstr(err, "longer than 512"),
		       "a 513-byte key prefix refused: %s", err);
		memset(src + strlen("s3://bucket1/") + 512, '\0', 1);
		TAP_OK(parse(&o, src, mnt, "-o", "catalog=dynamodb:t1", NULL) == 0 &&
			   strlen(o.prefix) == 512,
		       "a 512-byte key prefix taken");
		tfs_options_release(&o);
	}
	TAP_OK(parse(&o, "s3://bucket1", mnt, "-o", "catalog=dynamodb:t1,s3_addressing=dns",
		     NULL) == -EINVAL &&
		   strstr(err, "s3_addressing"),
	       "s3_addressing=dns refused: %s", err);

	TAP_OK(parse(&o, "s3://bucket1", mnt, "-o", "catalog=dynamodb:t1", NULL) == 0 && o.prefix &&
		   o.prefix[0] == '\0',
	       "s3 source without prefix");
	tfs_options_release(&o);

	TAP_OK(parse(&o, "s3://bucket1", mnt, NULL) == -EINVAL && strstr(err, "catalog"),
	       "s3 without catalog refused: %s", err);
	TAP_OK(parse(&o, "s3://Bad_Bucket", mnt, "-o", "catalog=dynamodb:t", NULL) == -EINVAL &&
		   strstr(err, "Bad_Bucket"),
	       "bad bucket refused: %s", err);
	TAP_OK(parse(&o, "gs://x/y", mnt, NULL) == -EINVAL && strstr(err, "gs://"),
	       "unknown scheme refused: %s", err);
	TAP_OK(parse(&o, "s3://bucket1", mnt, "-o", "catalog=dynamodb:a/b", NULL) == -EINVAL &&
		   strstr(err, "a/b"),
	       "bad table refused: %s", err);
}

static void test_errors(void)
{
	struct tfs_options o;

	TAP_OK(parse(&o, "-o", "frobnicate=1", "d", mnt, NULL) == -EINVAL &&
		   strstr(err, "frobnicate"),
	       "unknown option named: %s", err);
	TAP_OK(parse(&o, "-o", "idle=-1", "d", mnt, NULL) == -EINVAL && strstr(err, "idle"),
	       "negative idle refused: %s", err);
	TAP_OK(parse(&o, "-o", "max_dirty=abc", "d", mnt, NULL) == -EINVAL &&
		   strstr(err, "max_dirty"),
	       "non-numeric max_dirty refused: %s", err);
	TAP_OK(parse(&o, "-o", "lease_ttl=0", "d", mnt, NULL) == -EINVAL &&
		   strstr(err, "lease_ttl"),
	       "zero lease_ttl refused: %s", err);
	TAP_OK(parse(&o, "-o", "catalog_timeout=0", "d", mnt, NULL) == -EINVAL &&
		   strstr(err, "catalog_timeout"),
	       "zero catalog_timeout refused: %s", err);
	TAP_OK(parse(&o, "-o", "node=a/b", "d", mnt, NULL) == -EINVAL && strstr(err, "node"),
	       "invalid node refused: %s", err);
	TAP_OK(parse(&o, "-o", "cache_size=lots", "d", mnt, NULL) == -EINVAL &&
		   strstr(err, "cache_size"),
	       "bad cache_size refused: %s", err);
	TAP_OK(parse(&o, "-o", "catalog=mysql:x", "d", mnt, NULL) == -EINVAL &&
		   strstr(err, "catalog"),
	       "bad catalog kind refused: %s", err);
	TAP_OK(parse(&o, "-o", "cache=", "d", mnt, NULL) == -EINVAL && strstr(err, "cache"),
	       "empty cache refused: %s", err);
	TAP_OK(parse(&o, "--frob", "d", mnt, NULL) == -EINVAL && strstr(err, "--frob"),
	       "unknown flag refused: %s", err);
	TAP_OK(parse(&o, "d", NULL) == -EINVAL && strstr(err, "MOUNTPOINT"),
	       "missing mountpoint refused: %s", err);
	TAP_OK(parse(&o, NULL) == -EINVAL && strstr(err, "SOURCE"), "missing source refused: %s",
	       err);
	TAP_OK(parse(&o, "d", mnt, "extra", NULL) == -EINVAL && strstr(err, "extra"),
	       "extra argument refused: %s", err);
	TAP_OK(parse(&o, "d", "/nonexistent/tenantfs-mnt", NULL) == -EINVAL &&
		   strstr(err, "/nonexistent/tenantfs-mnt"),
	       "missing mountpoint directory refused: %s", err);
}

static void test_passthrough(void)
{
	struct tfs_options o;

	TAP_OK(parse(&o, "d", mnt, "-o",
		     "allow_other,default_permissions,noatime,defaults,_netdev,nofail,"
		     "x-systemd.automount,auto,entry_timeout=2",
		     NULL) == 0,
	       "fstab-style options parse: %s", err);
	TAP_OK(fuse_arg_has(&o, "allow_other"), "allow_other passed through");
	TAP_OK(fuse_arg_has(&o, "default_permissions"), "default_permissions passed through");
	TAP_OK(fuse_arg_has(&o, "entry_timeout=2"), "entry_timeout passed through");
	TAP_OK(!fuse_arg_has(&o, "_netdev") && !fuse_arg_has(&o, "x-systemd.automount") &&
		   !fuse_arg_has(&o, "defaults") && !fuse_arg_has(&o, "nofail"),
	       "mount(8)-only options dropped");
	tfs_options_release(&o);

	TAP_OK(parse(&o, "-d", "d", mnt, NULL) == 0 && o.debug && o.foreground,
	       "-d sets debug and foreground");
	tfs_options_release(&o);

	TAP_OK(parse(&o, "dir,with,commas", mnt, NULL) == 0 &&
		   fuse_arg_has(&o, "fsname=dir\\,with\\,commas"),
	       "fsname escapes commas");
	tfs_options_release(&o);
}

/* uid=, gid= and umask= are ours (the mount-wide permission policy), not
 * libfuse's; default_permissions is always passed. */
static void test_permissions(void)
{
	struct tfs_options o;
	unsigned int id = 7;
	mode_t mask = 7;

	TAP_OK(tfs_parse_id("0", &id) == 0 && id == 0, "id: 0");
	TAP_OK(tfs_parse_id("65534", &id) == 0 && id == 65534, "id: 65534");
	TAP_OK(tfs_parse_id("4294967294", &id) == 0 && id == 4294967294u, "id: largest");
	TAP_OK(tfs_parse_id("4294967295", &id) == -EINVAL, "id: (uid_t)-1 refused");
	TAP_OK(tfs_parse_id("99999999999999999999", &id) == -EINVAL, "id: overflow refused");
	TAP_OK(tfs_parse_id("-1", &id) == -EINVAL, "id: negative refused");
	TAP_OK(tfs_parse_id("", &id) == -EINVAL, "id: empty refused");
	TAP_OK(tfs_parse_id("nobody", &id) == -EINVAL, "id: a name refused");
	TAP_OK(tfs_parse_id("12a", &id) == -EINVAL, "id: trailing garbage refused");
	TAP_OK(tfs_parse_umask("077", &mask) == 0 && mask == 077, "umask: 077");
	TAP_OK(tfs_parse_umask("0", &mask) == 0 && mask == 0, "umask: 0");
	TAP_OK(tfs_parse_umask("0777", &mask) == 0 && mask == 0777, "umask: 0777");
	TAP_OK(tfs_parse_umask("22", &mask) == 0 && mask == 022, "umask: 22 is octal");
	TAP_OK(tfs_parse_umask("8", &mask) == -EINVAL, "umask: 8 refused");
	TAP_OK(tfs_parse_umask("0778", &mask) == -EINVAL, "umask: trailing 8 refused");
	TAP_OK(tfs_parse_umask("1000", &mask) == -EINVAL, "umask: above 0777 refused");
	TAP_OK(tfs_parse_umask("00077", &mask) == -EINVAL, "umask: five digits refused");
	TAP_OK(tfs_parse_umask("", &mask) == -EINVAL, "umask: empty refused");
	TAP_OK(tfs_parse_umask("0x1f", &mask) == -EINVAL, "umask: hex refused");

	TAP_OK(parse(&o, "d", mnt, NULL) == 0, "defaults parse: %s", err);
	TAP_OK(o.uid == getuid() && o.gid == getgid(), "default owner: the daemon's user");
	TAP_OK(o.umask == 077, "default umask 077");
	TAP_OK(fuse_arg_has(&o, "default_permissions"), "default_permissions always passed");
	tfs_options_release(&o);

	TAP_OK(parse(&o, "-o", "uid=65534,gid=100,umask=027,allow_other", "d", mnt, NULL) == 0,
	       "uid, gid, umask parse: %s", err);
	TAP_OK(o.uid == 65534 && o.gid == 100 && o.umask == 027, "uid, gid, umask parsed");
	TAP_OK(!fuse_arg_has(&o, "uid=65534") && !fuse_arg_has(&o, "gid=100") &&
		   !fuse_arg_has(&o, "umask=027"),
	       "uid, gid, umask are not libfuse's (it would apply them to its own liking)");
	TAP_OK(fuse_arg_has(&o, "default_permissions") && fuse_arg_has(&o, "allow_other"),
	       "default_permissions and allow_other passed");
	tfs_options_release(&o);

	TAP_OK(parse(&o, "-o", "umask=8", "d", mnt, NULL) == -EINVAL && strstr(err, "'umask'"),
	       "bad umask refused: %s", err);
	TAP_OK(parse(&o, "-o", "umask=", "d", mnt, NULL) == -EINVAL && strstr(err, "'umask'"),
	       "empty umask refused: %s", err);
	TAP_OK(parse(&o, "-o", "uid=alice", "d", mnt, NULL) == -EINVAL && strstr(err, "'uid'") &&
		   strstr(err, "numeric user id"),
	       "uid name refused: %s", err);
	TAP_OK(parse(&o, "-o", "gid=-1", "d", mnt, NULL) == -EINVAL && strstr(err, "'gid'") &&
		   strstr(err, "group id"),
	       "negative gid refused: %s", err);
}

static void test_modes(void)
{
	struct tfs_options o;

	TAP_OK(parse(&o, "--help", NULL) == 0 && o.mode == TFS_MODE_HELP, "--help");
	tfs_options_release(&o);
	TAP_OK(parse(&o, "-h", NULL) == 0 && o.mode == TFS_MODE_HELP, "-h");
	tfs_options_release(&o);
	TAP_OK(parse(&o, "--version", NULL) == 0 && o.mode == TFS_MODE_VERSION, "--version");
	tfs_options_release(&o);
	TAP_OK(parse(&o, "init", "/srv/tfs", NULL) == 0 && o.mode == TFS_MODE_INIT && !o.mountpoint,
	       "init SOURCE: %s", err);
	TAP_STREQ(o.catalog, "/srv/tfs/catalog.db", "init default catalog");
	tfs_options_release(&o);
	TAP_OK(parse(&o, "init", "s3://bkt", "-o", "catalog=dynamodb:tbl", NULL) == 0 &&
		   o.mode == TFS_MODE_INIT && o.is_s3,
	       "init s3 source: %s", err);
	tfs_options_release(&o);
	TAP_OK(parse(&o, "init", "/srv/tfs", "/mnt/x", NULL) == -EINVAL,
	       "init refuses a mountpoint");
}

/* -o metrics=: a numeric ADDR:PORT, loopback unless metrics_remote. */
static void test_metrics(void)
{
	static const struct {
		const char *opt;
		int ok, loopback;
	} cases[] = {
	    {"metrics=127.0.0.1:9100", 1, 1},
	    {"metrics=127.9.8.7:1", 1, 1},
	    {"metrics=[::1]:9100", 1, 1},
	    {"metrics=0.0.0.0:9100,metrics_remote", 1, 0},
	    {"metrics=[::]:9100,metrics_remote", 1, 0},
	    {"metrics=0.0.0.0:9100", 0, 0},
	    {"metrics=10.1.2.3:9100", 0, 0},
	    {"metrics=localhost:9100", 0, 0},
	    {"metrics=127.0.0.1:0", 0, 0},
	    {"metrics=127.0.0.1:65536", 0, 0},
	    {"metrics=127.0.0.1", 0, 0},
	    {"metrics=::1:9100", 0, 0},
	    {"metrics=[::1:9100", 0, 0},
	    {"metrics=127.0.0.1:9100x", 0, 0},
	};
	struct tfs_options o;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rc = parse(&o, "-o", cases[i].opt, "/srv/tfs", mnt, NULL);
		if (cases[i].ok) {
			TAP_OK(rc == 0 && o.metrics && o.metrics_loopback == cases[i].loopback,
			       "-o %s accepted (%s)", cases[i].opt, err);
			tfs_options_release(&o);
		} else {
			TAP_OK(rc == -EINVAL && strstr(err, "metrics"), "-o %s refused: %s",
			       cases[i].opt, err);
		}
	}
	TAP_OK(parse(&o, "-o", "metrics=0.0.0.0:9100", "/srv/tfs", mnt, NULL) == -EINVAL &&
		   strstr(err, "metrics_remote"),
	       "a non-loopback address names metrics_remote: %s", err);
	TAP_OK(parse(&o, "/srv/tfs", mnt, NULL) == 0 && !o.metrics, "no metrics by default");
	tfs_options_release(&o);
}

int main(void)
{
	char tmpl[] = "/tmp/tfs-opt-XXXXXX";

	if (!mkdtemp(tmpl)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(mnt, sizeof(mnt), "%s", tmpl);
	test_values();
	test_directory_source();
	test_s3_source();
	test_errors();
	test_passthrough();
	test_permissions();
	test_modes();
	test_metrics();
	rmdir(tmpl);
	return TAP_DONE();
}
