#!/usr/bin/env python3
"""Authentication errors of the S3 client against a moto_server that
enforces SigV4 (started here with INITIAL_NO_AUTH_ACTION_COUNT so the
first few calls can create an IAM user and key): the right key works (our
signature verifies), a wrong secret and an unknown key id give WIRE_AUTH
with the S3 code in the message, a user without a policy gets
WIRE_ACCESS_DENIED, and none of them is retried. Needs $TFS_TEST_MOTO (as
the sign that test peers are available) and $TFS_TEST_BUILD."""
# tfs-timeout: 120

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tfstest as t  # noqa: E402

t.need_env("TFS_TEST_MOTO")
BUILD = t.build_dir()
TMP = t.tmp_dir()
CLI = os.path.join(BUILD, "tests", "integration", "s3cli")
if not os.access(CLI, os.X_OK):
    t.skip(f"{CLI} is not built")

import boto3  # noqa: E402


def cli(ep, bucket, key_id, secret, *args):
    cmd = [CLI, "--endpoint", ep, "--bucket", bucket, "--access-key", key_id,
           "--secret-key", secret, "--attempts", "4", "--backoff-ms", "20", *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    kv = {}
    for line in p.stdout.splitlines():
        k, sep, v = line.partition("=")
        if sep and k not in kv:
            kv[k] = v
    return p.returncode, kv, p.stdout + p.stderr


def client(svc, ep, key_id, secret):
    return boto3.client(svc, endpoint_url=ep, region_name="us-east-1",
                        aws_access_key_id=key_id, aws_secret_access_key=secret,
                        config=t._boto_config(1))


port = t.free_port()
log = open(os.path.join(TMP, "s3auth-moto.log"), "ab")
# Four calls without auth: create user, create key, attach policy, create
# bucket. Everything after that must be signed by a key moto knows.
env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="4")
proc = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)], env=env,
                        stdin=subprocess.DEVNULL, stdout=log, stderr=log)
log.close()
t.record_pid(proc.pid)
try:
    t.wait_until(lambda: proc.poll() is None and t.port_open("127.0.0.1", port),
                 timeout=30, what="moto_server with auth to listen")
    ep = f"http://127.0.0.1:{port}"
    iam = client("iam", ep, "testing", "testing")
    iam.create_user(UserName="tfs-writer")
    key = iam.create_access_key(UserName="tfs-writer")["AccessKey"]
    kid, secret = key["AccessKeyId"], key["SecretAccessKey"]
    iam.put_user_policy(UserName="tfs-writer", PolicyName="all", PolicyDocument=json.dumps(
        {"Version": "2012-10-17",
         "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    bucket = t.unique("auth")
    client("s3", ep, kid, secret).create_bucket(Bucket=bucket)

    src = os.path.join(TMP, "s3auth-src")
    with open(src, "wb") as f:
        f.write(b"signed bytes\n")

    # Auth really is on now: boto3 with a wrong secret is refused.
    try:
        client("s3", ep, kid, "wrong").list_objects_v2(Bucket=bucket)
        refused = False
    except Exception:  # noqa: BLE001 - any refusal will do
        refused = True
    t.ok(refused, "moto enforces signatures (boto3 with a wrong secret is refused)")

    rc, kv, out = cli(ep, bucket, kid, secret, "put", "good.db", src)
    t.ok(rc == 0 and kv.get("status") == "ok", "right key: put is accepted", out)
    rc, kv, out = cli(ep, bucket, kid, secret, "list", "", "10")
    t.ok(rc == 0 and kv.get("keys") == "1", "right key: signed listing works", out)

    rc, kv, out = cli(ep, bucket, kid, secret + "x", "put", "bad.db", src)
    t.eq(kv.get("status"), "authentication failed", "wrong secret: authentication failed")
    t.ok("SignatureDoesNotMatch" in kv.get("error", ""),
         f"wrong secret: error names SignatureDoesNotMatch: {kv.get('error')!r}", out)
    t.eq(kv.get("stats_put"), "1", "wrong secret: not retried")
    t.ok(secret not in out, "wrong secret: the secret is not printed")

    rc, kv, out = cli(ep, bucket, "AKIAUNKNOWNKEY000000", secret, "get", "good.db",
                      os.path.join(TMP, "s3auth-get"))
    t.eq(kv.get("status"), "authentication failed", "unknown key id: authentication failed")
    t.ok("InvalidAccessKeyId" in kv.get("error", ""),
         f"unknown key id: error names InvalidAccessKeyId: {kv.get('error')!r}", out)
    t.eq(kv.get("stats_get"), "1", "unknown key id: not retried")

    # A known key without any policy is authenticated but not allowed.
    iam2 = client("iam", ep, kid, secret)
    iam2.create_user(UserName="tfs-nobody")
    k2 = iam2.create_access_key(UserName="tfs-nobody")["AccessKey"]
    rc, kv, out = cli(ep, bucket, k2["AccessKeyId"], k2["SecretAccessKey"], "put", "no.db", src)
    t.eq(kv.get("status"), "access denied", "user without policy: access denied")
    t.ok("AccessDenied" in kv.get("error", ""),
         f"user without policy: error names AccessDenied: {kv.get('error')!r}", out)
finally:
    t.stop_process(proc)

sys.exit(t.done())
