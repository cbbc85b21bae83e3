/* Snapshot, check and hash of one database family for write-back: a copy of
 * the db and its journal or WAL taken under the family's write lock (what a
 * power cut at that instant would leave), recovered and checked by
 * libsqlite3 in a staging folder, and hashed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache/engine/cache_i.h"
#include "cache/engine/snapshot_i.h"
#include "s3/base/fsutil.h"
#include "s3/base/hash.h"
#include "s3/base/log.h"

void tc_clean_dir(const char *dir)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (tc_path(path, sizeof(path), "%s/%s", dir, de->d_name) < 0)
			continue;
		if (unlink(path) < 0 && (errno == EISDIR || errno == EPERM))
			tc_rm_tree(path);
	}
	closedir(d);
}

void tc_rm_tree(const char *dir)
{
	tc_clean_dir(dir);
	rmdir(dir);
}

/* Copies the side file suffix of id into the staging folder if it exists. */
static int copy_side(struct tcache *tc, const char *id, const char *suffix, struct snap *s)
    EXCLUDES(tc->mu)
{
	char src[PATH_MAX], dst[PATH_MAX];
	int in, out = -1, rc;

	tc_db_path(tc, id, suffix, src, sizeof(src));
	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return errno == ENOENT ? 0 : -errno;
	tc_path(dst, sizeof(dst), "%s%s", s->db, suffix);
	out = open(dst, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0) {
		rc = -errno;
		goto out;
	}
	rc = fs_copy_file(in, out, NULL);
out:
	if (out >= 0)
		close(out);
	close(in);
	if (rc < 0)
		log_err("cannot snapshot %s%s: %s", id, suffix, strerror(-rc));
	return rc;
}

int snap_take(struct tcache *tc, struct fam *fam, struct snap *s)
{
	int out = -1, rc, fd;

	memset(s, 0, sizeof(*s));
	tc_path(s->dir, sizeof(s->dir), "%s/%s.%llu", tc->dir_staging, fam->id,
		(unsigned long long)atomic_fetch_add(&tc->seq, 1));
	tc_path(s->db, sizeof(s->db), "%s/%s.db", s->dir, fam->id);
	if (mkdir(s->dir, 0700) < 0) {
		rc = -errno;
		log_err("cannot snapshot %s: mkdir %s: %s", fam->id, s->dir, strerror(-rc));
		s->dir[0] = '\0';
		return rc;
	}
	out = open(s->db, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0) {
		rc = -errno;
		log_err("cannot snapshot %s: %s: %s", fam->id, s->db, strerror(-rc));
		return rc;
	}
	tfs_mutex_lock(&tc->mu);
	fd = fam->fd;
	tfs_mutex_unlock(&tc->mu);

	/* The instant of the copy: no write of the family is in flight. */
	tfs_rwlock_wrlock(&fam->wlock);
	s->seq = atomic_load(&fam->wseq);
	rc = fs_copy_file(fd, out, NULL);
	if (rc < 0)
		log_err("cannot snapshot %s: copy: %s", fam->id, strerror(-rc));
	if (rc == 0)
		rc = copy_side(tc, fam->id, "-journal", s);
	if (rc == 0)
		rc = copy_side(tc, fam->id, "-wal", s);
	tfs_rwlock_unlock(&fam->wlock);
	close(out);
	return rc;
}

static int file_size(const char *path, off_t *size)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -errno;
	*size = st.st_size;
	return 0;
}

/* Opens the staging copy with SQLite (the first read rolls back a hot
 * journal or reads the WAL), runs quick_check, checkpoints a WAL and closes
 * it: 0, or -EIO with s->why saying what failed. */
static int snap_settle(struct snap *s)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	bool wal = false;
	int rc = -EIO;

	if (sqlite3_open_v2(s->db, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		snprintf(s->why, sizeof(s->why), "cannot open snapshot: %s",
			 db ? sqlite3_errmsg(db) : "out of memory");
		goto out;
	}
	if (sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &q, NULL) != SQLITE_OK ||
	    sqlite3_step(q) != SQLITE_ROW) {
		snprintf(s->why, sizeof(s->why), "quick_check: %s", sqlite3_errmsg(db));
		goto out;
	}
	if (strcmp((const char *)sqlite3_column_text(q, 0), "ok") != 0) {
		snprintf(s->why, sizeof(s->why), "quick_check: %s",
			 (const char *)sqlite3_column_text(q, 0));
		goto out;
	}
	sqlite3_finalize(q);
	q = NULL;
	if (sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL) == SQLITE_OK &&
	    sqlite3_step(q) == SQLITE_ROW)
		wal = strcmp((const char *)sqlite3_column_text(q, 0), "wal") == 0;
	sqlite3_finalize(q);
	q = NULL;
	if (wal &&
	    sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(s->why, sizeof(s->why), "wal checkpoint: %s", sqlite3_errmsg(db));
		goto out;
	}
	if (sqlite3_close(db) != SQLITE_OK) {
		snprintf(s->why, sizeof(s->why), "close: %s", sqlite3_errmsg(db));
		goto out;
	}
	db = NULL;
	rc = 0;
out:
	sqlite3_finalize(q);
	if (db)
		sqlite3_close(db);
	return rc;
}

/* The settled staging copy must be one self-contained file: no WAL left
 * (side files removed), then its hash and size. 0 or -errno with s->why. */
static int snap_seal(struct snap *s)
{
	char side[PATH_MAX];
	off_t wsize = 0;
	int fd, rc;

	tc_path(side, sizeof(side), "%s-wal", s->db);
	if (file_size(side, &wsize) == 0 && wsize > 0) {
		snprintf(s->why, sizeof(s->why), "wal not checkpointed (%lld bytes left)",
			 (long long)wsize);
		return -EIO;
	}
	unlink(side);
	tc_path(side, sizeof(side), "%s-shm", s->db);
	unlink(side);
	tc_path(side, sizeof(side), "%s-journal", s->db);
	unlink(side);

	fd = open(s->db, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		snprintf(s->why, sizeof(s->why), "cannot reopen snapshot: %s", strerror(-rc));
		return rc;
	}
	rc = tfs_hash_fd(fd, s->hash, &s->size);
	if (rc < 0)
		snprintf(s->why, sizeof(s->why), "cannot hash snapshot: %s", strerror(-rc));
	close(fd);
	return rc;
}

/* The check of a staging copy before it is uploaded: settled by SQLite,
 * then sealed (one file, hashed). 0, or -errno logged with the reason. */
int snap_check(struct tcache *tc, const char *id, struct snap *s)
{
	int rc;

	s->why[0] = '\0';
	rc = snap_settle(s);
	if (rc == 0)
		rc = snap_seal(s);
	if (s->why[0]) {
		log_err("write-back of %s refused: %s", id, s->why);
		if (rc == 0)
			rc = -EIO;
	}
	return rc;
}

void snap_drop(struct snap *s)
{
	if (s->dir[0])
		tc_rm_tree(s->dir);
	s->dir[0] = '\0';
}
