#!/usr/bin/env python3
# tfs-timeout: 240
"""Takeover after a node dies (issue 9, item 4): node A holds 1,000
databases and is killed (-9); node B opens all of them; no acknowledged
write of A is lost. Embedded store (local folder + SQLite catalog) shared
by three mounts with caches of their own, lease_ttl=3.

- A creates 1,000 databases (a small SQLite file each, written through
  the mount) and publishes them (gen 1); a long linger keeps every lease.
  Then it writes a second version into 100 of them and keeps them open:
  the writes are acknowledged (write(2) returned), idle and max_dirty are
  an hour away, so they are not published. A is killed (-9).
- B (lease_wait=10) opens the 1,000 from 8 threads: every open succeeds,
  after one kill of A's session for the whole node (its log says so
  once); each shows A's last published bytes. For the 900 that is A's last
  acknowledged write; the 100 dirty ones show gen 1, the version A's
  acknowledged write was based on (a kill -9 leaves no stranded mark: A's
  session just stops, which is what another node can see).
- B writes its own version into 50 of the 100 (published, gen 2) and
  leaves the other 50 alone, then unmounts: one session end frees its
  1,000 leases (no release each).
- A restarts on its cache: for the 50 that B committed it moves its copy
  to its quarantine folder with a `QUARANTINED ID` log line each (the
  copy holds A's acknowledged bytes); the 50 that nobody committed it
  publishes (gen 2); nothing else is quarantined.
- C, a third node with an empty cache (only the catalog's head can be
  served), reads B's bytes in the first 50, A's acknowledged bytes in the
  other 50, and A's in a sample of the 900.

So every acknowledged write of the dead node reached the new holder (it
was published) or the dead node's next start (published by it, or
quarantined and named). The time from the kill to B's last successful
open is printed (no timed assertion): the bound is lease_ttl plus one
observation period (50 ms) for the takeover, plus the opens themselves.

Run time: about 30-40 s."""

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mount as m  # noqa: E402
import tfstest as t  # noqa: E402

N = 1000
N_DIRTY = 100  # u0000..u0099: dirty on A at the kill
N_B = 50  # u0000..u0049: B publishes its own version of these
TTL = 3
THREADS = 8
SAMPLE = range(N_DIRTY, N, 9)  # clean ones C reads back
VALUE_W = 24  # every version's value has this width: one template, patched


def ident(i):
    return f"u{i:04d}"


def template(work):
    """A small SQLite database whose one value is a fixed-width marker,
    and the marker: version(i, tag) is the template with its own value
    (same length, so the file stays a valid database)."""
    path = os.path.join(work, "template.db")
    marker = "#" * VALUE_W
    c = m.sqlite3.connect(path)
    c.execute("PRAGMA page_size=512")
    c.execute("CREATE TABLE t(v TEXT)")
    c.execute("INSERT INTO t VALUES(?)", (marker,))
    c.commit()
    c.close()
    with open(path, "rb") as f:
        data = f.read()
    assert data.count(marker.encode()) == 1
    return data, marker.encode()


class Versions:
    def __init__(self, work):
        self.data, self.marker = template(work)

    def of(self, i, tag):
        v = f"{tag} of {ident(i)}".ljust(VALUE_W).encode()
        return self.data.replace(self.marker, v)


def value_of(data):
    """The value a database file image holds (via a local copy), or an
    error text."""
    fd, path = tempfile.mkstemp(suffix=".db", dir=t.tmp_dir())
    try:
        os.write(fd, data)
        os.close(fd)
        c = m.sqlite3.connect(path)
        try:
            return c.execute("SELECT v FROM t").fetchone()[0].strip()
        finally:
            c.close()
    except m.sqlite3.Error as e:
        return f"error: {e}"
    finally:
        os.unlink(path)


def stats(mp):
    line = os.getxattr(mp, "user.tenantfs.stats").decode()
    return {k: float(v) for k, v in (f.split("=", 1) for f in line.split())}


