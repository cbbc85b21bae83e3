"""Mount helper for tenantfs integration tests.

Starts the daemon in the foreground (-f) in the background of the test,
records its PID (tfstest.record_pid), waits (bounded) until the mountpoint
is a FUSE mount or the daemon dies, and unmounts with `fusermount3 -u`,
then waits (bounded) for the daemon to write back and exit.

    import mount as m
    with m.Mount(src, mp, ["idle=0.5"]) as mnt:
        ... use mp ...
    # unmounted here; mnt.returncode and mnt.log_text() are available
"""

import os
import subprocess
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
import tfstest as t  # noqa: E402


def tenantfs_binary():
    """The daemon built for this run ($TFS_TEST_BUILD/tenantfs); skip when
    missing."""
    path = os.path.join(t.build_dir(), "tenantfs")
    if not os.access(path, os.X_OK):
        t.skip(f"{path} is not built")
    return path


def fuse_available():
    return os.path.exists("/dev/fuse") and os.access("/dev/fuse", os.R_OK | os.W_OK)


def need_fuse():
    if not fuse_available():
        t.skip("/dev/fuse is not usable here")


def mount_type(mountpoint):
    """File system type of the mount at mountpoint, or None when nothing is
    mounted there (from /proc/self/mountinfo)."""
    mp = os.path.realpath(mountpoint)
    found = None
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            if len(fields) < 10:
                continue
            # the mount point is field 5; octal escapes for spaces
            point = fields[4].encode().decode("unicode_escape")
            if point != mp:
                continue
            sep = fields.index("-")
            found = fields[sep + 1]  # last mount on the point wins
    return found


def is_fuse_mount(mountpoint):
    typ = mount_type(mountpoint)
    return bool(typ) and typ.startswith("fuse")


def _daemon_env(extra=None):
    """The daemon's environment: tfstest.daemon_env() (sanitizer options for
    daemons) when the harness has it, else ours."""
    fn = getattr(t, "daemon_env", None)
    return fn(extra) if fn else dict(os.environ, **(extra or {}))


class MountError(RuntimeError):
    pass


