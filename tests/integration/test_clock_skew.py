#!/usr/bin/env python3
# tfs-timeout: 400
"""Wall clocks never decide who owns a lease: real mounts on one bucket and
one lease table (moto_server for S3 and DynamoDB), short leases
(lease_ttl=3), one node of each pair under libfaketime (wall clock off by
+60 s or -60 s, DONT_FAKE_MONOTONIC=1: its monotonic clock is untouched).

For each pair, the holder keeps a database open and writes to it about
every 0.25 s for four lease lengths while it renews; the contender tries to
open the same database all along (lease_wait=0):

- the contender gets EBUSY every time and logs the holder's name;
- every write of the holder is accepted (no EIO), nothing is quarantined,
  the holder never logs a lost lease;
- then the holder is killed (-9): the contender takes the database over
  within the documented bound (lease_ttl after it first saw the holder's
  last renewal, plus one poll; the check allows 10 s of slack for a loaded
  machine) and reads every row the holder had published.

Pairs: holder normal / contender +60 s (the case that took a live lease),
holder normal / contender -60 s, holder -60 s / contender normal (the same
skew seen from the other side).

Run time: about 60-90 s."""

import errno
import glob
import os
import re
import sys
import tempfile
import time
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import mount as m  # noqa: E402
import test_fleet as fl  # noqa: E402
import test_split_brain as sb  # noqa: E402
import tfstest as t  # noqa: E402

TTL = 3
ROUNDS = int(4 * TTL / 0.25)
SLACK_S = 10.0


def libfaketime():
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1"))
    return found[0] if found else None


def skewed_env(lib, offset):
    """A daemon environment whose wall clock runs offset ("+60s") from the
    real one; CLOCK_MONOTONIC is left alone."""
    env = t.daemon_env({"LD_PRELOAD": lib, "FAKETIME": offset, "DONT_FAKE_MONOTONIC": "1"})
    # ASan insists on being first in the library list; libfaketime is.
    asan = env.get("ASAN_OPTIONS", "")
    env["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "verify_asan_link_order=0"
    return env


def log_skew(mnt):
    """Seconds between the daemon's first log line's time and now (the
    daemon's wall clock offset, give or take the time since it logged)."""
    stamp = re.search(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)Z", mnt.log_text(), re.M)
    if not stamp:
        return None
    logged = datetime.fromisoformat(stamp.group(1)).replace(tzinfo=timezone.utc)
    return logged.timestamp() - time.time()


def try_open(path):
    """0 if path opens read-write (closed again at once), else the errno."""
    try:
        os.close(os.open(path, os.O_RDWR))
        return 0
    except OSError as e:
        return e.errno


def check_skew(mnt, offset, label):
    want = float(offset.rstrip("s"))
    got = log_skew(mnt)
    t.ok(got is not None and abs(got - want) < 30,
         f"{label}: {mnt.mountpoint} runs with its wall clock {offset} (log says "
         f"{got if got is None else round(got)} s)")


def pair(fleet, lib, label, ident, holder_skew, contender_skew):
    hn, cn = f"{label}h", f"{label}c"
    h = fleet.mount(hn, idle="0.5", ttl=str(TTL))
    c = fleet.mount(cn, ttl=str(TTL))
    if holder_skew:
        h.env = skewed_env(lib, holder_skew)
    if contender_skew:
        c.env = skewed_env(lib, contender_skew)
    h.start()
    app = None
    try:
        with c:
            for mnt, skew in ((h, holder_skew), (c, contender_skew)):
                if skew:
                    check_skew(mnt, skew, label)
            ph, pc = fl.db(h, ident), fl.db(c, ident)
            fl.create_rows(ph, ident, 0, 10).close()
            app = sb.App(ph, ident)
            t.eq(app.cmd("count"), "ok 10", f"{label}: the holder's application opens {ident}")
            writes_ok, served, other, k = 0, 0, [], 10
            for _ in range(ROUNDS):
                r = app.cmd(f"insert {k} {k + 1}")
                if r == "ok":
                    writes_ok += 1
                    k += 1
                e = try_open(pc)
                if e == 0:
                    served += 1
                elif e != errno.EBUSY:
                    other.append(e)
                time.sleep(0.25)
            t.eq(writes_ok, ROUNDS, f"{label}: every write of the holder is accepted while it "
                 "renews")
            t.eq((served, other), (0, []), f"{label}: the contender gets EBUSY every time "
                 f"({ROUNDS} tries over {4 * TTL} s)")
            t.ok(f"cannot lease {ident}: held by {hn}" in c.log_text(),
                 f"{label}: the contender logs the holder", c.log_text()[-2000:])
            ht = h.log_text()
            t.ok("QUARANTINED" not in ht and "was lost" not in ht,
                 f"{label}: the holder lost nothing and quarantined nothing", ht[-3000:])
            # Published rows before the crash: the contender must see them.
            try:
                gen, _ = m.wait_clean(ph, min_gen=1, timeout=30)
            except TimeoutError:
                gen = None
            published = k if gen is not None else None
            sb.crash(h)
            app.close()
            app = None
            start = time.monotonic()
            deadline = start + TTL + SLACK_S + 30  # bounded; the check is below
            e = errno.EBUSY
            while time.monotonic() < deadline:
                e = try_open(pc)
                if e != errno.EBUSY:
                    break
                time.sleep(0.05)
            took = time.monotonic() - start
            t.diag(f"{label}: takeover {took:.2f} s after the holder was killed (ttl {TTL} s)")
            t.eq(e, 0, f"{label}: the contender takes {ident} over once the holder is dead")
            t.ok(e == 0 and took <= TTL + SLACK_S,
                 f"{label}: ... within lease_ttl plus a poll ({took:.1f} s, bound {TTL} s "
                 f"+ {SLACK_S:.0f} s slack)")
            t.ok("took over the lease of " + ident in c.log_text(),
                 f"{label}: the contender logs the takeover")
            if e == 0 and published is not None:
                t.eq(fl.rows_of(pc), sb.a_rows(ident, published),
                     f"{label}: the contender reads every row the holder published")
    finally:
        if app is not None:
            app.close()
        if h.proc is not None:
            h.kill()


def main():
    moto = t.need_env("TFS_TEST_MOTO")
    m.need_fuse()
    m.tenantfs_binary()
    lib = libfaketime()
    if not t.ok(lib is not None, "libfaketime is installed (tests/setup installs faketime)"):
        return
    base = tempfile.mkdtemp(prefix="skew-", dir=t.tmp_dir())
    started = time.monotonic()
    fleet = fl.Fleet(base, moto, moto, "sk")
    if not fleet.ready:
        return
    pair(fleet, lib, "fast", "sk1", None, "+60s")
    pair(fleet, lib, "slow", "sk2", None, "-60s")
    pair(fleet, lib, "slowholder", "sk3", "-60s", None)
    t.diag(f"run time {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    m.run_main(main, sync=True)
