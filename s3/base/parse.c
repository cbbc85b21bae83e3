/* Text parsing every layer shares (parse.h): names, hex, decimals and
 * ISO-8601 times, each written once. */
#include "s3/base/parse.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

int tfs_parse_u64(const char *s, uint64_t *out, const char **end)
{
	char *e;
	unsigned long long v;

	/* strtoull would take leading blanks and a sign ("-1" wraps to
	 * UINT64_MAX): only digits are a number here. */
	if (!s || !digit(s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &e, 10);
	if (errno || (!end && *e))
		return -EINVAL;
	if (end)
		*end = e;
	*out = v;
	return 0;
}

/* n digits at *p into *v, advancing *p. */
static bool fixed_digits(const char **p, int n, int *v)
{
	int i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if (!digit((*p)[i]))
			return false;
		*v = *v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	return true;
}

/* The literal c at *p, advancing *p. */
static bool lit(const char **p, char c)
{
	if (**p != c)
		return false;
	(*p)++;
	return true;
}

int tfs_parse_iso8601_ms(const char *s, bool utc_only, int64_t *ms)
{
	struct tm tm;
	const char *p = s;
	int y, mo, d, h, mi, sec, oh = 0, om = 0, frac = 0, digits = 0, sign = 0;
	time_t t;

	if (!s || !fixed_digits(&p, 4, &y) || !lit(&p, '-') || !fixed_digits(&p, 2, &mo) ||
	    !lit(&p, '-') || !fixed_digits(&p, 2, &d) || !lit(&p, 'T') ||
	    !fixed_digits(&p, 2, &h) || !lit(&p, ':') || !fixed_digits(&p, 2, &mi) ||
	    !lit(&p, ':') || !fixed_digits(&p, 2, &sec))
		return -EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return -EINVAL;
	if (lit(&p, '.')) {
		for (; digit(*p); p++, digits++)
			if (digits < 3)
				frac = frac * 10 + (*p - '0');
		if (digits == 0)
			return -EINVAL;
		for (; digits < 3; digits++)
			frac *= 10;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p++ == '-' ? -1 : 1;
		if (!fixed_digits(&p, 2, &oh) || !lit(&p, ':') || !fixed_digits(&p, 2, &om) ||
		    oh > 23 || om > 59)
			return -EINVAL;
		if (utc_only && (oh || om))
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	if (*p)
		return -EINVAL;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -EINVAL;
	*ms = ((int64_t)t - sign * ((int64_t)oh * 3600 + (int64_t)om * 60)) * 1000 + frac;
	return 0;
}
