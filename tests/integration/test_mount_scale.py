#!/usr/bin/env python3
"""Many databases and a small cache, on S3 + DynamoDB (moto_server), S3
seen through the fault proxy (tests/lib/faultproxy.py) to count requests:

- `ls -l` of 1,000 databases that are not cached: two real versions are
  written by a first mount, then 1,000 catalog items pointing at them are
  put with boto3 (the item format of cache/catalog/catalog_ddb.c); a mount with an
  empty cache lists all 1,000 with their sizes and makes 0 S3 GETs (and 0
  PUTs); `stat` of one; opening one costs exactly one GET and reads its
  content;
- eviction under cache_size=1500K: three databases of about 1 MB, written
  and closed one after the other: the two oldest leave the cache folder,
  the newest stays; reopening an evicted one faults it back with one GET,
  its content intact.

Run time: about 20-40 s (two mounts, 1,000 items put through moto)."""
# tfs-timeout: 400

import hashlib
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mount as m  # noqa: E402
import tfstest as t  # noqa: E402

PREFIX = "users"
MANY = 1000
MB_ROWS = 1000  # rows of 1000 random bytes: a database of about 1 MB


def write_blobs(db, seed, rows):
    """Writes rows random blobs with Python sqlite3; returns their digest."""
    rng = random.Random(seed)
    blobs = [rng.randbytes(1000) for _ in range(rows)]
    c = sqlite3.connect(db, timeout=30)
    c.execute("CREATE TABLE b(k INTEGER PRIMARY KEY, v BLOB)")
    c.executemany("INSERT INTO b VALUES(?, ?)", list(enumerate(blobs)))
    c.commit()
    c.close()
    return hashlib.sha256(b"".join(blobs)).hexdigest()


def read_digest(db):
    c = sqlite3.connect(db, timeout=30)
    try:
        blobs = [r[0] for r in c.execute("SELECT v FROM b ORDER BY k")]
        ic = c.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        c.close()
    return hashlib.sha256(b"".join(blobs)).hexdigest(), ic


class Env:
    def __init__(self, base, moto, proxy):
        self.base = base
        self.proxy = proxy
        self.bucket = t.make_bucket(moto)
        self.table = t.unique("scale")
        self.src = f"s3://{self.bucket}/{PREFIX}"
        self.aws = [f"catalog=dynamodb:{self.table}", f"endpoint={proxy.url}",
                    f"dynamodb_endpoint={moto}", "region=us-east-1"]
        self.s3 = t.s3_client(moto)
        self.ddb = t.ddb_client(moto)

    def item(self, ident):
        return self.ddb.get_item(TableName=self.table, Key={"id": {"S": ident}},
                                 ConsistentRead=True).get("Item", {})

    def wait_released(self, ident, timeout=60.0):
        def rel():
            it = self.item(ident)
            return it if it.get("hash", {}).get("S") and not it.get("owner", {}).get("S") \
                else None
        return t.wait_until(rel, timeout=timeout, what=f"{ident}: written back and released")

    def gets(self):
        return self.proxy.stats()["counts"].get("GET", 0)


def many_id(i):
    return f"s{i:04d}"


def put_many(env, seeds):
    """MANY items, alternating between the seed versions, no owner."""
    now = int(time.time() * 1000)
    items = []
    for i in range(MANY):
        it = seeds[i % len(seeds)]
        items.append({"PutRequest": {"Item": {
            "id": {"S": many_id(i)},
            "epoch": {"N": "1"},
            "gen": {"N": "1"},
            "hash": {"S": it["hash"]["S"]},
            "size": {"N": it["size"]["N"]},
            "mtime": {"N": str(now)},
            "hist": {"L": [{"M": {"t": {"N": str(now)}, "g": {"N": "1"},
                                  "h": {"S": it["hash"]["S"]}}}]},
        }}})
    for k in range(0, len(items), 25):
        batch = {env.table: items[k:k + 25]}
        for _ in range(20):
            resp = env.ddb.batch_write_item(RequestItems=batch)
            batch = resp.get("UnprocessedItems") or {}
            if not batch:
                break
        if batch:
            raise RuntimeError("batch_write_item left items unprocessed")


def listing(env, mp, seeds, mnt):
    want = {}
    for i in range(MANY):
        want[many_id(i) + ".db"] = int(seeds[i % len(seeds)]["size"]["N"])
    env.proxy.reset()
    r = subprocess.run(["ls", "-l", "--time-style=+%s", mp], capture_output=True, text=True,
                       timeout=300)
    t.ok(r.returncode == 0, "ls -l of the mount", r.stderr)
    got = {}
    for line in r.stdout.splitlines():
        f = line.split()
        if len(f) >= 7 and f[-1].endswith(".db"):
            got[f[-1]] = int(f[4])
    many = {k: v for k, v in got.items() if k in want}
    t.eq(sorted(set(got) - set(many)), ["seeda.db", "seedb.db"],
         "ls -l lists the seeds besides them")
    t.eq(len(many), MANY, f"ls -l lists {MANY} uncached databases")
    wrong = [(k, v, want.get(k)) for k, v in many.items() if want.get(k) != v]
    t.ok(not wrong and len(many) == MANY, f"ls -l shows each one's size from the catalog",
         f"{len(wrong)} wrong, e.g. {wrong[:5]}")
    st = os.stat(os.path.join(mp, many_id(7) + ".db"))
    t.eq(st.st_size, want[many_id(7) + ".db"], "stat of one uncached database: its size")
    r = subprocess.run(["stat", "-c", "%s %F", os.path.join(mp, many_id(8) + ".db")],
                       capture_output=True, text=True, timeout=30)
    t.eq(r.stdout.strip(), f"{want[many_id(8) + '.db']} regular file", "stat(1) of one")
    c = env.proxy.stats()["counts"]
    t.eq(c.get("GET", 0), 0, f"ls -l and stat of {MANY} uncached databases: 0 S3 GETs")
    t.eq(c.get("PUT", 0), 0, "... and 0 PUTs")


