#!/usr/bin/env python3
# tfs-timeout: 420
"""A DynamoDB outage must not stall the databases a node already has open.

One mount on moto, S3 direct, DynamoDB through a fault proxy, default
catalog_timeout (10 s). Four databases are open (a Python sqlite3
connection and a raw descriptor each); eight more are cached and closed.
Then DynamoDB is made to hang (every request delayed past the request
timeout), and 120 threads at once stat and open names the node cannot
answer locally: uncached names (lookup needs the catalog) and the cached,
closed databases (open needs the lease; four threads per database). Meanwhile the main thread reads
the open databases: pread(2) after dropping their pages from the page
cache (so every read reaches the daemon), fstat(2), and SELECTs.

Checks (counts and order, no speed thresholds):
  - every read of an open database completes, and all of them complete
    before the first catalog-bound call returns from the catalog (on main
    the 64 FUSE threads all sit in 20-60 s retries and the reads wait for
    them);
  - every catalog-bound call fails (the catalog is hung), with EAGAIN
    (refused at the gate: too many requests already wait on the catalog)
    or ETIMEDOUT/EIO (the catalog did not answer within catalog_timeout),
    and none takes longer than the documented bound plus slack;
  - the log says once per burst that calls were refused, and why;
  - the same with DynamoDB answering 503 to everything;
  - after the outage, the same names answer normally again."""

import errno
import os
import re
import sqlite3
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mount as m  # noqa: E402
import tfstest as t  # noqa: E402

PREFIX = "users"
CATALOG_TIMEOUT_S = 10  # the documented default
GATE_WAIT_S = 1  # the documented wait for a place at the gate
SLACK_S = 15  # a loaded 2-core machine under ASan
BOUND_S = CATALOG_TIMEOUT_S + GATE_WAIT_S + SLACK_S
STORM = 120
N_OPEN = 4
N_CACHED = 8
SAME_NAME = 4  # concurrent opens of each cached database
READ_ROUNDS = 40
HANG_MS = 45000  # past the 30 s request timeout: each attempt times out
CATALOG_ERRNOS = {errno.ETIMEDOUT, errno.EIO}
GATE_ERRNOS = {errno.EAGAIN}


def rows_of(ident, n):
    return [(k, f"{ident} row {k}") for k in range(n)]


def create_db(mp, ident, n=50):
    c = sqlite3.connect(os.path.join(mp, ident + ".db"), timeout=30)
    try:
        c.execute("PRAGMA journal_mode=DELETE")
        c.execute("CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)")
        c.executemany("INSERT INTO t VALUES(?, ?)", rows_of(ident, n))
        c.commit()
    finally:
        c.close()


class Storm:
    """STORM threads, each one catalog-bound call: stat or open of an
    uncached name, or open of a cached, closed database. Records
    (kind, name, start, end, errno) per call; errno 0 means success."""

    def __init__(self, mp, tag):
        self.mp = mp
        self.tag = tag
        self.results = []
        self.lock = threading.Lock()
        self.threads = []

    def _one(self, kind, name):
        path = os.path.join(self.mp, name)
        t0 = time.monotonic()
        err = 0
        try:
            if kind == "stat":
                os.stat(path)
            else:
                os.close(os.open(path, os.O_RDWR))
        except OSError as e:
            err = e.errno
        with self.lock:
            self.results.append((kind, name, t0, time.monotonic(), err))

    def start(self):
        # each cached database opened by several threads at once: they
        # wait on one lease acquire
        calls = [("open", f"c{i % N_CACHED}.db") for i in range(N_CACHED * SAME_NAME)]
        k = 0
        while len(calls) < STORM:
            calls.append(("stat" if k % 2 == 0 else "open", f"ghost-{self.tag}-{k}.db"))
            k += 1
        for kind, name in calls:
            th = threading.Thread(target=self._one, args=(kind, name), daemon=True)
            th.start()
            self.threads.append(th)

    def join(self, timeout):
        deadline = time.monotonic() + timeout
        for th in self.threads:
            th.join(max(0.0, deadline - time.monotonic()))
        return sum(1 for th in self.threads if th.is_alive())

    def snapshot(self):
        with self.lock:
            return list(self.results)


