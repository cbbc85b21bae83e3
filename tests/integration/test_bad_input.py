#!/usr/bin/env python3
# tfs-timeout: 400
"""Bad input, each with its errno and a daemon log line naming the database
and the cause:

  - refused names (unicode, 129-byte ids, leading '.', bad suffixes, control
    characters, '/' inside) and refused operations (mkdir, rename, link,
    symlink, mknod, side file without its database);
  - a stored version whose bytes do not match its hash (embedded store and
    S3): open is EIO, the cached copy is untouched, the next open after a
    repair works;
  - a committed version that is not a SQLite database (valid hash of
    garbage): open serves it, sqlite3 says so, a write-back of it is
    refused and never uploaded;
  - cp of a non-SQLite file into the mount: the check fails, nothing is
    uploaded, it stays local, user.tenantfs.error says why;
  - a full cache disk (8 MiB tmpfs): SQLite reports "database or disk is
    full", what was committed stays intact, writes resume after space is
    freed and everything is written back;
  - missing credentials, a wrong secret, an unknown key (moto_server with
    SigV4 enforced) and an unreachable DynamoDB endpoint: mount exits
    non-zero with a clear message and nothing is mounted."""

import ctypes
import errno
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mount as m  # noqa: E402
import tfstest as t  # noqa: E402

GARBAGE = b"this is not a SQLite database, just text\n" * 200
JUNK = b"neither is this: a plain text file copied in\n" * 300


# ---- helpers --------------------------------------------------------------

class _XXH128(ctypes.Structure):
    _fields_ = [("low64", ctypes.c_uint64), ("high64", ctypes.c_uint64)]


def xxh128(data):
    """XXH3-128 of data as tenantfs spells it (hex high64 then low64), from
    the same libxxhash the daemon links."""
    lib = ctypes.CDLL("libxxhash.so.0")
    lib.XXH3_128bits.restype = _XXH128
    lib.XXH3_128bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    h = lib.XXH3_128bits(data, len(data))
    return f"{h.high64:016x}{h.low64:016x}"


class LogCursor:
    """Reads what a daemon logged after a point: mark(), then wait_for()."""

    def __init__(self, mnt):
        self.mnt = mnt
        self.pos = 0

    def mark(self):
        self.pos = len(self.mnt.log_text())

    def new(self):
        return self.mnt.log_text()[self.pos:]

    def wait_for(self, *words, timeout=30):
        """The first new line holding every word, or None (bounded wait)."""
        def find():
            for line in self.new().splitlines():
                if all(w in line for w in words):
                    return line
            return None
        try:
            return t.wait_until(find, timeout=timeout, what=f"log line with {words}")
        except TimeoutError:
            return None


def expect_refusal(cur, fn, want, name, words):
    """fn() fails with errno want and the daemon logs a line with words."""
    cur.mark()
    m.expect_errno(fn, want, f"{name}: {errno.errorcode[want]}")
    line = cur.wait_for(*words, timeout=10)
    t.ok(line is not None, f"{name}: log line names it and says why",
         f"wanted {words} in:\n{cur.new()}")


def create(mp, name):
    os.close(os.open(os.path.join(mp, name), os.O_CREAT | os.O_WRONLY, 0o644))


def find_object(src, h):
    for root, _, files in os.walk(os.path.join(src, "objects")):
        for f in files:
            if f == h + ".db":
                return os.path.join(root, f)
    return None


def write_rows(db, first, n):
    rc, _, err = m.sqlite_cli(db, "CREATE TABLE IF NOT EXISTS t(k INTEGER PRIMARY KEY, v TEXT);\n"
                              + "".join(f"INSERT INTO t VALUES({k}, 'row {k}');\n"
                                        for k in range(first, first + n)))
    return rc == 0, err


def count_rows(db):
    rc, out, err = m.sqlite_cli(db, "SELECT count(*) FROM t;\n")
    return int(out.strip()) if rc == 0 and out.strip().isdigit() else None


def catalog_row(src, ident):
    c = sqlite3.connect(os.path.join(src, "catalog.db"), timeout=30)
    try:
        return c.execute("SELECT gen, hash, size FROM items WHERE id = ?", (ident,)).fetchone()
    finally:
        c.close()


# ---- names and operations -------------------------------------------------

