#!/usr/bin/env python3
# tfs-timeout: 420
"""A Jepsen-style fleet test: three tenantfs nodes on one bucket (moto_server)
and one catalog (dynalite when TFS_TEST_DYNALITE is set, which serialises
conditional writes as DynamoDB does; else moto_server), each node reaching S3
and the catalog through a fault proxy of its own, with a short lease
(lease_ttl=3) and short idle/linger timers.

Clients (child processes, unmodified Python sqlite3) insert unique tokens
into several databases (rollback-journal and WAL) through random nodes'
mounts, and read them back. A token is *acknowledged* when its COMMIT
returned OK: a close that fails afterwards is counted (by errno) but does not
take the acknowledgement back, because SQLite told the application the
transaction was durable at COMMIT. A refused open is recorded with its errno
(each operation opens the file with os.open first, then sqlite3 on it).

A seeded nemesis (TFS_JEPSEN_SEED, default 7) meanwhile, one step at a time:
pauses a node past its lease (SIGSTOP, SIGCONT; when it held leases, until
another node took one over and published, then reads of every database are
queued on it so that they are served the instant it runs again, before its
first renewal), kills one (-9) and restarts it, stops one with SIGTERM and
restarts it, and cuts one node's S3 or catalog off for a few seconds (proxy
outage). A watcher reads every catalog item straight from the catalog peer
all along (each generation's hash and when it was first seen). Which step
runs when is seeded; what the clients and the nodes do meanwhile depends on
timing, so a seed replays the faults, not the whole history.

At the end: heal, stop every node cleanly, then check from the catalog and
the bucket directly (no tenantfs):
- every head passes PRAGMA integrity_check, and so does every version seen;
- one hash per generation, and no version drops a token its predecessor
  had (no fork), over every generation seen by the watcher or named by the
  item's history;
- every acknowledged token is in the head or in a quarantine folder of
  some node, whose log has the QUARANTINED line naming that folder;
- no stale read: a read that began after a version was seen published holds
  every token of it (reads on a node whose catalog was cut off within a
  lease of the read are left out: such a node serves its cached view, see
  the README; so are reads within a lease of the node's own log line
  "open of DB serves the cached copy", when the catalog answered slower
  than catalog_timeout, which a loaded machine does: their count is
  printed);
- every node exits 0 at the final stop.
It prints the counts (acknowledged, in the heads, in quarantine, failed
operations by errno). The checker is shown able to fail on every run: it is
run once more on copies of the observed history with a token dropped, a fork
injected and a stale read injected, and must report each.

Environment: TFS_JEPSEN_SECONDS (nemesis run time, default 45: about two and
a half minutes in all under ASan), TFS_JEPSEN_SEED, TFS_JEPSEN_DEBUG=1
(verbose: every nemesis step and read after a pause), TFS_JEPSEN_SELFTEST=drop|
fork|stale (mutate the real history before the real checks: the run must
then fail, showing the whole pipeline reports it)."""

import calendar
import collections
import contextlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import mount as m  # noqa: E402
import test_fleet as fl  # noqa: E402
import tfstest as t  # noqa: E402

SEED = int(os.environ.get("TFS_JEPSEN_SEED") or 7)
SECONDS = float(os.environ.get("TFS_JEPSEN_SECONDS") or 45)
DEBUG = os.environ.get("TFS_JEPSEN_DEBUG") not in (None, "", "0")
SELFTEST = os.environ.get("TFS_JEPSEN_SELFTEST") or ""
TTL = 3.0
NODES = ["ja", "jb", "jc"]
DBS = {"j0": "DELETE", "j1": "WAL", "j2": "DELETE", "j3": "WAL"}
CLIENTS = 6


def dbg(msg):
    if DEBUG:
        t.diag(f"[{time.monotonic():.2f}] {msg}")


# ---- clients ----------------------------------------------------------------
#
# A client is a child process: this process never holds a descriptor of a
# mount, so its own forks (restarting a node, fusermount3) never block on a
# paused daemon. It reads the nodes that are up from a JSON file, and writes
# one JSON line per operation.