class Reader:
    """Reads the open databases READ_ROUNDS times in a thread: for each,
    drop its pages (POSIX_FADV_DONTNEED) and pread the first page, fstat
    the descriptor, and run a SELECT on the open connection. Records the
    end time of every read that completed."""

    def __init__(self, opened):
        self.opened = opened  # [(ident, fd, conn)]
        self.done = []
        self.errors = []
        self.th = threading.Thread(target=self._run, daemon=True)
        self.t0 = None

    def _run(self):
        self.t0 = time.monotonic()
        for rnd in range(READ_ROUNDS):
            for ident, fd, conn in self.opened:
                try:
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                    page = os.pread(fd, 4096, 0)
                    if not page.startswith(b"SQLite format 3\0"):
                        self.errors.append(f"{ident}: pread read {page[:16]!r}")
                    os.fstat(fd)
                    n = conn.execute("SELECT count(*) FROM t").fetchone()[0]
                    if n != 50:
                        self.errors.append(f"{ident}: SELECT saw {n} rows")
                except (OSError, sqlite3.Error) as e:
                    self.errors.append(f"round {rnd} {ident}: {e!r}")
                self.done.append(time.monotonic())

    def start(self):
        self.th.start()


def outage_phase(label, mnt, pd, rules, opened):
    """Runs one storm against the faulted catalog while reading the open
    databases; reports the checks."""
    mp = mnt.mountpoint
    log_before = len(mnt.log_text())
    pd.rules(rules)
    storm = Storm(mp, re.sub(r"\W", "", label))
    t0 = time.monotonic()
    storm.start()
    # Reads start once the storm has reached the catalog.
    try:
        t.wait_until(lambda: pd.stats()["rules"][0]["fired"] >= 8, timeout=30,
                     what="the storm's first catalog requests")
    except TimeoutError as e:
        t.diag(str(e))
    time.sleep(1)
    try:
        nthr = len(os.listdir(f"/proc/{mnt.proc.pid}/task"))
    except OSError:
        nthr = -1
    t.diag(f"{label}: the daemon runs {nthr} threads, the proxy holds "
           f"{pd.stats()['rules'][0]['fired']} requests")
    reader = Reader(opened)
    reader.start()
    # Bounded: the reads of the fixed version take well under a second;
    # on a node whose FUSE threads are all tied up they wait 60 s or more.
    reader.th.join(BOUND_S)
    reads = list(reader.done)
    want = READ_ROUNDS * len(opened)
    alive = storm.join(BOUND_S + 5)
    res = storm.snapshot()
    t.diag(f"{label}: {len(reads)}/{want} reads of open databases, "
           f"max read latency {max_gap(reader.t0 or t0, reads):.2f} s; storm of {STORM}: "
           f"{len(res)} returned, {alive} still waiting")
    t.eq(len(reads), want, f"{label}: every read of an open database completed")
    t.eq(reader.errors, [], f"{label}: the reads returned the right data")
    cat = [r for r in res if r[4] not in GATE_ERRNOS]
    gate = [r for r in res if r[4] in GATE_ERRNOS]
    first_cat = min((r[3] for r in cat), default=None)
    if "hung" in label:
        t.ok(reads and first_cat is not None and max(reads) < first_cat,
             f"{label}: all reads finished before any call came back from the catalog",
             f"last read {max(reads) - t0 if reads else None} s, first catalog return "
             f"{first_cat - t0 if first_cat else None} s after the storm began")
    t.eq(alive, 0, f"{label}: every catalog-bound call returned")
    by_errno = {}
    for r in res:
        by_errno[errno.errorcode.get(r[4], str(r[4]))] = by_errno.get(
            errno.errorcode.get(r[4], str(r[4])), 0) + 1
    t.diag(f"{label}: results by errno {by_errno}")
    bad = [r for r in res if r[4] not in GATE_ERRNOS | CATALOG_ERRNOS]
    t.eq([(r[0], r[1], errno.errorcode.get(r[4], r[4])) for r in bad], [],
         f"{label}: every catalog-bound call failed with EAGAIN, ETIMEDOUT or EIO")
    slow = [(r[0], r[1], round(r[3] - r[2], 1)) for r in res if r[3] - r[2] > BOUND_S]
    t.eq(slow, [], f"{label}: no call took longer than catalog_timeout + gate wait "
         f"+ {SLACK_S} s slack ({BOUND_S} s)")
    t.diag(f"{label}: {len(gate)} refused at the gate, {len(cat)} failed in the catalog, "
           f"slowest call {max((r[3] - r[2] for r in res), default=0):.1f} s")
    if "hung" in label:
        t.ok(len(gate) >= 1, f"{label}: calls beyond the gate's share were refused "
             f"with EAGAIN ({len(gate)})")
        log = mnt.log_text()[log_before:]
        n_busy = len(re.findall(r"catalog is slow or unreachable: .* refused", log))
        t.ok(1 <= n_busy <= 5, f"{label}: the log says so once per burst ({n_busy} lines)",
             log[-3000:])
    pd.reset()
    return alive == 0


