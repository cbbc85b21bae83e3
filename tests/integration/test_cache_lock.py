#!/usr/bin/env python3
# tfs-timeout: 180
"""One cache folder, one daemon: tenantfs takes an exclusive flock() on
<cache>/lock at start and holds it for its life. On the embedded store:

- a second mount on the same cache folder (another mountpoint) fails
  before mounting, with "cache DIR is in use by another tenantfs (pid N)"
  naming the first daemon, in the foreground (-f) and when it would
  daemonize (the error reaches the terminal, exit status 1);
- the first mount is unaffected: it keeps serving and writing back;
- a daemonized tenantfs (no -f: fuse_daemonize forks) still holds the lock
  in the forked daemon, and the lock file names that daemon's pid;
- after kill -9 of the first daemon the kernel has dropped the lock: a new
  mount on the same cache succeeds and recovers what was committed.

Run time: about 5-15 s (four short mounts)."""

import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mount as m  # noqa: E402
import tfstest as t  # noqa: E402

IN_USE = "is in use by another tenantfs"


def rows(path):
    rc, out, err = m.sqlite_cli(path, "SELECT count(*) FROM t;\n")
    return int(out.strip()) if rc == 0 and out.strip().isdigit() else None


def second_mount_refused(src, mp2, opts, first_pid, cache, label):
    """A foreground mount on the cache in use must exit before mounting,
    with the message naming the first daemon."""
    log = mp2 + f"-{label}.log"
    second = m.Mount(src, mp2, opts, log=log, start_timeout=60)
    try:
        second.start()
    except m.MountError:
        pass
    else:
        t.ok(False, f"{label}: a second daemon on the same cache is refused",
             "it mounted")
        second.unmount()
        return
    text = second.log_text()
    # 1: it exited by itself (the start timeout would have killed it: < 0)
    t.ok(not m.is_fuse_mount(mp2) and second.returncode == 1,
         f"{label}: a second daemon on the same cache exits with status 1 before mounting",
         f"status {second.returncode}")
    want = f"cache {cache} {IN_USE} (pid {first_pid})"
    t.ok(want in text, f"{label}: it says '{want}'", text[-2000:])


def main():
    m.need_fuse()
    m.tenantfs_binary()
    base = tempfile.mkdtemp(prefix="cachelock-", dir=t.tmp_dir())
    src = os.path.join(base, "store")
    cache = os.path.join(base, "cache")
    mp1, mp2 = os.path.join(base, "mnt1"), os.path.join(base, "mnt2")
    opts = ["node=n1", f"cache={cache}", "idle=0.2", "linger=0"]
    r = m.run_tenantfs(["init", src])
    if not t.ok(r.returncode == 0, "tenantfs init", r.stderr):
        return

    first = m.Mount(src, mp1, opts, log=os.path.join(base, "first.log"))
    first.start()
    try:
        db = os.path.join(mp1, "u1.db")
        rc, _, err = m.sqlite_cli(db, "CREATE TABLE t(k INTEGER PRIMARY KEY);\n"
                                      "INSERT INTO t VALUES(1);\n")
        t.ok(rc == 0, "first mount serves u1.db", err)
        with open(os.path.join(cache, "lock"), encoding="utf-8") as f:
            t.eq(f.read().strip(), str(first.proc.pid), "the lock file names the daemon's pid")

        second_mount_refused(src, mp2, opts, first.proc.pid, cache, "foreground")

        # Daemonizing mode: the error must come before the fork, on stderr.
        r = m.run_tenantfs(["-o", ",".join(opts), src, mp2])
        if r.returncode == 0:
            subprocess.run(["fusermount3", "-u", mp2], capture_output=True, timeout=30)
        t.ok(r.returncode != 0 and f"{IN_USE} (pid {first.proc.pid})" in r.stderr,
             "without -f the refusal reaches the terminal with a non-zero status",
             f"status {r.returncode}: {r.stderr[-1500:]}")
        t.ok(not m.is_fuse_mount(mp2), "nothing is mounted on the second mountpoint")

        rc, _, err = m.sqlite_cli(db, "INSERT INTO t VALUES(2);\n")
        t.ok(rc == 0 and rows(db) == 2, "the first mount keeps serving after the refusals",
             err)
        try:
            m.wait_clean(db, min_gen=1)
            t.ok(True, "the first mount keeps writing back")
        except TimeoutError as e:
            t.ok(False, "the first mount keeps writing back", str(e))
        rc, _, err = m.sqlite_cli(db, "INSERT INTO t VALUES(3);\n")
        t.ok(rc == 0, "a third row, committed and closed before the kill", err)
    finally:
        # kill -9: the kernel must drop the lock with the process.
        pid = first.proc.pid if first.proc else None
        if pid:
            os.kill(pid, signal.SIGKILL)
            first.proc.wait(timeout=60)
            first.proc = None
        subprocess.run(["fusermount3", "-uz", mp1], capture_output=True, timeout=30)

    again = m.Mount(src, mp1, opts, log=os.path.join(base, "again.log"))
    try:
        again.start()
        t.ok(True, "after kill -9 of the first daemon a new mount on the cache succeeds")
        t.eq(rows(os.path.join(mp1, "u1.db")), 3, "it serves every committed row")
        t.eq(again.unmount(), 0, "it unmounts cleanly")
    except m.MountError as e:
        t.ok(False, "after kill -9 of the first daemon a new mount on the cache succeeds",
             str(e))
        again.kill()

    # Daemonized: fuse_daemonize() forks after the lock is taken; the lock
    # (an open file description) goes with the fork, and the pid in the
    # file is the daemon's, written once it has forked.
    cache2 = os.path.join(base, "cache2")
    opts2 = ["node=n2", f"cache={cache2}", "linger=0"]
    r = m.run_tenantfs(["-o", ",".join(opts2), src, mp2])
    if not t.ok(r.returncode == 0 and m.is_fuse_mount(mp2), "a daemonized mount starts",
                r.stderr):
        return
    dpid = None
    try:
        with open(os.path.join(cache2, "lock"), encoding="utf-8") as f:
            dpid = int(f.read().strip() or "0")
        t.record_pid(dpid)
        t.ok(dpid > 0 and os.path.exists(f"/proc/{dpid}"),
             "the lock file names the forked daemon, which is running", str(dpid))
        second_mount_refused(src, mp1, opts2, dpid, cache2, "daemonized holder")
    finally:
        subprocess.run(["fusermount3", "-u", mp2], capture_output=True, timeout=30)
        # bounded wait for the daemon to finish its unmount and exit
        for _ in range(600):
            if not dpid or not os.path.exists(f"/proc/{dpid}"):
                break
            time.sleep(0.1)
        if dpid and os.path.exists(f"/proc/{dpid}"):
            t.kill_pid(dpid)
    t.ok(not dpid or not os.path.exists(f"/proc/{dpid}"), "the daemonized mount exits")


if __name__ == "__main__":
    m.run_main(main)