def main():
    moto = t.need_env("TFS_TEST_MOTO")
    m.need_fuse()
    m.tenantfs_binary()
    base = tempfile.mkdtemp(prefix="mount-scale-", dir=t.tmp_dir())
    mp = os.path.join(base, "mnt")
    with t.FaultProxy(moto) as proxy:
        env = Env(base, moto, proxy)
        r = m.run_tenantfs(["init", env.src, "-o", ",".join(env.aws)])
        if not t.ok(r.returncode == 0, "tenantfs init", r.stderr):
            return
        # ---- seed versions, then 1,000 items pointing at them ------------
        opts1 = env.aws + ["node=n1", "idle=0.3", "linger=0", f"cache={base}/cache1"]
        digests = {}
        with m.Mount(env.src, mp, opts1):
            digests["seeda"] = write_blobs(os.path.join(mp, "seeda.db"), 1, 10)
            digests["seedb"] = write_blobs(os.path.join(mp, "seedb.db"), 2, 60)
            seeds = [env.wait_released("seeda"), env.wait_released("seedb")]
        t.ok(seeds[0]["size"]["N"] != seeds[1]["size"]["N"],
             f"two seed versions of different sizes ({seeds[0]['size']['N']}, "
             f"{seeds[1]['size']['N']})")
        put_many(env, seeds)
        # The object of one of them, so it can be opened.
        h7 = seeds[7 % 2]["hash"]["S"]
        env.s3.copy_object(Bucket=env.bucket, Key=f"{PREFIX}/{many_id(7)}/{h7}.db",
                           CopySource={"Bucket": env.bucket,
                                       "Key": f"{PREFIX}/seedb/{h7}.db"})

        # ---- empty cache: list, stat, open one; then eviction ------------
        cache = os.path.join(base, "cache2")
        opts2 = env.aws + ["node=n2", "idle=0.3", "linger=0", "cache_size=1500K",
                           f"cache={cache}"]
        with m.Mount(env.src, mp, opts2) as mnt:
            listing(env, mp, seeds, mnt)
            env.proxy.reset()
            dig, ic = read_digest(os.path.join(mp, many_id(7) + ".db"))
            t.eq((dig, ic), (digests["seedb"], "ok"),
                 f"{many_id(7)}.db opens with its content (the seed's)")
            t.eq(env.gets(), 1, f"opening one uncached database: exactly 1 GET")
            eviction(env, mp, cache, mnt)
        t.eq(mnt.returncode, 0, "daemon exits 0 after fusermount3 -u")


def eviction(env, mp, cache, mnt):
    dbdir = os.path.join(cache, "db")
    digests = {}
    for n, ident in enumerate(("e1", "e2", "e3")):
        digests[ident] = write_blobs(os.path.join(mp, ident + ".db"), 10 + n, MB_ROWS)
        it = env.wait_released(ident)
        t.ok(int(it["size"]["N"]) > 1000000, f"{ident}.db is about 1 MB ({it['size']['N']})")

    def evicted():
        present = {i for i in ("e1", "e2", "e3") if os.path.exists(f"{dbdir}/{i}.db")}
        return present == {"e3"}
    try:
        t.wait_until(evicted, timeout=60, what="e1 and e2 evicted")
        t.ok(True, "cache_size=1500K: the two oldest databases leave the cache folder, "
             "the newest stays")
    except TimeoutError as e:
        t.ok(False, "cache_size=1500K: e1 and e2 evicted, e3 kept",
             f"{e}; cache has {sorted(os.listdir(dbdir))}\n{mnt.log_text()[-3000:]}")
    t.ok(not any(os.path.exists(f"{dbdir}/e1.db{s}") for s in ("-journal", "-wal", "-shm")),
         "no side file of an evicted database is left")
    env.proxy.reset()
    dig, ic = read_digest(os.path.join(mp, "e1.db"))
    t.eq((dig, ic), (digests["e1"], "ok"), "evicted e1.db reopens with its content intact")
    t.eq(env.gets(), 1, "reopening an evicted database: exactly 1 GET")
    env.proxy.reset()
    dig, ic = read_digest(os.path.join(mp, "e1.db"))
    t.eq(env.gets(), 0, "reopening it while cached: 0 GETs")


if __name__ == "__main__":
    m.run_main(main, sync=True)