def names(mp, mnt):
    cur = LogCursor(mnt)
    ok, err = write_rows(os.path.join(mp, "u1.db"), 0, 10)
    t.ok(ok, "u1.db written", err)
    rule = "not a database name"
    bad = [("x.txt", "/x.txt"), (".x.db", "/.x.db"), ("x.db-journalx", "/x.db-journalx"),
           ("a" * 129 + ".db", "/" + "a" * 129 + ".db"), ("\u00fc.db", "/\\xc3\\xbc.db"),
           ("..db", "/..db"), (".db", "/.db"), ("a b.db", "/a b.db"), ("x.DB", "/x.DB"),
           ("x.db.bak", "/x.db.bak"), ("x.db-mj", "/x.db-mj"), ("x\ny.db", "/x\\x0ay.db"),
           ("x\\y.db", "/x\\x5cy.db")]
    for name, logged in bad:
        label = f"create {name[:24]!r}"
        expect_refusal(cur, lambda n=name: create(mp, n), errno.EINVAL, label, [logged, rule])
    t.ok(not any(line.startswith("y.db") for line in mnt.log_text().splitlines()),
         "a newline in a name cannot forge a log line")
    # boundary: 128 bytes is a valid id
    long_ok = "b" * 128 + ".db"
    try:
        create(mp, long_ok)
        t.ok(long_ok in os.listdir(mp), "create of a 128-byte id works")
        os.unlink(os.path.join(mp, long_ok))
    except OSError as e:
        t.ok(False, "create of a 128-byte id works", repr(e))
    # '/' inside a name is a path to the kernel: it never reaches the daemon
    m.expect_errno(lambda: create(mp, "nodir/x.db"), errno.ENOENT,
                   "create 'nodir/x.db': ENOENT (no directories)")
    m.expect_errno(lambda: create(mp, "u1.db/x.db"), errno.ENOTDIR,
                   "create 'u1.db/x.db': ENOTDIR (a database is a file)")
    m.expect_errno(lambda: os.open(os.path.join(mp, "lonely.db-journal"),
                                   os.O_CREAT | os.O_RDWR, 0o644),
                   errno.EPERM, "create of a side file without its database: EPERM")
    db = os.path.join(mp, "u1.db")
    expect_refusal(cur, lambda: os.mkdir(os.path.join(mp, "d")), errno.EPERM, "mkdir",
                   ["mkdir /d", "flat"])
    expect_refusal(cur, lambda: os.rename(db, os.path.join(mp, "u2.db")), errno.EPERM,
                   "rename", ["rename /u1.db", "identity"])
    expect_refusal(cur, lambda: os.link(db, os.path.join(mp, "l.db")), errno.EPERM, "link",
                   ["link /l.db", "hard links"])
    expect_refusal(cur, lambda: os.symlink("u1.db", os.path.join(mp, "s.db")), errno.EPERM,
                   "symlink", ["symlink /s.db", "symbolic links"])
    expect_refusal(cur, lambda: os.mkfifo(os.path.join(mp, "f.db")), errno.EPERM,
                   "mknod of a fifo", ["mknod /f.db", "regular files"])
    t.eq(sorted(os.listdir(mp)), ["u1.db"], "the refusals left nothing behind")
    t.eq(count_rows(db), 10, "u1.db intact after the refusals")


# ---- corrupt and foreign objects, embedded store ---------------------------

