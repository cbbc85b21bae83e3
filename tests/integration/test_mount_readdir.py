#!/usr/bin/env python3
"""Listing the mount streamed page by page, the key shard option and the
live counters, on the embedded store (catalog items put with sqlite3 into
SOURCE/catalog.db, the catalog the daemon shares):

- 3,000 committed catalog items (sizes 4-28 KiB), 50 tombstones and 50
  never-committed items, plus this node's uncommitted databases held open
  (one in WAL mode with its -wal and -shm): `ls`, `ls -l` and os.scandir
  list each live name exactly once with its size, and none of the others;
  `find -maxdepth 1 -name` and `ls | head -5` (the reader closes early)
  work, and the daemon stays up;
- seekdir/rewinddir through libc: a rewind lists the first name again, a
  seek back before the page held and a seek forward land on the names
  telldir gave for them;
- memory: the daemon's VmRSS with a directory open and read one reply
  into it, and after a whole `ls`, grows by less than 8 MiB between a
  catalog of 3,000 and one of 30,000 items, each warmed by two listings
  (measured: 2-3.5 MiB, the catalog's SQLite page cache and per-thread
  malloc arenas; libfuse's buffered mode, which held the whole listing per
  open directory and a node per name, grew by 23 MiB);
- -o shard_keys: versions land at objects/<2 hex>/<id>/<hash>.db, without
  it at objects/<id>/<hash>.db;
- getfattr -n user.tenantfs.stats MOUNT: one line of name=value pairs
  whose puts and commits move by one with a write-back; on S3 (moto, when
  the runner has it) s3_put moves by two (the version and its version
  record) and cost_usd is above zero.

Run time: about 10-20 s (four short mounts; 30,000 rows put with sqlite3)."""
# tfs-timeout: 300

import ctypes
import ctypes.util
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mount as m  # noqa: E402
import tfstest as t  # noqa: E402

MANY = 3000
SMALL = 3000
BIG = 30000
RSS_BOUND_KB = 8192


def cid(i):
    return f"c{i:05d}"


def csize(i):
    return 4096 * (1 + i % 7)


def put_items(catalog, ids_sizes, gen=1, deleted=0, h="0" * 32):
    """Inserts catalog rows as catalog_sqlite.c writes them, in one
    transaction (the daemon shares the file: WAL, busy timeout)."""
    now = int(time.time() * 1000)
    c = sqlite3.connect(catalog, timeout=60)
    try:
        hist = f"{now}:{gen}:{h}" if gen else ""
        c.executemany("INSERT OR REPLACE INTO items(id, owner, expires, epoch, gen, hash, size,"
                      " mtime, deleted, want, hist) VALUES(?, '', 0, 1, ?, ?, ?, ?, ?, '', ?)",
                      [(i, gen, h if gen else "", s, now, deleted, hist) for i, s in ids_sizes])
        c.commit()
    finally:
        c.close()


def ls_names(mp):
    r = subprocess.run(["ls", "-1", mp], capture_output=True, text=True, timeout=300)
    return r.returncode, r.stdout.splitlines(), r.stderr


def ls_l(mp):
    r = subprocess.run(["ls", "-l", mp], capture_output=True, text=True, timeout=300)
    got = []
    for line in r.stdout.splitlines():
        f = line.split()
        if len(f) >= 9 and f[0].startswith("-"):
            got.append((f[-1], int(f[4])))
    return r.returncode, got, r.stderr


def dupes(names):
    seen, d = set(), set()
    for n in names:
        (d if n in seen else seen).add(n)
    return sorted(d)


def rss_kb(pid):
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def daemon_env_quiet_quarantine():
    """The daemon's environment; under ASan without the quarantine of freed
    memory, which would count every page ever listed as resident."""
    env = t.daemon_env()
    if env.get("ASAN_OPTIONS"):
        env["ASAN_OPTIONS"] += ":quarantine_size_mb=0"
    return env


def stats(mp):
    """user.tenantfs.stats of the root as a dict (values as text)."""
    raw = os.getxattr(mp, "user.tenantfs.stats").decode()
    return raw, dict(kv.split("=", 1) for kv in raw.split())


# ---- listing -------------------------------------------------------------

