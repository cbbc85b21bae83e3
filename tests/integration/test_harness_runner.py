#!/usr/bin/env python3
"""Self-test of tests/run: runs a copy of it in a scratch repository whose
"tests" are small scripts that pass, fail, crash, skip, hang, print a
sanitizer report, write a sanitizer log file, print nothing, leak a
process, and check the environment contract; then checks the closing
line, the exit status, the logs, and that nothing was left running."""
# tfs-timeout: 300

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "lib"))
import tfstest as t  # noqa: E402

FAKE_TESTS = {
    "test_pass": 'echo "ok - first"; echo "ok - second"; exit 0',
    "test_fail": 'echo "ok - fine"; echo "not ok - broken"; exit 1',
    "test_crash": 'echo "ok - before crash"; kill -SEGV $$',
    "test_skip": 'echo "# skip: nothing here"; exit 77',
    "test_slow": ('echo "$$" > "$FAKE_REPO/slow.pid"; echo "ok - started"; sleep 60; '
                  'echo "ok - never"'),
    "test_san": ('echo "ok - looks fine"; '
                 'echo "==42==ERROR: AddressSanitizer: heap-use-after-free on address 0x1"; exit 0'),
    "test_sanfile": ('echo "ok - also fine"; '
                     'echo "==7==ERROR: LeakSanitizer: detected memory leaks" '
                     '> "${ASAN_OPTIONS##*log_path=}.$$"; exit 0'),
    "test_empty": "exit 0",
    "test_leak": ('sleep 300 & echo "$! sleep" >> "$TFS_TEST_TMP/pids"; '
                  'echo "$!" > "$FAKE_REPO/leaked.pid"; echo "ok - leaked a sleep"; exit 0'),
    "test_env": r'''
chk() { if eval "$1"; then echo "ok - $2"; else echo "not ok - $2"; fi; }
chk '[ -z "${AWS_PROFILE+x}" ] && [ -z "${AWS_SESSION_TOKEN+x}" ]' "other AWS_ variables unset"
chk '[ "$AWS_ACCESS_KEY_ID" = testing ] && [ "$AWS_SECRET_ACCESS_KEY" = testing ]' "test keys"
chk '[ "$AWS_REGION" = us-east-1 ]' "region"
chk '[[ "$TFS_TEST_MOTO" =~ ^http://127\.0\.0\.1:[0-9]+$ ]]' "moto url"
chk '[[ "$TFS_TEST_DYNALITE" =~ ^http://127\.0\.0\.1:[0-9]+$ ]]' "dynalite url"
chk '[ -d "$TFS_TEST_TMP" ] && [ -d "$TFS_TEST_BUILD" ]' "scratch and build dirs"
chk '(exec 3<>/dev/tcp/127.0.0.1/${TFS_TEST_MOTO##*:})' "moto answers"
chk '(exec 3<>/dev/tcp/127.0.0.1/${TFS_TEST_DYNALITE##*:})' "dynalite answers"
echo "$TFS_TEST_MOTO $TFS_TEST_DYNALITE $TFS_TEST_S3RVER" > "$FAKE_REPO/servers"
''',
}
# tests/unit/test_py.py in the fake repo, using the shared helpers.
FAKE_PY = '''import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import tfstest as t
t.ok(True, "python helper ok")
t.eq(1 + 1, 2, "python helper eq")
sys.exit(t.done())
'''
# passed: pass 2, fail 1, crash 1, slow 1, san 1, sanfile 1, leak 1, env 8, py 2
EXPECT_PASSED = 18
# failed: fail (not ok), crash, slow (timeout), san, sanfile, empty
EXPECT_FAILED = 6
EXPECT_SKIPPED = 1


