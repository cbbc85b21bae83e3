#!/usr/bin/env python3
# tfs-timeout: 400
"""Stale nodes never publish: real mounts on one bucket and one lease table
(moto_server for S3 and DynamoDB), short leases (lease_ttl=3).

- split brain: node A holds a dirty database open (committed by SQLite,
  idle timer far away); A is paused (SIGSTOP) past its lease; node B takes
  the expired lease, writes and commits; A resumes (SIGCONT): A's renewal
  is refused, A quarantines its copy (log, user.tenantfs.quarantine, the
  quarantine folder keeps A's rows), publishes nothing (the catalog still
  points at B's version and the bucket holds no object of A's content),
  refuses further writes until the database is re-opened, and B's
  committed object is intact; re-opened on A it is B's version.
- overdue renewal: A's catalog is unreachable (fault proxy outage) past
  ttl - margin: writes fail (EIO), reads keep A's view, a log line says
  why; once the catalog answers again (nobody took the lease) writes are
  accepted and the database is written back.
- fleet crash recovery: A has two dirty databases and is killed (-9); B
  takes one over after the lease expired and commits it; A restarts on the
  same cache: the one B committed is quarantined, the other is re-leased
  and written back; the quarantined copy is recovered by the operator
  procedure (cp into the mount under a new id).

The application holding a database open on a node that gets paused runs
in a child process (App): a descriptor of the paused mount in this process
would hang every later fork, whose child closes it (FUSE flush).

Run time: about 15-25 s."""

import os
import select
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
import tfstest as t  # noqa: E402

TTL = "3"
STALE = dict(idle="60", ttl=TTL, extra=("max_dirty=300",))  # never written back on its own


APP = r"""
import sqlite3, sys
db, ident = sys.argv[1], sys.argv[2]
c = sqlite3.connect(db, timeout=30)
for line in sys.stdin:
    cmd = line.split()
    try:
        if cmd[0] == "insert":
            lo, hi = int(cmd[1]), int(cmd[2])
            c.executemany("INSERT INTO t VALUES(?, ?)",
                          [(i, f"row {i} of {ident}") for i in range(lo, hi)])
            c.commit()
            print("ok", flush=True)
        elif cmd[0] == "count":
            print("ok", c.execute("SELECT count(*) FROM t").fetchone()[0], flush=True)
        elif cmd[0] == "close":
            c.close()
            print("ok", flush=True)
            break
    except sqlite3.Error as e:
        try:
            c.rollback()  # as an application would, leaving no lock behind
        except sqlite3.Error:
            pass
        print("err", " ".join(str(e).split()), flush=True)
"""


