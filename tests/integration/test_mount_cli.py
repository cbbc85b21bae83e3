#!/usr/bin/env python3
"""The tenantfs command line: --help and --version, the man page agreeing
with --help, refused options and values (exit 2, message naming the
option, the usage, nothing mounted), `tenantfs init`, mount failures reported before
the daemon detaches (missing bucket, missing table, dead endpoint),
mounting through mount(8) / mount.fuse3 and packaging/mount.tenantfs, and
SIGTERM writing back before exit."""
# tfs-timeout: 300

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import mount as m  # noqa: E402
import tfstest as t  # noqa: E402

STD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def help_and_man():
    r = m.run_tenantfs(["--help"])
    t.ok(r.returncode == 0 and "usage: tenantfs" in r.stdout, "--help exits 0 with usage",
         r.stderr)
    r2 = m.run_tenantfs(["-h"])
    t.eq(r2.stdout, r.stdout, "-h prints the same help")
    v = m.run_tenantfs(["--version"])
    t.ok(v.returncode == 0 and re.match(r"tenantfs \d+\.\d+\.\d+", v.stdout),
         "--version prints the version", v.stdout + v.stderr)

    with open(os.path.join(ROOT, "packaging", "tenantfs.8"), encoding="utf-8") as f:
        man = f.read()
    # the man page writes '-' as '\-'
    man_plain = man.replace("\\-", "-").replace("\\fR", "").replace("\\fP", "")
    help_opts = set(re.findall(r"^\s+([a-z_]+)=", r.stdout, re.M))
    help_flags = set(re.findall(r"^\s+(-[a-zA-Z]|--[a-z]+)\b", r.stdout, re.M))
    man_opts = set(re.findall(r'^\.BI "?([a-z_]+)=', man, re.M))
    t.ok(len(help_opts) >= 12, "--help lists the -o options", sorted(help_opts))
    t.eq(sorted(help_opts), sorted(man_opts), "man page and --help list the same -o options")
    missing = [fl for fl in help_flags if fl not in man_plain]
    t.ok(help_flags and not missing, "man page documents every flag of --help",
         f"missing {missing}")
    for word in ("init", "fusermount3 -u", "SIGTERM", "EINVAL", "EPERM", "EBUSY"):
        t.ok(word in man_plain, f"man page explains {word}")
    t.ok(v.stdout.split()[1] in man, "man page carries the version")


def refused(args, must_name, label, mp):
    """A usage error: exit 2, the message naming what is wrong, the usage."""
    r = m.run_tenantfs(args, timeout=30)
    t.ok(r.returncode == 2 and must_name in r.stderr and "usage: tenantfs" in r.stderr and
         r.elapsed < 10, f"{label}: exit 2 naming '{must_name}', with the usage",
         f"rc {r.returncode}, {r.elapsed:.1f}s, stderr: {r.stderr}")
    if m.is_fuse_mount(mp):
        subprocess.run(["fusermount3", "-u", mp], timeout=30)
        t.ok(False, f"{label}: nothing mounted")


def bad_options(base):
    mp = os.path.join(base, "mnt-bad")
    src = os.path.join(base, "src-bad")
    os.makedirs(mp)
    refused(["-o", "frobnicate=1", src, mp], "frobnicate", "unknown option", mp)
    refused(["-o", "idle=-1", src, mp], "idle", "negative idle", mp)
    refused(["-o", "max_dirty=soon", src, mp], "max_dirty", "non-numeric max_dirty", mp)
    refused(["-o", "lease_ttl=0", src, mp], "lease_ttl", "zero lease_ttl", mp)
    refused(["-o", "node=a/b", src, mp], "node", "invalid node id", mp)
    refused(["-o", "cache_size=big", src, mp], "cache_size", "bad cache_size", mp)
    refused(["-o", "catalog=redis:x", src, mp], "catalog", "bad catalog", mp)
    refused(["s3://some-bucket", mp], "catalog", "s3 without catalog", mp)
    refused([src], "MOUNTPOINT", "missing mountpoint", mp)
    refused([src, os.path.join(base, "no-such-dir")], "no-such-dir", "absent mountpoint", mp)
    refused(["--frob", src, mp], "--frob", "unknown flag", mp)


