/* The logger behind log.h: one mutex around the sink so lines from worker
 * threads never interleave. */
#include "s3/base/log.h"
#include "s3/base/tsa.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static tfs_mutex log_lock = TFS_MUTEX_INITIALIZER;
static int log_level = LOG_INFO; /* read without the lock: a stale value is harmless */
static int log_syslog GUARDED_BY(log_lock);
static int log_extra_fd GUARDED_BY(log_lock) = -1;

static const char *const level_names[] = {"emerg",   "alert",  "crit", "error",
					  "warning", "notice", "info", "debug"};

void tfs_log_set_level(int level)
{
	if (level < LOG_EMERG)
		level = LOG_EMERG;
	if (level > LOG_DEBUG)
		level = LOG_DEBUG;
	__atomic_store_n(&log_level, level, __ATOMIC_RELAXED);
}

int tfs_log_level(void)
{
	return __atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

void tfs_log_use_syslog(const char *ident)
{
	tfs_mutex_lock(&log_lock);
	openlog(ident, LOG_PID, LOG_DAEMON);
	log_syslog = 1;
	tfs_mutex_unlock(&log_lock);
}

void tfs_log_set_fd(int fd)
{
	tfs_mutex_lock(&log_lock);
	log_extra_fd = fd;
	tfs_mutex_unlock(&log_lock);
}

void tfs_vlog(int level, const char *fmt, va_list ap)
{
	char msg[2048];
	char line[2200];
	struct timespec ts;
	struct tm tm;
	int n;

	if (level > tfs_log_level())
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line),
		     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ tenantfs[%d] %s: %s\n",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		     ts.tv_nsec / 1000000, (int)getpid(), level_names[level & 7], msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;

	tfs_mutex_lock(&log_lock);
	if (log_syslog)
		syslog(level, "%s", msg);
	else if (write(STDERR_FILENO, line, (size_t)n) < 0) {
		/* nowhere left to report it */
	}
	if (log_extra_fd >= 0 && write(log_extra_fd, line, (size_t)n) < 0) {
		/* same */
	}
	tfs_mutex_unlock(&log_lock);
}

void tfs_log(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tfs_vlog(level, fmt, ap);
	va_end(ap);
}

void tfs_vlog_from(int level, const char *from, const char *fmt, va_list ap)
{
	char msg[1024];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	tfs_log(level, "%s: %s", from, msg);
}
