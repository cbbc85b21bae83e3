#!/usr/bin/env python3
"""tenantfs capacity benchmark (issue 9): how many databases one node holds
and what they cost. Not part of the test suite: it prints figures and the
targets beside them, and asserts nothing.

    tests/bench/capacity.py [--build build] [--tmp DIR] [--only embedded,moto,cost]
                            [--cached 100000] [--open 10000]
                            [--moto URL | --start-moto] [--moto-open 2000]
                            [--dynalite URL | --start-dynalite] [--cost-dbs 10000]
                            [--cost-seconds 60]
                            [--keep]

embedded  the embedded store (local folder + SQLite catalog): --cached
          databases (a small SQLite file each) are created through a mount
          and written back; the node is mounted again with all of them in
          its cache: mount start time, `ls -l` time of the root, then --open
          of them held open at once: daemon RSS (and its peak), descriptors
          and threads with none open and with all open, and the catalog
          writes of one heartbeat period with all held idle;
moto      the same on S3 + DynamoDB (moto_server, DynamoDB through
          tests/lib/faultproxy.py, which counts requests) with --moto-open
          databases created, cached and held open;
cost      tests/integration/test_lease_cost.py at full size: --cost-dbs
          databases held open for --cost-seconds, then write sessions, the
          catalog on dynalite (--dynalite URL or $TFS_TEST_DYNALITE; moto
          without one), S3 on moto; its request counts are printed.

Targets (issue 9): RSS <= 256 MiB, mount start <= 2 s with 100,000 cached,
no thread or timer per database (threads do not grow with open databases).
"""

import argparse
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
sys.path.insert(0, HERE)

RSS_TARGET_MIB = 256
START_TARGET_S = 2.0


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def figures(pid):
    st = proc_status(pid)
    return {
        "rss_mib": int(st["VmRSS"].split()[0]) / 1024,
        "peak_mib": int(st["VmHWM"].split()[0]) / 1024,
        "threads": int(st["Threads"]),
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
    }


def stats(mp):
    line = os.getxattr(mp, "user.tenantfs.stats").decode()
    return {k: float(v) for k, v in (f.split("=", 1) for f in line.split())}


def template_db(path):
    """A small, valid SQLite database (512-byte pages: 1 KiB)."""
    c = sqlite3.connect(path)
    c.execute("PRAGMA page_size=512")
    c.execute("CREATE TABLE t(v)")
    c.execute("INSERT INTO t VALUES('x')")
    c.commit()
    c.close()
    with open(path, "rb") as f:
        return f.read()


