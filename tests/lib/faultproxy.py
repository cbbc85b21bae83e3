#!/usr/bin/env python3
"""faultproxy: a fault-injecting HTTP/1.1 reverse proxy for tenantfs tests.

Sits in front of one target (moto_server, dynalite, s3rver) on loopback and
forwards every request unchanged: method, path and query, headers (the Host
header too, exactly as the client sent it, because SigV4 signs it), body
(Content-Length or chunked) over a kept-alive upstream connection. Rules
injected over a control API turn chosen requests into faults. Python 3.11
standard library only.

    faultproxy.py --target http://127.0.0.1:5000 --listen 127.0.0.1:0 --port-file F

The port is written to F (atomically, after the socket listens). The proxy
exits by itself after --max-lifetime seconds (default 3600) so a leaked one
cannot linger. Log lines (one per request) go to stderr.

Control API (paths under /__proxy/, never forwarded):

  POST /__proxy/rules    JSON list of rules; replaces the current list
                         (?append=1 appends). Returns {"rules": n}.
  POST /__proxy/reset    clears rules, outage and stats.
  GET  /__proxy/stats    {"requests": [{"method","path","target","status",
                         "action"}...], "counts": {"GET": n, ..., "UpdateItem": n},
                         "rules": [{...rule..., "fired": n}]}
  POST /__proxy/outage   {"seconds": 60}: every proxied request is answered
                         with a TCP reset for that long; 0 ends it.
  GET  /__proxy/health   200 "ok".

A rule (every field optional except action):

  method       "GET", "PUT", ... (exact, case-insensitive)
  path_re      Python regex searched in the request target (path?query)
  target       substring of the X-Amz-Target header, e.g. "UpdateItem"
  action       "status"        answer with `status` (default 503) and `body`
                                (default: an S3 XML or DynamoDB JSON error
                                whose code is `code`), not forwarded
               "drop"          close the connection without answering, not
                                forwarded
               "drop_after"    forward, then close without answering (the
                                target applied the request, the client never
                                learns it)
               "drop_mid_body" forward, send the response headers and half
                                the body, then close the connection
               "delay"         sleep delay_ms, then forward
               "reset"         TCP reset (RST) without answering, not forwarded
  status       HTTP status for "status" (503)
  body         response body for "status" (string)
  code         error code for the default body ("ServiceUnavailable"...)
  delay_ms     for "delay" (1000)
  count        times the rule fires; -1 = forever (default 1)
  probability  0..1 chance that a matching request fires it (default 1)
  seed         seed of this rule's random generator (reproducible runs)

The first rule that matches and still has count left decides; a request no
rule fires on is forwarded. A rule that loses the probability draw does not
consume its count and lets later rules try.

stats.counts counts every request the proxy received (faulted or not) by
HTTP method and by the operation of X-Amz-Target (the part after the last
'.', e.g. "UpdateItem").
"""

import argparse
import http.client
import http.server
import json
import os
import random
import re
import socket
import socketserver
import struct
import sys
import threading
import time
import urllib.parse

HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
    "trailer", "trailers", "transfer-encoding", "upgrade", "expect", "proxy-connection",
}
ACTIONS = {"status", "drop", "drop_after", "drop_mid_body", "delay", "reset"}
MAX_LOGGED_REQUESTS = 100000
MAX_BODY = 1 << 30

S3_CODES = {500: "InternalError", 503: "ServiceUnavailable", 429: "SlowDown",
            403: "AccessDenied", 404: "NoSuchKey", 412: "PreconditionFailed",
            400: "InvalidRequest", 409: "OperationAborted"}
DDB_CODES = {500: "InternalServerError", 503: "ServiceUnavailable",
             400: "ThrottlingException", 429: "ThrottlingException"}


