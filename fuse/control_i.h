/* What the control server (control.c) and its commands (control_cli.c)
 * share: the limits of the protocol, where the socket is, and reading and
 * writing one line of JSON with a deadline. */
#ifndef TFS_CONTROL_I_H
#define TFS_CONTROL_I_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes of one request or answer line: a status of 100,000 active
 * databases is about 17 MB, a flush poll of as many about 6 MB. */
#define REQ_MAX		 (64 << 20)
#define IO_TIMEOUT_MS	 5000 /* a peer that sends or reads nothing this long is dropped */
#define FLUSH_POLL_MS	 250
#define FLUSH_DEFAULT_MS 60000
#define IDS_MAX		 10000	 /* databases named in one flush or evict */
#define POLL_MAX	 1000000 /* databases one flush waits for */

/* The absolute, resolved mount point: realpath, or that of its parent
 * (another user's mount point cannot be stat'ed, not even by root). */
int ctl_resolve_mountpoint(const char *mp, char *buf, size_t cap);

/* dir/<hash of the resolved mount point>.sock into buf. */
int ctl_sock_name(const char *mountpoint, const char *dir, char *buf, size_t cap);

/* Reads one line (without its '\n') into a malloc'ed, NUL-terminated
 * buffer: 0, or a negative errno (-EMSGSIZE past REQ_MAX). deadline is
 * mono ms. */
int ctl_read_line(int fd, char **out, size_t *len, int64_t deadline);

/* Sends obj (stolen) as one line. 0 or a negative errno. */
int ctl_send_json(int fd, json_t *obj, int64_t deadline);

#endif