def dead_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def aws_failures(base):
    moto = os.environ.get("TFS_TEST_MOTO")
    if not moto:
        t.diag("skip: TFS_TEST_MOTO not set, no S3/DynamoDB checks")
        return
    mp = os.path.join(base, "mnt-aws")
    os.makedirs(mp)
    table = t.unique("tcli")
    bucket = t.make_bucket(moto)
    ep = [f"endpoint={moto}", f"dynamodb_endpoint={moto}", "region=us-east-1",
          f"cache={base}/cache-aws"]

    # init: a missing bucket is refused with advice, the table is made
    r = m.run_tenantfs(["init", f"s3://{t.unique('nob')}", "-o",
                        ",".join([f"catalog=dynamodb:{table}"] + ep)])
    t.ok(r.returncode == 1 and "does not exist" in r.stderr and r.elapsed < 15,
         "init: missing bucket refused with advice", r.stderr)
    r = m.run_tenantfs(["init", f"s3://{bucket}/p", "-o",
                        ",".join([f"catalog=dynamodb:{table}"] + ep)])
    t.ok(r.returncode == 0, "init creates the table", r.stderr)
    try:
        st = t.ddb_client(moto).describe_table(TableName=table)["Table"]["TableStatus"]
    except Exception as e:  # noqa: BLE001
        st = repr(e)
    t.eq(st, "ACTIVE", "table exists after init")
    r = m.run_tenantfs(["init", f"s3://{bucket}/p", "-o",
                        ",".join([f"catalog=dynamodb:{table}"] + ep)])
    t.ok(r.returncode == 0, "init is idempotent", r.stderr)

    # mounts that must fail before detaching
    r = m.run_tenantfs([f"s3://{t.unique('nob')}", mp, "-o",
                        ",".join([f"catalog=dynamodb:{table}"] + ep)], timeout=60)
    t.ok(r.returncode == 1 and "does not exist" in r.stderr and r.elapsed < 15,
         f"mount with a missing bucket fails promptly ({r.elapsed:.1f}s)", r.stderr)
    t.ok(not m.is_fuse_mount(mp), "missing bucket: nothing mounted")
    r = m.run_tenantfs([f"s3://{bucket}", mp, "-o",
                        ",".join([f"catalog=dynamodb:{t.unique('not')}"] + ep)], timeout=60)
    t.ok(r.returncode == 1 and "init" in r.stderr and r.elapsed < 15,
         f"mount with a missing table fails promptly, pointing to init ({r.elapsed:.1f}s)",
         r.stderr)
    dead = f"http://127.0.0.1:{dead_port()}"
    r = m.run_tenantfs([f"s3://{bucket}", mp, "-o",
                        f"catalog=dynamodb:{table},endpoint={dead},dynamodb_endpoint={moto},"
                        f"cache={base}/cache-aws"], timeout=60)
    t.ok(r.returncode == 1 and r.elapsed < 20 and r.stderr.strip(),
         f"mount with a dead S3 endpoint fails promptly ({r.elapsed:.1f}s)", r.stderr)
    t.ok(not m.is_fuse_mount(mp), "dead endpoint: nothing mounted")
    if m.is_fuse_mount(mp):
        subprocess.run(["fusermount3", "-u", mp], timeout=30)


