#!/usr/bin/env python3
"""The Debian package: `make deb` builds tenantfs_VERSION_ARCH.deb whose
control fields, Depends (every shared library the daemon links, and fuse3)
and contents are right; dpkg installs it into a scratch root (maintainer
scripts run chrooted there), the files and modes are right, the packaged
(stripped, hardened) daemon runs and serves a mount; systemd-analyze verify
passes on its units; removing and purging leave nothing; and apt can
resolve its Depends (every name has a candidate that satisfies the
version; a simulated install on a machine with nothing installed finds
every package). Nothing here changes the machine: the package is built in
the test's scratch directory and installed only into a scratch root."""
# tfs-timeout: 240

import gzip
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import mount as m  # noqa: E402
import tfstest as t  # noqa: E402

PKG = os.path.join(ROOT, "packaging")
# Every library the daemon links, by package (what the issue names).
LIB_PACKAGES = ["libc6", "libfuse3-3", "libsqlite3-0", "libcurl4", "libssl3", "libxxhash0",
                "libjansson4", "libxml2", "libmicrohttpd12"]
# path in the package -> (mode, file in the tree it is a copy of, or None)
FILES = {
    "usr/bin/tenantfs": (0o755, None),
    "sbin/mount.tenantfs": (0o755, "packaging/mount.tenantfs"),
    "usr/share/man/man8/tenantfs.8.gz": (0o644, None),
    "lib/systemd/system/tenantfs@.service": (0o644, None),
    "usr/share/doc/tenantfs/copyright": (0o644, "packaging/deb/copyright"),
    "usr/share/doc/tenantfs/README.md.gz": (0o644, None),
    "usr/share/doc/tenantfs/changelog.gz": (0o644, None),
    "usr/share/doc/tenantfs/examples/mnt-users.mount": (0o644, "packaging/mnt-users.mount"),
    "usr/share/doc/tenantfs/examples/fstab.example": (0o644, "packaging/fstab.example"),
    "usr/share/doc/tenantfs/examples/tenantfs.conf.example":
        (0o644, "packaging/tenantfs.conf.example"),
}
# the helper's man page is tenantfs(8), which documents it
LINKS = {"usr/share/man/man8/mount.tenantfs.8.gz": "tenantfs.8.gz"}
DIRS = ["etc/tenantfs", "usr/share/doc/tenantfs/examples", "lib/systemd/system",
        "usr/share/man/man8"]


def run(argv, timeout=120, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, **kw)


def read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def code_version():
    s = read(os.path.join(ROOT, "fuse", "options.h"))
    mt = re.search(r'define TFS_VERSION "([^"]+)"', s)
    return mt.group(1) if mt else None


def make_deb(base, n):
    out = os.path.join(base, f"out{n}")
    r = run(["make", "-j2", "deb", f"DEB_BUILD={base}/deb-build{n}", f"DEB_OUT={out}"],
            timeout=180, cwd=ROOT)
    return r, out


def build(base):
    """make deb into the scratch dir (the tree's build dirs are left
    alone); returns the .deb path or None."""
    r, out = make_deb(base, 1)
    if not t.ok(r.returncode == 0, "make deb builds", r.stdout[-3000:] + r.stderr[-3000:]):
        return None
    arch = run(["dpkg", "--print-architecture"]).stdout.strip()
    want = f"tenantfs_{code_version()}_{arch}.deb"
    debs = os.listdir(out) if os.path.isdir(out) else []
    t.eq(debs, [want], "make deb names the package tenantfs_VERSION_ARCH.deb")
    if want not in debs:
        return None
    deb = os.path.join(out, want)
    # Reproducible: a second build from scratch, in another folder, gives
    # the same bytes (file times from the commit, -ffile-prefix-map, gzip -n).
    # Outside a git checkout the times are the build's: not checked.
    if run(["git", "-C", ROOT, "log", "-1", "--format=%ct"]).returncode != 0:
        t.diag("skip: not a git checkout, no reproducibility check")
        return deb
    r2, out2 = make_deb(base, 2)
    again = os.path.join(out2, want)
    t.ok(r2.returncode == 0 and os.path.exists(again) and read(again, "rb") == read(deb, "rb"),
         "a second make deb in another folder builds the same bytes", r2.stderr[-2000:])
    return deb


def parse_depends(value):
    """[[(name, op, version) alternatives], ...] of a Depends field."""
    deps = []
    for item in value.split(","):
        alts = []
        for alt in item.split("|"):
            mt = re.match(r"\s*([a-z0-9][a-z0-9+.-]*)(?::\w+)?\s*"
                          r"(?:\((<<|<=|=|>=|>>)\s*([^)\s]+)\))?", alt)
            if mt:
                alts.append(mt.groups())
        deps.append(alts)
    return deps


