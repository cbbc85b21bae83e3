/* One logger for the whole daemon: syslog levels, printf-checked macros and
 * a thread-safe sink (stderr or syslog). Lower-case messages, what failed
 * first, then why. Never pass a secret to it. */
#ifndef TFS_LOG_H
#define TFS_LOG_H

#include <stdarg.h>
#include <syslog.h>

/* Messages above this level (LOG_ERR..LOG_DEBUG) are dropped. Default LOG_INFO. */
void tfs_log_set_level(int level);
int tfs_log_level(void);

/* Send messages to syslog(3) under ident instead of stderr. */
void tfs_log_use_syslog(const char *ident);

/* Mirror every message into a file descriptor as well (tests read it). */
void tfs_log_set_fd(int fd);

void tfs_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tfs_vlog(int level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* A library's own message (libfuse, libmicrohttpd) through ours: fmt with
 * ap at level, as "from: message", without the newlines the library ends
 * it with (ours adds one); cut at 1 KiB. */
void tfs_vlog_from(int level, const char *from, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#define log_err(...)	tfs_log(LOG_ERR, __VA_ARGS__)
#define log_warn(...)	tfs_log(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) tfs_log(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)	tfs_log(LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                   \
	do {                                             \
		if (tfs_log_level() >= LOG_DEBUG)        \
			tfs_log(LOG_DEBUG, __VA_ARGS__); \
	} while (0)

#endif
