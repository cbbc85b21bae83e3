#!/usr/bin/env python3
# tfs-timeout: 300
"""A commit DynamoDB applied whose reply was lost, then a newer write-back
before that was settled: real mounts on moto_server (S3 and DynamoDB), the
catalog behind the tests' fault proxy.

The fault: the commit's UpdateItem is forwarded and applied, its reply
dropped; every later UpdateItem and GetItem gets a 500, so neither the
retries nor a re-read can tell the engine what happened. An application
keeps writing meanwhile, so the next write-back sends a newer snapshot,
which the catalog refuses (its gen moved).

- no restart: once the catalog answers again the newer snapshot is
  committed on top of the landed one; nothing is quarantined and the head
  holds every acknowledged row;
- kill -9 with both commits pending, on a WAL database whose main file is
  exactly the landed version while its -wal holds later commits: the
  restart must not take the copy for clean (it would never be published,
  and evicted later); the -wal's rows are published.

Run time: about 20-40 s."""

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
import test_split_brain as sb  # noqa: E402
import tfstest as t  # noqa: E402

# A long lease: no renewal (also an UpdateItem) falls inside the fault.
OPTS = dict(idle="1", ttl="60", extra=("max_dirty=300",))

# The commit's UpdateItem is applied, its reply lost; what follows fails.
# The first GetItem (the commit's own read of the item) still goes through.
FAULT = [{"target": "GetItem", "action": "delay", "delay_ms": 1, "count": 1},
         {"target": "GetItem", "action": "status", "status": 500, "count": -1},
         {"target": "UpdateItem", "action": "drop_after", "count": 1},
         {"target": "UpdateItem", "action": "status", "status": 500, "count": -1}]

APP = r"""
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=30)
c.execute("PRAGMA wal_autocheckpoint=0")
for line in sys.stdin:
    cmd = line.split()
    try:
        if cmd[0] == "insert":
            lo, hi = int(cmd[1]), int(cmd[2])
            c.executemany("INSERT INTO t VALUES(?, ?)",
                          [(i, f"row {i} of {sys.argv[2]}") for i in range(lo, hi)])
            c.commit()
            print("ok", flush=True)
        elif cmd[0] == "checkpoint":
            c.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            print("ok", flush=True)
        elif cmd[0] == "count":
            print("ok", c.execute("SELECT count(*) FROM t").fetchone()[0], flush=True)
        elif cmd[0] == "close":
            c.close()
            print("ok", flush=True)
            break
    except sqlite3.Error as e:
        print("err", " ".join(str(e).split()), flush=True)
"""