def parallel(items, fn, threads=THREADS):
    """fn(item) for every item from a few threads; returns {item: result
    or the OSError}."""
    out, nxt, lock = {}, iter(items), threading.Lock()

    def work():
        while True:
            with lock:
                it = next(nxt, None)
            if it is None:
                return
            try:
                r = fn(it)
            except OSError as e:
                r = e
            with lock:
                out[it] = r

    ths = [threading.Thread(target=work) for _ in range(threads)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    return out


def write_file(path, data, flags=os.O_WRONLY | os.O_CREAT | os.O_TRUNC):
    fd = os.open(path, flags, 0o644)
    try:
        os.pwrite(fd, data, 0)
    finally:
        os.close(fd)


def read_file(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.pread(fd, 1 << 20, 0)
    finally:
        os.close(fd)


def crash(mnt):
    """kill -9 the daemon we started, then detach its dead mount."""
    os.kill(mnt.proc.pid, signal.SIGKILL)
    mnt.returncode = mnt.proc.wait(timeout=30)
    mnt.proc = None
    subprocess.run(["fusermount3", "-uz", mnt.mountpoint], capture_output=True, timeout=30)


def wait_commits(mp, n, what, timeout=120):
    try:
        t.wait_until(lambda: stats(mp)["commits"] >= n, timeout=timeout, interval=0.2,
                     what=what)
        return True
    except TimeoutError as e:
        return t.ok(False, what, str(e))


def node_opts(base, name, extra=()):
    return [f"node={name}", f"cache={base}/cache-{name}", f"lease_ttl={TTL}",
            "linger=3600", "idle=3600", "max_dirty=3600"] + list(extra)


def phase_a(src, base, ver):
    """A publishes N databases, then holds N_DIRTY of them dirty and open,
    and is killed. Returns A's Mount (stopped)."""
    a = m.Mount(src, os.path.join(base, "mnt-a"), node_opts(base, "ta"))
    a.start()
    held = []
    try:
        mp = a.mountpoint
        start = time.monotonic()
        res = parallel(range(N), lambda i: write_file(os.path.join(mp, ident(i) + ".db"),
                                                      ver.of(i, "A1")))
        bad = {i: r for i, r in res.items() if r is not None}
        t.ok(not bad, f"A creates {N} databases", f"{len(bad)} failed: "
             f"{list(bad.items())[:3]}")
        wait_commits(mp, N, f"A publishes the {N}")
        t.diag(f"A created and published {N} databases in {time.monotonic() - start:.1f}s")
        for i in range(N_DIRTY):
            fd = os.open(os.path.join(mp, ident(i) + ".db"), os.O_RDWR)
            held.append(fd)
            data = ver.of(i, "A2")
            if os.pwrite(fd, data, 0) != len(data):
                t.ok(False, f"A's write to {ident(i)} is acknowledged in full")
        dirty = sum(m.xattr(os.path.join(mp, ident(i) + ".db"), "dirty") == "1"
                    for i in range(N_DIRTY))
        t.eq(dirty, N_DIRTY, f"A holds {N_DIRTY} acknowledged, unpublished writes")
        st = stats(mp)
        t.eq(st["lease_releases"], 0, f"A holds all {N} leases (linger)")
    finally:
        pid = a.proc.pid if a.proc else None
        crash(a)
        for fd in held:
            try:
                os.close(fd)
            except OSError:
                pass  # the mount under it is gone
    t.eq(a.returncode, -signal.SIGKILL, f"A (pid {pid}) was killed -9")
    return time.monotonic()


def phase_b(ver, b, killed_at):
    """B opens all N after A's death, then publishes its own version of
    the first N_B."""
    mp = b.mountpoint
    done_at = {}

    def open_one(i):
        data = read_file(os.path.join(mp, ident(i) + ".db"))
        done_at[i] = time.monotonic()
        return data

    res = parallel(range(N), open_one)
    opened = {i: r for i, r in res.items() if isinstance(r, bytes)}
    failed = {i: r for i, r in res.items() if not isinstance(r, bytes)}
    t.ok(not failed, f"B opens all {N} databases of the dead node ({len(opened)} opened)",
         f"first failures: {sorted(failed.items())[:3]}")
    if done_at:
        first, last = min(done_at.values()), max(done_at.values())
        t.diag(f"takeover of {N} databases: kill -> first open {first - killed_at:.2f}s, "
               f"kill -> last open {last - killed_at:.2f}s (bound: lease_ttl {TTL}s + one "
               f"observation period 0.05s, then the opens: {last - first:.2f}s for {N})")
    kills = len(re.findall(r"declared session \d+ of node ta~\S+ dead", b.log_text()))
    t.eq(kills, 1, "B declares A's session dead once, for the whole node")
    # For the clean ones that is A's last acknowledged write; for the dirty
    # ones, the version that write was based on (its copy waits on A).
    wrong = [i for i, d in opened.items() if d != ver.of(i, "A1")]
    t.ok(not wrong, f"B sees A's last published version of every database ({N - len(wrong)}"
         f"/{N})", f"differ: {[ident(i) for i in wrong[:5]]}")
    res = parallel(range(N_B), lambda i: write_file(os.path.join(mp, ident(i) + ".db"),
                                                    ver.of(i, "B2"), os.O_WRONLY))
    bad = {i: r for i, r in res.items() if r is not None}
    t.ok(not bad, f"B writes its own version of {N_B} of the dirty ones", str(bad)[:300])
    wait_commits(mp, N_B, f"B publishes those {N_B}")
    start = time.monotonic()
    rc = b.unmount(timeout=120)
    t.eq(rc, 0, f"B unmounts holding {N} leases ({time.monotonic() - start:.2f}s)")
    t.ok(re.search(rf"ended session \d+ of node tb~\S+: its {N} clean leases are free",
                   b.log_text()), f"B's shutdown frees its {N} leases by one session end",
         b.log_text()[-1500:])


def phase_restart(src, base, ver):
    """A's next start: quarantines what B committed, publishes the rest."""
    a = m.Mount(src, os.path.join(base, "mnt-a"), node_opts(base, "ta"),
                log=os.path.join(base, "mnt-a-restart.log"))
    with a:
        mp = a.mountpoint

        def quarantined():
            return set(re.findall(r"QUARANTINED (u\d{4}) ", a.log_text()))

        try:
            t.wait_until(lambda: len(quarantined()) >= N_B and
                         stats(mp)["commits"] >= N_DIRTY - N_B, timeout=60, interval=0.2,
                         what="A's recovery")
        except TimeoutError:
            pass
        q = quarantined()
        t.eq(sorted(q), [ident(i) for i in range(N_B)],
             f"A's restart quarantines exactly the {N_B} that B committed meanwhile, "
             f"naming each")
        t.eq(stats(mp)["commits"], N_DIRTY - N_B,
             f"A's restart publishes the other {N_DIRTY - N_B} acknowledged writes")
        qdir = os.path.join(base, "cache-ta", "quarantine")
        folders = sorted(os.listdir(qdir)) if os.path.isdir(qdir) else []
        t.eq(sorted(f.split(".")[0] for f in folders), [ident(i) for i in range(N_B)],
             f"the quarantine folder holds one copy of each of the {N_B}")
        wrong = []
        for f in folders:
            i = int(f[1:5])
            try:
                with open(os.path.join(qdir, f, ident(i) + ".db"), "rb") as fh:
                    if fh.read() != ver.of(i, "A2"):
                        wrong.append(f)
            except OSError as e:
                wrong.append(f"{f}: {e}")
        t.ok(folders and not wrong, "each quarantined copy holds A's acknowledged write",
             f"wrong: {wrong[:3]}")
        xq = m.xattr(os.path.join(mp, ident(0) + ".db"), "quarantine")
        t.ok(xq and xq.startswith(qdir), "user.tenantfs.quarantine names the folder", xq)
    t.eq(a.returncode, 0, "A's restart unmounts clean")


def phase_check(src, base, ver):
    """A third node with an empty cache reads the catalog's heads."""
    c = m.Mount(src, os.path.join(base, "mnt-c"), node_opts(base, "tc"))
    with c:
        ids = list(range(N_DIRTY)) + list(SAMPLE)
        res = parallel(ids, lambda i: read_file(os.path.join(c.mountpoint, ident(i) + ".db")))
        want = {i: ver.of(i, "B2" if i < N_B else "A2" if i < N_DIRTY else "A1") for i in ids}
        wrong = [i for i in ids if res.get(i) != want[i]]
        t.ok(not wrong, f"a third node reads B's version of the {N_B}, A's acknowledged "
             f"write of the other {N_DIRTY - N_B} and of {len(SAMPLE)} clean ones",
             f"differ: {[(ident(i), value_of(res[i]) if isinstance(res.get(i), bytes) else res.get(i)) for i in wrong[:4]]}")  # noqa: E501
    t.eq(c.returncode, 0, "the third node unmounts clean")


def main():
    m.need_fuse()
    m.tenantfs_binary()
    started = time.monotonic()
    base = tempfile.mkdtemp(prefix="takeover-", dir=t.tmp_dir())
    src = os.path.join(base, "store")
    work = os.path.join(base, "work")
    os.makedirs(work)
    ver = Versions(work)
    b = m.Mount(src, os.path.join(base, "mnt-b"), node_opts(base, "tb", ["lease_wait=10"]))
    b.start()  # mounted before the kill: the figure below is the takeover's alone
    try:
        killed_at = phase_a(src, base, ver)
        phase_b(ver, b, killed_at)
    finally:
        if b.proc is not None:
            b.kill()
    phase_restart(src, base, ver)
    phase_check(src, base, ver)
    t.diag(f"run time {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    m.run_main(main)
