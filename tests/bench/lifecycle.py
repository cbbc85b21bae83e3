#!/usr/bin/env python3
"""tenantfs lifecycle benchmark (issue 10): a month of commits for 1,000
databases through a real mount, on two fresh stores one after the other:
one without gc, one with `tenantfs gc` run once a "day"; then the store's
size day by day side by side, what each gc run deleted, freed, cost and
took, and what one `tenantfs verify` of the month's end costs. Not part of
the test suite: it prints figures and asserts nothing.

    tests/bench/lifecycle.py [--build build] [--tmp DIR] [--quick]
                             [--dbs 1000] [--days 30] [--day-s 6] [--sessions 2]
                             [--keep-days 7] [--db-kb 8]
                             [--moto URL | --start-moto] [--keep-tmp]

Time is scaled, not injected: with gc a "day" is --day-s seconds of the
store's own clock (gc judges by it), and gc runs with --keep of
--keep-days days in those seconds and --grace of one scaled hour. In each
day every database is committed --sessions times (one write session each,
spread over the day: a whole new database file of --db-kb KiB written
into the mount, written back at its close: linger=0), and with gc the day
ends with one gc run. A day whose work overran its seconds is flagged and
the next one starts late (so the window holds fewer days there, never
more). Without gc nothing depends on the clock, so its month runs as fast
as the commits go.

Embedded store (default): the local folder and the SQLite catalog; gc's
own count of requests (catalog and store operations) is shown. With
--moto URL (or $TFS_TEST_MOTO) or --start-moto the stores are S3 and
DynamoDB on moto_server behind tests/lib/faultproxy.py, which counts every
request gc and verify make by kind (LIST, HEAD, GET, PUT, DELETE;
GetItem, UpdateItem, ...; the idle node's heartbeats fall in too: about
one per 10 s). moto is slow: use --dbs 100 or so there.

--quick: 100 databases, 10 days of 2 s, --keep-days 3 (under a minute).
"""

import argparse
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
sys.path.insert(0, HERE)

GC_SUMMARY = re.compile(
    r"gc: (\d+) databases, deleted (\d+) versions, (\d+) records, (\d+) tombstones and "
    r"(\d+) uploads, (\d+) bytes freed; (\d+) versions kept, (\d+) databases left alone, "
    r"(\d+) deletions failed, (\d+) requests")
GC_FIELDS = ("dbs", "versions", "records", "tombstones", "uploads", "freed", "kept",
             "left_alone", "failed", "requests")


def db_bytes(value, kb):
    """A valid SQLite database of kb KiB (1 KiB pages) whose bytes depend
    on value: every commit is a new object."""
    c = sqlite3.connect(":memory:")
    try:
        c.execute("PRAGMA page_size=1024")
        c.execute("CREATE TABLE t(v TEXT)")
        c.execute("INSERT INTO t VALUES(?)", (value,))
        c.execute("CREATE TABLE pad(b BLOB)")
        c.execute("INSERT INTO pad VALUES(randomblob(?))", (max(0, kb - 4) * 1024,))
        c.commit()
        return c.serialize()
    finally:
        c.close()


def wait_commits(mp, want, timeout):
    import tfstest as t
    from capacity import stats
    t.wait_until(lambda: stats(mp)["commits"] >= want, timeout=timeout, interval=0.05,
                 what=f"{want} commits")


def classify(reqs):
    """Proxy request records -> {"S3 LIST": n, "DynamoDB GetItem": n, ...}."""
    out = {}
    for r in reqs:
        if r.get("target"):
            k = "DynamoDB " + r["target"].rsplit(".", 1)[-1]
        else:
            path = r.get("path") or ""
            k = "S3 " + r["method"]
            if r["method"] == "GET" and "list-type" in path:
                k = "S3 LIST"
            elif r["method"] == "GET" and "uploads" in path:
                k = "S3 ListMultipartUploads"
        out[k] = out.get(k, 0) + 1
    return out


