#!/usr/bin/env python3
# tfs-timeout: 300
"""Control of a running mount through its socket (issue 11, item 1):
`tenantfs status`, `status --json`, `status --top N`, `flush`, `evict`,
against real mounts.

Embedded store (local folder + SQLite catalog), idle=30 so that a
database held open stays dirty:
  - status --json while two databases are open and dirty: both listed
    dirty with their age, the oldest unpublished change names the first,
    counts, leases, cache entries, uptime, store and catalog; the text
    report says the same;
  - flush of one named database publishes it (its gen moves, status shows
    it clean) and leaves the other dirty; flush without ids publishes the
    rest; both exit 0;
  - evict: an open database is refused (exit 1, "open"); a clean closed
    one is evicted (its cache file goes, the cache count drops) and opens
    again from the store with its rows; an unknown id is refused;
  - status --top 2: the database written back five times comes before the
    one written once, with more PUTs and bytes, and a cost above zero;
  - the socket: a client run as user nobody cannot connect (0600 socket in
    a 0700 folder); with the modes opened up, the daemon itself refuses it
    (SO_PEERCRED) and logs the refusal;
  - usage errors exit 2 and change nothing; a folder that is no mount
    exits 1.
S3 (moto) through a faultproxy, catalog in SQLite (TFS_TEST_MOTO):
  - during an S3 outage a closed database cannot be written back: flush
    --timeout 3 exits 1 naming it and the upload error; status shows it
    dirty and failed with that error; evict refuses it ("not yet
    published"); after the outage flush exits 0 and it is clean.

Run time: about 30 s."""

import json
import os
import pwd
import re
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mount as m  # noqa: E402
import tfstest as t  # noqa: E402


def run(args, user=None, timeout=90):
    argv = [m.tenantfs_binary()] + args
    if user:
        pw = pwd.getpwnam(user)
        argv = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}",
                "--clear-groups"] + argv
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                          env=m._daemon_env(), stdin=subprocess.DEVNULL)


def status(mp):
    r = run(["status", mp, "--json"])
    try:
        return json.loads(r.stdout) if r.returncode == 0 else {}
    except ValueError:
        return {}


def db_info(st, ident):
    for d in st.get("databases", []):
        if d.get("id") == ident:
            return d
    return {}


def gen(mp, ident):
    try:
        return int(os.getxattr(os.path.join(mp, ident + ".db"), "user.tenantfs.gen"))
    except OSError:
        return -1


def open_dirty(mp, ident, rows):
    """A connection holding ident.db open with rows committed (dirty)."""
    c = sqlite3.connect(os.path.join(mp, ident + ".db"), timeout=30)
    c.execute("PRAGMA journal_mode=DELETE")
    c.execute("CREATE TABLE IF NOT EXISTS t(k INTEGER PRIMARY KEY, v TEXT)")
    c.executemany("INSERT OR REPLACE INTO t VALUES(?, ?)", [(i, f"{ident} {i}") for i in range(rows)])
    c.commit()
    return c


def count_rows(mp, ident):
    c = sqlite3.connect(os.path.join(mp, ident + ".db"), timeout=30)
    try:
        return c.execute("SELECT count(*) FROM t").fetchone()[0]
    finally:
        c.close()


def usage_errors(mp):
    cases = [
        (["status"], "status"), (["status", mp, "--bogus"], "status"),
        (["status", mp, "--top", "0"], "status"), (["status", mp, "--top"], "status"),
        (["flush"], "flush"), (["flush", mp, "--timeout", "soon"], "flush"),
        (["flush", mp, "a/b"], "flush"), (["flush", mp, "--bogus"], "flush"),
        (["evict", mp], "evict"), (["evict"], "evict"), (["evict", mp, "../x"], "evict"),
    ]
    for args, cmd in cases:
        r = run(args)
        t.ok(r.returncode == 2 and f"usage: tenantfs {cmd}" in r.stderr,
             f"usage error: tenantfs {' '.join(args[:1] + args[2:])}: exit 2 with usage",
             f"rc {r.returncode}: {r.stderr[:300]}")
    root = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                         ".."))
    with open(os.path.join(root, "packaging", "tenantfs.8"), encoding="utf-8") as f:
        man = f.read()
    plain = re.sub(r"\\f[IBRP]", "", man).replace("\\-", "-")
    main_help = run(["--help"]).stdout
    for cmd in ("status", "flush", "evict"):
        r = run([cmd, "--help"])
        synopsis = r.stdout.splitlines()[0][len("usage: "):] if r.stdout else ""
        t.ok(r.returncode == 0 and synopsis.startswith(f"tenantfs {cmd} "),
             f"{cmd} --help: exit 0 with usage", r.stderr)
        t.ok(synopsis and synopsis in plain and synopsis in main_help,
             f"{cmd} --help: its synopsis is the man page's and tenantfs --help's", synopsis)


