#!/usr/bin/env python3
"""Freezes the SigV4 golden vectors read by tests/unit/test_sigv4.c.

Run once (python3 tests/unit/sigv4_vectors/gen_vectors.py); each case is
signed with botocore at a fixed time and written as <name>.json holding
the request as our C signer takes it, the headers botocore signed, and
every stage botocore computed. The files, not this script, are the test:
regenerate only when a case is added, and review the diff.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from test_sigv4_oracle import boto_sign, c_request  # noqa: E402

DOC_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
WHEN_2015 = 1440938160  # 20150830T123600Z, the AWS test-suite time
BODY = b'{"TableName":"tfs-catalog","Key":{"id":{"S":"42"}}}'


def case(name, **kw):
    r = {
        "method": "GET", "path": "/", "query": "", "params": [],
        "headers": [["Host", "example.amazonaws.com"]], "body_hex": "",
        "region": "us-east-1", "service": "service", "when": WHEN_2015,
        "access_key": "AKIDEXAMPLE", "secret_key": DOC_SECRET,
    }
    r.update(kw)
    return name, r


CASES = [
    # The AWS SigV4 test suite's get-vanilla request.
    case("get-vanilla"),
    case("get-vanilla-query-order", query="Param2=value2&Param1=value1",
         params=[["Param1", "value1"], ["Param2", "value2"]]),
    case("get-repeated-param-order", query="Param1=value2&Param1=value1",
         params=[["Param1", "value1"], ["Param1", "value2"]]),
    case("get-empty-params", query="b&a=&c=3", params=[["a", ""], ["b", ""], ["c", "3"]]),
    case("get-query-reencoded", query="k%2fey=a%20b%2Bc&%7Etilde=x~y&sp%20ace=%E2%82%AC",
         params=[["k/ey", "a b+c"], ["~tilde", "x~y"], ["sp ace", "\u20ac"]]),
    case("get-header-whitespace",
         headers=[["Host", "example.amazonaws.com"], ["My-Header1", "  value1  "],
                  ["My-Header2", "\"a   b   c\""], ["X-Tabbed", "\tt1 \t t2\t"]]),
    case("get-header-repeated",
         headers=[["Host", "example.amazonaws.com"], ["My-Header1", "value2"],
                  ["my-header1", "value1"], ["MY-HEADER1", " value3 "]]),
    case("get-header-prefix-order",
         headers=[["Host", "example.amazonaws.com"], ["x-a-b", "2"], ["X-A", "1"]]),
    case("get-relative-path", path="/example1/example2/../.."),
    case("get-dot-and-empty-segments", path="/./a//b/./c/"),
    case("get-double-encoded-path", path="/a%20b/%E2%82%AC/%2F"),
    case("get-empty-path", path=""),
    case("get-with-token", session_token="AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4"
         "HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGd"),
    case("post-dynamodb-getitem", method="POST", service="dynamodb",
         headers=[["host", "dynamodb.us-west-2.amazonaws.com"],
                  ["Content-Type", "application/x-amz-json-1.0"],
                  ["X-Amz-Target", "DynamoDB_20120810.GetItem"]],
         region="us-west-2", body_hex=BODY.hex(), when=1718100000),
    case("s3-get-object-unicode", service="s3", path="/tfs-bucket/users/42/%E2%82%AC%20x.db",
         headers=[["Host", "127.0.0.1:9000"], ["Range", "bytes=0-1023"]], when=1718100000),
    case("s3-path-not-normalised", service="s3", path="/bucket/a/../b//c/./d%2Fe",
         headers=[["Host", "s3.amazonaws.com"]], when=1718100000),
    case("s3-list-objects-v2", service="s3", path="/tfs-bucket",
         query="list-type=2&prefix=users%2F42%2F&continuation-token=1%2Fab%3D%3D&max-keys=1000",
         params=[["list-type", "2"], ["prefix", "users/42/"],
                 ["continuation-token", "1/ab=="], ["max-keys", "1000"]],
         headers=[["Host", "s3.eu-west-1.amazonaws.com"]], region="eu-west-1",
         when=1718100000),
    case("s3-put-object-token", method="PUT", service="s3",
         path="/tfs-bucket/p/42/0123456789abcdef0123456789abcdef.db",
         headers=[["Host", "tfs-bucket.s3.amazonaws.com"],
                  ["Content-Type", "application/octet-stream"],
                  ["If-None-Match", "*"], ["x-amz-meta-tfs-hash", "0123456789abcdef"]],
         body_hex=(b"SQLite format 3\x00" * 8).hex(), when=1718100000,
         access_key="ASIAEXAMPLE", session_token="FQoGZXIvYXdzEXAMPLE//token+with/chars=="),
    case("s3-unsigned-payload", method="PUT", service="s3", path="/b/k",
         headers=[["Host", "b.s3.amazonaws.com"]], unsigned_payload=True,
         body_hex="00ff", when=1718100000),
]


def main():
    for name, r in CASES:
        auth, stages = boto_sign(r, want_stages=True)
        vec = {
            "name": name,
            "request": c_request(r),
            "expect": dict(stages, headers=sorted([n, v] for n, v in auth.items())),
        }
        with open(os.path.join(HERE, name + ".json"), "w") as f:
            json.dump(vec, f, indent=1, ensure_ascii=True)
            f.write("\n")
    print("wrote %d vectors" % len(CASES))


if __name__ == "__main__":
    main()
