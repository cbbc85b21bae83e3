#!/usr/bin/env python3
"""Mounts whose keys come from the credential sources of real deployments,
against a moto_server that enforces SigV4 (INITIAL_NO_AUTH_ACTION_COUNT
lets the set-up calls through, every later request must be signed by a key
moto issued):

- web identity, as EKS gives a pod (AWS_WEB_IDENTITY_TOKEN_FILE +
  AWS_ROLE_ARN + AWS_ROLE_SESSION_NAME), then the profile form: tenantfs
  posts an unsigned AssumeRoleWithWebIdentity to AWS_ENDPOINT_URL_STS and
  signs its S3 requests with the temporary key and session token moto's
  STS returns. moto with auth on wants even this call signed, which AWS
  does not: the STS endpoint tenantfs is given is a loopback shim here
  that checks the call is unsigned and carries the token of the file,
  signs it with a set-up key and forwards it to moto;
- credential_process in the config file (a script this test writes);
- EKS Pod Identity: AWS_CONTAINER_CREDENTIALS_FULL_URI on a loopback
  credentials server here that wants the token of
  AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE in the Authorization header.

Each mount writes a database that must reach the bucket; a refused token,
a failing credential_process and a wrong pod token fail the mount before
mounting with a line saying why. Needs $TFS_TEST_MOTO (as the sign that
moto is there) and FUSE."""
# tfs-timeout: 300

import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mount as m  # noqa: E402
import tfstest as t  # noqa: E402

ROLE = "tfs-web"
ROLE_ARN = f"arn:aws:iam::123456789012:role/{ROLE}"
ROWS = 20
ALLOW_ALL = json.dumps({"Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})


class Server:
    """A ThreadingHTTPServer on a free loopback port, in a thread of this
    process; handler gets the server as self.server and its .state."""

    def __init__(self, handler, state):
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.srv.state = state
        self.port = self.srv.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.srv.shutdown()
        self.srv.server_close()
        self.thread.join(timeout=10)
        return False


class Quiet(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, code, body, ctype):
        b = body if isinstance(body, bytes) else body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)


class StsShim(Quiet):
    """Takes tenantfs's unsigned AssumeRoleWithWebIdentity, notes it, signs
    it with the set-up key and forwards it to moto."""

    def do_POST(self):
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
        st = self.server.state
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        form = urllib.parse.parse_qs(body.decode())
        st["calls"].append({"signed": "Authorization" in self.headers,
                            "action": form.get("Action", [""])[0],
                            "role": form.get("RoleArn", [""])[0],
                            "session": form.get("RoleSessionName", [""])[0],
                            "token": form.get("WebIdentityToken", [""])[0]})
        req = AWSRequest(method="POST", url=st["moto"] + "/", data=body,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        SigV4Auth(Credentials(st["kid"], st["secret"]), "sts", "us-east-1").add_auth(req)
        fwd = urllib.request.Request(st["moto"] + "/", data=body, method="POST",
                                     headers=dict(req.headers))
        try:
            with urllib.request.urlopen(fwd, timeout=30) as r:
                out, code = r.read(), r.status
        except urllib.error.HTTPError as e:
            out, code = e.read(), e.code
        if st.get("refuse"):
            out = (b"<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken"
                   b"</Code><Message>the token is not valid</Message></Error></ErrorResponse>")
            code = 400
        st["replies"].append(out.decode(errors="replace"))
        self.reply(code, out, "text/xml")


class PodAgent(Quiet):
    """The EKS Pod Identity agent: the key of the set-up user, to a request
    carrying the pod's token."""

    def do_GET(self):
        st = self.server.state
        st["auth"].append(self.headers.get("Authorization"))
        if self.path != "/v1/credentials" or self.headers.get("Authorization") != st["token"]:
            return self.reply(401, "{}", "application/json")
        self.reply(200, json.dumps({"AccessKeyId": st["kid"], "SecretAccessKey": st["secret"],
                                    "Expiration": "2099-01-01T00:00:00Z"}),
                   "application/json")


def main():
    t.need_env("TFS_TEST_MOTO")
    m.need_fuse()
    m.tenantfs_binary()
    import boto3
    base = tempfile.mkdtemp(prefix="creds-", dir=t.tmp_dir())
    port = t.free_port()
    log = open(os.path.join(base, "moto.log"), "ab")
    # Six calls without auth: user, key, user policy, role, role policy,
    # bucket. Everything after must be signed by a key moto issued.
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="6")
    proc = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)], env=env,
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    log.close()
    t.record_pid(proc.pid)
    try:
        t.wait_until(lambda: proc.poll() is None and t.port_open("127.0.0.1", port),
                     timeout=30, what="moto_server with auth to listen")
        moto = f"http://127.0.0.1:{port}"
        run(base, moto, boto3)
    finally:
        t.stop_process(proc)


