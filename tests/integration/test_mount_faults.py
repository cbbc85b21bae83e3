#!/usr/bin/env python3
# tfs-timeout: 480
"""tenantfs on S3 + DynamoDB (moto_server) through fault proxies: one
faultproxy in front of moto for S3 (endpoint=) and another for DynamoDB
(dynamodb_endpoint=), per mount, so each peer of each mount breaks alone.

Phase 1, one mount, one fault after the other: a 503 burst on S3 PUT and
one on DynamoDB UpdateItem, both longer than one request's retries, so the
engine's own write-back backoff has to finish the job; then 20% random 5xx
on every request of both peers while applications work. After each, the
data is checked in S3 and the catalog with boto3 (no proxy in between).

Phase 2, four independent mounts at once (each on its own proxies):
  - S3 outage of 60 s: applications keep working on cached databases and
    create new ones; write-back retries with backoff and completes after.
  - DynamoDB outage of 60 s with lease_ttl=6: reads keep working, writes
    are refused with EIO once the renewal is overdue; after the outage the
    lease is renewed, writes work again, nothing acknowledged is lost.
  - unmount during an S3 outage ends within the shutdown timeout leaving
    the database dirty in the cache; the next mount writes it back.
  - fault-in (open of an uncached database) through dropped connections,
    drops mid-body and a reply slower than the request timeout: retried and
    served; a GET that keeps failing is EIO and leaves nothing behind. A
    write-back PUT slower than the request timeout is retried.
Run time about 2.5 minutes (the outages are fixed at 60 s, the request
timeout at 30 s)."""

import errno
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mount as m  # noqa: E402
import tfstest as t  # noqa: E402

OUTAGE_S = 60
PREFIX = "users"

# The phase-2 scenarios run in threads; TAP lines and counters go through
# one lock (mount.py's helpers call t.ok too, so patch the module).
_tap_lock = threading.Lock()
_orig_ok = t.ok


def _locked_ok(cond, name, detail=None):
    with _tap_lock:
        return _orig_ok(cond, name, detail)


t.ok = _locked_ok


class Env:
    """Bucket, table and boto3 clients straight to moto (never through a
    proxy): the oracle for what landed."""

    def __init__(self, moto, base):
        self.moto = moto
        self.base = base
        self.bucket = t.make_bucket(moto)
        self.table = t.unique("tf")
        self.src = f"s3://{self.bucket}/{PREFIX}"
        self.s3 = t.s3_client(moto, attempts=3)
        self.ddb = t.ddb_client(moto, attempts=3)

    def init(self):
        r = m.run_tenantfs(["init", self.src, "-o",
                            f"catalog=dynamodb:{self.table},endpoint={self.moto},"
                            f"dynamodb_endpoint={self.moto},region=us-east-1"])
        return t.ok(r.returncode == 0, "tenantfs init creates the table", r.stderr)

    def opts(self, s3_url, ddb_url, node, cache, extra=()):
        return [f"catalog=dynamodb:{self.table}", f"endpoint={s3_url}",
                f"dynamodb_endpoint={ddb_url}", "region=us-east-1", f"node={node}",
                f"cache={os.path.join(self.base, cache)}", "idle=0.3", "linger=0.2"] + list(extra)

    def item(self, ident):
        return self.ddb.get_item(TableName=self.table, Key={"id": {"S": ident}},
                                 ConsistentRead=True).get("Item", {})

    def stored_rows(self, ident):
        """(gen, rows) of the committed version of ident, read from S3 by
        the catalog's pointer; rows None when the object is unreadable."""
        it = self.item(ident)
        h = it.get("hash", {}).get("S")
        gen = int(it.get("gen", {}).get("N", "0"))
        if not h:
            return gen, None
        local = tempfile.mktemp(prefix=f"{ident}-", suffix=".db", dir=self.base)
        try:
            self.s3.download_file(self.bucket, f"{PREFIX}/{ident}/{h}.db", local)
            c = sqlite3.connect(local)
            try:
                if c.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                    return gen, None
                return gen, c.execute("SELECT k, v FROM t ORDER BY k").fetchall()
            finally:
                c.close()
        finally:
            if os.path.exists(local):
                os.unlink(local)


def rows_of(ident, keys):
    return [(k, f"{ident} row {k}") for k in keys]


