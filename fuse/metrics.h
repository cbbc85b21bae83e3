/* `-o metrics=ADDR:PORT`: /metrics in the Prometheus text format (0.0.4),
 * served by libmicrohttpd's own thread from the status document of
 * fuse/control.h. Loopback only unless -o metrics_remote. */
#ifndef TFS_METRICS_H
#define TFS_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct tfs_control_ctx;

/* ADDR:PORT with a numeric IPv4 address or [IPv6] and a port 1-65535
 * into *ss / *len; *loopback tells whether it is 127.0.0.0/8 or ::1.
 * 0 or -EINVAL. */
int tfs_metrics_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len, bool *loopback);

/* Binds and listens on addr (validated by tfs_metrics_parse): in the
 * foreground, so that a port in use fails the mount with a clear message.
 * The descriptor into *fd; 0 or a negative errno (logged). */
int tfs_metrics_bind(const char *addr, int *fd);

struct tfs_metrics;

/* Serves /metrics on fd (taken over) from ctx (borrowed, must outlive the
 * server). 0 or a negative errno (logged; fd is closed). */
int tfs_metrics_start(const struct tfs_control_ctx *ctx, int fd, struct tfs_metrics **out);
/* Stops the server and closes its socket. NULL is fine. */
void tfs_metrics_stop(struct tfs_metrics *m);

/* The exposition text of the status document doc (a JSON object as
 * tfs_control_status makes it): malloc'ed, NUL terminated; NULL when out
 * of memory. For the server and the tests. */
struct json_t;
char *tfs_metrics_render(struct json_t *doc, size_t *len);

#endif