def corrupt_local(base, src):
    mp = os.path.join(base, "mnt-c")
    c1, c2, c3 = (os.path.join(base, f"cache-c{i}") for i in (1, 2, 3))
    db = os.path.join(mp, "cx.db")
    with m.Mount(src, mp, ["node=n1", "idle=0.2", "linger=0", f"cache={c1}"]):
        ok, err = write_rows(db, 0, 100)
        t.ok(ok, "cx.db written on node n1", err)
        _, h1 = m.wait_clean(db)
    with m.Mount(src, mp, ["node=n2", "idle=0.2", "linger=0", f"cache={c2}"]):
        ok, err = write_rows(db, 100, 100)
        t.ok(ok, "cx.db updated on node n2", err)
        gen2, h2 = m.wait_clean(db, min_gen=2)
    obj = find_object(src, h2)
    if not t.ok(obj is not None, f"version {h2} is in the store"):
        return
    good = open(obj, "rb").read()
    t.eq(xxh128(good), h2, "the test's XXH3-128 agrees with the daemon's")
    cached = os.path.join(c1, "db", "cx.db")
    t.ok(os.path.exists(cached), "node n1 still caches gen 1 of cx.db", cached)
    before = open(cached, "rb").read() if os.path.exists(cached) else None
    bad = bytearray(good)
    for i in range(100, len(bad), 997):
        bad[i] ^= 0x5A
    with open(obj, "wb") as f:
        f.write(bad)

    mnt = m.Mount(src, mp, ["node=n1", "idle=0.2", "linger=0", f"cache={c1}"]).start()
    cur = LogCursor(mnt)
    try:
        expect_refusal(cur, lambda: os.close(os.open(db, os.O_RDWR)), errno.EIO,
                       "open of a version whose bytes do not match its hash",
                       ["cx", h2, "hash"])
        after = open(cached, "rb").read() if os.path.exists(cached) else None
        t.ok(before is not None and after == before,
             "the cached copy is not overwritten by the corrupt version")
        t.eq(catalog_row(src, "cx")[0], gen2, "catalog still points at gen 2")
        # repaired store: the next open fetches it
        with open(obj, "wb") as f:
            f.write(good)
        t.eq(count_rows(db), 200, "after the object is repaired, open fetches gen 2")
    finally:
        mnt.unmount()
    with open(obj, "wb") as f:
        f.write(bad)
    with m.Mount(src, mp, ["node=n3", "linger=0", f"cache={c3}"]):
        m.expect_errno(lambda: os.close(os.open(db, os.O_RDONLY)), errno.EIO,
                       "corrupt version, empty cache: EIO")
    left = [f for f in os.listdir(os.path.join(c3, "db"))] if os.path.isdir(
        os.path.join(c3, "db")) else []
    t.eq(left, [], "a failed fetch leaves nothing in the cache")
    tmps = []
    for sub in ("tmp", "staging"):
        d = os.path.join(c3, sub)
        if os.path.isdir(d):
            tmps += os.listdir(d)
    t.eq(tmps, [], "nor in its temporary folders")
    with open(obj, "wb") as f:
        f.write(good)


def foreign_local(base, src):
    """The catalog points at a valid-hash object that is not a database."""
    mp = os.path.join(base, "mnt-g")
    db = os.path.join(mp, "gx.db")
    with m.Mount(src, mp, ["node=n1", "idle=0.2", "linger=0", f"cache={base}/cache-g1"]):
        ok, err = write_rows(db, 0, 50)
        t.ok(ok, "gx.db written", err)
        gen, h = m.wait_clean(db)
    obj = find_object(src, h)
    hg = xxh128(GARBAGE)
    gobj = obj[: -len(h + ".db")] + hg + ".db"
    with open(gobj, "wb") as f:
        f.write(GARBAGE)
    c = sqlite3.connect(os.path.join(src, "catalog.db"), timeout=30)
    c.execute("UPDATE items SET gen = gen + 1, hash = ?, size = ? WHERE id = 'gx'",
              (hg, len(GARBAGE)))
    c.commit()
    c.close()
    nobj = len(os.listdir(os.path.dirname(gobj)))

    mnt = m.Mount(src, mp, ["node=n2", "idle=0.2", "linger=0",
                            f"cache={base}/cache-g2"]).start()
    cur = LogCursor(mnt)
    try:
        try:
            with open(db, "rb") as f:
                served = f.read()
            t.ok(served == GARBAGE, "open serves the committed bytes as stored")
        except OSError as e:
            t.ok(False, "open serves the committed bytes as stored", repr(e))
        rc, _, err = m.sqlite_cli(db, "SELECT count(*) FROM t;\n")
        t.ok(rc != 0 and "not a database" in err, "sqlite3 reports 'file is not a database'",
             err)
        line = cur.wait_for("gx", "not a SQLite database", timeout=10)
        t.ok(line is not None, "the daemon logs that gx's version is not a database",
             cur.new())
        # a write makes it dirty: the write-back check refuses it
        cur.mark()
        fd = os.open(db, os.O_RDWR)
        try:
            os.pwrite(fd, b"more garbage\n", len(GARBAGE))
        finally:
            os.close(fd)
        line = cur.wait_for("write-back of gx refused", timeout=30)
        t.ok(line is not None, "write-back of the garbage is refused, logged", cur.new())
        t.ok(m.xattr(db, "error"), "user.tenantfs.error says why",
             m.xattr(db, "error"))
        t.eq(catalog_row(src, "gx")[0], gen + 1, "nothing committed")
        t.eq(len(os.listdir(os.path.dirname(gobj))), nobj, "nothing uploaded")
        # unlink is how an operator gets rid of it
        os.unlink(db)
        t.ok("gx.db" not in os.listdir(mp), "the broken database can be unlinked")
    finally:
        mnt.unmount()