def make_fake_repo(root):
    os.makedirs(os.path.join(root, "tests", "unit"))
    os.makedirs(os.path.join(root, "tests", "lib"))
    os.makedirs(os.path.join(root, "build-x", "tests", "unit"))
    shutil.copy2(os.path.join(REPO, "tests", "run"), os.path.join(root, "tests", "run"))
    shutil.copy2(os.path.join(REPO, "tests", "tsan.supp"),
                 os.path.join(root, "tests", "tsan.supp"))
    shutil.copy2(os.path.join(REPO, "tests", "lib", "tfstest.py"),
                 os.path.join(root, "tests", "lib", "tfstest.py"))
    os.symlink(os.path.join(REPO, "tests", "node_modules"),
               os.path.join(root, "tests", "node_modules"))
    for name, body in FAKE_TESTS.items():
        p = os.path.join(root, "build-x", "tests", "unit", name)
        with open(p, "w", encoding="utf-8") as f:
            f.write("#!/usr/bin/env bash\n" + body + "\n")
        os.chmod(p, 0o755)
    # The per-test timeout is read from the test's C source.
    with open(os.path.join(root, "tests", "unit", "test_slow.c"), "w", encoding="utf-8") as f:
        f.write("/* a test that hangs\n * tfs-timeout: 3 */\n")
    with open(os.path.join(root, "tests", "unit", "test_py.py"), "w", encoding="utf-8") as f:
        f.write(FAKE_PY)


# The TSan and valgrind phases, on small C programs: one of each is clean,
# one races (built with -fsanitize=thread, run as the TSan phase's
# unit/test_cache) or leaks (run under valgrind).
PHASE_C = {
    "build-t/tests/unit/test_cache": ("-fsanitize=thread", r'''
#include <pthread.h>
#include <stdio.h>
static int shared;
static void *bump(void *a) { shared++; return a; }
int main(void) {
	pthread_t th;
	printf("ok - started\n");
	fflush(stdout);
	pthread_create(&th, NULL, bump, NULL);
	shared++;
	pthread_join(th, NULL);
	printf("ok - raced %d\n", shared);
	return 0;
}'''),
    "build-t/tests/unit/test_state": ("-fsanitize=thread", r'''
#include <pthread.h>
#include <stdio.h>
static int shared;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static void *bump(void *a) {
	pthread_mutex_lock(&lock); shared++; pthread_mutex_unlock(&lock); return a;
}
int main(void) {
	pthread_t th;
	pthread_create(&th, NULL, bump, NULL);
	bump(NULL);
	pthread_join(th, NULL);
	printf("ok - locked %d\n", shared);
	return 0;
}'''),
    "build-v/tests/unit/test_leak": ("", r'''
#include <stdio.h>
#include <stdlib.h>
int main(void) {
	char *volatile p = malloc(100);
	p[0] = 1;
	p = NULL;
	printf("ok - leaked\n");
	return 0;
}'''),
    "build-v/tests/unit/test_clean": ("", r'''
#include <stdio.h>
#include <stdlib.h>
int main(void) {
	char *p = malloc(100);
	p[0] = 1;
	printf("ok - freed %d\n", p[0]);
	free(p);
	return 0;
}'''),
}


def make_phase_programs(root):
    """Compiles PHASE_C into the fake repo; False when a compiler or
    sanitizer runtime is missing."""
    for rel, (flags, src) in PHASE_C.items():
        out = os.path.join(root, rel)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out + ".c", "w", encoding="utf-8") as f:
            f.write(src + "\n")
        cmd = ["cc", "-g", "-O0", *flags.split(), "-o", out, out + ".c", "-lpthread"]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False,
                           timeout=120)
        if p.returncode != 0:
            t.diag(f"{' '.join(cmd)}: {p.stdout.decode('utf-8', 'replace')[-500:]}")
            return False
    return True


def phases_check(root):
    """--tsan and --valgrind-unit: a race and a leak fail their test with
    the reason named, the clean programs pass, the closing line sums both
    phases."""
    if not shutil.which("valgrind") or not shutil.which("cc"):
        t.diag("valgrind or cc missing: phase checks not run")
        return
    t.ok(make_phase_programs(root), "phase test programs build (cc, -fsanitize=thread)")
    env = {"TFS_TSAN_BUILD": "build-t", "TFS_VALGRIND_BUILD": "build-v"}
    rc, out, _ = run_inner(root, "--tsan", "--valgrind-unit", build=None, env=env)
    t.diag("phases run:\n" + "\n".join("  " + line for line in out.splitlines()[-30:]))
    last = out.rstrip("\n").splitlines()[-1] if out.strip() else ""
    # 4: the racy program halts at the race (halt_on_error), before its
    # second ok line.
    t.eq((last, rc), ("4 passed, 2 failed, 0 skipped", 1),
         "--tsan --valgrind-unit: closing line sums both phases")
    t.ok(re.search(r"FAIL tsan/unit/test_cache: .*sanitizer report", out)
         and "WARNING: ThreadSanitizer: data race" in out,
         "a data race fails the TSan test and the report is shown")
    t.ok("pass tsan/unit/test_state: 1 ok" in out, "a clean TSan test passes")
    t.ok(re.search(r"FAIL valgrind/unit/test_leak: .*valgrind errors", out)
         and "definitely lost" in out,
         "a definite leak fails the test under valgrind and is shown")
    t.ok("pass valgrind/unit/test_clean: 1 ok" in out, "a clean program passes under valgrind")
    t.ok("warning: TSan test integration/test_mount_local.py is missing" in out,
         "a TSan test that does not exist is named")


