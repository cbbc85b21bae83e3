/* The administration subcommands of tenantfs(8) that need no mount:
 * `snapshot`, `snapshots` and `restore` (cache/fleet/snapshot_manifest.h does
 * the work; this is the command line). */
#ifndef TFS_FUSE_ADMIN_H
#define TFS_FUSE_ADMIN_H

#include <stdbool.h>

/* argv[1] names one of these subcommands. */
bool tfs_admin_command(const char *arg);

/* Runs the subcommand of argv[1]; returns the process exit status (0 ok,
 * 1 failure, 2 usage error). */
int tfs_admin_main(int argc, char *argv[]);

#endif
