#!/usr/bin/env python3
"""tenantfs benchmark: the same sqlite3-shell workloads on the mount and on
the local disk, interleaved, repeated, with medians, ratios and the storage
requests each workload cost. Not part of the test suite (no assertions).

    tests/bench/bench.py [--build build] [--moto URL | --start-moto] [--tmp DIR]
                         [--reps 3] [--tx 2000] [--selects 20000] [--rows 10000]
                         [--cold-mb 10] [--only wal,rollback,selects,cold]
                         [--writeback-cache] [--verbose] [--keep]

Workloads (sqlite3 CLI, one process each, timed alone):
  wal      N single-row transactions, journal_mode=WAL, synchronous=NORMAL
  rollback N single-row transactions, journal_mode=DELETE (synchronous FULL)
  selects  M point SELECTs by primary key on a table of R rows (built untimed)
  cold     one query over a 10 MB database: on the mount from an empty cache
           (a fresh node: lease + GET), on the local disk after dropping the
           file's pages

Each repetition runs the local and the mount side back to back (their order
alternates), so a burst of load on this shared machine hits both; the table
shows medians over the repetitions and the median of the per-repetition
ratios (mount / local).

Every mount side runs on a fresh mount (fresh cache except for selects, whose
table is built on the same mount before the timer). With --moto URL (or
$TFS_TEST_MOTO) or --start-moto the mount uses S3 + DynamoDB on moto_server
behind tests/lib/faultproxy.py, which records every request: the table gives
S3 requests by method and DynamoDB requests by operation, from the start of
the workload until the database is written back ("clean"), and separately
what the unmount added (the lease release). Without moto the embedded store
(local directory) is used and the daemon's own counters are shown.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))

WORKLOADS = ("wal", "rollback", "selects", "cold")


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


def remove_db(path):
    for suffix in ("", "-journal", "-wal", "-shm"):
        try:
            os.unlink(path + suffix)
        except FileNotFoundError:
            pass


def start_moto(base):
    """A moto_server of our own on loopback (port 0: it prints the port)."""
    import tfstest as t
    log = os.path.join(base, "moto.log")
    logf = open(log, "wb")
    try:
        proc = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", "0"],
                                stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
    finally:
        logf.close()
    t.record_pid(proc.pid)

    def port():
        if proc.poll() is not None:
            raise RuntimeError(f"moto_server exited with {proc.returncode}")
        with open(log, encoding="utf-8", errors="replace") as f:
            m = re.search(r"Running on http://127\.0\.0\.1:(\d+)", f.read())
        return int(m.group(1)) if m else None

    try:
        p = t.wait_until(port, timeout=30, what="moto_server port")
    except BaseException:
        t.stop_process(proc)
        raise
    return proc, f"http://127.0.0.1:{p}"


class Target:
    """Where the mount's storage lives: embedded store or moto (+ proxy)."""

    def __init__(self, base, moto):
        self.base = base
        self.moto = moto
        self.proxy = None
        self.n = 0
        self.extra = []
        if moto:
            import tfstest as t
            import mount as m
            self.proxy = t.FaultProxy(moto).__enter__()
            self.bucket = t.make_bucket(moto)
            self.table = t.unique("bench")
            self.source = f"s3://{self.bucket}/bench"
            self.aws = [f"catalog=dynamodb:{self.table}", f"endpoint={self.proxy.url}",
                        f"dynamodb_endpoint={self.proxy.url}", "region=us-east-1"]
            r = m.run_tenantfs(["init", self.source, "-o", ",".join(self.aws)])
            if r.returncode != 0:
                raise RuntimeError(f"tenantfs init failed: {r.stderr}")
        else:
            self.source = os.path.join(base, "store")
            self.aws = []

    def options(self, cache):
        return self.aws + self.extra + ["node=bench", "idle=1", "linger=1", f"cache={cache}"]

    def reset_counts(self):
        if self.proxy:
            self.proxy.reset()

    def counts(self):
        """{"s3": {method: n}, "ddb": {operation: n}} since the last reset,
        or None without the proxy."""
        if not self.proxy:
            return None
        s3, ddb = {}, {}
        for r in self.proxy.stats().get("requests", []):
            if r.get("target"):
                op = r["target"].rsplit(".", 1)[-1]
                ddb[op] = ddb.get(op, 0) + 1
            else:
                s3[r["method"]] = s3.get(r["method"], 0) + 1
        return {"s3": s3, "ddb": ddb}

    def close(self):
        if self.proxy:
            self.proxy.close()


