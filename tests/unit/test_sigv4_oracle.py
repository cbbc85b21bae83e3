#!/usr/bin/env python3
"""SigV4 against an independent oracle: botocore's SigV4Auth / S3SigV4Auth.

Generates randomized requests (fixed seed, printed), signs each with
botocore at a frozen time, signs the same request with our C signer
(`test_sigv4 --sign`, JSON lines on stdin, one JSON line out per request)
and compares the Authorization, X-Amz-Date and X-Amz-Content-SHA256
values. Prints `ok - ...` per batch and `not ok - ...` per mismatch (at
most 20 shown). The build dir comes from TFS_TEST_BUILD (default "build").

Also importable: gen_vectors.py in sigv4_vectors/ uses boto_sign() to
freeze the golden vectors.
"""
import datetime
import hashlib
import json
import os
import random
import re
import subprocess
import sys
import types
from urllib.parse import quote

try:
    import botocore.auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
except ImportError:  # pragma: no cover - the image has botocore
    botocore = None

N_PER_BATCH = 300
MAX_SHOWN = 20


def boto_sign(r, want_stages=False):
    """Signs request dict r with botocore; returns the headers botocore set
    (lower-case names) and, when asked, every intermediate stage."""
    when = datetime.datetime.fromtimestamp(r["when"], datetime.timezone.utc)
    when = when.replace(tzinfo=None)
    orig = botocore.auth.get_current_datetime
    botocore.auth.get_current_datetime = lambda *a, **k: when
    try:
        creds = Credentials(r["access_key"], r["secret_key"], r.get("session_token"))
        cls = botocore.auth.S3SigV4Auth if r["service"] == "s3" else botocore.auth.SigV4Auth
        signer = cls(creds, r["service"], r["region"])
        host = next(v for n, v in r["headers"] if n.lower() == "host").strip()
        scheme = "https" if r.get("unsigned_payload") else "http"
        url = "%s://%s%s" % (scheme, host, r["path"])
        req = AWSRequest(method=r["method"], url=url, data=bytes.fromhex(r["body_hex"]))
        if r.get("params"):
            req.params = [tuple(p) for p in r["params"]]
        for n, v in r["headers"]:
            req.headers[n] = v  # HTTPMessage appends: repeats are kept
        if r.get("unsigned_payload"):
            cfg = types.SimpleNamespace(s3={"payload_signing_enabled": False})
            req.context["client_config"] = cfg
            req.context["payload_signing_enabled"] = False
        signer.add_auth(req)
        out = {n.lower(): v for n, v in req.headers.items()
               if n.lower() in ("authorization", "x-amz-date", "x-amz-content-sha256",
                                "x-amz-security-token")}
        if not want_stages:
            return out
        # Recompute the stages over what was signed: without Authorization.
        del req.headers["Authorization"]
        creq = signer.canonical_request(req)
        sts = signer.string_to_sign(req, creq)
        k = ("AWS4" + creds.secret_key).encode()
        for part in (req.context["timestamp"][0:8], r["region"], r["service"], "aws4_request"):
            k = signer._sign(k, part)
        signed = [[n, v] for n, v in req.headers.items() if n.lower() != "authorization"]
        sig = signer.signature(sts, req)
        assert out["authorization"].endswith("Signature=" + sig), "stages disagree"
        return out, {
            "all_headers": signed,
            "payload_hash": creq.rsplit("\n", 1)[1],
            "canonical_request": creq,
            "string_to_sign": sts,
            "signing_key": k.hex(),
            "signature": sig,
            "signed_headers": creq.split("\n")[-2],
        }
    finally:
        botocore.auth.get_current_datetime = orig


def c_request(r):
    """The same request as the C signer sees it."""
    body = bytes.fromhex(r["body_hex"])
    return {
        "method": r["method"],
        "path": r["path"],
        "query": r["query"],
        "headers": r["headers"],
        "payload_hash": "UNSIGNED-PAYLOAD" if r.get("unsigned_payload")
        else hashlib.sha256(body).hexdigest(),
        "region": r["region"],
        "service": r["service"],
        "when": r["when"],
        "access_key": r["access_key"],
        "secret_key": r["secret_key"],
        "session_token": r.get("session_token"),
    }


# ---- random requests ----

