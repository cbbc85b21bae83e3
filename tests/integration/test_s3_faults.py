#!/usr/bin/env python3
"""Retries of the S3 client (s3/wire/http.c + s3/wire/s3.c) under injected faults:
the s3cli driver talks to moto through tests/lib/faultproxy.py, and the
proxy counts what really went over the wire. A 503 burst shorter than the
budget succeeds; a 503 storm gives up within the bound with a clear error;
400/403/404 are never retried; a connection dropped mid-body or closed
without an answer is retried; a reply slower than the request timeout is a
timeout, retried, and fails within the bound when it lasts; a failed part
aborts the multipart upload. Needs $TFS_TEST_MOTO and $TFS_TEST_BUILD."""
# tfs-timeout: 300

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tfstest as t  # noqa: E402

MOTO = t.need_env("TFS_TEST_MOTO")
BUILD = t.build_dir()
TMP = t.tmp_dir()
CLI = os.path.join(BUILD, "tests", "integration", "s3cli")
if not os.access(CLI, os.X_OK):
    t.skip(f"{CLI} is not built")


def cli(endpoint, bucket, *args, attempts=4, budget_ms=10000, timeout_ms=5000, extra=()):
    """Runs s3cli; returns (exit code, {key: value}, stdout, stderr, seconds)."""
    cmd = [CLI, "--endpoint", endpoint, "--bucket", bucket, "--attempts", str(attempts),
           "--budget-ms", str(budget_ms), "--timeout-ms", str(timeout_ms),
           "--connect-timeout-ms", "2000", "--backoff-ms", "20", *extra, *args]
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    dt = time.monotonic() - t0
    kv = {}
    for line in p.stdout.splitlines():
        k, sep, v = line.partition("=")
        if sep and k not in kv:
            kv[k] = v
    return p.returncode, kv, p.stdout, p.stderr, dt


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return path


def read(path):
    with open(path, "rb") as f:
        return f.read()


def count(fp, method):
    return fp.stats()["counts"].get(method, 0)


bucket = t.make_bucket(MOTO)
s3 = t.s3_client(MOTO)
small = write(os.path.join(TMP, "s3f-small"), b"tenantfs fault test\n" * 50)
payload = os.urandom(256 * 1024)
s3.put_object(Bucket=bucket, Key="src/obj.db", Body=payload)

