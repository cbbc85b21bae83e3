#!/usr/bin/env python3
# tfs-timeout: 400
"""Nobody is served an old version while a stopped node holds acknowledged,
unpublished writes: real mounts on one bucket and one lease table
(moto_server), node A's S3 traffic through the fault proxy.

- A publishes st1 and st2 (10 rows each); then S3 refuses every PUT; A
  writes 10 more rows to each (acknowledged by SQLite, not publishable)
  and gets SIGTERM: it keeps the dirty copies for its next start and,
  instead of releasing the leases, marks both items stranded;
- node B opening either gets EBUSY, and B's log names A and the reason;
- `tenantfs abandon` without --yes is refused (exit 2); with --yes it
  gives st2 up: B then opens st2 at its last published version (10 rows);
  st1 stays fenced off;
- A restarts with S3 healthy: it publishes st1 (20 rows, the mark goes)
  and moves its copy of st2 to quarantine, with a log line (the
  quarantined copy keeps all 20 rows; the catalog keeps the published
  version); B then reads st1's 20 rows and st2's 10.

A's shutdown waits out its write-back timeout (60 s) before it gives up.

Run time: about 80-100 s."""

import errno
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import mount as m  # noqa: E402
import test_clock_skew as cs  # noqa: E402
import test_fleet as fl  # noqa: E402
import test_split_brain as sb  # noqa: E402
import tfstest as t  # noqa: E402

TTL = "3"
IDS = ("st1", "st2")


def sigterm(mnt, timeout=150.0):
    """SIGTERM the daemon; waits (bounded) for it to exit and detaches."""
    os.kill(mnt.proc.pid, signal.SIGTERM)
    try:
        mnt.returncode = mnt.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        mnt.kill()
        raise
    mnt.proc = None
    if m.is_fuse_mount(mnt.mountpoint):
        subprocess.run(["fusermount3", "-uz", mnt.mountpoint], capture_output=True,
                       timeout=30)


def published(fleet, ident, gen):
    it = fleet.item(ident)
    return it.get("gen") == gen and not it.get("owner")


def main():
    moto = t.need_env("TFS_TEST_MOTO")
    m.need_fuse()
    m.tenantfs_binary()
    base = tempfile.mkdtemp(prefix="strand-", dir=t.tmp_dir())
    started = time.monotonic()
    fleet = fl.Fleet(base, moto, moto, "sd")
    if not fleet.ready:
        return
    with t.FaultProxy(moto) as fp:
        a = fleet.mount("sta", ttl=TTL, extra=(f"endpoint={fp.url}",))
        a.start()
        try:
            for ident in IDS:
                fl.create_rows(fl.db(a, ident), ident, 0, 10).close()
            for ident in IDS:
                t.wait_until(lambda i=ident: published(fleet, i, "1"), timeout=60,
                             what=f"{ident} gen 1 published")
            gen1 = {i: fleet.item(i).get("hash") for i in IDS}
            fp.rules([{"method": "PUT", "action": "status", "status": 503, "count": -1}])
            for ident in IDS:
                fl.create_rows(fl.db(a, ident), ident, 10, 20).close()
                t.eq(m.xattr(fl.db(a, ident), "dirty"), "1",
                     f"{ident}: A holds 10 acknowledged rows it cannot publish")
            sigterm(a)
        finally:
            if a.proc is not None:
                a.kill()
        for ident in IDS:
            it = fleet.item(ident)
            t.ok(m.node_label(it.get("owner")) == "sta" and it.get("stranded") and it.get("gen") == "1",
                 f"{ident}: after SIGTERM the item stays A's, marked stranded", it)
        t.ok("marked stranded" in a.log_text(), "A logs that it keeps the leases stranded",
             a.log_text()[-3000:])

        b = fleet.mount("stb", ttl=TTL)
        with b:
            for ident in IDS:
                t.eq(cs.try_open(fl.db(b, ident)), errno.EBUSY,
                     f"{ident}: B's open gets EBUSY while A holds unpublished writes")
            t.ok(re.search(r"cannot lease st1: node sta~[0-9a-f]+ stopped holding acknowledged "
                           r"writes", b.log_text()), "B's log names A and why", b.log_text()[-2000:])

            r = m.run_tenantfs(["abandon", fleet.src, "-o", ",".join(fleet.aws), "--id", "st2"])
            t.ok(r.returncode == 2 and "--yes" in r.stderr,
                 "abandon without --yes is refused with exit 2", (r.returncode, r.stderr))
            r = m.run_tenantfs(["abandon", fleet.src, "-o", ",".join(fleet.aws), "--id", "st1x",
                                "--yes"])
            t.eq(r.returncode, 1, "abandon of an id not in the catalog exits 1")
            r = m.run_tenantfs(["abandon", fleet.src, "-o", ",".join(fleet.aws), "--id", "st2",
                                "--yes"])
            t.ok(r.returncode == 0 and "abandoned st2" in r.stdout,
                 "tenantfs abandon --id st2 --yes gives st2 up", (r.returncode, r.stdout,
                                                                    r.stderr))
            it = fleet.item("st2")
            t.ok(it.get("gen") == "2" and it.get("hash") == gen1["st2"] and
                 not it.get("owner") and not it.get("stranded"),
                 "st2: abandon commits gen 2 with gen 1's content, owner and mark cleared", it)
            try:
                t.eq(fl.rows_of(fl.db(b, "st2")), sb.a_rows("st2", 10),
                     "st2: B opens it at its last published version")
            except m.sqlite3.Error as e:
                t.ok(False, "st2: B opens it after abandon", f"{e!r}\n{b.log_text()[-2000:]}")
            t.eq(cs.try_open(fl.db(b, "st1")), errno.EBUSY, "st1: still EBUSY for B")
        fleet.wait_released("st2")

        fp.rules([])
        a = fleet.mount("sta", ttl=TTL, extra=(f"endpoint={fp.url}",))  # same node and cache
        with a:
            try:
                t.wait_until(lambda: published(fleet, "st1", "2"), timeout=90,
                             what="st1 gen 2 published")
                t.ok(True, "st1: restarted A publishes its writes (gen 2)")
            except TimeoutError as e:
                t.ok(False, "st1: restarted A publishes its writes", f"{e}\n{a.log_text()}")
            t.ok(not fleet.item("st1").get("stranded"), "st1: the mark is gone")
            t.ok(fl.wait_log(a, "QUARANTINED st2", timeout=60),
                 "st2: restarted A quarantines its abandoned copy, with a log line",
                 a.log_text()[-3000:])
            q, qrows = sb.quarantined_rows(fl.db(a, "st2"))
            t.eq(qrows, sb.a_rows("st2", 20), "st2: the quarantined copy keeps all 20 rows")
            it = fleet.item("st2")
            t.eq((it.get("gen"), it.get("hash")), ("2", gen1["st2"]),
                 "st2: A published nothing over the abandoned version")
        b = fleet.mount("stb", ttl=TTL)
        with b:
            t.eq(fl.rows_of(fl.db(b, "st1")), sb.a_rows("st1", 20),
                 "st1: B reads every row A acknowledged")
            t.eq(fl.rows_of(fl.db(b, "st2")), sb.a_rows("st2", 10),
                 "st2: B reads the version it was given")
    t.diag(f"run time {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    m.run_main(main, sync=True)
