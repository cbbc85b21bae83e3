#!/usr/bin/env python3
# tfs-timeout: 120
"""`tenantfs status MOUNTPOINT [--json]` (issue 11, item 1, the part
built so far): against a real mount (embedded store) it shows the node
identity the root's user.tenantfs.node attribute names and the counters
of user.tenantfs.stats, with cost_usd, as a report and as JSON; a folder
that is no tenantfs mount is refused with exit 1, a missing MOUNTPOINT or
an unknown flag with usage and exit 2; it never mounts anything.

Run time: about 5 s."""

import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mount as m  # noqa: E402
import tfstest as t  # noqa: E402


def run(args):
    return subprocess.run([m.tenantfs_binary()] + args, capture_output=True, text=True,
                          timeout=30, env=m._daemon_env(), stdin=subprocess.DEVNULL)


def main():
    m.need_fuse()
    base = tempfile.mkdtemp(prefix="control-", dir=t.tmp_dir())
    store = os.path.join(base, "store")
    r = m.run_tenantfs(["init", store])
    t.ok(r.returncode == 0, "init makes the store", r.stderr)
    mp = os.path.join(base, "mnt")
    with m.Mount(store, mp, ["linger=0", "idle=0.2"]):
        m.write_rollback_cli(mp, "alpha", 3)
        node = os.getxattr(mp, "user.tenantfs.node").decode()
        r = run(["status", mp, "--json"])
        t.ok(r.returncode == 0, "status --json: exit 0", r.stderr)
        try:
            j = json.loads(r.stdout)
        except ValueError:
            j = {}
        c = j.get("counters", {})
        t.ok(j.get("node") == node and j.get("mountpoint") == mp,
             "status --json names the node and the mount point", r.stdout[:300])
        t.ok(isinstance(c.get("cost_usd"), float) and c.get("opens", 0) >= 1 and
             "commits" in c and "s3_put" in c and "fuse_requests" in c,
             "status --json has the counters and the cost estimate", r.stdout[:400])
        r = run(["status", mp])
        t.ok(r.returncode == 0 and node in r.stdout and "cost_usd" in r.stdout and
             "opens" in r.stdout, "status: a readable report with node and counters",
             r.stdout[:400] + r.stderr[:200])
    other = os.path.join(base, "plain")
    os.makedirs(other)
    r = run(["status", other])
    t.ok(r.returncode == 1 and "not a tenantfs mount point" in r.stderr,
         "status of a plain folder: exit 1, says why", r.stderr)
    r = run(["status"])
    t.ok(r.returncode == 2 and "usage: tenantfs status" in r.stderr,
         "status without MOUNTPOINT: usage, exit 2", r.stderr)
    r = run(["status", mp, "--bogus"])
    t.ok(r.returncode == 2 and "usage: tenantfs status" in r.stderr,
         "status with an unknown flag: usage, exit 2", r.stderr)
    t.ok(not m.is_fuse_mount(mp) and not m.is_fuse_mount(other), "status mounts nothing")
    t.done()


if __name__ == "__main__":
    main()