def create_db(mp, ident, n):
    """Creates ident.db (rollback journal) with rows 0..n-1 through Python
    sqlite3; raises on failure."""
    c = sqlite3.connect(os.path.join(mp, ident + ".db"), timeout=30)
    try:
        c.execute("PRAGMA journal_mode=DELETE")
        c.execute("CREATE TABLE IF NOT EXISTS t(k INTEGER PRIMARY KEY, v TEXT)")
        c.executemany("INSERT INTO t VALUES(?, ?)", rows_of(ident, range(n)))
        c.commit()
    finally:
        c.close()


def add_rows(mp, ident, keys):
    c = sqlite3.connect(os.path.join(mp, ident + ".db"), timeout=30)
    try:
        c.executemany("INSERT INTO t VALUES(?, ?)", rows_of(ident, keys))
        c.commit()
    finally:
        c.close()


def read_rows(mp, ident):
    c = sqlite3.connect(os.path.join(mp, ident + ".db"), timeout=30)
    try:
        return c.execute("SELECT k, v FROM t ORDER BY k").fetchall()
    finally:
        c.close()


def clean(mp, ident, min_gen=1, timeout=60.0):
    """wait_clean that reports instead of raising; (gen, hash) or None."""
    try:
        return m.wait_clean(os.path.join(mp, ident + ".db"), min_gen=min_gen, timeout=timeout)
    except TimeoutError as e:
        t.ok(False, f"{ident}.db written back", str(e))
        return None


def check_landed(env, ident, want, label, local_hash=None):
    gen, got = env.stored_rows(ident)
    t.ok(got == want, f"{label}: S3 object of {ident} (gen {gen}) holds the "
         f"{len(want)} acknowledged rows", f"got {None if got is None else len(got)} rows")
    if local_hash is not None:
        t.eq(env.item(ident).get("hash", {}).get("S"), local_hash,
             f"{label}: catalog points at the hash the mount reports")


def fired(fp, i=0):
    return fp.stats()["rules"][i]["fired"]


def count_lines(text, pattern):
    return len(re.findall(pattern, text))


# ---- phase 1 ----------------------------------------------------------------

def phase1(env, ps, pd):
    mp = os.path.join(env.base, "mnt-a")
    opts = env.opts(ps.url, pd.url, "na", "cache-a")
    with m.Mount(env.src, mp, opts) as mnt:
        # 503 burst on PUT, longer than one request's 6 attempts: the first
        # write-back fails, the engine backs off and the next one lands.
        ps.rules([{"method": "PUT", "action": "status", "status": 503, "count": 8}])
        create_db(mp, "p1", 20)
        ch = clean(mp, "p1", timeout=90)
        t.eq(fired(ps), 8, "PUT burst: all 8 injected 503s were hit")
        log = mnt.log_text()
        t.ok(re.search(r"write-back of p1 postponed: upload of \S+ failed", log),
             "PUT burst: the log says the upload of p1 failed", log[-3000:])
        t.ok(re.search(r"cannot upload '\S+p1\S+': .*(503|ServiceUnavailable)", log),
             "PUT burst: the log says why (503 ServiceUnavailable)", log[-3000:])
        if ch:
            check_landed(env, "p1", rows_of("p1", range(20)), "PUT burst", ch[1])
        ps.reset()

        # 503 burst on UpdateItem while the write-back commits (and the
        # lease renews): the commit is retried by the engine.
        c = sqlite3.connect(os.path.join(mp, "d1.db"), timeout=30)
        c.execute("PRAGMA journal_mode=DELETE")
        c.execute("CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)")
        c.executemany("INSERT INTO t VALUES(?, ?)", rows_of("d1", range(20)))
        c.commit()
        pd.rules([{"target": "UpdateItem", "action": "status", "status": 503, "count": 8}])
        c.close()
        ch = clean(mp, "d1", timeout=90)
        t.eq(fired(pd), 8, "UpdateItem burst: all 8 injected 503s were hit")
        log = mnt.log_text()
        t.ok(re.search(r"write-back of d1 postponed: commit of gen 1 failed", log),
             "UpdateItem burst: the log says the commit of d1 failed", log[-3000:])
        if ch:
            check_landed(env, "d1", rows_of("d1", range(20)), "UpdateItem burst", ch[1])
        pd.reset()

        # 20% random 5xx on every request of both peers.
        storm = [{"action": "status", "status": 500, "probability": 0.1, "seed": 11,
                  "count": -1},
                 {"action": "status", "status": 503, "probability": 0.1, "seed": 12,
                  "count": -1}]
        ps.rules(storm)
        pd.rules(storm)
        ids = [f"s{i}" for i in range(4)]
        errors = []
        for rnd in range(6):
            for ident in ids:
                try:
                    if rnd == 0:
                        create_db(mp, ident, 10)
                    else:
                        add_rows(mp, ident, range(rnd * 10, rnd * 10 + 10))
                    got = read_rows(mp, ident)
                    if got != rows_of(ident, range(rnd * 10 + 10)):
                        errors.append(f"round {rnd} {ident}: read {len(got)} rows")
                except (sqlite3.Error, OSError) as e:
                    errors.append(f"round {rnd} {ident}: {e!r}")
            time.sleep(0.7)  # let idle write-backs and releases run under faults
        hits = sum(fired(ps, i) + fired(pd, i) for i in range(2))
        t.ok(hits >= 10, f"5xx storm: faults were injected ({hits})")
        t.ok(not errors, "5xx storm: every application read and write succeeded",
             "\n".join(errors))
        ps.reset()
        pd.reset()
        for ident in ids:
            clean(mp, ident, timeout=90)
    t.eq(mnt.returncode, 0, "phase 1 mount unmounts cleanly")
    for ident in ids:
        check_landed(env, ident, rows_of(ident, range(60)), "5xx storm")
    for ident in ids + ["p1", "d1"]:
        t.ok(t.ddb_lease_free(env.ddb, env.table, env.item(ident)),
             f"{ident}: lease freed at unmount (released, or its session ended)",
             env.item(ident))


