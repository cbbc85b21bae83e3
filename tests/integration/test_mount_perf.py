#!/usr/bin/env python3
# tfs-timeout: 120
"""Round trips per SQLite transaction on the mount (embedded store), from the
daemon's request counters ("fuse requests: ..." at exit), not from timing:

- WAL mode (synchronous=NORMAL): apart from the writes themselves, less than
  one request per transaction; the kernel no longer asks for
  security.capability before each write (FUSE_HANDLE_KILLPRIV_V2, fuse/kio.c);
- rollback-journal mode: every fsync still reaches the daemon (and so the
  cache disk), the directory fsync after each journal creation is answered
  by the kernel after the first ENOSYS, and xattr requests stay a few per
  transaction, not one per write;
- without the writeback cache, closes need no FLUSH (FOPEN_NOFLUSH); with
  -o writeback_cache the kernel merges WAL writes and close flushes;
- the page cache survives the mount's own writes (no auto_inval_data);
- no file shows setuid/setgid/sticky bits (what KILLPRIV_V2 relies on).
"""

import errno
import os
import re
import sqlite3
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mount as m  # noqa: E402
import tfstest as t  # noqa: E402

WAL_TX = 400
ROLLBACK_TX = 100


def kernel_at_least(major, minor):
    m = re.match(r"(\d+)\.(\d+)", os.uname().release)
    return bool(m) and (int(m.group(1)), int(m.group(2))) >= (major, minor)


def counters(log):
    """The last 'fuse requests:' line of the daemon log as a dict."""
    found = re.findall(r"fuse requests:((?: \w+=\d+)+)", log)
    if not found:
        return None
    return {k: int(v) for k, v in (kv.split("=") for kv in found[-1].split())}


def transactions(db, n, wal):
    c = sqlite3.connect(db, isolation_level=None)
    try:
        if wal:
            t.eq(c.execute("PRAGMA journal_mode=WAL").fetchone()[0], "wal", "journal_mode=WAL")
            c.execute("PRAGMA synchronous=NORMAL")
        else:
            c.execute("PRAGMA journal_mode=DELETE")
            c.execute("PRAGMA synchronous=FULL")
        c.execute("CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)")
        for i in range(n):
            c.execute("INSERT INTO t(v) VALUES(?)", (f"row {i} padded to look like data",))
        return c.execute("SELECT count(*) FROM t").fetchone()[0]
    finally:
        c.close()


def run_phase(base, n, name, wal, extra=()):
    """One mount, n transactions on <name>.db, unmount. Returns (rows, counters,
    kernel took KILLPRIV_V2, log)."""
    mp = os.path.join(base, f"mnt-{name}")
    opts = ["node=n1", "idle=30", "linger=0.2", f"cache={base}/cache-{name}"] + list(extra)
    with m.Mount(os.path.join(base, "store"), mp, opts) as mnt:
        rows = transactions(os.path.join(mp, f"{name}.db"), n, wal)
    log = mnt.log_text()
    t.eq(mnt.returncode, 0, f"{name}: daemon exits 0 after the unmount")
    took = "does not take FUSE_HANDLE_KILLPRIV_V2" not in log
    return rows, counters(log), took, log


