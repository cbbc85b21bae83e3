/* Building the storage behind a mount from its SOURCE and options: the
 * object store (local directory or S3), the catalog (local SQLite or
 * DynamoDB), and the AWS plumbing they need; plus `tenantfs init`. */
#ifndef TFS_FUSE_SETUP_H
#define TFS_FUSE_SETUP_H

#include "fuse/options.h"

struct cred_provider;
struct http_client;
struct s3_client;
struct ddb_client;
struct store;
struct catalog;

/* Everything built for one mount; each member may be NULL when the
 * SOURCE and catalog do not need it. Owned by the struct. */
struct tfs_backend {
	struct cred_provider *creds;
	struct http_client *http;
	struct s3_client *s3;
	struct ddb_client *ddb;
	struct store *store;
	struct catalog *cat;
	char *region;	    /* resolved, when AWS is used */
	char *s3_endpoint;  /* resolved, when the store is S3 */
	char *ddb_endpoint; /* resolved, when the catalog is DynamoDB */
	char *ca_file;	    /* AWS_CA_BUNDLE or the profile's ca_bundle; NULL: the system's */
};

/* Builds the back ends without any network request. quick: an HTTP
 * client with a short retry budget, for checks that must fail promptly.
 * 0 or a negative errno (logged). */
int tfs_backend_open(const struct tfs_options *o, int quick, struct tfs_backend *b);
void tfs_backend_close(struct tfs_backend *b);

/* Mount-time checks, before the daemon forks: the store and the catalog
 * exist and answer. Nothing is created: a directory SOURCE must hold a
 * store (SOURCE/objects) and a local catalog file must exist, both made by
 * `tenantfs init`. Logs what is wrong and what to do; 0 or a negative
 * errno. */
int tfs_backend_check(const struct tfs_options *o);

/* The mount point, before anything is created or mounted: a directory
 * that is neither the store, the cache nor inside them, holds none of them
 * nor any other tenantfs store, and is empty unless -o nonempty. Logs why;
 * 0 or a negative errno. */
int tfs_check_mountpoint(const struct tfs_options *o);

/* `tenantfs init`: creates the local folders and catalog, or the DynamoDB
 * table, and checks the bucket (it is not created: the message says how).
 * 0 or a negative errno. */
int tfs_backend_init(const struct tfs_options *o);

/* Request counters of the HTTP client (zeros without one). */
struct http_stats;
void tfs_backend_http_stats(const struct tfs_backend *b, struct http_stats *out);

#endif
