#!/usr/bin/env python3
"""Who can see what: permissions on a mount with allow_other, checked as
root (the mounting user) and as other local users (setpriv to `nobody` and
to two unnamed ids), on the embedded store:

- default options (umask=077): the kernel's default_permissions is on (in
  the mount's options); every file, side files included, is owned by the
  daemon's user with mode 0600, the root 0700. nobody cannot read a
  database (EACCES, and the sqlite3 shell shows none of its rows), cannot
  list the root, cannot create, and cannot unlink: the database then
  still opens with its rows from a fresh cache (no tombstone in the
  catalog). chmod or chown to what a file already has succeeds (also
  -1/-1, `install -m 600`, `cp -p` of a 0600 file); to anything else it
  fails with EPERM, with a log line, and nothing changes;
- uid=<nobody>,gid=<nogroup>,umask=007: nobody owns every file (0660) and
  the root (0750): it reads and writes its databases and creates new
  ones; a member of the group reads, but cannot create or unlink (the
  root is never group-writable), so its SQLite writes fail (the journal
  cannot be created); anyone else cannot even look a name up;
- bad uid=, gid= and umask= values are refused before anything is
  mounted, with the option error status and a message naming the option.

Needs root, /dev/fuse, setpriv and a `nobody` user. Run time: about
10-20 s (three short mounts)."""
# tfs-timeout: 300

import errno
import grp
import json
import os
import pwd
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mount as m  # noqa: E402
import tfstest as t  # noqa: E402

ROWS = 20
# Ids for a group member and a stranger: unnamed, outside the usual ranges.
MEMBER_UID = 64991
STRANGER_UID = 64992

# One file operation as another user: prints "ok", a value, or the errno
# name (EACCES, EPERM, ...).
PROBE = r"""
import errno, json, os, sys
op, path = sys.argv[1], sys.argv[2]
try:
    if op == "stat":
        os.stat(path)
    elif op == "read":
        with open(path, "rb") as f:
            f.read(100)
    elif op == "write":
        os.close(os.open(path, os.O_WRONLY))
    elif op == "create":
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o666))
    elif op == "unlink":
        os.unlink(path)
    elif op == "list":
        os.listdir(path)
    elif op == "chmod":
        os.chmod(path, int(sys.argv[3], 8))
    elif op == "xattr":
        os.getxattr(path, "user.tenantfs.gen")
    out = "ok"
except OSError as e:
    out = errno.errorcode.get(e.errno, str(e.errno))
print(json.dumps(out))
"""


def as_user(uid, gid, argv, timeout=30):
    """argv run with real and effective uid/gid set, no supplementary
    groups; returns the CompletedProcess (text)."""
    cmd = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups"] + argv
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, cwd="/",
                          env={"PATH": "/usr/bin:/bin", "HOME": "/"})


def probe(uid, gid, op, path, *extra):
    r = as_user(uid, gid, [sys.executable, "-c", PROBE, op, path] + list(extra))
    try:
        return json.loads(r.stdout)
    except ValueError:
        return f"probe failed: rc {r.returncode}: {r.stderr.strip()}"


def sql_as(uid, gid, db, sql):
    """The sqlite3 shell as uid:gid on db; (rc, stdout, stderr)."""
    r = as_user(uid, gid, ["sqlite3", "-bail", db, sql])
    return r.returncode, r.stdout, r.stderr


def mode_of(path):
    st = os.stat(path)
    return st.st_uid, st.st_gid, stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode)


def super_options(mp):
    """The super block options of the mount at mp (mountinfo, after '-')."""
    mp = os.path.realpath(mp)
    found = ""
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 10 and fields[4] == mp:
                found = fields[fields.index("-") + 3]
    return found.split(",")


def expect_call(fn, want, name):
    """fn() succeeds when want is None, else raises OSError errno want."""
    try:
        fn()
    except OSError as e:
        return t.ok(want is not None and e.errno == want, name,
                    f"errno {errno.errorcode.get(e.errno)}, expected "
                    f"{errno.errorcode.get(want) if want else 'success'}")
    return t.ok(want is None, name, f"succeeded, expected {errno.errorcode.get(want)}")


