/* The object store on S3: store_ops over the S3 client (s3/wire/s3.h). Keys
 * are content-addressed, so uploads are conditional (If-None-Match: *) and
 * an object already there counts as uploaded once its size and hash say it
 * holds these bytes. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache/store/store.h"
#include "s3/base/log.h"
#include "s3/wire/s3.h"

struct store_s3 {
	struct store base;
	struct s3_client *client; /* borrowed; thread-safe itself, no lock here */
};

static struct s3_client *client_of(struct store *s)
{
	return ((struct store_s3 *)s)->client;
}

/* The upload of key was refused because an object is there (412 to
 * If-None-Match: *). It counts as uploaded only if that object is ours:
 * the size and the XXH3-128 stored as x-amz-meta-xxh3 (an ETag is no
 * content hash for multipart or SSE-KMS objects) match. 0, -EIO (logged)
 * when they differ, or the HEAD's -errno. */
static int existing_matches(struct store *s, const char *key, uint64_t size, const char *hash)
{
	struct s3_object_info oi;
	struct wire_error err;
	enum wire_status st;

	st = s3_head(client_of(s), key, &oi, &err);
	if (st != WIRE_OK) {
		log_err("cannot upload '%s': an object is there but cannot be checked: %s", key,
			st == WIRE_NOT_FOUND ? "gone since" : err.message);
		return st == WIRE_NOT_FOUND ? -EIO : wire_status_errno(st);
	}
	if (oi.size != size) {
		log_err("cannot upload '%s': another object is there: %" PRIu64
			" bytes, not %" PRIu64,
			key, oi.size, size);
		return -EIO;
	}
	if (!hash || strcmp(oi.meta_hash, hash) != 0) {
		log_err("cannot upload '%s': another object is there: hash '%s', not '%s'", key,
			oi.meta_hash[0] ? oi.meta_hash : "(none)", hash ? hash : "(none)");
		return -EIO;
	}
	return 0;
}

static int s3s_put(struct store *s, const char *key, int fd, uint64_t size, const char *hash)
{
	struct s3_put_options opt = {.meta_xxh3 = hash, .if_none_match = 1};
	struct wire_error err;
	enum wire_status st;
	int rc;

	st = s3_put_file(client_of(s), key, fd, size, &opt, NULL, &err);
	if (st == WIRE_PRECONDITION) {
		/* Same key: someone (maybe we, before a crash) uploaded these
		 * bytes already, if the object says so. */
		rc = existing_matches(s, key, size, hash);
		if (rc < 0)
			return rc;
		log_debug("upload of '%s' skipped: object already there", key);
		return 0;
	}
	if (st != WIRE_OK) {
		log_err("cannot upload '%s': %s", key, err.message);
		return wire_status_errno(st);
	}
	return 0;
}

static int s3s_get(struct store *s, const char *key, int fd, struct store_info *info)
{
	struct s3_object_info oi;
	struct wire_error err;
	enum wire_status st;
	int rc;

	do
		rc = ftruncate(fd, 0);
	while (rc < 0 && errno == EINTR);
	if (rc < 0) {
		rc = -errno;
		log_err("cannot download '%s': cannot truncate the target file: %s", key,
			strerror(-rc));
		return rc;
	}
	st = s3_get_to_file(client_of(s), key, fd, 0, 0, NULL, &oi, &err);
	if (st != WIRE_OK) {
		/* A missing object is an answer, not an error worth a log line. */
		if (st != WIRE_NOT_FOUND)
			log_err("cannot download '%s': %s", key, err.message);
		return wire_status_errno(st);
	}
	if (info) {
		info->size = oi.size;
		info->mtime_ms = oi.mtime_ms;
		info->hash[0] = '\0';
	}
	return 0;
}

static int s3s_head(struct store *s, const char *key, struct store_info *info)
{
	struct s3_object_info oi;
	struct wire_error err;
	enum wire_status st;

	st = s3_head(client_of(s), key, &oi, &err);
	if (st != WIRE_OK) {
		if (st != WIRE_NOT_FOUND)
			log_err("cannot stat '%s': %s", key, err.message);
		return wire_status_errno(st);
	}
	if (info) {
		info->size = oi.size;
		info->mtime_ms = oi.mtime_ms;
		/* written by s3s_put; any other length is no hash of ours */
		if (strlen(oi.meta_hash) == sizeof(info->hash) - 1)
			memcpy(info->hash, oi.meta_hash, sizeof(info->hash));
		else
			info->hash[0] = '\0';
	}
	return 0;
}