SEG_CHARS = (
    "abcxyzABCXYZ0189-_.~ !$&'()*+,;=:@%\"<>[]^`{|}" + "éüß日本語€\u00a0" + "/"
)
RESERVED_SAFE = "!$&'()*+,;=:@"
HDR_NAMES = ["Content-Type", "X-Amz-Meta-Owner", "x-amz-meta-Note", "Range", "If-None-Match",
             "X-Amz-Target", "Content-MD5", "x-custom-THING", "Cache-Control", "x-a", "x-a-b",
             "X-Amz-Copy-Source", "x_underscore", "If-Match"]
VAL_CHARS = "abcXYZ019 -_.,;:/=\"'()[]{}*+!?@#$%^&|~<>\t  "


def rand_text(rng, alphabet, lo, hi):
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(lo, hi)))


def encode_wire(rng, s, keep_slash, in_query=False):
    """Encodes s the way some client might put it on the wire: always
    valid, but with varying choices of what stays raw and hex case. In a
    query, '&', '=' and '+' are always escaped: raw they mean something."""
    safe = rng.choice(["", RESERVED_SAFE, "!*'()", ":@,;"])
    if in_query:
        safe = "".join(c for c in safe if c not in "&=+")
    if keep_slash:
        safe += "/"
    enc = quote(s, safe=safe)
    if rng.random() < 0.3:
        # Lower-case escapes and needlessly escaped unreserved characters.
        enc = re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), enc)
    if rng.random() < 0.2 and enc:
        i = rng.randrange(len(enc))
        if enc[i].isalnum() and not _inside_escape(enc, i):
            enc = enc[:i] + "%%%02X" % ord(enc[i]) + enc[i + 1:]
    return enc


def _inside_escape(enc, i):
    return (i >= 1 and enc[i - 1] == "%") or (i >= 2 and enc[i - 2] == "%")


def rand_path(rng, service):
    nseg = rng.randint(0, 5)
    segs = []
    for _ in range(nseg):
        roll = rng.random()
        if roll < 0.08:
            segs.append(".")
        elif roll < 0.16:
            segs.append("..")
        elif roll < 0.22:
            segs.append("")
        else:
            segs.append(rand_text(rng, SEG_CHARS.replace("/", ""), 1, 12))
    raw = "/" + "/".join(segs)
    if rng.random() < 0.2:
        raw += "/"
    enc = "/".join(encode_wire(rng, s, False) for s in raw.split("/"))
    # botocore builds "http://host" + path; a path must start with '/'.
    return enc if enc.startswith("/") else "/" + enc


def rand_params(rng):
    params = []
    for _ in range(rng.choice([0, 0, 1, 2, 3, 5, 8])):
        if params and rng.random() < 0.25:
            name = rng.choice(params)[0]  # repeated parameter
        else:
            name = rand_text(rng, SEG_CHARS, 1, 8)
        value = "" if rng.random() < 0.25 else rand_text(rng, SEG_CHARS, 1, 10)
        params.append((name, value))
    parts = []
    for n, v in params:
        en = encode_wire(rng, n, False, True)
        if v == "" and rng.random() < 0.5:
            parts.append(en)  # "name" without '=' is an empty value too
        else:
            parts.append(en + "=" + encode_wire(rng, v, False, True))
    return params, "&".join(parts)


def rand_value(rng):
    v = rand_text(rng, VAL_CHARS, 0, 24)
    if rng.random() < 0.3:
        v = "  " + v + " \t "
    return v


def rand_request(rng, service, with_token):
    host = rng.choice(["s3.us-east-1.amazonaws.com", "bucket.s3.eu-west-1.amazonaws.com",
                       "127.0.0.1:9000", "dynamodb.us-west-2.amazonaws.com", "Example.COM"])
    headers = [[rng.choice(["Host", "host", "HOST"]), host]]
    for _ in range(rng.randint(0, 6)):
        headers.append([rng.choice(HDR_NAMES), rand_value(rng)])
    if service == "dynamodb":
        headers.append(["X-Amz-Target", "DynamoDB_20120810." + rng.choice(
            ["GetItem", "PutItem", "UpdateItem", "Scan"])])
        headers.append(["Content-Type", "application/x-amz-json-1.0"])
    rng.shuffle(headers)
    if service == "s3":
        path = rand_path(rng, service)
        params, query = rand_params(rng)
    else:
        path = rng.choice(["/", "", rand_path(rng, service)])
        params, query = rand_params(rng) if rng.random() < 0.5 else ([], "")
    body = bytes(rng.getrandbits(8) for _ in range(rng.choice([0, 0, 1, 17, 200])))
    r = {
        "method": rng.choice(["GET", "PUT", "POST", "HEAD", "DELETE"]),
        "path": path,
        "query": query,
        "params": params,
        "headers": headers,
        "body_hex": body.hex(),
        "unsigned_payload": service == "s3" and rng.random() < 0.15,
        "region": rng.choice(["us-east-1", "eu-west-1", "ap-southeast-2", "us-gov-west-1"]),
        "service": service,
        "when": rng.randint(946684800, 2145916800),
        "access_key": "AKIA" + rand_text(rng, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16, 16),
        "secret_key": rand_text(rng, "abcdefABCDEF0123456789+/", 40, 40),
    }
    if with_token:
        r["session_token"] = rand_text(rng, "abcdefABCDEF0123456789+/=", 100, 400)
    return r


