#!/usr/bin/env python3
"""tenantfs gc on the embedded store (SQLite catalog) and on moto (S3 +
DynamoDB), through real mounts:
- retention: of six commits of one database, the versions superseded
  before --keep go, those within it and the current one stay, and a
  version a snapshot manifest names stays; --dry-run prints the same
  deletions and deletes nothing; gc prints each deletion and the bytes
  freed, and the database still opens at its last version, the snapshot
  still restores;
- concurrency: gc with --keep 0s --grace 0s runs in a bounded loop while
  two nodes commit, a restore --as-of loop makes old versions current
  again (the very objects gc is deleting) and snapshots are taken; after
  it every database opens on a fresh node at its last committed value
  with integrity_check ok, every snapshot restores, and verify finds
  nothing missing;
- on moto, an incomplete multipart upload under the prefix is aborted
  once older than --grace, and left alone while younger;
- usage errors exit 2 with a usage message and change nothing."""
# tfs-timeout: 600

import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

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


def get(mp, ident):
    c = sqlite3.connect(os.path.join(mp, ident + ".db"), timeout=30)
    try:
        ok = c.execute("PRAGMA integrity_check").fetchone()[0]
        return ok, c.execute("SELECT x FROM v").fetchone()[0]
    finally:
        c.close()


def iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


class Env:
    def __init__(self, label, src, base, opts, list_keys, put_key, del_key):
        self.label, self.src, self.base, self.opts = label, src, base, opts
        self.list_keys, self.put_key, self.del_key = list_keys, put_key, del_key

    def admin(self, *args, timeout=120):
        argv = [args[0], self.src] + (["-o", ",".join(self.opts)] if self.opts else []) + \
            list(args[1:])
        return m.run_tenantfs(argv, timeout=timeout)

    def mount(self, node, mp=None):
        mp = mp or os.path.join(self.base, f"mnt-{node}")
        os.makedirs(mp, exist_ok=True)
        opts = list(self.opts) + [f"node={node}", "idle=0.2", "linger=0.2",
                                  f"cache={self.base}/cache-{node}"]
        return m.Mount(self.src, mp, opts), mp

    def versions(self, ident):
        return sorted(k for k in self.list_keys() if f"{ident}/" in k and k.endswith(".db"))


def commit(L, mp, ident, value, min_gen):
    put(mp, ident, value)
    try:
        g, h = m.wait_clean(os.path.join(mp, ident + ".db"), min_gen=min_gen)
        return g, h
    except TimeoutError as e:
        t.ok(False, f"{L}: {ident} = {value} written back", str(e))
        return None, None