static int s3s_del(struct store *s, const char *key)
{
	struct wire_error err;
	enum wire_status st = s3_delete(client_of(s), key, &err);

	if (st != WIRE_OK) {
		log_err("cannot delete '%s': %s", key, err.message);
		return wire_status_errno(st);
	}
	return 0;
}

static int s3s_list(struct store *s, const char *prefix, char **token,
		    int (*cb)(void *arg, const char *key, const struct store_info *info), void *arg)
{
	struct s3_list_page page;
	struct store_info si;
	struct wire_error err;
	enum wire_status st;
	size_t i;
	int rc = 0;

	st = s3_list_page(client_of(s), prefix, *token, 0, &page, &err);
	if (st != WIRE_OK) {
		log_err("cannot list '%s': %s", prefix ? prefix : "", err.message);
		rc = wire_status_errno(st);
		goto out;
	}
	for (i = 0; i < page.n; i++) {
		si.size = page.entries[i].size;
		si.mtime_ms = page.entries[i].mtime_ms;
		si.hash[0] = '\0';
		rc = cb(arg, page.entries[i].key, &si);
		if (rc)
			goto out;
	}
	free(*token);
	/* Ownership of the continuation moves to the caller. */
	*token = page.next;
	page.next = NULL;
out:
	s3_list_page_free(&page);
	return rc;
}

static int s3s_list_uploads(struct store *s, const char *prefix,
			    int (*cb)(void *arg, const char *key, const char *upload_id,
				      int64_t started_ms),
			    void *arg)
{
	struct s3_upload_page page = {0};
	struct wire_error err;
	char *km = NULL, *um = NULL;
	enum wire_status st;
	size_t i;
	int rc = 0;

	do {
		st = s3_list_uploads_page(client_of(s), prefix, km, um, &page, &err);
		free(km);
		free(um);
		km = um = NULL;
		if (st != WIRE_OK) {
			log_err("cannot list the multipart uploads under '%s': %s",
				prefix ? prefix : "", err.message);
			rc = wire_status_errno(st);
			break;
		}
		for (i = 0; rc == 0 && i < page.n; i++)
			rc = cb(arg, page.v[i].key, page.v[i].upload_id, page.v[i].initiated_ms);
		km = page.next_key;
		um = page.next_upload_id;
		page.next_key = page.next_upload_id = NULL;
		s3_upload_page_free(&page);
	} while (rc == 0 && km);
	free(km);
	free(um);
	s3_upload_page_free(&page);
	return rc;
}

static int s3s_abort_upload(struct store *s, const char *key, const char *upload_id)
{
	struct wire_error err;
	enum wire_status st = s3_abort_upload(client_of(s), key, upload_id, &err);

	if (st != WIRE_OK) {
		log_err("cannot abort the multipart upload of '%s': %s", key, err.message);
		return wire_status_errno(st);
	}
	return 0;
}

static int s3s_check(struct store *s)
{
	struct wire_error err;
	enum wire_status st = s3_head_bucket(client_of(s), &err);

	if (st != WIRE_OK) {
		log_err("cannot use the bucket: %s", err.message);
		return wire_status_errno(st);
	}
	return 0;
}

static void s3s_free(struct store *s)
{
	free(s);
}

static const struct store_ops s3_store_ops = {
    .put = s3s_put,
    .get = s3s_get,
    .head = s3s_head,
    .del = s3s_del,
    .list = s3s_list,
    .list_uploads = s3s_list_uploads,
    .abort_upload = s3s_abort_upload,
    .check = s3s_check,
    .free = s3s_free,
};

struct store *store_s3_new(struct s3_client *client)
{
	struct store_s3 *s;

	if (!client)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->base.ops = &s3_store_ops;
	s->client = client;
	return &s->base;
}
