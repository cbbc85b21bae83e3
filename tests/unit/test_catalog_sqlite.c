/* Unit tests of the SQLite catalog: the shared catalog contract, then what
 * only this back end promises: paging over more than one page, two
 * connections (two mounts) sharing one file, durability across reopen,
 * concurrent acquires from threads, and errors. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cache/catalog/catalog.h"
#include "tests/unit/catalog_contract.h"
#include "tests/unit/tap.h"

static int count_cb(void *arg, const struct cat_item *it)
{
	int *seen = arg;
	int n;

	if (sscanf(it->id, "page-%d", &n) == 1 && n >= 0 && n < 1200)
		seen[n]++;
	return 0;
}

struct race {
	struct catalog *c;
	char node[24];
	int won;
	int busy;
	int other;
};

static void *race_thread(void *p)
{
	struct race *r = p;
	struct cat_item it;
	char id[32];
	int i;

	for (i = 0; i < 50; i++) {
		snprintf(id, sizeof(id), "race-%d", i);
		switch (r->c->ops->acquire(r->c, id, r->node, 0, 1000, 60000, NULL, &it)) {
		case 0: r->won++; break;
		case -EBUSY: r->busy++; break;
		default: r->other++; break;
		}
	}
	return NULL;
}

int main(void)
{
	char dir[] = "/tmp/tfs-catsql-XXXXXX", path[256], cmd[300];
	struct catalog *c, *c2;
	struct cat_item it;
	struct race r[4];
	pthread_t th[4];
	char *token = NULL;
	static int seen[1200];
	int i, rc, pages = 0, once = 1, won = 0, other = 0;

	if (!mkdtemp(dir)) {
		printf("not ok - cannot make a temp dir\n");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/catalog.db", dir);
	c = catalog_sqlite_new(path);
	TAP_OK(c != NULL, "catalog_sqlite_new creates %s", path);
	if (!c)
		return TAP_DONE();
	TAP_OK(c->ops->init(c) == 0, "init is idempotent");
	TAP_OK(c->ops->check(c) == 0, "check passes");

	catalog_contract_run(c, "contract1");

	/* Pages: more items than one page of 500, each seen once. The first
	 * ten go through acquire, the rest are written in one transaction by
	 * a plain connection (one fsync instead of 1190). */
	rc = 0;
	for (i = 0; i < 10 && rc == 0; i++) {
		char id[32];

		snprintf(id, sizeof(id), "page-%d", i);
		rc = c->ops->acquire(c, id, "n", 0, 1, 1, NULL, &it);
	}
	{
		sqlite3 *raw = NULL;
		sqlite3_stmt *ins = NULL;

		if (sqlite3_open(path, &raw) != SQLITE_OK ||
		    sqlite3_busy_timeout(raw, 5000) != SQLITE_OK ||
		    sqlite3_exec(raw, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_prepare_v2(raw,
				       "INSERT INTO items (id, owner, epoch) VALUES (?1, 'n', 1)",
				       -1, &ins, NULL) != SQLITE_OK)
			rc = -1;
		for (i = 10; i < 1200 && rc == 0; i++) {
			char id[32];

			snprintf(id, sizeof(id), "page-%d", i);
			sqlite3_bind_text(ins, 1, id, -1, SQLITE_TRANSIENT);
			if (sqlite3_step(ins) != SQLITE_DONE)
				rc = -1;
			sqlite3_reset(ins);
		}
		sqlite3_finalize(ins);
		if (rc == 0 && sqlite3_exec(raw, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
			rc = -1;
		sqlite3_close(raw);
	}
	TAP_OK(rc == 0, "1200 items created");
	do {
		rc = c->ops->scan(c, &token, count_cb, seen);
		pages++;
	} while (rc == 0 && token && pages < 100);
	for (i = 0; i < 1200; i++)
		once &= seen[i] == 1;
	TAP_OK(rc == 0 && !token && once, "scan over %d pages sees 1200 items once each", pages);
	TAP_OK(pages >= 3, "scan used several pages (%d)", pages);

	/* Rows this code did not write: get and acquire say -EIO, scan
	 * skips them and still sees everything else. */
	{
		static const char *const rows[] = {
		    /* 130 characters: one past CAT_NODE_MAX and then some */
		    "INSERT INTO items (id, owner, epoch) VALUES ('bad-owner', "
		    "hex(zeroblob(65)), 1)",
		    "INSERT INTO items (id, owner, epoch, hist) VALUES ('bad-hist', 'n', 1, "
		    "'12:1:abc;nonsense')",
		    "INSERT INTO items (id, owner, epoch, hist) VALUES ('bad-hist2', 'n', 1, "
		    "'1:1:a;2:2:b;3:3:c;4:4:d;5:5:e;6:6:f;7:7:a;8:8:b;9:9:c')",
		    "INSERT INTO items (id, owner, gen) VALUES ('bad-gen', 'n', -3)",
		    "INSERT INTO items (id, owner, hash) VALUES ('bad-hash', 'n', "
		    "'0123456789abcdef0123456789abcdef0')",
		    "INSERT INTO items (id, owner, epoch, hist) VALUES ('good-hist', 'n', 3, "
		    "'10:1:aa;20:2:bb')",
		};
		static const char *const bad_ids[] = {"bad-owner", "bad-hist", "bad-hist2",
						      "bad-gen", "bad-hash"};
		sqlite3 *raw = NULL;
		int ok = sqlite3_open(path, &raw) == SQLITE_OK, all_eio = 1, j;
		int seen_ok[1200] = {0};

		sqlite3_busy_timeout(raw, 5000);
		for (j = 0; ok && j < (int)(sizeof(rows) / sizeof(rows[0])); j++)
			ok = sqlite3_exec(raw, rows[j], NULL, NULL, NULL) == SQLITE_OK;
		sqlite3_close(raw);
		TAP_OK(ok, "hand-written rows inserted");
		for (j = 0; j < 5; j++) {
			int grc = c->ops->get(c, bad_ids[j], &it);
			int arc = c->ops->acquire(c, bad_ids[j], "n", 0, 1, 1, NULL, &it);

			all_eio &= grc == -EIO && arc == -EIO;
			if (grc != -EIO || arc != -EIO)
				printf("# %s: get %d acquire %d\n", bad_ids[j], grc, arc);
		}
		TAP_OK(all_eio, "malformed rows give -EIO to get and acquire");
		rc = c->ops->get(c, "good-hist", &it);
		TAP_OK(rc == 0 && it.n_hist == 2 && it.hist[1].gen == 2 &&
			   it.hist[1].time_ms == 20 && strcmp(it.hist[1].hash, "bb") == 0,
		       "a hand-written well-formed hist decodes (rc %d)", rc);
		token = NULL;
		pages = 0;
		do {
			rc = c->ops->scan(c, &token, count_cb, seen_ok);
			pages++;
		} while (rc == 0 && token && pages < 100);
		for (i = 0, once = 1; i < 1200; i++)
			once &= seen_ok[i] == 1;
		TAP_OK(rc == 0 && !token && once, "scan skips malformed rows and sees the rest");
	}

	/* A second connection to the same file, as a second mount would. */
	c2 = catalog_sqlite_new(path);
	TAP_OK(c2 != NULL, "second catalog on the same file opens");
	rc = c2->ops->acquire(c2, "contract1-acq", "node-c", 0, CC_NOW + 12, CC_TTL, NULL, &it);
	TAP_OK(rc == -EBUSY && strcmp(it.owner, CC_NODE_A) == 0,
	       "second connection sees the first one's lease (rc %d owner '%s')", rc, it.owner);
	rc = c2->ops->acquire(c2, "shared", "node-c", 0, 1000, 60000, NULL, &it);
	TAP_OK(rc == 0, "second connection acquires a new id");
	rc = c->ops->acquire(c, "shared", "node-d", 0, 1001, 60000, NULL, &it);
	TAP_OK(rc == -EBUSY && strcmp(it.owner, "node-c") == 0,
	       "first connection sees the second one's lease (rc %d)", rc);

	/* Threads race for 50 new ids: each id has exactly one winner. */
	for (i = 0; i < 4; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		r[i].c = i % 2 ? c2 : c;
		snprintf(r[i].node, sizeof(r[i].node), "racer-%d", i);
		pthread_create(&th[i], NULL, race_thread, &r[i]);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		won += r[i].won;
		other += r[i].other;
	}
	TAP_OK(won == 50 && other == 0, "racing acquires: %d winners for 50 ids, %d errors", won,
	       other);
	catalog_free(c2);

	/* A child process (fork) gets its own connection and sees the data. */
	fflush(stdout);
	{
		pid_t pid = fork();
		int status = 0;

		if (pid == 0) {
			struct cat_item ci;
			int crc = c->ops->get(c, "shared", &ci);

			_exit(crc == 0 && strcmp(ci.owner, "node-c") == 0 ? 0 : 1);
		}
		waitpid(pid, &status, 0);
		TAP_OK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		       "a forked child reads through its own connection");
	}

	/* Processes race: each child opens its own catalog on the file and
	 * tries 50 new ids; each id must have exactly one winner, at epoch 1. */
	{
		pid_t kids[3];
		int k, total = 0, bad = 0;

		fflush(stdout);
		for (k = 0; k < 3; k++) {
			kids[k] = fork();
			if (kids[k] == 0) {
				struct catalog *cc = catalog_sqlite_new(path);
				char id[32], node[16];
				int j, wins = 0;

				snprintf(node, sizeof(node), "proc-%d", k);
				for (j = 0; cc && j < 50; j++) {
					struct cat_item ci;
					int arc;

					snprintf(id, sizeof(id), "xproc-%d", j);
					arc = cc->ops->acquire(cc, id, node, 0, 1000, 60000, NULL,
							       &ci);
					if (arc == 0 && ci.epoch == 1)
						wins++;
					else if (arc != -EBUSY)
						_exit(200);
				}
				catalog_free(cc);
				_exit(cc ? wins : 201);
			}
		}
		for (k = 0; k < 3; k++) {
			int status = 0;

			if (kids[k] > 0 && waitpid(kids[k], &status, 0) == kids[k] &&
			    WIFEXITED(status) && WEXITSTATUS(status) <= 50)
				total += WEXITSTATUS(status);
			else
				bad++;
		}
		TAP_OK(bad == 0 && total == 50,
		       "3 processes racing for 50 ids: %d winners at epoch 1, %d failed children",
		       total, bad);
	}

	/* Fencing across processes: three processes keep stealing one lease
	 * (ttl 0, a later clock each time) and committing on the gen they
	 * acquired. However the writes interleave, the final gen must equal
	 * the number of commits that reported success: none was lost and no
	 * stale holder published. */
	{
		pid_t kids[3];
		int k, total = 0, bad = 0;

		fflush(stdout);
		for (k = 0; k < 3; k++) {
			kids[k] = fork();
			if (kids[k] == 0) {
				struct catalog *cc = catalog_sqlite_new(path);
				char node[16];
				int j, wins = 0;

				snprintf(node, sizeof(node), "fence-%d", k);
				for (j = 0; cc && j < 60; j++) {
					struct cat_item ci;
					struct timespec ts;
					int64_t now;
					int arc;

					clock_gettime(CLOCK_REALTIME, &ts);
					now = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
					arc = cc->ops->acquire(cc, "fenced", node, 0, now, 1, NULL,
							       &ci);
					if (arc == -EBUSY) {
						/* Take over what we saw at once: the
						 * catalog keeps no time, the engine
						 * waits; here the processes race. */
						struct cat_item held = ci;
						struct cat_takeover tk = {held.owner, held.epoch,
									  held.rev, 0};

						arc = cc->ops->acquire(cc, "fenced", node, 0, now,
								       1, &tk, &ci);
					}
					if (arc == -EBUSY)
						continue;
					if (arc != 0)
						_exit(200);
					arc = cc->ops->commit(
					    cc, "fenced", node, ci.epoch, ci.gen,
					    &(struct cat_commit){.new_gen = ci.gen + 1,
								 .hash = "00",
								 .mtime_ms = now});
					if (arc == 0)
						wins++;
					else if (arc != -ESTALE)
						_exit(202);
				}
				catalog_free(cc);
				_exit(cc ? wins : 201);
			}
		}
		for (k = 0; k < 3; k++) {
			int status = 0;

			if (kids[k] > 0 && waitpid(kids[k], &status, 0) == kids[k] &&
			    WIFEXITED(status) && WEXITSTATUS(status) <= 60)
				total += WEXITSTATUS(status);
			else
				bad++;
		}
		rc = c->ops->get(c, "fenced", &it);
		TAP_OK(bad == 0 && rc == 0 && it.gen == (uint64_t)total && total > 0,
		       "3 processes stealing and committing: gen %" PRIu64 " == %d successful "
		       "commits (%d failed children)",
		       it.gen, total, bad);
	}

	/* A broken file gives -EIO, and init repairs a missing table. */
	{
		sqlite3 *raw = NULL;
		int orc = sqlite3_open(path, &raw);

		if (orc == SQLITE_OK)
			sqlite3_busy_timeout(raw, 5000);
		orc = orc == SQLITE_OK ? sqlite3_exec(raw, "DROP TABLE items", NULL, NULL, NULL)
				       : orc;
		sqlite3_close(raw);
		TAP_OK(orc == SQLITE_OK, "table dropped behind the catalog's back");
		rc = c->ops->get(c, "shared", &it);
		TAP_OK(rc == -EIO, "get without the table -> -EIO (rc %d)", rc);
		rc = c->ops->acquire(c, "shared", "node-c", 0, 1000, 60000, NULL, &it);
		TAP_OK(rc == -EIO, "acquire without the table -> -EIO (rc %d)", rc);
		rc = c->ops->check(c);
		TAP_OK(rc == -EIO, "check without the table -> -EIO (rc %d)", rc);
		rc = c->ops->init(c);
		TAP_OK(rc == 0 && c->ops->check(c) == 0 && c->ops->get(c, "shared", &it) == -ENOENT,
		       "init creates the table again (rc %d)", rc);
		/* Put back what the reopen test below reads. */
		rc = c->ops->acquire(c, "reopen", "node-r", 0, 1000, 60000, NULL, &it);
		rc |=
		    c->ops->commit(c, "reopen", "node-r", 1, 0,
				   &(struct cat_commit){.new_gen = 1,
							.hash = "0123456789abcdef0123456789abcdef",
							.size = 7,
							.mtime_ms = 5});
		TAP_OK(rc == 0, "acquire and commit after init");
	}

	/* Durable across close and reopen. */
	catalog_free(c);
	c = catalog_sqlite_new(path);
	rc = c ? c->ops->get(c, "reopen", &it) : -1;
	TAP_OK(rc == 0 && it.gen == 1 && it.size == 7 && strcmp(it.owner, "node-r") == 0 &&
		   strcmp(it.hash, "0123456789abcdef0123456789abcdef") == 0 && it.n_hist == 1,
	       "items survive a close and reopen (rc %d)", rc);
	rc = c ? c->ops->get(c, "", &it) : -1;
	TAP_OK(rc == -EINVAL, "an empty id is -EINVAL (rc %d)", rc);
	catalog_free(c);

	/* A file from before rev and stranded: the columns are added, its
	 * items read as rev 0, and a takeover on rev 0 works. */
	snprintf(path, sizeof(path), "%s/old.db", dir);
	{
		sqlite3 *raw = NULL;
		int orc = sqlite3_open(path, &raw);

		if (orc == SQLITE_OK)
			orc = sqlite3_exec(
			    raw,
			    "CREATE TABLE items (id TEXT PRIMARY KEY, owner TEXT NOT NULL DEFAULT "
			    "'',"
			    " expires INTEGER NOT NULL DEFAULT 0, epoch INTEGER NOT NULL DEFAULT 0,"
			    " gen INTEGER NOT NULL DEFAULT 0, hash TEXT NOT NULL DEFAULT '',"
			    " size INTEGER NOT NULL DEFAULT 0, mtime INTEGER NOT NULL DEFAULT 0,"
			    " deleted INTEGER NOT NULL DEFAULT 0, want TEXT NOT NULL DEFAULT '',"
			    " hist TEXT NOT NULL DEFAULT '');"
			    "INSERT INTO items (id, owner, expires, epoch) VALUES ('old', "
			    "'node-o', "
			    "99999999999999, 4)",
			    NULL, NULL, NULL);
		sqlite3_close(raw);
		TAP_OK(orc == SQLITE_OK, "a catalog file in the old format");
	}
	c = catalog_sqlite_new(path);
	rc = c ? c->ops->get(c, "old", &it) : -1;
	TAP_OK(rc == 0 && it.rev == 0 && it.stranded_ms == 0 && strcmp(it.owner, "node-o") == 0 &&
		   it.epoch == 4,
	       "an old item reads as rev 0, not stranded (rc %d)", rc);
	rc = c ? c->ops->acquire(c, "old", "node-n", 0, 1000, 60000, NULL, &it) : -1;
	TAP_OK(rc == -EBUSY && it.rev == 0, "an old item held by another node -> -EBUSY (rc %d)",
	       rc);
	{
		struct cat_takeover tk = {"node-o", 4, 0, 0};

		rc = c ? c->ops->acquire(c, "old", "node-n", 0, 1000, 60000, &tk, &it) : -1;
	}
	TAP_OK(rc == 0 && it.epoch == 5 && it.rev == 1 && strcmp(it.owner, "node-n") == 0,
	       "a takeover of an old item on rev 0 (rc %d rev %" PRIu64 ")", rc, it.rev);
	catalog_free(c);

	/* Errors: a folder that does not exist, a file that is not SQLite. */
	snprintf(path, sizeof(path), "%s/missing/catalog.db", dir);
	c = catalog_sqlite_new(path);
	TAP_OK(c == NULL, "a catalog in a missing folder fails to open");
	catalog_free(c);
	snprintf(path, sizeof(path), "%s/garbage.db", dir);
	{
		FILE *f = fopen(path, "w");

		if (f) {
			for (i = 0; i < 200; i++)
				fputs("this is not a database file at all. ", f);
			fclose(f);
		}
	}
	c = catalog_sqlite_new(path);
	TAP_OK(c == NULL, "a file that is not SQLite fails to open");
	catalog_free(c);

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("# cleanup failed\n");
	return TAP_DONE();
}
