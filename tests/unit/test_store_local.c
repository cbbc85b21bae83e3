/* Unit tests of the local directory store: put/get/head/del round trips
 * with sub-folders, content-addressed skip, key validation, sorted paged
 * listing with prefixes, check, concurrent puts, and no temp files left. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache/store/store.h"
#include "s3/base/fsutil.h"
#include "s3/base/hash.h"
#include "tests/unit/tap.h"

static char root[64];

static int mem_fd(const void *buf, size_t n)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/scratch-XXXXXX", root);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return -1;
	unlink(path);
	if (n && fs_write_all(fd, buf, n, 0) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int fd_equals(int fd, const void *buf, size_t n)
{
	char *got = malloc(n + 1);
	size_t g = 0;
	int same =
	    got && fs_read_full(fd, got, n + 1, 0, &g) == 0 && g == n && memcmp(got, buf, n) == 0;

	free(got);
	return same;
}

struct listing {
	char keys[3000][64];
	int n;
	int stop_at;
	int sorted;
	uint64_t size_sum;
};

static int list_cb(void *arg, const char *key, const struct store_info *info)
{
	struct listing *l = arg;

	if (l->n > 0 && strcmp(l->keys[l->n - 1], key) >= 0)
		l->sorted = 0;
	if (l->n < 3000)
		snprintf(l->keys[l->n], sizeof(l->keys[0]), "%s", key);
	l->n++;
	l->size_sum += info->size;
	if (l->stop_at && l->n == l->stop_at)
		return 7;
	return 0;
}

static int list_all(struct store *s, const char *prefix, struct listing *l, int *pages)
{
	char *token = NULL;
	int rc;

	memset(l, 0, sizeof(*l));
	l->sorted = 1;
	*pages = 0;
	do {
		rc = s->ops->list(s, prefix, &token, list_cb, l);
		(*pages)++;
	} while (rc == 0 && token && *pages < 100);
	free(token);
	return rc;
}

static int count_tmp_files(const char *dir)
{
	char cmd[400];
	FILE *p;
	int n = -1;

	snprintf(cmd, sizeof(cmd), "find '%s' -name '.tfs-tmp-*' | wc -l", dir);
	p = popen(cmd, "r");
	if (p) {
		if (fscanf(p, "%d", &n) != 1)
			n = -1;
		pclose(p);
	}
	return n;
}

struct putter {
	struct store *s;
	int fd;
	int fails;
};

static void *put_thread(void *arg)
{
	struct putter *p = arg;
	char key[64];
	int i;

	/* Every thread writes the same 40 keys: they must all succeed. */
	for (i = 0; i < 40; i++) {
		snprintf(key, sizeof(key), "race/%02d/obj.db", i);
		if (p->s->ops->put(p->s, key, p->fd, 5000, NULL) != 0)
			p->fails++;
	}
	return NULL;
}