def create_many(mp, ids, data, workers=8):
    """Writes data (bytes, or a function of the id giving them) into each
    <id>.db through the mount, several at a time."""
    errs = []
    nxt = iter(ids)
    lock = threading.Lock()

    def work():
        while True:
            with lock:
                ident = next(nxt, None)
            if ident is None or errs:
                return
            payload = data(ident) if callable(data) else data
            try:
                fd = os.open(os.path.join(mp, ident + ".db"), os.O_WRONLY | os.O_CREAT, 0o644)
                try:
                    os.write(fd, payload)
                finally:
                    os.close(fd)
            except OSError as e:
                errs.append(f"{ident}: {e}")

    ths = [threading.Thread(target=work) for _ in range(workers)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    if errs:
        raise RuntimeError(f"creating databases failed: {errs[:3]}")


def wait_written(mp, n, base_commits, timeout):
    import tfstest as t
    t.wait_until(lambda: stats(mp)["commits"] - base_commits >= n, timeout=timeout,
                 interval=1.0, what=f"{n} databases written back")


def ddb_counts(proxy):
    c = {}
    for r in proxy.stats().get("requests", []):
        if r.get("target"):
            op = r["target"].rsplit(".", 1)[-1]
            c[op] = c.get(op, 0) + 1
    return c


def run_capacity(label, source, opts, n_cached, n_open, base, proxy=None, init=True):
    """Creates n_cached databases, remounts, measures; prints the figures."""
    import mount as m
    mp = os.path.join(base, "mnt")
    data = template_db(os.path.join(base, "template.db"))
    ids = [f"c{i:06d}" for i in range(n_cached)]
    mnt = m.Mount(source, mp, opts + ["linger=0", "idle=1"], log=os.path.join(base, "fill.log"))
    mnt.start()
    t0 = time.monotonic()
    try:
        c0 = stats(mp)["commits"]
        create_many(mp, ids, data)
        created = time.monotonic() - t0
        wait_written(mp, n_cached, c0, timeout=max(600, n_cached / 20))
        written = time.monotonic() - t0
    finally:
        mnt.unmount(timeout=3600)
    print(f"[{label}] created {n_cached} databases in {created:.1f}s, all written back "
          f"after {written:.1f}s ({n_cached / written:.0f}/s)")

    # A long linger: the node still holds every lease when it is unmounted
    # (the shutdown's cost with n_open leases held).
    mnt = m.Mount(source, mp, opts + ["linger=3600", "idle=3600", "max_dirty=3600"],
                  log=os.path.join(base, "measure.log"))
    t0 = time.monotonic()
    mnt.start()
    start_s = time.monotonic() - t0
    held = []
    try:
        pid = mnt.proc.pid
        idle = figures(pid)
        t0 = time.monotonic()
        r = subprocess.run(["ls", "-l", mp], capture_output=True, text=True, timeout=3600)
        ls_s = time.monotonic() - t0
        listed = sum(1 for line in r.stdout.splitlines() if line.endswith(".db"))
        after_ls = figures(pid)
        t0 = time.monotonic()
        for ident in ids[:n_open]:
            held.append(os.open(os.path.join(mp, ident + ".db"), os.O_RDWR))
        open_s = time.monotonic() - t0
        opened = figures(pid)
        s0 = stats(mp)
        if proxy:
            proxy.reset()
        # Two heartbeat periods at the default lease_ttl (30 s: one each 10 s).
        time.sleep(20)
        s1 = stats(mp)
        held_fig = figures(pid)
        cnt = ddb_counts(proxy) if proxy else None
    finally:
        for fd in held:
            os.close(fd)
        if proxy:
            proxy.reset()
        t0 = time.monotonic()
        mnt.unmount(timeout=3600)
        unmount_s = time.monotonic() - t0
    unmount_cnt = ddb_counts(proxy) if proxy else None
    beats = int(s1["lease_renews"] - s0["lease_renews"])
    print(f"[{label}] {n_cached} databases in the cache:")
    print(f"  mount start           {start_s:8.2f} s   (target <= {START_TARGET_S:.0f} s: "
          f"{start_s / START_TARGET_S:.2f} of it)")
    print(f"  ls -l of the root     {ls_s:8.2f} s   ({listed} entries listed)")
    print(f"  open {n_open} at once  {open_s:8.2f} s   ({n_open / max(open_s, 1e-3):.0f}/s)")
    print(f"  unmount, {len(held)} leases held {unmount_s:8.2f} s"
          + (f"   (DynamoDB requests: {unmount_cnt})" if unmount_cnt is not None else ""))
    for name, fig in (("after start, none open", idle), ("after ls -l", after_ls),
                      (f"{n_open} open", opened), (f"{n_open} open, 20 s later", held_fig)):
        print(f"  daemon {name:24s} RSS {fig['rss_mib']:7.1f} MiB (peak "
              f"{fig['peak_mib']:7.1f}; target <= {RSS_TARGET_MIB}: "
              f"{fig['peak_mib'] / RSS_TARGET_MIB:.2f} of it)  fds {fig['fds']:6d}  "
              f"threads {fig['threads']:3d}")
    print(f"  threads with {n_open} open minus none open: "
          f"{held_fig['threads'] - idle['threads']} (no thread per database)")
    print(f"  fds with {n_open} open minus none open: {held_fig['fds'] - idle['fds']} "
          f"(the open databases' cache files)")
    print(f"  heartbeats in 20 s with {n_open} held idle: {beats} "
          f"(one per 10 s period, whatever the count)")
    if cnt is not None:
        print(f"  DynamoDB requests in those 20 s: {cnt} "
              f"({sum(cnt.values()) / n_open:.5f} per held database)")


def start_dynalite(base):
    """A dynalite of our own on loopback (tests/node_modules, as tests/run)."""
    import tfstest as t
    exe = os.path.join(ROOT, "tests", "node_modules", ".bin", "dynalite")
    port = t.free_port()
    log = os.path.join(base, "dynalite.log")
    logf = open(log, "wb")
    try:
        proc = subprocess.Popen(["node", exe, "--host", "127.0.0.1", "--port", str(port)],
                                stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
    finally:
        logf.close()
    t.record_pid(proc.pid)
    try:
        t.wait_until(lambda: t.port_open("127.0.0.1", port), timeout=30, what="dynalite port")
    except BaseException:
        t.stop_process(proc)
        raise
    return proc, f"http://127.0.0.1:{port}"


def scratch_env(build, tmp, prefix):
    """The environment of a benchmark run (the build to use, moto's test
    credentials) and its scratch folder, made under tmp."""
    os.environ["TFS_TEST_BUILD"] = os.path.abspath(build)
    base = tempfile.mkdtemp(prefix=prefix, dir=tmp)
    os.environ.setdefault("TFS_TEST_TMP", base)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_REGION", "us-east-1")
    return base


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.environ.get("TFS_TEST_BUILD") or
                    os.path.join(ROOT, "build"))
    ap.add_argument("--tmp", default=None)
    ap.add_argument("--only", default="embedded,moto,cost")
    ap.add_argument("--cached", type=int, default=100000)
    ap.add_argument("--open", type=int, default=10000)
    ap.add_argument("--moto", default=os.environ.get("TFS_TEST_MOTO"))
    ap.add_argument("--start-moto", action="store_true")
    ap.add_argument("--moto-open", type=int, default=2000)
    ap.add_argument("--dynalite", default=os.environ.get("TFS_TEST_DYNALITE"))
    ap.add_argument("--start-dynalite", action="store_true")
    ap.add_argument("--cost-dbs", type=int, default=10000)
    ap.add_argument("--cost-seconds", type=int, default=60)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()

    base = scratch_env(a.build, a.tmp, "tfs-capacity-")
    import tfstest as t
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    only = set(a.only.split(","))
    moto_proc = dyn_proc = None
    try:
        if "embedded" in only:
            d = os.path.join(base, "embedded")
            os.makedirs(d)
            run_capacity("embedded", os.path.join(d, "store"), [f"cache={d}/cache"],
                         a.cached, a.open, d)
        if (only & {"moto", "cost"}) and not a.moto and a.start_moto:
            from bench import start_moto
            moto_proc, a.moto = start_moto(base)
        if "cost" in only and not a.dynalite and a.start_dynalite:
            dyn_proc, a.dynalite = start_dynalite(base)
        if "moto" in only and a.moto:
            d = os.path.join(base, "moto")
            os.makedirs(d)
            with t.FaultProxy(a.moto) as proxy:
                bucket = t.make_bucket(a.moto)
                table = t.unique("capacity")
                opts = [f"catalog=dynamodb:{table}", f"endpoint={a.moto}",
                        f"dynamodb_endpoint={proxy.url}", "region=us-east-1", f"cache={d}/cache"]
                import mount as m
                r = m.run_tenantfs(["init", f"s3://{bucket}/cap", "-o", ",".join(opts)])
                if r.returncode != 0:
                    raise RuntimeError(f"tenantfs init failed: {r.stderr}")
                run_capacity("moto", f"s3://{bucket}/cap", opts, a.moto_open, a.moto_open, d,
                             proxy=proxy)
        elif "moto" in only:
            print("[moto] skipped: no --moto URL, $TFS_TEST_MOTO or --start-moto")
        if "cost" in only and a.moto:
            env = dict(os.environ, TFS_TEST_MOTO=a.moto, TFS_LEASE_COST_DBS=str(a.cost_dbs),
                       TFS_LEASE_COST_SECONDS=str(a.cost_seconds),
                       TFS_LEASE_COST_SESSIONS="20")
            if a.dynalite:
                env.update(TFS_TEST_DYNALITE=a.dynalite, TFS_LEASE_COST_PEER="dynalite")
            t0 = time.monotonic()
            print(f"[cost] {a.cost_dbs} databases held open for {a.cost_seconds} s, catalog "
                  f"on {'dynalite' if a.dynalite else 'moto'} "
                  f"(tests/integration/test_lease_cost.py):")
            r = subprocess.run([sys.executable,
                                os.path.join(ROOT, "tests", "integration", "test_lease_cost.py")],
                               env=env, capture_output=True, text=True, timeout=7200)
            for line in r.stdout.splitlines():
                print("  " + line)
            print(f"  ({time.monotonic() - t0:.0f} s)")
            if r.returncode != 0:
                print(f"  (exit status {r.returncode})\n{r.stderr[-2000:]}")
    finally:
        for proc in (moto_proc, dyn_proc):
            if proc is not None:
                t.stop_process(proc)
        if not a.keep:
            shutil.rmtree(base, ignore_errors=True)
        else:
            print(f"kept {base}")


if __name__ == "__main__":
    main()
