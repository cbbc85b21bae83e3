/* Unit tests of s3/base/progress.c on an injected clock: nothing is written
 * before one interval has passed, then one plain line per interval (not
 * per update); on a terminal a bar redrawn in place and cleared. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3/base/progress.h"
#include "tests/unit/tap.h"

static int64_t fake_ms;

static int64_t fake_now(void)
{
	return fake_ms;
}

static int count(const char *s, const char *sub)
{
	int n = 0;

	for (const char *p = s; (p = strstr(p, sub)); p += strlen(sub))
		n++;
	return n;
}

int main(void)
{
	struct progress p;
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	int i;

	if (!out)
		return 1;
	progress_init(&p, out, "verify", 0);
	TAP_OK(!p.tty && p.every_ms == PROGRESS_LINE_MS,
	       "a stream that is no terminal gets lines "
	       "every %d ms",
	       PROGRESS_LINE_MS);
	p.now = fake_now;
	fake_ms = 1000;
	p.start_ms = fake_ms;
	for (i = 1; i <= 100; i++) {
		fake_ms += 10; /* 1 s in all: less than one interval */
		progress_update(&p, "databases checked", (uint64_t)i, (uint64_t)i * 1024);
	}
	fflush(out);
	TAP_OK(len == 0, "a short run writes nothing (got '%s')", buf ? buf : "");

	for (i = 101; i <= 1100; i++) {
		fake_ms += 12; /* 12 s more: two intervals */
		progress_update(&p, NULL, (uint64_t)i, (uint64_t)i * 1024);
	}
	fflush(out);
	TAP_OK(count(buf, "\n") == 2, "one line per interval, not per update (got '%s')", buf);
	TAP_OK(strstr(buf, "verify: ") == buf && strstr(buf, "databases checked, ") &&
		   strstr(buf, "KiB") && strstr(buf, " s\n") && !strchr(buf, '\r'),
	       "a plain line says what, how many, bytes and time (got '%s')", buf);
	progress_clear(&p);
	fflush(out);
	TAP_OK(count(buf, "\n") == 2 && !strchr(buf, '\r'),
	       "clear writes nothing without a terminal");

	/* A terminal: a bar with the total, redrawn in place, then cleared. */
	fclose(out);
	free(buf);
	buf = NULL;
	out = open_memstream(&buf, &len);
	if (!out)
		return 1;
	progress_init(&p, out, "restore", 200);
	p.tty = true;
	p.every_ms = PROGRESS_TTY_MS;
	p.now = fake_now;
	p.start_ms = fake_ms;
	fake_ms += PROGRESS_TTY_MS;
	progress_update(&p, "databases restored", 50, 0);
	fflush(out);
	TAP_OK(strstr(buf, "\r\033[Krestore: [######..................] 50/200 databases restored "
			   "(25%)") == buf &&
		   !strchr(buf, '\n'),
	       "a terminal gets a bar, no newline (got '%s')", buf);
	fake_ms += PROGRESS_TTY_MS - 1;
	progress_update(&p, NULL, 60, 0);
	fflush(out);
	TAP_OK(count(buf, "\r") == 1, "no redraw before the interval");
	fake_ms += 1;
	progress_update(&p, NULL, 250, 0);
	fflush(out);
	TAP_OK(count(buf, "\r") == 2 && strstr(buf, "250/200 databases restored (100%)"),
	       "redrawn in place; more than the total shows 100%%");
	progress_clear(&p);
	fflush(out);
	TAP_OK(count(buf, "\r\033[K") == 3 && !p.drawn, "clear wipes the line");
	progress_clear(&p);
	fflush(out);
	TAP_OK(count(buf, "\r\033[K") == 3, "a second clear writes nothing");
	fclose(out);
	free(buf);
	return TAP_DONE();
}