def background_fuzz_check(root):
    """With the suite, tests/fuzz/run runs beside it, not after it: a suite
    test waits (bounded) for the fake fuzz run to start, and the fuzz run's
    result is counted once the suite is done."""
    fuzz = os.path.join(root, "tests", "fuzz", "run")
    os.makedirs(os.path.dirname(fuzz), exist_ok=True)
    with open(fuzz, "w", encoding="utf-8") as f:
        f.write('#!/usr/bin/env bash\ntouch "$FAKE_REPO/fuzz.started"\n'
                'for i in $(seq 1 100); do [ -e "$FAKE_REPO/suite.saw" ] && break; '
                'sleep 0.2; done\necho "ok - fake fuzz ran"\n')
    os.chmod(fuzz, 0o755)
    test = os.path.join(root, "build-z", "tests", "unit", "test_seesfuzz")
    os.makedirs(os.path.dirname(test), exist_ok=True)
    with open(test, "w", encoding="utf-8") as f:
        f.write('#!/usr/bin/env bash\nfor i in $(seq 1 150); do\n'
                '  if [ -e "$FAKE_REPO/fuzz.started" ]; then touch "$FAKE_REPO/suite.saw"; '
                'echo "ok - the fuzz run started beside the suite"; exit 0; fi\n'
                '  sleep 0.2\ndone\necho "not ok - the fuzz run started beside the suite"\n'
                'exit 1\n')
    os.chmod(test, 0o755)
    rc, out, _ = run_inner(root, build="build-z", fuzz=True)
    t.diag("background fuzz run:\n" + "\n".join("  " + line for line in out.splitlines()[-12:]))
    last = out.rstrip("\n").splitlines()[-1] if out.strip() else ""
    # test_seesfuzz 1, the fake repo's tests/unit/test_py.py 2, fuzz 1.
    t.eq((last, rc), ("4 passed, 0 failed, 0 skipped", 0),
         "fuzz/run runs beside the suite and is counted")
    t.ok(out.find("pass fuzz/run") > out.find("pass unit/test_seesfuzz") >= 0,
         "the background fuzz run is judged after the suite")


def run_inner(root, *args, timeout=240, build="build-x", env=None, fuzz=False):
    env = dict(os.environ, **(env or {}))
    env["FAKE_REPO"] = root
    env["AWS_PROFILE"] = "must-be-unset"
    env["AWS_SESSION_TOKEN"] = "must-be-unset"
    t0 = time.monotonic()
    bargs = ["--build", build] if build else []
    fargs = [] if fuzz else ["--no-fuzz"]
    p = subprocess.run([os.path.join(root, "tests", "run"), "--no-setup", "--no-build",
                        *fargs, *bargs, *args],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, env=env, timeout=timeout, check=False)
    return p.returncode, p.stdout.decode("utf-8", "replace"), time.monotonic() - t0


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


