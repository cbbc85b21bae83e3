"""Shared helpers for tenantfs Python test scripts.

TAP-style output ("ok - name" / "not ok - name"), the environment contract of
tests/run (TFS_TEST_MOTO, TFS_TEST_DYNALITE, TFS_TEST_BUILD, TFS_TEST_TMP),
free loopback ports, bounded waits, boto3 clients for the test peers, the
fault proxy as a context manager, and the daemon PID file convention.

Usage from a test script (tests/integration/test_x.py):

    import os, sys
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
    import tfstest as t

    moto = t.need_env("TFS_TEST_MOTO")      # exits 77 (skip) when unset
    s3 = t.s3_client(moto)
    t.ok(s3.list_buckets() is not None, "list buckets")
    sys.exit(t.done())                       # 1 if anything failed

Daemon PID convention: every test that starts a tenantfs daemon (or any
other long-lived process) calls record_pid(pid) right after starting it.
That appends "<pid> <comm>\n" to $TFS_TEST_TMP/pids. After each test,
tests/run unmounts anything still mounted under $TFS_TEST_TMP and kills
every recorded PID whose /proc/<pid>/comm still matches (so a recycled PID
is never hit). Tests should still clean up after themselves; this is the
safety net.
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
import uuid

SKIP = 77

_passed = 0
_failed = 0


# ---- TAP output ---------------------------------------------------------

def ok(cond, name, detail=None):
    """Print one TAP line for cond; on failure print detail as '#' lines."""
    global _passed, _failed
    name = " ".join(str(name).split())
    if cond:
        _passed += 1
        print(f"ok - {name}", flush=True)
    else:
        _failed += 1
        print(f"not ok - {name}", flush=True)
        if detail is not None:
            diag(detail)
    return bool(cond)


def eq(got, expected, name):
    """ok(got == expected) with both values shown on failure."""
    return ok(got == expected, name, f"got:      {got!r}\nexpected: {expected!r}")


def diag(msg):
    for line in str(msg).splitlines() or [""]:
        print(f"# {line}", flush=True)


def check(name):
    """Decorator/contextmanager-free helper: run fn(), report an exception
    as a failure named `name` instead of killing the whole script."""
    def wrap(fn):
        def run(*a, **kw):
            try:
                return fn(*a, **kw)
            except Exception:  # noqa: BLE001 - a test reports every failure
                ok(False, name, traceback.format_exc())
                return None
        return run
    return wrap


def counts():
    return _passed, _failed


def done():
    """Exit status for the script: 1 if any check failed or none ran."""
    if _passed + _failed == 0:
        print("not ok - no checks ran", flush=True)
        return 1
    return 1 if _failed else 0


def skip(reason):
    """Skip the whole script (exit 77), saying why."""
    print(f"# skip: {reason}", flush=True)
    sys.exit(SKIP)


def need_env(name):
    val = os.environ.get(name)
    if not val:
        skip(f"{name} is not set (run through tests/run)")
    return val


# ---- environment --------------------------------------------------------

def build_dir():
    return need_env("TFS_TEST_BUILD")


def tmp_dir():
    """Scratch dir of this run ($TFS_TEST_TMP); skip when unset."""
    return need_env("TFS_TEST_TMP")


def unique(prefix="t"):
    """A name unique to this test run, valid as S3 bucket and DynamoDB
    table name (lower case, digits, '-')."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}".lower()


def free_port():
    """A free TCP port on 127.0.0.1. Racy by nature; prefer letting a
    server bind port 0 and report it when the server can."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout=30.0, interval=0.05, what="condition"):
    """Call pred() until it returns a true value or timeout seconds pass.
    Exceptions from pred count as 'not yet'. Returns the value, or raises
    TimeoutError naming `what` and the last exception."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            val = pred()
            if val:
                return val
        except Exception as e:  # noqa: BLE001 - retried until the deadline
            last_exc = e
        if time.monotonic() >= deadline:
            msg = f"timed out after {timeout:.1f}s waiting for {what}"
            if last_exc is not None:
                msg += f" (last error: {last_exc!r})"
            raise TimeoutError(msg)
        time.sleep(interval)
        interval = min(interval * 1.5, 0.5)


def port_open(host, port, timeout=0.5):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# ---- PID file convention ------------------------------------------------

def _comm(pid):
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return None


def record_pid(pid):
    """Record a process this test started so tests/run can kill it if the
    test leaks it. No-op outside tests/run."""
    tmp = os.environ.get("TFS_TEST_TMP")
    if not tmp:
        return
    comm = _comm(pid) or "?"
    with open(os.path.join(tmp, "pids"), "a", encoding="utf-8") as f:
        f.write(f"{pid} {comm}\n")


