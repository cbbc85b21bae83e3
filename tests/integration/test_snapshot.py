#!/usr/bin/env python3
"""tenantfs snapshot / snapshots / restore, on the embedded store and on
moto (S3 + DynamoDB): databases written through a mount, a snapshot, then
changes (two updated, one deleted, one created), a second snapshot; the
manifests hold exactly the committed versions; a time-cut snapshot taken
later --as-of the first one's time lists the same versions; restore of one
id and of the whole first snapshot (over a tombstone too) shows the old
contents on the next mount while the database created after it stays
untouched; a restore while a mounted node holds a lease reports the holder,
restores the others and exits non-zero, and that node sees the restored
versions on its next open; --as-of on one id, and its refusals."""
# tfs-timeout: 300

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mount as m  # noqa: E402
import tfstest as t  # noqa: E402


def put(mp, ident, value):
    """Makes <ident>.db hold exactly one row, value (Python sqlite3)."""
    c = sqlite3.connect(os.path.join(mp, ident + ".db"), timeout=30)
    try:
        c.execute("CREATE TABLE IF NOT EXISTS v(x TEXT)")
        c.execute("DELETE FROM v")
        c.execute("INSERT INTO v VALUES (?)", (value,))
        c.commit()
    finally:
        c.close()


def get(mp, ident):
    c = sqlite3.connect(os.path.join(mp, ident + ".db"), timeout=30)
    try:
        return c.execute("SELECT x FROM v").fetchone()[0]
    finally:
        c.close()


