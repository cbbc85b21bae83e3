#!/usr/bin/env python3
"""tenantfs verify, on the embedded store and on moto (S3 + DynamoDB):
databases written through a mount (one then deleted), a snapshot; verify
and verify --deep pass on the healthy store and change nothing; then one
version deleted, one truncated, one with a byte flipped (same size), and
two objects nobody refers to: verify names each (the flipped byte by its
hash, and --deep also by integrity_check), names the snapshot's missing
version, and exits 1; --id restricts the check (and the orphan search) to
those databases; usage errors exit 2 with the usage line and change
nothing; --deep leaves nothing in TMPDIR. On moto also: a flipped byte
under an intact x-amz-meta-xxh3 (bit rot the HEAD cannot see) is found by
--deep only."""
# tfs-timeout: 300

import os
import sqlite3
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mount as m  # noqa: E402
import tfstest as t  # noqa: E402

PAGE = 4096
STRAY_HASH = "0123456789abcdef0123456789abcdef"
IDS = ["a1", "a2", "a3", "a4", "a5", "a6", "a7"]


def fill(mp, ident, n):
    """Makes <ident>.db hold n rows of 1000 bytes: several b-tree pages,
    so a flipped byte in the second page is a corruption SQLite sees."""
    c = sqlite3.connect(os.path.join(mp, ident + ".db"), timeout=30)
    try:
        c.execute(f"PRAGMA page_size={PAGE}")
        c.execute("CREATE TABLE v(i INTEGER PRIMARY KEY, x BLOB)")
        c.executemany("INSERT INTO v(x) VALUES (randomblob(1000))", [()] * n)
        c.commit()
    finally:
        c.close()


def flipped(data):
    """data with the first byte of page 2 (the table's b-tree page type)
    changed: same size, other hash, and integrity_check fails."""
    b = bytearray(data)
    b[PAGE] ^= 0xFF
    return bytes(b)


class Store:
    """The object store of one scenario, seen from outside tenantfs."""

    def keys(self):
        raise NotImplementedError

    def read(self, key):
        raise NotImplementedError

    def write(self, key, data, hash_meta=None):
        raise NotImplementedError

    def delete(self, key):
        raise NotImplementedError


class LocalStore(Store):
    def __init__(self, src):
        self.root = os.path.join(src, "objects")

    def keys(self):
        out = {}
        for d, _, files in os.walk(self.root):
            for f in files:
                p = os.path.join(d, f)
                out[os.path.relpath(p, self.root)] = os.path.getsize(p)
        return out

    def read(self, key):
        with open(os.path.join(self.root, key), "rb") as f:
            return f.read()

    def write(self, key, data, hash_meta=None):
        p = os.path.join(self.root, key)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)

    def delete(self, key):
        os.unlink(os.path.join(self.root, key))


class S3Store(Store):
    def __init__(self, s3, bucket):
        self.s3 = s3
        self.bucket = bucket

    def keys(self):
        out = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            for o in page.get("Contents", []):
                out[o["Key"]] = o["Size"]
        return out

    def read(self, key):
        return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def write(self, key, data, hash_meta=None):
        meta = {"xxh3": hash_meta} if hash_meta else {}
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, Metadata=meta)

    def delete(self, key):
        self.s3.delete_object(Bucket=self.bucket, Key=key)


class Scenario:
    def __init__(self, label, src, base, opts, store, key_prefix):
        self.label = label
        self.src = src
        self.base = base
        self.mp = os.path.join(base, "mnt")
        self.opts = opts
        self.store = store
        self.kp = key_prefix  # "users/" or ""
        self.tmpdir = os.path.join(base, "tmp")
        os.makedirs(self.tmpdir, exist_ok=True)

    def admin(self, *args, tmpdir=None):
        argv = [args[0], self.src] + (["-o", ",".join(self.opts)] if self.opts else [])
        env = dict(os.environ, TMPDIR=tmpdir or self.tmpdir)
        return m.run_tenantfs(argv + list(args[1:]), timeout=120, env=m._daemon_env(env))

    def write(self):
        """a1..a7 with 8 rows, a6 deleted; returns {id: (gen, hash)}."""
        L = self.label
        out = {}
        opts = list(self.opts) + ["node=n1", "idle=0.5", "linger=0.2",
                                  f"cache={self.base}/cache"]
        with m.Mount(self.src, self.mp, opts) as mnt:
            for ident in IDS:
                fill(self.mp, ident, 8)
            for ident in IDS:
                try:
                    out[ident] = m.wait_clean(os.path.join(self.mp, ident + ".db"))
                except TimeoutError as e:
                    t.ok(False, f"{L}: {ident}.db written back", f"{e}\n{mnt.log_text()}")
            os.unlink(os.path.join(self.mp, "a6.db"))
        t.eq(mnt.returncode, 0, f"{L}: daemon exits 0 after writing the databases")
        return out

    def key(self, ident, h):
        return f"{self.kp}{ident}/{h}.db"


def lines(r, word):
    return [ln for ln in r.stdout.splitlines() if ln.startswith(word + " ")]


