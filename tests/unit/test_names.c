/* Unit tests of the root directory's name rules (cache/engine/names.c): every
 * valid shape with the id and suffix it yields, and the invalid ones. */
#include <stdio.h>
#include <string.h>

#include "cache/engine/cache.h"
#include "tests/unit/tap.h"

static void expect(const char *name, enum name_kind kind, const char *id, const char *suffix)
{
	char got_id[CAT_ID_MAX + 1] = "unset";
	const char *got_suffix = NULL;
	enum name_kind k = tfs_parse_name(name, got_id, &got_suffix);

	if (kind == NAME_INVALID) {
		TAP_OK(k == NAME_INVALID, "'%.40s' is invalid (got kind %d)", name, (int)k);
		return;
	}
	TAP_OK(k == kind && strcmp(got_id, id) == 0 && got_suffix &&
		   strcmp(got_suffix, suffix) == 0 && got_suffix >= name &&
		   got_suffix <= name + strlen(name),
	       "'%.40s' -> kind %d id '%.40s' suffix '%s' (got %d '%.40s' '%s')", name, (int)kind,
	       id, suffix, (int)k, got_id, got_suffix ? got_suffix : "(null)");
}

int main(void)
{
	char id128[CAT_ID_MAX + 1], id129[CAT_ID_MAX + 2], name[400];
	char tail64[65], tail65[66];

	memset(id128, 'a', CAT_ID_MAX);
	id128[CAT_ID_MAX] = '\0';
	memset(id129, 'b', CAT_ID_MAX + 1);
	id129[CAT_ID_MAX + 1] = '\0';
	memset(tail64, '7', 64);
	tail64[64] = '\0';
	memset(tail65, '7', 65);
	tail65[65] = '\0';

	/* valid databases */
	expect("42.db", NAME_DB, "42", "");
	expect("a.db", NAME_DB, "a", "");
	expect("User_1-x.y.db", NAME_DB, "User_1-x.y", "");
	expect("a.db.db", NAME_DB, "a.db", "");
	expect("-.db", NAME_DB, "-", "");
	expect("x.db-wal.db", NAME_DB, "x.db-wal", "");
	snprintf(name, sizeof(name), "%s.db", id128);
	expect(name, NAME_DB, id128, "");

	/* valid side files */
	expect("42.db-journal", NAME_SIDE, "42", "-journal");
	expect("42.db-wal", NAME_SIDE, "42", "-wal");
	expect("42.db-shm", NAME_SIDE, "42", "-shm");
	expect("42.db-mj1A2b3C4d", NAME_SIDE, "42", "-mj1A2b3C4d");
	expect("42.db-mj0", NAME_SIDE, "42", "-mj0");
	expect("a.b.db-mjmj", NAME_SIDE, "a.b", "-mjmj");
	snprintf(name, sizeof(name), "x.db-mj%s", tail64);
	expect(name, NAME_SIDE, "x", name + 4);
	snprintf(name, sizeof(name), "%s.db-mj%s", id128, tail64);
	expect(name, NAME_SIDE, id128, name + CAT_ID_MAX + 3);
	snprintf(name, sizeof(name), "%s.db-journal", id128);
	expect(name, NAME_SIDE, id128, "-journal");

	/* invalid */
	expect("", NAME_INVALID, NULL, NULL);
	expect(".", NAME_INVALID, NULL, NULL);
	expect("..", NAME_INVALID, NULL, NULL);
	expect(".db", NAME_INVALID, NULL, NULL);
	expect(".x.db", NAME_INVALID, NULL, NULL);
	expect("x.db-journalx", NAME_INVALID, NULL, NULL);
	expect("x.db-walx", NAME_INVALID, NULL, NULL);
	expect("x.db-", NAME_INVALID, NULL, NULL);
	expect("x.db-mj", NAME_INVALID, NULL, NULL);
	expect("x.db-mj12-3", NAME_INVALID, NULL, NULL);
	expect("x.db-mj12.3", NAME_INVALID, NULL, NULL);
	expect("x.db-MJ12", NAME_INVALID, NULL, NULL);
	expect("x.DB", NAME_INVALID, NULL, NULL);
	expect("x.Db", NAME_INVALID, NULL, NULL);
	expect("x.db-WAL", NAME_INVALID, NULL, NULL);
	expect("x", NAME_INVALID, NULL, NULL);
	expect("x.sqlite", NAME_INVALID, NULL, NULL);
	expect("a/b.db", NAME_INVALID, NULL, NULL);
	expect("a b.db", NAME_INVALID, NULL, NULL);
	expect("a:b.db", NAME_INVALID, NULL, NULL);
	expect("caf\xc3\xa9.db", NAME_INVALID, NULL, NULL);
	expect("\xff.db", NAME_INVALID, NULL, NULL);
	TAP_OK(tfs_parse_name("a\n.db", NULL, NULL) == NAME_INVALID, "id with a newline invalid");
	snprintf(name, sizeof(name), "%s.db", id129);
	expect(name, NAME_INVALID, NULL, NULL);
	snprintf(name, sizeof(name), "%s.db-wal", id129);
	expect(name, NAME_INVALID, NULL, NULL);
	snprintf(name, sizeof(name), "x.db-mj%s", tail65);
	expect(name, NAME_INVALID, NULL, NULL);
	TAP_OK(tfs_parse_name(NULL, NULL, NULL) == NAME_INVALID, "NULL name is invalid");
	TAP_OK(tfs_parse_name("k.db-wal", NULL, NULL) == NAME_SIDE, "id and suffix may be NULL");

	/* tfs_valid_id */
	TAP_OK(tfs_valid_id("42"), "id '42' valid");
	TAP_OK(tfs_valid_id("a.b-c_D"), "id 'a.b-c_D' valid");
	TAP_OK(tfs_valid_id(id128), "id of 128 bytes valid");
	TAP_OK(!tfs_valid_id(id129), "id of 129 bytes invalid");
	TAP_OK(!tfs_valid_id(""), "empty id invalid");
	TAP_OK(!tfs_valid_id(".hidden"), "id starting with '.' invalid");
	TAP_OK(!tfs_valid_id("a/b"), "id with '/' invalid");
	TAP_OK(!tfs_valid_id("caf\xc3\xa9"), "non-ASCII id invalid");
	TAP_OK(!tfs_valid_id(NULL), "NULL id invalid");
	return TAP_DONE();
}
