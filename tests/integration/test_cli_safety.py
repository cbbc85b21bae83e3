#!/usr/bin/env python3
# tfs-timeout: 180
"""A mistyped command line must not mount over the store (issue 7, item
5). On main `tenantfs verify /srv/store` created an embedded store named
`verify` in the current directory and mounted it over /srv/store. Checked
here, each time: the exit status, the message, that nothing was created
(no folder in the current directory, no catalog file, no cache), that
nothing is mounted, and that the store's files are as they were.

- a command word that is not a command (help mount), as SOURCE: usage
  and exit 2, also alone; `history STORE` and `purge STORE` without
  --id: usage and exit 2; `gc STORE --dry-run` deletes nothing and
  mounts nothing; `status STORE`, `flush STORE` and `evict STORE ID`
  (a folder that is no mount) exit 1 saying so;
  `verify STORE` verifies and mounts nothing;
- a directory SOURCE without a store (absent, or an empty folder), and a
  missing local catalog file: exit 1 pointing to `tenantfs init`;
- a mount point that is the store, lies inside it, holds it (a parent),
  is the cache, holds another store, or is not empty: exit 1; with
  -o nonempty a non-empty folder may be mounted over, a store never;
- what must keep working: a store named like a command mounted through
  its path, and a plain `tenantfs SOURCE MOUNTPOINT` after init.

Run time: about 10-20 s."""

import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mount as m  # noqa: E402
import tfstest as t  # noqa: E402

# verify, history, gc, purge, status, flush and evict are commands now
# (cache/fleet/verify.c, cache/fleet/history.c, cache/fleet/gc.c, fuse/control.c): they never
# mount, checked below.
WORDS = ["help", "mount"]


def tree(path):
    """Every file and folder below path (relative names), or None."""
    if not os.path.exists(path):
        return None
    out = []
    for d, dirs, files in os.walk(path):
        for n in dirs + files:
            out.append(os.path.relpath(os.path.join(d, n), path))
    return sorted(out)


def run(args, cwd):
    r = subprocess.run([m.tenantfs_binary()] + args, capture_output=True, text=True,
                       timeout=30, cwd=cwd, env=m._daemon_env(), stdin=subprocess.DEVNULL)
    return r


def unmount_if_mounted(path, label):
    """On main a refused command could still mount (and daemonize): undo
    it so the next case starts clean, and count it as a failure."""
    if m.is_fuse_mount(path):
        subprocess.run(["fusermount3", "-u", path], capture_output=True, timeout=30)
        if m.is_fuse_mount(path):
            subprocess.run(["fusermount3", "-uz", path], capture_output=True, timeout=30)
        t.ok(False, f"{label}: nothing mounted on {path}")
        return True
    return False


def refused(args, cwd, rc, must, label, watch):
    """args must exit with rc, name must in stderr, and leave every path of
    watch (a dict path -> tree before) as it was, nothing mounted."""
    r = run(args, cwd)
    t.ok(r.returncode == rc and must in r.stderr, f"{label}: exit {rc} saying '{must}'",
         f"rc {r.returncode}, stderr: {r.stderr.strip()[:400]}")
    if rc == 2:
        t.ok("usage: tenantfs" in r.stderr, f"{label}: the usage is shown", r.stderr[:200])
    mounted = [p for p in watch if unmount_if_mounted(p, label)]
    changed = [p for p, before in watch.items() if tree(p) != before]
    t.ok(not mounted and not changed, f"{label}: nothing created, changed or mounted",
         f"mounted {mounted}, changed {changed}")