class Mount:
    """One tenantfs daemon serving `source` on `mountpoint`.

    options: list of "-o" items (strings) joined with commas.
    log: file receiving the daemon's stdout+stderr (default: next to the
    mountpoint, mountpoint + ".log").
    """

    def __init__(self, source, mountpoint, options=None, log=None, start_timeout=20.0,
                 env=None, extra_args=None):
        self.source = source
        self.mountpoint = mountpoint
        self.options = list(options or [])
        self.log = log or (mountpoint.rstrip("/") + ".log")
        self.start_timeout = start_timeout
        self.env = env if env is not None else _daemon_env()
        self.extra_args = list(extra_args or [])
        self.proc = None
        self.returncode = None

    def argv(self):
        argv = [tenantfs_binary(), "-f"] + self.extra_args
        if self.options:
            argv += ["-o", ",".join(self.options)]
        return argv + [self.source, self.mountpoint]

    def init_store(self):
        """A mount never creates a store: `tenantfs init` a directory
        source that does not exist yet (or is an empty folder), with the
        mount's options (they name the catalog)."""
        src = self.source
        if "://" in src or os.path.isdir(os.path.join(src, "objects")):
            return
        if os.path.isdir(src) and os.listdir(src):
            return  # not ours to turn into a store: the mount says why
        argv = [tenantfs_binary(), "init", src]
        if self.options:
            argv += ["-o", ",".join(self.options)]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=self.env,
                           stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise MountError(f"tenantfs init {src} failed ({r.returncode}):\n{r.stderr}")

    def start(self):
        os.makedirs(self.mountpoint, exist_ok=True)
        if is_fuse_mount(self.mountpoint):
            raise MountError(f"{self.mountpoint} is already a FUSE mount")
        self.init_store()
        logf = open(self.log, "ab")
        try:
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=logf,
                                         stderr=logf, env=self.env)
        finally:
            logf.close()
        t.record_pid(self.proc.pid)

        # An early exit ends the wait too (wait_until takes an exception
        # from pred for "not yet", so raising here cost the whole timeout).
        def ready():
            return self.proc.poll() is not None or is_fuse_mount(self.mountpoint)

        try:
            t.wait_until(ready, timeout=self.start_timeout, what=f"mount on {self.mountpoint}")
        except TimeoutError as e:
            self.kill()
            raise MountError(f"{e}\n{self.log_text()}") from None
        if self.proc.poll() is not None and not is_fuse_mount(self.mountpoint):
            self.returncode = self.proc.returncode
            raise MountError(f"tenantfs exited with {self.proc.returncode} before "
                             f"mounting:\n{self.log_text()}")
        # mounted, then died
        if self.proc.poll() is not None:
            raise MountError(f"tenantfs exited right after mounting:\n{self.log_text()}")
        return self

    def unmount(self, timeout=90.0):
        """fusermount3 -u (retried while busy, bounded), then wait for the
        daemon to finish its write-back and exit. Returns its exit status."""
        if self.proc is None:
            return self.returncode
        deadline = time.monotonic() + timeout
        while is_fuse_mount(self.mountpoint):
            r = subprocess.run(["fusermount3", "-u", self.mountpoint], capture_output=True,
                               text=True, timeout=30)
            if r.returncode == 0 or not is_fuse_mount(self.mountpoint):
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                subprocess.run(["fusermount3", "-uz", self.mountpoint], capture_output=True,
                               timeout=30)
                break
            time.sleep(0.2)
        try:
            self.returncode = self.proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.kill()
            raise MountError(f"tenantfs did not exit within {timeout:.0f}s of the "
                             f"unmount:\n{self.log_text()}") from None
        self.proc = None
        return self.returncode

    def kill(self):
        """Last resort: stop the daemon we started and detach the mount."""
        if self.proc is not None:
            t.stop_process(self.proc, timeout=10)
            self.returncode = self.proc.returncode
            self.proc = None
        if is_fuse_mount(self.mountpoint):
            subprocess.run(["fusermount3", "-uz", self.mountpoint], capture_output=True,
                           timeout=30)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_text(self):
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.kill()
        else:
            self.unmount()
        return False


def run_tenantfs(args, timeout=60, env=None):
    """Runs the tenantfs binary to completion (init, --help, a mount that
    must fail). Returns the CompletedProcess (text) with .elapsed set."""
    start = time.monotonic()
    r = subprocess.run([tenantfs_binary()] + list(args), capture_output=True, text=True,
                       timeout=timeout, env=env if env is not None else _daemon_env(),
                       stdin=subprocess.DEVNULL)
    r.elapsed = time.monotonic() - start
    return r


# ---- scenarios shared by the mount tests ---------------------------------
#
# Each helper reports its own TAP lines through tfstest and returns what the
# next step needs. They take the mountpoint and plain ids ("u1") so the
# embedded-store and the S3 tests run the same checks.

import errno  # noqa: E402
import shutil  # noqa: E402
import sqlite3  # noqa: E402
import tempfile  # noqa: E402


def init_moto_store(tmp, moto, what):
    """A new bucket and DynamoDB table on moto, and `tenantfs init` on
    them: (base folder, bucket, table, SOURCE, the -o options), or None when init
    failed (reported as a failed check)."""
    base = tempfile.mkdtemp(prefix=f"{what}-s3-", dir=tmp)
    bucket = t.make_bucket(moto)
    table = t.unique(what)
    src = f"s3://{bucket}/users"
    aws = [f"catalog=dynamodb:{table}", f"endpoint={moto}",
           f"dynamodb_endpoint={moto}", "region=us-east-1"]
    r = run_tenantfs(["init", src, "-o", ",".join(aws)])
    if not t.ok(r.returncode == 0, "moto: tenantfs init creates the table", r.stderr):
        return None
    return base, bucket, table, src, aws