def retention(env):
    L = env.label
    # A snapshot announced before the commits and never finished (a take
    # still scanning): while its marker is there, gc keeps every version
    # current since it was put.
    mnt, mp = env.mount("n1")
    hashes = {}
    with mnt:
        env.put_key("_snapshots/early.taking", b'{"taking":"early"}')
        for i in range(1, 7):
            g, h = commit(L, mp, "g", f"v{i}", i)
            if g is None:
                return
            hashes[i] = h
            if i == 1:
                # t1: created and deleted long before --keep ends
                commit(L, mp, "t1", "gone", 1)
                os.unlink(os.path.join(mp, "t1.db"))
            if i == 2:
                r = env.admin("snapshot", "--name", "keep-v2")
                t.ok(r.returncode == 0, f"{L}: snapshot names v2", r.stdout + r.stderr)
            if i == 3:
                time.sleep(5)  # v1..v3 superseded well before v4..v6
    t.eq(mnt.returncode, 0, f"{L}: daemon exits 0")
    before = sorted(env.list_keys())
    t.eq(len(env.versions("g")), 6, f"{L}: six versions in the store")

    args = ("gc", "--keep", "3s", "--grace", "0s")
    r = env.admin(*args)
    out = r.stdout
    t.ok(r.returncode == 0 and "snapshot early is being taken" in out and
         "deleted version" not in out, f"{L}: a snapshot being taken: gc keeps what it may name",
         out + r.stderr)
    t.eq(sorted(env.list_keys()), before, f"{L}: ... and deletes nothing")
    env.del_key("_snapshots/early.taking")
    before = sorted(env.list_keys())

    r = env.admin(*args, "--dry-run")
    out = r.stdout
    t.ok(r.returncode == 0 and "would delete version" in out and hashes[1] in out,
         f"{L}: --dry-run names v1", out + r.stderr)
    vlines = "".join(ln for ln in out.splitlines() if "delete version" in ln)
    t.ok(all(hashes[i] not in vlines for i in (2, 3, 4, 5, 6)),
         f"{L}: --dry-run keeps the snapshot's v2, v3 (superseded within --keep) and newer",
         out)
    t.ok("would delete tombstone t1" in out, f"{L}: --dry-run names the old tombstone", out)
    t.eq(sorted(env.list_keys()), before, f"{L}: --dry-run deleted nothing")

    r = env.admin(*args)
    out = r.stdout
    t.ok(r.returncode == 0 and f"deleted version" in out and hashes[1] in out and
         " bytes freed" in out, f"{L}: gc deletes v1 and says what it freed", out + r.stderr)
    vlines = "".join(ln for ln in out.splitlines() if "deleted version" in ln)
    t.ok(all(hashes[i] not in vlines for i in (2, 3, 4, 5, 6)),
         f"{L}: gc deleted no other version", out)
    left = "".join(env.versions("g"))
    t.ok(hashes[1] not in left and all(hashes[i] in left for i in (2, 3, 4, 5, 6)),
         f"{L}: v1 is gone; v2 (snapshot), v3 (within --keep), v4..v6 stay", left)
    t.ok("deleted tombstone t1" in out and not env.versions("t1"),
         f"{L}: the tombstone older than --keep went with its versions", out)
    r = env.admin("history", "--id", "t1")
    t.ok("no catalog item; 0 version objects, 0 version records" in r.stdout,
         f"{L}: nothing of t1 is left", r.stdout + r.stderr)
    r = env.admin("history", "--id", "g", "--keep", "3s", "--grace", "0s")
    g1 = [ln for ln in r.stdout.splitlines() if ln.startswith("gen 1 ")]
    t.ok(r.returncode == 0 and "named by a snapshot" in r.stdout and
         all("missing from the store" in ln for ln in g1), f"{L}: history after gc",
         r.stdout)
    r = env.admin("gc", "--keep", "3s", "--grace", "0s")
    t.ok(r.returncode == 0 and "deleted 0 versions" in r.stdout,
         f"{L}: a second run finds nothing more", r.stdout + r.stderr)

    mnt, mp = env.mount("n2")
    with mnt:
        t.eq(get(mp, "g"), ("ok", "v6"), f"{L}: the database opens at its last version")
    r = env.admin("restore", "--snapshot", "keep-v2", "--id", "g")
    t.ok(r.returncode == 0 and "restored g" in r.stdout,
         f"{L}: the snapshot's version restores after gc", r.stdout + r.stderr)
    mnt, mp = env.mount("n2")
    with mnt:
        t.eq(get(mp, "g"), ("ok", "v2"), f"{L}: restored content reads back")

    # ---- usage ------------------------------------------------------------
    before = sorted(env.list_keys())
    for bad, what in ((["--id", "g"], "--id"), (["--keep", "week"], "a bad --keep"),
                      (["--grace"], "--grace without a value"), (["--yes"], "--yes"),
                      (["--snapshot", "x"], "--snapshot")):
        r = env.admin("gc", *bad)
        t.ok(r.returncode == 2 and ("usage" in r.stderr or "invalid" in r.stderr or
                                    "needs a value" in r.stderr),
             f"{L}: gc with {what}: exit 2 and a message", r.stderr)
    t.eq(sorted(env.list_keys()), before, f"{L}: bad usage deleted nothing")


