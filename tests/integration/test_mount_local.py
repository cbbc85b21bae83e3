#!/usr/bin/env python3
"""tenantfs mounted on the embedded store (a local directory: objects and a
SQLite catalog, no AWS): unmodified sqlite3 shell and Python sqlite3 in
rollback and WAL mode, write-back into the object folder, a remount with an
empty cache reading everything back, listing, cp in and out, the errno of
every refused name and operation, xattrs, two concurrent writers, unlink,
and the write-back at unmount."""
# tfs-timeout: 400

import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mount as m  # noqa: E402
import tfstest as t  # noqa: E402

ROWS = 300


def find_object(src, h):
    """Path of the object holding hash h under src/objects, or None."""
    for root, _, files in os.walk(os.path.join(src, "objects")):
        for f in files:
            if h in f and f.endswith(".db") and not f.startswith("."):  # not a .ver record
                return os.path.join(root, f)
    return None


def main():
    m.need_fuse()
    m.tenantfs_binary()
    tmp = t.tmp_dir()
    base = tempfile.mkdtemp(prefix="mount-local-", dir=tmp)
    src = os.path.join(base, "store")
    mp = os.path.join(base, "mnt")
    work = os.path.join(base, "work")
    os.makedirs(work)
    opts = ["node=n1", "idle=0.5", "linger=0.2", f"cache={base}/cache1"]

    # ---- first mount: write --------------------------------------------
    with m.Mount(src, mp, opts) as mnt:
        t.ok(m.mount_type(mp) == "fuse.tenantfs", "mounted as fuse.tenantfs",
             m.mount_type(mp))
        t.eq(os.listdir(mp), [], "a fresh store lists nothing")

        m.write_rollback_cli(mp, "u1", ROWS)
        m.write_wal_python(mp, "u2", ROWS)
        hashes = {}
        for ident in ("u1", "u2"):
            db = os.path.join(mp, ident + ".db")
            try:
                gen, h = m.wait_clean(db)
                hashes[ident] = h
                t.ok(gen >= 1, f"{ident}.db written back (gen {gen})")
            except TimeoutError as e:
                t.ok(False, f"{ident}.db written back", f"{e}\n{mnt.log_text()}")
                continue
            obj = find_object(src, h)
            t.ok(obj is not None, f"{ident}.db object {h} is in the store")
            if obj:
                t.ok(not obj.startswith(os.path.join(src, "objects", "objects") + os.sep),
                     f"{ident}.db object is SOURCE/objects/<key>", obj)
                t.ok(m.integrity_ok(obj), f"{ident}.db stored object passes integrity_check")

        m.check_listing(mp, ["u1", "u2"])
        m.check_xattrs(mp, "u1")
        m.check_namespace_rules(mp, "u1")

        # an unchanged database costs no new version
        if "u1" in hashes:
            rc, out, err = m.sqlite_cli(os.path.join(mp, "u1.db"), "SELECT count(*) FROM t;\n")
            t.ok(rc == 0 and out.strip() == str(ROWS), "read-only open of u1.db", err)
            try:
                gen, h = m.wait_clean(os.path.join(mp, "u1.db"))
                t.eq(h, hashes["u1"], "reading does not change the committed hash")
            except TimeoutError as e:
                t.ok(False, "u1.db clean after a read", str(e))

        # import and export with cp
        plain = os.path.join(work, "plain.db")
        c = m.sqlite3.connect(plain)
        c.execute("CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)")
        c.executemany("INSERT INTO t VALUES(?, ?)",
                      [(i, f"row {i} of imp") for i in range(ROWS)])
        c.commit()
        c.close()
        m.check_copy_in_out(mp, "imp", plain, work)

        m.check_concurrent_writers(mp, "cw", wal=True)
        m.check_concurrent_writers(mp, "cr", wal=False)

        # truncate(2) by path, then unlink
        gone = os.path.join(mp, "gone.db")
        m.write_wal_python(mp, "gone", 10)
        os.truncate(gone, 0)
        t.eq(os.stat(gone).st_size, 0, "truncate by path")
        os.unlink(gone)
        t.ok(not os.path.exists(gone) and "gone.db" not in os.listdir(mp), "unlink removes it")

        # written, then unmounted at once: the unmount must write it back
        m.write_rollback_cli(mp, "late", ROWS)
    t.eq(mnt.returncode, 0, "daemon exits 0 after fusermount3 -u")

    # ---- second mount, empty cache: read back ----------------------------
    opts2 = ["node=n1", "idle=0.5", "linger=0.2", f"cache={base}/cache2"]
    with m.Mount(src, mp, opts2) as mnt2:
        for ident in ("u1", "u2", "imp", "late"):
            m.check_rows(os.path.join(mp, ident + ".db"), ident, ROWS, "after remount")
        c = m.sqlite3.connect(os.path.join(mp, "cw.db"))
        t.eq(c.execute("SELECT n FROM c").fetchone()[0], 300, "after remount: WAL counter")
        c.close()
        t.ok("gone.db" not in os.listdir(mp), "after remount: unlinked database stays gone")
        names = sorted(os.listdir(mp))
        t.ok(all(f"{i}.db" in names for i in ("u1", "u2", "imp", "late", "cw", "cr")),
             "after remount: listing from the catalog", names)
    t.eq(mnt2.returncode, 0, "second daemon exits 0")

    # ---- two nodes on one store: the lease keeps a database on one ------
    mpa, mpb = os.path.join(base, "mnt-a"), os.path.join(base, "mnt-b")
    with m.Mount(src, mpa, ["node=na", "linger=0", f"cache={base}/cache-a"]), \
            m.Mount(src, mpb, ["node=nb", "linger=0", f"cache={base}/cache-b"]):
        held = m.sqlite3.connect(os.path.join(mpa, "u1.db"))
        t.eq(held.execute("SELECT count(*) FROM t").fetchone()[0], ROWS, "node a opens u1.db")
        m.expect_errno(lambda: os.close(os.open(os.path.join(mpb, "u1.db"), os.O_RDWR)),
                       16, "node b gets EBUSY while node a holds u1.db")
        held.close()
        try:
            fd = t.wait_until(lambda: os.open(os.path.join(mpb, "u1.db"), os.O_RDWR),
                              timeout=30, what="lease released by node a")
            os.close(fd)
            t.ok(True, "node b opens u1.db once node a closed it")
        except TimeoutError as e:
            t.ok(False, "node b opens u1.db once node a closed it", str(e))


if __name__ == "__main__":
    m.run_main(main, sync=True)
