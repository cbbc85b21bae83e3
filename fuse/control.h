/* Commands that talk to a running mount: `tenantfs status MOUNTPOINT`.
 * They read the read-only attributes the mount root serves (fuse/fs.c:
 * user.tenantfs.node and user.tenantfs.stats), so they reuse the
 * counters' code and need no channel of their own. */
#ifndef TFS_CONTROL_H
#define TFS_CONTROL_H

#include <stdbool.h>

/* arg is a command of a running mount (status). */
bool tfs_control_command(const char *arg);
/* Runs it: 0 done, 1 failed (not a tenantfs mount), 2 usage. */
int tfs_control_main(int argc, char *argv[]);

#endif