def owner_only(base, src, nob):
    """Default options: only the daemon's user (root here) gets in."""
    uid, gid = nob
    mp = os.path.join(base, "mnt-default")
    opts = ["node=n1", "idle=0.5", "linger=0", f"cache={base}/cache1", "allow_other"]
    work = os.path.join(base, "work")
    os.makedirs(work)
    with m.Mount(src, mp, opts) as mnt:
        sopts = super_options(mp)
        t.ok("default_permissions" in sopts and "allow_other" in sopts,
             "the kernel checks permissions: default_permissions in the mount options",
             sopts)
        alice = m.write_rollback_cli(mp, "alice", ROWS)
        me = (os.getuid(), os.getgid())
        t.eq(mode_of(alice), me + (stat.S_IFREG, 0o600),
             "alice.db: owned by the daemon's user, mode 0600 (umask 077)")
        t.eq(mode_of(mp), me + (stat.S_IFDIR, 0o700), "the root: 0700, the daemon's user")
        # side files follow the database's mode and owner
        wal = sqlite3.connect(os.path.join(mp, "bob.db"), timeout=30)
        wal.execute("PRAGMA journal_mode=WAL")
        wal.execute("CREATE TABLE t(x)")
        wal.execute("INSERT INTO t VALUES('secret of bob')")
        wal.commit()
        for side in ("bob.db-wal", "bob.db-shm"):
            t.eq(mode_of(os.path.join(mp, side)), me + (stat.S_IFREG, 0o600),
                 f"{side}: same owner and mode as its database")
        wal.close()

        # nobody: the folder above the mount point is open to it, so every
        # refusal below comes from the mount itself
        t.eq(probe(uid, gid, "list", base), "ok", "nobody can reach the mount point")
        rc, out, err = sql_as(uid, gid, alice, "SELECT v FROM t;")
        t.ok(rc != 0 and "alice" not in out, "nobody cannot read alice's rows",
             f"rc {rc}, out {out[:200]!r}, err {err[:200]!r}")
        t.eq(probe(uid, gid, "read", alice), "EACCES", "nobody: open alice.db is EACCES")
        t.eq(probe(uid, gid, "xattr", alice), "EACCES", "nobody: getxattr alice.db is EACCES")
        t.eq(probe(uid, gid, "list", mp), "EACCES", "nobody: ls of the root is EACCES")
        t.eq(probe(uid, gid, "create", os.path.join(mp, "mallory.db")), "EACCES",
             "nobody: create is EACCES")
        expect_call(lambda: os.stat(os.path.join(mp, "mallory.db")), errno.ENOENT,
                    "nothing created by nobody")
        t.eq(probe(uid, gid, "unlink", alice), "EACCES", "nobody: unlink alice.db is EACCES")
        t.eq(probe(uid, gid, "unlink", os.path.join(mp, "bob.db")), "EACCES",
             "nobody: unlink bob.db is EACCES")
        t.ok(os.path.exists(alice), "alice.db is still there")

        # chmod and chown: what the file has succeeds, anything else is EPERM
        expect_call(lambda: os.chmod(alice, 0o644), errno.EPERM, "chmod 644 is EPERM")
        t.eq(mode_of(alice)[3], 0o600, "after the refused chmod: still 0600")
        expect_call(lambda: os.chmod(alice, 0o4600), errno.EPERM, "chmod 4600 is EPERM")
        expect_call(lambda: os.chmod(alice, 0o600), None, "chmod to its own mode 600 is 0")
        expect_call(lambda: os.chown(alice, -1, -1), None, "chown -1 -1 is 0")
        expect_call(lambda: os.chown(alice, me[0], me[1]), None, "chown to its owner is 0")
        expect_call(lambda: os.chown(alice, uid, -1), errno.EPERM, "chown to nobody is EPERM")
        expect_call(lambda: os.chown(alice, -1, gid), errno.EPERM, "chgrp to nogroup is EPERM")
        t.eq(mode_of(alice), me + (stat.S_IFREG, 0o600), "after the refused chown: unchanged")
        expect_call(lambda: os.chmod(mp, 0o755), errno.EPERM, "chmod 755 of the root is EPERM")
        expect_call(lambda: os.chmod(mp, 0o700), None, "chmod 700 of the root is 0")
        with open(alice, "rb") as f:
            expect_call(lambda: os.fchmod(f.fileno(), 0o666), errno.EPERM,
                        "fchmod of an open database is EPERM")
        log = mnt.log_text()
        t.ok("chmod" in log and "/alice.db" in log and "0644" in log,
             "the daemon logs the refused chmod", log[-1500:])

        # tools that set modes: matching modes work
        plain = os.path.join(work, "plain.db")
        c = sqlite3.connect(plain)
        c.execute("CREATE TABLE t(x)")
        c.commit()
        c.close()
        os.chmod(plain, 0o600)
        r = subprocess.run(["cp", "-p", plain, os.path.join(mp, "copied.db")],
                           capture_output=True, text=True, timeout=60)
        t.ok(r.returncode == 0, "cp -p of a 0600 file owned by the daemon's user", r.stderr)
        r = subprocess.run(["install", "-m", "600", plain, os.path.join(mp, "inst.db")],
                           capture_output=True, text=True, timeout=60)
        t.ok(r.returncode == 0, "install -m 600", r.stderr)
        r = subprocess.run(["install", "-m", "644", plain, os.path.join(mp, "inst.db")],
                           capture_output=True, text=True, timeout=60)
        t.ok(r.returncode != 0 and "ermi" in r.stderr,
             "install -m 644 fails and says why", f"rc {r.returncode}: {r.stderr}")
        t.eq(mode_of(os.path.join(mp, "inst.db"))[3], 0o600, "inst.db is still 0600")
    t.eq(mnt.returncode, 0, "the daemon exits 0")


