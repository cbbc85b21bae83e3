/* Unit tests of the shared parsers (s3/base/parse.c): names, hex, unsigned
 * decimals and ISO-8601 times, with the edge cases each caller relies on. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "s3/base/parse.h"
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

static void test_u64(void)
{
	uint64_t u = 7;
	const char *end = NULL;

	TAP_OK(tfs_parse_u64("0", &u, NULL) == 0 && u == 0, "u64 0");
	TAP_OK(tfs_parse_u64("18446744073709551615", &u, NULL) == 0 && u == UINT64_MAX, "u64 max");
	u = 7;
	TAP_OK(tfs_parse_u64("18446744073709551616", &u, NULL) == -EINVAL && u == 7,
	       "u64 overflow rejected, the output untouched");
	TAP_OK(tfs_parse_u64("-1", &u, NULL) == -EINVAL, "negative u64 rejected");
	TAP_OK(tfs_parse_u64("1.5", &u, NULL) == -EINVAL, "fraction rejected");
	TAP_OK(tfs_parse_u64("1e3", &u, NULL) == -EINVAL, "exponent rejected");
	TAP_OK(tfs_parse_u64("", &u, NULL) == -EINVAL, "empty number rejected");
	TAP_OK(tfs_parse_u64(NULL, &u, NULL) == -EINVAL, "NULL rejected");
	TAP_OK(tfs_parse_u64(" 1", &u, NULL) == -EINVAL, "space rejected");
	TAP_OK(tfs_parse_u64("+1", &u, NULL) == -EINVAL, "plus sign rejected");
	TAP_OK(tfs_parse_u64("42\r\n", &u, &end) == 0 && u == 42 && end && !strcmp(end, "\r\n"),
	       "with end: the digits, and where they stop");
	TAP_OK(tfs_parse_u64("x", &u, &end) == -EINVAL, "with end: still at least one digit");
}

static void test_iso8601(void)
{
	int64_t ms = 7;

	TAP_OK(tfs_parse_iso8601_ms("2009-10-12T17:50:30.000Z", true, &ms) == 0 &&
		   ms == 1255369830000LL,
	       "iso8601 with .000Z");
	TAP_OK(tfs_parse_iso8601_ms("2009-10-12T17:50:30.5Z", true, &ms) == 0 &&
		   ms == 1255369830500LL,
	       "iso8601 with one fractional digit");
	TAP_OK(tfs_parse_iso8601_ms("2009-10-12T17:50:30.123456Z", true, &ms) == 0 &&
		   ms == 1255369830123LL,
	       "iso8601: digits past milliseconds dropped");
	TAP_OK(tfs_parse_iso8601_ms("2009-10-12T17:50:30+00:00", true, &ms) == 0 &&
		   ms == 1255369830000LL,
	       "iso8601 with +00:00 is UTC");
	TAP_OK(tfs_parse_iso8601_ms("2009-10-12T19:50:30+02:00", false, &ms) == 0 &&
		   ms == 1255369830000LL,
	       "iso8601 with an offset, where offsets are allowed");
	TAP_OK(tfs_parse_iso8601_ms("2009-10-12T15:20:30-02:30", false, &ms) == 0 &&
		   ms == 1255369830000LL,
	       "iso8601 with a negative offset");
	ms = 7;
	TAP_OK(tfs_parse_iso8601_ms("2009-10-12T19:50:30+02:00", true, &ms) == -EINVAL && ms == 7,
	       "an offset refused where only UTC is, the output untouched");
	TAP_OK(tfs_parse_iso8601_ms("2009-10-12 17:50", false, &ms) == -EINVAL,
	       "malformed date rejected");
	TAP_OK(tfs_parse_iso8601_ms("2009-10-12T17:50:30.000", false, &ms) == -EINVAL,
	       "date without zone rejected");
	TAP_OK(tfs_parse_iso8601_ms("2009-10-12T17:50:30.Z", false, &ms) == -EINVAL,
	       "a dot without digits rejected");
	TAP_OK(tfs_parse_iso8601_ms("2009-13-12T17:50:30Z", false, &ms) == -EINVAL &&
		   tfs_parse_iso8601_ms("2009-10-12T24:00:00Z", false, &ms) == -EINVAL,
	       "month 13 and hour 24 rejected");
	TAP_OK(tfs_parse_iso8601_ms("2009-10-12T17:50:30Zjunk", false, &ms) == -EINVAL,
	       "trailing bytes rejected");
	TAP_OK(tfs_parse_iso8601_ms(NULL, false, &ms) == -EINVAL, "NULL rejected");
}

int main(void)
{
	test_names();
	test_hex();
	test_u64();
	test_iso8601();
	return TAP_DONE();
}
