/* The clocks and sleeps every layer uses, in milliseconds. Thread-safe, no
 * state. Code that tests must drive takes an injectable clock in its
 * options (tcache_options.now_ms/mono_ms, http_options.now_ms/sleep_ms)
 * and falls back to these. */
#ifndef TFS_CLOCK_H
#define TFS_CLOCK_H

#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in ms: for durations, deadlines and timeouts. */
int64_t tfs_mono_ms(void);

/* CLOCK_REALTIME in ms since the epoch: for what is stored or compared
 * with other machines (lease expiry, history times, signatures). */
int64_t tfs_wall_ms(void);

/* Sleeps ms (nothing when ms <= 0), resumed after signals. */
void tfs_sleep_ms(long ms);

/* *ts = CLOCK_REALTIME now + ms: the absolute deadline that
 * pthread_cond_timedwait takes on a default condition variable. */
void tfs_wall_deadline(struct timespec *ts, long ms);

#endif
