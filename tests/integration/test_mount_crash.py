#!/usr/bin/env python3
"""kill -9 of the daemon after sqlite3 committed and closed, before any
timer writes back (idle=300, max_dirty=600), on S3 + DynamoDB (moto_server)
and on the embedded store:

- held: a base version is written back, then a reader keeps the database
  open (so the close of the writer does not write back) while the sqlite3
  shell commits more rows and exits; the catalog still points at the base
  version; kill -9; a restart with the same cache recovers: the catalog
  points at a new version, the object (found by the catalog's hash) holds
  every row and passes integrity_check;
- fresh: the same for a database that was never committed (recovery makes
  its first commit), written by Python sqlite3 in WAL mode;
- raced: kill -9 right after the shell exits, racing the close write-back:
  whichever wins, the rows are there after the restart;
- a never-committed database unlinked while open leaves a tombstone with
  an empty hash: listing keeps working after the restart (the catalogs
  read it back) and the name can be created again;
- finally a remount with an empty cache (another node) reads it all back.

Run time: about 15-30 s (three mounts per back end)."""
# tfs-timeout: 400

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mount as m  # noqa: E402
import tfstest as t  # noqa: E402

BASE_ROWS = 50
MORE_ROWS = 150
TIMERS = ["idle=300", "max_dirty=600", "linger=0.2"]


class S3Backend:
    label = "s3"

    def __init__(self, base, moto):
        self.base = base
        self.bucket = t.make_bucket(moto)
        self.table = t.unique("crash")
        self.prefix = "users"
        self.src = f"s3://{self.bucket}/{self.prefix}"
        self.opts = [f"catalog=dynamodb:{self.table}", f"endpoint={moto}",
                     f"dynamodb_endpoint={moto}", "region=us-east-1"]
        self.s3 = t.s3_client(moto)
        self.ddb = t.ddb_client(moto)
        r = m.run_tenantfs(["init", self.src, "-o", ",".join(self.opts)])
        self.ready = t.ok(r.returncode == 0, "s3: tenantfs init", r.stderr)

    def item(self, ident):
        it = self.ddb.get_item(TableName=self.table, Key={"id": {"S": ident}},
                               ConsistentRead=True).get("Item")
        if not it:
            return None
        return {"gen": int(it.get("gen", {}).get("N", "0")),
                "hash": it.get("hash", {}).get("S", ""),
                "owner": it.get("owner", {}).get("S", ""),
                "deleted": int(it.get("deleted", {}).get("N", "0"))}

    def fetch(self, ident, h, dest):
        """Copies the object of version h of ident to dest; False if absent."""
        try:
            self.s3.download_file(self.bucket, f"{self.prefix}/{ident}/{h}.db", dest)
            return True
        except Exception:  # noqa: BLE001 - absent or unreadable
            return False


class LocalBackend:
    label = "local"

    def __init__(self, base):
        self.base = base
        self.src = os.path.join(base, "store")
        self.opts = []
        self.ready = True

    def item(self, ident):
        path = os.path.join(self.src, "catalog.db")
        if not os.path.exists(path):
            return None
        c = sqlite3.connect(path, timeout=30)
        try:
            r = c.execute("SELECT gen, hash, owner, deleted FROM items WHERE id = ?",
                          (ident,)).fetchone()
        finally:
            c.close()
        return None if r is None else {"gen": r[0], "hash": r[1], "owner": r[2],
                                       "deleted": r[3]}

    def fetch(self, ident, h, dest):
        path = os.path.join(self.src, "objects", ident, h + ".db")
        if not os.path.isfile(path):
            return False
        shutil.copyfile(path, dest)
        return True


def rows_sql(ident, lo, hi):
    return "".join(f"INSERT INTO t VALUES({i}, 'row {i} of {ident}');\n" for i in range(lo, hi))


def check_object(be, ident, rows, work, what):
    """The catalog points at a version whose object holds rows 0..rows-1."""
    it = be.item(ident)
    if not t.ok(it is not None and it["hash"], f"{what}: catalog has a hash", it):
        return
    dest = os.path.join(work, f"{be.label}-{ident}-{it['hash']}.db")
    if not t.ok(be.fetch(ident, it["hash"], dest),
                f"{what}: the object named by the catalog's hash is stored"):
        return
    t.ok(m.integrity_ok(dest), f"{what}: the object passes integrity_check")
    c = sqlite3.connect(dest)
    got = c.execute("SELECT k, v FROM t ORDER BY k").fetchall()
    c.close()
    want = [(i, f"row {i} of {ident}") for i in range(rows)]
    t.ok(got == want, f"{what}: the object holds the {rows} committed rows",
         f"got {len(got)} rows")


def kill9(mnt, mp):
    """SIGKILL the daemon, reap it, detach the dead mount."""
    pid = mnt.proc.pid
    os.kill(pid, signal.SIGKILL)
    mnt.proc.wait(timeout=30)
    mnt.proc = None
    subprocess.run(["fusermount3", "-uz", mp], capture_output=True, timeout=30)
    t.ok(not m.is_fuse_mount(mp), f"daemon {pid} killed with SIGKILL, mount detached")


