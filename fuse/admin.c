/* `tenantfs snapshot`, `tenantfs snapshots`, `tenantfs restore` and
 * `tenantfs abandon`: our own
 * flags are taken out of argv, the rest (SOURCE, -o OPTIONS, -d) is parsed
 * as `tenantfs init` would be, and the store and catalog are built by
 * tfs_backend_open exactly as for a mount. Results go to stdout, errors to
 * stderr through the logger. */
#include "fuse/admin.h"
#include "s3/base/clock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cache/engine/cache.h"
#include "cache/fleet/gc.h"
#include "cache/fleet/history.h"
#include "cache/fleet/purge.h"
#include "cache/fleet/snapshot_manifest.h"
#include "cache/fleet/verify.h"
#include "cache/store/verrec.h"
#include "fuse/options.h"
#include "fuse/setup.h"
#include "s3/base/log.h"
#include "s3/base/progress.h"

#define MAX_IDS 1024

struct admin_args {
	const char *cmd;
	const char *name;     /* snapshot --name */
	const char *snapshot; /* restore --snapshot */
	const char *as_of;    /* --as-of */
	int yes;	      /* abandon --yes */
	const char *ids[MAX_IDS];
	int n_ids;
	int has_node;	   /* a node= option was given */
	int shard_keys;	   /* -o shard_keys: versions under a hash shard */
	int deep;	   /* verify --deep */
	const char *keep;  /* history/gc --keep */
	const char *grace; /* history/gc --grace */
	int dry_run;	   /* gc --dry-run */
	int help;
	char **pargv; /* for tfs_options_parse; the strings are argv's */
	int pargc;
};

bool tfs_admin_command(const char *arg)
{
	return arg &&
	       (!strcmp(arg, "snapshot") || !strcmp(arg, "snapshots") || !strcmp(arg, "restore") ||
		!strcmp(arg, "verify") || !strcmp(arg, "abandon") || !strcmp(arg, "history") ||
		!strcmp(arg, "gc") || !strcmp(arg, "purge"));
}

static void usage(FILE *out)
{
	fputs("usage: tenantfs snapshot SOURCE [-o OPTIONS] [--name NAME] [--as-of TIME]\n"
	      "       tenantfs snapshots SOURCE [-o OPTIONS]\n"
	      "       tenantfs restore SOURCE [-o OPTIONS] --snapshot NAME [--id ID ...]\n"
	      "       tenantfs restore SOURCE [-o OPTIONS] --as-of TIME --id ID [--id ID ...]\n"
	      "       tenantfs abandon SOURCE [-o OPTIONS] --id ID --yes\n"
	      "       " TFS_VERIFY_SYNOPSIS "\n"
	      "       " TFS_HISTORY_SYNOPSIS "\n"
	      "       " TFS_GC_SYNOPSIS "\n"
	      "       " TFS_PURGE_SYNOPSIS "\n"
	      "\n"
	      "snapshot writes a manifest of every live database at its version committed\n"
	      "at or before the cut (the scan's start, or --as-of) to\n"
	      "PREFIX/_snapshots/NAME.json (NAME: the cut's UTC time by default).\n"
	      "restore makes those versions current again as new commits, taking each\n"
	      "lease as node 'restore' (or -o node=ID); a database leased by another node\n"
	      "is skipped and reported, and the exit status is then 1. Nothing is deleted.\n"
	      "abandon gives up the unpublished writes of a stranded database (a node\n"
	      "stopped before it could publish them, and nobody else may open it until\n"
	      "it does): the database opens again everywhere at its last published\n"
	      "version, and that node moves its copy to its quarantine folder when it\n"
	      "next starts. --yes is required.\n"
	      "verify checks that each live database's current version is in the store\n"
	      "with the catalog's size and hash (--deep: downloads it and runs\n"
	      "PRAGMA integrity_check), and lists objects nothing refers to; it prints\n"
	      "one line per problem and exits 1 if there was any. It changes nothing.\n"
	      "history lists a database's versions (gen, commit time, size, hash, node)\n"
	      "and whether gc keeps each and why, by the store's clock, for --keep\n"
	      "(default 7d) and --grace (default 1h).\n"
	      "gc deletes every version no rule protects and prints each deletion and the\n"
	      "bytes freed (--dry-run: what it would delete, deleting nothing). Kept: the\n"
	      "current version; one current at any moment within --keep (age counts from\n"
	      "when it was superseded); one a snapshot manifest names; and anything\n"
	      "written less than --grace ago. Times are the store's clock.\n"
	      "purge erases one database for good: every version, its version records,\n"
	      "its entries in snapshot manifests (rewritten) and its catalog item; refused\n"
	      "while a node holds its lease. Copies kept by S3 versioning or replication\n"
	      "outside tenantfs are not touched. --yes is required.\n"
	      "DURATION: 500ms, 30s, 15m, 1h, 7d, 2w or plain seconds.\n"
	      "TIME: 2025-01-02T03:04:05Z, 2025-01-02T03:04:05.678Z or @UNIXSECONDS.\n"
	      "OPTIONS: catalog=, region=, endpoint=, dynamodb_endpoint=, node=,\n"
	      "lease_ttl= as for a mount (see tenantfs --help).\n",
	      out);
}

