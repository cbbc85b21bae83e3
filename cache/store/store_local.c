/* The embedded object store: each object is a file <dir>/objects/<key>,
 * written to a temp file in the same folder, fsynced and renamed into place
 * (then the folder is fsynced), so a crash leaves either the whole object
 * or none. Keys are content-addressed: an existing object is never
 * rewritten. */
#include "cache/store/store.h"

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

#include "cache/store/keys.h"
#include "s3/base/fsutil.h"
#include "s3/base/hash.h"
#include "s3/base/log.h"
#include "s3/base/page.h"

#define LIST_PAGE      1000
#define LIST_DEPTH_MAX 32
#define TMP_PREFIX     ".tfs-tmp-"

/* No mutable state: every field is set in store_local_new and only read
 * afterwards, so calls from several threads need no lock. Concurrent puts
 * of one key each write their own temp file; the renames are atomic. */
struct store_local {
	struct store base;
	char *dir;  /* the store's folder, as given */
	char *objs; /* <dir>/objects */
};

static struct store_local *sl_of(struct store *s)
{
	return (struct store_local *)s;
}

static int64_t st_mtime_ms(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000;
}

/* A key is one or more '/'-separated segments, none empty, "." or "..",
 * none one of our temp names, and no leading or trailing '/'. prefix
 * allows an empty string and a trailing '/' (or partial last segment). */
static bool key_ok(const char *key, bool prefix)
{
	const char *seg = key;
	size_t len;

	if (!key)
		return false;
	len = strnlen(key, KEY_MAX + 1);
	if (len > KEY_MAX || (!prefix && len == 0))
		return false;
	while (*seg) {
		size_t n = strcspn(seg, "/");
		bool last = seg[n] == '\0';

		if (n == 0 && !(prefix && last))
			return false; /* leading '/' or "//" */
		if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return false;
		if (n >= strlen(TMP_PREFIX) && strncmp(seg, TMP_PREFIX, strlen(TMP_PREFIX)) == 0)
			return false;
		if (last)
			break;
		seg += n + 1;
		if (!*seg && !prefix)
			return false; /* trailing '/' */
	}
	return true;
}

static char *join(const char *a, const char *b)
{
	char *p = NULL;

	if (asprintf(&p, "%s/%s", a, b) < 0)
		return NULL;
	return p;
}

/* The file of key's object: 0 with *path malloc'ed, -EINVAL for a key
 * key_ok refuses, or -ENOMEM. */
static int obj_path(const struct store_local *sl, const char *key, char **path)
{
	if (!key_ok(key, false))
		return -EINVAL;
	*path = join(sl->objs, key);
	return *path ? 0 : -ENOMEM;
}

/* fsyncs every folder from the parent of path up to and including stop,
 * so newly created sub-folders are durable too. */
static int fsync_up(const char *path, const char *stop)
{
	char *p = strdup(path), *slash;
	size_t stop_len = strlen(stop);
	int rc = 0;

	if (!p)
		return -ENOMEM;
	while ((slash = strrchr(p, '/')) && (size_t)(slash - p) >= stop_len) {
		*slash = '\0';
		rc = fs_fsync_dir(p);
		if (rc < 0)
			break;
	}
	free(p);
	return rc;
}

/* ---- put / get / head / del ----------------------------------------- */

/* 1 if the file at path hashes to hash, 0 if not, or -errno. */
static int same_hash(const char *path, const char *hash)
{
	char got[TFS_HASH_HEX + 1];
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = tfs_hash_fd(fd, got, NULL);
	close(fd);
	if (rc < 0)
		return rc;
	return strcmp(got, hash) == 0;
}

/* Long because the crash-safe write (temp file, copy, fsync, rename, directory fsync) and the
 * content-addressed short cut are one sequence with one cleanup exit. */