def local_mount(base):
    store = os.path.join(base, "store")
    r = m.run_tenantfs(["init", store])
    t.ok(r.returncode == 0, "init makes the store", r.stderr)
    mp = os.path.join(base, "mnt")
    with m.Mount(store, mp, ["linger=0", "idle=30", "max_dirty=120"]) as mnt:
        node = os.getxattr(mp, "user.tenantfs.node").decode()
        m.write_rollback_cli(mp, "cold", 3)
        for i in range(5):
            open_dirty(mp, "hot", 2 + i).close()
            m.wait_clean(os.path.join(mp, "hot.db"), min_gen=i + 1)
        a = open_dirty(mp, "dirtya", 10)
        time.sleep(0.3)
        b = open_dirty(mp, "dirtyb", 5)
        time.sleep(0.3)

        st = status(mp)
        da, dbi = db_info(st, "dirtya"), db_info(st, "dirtyb")
        t.ok(st.get("node") == node and st.get("mountpoint") == mp,
             "status --json names the node and the mount point", str(st)[:300])
        t.ok(st.get("store", "").endswith("/objects") and
             st.get("catalog", "").startswith("sqlite:") and st.get("uptime_seconds", 0) > 0
             and st.get("pid") == mnt.proc.pid,
             "status --json: store, catalog, uptime, pid", str(st)[:400])
        t.ok(da.get("dirty") and da.get("open", 0) >= 1 and da.get("dirty_seconds", 0) >= 0.5
             and dbi.get("dirty") and da["dirty_seconds"] > dbi.get("dirty_seconds", 99),
             "status --json: both open databases dirty, with their age", str(st)[:600])
        oldest = st.get("oldest_unpublished") or {}
        t.ok(oldest.get("id") == "dirtya" and oldest.get("age_seconds", 0) >= 0.5,
             "the oldest unpublished change is dirtya's", oldest)
        cnt = st.get("counts", {})
        t.ok(cnt.get("open") == 2 and cnt.get("dirty") == 2 and st.get("leases", 0) >= 2 and
             cnt.get("failed") == 0 and cnt.get("quarantined") == 0,
             "status --json counts open, dirty, leases", cnt)
        t.ok(st.get("cache", {}).get("entries") == 4 and st.get("cache", {}).get("bytes", 0) > 0,
             "status --json: 4 databases cached", st.get("cache"))
        c = st.get("counters", {})
        t.ok(isinstance(c.get("cost_usd"), float) and c.get("commits", 0) >= 6 and
             "s3_put" in c and "fuse_requests" in c, "status --json has the counters", c)
        r = run(["status", mp])
        t.ok(r.returncode == 0 and node in r.stdout and "dirtya" in r.stdout and
             "oldest unpublished change: dirtya" in r.stdout and "2 dirty" in r.stdout,
             "status: a readable report", r.stdout[:800] + r.stderr[:200])

        # ---- flush ----------------------------------------------------
        ga, gb = gen(mp, "dirtya"), gen(mp, "dirtyb")
        r = run(["flush", mp, "dirtyb", "--timeout", "30"])
        t.ok(r.returncode == 0 and "1 of 1 database published" in r.stdout,
             "flush dirtyb: exit 0, published", r.stdout + r.stderr)
        st = status(mp)
        t.ok(gen(mp, "dirtyb") == gb + 1 and not db_info(st, "dirtyb").get("dirty") and
             db_info(st, "dirtya").get("dirty") and gen(mp, "dirtya") == ga,
             "flush of one id publishes it (still open) and leaves the other dirty",
             f"gens {ga},{gb} -> {gen(mp, 'dirtya')},{gen(mp, 'dirtyb')}")
        r = run(["flush", mp])
        t.ok(r.returncode == 0 and "1 of 1 database published" in r.stdout,
             "flush (all): exit 0, the one dirty database published", r.stdout + r.stderr)
        st = status(mp)
        t.ok(gen(mp, "dirtya") == ga + 1 and st.get("counts", {}).get("dirty") == 0 and
             st.get("oldest_unpublished") is None,
             "after flush nothing is dirty, no unpublished change", str(st.get("counts")))
        r = run(["flush", mp, "cold", "never-seen"])
        t.ok(r.returncode == 0 and "2 of 2" in r.stdout,
             "flush of a clean and an unknown id: nothing to do, exit 0", r.stdout + r.stderr)

        # ---- evict ----------------------------------------------------
        r = run(["evict", mp, "dirtya"])
        t.ok(r.returncode == 1 and "dirtya: not evicted: it is open" in r.stderr,
             "evict of an open database: refused, exit 1", r.stderr)
        cache_file = os.path.join(store, "cache", "db", "cold.db")
        had = os.path.exists(cache_file)
        faults = status(mp).get("counters", {}).get("faults", -1)
        r = run(["evict", mp, "cold", "nosuch"])
        st = status(mp)
        t.ok(r.returncode == 1 and "cold: evicted" in r.stdout and
             "nosuch: not evicted: it is not cached" in r.stderr,
             "evict cold nosuch: cold evicted, nosuch refused, exit 1", r.stdout + r.stderr)
        t.ok(had and not os.path.exists(cache_file) and st.get("cache", {}).get("entries") == 3,
             "the evicted copy left the cache", f"{had} {st.get('cache')}")
        t.ok(count_rows(mp, "cold") == 3 and
             status(mp).get("counters", {}).get("faults", -1) == faults + 1,
             "the evicted database opens again from the store with its rows")
        m.wait_clean(os.path.join(mp, "cold.db"), min_gen=1)

        # ---- --top ----------------------------------------------------
        r = run(["status", mp, "--top", "2", "--json"])
        try:
            top = json.loads(r.stdout).get("top", [])
        except ValueError:
            top = []
        t.ok(r.returncode == 0 and len(top) == 2, "status --top 2 --json: two rows", r.stdout)
        if len(top) == 2:
            t.ok(top[0]["id"] == "hot" and top[0]["s3_put"] >= 5 and
                 top[0]["cost_usd"] > top[1]["cost_usd"] > 0 and
                 top[0]["bytes_up"] > 0 and top[0]["ddb_write"] > 0,
                 "--top: the database written back five times costs most", top)
        r = run(["status", mp, "--top", "3"])
        lines = r.stdout.splitlines()
        t.ok(r.returncode == 0 and len(lines) >= 4 and lines[1].startswith("hot ") and
             "cost_usd" in lines[0], "status --top 3: a table, hot first", r.stdout)

        # ---- the socket -----------------------------------------------
        path = status(mp).get("control") or None
        sock_dir = os.path.dirname(path) if path else ""
        t.ok(path and sock_dir == "/run/tenantfs" and stat.S_ISSOCK(os.lstat(path).st_mode),
             "status names the socket, in /run/tenantfs for root", path)
        mode_dir = stat.S_IMODE(os.stat(sock_dir).st_mode) if path else 0
        mode_sock = stat.S_IMODE(os.lstat(path).st_mode) if path else 0
        t.ok(mode_dir == 0o700 and mode_sock == 0o600,
             "the socket is 0600 in a 0700 folder", f"{oct(mode_dir)} {oct(mode_sock)}")
        try:
            pwd.getpwnam("nobody")
            have_nobody = True
        except KeyError:
            have_nobody = False
        if have_nobody and path:
            r = run(["status", mp], user="nobody")
            t.ok(r.returncode == 1 and "cannot reach the daemon" in r.stderr and
                 "Permission denied" in r.stderr,
                 "as nobody: the socket cannot be reached (exit 1)", r.stderr)
            os.chmod(sock_dir, 0o711)
            os.chmod(path, 0o666)
            try:
                r = run(["status", mp], user="nobody")
                r2 = run(["flush", mp], user="nobody")
            finally:
                os.chmod(path, 0o600)
                os.chmod(sock_dir, 0o700)
            t.ok(r.returncode == 1 and f"permission denied: uid {pwd.getpwnam('nobody').pw_uid}" in r.stderr and
                 r2.returncode == 1 and "permission denied" in r2.stderr,
                 "as nobody with the modes opened: the daemon refuses (SO_PEERCRED)",
                 r.stderr + r2.stderr)
            t.ok("control socket: refused pid" in mnt.log_text(),
                 "the daemon logs the refusal")
        else:
            t.diag("no user nobody: the peer check is not run")
        a.close()
        b.close()
        usage_errors(mp)
    other = os.path.join(base, "plain")
    os.makedirs(other)
    for cmd in (["status", other], ["flush", other], ["evict", other, "x"]):
        r = run(cmd)
        t.ok(r.returncode == 1 and "not a tenantfs mount point" in r.stderr,
             f"{cmd[0]} of a plain folder: exit 1, says why", r.stderr)
    t.ok(not m.is_fuse_mount(mp) and not m.is_fuse_mount(other), "the commands mount nothing")