def find_driver():
    build = os.environ.get("TFS_TEST_BUILD", "build")
    return os.path.join(build, "tests", "unit", "test_sigv4")


def run_driver(driver, reqs):
    inp = "".join(json.dumps(c_request(r)) + "\n" for r in reqs)
    p = subprocess.run([driver, "--sign"], input=inp.encode(), capture_output=True,
                       timeout=120)
    if p.returncode != 0:
        raise RuntimeError("driver exited %d: %s" % (p.returncode, p.stderr.decode()[-500:]))
    lines = p.stdout.decode().splitlines()
    if len(lines) != len(reqs):
        raise RuntimeError("driver answered %d lines for %d requests" % (len(lines), len(reqs)))
    return [json.loads(line) for line in lines]


def compare(r, expect, got):
    """A list of differences between botocore's and our headers."""
    diffs = []
    if "error" in got:
        return ["C signer failed: %s" % got["error"]]
    ours = {n: v for n, v in got["headers"]}
    for name in ("authorization", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token"):
        if expect.get(name) != ours.get(name):
            diffs.append("%s: botocore %r, ours %r" % (name, expect.get(name), ours.get(name)))
    return diffs


def main():
    if botocore is None:
        print("# botocore not installed: skipping")
        return 77
    driver = find_driver()
    if not os.access(driver, os.X_OK):
        print("not ok - sigv4 oracle: driver %s not built" % driver)
        return 1
    seed = int(os.environ.get("TFS_SIGV4_SEED", "20240611"))
    print("# seed %d (set TFS_SIGV4_SEED to replay another)" % seed)
    rng = random.Random(seed)
    failed = shown = total = 0
    for service in ("s3", "dynamodb"):
        for with_token in (False, True):
            reqs = [rand_request(rng, service, with_token) for _ in range(N_PER_BATCH)]
            expects = [boto_sign(r) for r in reqs]
            try:
                gots = run_driver(driver, reqs)
            except (RuntimeError, subprocess.TimeoutExpired, ValueError) as e:
                print("not ok - sigv4 oracle %s token=%s: %s" % (service, with_token, e))
                failed += 1
                continue
            bad = 0
            for r, e, g in zip(reqs, expects, gots):
                d = compare(r, e, g)
                if d:
                    bad += 1
                    if shown < MAX_SHOWN:
                        shown += 1
                        print("not ok - sigv4 oracle mismatch: %s; request %s"
                              % ("; ".join(d), json.dumps(c_request(r))))
            total += len(reqs)
            failed += bad
            if not bad:
                print("ok - sigv4 oracle: %d %s requests%s match botocore"
                      % (len(reqs), service, " with session token" if with_token else ""))
            elif shown >= MAX_SHOWN:
                print("not ok - sigv4 oracle %s token=%s: %d mismatches in total"
                      % (service, with_token, bad))

    # Negative control: the comparison must notice a wrong signature.
    r = rand_request(rng, "s3", False)
    e = boto_sign(r)
    r2 = dict(r, secret_key=r["secret_key"][:-1] + ("x" if r["secret_key"][-1] != "x" else "y"))
    try:
        g = run_driver(driver, [r2])[0]
        if compare(r, e, g):
            print("ok - sigv4 oracle notices a signature made with another secret")
        else:
            print("not ok - sigv4 oracle did not notice a changed secret")
            failed += 1
    except (RuntimeError, subprocess.TimeoutExpired, ValueError) as ex:
        print("not ok - sigv4 oracle negative control: %s" % ex)
        failed += 1
    print("# %d randomized requests compared, %d mismatches" % (total, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