# ---- phase 2 scenarios (each in its own thread) ------------------------------

def s3_outage(env, ps, pd, started):
    """60 s S3 outage: cached databases keep working, new ones can be made;
    write-back waits it out with backoff and completes afterwards."""
    mp = os.path.join(env.base, "mnt-a")
    opts = env.opts(ps.url, pd.url, "na", "cache-a", ["lease_ttl=90"])
    with m.Mount(env.src, mp, opts) as mnt:
        t.eq(read_rows(mp, "p1"), rows_of("p1", range(20)), "s3 outage: p1 cached before")
        sync(started)
        ps.outage(OUTAGE_S)
        t0 = time.monotonic()
        errors = []
        rnd = 0
        # Work through the outage: every few seconds a write to the cached
        # p1 and a new or growing n1; every one must succeed.
        while time.monotonic() - t0 < OUTAGE_S - 5 and rnd < 30:
            try:
                add_rows(mp, "p1", range(20 + rnd * 5, 25 + rnd * 5))
                if rnd == 0:
                    create_db(mp, "n1", 5)
                else:
                    add_rows(mp, "n1", range(rnd * 5, rnd * 5 + 5))
                if read_rows(mp, "p1") != rows_of("p1", range(25 + rnd * 5)):
                    errors.append(f"round {rnd}: p1 reads wrong")
            except (sqlite3.Error, OSError) as e:
                errors.append(f"round {rnd}: {e!r}")
            rnd += 1
            time.sleep(5)
        t.ok(rnd >= 3 and not errors, f"s3 outage: {rnd} rounds of writes and reads on "
             "cached and new databases all succeeded", "\n".join(errors))
        stats = ps.stats()
        outage_reqs = sum(1 for r in stats["requests"] if r["action"] == "outage")
        t.ok(outage_reqs > 0, f"s3 outage: the mount's requests were refused ({outage_reqs})")
        log = mnt.log_text()
        n_post = count_lines(log, r"write-back of p1 postponed")
        t.ok(1 <= n_post <= 15, f"s3 outage: write-back of p1 retried with backoff "
             f"({n_post} postponements in {OUTAGE_S} s)", log[-3000:])
        t.ok(re.search(r"cannot upload '\S+': .*(reset|connect|recv|send|Failure)", log, re.I),
             "s3 outage: the log says the upload failed and why", log[-3000:])
        # After the outage: write-back completes by itself.
        rest = OUTAGE_S - (time.monotonic() - t0)
        if rest > 0:
            time.sleep(rest)
        for ident, n in (("p1", 20 + rnd * 5), ("n1", rnd * 5)):
            ch = clean(mp, ident, min_gen=2 if ident == "p1" else 1, timeout=150)
            if ch:
                check_landed(env, ident, rows_of(ident, range(n)), "s3 outage", ch[1])
    t.eq(mnt.returncode, 0, "s3 outage: mount unmounts cleanly afterwards")