int main(void)
{
	static struct listing l;
	static char big[3u << 20];
	struct store_info info;
	struct store *s;
	struct putter pt[4];
	pthread_t th[4];
	char path[256], key[128], h[TFS_HASH_HEX + 1];
	struct stat st;
	size_t i;
	int fd, out, rc, pages, fails = 0;
	const char *bad[] = {"",       "/abs",	"a//b", "a/",	"..",
			     "a/../b", "a/./b", ".",	"../x", "x/.tfs-tmp-abc"};

	/* TFS_TEST_REFLINK_DIR: run on a filesystem that clones (see test_fsutil). */
	snprintf(root, sizeof(root), "%s/tfs-store-XXXXXX",
		 getenv("TFS_TEST_REFLINK_DIR") ? getenv("TFS_TEST_REFLINK_DIR") : "/tmp");
	if (!mkdtemp(root)) {
		printf("not ok - cannot make a temp dir\n");
		return 1;
	}
	for (i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 13 + (i >> 10));
	snprintf(path, sizeof(path), "%s/store/", root);
	mkdir(path, 0755);
	s = store_local_new(path);
	TAP_OK(s != NULL, "store_local_new");
	rc = s->ops->check(s);
	TAP_OK(rc == 0, "check of a writable folder passes (rc %d)", rc);

	/* round trip of a 3 MiB object into a sub-folder key */
	tfs_hash_buf(big, sizeof(big), h);
	snprintf(key, sizeof(key), "pfx/ab/user-1/%s.db", h);
	fd = mem_fd(big, sizeof(big));
	lseek(fd, 100, SEEK_SET); /* put must not depend on the position */
	rc = s->ops->put(s, key, fd, sizeof(big), h);
	TAP_OK(rc == 0, "put of 3 MiB under a nested key (rc %d)", rc);
	snprintf(path, sizeof(path), "%s/store/objects/%s", root, key);
	TAP_OK(stat(path, &st) == 0 && (size_t)st.st_size == sizeof(big),
	       "object file is at <dir>/objects/<key>");
	out = mem_fd("stale content that get must truncate", 36);
	memset(&info, 0, sizeof(info));
	rc = s->ops->get(s, key, out, &info);
	TAP_OK(rc == 0 && info.size == sizeof(big) && info.mtime_ms > 0,
	       "get returns 0 and the size (rc %d size %llu)", rc, (unsigned long long)info.size);
	TAP_OK(fd_equals(out, big, sizeof(big)), "get writes the exact bytes");
	close(out);
	memset(&info, 0, sizeof(info));
	rc = s->ops->head(s, key, &info);
	TAP_OK(rc == 0 && info.size == sizeof(big), "head gives the size (rc %d)", rc);

	/* a second put of the same key is skipped (content-addressed) */
	stat(path, &st);
	{
		struct stat st2;
		int other;

		/* Same size, other bytes: a put must not even look at them. */
		big[0] ^= 1;
		other = mem_fd(big, sizeof(big));
		big[0] ^= 1;
		rc = s->ops->put(s, key, other, sizeof(big), NULL);
		TAP_OK(rc == 0 && stat(path, &st2) == 0 && st2.st_ino == st.st_ino &&
			   st2.st_size == st.st_size,
		       "put of an existing key leaves the object alone (rc %d)", rc);
		close(other);
	}

	/* a damaged object (wrong size for its key) is replaced by a put */
	snprintf(path, sizeof(path), "%s/store/objects/%s", root, key);
	rc = truncate(path, 1234);
	rc |= s->ops->put(s, key, fd, sizeof(big), h);
	TAP_OK(rc == 0 && stat(path, &st) == 0 && (size_t)st.st_size == sizeof(big),
	       "put replaces an object whose size is wrong (rc %d)", rc);

	/* a damaged object of the right size is replaced when the caller
	 * names the hash (a put without one cannot tell, see above) */
	{
		int dmg;

		big[7] ^= 1;
		rc = chmod(path, 0644);
		dmg = open(path, O_WRONLY | O_CLOEXEC);
		TAP_OK(rc == 0 && dmg >= 0 &&
			   pwrite(dmg, big, sizeof(big), 0) == (ssize_t)sizeof(big),
		       "damage the object in place, same size");
		if (dmg >= 0)
			close(dmg);
		big[7] ^= 1;
		rc = s->ops->put(s, key, fd, sizeof(big), h);
		out = mem_fd("", 0);
		TAP_OK(rc == 0 && s->ops->get(s, key, out, &info) == 0 &&
			   fd_equals(out, big, sizeof(big)),
		       "put replaces an object of the right size whose hash is wrong (rc %d)", rc);
		close(out);
	}

	/* size: only size bytes are stored; a short source is an error */
	rc = s->ops->put(s, "short/one.db", fd, 1000, NULL);
	TAP_OK(rc == 0 && s->ops->head(s, "short/one.db", &info) == 0 && info.size == 1000,
	       "put stores exactly size bytes of a longer file");
	rc = s->ops->put(s, "short/two.db", fd, sizeof(big) + 1, NULL);
	TAP_OK(rc == -EIO && s->ops->head(s, "short/two.db", NULL) == -ENOENT,
	       "put from a file shorter than size fails and leaves nothing (rc %d)", rc);
	close(fd);
	fd = mem_fd("", 0);
	rc = s->ops->put(s, "empty.db", fd, 0, NULL);
	out = mem_fd("xyz", 3);
	TAP_OK(rc == 0 && s->ops->get(s, "empty.db", out, &info) == 0 && info.size == 0 &&
		   fd_equals(out, "", 0),
	       "empty object round trip");
	close(out);
	close(fd);

	/* missing keys, folders and bad keys */
	out = mem_fd("keep", 4);
	TAP_OK(s->ops->get(s, "nope/x.db", out, NULL) == -ENOENT,
	       "get of a missing key -> -ENOENT");
	TAP_OK(s->ops->get(s, "pfx/ab", out, NULL) == -ENOENT, "get of a folder -> -ENOENT");
	TAP_OK(s->ops->head(s, "nope", NULL) == -ENOENT, "head of a missing key -> -ENOENT");
	TAP_OK(s->ops->head(s, "empty.db/x", NULL) == -ENOENT, "head below a file -> -ENOENT");
	TAP_OK(s->ops->del(s, "nope") == -ENOENT, "del of a missing key -> -ENOENT");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int prc = s->ops->put(s, bad[i], out, 4, NULL);
		int grc = s->ops->get(s, bad[i], out, NULL);
		int hrc = s->ops->head(s, bad[i], NULL);
		int drc = s->ops->del(s, bad[i]);

		TAP_OK(prc == -EINVAL && grc == -EINVAL && hrc == -EINVAL && drc == -EINVAL,
		       "key '%s' is rejected by put/get/head/del (%d %d %d %d)", bad[i], prc, grc,
		       hrc, drc);
	}
	TAP_OK(s->ops->put(s, "a..b/c..d.db", out, 4, NULL) == 0,
	       "'..' inside a segment is an ordinary name");
	close(out);

	/* del */
	rc = s->ops->del(s, "short/one.db");
	TAP_OK(rc == 0 && s->ops->head(s, "short/one.db", NULL) == -ENOENT,
	       "del removes the object (rc %d)", rc);

	/* listing: 2500 keys in two folders, sorted, paged by 1000 */
	fd = mem_fd("0123456789", 10);
	/* Two through put (which fsyncs each: slow), the rest as hard links
	 * to the first: this part tests the listing. */
	for (i = 0, rc = 0; i < 2500 && rc == 0; i++) {
		char first[256], name[256];

		snprintf(key, sizeof(key), "list/%s/k%04zu", i % 2 ? "odd" : "even", 2499 - i);
		if (i < 2) {
			rc = s->ops->put(s, key, fd, 10, NULL);
			continue;
		}
		snprintf(first, sizeof(first), "%s/store/objects/list/even/k2499", root);
		snprintf(name, sizeof(name), "%s/store/objects/%s", root, key);
		rc = link(first, name);
	}
	TAP_OK(rc == 0, "2500 objects stored");
	rc = list_all(s, "list/", &l, &pages);
	TAP_OK(rc == 0 && l.n == 2500 && pages == 3,
	       "list of 2500 keys: %d keys in %d pages (rc %d)", l.n, pages, rc);
	TAP_OK(l.sorted, "keys come in sorted order across pages");
	TAP_OK(l.size_sum == 25000, "listing reports sizes");
	TAP_OK(strcmp(l.keys[0], "list/even/k0001") == 0 &&
		   strcmp(l.keys[2499], "list/odd/k2498") == 0,
	       "first and last keys (%s, %s)", l.keys[0], l.keys[2499]);
	/* Page boundary: exactly 1000 keys after the token fit one page. */
	{
		const char *starts[] = {"list/odd/k0498", "list/odd/k0496"};
		int want_pages[] = {1, 2}, want_n[] = {1000, 1001}, j;

		for (j = 0; j < 2; j++) {
			char *token = strdup(starts[j]);

			memset(&l, 0, sizeof(l));
			pages = 0;
			do {
				rc = s->ops->list(s, "list/", &token, list_cb, &l);
				pages++;
			} while (rc == 0 && token && pages < 100);
			free(token);
			TAP_OK(rc == 0 && l.n == want_n[j] && pages == want_pages[j],
			       "%d keys after token %s: %d keys in %d pages", want_n[j], starts[j],
			       l.n, pages);
		}
	}
	rc = list_all(s, "list/odd/k00", &l, &pages);
	TAP_OK(rc == 0 && l.n == 50 && pages == 1, "partial-segment prefix lists 50 keys (got %d)",
	       l.n);
	rc = list_all(s, "list/od", &l, &pages);
	TAP_OK(rc == 0 && l.n == 1250, "prefix cutting a folder name (got %d)", l.n);
	rc = list_all(s, "nothing/here/", &l, &pages);
	TAP_OK(rc == 0 && l.n == 0, "missing prefix lists nothing (rc %d)", rc);
	rc = list_all(s, "", &l, &pages);
	/* the 2500, the big one, empty.db and a..b/c..d.db */
	TAP_OK(rc == 0 && l.n == 2500 + 3, "empty prefix lists every object (got %d)", l.n);
	rc = list_all(s, "../", &l, &pages);
	TAP_OK(rc == -EINVAL, "prefix with '..' -> -EINVAL (rc %d)", rc);
	memset(&l, 0, sizeof(l));
	l.stop_at = 5;
	{
		char *token = NULL;

		rc = s->ops->list(s, "list/", &token, list_cb, &l);
		TAP_OK(rc == 7 && l.n == 5 && token == NULL,
		       "non-zero callback return stops the listing (rc %d)", rc);
		free(token);
	}
	close(fd);

	/* concurrent puts of the same keys */
	fd = mem_fd(big, 5000);
	for (i = 0; i < 4; i++) {
		pt[i] = (struct putter){.s = s, .fd = fd};
		pthread_create(&th[i], NULL, put_thread, &pt[i]);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		fails += pt[i].fails;
	}
	rc = list_all(s, "race/", &l, &pages);
	TAP_OK(fails == 0 && l.n == 40 && l.size_sum == 40 * 5000,
	       "4 threads putting the same 40 keys: %d failures, %d objects", fails, l.n);
	close(fd);
	snprintf(path, sizeof(path), "%s/store", root);
	TAP_OK(count_tmp_files(path) == 0, "no temp files left behind");

	/* check */
	store_free(s);
	snprintf(path, sizeof(path), "%s/missing", root);
	s = store_local_new(path);
	rc = s ? s->ops->check(s) : -1;
	TAP_OK(rc == -ENOENT, "check of a missing folder -> -ENOENT (rc %d)", rc);
	store_free(s);
	snprintf(path, sizeof(path), "%s/store/objects/empty.db", root);
	s = store_local_new(path);
	rc = s ? s->ops->check(s) : -1;
	TAP_OK(rc == -ENOTDIR, "check of a file -> -ENOTDIR (rc %d)", rc);
	store_free(s);
	TAP_OK(store_local_new("") == NULL, "store_local_new(\"\") fails");

	snprintf(path, sizeof(path), "rm -rf '%s'", root);
	if (system(path) != 0)
		printf("# cleanup failed\n");
	return TAP_DONE();
}
