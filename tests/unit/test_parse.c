/* Unit tests of the shared parsers (s3/parse.c): names and hex, with the edge cases each caller relies on. */
#include <string.h>

#include "s3/parse.h"
#include "tests/unit/tap.h"

static void test_names(void)
{
	char long_name[130];

	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	TAP_OK(tfs_valid_name("alice", 5, 128), "a plain name");
	TAP_OK(tfs_valid_name("a.b_c-D9", 8, 128), "letters, digits, '.', '_' and '-'");
	TAP_OK(!tfs_valid_name("", 0, 128), "empty refused");
	TAP_OK(!tfs_valid_name(".hidden", 7, 128), "leading dot refused");
	TAP_OK(!tfs_valid_name("a/b", 3, 128) && !tfs_valid_name("a b", 3, 128) &&
		   !tfs_valid_name("a\xc3\xa9", 3, 128),
	       "slash, space and non-ASCII refused");
	TAP_OK(tfs_valid_name(long_name, 128, 128) && !tfs_valid_name(long_name, 129, 128),
	       "max bytes accepted, one more refused");
	TAP_OK(tfs_valid_name("abc/", 3, 128), "only the first len bytes count");
	TAP_OK(!tfs_valid_name(NULL, 3, 128), "NULL refused");
}

static void test_hex(void)
{
	TAP_OK(tfs_is_hex("0123456789abcdef", 16), "lowercase hex digits");
	TAP_OK(!tfs_is_hex("ABCDEF", 6), "uppercase is not our hex");
	TAP_OK(!tfs_is_hex("12g4", 4), "a non-digit refused");
	TAP_OK(!tfs_is_hex("", 0), "empty is not hex");
	TAP_OK(tfs_is_hex("ab!", 2), "only the first n bytes count");
}

int main(void)
{
	test_names();
	test_hex();
	return TAP_DONE();
}
