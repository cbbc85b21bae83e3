#!/usr/bin/env python3
"""tenantfs over HTTPS: stunnel4 (Debian's TLS terminator) in front of
moto_server with a certificate from a test CA made here with openssl. With
AWS_CA_BUNDLE naming the test CA, `tenantfs init` and a mount with
virtual-hosted addressing (BUCKET.s3.localhost: libcurl resolves every
*.localhost name to loopback itself, no /etc/hosts needed) and the
DynamoDB catalog both through TLS write a database and read it back on a
second node. Without the CA bundle, and with a server certificate that is
self-signed, the mount is refused before mounting: exit status non-zero, a
log line naming the certificate problem, nothing mounted. Needs
$TFS_TEST_MOTO, FUSE, openssl and stunnel4."""
# tfs-timeout: 240

import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mount as m  # noqa: E402
import tfstest as t  # noqa: E402

ROWS = 50


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_pki(d):
    """A CA, a server certificate it signs (localhost, s3.localhost,
    *.s3.localhost, 127.0.0.1), and a self-signed certificate for the same
    names that no bundle trusts."""
    ext = os.path.join(d, "san.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:localhost,DNS:s3.localhost,DNS:*.s3.localhost,"
                "IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,"
                "keyEncipherment\nextendedKeyUsage=serverAuth\n")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=tenantfs test CA", "-keyout", "ca.key", "-out", "ca.pem", cwd=d)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
            "-keyout", "server.key", "-out", "server.csr", cwd=d)
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", "server.pem", cwd=d)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=localhost", "-addext",
            "subjectAltName=DNS:localhost,DNS:s3.localhost,DNS:*.s3.localhost,IP:127.0.0.1",
            "-keyout", "self.key", "-out", "self.pem", cwd=d)


class Stunnel:
    """stunnel4 in the foreground on a free loopback port, forwarding TLS to
    target (host:port) with cert/key; stopped by PID."""

    def __init__(self, d, name, cert, key, target):
        self.port = t.free_port()
        self.conf = os.path.join(d, f"{name}.conf")
        self.log = os.path.join(d, f"{name}.log")
        with open(self.conf, "w") as f:
            f.write(f"foreground = yes\npid =\nsyslog = no\ndebug = 5\n"
                    f"output = {self.log}\n[tfs]\naccept = 127.0.0.1:{self.port}\n"
                    f"connect = {target}\ncert = {cert}\nkey = {key}\n")
        self.proc = None

    def __enter__(self):
        self.proc = subprocess.Popen(["stunnel4", self.conf], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t.record_pid(self.proc.pid)
        t.wait_until(lambda: self.proc.poll() is None and t.port_open("127.0.0.1", self.port),
                     timeout=20, what="stunnel4 to listen")
        return self

    def __exit__(self, *exc):
        t.stop_process(self.proc)
        return False


def refused(src, mp, opts, env, what, want):
    """A mount that must fail before mounting, saying want in its log."""
    r = m.run_tenantfs(["-f", "-o", ",".join(opts), src, mp], timeout=60, env=env)
    out = r.stdout + r.stderr
    t.ok(r.returncode != 0, f"{what}: the mount exits non-zero", out)
    t.ok(not m.is_fuse_mount(mp), f"{what}: nothing is mounted")
    t.ok(want in out.lower(), f"{what}: the error names the certificate problem ({want!r})",
         out)
    for line in out.splitlines():
        if "error:" in line:
            t.diag(f"{what}: {line.split('error:', 1)[1].strip()}")
            break


def main():
    moto = t.need_env("TFS_TEST_MOTO")
    m.need_fuse()
    m.tenantfs_binary()
    for tool in ("openssl", "stunnel4"):
        if not shutil.which(tool):
            t.skip(f"{tool} is not installed (tests/setup installs it)")
    base = tempfile.mkdtemp(prefix="tls-", dir=t.tmp_dir())
    make_pki(base)
    target = moto.split("://", 1)[1]
    bucket = t.make_bucket(moto)
    table = t.unique("tls")
    src = f"s3://{bucket}/users"
    mp = os.path.join(base, "mnt")
    os.makedirs(mp)
    ca = os.path.join(base, "ca.pem")
    with Stunnel(base, "good", os.path.join(base, "server.pem"),
                 os.path.join(base, "server.key"), target) as good, \
            Stunnel(base, "self", os.path.join(base, "self.pem"),
                    os.path.join(base, "self.key"), target) as selfsigned:
        aws = [f"catalog=dynamodb:{table}", f"endpoint=https://s3.localhost:{good.port}",
               f"dynamodb_endpoint=https://localhost:{good.port}", "region=us-east-1",
               "s3_addressing=virtual"]
        env = m._daemon_env({"AWS_CA_BUNDLE": ca})
        r = m.run_tenantfs(["init", src, "-o", ",".join(aws)], env=env)
        if not t.ok(r.returncode == 0, "tenantfs init over https with AWS_CA_BUNDLE",
                    r.stdout + r.stderr):
            return
        opts = aws + ["idle=0.3", "linger=0.2", "lease_ttl=3"]
        with m.Mount(src, mp, opts + [f"cache={base}/c1", "node=n1"], env=env) as mnt:
            m.write_rollback_cli(mp, "u1", ROWS)
            try:
                m.wait_clean(os.path.join(mp, "u1.db"))
                t.ok(True, "a database written through https is published")
            except TimeoutError as e:
                t.ok(False, "a database written through https is published",
                     f"{e}\n{mnt.log_text()}")
        s3 = t.s3_client(moto)
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
        t.ok(any(k.startswith("users/") for k in keys),
             "the object is in the bucket named by the virtual host", keys)
        with open(good.log, errors="replace") as f:
            t.ok("accepted connection" in f.read().lower(),
                 "the requests went through stunnel")
        with m.Mount(src, mp, opts + [f"cache={base}/c2", "node=n2"], env=env):
            m.check_rows(os.path.join(mp, "u1.db"), "u1", ROWS,
                         "a second node reads it back through https")

        no_ca = m._daemon_env()
        no_ca.pop("AWS_CA_BUNDLE", None)
        refused(src, mp, opts + [f"cache={base}/c3", "node=n3"], no_ca,
                "no CA bundle", "certificate")
        self_opts = [o.replace(str(good.port), str(selfsigned.port)) for o in opts]
        refused(src, mp, self_opts + [f"cache={base}/c4", "node=n4"], env,
                "a self-signed server certificate", "self-signed certificate")
        missing = m._daemon_env({"AWS_CA_BUNDLE": os.path.join(base, "absent.pem")})
        refused(src, mp, opts + [f"cache={base}/c5", "node=n5"], missing,
                "a CA bundle that does not exist", "ca bundle")


if __name__ == "__main__":
    m.run_main(main)
