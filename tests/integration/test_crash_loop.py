#!/usr/bin/env python3
# tfs-timeout: 540
"""The crash loop: the daemon is killed with SIGKILL at random moments
(seeded; the seed is printed, TFS_CRASH_SEED replays a run) while writers
commit one row per sqlite3 shell call (rollback journal and WAL, one
database each) and write-backs run (small idle and max_dirty), then
restarted on the same cache. After every cycle:

  - every acknowledged transaction (the sqlite3 shell exited 0: committed
    and closed) is in the database after recovery, which holds nothing that
    was never attempted and passes integrity_check;
  - every new version in the store passes integrity_check and holds only
    attempted rows;
  - every catalog item points at an object that exists, and its gen never
    goes back;
  - nothing was written beneath the mount point: the writers are stopped
    while the dead mount is still attached, and only then is it detached
    (kill_daemon says why; check_stray_writer, run first, is the
    deterministic test of that order).

Most cycles run on the embedded store (TFS_CRASH_CYCLES, 100); a shorter
loop (TFS_CRASH_S3_CYCLES, 12) runs on S3 + DynamoDB in moto_server. At the
end a clean unmount writes everything back and a node with an empty cache
reads every acknowledged row from the store."""

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mount as m  # noqa: E402
import tfstest as t  # noqa: E402

# Each database and its journal mode; the shell keeps WAL in the file.
DBS = (("jr", "DELETE"), ("jw", "WAL"))
PAD = 200  # bytes of payload per row, so the databases span many pages


class Writer(threading.Thread):
    """Commits one row per `sqlite3` shell call into <mp>/<ident>.db until
    stopped. A row is acknowledged when the shell exited 0, which means it
    committed (fsync) and closed the database. Calls that fail (the daemon
    is gone: ENOTCONN, "disk I/O error", "unable to open") are expected
    once the kill has happened and are only counted."""

    def __init__(self, mp, ident, first_key):
        super().__init__(daemon=True)
        self.db = os.path.join(mp, ident + ".db")
        self.next_key = first_key
        self.acked = []
        self.attempted = []
        self.failures = 0
        self.last_error = ""
        self.stop = threading.Event()

    def run(self):
        # bounded: at most this many calls per cycle, each with a timeout
        for _ in range(100000):
            if self.stop.is_set():
                return
            k = self.next_key
            self.next_key += 1
            self.attempted.append(k)
            sql = (".timeout 10000\n"
                   f"INSERT INTO t VALUES({k}, randomblob({PAD + k % 300}));\n")
            try:
                r = subprocess.run(["sqlite3", "-bail", self.db], input=sql,
                                   capture_output=True, text=True, timeout=60)
            except subprocess.TimeoutExpired:
                self.failures += 1
                self.last_error = "timeout"
                continue
            if r.returncode == 0:
                self.acked.append(k)
            else:
                self.failures += 1
                self.last_error = r.stderr.strip()
                # the mount is gone: do not spin on it
                time.sleep(0.02)


def read_keys(path, timeout=60):
    """(integrity_check result, set of keys) of the database at path, read
    with the sqlite3 shell (a separate process: a hung mount cannot hang
    the test). Raises RuntimeError on failure."""
    r = subprocess.run(["sqlite3", "-bail", path],
                       input=".timeout 10000\nPRAGMA integrity_check;\n"
                             "SELECT 'K', k FROM t;\n",
                       capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"sqlite3 {path}: rc {r.returncode}: {r.stderr.strip()}")
    lines = r.stdout.splitlines()
    ic = lines[0] if lines else ""
    keys = set()
    for ln in lines[1:]:
        if ln.startswith("K|"):
            keys.add(int(ln[2:]))
    return ic, keys


