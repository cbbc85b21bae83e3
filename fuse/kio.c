/* The daemon's reads and writes of /dev/fuse, through libfuse's custom I/O
 * hook, so that the INIT reply can grant the kernel two capabilities
 * libfuse 3.14 does not pass on: FUSE_HANDLE_KILLPRIV_V2 and
 * FUSE_PARALLEL_DIROPS. */
#include "fuse/kio.h"

#include <errno.h>
#include <linux/fuse.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "s3/base/log.h"

/*
 * Why: without FUSE_HANDLE_KILLPRIV_V2 the kernel leaves SB_NOSEC off on a
 * FUSE mount, so every write(2) first asks the daemon for the file's
 * "security.capability" attribute (to drop file capabilities), a full
 * GETXATTR round trip per write(2). Measured with libfuse's debug log:
 * with the writeback cache, 1,056 of 1,066 requests for 500 WAL commits
 * were that GETXATTR; without it, one per write came on top of each
 * WRITE. With the flag granted the kernel sets SB_NOSEC and asks once
 * per inode until its attributes are next refreshed.
 *
 * What the flag promises: the daemon itself clears setuid/setgid and
 * capabilities on write, truncate and chown. tenantfs files never carry
 * any: getattr shows the mount's mode without setuid, setgid and sticky
 * bits, chmod to any other mode is refused (fs.c), and so is setxattr, so
 * there is never anything to clear.
 *
 * FUSE_PARALLEL_DIROPS: libfuse 3.14 never sends it (its
 * FUSE_CAP_PARALLEL_DIROPS is ignored; 3.16 passes it on), so the kernel
 * sends one LOOKUP at a time per directory. The root is the only
 * directory here: one lookup waiting on the catalog (a name that is not
 * cached, during an outage) held up every other lookup of the mount,
 * SQLite's -journal probes of open databases included. The engine and
 * libfuse's high-level layer are thread-safe for lookups and readdir (one
 * directory handle is still served one request at a time).
 *
 * The INIT request is the first one the kernel sends and it sends nothing
 * else before the reply, so one request and its reply are inspected;
 * every other request and reply passes through untouched.
 */

static _Atomic uint64_t kio_init_unique; /* unique of INIT, 0 when done */
static _Atomic uint32_t kio_offered;	 /* which of the two the kernel offered */

static ssize_t kio_read(int fd, void *buf, size_t len, void *userdata)
{
	const struct fuse_in_header *in = buf;
	ssize_t n = read(fd, buf, len);

	(void)userdata;
	if (n >= (ssize_t)(sizeof(*in) + offsetof(struct fuse_init_in, flags2)) &&
	    in->opcode == FUSE_INIT) {
		const struct fuse_init_in *arg = (const void *)(in + 1);

		atomic_store(&kio_offered,
			     arg->flags & (FUSE_HANDLE_KILLPRIV_V2 | FUSE_PARALLEL_DIROPS));
		atomic_store(&kio_init_unique, in->unique);
	}
	return n;
}

static ssize_t kio_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	uint64_t init = atomic_load(&kio_init_unique);
	const struct fuse_out_header *out;
	struct fuse_init_out patched;
	struct iovec saved;
	ssize_t n;

	(void)userdata;
	if (!init || count < 2 || iov[0].iov_len < sizeof(*out))
		return writev(fd, iov, count);
	out = iov[0].iov_base;
	if (out->unique != init)
		return writev(fd, iov, count);
	atomic_store(&kio_init_unique, 0);
	/* libfuse sends the INIT reply as header + one fuse_init_out; an old
	 * kernel gets a shorter one and is left alone. */
	if (out->error != 0 || !atomic_load(&kio_offered) ||
	    iov[1].iov_len < offsetof(struct fuse_init_out, flags) + sizeof(uint32_t) ||
	    iov[1].iov_len > sizeof(patched)) {
		log_info("kernel does not take FUSE_HANDLE_KILLPRIV_V2: writes ask for "
			 "security.capability; nor FUSE_PARALLEL_DIROPS: one lookup at a time");
		return writev(fd, iov, count);
	}
	if (!(atomic_load(&kio_offered) & FUSE_HANDLE_KILLPRIV_V2))
		log_info("kernel does not take FUSE_HANDLE_KILLPRIV_V2: writes ask for "
			 "security.capability");
	memset(&patched, 0, sizeof(patched));
	memcpy(&patched, iov[1].iov_base, iov[1].iov_len);
	patched.flags |= atomic_load(&kio_offered);
	saved = iov[1];
	iov[1].iov_base = &patched;
	n = writev(fd, iov, count);
	iov[1] = saved;
	log_debug("granted the kernel 0x%x of FUSE_HANDLE_KILLPRIV_V2 | FUSE_PARALLEL_DIROPS",
		  (unsigned)atomic_load(&kio_offered));
	return n;
}

int tfs_kio_install(struct fuse_session *se)
{
	static const struct fuse_custom_io io = {.read = kio_read, .writev = kio_writev};
	int rc;

	rc = fuse_session_custom_io(se, &io, fuse_session_fd(se));
	if (rc != 0)
		log_warn("cannot hook the fuse device: %s; writes ask for security.capability",
			 strerror(rc < 0 ? -rc : rc));
	return rc;
}
