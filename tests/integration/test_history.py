#!/usr/bin/env python3
"""Version records, `tenantfs history` and `tenantfs restore --as-of`
beyond the catalog item's last 8 commits, on the embedded store (SQLite
catalog) and on moto (S3 + DynamoDB): 24 commits of one database through a
real mount leave 24 version records beside the versions; history lists
every gen with its node and gc's verdict (current, within --keep, not
protected with a short --keep); restore --as-of a time 21 commits back
brings that content back, and the next mount reads it; snapshot --as-of
that time names that version (from the records, not flagged
short_history) and leaves out a database created after it and committed
more than 8 times since; the catalog item does not grow with the commits; verify calls the records no orphans; bad
usage exits 2 with a usage message and changes nothing."""
# tfs-timeout: 400

import os
import re
import sqlite3
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mount as m  # noqa: E402
import tfstest as t  # noqa: E402

N = 24


def put(mp, ident, value):
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
    ms = int(time.time() * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


def run(L, src, base, opts, list_keys, item_size):
    mp = os.path.join(base, "mnt")

    def admin(*args):
        argv = [args[0], src] + (["-o", ",".join(opts)] if opts else []) + list(args[1:])
        return m.run_tenantfs(argv, timeout=120)

    cut = None
    size_mid = None
    gens = {}
    zgen = 0
    mopts = list(opts) + ["node=n1", "idle=0.2", "linger=0.2", f"cache={base}/cache-n1"]
    with m.Mount(src, mp, mopts) as mnt:
        path = os.path.join(mp, "h.db")
        for i in range(1, N + 1):
            put(mp, "h", f"v{i}")
            try:
                g, _ = m.wait_clean(path, min_gen=len(gens) + 1)
            except TimeoutError as e:
                t.ok(False, f"{L}: commit {i} written back", f"{e}\n{mnt.log_text()}")
                return
            gens[i] = g
            if i > 3:
                # z: created after the cut, committed more than 8 times
                put(mp, "z", f"z{i}")
                try:
                    zgen, _ = m.wait_clean(os.path.join(mp, "z.db"), min_gen=zgen + 1)
                except TimeoutError as e:
                    t.ok(False, f"{L}: z commit {i} written back", f"{e}\n{mnt.log_text()}")
                    return
            if i == 3:
                # S3 store times have whole seconds
                time.sleep(1.2)
                cut = now_iso()
                time.sleep(1.2)
            if i == 12:
                size_mid = item_size()
            time.sleep(0.3)
        size_after = item_size()
    t.eq(mnt.returncode, 0, f"{L}: daemon exits 0 after {N} commits")
    recs = [k for k in list_keys() if k.endswith(".ver") and k.split("/")[-2] == "h"]
    t.eq(len(recs), gens[N], f"{L}: one version record per commit")
    t.ok(size_mid is not None and size_after is not None and size_after <= size_mid + 16,
         f"{L}: the catalog item does not grow with the commits ({size_mid} bytes after 12, "
         f"{size_after} after {N})")

    r = admin("history", "--id", "h")
    out = r.stdout
    t.ok(r.returncode == 0 and f"gen {gens[N]} " in out and "gen 1 " in out,
         f"{L}: history lists every gen, the first one too", out + r.stderr)
    cur = [ln for ln in out.splitlines() if ln.startswith(f"gen {gens[N]} ")]
    t.ok(cur and "protected: current" in cur[0] and "node n1" in cur[0],
         f"{L}: the current gen: protected as current, its node", cur)
    old = [ln for ln in out.splitlines() if ln.startswith("gen 2 ")]
    t.ok(old and "protected: current within --keep" in old[0] and " bytes " in old[0],
         f"{L}: an old gen within the default --keep is protected", old)
    time.sleep(1.2)
    r = admin("history", "--id", "h", "--keep", "1s", "--grace", "0s")
    old = [ln for ln in r.stdout.splitlines() if ln.startswith("gen 2 ")]
    t.ok(r.returncode == 0 and old and "not protected" in old[0],
         f"{L}: with --keep 1s an old gen is not protected", r.stdout + r.stderr)

    # ---- a snapshot and a restore 21 commits back: beyond the item's 8 ------
    r = admin("snapshot", "--as-of", cut, "--name", "asof")
    t.ok(r.returncode == 0 and "snapshot asof: 1 databases as of" in r.stdout and
         "oldest known" not in r.stdout,
         f"{L}: snapshot --as-of {N - 3} commits back lists h alone (z came later), "
         "none flagged short_history", r.stdout + r.stderr)
    r = admin("restore", "--as-of", cut, "--id", "h")
    t.ok(r.returncode == 0 and re.search(rf"restored h: the version of gen {gens[3]} ",
                                         r.stdout),
         f"{L}: restore --as-of {N - 3} commits back", r.stdout + r.stderr)
    with m.Mount(src, mp, mopts) as _:
        t.eq(get(mp, "h"), "v3", f"{L}: the next mount reads the restored content")
    r = admin("restore", "--snapshot", "asof", "--id", "h")
    t.ok(r.returncode == 0 and f"unchanged h: gen {gens[3]}'s version" in r.stdout,
         f"{L}: the snapshot --as-of names gen {gens[3]}'s version (current again after the "
         "restore)", r.stdout + r.stderr)
    r = admin("history", "--id", "h")
    t.ok(f"gen {gens[N] + 1} " in r.stdout and "node restore" in r.stdout,
         f"{L}: the restore's commit has its record (node restore)", r.stdout)
    r = admin("verify", "--id", "h")
    t.ok(r.returncode == 0 and "orphan" not in r.stdout,
         f"{L}: verify does not call version records orphans", r.stdout + r.stderr)

    # ---- usage -----------------------------------------------------------------
    before = sorted(list_keys())
    for args, what in ((["history"], "no --id"),
                       (["history", "--id", "h", "--id", "x"], "two --id"),
                       (["history", "--id", "h", "--keep", "soon"], "a bad --keep"),
                       (["history", "--id", "h", "--grace", "-1s"], "a bad --grace"),
                       (["history", "--id", "../x"], "a bad id")):
        r = admin(*args)
        t.ok(r.returncode == 2 and ("usage" in r.stderr or "invalid" in r.stderr),
             f"{L}: history with {what}: exit 2 and a message", r.stderr)
    r = admin("restore", "--as-of", cut, "--id", "h", "--keep", "1d")
    t.eq(r.returncode, 2, f"{L}: restore takes no --keep")
    t.eq(sorted(list_keys()), before, f"{L}: bad usage changed nothing in the store")


def embedded(tmp):
    base = tempfile.mkdtemp(prefix="history-local-", dir=tmp)
    src = os.path.join(base, "store")

    def list_keys():
        root = os.path.join(src, "objects")
        out = []
        for d, _, files in os.walk(root):
            out += [os.path.relpath(os.path.join(d, f), root) for f in files]
        return out

    def item_size():
        c = sqlite3.connect(os.path.join(src, "catalog.db"), timeout=30)
        try:
            row = c.execute("SELECT * FROM items WHERE id = 'h'").fetchone()
        except sqlite3.Error:
            return None
        finally:
            c.close()
        return sum(len(str(x)) for x in row) if row else None

    run("embedded", src, base, [], list_keys, item_size)


def on_moto(tmp, moto):
    store = m.init_moto_store(tmp, moto, "history")
    if not store:
        return
    base, bucket, table, src, aws = store
    s3 = t.s3_client(moto)
    ddb = t.ddb_client(moto)

    def list_keys():
        return t.bucket_keys(s3, bucket)

    def item_size():
        it = ddb.get_item(TableName=table, Key={"id": {"S": "h"}}).get("Item")
        return len(str(it)) if it else None

    run("moto", src, base, aws, list_keys, item_size)


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