def main():
    m.need_fuse()
    m.tenantfs_binary()
    base = tempfile.mkdtemp(prefix="mount-perf-", dir=t.tmp_dir())

    # ---- WAL ------------------------------------------------------------
    rows, c, took, log = run_phase(base, WAL_TX, "wal", True)
    t.eq(rows, WAL_TX, "WAL: every transaction committed")
    t.ok(c is not None, "WAL: the daemon logs its request counters", log[-2000:])
    if c:
        total = sum(c.values())
        t.diag(f"WAL, {WAL_TX} transactions: {total} requests {c}")
        # each commit appends at least one frame to the WAL, and without the
        # kernel's writeback cache every write(2) is its own request
        t.ok(c["write"] >= WAL_TX, "WAL: every commit's writes reached the daemon "
             f"({c['write']} for {WAL_TX} transactions)", c)
        if took:
            t.ok(c["xattr"] < WAL_TX // 10, "WAL: no xattr request per write "
                 f"({c['xattr']} for {WAL_TX} transactions)", c)
            # writes are one request per write(2) without the kernel's
            # writeback cache; everything else stays under one per commit
            other = total - c["write"]
            t.ok(other < WAL_TX, f"WAL: fewer non-write requests than transactions ({other})",
                 c)
        else:
            t.diag("this kernel does not take FUSE_HANDLE_KILLPRIV_V2: xattr bound not checked")

    # ---- rollback journal -------------------------------------------------
    rows, c, took, log = run_phase(base, ROLLBACK_TX, "rollback", False)
    t.eq(rows, ROLLBACK_TX, "rollback: every transaction committed")
    t.ok(c is not None, "rollback: the daemon logs its request counters", log[-2000:])
    if c:
        t.diag(f"rollback, {ROLLBACK_TX} transactions: {sum(c.values())} requests {c}")
        # synchronous=FULL syncs the journal and the database per commit
        t.ok(c["fsync"] >= 2 * ROLLBACK_TX, "rollback: every fsync reaches the daemon "
             f"({c['fsync']} for {ROLLBACK_TX} transactions)", c)
        t.ok(c["fsyncdir"] <= 1, "rollback: directory fsyncs end after the first ENOSYS "
             f"({c['fsyncdir']})", c)
        t.ok(c["open"] >= ROLLBACK_TX, "rollback: a journal is opened per transaction", c)
        # our own writes change mtime; that must not drop the page cache
        # (auto_inval_data): before, SQLite read its pages back each commit
        t.ok(c["read"] <= ROLLBACK_TX // 10, "rollback: pages stay cached across commits "
             f"({c['read']} read requests)", c)
        if "writeback cache off" in log and kernel_at_least(5, 16):
            # FOPEN_NOFLUSH: without the writeback cache a write error
            # reaches write(2), so close needs no FLUSH round trip
            t.ok(c["flush"] <= ROLLBACK_TX // 10, "rollback: no FLUSH request per close "
                 f"({c['flush']})", c)
        if took:
            # the kernel checks each new journal (and, as root, again after
            # SQLite chowns it) and the database once per commit: a few per
            # transaction, not one per write (about 18 writes each)
            t.ok(c["xattr"] <= 6 * ROLLBACK_TX, "rollback: a few xattr requests per "
                 f"transaction at most ({c['xattr']})", c)
            t.ok(c["xattr"] < c["write"] // 2, "rollback: far fewer xattr requests than "
                 f"writes ({c['xattr']} vs {c['write']})", c)

    # ---- WAL with -o writeback_cache: the kernel merges the writes ----------
    rows, c, took, log = run_phase(base, WAL_TX, "walwb", True, ["writeback_cache"])
    t.eq(rows, WAL_TX, "WAL, writeback_cache: every transaction committed")
    t.ok("writeback cache on" in log, "WAL, writeback_cache: the kernel cache is on",
         log[-2000:])
    if c:
        t.diag(f"WAL with writeback_cache, {WAL_TX} transactions: {sum(c.values())} "
               f"requests {c}")
        t.ok(c["write"] < WAL_TX // 4, "WAL, writeback_cache: writes merged by the kernel "
             f"({c['write']} write requests)", c)
        t.ok(c["flush"] >= 1, "WAL, writeback_cache: close still flushes (errors "
             "surface there)", c)

    # ---- no setuid bits ---------------------------------------------------
    mp = os.path.join(base, "mnt-mode")
    with m.Mount(os.path.join(base, "store"), mp,
                 ["node=n1", "idle=30", "linger=0.2", f"cache={base}/cache-mode"]):
        db = os.path.join(mp, "wal.db")
        m.expect_errno(lambda: os.chmod(db, 0o6755), errno.EPERM, "chmod 6755 is EPERM")
        t.eq(os.stat(db).st_mode & 0o7000, 0, "chmod 6755: no setuid/setgid bit shown")
        with open(db, "r+b") as f:
            head = f.read(4096)
            f.seek(0)
            t.eq(f.write(head), 4096, "a write after chmod is accepted")  # same bytes
            f.flush()
            os.fsync(f.fileno())
        t.eq(os.stat(db).st_mode & 0o7000, 0, "still no setuid/setgid bit after a write")
    sys.exit(t.done())


if __name__ == "__main__":
    main()