class State:
    """Rules, outage and stats, shared by all handler threads under lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []          # protected by lock
        self.outage_until = 0.0  # monotonic deadline; protected by lock
        self.requests = []       # protected by lock
        self.counts = {}         # protected by lock

    def reset(self):
        with self.lock:
            self.rules = []
            self.outage_until = 0.0
            self.requests = []
            self.counts = {}

    def set_rules(self, rules, append):
        parsed = [parse_rule(r) for r in rules]
        with self.lock:
            if append:
                self.rules.extend(parsed)
            else:
                self.rules = parsed
            return len(self.rules)

    def set_outage(self, seconds):
        with self.lock:
            self.outage_until = time.monotonic() + seconds if seconds > 0 else 0.0

    def in_outage(self):
        with self.lock:
            return time.monotonic() < self.outage_until

    def count(self, method, op):
        with self.lock:
            self.counts[method] = self.counts.get(method, 0) + 1
            if op:
                self.counts[op] = self.counts.get(op, 0) + 1

    def record(self, method, path, target, status, action):
        with self.lock:
            if len(self.requests) < MAX_LOGGED_REQUESTS:
                self.requests.append({"method": method, "path": path, "target": target,
                                      "status": status, "action": action})

    def match(self, method, path, target):
        """The rule that fires for this request (its count consumed), or None."""
        with self.lock:
            for r in self.rules:
                if r["count"] == 0:
                    continue
                if r["method"] and r["method"] != method:
                    continue
                if r["path_re"] and not r["path_re"].search(path):
                    continue
                if r["target"] and r["target"] not in (target or ""):
                    continue
                if r["probability"] < 1.0 and r["rng"].random() >= r["probability"]:
                    continue
                if r["count"] > 0:
                    r["count"] -= 1
                r["fired"] += 1
                return dict(r)
        return None

    def snapshot(self):
        with self.lock:
            rules = []
            for r in self.rules:
                d = {k: v for k, v in r.items() if k not in ("rng", "path_re")}
                d["path_re"] = r["path_re"].pattern if r["path_re"] else None
                rules.append(d)
            return {"requests": list(self.requests), "counts": dict(self.counts),
                    "rules": rules}


def parse_rule(r):
    if not isinstance(r, dict):
        raise ValueError("a rule must be a JSON object")
    action = r.get("action")
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    prob = float(r.get("probability", 1.0))
    if not 0.0 <= prob <= 1.0:
        raise ValueError("probability must be within 0..1")
    path_re = r.get("path_re")
    return {
        "method": (r.get("method") or "").upper() or None,
        "path_re": re.compile(path_re) if path_re else None,
        "target": r.get("target") or None,
        "action": action,
        "status": int(r.get("status", 503)),
        "body": r.get("body"),
        "code": r.get("code"),
        "delay_ms": int(r.get("delay_ms", 1000)),
        "count": int(r.get("count", 1)),
        "probability": prob,
        "seed": r.get("seed"),
        "rng": random.Random(r.get("seed")),
        "fired": 0,
    }


def target_op(target):
    if not target:
        return None
    return target.rsplit(".", 1)[-1]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "faultproxy"
    timeout = 120  # idle client connections are closed after this

    # -- plumbing -------------------------------------------------------

    def log_message(self, fmt, *args):
        sys.stderr.write("faultproxy: " + (fmt % args) + "\n")
        sys.stderr.flush()

    def upstream(self, fresh=False):
        """This client connection's kept-alive connection to the target."""
        up = getattr(self, "_up", None)
        if fresh and up is not None:
            up.close()
            up = None
        if up is None:
            t = self.server.target
            up = http.client.HTTPConnection(t.hostname, t.port or 80, timeout=60)
            self._up = up
        return up

    def finish(self):
        try:
            super().finish()
        finally:
            up = getattr(self, "_up", None)
            if up is not None:
                up.close()

    def read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            out = bytearray()
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ConnectionError("client closed inside a chunked body")
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while True:  # trailers, up to the empty line
                        t = self.rfile.readline(65537)
                        if t in (b"\r\n", b"\n", b""):
                            break
                    return bytes(out), True
                if len(out) + size > MAX_BODY:
                    raise ValueError("request body too large")
                out += self.rfile.read(size)
                self.rfile.readline(3)
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise ValueError("request body too large")
        return (self.rfile.read(n) if n else b""), False

    def send_raw(self, status, headers, body, head=False):
        self.send_response_only(status)
        for k, v in headers:
            self.send_header(k, v)
        if not any(k.lower() == "content-length" for k, _ in headers):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and not head:
            self.wfile.write(body)
        self.wfile.flush()

    def send_json(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_raw(status, [("Content-Type", "application/json")], body)

    def reset_connection(self):
        """Abort with a TCP RST: SO_LINGER 0, then close the descriptor at
        once. The socket object is detached first so the file objects and
        socketserver's own shutdown/close later act on nothing (fd -1)
        instead of a descriptor number another thread may have reused."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
        except OSError:
            pass
        fd = self.connection.detach()
        if fd >= 0:
            os.close(fd)

    def drop_connection(self):
        """Close gracefully (FIN) without an answer."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def note(self, method, target, status, action):
        """Record the request in the stats and log one line for it."""
        self.server.state.record(method, self.path, target, status, action)
        op = target_op(target)
        self.log_message("%s %s%s -> %s (%s)", method, self.path, f" [{op}]" if op else "",
                         status if status is not None else "-", action)

    # -- dispatch -------------------------------------------------------

    def do_GET(self):
        self.dispatch()

    do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def dispatch(self):
        if self.path.startswith("/__proxy/"):
            self.control()
            return
        st = self.server.state
        method = self.command
        target = self.headers.get("X-Amz-Target")
        try:
            body, chunked = self.read_body()
        except (ValueError, ConnectionError) as e:
            self.log_message("cannot read request body of %s %s: %s", method, self.path, e)
            self.drop_connection()
            return
        st.count(method, target_op(target))
        if st.in_outage():
            self.note(method, target, None, "outage")
            self.reset_connection()
            return
        rule = st.match(method, self.path, target)
        action = rule["action"] if rule else "forward"
        if action == "reset":
            self.note(method, target, None, action)
            self.reset_connection()
            return
        if action == "drop":
            self.note(method, target, None, action)
            self.drop_connection()
            return
        if action == "status":
            status, hdrs, rbody = self.fault_reply(rule, target)
            self.note(method, target, status, action)
            self.send_raw(status, hdrs, rbody, head=(method == "HEAD"))
            return
        if action == "delay":
            time.sleep(rule["delay_ms"] / 1000.0)
        try:
            status, reason, hdrs, rbody = self.forward(method, body, chunked)
        except (OSError, http.client.HTTPException) as e:
            self.log_message("cannot forward %s %s: %s", method, self.path, e)
            self.note(method, target, 502, "upstream_error")
            self.close_connection = True
            self.send_raw(502, [("Connection", "close")], b"faultproxy: upstream failed\n")
            return
        if action == "drop_after":
            self.note(method, target, None, action)
            self.drop_connection()
            return
        head = method == "HEAD"
        if action == "drop_mid_body":
            self.note(method, target, status, action)
            self.send_response_only(status, reason)
            for k, v in hdrs:
                if k.lower() != "content-length":
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(rbody)))
            self.end_headers()
            if not head:
                self.wfile.write(rbody[: len(rbody) // 2])
            self.drop_connection()
            return
        self.note(method, target, status, action)
        self.send_response_only(status, reason)
        for k, v in hdrs:
            if head or k.lower() != "content-length":
                self.send_header(k, v)
        if not head:
            self.send_header("Content-Length", str(len(rbody)))
            if status in (204, 304) or 100 <= status < 200:
                rbody = b""
        self.end_headers()
        if rbody and not head:
            self.wfile.write(rbody)
        self.wfile.flush()

    def forward(self, method, body, chunked):
        """Send the request upstream unchanged (Host included) and read the
        whole reply. Retries once on a stale kept-alive upstream connection
        only when nothing of the reply arrived."""
        for attempt in (0, 1):
            up = self.upstream(fresh=attempt > 0)
            try:
                up.putrequest(method, self.path, skip_host=True, skip_accept_encoding=True)
                for k, v in self.headers.items():
                    if k.lower() in HOP_BY_HOP:
                        continue
                    up.putheader(k, v)
                if chunked:
                    up.putheader("Transfer-Encoding", "chunked")
                up.endheaders(body if body or not chunked else None, encode_chunked=chunked)
                if chunked and not body:
                    up.send(b"0\r\n\r\n")
                resp = up.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError,
                    ConnectionResetError) as e:
                up.close()
                if attempt == 0:
                    continue
                raise e
            rbody = resp.read()
            hdrs = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP_BY_HOP]
            if resp.will_close:
                up.close()
                self._up = None
            return resp.status, resp.reason, hdrs, rbody
        raise OSError("unreachable")

    def fault_reply(self, rule, target):
        status = rule["status"]
        if rule["body"] is not None:
            body = rule["body"].encode()
            ctype = "application/json" if body[:1] in (b"{", b"[") else "application/xml"
        elif target:
            code = rule["code"] or DDB_CODES.get(status, "InternalServerError")
            body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}",
                               "message": "injected by faultproxy"}).encode()
            ctype = "application/x-amz-json-1.0"
        else:
            code = rule["code"] or S3_CODES.get(status, "InternalError")
            body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                    f"<Message>injected by faultproxy</Message>"
                    f"<RequestId>faultproxy</RequestId></Error>").encode()
            ctype = "application/xml"
        return status, [("Content-Type", ctype)], body

    # -- control API ------------------------------------------------------

    def control(self):
        st = self.server.state
        url = urllib.parse.urlsplit(self.path)
        what = url.path[len("/__proxy/"):].strip("/")
        query = urllib.parse.parse_qs(url.query)
        try:
            body, _ = self.read_body()
            arg = json.loads(body) if body.strip() else None
        except (ValueError, ConnectionError) as e:
            self.send_json(400, {"error": f"bad request body: {e}"})
            return
        try:
            if what == "health" and self.command == "GET":
                self.send_raw(200, [("Content-Type", "text/plain")], b"ok\n")
            elif what == "stats" and self.command == "GET":
                self.send_json(200, st.snapshot())
            elif what == "rules" and self.command == "POST":
                if not isinstance(arg, list):
                    raise ValueError("rules must be a JSON list")
                n = st.set_rules(arg, append=query.get("append", ["0"])[0] not in ("0", ""))
                self.send_json(200, {"rules": n})
            elif what == "reset" and self.command == "POST":
                st.reset()
                self.send_json(200, {"reset": True})
            elif what == "outage" and self.command == "POST":
                secs = float((arg or {}).get("seconds", 60))
                st.set_outage(secs)
                self.send_json(200, {"outage_seconds": secs})
            else:
                self.send_json(404, {"error": f"no control {self.command} /__proxy/{what}"})
        except (ValueError, TypeError, re.error) as e:
            self.send_json(400, {"error": str(e)})


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        # A client that goes away mid-request is routine in fault tests.
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, socket.timeout)):
            return
        super().handle_error(request, client_address)


def main(argv=None):
    ap = argparse.ArgumentParser(description="fault-injecting HTTP reverse proxy")
    ap.add_argument("--target", required=True, help="http://host:port of the real server")
    ap.add_argument("--listen", default="127.0.0.1:0", help="host:port to listen on")
    ap.add_argument("--port-file", help="write the bound port here when ready")
    ap.add_argument("--max-lifetime", type=float, default=3600.0,
                    help="exit after this many seconds (0: never)")
    a = ap.parse_args(argv)

    target = urllib.parse.urlsplit(a.target)
    if target.scheme != "http" or not target.hostname:
        ap.error("--target must be http://host:port")
    host, _, port = a.listen.rpartition(":")
    srv = Server((host or "127.0.0.1", int(port or 0)), Handler)
    srv.target = target
    srv.state = State()
    bound = srv.server_address[1]
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w", encoding="ascii") as f:
            f.write(f"{bound}\n")
        os.replace(tmp, a.port_file)
    sys.stderr.write(f"faultproxy: listening on {host}:{bound}, target {a.target}\n")
    sys.stderr.flush()
    if a.max_lifetime > 0:
        t = threading.Timer(a.max_lifetime, srv.shutdown)
        t.daemon = True
        t.start()
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
