/* The cache folder's ownership and identity: <cache>/lock (one daemon per
 * cache folder, flock) and <cache>/node (the node identity every lease of
 * this cache is taken under, drawn at its first start). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <unistd.h>

#include "cache/engine/cache_i.h"
#include "cache/engine/identity_i.h"
#include "s3/base/fsutil.h"
#include "s3/base/log.h"
#include "s3/base/parse.h"

/* Writes our pid into the lock file (for the message a second daemon
 * prints); called again after fuse_daemonize() forked. */
void tc_lock_note_pid(struct tcache *tc)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid()), rc;

	if (tc->lock_fd < 0)
		return;
	rc = ftruncate(tc->lock_fd, 0) < 0 ? -errno : 0;
	if (rc == 0)
		rc = fs_write_all(tc->lock_fd, buf, (size_t)n, 0);
	if (rc < 0)
		log_warn("cannot write the pid into %s/lock: %s", tc->cache_dir, strerror(-rc));
}

/* Takes <cache>/lock exclusively, or fails with -EBUSY when another
 * tenantfs holds it: two daemons on one state database and one db/ folder
 * would each take the other's files for stale. flock() belongs to the open
 * file description, so it survives the fork of fuse_daemonize() (a POSIX
 * record lock would not) and goes away with the last process holding it. */
int tc_cache_lock(struct tcache *tc)
{
	char path[PATH_MAX], pid[32];
	size_t got = 0;
	int fd, rc;

	if ((rc = tc_path(path, sizeof(path), "%s/lock", tc->cache_dir)) < 0)
		return rc;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		rc = -errno;
		log_err("cannot open the cache lock %s: %s", path, strerror(-rc));
		return rc;
	}
	do
		rc = flock(fd, LOCK_EX | LOCK_NB);
	while (rc < 0 && errno == EINTR);
	if (rc < 0) {
		rc = -errno;
		if (rc == -EWOULDBLOCK) {
			rc = -EBUSY;
			memset(pid, 0, sizeof(pid));
			fs_read_full(fd, pid, sizeof(pid) - 1, 0, &got);
			pid[strcspn(pid, "\n")] = '\0';
			log_err("cache %s is in use by another tenantfs (pid %s)", tc->cache_dir,
				pid[0] ? pid : "unknown");
		} else {
			log_err("cannot lock the cache %s: %s", path, strerror(-rc));
		}
		close(fd);
		return rc;
	}
	tc->lock_fd = fd;
	tc_lock_note_pid(tc);
	return 0;
}

/* ---- identity --------------------------------------------------------- */

/* The cache's identity, CACHE/node: one line "LABEL~ID", ID being
 * TCACHE_NODE_ID_HEX random hex digits drawn at the cache's first start,
 * LABEL the node= label given then. It is the owner string of every lease
 * this cache takes, so `owner = me` in the catalog matches this cache and
 * no other: two daemons on one host (or cloned machines) share a host name,
 * never a cache folder (cache_lock). The whole line is kept, not just the
 * id: a restart that brings another label (a renamed host) must still own
 * the leases and dirty copies the cache had. */
#define NODE_FILE "node"

static bool valid_label(const char *s, size_t n)
{
	return n > 0 && s[0] != '-' && tfs_valid_name(s, n, TCACHE_LABEL_MAX);
}

/* "LABEL~ID" with a valid label and exactly TCACHE_NODE_ID_HEX lowercase hex digits. */
static bool valid_identity(const char *s)
{
	const char *tilde = strrchr(s, '~');

	return tilde && valid_label(s, (size_t)(tilde - s)) &&
	       strlen(tilde + 1) == TCACHE_NODE_ID_HEX && tfs_is_hex(tilde + 1, TCACHE_NODE_ID_HEX);
}

/* Draws a new identity for label and makes it durable: tmp file, fsync,
 * rename, fsync of the folder (a crash leaves the old state or the new
 * one, never a torn line). */
