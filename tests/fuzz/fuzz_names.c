/* libFuzzer target for the file name rules (tfs_parse_name, tfs_valid_id
 * in cache/engine/cache.h), checked against the rules as the header states them:
 * id of 1-128 bytes of [A-Za-z0-9._-] not starting with '.', then ".db"
 * and nothing, or a side-file suffix. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cache/engine/cache.h"
#include "s3/base/log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	tfs_log_set_level(LOG_CRIT);
	return 0;
}

static bool spec_id(const char *s, size_t n)
{
	size_t i;

	if (n < 1 || n > CAT_ID_MAX || s[0] == '.')
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static bool spec_side(const char *suffix)
{
	return strcmp(suffix, "-journal") == 0 || strcmp(suffix, "-wal") == 0 ||
	       strcmp(suffix, "-shm") == 0 || strncmp(suffix, "-mj", 3) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char id[CAT_ID_MAX + 1];
	const char *suffix = NULL;
	enum name_kind kind;
	size_t len, idlen;
	char *name;

	name = malloc(size + 1);
	if (!name)
		return 0;
	memcpy(name, data, size);
	name[size] = '\0';
	len = strlen(name);

	if (tfs_valid_id(name) != spec_id(name, len))
		abort();

	memset(id, 'x', sizeof(id));
	kind = tfs_parse_name(name, id, &suffix);
	if (kind == NAME_DB || kind == NAME_SIDE) {
		idlen = strnlen(id, sizeof(id));
		if (idlen >= sizeof(id) || !spec_id(id, idlen) || !tfs_valid_id(id))
			abort();
		/* name is exactly id ".db" suffix, and suffix points into it. */
		if (!suffix || suffix < name || suffix > name + len)
			abort();
		if (strncmp(name, id, idlen) != 0 || strncmp(name + idlen, ".db", 3) != 0 ||
		    name + idlen + 3 != suffix)
			abort();
		if (kind == NAME_DB && *suffix != '\0')
			abort();
		if (kind == NAME_SIDE && !spec_side(suffix))
			abort();
	} else if (kind != NAME_INVALID) {
		abort();
	}
	/* "<valid id>.db" is always a database name. */
	if (len > 3 && strcmp(name + len - 3, ".db") == 0 && spec_id(name, len - 3) &&
	    kind != NAME_DB)
		abort();
	/* A NULL id or suffix is allowed and must not change the answer. */
	if (tfs_parse_name(name, NULL, NULL) != kind)
		abort();
	free(name);
	return 0;
}