def now_iso():
    """The wall clock now as restore/snapshot --as-of take it (UTC, ms)."""
    ms = int(time.time() * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


def pause():
    """Separates commit times from a cut taken on the same clock (ms)."""
    time.sleep(0.05)


class Scenario:
    def __init__(self, label, src, mp, base, admin_opts, mount_opts, read_manifest):
        self.label = label
        self.src = src
        self.mp = mp
        self.base = base
        self.admin_opts = admin_opts
        self.mount_opts = mount_opts
        self.read_manifest = read_manifest  # name -> dict, or None when absent
        self.n_mounts = 0

    def admin(self, *args, node=None):
        opts = list(self.admin_opts) + ([f"node={node}"] if node else [])
        argv = [args[0], self.src] + (["-o", ",".join(opts)] if opts else []) + list(args[1:])
        return m.run_tenantfs(argv, timeout=120)

    def mount(self, node="n1"):
        self.n_mounts += 1
        opts = list(self.mount_opts) + [f"node={node}", "idle=0.5", "linger=0.2",
                                        f"cache={self.base}/cache-{node}"]
        return m.Mount(self.src, self.mp, opts)

    def write(self, values):
        """Writes {ident: value or None (unlink)} through a mount; returns
        the hash of each written database once it is written back."""
        L = self.label
        hashes = {}
        with self.mount() as mnt:
            for ident, v in values.items():
                if v is None:
                    os.unlink(os.path.join(self.mp, ident + ".db"))
                else:
                    put(self.mp, ident, v)
            for ident, v in values.items():
                if v is None:
                    continue
                try:
                    _, h = m.wait_clean(os.path.join(self.mp, ident + ".db"))
                    # a later transaction may have been merged: the hash
                    # is final once the value reads back clean
                    hashes[ident] = h
                except TimeoutError as e:
                    t.ok(False, f"{L}: {ident}.db written back", f"{e}\n{mnt.log_text()}")
        t.eq(mnt.returncode, 0, f"{L}: daemon exits 0 after writing {sorted(values)}")
        return hashes

    def contents(self, ids, node="n1"):
        out = {}
        with self.mount(node) as _:
            listed = sorted(os.listdir(self.mp))
            for ident in ids:
                out[ident] = get(self.mp, ident) if f"{ident}.db" in listed else None
        return listed, out


def manifest_versions(man):
    return {d["id"]: (d["gen"], d["hash"], d["size"]) for d in man["databases"]}


def run(sc):
    L = sc.label
    # ---- the first state, snapshot s1 --------------------------------------
    h1 = sc.write({"a1": "one-1", "a2": "two-1", "a3": "three-1"})
    r = sc.admin("snapshot", "--name", "s1")
    t.ok(r.returncode == 0 and "snapshot s1: 3 databases" in r.stdout,
         f"{L}: snapshot s1 lists 3 databases", r.stdout + r.stderr)
    s1 = sc.read_manifest("s1")
    t.ok(s1 is not None and s1.get("format") == "tenantfs-snapshot/1",
         f"{L}: manifest _snapshots/s1.json is a tenantfs-snapshot/1 document", s1)
    if s1 is None:
        return
    v1 = manifest_versions(s1)
    t.eq({k: v[1] for k, v in v1.items()}, h1, f"{L}: s1 points at the committed hashes")
    t.ok(all(v[2] > 0 and v[0] >= 1 for v in v1.values()), f"{L}: s1 has gens and sizes", v1)
    t.eq(s1.get("count"), 3, f"{L}: s1 count")

    r = sc.admin("snapshot", "--name", "s1")
    t.ok(r.returncode != 0 and "exists already" in r.stderr,
         f"{L}: a snapshot name is never overwritten", r.stdout + r.stderr)
    t.eq(manifest_versions(sc.read_manifest("s1")), v1, f"{L}: s1 unchanged by the refusal")

    pause()
    cut1 = now_iso()
    pause()

    # ---- changes, snapshot s2 ----------------------------------------------
    h2 = sc.write({"a1": "one-2", "a2": "two-2", "a3": None, "a4": "four-2"})
    pause()
    deleted_at = now_iso()
    r = sc.admin("snapshot", "--name", "s2")
    t.ok(r.returncode == 0 and "snapshot s2: 3 databases" in r.stdout,
         f"{L}: snapshot s2 lists 3 databases (a3 deleted, a4 new)", r.stdout + r.stderr)
    s2 = sc.read_manifest("s2") or {"databases": []}
    v2 = manifest_versions(s2)
    t.eq(sorted(v2), ["a1", "a2", "a4"], f"{L}: s2 omits the tombstone")
    t.eq({k: v[1] for k, v in v2.items()}, h2, f"{L}: s2 points at the new hashes")

    # a cut in the past from the catalog's history equals the snapshot then
    r = sc.admin("snapshot", "--name", "past", "--as-of", cut1)
    past = sc.read_manifest("past") or {"databases": []}
    t.ok(r.returncode == 0, f"{L}: snapshot --as-of a past time", r.stdout + r.stderr)
    t.eq(manifest_versions(past), v1, f"{L}: the time cut at s1's time lists s1's versions")

    r = sc.admin("snapshots")
    names = [ln.split("\t")[0] for ln in r.stdout.splitlines()]
    t.ok(r.returncode == 0 and names == ["past", "s1", "s2"],
         f"{L}: snapshots lists the manifests", r.stdout + r.stderr)

    # ---- restore one id, then everything -----------------------------------
    r = sc.admin("restore", "--snapshot", "s1", "--id", "a2")
    t.ok(r.returncode == 0 and "restored a2" in r.stdout and "1 restored, 0 unchanged, 0 failed"
         in r.stdout, f"{L}: restore --id a2 from s1", r.stdout + r.stderr)
    r = sc.admin("restore", "--snapshot", "s1", "--id", "nosuch")
    t.ok(r.returncode != 0 and "not in snapshot 's1'" in r.stderr,
         f"{L}: restore of an id the snapshot lacks fails", r.stdout + r.stderr)
    r = sc.admin("restore", "--snapshot", "nosuch")
    t.ok(r.returncode != 0 and "no such snapshot" in r.stderr,
         f"{L}: restore of a missing snapshot fails", r.stdout + r.stderr)
    r = sc.admin("restore", "--snapshot", "s1")
    t.ok(r.returncode == 0 and "2 restored, 1 unchanged, 0 failed" in r.stdout,
         f"{L}: restore of all of s1 (a2 already there, a3 over its tombstone)",
         r.stdout + r.stderr)
    listed, got = sc.contents(["a1", "a2", "a3", "a4"], node="n2")
    t.eq(listed, ["a1.db", "a2.db", "a3.db", "a4.db"], f"{L}: a3 is back in the listing")
    t.eq(got, {"a1": "one-1", "a2": "two-1", "a3": "three-1", "a4": "four-2"},
         f"{L}: s1's contents are back on a fresh node, a4 (newer) untouched")

    # ---- a leased database is refused, the others restored -----------------
    with sc.mount("n1") as mnt:
        # n1's cache holds a1 and a2 at s2's versions from its earlier mount
        holder = sqlite3.connect(os.path.join(sc.mp, "a1.db"), timeout=30)
        try:
            t.eq(holder.execute("SELECT x FROM v").fetchone()[0], "one-1",
                 f"{L}: n1 sees the restored a1 on open (not its cached copy)")
            r = sc.admin("restore", "--snapshot", "s2")
            t.ok(r.returncode != 0, f"{L}: restore exits non-zero when a lease is held",
                 r.stdout + r.stderr)
            t.ok("cannot restore a1: its lease is held by node n1" in r.stderr,
                 f"{L}: the refusal names the database and the holder", r.stderr)
            t.ok("restored a2" in r.stdout and "1 failed" in r.stdout,
                 f"{L}: the other databases are restored", r.stdout)
            t.eq(holder.execute("SELECT x FROM v").fetchone()[0], "one-1",
                 f"{L}: the open a1 is untouched")
        finally:
            holder.close()
        t.eq(get(sc.mp, "a2"), "two-2", f"{L}: the mounted node sees a2 restored on open")
    t.eq(mnt.returncode, 0, f"{L}: daemon exits 0")

    # ---- --as-of on one id -------------------------------------------------
    r = sc.admin("restore", "--as-of", cut1, "--id", "a2")
    t.ok(r.returncode == 0 and "restored a2" in r.stdout,
         f"{L}: restore --as-of a time before the changes", r.stdout + r.stderr)
    r = sc.admin("restore", "--as-of", cut1, "--id", "a4")
    t.ok(r.returncode != 0 and "did not exist then" in r.stderr,
         f"{L}: --as-of before a database existed is refused", r.stdout + r.stderr)
    r = sc.admin("restore", "--as-of", deleted_at, "--id", "a3")
    t.ok(r.returncode != 0 and "did not exist then" in r.stderr,
         f"{L}: --as-of while a database was deleted is refused", r.stdout + r.stderr)
    r = sc.admin("restore", "--as-of", "@1000000000", "--id", "a1")
    t.ok(r.returncode != 0 and "did not exist then" in r.stderr,
         f"{L}: --as-of before anything existed is refused", r.stdout + r.stderr)
    r = sc.admin("restore", "--as-of", "yesterday", "--id", "a1")
    t.ok(r.returncode == 2 and "invalid --as-of" in r.stderr, f"{L}: a bad TIME is a usage error",
         r.stderr)
    _, got = sc.contents(["a1", "a2", "a4"], node="n2")
    t.eq(got, {"a1": "one-1", "a2": "two-1", "a4": "four-2"},
         f"{L}: a2 is at its version as of the cut")


def embedded(tmp):
    base = tempfile.mkdtemp(prefix="snapshot-local-", dir=tmp)
    src = os.path.join(base, "store")

    def read_manifest(name):
        p = os.path.join(src, "objects", "_snapshots", name + ".json")
        if not os.path.exists(p):
            return None
        with open(p) as f:
            return json.load(f)

    sc = Scenario("embedded", src, os.path.join(base, "mnt"), base, [], [], read_manifest)
    run(sc)
    r = m.run_tenantfs(["snapshot", os.path.join(base, "typo")])
    t.ok(r.returncode != 0 and not os.path.exists(os.path.join(base, "typo")),
         "embedded: snapshot of a missing store fails and creates nothing", r.stderr)


def sharded(tmp):
    """The same keys as a mount with -o shard_keys: snapshot sizes and
    restore checks look the versions up under the shard."""
    r = m.run_tenantfs(["--help"])
    if "shard_keys" not in r.stdout:
        t.diag("this build has no -o shard_keys: the sharded layout is not tried")
        return
    base = tempfile.mkdtemp(prefix="snapshot-shard-", dir=tmp)
    src = os.path.join(base, "store")
    sc = Scenario("sharded", src, os.path.join(base, "mnt"), base, ["shard_keys"],
                  ["shard_keys"], lambda name: None)
    sc.write({"s1": "one", "s2": "two"})
    r = sc.admin("snapshot", "--name", "before")
    t.ok(r.returncode == 0 and "2 databases" in r.stdout, "sharded: snapshot",
         r.stdout + r.stderr)
    sc.write({"s1": "one-b", "s2": None})
    r = sc.admin("restore", "--snapshot", "before")
    t.ok(r.returncode == 0 and "2 restored" in r.stdout,
         "sharded: restore finds the versions under their shard", r.stdout + r.stderr)
    _, got = sc.contents(["s1", "s2"])
    t.eq(got, {"s1": "one", "s2": "two"}, "sharded: contents restored")
    r = m.run_tenantfs(["restore", src, "--snapshot", "before"])
    t.ok(r.returncode != 0 and "not in the store" in r.stderr,
         "sharded: without -o shard_keys the versions are not found, nothing restored",
         r.stdout + r.stderr)


def on_moto(tmp, moto):
    base = tempfile.mkdtemp(prefix="snapshot-s3-", dir=tmp)
    bucket = t.make_bucket(moto)
    table = t.unique("snap")
    src = f"s3://{bucket}/users"
    aws = [f"catalog=dynamodb:{table}", f"endpoint={moto}", f"dynamodb_endpoint={moto}",
           "region=us-east-1"]
    r = m.run_tenantfs(["init", src, "-o", ",".join(aws)])
    if not t.ok(r.returncode == 0, "moto: tenantfs init creates the table", r.stderr):
        return
    s3 = t.s3_client(moto)

    def read_manifest(name):
        try:
            body = s3.get_object(Bucket=bucket, Key=f"users/_snapshots/{name}.json")["Body"]
        except s3.exceptions.NoSuchKey:
            return None
        return json.loads(body.read())

    sc = Scenario("moto", src, os.path.join(base, "mnt"), base, aws, aws, read_manifest)
    run(sc)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    t.ok(all(k.startswith("users/") for k in keys), "moto: every object under the prefix", keys)


def main():
    m.need_fuse()
    m.tenantfs_binary()
    tmp = t.tmp_dir()
    embedded(tmp)
    sharded(tmp)
    moto = os.environ.get("TFS_TEST_MOTO")
    if moto:
        on_moto(tmp, moto)
    else:
        t.diag("TFS_TEST_MOTO unset: the S3 + DynamoDB half is skipped")


if __name__ == "__main__":
    m.run_main(main, sync=True)