/* "--flag VALUE" or "--flag=VALUE": the value, advancing *i; NULL if arg
 * is not this flag. *bad is set when the value is missing. */
static const char *flag_value(int argc, char *argv[], int *i, const char *flag, int *bad)
{
	size_t n = strlen(flag);

	if (strncmp(argv[*i], flag, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		*bad = 1;
		return NULL;
	}
	(*i)++;
	return argv[*i];
}

static int names_node(const char *opts)
{
	return !strncmp(opts, "node=", 5) || strstr(opts, ",node=") != NULL;
}

/* One of the comma-separated items of opts is exactly flag. */
static int has_flag(const char *opts, const char *flag)
{
	size_t n = strlen(flag);

	for (const char *p = opts; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (!strncmp(p, flag, n) && (p[n] == ',' || p[n] == '\0'))
			return 1;
	return 0;
}

/* Writable copies for the argv handed to fuse_opt_parse. */
static char arg_init[] = "init", arg_o[] = "-o", arg_node[] = "node=restore";

static int split_args(int argc, char *argv[], struct admin_args *a)
{
	int i, bad = 0;
	const char *v;

	memset(a, 0, sizeof(*a));
	a->cmd = argv[1];
	/* argv[0], "init", the rest, and maybe "-o node=restore" */
	a->pargv = calloc((size_t)argc + 4, sizeof(char *));
	if (!a->pargv)
		return -ENOMEM;
	a->pargv[a->pargc++] = argv[0];
	a->pargv[a->pargc++] = arg_init;
	for (i = 2; i < argc; i++) {
		if ((v = flag_value(argc, argv, &i, "--name", &bad))) {
			a->name = v;
		} else if ((v = flag_value(argc, argv, &i, "--snapshot", &bad))) {
			a->snapshot = v;
		} else if ((v = flag_value(argc, argv, &i, "--as-of", &bad))) {
			a->as_of = v;
		} else if ((v = flag_value(argc, argv, &i, "--id", &bad))) {
			if (a->n_ids == MAX_IDS) {
				fprintf(stderr, "tenantfs: at most %d --id\n", MAX_IDS);
				return -EINVAL;
			}
			a->ids[a->n_ids++] = v;
		} else if ((v = flag_value(argc, argv, &i, "--keep", &bad))) {
			a->keep = v;
		} else if ((v = flag_value(argc, argv, &i, "--grace", &bad))) {
			a->grace = v;
		} else if (!strcmp(a->cmd, "gc") && !strcmp(argv[i], "--dry-run")) {
			a->dry_run = 1;
		} else if (!strcmp(a->cmd, "verify") && !strcmp(argv[i], "--deep")) {
			a->deep = 1;
		} else if (bad) {
			break;
		} else if (!strcmp(argv[i], "--yes")) {
			a->yes = 1;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			a->help = 1;
		} else {
			const char *opts = !strcmp(argv[i], "-o") && i + 1 < argc ? argv[i + 1]
					   : !strncmp(argv[i], "-o", 2)		  ? argv[i] + 2
										  : "";

			if (names_node(opts))
				a->has_node = 1;
			/* the engine's key layout, as the mount's -o shard_keys */
			if (has_flag(opts, "shard_keys"))
				a->shard_keys = 1;
			a->pargv[a->pargc++] = argv[i];
		}
	}
	if (bad) {
		fprintf(stderr, "tenantfs: %s needs a value\n", argv[i]);
		return -EINVAL;
	}
	if (!a->has_node) {
		a->pargv[a->pargc++] = arg_o;
		a->pargv[a->pargc++] = arg_node;
	}
	return 0;
}

static const char *tmpdir(void)
{
	const char *t = getenv("TMPDIR");

	return t && t[0] == '/' ? t : "/tmp";
}

/* ---- snapshot ----------------------------------------------------------- */

static void snapshot_tick(void *arg, const struct snapm_take_result *sofar)
{
	progress_update(arg, "catalog items read", sofar->scanned, 0);
}

static int cmd_snapshot(const struct admin_args *a, const struct tfs_options *o,
			struct tfs_backend *b, const struct key_layout *l)
{
	struct snapm_take_result res;
	struct progress p;
	char name[SNAP_NAME_MAX + 1], when[32];
	int64_t cut;
	int rc;

	if (a->snapshot || a->n_ids) {
		fprintf(stderr, "tenantfs: snapshot takes no --snapshot or --id (see --help)\n");
		return 2;
	}
	/* Without --as-of the cut is taken once the snapshot is announced
	 * (SNAPM_CUT_NOW); its default name is the time now. */
	cut = SNAPM_CUT_NOW;
	if (a->as_of && snapm_parse_time(a->as_of, &cut) < 0) {
		fprintf(stderr,
			"tenantfs: invalid --as-of '%s' (2025-01-02T03:04:05Z or @SECONDS)\n",
			a->as_of);
		return 2;
	}
	if (a->name)
		snprintf(name, sizeof(name), "%s", a->name);
	else
		snapm_default_name(a->as_of ? cut : tfs_wall_ms(), name, sizeof(name));
	progress_init(&p, stderr, "snapshot", 0);
	rc = snapm_take(b->store, b->cat, l, name, cut, tmpdir(), &res, snapshot_tick, &p);
	progress_clear(&p);
	if (rc < 0)
		return 1;
	snapm_format_time(res.cut_ms, when, sizeof(when));
	printf("snapshot %s: %llu databases as of %s\n", name, (unsigned long long)res.count, when);
	if (res.flagged)
		printf("snapshot %s: %llu of them listed at their oldest known version (neither "
		       "the catalog's history nor the version records reach back to the cut)\n",
		       name, (unsigned long long)res.flagged);
	return 0;
}

/* ---- snapshots ---------------------------------------------------------- */

struct listing {
	char **names;
	size_t n, cap;
};

static int collect(void *arg, const char *name, const struct store_info *info)
{
	struct listing *l = arg;
	char when[32], *line;
	char **grown;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		grown = realloc(l->names, l->cap * sizeof(*l->names));
		if (!grown)
			return -ENOMEM;
		l->names = grown;
	}
	snapm_format_time(info->mtime_ms, when, sizeof(when));
	if (asprintf(&line, "%s\t%llu\t%s", name, (unsigned long long)info->size, when) < 0)
		return -ENOMEM;
	l->names[l->n++] = line;
	return 0;
}

static int cmp_str(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

static int cmd_snapshots(const struct admin_args *a, struct tfs_backend *b,
			 const struct key_layout *l)
{
	struct listing names = {0};
	int rc;

	if (a->snapshot || a->n_ids || a->name || a->as_of) {
		fprintf(stderr, "tenantfs: snapshots takes no flags but -o (see --help)\n");
		return 2;
	}
	rc = snapm_list(b->store, l->prefix, collect, &names);
	if (rc < 0)
		log_err("cannot list the snapshots: %s", strerror(-rc));
	else
		qsort(names.names, names.n, sizeof(*names.names), cmp_str);
	for (size_t i = 0; i < names.n; i++) {
		if (rc == 0)
			printf("%s\n", names.names[i]);
		free(names.names[i]);
	}
	free(names.names);
	return rc < 0 ? 1 : 0;
}

/* ---- restore ------------------------------------------------------------ */

struct restore_ctx {
	const struct admin_args *a;
	const struct tfs_options *o;
	struct tfs_backend *b;
	const struct key_layout *l;
	unsigned long restored, unchanged, failed;
	char *seen; /* which --id were in the manifest */
};

static void restore_entry(struct restore_ctx *r, const struct snapm_entry *e)
{
	struct snapm_restore_info info;
	char when[32];
	int rc;

	rc = snapm_restore_one(r->b->store, r->b->cat, r->l, e, r->o->node, r->o->lease_ttl_ms,
			       tfs_wall_ms(), &info);
	if (rc == -EBUSY) {
		snapm_format_time(info.holder_expires_ms, when, sizeof(when));
		log_err("cannot restore %s: its lease is held by node %s (until %s); close it "
			"there or unmount that node, then run restore again",
			e->id, info.holder, when);
		r->failed++;
	} else if (rc < 0) {
		r->failed++; /* logged */
	} else if (info.outcome == SNAP_UNCHANGED) {
		printf("unchanged %s: gen %llu's version (%s) is current already\n", e->id,
		       (unsigned long long)e->gen, e->hash);
		r->unchanged++;
	} else {
		printf("restored %s: the version of gen %llu (%s) is current again as gen %llu\n",
		       e->id, (unsigned long long)e->gen, e->hash,
		       (unsigned long long)info.new_gen);
		r->restored++;
	}
	fflush(stdout);
}

static int restore_cb(void *arg, const struct snapm_entry *e)
{
	struct restore_ctx *r = arg;
	int i, want = r->a->n_ids == 0;

	for (i = 0; i < r->a->n_ids; i++)
		if (!strcmp(r->a->ids[i], e->id)) {
			r->seen[i] = 1;
			want = 1;
		}
	if (want)
		restore_entry(r, e);
	return 0;
}

static void restore_as_of(struct restore_ctx *r, const char *id, int64_t at)
{
	struct snapm_entry e;
	struct cat_item it;
	char when[32], oldest[32];
	bool need_size;
	int rc;

	snapm_format_time(at, when, sizeof(when));
	rc = r->b->cat->ops->get(r->b->cat, id, &it);
	if (rc < 0) {
		log_err("cannot restore %s as of %s: %s", id, when,
			rc == -ENOENT ? "no such database in the catalog" : strerror(-rc));
		r->failed++;
		return;
	}
	if (snapm_version_at(&it, at, &e, &need_size) == 0) {
		log_err("cannot restore %s as of %s: it did not exist then (not yet created, or "
			"deleted)",
			id, when);
		r->failed++;
		return;
	}
	if (e.short_hist) {
		/* Older than the item's history: the version records. */
		rc = snapm_chain_version_at(r->b->store, r->l, &it, at, &e, &need_size);
		if (rc == 0) {
			log_err("cannot restore %s as of %s: it did not exist then (its version "
				"records say so)",
				id, when);
			r->failed++;
			return;
		}
	}
	if (e.short_hist) {
		snapm_format_time(e.mtime_ms, oldest, sizeof(oldest));
		log_err("cannot restore %s as of %s: its history does not reach back that far "
			"(the catalog keeps the last %d commits, the oldest gen %llu of %s, and "
			"its version records do not tell: gc removed them beyond --keep, or a "
			"record is missing there)",
			id, when, CAT_HIST_MAX, (unsigned long long)e.gen, oldest);
		r->failed++;
		return;
	}
	if (need_size)
		e.size = 0; /* unknown: snapm_restore_one takes it from the store */
	restore_entry(r, &e);
}

static int cmd_restore(const struct admin_args *a, const struct tfs_options *o,
		       struct tfs_backend *b, const struct key_layout *l)
{
	struct restore_ctx r = {.a = a, .o = o, .b = b, .l = l};
	struct snapm_header hdr;
	int64_t at;
	int i, rc = 0;

	if (!!a->snapshot == !!a->as_of || a->name) {
		fprintf(stderr, "tenantfs: restore needs either --snapshot NAME or --as-of TIME "
				"(see --help)\n");
		return 2;
	}
	for (i = 0; i < a->n_ids; i++)
		if (!tfs_valid_id(a->ids[i])) {
			fprintf(stderr, "tenantfs: invalid database id '%s'\n", a->ids[i]);
			return 2;
		}
	if (a->as_of) {
		if (snapm_parse_time(a->as_of, &at) < 0) {
			fprintf(
			    stderr,
			    "tenantfs: invalid --as-of '%s' (2025-01-02T03:04:05Z or @SECONDS)\n",
			    a->as_of);
			return 2;
		}
		if (a->n_ids == 0) {
			fprintf(stderr,
				"tenantfs: restore --as-of needs --id ID (for every "
				"database: take `tenantfs snapshot --as-of TIME` and restore "
				"that)\n");
			return 2;
		}
		for (i = 0; i < a->n_ids; i++)
			restore_as_of(&r, a->ids[i], at);
	} else {
		r.seen = calloc((size_t)a->n_ids + 1, 1);
		if (!r.seen)
			return 1;
		rc = snapm_read(b->store, l->prefix, a->snapshot, tmpdir(), &hdr, restore_cb, &r);
		for (i = 0; rc == 0 && i < a->n_ids; i++)
			if (!r.seen[i]) {
				log_err("cannot restore %s: it is not in snapshot '%s'", a->ids[i],
					a->snapshot);
				r.failed++;
			}
		free(r.seen);
	}
	if (rc < 0)
		return 1;
	printf("restore: %lu restored, %lu unchanged, %lu failed\n", r.restored, r.unchanged,
	       r.failed);
	return r.failed ? 1 : 0;
}

/* ---- abandon ------------------------------------------------------------ */

/* 0, or 2 with a message: checked before the catalog is opened. */
static int abandon_args(const struct admin_args *a)
{
	if (a->n_ids != 1 || !a->yes || a->snapshot || a->as_of || a->name) {
		fprintf(stderr, "tenantfs: abandon takes exactly one --id ID and --yes (it gives "
				"up acknowledged writes; see --help)\n");
		return 2;
	}
	if (!tfs_valid_id(a->ids[0])) {
		fprintf(stderr, "tenantfs: invalid database id '%s'\n", a->ids[0]);
		return 2;
	}
	return 0;
}

static int cmd_abandon(const struct admin_args *a, const struct tfs_options *o,
		       struct tfs_backend *b, const struct key_layout *l)
{
	struct cat_commit cm;
	const char *id = a->ids[0];
	struct cat_item it;
	char when[32];
	int rc;

	rc = b->cat->ops->get(b->cat, id, &it);
	if (rc < 0) {
		log_err("cannot abandon %s: %s", id,
			rc == -ENOENT ? "no such database in the catalog" : strerror(-rc));
		return 1;
	}
	if (!it.stranded_ms) {
		log_err("cannot abandon %s: it is not stranded (%s%s): nothing to give up", id,
			it.owner[0] ? "leased by node " : "not leased", it.owner);
		return 1;
	}
	rc = b->cat->ops->abandon(b->cat, &it, tfs_wall_ms());
	if (rc < 0) {
		log_err("cannot abandon %s: %s", id,
			rc == -ESTALE ? "it changed meanwhile (its node published or was abandoned "
					"already); look again"
				      : strerror(-rc));
		return 1;
	}
	/* The catalog's abandon commits gen + 1 with the same hash; a never
	 * committed item becomes a tombstone. */
	memset(&cm, 0, sizeof(cm));
	cm.new_gen = it.gen + 1;
	cm.hash = it.hash;
	cm.size = it.size;
	cm.mtime_ms = tfs_wall_ms();
	cm.deleted = it.gen == 0 || it.deleted_ms;
	verrec_record_commit(b->store, l, id, o->node, &cm);
	snapm_format_time(it.stranded_ms, when, sizeof(when));
	log_warn("abandoned %s: node %s's writes unpublished since %s are given up; it "
		 "quarantines its copy when it next starts",
		 id, it.owner, when);
	printf("abandoned %s: open again at the version of gen %llu (now gen %llu); node %s "
	       "moves its unpublished copy to quarantine when it next starts\n",
	       id, (unsigned long long)it.gen, (unsigned long long)it.gen + 1, it.owner);
	return 0;
}

/* ---- history (cache/fleet/history.c) ------------------------------------------- */

/* --keep and --grace, or the defaults: 0, or 2 with a message. */
static int retention_args(const struct admin_args *a, int64_t *keep, int64_t *grace)
{
	*keep = TFS_KEEP_DEFAULT_MS;
	*grace = TFS_GRACE_DEFAULT_MS;
	if ((a->keep && tfs_parse_duration(a->keep, keep) < 0) ||
	    (a->grace && tfs_parse_duration(a->grace, grace) < 0)) {
		fprintf(stderr,
			"tenantfs: invalid %s '%s' (a DURATION: 500ms, 30s, 15m, 1h, 7d, "
			"2w or plain seconds)\n",
			a->keep && tfs_parse_duration(a->keep, keep) < 0 ? "--keep" : "--grace",
			a->keep && tfs_parse_duration(a->keep, keep) < 0 ? a->keep : a->grace);
		return 2;
	}
	return 0;
}

/* Checked before the catalog is opened: 0, or 2 with a message. */
static int history_args(const struct admin_args *a)
{
	int64_t k, g;

	if (a->n_ids != 1 || a->name || a->snapshot || a->as_of || a->yes) {
		fprintf(stderr,
			"tenantfs: history takes exactly one --id ID (and --keep, "
			"--grace)\nusage: %s\n",
			TFS_HISTORY_SYNOPSIS);
		return 2;
	}
	if (!tfs_valid_id(a->ids[0])) {
		fprintf(stderr, "tenantfs: invalid database id '%s'\n", a->ids[0]);
		return 2;
	}
	return retention_args(a, &k, &g);
}

static int cmd_history(const struct admin_args *a, struct tfs_backend *b,
		       const struct key_layout *l)
{
	int64_t keep, grace;

	if (retention_args(a, &keep, &grace) != 0)
		return 2;
	return tfs_history_command(b->store, b->cat, l, a->ids[0], keep, grace, tmpdir());
}

/* ---- gc (cache/fleet/gc.c) ------------------------------------------------------ */

static int gc_args(const struct admin_args *a)
{
	int64_t k, g;

	if (a->n_ids || a->name || a->snapshot || a->as_of || a->yes) {
		fprintf(stderr,
			"tenantfs: gc takes only --keep, --grace and --dry-run\nusage: %s\n",
			TFS_GC_SYNOPSIS);
		return 2;
	}
	return retention_args(a, &k, &g);
}

static int cmd_gc(const struct admin_args *a, const struct tfs_options *o, struct tfs_backend *b,
		  const struct key_layout *l)
{
	struct gc_options g = {.dry_run = a->dry_run,
			       .tmpdir = tmpdir(),
			       .node = o->node,
			       .lease_ttl_ms = o->lease_ttl_ms,
			       .wall_now_ms = tfs_wall_ms()};

	if (retention_args(a, &g.keep_ms, &g.grace_ms) != 0)
		return 2;
	return tfs_gc_command(b->store, b->cat, l, &g);
}

/* ---- purge (cache/fleet/purge.c) ------------------------------------------------ */

static int purge_args(const struct admin_args *a)
{
	if (a->n_ids != 1 || !a->yes || a->snapshot || a->as_of || a->name) {
		fprintf(stderr,
			"tenantfs: purge takes exactly one --id ID and --yes (it erases the "
			"database for good)\nusage: %s\n",
			TFS_PURGE_SYNOPSIS);
		return 2;
	}
	if (!tfs_valid_id(a->ids[0])) {
		fprintf(stderr, "tenantfs: invalid database id '%s'\n", a->ids[0]);
		return 2;
	}
	return 0;
}

/* ---- verify (cache/fleet/verify.c) --------------------------------------------- */

static int cmd_verify(const struct admin_args *a, struct tfs_backend *b, const struct key_layout *l)
{
	if (a->name || a->snapshot || a->as_of) {
		fprintf(stderr, "tenantfs: verify takes only --id and --deep\nusage: %s\n",
			TFS_VERIFY_SYNOPSIS);
		return 2;
	}
	return tfs_verify_command(b->store, b->cat, l, a->ids, a->n_ids, a->deep, tmpdir());
}

/* Long because the one path every admin command takes (arguments, options, store and catalog,
 * the command, one cleanup exit); the commands themselves are functions. */
int tfs_admin_main(int argc, char *argv[])
{
	struct admin_args a;
	struct tfs_options o;
	struct tfs_backend b;
	char err[512];
	struct key_layout layout;
	struct stat st;
	int rc = 2, bad_usage = 1;

	memset(&b, 0, sizeof(b));
	if (split_args(argc, argv, &a) < 0)
		goto out_args;
	if (a.help) {
		usage(stdout);
		rc = 0;
		bad_usage = 0;
		goto out_args;
	}
	if (tfs_options_parse(a.pargc, a.pargv, &o, err, sizeof(err)) < 0) {
		/* init's parser speaks of init: say which command it was */
		fprintf(stderr, "tenantfs %s: %s\n", a.cmd,
			strstr(err, "missing SOURCE") ? "missing SOURCE (see --help)" : err);
		goto out_args;
	}
	bad_usage = 0;
	if (o.debug)
		tfs_log_set_level(LOG_DEBUG);
	if (!strcmp(a.cmd, "abandon") && (rc = abandon_args(&a)) != 0)
		goto out;
	if (!strcmp(a.cmd, "history") && (rc = history_args(&a)) != 0)
		goto out;
	if (!strcmp(a.cmd, "gc") && (rc = gc_args(&a)) != 0)
		goto out;
	if (!strcmp(a.cmd, "purge") && (rc = purge_args(&a)) != 0)
		goto out;
	if ((a.keep || a.grace) && strcmp(a.cmd, "history") != 0 && strcmp(a.cmd, "gc") != 0) {
		fprintf(stderr, "tenantfs: %s takes no --keep or --grace (see --help)\n", a.cmd);
		rc = 2;
		goto out;
	}
	layout.prefix = o.is_s3 ? o.prefix : "";
	layout.shard_keys = a.shard_keys;
	rc = 1;
	/* A mount creates a missing embedded store; a snapshot or restore of
	 * a mistyped folder must not answer "0 databases". */
	if (!o.is_s3 &&
	    stat(o.catalog_kind == TFS_CATALOG_SQLITE ? o.catalog : o.source_dir, &st) < 0) {
		log_err("cannot use %s: %s",
			o.catalog_kind == TFS_CATALOG_SQLITE ? o.catalog : o.source_dir,
			strerror(errno));
		goto out;
	}
	if (tfs_backend_check(&o) < 0 || tfs_backend_open(&o, 0, &b) < 0)
		goto out;
	if (!strcmp(a.cmd, "snapshot"))
		rc = cmd_snapshot(&a, &o, &b, &layout);
	else if (!strcmp(a.cmd, "snapshots"))
		rc = cmd_snapshots(&a, &b, &layout);
	else if (!strcmp(a.cmd, "abandon"))
		rc = cmd_abandon(&a, &o, &b, &layout);
	else if (!strcmp(a.cmd, "verify"))
		rc = cmd_verify(&a, &b, &layout);
	else if (!strcmp(a.cmd, "history"))
		rc = cmd_history(&a, &b, &layout);
	else if (!strcmp(a.cmd, "gc"))
		rc = cmd_gc(&a, &o, &b, &layout);
	else if (!strcmp(a.cmd, "purge"))
		rc = tfs_purge_command(b.store, b.cat, &layout, a.ids[0], o.node, o.lease_ttl_ms,
				       tfs_wall_ms(), tmpdir());
	else
		rc = cmd_restore(&a, &o, &b, &layout);
out:
	tfs_backend_close(&b);
	tfs_options_release(&o);
out_args:
	if (bad_usage && a.cmd) {
		const char *syn = !strcmp(a.cmd, "verify")    ? TFS_VERIFY_SYNOPSIS
				  : !strcmp(a.cmd, "gc")      ? TFS_GC_SYNOPSIS
				  : !strcmp(a.cmd, "history") ? TFS_HISTORY_SYNOPSIS
				  : !strcmp(a.cmd, "purge")   ? TFS_PURGE_SYNOPSIS
							      : NULL;

		if (syn)
			fprintf(stderr, "usage: %s\n", syn);
	}
	free(a.pargv);
	return rc;
}