def interrupt_check(root):
    """SIGTERM to the runner in the middle of a test: the test, its
    children and the servers are stopped, the runner exits 130."""
    env = dict(os.environ, FAKE_REPO=root)
    slow_pid_file = os.path.join(root, "slow.pid")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(slow_pid_file)
    p = subprocess.Popen([os.path.join(root, "tests", "run"), "--no-setup", "--no-build",
                          "--no-fuzz", "--build", "build-x", "--only", "test_slow"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, env=env)
    try:
        slow_pid = t.wait_until(lambda: int(open(slow_pid_file, encoding="ascii").read()),
                                timeout=60, what="the slow test to start")
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        out, _ = p.communicate(timeout=30)
        dt = time.monotonic() - t0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    out = out.decode("utf-8", "replace")
    t.eq(p.returncode, 130, "SIGTERM: runner exits 130")
    t.ok(dt < 2.5, "SIGTERM: runner stops without waiting for the test's timeout",
         f"{dt:.1f}s")
    t.ok(t.wait_until(lambda: not alive(slow_pid), timeout=10, what="test gone"),
         "SIGTERM: the running test is stopped")
    m = re.search(r"# moto (\S+), dynalite (\S+), s3rver (\S+)", out)
    ports = [int(u.rsplit(":", 1)[1]) for u in m.groups()] if m else []
    t.ok(len(ports) == 3 and not any(t.port_open("127.0.0.1", q) for q in ports),
         "SIGTERM: servers stopped", out[-1500:])


def main():
    if not shutil.which("moto_server") or not os.path.isdir(
            os.path.join(REPO, "tests", "node_modules", ".bin")):
        t.skip("moto_server or tests/node_modules missing (run tests/setup)")
    root = tempfile.mkdtemp(prefix="fake-repo-", dir=os.environ.get("TFS_TEST_TMP"))
    leaked = None
    try:
        make_fake_repo(root)
        rc, out, dt = run_inner(root)
        # Inner lines are shown indented so the outer runner does not count them.
        t.diag("inner run:\n" + "\n".join("  " + line for line in out.splitlines()[-40:]))
        last = out.rstrip("\n").splitlines()[-1] if out.strip() else ""
        t.eq(last, f"{EXPECT_PASSED} passed, {EXPECT_FAILED} failed, {EXPECT_SKIPPED} skipped",
             "closing line counts ok lines, failures of every kind and skips")
        t.eq(rc, 1, "exit status 1 when something failed")
        t.ok(dt < 60, "a hanging test is stopped by its tfs-timeout", f"run took {dt:.1f}s")
        t.ok(re.search(r"FAIL unit/test_slow: .*timed out after 3s", out),
             "timeout reported with the declared tfs-timeout")
        t.ok(re.search(r"FAIL unit/test_crash: .*exit status \d+ without a 'not ok' line", out),
             "crash without 'not ok' reported")
        t.ok(re.search(r"FAIL unit/test_san: .*sanitizer report in output", out),
             "sanitizer report in the output fails the test")
        t.ok(re.search(r"FAIL unit/test_sanfile: .*sanitizer report", out)
             and "LeakSanitizer: detected memory leaks" in out,
             "sanitizer log file fails the test and is shown")
        t.ok(re.search(r"FAIL unit/test_empty: .*without running a check", out),
             "a test that runs no check fails")
        t.ok("skip unit/test_skip" in out, "exit 77 counted as skipped")
        t.ok(os.path.isfile(os.path.join(root, "tests", "out", "unit_test_fail.log")),
             "each test's output kept in tests/out/<name>.log")
        try:
            with open(os.path.join(root, "leaked.pid"), encoding="ascii") as f:
                leaked = int(f.read().strip())
        except (OSError, ValueError):
            leaked = None
        t.ok(leaked is not None and not alive(leaked),
             "a process recorded in $TFS_TEST_TMP/pids is killed after its test",
             f"pid {leaked}")
        try:
            with open(os.path.join(root, "servers"), encoding="ascii") as f:
                urls = f.read().split()
        except OSError:
            urls = []
        ports = [int(u.rsplit(":", 1)[1]) for u in urls if re.match(r"http://127\.0\.0\.1:\d+$", u)]
        t.ok(len(ports) == 3 and not any(t.port_open("127.0.0.1", p) for p in ports),
             "servers stopped at the end of the run", f"{urls}")
        tmps = re.findall(r"scratch (/\S+)", out)
        t.ok(tmps and not os.path.exists(tmps[0]), "scratch dir removed at the end", f"{tmps}")

        interrupt_check(root)
        phases_check(root)
        background_fuzz_check(root)

        rc, out, _ = run_inner(root, "--only", "test_pass")
        last = out.rstrip("\n").splitlines()[-1] if out.strip() else ""
        t.eq((last, rc), ("2 passed, 0 failed, 0 skipped", 0), "--only runs the matching test")
        rc, out, _ = run_inner(root, "--only", "nothing-matches")
        last = out.rstrip("\n").splitlines()[-1] if out.strip() else ""
        t.eq((last, rc), ("0 passed, 0 failed, 0 skipped", 1),
             "a run with nothing passed exits 1")
    finally:
        if leaked and alive(leaked):
            os.kill(leaked, signal.SIGKILL)
        shutil.rmtree(root, ignore_errors=True)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