static int sl_put(struct store *s, const char *key, int fd, uint64_t size, const char *hash)
{
	struct store_local *sl = sl_of(s);
	char *path = NULL, *folder = NULL, *tmp = NULL, *slash;
	bool new_folder = false;
	struct stat st;
	uint64_t copied = 0;
	int tfd = -1, rc;

	rc = obj_path(sl, key, &path);
	if (rc < 0)
		return rc;
	rc = -ENOMEM;
	folder = strdup(path);
	if (!folder)
		goto out;
	slash = strrchr(folder, '/');
	*slash = '\0';
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
		/* Content-addressed: the bytes are already there, unless the
		 * size or (when the caller names it) the hash says the file
		 * was damaged; then it is replaced below (rename over it is
		 * atomic, and our bytes are by definition the key's). */
		if ((uint64_t)st.st_size == size) {
			rc = hash ? same_hash(path, hash) : 1;
			if (rc > 0) {
				rc = 0;
				goto out;
			}
			if (rc < 0) {
				log_err(
				    "store %s: cannot put '%s': cannot read the object there: %s",
				    sl->dir, key, strerror(-rc));
				goto out;
			}
			log_warn("store %s: object '%s' does not hash to %s: replacing it", sl->dir,
				 key, hash);
		} else {
			log_warn(
			    "store %s: object '%s' has %lld bytes instead of %llu: replacing it",
			    sl->dir, key, (long long)st.st_size, (unsigned long long)size);
		}
	}
	if (stat(folder, &st) < 0) {
		new_folder = true;
		rc = fs_mkdir_p(folder, 0755);
		if (rc < 0) {
			log_err("store %s: cannot put '%s': cannot create folder: %s", sl->dir, key,
				strerror(-rc));
			goto out;
		}
	}
	if (asprintf(&tmp, "%s/" TMP_PREFIX "XXXXXX", folder) < 0) {
		tmp = NULL;
		rc = -ENOMEM;
		goto out;
	}
	tfd = mkostemp(tmp, O_CLOEXEC);
	if (tfd < 0) {
		rc = -errno;
		log_err("store %s: cannot put '%s': cannot create temp file: %s", sl->dir, key,
			strerror(-rc));
		free(tmp);
		tmp = NULL;
		goto out;
	}
	rc = fs_copy_file(fd, tfd, &copied);
	if (rc == 0 && copied < size)
		rc = -EIO; /* the source is shorter than promised */
	if (rc == 0 && copied > size) {
		while ((rc = ftruncate(tfd, (off_t)size)) < 0 && errno == EINTR)
			;
		if (rc < 0)
			rc = -errno;
	}
	if (rc < 0) {
		log_err("store %s: cannot put '%s': copy of %llu bytes failed (got %llu): %s",
			sl->dir, key, (unsigned long long)size, (unsigned long long)copied,
			strerror(-rc));
		goto out;
	}
	if (fchmod(tfd, 0444) < 0 || fsync(tfd) < 0) {
		rc = -errno;
		log_err("store %s: cannot put '%s': cannot sync temp file: %s", sl->dir, key,
			strerror(-rc));
		goto out;
	}
	if (rename(tmp, path) < 0) {
		rc = -errno;
		log_err("store %s: cannot put '%s': rename failed: %s", sl->dir, key,
			strerror(-rc));
		goto out;
	}
	free(tmp);
	tmp = NULL;
	rc = new_folder ? fsync_up(path, sl->dir) : fs_fsync_dir(folder);
	if (rc < 0)
		log_err("store %s: cannot put '%s': cannot sync folder: %s", sl->dir, key,
			strerror(-rc));
	else
		log_debug("store %s: put '%s' (%llu bytes, hash %s)", sl->dir, key,
			  (unsigned long long)size, hash ? hash : "-");
out:
	if (tfd >= 0)
		close(tfd);
	if (tmp)
		unlink(tmp);
	free(tmp);
	free(folder);
	free(path);
	return rc;
}

static int sl_get(struct store *s, const char *key, int fd, struct store_info *info)
{
	struct store_local *sl = sl_of(s);
	char *path = NULL;
	struct stat st;
	uint64_t size = 0;
	int src = -1, rc;

	rc = obj_path(sl, key, &path);
	if (rc < 0)
		return rc;
	do
		src = open(path, O_RDONLY | O_CLOEXEC);
	while (src < 0 && errno == EINTR);
	if (src < 0) {
		rc = errno == ENOTDIR ? -ENOENT : -errno;
		if (rc != -ENOENT)
			log_err("store %s: cannot get '%s': %s", sl->dir, key, strerror(-rc));
		goto out;
	}
	if (fstat(src, &st) < 0 || !S_ISREG(st.st_mode)) {
		rc = -ENOENT; /* a folder of keys is not an object */
		goto out;
	}
	rc = fs_copy_file(src, fd, &size);
	if (rc < 0) {
		log_err("store %s: cannot get '%s': copy failed: %s", sl->dir, key, strerror(-rc));
		goto out;
	}
	if (info) {
		info->size = size;
		info->mtime_ms = st_mtime_ms(&st);
		info->hash[0] = '\0';
	}
out:
	if (src >= 0)
		close(src);
	free(path);
	return rc;
}

