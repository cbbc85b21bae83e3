#!/usr/bin/env python3
# tfs-timeout: 120
"""`-o metrics=127.0.0.1:PORT` (issue 11, item 2), against a real mount
(embedded store): GET /metrics answers 200 in the Prometheus text format
0.0.4, which python3-prometheus-client's own parser reads; every family
has HELP and TYPE; counters end in _total, gauges in base units (seconds,
bytes); the figures agree with `tenantfs status --json` (commits, cache
bytes, a dirty database, the oldest unpublished change) and move with
the work done. Other paths get 404, other methods 405. A non-loopback
address without metrics_remote, a malformed address and a port already in
use are refused (exit 2, 2, 1) and mount nothing.

Run time: about 10 s."""

import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mount as m  # noqa: E402
import tfstest as t  # noqa: E402

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    # Debian's python3-prometheus-client (tests/setup installs it) is pure
    # Python in Debian's dist-packages, which another python3 (pyenv's, on
    # this image) does not search.
    sys.path.append("/usr/lib/python3/dist-packages")
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        text_string_to_metric_families = None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def get(url, method="GET"):
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode()


def scrape(url):
    """{sample name + labels: value}, the families, the raw text."""
    status, ctype, text = get(url)
    fams = list(text_string_to_metric_families(text)) if status == 200 else []
    samples = {}
    for f in fams:
        for s in f.samples:
            key = s.name + ("{" + ",".join(f'{k}="{v}"' for k, v in
                                           sorted(s.labels.items())) + "}" if s.labels else "")
            samples[key] = s.value
    return status, ctype, fams, samples, text


def status_json(mp):
    r = subprocess.run([m.tenantfs_binary(), "status", mp, "--json"], capture_output=True,
                       text=True, timeout=30, env=m._daemon_env(), stdin=subprocess.DEVNULL)
    try:
        return json.loads(r.stdout)
    except ValueError:
        return {}