def listing(base):
    src = os.path.join(base, "store")
    mp = os.path.join(base, "mnt")
    opts = ["node=n1", "idle=600", "max_dirty=600", "linger=0", f"cache={base}/cache1"]
    with m.Mount(src, mp, opts) as mnt:
        catalog = os.path.join(src, "catalog.db")
        live = {cid(i) + ".db": csize(i) for i in range(MANY)}
        put_items(catalog, [(cid(i), csize(i)) for i in range(MANY)])
        put_items(catalog, [(f"tomb{i:02d}", 8192) for i in range(50)], deleted=12345)
        put_items(catalog, [(f"never{i:02d}", 0) for i in range(50)], gen=0)
        # This node's uncommitted databases, held open so nothing writes
        # them back: one in WAL mode (with -wal and -shm), one rollback.
        w = sqlite3.connect(os.path.join(mp, "lw.db"), timeout=30)
        t.eq(w.execute("PRAGMA journal_mode=WAL").fetchone()[0], "wal", "lw.db in WAL mode")
        w.execute("CREATE TABLE t(x)")
        w.execute("INSERT INTO t VALUES(1)")
        w.commit()
        r = sqlite3.connect(os.path.join(mp, "lr.db"), timeout=30)
        r.execute("CREATE TABLE t(x)")
        r.commit()
        local = ["lw.db", "lw.db-wal", "lw.db-shm", "lr.db"]
        want = set(live) | set(local)

        rc, names, err = ls_names(mp)
        t.ok(rc == 0, "ls of the mount", err)
        t.eq(dupes(names), [], "ls lists each name once")
        t.eq(len(names), len(want), f"ls lists {MANY} catalog items and {len(local)} local names")
        t.eq(sorted(set(names) - want), [], "... no tombstone and no never-committed item")
        t.eq(sorted(want - set(names)), [], "... and misses none")

        rc, got, err = ls_l(mp)
        t.ok(rc == 0, "ls -l of the mount", err)
        t.eq(dupes([n for n, _ in got]), [], "ls -l lists each name once")
        wrong = [(n, s, live[n]) for n, s in got if n in live and s != live[n]]
        t.ok(len(got) == len(want) and not wrong, "ls -l shows every catalog item's size",
             f"{len(got)} entries, {len(wrong)} wrong sizes, e.g. {wrong[:5]}")
        lw = dict(got).get("lw.db-wal")
        t.eq(lw, os.stat(os.path.join(base, "cache1", "db", "lw.db-wal")).st_size,
             "ls -l shows a local side file's size")

        seen, wrong = [], []
        with os.scandir(mp) as it:
            for e in it:
                seen.append(e.name)
                if e.name in live and e.stat().st_size != live[e.name]:
                    wrong.append((e.name, e.stat().st_size))
                if not e.is_file():
                    wrong.append((e.name, "not a file"))
        t.ok(sorted(seen) == sorted(want) and not wrong,
             "os.scandir: each name once, regular files, catalog sizes",
             f"{len(seen)} names, {len(dupes(seen))} twice, wrong {wrong[:5]}")

        r2 = subprocess.run(["find", mp, "-maxdepth", "1", "-name", "c0001*"],
                            capture_output=True, text=True, timeout=120)
        t.eq(sorted(os.path.basename(p) for p in r2.stdout.split()),
             [cid(i) + ".db" for i in range(10, 20)], "find -maxdepth 1 -name 'c0001*'")

        for _ in range(3):
            p = subprocess.run(f"ls -1 '{mp}' | head -5", shell=True, capture_output=True,
                               text=True, timeout=120)
            ok5 = len(p.stdout.splitlines()) == 5
        t.ok(ok5, "ls | head -5 (early close) three times", p.stdout + p.stderr)
        t.ok(mnt.alive(), "the daemon is still up after early closes")
        rc, names, err = ls_names(mp)
        t.eq(len(names), len(want), "a full ls after the early closes lists everything")

        seekdir_checks(mp, want)
        w.close()
        r.close()
    t.eq(mnt.returncode, 0, "daemon exits 0 after fusermount3 -u")
    errs = [ln for ln in mnt.log_text().splitlines() if "cannot list" in ln]
    t.eq(errs, [], "no listing error in the log")


