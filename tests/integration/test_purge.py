#!/usr/bin/env python3
"""tenantfs purge on the embedded store (SQLite catalog) and on moto (S3 +
DynamoDB), through real mounts: refused, naming the holder and erasing
nothing, while a node holds the lease; without --yes a usage error (exit
2); then every trace is gone: no object or version record under the
database's folder, no catalog item, no entry in the snapshot manifest
(rewritten: the other database's entry stays and still restores), no file
on the next mount; another database is untouched."""
# tfs-timeout: 300

import json
import os
import sqlite3
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mount as m  # noqa: E402
import tfstest as t  # noqa: E402


def put(mp, ident, value):
    c = sqlite3.connect(os.path.join(mp, ident + ".db"), timeout=30)
    try:
        c.execute("CREATE TABLE IF NOT EXISTS v(x TEXT)")
        c.execute("DELETE FROM v")
        c.execute("INSERT INTO v VALUES (?)", (value,))
        c.commit()
    finally:
        c.close()


def run(L, src, base, opts, list_keys, item_exists, read_manifest):
    mp = os.path.join(base, "mnt")

    def admin(*args):
        argv = [args[0], src] + (["-o", ",".join(opts)] if opts else []) + list(args[1:])
        return m.run_tenantfs(argv, timeout=120)

    mopts = list(opts) + ["node=n1", "idle=0.2", "linger=0.2", f"cache={base}/cache-n1"]
    with m.Mount(src, mp, mopts) as mnt:
        for i in range(1, 4):
            put(mp, "p1", f"secret-{i}")
            m.wait_clean(os.path.join(mp, "p1.db"), min_gen=i)
        put(mp, "keep1", "kept")
        m.wait_clean(os.path.join(mp, "keep1.db"))
        r = admin("snapshot", "--name", "s1")
        t.ok(r.returncode == 0 and "2 databases" in r.stdout, f"{L}: snapshot of both",
             r.stdout + r.stderr)
        # p1 open on n1: its lease is held
        conn = sqlite3.connect(os.path.join(mp, "p1.db"), timeout=30)
        conn.execute("SELECT count(*) FROM v").fetchone()
        before = sorted(list_keys())
        r = admin("purge", "--id", "p1", "--yes")
        t.ok(r.returncode == 1 and "held by node" in r.stderr and "nothing was erased" in
             r.stderr, f"{L}: purge refused while n1 holds the lease, naming it", r.stderr)
        t.eq(sorted(list_keys()), before, f"{L}: the refused purge erased nothing")
        t.ok(item_exists("p1"), f"{L}: the catalog item is still there")
        conn.close()
    t.eq(mnt.returncode, 0, f"{L}: daemon exits 0")

    t.ok(any("/p1/" in "/" + k and k.endswith(".ver") for k in list_keys()),
         f"{L}: p1 has version records before the purge")
    for args, what in ((["--id", "p1"], "no --yes"), (["--yes"], "no --id"),
                       (["--id", "p1", "--id", "keep1", "--yes"], "two --id"),
                       (["--id", "../p1", "--yes"], "a bad id")):
        r = admin("purge", *args)
        t.ok(r.returncode == 2 and ("usage" in r.stderr or "invalid" in r.stderr),
             f"{L}: purge with {what}: exit 2 and a message", r.stderr)
    t.ok(item_exists("p1"), f"{L}: usage errors erased nothing")

    r = admin("purge", "--id", "p1", "--yes")
    t.ok(r.returncode == 0 and "purged p1: 3 versions" in r.stdout and
         "1 snapshot manifests" in r.stdout, f"{L}: purge", r.stdout + r.stderr)
    keys = list_keys()
    t.eq([k for k in keys if "/p1/" in "/" + k], [], f"{L}: no object of p1 is left")
    t.ok(any("/keep1/" in "/" + k for k in keys), f"{L}: keep1's objects are untouched")
    t.ok(not any(k.endswith(".rewrite") for k in keys), f"{L}: no side copy is left")
    t.ok(not item_exists("p1"), f"{L}: the catalog item of p1 is gone")
    man = read_manifest("s1")
    ids = [d["id"] for d in man["databases"]] if man else None
    t.eq(ids, ["keep1"], f"{L}: the manifest no longer names p1, still names keep1")
    t.ok(man and man.get("count") == 1 and "secret" not in json.dumps(man),
         f"{L}: the manifest's count is rewritten")
    r = admin("history", "--id", "p1")
    t.ok(r.returncode == 0 and "no catalog item; 0 version objects, 0 version records"
         in r.stdout, f"{L}: history finds nothing of p1", r.stdout + r.stderr)
    r = admin("restore", "--snapshot", "s1")
    t.ok(r.returncode == 0 and "1 unchanged" in r.stdout and " p1" not in r.stdout,
         f"{L}: the rewritten snapshot restores (keep1 only)", r.stdout + r.stderr)
    with m.Mount(src, mp, mopts) as _:
        t.ok("p1.db" not in os.listdir(mp) and "keep1.db" in os.listdir(mp),
             f"{L}: the next mount has no p1.db, still keep1.db")
    r = admin("verify")
    t.ok(r.returncode == 0, f"{L}: verify is clean after the purge", r.stdout + r.stderr)


def embedded(tmp):
    base = tempfile.mkdtemp(prefix="purge-local-", dir=tmp)
    src = os.path.join(base, "store")

    def list_keys():
        root = os.path.join(src, "objects")
        out = []
        for d, _, files in os.walk(root):
            out += [os.path.relpath(os.path.join(d, f), root) for f in files]
        return out

    def item_exists(ident):
        c = sqlite3.connect(os.path.join(src, "catalog.db"), timeout=30)
        try:
            return c.execute("SELECT 1 FROM items WHERE id = ?", (ident,)).fetchone() is not None
        finally:
            c.close()

    def read_manifest(name):
        p = os.path.join(src, "objects", "_snapshots", name + ".json")
        if not os.path.exists(p):
            return None
        with open(p) as f:
            return json.load(f)

    run("embedded", src, base, [], list_keys, item_exists, read_manifest)


def on_moto(tmp, moto):
    store = m.init_moto_store(tmp, moto, "purge")
    if not store:
        return
    base, bucket, table, src, aws = store
    s3 = t.s3_client(moto)
    ddb = t.ddb_client(moto)

    def list_keys():
        return t.bucket_keys(s3, bucket)

    def item_exists(ident):
        return "Item" in ddb.get_item(TableName=table, Key={"id": {"S": ident}})

    def read_manifest(name):
        try:
            body = s3.get_object(Bucket=bucket, Key=f"users/_snapshots/{name}.json")["Body"]
        except s3.exceptions.NoSuchKey:
            return None
        return json.loads(body.read())

    run("moto", src, base, aws, list_keys, item_exists, read_manifest)


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