CLIENT = r"""
import errno, json, os, random, sqlite3, sys, time
cid, seed, base, out_path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
dbs, life = sys.argv[5].split(","), int(sys.argv[6])
rnd = random.Random(seed)
out = open(out_path, "a", buffering=1)
stop = os.path.join(base, "stop")
n = 0

def up():
    try:
        with open(os.path.join(base, "up.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return []

def sqlerr(e):
    return getattr(e, "sqlite_errorname", None) or type(e).__name__

while not os.path.exists(stop):
    nodes = up()
    if not nodes:
        time.sleep(0.05)
        continue
    node = rnd.choice(nodes)
    db = rnd.choice(dbs)
    path = os.path.join(base, "mnt-" + node, db + ".db")
    write = rnd.random() < 0.75
    rec = {"c": cid, "node": node, "db": db, "op": "ins" if write else "read"}
    if write:
        n += 1
        rec["tok"] = f"c{cid}.{life}-{n}"
    rec["t0"] = time.monotonic()
    fd = -1
    c = None
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError as e:
        rec.update(ok=False, stage="open", err=errno.errorcode.get(e.errno, str(e.errno)))
    if fd >= 0:
        try:
            c = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=2,
                                isolation_level=None)
            if write:
                c.execute("BEGIN IMMEDIATE")
                c.execute("INSERT INTO tok(t, node, pad) VALUES(?, ?, randomblob(300))",
                          (rec["tok"], node))
                c.execute("COMMIT")
                rec["t1"] = time.monotonic()
                rec["ok"] = True
            else:
                rows = c.execute("SELECT t FROM tok").fetchall()
                rec["t1"] = time.monotonic()
                rec["ok"] = True
                rec["seen"] = [r[0] for r in rows]
        except sqlite3.Error as e:
            rec.update(ok=False, stage="sql", err=sqlerr(e), msg=str(e)[:80])
            try:
                c is not None and c.rollback()
            except sqlite3.Error:
                pass
        try:
            if c is not None:
                c.close()
        except sqlite3.Error as e:
            rec["close_err"] = sqlerr(e)
        try:
            os.close(fd)
        except OSError as e:
            rec["close_err"] = errno.errorcode.get(e.errno, str(e.errno))
    rec.setdefault("t1", time.monotonic())
    out.write(json.dumps(rec) + "\n")
    if not rec["ok"]:
        time.sleep(0.05 + rnd.random() * 0.1)
"""


class Node:
    """One tenantfs node: its Mount (restartable), its two fault proxies."""

    def __init__(self, fleet, name, s3p, ddbp, base):
        self.name = name
        self.s3p, self.ddbp = s3p, ddbp
        self.cache = os.path.join(base, f"cache-{name}")
        opts = [o for o in fleet.aws
                if not o.startswith(("endpoint=", "dynamodb_endpoint="))]
        opts += [f"endpoint={s3p.url}", f"dynamodb_endpoint={ddbp.url}", f"node={name}",
                 f"cache={self.cache}", f"lease_ttl={TTL:g}", "linger=0.5", "idle=0.3",
                 "max_dirty=3", "lease_wait=2", "catalog_timeout=3"]
        self.mnt = m.Mount(fleet.src, os.path.join(base, f"mnt-{name}"), opts,
                           log=os.path.join(base, f"{name}.log"), start_timeout=60)
        self.paused = False

    def start(self):
        self.mnt.start()

    def pid(self):
        return self.mnt.proc.pid if self.mnt.proc else None


class Fleet3:
    def __init__(self, base, moto, catalog):
        self.base = base
        self.fleet = fl.Fleet(base, moto, catalog, "jepsen")
        self.ready = self.fleet.ready
        self.nodes = {}
        self.up = set()
        self.lock = threading.Lock()
        self.ddb_cuts = collections.defaultdict(list)  # node -> [(start, end)]
        self.probes = []  # read records of probe()
        self.strays = 0  # files found in a bare mount point (see restart)
        self.sigbus = 0  # clients killed by SIGBUS (see respawn)

    def publish_up(self):
        with self.lock:
            tmp = os.path.join(self.base, "up.json.tmp")
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(sorted(self.up), f)
            os.replace(tmp, os.path.join(self.base, "up.json"))

    def set_up(self, name, up):
        with self.lock:
            (self.up.add if up else self.up.discard)(name)
        self.publish_up()


# ---- nemesis ----------------------------------------------------------------

def detach(mp):
    subprocess.run(["fusermount3", "-uz", mp], capture_output=True, timeout=30)