def fields(deb):
    r = run(["dpkg-deb", "-f", deb])
    t.ok(r.returncode == 0, "dpkg-deb -f reads the control file", r.stderr)
    got = {}
    for mt in re.finditer(r"^([A-Za-z-]+): ?(.*(?:\n .*)*)", r.stdout, re.M):
        got[mt.group(1)] = mt.group(2)
    info = run(["dpkg-deb", "-I", deb])
    t.ok(info.returncode == 0 and " postinst" in info.stdout and " postrm" in info.stdout
         and " md5sums" in info.stdout, "dpkg-deb -I lists control, md5sums, postinst, postrm",
         info.stdout + info.stderr)
    t.eq(got.get("Package"), "tenantfs", "Package: tenantfs")
    t.eq(got.get("Version"), code_version(), "Version is TFS_VERSION (what --version prints)")
    t.eq(got.get("Architecture"), "amd64", "Architecture: amd64")
    for f in ("Maintainer", "Description", "Installed-Size", "Section", "Priority"):
        t.ok(got.get(f), f"{f} is set")
    deps = parse_depends(got.get("Depends", ""))
    names = {a[0] for alts in deps for a in alts}
    for p in LIB_PACKAGES + ["fuse3"]:
        t.ok(p in names, f"Depends names {p}", got.get("Depends"))
    for alts in deps:
        for name, op, ver in alts:
            if name in LIB_PACKAGES:
                t.ok(op == ">=" and ver, f"Depends: {name} carries a minimum version",
                     got.get("Depends"))
    return got, deps


def contents(deb):
    r = run(["dpkg-deb", "-c", deb])
    t.ok(r.returncode == 0, "dpkg-deb -c lists the data", r.stderr)
    entries = {}
    for line in r.stdout.splitlines():
        parts = line.split(None, 5)
        if len(parts) == 6:
            path, _, target = parts[5].partition(" -> ")
            entries[path[2:].rstrip("/")] = (parts[0], parts[1], target)
    files = {p for p, (perm, _, _) in entries.items() if perm.startswith("-")}
    t.eq(sorted(files), sorted(FILES), "the package holds exactly the expected files")
    for d in DIRS:
        t.ok(entries.get(d, ("",))[0].startswith("d"), f"the package has the folder /{d}")
    owners = {own for _, own, _ in entries.values()}
    t.eq(owners, {"root/root"}, "every entry belongs to root/root (--root-owner-group)")
    links = {p: tgt for p, (perm, _, tgt) in entries.items() if perm.startswith("l")}
    t.eq(links, LINKS, "the only link is mount.tenantfs(8) to tenantfs(8)")
    others = [p for p, (perm, _, _) in entries.items() if not perm[0] in "-dl"]
    t.eq(others, [], "no devices or other special files")


def check_binary(path):
    sec = run(["readelf", "-S", "-W", path]).stdout
    t.ok(".text" in sec and ".symtab" not in sec and ".debug_" not in sec,
         "the packaged daemon is stripped (no .symtab, no .debug_*)")
    t.ok(".note.gnu.build-id" in sec, "the packaged daemon keeps its build id")
    dyn = run(["readelf", "-d", "-W", path]).stdout
    t.ok("BIND_NOW" in dyn or re.search(r"FLAGS_1.*\bNOW\b", dyn),
         "the daemon is linked with -z now (bind now)", dyn)
    t.ok(re.search(r"FLAGS_1.*\bPIE\b", dyn), "the daemon is a position independent executable")
    hdr = run(["readelf", "-l", "-W", path]).stdout
    t.ok("GNU_RELRO" in hdr, "the daemon has RELRO")
    syms = run(["readelf", "--dyn-syms", "-W", path]).stdout
    t.ok(re.search(r"__\w+_chk\b", syms), "the daemon is built with _FORTIFY_SOURCE (__*_chk)")
    t.ok("__stack_chk_fail" in syms, "the daemon is built with the stack protector")
    return dyn


def needed_packages(path, dyn):
    """The package of every shared library the binary names (dpkg -S on
    the library ldd resolves), independently of dpkg-shlibdeps."""
    sonames = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dyn)
    ldd = run(["ldd", path]).stdout
    pkgs = {}
    for so in sonames:
        mt = re.search(rf"^\s*{re.escape(so)} => (\S+)", ldd, re.M)
        if not mt:
            pkgs[so] = None
            continue
        lib = mt.group(1)
        cands = {lib, os.path.realpath(lib)}
        for c in list(cands):
            cands.add(c[4:] if c.startswith("/usr/") else "/usr" + c)
        owner = None
        for c in sorted(cands):
            r = run(["dpkg", "-S", c])
            if r.returncode == 0:
                owner = r.stdout.split(":")[0].strip()
                break
        pkgs[so] = owner
    return pkgs