def daemon_counters(log):
    """The 'stats:' and 'requests:' lines the daemon logs at exit."""
    out = {}
    for kind in ("stats", "requests"):
        found = re.findall(rf"info: {kind}: (.*)", log)
        if found:
            for kv in found[-1].split():
                k, _, v = kv.partition("=")
                if v.isdigit() and int(v):
                    out[k] = int(v)
    return out


def fuse_requests(log):
    """The daemon's 'fuse requests:' line (requests it served, by kind)."""
    found = re.findall(r"fuse requests:((?: \w+=\d+)+)", log)
    if not found:
        return {}
    return {k: int(v) for k, v in (kv.split("=") for kv in found[-1].split())}


def counts_minus(total, part):
    out = {}
    for kind in ("s3", "ddb"):
        d = {k: v - part[kind].get(k, 0) for k, v in total[kind].items()}
        out[kind] = {k: v for k, v in d.items() if v}
    return out


def run_on_mount(tgt, name, prepare, work, wait_db):
    """Mounts with a fresh cache, runs prepare(mp) untimed, resets the
    counters, runs work(mp) (returns its seconds), waits for wait_db to be
    written back, and unmounts. Returns (seconds, seconds until clean,
    requests until clean, requests the unmount added, FUSE requests the
    daemon served over the whole mount); without the proxy the daemon's
    counters of the whole mount, and None for the unmount."""
    import mount as m
    tgt.n += 1
    cache = os.path.join(tgt.base, f"cache-{tgt.n}")
    mp = os.path.join(tgt.base, f"mnt-{tgt.n}")
    mnt = m.Mount(tgt.source, mp, tgt.options(cache),
                  log=os.path.join(tgt.base, f"{name}-{tgt.n}.log"))
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
        during = tgt.counts()
    except BaseException:
        mnt.kill()
        raise
    rc = mnt.unmount()
    if rc != 0:
        raise RuntimeError(f"tenantfs exited with {rc}:\n{mnt.log_text()}")
    log = mnt.log_text()
    if during is None:
        return secs, clean, daemon_counters(log), None, fuse_requests(log)
    return secs, clean, during, counts_minus(tgt.counts(), during), fuse_requests(log)