def concurrency(env, seconds=25.0):
    L = env.label + " concurrent"
    stop = threading.Event()
    errors = []
    last = {}
    gc_runs = [0]
    deleted = [0]
    restores = [0, 0]  # succeeded, refused
    snaps = []
    gc_log = []

    # c1: committed a few times and closed: the restore loop's target.
    mnt, mp = env.mount("n0")
    c1_times = []
    with mnt:
        for i in range(1, 6):
            commit(L, mp, "c1", f"c{i}", i)
            c1_times.append(int(time.time() * 1000))
            time.sleep(1.1)
    t.eq(mnt.returncode, 0, f"{L}: c1 written")

    def writer(node, ident, n):
        mnt, mp = env.mount(node)
        try:
            with mnt:
                for i in range(1, n + 1):
                    if stop.is_set():
                        break
                    put(mp, ident, f"{ident}-{i}")
                    try:
                        m.wait_clean(os.path.join(mp, ident + ".db"), min_gen=i, timeout=60)
                        last[ident] = f"{ident}-{i}"
                    except TimeoutError as e:
                        errors.append(f"{ident} commit {i}: {e}\n{mnt.log_text()[-3000:]}")
                        break
                    time.sleep(random.uniform(0.05, 0.3))
            if mnt.returncode != 0:
                errors.append(f"{node} exited {mnt.returncode}: {mnt.log_text()[-3000:]}")
        except Exception as e:  # noqa: BLE001 - reported as a failure below
            errors.append(f"{node}: {e!r}")

    def collector():
        while not stop.is_set():
            r = env.admin("gc", "--keep", "0s", "--grace", "0s")
            gc_runs[0] += 1
            if r.returncode != 0:
                errors.append(f"gc exited {r.returncode}: {r.stdout[-2000:]}{r.stderr[-2000:]}")
            deleted[0] += r.stdout.count("deleted version")
            gc_log.append(r.stdout + r.stderr)

    def restorer():
        while not stop.is_set():
            at = random.randint(c1_times[0], c1_times[-1])
            r = env.admin("restore", "--as-of", iso(at), "--id", "c1")
            restores[0 if r.returncode == 0 else 1] += 1
            gc_log.append("RESTORE " + r.stdout + r.stderr)
            if r.returncode == 0:
                last["c1"] = None  # some earlier value: checked for soundness only
            if len(snaps) < 6 and "w1" in last and "w2" in last:
                name = f"s{len(snaps)}"
                r = env.admin("snapshot", "--name", name)
                if r.returncode == 0:
                    snaps.append(name)
                else:
                    errors.append(f"snapshot {name}: {r.stderr[-2000:]}")
            time.sleep(0.2)

    threads = [threading.Thread(target=writer, args=("n1", "w1", 40), daemon=True),
               threading.Thread(target=writer, args=("n2", "w2", 40), daemon=True),
               threading.Thread(target=collector, daemon=True),
               threading.Thread(target=restorer, daemon=True)]
    for th in threads:
        th.start()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and threads[0].is_alive() and threads[1].is_alive():
        time.sleep(0.2)
    stop.set()
    for th in threads:
        th.join(timeout=120)
    t.ok(not any(th.is_alive() for th in threads), f"{L}: every loop stopped by itself")
    t.ok(not errors, f"{L}: no failure in the loops", "\n".join(errors)[-6000:])
    t.diag(f"{L}: {gc_runs[0]} gc runs deleted {deleted[0]} versions; restores "
           f"{restores[0]} done, {restores[1]} refused; {len(snaps)} snapshots")
    t.ok(gc_runs[0] >= 2 and deleted[0] > 0, f"{L}: gc ran and deleted while nodes committed")

    # One last collection with nobody writing, then everything must open.
    r = env.admin("gc", "--keep", "0s", "--grace", "0s")
    t.eq(r.returncode, 0, f"{L}: a final gc")
    mnt, mp = env.mount("fresh")
    with mnt:
        for ident in ("w1", "w2", "c1"):
            try:
                ok, val = get(mp, ident)
            except sqlite3.Error as e:
                ok, val = f"error {e}", None
            t.eq(ok, "ok", f"{L}: {ident} opens on a fresh node, integrity_check ok")
            if last.get(ident):
                t.eq(val, last[ident], f"{L}: {ident} holds its last committed value")
    for name in snaps:
        r = env.admin("restore", "--snapshot", name, "--id", "w1")
        t.ok(r.returncode == 0, f"{L}: snapshot {name} still restores w1", r.stderr)
    r = env.admin("verify")
    t.ok(r.returncode == 0 and "missing" not in r.stdout,
         f"{L}: verify finds nothing missing", r.stdout + r.stderr)
    # What happened to each missing object, in order: the gc and restore
    # lines naming its hash (short enough for the run's closing digest).
    for ln in r.stdout.splitlines():
        if not ln.startswith("missing ") or " key " not in ln:
            continue
        h = os.path.basename(ln.split(" key ", 1)[1].split()[0]).split(".")[0]
        trace = [f"[{i}] {x}" for i, run in enumerate(gc_log)
                 for x in run.splitlines() if h in x]
        t.diag(f"{ln}: {len(gc_log)} gc/restore runs; those naming {h}:\n" +
               "\n".join(trace[-30:]))