def fmt_kinds(c):
    return ", ".join(f"{k.split(' ', 1)[1]} {v}" for k, v in sorted(c.items())) or "none"


class Store:
    """One fresh store (bench.Target: embedded, or a bucket + table on moto
    behind a proxy of its own) and what it holds."""

    def __init__(self, base, name, moto):
        import tfstest as t
        from bench import Target
        self.base = os.path.join(base, name)
        os.makedirs(self.base)
        self.tgt = Target(self.base, moto)
        self.proxy = self.tgt.proxy
        self.moto = moto
        self.source = self.tgt.source
        self.opts = self.tgt.aws
        if moto:
            self.bucket = self.tgt.bucket
            self.s3 = t.s3_client(moto)  # straight to moto: not counted

    def close(self):
        self.tgt.close()

    def admin(self, *args, timeout=600):
        import mount as m
        argv = [args[0], self.source] + (["-o", ",".join(self.opts)] if self.opts else []) + \
            list(args[1:])
        return m.run_tenantfs(argv, timeout=timeout)

    def contents(self):
        """(versions, version records, other objects, bytes of them all)."""
        n_db = n_ver = n_other = size = 0
        if self.moto:
            pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
            items = ((o["Key"], o["Size"]) for p in pages for o in p.get("Contents", []))
        else:
            top = os.path.join(self.source, "objects")
            items = ((os.path.join(d, f), os.path.getsize(os.path.join(d, f)))
                     for d, _, fs in os.walk(top) for f in fs)
        for key, sz in items:
            size += sz
            if key.endswith(".db"):
                n_db += 1
            elif key.endswith(".ver"):
                n_ver += 1
            else:
                n_other += 1
        return n_db, n_ver, n_other, size

    def counting(self):
        if self.proxy:
            self.proxy.reset()

    def counted(self):
        return classify(self.proxy.stats().get("requests", [])) if self.proxy else None


def run_month(a, st, with_gc):
    """Commits a.sessions times a day for a.days days into a.dbs databases
    on store st; with_gc: gc at the end of each day. Returns (days, verify)."""
    import mount as m
    from capacity import create_many, stats
    label = "with gc" if with_gc else "without gc"
    ids = [f"u{i:05d}" for i in range(a.dbs)]
    mp = os.path.join(st.base, "mnt")
    mnt = m.Mount(st.source, mp, st.opts + [f"cache={st.base}/cache", "node=life", "idle=0.1",
                                            "linger=0", "max_dirty=1"],
                  log=os.path.join(st.base, "mount.log"))
    keep = f"{int(a.keep_days * a.day_s * 1000)}ms"
    grace = f"{int(a.day_s * 1000 / 24)}ms"
    days = []
    mnt.start()
    try:
        commits = stats(mp)["commits"]
        start = time.monotonic()
        for day in range(a.days):
            row = {"day": day + 1, "late": False}
            for s in range(a.sessions):
                # Without gc nothing depends on the clock: no waiting. With
                # it, a day that overran starts the next one late (days are
                # never shorter than day_s: the window never holds more).
                wait = start + s * a.day_s / a.sessions - time.monotonic()
                if with_gc and wait > 0:
                    time.sleep(wait)
                create_many(mp, ids, lambda i: db_bytes(f"{i} day {day} session {s}", a.db_kb))
                commits += len(ids)
                wait_commits(mp, commits, timeout=max(120, a.dbs / 10))
            if with_gc:
                wait = start + a.day_s - a.day_s / (2 * a.sessions) - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                st.counting()
                g0 = time.monotonic()
                r = st.admin("gc", "--keep", keep, "--grace", grace)
                row["gc_s"] = time.monotonic() - g0
                row["gc_kinds"] = st.counted()
                found = GC_SUMMARY.search(r.stdout)
                if r.returncode != 0 or not found:
                    raise RuntimeError(f"gc failed ({r.returncode}): {r.stdout[-2000:]}"
                                       f"{r.stderr[-2000:]}")
                row["gc"] = dict(zip(GC_FIELDS, (int(x) for x in found.groups())))
            row["versions"], row["records"], row["other"], row["bytes"] = st.contents()
            days.append(row)
            row["late"] = with_gc and time.monotonic() > start + a.day_s + 0.25
            start = max(start + a.day_s, time.monotonic())
            g = row.get("gc")
            print(f"  [{label}] day {day + 1:2d}: {row['versions']} versions, {row['records']} "
                  f"records, {row['bytes'] / 1e6:.1f} MB" +
                  (f"; gc deleted {g['versions']}+{g['records']} in {row['gc_s']:.1f} s"
                   if g else "") + (" (late)" if row["late"] else ""),
                  file=sys.stderr, flush=True)
        st.counting()
        v0 = time.monotonic()
        r = st.admin("verify")
        ver = {"s": time.monotonic() - v0, "rc": r.returncode, "kinds": st.counted(),
               "summary": (r.stdout.strip().splitlines() or [""])[-1]}
    except BaseException:
        mnt.kill()
        raise
    rc = mnt.unmount(timeout=600)
    if rc != 0:
        raise RuntimeError(f"tenantfs exited with {rc}:\n{mnt.log_text()[-3000:]}")
    return days, ver