class App(sb.App):
    """sb.App running APP: WAL commits stay in the -wal until "checkpoint"."""

    def __init__(self, path, ident):  # noqa: super().__init__ would run sb.APP
        self.proc = subprocess.Popen([sys.executable, "-c", APP, path, ident],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        t.record_pid(self.proc.pid)


def rows(ident, n):
    return [(i, f"row {i} of {ident}") for i in range(n)]


def head_rows(fleet, ident, work):
    """(gen, rows of the head object) of ident, straight from the bucket."""
    it = fleet.item(ident)
    if not it.get("hash"):
        return it.get("gen"), None
    local = os.path.join(work, f"{ident}-{it['hash']}.db")
    fleet.s3.download_file(fleet.bucket, f"users/{ident}/{it['hash']}.db", local)
    if not m.integrity_ok(local):
        return it.get("gen"), None
    return it.get("gen"), fl.rows_of(local)


def objects(fleet, ident):
    """Versions of ident in the bucket (version records, .ver, are not)."""
    resp = fleet.s3.list_objects_v2(Bucket=fleet.bucket, Prefix=f"users/{ident}/")
    return len([o for o in resp.get("Contents", []) if o["Key"].endswith(".db")])


def postponed(mnt, ident):
    return mnt.log_text().count(f"write-back of {ident} postponed")


def fired(fp, action):
    return sum(r["fired"] for r in fp.stats()["rules"] if r["action"] == action)


def start_fault(fp, mnt, ident, app, first):
    """Faults on; first (list of app commands) makes the commit that lands
    unseen. Returns once its write-back was postponed."""
    n0 = postponed(mnt, ident)
    fp.rules(FAULT)
    for c in first:
        t.eq(app.cmd(c), "ok", f"{ident}: the application runs {c!r}")
    try:
        t.wait_until(lambda: fired(fp, "drop_after") == 1 and postponed(mnt, ident) > n0,
                     timeout=60, what="a commit applied unseen")
        t.ok(True, f"{ident}: a commit is applied, its reply lost, the catalog unreadable")
        return True
    except TimeoutError as e:
        t.ok(False, f"{ident}: a commit is applied, its reply lost, the catalog unreadable",
             f"{e}\n{mnt.log_text()[-3000:]}")
        return False


def newer_writeback(fleet, mnt, ident, app, lo, hi, nobj):
    """The application writes rows lo..hi; waits until the write-back of
    that newer snapshot was sent (its object uploaded) and postponed."""
    t.eq(app.cmd(f"insert {lo} {hi}"), "ok", f"{ident}: the application writes on meanwhile")
    try:
        t.wait_until(lambda: objects(fleet, ident) >= nobj, timeout=60,
                     what="the newer snapshot uploaded")
        n0 = postponed(mnt, ident)
        t.wait_until(lambda: postponed(mnt, ident) > n0, timeout=60,
                     what="its commit postponed")
        t.ok(True, f"{ident}: a newer write-back is sent before the first is settled")
        return True
    except TimeoutError as e:
        t.ok(False, f"{ident}: a newer write-back is sent before the first is settled",
             f"{e}\n{mnt.log_text()[-3000:]}")
        return False


def published(fleet, mnt, ident, work, what):
    """Checks that gen 3 holding all 30 rows is the head (bounded wait) and
    that nothing of ident was quarantined."""
    try:
        t.wait_until(lambda: fleet.item(ident).get("gen") == "3", timeout=60, what="gen 3")
    except TimeoutError:
        pass
    t.eq(head_rows(fleet, ident, work), ("3", rows(ident, 30)), f"{ident}: {what}")
    t.ok(f"QUARANTINED {ident}" not in mnt.log_text(), f"{ident}: nothing is quarantined",
         mnt.log_text()[-3000:])


def phase_no_restart(fleet, fp, work):
    ident = "lr1"
    a = fleet.mount("na", ddb_endpoint=fp.url, **OPTS)
    with a:
        p = fl.db(a, ident)
        fl.create_rows(p, ident, 0, 10).close()
        fleet.wait_released(ident)
        app = App(p, ident)
        try:
            t.eq(app.cmd("count"), "ok 10", f"{ident}: the application opens it")
            if start_fault(fp, a, ident, app, ["insert 10 20"]):
                newer_writeback(fleet, a, ident, app, 20, 30, 3)
            t.eq(app.cmd("count"), "ok 30", f"{ident}: every write was accepted")
        finally:
            fp.reset()
            app.close()
        published(fleet, a, ident, work, "the newer snapshot is committed on top of the "
                  "landed one")
        t.eq(m.xattr(p, "quarantine"), None, f"{ident}: no quarantine folder is named")
    t.eq(a.returncode, 0, f"{ident}: the mount exits 0")


def phase_restart(fleet, fp, work):
    ident = "lr2"
    a = fleet.mount("nb", ddb_endpoint=fp.url, **OPTS)
    a.start()
    app = None
    try:
        p = fl.db(a, ident)
        c = m.sqlite3.connect(p, timeout=30)
        c.execute("PRAGMA journal_mode=WAL")
        c.execute("CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)")
        c.executemany("INSERT INTO t VALUES(?, ?)", rows(ident, 10))
        c.commit()
        c.close()
        fleet.wait_released(ident)
        app = App(p, ident)
        t.eq(app.cmd("count"), "ok 10", f"{ident}: the application opens it")
        # The version that lands unseen is the checkpointed main file.
        if start_fault(fp, a, ident, app, ["insert 10 20", "checkpoint"]):
            newer_writeback(fleet, a, ident, app, 20, 30, 3)  # in the -wal only
        wal = os.path.join(a.mountpoint, ident + ".db-wal")
        t.ok(os.path.exists(wal) and os.path.getsize(wal) > 0,
             f"{ident}: the later commits are only in the -wal")
    finally:
        sb.crash(a)
        if app:
            t.stop_process(app.proc)
        fp.reset()
    t.eq(a.returncode, -signal.SIGKILL, f"{ident}: the daemon was killed -9")
    t.eq(fleet.item(ident).get("gen"), "2", f"{ident}: the catalog holds the landed gen 2")

    a = fleet.mount("nb", **OPTS)  # same node, same cache, the catalog healthy
    with a:
        published(fleet, a, ident, work, "the restart publishes the -wal's commits (not "
                  "taken for clean)")
        t.eq(m.xattr(fl.db(a, ident), "dirty"), "0", f"{ident}: clean once published")
    t.eq(a.returncode, 0, f"{ident}: the restarted mount exits 0")


def main():
    moto = t.need_env("TFS_TEST_MOTO")
    m.need_fuse()
    m.tenantfs_binary()
    base = tempfile.mkdtemp(prefix="lostreply-", dir=t.tmp_dir())
    work = os.path.join(base, "work")
    os.makedirs(work)
    started = time.monotonic()
    fleet = fl.Fleet(base, moto, moto, "lr")
    if not fleet.ready:
        return
    with t.FaultProxy(moto) as fp:
        phase_no_restart(fleet, fp, work)
        phase_restart(fleet, fp, work)
    t.diag(f"run time {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    m.run_main(main, sync=True)
