/* Progress lines of the administration commands on stderr: a bar redrawn
 * in place on a terminal, a plain line every PROGRESS_LINE_MS otherwise
 * (see progress.h). */
#include "s3/base/progress.h"
#include "s3/base/clock.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BAR_WIDTH 24

void progress_init(struct progress *p, FILE *out, const char *what, uint64_t total)
{
	memset(p, 0, sizeof(*p));
	p->out = out;
	p->tty = isatty(fileno(out)) == 1;
	p->every_ms = p->tty ? PROGRESS_TTY_MS : PROGRESS_LINE_MS;
	p->now = tfs_mono_ms;
	p->what = what;
	p->total = total;
	p->stage = "done";
	p->start_ms = p->now();
}

/* "512 B", "3.4 MiB": for a human, never parsed. */
static void human_bytes(uint64_t n, char *buf, size_t cap)
{
	static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)n;
	unsigned u = 0;

	while (v >= 1024 && u + 1 < sizeof(unit) / sizeof(unit[0])) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, cap, "%" PRIu64 " B", n);
	else
		snprintf(buf, cap, "%.1f %s", v, unit[u]);
}

static void draw(struct progress *p, int64_t now)
{
	char bytes[32], bar[BAR_WIDTH + 1];
	int64_t secs = (now - p->start_ms) / 1000;
	unsigned filled, pct;

	human_bytes(p->bytes, bytes, sizeof(bytes));
	if (p->tty)
		fputs("\r\033[K", p->out);
	fprintf(p->out, "%s: ", p->what);
	if (p->total) {
		pct = (unsigned)(p->done >= p->total ? 100 : p->done * 100 / p->total);
		filled = pct * BAR_WIDTH / 100;
		memset(bar, '#', filled);
		memset(bar + filled, '.', BAR_WIDTH - filled);
		bar[BAR_WIDTH] = '\0';
		if (p->tty)
			fprintf(p->out, "[%s] ", bar);
		fprintf(p->out, "%" PRIu64 "/%" PRIu64 " %s (%u%%)", p->done, p->total, p->stage,
			pct);
	} else {
		fprintf(p->out, "%" PRIu64 " %s", p->done, p->stage);
	}
	fprintf(p->out, ", %s, %" PRId64 " s", bytes, secs);
	if (!p->tty)
		fputc('\n', p->out);
	fflush(p->out);
	p->drawn = p->tty;
	p->last_ms = now;
}

void progress_update(struct progress *p, const char *stage, uint64_t done, uint64_t bytes)
{
	int64_t now = p->now();

	if (stage)
		p->stage = stage;
	p->done = done;
	p->bytes = bytes;
	/* The first line only after one interval: a short run prints none. */
	if (now - (p->last_ms ? p->last_ms : p->start_ms) >= p->every_ms)
		draw(p, now);
}

void progress_clear(struct progress *p)
{
	if (!p->drawn)
		return;
	fputs("\r\033[K", p->out);
	fflush(p->out);
	p->drawn = false;
}