def s3_outage(base, moto):
    bucket = t.make_bucket(moto)
    src = f"s3://{bucket}/p"
    mp = os.path.join(base, "s3mnt")
    cat = os.path.join(base, "s3catalog.db")
    r = m.run_tenantfs(["init", src, "-o", f"catalog=sqlite:{cat},endpoint={moto},"
                        "region=us-east-1"])
    if not t.ok(r.returncode == 0, "tenantfs init on moto", r.stderr):
        return
    with t.FaultProxy(moto) as fp:
        opts = ["node=s3n", "idle=0.2", "linger=0", f"cache={base}/s3cache",
                f"catalog=sqlite:{cat}", f"endpoint={fp.url}", "region=us-east-1"]
        with m.Mount(src, mp, opts):
            open_dirty(mp, "s1", 2).close()
            m.wait_clean(os.path.join(mp, "s1.db"), min_gen=1)
            fp.outage(120)
            open_dirty(mp, "s1", 4).close()
            r = run(["flush", mp, "--timeout", "3"])
            t.ok(r.returncode == 1 and "s1: not published" in r.stderr and
                 "0 of 1 database published" in r.stdout,
                 "flush during an S3 outage: exit 1 naming s1", r.stdout + r.stderr)
            st = {}
            for _ in range(100):
                st = status(mp)
                if db_info(st, "s1").get("error"):
                    break
                time.sleep(0.2)
            d = db_info(st, "s1")
            t.ok(d.get("dirty") and "upload" in d.get("error", "") and
                 st.get("counts", {}).get("failed") == 1,
                 "status: s1 dirty and failed with the upload error", d)
            r = run(["flush", mp, "s1", "--timeout", "2"])
            t.ok(r.returncode == 1 and "s1: not published: upload" in r.stderr,
                 "flush s1 names the last error", r.stderr)
            r = run(["evict", mp, "s1"])
            t.ok(r.returncode == 1 and "not yet published" in r.stderr,
                 "evict of a closed dirty database: refused", r.stderr)
            fp.outage(0)
            r = run(["flush", mp, "--timeout", "60"])
            t.ok(r.returncode == 0 and "1 of 1 database published" in r.stdout,
                 "after the outage flush publishes s1: exit 0", r.stdout + r.stderr)
            st = status(mp)
            t.ok(not db_info(st, "s1").get("dirty") and gen(mp, "s1") == 2 and
                 st.get("oldest_unpublished") is None, "s1 is clean at gen 2", str(st)[:400])


def main():
    m.need_fuse()
    # A base the user nobody may traverse (for the peer check).
    base = tempfile.mkdtemp(prefix="tfs-control-", dir="/tmp")
    os.chmod(base, 0o755)
    local_mount(base)
    moto = os.environ.get("TFS_TEST_MOTO")
    if moto:
        s3_outage(base, moto)
    else:
        t.diag("TFS_TEST_MOTO unset: no S3 outage case")
    t.done()


if __name__ == "__main__":
    main()
