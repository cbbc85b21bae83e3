/* Progress of a long administration command (verify; later gc, snapshot,
 * restore, flush) on stderr: on a terminal one status line redrawn in
 * place (a bar when the total is known), otherwise a plain line every few
 * seconds so that logs of cron jobs show it is alive. Not thread-safe:
 * one command thread drives it. */
#ifndef TFS_FUSE_PROGRESS_H
#define TFS_FUSE_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define PROGRESS_TTY_MS	 200  /* terminal redraw interval */
#define PROGRESS_LINE_MS 5000 /* interval of plain lines */

struct progress {
	FILE *out;	      /* stderr unless a test sets another */
	bool tty;	      /* out is a terminal: redraw one line in place */
	int64_t every_ms;     /* minimum time between two outputs */
	int64_t (*now)(void); /* monotonic ms; injectable for tests */
	const char *what;     /* "verify": what the line starts with; borrowed */
	uint64_t total;	      /* items expected, 0 = unknown (no bar) */
	uint64_t done;	      /* items done */
	uint64_t bytes;	      /* bytes covered so far */
	const char *stage;    /* what is going on now ("checking", "listing"); borrowed */
	int64_t start_ms;
	int64_t last_ms; /* when the last output was written, 0 = never */
	bool drawn;	 /* a terminal line is on screen and must be cleared */
};

/* Starts progress on out (the terminal test is isatty(fileno(out))); what
 * and later stage strings are borrowed and must outlive the progress. */
void progress_init(struct progress *p, FILE *out, const char *what, uint64_t total);

/* Records the counts and the stage (NULL: unchanged) and writes a line
 * if one is due. Cheap when none is due: call it after every item. */
void progress_update(struct progress *p, const char *stage, uint64_t done, uint64_t bytes);

/* Clears the terminal line, if one is drawn, so that the caller's own
 * output starts on a clean line. Call before printing a result line and
 * at the end. */
void progress_clear(struct progress *p);

#endif
