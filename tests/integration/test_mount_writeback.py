#!/usr/bin/env python3
"""Write-back on S3 + DynamoDB (moto_server), S3 seen through the fault
proxy (tests/lib/faultproxy.py) so requests are counted:

- a session that changes nothing (sqlite3 shell and Python sqlite3, open,
  SELECT, close; rollback journal and WAL) costs 0 PUTs and 0 GETs;
- a writer committing 300 transactions in a loop (each inserts row i and
  sets a counter to i) while idle (0.3 s) and max_dirty (1 s) write-backs
  happen mid-loop, in WAL and in rollback-journal mode: every version the
  bucket holds for that id and every hash in the catalog history passes
  integrity_check and holds exactly rows 1..k with the counter at k (no
  gap, no partial transaction); the last one holds all 300;
- cp into the mount on S3 lands in the bucket; cp out exports it.

Run time: about 20-40 s (one mount, two 300-transaction loops)."""
# tfs-timeout: 400

import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mount as m  # noqa: E402
import tfstest as t  # noqa: E402

N = 300
PREFIX = "users"


class Env:
    def __init__(self, base, moto, proxy):
        self.base = base
        self.moto = moto
        self.proxy = proxy
        self.bucket = t.make_bucket(moto)
        self.table = t.unique("wb")
        self.src = f"s3://{self.bucket}/{PREFIX}"
        self.aws = [f"catalog=dynamodb:{self.table}", f"endpoint={proxy.url}",
                    f"dynamodb_endpoint={moto}", "region=us-east-1"]
        self.s3 = t.s3_client(moto)
        self.ddb = t.ddb_client(moto)
        self.work = os.path.join(base, "work")
        os.makedirs(self.work, exist_ok=True)

    def item(self, ident):
        return self.ddb.get_item(TableName=self.table, Key={"id": {"S": ident}},
                                 ConsistentRead=True).get("Item", {})

    def released(self, ident):
        """The catalog item is committed and no node holds its lease."""
        it = self.item(ident)
        return bool(it.get("hash", {}).get("S")) and not it.get("owner", {}).get("S")

    def wait_released(self, ident, timeout=60.0):
        t.wait_until(lambda: self.released(ident), timeout=timeout,
                     what=f"{ident}: written back and released")

    def versions(self, ident):
        """Every version key the bucket holds for ident (not its version
        records, GEN-K-HASH.ver)."""
        keys, token = [], None
        for _ in range(100):
            kw = {"Bucket": self.bucket, "Prefix": f"{PREFIX}/{ident}/"}
            if token:
                kw["ContinuationToken"] = token
            resp = self.s3.list_objects_v2(**kw)
            keys += [o["Key"] for o in resp.get("Contents", []) if o["Key"].endswith(".db")]
            token = resp.get("NextContinuationToken")
            if not token:
                break
        return keys

    def download(self, key):
        local = os.path.join(self.work, key.replace("/", "_"))
        self.s3.download_file(self.bucket, key, local)
        return local


def counts(proxy):
    return proxy.stats()["counts"]


# ---- a session that changes nothing ----------------------------------------

def readonly_sessions(env, mp, mnt):
    m.write_rollback_cli(mp, "ro1", 50)
    m.write_wal_python(mp, "ro2", 50)
    for ident in ("ro1", "ro2"):
        try:
            env.wait_released(ident)
        except TimeoutError as e:
            t.ok(False, f"{ident}: written back and released", f"{e}\n{mnt.log_text()}")
            return
    before = {i: env.item(i) for i in ("ro1", "ro2")}
    env.proxy.reset()
    for ident in ("ro1", "ro2"):
        db = os.path.join(mp, ident + ".db")
        rc, out, err = m.sqlite_cli(db, "SELECT count(*) FROM t;\n")
        t.ok(rc == 0 and out.strip() == "50", f"{ident}: sqlite3 shell SELECT", err + out)
        try:
            c = sqlite3.connect(db, timeout=30)
            n = c.execute("SELECT count(*) FROM t").fetchone()[0]
            c.close()
            t.eq(n, 50, f"{ident}: python SELECT")
        except sqlite3.Error as e:
            t.ok(False, f"{ident}: python SELECT", repr(e))
    # Each session took the lease again (the open returned after it); once
    # it is released the close path (snapshot, hash compare) has run.
    for ident in ("ro1", "ro2"):
        try:
            env.wait_released(ident)
            m.wait_clean(os.path.join(mp, ident + ".db"))
        except TimeoutError as e:
            t.ok(False, f"{ident}: released after the read-only sessions", str(e))
    c = counts(env.proxy)
    t.eq(c.get("PUT", 0), 0, "read-only sessions (shell + python, journal + WAL): 0 PUTs")
    t.eq(c.get("GET", 0), 0, "read-only sessions on cached copies: 0 GETs")
    for ident in ("ro1", "ro2"):
        after = env.item(ident)
        t.eq((after.get("gen"), after.get("hash")), (before[ident].get("gen"),
                                                     before[ident].get("hash")),
             f"{ident}: no new commit from reading")