def import_garbage(base, src):
    """cp of a non-SQLite file: never uploaded, stays local, loud error."""
    mp = os.path.join(base, "mnt-i")
    work = os.path.join(base, "work")
    os.makedirs(work, exist_ok=True)
    junk = os.path.join(work, "junk.bin")
    with open(junk, "wb") as f:
        f.write(JUNK)
    db = os.path.join(mp, "junk.db")
    mnt = m.Mount(src, mp, ["node=n1", "idle=0.2", "linger=0",
                            f"cache={base}/cache-i"]).start()
    cur = LogCursor(mnt)
    try:
        cur.mark()
        r = subprocess.run(["cp", junk, db], capture_output=True, text=True, timeout=60)
        t.ok(r.returncode == 0, "cp of a non-SQLite file into the mount", r.stderr)
        line = cur.wait_for("write-back of junk refused", timeout=30)
        t.ok(line is not None and "not a database" in line,
             "its write-back is refused: the log says it is not a database", cur.new())
        err = m.xattr(db, "error")
        t.ok(err and "not a database" in err, "user.tenantfs.error says so", err)
        t.ok(m._truthy(m.xattr(db, "dirty")), "it stays dirty (local only)")
        t.ok(find_object(src, xxh128(JUNK)) is None, "it is never uploaded")
        row = catalog_row(src, "junk")
        t.ok(row is None or row[0] == 0, "no catalog version for it", row)
        t.ok(open(db, "rb").read() == JUNK, "the local copy is kept as written")
        # a real database over it clears the error and is written back
        plain = os.path.join(work, "plain.db")
        c = sqlite3.connect(plain)
        c.execute("CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)")
        c.executemany("INSERT INTO t VALUES(?, ?)", [(i, f"row {i}") for i in range(20)])
        c.commit()
        c.close()
        r = subprocess.run(["cp", plain, db], capture_output=True, text=True, timeout=60)
        t.ok(r.returncode == 0, "cp of a real database over it", r.stderr)
        try:
            _, h = m.wait_clean(db)
            t.ok(find_object(src, h) is not None, "then it is written back")
            t.ok(not m.xattr(db, "error"), "and the error is gone", m.xattr(db, "error"))
        except TimeoutError as e:
            t.ok(False, "then it is written back", f"{e}\n{cur.new()}")
    finally:
        rc = mnt.unmount()
    t.eq(rc, 0, "daemon exits 0")


# ---- a full cache disk ------------------------------------------------------

def disk_full(base, src):
    if os.geteuid() != 0:
        t.diag("skip disk full: needs root to mount a tmpfs")
        return
    small = os.path.join(base, "small")
    os.makedirs(small)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", small],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        t.diag(f"skip disk full: cannot mount a tmpfs: {r.stderr.strip()}")
        return
    mp = os.path.join(base, "mnt-f")
    db = os.path.join(mp, "full.db")
    filler = os.path.join(small, "filler")
    mnt = None
    try:
        mnt = m.Mount(src, mp, ["node=n1", "idle=0.2", "max_dirty=1", "linger=0",
                                f"cache={small}/cache"], log=os.path.join(base, "full.log"))
        mnt.start()
        cur = LogCursor(mnt)
        rc, _, err = m.sqlite_cli(db, "CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB);\n")
        t.ok(rc == 0, "full.db created on an 8 MiB cache", err)
        with open(filler, "wb") as f:
            f.write(b"\0" * (5 << 20))
        acked, full_err, k = [], "", 0
        for k in range(400):  # 400 x 32 KiB is far beyond the 3 MiB left
            rc, _, err = m.sqlite_cli(db, f"INSERT INTO t VALUES({k}, zeroblob(32768));\n")
            if rc != 0:
                full_err = err.strip()
                break
            acked.append(k)
        t.ok("database or disk is full" in full_err,
             f"SQLite reports 'database or disk is full' after {len(acked)} rows", full_err)
        line = cur.wait_for("full.db", "No space left", timeout=15)
        t.ok(line is not None, "the daemon logs the full disk naming the database",
             cur.new()[-2000:])
        rc, out, err = m.sqlite_cli(db, "PRAGMA integrity_check;\nSELECT count(*) FROM t;\n")
        t.ok(rc == 0 and out.split() == ["ok", str(len(acked))],
             "on a full disk: integrity_check ok, every committed row there", out + err)
        os.unlink(filler)
        more = 0
        for j in range(5):
            rc, _, err = m.sqlite_cli(db, f"INSERT INTO t VALUES({k + 1 + j}, zeroblob(1000));\n")
            more += rc == 0
        t.eq(more, 5, "writes resume once space is freed")
        try:
            m.wait_clean(db, timeout=60)
            t.ok(True, "and the database is written back")
        except TimeoutError as e:
            t.ok(False, "and the database is written back", f"{e}\n{cur.new()[-2000:]}")
        t.eq(mnt.unmount(), 0, "daemon exits 0")
        with m.Mount(src, mp, ["node=n2", "linger=0", f"cache={base}/cache-f2"]):
            rc, out, err = m.sqlite_cli(db, "PRAGMA integrity_check;\nSELECT count(*) FROM t;\n")
            t.ok(rc == 0 and out.split() == ["ok", str(len(acked) + 5)],
                 "another node reads every row back", out + err)
    finally:
        if mnt is not None and mnt.proc is not None:
            mnt.kill()
        subprocess.run(["umount", "-l", small], capture_output=True, timeout=30)