def restart(fleet, node, why):
    mp = node.mnt.mountpoint
    if not m.is_fuse_mount(mp):
        # A client that had opened a database before the daemon went away
        # creates SQLite's -journal, -wal and -shm by path: in the bare
        # folder once the mount is gone (its commit then fails on the dead
        # descriptor). They would make the mount point non-empty.
        for name in os.listdir(mp):
            fleet.strays += 1
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(mp, name))
    try:
        node.start()
        fleet.set_up(node.name, True)
        dbg(f"{node.name} restarted after {why}")
        return True
    except m.MountError as e:
        msg = str(e)
        t.diag(f"{node.name}: restart after {why} failed: {msg[:300]} ... {msg[-1500:]}")
        return False


def nem_pause(fleet, node, rnd, hist):
    """SIGSTOP past the lease, then SIGCONT. When the node held leases, the
    pause lasts until another node took one over and published a new
    version (at most TTL + 8 s); then reads of every database are started
    on the paused node: they wait in the kernel and are served the moment
    it runs again, racing its first renewal."""
    items0 = {db: fleet.fleet.item(db) for db in DBS}
    held = [db for db in DBS if m.node_label(items0[db].get("owner")) == node.name]
    secs = TTL + 1.0 + rnd.random() * 3.0
    start = time.monotonic()
    os.kill(node.pid(), signal.SIGSTOP)
    node.paused = True
    dbg(f"SIGSTOP {node.name} (holding {held})")

    def moved():
        """The held databases another node acquired and committed since."""
        out = []
        for db in held:
            it = fleet.fleet.item(db)
            if (int(it.get("epoch", 0)) > int(items0[db].get("epoch", 0)) and
                    int(it.get("gen", 0)) > int(items0[db].get("gen", 0))):
                out.append(db)
        return out

    while time.monotonic() - start < (TTL + 8.0 if held else secs) and not moved():
        time.sleep(0.1)
    taken = moved()
    fleet.watcher.poll()  # the new versions count as published before the reads
    probes = [threading.Thread(target=probe, args=(fleet, node, db), daemon=True)
              for db in rnd.sample(sorted(DBS), len(DBS))]
    for th in probes:
        th.start()
    time.sleep(0.3)  # the reads are queued in the kernel
    os.kill(node.pid(), signal.SIGCONT)
    node.paused = False
    secs = time.monotonic() - start
    dbg(f"SIGCONT {node.name} after {secs:.1f} s; published elsewhere meanwhile: {taken}")
    for th in probes:
        th.join(60)
    hung = sum(th.is_alive() for th in probes)
    hist.append(("pause", node.name, round(secs, 2), f"held {held}, taken {taken}") +
                ((f"{hung} probes hung",) if hung else ()))
    if hung:
        raise RuntimeError(f"{hung} reads on {node.name} still hang 60 s after SIGCONT")


def probe(fleet, node, db):
    """Reads db on node from this process (a thread; nothing forks while
    its descriptor is open)."""
    path = os.path.join(node.mnt.mountpoint, db + ".db")
    rec = {"node": node.name, "db": db, "op": "read", "probe": True, "t0": time.monotonic()}
    try:
        c = m.sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2)
        try:
            rec["seen"] = [r[0] for r in c.execute("SELECT t FROM tok")]
            rec["ok"] = True
        finally:
            c.close()
    except m.sqlite3.Error as e:
        rec.update(ok=False, err=getattr(e, "sqlite_errorname", None) or repr(e))
    rec["t1"] = time.monotonic()
    dbg(f"probe {db} on {node.name}: {len(rec['seen']) if rec['ok'] else rec['err']}")
    with fleet.lock:
        fleet.probes.append(rec)


def nem_kill(fleet, node, rnd, hist):
    fleet.set_up(node.name, False)
    os.kill(node.pid(), signal.SIGKILL)
    node.mnt.proc.wait(timeout=30)
    node.mnt.proc = None
    detach(node.mnt.mountpoint)
    hist.append(("kill", node.name))
    dbg(f"kill -9 {node.name}")
    time.sleep(0.3 + rnd.random())
    return restart(fleet, node, "kill -9")


