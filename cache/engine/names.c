/* The name rules of the mount's root directory: "<id>.db" and SQLite's side
 * files next to it. Pure functions, no state: safe from any thread. */
#include "cache/engine/cache.h"
#include "s3/base/parse.h"

#include <string.h>

/* SQLite's super-journal suffix is "-mj" plus random hex digits; accept a
 * little more (any ASCII letter or digit) but keep the length bounded. */
#define MJ_TAIL_MAX 64

static bool alnum_char(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

/* Checks the first len bytes of s as an id. */
static bool valid_id_n(const char *s, size_t len)
{
	return tfs_valid_name(s, len, CAT_ID_MAX);
}

bool tfs_valid_id(const char *id)
{
	if (!id)
		return false;
	return valid_id_n(id, strnlen(id, CAT_ID_MAX + 1));
}

static bool ends_with(const char *s, size_t len, const char *tail, size_t *head_len)
{
	size_t tl = strlen(tail);

	if (len < tl || memcmp(s + len - tl, tail, tl) != 0)
		return false;
	*head_len = len - tl;
	return true;
}

/* Finds "<id>.db-mj<alnum 1..64>": returns the length of the id or 0. The
 * run of letters and digits at the end of name starts right after the '-'
 * (which is not one), so it must be "mj" followed by the tail. */
static size_t match_mj(const char *name, size_t len)
{
	size_t run = 0, head;

	while (run < len && alnum_char((unsigned char)name[len - 1 - run]))
		run++;
	if (run < 3 || run - 2 > MJ_TAIL_MAX)
		return 0;
	if (memcmp(name + len - run, "mj", 2) != 0)
		return 0;
	if (!ends_with(name, len - run, ".db-", &head))
		return 0;
	return head;
}

enum name_kind tfs_parse_name(const char *name, char id[CAT_ID_MAX + 1], const char **suffix)
{
	static const char *const sides[] = {".db-journal", ".db-wal", ".db-shm"};
	enum name_kind kind = NAME_INVALID;
	size_t len, head = 0;
	unsigned i;

	if (!name)
		return NAME_INVALID;
	/* Longest valid name: id + ".db-mj" + 64. Anything longer is out. */
	len = strnlen(name, CAT_ID_MAX + 6 + MJ_TAIL_MAX + 1);
	if (len > CAT_ID_MAX + 6 + MJ_TAIL_MAX)
		return NAME_INVALID;

	if (ends_with(name, len, ".db", &head)) {
		kind = NAME_DB;
	} else {
		for (i = 0; i < sizeof(sides) / sizeof(sides[0]); i++)
			if (ends_with(name, len, sides[i], &head)) {
				kind = NAME_SIDE;
				break;
			}
		if (kind == NAME_INVALID) {
			head = match_mj(name, len);
			if (head)
				kind = NAME_SIDE;
		}
	}
	if (kind == NAME_INVALID || !valid_id_n(name, head))
		return NAME_INVALID;
	if (id) {
		memcpy(id, name, head);
		id[head] = '\0';
	}
	if (suffix)
		*suffix = name + head + 3; /* past ".db" */
	return kind;
}