static int sl_head(struct store *s, const char *key, struct store_info *info)
{
	struct store_local *sl = sl_of(s);
	struct stat st;
	char *path;
	int rc;

	rc = obj_path(sl, key, &path);
	if (rc < 0)
		return rc;
	if (stat(path, &st) < 0)
		rc = errno == ENOTDIR ? -ENOENT : -errno;
	else if (!S_ISREG(st.st_mode))
		rc = -ENOENT;
	if (rc == 0 && info) {
		info->size = (uint64_t)st.st_size;
		info->mtime_ms = st_mtime_ms(&st);
		info->hash[0] = '\0';
	}
	if (rc < 0 && rc != -ENOENT)
		log_err("store %s: cannot head '%s': %s", sl->dir, key, strerror(-rc));
	free(path);
	return rc;
}

static int sl_del(struct store *s, const char *key)
{
	struct store_local *sl = sl_of(s);
	char *path, *slash;
	struct stat st;
	int rc;

	rc = obj_path(sl, key, &path);
	if (rc < 0)
		return rc;
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
		rc = -ENOENT;
	else if (unlink(path) < 0)
		rc = errno == ENOTDIR ? -ENOENT : -errno;
	if (rc == 0) {
		/* Empty folders are left behind: removing them would race
		 * with a put creating a file in them. */
		slash = strrchr(path, '/');
		*slash = '\0';
		rc = fs_fsync_dir(path);
	}
	if (rc < 0 && rc != -ENOENT)
		log_err("store %s: cannot delete '%s': %s", sl->dir, key, strerror(-rc));
	free(path);
	return rc;
}

/* ---- list ------------------------------------------------------------ */

struct list_ent {
	char *key;
	struct store_info info;
};

struct list_acc {
	struct list_ent *v;
	size_t n, cap;
	const char *prefix;
	const char *after; /* only keys > after; "" for all */
};

static int acc_push(struct list_acc *a, const char *key, const struct stat *st)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 256;
		struct list_ent *v = realloc(a->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n].key = strdup(key);
	if (!a->v[a->n].key)
		return -ENOMEM;
	a->v[a->n].info.size = (uint64_t)st->st_size;
	a->v[a->n].info.mtime_ms = st_mtime_ms(st);
	a->v[a->n].info.hash[0] = '\0';
	a->n++;
	return 0;
}

/* Walks folder dfd whose keys start with base ("" or "a/b/"), collecting
 * regular files whose key starts with the prefix and sorts after the
 * token. Takes ownership of dfd. */
static int walk(int dfd, const char *base, struct list_acc *a, int depth)
{
	DIR *d = fdopendir(dfd);
	struct dirent *e;
	size_t plen = strlen(a->prefix), blen = strlen(base);
	char key[KEY_MAX + 2];
	int rc = 0;

	if (!d) {
		rc = -errno;
		close(dfd);
		return rc;
	}
	while (rc == 0) {
		struct stat st;
		size_t klen, cmp;

		errno = 0;
		e = readdir(d);
		if (!e) {
			rc = errno ? -errno : 0;
			break;
		}
		if (e->d_name[0] == '.' && (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
					    !strncmp(e->d_name, TMP_PREFIX, strlen(TMP_PREFIX))))
			continue;
		if (blen + strlen(e->d_name) + 1 > KEY_MAX)
			continue;
		klen = (size_t)snprintf(key, sizeof(key), "%s%s", base, e->d_name);
		/* Prune: the key so far must agree with the prefix. */
		cmp = klen < plen ? klen : plen;
		if (strncmp(key, a->prefix, cmp) != 0)
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue; /* vanished meanwhile (concurrent delete) */
		if (S_ISDIR(st.st_mode)) {
			int sub;

			if (depth >= LIST_DEPTH_MAX)
				continue;
			sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (sub < 0)
				continue;
			key[klen] = '/';
			key[klen + 1] = '\0';
			rc = walk(sub, key, a, depth + 1);
		} else if (S_ISREG(st.st_mode) && klen >= plen && strcmp(key, a->after) > 0) {
			rc = acc_push(a, key, &st);
		}
	}
	closedir(d);
	return rc;
}

static int ent_cmp(const void *x, const void *y)
{
	return strcmp(((const struct list_ent *)x)->key, ((const struct list_ent *)y)->key);
}