def max_gap(t0, times):
    """Longest wait between consecutive completed reads (from t0)."""
    prev, gap = t0, 0.0
    for x in sorted(times):
        gap = max(gap, x - prev)
        prev = x
    return gap


def main():
    moto = t.need_env("TFS_TEST_MOTO")
    m.need_fuse()
    m.tenantfs_binary()
    base = tempfile.mkdtemp(prefix="cat-outage-", dir=t.tmp_dir())
    bucket = t.make_bucket(moto)
    table = t.unique("tf")
    src = f"s3://{bucket}/{PREFIX}"
    r = m.run_tenantfs(["init", src, "-o", f"catalog=dynamodb:{table},endpoint={moto},"
                        f"dynamodb_endpoint={moto},region=us-east-1"])
    if not t.ok(r.returncode == 0, "tenantfs init creates the table", r.stderr):
        return
    with t.FaultProxy(moto) as pd:
        mp = os.path.join(base, "mnt")
        opts = [f"catalog=dynamodb:{table}", f"endpoint={moto}",
                f"dynamodb_endpoint={pd.url}", "region=us-east-1", "node=na",
                f"cache={os.path.join(base, 'cache')}", "idle=0.3", "linger=0.1",
                "lease_ttl=90"]
        mnt = m.Mount(src, mp, opts)
        mnt.start()
        opened = []
        ok = False
        try:
            for i in range(N_OPEN):
                create_db(mp, f"o{i}")
            for i in range(N_CACHED):
                create_db(mp, f"c{i}")
            for i in range(N_CACHED):
                m.wait_clean(os.path.join(mp, f"c{i}.db"), timeout=60)
            for i in range(N_OPEN):
                path = os.path.join(mp, f"o{i}.db")
                conn = sqlite3.connect(path, timeout=30, check_same_thread=False)
                conn.execute("SELECT count(*) FROM t").fetchone()
                opened.append((f"o{i}", os.open(path, os.O_RDONLY), conn))
            # the closed ones give their lease back (linger), so that an
            # open must ask the catalog again
            ddb = t.ddb_client(moto, attempts=3)

            def released():
                return all(not ddb.get_item(TableName=table, Key={"id": {"S": f"c{i}"}},
                                            ConsistentRead=True)
                           .get("Item", {}).get("owner", {}).get("S")
                           for i in range(N_CACHED))
            t.wait_until(released, timeout=30, what="leases of the closed databases released")
            hang = [{"action": "delay", "delay_ms": HANG_MS, "count": -1}]
            ok = outage_phase("hung catalog", mnt, pd, hang, opened)
            if ok:
                e503 = [{"action": "status", "status": 503, "count": -1}]
                ok = outage_phase("catalog answering 503", mnt, pd, e503, opened)
            if ok:
                # the catalog is back: the same names answer normally
                m.expect_errno(lambda: os.stat(os.path.join(mp, "ghost-after.db")),
                               errno.ENOENT, "after the outage: stat of an absent name "
                               "is ENOENT again")
                try:
                    c = sqlite3.connect(os.path.join(mp, "c0.db"), timeout=30)
                    t.eq(c.execute("SELECT count(*) FROM t").fetchone()[0], 50,
                         "after the outage: a cached database opens and reads")
                    c.close()
                except sqlite3.Error as e:
                    t.ok(False, "after the outage: a cached database opens and reads",
                         repr(e))
        finally:
            if not ok:
                # threads may still hang in the mount: stop the daemon first
                pd.reset()
                mnt.kill()
            for _, fd, conn in opened:
                try:
                    conn.close()
                    os.close(fd)
                except (OSError, sqlite3.Error):
                    pass
            if ok:
                t.eq(mnt.unmount(), 0, "the mount unmounts cleanly")


if __name__ == "__main__":
    m.run_main(main)
