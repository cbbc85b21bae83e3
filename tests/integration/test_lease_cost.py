#!/usr/bin/env python3
# tfs-timeout: 600
"""What leases cost in catalog requests, counted (issue 9): one node on S3 +
DynamoDB (moto_server), DynamoDB seen through tests/lib/faultproxy.py, which
counts every request by operation; lease_ttl=6 s, so a heartbeat is due
every 2 s.

- held idle: DBS databases (300 here) are created and held open at once,
  then for SECONDS (20 here) nothing happens: the proxy sees only the
  node's heartbeats (UpdateItem), as many as the daemon's own heartbeat
  counter says, about one per period (SECONDS / 2) and never more than one
  per period plus one, whatever DBS is: 0 catalog requests for a held,
  idle database;
- write sessions: SESSIONS databases (10) are each opened, written with
  Python's sqlite3, closed, written back and released, one after the
  other: per session at most 1 acquire + 1 commit + 1 release (UpdateItem
  counted minus the heartbeats of that time), and the daemon counts one
  acquire, one commit and one release per session.

The full run of the issue (10,000 databases for 60 s) is
tests/bench/capacity.py, which runs this script with TFS_LEASE_COST_DBS,
TFS_LEASE_COST_SECONDS, TFS_LEASE_COST_SESSIONS and TFS_LEASE_COST_PEER
(dynalite) set. Counts are asserted; times are printed only. Run time:
about 1-2 minutes here (creating a database costs two catalog round trips,
and the kernel creates files of one directory one at a time)."""

import os
import resource
import sqlite3
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mount as m  # noqa: E402
import tfstest as t  # noqa: E402

TTL = 6  # seconds
PERIOD = TTL / 3
DBS = int(os.environ.get("TFS_LEASE_COST_DBS", "300"))
SECONDS = float(os.environ.get("TFS_LEASE_COST_SECONDS", "20"))
SESSIONS = int(os.environ.get("TFS_LEASE_COST_SESSIONS", "10"))
# The catalog's peer: "moto" (default) or "dynalite" (faster: the benchmark's
# full run uses it); S3 is moto's either way.
PEER = os.environ.get("TFS_LEASE_COST_PEER", "moto")


def stats(mp):
    """The daemon's counters (user.tenantfs.stats of the root) as a dict."""
    line = os.getxattr(mp, "user.tenantfs.stats").decode()
    return {k: float(v) for k, v in (f.split("=", 1) for f in line.split())}


def ddb_counts(proxy):
    """DynamoDB requests by operation since the last reset."""
    c = {}
    for r in proxy.stats().get("requests", []):
        if r.get("target"):
            op = r["target"].rsplit(".", 1)[-1]
            c[op] = c.get(op, 0) + 1
    return c


