#!/usr/bin/env python3
# tfs-timeout: 240
"""A node's identity is its cache folder, not its host name (issue 7,
item 1). Two mounts on one host, one embedded store, two cache folders:

- without node= (both labelled with the host name) and, second case, with
  the same node=: while mount 1 holds a.db open and writes, mount 2's open
  of a.db gets EBUSY (lease_wait=0), and a write through mount 2 fails;
  after both close, the published head holds every row mount 1 acknowledged
  (on main both daemons were owner "HOST", mount 2 took the lease as its
  own, and mount 1's rows were lost without a word);
- each mount shows its identity LABEL~ID in the root's user.tenantfs.node,
  in its startup log line and in CACHE/node; the owner attribute of a
  database it holds is that identity; the two identities differ;
- a restart on the same cache keeps the identity (same file, same owner).

Run time: about 20-40 s."""

import errno
import os
import re
import socket
import sqlite3
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mount as m  # noqa: E402
import tfstest as t  # noqa: E402

ID_RE = r"[A-Za-z0-9._-]+~[0-9a-f]{32}"


def node_of(mp):
    return m.xattr(mp, "node")


def identity_file(cache):
    try:
        with open(os.path.join(cache, "node"), encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return None


def head_rows(src, base, ident, label):
    """The rows of ident.db as published: read through a fresh mount with
    an empty cache (so only the catalog's head version can be served)."""
    mp = os.path.join(base, f"mnt-check-{label}")
    with m.Mount(src, mp, ["linger=0", f"cache={base}/cache-check-{label}"]):
        c = sqlite3.connect(os.path.join(mp, ident + ".db"), timeout=30)
        try:
            got = [r[0] for r in c.execute("SELECT v FROM t ORDER BY k")]
            ic = c.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            c.close()
    return got, ic


def two_mounts(src, base, label, node_opts):
    """Mount 1 holds ident.db open and writing; mount 2 must be refused."""
    ident = f"a{label}"
    mp1, mp2 = os.path.join(base, f"mnt1-{label}"), os.path.join(base, f"mnt2-{label}")
    c1, c2 = os.path.join(base, f"cache1-{label}"), os.path.join(base, f"cache2-{label}")
    common = node_opts + ["lease_wait=0", "linger=0", "idle=0.3"]
    acked = []
    with m.Mount(src, mp1, common + [f"cache={c1}"]) as mnt1, \
            m.Mount(src, mp2, common + [f"cache={c2}"]) as mnt2:
        n1, n2 = node_of(mp1), node_of(mp2)
        t.ok(n1 and re.fullmatch(ID_RE, n1), f"{label}: mount 1 shows its identity", n1)
        t.ok(n2 and re.fullmatch(ID_RE, n2), f"{label}: mount 2 shows its identity", n2)
        t.ok(n1 and n2 and n1 != n2, f"{label}: two caches are two nodes ({n1} vs {n2})")
        want_label = node_opts[0].split("=", 1)[1] if node_opts else socket.gethostname()
        t.ok(n1 and n1.split("~")[0] == want_label and n2 and n2.split("~")[0] == want_label,
             f"{label}: both keep the label '{want_label}' visible")
        t.eq(identity_file(c1), n1, f"{label}: CACHE/node of mount 1 holds its identity")
        t.eq(identity_file(c2), n2, f"{label}: CACHE/node of mount 2 holds its identity")
        t.ok(f"(node {n1}," in mnt1.log_text(), f"{label}: mount 1's log line names {n1}")
        t.ok(f"(node {n2}," in mnt2.log_text(), f"{label}: mount 2's log line names {n2}")

        db1 = os.path.join(mp1, ident + ".db")
        w = sqlite3.connect(db1, timeout=30)
        w.execute("CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)")
        w.execute("INSERT INTO t(v) VALUES('m1-first')")
        w.commit()
        acked.append("m1-first")
        w.close()
        try:
            m.wait_clean(db1, timeout=30)
        except TimeoutError as e:
            t.ok(False, f"{label}: mount 1 publishes {ident}.db", str(e))
        # open again and keep writing: the lease stays with mount 1
        w = sqlite3.connect(db1, timeout=30)
        for i in range(20):
            w.execute("INSERT INTO t(v) VALUES(?)", (f"m1-{i}",))
            w.commit()
            acked.append(f"m1-{i}")
        t.eq(m.xattr(db1, "owner"), n1, f"{label}: the owner of {ident}.db is mount 1's identity")

        # mount 2, while mount 1 holds it open and keeps writing
        for how, flags in (("", os.O_RDWR), (" with O_CREAT", os.O_RDWR | os.O_CREAT)):
            m.expect_errno(lambda f=flags: os.close(os.open(os.path.join(mp2, ident + ".db"), f,
                                                            0o644)),
                           errno.EBUSY,
                           f"{label}: mount 2's open{how} gets EBUSY while mount 1 holds it")
        wrote2 = False
        try:
            c = sqlite3.connect(os.path.join(mp2, ident + ".db"), timeout=1)
            try:
                c.execute("INSERT INTO t(v) VALUES('m2')")
                c.commit()
                wrote2 = True
            finally:
                c.close()
        except sqlite3.Error:
            pass
        t.ok(not wrote2, f"{label}: a write through mount 2 fails")
        for i in range(20, 40):
            w.execute("INSERT INTO t(v) VALUES(?)", (f"m1-{i}",))
            w.commit()
            acked.append(f"m1-{i}")
        w.close()
        try:
            m.wait_clean(db1, timeout=30)
        except TimeoutError as e:
            t.ok(False, f"{label}: mount 1 writes {ident}.db back", str(e))
    t.eq((mnt1.returncode, mnt2.returncode), (0, 0), f"{label}: both daemons exit 0")

    got, ic = head_rows(src, base, ident, label)
    missing = [v for v in acked if v not in got]
    t.ok(not missing, f"{label}: the head holds every row mount 1 acknowledged "
         f"({len(acked) - len(missing)}/{len(acked)})", f"missing {missing[:5]}, head {got[:5]}")
    t.eq(ic, "ok", f"{label}: the head passes integrity_check")

    # a restart on cache 1 keeps its identity
    with m.Mount(src, mp1, common + [f"cache={c1}"], log=mp1 + "-restart.log") as again:
        t.eq(node_of(mp1), n1, f"{label}: a restart of mount 1 keeps its identity")
        db1 = os.path.join(mp1, ident + ".db")
        fd = os.open(db1, os.O_RDWR)
        try:
            t.eq(m.xattr(db1, "owner"), n1, f"{label}: ... and owns its leases under it")
        finally:
            os.close(fd)
    t.eq(identity_file(c1), n1, f"{label}: CACHE/node unchanged by the restart")
    t.ok(f"(node {n1}," in again.log_text(), f"{label}: the restart's log line names {n1}")


def main():
    m.need_fuse()
    base = tempfile.mkdtemp(prefix="node-id-", dir=t.tmp_dir())
    src = os.path.join(base, "store")
    two_mounts(src, base, "host", [])
    two_mounts(src, base, "same", ["node=n1"])


if __name__ == "__main__":
    m.run_main(main)
