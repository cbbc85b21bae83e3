#!/usr/bin/env python3
"""tenantfs benchmark: the same sqlite3-shell workloads on the mount and on
the local disk, side by side, with the ratio and the storage requests each
workload cost. Not part of the test suite.

    tests/bench/bench.py [--build build] [--moto http://127.0.0.1:PORT] [--tmp DIR]
                         [--tx 2000] [--selects 20000] [--rows 10000] [--cold-mb 10]

Workloads (sqlite3 CLI, one process each):
  wal      N single-row transactions, journal_mode=WAL, synchronous=NORMAL
  rollback N single-row transactions, journal_mode=DELETE (synchronous FULL)
  selects  M point SELECTs by primary key on a table of R rows
  cold     first query of a 10 MB database: on the mount from an empty cache
           (a fresh node), on the local disk after dropping the file's pages

With --moto (or $TFS_TEST_MOTO) the mount uses S3 + DynamoDB on moto_server
behind tests/lib/faultproxy.py, which counts every request by method and
DynamoDB operation; without it the embedded store (local directory) is used
and the daemon's own counters are shown. Each workload gets its own mount so
its counters are its own; the write-back after the workload is included in
the counts (the time column is the sqlite3 run alone; "clean" is the time
until the database was written back).
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))


def sqlite_run(db, sql):
    start = time.monotonic()
    r = subprocess.run(["sqlite3", "-bail", db], input=sql, capture_output=True, text=True,
                       timeout=900)
    elapsed = time.monotonic() - start
    if r.returncode != 0:
        raise RuntimeError(f"sqlite3 {db} failed: {r.stderr.strip()}")
    return elapsed, r.stdout


def tx_sql(n, wal):
    head = ["PRAGMA journal_mode=WAL;" if wal else "PRAGMA journal_mode=DELETE;"]
    if wal:
        head.append("PRAGMA synchronous=NORMAL;")
    head.append("CREATE TABLE IF NOT EXISTS t(k INTEGER PRIMARY KEY, v TEXT);")
    body = [f"INSERT INTO t(v) VALUES('value number {i} padded to look like a row');"
            for i in range(n)]
    return "\n".join(head + body) + "\n"


def fill_sql(rows, pad=40):
    return ("PRAGMA journal_mode=DELETE;\n"
            "CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT);\n"
            "BEGIN;\n"
            f"WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < {rows}) "
            f"INSERT INTO t SELECT i, printf('%0{pad}d', i) FROM c;\n"
            "COMMIT;\n")


def select_sql(n, rows, seed=7):
    import random
    rnd = random.Random(seed)
    return "\n".join(f"SELECT v FROM t WHERE k={rnd.randint(1, rows)};" for _ in range(n)) + "\n"


def drop_file_cache(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


class Target:
    """Where the mount's storage lives: embedded store or moto (+ proxy)."""

    def __init__(self, base, moto):
        self.base = base
        self.moto = moto
        self.proxy = None
        self.n = 0
        if moto:
            import tfstest as t
            self.proxy = t.FaultProxy(moto).__enter__()
            self.bucket = t.make_bucket(moto)
            self.table = t.unique("bench")
            self.source = f"s3://{self.bucket}/bench"
            self.aws = [f"catalog=dynamodb:{self.table}", f"endpoint={self.proxy.url}",
                        f"dynamodb_endpoint={self.proxy.url}", "region=us-east-1"]
            import mount as m
            r = m.run_tenantfs(["init", self.source, "-o", ",".join(self.aws)])
            if r.returncode != 0:
                raise RuntimeError(f"tenantfs init failed: {r.stderr}")
        else:
            self.source = os.path.join(base, "store")
            self.aws = []

    def options(self, cache):
        return self.aws + ["node=bench", "idle=1", "linger=1", f"cache={cache}"]

    def reset_counts(self):
        if self.proxy:
            self.proxy.reset()

    def counts(self):
        if not self.proxy:
            return None
        c = self.proxy.stats().get("counts", {})
        return {k: v for k, v in sorted(c.items()) if v}

    def close(self):
        if self.proxy:
            self.proxy.close()


def daemon_counters(log):
    """The 'stats:' and 'requests:' lines the daemon logs at exit."""
    out = {}
    for kind in ("stats", "requests"):
        found = re.findall(rf"{kind}: (.*)", log)
        if found:
            for kv in found[-1].split():
                k, _, v = kv.partition("=")
                if v.isdigit() and int(v):
                    out[k] = int(v)
    return out