def make_root(base):
    """A scratch root with a dpkg database, and (when we can chroot) /bin/sh
    and the C library, so that dpkg runs the maintainer scripts chrooted."""
    r = os.path.join(base, "root")
    for d in ("var/lib/dpkg/info", "var/lib/dpkg/updates"):
        os.makedirs(os.path.join(r, d))
    open(os.path.join(r, "var/lib/dpkg/status"), "w").close()
    if os.geteuid() != 0:
        return r, False
    sh = os.path.realpath("/bin/sh")
    ldd = run(["ldd", sh]).stdout
    libs = re.findall(r"(/\S+) \(0x", ldd)
    os.makedirs(os.path.join(r, "bin"))
    shutil.copy(sh, os.path.join(r, "bin", "sh"))
    for lib in libs:
        dst = os.path.join(r, lib.lstrip("/"))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy(os.path.realpath(lib), dst)
    return r, True


def dpkg(root, chroot, *args):
    argv = ["dpkg", f"--root={root}", "--log=/dev/null", "--force-depends", "--force-not-root"]
    if not chroot:
        # scripts run outside the root, with DPKG_ROOT set
        argv.append("--force-script-chrootless")
    return run(argv + list(args), timeout=120)


def check_installed(root, version):
    for rel, (mode, src) in FILES.items():
        p = os.path.join(root, rel)
        try:
            st = os.lstat(p)
        except FileNotFoundError:
            t.ok(False, f"/{rel} is installed")
            continue
        t.ok(stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == mode
             and st.st_uid == 0 and st.st_gid == 0,
             f"/{rel} is installed, mode {mode:o}, owned by root",
             f"mode {stat.S_IMODE(st.st_mode):o} uid {st.st_uid} gid {st.st_gid}")
        if src:
            t.ok(read(p, "rb") == read(os.path.join(ROOT, src), "rb"),
                 f"/{rel} is {src}")
    t.ok(os.path.isdir(os.path.join(root, "etc/tenantfs")), "/etc/tenantfs is created")
    for rel, target in LINKS.items():
        p = os.path.join(root, rel)
        t.ok(os.path.islink(p) and os.readlink(p) == target
             and os.path.isfile(os.path.join(os.path.dirname(p), target)),
             f"/{rel} is a link to {target}, which is installed")
    log = gzip.decompress(read(os.path.join(root, "usr/share/doc/tenantfs/changelog.gz"),
                               "rb")).decode()
    t.ok(log.startswith(f"tenantfs ({version}) "), "the changelog's entry is the package version",
         log)

    man = os.path.join(root, "usr/share/man/man8/tenantfs.8.gz")
    raw = read(man, "rb")
    # gzip -n: no file name (FLG bit 3) and no time stamp (bytes 4-7)
    t.ok(raw[:2] == b"\x1f\x8b" and not raw[3] & 0x08 and raw[4:8] == b"\0\0\0\0",
         "the man page is gzipped without name or time stamp (gzip -n)")
    t.ok(gzip.decompress(raw) == read(os.path.join(PKG, "tenantfs.8"), "rb"),
         "the man page is packaging/tenantfs.8")
    unit = read(os.path.join(root, "lib/systemd/system/tenantfs@.service"))
    t.ok(re.search(r"^ExecStart=/usr/bin/tenantfs -f ", unit, re.M),
         "tenantfs@.service starts the packaged /usr/bin/tenantfs")
    t.ok("/usr/local" not in unit, "tenantfs@.service names nothing under /usr/local")
    t.ok(re.search(r"^ExecStop=/bin/fusermount3 -u ", unit, re.M),
         "tenantfs@.service stops through fusermount3 (fuse3, a Depends)")

    v = run([os.path.join(root, "usr/bin/tenantfs"), "--version"])
    t.ok(v.returncode == 0 and v.stdout.startswith(f"tenantfs {version} "),
         "the installed daemon runs: --version prints the package version",
         v.stdout + v.stderr)
    h = run([os.path.join(root, "usr/bin/tenantfs"), "--help"])
    t.ok(h.returncode == 0 and "usage: tenantfs" in h.stdout, "the installed daemon runs: --help",
         h.stderr)
    hb = m.run_tenantfs(["--help"])
    t.eq(h.stdout, hb.stdout, "the packaged daemon's --help is the tree's")
    mh = run([os.path.join(root, "sbin/mount.tenantfs")])
    t.ok(mh.returncode == 1 and "usage: mount.tenantfs" in mh.stderr,
         "the installed mount helper runs (usage, exit 1 without arguments)", mh.stderr)
    r = run(["dpkg", f"--root={root}", "-V", "tenantfs"])
    t.ok(r.returncode == 0 and r.stdout == "",
         "dpkg -V: every installed file matches the package's md5sums", r.stdout + r.stderr)


