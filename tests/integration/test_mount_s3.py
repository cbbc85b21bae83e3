#!/usr/bin/env python3
"""tenantfs mounted on S3 + DynamoDB (moto_server): bucket made with boto3,
table with `tenantfs init`; sqlite3 shell and Python sqlite3 in rollback and
WAL mode; the object lands in the bucket under its content hash and passes
integrity_check; the catalog item points at it; listing, xattrs, refused
operations, two concurrent writers, write-back at unmount; a second node
with an empty cache reads everything back."""
# tfs-timeout: 400

import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mount as m  # noqa: E402
import tfstest as t  # noqa: E402

ROWS = 200


def main():
    moto = t.need_env("TFS_TEST_MOTO")
    m.need_fuse()
    m.tenantfs_binary()
    base = tempfile.mkdtemp(prefix="mount-s3-", dir=t.tmp_dir())
    mp = os.path.join(base, "mnt")
    work = os.path.join(base, "work")
    os.makedirs(work)
    bucket = t.make_bucket(moto)
    table = t.unique("tm")
    prefix = "users"
    src = f"s3://{bucket}/{prefix}"
    aws = [f"catalog=dynamodb:{table}", f"endpoint={moto}", f"dynamodb_endpoint={moto}",
           "region=us-east-1"]
    r = m.run_tenantfs(["init", src, "-o", ",".join(aws)])
    if not t.ok(r.returncode == 0, "tenantfs init creates the table", r.stderr):
        return
    s3 = t.s3_client(moto)
    ddb = t.ddb_client(moto)

    def object_for(h):
        resp = s3.list_objects_v2(Bucket=bucket, Prefix=prefix + "/")
        for o in resp.get("Contents", []):
            if h in o["Key"] and o["Key"].endswith(".db"):  # not a version record
                return o["Key"]
        return None

    opts = aws + ["node=n1", "idle=0.5", "linger=0.2", f"cache={base}/cache1"]
    with m.Mount(src, mp, opts) as mnt:
        t.eq(os.listdir(mp), [], "a fresh bucket lists nothing")
        m.write_rollback_cli(mp, "u1", ROWS)
        m.write_wal_python(mp, "u2", ROWS)
        for ident in ("u1", "u2"):
            try:
                gen, h = m.wait_clean(os.path.join(mp, ident + ".db"))
            except TimeoutError as e:
                t.ok(False, f"{ident}.db written back", f"{e}\n{mnt.log_text()}")
                continue
            key = object_for(h)
            t.ok(key is not None and key.startswith(prefix + "/"),
                 f"{ident}.db object under the prefix, named by its hash", key)
            if key:
                local = os.path.join(work, ident + ".obj")
                s3.download_file(bucket, key, local)
                t.ok(m.integrity_ok(local), f"{ident}.db object passes integrity_check")
            item = ddb.get_item(TableName=table, Key={"id": {"S": ident}},
                                ConsistentRead=True).get("Item", {})
            t.eq(item.get("hash", {}).get("S"), h, f"{ident}: catalog item points at it")
        m.check_listing(mp, ["u1", "u2"])
        m.check_xattrs(mp, "u1")
        m.check_namespace_rules(mp, "u1")
        m.check_concurrent_writers(mp, "cw", wal=True, n=100)
        m.write_rollback_cli(mp, "late", ROWS)
    t.eq(mnt.returncode, 0, "daemon exits 0 after fusermount3 -u")
    item = ddb.get_item(TableName=table, Key={"id": {"S": "late"}},
                        ConsistentRead=True).get("Item", {})
    t.ok(item.get("hash", {}).get("S") and t.ddb_lease_free(ddb, table, item),
         "unmount wrote back and freed the lease (released, or its session ended)", item)

    # another node, empty cache
    opts2 = aws + ["node=n2", "idle=0.5", "linger=0", f"cache={base}/cache2"]
    with m.Mount(src, mp, opts2):
        for ident in ("u1", "u2", "late"):
            m.check_rows(os.path.join(mp, ident + ".db"), ident, ROWS, "node n2")
        c = m.sqlite3.connect(os.path.join(mp, "cw.db"))
        t.eq(c.execute("SELECT n FROM c").fetchone()[0], 200, "node n2: counter")
        c.close()
        t.eq(sorted(os.listdir(mp)), ["cw.db", "late.db", "u1.db", "u2.db"],
             "node n2 lists the catalog")


if __name__ == "__main__":
    m.run_main(main, sync=True)