def ddb_outage(env, ps, pd, started):
    """60 s DynamoDB outage with lease_ttl=6: reads go on, writes are
    refused with EIO once the renewal is overdue, and work again after."""
    mp = os.path.join(env.base, "mnt-b")
    opts = env.opts(ps.url, pd.url, "nb", "cache-b", ["lease_ttl=6"])
    with m.Mount(env.src, mp, opts) as mnt:
        db = os.path.join(mp, "b1.db")
        c = sqlite3.connect(db, timeout=30)
        c.execute("PRAGMA journal_mode=DELETE")
        c.execute("CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)")
        c.executemany("INSERT INTO t VALUES(?, ?)", rows_of("b1", range(20)))
        c.commit()
        acked = list(range(20))
        epoch0 = m.xattr(db, "epoch")
        # held open all along: the lease stays ours, so it must be renewed
        ch = clean(mp, "b1", timeout=60)
        sync(started)
        pd.outage(OUTAGE_S)
        t0 = time.monotonic()
        k = 100
        refused = None
        read_errors = []
        while time.monotonic() - t0 < OUTAGE_S - 10 and k < 200:
            try:
                n = c.execute("SELECT count(*) FROM t").fetchone()[0]
                if n != len(acked):
                    read_errors.append(f"read {n} rows, {len(acked)} acknowledged")
                c2 = sqlite3.connect(db, timeout=30)
                c2.execute("SELECT count(*) FROM t").fetchone()
                c2.close()
            except sqlite3.Error as e:
                read_errors.append(repr(e))
            try:
                c.execute("INSERT INTO t VALUES(?, ?)", (k, f"b1 row {k}"))
                c.commit()
                acked.append(k)
            except sqlite3.Error as e:
                refused = e
                try:
                    c.rollback()
                except sqlite3.Error:
                    pass
                break
            k += 1
            time.sleep(0.5)
        t.ok(not read_errors, "ddb outage: reads keep working", "\n".join(read_errors))
        # SQLite reports the refused write as an I/O error, or as "unable to
        # open" when the refusal hits the creation of its -journal
        t.ok(refused is not None and re.search(r"I/O|unable to open", str(refused)),
             "ddb outage: a transaction fails once the lease renewal is overdue",
             repr(refused))
        # more reads while refused
        try:
            n = c.execute("SELECT count(*) FROM t").fetchone()[0]
            t.eq(n, len(acked), "ddb outage: reads after the refusal see every "
                 "acknowledged row and nothing else")
        except sqlite3.Error as e:
            t.ok(False, "ddb outage: reads after the refusal", repr(e))
        fd = os.open(db, os.O_RDWR)
        try:
            m.expect_errno(lambda: (os.pwrite(fd, b"\0" * 4096, 1 << 20), os.fsync(fd)),
                           errno.EIO, "ddb outage: write(2)+fsync(2) on the database is EIO")
        finally:
            try:
                os.close(fd)
            except OSError:
                pass  # close reports the refused write again
        log = mnt.log_text()
        t.ok(re.search(r"cannot renew the session of node", log),
             "ddb outage: the log says the renewal failed", log[-3000:])
        t.ok(re.search(r"write to b1 refused: the lease renewal is overdue", log),
             "ddb outage: the log says writes are refused and why", log[-3000:])
        # After the outage the renewal succeeds and writes work again.
        rest = OUTAGE_S - (time.monotonic() - t0)
        if rest > 0:
            time.sleep(rest)

        def write_again():
            try:
                c.execute("INSERT INTO t VALUES(?, ?)", (k, f"b1 row {k}"))
                c.commit()
                return True
            except sqlite3.Error:
                c.rollback()
                return False
        try:
            t.wait_until(write_again, timeout=90, what="a write accepted after the outage")
            acked.append(k)
            t.ok(True, "ddb outage: writes are accepted again after the outage")
        except TimeoutError as e:
            t.ok(False, "ddb outage: writes are accepted again after the outage",
                 f"{e}\n{mnt.log_text()[-3000:]}")
        t.eq(m.xattr(db, "epoch"), epoch0, "ddb outage: the same lease (epoch) was renewed")
        c.close()
        gen0 = ch[0] if ch else 1
        ch = clean(mp, "b1", min_gen=gen0 + 1, timeout=120)
        if ch:
            check_landed(env, "b1", rows_of("b1", sorted(acked)), "ddb outage", ch[1])
    t.eq(mnt.returncode, 0, "ddb outage: mount unmounts cleanly afterwards")