# ---- committed prefixes ------------------------------------------------------

def writer_loop(env, mp, ident, wal, mnt):
    """N transactions, each inserting row i and setting c.n = i. After rows
    100 and 200 the writer waits (bounded) for a write-back to land while it
    keeps the database open, so versions exist mid-loop whatever the speed
    of the machine; pauses near the idle time and the max_dirty timer add
    write-backs that race the next transactions."""
    db = os.path.join(mp, ident + ".db")
    mode = "WAL" if wal else "rollback"
    c = sqlite3.connect(db, timeout=30, isolation_level=None)
    c.execute(f"PRAGMA journal_mode={'WAL' if wal else 'DELETE'}")
    c.execute("BEGIN")
    c.execute("CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)")
    c.execute("CREATE TABLE c(n INTEGER)")
    c.execute("INSERT INTO c VALUES(0)")
    c.execute("COMMIT")
    gen = 0
    mid = True
    rng = random.Random(1234 + wal)
    for i in range(1, N + 1):
        c.execute("BEGIN")
        c.execute("INSERT INTO t VALUES(?, ?)", (i, f"{i:04d}" + "x" * 200))
        c.execute("UPDATE c SET n = ?", (i,))
        c.execute("COMMIT")
        if i % 20 == 10:
            # a pause around the idle time: a write-back starts about when
            # the next transactions do, and races them
            time.sleep(rng.uniform(0.2, 0.45))
        if i in (100, 200):
            try:
                gen, _ = m.wait_clean(db, min_gen=gen + 1, timeout=60)
            except TimeoutError as e:
                mid = t.ok(False, f"{mode}: write-back while open after row {i}",
                           f"{e}\n{mnt.log_text()[-3000:]}")
    c.close()
    t.ok(mid, f"{mode}: write-backs landed mid-loop (after rows 100 and 200)")
    return db


def check_version(path):
    """(k, None) when the file holds exactly rows 1..k with c.n = k (k = -1
    for a database from before the schema transaction), else (None, why)."""
    try:
        conn = sqlite3.connect(path)  # a scratch download: WAL may need its -shm
    except sqlite3.Error as e:
        return None, repr(e)
    try:
        ic = conn.execute("PRAGMA integrity_check").fetchone()[0]
        if ic != "ok":
            return None, f"integrity_check: {ic}"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master "
                                             "WHERE type = 'table'")}
        if not tables:
            return -1, None
        if tables != {"t", "c"}:
            return None, f"partial schema: {sorted(tables)}"
        ks = [r[0] for r in conn.execute("SELECT k FROM t ORDER BY k")]
        n = conn.execute("SELECT n FROM c").fetchall()
        k = len(ks)
        if ks != list(range(1, k + 1)):
            return None, f"rows are not 1..{k}: first {ks[:5]} last {ks[-5:]}"
        if n != [(k,)]:
            return None, f"{k} rows but counter {n}"
        bad = conn.execute("SELECT count(*) FROM t WHERE v != printf('%04d', k) || "
                           "replace(printf('%200s', ''), ' ', 'x')").fetchone()[0]
        if bad:
            return None, f"{bad} rows with wrong values"
        return k, None
    except sqlite3.Error as e:
        return None, repr(e)
    finally:
        conn.close()