def kill_pid(pid, timeout=5.0):
    """SIGTERM, wait up to timeout, then SIGKILL. Only for PIDs we started."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            wpid, _ = os.waitpid(pid, os.WNOHANG)
            if wpid == pid:
                return
        except ChildProcessError:
            if not os.path.exists(f"/proc/{pid}"):
                return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def stop_process(proc, timeout=5.0):
    """Stop a subprocess.Popen we started: SIGTERM, bounded wait, SIGKILL."""
    if proc.poll() is not None:
        return proc.returncode
    proc.terminate()
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(timeout=timeout)


# ---- boto3 clients ------------------------------------------------------

def _boto_config(attempts=1):
    from botocore.config import Config
    return Config(retries={"total_max_attempts": attempts, "mode": "standard"},
                  connect_timeout=5, read_timeout=30,
                  s3={"addressing_style": "path"})


def s3_client(endpoint=None, attempts=1):
    """boto3 S3 client for endpoint (default $TFS_TEST_MOTO), path style,
    `attempts` tries per call in total (1: no retry, so faults show)."""
    import boto3
    endpoint = endpoint or need_env("TFS_TEST_MOTO")
    return boto3.client("s3", endpoint_url=endpoint,
                        region_name=os.environ.get("AWS_REGION", "us-east-1"),
                        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
                        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY",
                                                             "testing"),
                        config=_boto_config(attempts))


def ddb_client(endpoint=None, attempts=1):
    """boto3 DynamoDB client for endpoint (default $TFS_TEST_MOTO),
    `attempts` tries per call in total."""
    import boto3
    endpoint = endpoint or need_env("TFS_TEST_MOTO")
    return boto3.client("dynamodb", endpoint_url=endpoint,
                        region_name=os.environ.get("AWS_REGION", "us-east-1"),
                        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
                        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY",
                                                             "testing"),
                        config=_boto_config(attempts))


def make_bucket(endpoint=None, name=None):
    """Create a uniquely named bucket; return its name."""
    name = name or unique("b")
    s3_client(endpoint).create_bucket(Bucket=name)
    return name


def bucket_keys(s3, bucket):
    """Every key in bucket, all pages."""
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        out += [o["Key"] for o in page.get("Contents", [])]
    return out


def make_table(endpoint=None, name=None, key="id", timeout=30.0):
    """Create a uniquely named on-demand table with string hash key `key`,
    wait until ACTIVE (bounded); return its name."""
    name = name or unique("t")
    ddb = ddb_client(endpoint)
    ddb.create_table(TableName=name,
                     AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                     BillingMode="PAY_PER_REQUEST")
    wait_until(lambda: ddb.describe_table(TableName=name)["Table"]["TableStatus"] == "ACTIVE",
               timeout=timeout, what=f"table {name} ACTIVE")
    return name


def ddb_lease_free(ddb, table, item):
    """True when a database's catalog item (as boto3's get_item returns it)
    is free for another node to take at once: nobody holds it, or it is not
    stranded and its holder's session is over (ended by the holder at its
    shutdown, or declared dead) or replaced by a newer one. A node that
    stops ends its session instead of releasing each clean lease."""
    owner = item.get("owner", {}).get("S")
    if not owner:
        return True
    if item.get("stranded"):
        return False
    s = ddb.get_item(TableName=table, Key={"id": {"S": "node#" + owner}},
                     ConsistentRead=True).get("Item", {})
    return bool(s) and ("killed" in s or s.get("sess") != item.get("sess"))


# ---- fault proxy --------------------------------------------------------

_HERE = os.path.dirname(os.path.abspath(__file__))
FAULTPROXY = os.path.join(_HERE, "faultproxy.py")


class FaultProxy:
    """Starts tests/lib/faultproxy.py in front of target on a free loopback
    port and stops it by PID on exit.

        with FaultProxy(os.environ["TFS_TEST_MOTO"]) as fp:
            fp.rules([{"method": "PUT", "action": "status", "status": 503, "count": 2}])
            ... point the client at fp.url ...
            fp.stats()["counts"]["PUT"]
    """

    def __init__(self, target, start_timeout=15.0, log=None):
        self.target = target
        self.start_timeout = start_timeout
        self.log = log
        self.proc = None
        self.port = None
        self.url = None
        self._dir = None

    def __enter__(self):
        self._dir = tempfile.mkdtemp(prefix="faultproxy-",
                                     dir=os.environ.get("TFS_TEST_TMP") or None)
        port_file = os.path.join(self._dir, "port")
        logf = open(self.log or os.path.join(self._dir, "log"), "ab")
        try:
            self.proc = subprocess.Popen(
                [sys.executable, FAULTPROXY, "--target", self.target,
                 "--listen", "127.0.0.1:0", "--port-file", port_file],
                stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
        finally:
            logf.close()
        record_pid(self.proc.pid)

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"faultproxy exited with {self.proc.returncode}")
            with open(port_file, encoding="ascii") as f:
                txt = f.read().strip()
            return int(txt) if txt else None

        try:
            self.port = wait_until(ready, timeout=self.start_timeout, what="faultproxy port")
        except BaseException:
            self.close()
            raise
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None

    def log_text(self):
        path = self.log or os.path.join(self._dir, "log")
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def _call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + "/__proxy/" + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            txt = r.read()
        return json.loads(txt) if txt else None

    def rules(self, rules):
        """Replace the rule list (see faultproxy.py for the fields)."""
        return self._call("POST", "rules", rules)

    def add_rules(self, rules):
        """Append rules to the current list."""
        return self._call("POST", "rules?append=1", rules)

    def reset(self):
        """Clear rules, outage and stats."""
        return self._call("POST", "reset", {})

    def stats(self):
        return self._call("GET", "stats")

    def outage(self, seconds):
        """Refuse (reset) every proxied request for `seconds`; 0 ends it."""
        return self._call("POST", "outage", {"seconds": seconds})


# ---- the tenantfs daemon --------------------------------------------------

def daemon_env(extra=None):
    """Environment for a tenantfs daemon started by a test: the run's
    environment with ASAN_OPTIONS from $TFS_TEST_DAEMON_ASAN_OPTIONS (leak
    detection off: fault tests kill and abandon daemons by design; memory
    errors still abort and land in the sanitizer log dir), plus extra.
    tests/run already gives Python scripts that ASAN_OPTIONS; this matters
    for a script run some other way, or one that changed ASAN_OPTIONS."""
    env = dict(os.environ)
    dopts = os.environ.get("TFS_TEST_DAEMON_ASAN_OPTIONS")
    if dopts:
        env["ASAN_OPTIONS"] = dopts
    if extra:
        env.update(extra)
    return env


def tenantfs_bin():
    """Path of the daemon in the build under test."""
    return os.path.join(build_dir(), "tenantfs")