static int identity_create(struct tcache *tc, const char *path, const char *label, char *out,
			   size_t cap)
{
	unsigned char rnd[TCACHE_NODE_ID_HEX / 2];
	char tmp[PATH_MAX], line[CAT_NODE_MAX + 2];
	size_t got = 0, i;
	ssize_t n;
	int fd, rc;

	while (got < sizeof(rnd)) {
		n = getrandom(rnd + got, sizeof(rnd) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			log_err("cannot draw a node identity for the cache %s: %s", tc->cache_dir,
				strerror(-rc));
			return rc;
		}
		got += (size_t)n;
	}
	if ((rc = tc_path(out, cap, "%s~", label)) < 0)
		return rc;
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(out + strlen(out), cap - strlen(out), "%02x", rnd[i]);
	if ((rc = tc_path(line, sizeof(line), "%s\n", out)) < 0 ||
	    (rc = tc_path(tmp, sizeof(tmp), "%s.tmp", path)) < 0)
		return rc;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		rc = -errno;
		goto fail;
	}
	rc = fs_write_all(fd, line, strlen(line), 0);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	close(fd);
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc == 0)
		rc = fs_fsync_dir(tc->cache_dir);
	if (rc == 0) {
		log_info("cache %s: new node identity %s", tc->cache_dir, out);
		return 0;
	}
fail:
	log_err("cannot write the node identity %s: %s", path, strerror(-rc));
	unlink(tmp);
	return rc;
}

/* Sets tc->node from CACHE/node, creating it at the first start. Called
 * with the cache lock held, so no other daemon races the creation. */
int tc_identity_load(struct tcache *tc, const char *label)
{
	char path[PATH_MAX], buf[CAT_NODE_MAX + 2], id[CAT_NODE_MAX + 1];
	size_t got = 0, len;
	int fd, rc;

	if (!valid_label(label, strlen(label))) {
		log_err("invalid node label '%s': 1-%d characters of A-Z a-z 0-9 . _ -, not "
			"starting with '.' or '-'",
			label, TCACHE_LABEL_MAX);
		return -EINVAL;
	}
	if ((rc = tc_path(path, sizeof(path), "%s/" NODE_FILE, tc->cache_dir)) < 0)
		return rc;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		rc = identity_create(tc, path, label, id, sizeof(id));
		goto done;
	}
	if (fd < 0) {
		rc = -errno;
		log_err("cannot read the node identity %s: %s", path, strerror(-rc));
		return rc;
	}
	memset(buf, 0, sizeof(buf));
	rc = fs_read_full(fd, buf, sizeof(buf) - 1, 0, &got);
	close(fd);
	if (rc < 0) {
		log_err("cannot read the node identity %s: %s", path, strerror(-rc));
		return rc;
	}
	/* one line, no NUL byte, nothing after the newline */
	len = strlen(buf);
	if (len == got && len > 0 && buf[len - 1] == '\n')
		buf[len - 1] = '\0';
	else
		buf[0] = '\0';
	if (!valid_identity(buf)) {
		/* Never replaced silently: a new identity would disown every
		 * lease and dirty copy this cache holds. */
		log_err("the node identity %s is malformed (expected one line LABEL~%d hex "
			"digits); restore it, or remove it to make this cache a new node (leases "
			"it holds are then waited out like another node's)",
			path, TCACHE_NODE_ID_HEX);
		return -EINVAL;
	}
	snprintf(id, sizeof(id), "%s", buf);
	if (strncmp(id, label, strlen(label)) != 0 || id[strlen(label)] != '~')
		log_warn("cache %s keeps the node identity %s of its first start: the label '%s' "
			 "does not rename it",
			 tc->cache_dir, id, label);
done:
	if (rc < 0)
		return rc;
	free(tc->node);
	tc->node = strdup(id);
	return tc->node ? 0 : -ENOMEM;
}

bool tcache_valid_label(const char *label)
{
	return label && valid_label(label, strlen(label));
}

const char *tcache_node(const struct tcache *tc)
{
	return tc->node;
}