class Bench:
    def __init__(self, a, base, tgt):
        self.a = a
        self.base = base
        self.tgt = tgt
        self.local = os.path.join(base, "local")
        os.makedirs(self.local)
        # (label, [local s], [mount s], [clean s], counts, unmount counts,
        #  FUSE requests, transactions or queries of the workload)
        self.rows = []

    def interleave(self, label, reps, local_fn, mount_fn, ops):
        tl, tm, tc, counts, extra, fuse = [], [], [], [], [], []
        for i in range(reps):
            sides = ("local", "mount") if i % 2 == 0 else ("mount", "local")
            for side in sides:
                if side == "local":
                    tl.append(local_fn(i))
                else:
                    secs, clean, c, u, f = mount_fn(i)
                    fuse.append(f)
                    tm.append(secs)
                    tc.append(clean)
                    counts.append(c)
                    extra.append(u)
            print(f"  {label} rep {i + 1}/{reps}: local {tl[-1]:.3f} s, mount {tm[-1]:.3f} s",
                  file=sys.stderr, flush=True)
        self.rows.append((label, tl, tm, tc, counts, extra, fuse, ops))

    def tx(self, wl, wal):
        sql = tx_sql(self.a.tx, wal)

        def local(i):
            db = os.path.join(self.local, f"{wl}-{i}.db")
            remove_db(db)
            secs = sqlite_run(db, sql)[0]
            remove_db(db)
            return secs

        def mount(i):
            # a new database per repetition: the store keeps the earlier ones
            name = f"{wl}-{i}.db"
            return run_on_mount(self.tgt, wl, None,
                                lambda mp: sqlite_run(os.path.join(mp, name), sql)[0], name)

        self.interleave(f"{wl}: {self.a.tx} single-row tx", self.a.reps, local, mount,
                        self.a.tx)

    def selects(self):
        fill = fill_sql(self.a.rows)
        sel = select_sql(self.a.selects, self.a.rows)
        ldb = os.path.join(self.local, "sel.db")
        remove_db(ldb)
        sqlite_run(ldb, fill)

        def mount(i):
            import mount as m
            name = f"sel-{i}.db"

            def prepare(mp):
                sqlite_run(os.path.join(mp, name), fill)
                m.wait_clean(os.path.join(mp, name), timeout=120)

            return run_on_mount(self.tgt, "selects", prepare,
                                lambda mp: sqlite_run(os.path.join(mp, name), sel)[0], None)

        self.interleave(f"selects: {self.a.selects} by key, {self.a.rows} rows", self.a.reps,
                        lambda i: sqlite_run(ldb, sel)[0], mount, self.a.selects)

    def cold(self):
        # written once by one mount, then read by a fresh one (empty cache)
        # per repetition
        rows = self.a.cold_mb * 1024 * 1024 // 1100
        big = fill_sql(rows, pad=1000)
        q = "SELECT count(*), sum(length(v)) FROM t;\n"
        ldb = os.path.join(self.local, "big.db")
        remove_db(ldb)
        sqlite_run(ldb, big)
        run_on_mount(self.tgt, "cold-write", None,
                     lambda mp: sqlite_run(os.path.join(mp, "big.db"), big)[0], "big.db")
        size = os.path.getsize(ldb)

        def local(i):
            drop_file_cache(ldb)
            return sqlite_run(ldb, q)[0]

        self.interleave(f"cold open: {size / 1048576:.1f} MB db", self.a.reps, local,
                        lambda i: run_on_mount(
                            self.tgt, "cold", None,
                            lambda mp: sqlite_run(os.path.join(mp, "big.db"), q)[0], None),
                        1)


def fmt_counts(c):
    if not c:
        return "none"
    if "s3" in c:
        s3 = " ".join(f"{k}={v}" for k, v in sorted(c["s3"].items())) or "-"
        ddb = " ".join(f"{k}={v}" for k, v in sorted(c["ddb"].items())) or "-"
        return f"S3 {s3}; DynamoDB {ddb}"
    return " ".join(f"{k}={v}" for k, v in c.items())