def held_idle(mp, proxy, mnt):
    held = []
    errs = []
    proxy.reset()
    start = time.monotonic()

    def opener(k):
        # eight openers at once: each open waits on two catalog round trips
        for i in range(k, DBS, 8):
            try:
                fd = os.open(os.path.join(mp, f"h{i:05d}.db"), os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as e:
                errs.append(f"open of h{i:05d}.db: {e}")
                return
            held.append(fd)
    ths = [threading.Thread(target=opener, args=(k,)) for k in range(8)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    t.ok(len(held) == DBS, f"{DBS} databases held open at once", "; ".join(errs[:3]))
    t.diag(f"opened {len(held)} in {time.monotonic() - start:.1f}s: DynamoDB requests "
           f"{ddb_counts(proxy)}")
    try:
        before = stats(mp)
        proxy.reset()
        time.sleep(SECONDS)
        c = ddb_counts(proxy)
        after = stats(mp)
        beats = int(after["lease_renews"] - before["lease_renews"])
        periods = SECONDS / PERIOD
        t.diag(f"{DBS} held idle for {SECONDS:.0f}s ({periods:.0f} heartbeat periods): "
               f"DynamoDB requests {c}, daemon heartbeats {beats}")
        # A listing of the root (Scan) may come from anyone who looks at
        # the mount; it is not lease traffic.
        others = {k: v for k, v in c.items() if k not in ("UpdateItem", "Scan")}
        t.eq(others, {}, f"held idle: no catalog read or write for the leases in "
             f"{SECONDS:.0f}s but heartbeats (UpdateItem)")
        t.eq(c.get("UpdateItem", 0), beats,
             "held idle: every UpdateItem was a heartbeat of the node (daemon's count)")
        t.ok(periods / 2 <= beats <= periods + 1,
             f"held idle: {beats} heartbeats in {periods:.0f} periods: one per period, "
             f"not one per database ({DBS} held)")
        t.ok(c.get("UpdateItem", 0) <= periods + 1,
             f"held idle: {c.get('UpdateItem', 0)} catalog writes for {DBS} databases in "
             f"{SECONDS:.0f}s: 0 per held idle database")
        t.ok(mnt.alive(), "the daemon is alive")
    finally:
        rel0 = stats(mp)["lease_releases"]
        for fd in held:
            os.close(fd)
    # closed: each is written back and released, before the next phase counts
    t.wait_until(lambda: stats(mp)["lease_releases"] >= rel0 + len(held), timeout=600,
                 interval=0.5, what=f"the {len(held)} held databases released")


def write_sessions(mp, proxy, env):
    ids = [f"w{i:03d}" for i in range(SESSIONS)]
    before = stats(mp)
    proxy.reset()
    start = time.monotonic()
    for i, ident in enumerate(ids):
        c = sqlite3.connect(os.path.join(mp, ident + ".db"), timeout=30)
        c.execute("CREATE TABLE t(v)")
        c.execute("INSERT INTO t VALUES(?)", (i,))
        c.commit()
        c.close()
        # written back and released before the next one (read on moto
        # directly: the wait is not counted)
        t.wait_until(lambda: env.released(ident), timeout=60, what=f"{ident} released")
    # the daemon counts a release once its reply is in, after the catalog shows it
    t.wait_until(lambda: stats(mp)["lease_releases"] - before["lease_releases"] >= SESSIONS,
                 timeout=30, what="the daemon's count of the releases")
    took = time.monotonic() - start
    c = ddb_counts(proxy)
    after = stats(mp)
    d = {k: int(after[k] - before[k]) for k in ("lease_acquires", "commits",
                                                 "lease_releases", "lease_renews")}
    writes = c.get("UpdateItem", 0) - d["lease_renews"]
    t.diag(f"{SESSIONS} write sessions in {took:.1f}s: DynamoDB requests {c}, daemon {d}")
    t.eq((d["lease_acquires"], d["commits"], d["lease_releases"]),
         (SESSIONS, SESSIONS, SESSIONS),
         "write sessions: the daemon counts 1 acquire, 1 commit, 1 release per session")
    t.ok(writes <= 3 * SESSIONS,
         f"write sessions: {writes} catalog writes besides heartbeats for {SESSIONS} "
         f"sessions: at most 1 acquire + 1 commit + 1 release each")
    t.ok(c.get("PutItem", 0) == 0 and c.get("DeleteItem", 0) == 0,
         "write sessions: no other kind of catalog write")


class Env:
    def __init__(self, moto, table):
        self.ddb = t.ddb_client(moto)
        self.table = table

    def released(self, ident):
        it = self.ddb.get_item(TableName=self.table, Key={"id": {"S": ident}},
                               ConsistentRead=True).get("Item", {})
        return bool(it.get("hash", {}).get("S")) and not it.get("owner", {}).get("S")


def main():
    moto = t.need_env("TFS_TEST_MOTO")
    catalog = t.need_env("TFS_TEST_DYNALITE") if PEER == "dynalite" else moto
    m.need_fuse()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = DBS + 200
    if hard != resource.RLIM_INFINITY and hard < need:
        t.skip(f"the hard RLIMIT_NOFILE is {hard}: too low for {DBS} open databases")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    base = tempfile.mkdtemp(prefix="lease-cost-", dir=t.tmp_dir())
    bucket = t.make_bucket(moto)
    table = t.unique("cost")
    with t.FaultProxy(catalog) as proxy:
        opts = [f"catalog=dynamodb:{table}", f"endpoint={moto}",
                f"dynamodb_endpoint={proxy.url}", "region=us-east-1", f"lease_ttl={TTL}",
                "linger=0", "idle=3600", "max_dirty=3600", f"cache={base}/cache"]
        r = m.run_tenantfs(["init", f"s3://{bucket}/cost", "-o", ",".join(opts)])
        t.ok(r.returncode == 0, "tenantfs init creates the table", r.stderr)
        mnt = m.Mount(f"s3://{bucket}/cost", os.path.join(base, "mnt"), opts)
        mnt.start()
        try:
            held_idle(mnt.mountpoint, proxy, mnt)
            write_sessions(mnt.mountpoint, proxy, Env(catalog, table))
        finally:
            rc = mnt.unmount(timeout=600)
        t.eq(rc, 0, "the unmount writes everything back and exits 0")


if __name__ == "__main__":
    m.run_main(main)
