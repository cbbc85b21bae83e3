/* Text parsing every layer shares (parse.h): names and hex, each written
 * once. */
#include "s3/parse.h"

static bool digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || digit(c) || c == '.' ||
	       c == '_' || c == '-';
}

bool tfs_valid_name(const char *s, size_t len, size_t max)
{
	size_t i;

	if (!s || len == 0 || len > max || s[0] == '.')
		return false;
	for (i = 0; i < len; i++)
		if (!name_char(s[i]))
			return false;
	return true;
}

bool tfs_is_hex(const char *s, size_t n)
{
	size_t i;

	if (!s || n == 0)
		return false;
	for (i = 0; i < n; i++)
		if (!(digit(s[i]) || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}