def no_tombstone(base, src):
    """A fresh cache on the same store: what nobody tried to unlink is
    still there, with its rows."""
    mp = os.path.join(base, "mnt-fresh")
    with m.Mount(src, mp, ["node=n2", "linger=0", f"cache={base}/cache2"]):
        m.check_rows(os.path.join(mp, "alice.db"), "alice", ROWS, "fresh cache")
        names = os.listdir(mp)
        t.ok("alice.db" in names and "bob.db" in names, "alice.db and bob.db still listed",
             names)
        c = sqlite3.connect(os.path.join(mp, "bob.db"), timeout=30)
        t.eq(c.execute("SELECT x FROM t").fetchall(), [("secret of bob",)], "bob.db has its row")
        c.close()


def granted(base, src, nob):
    """uid=, gid=, umask=007: nobody owns the mount; its group may read."""
    uid, gid = nob
    mp = os.path.join(base, "mnt-granted")
    opts = ["node=n3", "idle=0.5", "linger=0", f"cache={base}/cache3", "allow_other",
            f"uid={uid}", f"gid={gid}", "umask=007"]
    with m.Mount(src, mp, opts):
        alice = os.path.join(mp, "alice.db")
        t.eq(mode_of(alice), (uid, gid, stat.S_IFREG, 0o660), "uid=,gid=,umask=007: 0660 nobody")
        t.eq(mode_of(mp), (uid, gid, stat.S_IFDIR, 0o750),
             "the root: 0750, never group-writable")
        rc, out, err = sql_as(uid, gid, alice, "SELECT count(*) FROM t;")
        t.ok(rc == 0 and out.strip() == str(ROWS), "nobody reads its database", err)
        rc, out, err = sql_as(uid, gid, alice, f"INSERT INTO t VALUES({ROWS}, 'by nobody');")
        t.ok(rc == 0, "nobody writes its database (a rollback journal beside it)", err)
        rc, out, err = sql_as(uid, gid, os.path.join(mp, "carol.db"),
                              "PRAGMA journal_mode=WAL; CREATE TABLE t(x); "
                              "INSERT INTO t VALUES(1);")
        t.ok(rc == 0, "nobody creates carol.db in WAL mode", err)
        t.eq(mode_of(os.path.join(mp, "carol.db")), (uid, gid, stat.S_IFREG, 0o660),
             "carol.db: 0660 nobody")
        t.eq(probe(uid, gid, "list", mp), "ok", "nobody lists the root")
        t.eq(probe(uid, gid, "chmod", alice, "660"), "ok", "nobody: chmod to 660 is 0")
        t.eq(probe(uid, gid, "chmod", alice, "600"), "EPERM", "nobody: chmod 600 is EPERM")
        # root (the daemon's user) gets in by CAP_DAC_OVERRIDE, as anywhere
        expect_call(lambda: os.chown(alice, uid, gid), None, "chown to the mount's owner is 0")
        expect_call(lambda: os.chown(alice, 0, -1), errno.EPERM, "chown to root is EPERM")

        t.eq(probe(MEMBER_UID, gid, "read", alice), "ok", "a group member reads alice.db")
        rc, out, err = sql_as(MEMBER_UID, gid, alice, "SELECT count(*) FROM t;")
        t.ok(rc == 0 and out.strip() == str(ROWS + 1), "a group member reads the rows", err)
        rc, out, err = sql_as(MEMBER_UID, gid, alice, "INSERT INTO t VALUES(99, 'member');")
        t.ok(rc != 0, "a group member's write fails: its journal cannot be created in the root",
             f"rc {rc}, {out} {err}")
        rc, out, err = sql_as(uid, gid, alice, "SELECT count(*) FROM t;")
        t.ok(rc == 0 and out.strip() == str(ROWS + 1), "the refused write left no row", out + err)
        t.eq(probe(MEMBER_UID, gid, "list", mp), "ok", "a group member lists the root")
        t.eq(probe(MEMBER_UID, gid, "create", os.path.join(mp, "member.db")), "EACCES",
             "a group member cannot create")
        t.eq(probe(MEMBER_UID, gid, "unlink", alice), "EACCES", "a group member cannot unlink")
        t.eq(probe(MEMBER_UID, gid, "chmod", alice, "660"), "EPERM",
             "a group member cannot chmod (not the owner)")

        t.eq(probe(STRANGER_UID, STRANGER_UID, "stat", alice), "EACCES",
             "anyone else cannot look a name up")
        t.eq(probe(STRANGER_UID, STRANGER_UID, "list", mp), "EACCES",
             "anyone else cannot list the root")
        t.ok(os.path.exists(alice), "alice.db is still there")