def scenario(be, base):
    L = be.label
    mp = os.path.join(base, f"mnt-{L}")
    work = os.path.join(base, f"work-{L}")
    os.makedirs(work, exist_ok=True)
    cache = os.path.join(base, f"cache-{L}")
    opts = be.opts + ["node=n1", f"cache={cache}"] + TIMERS
    held_db = os.path.join(mp, "held.db")
    fresh_db = os.path.join(mp, "fresh.db")
    raced_db = os.path.join(mp, "raced.db")
    ghost_db = os.path.join(mp, "ghost.db")

    mnt = m.Mount(be.src, mp, opts)
    mnt.start()
    holders = []
    try:
        # held: a base version first (written back by the close)
        rc, _, err = m.sqlite_cli(held_db, "PRAGMA journal_mode=DELETE;\n"
                                  "CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT);\n" +
                                  rows_sql("held", 0, BASE_ROWS))
        t.ok(rc == 0, f"{L}: held.db base version written", err)
        gen0, h0 = m.wait_clean(held_db, timeout=60)
        holders.append(os.open(held_db, os.O_RDONLY))
        rc, _, err = m.sqlite_cli(held_db, rows_sql("held", BASE_ROWS, BASE_ROWS + MORE_ROWS))
        t.ok(rc == 0, f"{L}: sqlite3 shell commits {MORE_ROWS} more rows and exits", err)
        d = m.xattr(held_db, "dirty")
        t.ok(m._truthy(d), f"{L}: held.db is dirty (a reader keeps it open)", d)
        it = be.item("held")
        t.eq((it or {}).get("hash"), h0, f"{L}: catalog still points at the base version")

        # fresh: never committed, WAL, written by Python
        holders.append(os.open(fresh_db, os.O_RDWR | os.O_CREAT, 0o644))
        c = sqlite3.connect(fresh_db, timeout=30)
        t.eq(c.execute("PRAGMA journal_mode=WAL").fetchone()[0], "wal", f"{L}: fresh.db WAL")
        c.execute("CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)")
        c.executemany("INSERT INTO t VALUES(?, ?)",
                      [(i, f"row {i} of fresh") for i in range(MORE_ROWS)])
        c.commit()
        c.close()
        it = be.item("fresh")
        t.ok(it is None or not it["hash"], f"{L}: fresh.db is not committed before the kill",
             it)

        # ghost: created and unlinked while open, never committed
        fd = os.open(ghost_db, os.O_RDWR | os.O_CREAT, 0o644)
        os.unlink(ghost_db)
        os.close(fd)
        t.ok("ghost.db" not in os.listdir(mp), f"{L}: ghost.db unlinked")
        it = be.item("ghost")
        t.ok(it is not None and it["deleted"] and it["hash"] == "",
             f"{L}: ghost's tombstone has an empty hash", it)

        # raced: kill right after the shell exits
        rc, _, err = m.sqlite_cli(raced_db, "CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT);\n" +
                                  rows_sql("raced", 0, MORE_ROWS))
        t.ok(rc == 0, f"{L}: raced.db written", err)
        kill9(mnt, mp)
    finally:
        for fd in holders:
            try:
                os.close(fd)
            except OSError:
                pass
        if mnt.alive():
            mnt.kill()

    # restart with the same cache: recovery writes back
    with m.Mount(be.src, mp, opts) as mnt2:
        try:
            t.wait_until(lambda: (be.item("held") or {}).get("gen", 0) > gen0 and
                         (be.item("fresh") or {}).get("hash"), timeout=90,
                         what="recovery commits")
            t.ok(True, f"{L}: restart recovers held.db and fresh.db into the catalog")
        except TimeoutError as e:
            t.ok(False, f"{L}: restart recovers held.db and fresh.db into the catalog",
                 f"{e}\n{mnt2.log_text()[-4000:]}")
        check_object(be, "held", BASE_ROWS + MORE_ROWS, work, f"{L}: held after recovery")
        check_object(be, "fresh", MORE_ROWS, work, f"{L}: fresh after recovery")
        try:
            m.wait_clean(raced_db, timeout=90)
        except TimeoutError as e:
            t.ok(False, f"{L}: raced.db committed", str(e))
        check_object(be, "raced", MORE_ROWS, work, f"{L}: raced after restart")
        names = sorted(os.listdir(mp))
        t.eq(names, ["fresh.db", "held.db", "raced.db"],
             f"{L}: listing after the restart (ghost's tombstone decodes)")
        rc, out, err = m.sqlite_cli(ghost_db, "CREATE TABLE t(k);\nINSERT INTO t VALUES(7);\n"
                                    "SELECT k FROM t;\n")
        t.ok(rc == 0 and out.strip() == "7", f"{L}: ghost.db can be created again", err + out)
    t.eq(mnt2.returncode, 0, f"{L}: restarted daemon exits 0")

    # another node, empty cache
    opts2 = be.opts + ["node=n2", f"cache={base}/cache2-{L}", "linger=0"]
    with m.Mount(be.src, mp, opts2):
        m.check_rows(held_db, "held", BASE_ROWS + MORE_ROWS, f"{L}: empty cache")
        m.check_rows(fresh_db, "fresh", MORE_ROWS, f"{L}: empty cache")
        m.check_rows(raced_db, "raced", MORE_ROWS, f"{L}: empty cache")


def main():
    m.need_fuse()
    m.tenantfs_binary()
    base = tempfile.mkdtemp(prefix="mount-crash-", dir=t.tmp_dir())
    os.makedirs(os.path.join(base, "local"))
    os.makedirs(os.path.join(base, "s3"))
    scenario(LocalBackend(os.path.join(base, "local")), os.path.join(base, "local"))
    moto = os.environ.get("TFS_TEST_MOTO")
    if not moto:
        t.diag("TFS_TEST_MOTO unset: S3 part skipped")
        return
    be = S3Backend(os.path.join(base, "s3"), moto)
    if be.ready:
        scenario(be, os.path.join(base, "s3"))


if __name__ == "__main__":
    m.run_main(main, sync=True)