def nem_term(fleet, node, rnd, hist):
    fleet.set_up(node.name, False)
    proc = node.mnt.proc
    os.kill(proc.pid, signal.SIGTERM)
    try:
        rc = proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        t.diag(f"{node.name} did not exit within 120 s of SIGTERM: killed")
        proc.kill()
        rc = proc.wait(timeout=30)
    node.mnt.proc = None
    detach(node.mnt.mountpoint)
    hist.append(("term", node.name, rc))
    dbg(f"SIGTERM {node.name}: exit {rc}")
    time.sleep(0.2 + rnd.random() * 0.5)
    return restart(fleet, node, "SIGTERM")


def nem_cut(fleet, node, rnd, hist, what):
    secs = 1.0 + rnd.random() * 3.0
    proxy = node.s3p if what == "s3" else node.ddbp
    now = time.monotonic()
    if what == "ddb":
        fleet.ddb_cuts[node.name].append((now, now + secs))
    proxy.outage(secs)
    hist.append((f"{what}-outage", node.name, round(secs, 2)))
    dbg(f"{what} outage on {node.name} for {secs:.1f} s")
    time.sleep(secs)


def spawn_client(base, i, life, out):
    with open(out + ".err", "ab") as err:
        p = subprocess.Popen([sys.executable, "-c", CLIENT, str(i),
                              str(SEED * 1000 + i + 100 * life), base, out, ",".join(DBS),
                              str(life)],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    t.record_pid(p.pid)
    return p


def respawn(base, clients, lives, outs, fleet):
    """A WAL client maps its database's -shm: when the node under it dies,
    the kernel answers a fault on that mapping with SIGBUS (as for any FUSE
    file whose daemon is gone), and the client dies on the spot, its
    operation in flight never acknowledged. Such a client is counted and
    started anew, with tokens of its own."""
    for i, p in enumerate(clients):
        if p.poll() == -signal.SIGBUS:
            fleet.sigbus += 1
            lives[i] += 1
            clients[i] = spawn_client(base, i, lives[i], outs[i])
            dbg(f"client {i} died of SIGBUS; started again")


def nemesis(fleet, rnd, seconds, hist, failures, tick):
    steps = ["pause", "pause", "kill", "term", "s3", "ddb"]
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.5 + rnd.random() * 1.5)
        tick()
        step = rnd.choice(steps)
        node = fleet.nodes[rnd.choice(NODES)]
        if not node.mnt.alive():
            continue
        try:
            if step == "pause":
                nem_pause(fleet, node, rnd, hist)
            elif step == "kill":
                if not nem_kill(fleet, node, rnd, hist):
                    failures.append(f"restart of {node.name} after kill -9")
            elif step == "term":
                if not nem_term(fleet, node, rnd, hist):
                    failures.append(f"restart of {node.name} after SIGTERM")
            else:
                nem_cut(fleet, node, rnd, hist, step)
        except Exception as e:  # noqa: BLE001 - reported as a failed step
            failures.append(f"{step} on {node.name}: {e!r}")


def heal(fleet):
    for node in fleet.nodes.values():
        if node.paused and node.pid():
            os.kill(node.pid(), signal.SIGCONT)
            node.paused = False
        node.s3p.outage(0)
        node.ddbp.outage(0)


# ---- watcher ------------------------------------------------------------------

class Watcher(threading.Thread):
    """Polls every catalog item straight from the catalog peer: gen -> set of
    hashes, and when each (gen, hash) was first seen (mono)."""

    def __init__(self, fleet):
        super().__init__(daemon=True)
        self.fleet = fleet
        self.seen = {db: {} for db in DBS}  # db -> {(gen, hash): first seen}
        self.stop = threading.Event()
        self.errors = 0

    def poll(self):
        for db in DBS:
            try:
                it = self.fleet.fleet.item(db)
            except Exception:  # noqa: BLE001 - a poll may fail; counted
                self.errors += 1
                continue
            if it.get("gen") and it.get("hash"):
                key = (int(it["gen"]), it["hash"])
                self.seen[db].setdefault(key, time.monotonic())

    def gens(self):
        """The highest generation seen of each database."""
        return {db: max((g for g, _ in list(self.seen[db])), default=0) for db in DBS}

    def run(self):
        while not self.stop.is_set():
            self.poll()
            self.stop.wait(0.2)


def hist_of(fleet, db):
    """(gen, hash) pairs of the item's history, straight from the catalog."""
    it = fleet.fleet.ddb.get_item(TableName=fleet.fleet.table, Key={"id": {"S": db}},
                                  ConsistentRead=True).get("Item", {})
    out = []
    for e in it.get("hist", {}).get("L", []):
        mm = e.get("M", {})
        if "h" in mm:
            out.append((int(mm["g"]["N"]), mm["h"]["S"]))
    return out


