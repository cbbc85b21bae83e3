#!/usr/bin/env python3
"""What the write-back's check of a snapshot costs: PRAGMA quick_check and
PRAGMA integrity_check (which also matches every index against its table)
on databases of a few sizes, each with a table and two indexes, next to
what the write-back does anyway with the same bytes (copy them into a
snapshot).
Medians over --reps runs, page cache warm (a snapshot was just written).
Not part of the test suite (no assertions).

    tests/bench/check_cost.py [--mb 5,50,200] [--reps 3] [--tmp DIR]
"""

import argparse
import os
import shutil
import sqlite3
import statistics
import tempfile
import time


def build(path, mb):
    c = sqlite3.connect(path)
    c.execute("PRAGMA journal_mode=DELETE")
    c.execute("CREATE TABLE t(k INTEGER PRIMARY KEY, name TEXT, score INTEGER, body BLOB)")
    c.execute("CREATE INDEX t_name ON t(name)")
    c.execute("CREATE INDEX t_score ON t(score, name)")
    rows = mb * 1024 * 1024 // 300
    batch = 10000
    for lo in range(0, rows, batch):
        c.executemany("INSERT INTO t(name, score, body) VALUES(?, ?, randomblob(200))",
                      ((f"user {i:09d}", (i * 7919) % 100003) for i in range(lo, lo + batch)))
        c.commit()
    c.close()


def timed(fn, reps):
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def pragma(path, what):
    def run():
        c = sqlite3.connect(path)
        try:
            r = c.execute(f"PRAGMA {what}").fetchall()
        finally:
            c.close()
        if r != [("ok",)]:
            raise RuntimeError(f"{what}: {r[:3]}")
    return run


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", default="5,50,200")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--tmp", default=None)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="check-cost-", dir=a.tmp)
    try:
        print("| size | copy | quick_check | integrity_check | integrity / quick |")
        print("|---|---|---|---|---|")
        for mb in (int(x) for x in a.mb.split(",")):
            path = os.path.join(work, f"db-{mb}.db")
            build(path, mb)
            size = os.path.getsize(path) / 1e6
            copy = timed(lambda p=path: shutil.copyfile(p, p + ".snap"), a.reps)
            quick = timed(pragma(path, "quick_check"), a.reps)
            full = timed(pragma(path, "integrity_check"), a.reps)
            print(f"| {size:.0f} MB | {copy * 1000:.0f} ms | {quick * 1000:.0f} ms | "
                  f"{full * 1000:.0f} ms | {full / quick:.2f}x |", flush=True)
            os.unlink(path)
            os.unlink(path + ".snap")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