def bad_values(base, src):
    """Bad uid=, gid=, umask= are refused like any bad option value."""
    mp = os.path.join(base, "mnt-bad")
    os.makedirs(mp)
    ref = m.run_tenantfs(["-o", "idle=abc", src, mp], timeout=30)
    t.ok(ref.returncode != 0, "reference: a bad idle= is refused", ref.stderr)
    for opt, name in [("umask=abc", "umask"), ("umask=8", "umask"), ("umask=0778", "umask"),
                      ("umask=1000", "umask"), ("umask=", "umask"), ("umask=-1", "umask"),
                      ("uid=abc", "uid"), ("uid=-1", "uid"), ("uid=4294967295", "uid"),
                      ("uid=99999999999", "uid"), ("uid=1x", "uid"), ("gid=", "gid"),
                      ("gid=nogroup", "gid")]:
        r = m.run_tenantfs(["-o", opt, src, mp], timeout=30)
        t.ok(r.returncode == ref.returncode and f"'{name}'" in r.stderr,
             f"-o {opt}: refused with status {ref.returncode}, naming '{name}'",
             f"rc {r.returncode}: {r.stderr.strip()}")
        if m.is_fuse_mount(mp):
            subprocess.run(["fusermount3", "-u", mp], timeout=30)
            t.ok(False, f"-o {opt}: nothing mounted")


def main():
    m.tenantfs_binary()
    m.need_fuse()
    if os.geteuid() != 0:
        t.skip("needs root: it runs commands as other users")
    if not shutil.which("setpriv") or not shutil.which("sqlite3"):
        t.skip("needs setpriv and sqlite3")
    try:
        pw = pwd.getpwnam("nobody")
    except KeyError:
        t.skip("no user 'nobody'")
    try:
        gid = grp.getgrnam("nogroup").gr_gid
    except KeyError:
        gid = pw.pw_gid
    nob = (pw.pw_uid, gid)
    # Other users must be able to reach the mount points: the run's
    # scratch folder is 0700. Traverse only, no listing.
    os.chmod(t.tmp_dir(), 0o711)
    base = tempfile.mkdtemp(prefix="perm-", dir=t.tmp_dir())
    os.chmod(base, 0o755)
    src = os.path.join(base, "store")
    owner_only(base, src, nob)
    no_tombstone(base, src)
    granted(base, src, nob)
    bad_values(base, src)


if __name__ == "__main__":
    m.run_main(main)