def multipart(env, s3, bucket):
    """An incomplete multipart upload under the prefix is aborted once older
    than --grace (by the store's clock), kept while younger."""
    L = env.label
    key = "users/mp/" + "f" * 32 + ".db"
    s3.create_multipart_upload(Bucket=bucket, Key=key)
    time.sleep(1.5)

    def uploads():
        return [u["Key"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]

    listed = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    started = listed[0]["Initiated"].timestamp() if listed else 0
    if abs(started - time.time()) < 3600:
        r = env.admin("gc", "--grace", "1h", "--dry-run")
        t.ok(r.returncode == 0 and "upload" not in r.stdout.split("gc --dry-run")[0],
             f"{L}: an upload younger than --grace is left alone", r.stdout + r.stderr)
    else:
        # moto answers a fixed Initiated (2010-11-10): only S3 tells the age
        t.diag(f"{L}: the store reports the upload started at {listed[0]['Initiated']}: "
               "the younger-than---grace case is not tried here")
    r = env.admin("gc", "--grace", "0s", "--dry-run")
    t.ok(r.returncode == 0 and f"would abort upload {key}" in r.stdout,
         f"{L}: --dry-run names the old incomplete upload", r.stdout + r.stderr)
    t.eq(uploads(), [key], f"{L}: --dry-run aborted nothing")
    r = env.admin("gc", "--grace", "0s")
    t.ok(r.returncode == 0 and f"aborted upload {key}" in r.stdout and "1 uploads" in r.stdout,
         f"{L}: gc aborts the incomplete upload older than --grace", r.stdout + r.stderr)
    t.eq(uploads(), [], f"{L}: no incomplete upload is left")


def two_versions(env, node, ident):
    """Commits two versions of ident; the hash of the first, once it is
    superseded beyond --keep 0s and the store clock's resolution."""
    mnt, mp = env.mount(node)
    with mnt:
        _, h1 = commit(env.label, mp, ident, "one", 1)
        _, h2 = commit(env.label, mp, ident, "two", 2)
    time.sleep(2)
    return h1 if h2 else None


def failed_delete(env, moto):
    """A DELETE that fails may still land later: gc makes it again 30 s
    later and closes the phase only when it then succeeds, else leaves the
    phase open (a later run closes it as stale) rather than let a commit
    name the object again while a late DELETE can remove it."""
    L = env.label
    opts = [o for o in env.opts if not o.startswith("endpoint=")]

    def refusing(fp, h):
        """gc's argv through fp, which refuses every DELETE of h."""
        fp.rules([{"action": "status", "status": 403, "code": "AccessDenied", "count": -1,
                   "method": "DELETE", "path_re": h}])
        return ["gc", env.src, "-o", ",".join(opts + [f"endpoint={fp.url}"]), "--keep", "0s",
                "--grace", "0s"]

    h1 = two_versions(env, "n4", "fe")
    if not h1:
        return
    with t.FaultProxy(moto) as fp:
        argv = refusing(fp, h1)
        p = subprocess.Popen([m.tenantfs_binary()] + argv, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=m._daemon_env(),
                             stdin=subprocess.DEVNULL)
        err = []
        deadline = time.monotonic() + 60
        for line in p.stderr:
            err.append(line)
            if "making them again in 30 s" in line or time.monotonic() > deadline:
                break
        fp.reset()  # the DELETE made again now succeeds
        out, rest = p.communicate(timeout=120)
        err = "".join(err) + rest
    t.ok(p.returncode == 0 and "fe: 1 deletions failed; making them again" in err and
         h1 in out and "deleted version" in out,
         f"{L}: a failed DELETE made again 30 s later: deleted, phase closed, exit 0",
         out + err)
    t.ok(not any(h1 in k for k in env.versions("fe")), f"{L}: ... the object is gone",
         env.versions("fe"))
    mnt, mp = env.mount("n5")
    with mnt:
        t.ok(commit(L, mp, "fe", "three", 3)[0] is not None,
             f"{L}: ... and the database commits again (the phase is closed)")

    h1 = two_versions(env, "n4", "fd")
    if not h1:
        return
    with t.FaultProxy(moto) as fp:
        r = m.run_tenantfs(refusing(fp, h1), timeout=120)
    t.ok(r.returncode == 1 and f"cannot delete" in r.stderr and h1 in r.stderr and
         "fd: a deletion failed again, so its gc phase stays open" in r.stderr,
         f"{L}: a DELETE that fails twice: gc exits 1 and leaves the phase open",
         r.stdout + r.stderr)
    t.ok(any(h1 in k for k in env.versions("fd")), f"{L}: ... the object is still there",
         env.versions("fd"))
    r = env.admin("gc", "--keep", "0s", "--grace", "0s")
    t.ok(r.returncode == 0 and "fd left alone this run: another gc run is deleting" in r.stderr
         and any(h1 in k for k in env.versions("fd")),
         f"{L}: the next run leaves the database alone while that phase is open",
         r.stdout + r.stderr)
    mnt, mp = env.mount("n5")
    with mnt:
        t.eq(get(mp, "fd"), ("ok", "two"), f"{L}: the database still opens at its last version")


def embedded(tmp):
    base = tempfile.mkdtemp(prefix="gc-local-", dir=tmp)
    src = os.path.join(base, "store")

    def list_keys():
        root = os.path.join(src, "objects")
        out = []
        for d, _, files in os.walk(root):
            out += [os.path.relpath(os.path.join(d, f), root) for f in files]
        return out

    def put_key(key, data):
        path = os.path.join(src, "objects", key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)

    def del_key(key):
        os.unlink(os.path.join(src, "objects", key))

    env = Env("embedded", src, base, [], list_keys, put_key, del_key)
    retention(env)
    concurrency(env)


def on_moto(tmp, moto):
    store = m.init_moto_store(tmp, moto, "gc")
    if not store:
        return
    base, bucket, table, src, aws = store
    s3 = t.s3_client(moto)

    def list_keys():
        return t.bucket_keys(s3, bucket)

    def put_key(key, data):
        s3.put_object(Bucket=bucket, Key="users/" + key, Body=data)

    def del_key(key):
        s3.delete_object(Bucket=bucket, Key="users/" + key)

    env = Env("moto", src, base, aws, list_keys, put_key, del_key)
    retention(env)
    multipart(env, s3, bucket)
    concurrency(env, seconds=20.0)
    failed_delete(env, moto)


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