def run(sc, moto):
    L = sc.label
    vers = sc.write()
    if len(vers) != len(IDS):
        return
    r = sc.admin("snapshot", "--name", "s1")
    t.ok(r.returncode == 0, f"{L}: snapshot s1", r.stdout + r.stderr)

    # ---- healthy ----------------------------------------------------------
    before = sc.store.keys()
    r = sc.admin("verify")
    t.ok(r.returncode == 0 and "verify: 6 databases checked" in r.stdout and
         " 0 problems" in r.stdout, f"{L}: verify passes on a healthy store (the tombstone "
         "skipped)", r.stdout + r.stderr)
    t.eq([ln for ln in r.stdout.splitlines() if not ln.startswith("verify: ")], [],
         f"{L}: a healthy store prints no problem line")
    r = sc.admin("verify", "--deep")
    t.ok(r.returncode == 0 and " 0 problems" in r.stdout,
         f"{L}: verify --deep passes (integrity_check ok on every version)",
         r.stdout + r.stderr)
    t.eq(sc.store.keys(), before, f"{L}: verify and verify --deep change nothing in the store")
    t.eq(os.listdir(sc.tmpdir), [], f"{L}: --deep leaves nothing in TMPDIR")

    # ---- usage errors change nothing --------------------------------------
    for args, label in [(["--bogus"], "an unknown flag"), (["--id"], "--id without a value"),
                        (["--id", "no/such"], "an invalid id"),
                        (["--name", "x"], "a flag of another command"),
                        (["--as-of", "@1"], "--as-of")]:
        r = sc.admin("verify", *args)
        t.ok(r.returncode == 2 and "usage: tenantfs verify SOURCE" in r.stderr,
             f"{L}: {label} is a usage error (exit 2, usage line)", r.stdout + r.stderr)
    r = m.run_tenantfs(["verify"])
    t.ok(r.returncode == 2 and "usage: tenantfs verify SOURCE" in r.stderr,
         f"{L}: verify without SOURCE is a usage error", r.stderr)
    r = sc.admin("snapshot", "--deep")
    t.ok(r.returncode == 2, f"{L}: --deep is verify's alone", r.stdout + r.stderr)
    t.eq(sc.store.keys(), before, f"{L}: the usage errors changed nothing")

    # ---- damage ---------------------------------------------------------
    k = {i: sc.key(i, vers[i][1]) for i in vers}
    g = {i: vers[i][0] for i in vers}
    sc.store.delete(k["a1"])
    data2 = sc.store.read(k["a2"])
    sc.store.write(k["a2"], data2[: len(data2) // 2], hash_meta=vers["a2"][1])
    data3 = sc.store.read(k["a3"])
    # another object under the key: the store keeps no hash of it (local),
    # or none that matches (S3: written without x-amz-meta-xxh3)
    sc.store.write(k["a3"], flipped(data3))
    orphan1 = sc.key("a1", STRAY_HASH)
    orphan2 = f"{sc.kp}stray.bin"
    sc.store.write(orphan1, b"not a version anybody named")
    sc.store.write(orphan2, b"x" * 10)
    if moto:
        # bit rot under an intact stored hash: a HEAD cannot see it
        data4 = sc.store.read(k["a4"])
        sc.store.write(k["a4"], flipped(data4), hash_meta=vers["a4"][1])
        # another object with a stored hash of its own: the HEAD sees it
        data7 = sc.store.read(k["a7"])
        sc.store.write(k["a7"], flipped(data7), hash_meta="f" * 32)
    damaged = sc.store.keys()

    r = sc.admin("verify")
    out = r.stdout
    t.eq(r.returncode, 1, f"{L}: verify exits 1 on a damaged store")
    t.eq(lines(r, "missing")[:1], [f"missing a1 gen {g['a1']} key {k['a1']}"],
         f"{L}: the deleted version is named missing")
    t.ok(f"missing a1 gen {g['a1']} key {k['a1']} (named by snapshot s1)" in out,
         f"{L}: ... and as a version the snapshot names", out)
    t.ok(any(ln.startswith(f"size a2 gen {g['a2']} key {k['a2']}: {len(data2) // 2} bytes in "
                           f"the store, {len(data2)} in the catalog") for ln in lines(r, "size")),
         f"{L}: the truncated version is named by its size", out)
    t.ok(any(ln.startswith(f"hash a3 gen {g['a3']} key {k['a3']}: ") and vers["a3"][1] in ln
             for ln in lines(r, "hash")), f"{L}: the flipped byte is found by the hash", out)
    t.eq(sorted(lines(r, "orphan")), sorted([f"orphan {orphan1} (27 bytes)",
                                             f"orphan {orphan2} (10 bytes)"]),
         f"{L}: both objects nobody refers to are orphans, the manifest is not")
    t.eq(lines(r, "corrupt"), [], f"{L}: without --deep nothing runs integrity_check")
    if moto:
        t.ok(f"hash a7 gen {g['a7']} key {k['a7']}: the store's {'f' * 32}, the catalog's "
             f"{vers['a7'][1]}" in lines(r, "hash"),
             f"{L}: a stored hash other than the catalog's is found by the HEAD", out)
        t.ok(not [ln for ln in out.splitlines() if ln.split(" ")[1:2] == ["a4"]],
             f"{L}: bit rot under an intact stored hash passes a HEAD "
             "(documented: --deep finds it)", out)
    n_problems = len([ln for ln in out.splitlines() if not ln.startswith("verify: ")])
    t.ok("verify: 6 databases checked, " in out and f", {n_problems} problems" in out,
         f"{L}: the summary counts the databases and the problem lines", out)

    r = sc.admin("verify", "--deep")
    out = r.stdout
    t.eq(r.returncode, 1, f"{L}: verify --deep exits 1")
    t.ok(any(ln.startswith(f"hash a3 gen {g['a3']} key {k['a3']}: ") for ln in lines(r, "hash")),
         f"{L}: --deep finds the flipped byte by the hash", out)
    t.ok(any(ln.startswith(f"corrupt a3 gen {g['a3']} key {k['a3']}: integrity_check says ")
             for ln in lines(r, "corrupt")), f"{L}: ... and by integrity_check", out)
    if moto:
        t.ok(any(ln.startswith(f"hash a4 gen {g['a4']} key {k['a4']}: the bytes hash to ")
                 for ln in lines(r, "hash")) and
             any(ln.startswith(f"corrupt a4 gen {g['a4']}") for ln in lines(r, "corrupt")),
             f"{L}: --deep finds bit rot under an intact stored hash", out)
    t.ok(f"missing a1 gen {g['a1']}" in out and f"size a2 gen {g['a2']}" in out,
         f"{L}: --deep names the missing and the truncated versions too", out)
    t.eq(os.listdir(sc.tmpdir), [], f"{L}: --deep leaves nothing in TMPDIR")

    # ---- --id -------------------------------------------------------------
    r = sc.admin("verify", "--id", "a5")
    t.ok(r.returncode == 0 and "verify: 1 databases checked" in r.stdout and
         " 0 problems" in r.stdout, f"{L}: --id a5 checks only the healthy a5: exit 0",
         r.stdout + r.stderr)
    r = sc.admin("verify", "--id", "a2", "--id", "a5", "--deep")
    t.ok(r.returncode == 1 and "verify: 2 databases checked" in r.stdout and
         lines(r, "size") and not lines(r, "missing") and not lines(r, "hash") and
         not lines(r, "orphan"), f"{L}: --id a2 --id a5 names a2's problem only",
         r.stdout + r.stderr)
    r = sc.admin("verify", "--id", "a1")
    t.ok(r.returncode == 1 and lines(r, "orphan") == [f"orphan {orphan1} (27 bytes)"] and
         lines(r, "missing"), f"{L}: --id a1 looks for orphans in a1's folder only",
         r.stdout + r.stderr)
    r = sc.admin("verify", "--id", "a6")
    t.ok(r.returncode == 0 and "verify: 0 databases checked" in r.stdout and
         "a6 skipped: deleted" in r.stderr, f"{L}: --id of a tombstone is skipped, said so",
         r.stdout + r.stderr)
    r = sc.admin("verify", "--id", "nosuch")
    t.ok(r.returncode == 1 and "missing nosuch: no such database in the catalog" in r.stdout,
         f"{L}: --id of a database the catalog lacks is a problem", r.stdout + r.stderr)
    t.eq(sc.store.keys(), damaged, f"{L}: verify deleted and repaired nothing")


def embedded(tmp):
    base = tempfile.mkdtemp(prefix="verify-local-", dir=tmp)
    src = os.path.join(base, "store")
    run(Scenario("embedded", src, base, [], LocalStore(src), ""), moto=False)
    r = m.run_tenantfs(["verify", os.path.join(base, "typo")])
    t.ok(r.returncode == 1 and not os.path.exists(os.path.join(base, "typo")),
         "embedded: verify of a missing store fails and creates nothing", r.stderr)


def on_moto(tmp, moto):
    base = tempfile.mkdtemp(prefix="verify-s3-", dir=tmp)
    bucket = t.make_bucket(moto)
    table = t.unique("verify")
    src = f"s3://{bucket}/users"
    aws = [f"catalog=dynamodb:{table}", f"endpoint={moto}", f"dynamodb_endpoint={moto}",
           "region=us-east-1"]
    r = m.run_tenantfs(["init", src, "-o", ",".join(aws)])
    if not t.ok(r.returncode == 0, "moto: tenantfs init creates the table", r.stderr):
        return
    s3 = t.s3_client(moto)
    # outside the prefix: never listed, never an orphan
    s3.put_object(Bucket=bucket, Key="elsewhere/x.db", Body=b"x")
    run(Scenario("moto", src, base, aws, S3Store(s3, bucket), "users/"), moto=True)


def main():
    m.need_fuse()
    m.tenantfs_binary()
    tmp = t.tmp_dir()
    embedded(tmp)
    moto = os.environ.get("TFS_TEST_MOTO")
    if moto:
        on_moto(tmp, moto)
    else:
        t.diag("TFS_TEST_MOTO unset: the S3 + DynamoDB half is skipped")


if __name__ == "__main__":
    m.run_main(main, sync=True)
