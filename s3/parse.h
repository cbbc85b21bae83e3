/* Text parsing every layer shares: the name rule of ids and node labels
 * and lowercase hex. Pure functions, no
 * state: safe from any thread. One rule each, so two places never disagree
 * on what a valid id or timestamp is. */
#ifndef TFS_PARSE_H
#define TFS_PARSE_H

#include <stdbool.h>
#include <stddef.h>

/* Whether the len bytes at s are a name: 1 to max bytes of ASCII letters,
 * digits, '.', '_' and '-', not starting with '.' (no hidden files, no "."
 * or ".."). Database ids (max CAT_ID_MAX) and node labels use it. */
bool tfs_valid_name(const char *s, size_t len, size_t max);

/* Whether the n bytes at s are all lowercase hex digits. n == 0 is false:
 * a caller for which "no hash" is valid says so at its call. */
bool tfs_is_hex(const char *s, size_t n);

#endif