def find_daemon(mp):
    """PID of the tenantfs daemon serving mp (it detached from us)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"tenantfs") and mp.encode() in argv:
            return int(pid)
    return None


def wait_gone(pid, timeout=60):
    try:
        t.wait_until(lambda: not os.path.exists(f"/proc/{pid}"), timeout=timeout,
                     what=f"daemon {pid} to exit")
        return True
    except TimeoutError:
        return False


def via_mount_commands(base):
    """mount -t fuse.tenantfs (mount.fuse3) and packaging/mount.tenantfs
    start a daemon that detaches; fusermount3 -u stops it."""
    build = t.build_dir()
    env = m._daemon_env({"PATH": f"{build}:{os.environ.get('PATH', '/usr/bin:/bin')}"})
    # mount(8) drops PATH for its helpers, so mount.fuse3's /bin/sh finds
    # tenantfs only where it is installed; mount.fuse3 itself is what
    # mount(8) and fstab run, so call it with our PATH.
    cases = [
        ("mount.fuse3 -t fuse.tenantfs",
         lambda src, mp, o: ["mount.fuse3", src, mp, "-t", "fuse.tenantfs", "-o", o]),
        ("packaging/mount.tenantfs",
         lambda src, mp, o: [os.path.join(ROOT, "packaging", "mount.tenantfs"), src, mp, "-o",
                             o]),
    ]
    env["TENANTFS_BIN"] = os.path.join(build, "tenantfs")
    installed = shutil.which("tenantfs", path=STD_PATH)
    if installed and os.path.samefile(installed, os.path.join(build, "tenantfs")):
        cases.append(("mount -t fuse.tenantfs",
                      lambda src, mp, o: ["mount", "-t", "fuse.tenantfs", src, mp, "-o", o]))
    else:
        t.diag("mount(8) itself not tried: this build of tenantfs is not installed in "
               + STD_PATH)
    for n, (label, cmd) in enumerate(cases):
        src = os.path.join(base, f"src-mc{n}")
        mp = os.path.join(base, f"mnt-mc{n}")
        os.makedirs(mp)
        opts = f"node=n1,idle=0.5,linger=0,cache={base}/cache-mc{n},_netdev,defaults"
        t.eq(m.run_tenantfs(["init", src]).returncode, 0, f"{label}: init the store")
        r = subprocess.run(cmd(src, mp, opts), capture_output=True, text=True, timeout=60,
                           env=env)
        ok = t.ok(r.returncode == 0 and m.is_fuse_mount(mp), f"{label} mounts",
                  r.stdout + r.stderr)
        pid = find_daemon(mp)
        if pid:
            t.record_pid(pid)
        if not ok:
            continue
        t.eq(m.mount_type(mp), "fuse.tenantfs", f"{label}: type fuse.tenantfs")
        m.write_rollback_cli(mp, "x", 50)
        u = subprocess.run(["fusermount3", "-u", mp], capture_output=True, text=True,
                           timeout=60)
        t.ok(u.returncode == 0, f"{label}: fusermount3 -u", u.stderr)
        t.ok(pid is not None and wait_gone(pid), f"{label}: daemon exits after unmount")


def sigterm_writes_back(base):
    src = os.path.join(base, "src-term")
    mp = os.path.join(base, "mnt-term")
    # idle and max_dirty far away: only the shutdown can write it back
    opts = ["node=n1", "idle=600", "max_dirty=600", "linger=600", f"cache={base}/cache-t1"]
    mnt = m.Mount(src, mp, opts).start()
    m.write_wal_python(mp, "term", 100)
    dirty = m.xattr(os.path.join(mp, "term.db"), "dirty")
    t.ok(dirty is not None and dirty.lower() in ("1", "yes", "true", "dirty"),
         "database is dirty before SIGTERM", dirty)
    start = time.monotonic()
    os.kill(mnt.proc.pid, signal.SIGTERM)
    try:
        rc = mnt.proc.wait(timeout=90)
    except subprocess.TimeoutExpired:
        rc = None
        mnt.kill()
    mnt.proc = None
    t.eq(rc, 0, f"daemon exits 0 on SIGTERM ({time.monotonic() - start:.1f}s)")
    if m.is_fuse_mount(mp):
        subprocess.run(["fusermount3", "-u", mp], timeout=30)
    t.ok(not m.is_fuse_mount(mp), "SIGTERM unmounts")
    with m.Mount(src, mp, ["node=n2", f"cache={base}/cache-t2", "linger=0"]):
        m.check_rows(os.path.join(mp, "term.db"), "term", 100, "after SIGTERM")


def local_init(base):
    src = os.path.join(base, "src-init")
    r = m.run_tenantfs(["init", src])
    t.ok(r.returncode == 0, "init of a directory SOURCE", r.stderr)
    t.ok(os.path.isdir(os.path.join(src, "objects")) and
         os.path.isfile(os.path.join(src, "catalog.db")), "init made objects/ and catalog.db")


def main():
    m.tenantfs_binary()
    base = tempfile.mkdtemp(prefix="mount-cli-", dir=t.tmp_dir())
    help_and_man()
    bad_options(base)
    local_init(base)
    aws_failures(base)
    if m.fuse_available():
        via_mount_commands(base)
        sigterm_writes_back(base)
    else:
        t.diag("skip: no /dev/fuse, no mount checks")


if __name__ == "__main__":
    m.run_main(main)
