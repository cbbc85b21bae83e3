/* Unit tests of s3/base/log.c's tfs_vlog_from: a library's message comes
 * out through our logger with its prefix, without its trailing newlines,
 * cut at 1 KiB, and dropped below the log level. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "s3/base/log.h"
#include "tests/unit/tap.h"

static int fds[2];

static void lib_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void lib_log(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tfs_vlog_from(level, "libx", fmt, ap);
	va_end(ap);
}

/* What the last call wrote to the pipe (NUL terminated), or "". */
static const char *drain(void)
{
	static char buf[4096];
	ssize_t n = read(fds[0], buf, sizeof(buf) - 1);

	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static bool ends_with(const char *s, const char *tail)
{
	size_t a = strlen(s), b = strlen(tail);

	return a >= b && strcmp(s + a - b, tail) == 0;
}

int main(void)
{
	char big[2000];
	const char *got, *msg;

	if (pipe2(fds, O_NONBLOCK) < 0)
		return 1;
	tfs_log_set_fd(fds[1]);

	lib_log(LOG_WARNING, "hello %d\n\n", 42);
	got = drain();
	TAP_OK(ends_with(got, " warning: libx: hello 42\n"), "prefixed, one newline: %s", got);

	lib_log(LOG_DEBUG, "not shown");
	TAP_STREQ(drain(), "", "a message below the level is dropped");

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	lib_log(LOG_ERR, "%s", big);
	got = drain();
	msg = strstr(got, "libx: ");
	TAP_OK(msg && strlen(msg) == strlen("libx: ") + 1023 + 1, "cut at 1 KiB (%zu bytes)",
	       msg ? strlen(msg) : 0);

	tfs_log_set_fd(-1);
	return TAP_DONE();
}