def object_keys(path):
    """Keys of a plain database file (a stored version), read on a copy."""
    work = tempfile.mkdtemp(prefix="obj-", dir=t.tmp_dir())
    try:
        copy = os.path.join(work, "x.db")
        shutil.copyfile(path, copy)
        c = sqlite3.connect(copy)
        try:
            ic = c.execute("PRAGMA integrity_check").fetchone()[0]
            keys = {r[0] for r in c.execute("SELECT k FROM t")}
        finally:
            c.close()
        return ic, keys
    finally:
        shutil.rmtree(work, ignore_errors=True)


class Failures:
    """Counts failed checks per kind so that 100 cycles print one TAP line
    per kind rather than 100 (the first few failures are shown in full)."""

    def __init__(self):
        self.n = {}
        self.shown = 0

    def check(self, cond, kind, detail):
        if cond:
            self.n.setdefault(kind, 0)
            return True
        self.n[kind] = self.n.get(kind, 0) + 1
        if self.shown < 8:
            self.shown += 1
            t.diag(f"FAILED {kind}: {detail}")
        return False

    def report(self, label):
        for kind in sorted(self.n):
            t.eq(self.n[kind], 0, f"{label}: {kind}: no failure in any cycle")


class Backend:
    """The store and catalog under test: the embedded store (a directory)
    or S3 + DynamoDB in moto. Knows how to list new versions and read the
    catalog without the daemon."""

    def __init__(self, base, moto=None):
        self.base = base
        self.moto = moto
        self.seen = set()
        self.work = os.path.join(base, "objs")
        os.makedirs(self.work, exist_ok=True)
        if moto:
            self.bucket = t.make_bucket(moto)
            self.table = t.unique("crash")
            self.prefix = "p"
            self.source = f"s3://{self.bucket}/{self.prefix}"
            self.aws = [f"catalog=dynamodb:{self.table}", f"endpoint={moto}",
                        f"dynamodb_endpoint={moto}", "region=us-east-1"]
            self.s3 = t.s3_client(moto, attempts=3)
            self.ddb = t.ddb_client(moto, attempts=3)
        else:
            self.source = os.path.join(base, "store")
            self.aws = []

    def init(self):
        r = m.run_tenantfs(["init", self.source] + (["-o", ",".join(self.aws)]
                                                    if self.aws else []))
        return t.ok(r.returncode == 0, f"tenantfs init {self.source}", r.stderr)

    def objects(self):
        """{hash: local path or S3 key} of every stored version."""
        out = {}
        if self.moto:
            token = None
            for _ in range(1000):
                kw = {"Bucket": self.bucket, "Prefix": self.prefix + "/"}
                if token:
                    kw["ContinuationToken"] = token
                resp = self.s3.list_objects_v2(**kw)
                for o in resp.get("Contents", []):
                    name = o["Key"].rsplit("/", 1)[-1]
                    if name.endswith(".db"):
                        out[name[:-3]] = o["Key"]
                if not resp.get("IsTruncated"):
                    break
                token = resp.get("NextContinuationToken")
            return out
        for root, _, files in os.walk(os.path.join(self.source, "objects")):
            for f in files:
                if f.startswith(".") or not f.endswith(".db"):
                    continue
                out[f[:-3]] = os.path.join(root, f)
        return out

    def fetch(self, where):
        """A local path holding the object's bytes."""
        if not self.moto:
            return where
        local = os.path.join(self.work, "cur.db")
        self.s3.download_file(self.bucket, where, local)
        return local

    def items(self):
        """{id: (gen, hash, deleted)} of the catalog."""
        out = {}
        if self.moto:
            kw = {"TableName": self.table, "ConsistentRead": True}
            for _ in range(1000):
                resp = self.ddb.scan(**kw)
                for it in resp.get("Items", []):
                    out[it["id"]["S"]] = (int(it.get("gen", {}).get("N", "0")),
                                          it.get("hash", {}).get("S", ""),
                                          int(it.get("deleted", {}).get("N", "0")))
                if "LastEvaluatedKey" not in resp:
                    break
                kw["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
            return out
        c = sqlite3.connect(os.path.join(self.source, "catalog.db"), timeout=30)
        try:
            for ident, gen, h, deleted in c.execute(
                    "SELECT id, gen, hash, deleted FROM items"):
                out[ident] = (gen, h, deleted)
        finally:
            c.close()
        return out


def kill_daemon(mnt, before_detach=None):
    """SIGKILL the daemon we started, reap it, call before_detach (stop the
    writers), then detach the dead mount.

    The order matters. While the dead mount is attached every path lookup
    under it fails (ENOTCONN), as after a real crash. Once it is detached
    (fusermount3 -uz) the mount point is a plain directory again, while a
    process that opened the database before the kill still reads it from
    the kernel's page cache: SQLite then opens "<db>-wal" and "<db>-shm" by
    path, beneath the mount point, commits into that stray WAL and exits 0
    (the checkpoint that fails at close is not an error to the shell). Such
    a transaction never reached the daemon, yet it looked acknowledged: the
    crash loop once reported a WAL row as lost for exactly that reason
    (TFS_CRASH_SEED=874612858, a loaded machine; see check_stray_writer)."""
    if mnt.proc is not None:
        try:
            os.kill(mnt.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            mnt.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        mnt.returncode = mnt.proc.returncode
        mnt.proc = None
    if before_detach is not None:
        before_detach()
    for _ in range(20):
        if not m.is_fuse_mount(mnt.mountpoint):
            break
        subprocess.run(["fusermount3", "-uz", mnt.mountpoint], capture_output=True,
                       timeout=30)
        time.sleep(0.05)


STRAY = r"""
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=10, isolation_level=None)
print("open", flush=True)
sys.stdin.readline()
try:
    c.execute("INSERT INTO t VALUES(2, randomblob(300))")
    print("acknowledged", flush=True)
except sqlite3.Error as e:
    print(f"failed: {e}", flush=True)
c.close()
"""


def check_stray_writer(opts):
    """The harness's own regression test (deterministic): a process that
    opened a WAL database before the kill and commits after it must not be
    acknowledged, and nothing may land beneath the mount point. An empty
    "w.db" beneath the mount point (what a writer running after an early
    detach used to leave there) lets SQLite create a stray WAL there when
    the mount is detached before the writers stop: this fails with the old
    order of kill_daemon."""
    base = tempfile.mkdtemp(prefix="stray-", dir=t.tmp_dir())
    src, mp = os.path.join(base, "store"), os.path.join(base, "mnt")
    opts = opts + [f"cache={base}/cache"]
    r = m.run_tenantfs(["init", src])
    if not t.ok(r.returncode == 0, "stray writer: tenantfs init", r.stderr):
        return
    os.makedirs(mp)
    open(os.path.join(mp, "w.db"), "wb").close()
    # w.db beneath the mount point shows what lands there: -o nonempty
    mnt = m.Mount(src, mp, opts + ["nonempty"], log=os.path.join(base, "daemon.log"))
    mnt.start()
    db = os.path.join(mp, "w.db")
    proc = None
    try:
        rc, _, err = m.sqlite_cli(db, "PRAGMA journal_mode=WAL;\n"
                                      "CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB);\n"
                                      "INSERT INTO t VALUES(1, randomblob(300));\n")
        t.ok(rc == 0, "stray writer: w.db created in WAL mode", err)
        # the writer's pages are in the kernel's page cache, attributes fresh
        read_keys(db)
        proc = subprocess.Popen([sys.executable, "-c", STRAY, db], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        t.record_pid(proc.pid)
        t.eq(proc.stdout.readline().strip(), "open", "stray writer: opened before the kill")
        answer = []

        def commit_after_kill():
            proc.stdin.write("go\n")
            proc.stdin.flush()
            answer.append(proc.stdout.readline().strip())
            proc.wait(timeout=60)

        kill_daemon(mnt, before_detach=commit_after_kill)
        t.ok(answer and not answer[0].startswith("acknowledged"),
             "stray writer: a commit after the kill is not acknowledged", str(answer))
        t.eq(sorted(os.listdir(mp)), ["w.db"],
             "stray writer: no WAL or shm beneath the mount point")
    finally:
        if proc is not None and proc.poll() is None:
            t.stop_process(proc)
        kill_daemon(mnt)


def crash_loop(label, backend, cycles, rng, opts):
    base = backend.base
    mp = os.path.join(base, "mnt")
    cache = os.path.join(base, "cache")
    opts = opts + backend.aws + [f"cache={cache}"]
    fails = Failures()
    if not backend.init():
        return
    # create the databases with a clean mount
    with m.Mount(backend.source, mp, opts) as mnt:
        for ident, mode in DBS:
            rc, _, err = m.sqlite_cli(os.path.join(mp, ident + ".db"),
                                      f"PRAGMA journal_mode={mode};\n"
                                      "CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB);\n")
            t.ok(rc == 0, f"{label}: create {ident}.db ({mode})", err)
    acked = {ident: set() for ident, _ in DBS}
    attempted = {ident: set() for ident, _ in DBS}
    next_key = {ident: 1 for ident, _ in DBS}
    last_gen = {}
    start = time.monotonic()
    mnt = m.Mount(backend.source, mp, opts, log=os.path.join(base, "daemon.log"))
    for cycle in range(cycles):
        try:
            mnt.start()
        except m.MountError as e:
            fails.check(False, "daemon restarts on the crashed cache", f"cycle {cycle}: {e}")
            kill_daemon(mnt)
            break
        # ---- recovery: what was acknowledged is there -------------------
        for ident, _ in DBS:
            path = os.path.join(mp, ident + ".db")
            try:
                ic, keys = t.wait_until(lambda p=path: read_keys(p), timeout=60,
                                        what=f"{ident}.db readable after restart")
            except TimeoutError as e:
                fails.check(False, "database readable after restart", f"cycle {cycle}: {e}")
                continue
            fails.check(ic == "ok", "integrity_check after recovery",
                        f"cycle {cycle} {ident}: {ic}")
            lost = acked[ident] - keys
            fails.check(not lost, "every acknowledged transaction survives",
                        f"cycle {cycle} {ident}: lost {sorted(lost)[:10]} of "
                        f"{len(acked[ident])}")
            extra = keys - attempted[ident]
            fails.check(not extra, "no row that was never written",
                        f"cycle {cycle} {ident}: {sorted(extra)[:10]}")
            # a committed but unacknowledged row is as good as acknowledged
            acked[ident] |= keys
        # ---- write and kill -----------------------------------------------
        writers = [Writer(mp, ident, next_key[ident]) for ident, _ in DBS]
        for w in writers:
            w.start()
        time.sleep(rng.uniform(0.05, 1.5))

        def stop_writers():
            for w in writers:
                w.stop.set()
            for w in writers:
                w.join(timeout=120)

        kill_daemon(mnt, before_detach=stop_writers)
        beneath = sorted(os.listdir(mp))
        fails.check(not beneath, "nothing is written beneath the mount point",
                    f"cycle {cycle}: {beneath}")
        for w, (ident, _) in zip(writers, DBS):
            fails.check(not w.is_alive(), "writer stops after the kill", f"cycle {cycle}")
            acked[ident] |= set(w.acked)
            attempted[ident] |= set(w.attempted)
            next_key[ident] = w.next_key
        # ---- the store and the catalog, daemon dead ---------------------
        try:
            objs = backend.objects()
            for h, where in objs.items():
                if h in backend.seen:
                    continue
                backend.seen.add(h)
                ic, keys = object_keys(backend.fetch(where))
                fails.check(ic == "ok", "every stored version passes integrity_check",
                            f"cycle {cycle}: {where}: {ic}")
                allk = set().union(*attempted.values())
                fails.check(keys <= allk, "stored versions hold only written rows",
                            f"cycle {cycle}: {where}")
            items = backend.items()
            for ident, (gen, h, deleted) in items.items():
                if gen > 0 and not deleted:
                    fails.check(h in objs, "catalog item points at an existing object",
                                f"cycle {cycle}: {ident} gen {gen} -> {h}")
                fails.check(gen >= last_gen.get(ident, 0), "catalog gen never goes back",
                            f"cycle {cycle}: {ident} gen {gen} < {last_gen.get(ident)}")
                last_gen[ident] = gen
        except Exception as e:  # noqa: BLE001 - reported as a failed check
            fails.check(False, "store and catalog readable", f"cycle {cycle}: {e!r}")
    elapsed = time.monotonic() - start
    t.diag(f"{label}: {cycles} cycles in {elapsed:.0f}s; acknowledged "
           + ", ".join(f"{i}: {len(acked[i])}" for i, _ in DBS)
           + f"; {len(backend.seen)} versions; last gens {last_gen}; "
           f"{mnt.log_text().count('committed ')} commits logged")
    fails.report(label)
    t.ok(all(len(acked[i]) >= cycles // 4 for i, _ in DBS),
         f"{label}: writers made progress", str({i: len(acked[i]) for i, _ in DBS}))
    t.ok(len(backend.seen) >= 2, f"{label}: write-backs happened between kills",
         f"{len(backend.seen)} versions")

    # ---- a clean stop writes everything back; an empty cache reads it ----
    try:
        mnt.start()
        for ident, _ in DBS:
            read_keys(os.path.join(mp, ident + ".db"))
        rc = mnt.unmount()
        t.eq(rc, 0, f"{label}: clean unmount after the loop")
    except (m.MountError, RuntimeError) as e:
        t.ok(False, f"{label}: clean unmount after the loop", str(e))
        kill_daemon(mnt)
    opts2 = [o for o in opts if not o.startswith(("cache=", "node="))]
    opts2 += [f"cache={base}/cache-fresh", "node=fresh"]
    with m.Mount(backend.source, mp, opts2, log=os.path.join(base, "fresh.log")):
        for ident, _ in DBS:
            try:
                ic, keys = read_keys(os.path.join(mp, ident + ".db"))
                t.eq(ic, "ok", f"{label}: {ident}.db from the store passes integrity_check")
                lost = acked[ident] - keys
                t.ok(not lost, f"{label}: {ident}.db from the store holds all "
                     f"{len(acked[ident])} acknowledged rows", f"lost {sorted(lost)[:10]}")
            except RuntimeError as e:
                t.ok(False, f"{label}: {ident}.db readable on a fresh node", str(e))


def main():
    m.need_fuse()
    m.tenantfs_binary()
    seed = int(os.environ.get("TFS_CRASH_SEED") or random.SystemRandom().randrange(1 << 30))
    t.diag(f"seed {seed} (TFS_CRASH_SEED={seed} replays the kill moments)")
    rng = random.Random(seed)
    tmp = t.tmp_dir()
    opts = ["node=n1", "idle=0.1", "max_dirty=0.3", "linger=0"]
    check_stray_writer(opts)

    cycles = int(os.environ.get("TFS_CRASH_CYCLES", "100"))
    base = tempfile.mkdtemp(prefix="crash-local-", dir=tmp)
    crash_loop("embedded", Backend(base), cycles, rng, opts)

    moto = os.environ.get("TFS_TEST_MOTO")
    s3_cycles = int(os.environ.get("TFS_CRASH_S3_CYCLES", "12"))
    if moto and s3_cycles > 0:
        base = tempfile.mkdtemp(prefix="crash-s3-", dir=tmp)
        crash_loop("s3", Backend(base, moto), s3_cycles, rng, opts)
    else:
        t.diag("no TFS_TEST_MOTO: S3 + DynamoDB loop not run")


if __name__ == "__main__":
    m.run_main(main)
