#!/usr/bin/env python3
# tfs-timeout: 300
"""Lease renewals never starve behind uploads.

Node A has S3 through a fault proxy that delays every PUT by 40 s (longer
than the request timeout, so each write-back attempt hangs 30 s, is retried
once and hangs again) and DynamoDB direct on moto, lease_ttl=3 s and the
default four upload workers. Six databases made dirty and closed keep every
upload worker stuck in a PUT. Meanwhile:

- an unrelated database held open on A takes a write every half second for
  five lease periods: every write succeeds, and A's log has no overdue
  renewal, no failed renewal and no lost lease;
- node B asks for that database with lease_wait=3: EBUSY, and the catalog
  item keeps A as owner at the same epoch all along;
- the delays are lifted: every database is written back (gen >= 1, not
  dirty), A unmounts cleanly, and B then opens the held database and reads
  every row A wrote.

Run time: about 60-80 s (most of it the hung PUTs timing out after the
delays are lifted)."""

import errno
import os
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import mount as m  # noqa: E402
import tfstest as t  # noqa: E402
from test_fleet import Fleet, create_rows, rows_of  # noqa: E402

TTL = "3"  # seconds: renewal due every 1 s, writes refused 2.4 s after the last one
UPLOAD_WORKERS = 4  # the daemon's default
NDIRTY = 6
PUT_DELAY_MS = 40000
WRITE_PERIODS = 5  # lease periods of writes while the uploads hang


def delayed_puts(ps):
    """(fired, answered): delayed PUTs the proxy took and those it answered."""
    st = ps.stats()
    fired = sum(r.get("fired", 0) for r in st["rules"] if r.get("action") == "delay")
    answered = sum(1 for r in st["requests"]
                   if r["method"] == "PUT" and r["action"] == "delay")
    return fired, answered


def main():
    moto = t.need_env("TFS_TEST_MOTO")
    m.need_fuse()
    m.tenantfs_binary()
    base = tempfile.mkdtemp(prefix="starve-", dir=t.tmp_dir())
    started = time.monotonic()

    fleet = Fleet(base, moto, moto, "starve")
    if not fleet.ready:
        return
    with t.FaultProxy(moto) as ps:
        a = fleet.mount("a", idle="0.3", ttl=TTL, extra=(f"endpoint={ps.url}",))
        b = fleet.mount("b", lease_wait="3", ttl=TTL)
        with a, b:
            run(fleet, ps, a, b)
        t.eq((a.returncode, b.returncode), (0, 0), "both nodes exit 0 at unmount")
    t.diag(f"run time {time.monotonic() - started:.1f} s")


def run(fleet, ps, a, b):
    hold = os.path.join(a.mountpoint, "hold.db")
    c = create_rows(hold, "hold", 0, 1)
    # Committed once, so that B finds it in the catalog (an uncommitted
    # database is ENOENT elsewhere, not EBUSY).
    try:
        m.wait_clean(hold, timeout=30)
    except TimeoutError:
        pass
    try:
        item0 = t.wait_until(lambda: (lambda it: it if m.node_label(it.get("owner")) == "a" else None)(
            fleet.item("hold")), timeout=30, what="hold leased by a")
    except TimeoutError:
        item0 = fleet.item("hold")
    t.ok(m.node_label(item0.get("owner")) == "a", "a holds the lease of the open database", item0)

    ps.rules([{"method": "PUT", "action": "delay", "delay_ms": PUT_DELAY_MS, "count": -1}])
    for i in range(NDIRTY):
        create_rows(os.path.join(a.mountpoint, f"w{i}.db"), f"w{i}", 0, 20).close()
    try:
        t.wait_until(lambda: delayed_puts(ps)[0] >= UPLOAD_WORKERS, timeout=60,
                     what="every upload worker in a delayed PUT")
    except TimeoutError:
        pass
    fired, answered = delayed_puts(ps)
    t.ok(fired - answered >= UPLOAD_WORKERS,
         f"every upload worker is stuck in a PUT before the writes ({fired} taken, "
         f"{answered} answered)")

    # B asks for the held database while A writes: EBUSY after lease_wait.
    b_result = {}

    def b_open():
        try:
            fd = os.open(os.path.join(b.mountpoint, "hold.db"), os.O_RDWR)
            os.close(fd)
            b_result["errno"] = 0
        except OSError as e:
            b_result["errno"] = e.errno

    errors = []
    rows = 1
    bt = None
    deadline = time.monotonic() + WRITE_PERIODS * float(TTL)
    for i in range(1000):
        if time.monotonic() >= deadline:
            break
        if i == 4:
            bt = threading.Thread(target=b_open, daemon=True)
            bt.start()
        try:
            c.execute("INSERT INTO t VALUES(?, ?)", (rows, f"row {rows} of hold"))
            c.commit()
            rows += 1
        except m.sqlite3.Error as e:
            errors.append(f"write {i}: {e}")
            try:
                c.rollback()
            except m.sqlite3.Error:
                pass
        time.sleep(0.5)
    t.eq(errors, [], f"{rows - 1} writes over {WRITE_PERIODS} lease periods while every "
         "upload hangs: none refused")
    t.ok(rows - 1 >= WRITE_PERIODS, f"at least {WRITE_PERIODS} writes went in ({rows - 1})")
    if bt:
        bt.join(60)
    t.eq(b_result.get("errno"), errno.EBUSY, "node b asking with lease_wait gets EBUSY")
    item1 = fleet.item("hold")
    t.eq((item1.get("owner"), item1.get("epoch")), (item0.get("owner"), item0.get("epoch")),
         "the held database keeps its owner and epoch")
    fired, answered = delayed_puts(ps)
    t.diag(f"delayed PUTs: {fired} taken, {answered} answered by the end of the writes")

    log = a.log_text()
    bad = [ln for ln in log.splitlines()
           if "overdue" in ln or "cannot renew" in ln or "was lost" in ln
           or "QUARANTINED" in ln]
    t.eq(bad, [], "a's log: no overdue or failed renewal, no lost lease")
    t.ok("asks for hold" in log, "a saw b's want mark at a renewal")

    # Lift the delays: the hung attempts time out, the retries go through.
    ps.reset()
    c.close()
    ids = ["hold"] + [f"w{i}" for i in range(NDIRTY)]
    clean = {}
    for ident in ids:
        try:
            clean[ident] = m.wait_clean(os.path.join(a.mountpoint, ident + ".db"),
                                        timeout=150)
        except TimeoutError:
            clean[ident] = None
    t.eq([i for i in ids if not clean[i]], [], "every database is written back once S3 "
         "is fast again")
    a.unmount()
    try:
        fleet.wait_released("hold", timeout=30)
    except TimeoutError:
        pass
    t.eq(rows_of(os.path.join(b.mountpoint, "hold.db")),
         [(k, f"row {k} of hold") for k in range(rows)],
         "b reads every row a wrote to the held database")
    for i in range(NDIRTY):
        it = fleet.item(f"w{i}")
        t.ok(int(it.get("gen") or 0) >= 1 and fleet.lease_free(f"w{i}"),
             f"w{i} committed and its lease freed", it)


if __name__ == "__main__":
    m.run_main(main, sync=True)
