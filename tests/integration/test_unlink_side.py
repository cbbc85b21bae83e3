#!/usr/bin/env python3
# tfs-timeout: 300
"""The hot journal of a dirty database is part of its content: a real mount
on moto_server (S3 and DynamoDB, the catalog behind the tests' fault proxy).

An application is killed with the daemon (kill -9) in the middle of a big
rollback-journal transaction: the cache holds a torn main file and its hot
journal. The daemon restarts while the catalog refuses every lease write,
so the database waits for its recovery: `rm x.db-journal` must fail with
EBUSY and leave the journal (deleting it would leave the torn transaction
in the file), and `rm` of a side file that does not exist is ENOENT. Once
the catalog answers, recovery rolls the journal back and publishes exactly
the committed rows; a database that is open here still removes its journal
as SQLite does (a rollback-journal commit in the default DELETE mode).

Run time: about 20-40 s."""

import errno
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import mount as m  # noqa: E402
import test_fleet as fl  # noqa: E402
import test_lost_reply as lr  # noqa: E402
import test_split_brain as sb  # noqa: E402
import tfstest as t  # noqa: E402

OPTS = dict(idle="1", ttl="10", extra=("max_dirty=300",))

# A transaction bigger than the page cache: SQLite spills it into the file.
TORN = r"""
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
c.execute("PRAGMA cache_size=2")
c.execute("BEGIN")
c.executemany("INSERT INTO t VALUES(?, ?)",
              [(i, "uncommitted %d padding padding padding" % i) for i in range(100, 3000)])
c.execute("UPDATE t SET v = v || 'x'")
print("ok", flush=True)
sys.stdin.readline()
"""


def size(path):
    """Bytes of path, -1 when it does not exist."""
    try:
        return os.path.getsize(path)
    except OSError:
        return -1


def main():
    moto = t.need_env("TFS_TEST_MOTO")
    m.need_fuse()
    m.tenantfs_binary()
    base = tempfile.mkdtemp(prefix="unlinkside-", dir=t.tmp_dir())
    work = os.path.join(base, "work")
    os.makedirs(work)
    started = time.monotonic()
    fleet = fl.Fleet(base, moto, moto, "us")
    if not fleet.ready:
        return
    ident = "hj"
    with t.FaultProxy(moto) as fp:
        a = fleet.mount("na", ddb_endpoint=fp.url, **OPTS)
        a.start()
        app = None
        try:
            p = fl.db(a, ident)
            fl.create_rows(p, ident, 0, 50).close()
            fleet.wait_released(ident)
            app = subprocess.Popen([sys.executable, "-c", TORN, p], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True)
            t.record_pid(app.pid)
            t.eq(app.stdout.readline().strip(), "ok",
                 f"{ident}: a big transaction is half-way into the file")
            jsize = os.path.getsize(p + "-journal")
            t.ok(jsize > 0, f"{ident}: its hot journal holds {jsize} bytes")
        finally:
            sb.crash(a)
            if app:
                t.stop_process(app)
        cache = os.path.join(fleet.base, "us-cache-na", "db")
        t.eq(size(os.path.join(cache, ident + ".db-journal")), jsize,
             f"{ident}: the crash leaves the hot journal in the cache")

        fp.rules([{"target": "UpdateItem", "action": "status", "status": 500, "count": -1}])
        a = fleet.mount("na", ddb_endpoint=fp.url, **OPTS)
        with a:
            p = fl.db(a, ident)
            try:
                t.wait_until(lambda: f"recovering {ident}" in a.log_text(), timeout=30,
                             what="recovery pending")
            except TimeoutError:
                pass
            try:
                t.wait_until(lambda: lr.fired(fp, "status") > 0, timeout=30,
                             what="a lease write refused")
            except TimeoutError:
                pass
            t.ok(lr.fired(fp, "status") > 0 and m.xattr(p, "dirty") == "1",
                 f"{ident}: dirty, its recovery waits for the catalog")
            m.expect_errno(lambda: os.unlink(p + "-journal"), errno.EBUSY,
                           f"{ident}: rm of the hot journal of a database awaiting recovery")
            t.eq(size(os.path.join(cache, ident + ".db-journal")), jsize,
                 f"{ident}: the hot journal is intact")
            t.ok(f"cannot remove {ident}.db-journal" in a.log_text(),
                 f"{ident}: the log says why", a.log_text()[-2000:])
            m.expect_errno(lambda: os.unlink(p + "-wal"), errno.ENOENT,
                           f"{ident}: rm of an absent side file")
            fp.reset()
            try:  # rolled back it may equal gen 1: then nothing is uploaded
                t.wait_until(lambda: m.xattr(p, "dirty") == "0", timeout=90,
                             what="recovered")
            except TimeoutError:
                pass
            t.eq(lr.head_rows(fleet, ident, work)[1], fl.want_rows(ident, 50),
                 f"{ident}: recovery rolls the journal back; the head holds the committed rows")
            # Open here, a rollback-journal commit deletes its journal as usual.
            c = m.sqlite3.connect(p, timeout=30)
            c.execute("PRAGMA journal_mode=DELETE")
            t.eq(c.execute("SELECT count(*) FROM t").fetchone()[0], 50,
                 f"{ident}: the local copy reads the committed rows")
            c.execute("INSERT INTO t VALUES(50, 'row 50 of hj')")
            c.commit()
            t.ok(not os.path.exists(p + "-journal"),
                 f"{ident}: with the database open SQLite removes its journal")
            c.close()
        t.eq(a.returncode, 0, f"{ident}: the mount exits 0")
        t.eq(lr.head_rows(fleet, ident, work)[1], fl.want_rows(ident, 51),
             f"{ident}: the next commit is published")
    t.diag(f"run time {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    m.run_main(main, sync=True)