class App:
    """An SQLite application in a child process holding one database open;
    commands on its stdin, one answer line each ("ok ..." / "err ...")."""

    def __init__(self, path, ident):
        self.proc = subprocess.Popen([sys.executable, "-c", APP, path, ident],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        t.record_pid(self.proc.pid)

    def cmd(self, line, timeout=60.0):
        """Sends line; returns the answer, or "err timeout"/"err exited"."""
        try:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        except OSError:
            return "err exited"
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not r:
            return "err timeout"
        return self.proc.stdout.readline().strip() or "err exited"

    def close(self):
        if self.proc.poll() is None:
            self.cmd("close", timeout=30)
        t.stop_process(self.proc)


def crash(mnt):
    """kill -9 the daemon we started, then detach its dead mount."""
    if mnt.proc is None:
        return
    os.kill(mnt.proc.pid, signal.SIGKILL)
    mnt.returncode = mnt.proc.wait(timeout=30)
    mnt.proc = None
    subprocess.run(["fusermount3", "-uz", mnt.mountpoint], capture_output=True, timeout=30)


def close_quietly(conn):
    try:
        conn.close()
    except Exception:  # noqa: BLE001 - the mount under it may be gone
        pass


def objects_of(fleet, ident):
    """Content hashes of every version of ident in the bucket (its version
    records, GEN-K-HASH.ver, are not versions)."""
    resp = fleet.s3.list_objects_v2(Bucket=fleet.bucket, Prefix=f"users/{ident}/")
    return sorted(os.path.basename(o["Key"])[:-3] for o in resp.get("Contents", [])
                  if o["Key"].endswith(".db"))


def object_rows(fleet, ident, h, work):
    """Rows of the committed object ident/h.db (downloaded), or None."""
    local = os.path.join(work, f"{ident}-{h}.db")
    fleet.s3.download_file(fleet.bucket, f"users/{ident}/{h}.db", local)
    if not m.integrity_ok(local):
        return None
    return fl.rows_of(local)


def quarantined_rows(path):
    """(folder, rows of the quarantined copy) named by path's xattr."""
    q = m.xattr(path, "quarantine")
    if not q:
        return None, None
    ident = os.path.basename(path)[:-3]
    copy = os.path.join(q, ident + ".db")
    if not os.path.exists(copy) or not m.integrity_ok(copy):
        return q, None
    return q, fl.rows_of(copy)


def a_rows(ident, n, lo=0):
    return [(i, f"row {i} of {ident}") for i in range(lo, n)]


def b_rows(ident, lo, hi):
    return [(i, f"B row {i} of {ident}") for i in range(lo, hi)]


def insert(conn, rows):
    conn.executemany("INSERT INTO t VALUES(?, ?)", rows)
    conn.commit()


# ---- split brain ----------------------------------------------------------

def phase_split_brain(fleet, work):
    ident = "sb1"
    a = fleet.mount("sa", **STALE)
    b = fleet.mount("sb", lease_wait="10", ttl=TTL)
    with a:
        pa = fl.db(a, ident)
        fl.create_rows(pa, ident, 0, 20).close()
        fleet.wait_released(ident)
        gen1 = fleet.item(ident)
        app = App(pa, ident)  # holds sb1 open on A
        t.eq(app.cmd("insert 20 30"), "ok", "split brain: the application on A writes")
        t.eq(m.xattr(pa, "dirty"), "1", "split brain: A holds sb1 dirty and open")
        os.kill(a.proc.pid, signal.SIGSTOP)
        try:
            with b:
                pb = fl.db(b, ident)
                try:
                    t.eq(fl.rows_of(pb), a_rows(ident, 20),
                         "split brain: B takes the expired lease and sees A's last commit")
                    c = m.sqlite3.connect(pb, timeout=30)
                    insert(c, b_rows(ident, 20, 25))
                    c.close()
                except m.sqlite3.Error as e:
                    t.ok(False, "split brain: B takes over sb1", f"{e!r}\n{b.log_text()}")
                fleet.wait_released(ident)
        finally:
            os.kill(a.proc.pid, signal.SIGCONT)
        t.eq(b.returncode, 0, "split brain: B exits 0")
        itb = fleet.item(ident)
        t.eq(itb.get("gen"), "2", "split brain: B committed gen 2")
        t.ok(fl.wait_log(a, f"QUARANTINED {ident}", timeout=30),
             "split brain: A quarantines its copy once it runs again", a.log_text()[-3000:])
        t.ok("lease of sb1" in a.log_text() and "was lost" in a.log_text(),
             "split brain: A logs that its lease was lost")
        q, qrows = quarantined_rows(pa)
        t.ok(q and q.startswith(os.path.join(fleet.base, "sb-cache-sa", "quarantine")),
             "split brain: user.tenantfs.quarantine names a folder of A's cache", q)
        t.eq(qrows, a_rows(ident, 30), "split brain: the quarantined copy keeps A's rows")
        # The open connection still reads A's local view; writes fail.
        t.eq(app.cmd("count"), "ok 30", "split brain: A's open reader keeps its cached view")
        r = app.cmd("insert 30 31")
        t.ok(r.startswith("err"), f"split brain: A's further writes fail ({r})")
        t.ok("write to sb1 refused: the lease was lost" in a.log_text(),
             "split brain: A logs why the write is refused")
        m.expect_errno(lambda: os.close(os.open(pa, os.O_RDWR)), 5,
                       "split brain: a second open on A is EIO while the stale handle lives")
        # Nothing of A published: the pointer is B's, no object holds A's copy.
        it = fleet.item(ident)
        t.eq((it.get("gen"), it.get("hash")), ("2", itb.get("hash")),
             "split brain: the catalog still points at B's version")
        objs = objects_of(fleet, ident)
        t.eq(objs, sorted({gen1.get("hash"), itb.get("hash")}),
             "split brain: the bucket holds only the committed versions (none of A's)")
        t.eq(object_rows(fleet, ident, itb.get("hash"), work),
             a_rows(ident, 20) + b_rows(ident, 20, 25),
             "split brain: B's committed object is intact")
        app.close()
        # Re-opened on A: B's version, writable again.
        try:
            t.eq(fl.rows_of(pa), a_rows(ident, 20) + b_rows(ident, 20, 25),
                 "split brain: re-opened on A it is B's version")
            c = m.sqlite3.connect(pa, timeout=30)
            insert(c, a_rows(ident, 40, 35))
            c.close()
            t.ok(True, "split brain: A writes again after the re-open")
        except m.sqlite3.Error as e:
            t.ok(False, "split brain: A re-opens sb1", f"{e!r}\n{a.log_text()[-3000:]}")
    t.eq(a.returncode, 0, "split brain: A exits 0")
    it = fleet.item(ident)
    t.eq(it.get("gen"), "3", "split brain: A's new write is committed on top of B's (gen 3)")


# ---- overdue renewal ------------------------------------------------------

def phase_overdue(fleet, moto):
    ident = "od1"
    with t.FaultProxy(moto) as fp:
        a = fleet.mount("oa", ddb_endpoint=fp.url, **STALE)
        with a:
            pa = fl.db(a, ident)
            fl.create_rows(pa, ident, 0, 20).close()
            # The close's write-back must land before the outage starts:
            # racing it, it could commit the 20 rows as gen 1 after the
            # outage, and the wait for gen 2 below would time out.
            try:
                m.wait_clean(pa, min_gen=1)
            except TimeoutError as e:
                t.ok(False, "overdue: od1's first version is committed", str(e))
            app = App(pa, ident)
            t.eq(app.cmd("count"), "ok 20", "overdue: the application opens od1")
            fp.outage(60)
            k, r = 20, "ok"
            try:
                # Bounded: 60 s of 0.2 s steps; the lease runs out after 2.4 s.
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    r = app.cmd(f"insert {k} {k + 1}")
                    if r != "ok":
                        break
                    k += 1
                    time.sleep(0.2)
                t.ok(r.startswith("err"), f"overdue: writes fail once the renewal is overdue "
                     f"({r})")
                t.ok(fl.wait_log(a, f"write to {ident} refused: the lease renewal is overdue"),
                     "overdue: the log says why writes are refused")
                t.eq(app.cmd("count"), f"ok {k}", "overdue: reads keep A's view")
            finally:
                fp.outage(0)
            # Nobody took the lease: once renewed, writes are accepted again.
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                r = app.cmd(f"insert {k} {k + 1}")
                if r == "ok":
                    k += 1
                    break
                time.sleep(0.5)
            t.eq(r, "ok", "overdue: writes are accepted again once the lease is renewed")
            app.close()
            try:
                gen, _ = m.wait_clean(pa, min_gen=2)
                t.ok(gen >= 2, "overdue: the database is written back")
            except TimeoutError as e:
                t.ok(False, "overdue: the database is written back", str(e))
        t.eq(a.returncode, 0, "overdue: A exits 0")
    b = fleet.mount("ob", ttl=TTL)
    with b:
        t.eq(fl.rows_of(fl.db(b, ident)), a_rows(ident, k),
             "overdue: another node reads every accepted write and nothing refused")


# ---- fleet crash recovery -------------------------------------------------

def phase_crash(fleet, work):
    a = fleet.mount("ca", **STALE)
    a.start()
    try:
        conns, gen1 = [], {}
        for ident in ("cr1", "cr2"):
            p = fl.db(a, ident)
            fl.create_rows(p, ident, 0, 20).close()
            fleet.wait_released(ident)
            gen1[ident] = fleet.item(ident).get("hash")
            conns.append(fl.create_rows(p, ident, 20, 30))
            t.eq(m.xattr(p, "dirty"), "1", f"crash: A holds {ident} dirty")
    finally:
        crash(a)
    for c in conns:
        close_quietly(c)
    t.eq(a.returncode, -signal.SIGKILL, "crash: A was killed -9")

    b = fleet.mount("cb", lease_wait="10", ttl=TTL)
    with b:
        pb = fl.db(b, "cr1")
        try:
            t.eq(fl.rows_of(pb), a_rows("cr1", 20),
                 "crash: B takes cr1 after the lease expired and sees A's last commit")
            c = m.sqlite3.connect(pb, timeout=30)
            insert(c, b_rows("cr1", 20, 25))
            c.close()
        except m.sqlite3.Error as e:
            t.ok(False, "crash: B takes cr1 over", f"{e!r}\n{b.log_text()}")
        fleet.wait_released("cr1")
    itb = fleet.item("cr1")
    t.eq(itb.get("gen"), "2", "crash: B committed cr1 gen 2")
    t.eq(fleet.item("cr2").get("gen"), "1", "crash: nobody touched cr2")

    a = fleet.mount("ca", **STALE)  # same node id, same cache
    with a:
        p1, p2 = fl.db(a, "cr1"), fl.db(a, "cr2")
        t.ok(fl.wait_log(a, "QUARANTINED cr1", timeout=60),
             "crash: restarted A quarantines cr1 (B committed meanwhile)", a.log_text())
        try:
            t.wait_until(lambda: fleet.item("cr2").get("gen") == "2", timeout=60,
                         what="cr2 written back")
            t.ok(True, "crash: restarted A re-leases cr2 and writes it back")
        except TimeoutError as e:
            t.ok(False, "crash: restarted A re-leases cr2 and writes it back",
                 f"{e}\n{a.log_text()}")
        t.eq(fleet.item("cr1").get("hash"), itb.get("hash"),
             "crash: the catalog still points at B's cr1")
        t.eq(objects_of(fleet, "cr1"), sorted({gen1["cr1"], itb["hash"]}),
             "crash: the bucket holds only committed versions of cr1 (none of A's)")
        q, qrows = quarantined_rows(p1)
        t.ok(bool(q), "crash: user.tenantfs.quarantine names the folder", q)
        t.eq(qrows, a_rows("cr1", 30), "crash: the quarantined cr1 keeps A's rows")
        t.eq(fl.rows_of(p1), a_rows("cr1", 20) + b_rows("cr1", 20, 25),
             "crash: cr1 on A is B's version")
        t.eq(fl.rows_of(p2), a_rows("cr2", 30), "crash: cr2 on A has every row A committed")
        # The operator's recovery: copy the quarantined file in under a new id.
        if q:
            r = subprocess.run(["cp", os.path.join(q, "cr1.db"), fl.db(a, "cr1-recovered")],
                               capture_output=True, text=True, timeout=60)
            t.ok(r.returncode == 0, "crash: cp the quarantined copy into the mount", r.stderr)
            t.eq(fl.rows_of(fl.db(a, "cr1-recovered")), a_rows("cr1", 30),
                 "crash: the recovered copy serves A's rows")
    t.eq(a.returncode, 0, "crash: restarted A exits 0")
    t.eq(fleet.item("cr1-recovered").get("gen"), "1", "crash: the recovered copy is committed")
    c = fleet.mount("cc", ttl=TTL)
    with c:
        t.eq(fl.rows_of(fl.db(c, "cr2")), a_rows("cr2", 30),
             "crash: a third node reads A's recovered cr2")
        t.eq(object_rows(fleet, "cr1", itb["hash"], work), a_rows("cr1", 20) +
             b_rows("cr1", 20, 25), "crash: B's committed cr1 object is intact")


def main():
    moto = t.need_env("TFS_TEST_MOTO")
    m.need_fuse()
    m.tenantfs_binary()
    base = tempfile.mkdtemp(prefix="split-", dir=t.tmp_dir())
    work = os.path.join(base, "work")
    os.makedirs(work)
    started = time.monotonic()
    fleet = fl.Fleet(base, moto, moto, "sb")
    if not fleet.ready:
        return
    phase_split_brain(fleet, work)
    phase_overdue(fleet, moto)
    phase_crash(fleet, work)
    t.diag(f"run time {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    m.run_main(main, sync=True)