# ---- reading versions and quarantine folders -----------------------------------

def tokens_of_file(path, work):
    """(integrity ok, set of tokens) of a database file copied (with its side
    files) into a scratch folder, so a hot journal or a -wal is applied."""
    d = tempfile.mkdtemp(prefix="v-", dir=work)
    try:
        for suf in ("", "-journal", "-wal"):
            if os.path.exists(path + suf):
                shutil.copyfile(path + suf, os.path.join(d, "x.db" + suf))
        c = m.sqlite3.connect(os.path.join(d, "x.db"))
        try:
            ic = c.execute("PRAGMA integrity_check").fetchone()[0]
            toks = {r[0] for r in c.execute("SELECT t FROM tok")}
        finally:
            c.close()
        return ic == "ok", toks
    except m.sqlite3.Error as e:
        dbg(f"cannot read {path}: {e!r}")
        return False, set()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def version_tokens(fleet, db, h, work):
    local = os.path.join(work, f"{db}-{h}.db")
    fleet.fleet.s3.download_file(fleet.fleet.bucket, f"users/{db}/{h}.db", local)
    return tokens_of_file(local, work)


def quarantined(fleet, work):
    """db -> {token: [folder, ...]} over every node's quarantine folders, and
    the folders no QUARANTINED log line names."""
    out = {db: collections.defaultdict(list) for db in DBS}
    unnamed = []
    for node in fleet.nodes.values():
        qdir = os.path.join(node.cache, "quarantine")
        log = node.mnt.log_text()
        for q in sorted(os.listdir(qdir)) if os.path.isdir(qdir) else []:
            folder = os.path.join(qdir, q)
            db = q.split(".")[0]
            if db not in DBS:
                continue
            if f"QUARANTINED {db} " not in log or f"kept in {folder}" not in log:
                unnamed.append(folder)
            _, toks = tokens_of_file(os.path.join(folder, db + ".db"), work)
            for tok in toks:
                out[db][tok].append(folder)
    return out, unnamed


# ---- the checker ---------------------------------------------------------------

def check(h):
    """The checks on a history h (a dict, see collect()): returns a dict of
    check name -> list of failures (empty: passed). Pure: the self-test runs
    it on mutated copies."""
    res = {"heads pass integrity_check": [], "one hash per generation": [],
           "every version passes integrity_check": [], "no version drops a token of its "
           "predecessor (no fork)": [], "every acknowledged token is in the head or in "
           "quarantine": [], "no stale read": []}
    for db in DBS:
        vers = h["versions"][db]  # gen -> {hash: (ok, tokens)}
        if not h["head_ok"].get(db, False):
            res["heads pass integrity_check"].append(db)
        chain = []
        for g in sorted(vers):
            if len(vers[g]) != 1:
                res["one hash per generation"].append(f"{db} gen {g}: {sorted(vers[g])}")
            for hh, (ok, toks) in sorted(vers[g].items()):
                if not ok:
                    res["every version passes integrity_check"].append(f"{db} gen {g} {hh}")
                chain.append((g, hh, toks))
        for (g0, h0, a), (g1, h1, b) in zip(chain, chain[1:]):
            lost = a - b
            if lost and g1 > g0:
                res["no version drops a token of its predecessor (no fork)"].append(
                    f"{db}: gen {g1} ({h1}) lacks {len(lost)} tokens of gen {g0} ({h0}), "
                    f"e.g. {sorted(lost)[:3]}")
        head = h["head"].get(db, set())
        quar = h["quarantine"].get(db, {})
        for tok in h["acked"].get(db, ()):
            if tok not in head and tok not in quar:
                res["every acknowledged token is in the head or in quarantine"].append(
                    f"{db}: {tok} ({h['ack_info'].get(tok)})")
        published = []  # (first seen, tokens) per version
        for g in vers:
            for hh, (ok, toks) in vers[g].items():
                if (g, hh) in h["seen_at"].get(db, {}):
                    published.append((h["seen_at"][db][(g, hh)], toks))
        for r in h["reads"].get(db, ()):
            if h["exempt"](r):
                continue
            seen = set(r["seen"])
            for at, toks in published:
                if at < r["t0"] and not toks <= seen:
                    miss = sorted(toks - seen)
                    res["no stale read"].append(
                        f"{db}: read on {r['node']} at {r['t0']:.2f} misses {len(miss)} tokens "
                        f"of a version seen at {at:.2f}, e.g. {miss[:3]}")
                    break
    return res