def unmount_in_outage(env, ps, pd, started):
    """Unmount while S3 is down: the daemon gives up within the shutdown
    timeout (60 s), the database stays dirty in the cache, and the next
    mount of that cache writes it back."""
    mp = os.path.join(env.base, "mnt-c")
    opts = env.opts(ps.url, pd.url, "nc", "cache-c")
    mnt = m.Mount(env.src, mp, opts)
    mnt.start()
    try:
        create_db(mp, "c1", 20)
        ch = clean(mp, "c1", timeout=60)
        sync(started)
        ps.outage(3 * OUTAGE_S)  # ended below, once the daemon is gone
        add_rows(mp, "c1", range(20, 30))
        t.wait_until(lambda: "write-back of c1 postponed" in mnt.log_text(), timeout=60,
                     what="a failed write-back of c1")
        t0 = time.monotonic()
        rc = mnt.unmount(timeout=150)
        took = time.monotonic() - t0
    except BaseException:
        mnt.kill()
        ps.outage(0)
        raise
    ps.outage(0)
    t.ok(took < 60 + 60, f"unmount in outage: the daemon exited {took:.0f} s after the "
         "unmount (shutdown timeout 60 s)")
    t.ok(rc != 0, f"unmount in outage: exit status {rc} says not everything was written back")
    log = mnt.log_text()
    t.ok("database c1 is still dirty at shutdown" in log,
         "unmount in outage: the log names the database left dirty", log[-3000:])
    t.eq(env.item("c1").get("gen", {}).get("N"), str(ch[0]) if ch else "1",
         "unmount in outage: nothing new was committed")
    t.ok(os.path.exists(os.path.join(env.base, "cache-c", "db", "c1.db")),
         "unmount in outage: the dirty copy stays in the cache")
    with m.Mount(env.src, mp, opts) as mnt2:
        try:
            t.wait_until(lambda: env.item("c1").get("gen", {}).get("N") == "2", timeout=90,
                         what="recovery commit of c1")
        except TimeoutError as e:
            t.ok(False, "unmount in outage: the next mount writes c1 back",
                 f"{e}\n{mnt2.log_text()[-3000:]}")
        check_landed(env, "c1", rows_of("c1", range(30)), "unmount in outage")
    t.eq(mnt2.returncode, 0, "unmount in outage: the next mount unmounts cleanly")


