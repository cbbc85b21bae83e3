/* The command line of tenantfs: `tenantfs [-f] [-d] [-o OPTIONS] SOURCE
 * MOUNTPOINT` and `tenantfs init SOURCE [-o OPTIONS]`, parsed with
 * fuse_opt_parse into one struct; FUSE's own options are passed through. */
#ifndef TFS_FUSE_OPTIONS_H
#define TFS_FUSE_OPTIONS_H

#include <fuse_opt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define TFS_VERSION "0.1.0"

enum tfs_mode {
	TFS_MODE_MOUNT = 0,
	TFS_MODE_INIT,	  /* `tenantfs init SOURCE`: create table / folders */
	TFS_MODE_HELP,	  /* -h, --help */
	TFS_MODE_VERSION, /* -V, --version */
};

enum tfs_catalog_kind {
	TFS_CATALOG_SQLITE = 0,
	TFS_CATALOG_DYNAMODB,
};

/* Everything the daemon needs from its command line. Strings are malloc'ed
 * and owned by the struct (tfs_options_release frees them). Paths are
 * absolute, because the daemon changes to "/" when it daemonizes. */
struct tfs_options {
	enum tfs_mode mode;
	char *source;	  /* as given on the command line */
	char *mountpoint; /* absolute; NULL in init mode */

	int is_s3;	  /* SOURCE is s3://BUCKET[/PREFIX] */
	char *bucket;	  /* s3 only */
	char *prefix;	  /* s3 only: key prefix without leading/trailing '/', "" if none */
	char *source_dir; /* directory SOURCE (embedded store), absolute */

	enum tfs_catalog_kind catalog_kind;
	char *catalog; /* sqlite: absolute file path; dynamodb: table name */

	char *cache_dir;     /* absolute */
	uint64_t cache_size; /* bytes, 0 = unlimited */
	char *node;	     /* label of this node (the host name by default) */
	long idle_ms;
	long max_dirty_ms;
	long lease_ttl_ms;
	long linger_ms;
	long lease_wait_ms;
	long catalog_timeout_ms; /* bound on a catalog request made for a FUSE request */
	char *region;		 /* NULL: resolved from the environment */
	char *endpoint;		 /* S3 endpoint, NULL: default */
	char *ddb_endpoint;	 /* DynamoDB endpoint, NULL: default */
	int path_style;		 /* s3_addressing: 1 path, 0 virtual, -1 auto (see s3_config) */

	/* Who may do what, the same on every node: every file and the root
	 * belong to uid:gid (default: the daemon's own), files have mode
	 * 0666 & ~umask, the root 0777 & ~umask without group and other write
	 * (default umask 077: only the owner gets in). The kernel enforces
	 * them: default_permissions is always on. */
	uid_t uid;
	gid_t gid;
	mode_t umask;

	int foreground; /* -f */
	int debug;	/* -d: FUSE debug output and log level debug */
	/* -o writeback_cache: the kernel's writeback cache (off by default) */
	int writeback_cache;
	/* -o shard_keys: a 2-hex-digit hash shard before the id in object
	 * keys; the whole fleet must agree (a node with the other layout
	 * cannot find the versions) */
	int shard_keys;
	/* -o nonempty: mount over a mount point that is not empty */
	int nonempty;
	/* -o metrics=ADDR:PORT: serve /metrics there (NULL: not at all);
	 * metrics_loopback: the address is loopback; -o metrics_remote:
	 * another address is allowed */
	char *metrics;
	int metrics_loopback;
	int metrics_remote;

	/* argv for fuse_new(): program name, our defaults, then the FUSE and
	 * mount options of the command line. */
	struct fuse_args fuse_args;
};

/* Parses argv (argv[0] is the program name). On error returns -EINVAL and
 * writes a one-line message (no trailing newline) naming the offending
 * option or value into err. On success the caller releases *o. */
int tfs_options_parse(int argc, char *argv[], struct tfs_options *o, char *err, size_t errlen);
void tfs_options_release(struct tfs_options *o);

/* "10", "0.5", "1.25": non-negative decimal seconds with up to 3 fraction
 * digits, at most 10^9 s. 0 or -EINVAL. */
int tfs_parse_seconds(const char *s, long *ms);
/* "1048576", "512K", "10M", "2G", "1T" (binary multiples; an optional "B"
 * or "iB" after the letter). 0 or -EINVAL (also on overflow). */
int tfs_parse_size(const char *s, uint64_t *bytes);
/* 1-TFS_NODE_MAX bytes of [A-Za-z0-9._-], not starting with '.' or '-'
 * (tfs_valid_name; node= takes a label: tcache_valid_label). */
#define TFS_NODE_MAX 128
int tfs_valid_node(const char *node);
/* uid= and gid=: a decimal id 0-4294967294 ((uid_t)-1 means "no
 * change" to chown, so it can own nothing). 0 or -EINVAL. */
int tfs_parse_id(const char *s, unsigned int *id);
/* umask=: 1-4 octal digits, at most 0777. 0 or -EINVAL. */
int tfs_parse_umask(const char *s, mode_t *mask);
/* An S3 bucket name: 3-63 bytes of [a-z0-9.-], starting and ending with a
 * letter or digit. */
int tfs_valid_bucket(const char *bucket);

/* The usage text of --help (also what packaging/tenantfs.8 documents). */
void tfs_print_usage(FILE *out, const char *progname);
/* Its first lines, the command forms: what a usage error prints. */
void tfs_print_synopsis(FILE *out, const char *progname);

#endif