def run(base, moto, boto3):
    def client(svc, kid="testing", secret="testing"):
        return boto3.client(svc, endpoint_url=moto, region_name="us-east-1",
                            aws_access_key_id=kid, aws_secret_access_key=secret,
                            config=t._boto_config(1))

    iam = client("iam")
    iam.create_user(UserName="tfs-setup")
    key = iam.create_access_key(UserName="tfs-setup")["AccessKey"]
    kid, secret = key["AccessKeyId"], key["SecretAccessKey"]
    iam.put_user_policy(UserName="tfs-setup", PolicyName="all", PolicyDocument=ALLOW_ALL)
    iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument="{}")
    iam.put_role_policy(RoleName=ROLE, PolicyName="all", PolicyDocument=ALLOW_ALL)
    bucket = t.unique("creds")
    client("s3").create_bucket(Bucket=bucket)
    s3 = client("s3", kid, secret)
    try:
        client("s3", kid, "wrong").list_objects_v2(Bucket=bucket)
        enforced = False
    except Exception:  # noqa: BLE001 - any refusal will do
        enforced = True
    if not t.ok(enforced, "moto enforces signatures"):
        return

    # The daemon's environment: no keys, no instance metadata, files here.
    clean = {k: v for k, v in m._daemon_env().items() if not k.startswith("AWS_")}
    clean.update(AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
                 AWS_SHARED_CREDENTIALS_FILE=os.path.join(base, "credentials"),
                 AWS_CONFIG_FILE=os.path.join(base, "config"))
    mp = os.path.join(base, "mnt")
    n = [0]

    def opts(tag):
        n[0] += 1
        catalog = f"{base}/{tag}.catalog.db"
        o = [f"catalog=sqlite:{catalog}", f"endpoint={moto}",
             f"cache={base}/cache{n[0]}", "idle=0.3", "linger=0.2"]
        if not os.path.exists(catalog):
            # A mount never creates its catalog: init does, here with the
            # moto user's own keys, so the mount tests only the source.
            r = m.run_tenantfs(["init", f"s3://{bucket}/{tag}", "-o", ",".join(o)],
                               env=dict(clean, AWS_ACCESS_KEY_ID=kid,
                                        AWS_SECRET_ACCESS_KEY=secret))
            if r.returncode != 0:
                t.diag(f"init of {tag}: {r.stderr}")
        return o

    def mount_writes(tag, env, what):
        src = f"s3://{bucket}/{tag}"
        mnt = m.Mount(src, mp, opts(tag), env=env)
        try:
            with mnt:
                m.write_rollback_cli(mp, "u1", ROWS)
                try:
                    m.wait_clean(os.path.join(mp, "u1.db"))
                    published = True
                except TimeoutError as e:
                    published = False
                    t.diag(f"{e}\n{mnt.log_text()}")
        except m.MountError as e:
            # Reported here so that the other sources are still tried.
            published = False
            t.diag(f"{what}: {e}")
        # No Prefix: moto's signature check trips over an encoded "/" in it.
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
        t.ok(published and any(k.startswith(tag + "/") for k in keys),
             f"{what}: a mount signs with these keys and publishes", keys)
        return mnt

    def mount_refused(tag, env, what, want):
        r = m.run_tenantfs(["-f", "-o", ",".join(opts(tag)), f"s3://{bucket}/{tag}", mp],
                           timeout=90, env=env)
        out = r.stdout + r.stderr
        t.ok(r.returncode != 0 and not m.is_fuse_mount(mp), f"{what}: the mount is refused",
             out)
        t.ok(want in out, f"{what}: the log says {want!r}", out)
        for name, value in (("secret key", secret), ("pod token", "pod-token-1"),
                            ("web identity token", "jwt-of-the-pod")):
            t.ok(value not in out, f"{what}: the {name} is not in the log")
        return out

    # ---- web identity, the EKS environment form ----
    state = {"moto": moto, "kid": kid, "secret": secret, "calls": [], "replies": []}
    token_file = os.path.join(base, "eks-token")
    with open(token_file, "w") as f:
        f.write("jwt-of-the-pod\n")
    with Server(StsShim, state) as sts:
        env = dict(clean, AWS_WEB_IDENTITY_TOKEN_FILE=token_file, AWS_ROLE_ARN=ROLE_ARN,
                   AWS_ROLE_SESSION_NAME="pod-a", AWS_ENDPOINT_URL_STS=sts.url)
        mount_writes("web", env, "web identity")
        calls = state["calls"]
        t.ok(calls and all(c["action"] == "AssumeRoleWithWebIdentity" and not c["signed"]
                           for c in calls),
             "web identity: AssumeRoleWithWebIdentity is sent unsigned", calls)
        t.ok(calls and all(c["token"] == "jwt-of-the-pod" and c["role"] == ROLE_ARN and
                           c["session"] == "pod-a" for c in calls),
             "web identity: the token of the file, the role and the session name", calls)
        issued = [r.split("<AccessKeyId>")[1].split("<")[0] for r in state["replies"]
                  if "<AccessKeyId>" in r]
        t.ok(issued and all(k.startswith("ASIA") for k in issued),
             "web identity: moto issued temporary keys", issued)

        # The profile form, with a session name made up by tenantfs.
        with open(clean["AWS_CONFIG_FILE"], "w") as f:
            f.write(f"[profile eks]\nweb_identity_token_file = {token_file}\n"
                    f"role_arn = {ROLE_ARN}\n")
        state["calls"].clear()
        env = dict(clean, AWS_PROFILE="eks", AWS_ENDPOINT_URL_STS=sts.url)
        mount_writes("webprof", env, "web identity from the profile")
        t.ok(state["calls"] and state["calls"][0]["session"].startswith("tenantfs-"),
             "web identity from the profile: a session name of our own",
             state["calls"])

        state["refuse"] = True
        env = dict(clean, AWS_WEB_IDENTITY_TOKEN_FILE=token_file, AWS_ROLE_ARN=ROLE_ARN,
                   AWS_ENDPOINT_URL_STS=sts.url)
        mount_refused("webbad", env, "a token STS refuses", "InvalidIdentityToken")
        os.unlink(clean["AWS_CONFIG_FILE"])

    # ---- credential_process ----
    script = os.path.join(base, "creds helper.sh")
    with open(script, "w") as f:
        f.write("#!/bin/sh\n"
                "[ \"$1\" = --role ] && [ \"$2\" = 'tenant writer' ] || exit 7\n"
                "echo 'helper: looking up the key' >&2\n"
                f"printf '{{\"Version\": 1, \"AccessKeyId\": \"{kid}\", "
                f"\"SecretAccessKey\": \"{secret}\", "
                "\"Expiration\": \"2099-01-01T00:00:00Z\"}'\n")
    os.chmod(script, 0o700)
    with open(clean["AWS_CONFIG_FILE"], "w") as f:
        f.write(f"[default]\ncredential_process = \"{script}\" --role \"tenant writer\"\n")
    mnt = mount_writes("proc", clean, "credential_process")
    t.ok("helper: looking up the key" in mnt.log_text(),
         "credential_process: its stderr is in the log")
    with open(clean["AWS_CONFIG_FILE"], "w") as f:
        f.write(f"[default]\ncredential_process = \"{script}\" --role nobody\n")
    mount_refused("procbad", clean, "a failing credential_process", "exited with status 7")
    os.unlink(clean["AWS_CONFIG_FILE"])

    # ---- EKS Pod Identity ----
    pod_token = os.path.join(base, "pod-token")
    with open(pod_token, "w") as f:
        f.write("pod-token-1\n")
    pstate = {"kid": kid, "secret": secret, "token": "pod-token-1", "auth": []}
    with Server(PodAgent, pstate) as agent:
        env = dict(clean, AWS_CONTAINER_CREDENTIALS_FULL_URI=agent.url + "/v1/credentials",
                   AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=pod_token,
                   AWS_CONTAINER_AUTHORIZATION_TOKEN="not-this-one")
        mount_writes("pod", env, "pod identity")
        t.ok(pstate["auth"] and all(a == "pod-token-1" for a in pstate["auth"]),
             "pod identity: the token file wins over the literal token", pstate["auth"])
        # The token rotates: the next fetch reads the file again.
        pstate["token"] = "pod-token-2"
        with open(pod_token, "w") as f:
            f.write("pod-token-2\n")
        pstate["auth"].clear()
        mount_writes("pod2", env, "pod identity after the token rotated")
        t.ok(pstate["auth"] and pstate["auth"][-1] == "pod-token-2",
             "pod identity: the rotated token is sent", pstate["auth"])
        env2 = dict(env)
        del env2["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"]
        env2["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "pod-token-2"
        mount_writes("pod3", env2, "pod identity with the literal token")
        pstate["token"] = "something-else"
        mount_refused("podbad", env, "a pod token the agent refuses",
                      "cannot fetch container credentials")


if __name__ == "__main__":
    m.run_main(main)