class Dirent(ctypes.Structure):
    _fields_ = [("d_ino", ctypes.c_uint64), ("d_off", ctypes.c_int64),
                ("d_reclen", ctypes.c_ushort), ("d_type", ctypes.c_ubyte),
                ("d_name", ctypes.c_char * 256)]


def seekdir_checks(mp, want):
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.opendir.restype = ctypes.c_void_p
    libc.opendir.argtypes = [ctypes.c_char_p]
    libc.readdir.restype = ctypes.POINTER(Dirent)
    libc.readdir.argtypes = [ctypes.c_void_p]
    libc.telldir.restype = ctypes.c_long
    libc.telldir.argtypes = [ctypes.c_void_p]
    libc.seekdir.argtypes = [ctypes.c_void_p, ctypes.c_long]
    libc.rewinddir.argtypes = [ctypes.c_void_p]
    libc.closedir.argtypes = [ctypes.c_void_p]

    d = libc.opendir(mp.encode())
    if not t.ok(bool(d), "opendir through libc"):
        return
    try:
        def read():
            e = libc.readdir(d)
            return e.contents.d_name.decode() if e else None
        order, tells = [], []
        for _ in range(len(want) + 10):
            tells.append(libc.telldir(d))
            n = read()
            if n is None:
                break
            order.append(n)
        names = [n for n in order if n not in (".", "..")]
        t.ok(sorted(names) == sorted(want), "libc readdir lists every name once",
             f"{len(names)} names")
        libc.rewinddir(d)
        t.eq(read(), order[0], "rewinddir: the first entry again")
        for k in (2000, 10, 1500, len(order) - 1):
            libc.seekdir(d, tells[k])
            t.eq(read(), order[k], f"seekdir to telldir of entry {k}")
    finally:
        libc.closedir(d)


# ---- memory ---------------------------------------------------------------

def memory(base):
    src = os.path.join(base, "mstore")
    mp = os.path.join(base, "mmnt")
    opts = ["node=n1", "linger=0", f"cache={base}/mcache"]
    with m.Mount(src, mp, opts, env=daemon_env_quiet_quarantine()) as mnt:
        catalog = os.path.join(src, "catalog.db")
        pid = mnt.proc.pid

        def measure(n):
            # Warm first: whole listings of this size grow what is bounded
            # but not per entry (each FUSE thread's malloc arena holding a
            # page, SQLite's page cache of the catalog, up to 2 MiB).
            for _ in range(2):
                rc, names, _ = ls_names(mp)
            t.eq(len(names), n, f"ls lists {n} items")
            with os.scandir(mp) as it:
                next(it)
                during = rss_kb(pid)
            ls_names(mp)
            return during, rss_kb(pid)

        put_items(catalog, [(cid(i), csize(i)) for i in range(SMALL)])
        d1, a1 = measure(SMALL)
        put_items(catalog, [(cid(i), csize(i)) for i in range(SMALL, BIG)])
        d2, a2 = measure(BIG)
        t.diag(f"VmRSS KiB: {SMALL} items {d1} open / {a1} after ls; "
               f"{BIG} items {d2} / {a2}")
        t.ok(d2 - d1 < RSS_BOUND_KB,
             f"a directory read one reply into: VmRSS grows < {RSS_BOUND_KB} KiB from {SMALL} to "
             f"{BIG} items", f"{d1} -> {d2} KiB")
        t.ok(a2 - a1 < RSS_BOUND_KB,
             f"after a whole ls: VmRSS grows < {RSS_BOUND_KB} KiB from {SMALL} to {BIG} items",
             f"{a1} -> {a2} KiB")


# ---- shard_keys and stats ------------------------------------------------

def object_paths(src, ident):
    out = []
    for root, _, files in os.walk(os.path.join(src, "objects")):
        rel = os.path.relpath(root, os.path.join(src, "objects"))
        for f in files:
            if f.endswith(".db") and f"/{ident}" in "/" + rel:
                out.append(os.path.join(rel, f))
    return out


def write_db(mp, ident):
    c = sqlite3.connect(os.path.join(mp, ident + ".db"), timeout=30)
    c.execute("CREATE TABLE t(x)")
    c.execute("INSERT INTO t VALUES(1)")
    c.commit()
    c.close()


