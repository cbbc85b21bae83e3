/* A tiny test harness for C tests: each check prints "ok - name" or
 * "not ok - name: why"; tests/run counts those lines into the closing
 * "N passed, N failed". Exit status 1 if anything failed, 77 to skip. */
#ifndef TFS_TAP_H
#define TFS_TAP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_failed;
static int tap_passed;

#define TAP_OK(cond, ...)                                               \
	do {                                                            \
		if (cond) {                                             \
			tap_passed++;                                   \
			printf("ok - ");                                \
		} else {                                                \
			tap_failed++;                                   \
			printf("not ok - %s:%d: ", __FILE__, __LINE__); \
		}                                                       \
		printf(__VA_ARGS__);                                    \
		printf("\n");                                           \
		fflush(stdout);                                         \
	} while (0)

#define TAP_STREQ(a, b, name)                                                                      \
	do {                                                                                       \
		const char *tap_a_ = (a), *tap_b_ = (b);                                           \
		int tap_eq_ = tap_a_ && tap_b_ && strcmp(tap_a_, tap_b_) == 0;                     \
		TAP_OK(tap_eq_, "%s", name);                                                       \
		if (!tap_eq_)                                                                      \
			printf("#   got:      %s\n#   expected: %s\n", tap_a_ ? tap_a_ : "(null)", \
			       tap_b_ ? tap_b_ : "(null)");                                        \
	} while (0)

#define TAP_DONE() (tap_failed ? 1 : 0)

#endif
