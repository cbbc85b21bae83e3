/* The daemon's I/O on /dev/fuse: plain read and writev, except that the
 * reply to the kernel's INIT also grants FUSE_HANDLE_KILLPRIV_V2, which
 * libfuse 3.14 cannot negotiate (see kio.c for why it matters). */
#ifndef TFS_FUSE_KIO_H
#define TFS_FUSE_KIO_H

#include <fuse_lowlevel.h>

/* Call after fuse_mount() and before the session loop starts. Returns 0,
 * or libfuse's error; the mount works either way, only slower. */
int tfs_kio_install(struct fuse_session *se);

#endif