static int sl_list(struct store *s, const char *prefix, char **token,
		   int (*cb)(void *arg, const char *key, const struct store_info *info), void *arg)
{
	struct store_local *sl = sl_of(s);
	struct list_acc a = {.prefix = prefix ? prefix : "", .after = *token ? *token : ""};
	char *next = NULL, *start = NULL;
	const char *slash;
	size_t i, n;
	int dfd, rc;

	if (!key_ok(a.prefix, true))
		return -EINVAL;
	/* Start at the deepest folder the prefix names completely. */
	slash = strrchr(a.prefix, '/');
	n = slash ? (size_t)(slash - a.prefix) + 1 : 0;
	if (asprintf(&start, "%s/%.*s", sl->objs, (int)n, a.prefix) < 0)
		return -ENOMEM;
	dfd = open(start, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		rc = (errno == ENOENT || errno == ENOTDIR) ? 0 : -errno;
		if (rc < 0)
			log_err("store %s: cannot list '%s': %s", sl->dir, a.prefix, strerror(-rc));
		free(start);
		free(*token);
		*token = NULL;
		return rc;
	}
	{
		char base[KEY_MAX + 2];

		snprintf(base, sizeof(base), "%.*s", (int)n, a.prefix);
		rc = walk(dfd, base, &a, 0);
	}
	if (rc < 0) {
		log_err("store %s: cannot list '%s': %s", sl->dir, a.prefix, strerror(-rc));
		goto out;
	}
	if (a.n) /* a.v is NULL for an empty folder: qsort must not get it */
		qsort(a.v, a.n, sizeof(*a.v), ent_cmp);
	n = a.n < LIST_PAGE ? a.n : LIST_PAGE;
	if (a.n > LIST_PAGE) {
		next = strdup(a.v[n - 1].key);
		if (!next) {
			rc = -ENOMEM;
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		rc = cb(arg, a.v[i].key, &a.v[i].info);
		if (rc)
			break;
	}
	tfs_page_next(token, next, rc);
out:
	for (i = 0; i < a.n; i++)
		free(a.v[i].key);
	free(a.v);
	free(start);
	return rc;
}

/* ---- check / free / new ---------------------------------------------- */

static int sl_check(struct store *s)
{
	struct store_local *sl = sl_of(s);
	struct stat st;
	char *tmp = NULL;
	int rc = 0, fd;

	if (stat(sl->dir, &st) < 0)
		rc = -errno;
	else if (!S_ISDIR(st.st_mode))
		rc = -ENOTDIR;
	if (rc < 0) {
		log_err("store %s: not usable: %s", sl->dir, strerror(-rc));
		return rc;
	}
	rc = fs_mkdir_p(sl->objs, 0755);
	if (rc < 0) {
		log_err("store %s: cannot create objects folder: %s", sl->dir, strerror(-rc));
		return rc;
	}
	/* access(2) checks permission bits, which root passes: really write. */
	if (asprintf(&tmp, "%s/" TMP_PREFIX "XXXXXX", sl->objs) < 0)
		return -ENOMEM;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		log_err("store %s: objects folder is not writable: %s", sl->dir, strerror(-rc));
	} else {
		close(fd);
		unlink(tmp);
	}
	free(tmp);
	return rc;
}

static void sl_free(struct store *s)
{
	struct store_local *sl = sl_of(s);

	if (!sl)
		return;
	free(sl->dir);
	free(sl->objs);
	free(sl);
}

static const struct store_ops store_local_ops = {
    .put = sl_put,
    .get = sl_get,
    .head = sl_head,
    .del = sl_del,
    .list = sl_list,
    .check = sl_check,
    .free = sl_free,
};

struct store *store_local_new(const char *dir)
{
	struct store_local *sl;

	if (!dir || !*dir) {
		log_err("store: cannot open a local store without a folder");
		return NULL;
	}
	sl = calloc(1, sizeof(*sl));
	if (!sl)
		goto oom;
	sl->base.ops = &store_local_ops;
	sl->dir = strdup(dir);
	/* Trailing slashes would double up in every path. */
	while (sl->dir && strlen(sl->dir) > 1 && sl->dir[strlen(sl->dir) - 1] == '/')
		sl->dir[strlen(sl->dir) - 1] = '\0';
	sl->objs = sl->dir ? join(sl->dir, "objects") : NULL;
	if (!sl->objs)
		goto oom;
	return &sl->base;
oom:
	log_err("store %s: cannot open: out of memory", dir);
	if (sl)
		sl_free(&sl->base);
	return NULL;
}