def get_faults(env, ps, pd, started):
    """Fault-in through a faulty GET, on a node with an empty cache."""
    mp = os.path.join(env.base, "mnt-e")
    cache = os.path.join(env.base, "cache-e")
    opts = env.opts(ps.url, pd.url, "ne", "cache-e")
    with m.Mount(env.src, mp, opts) as mnt:
        sync(started)
        for ident, action in (("s0", "drop"), ("s1", "drop_mid_body")):
            ps.rules([{"method": "GET", "path_re": f"/{ident}/", "action": action,
                       "count": 2}])
            try:
                got = read_rows(mp, ident)
            except (sqlite3.Error, OSError) as e:
                got = repr(e)
            t.eq(got, rows_of(ident, range(60)), f"get faults: {action} twice on the GET of "
                 f"{ident}: fault-in retried and served")
            t.eq(fired(ps), 2, f"get faults: both {action} faults were hit")
        # keeps failing: EIO, nothing left behind
        ps.rules([{"method": "GET", "path_re": "/s2/", "action": "drop", "count": -1}])
        m.expect_errno(lambda: os.close(os.open(os.path.join(mp, "s2.db"), os.O_RDONLY)),
                       errno.EIO, "get faults: a GET that keeps failing makes open EIO")
        t.ok(fired(ps) >= 2, f"get faults: the GET was retried ({fired(ps)} attempts)")
        left = [f for f in os.listdir(os.path.join(cache, "tmp")) if f.startswith("s2")]
        t.eq(left, [], "get faults: no temporary file left behind")
        t.ok(not os.path.exists(os.path.join(cache, "db", "s2.db")),
             "get faults: no cached copy left behind")
        t.ok(not env.item("s2").get("owner", {}).get("S"),
             "get faults: the lease was given back", env.item("s2"))
        t.ok(re.search(r"cannot fetch s2 \(gen \d+\): get \S+", mnt.log_text()),
             "get faults: the log says the fetch of s2 failed", mnt.log_text()[-2000:])
        ps.reset()
        try:
            got = read_rows(mp, "s2")
        except (sqlite3.Error, OSError) as e:
            got = repr(e)
        t.eq(got, rows_of("s2", range(60)), "get faults: the next open of s2 succeeds")

        # a reply slower than the request timeout (30 s): abandoned, retried
        ps.rules([{"method": "GET", "path_re": "/s3/", "action": "delay",
                   "delay_ms": 45000, "count": 1}])
        # os.open, not sqlite3: SQLite would retry a failed open read-only
        try:
            os.close(os.open(os.path.join(mp, "s3.db"), os.O_RDWR))
            t.ok(True, "get faults: a GET slower than the request timeout is abandoned and "
                 "retried: open succeeds")
        except OSError as e:
            t.ok(False, "get faults: a GET slower than the request timeout is abandoned and "
                 "retried: open succeeds", f"{e!r}\n{mnt.log_text()[-2000:]}")
        t.eq(read_rows(mp, "s3"), rows_of("s3", range(60)), "get faults: s3 served after "
             "the slow GET")
        gets = ps.stats()["counts"].get("GET", 0)
        t.ok(gets >= 2, f"get faults: the slow GET was retried ({gets} GETs)")
        ps.reset()

        # a write-back PUT slower than the request timeout
        ps.rules([{"method": "PUT", "action": "delay", "delay_ms": 45000, "count": 1}])
        add_rows(mp, "s0", range(60, 70))
        ch = clean(mp, "s0", min_gen=2, timeout=150)
        puts = ps.stats()["counts"].get("PUT", 0)
        t.ok(puts >= 2, f"get faults: the slow PUT was retried ({puts} PUTs)")
        if ch:
            check_landed(env, "s0", rows_of("s0", range(70)), "slow PUT", ch[1])
    t.eq(mnt.returncode, 0, "get faults: mount unmounts cleanly")


def sync(barrier):
    """Waits for the other scenarios to be set up; one that failed before
    must not hold the others back."""
    try:
        barrier.wait()
    except threading.BrokenBarrierError:
        pass


def run_threads(scenarios):
    results = {}

    def wrap(name, fn, args):
        try:
            fn(*args)
        except m.MountError as e:
            t.ok(False, f"{name}: mount", str(e))
        except Exception:  # noqa: BLE001 - a test reports every failure
            t.ok(False, f"{name}: ran to the end", traceback.format_exc())
        results[name] = True

    threads = [threading.Thread(target=wrap, args=s, name=s[0], daemon=True)
               for s in scenarios]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=480)
        t.ok(not th.is_alive(), f"{th.name}: finished")


def main():
    moto = t.need_env("TFS_TEST_MOTO")
    m.need_fuse()
    m.tenantfs_binary()
    base = tempfile.mkdtemp(prefix="mount-faults-", dir=t.tmp_dir())
    env = Env(moto, base)
    if not env.init():
        return
    with t.FaultProxy(moto) as ps1, t.FaultProxy(moto) as pd1:
        phase1(env, ps1, pd1)
        with t.FaultProxy(moto) as ps2, t.FaultProxy(moto) as pd2, \
                t.FaultProxy(moto) as ps3, t.FaultProxy(moto) as ps4:
            # the four scenarios start their faults together, once set up
            started = threading.Barrier(4, timeout=120)
            run_threads([("s3 outage", s3_outage, (env, ps1, pd1, started)),
                         ("ddb outage", ddb_outage, (env, ps2, pd2, started)),
                         ("unmount in outage", unmount_in_outage, (env, ps3, pd1, started)),
                         ("get faults", get_faults, (env, ps4, pd1, started))])


if __name__ == "__main__":
    m.run_main(main)