class PackagedMount(m.Mount):
    """A mount served by the daemon installed in the scratch root."""

    def __init__(self, binary, *a, **kw):
        super().__init__(*a, **kw)
        self.binary = binary

    def argv(self):
        return [self.binary] + super().argv()[1:]


def packaged_mount(root, base):
    """The stripped, hardened daemon serves the embedded store: a database
    written through it is written back and read again after a remount."""
    binary = os.path.join(root, "usr/bin/tenantfs")
    src, mp = os.path.join(base, "store"), os.path.join(base, "mnt")
    opts = ["node=pkg", "idle=0.3", "linger=0.1", f"cache={base}/cache"]
    env = dict(os.environ)
    with PackagedMount(binary, src, mp, opts, env=env) as mnt:
        db = os.path.join(mp, "p1.db")
        rc, out, err = m.sqlite_cli(db, "create table t(x); insert into t values (42);")
        t.ok(rc == 0, "the packaged daemon: sqlite3 writes a database", err)
        try:
            gen, _ = m.wait_clean(db)
            t.ok(gen >= 1, f"the packaged daemon writes it back (gen {gen})")
        except TimeoutError as e:
            t.ok(False, "the packaged daemon writes it back", f"{e}\n{mnt.log_text()}")
    t.eq(mnt.returncode, 0, "the packaged daemon exits 0 after the unmount")
    with PackagedMount(binary, src, mp, opts[:3] + [f"cache={base}/cache2"], env=env):
        rc, out, err = m.sqlite_cli(os.path.join(mp, "p1.db"), "select x from t;")
        t.ok(rc == 0 and out.strip() == "42",
             "the packaged daemon reads it back from the store after a remount", out + err)


def verify_units(root, base):
    """systemd-analyze verify on the installed units. It checks that each
    command exists, so the template is verified as installed except that
    /usr/bin/tenantfs points at the scratch root's copy; Documentation=
    man:tenantfs(8) is checked against the installed man page (MANPATH)."""
    if not shutil.which("systemd-analyze"):
        t.ok(False, "systemd-analyze is installed (tests/setup installs systemd)")
        return
    units = os.path.join(base, "units")
    os.makedirs(units)
    unit = read(os.path.join(root, "lib/systemd/system/tenantfs@.service"))
    binary = os.path.join(root, "usr/bin/tenantfs")
    copy = os.path.join(units, "tenantfs@.service")
    with open(copy, "w") as f:
        f.write(unit.replace("=/usr/bin/tenantfs ", f"={binary} "))
    mount_unit = os.path.join(root, "usr/share/doc/tenantfs/examples/mnt-users.mount")
    env = dict(os.environ, MANPATH=os.path.join(root, "usr/share/man"),
               SYSTEMD_LOG_LEVEL="notice")
    for path in (copy, mount_unit):
        r = run(["systemd-analyze", "verify", path], env=env, timeout=60)
        t.ok(r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(),
             f"systemd-analyze verify {os.path.basename(path)}: no error, no warning",
             f"rc {r.returncode}\n{r.stdout}{r.stderr}")
    # The check can fail: a unit whose command is missing is refused.
    bad = os.path.join(units, "tenantfs-bad@.service")
    with open(bad, "w") as f:
        f.write(unit.replace("=/usr/bin/tenantfs ", f"={binary}-missing "))
    r = run(["systemd-analyze", "verify", bad], env=env, timeout=60)
    t.ok(r.returncode != 0 and "is not executable" in r.stderr,
         "systemd-analyze verify refuses a unit whose ExecStart is missing", r.stderr)