with t.FaultProxy(MOTO) as fp:
    ep = fp.url

    # A burst of two 503s on PUT: the third attempt goes through.
    fp.reset()
    fp.rules([{"method": "PUT", "action": "status", "status": 503, "code": "SlowDown",
               "count": 2}])
    rc, kv, out, err, dt = cli(ep, bucket, "put", "burst.db", small)
    t.ok(rc == 0 and kv.get("status") == "ok", "503 burst: put succeeds after retries",
         out + err)
    t.eq(count(fp, "PUT"), 3, "503 burst: the proxy saw 3 PUTs")
    t.eq(kv.get("stats_retries"), "2", "503 burst: the client counted 2 retries")
    got = s3.get_object(Bucket=bucket, Key="burst.db")["Body"].read()
    t.ok(got == read(small), "503 burst: object holds the bytes (checked with boto3)")

    # A 503 storm: every attempt fails; gives up after max attempts, fast.
    fp.reset()
    fp.rules([{"method": "PUT", "action": "status", "status": 503,
               "code": "ServiceUnavailable", "count": -1}])
    rc, kv, out, err, dt = cli(ep, bucket, "put", "storm.db", small, attempts=4)
    t.ok(rc != 0 and kv.get("status") == "server error", "503 storm: put fails as server error",
         out + err)
    t.eq(count(fp, "PUT"), 4, "503 storm: exactly max_attempts (4) PUTs")
    e = kv.get("error", "")
    t.ok("ServiceUnavailable" in e and "after 4 attempts" in e and "503" in e,
         f"503 storm: error says code, HTTP status and attempts: {e!r}")
    t.ok(dt < 10, f"503 storm: gave up in {dt:.2f}s")

    # The time budget bounds a storm even with many attempts allowed.
    fp.reset()
    fp.rules([{"method": "PUT", "action": "status", "status": 500, "code": "InternalError",
               "count": -1}])
    rc, kv, out, err, dt = cli(ep, bucket, "put", "budget.db", small, attempts=1000,
                               budget_ms=1500, extra=("--backoff-ms", "100"))
    n = count(fp, "PUT")
    t.ok(rc != 0 and 2 <= n < 1000, f"retry budget: stopped after {n} attempts", out + err)
    t.ok(dt < 1.5 + 1.0, f"retry budget: gave up in {dt:.2f}s (budget 1.5 s)")

    # Throttling by 429 or SlowDown is retried like a 5xx.
    fp.reset()
    fp.rules([{"method": "GET", "action": "status", "status": 429, "code": "SlowDown",
               "count": 1}])
    dst = os.path.join(TMP, "s3f-get429")
    rc, kv, out, err, dt = cli(ep, bucket, "get", "src/obj.db", dst)
    t.ok(rc == 0 and read(dst) == payload, "429 once: get succeeds on retry", out + err)
    t.eq(count(fp, "GET"), 2, "429 once: 2 GETs")

    # Client errors are final: one request each.
    for status, code, want in ((400, "InvalidArgument", "request rejected"),
                               (403, "AccessDenied", "access denied"),
                               (403, "SignatureDoesNotMatch", "authentication failed"),
                               (404, "NoSuchBucket", "no such bucket")):
        fp.reset()
        fp.rules([{"method": "PUT", "action": "status", "status": status, "code": code,
                   "count": -1}])
        rc, kv, out, err, dt = cli(ep, bucket, "put", "nope.db", small)
        t.ok(rc != 0 and kv.get("status") == want,
             f"{status} {code}: status '{kv.get('status')}' (want '{want}')", out + err)
        t.eq(count(fp, "PUT"), 1, f"{status} {code}: not retried (1 PUT)")
        t.ok(code in kv.get("error", ""), f"{status} {code}: error names the code",
             kv.get("error"))

    fp.reset()
    rc, kv, out, err, dt = cli(ep, bucket, "get", "no/such/key.db",
                               os.path.join(TMP, "s3f-404"))
    t.ok(rc != 0 and kv.get("status") == "not found", "404 NoSuchKey: not found", out + err)
    t.eq(count(fp, "GET"), 1, "404 NoSuchKey: not retried (1 GET)")

    # A GET whose connection drops mid-body is retried, and the file is
    # rewritten from the start (no duplicated or missing bytes).
    fp.reset()
    fp.rules([{"method": "GET", "action": "drop_mid_body", "count": 1}])
    dst = os.path.join(TMP, "s3f-mid")
    rc, kv, out, err, dt = cli(ep, bucket, "get", "src/obj.db", dst)
    t.ok(rc == 0, "dropped mid-body: get succeeds on retry", out + err)
    t.ok(read(dst) == payload, "dropped mid-body: file holds exactly the object")
    t.eq(count(fp, "GET"), 2, "dropped mid-body: 2 GETs")

    # A PUT whose connection is closed without an answer is retried.
    fp.reset()
    fp.rules([{"method": "PUT", "action": "drop", "count": 1}])
    rc, kv, out, err, dt = cli(ep, bucket, "put", "dropped.db", small)
    t.ok(rc == 0, "connection closed without answer: put succeeds on retry", out + err)
    t.eq(count(fp, "PUT"), 2, "connection closed without answer: 2 PUTs")
    fp.reset()
    fp.rules([{"method": "PUT", "action": "reset", "count": -1}])
    rc, kv, out, err, dt = cli(ep, bucket, "put", "reset.db", small, attempts=3)
    t.ok(rc != 0 and kv.get("status") == "network error" and "after 3 attempts" in
         kv.get("error", ""), f"TCP resets: network error after 3 attempts: "
         f"{kv.get('error')!r}", out + err)

    # One slow reply past the request timeout: a timeout, retried, success.
    fp.reset()
    fp.rules([{"method": "GET", "action": "delay", "delay_ms": 2500, "count": 1}])
    dst = os.path.join(TMP, "s3f-slow1")
    rc, kv, out, err, dt = cli(ep, bucket, "get", "src/obj.db", dst, timeout_ms=700)
    t.ok(rc == 0 and read(dst) == payload, "one slow reply: get succeeds on retry", out + err)
    t.eq(count(fp, "GET"), 2, "one slow reply: 2 GETs")

    # Every reply slow: each attempt times out; fails within the bound.
    fp.reset()
    fp.rules([{"method": "HEAD", "action": "delay", "delay_ms": 3000, "count": -1}])
    rc, kv, out, err, dt = cli(ep, bucket, "head", "src/obj.db", attempts=3, timeout_ms=500)
    t.ok(rc != 0 and kv.get("status") == "timed out", "slow replies: timed out", out + err)
    t.eq(count(fp, "HEAD"), 3, "slow replies: 3 attempts")
    t.ok("after 3 attempts" in kv.get("error", ""), f"slow replies: error {kv.get('error')!r}")
    # 3 attempts x 0.5 s + backoff (<= 20+40 ms) + process start.
    t.ok(dt < 3.0, f"slow replies: gave up in {dt:.2f}s")

    # A part that fails for good: the upload is aborted (DELETE ?uploadId).
    fp.reset()
    fp.rules([{"method": "PUT", "path_re": r"partNumber=2&", "action": "status",
               "status": 400, "code": "InvalidPart", "count": -1}])
    big = write(os.path.join(TMP, "s3f-big"), os.urandom(11 * 1024 * 1024))
    rc, kv, out, err, dt = cli(ep, bucket, "put", "mp.db", big,
                               extra=("--threshold", str(6 << 20), "--part-size",
                                      str(5 << 20)))
    st = fp.stats()
    aborts = [r for r in st["requests"] if r["method"] == "DELETE" and "uploadId=" in r["path"]]
    t.ok(rc != 0 and "part 2" in kv.get("error", "") and "InvalidPart" in kv.get("error", ""),
         f"failed part: error names the part and code: {kv.get('error')!r}", out + err)
    t.eq(len(aborts), 1, "failed part: the multipart upload was aborted once")
    ups = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    t.ok(not [u for u in ups if u["Key"] == "mp.db"], "failed part: no upload left open")
    t.ok("Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="mp.db"),
         "failed part: no object created")

    # A part that fails once is retried; the object completes intact.
    fp.reset()
    fp.rules([{"method": "PUT", "path_re": r"partNumber=1&", "action": "status",
               "status": 503, "count": 1}])
    rc, kv, out, err, dt = cli(ep, bucket, "put", "mp2.db", big,
                               extra=("--threshold", str(6 << 20), "--part-size",
                                      str(5 << 20)))
    t.ok(rc == 0, "part 503 once: multipart put succeeds", out + err)
    t.eq(count(fp, "PUT"), 4, "part 503 once: 3 parts + 1 retry")
    got = s3.get_object(Bucket=bucket, Key="mp2.db")["Body"].read()
    t.ok(got == read(big), "part 503 once: object equals the file (boto3)")

    # Secrets never reach the error text or the debug log (moto without
    # auth accepts any secret, so a recognisable one is used).
    fp.reset()
    fp.rules([{"method": "PUT", "action": "status", "status": 503, "count": -1}])
    secret = "SeCrEt" + os.urandom(8).hex()
    rc, kv, out, err, dt = cli(ep, bucket, "put", "x.db", small, attempts=2,
                               extra=("--debug", "--secret-key", secret))
    text = out + err
    t.ok(rc != 0 and "retrying" in text, "debug log shows the retry", text)
    t.ok(secret not in text and "Signature=" not in text and
         "authorization" not in text.lower(),
         "no secret and no Authorization header in output or debug log")

sys.exit(t.done())