def run_on_mount(tgt, name, prepare, work, wait_db):
    """Mounts with a fresh cache, runs prepare() (untimed, may return a
    callable to time) then the workload, waits for the write-back, and
    unmounts. Returns (seconds, seconds_until_clean, counts)."""
    import mount as m
    tgt.n += 1
    cache = os.path.join(tgt.base, f"cache-{tgt.n}")
    mp = os.path.join(tgt.base, f"mnt-{tgt.n}")
    mnt = m.Mount(tgt.source, mp, tgt.options(cache), log=os.path.join(tgt.base,
                                                                        f"{name}.log"))
    mnt.start()
    try:
        if prepare:
            prepare(mp)
        tgt.reset_counts()
        start = time.monotonic()
        secs = work(mp)
        clean = None
        if wait_db:
            try:
                m.wait_clean(os.path.join(mp, wait_db), timeout=120)
                clean = time.monotonic() - start
            except TimeoutError:
                clean = float("nan")
    finally:
        mnt.unmount()
    counts = tgt.counts() or daemon_counters(mnt.log_text())
    return secs, clean, counts


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.environ.get("TFS_TEST_BUILD") or
                    os.path.join(ROOT, "build"))
    ap.add_argument("--moto", default=os.environ.get("TFS_TEST_MOTO"))
    ap.add_argument("--tmp", default=None)
    ap.add_argument("--tx", type=int, default=2000)
    ap.add_argument("--selects", type=int, default=20000)
    ap.add_argument("--rows", type=int, default=10000)
    ap.add_argument("--cold-mb", type=int, default=10)
    ap.add_argument("--keep", action="store_true", help="keep the scratch folder")
    a = ap.parse_args()

    os.environ["TFS_TEST_BUILD"] = os.path.abspath(a.build)
    base = tempfile.mkdtemp(prefix="tfs-bench-", dir=a.tmp)
    os.environ.setdefault("TFS_TEST_TMP", base)
    if a.moto:
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        os.environ.setdefault("AWS_REGION", "us-east-1")
    import mount as m
    m.tenantfs_binary()
    local = os.path.join(base, "local")
    os.makedirs(local)
    tgt = Target(base, a.moto)
    results = []
    try:
        # -- WAL and rollback transactions
        for wl, wal in (("wal", True), ("rollback", False)):
            sql = tx_sql(a.tx, wal)
            t_local, _ = sqlite_run(os.path.join(local, f"{wl}.db"), sql)
            secs, clean, counts = run_on_mount(
                tgt, wl, None, lambda mp, s=sql, w=wl: sqlite_run(
                    os.path.join(mp, f"{w}.db"), s)[0], f"{wl}.db")
            results.append((f"{wl}: {a.tx} single-row tx", t_local, secs, clean, counts))

        # -- point selects (the table is built before the timer)
        fill = fill_sql(a.rows)
        sel = select_sql(a.selects, a.rows)
        sqlite_run(os.path.join(local, "sel.db"), fill)
        t_local, _ = sqlite_run(os.path.join(local, "sel.db"), sel)
        secs, clean, counts = run_on_mount(
            tgt, "selects", lambda mp: (sqlite_run(os.path.join(mp, "sel.db"), fill),
                                        m.wait_clean(os.path.join(mp, "sel.db"), timeout=120)),
            lambda mp: sqlite_run(os.path.join(mp, "sel.db"), sel)[0], None)
        results.append((f"selects: {a.selects} by key, {a.rows} rows", t_local, secs, clean,
                        counts))

        # -- cold open of a big database: written by one mount, read by a
        # fresh one (empty cache)
        rows = a.cold_mb * 1024 * 1024 // 1100
        big = fill_sql(rows, pad=1000)
        q = "SELECT count(*), sum(length(v)) FROM t;\n"
        ldb = os.path.join(local, "big.db")
        sqlite_run(ldb, big)
        drop_file_cache(ldb)
        t_local, _ = sqlite_run(ldb, q)
        run_on_mount(tgt, "cold-write", None,
                     lambda mp: sqlite_run(os.path.join(mp, "big.db"), big)[0], "big.db")
        size = os.path.getsize(ldb)
        secs, _, counts = run_on_mount(tgt, "cold", None,
                                       lambda mp: sqlite_run(os.path.join(mp, "big.db"),
                                                             q)[0], None)
        results.append((f"cold open: {size / 1048576:.1f} MB db", t_local, secs, None, counts))
    finally:
        tgt.close()

    store = f"S3+DynamoDB on moto ({a.moto}) behind faultproxy" if a.moto else \
        "embedded store (local directory)"
    print(f"tenantfs benchmark: mount on {store} vs local disk ({local})")
    print(f"{'workload':<38} {'local s':>8} {'mount s':>8} {'ratio':>7} {'clean s':>8}  "
          "requests")
    for name, tl, tm, clean, counts in results:
        ratio = tm / tl if tl > 0 else float("inf")
        cs = f"{clean:8.2f}" if clean is not None else f"{'-':>8}"
        req = " ".join(f"{k}={v}" for k, v in (counts or {}).items()) or "none"
        print(f"{name:<38} {tl:8.3f} {tm:8.3f} {ratio:6.1f}x {cs}  {req}")
    if not a.keep:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
