#!/usr/bin/env python3
"""Self-test of tests/lib/faultproxy.py: forwarding is transparent (checked
against an in-process echo server and against moto with boto3), each rule
action does what it says, rules fire exactly `count` times, and the stats
count what went through. Needs $TFS_TEST_MOTO for the boto3 part."""
# tfs-timeout: 300

import http.client
import http.server
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tfstest as t  # noqa: E402


class Echo(http.server.BaseHTTPRequestHandler):
    """Replies with a JSON description of the request it received."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        te = self.headers.get("Transfer-Encoding") or ""
        body = b""
        if "chunked" in te.lower():
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    break
                body += self.rfile.read(size)
                self.rfile.readline()
        elif n:
            body = self.rfile.read(n)
        self.server.peers.add(self.client_address[1])
        out = json.dumps({"method": self.command, "path": self.path,
                          "headers": [[k, v] for k, v in self.headers.items()],
                          "body": body.decode("latin-1"),
                          "big": "x" * 20000}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Echo", "yes")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_any


def start_echo():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    srv.daemon_threads = True
    srv.peers = set()
    th = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    th.start()
    return srv


def conn(fp):
    return http.client.HTTPConnection("127.0.0.1", fp.port, timeout=10)


def request(fp, method, path, body=None, headers=None, c=None):
    """One request through the proxy; returns (status, headers, body) or
    the exception the client saw."""
    own = c is None
    c = c or conn(fp)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    except Exception as e:  # noqa: BLE001 - the fault is the result
        return e
    finally:
        if own:
            c.close()


def test_echo_forwarding(fp, echo):
    c = conn(fp)
    r = request(fp, "PUT", "/bucket/some%20key?x-id=PutObject&a=1", body=b"hello body",
                headers={"Host": "bucket.example.invalid:1234", "X-Amz-Date": "20240101T000000Z",
                         "Authorization": "AWS4-HMAC-SHA256 Credential=testing/x",
                         "Content-Type": "application/octet-stream"}, c=c)
    t.ok(isinstance(r, tuple) and r[0] == 200, "echo: PUT forwarded", repr(r))
    got = json.loads(r[2])
    hdrs = {k.lower(): v for k, v in got["headers"]}
    t.eq(got["method"], "PUT", "echo: method kept")
    t.eq(got["path"], "/bucket/some%20key?x-id=PutObject&a=1", "echo: path and query kept raw")
    t.eq(hdrs.get("host"), "bucket.example.invalid:1234", "echo: Host header forwarded unchanged")
    t.eq(hdrs.get("x-amz-date"), "20240101T000000Z", "echo: signed header kept")
    t.eq(hdrs.get("authorization"), "AWS4-HMAC-SHA256 Credential=testing/x",
         "echo: authorization kept")
    t.eq(got["body"], "hello body", "echo: Content-Length body forwarded")
    t.eq(r[1].get("X-Echo"), "yes", "echo: response headers forwarded")

    # chunked request body, on the same client connection (keep-alive)
    def gen():
        yield b"first-"
        yield b"second-"
        yield b"third"
    c.request("POST", "/chunked", body=gen(), encode_chunked=True,
              headers={"Host": "h", "Transfer-Encoding": "chunked"})
    r2 = c.getresponse()
    got2 = json.loads(r2.read())
    t.eq(got2["body"], "first-second-third", "echo: chunked body forwarded whole")
    r3 = request(fp, "HEAD", "/head", headers={"Host": "h"}, c=c)
    t.ok(isinstance(r3, tuple) and r3[0] == 200 and r3[2] == b""
         and int(r3[1].get("Content-Length", 0)) > 0,
         "echo: HEAD answered with the target's Content-Length and no body", repr(r3)[:300])
    for i in range(5):
        request(fp, "GET", f"/ka{i}", headers={"Host": "h"}, c=c)
    c.close()
    t.ok(len(echo.peers) == 1, "echo: one kept-alive upstream connection for one client connection",
         f"upstream source ports: {sorted(echo.peers)}")


def test_rules(fp):
    fp.reset()
    fp.rules([{"method": "GET", "path_re": "^/obj", "action": "status", "status": 503,
               "count": 2}])
    res = [request(fp, "GET", "/obj/1") for _ in range(4)]
    t.eq([r[0] for r in res], [503, 503, 200, 200], "status rule fires exactly count=2 times")
    t.ok(b"<Code>ServiceUnavailable</Code>" in res[0][2], "status rule: S3 XML error body",
         res[0][2][:200])
    other = request(fp, "PUT", "/obj/1", body=b"x")
    t.eq(other[0], 200, "status rule does not fire for another method")
    st = fp.stats()
    t.eq(st["rules"][0]["fired"], 2, "stats: rule fired count")
    t.eq(st["counts"].get("GET"), 4, "stats: GET counted, faulted or not")
    t.eq(st["counts"].get("PUT"), 1, "stats: PUT counted")
    t.eq([q["action"] for q in st["requests"]], ["status", "status", "forward", "forward",
                                                  "forward"], "stats: request log actions")

    fp.reset()
    t.eq(fp.stats()["counts"], {}, "reset clears the stats")
    fp.rules([{"target": "UpdateItem", "action": "status", "status": 400,
               "code": "ProvisionedThroughputExceededException", "count": -1}])
    h = {"Host": "h", "X-Amz-Target": "DynamoDB_20120810.UpdateItem",
         "Content-Type": "application/x-amz-json-1.0"}
    r1 = request(fp, "POST", "/", body=b"{}", headers=h)
    r2 = request(fp, "POST", "/", body=b"{}", headers=h)
    r3 = request(fp, "POST", "/", body=b"{}",
                 headers=dict(h, **{"X-Amz-Target": "DynamoDB_20120810.GetItem"}))
    t.ok(r1[0] == 400 and r2[0] == 400, "target rule with count -1 fires every time")
    t.ok(b"ProvisionedThroughputExceededException" in r1[2] and b"__type" in r1[2],
         "target rule: DynamoDB JSON error body with the given code", r1[2][:200])
    t.eq(r3[0], 200, "target rule does not fire for another operation")
    st = fp.stats()
    t.eq((st["counts"].get("UpdateItem"), st["counts"].get("GetItem"), st["counts"].get("POST")),
         (2, 1, 3), "stats: counts by X-Amz-Target operation")

    fp.rules([{"action": "status", "status": 500, "body": "custom", "count": 1}])
    r = request(fp, "GET", "/x")
    t.ok(r[0] == 500 and r[2] == b"custom", "status rule with a custom body", repr(r)[:200])


def test_faults(fp):
    fp.reset()
    fp.rules([{"path_re": "drop$", "action": "drop", "count": 1}])
    r = request(fp, "GET", "/drop")
    t.ok(isinstance(r, (http.client.RemoteDisconnected, ConnectionError)),
         "drop: client sees the connection closed without a reply", repr(r))
    t.eq(request(fp, "GET", "/drop")[0], 200, "drop: count 1 fires once")

    fp.rules([{"path_re": "mid$", "action": "drop_mid_body", "count": 1}])
    r = request(fp, "GET", "/mid")
    t.ok(isinstance(r, http.client.IncompleteRead) and len(r.partial) > 10000,
         "drop_mid_body: headers and half the body, then closed", repr(r)[:200])

    fp.rules([{"path_re": "rst$", "action": "reset", "count": 1}])
    r = request(fp, "GET", "/rst")
    t.ok(isinstance(r, ConnectionResetError), "reset: client sees a TCP reset", repr(r))

    fp.rules([{"path_re": "slow$", "action": "delay", "delay_ms": 600, "count": 1}])
    t0 = time.monotonic()
    r = request(fp, "GET", "/slow")
    dt = time.monotonic() - t0
    t.ok(r[0] == 200 and dt >= 0.6, "delay: forwarded after delay_ms", f"{r!r} after {dt:.3f}s")
    t0 = time.monotonic()
    request(fp, "GET", "/slow")
    t.ok(time.monotonic() - t0 < 0.5, "delay: count 1 delays only once")

    fp.reset()
    fp.rules([{"action": "drop_after", "count": 1}])
    r = request(fp, "PUT", "/after", body=b"z")
    st = fp.stats()
    t.ok(isinstance(r, (http.client.RemoteDisconnected, ConnectionError))
         and st["requests"][0]["action"] == "drop_after",
         "drop_after: forwarded, then closed without a reply", repr(r))

    fp.rules([{"action": "status", "status": 503, "probability": 0.5, "seed": 7,
               "count": -1}])
    a = [request(fp, "GET", "/p")[0] for _ in range(40)]
    fp.rules([{"action": "status", "status": 503, "probability": 0.5, "seed": 7,
               "count": -1}])
    b = [request(fp, "GET", "/p")[0] for _ in range(40)]
    n = a.count(503)
    t.ok(5 <= n <= 35 and set(a) == {200, 503}, "probability 0.5 fires on some requests only",
         f"{n} of 40")
    t.eq(a, b, "probability with a seed is reproducible")

    fp.reset()
    fp.outage(1.0)
    r1 = request(fp, "GET", "/o")
    r2 = request(fp, "PUT", "/o", body=b"1")
    t.ok(isinstance(r1, ConnectionResetError) and isinstance(r2, ConnectionResetError),
         "outage: every request is reset", f"{r1!r} {r2!r}")
    t.eq(fp.stats()["counts"].get("GET"), 1, "outage: control API still answers and counts")
    time.sleep(1.1)
    t.eq(request(fp, "GET", "/o")[0], 200, "outage ends after its seconds")

    try:
        fp.rules([{"action": "explode"}])
        bad = None
    except Exception as e:  # noqa: BLE001
        bad = e
    t.ok(bad is not None and "400" in str(bad), "a bad rule is refused with 400", repr(bad))


def test_boto3_moto(moto):
    import botocore.exceptions
    with t.FaultProxy(moto) as fp:
        s3 = t.s3_client(fp.url)
        bucket = t.make_bucket(fp.url)
        data = os.urandom(300000)
        s3.put_object(Bucket=bucket, Key="a/b.db", Body=data)
        got = s3.get_object(Bucket=bucket, Key="a/b.db")["Body"].read()
        t.ok(got == data, "boto3 s3 through the proxy: put then get returns the bytes")
        t.eq(s3.head_object(Bucket=bucket, Key="a/b.db")["ContentLength"], len(data),
             "boto3 s3 through the proxy: head")
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
        t.eq(keys, ["a/b.db"], "boto3 s3 through the proxy: list")
        try:
            s3.put_object(Bucket=bucket, Key="a/b.db", Body=b"other", IfNoneMatch="*")
            cond = None
        except botocore.exceptions.ClientError as e:
            cond = e.response["Error"]["Code"]
        t.ok(cond in ("PreconditionFailed", "412"),
             "boto3 s3 through the proxy: conditional PUT reaches moto", repr(cond))

        fp.rules([{"method": "GET", "action": "status", "status": 503, "count": 2}])
        s3r = t.s3_client(fp.url, attempts=4)
        t.ok(s3r.get_object(Bucket=bucket, Key="a/b.db")["Body"].read() == data,
             "boto3 retries past two injected 503s")
        st = fp.stats()
        t.eq(st["rules"][0]["fired"], 2, "the 503 rule fired twice")
        t.eq(st["counts"].get("PUT"), 3, "stats: PUT count (bucket, object, conditional)")
        t.eq(st["counts"].get("GET"), 5, "stats: GET count (get, list, 2x503 + get)")
        t.eq(st["counts"].get("HEAD"), 1, "stats: HEAD count")

        table = t.make_table(fp.url)
        ddb = t.ddb_client(fp.url)
        ddb.put_item(TableName=table, Item={"id": {"S": "42"}, "gen": {"N": "1"}})
        fp.rules([{"target": "UpdateItem", "action": "status", "status": 500, "count": 1}])
        try:
            ddb.update_item(TableName=table, Key={"id": {"S": "42"}},
                            UpdateExpression="SET gen = :g",
                            ExpressionAttributeValues={":g": {"N": "2"}})
            err = None
        except botocore.exceptions.ClientError as e:
            err = e.response["Error"]["Code"]
        t.eq(err, "InternalServerError", "boto3 dynamodb sees the injected 500 on UpdateItem")
        item = ddb.get_item(TableName=table, Key={"id": {"S": "42"}}, ConsistentRead=True)
        t.eq(item["Item"]["gen"]["N"], "1", "the faulted UpdateItem never reached moto")

        fp.rules([{"target": "UpdateItem", "action": "drop_after", "count": 1}])
        try:
            ddb.update_item(TableName=table, Key={"id": {"S": "42"}},
                            UpdateExpression="SET gen = :g",
                            ExpressionAttributeValues={":g": {"N": "3"}})
            lost = False
        except (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError):
            lost = True
        item = ddb.get_item(TableName=table, Key={"id": {"S": "42"}}, ConsistentRead=True)
        t.ok(lost and item["Item"]["gen"]["N"] == "3",
             "drop_after: moto applied the UpdateItem, the client lost the reply",
             f"lost={lost} item={item.get('Item')}")
        st = fp.stats()
        t.eq((st["counts"].get("UpdateItem"), st["counts"].get("PutItem")), (2, 1),
             "stats: DynamoDB operations counted")
        pid = fp.proc.pid
    t.ok(not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z",
         "FaultProxy context manager stops the proxy")


def main():
    echo = start_echo()
    try:
        with t.FaultProxy(f"http://127.0.0.1:{echo.server_address[1]}") as fp:
            for fn in (test_echo_forwarding, test_rules, test_faults):
                try:
                    fn(fp, echo) if fn is test_echo_forwarding else fn(fp)
                except Exception as e:  # noqa: BLE001 - report and go on
                    t.ok(False, f"{fn.__name__} raised", repr(e))
                    t.diag(fp.log_text()[-3000:])
    finally:
        echo.shutdown()
    moto = os.environ.get("TFS_TEST_MOTO")
    if moto:
        try:
            test_boto3_moto(moto)
        except Exception as e:  # noqa: BLE001
            t.ok(False, "test_boto3_moto raised", repr(e))
    else:
        t.diag("TFS_TEST_MOTO unset: boto3/moto part skipped")
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