def main():
    m.need_fuse()
    base = tempfile.mkdtemp(prefix="cli-safety-", dir=t.tmp_dir())
    store = os.path.join(base, "store")
    r = m.run_tenantfs(["init", store])
    t.ok(r.returncode == 0, "init makes the store", r.stderr)
    # a database in it, so that "hidden" and "changed" mean something
    mp = os.path.join(base, "mnt")
    with m.Mount(store, mp, ["linger=0", "idle=0.2"]):
        m.write_rollback_cli(mp, "keep", 5)
    work = os.path.join(base, "cwd")  # the current directory of the commands
    os.makedirs(work)
    os.makedirs(mp, exist_ok=True)

    def watch(*extra):
        paths = [store, work, mp] + list(extra)
        return {p: tree(p) for p in paths}

    # ---- command words ----------------------------------------------------
    for w in WORDS:
        refused([w, store], work, 2, f"unknown command '{w}'", f"tenantfs {w} STORE",
                watch())
    refused(["verify"], work, 2, "missing SOURCE", "tenantfs verify (alone)", watch())
    r = run(["verify", store], work)
    t.ok(r.returncode == 0 and "0 problems" in r.stdout and not m.is_fuse_mount(store),
         "tenantfs verify STORE verifies (exit 0), mounts nothing", r.stderr[-300:])
    refused(["history", store], work, 2, "usage: tenantfs history",
            "tenantfs history STORE (no --id)", watch())
    refused(["purge", store], work, 2, "usage: tenantfs purge", "tenantfs purge STORE (no --id)",
            watch())
    refused(["gc"], work, 2, "missing SOURCE", "tenantfs gc (alone)", watch())
    refused(["gc", store, "--dry-run"], work, 0, "", "tenantfs gc STORE --dry-run", watch())
    refused(["status", store], work, 1, "not a tenantfs mount point",
            "tenantfs status STORE (no mount)", watch())
    refused(["flush", store], work, 1, "not a tenantfs mount point",
            "tenantfs flush STORE (no mount)", watch())
    refused(["evict", store, "x"], work, 1, "not a tenantfs mount point",
            "tenantfs evict STORE ID (no mount)", watch())
    refused(["-o", "idle=1", "status", store, mp], work, 2, "unknown command 'status'",
            "tenantfs -o ... status STORE MOUNTPOINT", watch())

    # ---- a SOURCE without a store ---------------------------------------
    absent = os.path.join(base, "absent")
    refused([absent, mp], work, 1, "tenantfs init", "absent SOURCE", watch(absent))
    t.ok(not os.path.exists(absent), "absent SOURCE: not created")
    empty = os.path.join(base, "empty")
    os.makedirs(empty)
    refused([empty, mp], work, 1, "holds no tenantfs store", "empty folder as SOURCE",
            watch(empty))
    refused(["typo", mp], work, 1, "tenantfs init", "relative word SOURCE", watch())
    nocat = os.path.join(base, "nocat.db")
    refused(["-o", f"catalog=sqlite:{nocat}", store, mp], work, 1, "tenantfs init",
            "missing catalog file", watch())
    t.ok(not os.path.exists(nocat), "missing catalog file: not created")

    # ---- mount points -----------------------------------------------------
    refused([store, store], work, 1, "is the store", "mount point is the store", watch())
    inside = os.path.join(store, "sub")
    os.makedirs(inside)
    refused([store, inside], work, 1, "lies inside the store", "mount point inside the store",
            watch())
    os.rmdir(inside)
    refused([store, base], work, 1, "holds the store", "mount point above the store",
            watch())
    refused([store, os.path.join(store, "cache")], work, 1, "lies inside the store",
            "mount point is the default cache", watch())
    cext = os.path.join(base, "cache-ext")
    os.makedirs(os.path.join(cext, "db"))
    refused(["-o", f"cache={cext}", store, cext], work, 1, "is the cache",
            "mount point is the cache", watch(cext))
    refused(["-o", f"cache={cext}", store, os.path.join(cext, "db")], work, 1,
            "lies inside the cache", "mount point inside the cache", watch(cext))
    other = os.path.join(base, "other")
    t.eq(m.run_tenantfs(["init", other]).returncode, 0, "init another store")
    refused(["-o", "nonempty", store, other], work, 1, "holds a tenantfs store",
            "mount point holding another store, even with nonempty", watch(other))
    full = os.path.join(base, "full")
    os.makedirs(full)
    with open(os.path.join(full, "note.txt"), "w", encoding="utf-8") as f:
        f.write("beneath\n")
    refused([store, full], work, 1, "nonempty", "non-empty mount point", watch(full))

    # ---- what keeps working ------------------------------------------------
    with m.Mount(store, full, ["linger=0", "nonempty"]):
        t.ok(os.listdir(full) == ["keep.db"], "-o nonempty mounts over a non-empty folder",
             os.listdir(full))
    t.ok(os.listdir(full) == ["note.txt"], "... and its file is there again after unmount")
    named = os.path.join(base, "verify")
    t.eq(m.run_tenantfs(["init", named]).returncode, 0, "init a store named verify")
    with m.Mount(named, os.path.join(base, "mnt-verify"), ["linger=0"]) as mnt:
        t.ok(mnt.alive(), "a store named like a command mounts through its path")
    with m.Mount(store, mp, ["linger=0"]):
        m.check_rows(os.path.join(mp, "keep.db"), "keep", 5, "plain SOURCE MOUNTPOINT")


if __name__ == "__main__":
    m.run_main(main)