def report(a, where, plain, gcd, vplain, vgc):
    n = a.dbs
    print(f"\ntenantfs lifecycle: {n} databases, {a.days} days of {a.day_s:g} s, "
          f"{a.sessions} write sessions a day, {a.db_kb} KiB each; gc daily with --keep "
          f"{a.keep_days:g} days ({a.keep_days * a.day_s:g} s), --grace 1 h "
          f"({a.day_s / 24:.3f} s); {where}")
    print(f"{'day':>4} | {'without gc':^32} | {'with gc, after the day’s run':^32} |"
          f" {'gc run':^40}")
    print(f"{'':>4} | {'versions':>9} {'records':>9} {'MB':>10} | {'versions':>9} "
          f"{'records':>9} {'MB':>10} | {'deleted':>9} {'MB freed':>9} {'requests':>9} "
          f"{'s':>6}")
    late = 0
    for p, g in zip(plain, gcd):
        r = g["gc"]
        late += p["late"] or g["late"]
        print(f"{p['day']:4d} | {p['versions']:9d} {p['records']:9d} {p['bytes'] / 1e6:10.1f} | "
              f"{g['versions']:9d} {g['records']:9d} {g['bytes'] / 1e6:10.1f} | "
              f"{r['versions'] + r['records']:9d} {r['freed'] / 1e6:9.1f} {r['requests']:9d} "
              f"{g['gc_s']:6.2f}" + (" late" if p["late"] or g["late"] else ""))
    p, g = plain[-1], gcd[-1]
    runs = [d for d in gcd if d["gc"]["versions"]]
    steady = runs[len(runs) // 2:] or gcd
    print(f"\nafter {a.days} days: without gc {p['versions'] + p['records']} objects, "
          f"{p['bytes'] / 1e6:.1f} MB; with gc {g['versions'] + g['records']} objects, "
          f"{g['bytes'] / 1e6:.1f} MB ({g['bytes'] / max(p['bytes'], 1):.2f} of it); "
          f"versions kept per database: {g['versions'] / n:.1f} (the window holds "
          f"{a.keep_days * a.sessions:g} commits; without gc {p['versions'] / n:.1f})")
    req = sum(d["gc"]["requests"] for d in steady) / len(steady)
    secs = sum(d["gc_s"] for d in steady) / len(steady)
    dele = sum(d["gc"]["versions"] + d["gc"]["records"] for d in steady) / len(steady)
    freed = sum(d["gc"]["freed"] for d in steady) / len(steady)
    print(f"gc per run, mean of the last {len(steady)} runs that deleted: {req:.0f} requests "
          f"({req / n:.2f} per database; gc's own count), {dele:.0f} objects deleted "
          f"({dele / n:.2f} per database), {freed / 1e6:.1f} MB freed, {secs:.2f} s wall "
          f"({secs * 1000 / n:.2f} ms per database)")
    if steady[0].get("gc_kinds") is not None:
        kinds = {}
        for d in steady:
            for k, v in d["gc_kinds"].items():
                kinds[k] = kinds.get(k, 0) + v
        per = {k: v / len(steady) for k, v in kinds.items()}
        print("  by kind per run (proxy):  S3 " +
              fmt_kinds({k: round(v) for k, v in per.items() if k.startswith("S3")}) +
              "; DynamoDB " +
              fmt_kinds({k: round(v) for k, v in per.items() if k.startswith("DynamoDB")}))
        print("  per database per run:     " +
              ", ".join(f"{k} {v / n:.2f}" for k, v in sorted(per.items())))
    for name, v in (("without gc", vplain), ("with gc", vgc)):
        print(f"verify at the month's end ({name}): {v['s']:.2f} s wall "
              f"({v['s'] * 1000 / n:.2f} ms per database), exit {v['rc']}: {v['summary']}")
        if v["kinds"] is not None:
            print("  requests (proxy): " + ", ".join(
                f"{k} {c} ({c / n:.2f} per database)" for k, c in sorted(v["kinds"].items())))
    if late:
        print(f"({late} days overran their {a.day_s:g} s and the next started late: the "
              f"window held fewer than {a.keep_days:g} days there)")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.environ.get("TFS_TEST_BUILD") or
                    os.path.join(ROOT, "build"))
    ap.add_argument("--tmp", default=None, help="scratch folder (/dev/shm is fastest)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--dbs", type=int, default=None)
    ap.add_argument("--days", type=int, default=None)
    ap.add_argument("--day-s", type=float, default=None, help="seconds per simulated day")
    ap.add_argument("--sessions", type=int, default=2, help="write sessions a day")
    ap.add_argument("--keep-days", type=float, default=None)
    ap.add_argument("--db-kb", type=int, default=8)
    ap.add_argument("--moto", default=os.environ.get("TFS_TEST_MOTO"))
    ap.add_argument("--start-moto", action="store_true")
    ap.add_argument("--keep-tmp", action="store_true", help="keep the scratch folder")
    a = ap.parse_args()
    for k, full, quick in (("dbs", 1000, 100), ("days", 30, 10), ("day_s", 6.0, 2.0),
                           ("keep_days", 7.0, 3.0)):
        if getattr(a, k) is None:
            setattr(a, k, quick if a.quick else full)
    if a.dbs < 1 or a.days < 1 or a.day_s <= 0 or a.sessions < 1 or a.db_kb < 4:
        ap.error("--dbs, --days, --sessions must be at least 1, --day-s positive, "
                 "--db-kb at least 4")

    from capacity import scratch_env
    base = scratch_env(a.build, a.tmp, "tfs-lifecycle-")
    import mount as m
    import tfstest as t
    m.tenantfs_binary()
    moto_proc = None
    stores = []
    t_start = time.monotonic()
    try:
        if a.start_moto and not a.moto:
            from bench import start_moto
            moto_proc, a.moto = start_moto(base)
        if a.moto:
            where = f"S3 + DynamoDB on moto ({a.moto}) behind faultproxy"
        else:
            where = "embedded store (local folder + SQLite catalog) in " + base
        stores.append(Store(base, "plain", a.moto))
        plain, vplain = run_month(a, stores[-1], False)
        stores.append(Store(base, "gc", a.moto))
        gcd, vgc = run_month(a, stores[-1], True)
        report(a, where, plain, gcd, vplain, vgc)
        print(f"(whole run {time.monotonic() - t_start:.0f} s)")
    finally:
        for st in stores:
            st.close()
        if moto_proc:
            t.stop_process(moto_proc)
        if a.keep_tmp:
            print(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