def check_prefixes(env, mp, ident, wal, mnt):
    mode = "WAL" if wal else "rollback"
    try:
        db = writer_loop(env, mp, ident, wal, mnt)
    except sqlite3.Error as e:
        t.ok(False, f"{mode}: {N} transactions in a loop", repr(e))
        return
    t.ok(True, f"{mode}: {N} transactions committed in a loop")
    try:
        env.wait_released(ident)
    except TimeoutError as e:
        t.ok(False, f"{mode}: written back after close", f"{e}\n{mnt.log_text()[-3000:]}")
        return
    item = env.item(ident)
    hist = [e["M"].get("h", {}).get("S", "") for e in item.get("hist", {}).get("L", [])]
    keys = env.versions(ident)
    by_hash = {os.path.basename(k)[:-3]: k for k in keys}
    missing = [h for h in hist if h and h not in by_hash]
    t.ok(not missing, f"{mode}: every catalog history hash is an object in the bucket",
         f"missing {missing}; bucket {sorted(by_hash)}")
    t.ok(len(keys) >= 3, f"{mode}: the bucket holds several versions ({len(keys)})", keys)
    ks, bad = {}, []
    for k in keys:
        got, why = check_version(env.download(k))
        if got is None:
            bad.append(f"{k}: {why}")
        else:
            ks[os.path.basename(k)[:-3]] = got
    t.ok(not bad, f"{mode}: each of {len(keys)} versions passes integrity_check and holds "
         f"exactly rows 1..k (no gap, no partial transaction)", "\n".join(bad))
    t.eq(ks.get(item.get("hash", {}).get("S")), N,
         f"{mode}: the committed version holds all {N} rows")
    mids = sorted(k for k in ks.values() if 0 < k < N)
    t.ok(len(mids) >= 2, f"{mode}: versions with a proper prefix exist: k in {mids}")
    gens = [int(e["M"]["g"]["N"]) for e in item.get("hist", {}).get("L", [])]
    t.ok(gens == sorted(gens) and len(set(gens)) == len(gens),
         f"{mode}: history gens increase: {gens}")
    c = sqlite3.connect(db, timeout=30)
    t.eq(c.execute("SELECT count(*), max(k) FROM t").fetchone(), (N, N),
         f"{mode}: the mount still reads {N} rows")
    c.close()


def copy_in_out(env, mp, mnt):
    plain = os.path.join(env.work, "plain.db")
    c = sqlite3.connect(plain)
    c.execute("CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)")
    c.executemany("INSERT INTO t VALUES(?, ?)", [(i, f"row {i} of imp") for i in range(100)])
    c.commit()
    c.close()
    m.check_copy_in_out(mp, "imp", plain, env.work)
    try:
        env.wait_released("imp")
    except TimeoutError as e:
        t.ok(False, "cp import written back", f"{e}\n{mnt.log_text()[-3000:]}")
        return
    h = env.item("imp").get("hash", {}).get("S")
    key = f"{PREFIX}/imp/{h}.db"
    try:
        local = env.download(key)
        t.ok(open(local, "rb").read() == open(plain, "rb").read(),
             "cp import: the object in the bucket is the copied file, byte for byte")
    except Exception as e:  # noqa: BLE001
        t.ok(False, "cp import: object in the bucket", repr(e))


def main():
    moto = t.need_env("TFS_TEST_MOTO")
    m.need_fuse()
    m.tenantfs_binary()
    base = tempfile.mkdtemp(prefix="mount-wb-", dir=t.tmp_dir())
    mp = os.path.join(base, "mnt")
    with t.FaultProxy(moto) as proxy:
        env = Env(base, moto, proxy)
        r = m.run_tenantfs(["init", env.src, "-o", ",".join(env.aws)])
        if not t.ok(r.returncode == 0, "tenantfs init", r.stderr):
            return
        opts = env.aws + ["node=n1", "idle=0.3", "max_dirty=1", "linger=0.2",
                          f"cache={base}/cache"]
        with m.Mount(env.src, mp, opts) as mnt:
            readonly_sessions(env, mp, mnt)
            check_prefixes(env, mp, "loopwal", True, mnt)
            check_prefixes(env, mp, "loopdel", False, mnt)
            copy_in_out(env, mp, mnt)
        t.eq(mnt.returncode, 0, "daemon exits 0 after fusermount3 -u")


if __name__ == "__main__":
    m.run_main(main, sync=True)