def main():
    m.need_fuse()
    if text_string_to_metric_families is None:
        t.skip("python3-prometheus-client is not installed (tests/setup installs it)")
    base = tempfile.mkdtemp(prefix="metrics-", dir=t.tmp_dir())
    store = os.path.join(base, "store")
    r = m.run_tenantfs(["init", store])
    t.ok(r.returncode == 0, "init makes the store", r.stderr)
    mp = os.path.join(base, "mnt")
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    with m.Mount(store, mp, ["linger=0", "idle=30", f"metrics=127.0.0.1:{port}"]):
        st, ctype, fams, s0, text = scrape(url)
        t.ok(st == 200 and ctype.startswith("text/plain") and "version=0.0.4" in ctype,
             "GET /metrics: 200, text/plain version 0.0.4", f"{st} {ctype}")
        t.ok(len(fams) >= 20, "the Prometheus parser reads the families", len(fams))
        t.ok(all(f.documentation for f in fams) and
             text.count("# HELP ") == text.count("# TYPE ") == len(fams),
             "every family has HELP and TYPE lines")
        bad = [f.name for f in fams if f.type not in ("counter", "gauge")]
        t.eq(bad, [], "every family is a counter or a gauge")
        counters = [f.name for f in fams if f.type == "counter"]
        t.ok(all(s.name.endswith("_total") for f in fams if f.type == "counter"
                 for s in f.samples) and len(counters) >= 15,
             "counters end in _total", counters)
        for name in ("tenantfs_uptime_seconds", "tenantfs_cache_bytes",
                     "tenantfs_oldest_unpublished_change_age_seconds",
                     "tenantfs_start_time_seconds"):
            t.ok(name in s0, f"gauge {name} (base unit)", sorted(s0)[:50])
        t.ok(s0.get('tenantfs_s3_requests_total{op="put"}') == 0 and
             'tenantfs_dynamodb_requests_total{op="write"}' in s0,
             "request counters by operation (labels)")
        t.ok(s0.get("tenantfs_commits_total") == 0 and s0.get("tenantfs_uptime_seconds", 0) > 0,
             "a fresh mount: no commits yet, uptime above zero")

        for i in range(3):
            m.write_rollback_cli(mp, f"m{i}", 2)
            m.wait_clean(os.path.join(mp, f"m{i}.db"), min_gen=1)
        c = sqlite3.connect(os.path.join(mp, "open.db"), timeout=30)
        c.execute("CREATE TABLE t(x)")
        c.execute("INSERT INTO t VALUES(1)")
        c.commit()
        time.sleep(0.5)
        st, _, _, s1, _ = scrape(url)
        j = status_json(mp)
        c.close()
        t.ok(st == 200 and s1.get("tenantfs_commits_total") == 3 ==
             j.get("counters", {}).get("commits"),
             "tenantfs_commits_total agrees with status (3)",
             f"{s1.get('tenantfs_commits_total')} {j.get('counters', {}).get('commits')}")
        t.ok(s1.get('tenantfs_databases{state="dirty"}') == 1 and
             s1.get('tenantfs_databases{state="open"}') == 1 and
             s1.get("tenantfs_leases_held", 0) >= 1,
             "one database open and dirty, its lease held",
             {k: v for k, v in s1.items() if "databases" in k or "leases" in k})
        t.ok(s1.get("tenantfs_oldest_unpublished_change_age_seconds", 0) >= 0.4,
             "the oldest unpublished change is about 0.5 s old",
             s1.get("tenantfs_oldest_unpublished_change_age_seconds"))
        t.ok(s1.get("tenantfs_cache_bytes", 0) == j.get("cache", {}).get("bytes") and
             s1.get("tenantfs_cache_databases") == 4,
             "cache bytes and databases agree with status", j.get("cache"))
        t.ok(s1.get("tenantfs_opens_total", 0) > s0.get("tenantfs_opens_total", 0) and
             s1.get("tenantfs_fuse_requests_total", 0) > s0.get("tenantfs_fuse_requests_total",
                                                                0),
             "counters move with the work")
        node = os.getxattr(mp, "user.tenantfs.node").decode()
        t.ok(any(k.startswith("tenantfs_info{") and f'node="{node}"' in k for k in s1),
             "tenantfs_info names the node")
        st, _, _ = get(f"http://127.0.0.1:{port}/other")
        t.eq(st, 404, "another path: 404")
        st, _, _ = get(url, method="POST")
        t.eq(st, 405, "POST /metrics: 405")

        # a port in use: the second mount fails before it mounts
        mp2 = os.path.join(base, "mnt2")
        os.makedirs(mp2)
        store2 = os.path.join(base, "store2")
        m.run_tenantfs(["init", store2])
        r = m.run_tenantfs(["-f", "-o", f"metrics=127.0.0.1:{port}", store2, mp2], timeout=30)
        t.ok(r.returncode == 1 and "cannot serve metrics" in r.stderr and
             "in use" in r.stderr and not m.is_fuse_mount(mp2),
             "metrics on a port in use: exit 1, says why, mounts nothing", r.stderr[-300:])
    mp3 = os.path.join(base, "mnt3")
    os.makedirs(mp3)
    for opt, want in ((f"metrics=0.0.0.0:{port}", "metrics_remote"),
                      (f"metrics=[::]:{port}", "metrics_remote"),
                      ("metrics=localhost:80", "metrics"), ("metrics=127.0.0.1:0", "metrics"),
                      ("metrics=127.0.0.1", "metrics")):
        r = m.run_tenantfs(["-f", "-o", opt, store, mp3], timeout=30)
        t.ok(r.returncode == 2 and want in r.stderr and "usage: tenantfs" in r.stderr and
             not m.is_fuse_mount(mp3), f"-o {opt}: exit 2 naming {want}", r.stderr[:300])
    t.done()


if __name__ == "__main__":
    main()
