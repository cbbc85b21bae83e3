/* The object store behind the cache: immutable, content-addressed objects.
 * Back ends: a local directory (store_local.c) and S3 (store_s3.c). Every
 * call returns 0 or a negative errno and logs what failed and why. All
 * back ends are safe to call from several threads at once. */
#ifndef TFS_STORE_H
#define TFS_STORE_H

#include <stdint.h>

struct store;

struct store_info {
	uint64_t size;
	int64_t mtime_ms;
	/* The XXH3-128 hex the store keeps beside the object, read by head
	 * without fetching the bytes (S3: x-amz-meta-xxh3); "" when there is
	 * none to read: the local folder keeps none (its head does not read
	 * the file), and get and list always give "". */
	char hash[32 + 1];
};

struct store_ops {
	/* Uploads size bytes of fd (from offset 0, read with pread: the file
	 * position is not used) under key. hash is the XXH3-128 hex of the
	 * bytes, stored as metadata. Keys are content-addressed, so an
	 * existing object under key should hold these bytes: the back end
	 * may skip the upload (If-None-Match: *) once the object's size and
	 * hash match (S3: its stored hash; other bytes there give -EIO; the
	 * local folder re-hashes the file and replaces a damaged one). */
	int (*put)(struct store *s, const char *key, int fd, uint64_t size, const char *hash);
	/* Downloads key into fd (truncated first, written from offset 0).
	 * -ENOENT if there is no such object. Does not verify the hash: the
	 * caller does. */
	int (*get)(struct store *s, const char *key, int fd, struct store_info *info);
	/* Size, time and stored hash of key without its bytes. -ENOENT if
	 * there is no such object. */
	int (*head)(struct store *s, const char *key, struct store_info *info);
	int (*del)(struct store *s, const char *key);
	/* Lists keys under prefix, one page per call: start with *token NULL;
	 * on return *token is a malloc'ed continuation or NULL at the end.
	 * cb is called for each key; a non-zero return stops the listing and
	 * is returned. */
	int (*list)(struct store *s, const char *prefix, char **token,
		    int (*cb)(void *arg, const char *key, const struct store_info *info),
		    void *arg);
	/* Incomplete multipart uploads under prefix, every page: cb gets the
	 * key, the upload id and when it was started (the store's clock); a
	 * non-zero cb return stops and is returned. NULL in a back end that
	 * makes none (the local folder). */
	int (*list_uploads)(struct store *s, const char *prefix,
			    int (*cb)(void *arg, const char *key, const char *upload_id,
				      int64_t started_ms),
			    void *arg);
	/* Aborts one; one gone already is 0. NULL with list_uploads. */
	int (*abort_upload)(struct store *s, const char *key, const char *upload_id);
	/* Checks the store is there and usable (bucket exists, directory
	 * writable): used at mount and by `tenantfs init`. */
	int (*check)(struct store *s);
	void (*free)(struct store *s);
};

struct store {
	const struct store_ops *ops;
};

/* A local directory store: objects are files under dir, written with
 * write-to-temp + fsync + rename. */
struct store *store_local_new(const char *dir);

struct s3_client;
/* An S3 store over an S3 client (borrowed; must outlive the store). */
struct store *store_s3_new(struct s3_client *client);

static inline void store_free(struct store *s)
{
	if (s)
		s->ops->free(s);
}

#endif
