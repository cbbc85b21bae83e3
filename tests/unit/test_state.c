/* Unit tests of the state database (cache/engine/state.h): rows survive a reopen,
 * the dirty flag and its time, the listings recovery, eviction and readdir
 * use, and the clean byte count. */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache/engine/state.h"
#include "s3/base/log.h"
#include "tests/unit/tap.h"

static void row(struct state_row *r, const char *id, uint64_t gen, bool dirty, uint64_t size,
		int64_t atime)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->id, sizeof(r->id), "%s", id);
	r->base_gen = gen;
	snprintf(r->base_hash, sizeof(r->base_hash), "%032llx", (unsigned long long)gen);
	r->dirty = dirty;
	r->size = size;
	r->atime = atime;
	r->epoch = 7;
}

int main(void)
{
	char dir[512], path[600], cmd[700];
	struct state *st = NULL;
	struct state_row r, got, *rows = NULL;
	const char *base = getenv("TFS_TEST_TMP");
	uint64_t bytes = 0;
	int n = 0;

	tfs_log_set_level(LOG_CRIT);
	snprintf(dir, sizeof(dir), "%s/test_state.XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(dir)) {
		printf("Bail out! mkdtemp\n");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/state.db", dir);
	TAP_OK(state_open(path, &st) == 0, "open a new state database");
	TAP_OK(state_get(st, "a", &got) == -ENOENT, "absent row: -ENOENT");
	TAP_OK(state_set_dirty(st, "a", true, 5) == -ENOENT, "set_dirty creates no row");

	row(&r, "a", 3, false, 100, 30);
	snprintf(r.error, sizeof(r.error), "boom");
	TAP_OK(state_put(st, &r) == 0, "put a");
	row(&r, "b", 0, true, 200, 10);
	TAP_OK(state_put(st, &r) == 0, "put b (dirty, never committed)");
	row(&r, "c", 1, false, 300, 20);
	TAP_OK(state_put(st, &r) == 0, "put c");
	TAP_OK(state_get(st, "a", &got) == 0 && got.base_gen == 3 && got.size == 100 &&
		   got.epoch == 7 && !got.dirty && !strcmp(got.error, "boom") &&
		   !strcmp(got.base_hash, "00000000000000000000000000000003"),
	       "get returns every field");

	TAP_OK(state_clean_bytes(st, &bytes) == 0 && bytes == 400, "clean bytes %llu",
	       (unsigned long long)bytes);
	TAP_OK(state_list(st, STATE_DIRTY, 0, &rows, &n) == 0 && n == 1 && !strcmp(rows[0].id, "b"),
	       "dirty listing");
	free(rows);
	TAP_OK(state_list(st, STATE_CLEAN_LRU, 0, &rows, &n) == 0 && n == 2 &&
		   !strcmp(rows[0].id, "c") && !strcmp(rows[1].id, "a"),
	       "clean rows, least recently used first");
	free(rows);
	TAP_OK(state_list(st, STATE_CLEAN_LRU, 1, &rows, &n) == 0 && n == 1, "limit");
	free(rows);
	TAP_OK(state_list(st, STATE_UNCOMMITTED, 0, &rows, &n) == 0 && n == 1 &&
		   !strcmp(rows[0].id, "b"),
	       "uncommitted listing");
	free(rows);
	{
		uint64_t entries = 0;

		TAP_OK(state_totals(st, &entries, &bytes) == 0 && entries == 3 && bytes == 600,
		       "totals: 3 rows, 600 bytes (dirty ones too)");
	}
	TAP_OK(state_list(st, STATE_QUARANTINED, 0, &rows, &n) == 0 && n == 0,
	       "no quarantined row yet");
	free(rows);
	row(&r, "q", 2, false, 0, 40);
	snprintf(r.quarantine, sizeof(r.quarantine), "/cache/quarantine/q.7.1");
	snprintf(r.error, sizeof(r.error), "quarantined: lost");
	TAP_OK(state_put(st, &r) == 0, "put q (quarantined)");
	TAP_OK(state_list(st, STATE_QUARANTINED, 0, &rows, &n) == 0 && n == 1 &&
		   !strcmp(rows[0].id, "q") &&
		   !strcmp(rows[0].quarantine, "/cache/quarantine/q.7.1"),
	       "quarantined listing");
	free(rows);
	TAP_OK(state_del(st, "q") == 0, "delete q");

	TAP_OK(state_set_dirty(st, "a", true, 1234) == 0, "mark a dirty");
	TAP_OK(state_touch(st, "c", 99) == 0, "touch c");
	TAP_OK(state_set_error(st, "c", "bad") == 0, "set an error on c");
	TAP_OK(state_del(st, "b") == 0, "delete b");
	state_close(st);
	st = NULL;

	TAP_OK(state_open(path, &st) == 0, "reopen");
	TAP_OK(state_get(st, "a", &got) == 0 && got.dirty && got.dirty_since == 1234,
	       "the dirty mark survives a reopen");
	TAP_OK(state_get(st, "b", &got) == -ENOENT, "the deleted row stays deleted");
	TAP_OK(state_get(st, "c", &got) == 0 && got.atime == 99 && !strcmp(got.error, "bad"),
	       "touch and error survive");
	TAP_OK(state_set_dirty(st, "a", false, 0) == 0 && state_get(st, "a", &got) == 0 &&
		   !got.dirty && got.dirty_since == 0,
	       "clearing dirty resets dirty_since");

	/* Pending commits: every one kept until the base moves past it. */
	TAP_OK(state_has_pending(st, "a", 4, NULL) == 0, "no pending commit yet");
	TAP_OK(state_add_pending(st, "a", 4, "00000000000000000000000000000a41") == 0 &&
		   state_add_pending(st, "a", 4, "00000000000000000000000000000a42") == 0 &&
		   state_add_pending(st, "a", 4, "00000000000000000000000000000a42") == 0,
	       "record two pending commits of gen 4 (one twice)");
	TAP_OK(state_has_pending(st, "a", 4, "00000000000000000000000000000a41") == 1 &&
		   state_has_pending(st, "a", 4, "00000000000000000000000000000a42") == 1,
	       "both are kept, not only the last");
	TAP_OK(state_has_pending(st, "a", 4, NULL) == 1 &&
		   state_has_pending(st, "a", 5, NULL) == 0 &&
		   state_has_pending(st, "a", 4, "00000000000000000000000000000a43") == 0 &&
		   state_has_pending(st, "c", 4, NULL) == 0,
	       "looked up by id, gen and hash");
	state_close(st);
	st = NULL;
	TAP_OK(state_open(path, &st) == 0 &&
		   state_has_pending(st, "a", 4, "00000000000000000000000000000a41") == 1,
	       "pending commits survive a reopen");
	row(&r, "a", 3, true, 100, 30);
	TAP_OK(state_put(st, &r) == 0 && state_has_pending(st, "a", 4, NULL) == 1,
	       "a put below their gen keeps them");
	row(&r, "a", 4, true, 100, 30);
	TAP_OK(state_put(st, &r) == 0 && state_has_pending(st, "a", 4, NULL) == 0,
	       "a put of base gen 4 settles them");
	TAP_OK(state_add_pending(st, "c", 2, "00000000000000000000000000000c21") == 0 &&
		   state_clear_pending(st, "c") == 0 && state_has_pending(st, "c", 2, NULL) == 0,
	       "clear drops them");
	TAP_OK(state_add_pending(st, "c", 2, "00000000000000000000000000000c21") == 0 &&
		   state_del(st, "c") == 0 && state_has_pending(st, "c", 2, NULL) == 0,
	       "deleting the row drops them");
	state_close(st);
	st = NULL;

	/* An older layout kept only the last pending commit in the row. */
	{
		sqlite3 *db = NULL;

		TAP_OK(sqlite3_open(path, &db) == SQLITE_OK &&
			   sqlite3_exec(db,
					"UPDATE dbs SET pending_hash = "
					"'00000000000000000000000000000a51' WHERE id = 'a'",
					NULL, NULL, NULL) == SQLITE_OK,
		       "write a pending commit the old way");
		sqlite3_close(db);
	}
	TAP_OK(state_open(path, &st) == 0 &&
		   state_has_pending(st, "a", 5, "00000000000000000000000000000a51") == 1,
	       "the old layout's pending commit is kept at base_gen + 1 after an upgrade");
	state_close(st);

	if (!tap_failed) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			printf("# cannot remove %s\n", dir);
	}
	return TAP_DONE();
}