def sqlite_cli(db, sql, timeout=60):
    """Runs the sqlite3 shell on db with sql on stdin; returns (rc, out, err)."""
    r = subprocess.run(["sqlite3", "-bail", db], input=sql, capture_output=True, text=True,
                       timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def node_label(owner):
    """The label of a lease owner LABEL~ID (a node's identity is its cache:
    the label is what node= said, the ID tells caches apart)."""
    return (owner or "").split("~")[0]


def xattr(path, name):
    """Value of user.tenantfs.<name> as text, or None."""
    try:
        return os.getxattr(path, "user.tenantfs." + name).decode(errors="replace").strip()
    except OSError:
        return None


def _truthy(v):
    return v is not None and v.lower() in ("1", "yes", "true", "dirty")


def wait_clean(path, min_gen=1, timeout=30.0):
    """Waits (bounded) until the database at path is written back: not
    dirty, gen >= min_gen and a hash. Returns (gen, hash) or raises
    TimeoutError."""
    def clean():
        gen = xattr(path, "gen")
        h = xattr(path, "hash")
        dirty = xattr(path, "dirty")
        if gen is None or not h or _truthy(dirty):
            return None
        try:
            g = int(gen)
        except ValueError:
            return None
        return (g, h) if g >= min_gen else None
    return t.wait_until(clean, timeout=timeout, what=f"write-back of {path}")


def integrity_ok(dbfile):
    """PRAGMA integrity_check on a copy of dbfile (a plain local file)."""
    work = tempfile.mkdtemp(prefix="ic-", dir=os.environ.get("TFS_TEST_TMP") or None)
    try:
        copy = os.path.join(work, "x.db")
        shutil.copyfile(dbfile, copy)
        c = sqlite3.connect(copy)
        try:
            return c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        finally:
            c.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write_rollback_cli(mp, ident, rows):
    """Creates <ident>.db with the sqlite3 shell in rollback-journal mode."""
    db = os.path.join(mp, ident + ".db")
    sql = ["PRAGMA journal_mode=DELETE;",
           "CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT);"]
    for i in range(rows):
        sql.append(f"INSERT INTO t VALUES({i}, 'row {i} of {ident}');")
    rc, out, err = sqlite_cli(db, "\n".join(sql) + "\n")
    t.ok(rc == 0, f"sqlite3 shell writes {ident}.db in rollback mode", err)
    return db


def write_wal_python(mp, ident, rows):
    """Creates <ident>.db with Python's sqlite3 in WAL mode, one
    transaction per 10 rows, then closes it (checkpoint on close)."""
    db = os.path.join(mp, ident + ".db")
    try:
        c = sqlite3.connect(db, timeout=30)
        mode = c.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        t.eq(mode, "wal", f"{ident}.db switches to WAL mode")
        c.execute("PRAGMA synchronous=NORMAL")
        c.execute("CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)")
        for i in range(rows):
            c.execute("INSERT INTO t VALUES(?, ?)", (i, f"row {i} of {ident}"))
            if i % 10 == 9:
                c.commit()
        c.commit()
        # a second connection reads through the shared -shm mapping
        c2 = sqlite3.connect(db, timeout=30)
        n2 = c2.execute("SELECT count(*) FROM t").fetchone()[0]
        c2.close()
        t.eq(n2, rows, f"second WAL connection to {ident}.db sees every row (mmap -shm)")
        c.close()
        t.ok(True, f"python sqlite3 writes {ident}.db in WAL mode")
    except sqlite3.Error as e:
        t.ok(False, f"python sqlite3 writes {ident}.db in WAL mode", repr(e))
    return db


def check_rows(db, ident, rows, label):
    """The database at db holds exactly the rows written by write_*()."""
    try:
        c = sqlite3.connect(db, timeout=30)
        got = c.execute("SELECT k, v FROM t ORDER BY k").fetchall()
        ic = c.execute("PRAGMA integrity_check").fetchone()[0]
        c.close()
        want = [(i, f"row {i} of {ident}") for i in range(rows)]
        t.ok(got == want, f"{label}: {ident}.db has its {rows} rows",
             f"got {len(got)} rows, first {got[:2]}")
        t.eq(ic, "ok", f"{label}: {ident}.db integrity_check")
    except sqlite3.Error as e:
        t.ok(False, f"{label}: {ident}.db readable", repr(e))


def expect_errno(fn, want, name):
    """fn() must raise OSError with errno want."""
    try:
        fn()
    except OSError as e:
        return t.ok(e.errno == want, name,
                    f"errno {e.errno} ({errno.errorcode.get(e.errno)}), "
                    f"expected {errno.errorcode.get(want)}")
    return t.ok(False, name, f"no error, expected {errno.errorcode.get(want)}")


def check_namespace_rules(mp, existing_id):
    """Invalid names and operations get their errno."""
    db = os.path.join(mp, existing_id + ".db")
    creat = os.O_CREAT | os.O_WRONLY
    for bad in ["notes.txt", "bad name.db", ".hidden.db", "x" * 200 + ".db", "a.db-foo",
                "noext"]:
        expect_errno(lambda b=bad: os.close(os.open(os.path.join(mp, b), creat, 0o644)),
                     errno.EINVAL, f"create '{bad[:20]}' is EINVAL")
    expect_errno(lambda: os.mknod(os.path.join(mp, "fifo.db"), 0o644 | 0o010000),
                 errno.EPERM, "mknod of a fifo is EPERM")
    expect_errno(lambda: os.mkdir(os.path.join(mp, "dir")), errno.EPERM, "mkdir is EPERM")
    expect_errno(lambda: os.rename(db, os.path.join(mp, "renamed.db")), errno.EPERM,
                 "rename is EPERM")
    expect_errno(lambda: os.link(db, os.path.join(mp, "linked.db")), errno.EPERM,
                 "link is EPERM")
    expect_errno(lambda: os.symlink(db, os.path.join(mp, "sym.db")), errno.EPERM,
                 "symlink is EPERM")
    expect_errno(lambda: os.open(os.path.join(mp, "absent.db"), os.O_RDONLY), errno.ENOENT,
                 "open of an absent database is ENOENT")
    expect_errno(lambda: os.stat(os.path.join(mp, "notes.txt")), errno.ENOENT,
                 "stat of an invalid name is ENOENT")
    expect_errno(lambda: os.unlink(os.path.join(mp, "absent.db")), errno.ENOENT,
                 "unlink of an absent database is ENOENT")
    expect_errno(lambda: os.setxattr(db, "user.tenantfs.gen", b"7"), errno.ENOTSUP,
                 "setxattr is ENOTSUP")
    t.ok(not os.path.exists(os.path.join(mp, "renamed.db")), "nothing left by the refusals")


def check_listing(mp, ids):
    """ls, ls -l and stat see every database with its size."""
    names = sorted(os.listdir(mp))
    want = sorted(i + ".db" for i in ids)
    t.ok(all(n in names for n in want), "readdir lists every database",
         f"got {names}, want {want}")
    r = subprocess.run(["ls", "-l", mp], capture_output=True, text=True, timeout=30)
    t.ok(r.returncode == 0 and all(n in r.stdout for n in want), "ls -l lists them", r.stdout)
    for i in ids:
        st = os.stat(os.path.join(mp, i + ".db"))
        t.ok(st.st_size > 0 and st.st_size % 512 == 0 and (st.st_mode & 0o170000) == 0o100000,
             f"stat {i}.db: regular file, size {st.st_size}")
    r = subprocess.run(["stat", os.path.join(mp, ids[0] + ".db")], capture_output=True,
                       text=True, timeout=30)
    t.ok(r.returncode == 0 and "regular file" in r.stdout, "stat(1) works", r.stderr)
    st = os.stat(mp)
    t.ok((st.st_mode & 0o170000) == 0o040000 and (st.st_mode & 0o777) == 0o700,
         "root is a directory 0700 (default umask=077)", oct(st.st_mode))
    vfs = os.statvfs(mp)
    t.ok(vfs.f_blocks > 0 and vfs.f_bsize > 0, "statfs reports the cache file system")


def check_xattrs(mp, ident):
    db = os.path.join(mp, ident + ".db")
    try:
        names = os.listxattr(db)
    except OSError as e:
        t.ok(False, "listxattr", repr(e))
        return
    for n in ("user.tenantfs.gen", "user.tenantfs.hash", "user.tenantfs.dirty",
              "user.tenantfs.owner"):
        t.ok(n in names, f"listxattr has {n}", f"got {names}")
    h = xattr(db, "hash")
    t.ok(h is not None and len(h) == 32 and all(ch in "0123456789abcdef" for ch in h),
         "user.tenantfs.hash is 32 hex digits", f"got {h!r}")
    expect_errno(lambda: os.getxattr(db, "user.tenantfs.nope"), errno.ENODATA,
                 "unknown xattr is ENODATA")


CONCURRENT = r"""
import sqlite3, sys
db, n = sys.argv[1], int(sys.argv[2])
c = sqlite3.connect(db, timeout=60, isolation_level=None)
for _ in range(n):
    c.execute("BEGIN IMMEDIATE")
    v = c.execute("SELECT n FROM c").fetchone()[0]
    c.execute("UPDATE c SET n = ?", (v + 1,))
    c.execute("COMMIT")
c.close()
"""


def check_concurrent_writers(mp, ident, wal, n=150):
    """Two processes increment one counter in one database at once: no
    update is lost (POSIX locks kept by the kernel, -shm shared by mmap)."""
    db = os.path.join(mp, ident + ".db")
    mode = "WAL" if wal else "rollback"
    c = sqlite3.connect(db, timeout=30)
    c.execute(f"PRAGMA journal_mode={'WAL' if wal else 'DELETE'}")
    c.execute("CREATE TABLE c(n INTEGER)")
    c.execute("INSERT INTO c VALUES(0)")
    c.commit()
    c.close()
    procs = [subprocess.Popen([sys.executable, "-c", CONCURRENT, db, str(n)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    errs = []
    for p in procs:
        t.record_pid(p.pid)
        try:
            _, err = p.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            t.stop_process(p)
            err = "timed out"
        if p.returncode != 0:
            errs.append(err)
    t.ok(not errs, f"two {mode} writers finish", "\n".join(errs))
    c = sqlite3.connect(db, timeout=30)
    v = c.execute("SELECT n FROM c").fetchone()[0]
    c.close()
    t.eq(v, 2 * n, f"two {mode} writers: no lost update")
    return db


def check_copy_in_out(mp, ident, src_db, work):
    """cp into the mount imports a database; cp out exports it."""
    dst = os.path.join(mp, ident + ".db")
    r = subprocess.run(["cp", src_db, dst], capture_output=True, text=True, timeout=60)
    t.ok(r.returncode == 0, "cp into the mount", r.stderr)
    r = subprocess.run(["cmp", src_db, dst], capture_output=True, text=True, timeout=60)
    t.ok(r.returncode == 0, "imported bytes equal the source", r.stdout + r.stderr)
    out = os.path.join(work, ident + "-out.db")
    r = subprocess.run(["cp", dst, out], capture_output=True, text=True, timeout=60)
    t.ok(r.returncode == 0 and open(out, "rb").read() == open(src_db, "rb").read(),
         "cp out of the mount", r.stderr)
    # cp -p sets the source's owner and mode: it works when they are the
    # mount's (the daemon's user, 0600 by default); tests/integration/
    # test_permissions.py checks the other case
    os.chmod(src_db, 0o600)
    p = os.path.join(mp, ident + "p.db")
    r = subprocess.run(["cp", "-p", src_db, p], capture_output=True, text=True, timeout=60)
    t.ok(r.returncode == 0, "cp -p into the mount of a 0600 file (chmod/chown to the "
         "mount's own mode and owner, utimens accepted)", r.stderr)
    return dst


def run_main(main, sync=False):
    """Runs a test's main(), reporting a MountError or any other exception
    as a failed check instead of a bare traceback; with sync, flushes the
    machine's writes (`sync`) before exiting with tfstest.done()."""
    try:
        main()
    except MountError as e:
        t.ok(False, "mount", str(e))
    except Exception:  # noqa: BLE001 - report, do not hide
        import traceback
        t.ok(False, "test ran to the end", traceback.format_exc())
    if sync:
        subprocess.run(["sync"], timeout=60)
    sys.exit(t.done())