# ---- S3: a corrupt object; credentials and endpoints ----------------------

def corrupt_s3(base, moto):
    bucket = t.make_bucket(moto)
    table = t.unique("bad")
    src = f"s3://{bucket}/p"
    aws = [f"catalog=dynamodb:{table}", f"endpoint={moto}", f"dynamodb_endpoint={moto}",
           "region=us-east-1"]
    r = m.run_tenantfs(["init", src, "-o", ",".join(aws)])
    if not t.ok(r.returncode == 0, "init on moto", r.stderr):
        return
    mp = os.path.join(base, "mnt-s3")
    db = os.path.join(mp, "sx.db")
    with m.Mount(src, mp, aws + ["node=n1", "idle=0.2", "linger=0", f"cache={base}/cs1"]):
        ok, err = write_rows(db, 0, 50)
        t.ok(ok, "sx.db written on S3", err)
        _, h = m.wait_clean(db)
    s3 = t.s3_client(moto)
    key = f"p/sx/{h}.db"
    try:
        good = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as e:  # noqa: BLE001
        t.ok(False, f"object {key} in the bucket", repr(e))
        return
    s3.put_object(Bucket=bucket, Key=key, Body=good[:-1] + bytes([good[-1] ^ 1]))
    with m.Mount(src, mp, aws + ["node=n2", "linger=0", f"cache={base}/cs2"]) as mnt:
        cur = LogCursor(mnt)
        expect_refusal(cur, lambda: os.close(os.open(db, os.O_RDONLY)), errno.EIO,
                       "S3 object whose bytes do not match its hash", ["sx", h])
        s3.put_object(Bucket=bucket, Key=key, Body=good)
        t.eq(count_rows(db), 50, "S3 object repaired: the next open fetches it")


def mount_fails(args, env, label, words, mp):
    r = m.run_tenantfs(args, timeout=120, env=env)
    text = r.stderr + r.stdout
    t.ok(r.returncode != 0, f"{label}: exit status non-zero ({r.returncode}, "
         f"{r.elapsed:.1f}s)", text)
    t.ok(all(w in text for w in words), f"{label}: message says {words}", text)
    t.ok(not m.is_fuse_mount(mp), f"{label}: nothing mounted")
    if m.is_fuse_mount(mp):
        subprocess.run(["fusermount3", "-uz", mp], capture_output=True, timeout=30)
    return text


