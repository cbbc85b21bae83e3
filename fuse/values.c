/* The value parsers of the command line (declared in options.h): durations,
 * sizes, uid/gid numbers, umasks, and the node, table and bucket names.
 * Pure functions: 0 or -EINVAL, nothing logged (the caller names the
 * option in its message). */
#include "fuse/options.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "s3/base/parse.h"

int tfs_parse_seconds(const char *s, long *ms)
{
	long whole = 0, frac = 0;
	int nfrac = 0;
	const char *p = s;

	if (!s || !isdigit((unsigned char)*p))
		return -EINVAL;
	while (isdigit((unsigned char)*p)) {
		whole = whole * 10 + (*p - '0');
		if (whole > 1000000000L)
			return -EINVAL;
		p++;
	}
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		while (isdigit((unsigned char)*p)) {
			if (nfrac == 3)
				return -EINVAL;
			frac = frac * 10 + (*p - '0');
			nfrac++;
			p++;
		}
		while (nfrac < 3) {
			frac *= 10;
			nfrac++;
		}
	}
	if (*p != '\0')
		return -EINVAL;
	*ms = whole * 1000 + frac;
	return 0;
}

int tfs_parse_size(const char *s, uint64_t *bytes)
{
	uint64_t v = 0, mult = 1;
	const char *p = s;
	int shift = 0;

	if (!s || !isdigit((unsigned char)*p))
		return -EINVAL;
	while (isdigit((unsigned char)*p)) {
		unsigned d = (unsigned)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
		p++;
	}
	switch (toupper((unsigned char)*p)) {
	case '\0': break;
	case 'K': shift = 10; break;
	case 'M': shift = 20; break;
	case 'G': shift = 30; break;
	case 'T': shift = 40; break;
	default: return -EINVAL;
	}
	if (shift) {
		p++;
		if (strcmp(p, "") != 0 && strcmp(p, "B") != 0 && strcmp(p, "iB") != 0 &&
		    strcmp(p, "b") != 0)
			return -EINVAL;
	} else if (*p != '\0') {
		return -EINVAL;
	}
	mult = (uint64_t)1 << shift;
	if (v > UINT64_MAX / mult)
		return -EINVAL;
	*bytes = v * mult;
	return 0;
}

int tfs_parse_id(const char *s, unsigned int *id)
{
	unsigned long long v = 0;
	const char *p = s;

	if (!s || !isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		v = v * 10 + (unsigned)(*p - '0');
		if (v >= UINT_MAX)
			return -EINVAL;
	}
	if (*p != '\0')
		return -EINVAL;
	*id = (unsigned int)v;
	return 0;
}

int tfs_parse_umask(const char *s, mode_t *mask)
{
	mode_t v = 0;
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > 4)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '7')
			return -EINVAL;
		v = (mode_t)(v * 8 + (mode_t)(s[i] - '0'));
	}
	if (v > 0777)
		return -EINVAL;
	*mask = v;
	return 0;
}

int tfs_valid_node(const char *node)
{
	/* A DynamoDB table name; a leading '-' would read as an option. */
	return node && node[0] != '-' && tfs_valid_name(node, strlen(node), TFS_NODE_MAX);
}

int tfs_valid_bucket(const char *bucket)
{
	size_t n = bucket ? strlen(bucket) : 0;

	if (n < 3 || n > 63)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = bucket[i];

		if (!(c >= 'a' && c <= 'z') && !(c >= '0' && c <= '9') && c != '.' && c != '-')
			return 0;
	}
	return isalnum((unsigned char)bucket[0]) && isalnum((unsigned char)bucket[n - 1]);
}