def mutate(h, how):
    """A copy of h with one defect injected (how: drop, fork, stale), or None
    when the history gives nothing to inject it into."""
    import copy
    h2 = copy.deepcopy({k: v for k, v in h.items() if k != "exempt"})
    h2["exempt"] = h["exempt"]
    for db in DBS:
        if how == "drop":
            toks = [x for x in h2["acked"].get(db, ()) if x in h2["head"].get(db, set())
                    and x not in h2["quarantine"].get(db, {})]
            if toks:
                h2["head"][db].discard(toks[0])
                return h2
        elif how == "fork":
            vers = h2["versions"][db]
            gens = sorted(vers)
            if len(gens) >= 2:
                g = gens[-1]
                hh = next(iter(vers[g]))
                ok, toks = vers[g][hh]
                prev = next(iter(vers[gens[-2]].values()))[1]
                if prev:
                    vers[g][hh] = (ok, toks - {sorted(prev)[0]})
                    return h2
        elif how == "stale":
            seen_at = h2["seen_at"].get(db, {})
            vers = h2["versions"][db]
            for (g, hh), at in sorted(seen_at.items(), key=lambda kv: kv[1]):
                toks = vers.get(g, {}).get(hh, (True, set()))[1]
                if toks:
                    h2["reads"].setdefault(db, []).append(
                        {"node": "ja", "t0": at + 1.0, "t1": at + 1.1,
                         "seen": sorted(toks)[1:], "injected": True})
                    return h2
    return None


def report(res, prefix=""):
    for name, fails in res.items():
        t.ok(not fails, prefix + name, "\n".join(fails[:20]) +
             (f"\n... {len(fails) - 20} more" if len(fails) > 20 else ""))


# ---- the run -------------------------------------------------------------------

def setup_dbs(fleet):
    first = fleet.nodes[NODES[0]].mnt.mountpoint
    for db, mode in DBS.items():
        rc, _, err = m.sqlite_cli(os.path.join(first, db + ".db"),
                                  f"PRAGMA journal_mode={mode};\n"
                                  "CREATE TABLE tok(t TEXT PRIMARY KEY, node TEXT, pad BLOB);\n")
        if not t.ok(rc == 0, f"setup: create {db}.db ({mode})", err):
            return False
    for db in DBS:
        try:
            fleet.fleet.wait_released(db)
        except TimeoutError as e:
            t.ok(False, f"setup: {db} written back and released", str(e))
            return False
    return True


# the wall clock's offset from the monotonic one (daemon log lines carry
# wall time, the operations monotonic time)
WALL_MINUS_MONO = time.time() - time.monotonic()
h_exempt_logged = []  # reads exempt because their node logged a cached open