def removal(root, chroot):
    r = dpkg(root, chroot, "-r", "tenantfs")
    t.ok(r.returncode == 0, "dpkg -r removes it (postrm runs)", r.stdout + r.stderr)
    left = [rel for rel in list(FILES) + list(LINKS) if os.path.lexists(os.path.join(root, rel))]
    t.eq(left, [], "removal leaves none of its files")
    t.ok(not os.path.exists(os.path.join(root, "etc/tenantfs")),
         "removal takes the empty /etc/tenantfs away")
    r = dpkg(root, chroot, "-P", "tenantfs")
    t.ok(r.returncode == 0, "dpkg -P purges it", r.stdout + r.stderr)
    q = run(["dpkg-query", f"--admindir={root}/var/lib/dpkg", "-W", "tenantfs"])
    t.ok(q.returncode != 0, "after the purge dpkg knows no tenantfs", q.stdout)


def candidate(name):
    r = run(["apt-cache", "policy", name], timeout=60)
    mt = re.search(r"^\s*Candidate:\s*(\S+)", r.stdout, re.M)
    return mt.group(1) if mt and mt.group(1) != "(none)" else None


def apt_resolves(deb, deps, base):
    """apt-get -f install after dpkg -i would find every Depends: each one
    has a candidate version that satisfies it; and a simulated install of
    the .deb (apt-get -s, no lock, no cache written) on a machine with
    nothing installed (an empty dpkg status) finds all of them."""
    for alts in deps:
        ok, why = False, []
        for name, op, ver in alts:
            cand = candidate(name)
            why.append(f"{name}: candidate {cand}")
            if cand and (not op or run(["dpkg", "--compare-versions", cand, op, ver]).returncode
                         == 0):
                ok = True
        t.ok(ok, f"apt has a candidate for {' | '.join(a[0] for a in alts)} satisfying "
             f"{' | '.join(f'{a[1]} {a[2]}' for a in alts if a[1]) or 'any version'}",
             "; ".join(why))
    lists = [f for f in os.listdir("/var/lib/apt/lists") if "_Packages" in f] \
        if os.path.isdir("/var/lib/apt/lists") else []
    if not lists:
        t.diag("skip: no apt package lists (apt-get update has not run): no simulated "
               "install on an empty system")
        return
    status = os.path.join(base, "empty-status")
    open(status, "w").close()
    r = run(["apt-get", "-s", "-q", "-o", "Debug::NoLocking=1", "-o", "Dir::Cache::pkgcache=",
             "-o", "Dir::Cache::srcpkgcache=", "-o", f"Dir::State::status={status}",
             "-o", "APT::Install-Recommends=false", "install", deb], timeout=120)
    inst = set(re.findall(r"^Inst (\S+)", r.stdout, re.M))
    t.ok(r.returncode == 0 and "tenantfs" in inst,
         "apt-get -s install of the .deb on an empty system resolves its Depends",
         r.stdout[-2000:] + r.stderr[-2000:])
    missing = [a[0] for alts in deps for a in alts[:1] if a[0] not in inst]
    t.eq(missing, [], "... and installs every package the Depends name")


def main():
    for tool in ("dpkg-deb", "dpkg-shlibdeps", "dpkg-buildflags", "readelf"):
        if not shutil.which(tool):
            t.ok(False, f"{tool} is installed (tests/setup installs dpkg-dev and binutils)")
            return
    base = tempfile.mkdtemp(prefix="package-", dir=t.tmp_dir())
    deb = build(base)
    if not deb:
        return
    got, deps = fields(deb)
    contents(deb)

    root, chroot = make_root(base)
    r = dpkg(root, chroot, "-i", deb)
    how = "chrooted" if chroot else "chrootless, DPKG_ROOT set"
    t.ok(r.returncode == 0, f"dpkg -i into a scratch root ({how} maintainer scripts)",
         r.stdout + r.stderr)
    q = run(["dpkg-query", f"--admindir={root}/var/lib/dpkg", "-W", "-f=${Status} ${Version}",
             "tenantfs"])
    t.eq(q.stdout, f"install ok installed {got.get('Version')}",
         "dpkg records it installed in the scratch root")
    check_installed(root, got.get("Version"))

    binary = os.path.join(root, "usr/bin/tenantfs")
    dyn = check_binary(binary)
    names = {a[0] for alts in deps for a in alts}
    for so, pkg in needed_packages(binary, dyn).items():
        t.ok(pkg and pkg.split(":")[0] in names,
             f"{so} comes from {pkg}, which Depends names", sorted(names))

    if m.fuse_available():
        packaged_mount(root, base)
    else:
        t.diag("skip: no /dev/fuse, no mount by the packaged daemon")
    verify_units(root, base)
    removal(root, chroot)
    apt_resolves(deb, deps, base)


if __name__ == "__main__":
    try:
        m.run_main(main)
    finally:
        passed, failed = t.counts()
        print(f"{passed} passed, {failed} failed", flush=True)
