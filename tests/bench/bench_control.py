#!/usr/bin/env python3
"""What the control socket and the metrics endpoint cost a busy node.
Not part of the test suite (no assertions): prints figures.

    tests/bench/bench_control.py [--build build] [--dbs 2000] [--reps 20] [--tmp DIR]

On a fresh embedded store it mounts with long idle and linger times, opens
--dbs databases and keeps them open and dirty (that many active families,
the worst case for a status report), then measures:
  - `tenantfs status --json`, `status --top 10` and a /metrics scrape:
    median and worst wall time over --reps, and the size of the answer;
  - point SELECTs on one open database (the FUSE read path): median and
    99th percentile latency alone and while another thread asks for status
    and metrics in a loop, and their ratio;
  - `tenantfs flush` of every dirty database: time until all are published.
"""

import argparse
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def is_mounted(mp):
    with open("/proc/self/mounts", encoding="utf-8") as f:
        return any(line.split()[1] == mp for line in f)


def timed(fn, reps):
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out), max(out)


def selects(conn, n):
    lat = []
    for i in range(n):
        t0 = time.perf_counter()
        conn.execute("SELECT v FROM t WHERE k = ?", (i % 100,)).fetchone()
        lat.append(time.perf_counter() - t0)
    lat.sort()
    return statistics.median(lat), lat[int(len(lat) * 0.99)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--dbs", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--selects", type=int, default=20000)
    ap.add_argument("--tmp", default=None)
    a = ap.parse_args()
    tfs = os.path.join(a.build, "tenantfs")
    base = tempfile.mkdtemp(prefix="bench-control-", dir=a.tmp)
    store, mp = os.path.join(base, "store"), os.path.join(base, "mnt")
    os.makedirs(mp)
    subprocess.run([tfs, "init", store], check=True, capture_output=True)
    port = free_port()
    log = open(os.path.join(base, "daemon.log"), "wb")
    d = subprocess.Popen([tfs, "-f", "-o", f"idle=600,max_dirty=6000,linger=600,"
                          f"metrics=127.0.0.1:{port}", store, mp],
                         stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    conns = []
    try:
        for _ in range(200):
            if is_mounted(mp):
                break
            time.sleep(0.05)
        t0 = time.perf_counter()
        for i in range(a.dbs):
            c = sqlite3.connect(os.path.join(mp, f"d{i}.db"), timeout=60)
            c.execute("CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)")
            c.executemany("INSERT INTO t VALUES(?, ?)", [(k, "x" * 20) for k in range(100)])
            c.commit()
            conns.append(c)
        print(f"{a.dbs} databases open and dirty in {time.perf_counter() - t0:.1f} s")

        def status():
            return subprocess.run([tfs, "status", mp, "--json"], capture_output=True,
                                  check=True).stdout

        def top():
            return subprocess.run([tfs, "status", mp, "--top", "10"], capture_output=True,
                                  check=True).stdout

        def scrape():
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
                return r.read()

        for name, fn in (("status --json", status), ("status --top 10", top),
                         ("GET /metrics", scrape)):
            size = len(fn())
            med, worst = timed(fn, a.reps)
            print(f"{name:16s} median {med * 1000:7.1f} ms  worst {worst * 1000:7.1f} ms  "
                  f"answer {size} bytes")

        c0 = conns[0]
        alone = selects(c0, a.selects)
        stop = threading.Event()
        asked = [0]

        def hammer():
            while not stop.is_set():
                status()
                scrape()
                asked[0] += 2

        th = threading.Thread(target=hammer)
        th.start()
        busy = selects(c0, a.selects)
        stop.set()
        th.join()
        print(f"point SELECT alone:          median {alone[0] * 1e6:6.1f} us  "
              f"p99 {alone[1] * 1e6:6.1f} us")
        print(f"point SELECT during status:  median {busy[0] * 1e6:6.1f} us  "
              f"p99 {busy[1] * 1e6:6.1f} us  ({asked[0]} status/metrics requests meanwhile)")
        print(f"ratio busy/alone: median {busy[0] / alone[0]:.2f}x  p99 {busy[1] / alone[1]:.2f}x")

        t0 = time.perf_counter()
        r = subprocess.run([tfs, "flush", mp, "--timeout", "600"], capture_output=True,
                           text=True)
        print(f"flush of {a.dbs} dirty databases: {time.perf_counter() - t0:.1f} s "
              f"(exit {r.returncode}: {r.stdout.strip()})")
    finally:
        for c in conns:
            c.close()
        subprocess.run(["fusermount3", "-u", mp], capture_output=True)
        try:
            d.wait(timeout=120)
        except subprocess.TimeoutExpired:
            d.kill()
        log.close()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