def cached_opens(fleet):
    """(node, db) -> [monotonic time] of every "open of DB serves the cached
    copy" line in that node's log."""
    out = collections.defaultdict(list)
    pat = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z .*open of (\w+) serves "
                     r"the cached copy", re.M)
    for node in fleet.nodes.values():
        for ts, db in pat.findall(node.mnt.log_text() or ""):
            wall = calendar.timegm(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")) + \
                float(ts[19:])
            out[(node.name, db)].append(wall - WALL_MINUS_MONO)
    return out


def collect(fleet, watcher, outs, work):
    ops = list(fleet.probes)
    for p in outs:
        with open(p, encoding="utf-8") as f:
            for line in f:
                try:
                    ops.append(json.loads(line))
                except ValueError:
                    pass  # a line cut by a killed client: its op is unknown
    watcher.poll()
    versions = {db: collections.defaultdict(dict) for db in DBS}
    head, head_ok, seen_at = {}, {}, {}
    for db in DBS:
        pairs = set(watcher.seen[db]) | set(hist_of(fleet, db))
        it = fleet.fleet.item(db)
        hg, hh = int(it.get("gen", 0)), it.get("hash", "")
        pairs.add((hg, hh))
        for g, hx in sorted(pairs):
            if g == 0 or not hx:
                continue
            versions[db][g][hx] = version_tokens(fleet, db, hx, work)
        head_ok[db], head[db] = versions[db][hg][hh] if hg else (False, set())
        seen_at[db] = dict(watcher.seen[db])
    quar, unnamed = quarantined(fleet, work)
    acked = {db: [] for db in DBS}
    ack_info, reads = {}, {db: [] for db in DBS}
    for o in ops:
        if o["op"] == "ins" and o.get("ok"):
            acked[o["db"]].append(o["tok"])
            ack_info[o["tok"]] = f"node {o['node']}, acked at {o['t1']:.2f}"
        elif o["op"] == "read" and o.get("ok"):
            reads[o["db"]].append(o)

    cached = cached_opens(fleet)

    def exempt(r, cuts=fleet.ddb_cuts):
        """A read on a node whose catalog was cut off within a lease (plus a
        renewal retry) of it may serve the node's cached view, and so may
        one the node logged it served so (its renewal found the catalog
        too slow: a loaded machine; opens for a lease after it serve the
        copy too, as the README says). An injected read (the self-test)
        never is."""
        if r.get("injected"):
            return False
        if any(s - TTL <= r["t1"] and r["t0"] <= e + 2 * TTL for s, e in cuts[r["node"]]):
            return True
        if any(s - 1.0 <= r["t1"] and r["t0"] <= s + 2 * TTL
               for s in cached.get((r["node"], r["db"]), ())):
            h_exempt_logged.append(r)
            return True
        return False

    h = {"versions": versions, "head": head, "head_ok": head_ok, "seen_at": seen_at,
         "quarantine": quar, "acked": acked, "ack_info": ack_info, "reads": reads,
         "exempt": exempt}
    return h, ops, unnamed


def run(base, moto, catalog):
    work = os.path.join(base, "work")
    os.makedirs(work)
    fleet = Fleet3(base, moto, catalog)
    if not fleet.ready:
        return
    proxies = []
    try:
        for name in NODES:
            s3p = t.FaultProxy(moto, log=os.path.join(base, f"proxy-s3-{name}.log"))
            ddbp = t.FaultProxy(catalog, log=os.path.join(base, f"proxy-ddb-{name}.log"))
            for p in (s3p, ddbp):
                p.__enter__()
                proxies.append(p)
            fleet.nodes[name] = Node(fleet.fleet, name, s3p, ddbp, base)
        for node in fleet.nodes.values():
            node.start()
        t.ok(True, "three nodes mounted, each through its own S3 and catalog proxy")
        if not setup_dbs(fleet):
            return
        watcher = fleet.watcher = Watcher(fleet)
        watcher.start()
        for name in NODES:
            fleet.set_up(name, True)
        outs = [os.path.join(base, f"client-{i}.jsonl") for i in range(CLIENTS)]
        clients = [spawn_client(base, i, 0, outs[i]) for i in range(CLIENTS)]
        lives = [0] * CLIENTS
        hist, failures = [], []
        started = time.monotonic()
        try:
            nemesis(fleet, random.Random(SEED), SECONDS, hist, failures,
                    lambda: respawn(base, clients, lives, outs, fleet))
            respawn(base, clients, lives, outs, fleet)
        finally:
            heal(fleet)
        t.diag(f"nemesis ({time.monotonic() - started:.0f} s, seed {SEED}): {hist}")
        t.ok(not failures, "every nemesis step ran and every node came back", failures)
        for node in fleet.nodes.values():  # a node whose restart failed
            if not node.mnt.alive():
                restart(fleet, node, "the heal")
        time.sleep(TTL)  # a quiet lease with every node up and healed
        open(os.path.join(base, "stop"), "w").close()
        hung = []
        for i, p in enumerate(clients):
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                hung.append(i)
                t.stop_process(p)
        t.ok(not hung, "every client stops by itself", hung)
        fleet.sigbus += sum(1 for p in clients if p.returncode == -signal.SIGBUS)
        crashed = {i: (p.returncode, open(outs[i] + ".err", encoding="utf-8",
                                          errors="replace").read()[-1500:])
                   for i, p in enumerate(clients)
                   if p.returncode not in (0, -signal.SIGBUS) and i not in hung}
        t.ok(not crashed, "every client ran to the end (exit 0)", crashed)
        watcher.poll()
        rcs = {}
        for name, node in fleet.nodes.items():
            try:
                rcs[name] = node.mnt.unmount(timeout=150)
            except m.MountError as e:
                rcs[name] = str(e)[-1500:]
        t.eq(rcs, {n: 0 for n in NODES}, "every node stops cleanly (exit 0) once healed")
        watcher.stop.set()
        watcher.join(10)
        for name, node in fleet.nodes.items():
            log = node.mnt.log_text()
            t.ok("ERROR: AddressSanitizer" not in log and "runtime error:" not in log,
                 f"{name}: no sanitizer report in its log")
        h, ops, unnamed = collect(fleet, watcher, outs, work)
        t.ok(not unnamed, "every quarantine folder is named by a QUARANTINED log line", unnamed)
        if SELFTEST:
            h = mutate(h, SELFTEST) or h
            t.diag(f"TFS_JEPSEN_SELFTEST={SELFTEST}: the history was mutated; checks "
                   "below must fail")
        report(check(h))
        t.diag(f"reads left out of the stale-read check because their node logged it served "
               f"its cached copy: {len({id(r) for r in h_exempt_logged})}")
        counts(fleet, h, ops, watcher)
        for how, name in (("drop", "every acknowledged token is in the head or in "
                           "quarantine"), ("fork", "no version drops a token of its "
                                           "predecessor (no fork)"),
                          ("stale", "no stale read")):
            h2 = mutate(h, how)
            if h2 is None:
                t.ok(False, f"self-test: the history has something to inject a {how} into")
                continue
            t.ok(bool(check(h2)[name]), f"self-test: the checker reports an injected {how}")
    finally:
        for node in fleet.nodes.values():
            if node.paused and node.pid():
                os.kill(node.pid(), signal.SIGCONT)
            node.mnt.kill()
        for p in proxies:
            p.close()


def counts(fleet, h, ops, watcher):
    acked = sum(len(v) for v in h["acked"].values())
    in_head = sum(len(set(h["acked"][db]) & h["head"][db]) for db in DBS)
    in_quar = sum(len({x for x in h["acked"][db] if x not in h["head"][db] and
                       x in h["quarantine"][db]}) for db in DBS)
    qtot = sum(len(v) for v in h["quarantine"].values())
    errs = collections.Counter(o.get("err") for o in ops if not o.get("ok"))
    closes = collections.Counter(o["close_err"] for o in ops if o.get("close_err"))
    gens = {db: max(h["versions"][db] or [0]) for db in DBS}
    t.diag(f"operations {len(ops)}: inserts acknowledged {acked}, in the heads {in_head}, "
           f"only in quarantine {in_quar} (tokens in quarantine folders: {qtot}); reads "
           f"{sum(len(v) for v in h['reads'].values())}; head generations {gens}")
    probes = [o for o in ops if o.get("probe")]
    t.diag(f"reads on a node right after its pause: {len(probes)}, "
           f"{sum(1 for o in probes if o.get('ok'))} served")
    t.diag(f"failed operations by errno / SQLite error: {dict(errs)}; failed closes: "
           f"{dict(closes)}; watcher poll errors {watcher.errors}; side files left in a "
           f"bare mount point by clients {fleet.strays}; clients killed by SIGBUS "
           f"(-shm mapping of a node that died) and started anew {fleet.sigbus}")
    t.ok(acked > 0, f"clients had inserts acknowledged ({acked})")


def main():
    moto = t.need_env("TFS_TEST_MOTO")
    m.need_fuse()
    m.tenantfs_binary()
    catalog = os.environ.get("TFS_TEST_DYNALITE")
    if not catalog:
        t.diag("TFS_TEST_DYNALITE unset: the catalog is moto_server, which does not "
               "serialise conditional writes (see test_fleet): a fork found may be moto's")
        catalog = moto
    base = tempfile.mkdtemp(prefix="jepsen-", dir=t.tmp_dir())
    started = time.monotonic()
    t.diag(f"seed {SEED}, {SECONDS:g} s of nemesis, {CLIENTS} clients, databases "
           f"{DBS}, lease_ttl={TTL:g}")
    run(base, moto, catalog)
    t.diag(f"run time {time.monotonic() - started:.1f} s")
    passed, failed = t.counts()
    print(f"{passed} passed, {failed} failed", flush=True)


if __name__ == "__main__":
    m.run_main(main, sync=True)
