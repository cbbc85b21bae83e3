/* Building the store and catalog of a mount from SOURCE and options, the
 * mount-time checks that must fail before the daemon forks, and
 * `tenantfs init`. The only place where fuse/ names the AWS clients. */
#include "fuse/setup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache/catalog/catalog.h"
#include "cache/store/store.h"
#include "s3/base/log.h"
#include "s3/wire/creds.h"
#include "s3/wire/ddb.h"
#include "s3/wire/http.h"
#include "s3/wire/s3.h"

/* mkdir -p; mode 0700 for what we create: caches hold user data. */
static int mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int needs_aws(const struct tfs_options *o)
{
	return o->is_s3 || o->catalog_kind == TFS_CATALOG_DYNAMODB;
}

/* Long because it opens the four back ends (S3 or local store, DynamoDB or SQLite catalog) with
 * their shared client and CA bundle, and undoes each on failure at one exit. */
int tfs_backend_open(const struct tfs_options *o, int quick, struct tfs_backend *b)
{
	struct http_options hopt;
	struct cred_options copt;
	int rc = -ENOMEM;

	memset(b, 0, sizeof(*b));
	if (needs_aws(o)) {
		/* One CA bundle for S3, DynamoDB, STS and the container endpoint. */
		b->ca_file = aws_resolve_ca_bundle(NULL, NULL);
		if (b->ca_file) {
			/* libcurl would only say "error setting certificate file"
			 * at the first request. */
			int fd = open(b->ca_file, O_RDONLY | O_CLOEXEC);

			if (fd < 0) {
				rc = -errno;
				log_err("cannot use the ca bundle '%s' (AWS_CA_BUNDLE or the "
					"profile's ca_bundle): %s",
					b->ca_file, strerror(-rc));
				goto out;
			}
			close(fd);
		}
		memset(&copt, 0, sizeof(copt));
		copt.region = o->region;
		copt.ca_file = b->ca_file;
		b->creds = cred_provider_new(&copt);
		if (!b->creds)
			goto out;
		memset(&hopt, 0, sizeof(hopt));
		hopt.ca_file = b->ca_file;
		if (quick) {
			/* A missing bucket or a dead endpoint must be told to the
			 * person typing `mount` within seconds, not a retry budget. */
			hopt.connect_timeout_ms = 2000;
			hopt.request_timeout_ms = 5000;
			hopt.retry_budget_ms = 4000;
			hopt.max_attempts = 2;
		}
		b->http = http_client_new(&hopt, b->creds);
		if (!b->http)
			goto out;
		b->region = aws_resolve_region(o->region, NULL);
		if (!b->region)
			goto out;
	}

	if (o->is_s3) {
		struct s3_config cfg;

		b->s3_endpoint = aws_resolve_endpoint("s3", o->endpoint, b->region);
		if (!b->s3_endpoint)
			goto out;
		memset(&cfg, 0, sizeof(cfg));
		cfg.endpoint = b->s3_endpoint;
		cfg.region = b->region;
		cfg.bucket = o->bucket;
		cfg.path_style = o->path_style;
		b->s3 = s3_client_new(&cfg, b->http);
		if (!b->s3) {
			log_err("cannot set up the s3 client for bucket '%s' at %s", o->bucket,
				b->s3_endpoint);
			rc = -EINVAL;
			goto out;
		}
		b->store = store_s3_new(b->s3);
	} else {
		/* store_local keeps its objects under <dir>/objects itself. */
		b->store = store_local_new(o->source_dir);
	}
	if (!b->store) {
		log_err("cannot set up the object store for '%s'", o->source);
		goto out;
	}

	if (o->catalog_kind == TFS_CATALOG_DYNAMODB) {
		b->ddb_endpoint = aws_resolve_endpoint("dynamodb", o->ddb_endpoint, b->region);
		if (!b->ddb_endpoint)
			goto out;
		b->ddb = ddb_client_new(b->ddb_endpoint, b->region, b->http);
		if (!b->ddb) {
			log_err("cannot set up the dynamodb client at %s", b->ddb_endpoint);
			rc = -EINVAL;
			goto out;
		}
		b->cat = catalog_ddb_new(b->ddb, o->catalog);
	} else {
		b->cat = catalog_sqlite_new(o->catalog);
	}
	if (!b->cat) {
		log_err("cannot set up the catalog '%s'", o->catalog);
		goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		tfs_backend_close(b);
	return rc;
}

void tfs_backend_close(struct tfs_backend *b)
{
	/* users before what they borrow */
	catalog_free(b->cat);
	store_free(b->store);
	if (b->ddb)
		ddb_client_free(b->ddb);
	if (b->s3)
		s3_client_free(b->s3);
	if (b->http)
		http_client_free(b->http);
	if (b->creds)
		cred_provider_free(b->creds);
	free(b->region);
	free(b->s3_endpoint);
	free(b->ddb_endpoint);
	free(b->ca_file);
	memset(b, 0, sizeof(*b));
}

void tfs_backend_http_stats(const struct tfs_backend *b, struct http_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (b->http)
		http_client_stats(b->http, out);
}

/* The folders of the embedded store; the catalog file is made by its init. */
static int make_local_dirs(const struct tfs_options *o)
{
	char path[PATH_MAX];
	int rc;

	if (o->is_s3)
		return 0;
	if (snprintf(path, sizeof(path), "%s/objects", o->source_dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	rc = mkdir_p(path);
	if (rc < 0)
		log_err("cannot create the object folder %s: %s", path, strerror(-rc));
	return rc;
}

static int make_catalog_dir(const struct tfs_options *o)
{
	char dir[PATH_MAX];
	char *slash;
	int rc;

	if (o->catalog_kind != TFS_CATALOG_SQLITE)
		return 0;
	if (snprintf(dir, sizeof(dir), "%s", o->catalog) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	rc = mkdir_p(dir);
	if (rc < 0)
		log_err("cannot create the catalog folder %s: %s", dir, strerror(-rc));
	return rc;
}

static void explain_store_error(const struct tfs_options *o, const struct tfs_backend *b, int rc)
{
	if (!o->is_s3) {
		log_err("cannot use the object folder %s/objects: %s", o->source_dir,
			strerror(-rc));
		return;
	}
	if (rc == -ENOENT || rc == -ENXIO)
		log_err("cannot use bucket '%s' at %s: it does not exist; create it (for example "
			"`aws s3 mb s3://%s`) and try again",
			o->bucket, b->s3_endpoint, o->bucket);
	else if (rc == -EACCES || rc == -EPERM)
		/* HEAD answers 403 without a body: a wrong secret, an unknown
		 * key and a missing permission all look alike from here. */
		log_err("cannot use bucket '%s' at %s: access denied; check the credentials "
			"(access key id and secret: environment, profile or instance role) and "
			"that they may read and write the bucket",
			o->bucket, b->s3_endpoint);
	else
		log_err("cannot use bucket '%s' at %s: %s", o->bucket, b->s3_endpoint,
			strerror(-rc));
}

static void explain_catalog_error(const struct tfs_options *o, const struct tfs_backend *b, int rc)
{
	if (o->catalog_kind == TFS_CATALOG_DYNAMODB)
		log_err("cannot use the catalog table '%s' at %s: %s%s", o->catalog,
			b->ddb_endpoint, strerror(-rc),
			rc == -ENOENT || rc == -ENXIO ? " (create it with `tenantfs init`)" : "");
	else
		log_err("cannot use the catalog %s: %s", o->catalog, strerror(-rc));
}

/* The set-up steps on an open back end, each saying why it failed. */
static int store_check(const struct tfs_options *o, const struct tfs_backend *b)
{
	int rc = b->store->ops->check(b->store);

	if (rc < 0)
		explain_store_error(o, b, rc);
	return rc;
}

static int catalog_init(const struct tfs_options *o, const struct tfs_backend *b)
{
	int rc = b->cat->ops->init(b->cat);

	if (rc < 0)
		explain_catalog_error(o, b, rc);
	return rc;
}

static int catalog_check(const struct tfs_options *o, const struct tfs_backend *b)
{
	int rc = b->cat->ops->check(b->cat);

	if (rc < 0)
		explain_catalog_error(o, b, rc);
	return rc;
}

/* What `tenantfs init` made: SOURCE/objects for a directory SOURCE, the
 * file of a local catalog. Checked before anything opens them (opening a
 * SQLite catalog creates the file): a mount or a command never creates a
 * store, so a mistyped SOURCE cannot become a new, empty one. */
static int store_exists(const struct tfs_options *o)
{
	char path[PATH_MAX];
	struct stat st;
	int rc;

	if (!o->is_s3) {
		if (snprintf(path, sizeof(path), "%s/objects", o->source_dir) >= (int)sizeof(path))
			return -ENAMETOOLONG;
		rc = stat(path, &st) < 0 ? -errno : S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
		if (rc == -ENOENT || rc == -ENOTDIR) {
			log_err("%s holds no tenantfs store (no folder %s); create one with "
				"`tenantfs init %s`",
				o->source_dir, path, o->source);
			return -ENOENT;
		}
		if (rc < 0) {
			log_err("cannot use the store %s: %s", path, strerror(-rc));
			return rc;
		}
	}
	if (o->catalog_kind == TFS_CATALOG_SQLITE && stat(o->catalog, &st) < 0) {
		bool dflt;

		rc = -errno;
		dflt = !o->is_s3 &&
		       snprintf(path, sizeof(path), "%s/catalog.db", o->source_dir) <
			   (int)sizeof(path) &&
		       !strcmp(path, o->catalog);
		if (rc == -ENOENT)
			log_err(
			    "the catalog %s does not exist; create it with `tenantfs init %s%s%s`",
			    o->catalog, o->source,
			    dflt ? "" : " -o catalog=sqlite:", dflt ? "" : o->catalog);
		else
			log_err("cannot use the catalog %s: %s", o->catalog, strerror(-rc));
		return rc;
	}
	return 0;
}

/* Opens the back ends into *b (quick) and checks the store, then (with
 * init first creating its table) the catalog, each saying why it failed:
 * 0 with *b open for the caller to close, or -errno with *b closed. */
static int backend_open_checked(const struct tfs_options *o, bool init, struct tfs_backend *b)
{
	int rc = tfs_backend_open(o, 1, b);

	if (rc < 0)
		return rc;
	rc = store_check(o, b);
	if (rc >= 0 && init)
		rc = catalog_init(o, b);
	if (rc >= 0)
		rc = catalog_check(o, b);
	if (rc < 0)
		tfs_backend_close(b);
	return rc;
}

int tfs_backend_check(const struct tfs_options *o)
{
	struct tfs_backend b;
	int rc;

	rc = store_exists(o);
	if (rc < 0)
		return rc;
	rc = backend_open_checked(o, false, &b);
	if (rc < 0)
		return rc;
	tfs_backend_close(&b);
	return rc;
}

/* path is dir or lies inside it (both absolute, without trailing '/'). */
static bool path_within(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (!strcmp(dir, "/"))
		return true;
	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* The mount must neither sit on what the daemon works in (it would hide
 * it from everyone else, and the daemon's own path lookups would come
 * back into the mount) nor on a folder above it. */
static int check_overlap(const char *mp, const char *what, const char *path)
{
	char real[PATH_MAX];

	/* The cache may not exist yet: then its name is what counts. */
	if (!realpath(path, real))
		snprintf(real, sizeof(real), "%s", path);
	if (path_within(mp, real)) {
		log_err("cannot mount on %s: it %s the %s %s", mp,
			strcmp(mp, real) ? "lies inside" : "is", what, real);
		return -EINVAL;
	}
	if (path_within(real, mp)) {
		log_err("cannot mount on %s: it holds the %s %s, which the mount would hide", mp,
			what, real);
		return -EINVAL;
	}
	return 0;
}

int tfs_check_mountpoint(const struct tfs_options *o)
{
	const char *mp = o->mountpoint;
	char path[PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *d;
	int rc;

	rc = stat(mp, &st) < 0 ? -errno : S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
	if (rc < 0) {
		log_err("cannot mount on %s: %s", mp, strerror(-rc));
		return rc;
	}
	if ((!o->is_s3 && (rc = check_overlap(mp, "store", o->source_dir)) < 0) ||
	    (rc = check_overlap(mp, "cache", o->cache_dir)) < 0)
		return rc;
	if (o->catalog_kind == TFS_CATALOG_SQLITE && realpath(o->catalog, path) &&
	    path_within(path, mp)) {
		log_err("cannot mount on %s: it holds the catalog %s, which the mount would hide",
			mp, path);
		return -EINVAL;
	}
	/* Another store than ours: -o nonempty must not hide that either. */
	if (snprintf(path, sizeof(path), "%s/objects", mp) < (int)sizeof(path) &&
	    stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		log_err("cannot mount on %s: it holds a tenantfs store (%s), which the mount "
			"would hide",
			mp, path);
		return -EINVAL;
	}
	if (o->nonempty)
		return 0;
	d = opendir(mp);
	if (!d) {
		rc = -errno;
		log_err("cannot mount on %s: %s", mp, strerror(-rc));
		return rc;
	}
	rc = 0;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			log_err("cannot mount on %s: it is not empty (it holds '%s'); give "
				"-o nonempty to mount over it anyway",
				mp, de->d_name);
			rc = -ENOTEMPTY;
			break;
		}
	closedir(d);
	return rc;
}

int tfs_backend_init(const struct tfs_options *o)
{
	struct tfs_backend b;
	int rc;

	rc = make_local_dirs(o);
	if (rc < 0)
		return rc;
	rc = make_catalog_dir(o);
	if (rc < 0)
		return rc;
	rc = backend_open_checked(o, true, &b);
	if (rc < 0)
		return rc;
	if (o->is_s3)
		log_info("bucket '%s' at %s is usable", o->bucket, b.s3_endpoint);
	else
		log_info("object folder %s/objects is ready", o->source_dir);
	if (o->catalog_kind == TFS_CATALOG_DYNAMODB)
		log_info("catalog table '%s' at %s is ready", o->catalog, b.ddb_endpoint);
	else
		log_info("catalog %s is ready", o->catalog);
	tfs_backend_close(&b);
	return rc;
}