def credentials(base, moto):
    import boto3
    mp = os.path.join(base, "mnt-cred")
    os.makedirs(mp)
    home = os.path.join(base, "home")
    os.makedirs(home)
    env0 = {k: v for k, v in m._daemon_env().items() if not k.startswith("AWS_")}
    env0.update(HOME=home, AWS_EC2_METADATA_DISABLED="true", AWS_REGION="us-east-1")

    # missing credentials (moto does not care, so the message is ours)
    bucket = t.make_bucket(moto)
    table = t.unique("cred")
    aws = [f"catalog=dynamodb:{table}", f"endpoint={moto}", f"dynamodb_endpoint={moto}"]
    r = m.run_tenantfs(["init", f"s3://{bucket}", "-o", ",".join(aws)])
    t.ok(r.returncode == 0, "init on moto", r.stderr)
    text = mount_fails([f"s3://{bucket}", mp, "-o", ",".join(aws + [f"cache={base}/cc0"])],
                       env0, "no credentials anywhere", ["credentials"], mp)
    t.ok(len(text) < 4000, "no credentials: one short message, not a flood", len(text))

    # unreachable DynamoDB endpoint
    dead = f"http://127.0.0.1:{t.free_port()}"
    env1 = m._daemon_env()
    mount_fails([f"s3://{bucket}", mp, "-o",
                 f"catalog=dynamodb:{table},endpoint={moto},dynamodb_endpoint={dead},"
                 f"cache={base}/cc1"], env1, "dead DynamoDB endpoint", [dead], mp)
    # a host name that does not resolve
    mount_fails([f"s3://{bucket}", mp, "-o",
                 f"catalog=dynamodb:{table},endpoint=http://no-such-host.invalid:9,"
                 f"dynamodb_endpoint={moto},cache={base}/cc2"], env1,
                "S3 endpoint that does not resolve", ["no-such-host.invalid"], mp)

    # wrong credentials: a moto of our own that enforces SigV4
    port = t.free_port()
    log = open(os.path.join(base, "moto-auth.log"), "ab")
    proc = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)],
                            env=dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="4"),
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    log.close()
    t.record_pid(proc.pid)
    try:
        t.wait_until(lambda: proc.poll() is None and t.port_open("127.0.0.1", port),
                     timeout=30, what="moto_server with auth")
        ep = f"http://127.0.0.1:{port}"

        def client(svc, kid, secret):
            return boto3.client(svc, endpoint_url=ep, region_name="us-east-1",
                                aws_access_key_id=kid, aws_secret_access_key=secret,
                                config=t._boto_config(1))
        iam = client("iam", "testing", "testing")
        iam.create_user(UserName="tfs")
        key = iam.create_access_key(UserName="tfs")["AccessKey"]
        kid, secret = key["AccessKeyId"], key["SecretAccessKey"]
        iam.put_user_policy(UserName="tfs", PolicyName="all", PolicyDocument=json.dumps(
            {"Version": "2012-10-17",
             "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
        abucket = t.unique("auth")
        client("s3", kid, secret).create_bucket(Bucket=abucket)
        opts = (f"catalog=dynamodb:{t.unique('at')},endpoint={ep},dynamodb_endpoint={ep},"
                f"cache={base}/cc3")
        good = dict(env0, AWS_ACCESS_KEY_ID=kid, AWS_SECRET_ACCESS_KEY=secret)
        r = m.run_tenantfs(["init", f"s3://{abucket}", "-o", opts], env=good)
        t.ok(r.returncode == 0, "right key: init works against the SigV4 moto", r.stderr)
        text = mount_fails([f"s3://{abucket}", mp, "-o", opts],
                           dict(good, AWS_SECRET_ACCESS_KEY=secret + "x"), "wrong secret",
                           ["access denied", "credentials", abucket], mp)
        t.ok(secret not in text, "wrong secret: no secret in the message")
        mount_fails([f"s3://{abucket}", mp, "-o", opts],
                    dict(good, AWS_ACCESS_KEY_ID="AKIAUNKNOWNKEY000000"), "unknown key id",
                    ["access denied", "credentials", abucket], mp)
        with m.Mount(f"s3://{abucket}", mp, opts.split(",") + ["node=n1", "linger=0"],
                     env=good, log=os.path.join(base, "auth-mount.log")):
            ok, err = write_rows(os.path.join(mp, "a.db"), 0, 5)
            t.ok(ok, "right key: mount and write work", err)
    finally:
        t.stop_process(proc)


def main():
    m.need_fuse()
    m.tenantfs_binary()
    base = tempfile.mkdtemp(prefix="bad-input-", dir=t.tmp_dir())
    src = os.path.join(base, "store")
    mp = os.path.join(base, "mnt")
    with m.Mount(src, mp, ["node=n1", "idle=0.2", "linger=0",
                           f"cache={base}/cache-n"]) as mnt:
        names(mp, mnt)
    corrupt_local(base, src)
    foreign_local(base, src)
    import_garbage(base, src)
    disk_full(base, src)
    moto = os.environ.get("TFS_TEST_MOTO")
    if moto:
        corrupt_s3(base, moto)
        credentials(base, moto)
    else:
        t.diag("no TFS_TEST_MOTO: S3 and credential cases not run")
    shutil.rmtree(os.path.join(base, "work"), ignore_errors=True)


if __name__ == "__main__":
    m.run_main(main)