def shard_and_stats(base):
    for shard in (True, False):
        src = os.path.join(base, f"sstore{int(shard)}")
        mp = os.path.join(base, f"smnt{int(shard)}")
        opts = ["node=n1", "idle=0.2", "linger=0", f"cache={base}/scache{int(shard)}"]
        if shard:
            opts.append("shard_keys")
        with m.Mount(src, mp, opts):
            raw0, s0 = stats(mp) if shard else ("", {})
            write_db(mp, "sh1")
            gen, h = m.wait_clean(os.path.join(mp, "sh1.db"))
            paths = object_paths(src, "sh1")
            if shard:
                t.ok(len(paths) == 1 and re.fullmatch(r"[0-9a-f]{2}/sh1/" + h + r"\.db",
                                                      paths[0]),
                     "shard_keys: the version is at objects/<2 hex>/<id>/<hash>.db", paths)
                raw1, s1 = stats(mp)
                t.ok(len(raw1.splitlines()) == 1 and "cost_usd" in s1 and "s3_put" in s1
                     and "ddb_write" in s1 and "lease_acquires" in s1,
                     "user.tenantfs.stats: one line of name=value pairs", raw1)
                t.eq(int(s1["puts"]) - int(s0["puts"]), 1, "stats: puts +1 after a write-back")
                t.eq(int(s1["commits"]) - int(s0["commits"]), 1, "stats: commits +1")
                t.ok(int(s1["fuse_requests"]) > int(s0["fuse_requests"]),
                     "stats: fuse_requests moves")
                t.ok("user.tenantfs.stats" in os.listxattr(mp), "listxattr of the root names it")
                r = subprocess.run(["getfattr", "--only-values", "-n", "user.tenantfs.stats",
                                    mp], capture_output=True, text=True, timeout=30)
                t.ok(r.returncode == 0 and "puts=" in r.stdout, "getfattr -n user.tenantfs.stats",
                     r.stderr)
                m.expect_errno(lambda: os.setxattr(mp, "user.tenantfs.stats", b"0"),
                               __import__("errno").ENOTSUP, "the stats attribute is read-only")
            else:
                t.ok(paths == [os.path.join("sh1", h + ".db")],
                     "without shard_keys: objects/<id>/<hash>.db", paths)


def stats_s3(base, moto):
    bucket = t.make_bucket(moto)
    src = f"s3://{bucket}/p"
    mp = os.path.join(base, "s3mnt")
    opts = ["node=n1", "idle=0.2", "linger=0", f"cache={base}/s3cache",
            f"catalog=sqlite:{base}/s3catalog.db", f"endpoint={moto}", "region=us-east-1"]
    r = m.run_tenantfs(["init", src, "-o", ",".join(opts)])
    if not t.ok(r.returncode == 0, "tenantfs init on moto", r.stderr):
        return
    with m.Mount(src, mp, opts):
        _, s0 = stats(mp)
        write_db(mp, "st1")
        m.wait_clean(os.path.join(mp, "st1.db"))
        # The version, then its version record once the commit landed
        # (cache/store/verrec.h): two PUTs; the record may follow the clean state.
        try:
            t.wait_until(lambda: int(stats(mp)[1]["s3_put"]) - int(s0["s3_put"]) >= 2,
                         timeout=10, what="the version record's PUT")
        except TimeoutError:
            pass
        time.sleep(0.3)  # a third PUT, were there one, would show by now
        _, s1 = stats(mp)
        t.eq(int(s1["s3_put"]) - int(s0["s3_put"]), 2,
             "S3: stats s3_put +2 after a write-back (the version and its record)")
        t.ok(float(s1["cost_usd"]) > float(s0["cost_usd"]), "S3: cost_usd grows",
             f"{s0['cost_usd']} -> {s1['cost_usd']}")


def main():
    m.need_fuse()
    m.tenantfs_binary()
    base = tempfile.mkdtemp(prefix="mount-readdir-", dir=t.tmp_dir())
    listing(base)
    memory(base)
    shard_and_stats(base)
    moto = os.environ.get("TFS_TEST_MOTO")
    if moto:
        stats_s3(base, moto)
    else:
        t.diag("TFS_TEST_MOTO unset: no S3 counter check")


if __name__ == "__main__":
    m.run_main(main)
