/* Text parsing every layer shares: the name rule of ids and node labels,
 * lowercase hex, unsigned decimals and ISO-8601 times. Pure functions, no
 * state: safe from any thread. One rule each, so two places never disagree
 * on what a valid id or timestamp is. */
#ifndef TFS_PARSE_H
#define TFS_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Whether the len bytes at s are a name: 1 to max bytes of ASCII letters,
 * digits, '.', '_' and '-', not starting with '.' (no hidden files, no "."
 * or ".."). Database ids (max CAT_ID_MAX) and node labels use it. */
bool tfs_valid_name(const char *s, size_t len, size_t max);

/* Whether the n bytes at s are all lowercase hex digits. n == 0 is false:
 * a caller for which "no hash" is valid says so at its call. */
bool tfs_is_hex(const char *s, size_t n);

/* An unsigned decimal: digits only, no sign, no space, no overflow. With
 * end NULL the whole string must be the number; otherwise *end gets the
 * first byte after the digits. 0 or -EINVAL (*out untouched). */
int tfs_parse_u64(const char *s, uint64_t *out, const char **end);

/* "YYYY-MM-DDTHH:MM:SS", an optional fraction (milliseconds kept, finer
 * digits dropped), then 'Z' (or 'z'), or with utc_only false also a
 * numeric offset "+HH:MM" / "-HH:MM", into ms since the epoch. "+00:00"
 * counts as UTC. 0 or -EINVAL (*ms untouched). */
int tfs_parse_iso8601_ms(const char *s, bool utc_only, int64_t *ms);

#endif