def report(b, store):
    a = b.a
    print(f"\ntenantfs benchmark: mount on {store} vs local disk ({b.local})")
    print(f"{a.reps} interleaved repetitions; medians; ratio = median of mount/local per "
          "repetition")
    print(f"{'workload':<36} {'local s':>8} {'mount s':>8} {'ratio':>7} {'clean s':>8}  "
          "requests until clean [+ at unmount]")
    s3_total = 0
    fuse_lines = []
    for label, tl, tm, tc, counts, extra, fuse, ops in b.rows:
        ratio = statistics.median(m / l if l > 0 else float("inf") for l, m in zip(tl, tm))
        cl = [c for c in tc if c is not None]
        cs = f"{statistics.median(cl):8.2f}" if cl else f"{'-':>8}"
        req = fmt_counts(counts[-1])
        if extra[-1] is not None:
            more = fmt_counts(extra[-1])
            if extra[-1]["s3"] or extra[-1]["ddb"]:
                req += f" [+ {more}]"
        if any(c != counts[-1] for c in counts):
            req += " (varied between repetitions: " + " / ".join(
                fmt_counts(c) for c in counts) + ")"
        if counts[-1] and "s3" in counts[-1] and not label.startswith("cold"):
            s3_total += sum(counts[-1]["s3"].values())
        print(f"{label:<36} {statistics.median(tl):8.3f} {statistics.median(tm):8.3f} "
              f"{ratio:6.2f}x {cs}  {req}")
        if fuse and fuse[-1]:
            total = sum(fuse[-1].values())
            kinds = " ".join(f"{k}={v}" for k, v in fuse[-1].items() if v)
            fuse_lines.append(f"{label:<36} {total:7d} {total / ops:8.2f}  {kinds}")
        if a.verbose:
            print(f"{'':<36} local {' '.join(f'{x:.3f}' for x in tl)}; "
                  f"mount {' '.join(f'{x:.3f}' for x in tm)}")
    if fuse_lines:
        print("\nFUSE requests the daemon served (whole mount of the last repetition, "
              "table build included for selects)")
        print(f"{'workload':<36} {'total':>7} {'per op':>8}  by kind")
        for line in fuse_lines:
            print(line)
    if b.tgt.proxy:
        print(f"S3 requests of wal + rollback + selects (one run each): {s3_total}")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.environ.get("TFS_TEST_BUILD") or
                    os.path.join(ROOT, "build"))
    ap.add_argument("--moto", default=os.environ.get("TFS_TEST_MOTO"))
    ap.add_argument("--start-moto", action="store_true",
                    help="start a moto_server of our own on loopback")
    ap.add_argument("--tmp", default=None)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--tx", type=int, default=2000)
    ap.add_argument("--selects", type=int, default=20000)
    ap.add_argument("--rows", type=int, default=10000)
    ap.add_argument("--cold-mb", type=int, default=10)
    ap.add_argument("--only", default=",".join(WORKLOADS),
                    help="comma-separated subset of " + ",".join(WORKLOADS))
    ap.add_argument("--writeback-cache", action="store_true",
                    help="mount with -o writeback_cache (kernel writeback cache)")
    ap.add_argument("--verbose", action="store_true", help="print every repetition's times")
    ap.add_argument("--keep", action="store_true", help="keep the scratch folder")
    a = ap.parse_args()
    only = [w.strip() for w in a.only.split(",") if w.strip()]
    bad = [w for w in only if w not in WORKLOADS]
    if bad or a.reps < 1:
        ap.error(f"unknown workload {bad}" if bad else "--reps must be at least 1")

    os.environ["TFS_TEST_BUILD"] = os.path.abspath(a.build)
    base = tempfile.mkdtemp(prefix="tfs-bench-", dir=a.tmp)
    os.environ.setdefault("TFS_TEST_TMP", base)
    moto_proc = None
    if a.start_moto and not a.moto:
        moto_proc, a.moto = start_moto(base)
    if a.moto:
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        os.environ.setdefault("AWS_REGION", "us-east-1")
    import mount as m
    m.tenantfs_binary()
    tgt = None
    try:
        tgt = Target(base, a.moto)
        if a.writeback_cache:
            tgt.extra.append("writeback_cache")
        b = Bench(a, base, tgt)
        for wl in only:
            if wl in ("wal", "rollback"):
                b.tx(wl, wl == "wal")
            elif wl == "selects":
                b.selects()
            else:
                b.cold()
        store = f"S3+DynamoDB on moto ({a.moto}) behind faultproxy" if a.moto else \
            "embedded store (local directory)"
        if a.writeback_cache:
            store += ", -o writeback_cache"
        report(b, store)
    finally:
        if tgt:
            tgt.close()
        if moto_proc:
            import tfstest as t
            t.stop_process(moto_proc)
    if not a.keep:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
