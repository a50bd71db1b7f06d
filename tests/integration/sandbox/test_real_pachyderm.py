"""Real Pachyderm behind the one port: the real chart's pods on the sandbox's real node, site.yml as a
user runs it with inventories/local, then real traffic through the proxy as deployed, with TLS from the
sandbox's issuer.

pachd, its PostgreSQL, pgbouncer and etcd, the console and the proxy run from images packed here
(tools/sandbox/images.py); Loki's pods, whose images cannot be built here, are on kwok's node, and
pipelines' worker pods never start. Every call goes to the proxy's address, which MetalLB assigned and
the host reaches through kube-proxy, as pachctl, boto3 and a browser would.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from support.kubectl import on_cluster
from support.paths import bin_tool
from support.playbook_runs import ansible_env, ansible_playbook

from tools.sandbox import Sandbox
from tools.sandbox.s3 import s3_client as gateway_client

pytestmark = pytest.mark.slow

NAMESPACE = "pachyderm"
BIG = 256 * 1024 * 1024


def kubectl(box: Sandbox, *args: str, check: bool = True) -> str:
    return on_cluster(box, str(bin_tool("kubectl")), *args, check=check).stdout


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    """A sandbox running Pachyderm for real, and site.yml's run on it with the local inventory."""
    root = Path(tmp_path_factory.mktemp("real-pachyderm"))
    box = Sandbox(root, node_mode="real", pachyderm="real")
    work = Path(tmp_path_factory.mktemp("real-pachyderm-work"))
    pach_config = work / "pachctl.json"
    try:
        box.up(log=lambda msg: print(f"[sandbox] {msg}"))
        env = ansible_env(work, ONEPORT_SANDBOX_DIR=str(root), PACH_CONFIG=str(pach_config))
        started = time.monotonic()
        run = ansible_playbook("site.yml", env=env, timeout=1500)
        print(f"site.yml took {time.monotonic() - started:.0f}s")
        assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]
        address = (root / "proxy-address").read_text().strip()
        yield {"box": box, "run": run, "address": address, "pach_config": pach_config, "work": work}
    finally:
        box.down(log=lambda msg: print(f"[sandbox] {msg}"))


def root_token(box: Sandbox) -> str:
    return secret_value(box, "pachyderm-oneport-pinned", "root-token")


def secret_value(box: Sandbox, name: str, *keys: str) -> str:
    data = json.loads(kubectl(box, "-n", NAMESPACE, "get", "secret", name, "-o", "json"))["data"]
    return base64.b64decode(next(data[key] for key in keys if key in data)).decode()


def ca_pem(box: Sandbox) -> bytes:
    return secret_value(box, "pachyderm-proxy-tls", "ca.crt", "tls.crt").encode()


def pachctl(deployed, *args: str, token: str | None = None, stdin: bytes | None = None, timeout: float = 300):
    """pachctl with the context the role wrote (a copy of its config, with a token when given)."""
    config = deployed["work"] / ("pachctl-token.json" if token else "pachctl-anonymous.json")
    data = json.loads(deployed["pach_config"].read_text())
    if token:
        context = data["v2"]["active_context"]
        data["v2"]["contexts"][context]["session_token"] = token
    data["v2"]["metrics"] = False
    config.write_text(json.dumps(data))
    config.chmod(0o600)
    env = dict(os.environ, PACH_CONFIG=str(config))
    command = [str(bin_tool("pachctl")), *args]
    return subprocess.run(command, env=env, input=stdin, capture_output=True, timeout=timeout, check=False)


def test_the_verify_role_probed_real_pachd_through_the_one_port(deployed):
    out = deployed["run"].stdout
    table = out.split("Show the probe table", 1)[1].split("TASK [", 1)[0]
    for probe, answer in (
        ("grpc", "SERVING"),
        ("console", "200 text/html"),
        ("s3", "S3 error"),
        ("dex", f"https://{deployed['address']}/dex"),
        ("pachctl", "2.12.2"),
    ):
        row = table.split(f"- {probe} ", 1)[1].split("\n    - ", 1)[0]
        assert " ok " in row and answer in " ".join(row.split()), table
    assert (
        "Fail when a probe failed" in out and "skipping" in out.split("Fail when a probe failed", 1)[1][:200]
    )


def test_pachctl_version_through_the_one_port_with_the_context_the_role_wrote(deployed):
    result = pachctl(deployed, "version", token=root_token(deployed["box"]))
    assert result.returncode == 0, result.stderr.decode()
    text = result.stdout.decode()
    assert "pachctl" in text and "pachd" in text and "2.12." in text.split("pachd", 1)[1]


def test_unauthenticated_calls_are_refused(deployed):
    result = pachctl(deployed, "list", "repo")
    assert result.returncode != 0
    assert "not authenticated" in result.stderr.decode().lower() or "no authentication token" in (
        result.stderr.decode().lower()
    )


def test_a_256_mib_file_goes_in_and_comes_back_with_the_same_digest(deployed, tmp_path):
    token = root_token(deployed["box"])
    created = pachctl(deployed, "create", "repo", "images", token=token)
    assert created.returncode == 0, created.stderr.decode()
    data = os.urandom(1024 * 1024) * (BIG // (1024 * 1024))
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    put = pachctl(deployed, "put", "file", "images@master:/big.bin", "-f", str(source), token=token)
    assert put.returncode == 0, put.stderr.decode()
    back = tmp_path / "back.bin"
    got = pachctl(deployed, "get", "file", "images@master:/big.bin", "-o", str(back), token=token)
    assert got.returncode == 0, got.stderr.decode()
    assert hashlib.sha256(back.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()


def s3_client(deployed, key: str, secret: str):
    ca = deployed["work"] / "ca.pem"
    ca.write_bytes(ca_pem(deployed["box"]))
    return gateway_client(deployed["address"], key, secret, ca, retries={"max_attempts": 1})


def test_the_s3_gateway_takes_signed_puts_gets_and_a_multipart_upload(deployed):
    token = root_token(deployed["box"])
    # A bucket is a branch of a repo: a new repo's master branch exists once made (or first written).
    for step in (("create", "repo", "s3data"), ("create", "branch", "s3data@master")):
        made = pachctl(deployed, *step, token=token)
        assert made.returncode == 0, made.stderr.decode()
    s3 = s3_client(deployed, token, token)
    bucket = "master.s3data"
    s3.put_object(Bucket=bucket, Key="hello.txt", Body=b"hello, one port")
    assert s3.get_object(Bucket=bucket, Key="hello.txt")["Body"].read() == b"hello, one port"

    upload = s3.create_multipart_upload(Bucket=bucket, Key="parts.bin")
    parts = []
    chunks = [os.urandom(5 * 1024 * 1024), os.urandom(1024 * 1024)]
    for number, chunk in enumerate(chunks, start=1):
        answer = s3.upload_part(
            Bucket=bucket, Key="parts.bin", PartNumber=number, UploadId=upload["UploadId"], Body=chunk
        )
        parts.append({"PartNumber": number, "ETag": answer["ETag"]})
    s3.complete_multipart_upload(
        Bucket=bucket, Key="parts.bin", UploadId=upload["UploadId"], MultipartUpload={"Parts": parts}
    )
    assert s3.get_object(Bucket=bucket, Key="parts.bin")["Body"].read() == b"".join(chunks)


def test_presigned_urls_reach_the_s3_gateway_which_refuses_them_with_auth_on(deployed):
    # Through the collection's proxy a query-signed URL goes to pachd's S3 gateway (the chart's own proxy
    # sends it to the console). pachd 2.12 verifies only header-signed requests while auth is on, so it
    # answers AccessDenied, as S3 XML; a presigned URL would carry the token (the secret key) in the clear.
    token = root_token(deployed["box"])
    s3 = s3_client(deployed, token, token)
    context = ssl.create_default_context(cadata=ca_pem(deployed["box"]).decode())
    for method, operation in (("GET", "get_object"), ("PUT", "put_object")):
        url = s3.generate_presigned_url(operation, Params={"Bucket": "master.s3data", "Key": "hello.txt"})
        request = urllib.request.Request(url, data=b"x" if method == "PUT" else None, method=method)  # noqa: S310
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, context=context, timeout=30)  # noqa: S310 - the sandbox's address
        body = refused.value.read().decode()
        assert refused.value.code == 403 and "<Code>AccessDenied</Code>" in body, body[:300]


def test_a_file_downloads_from_pfs_with_a_token_and_not_without(deployed):
    # pachd's browser-facing file server, through the one port, as the console's download links use it.
    token = root_token(deployed["box"])
    made = pachctl(deployed, "create", "repo", "notes", token=token)
    assert made.returncode == 0, made.stderr.decode()
    put = pachctl(deployed, "put", "file", "notes@master:/note.txt", "-f", "-", token=token, stdin=b"a note")
    assert put.returncode == 0, put.stderr.decode()
    context = ssl.create_default_context(cadata=ca_pem(deployed["box"]).decode())
    url = f"https://{deployed['address']}/pfs/default/notes/master/note.txt"
    request = urllib.request.Request(url, headers={"authn-token": token})
    with urllib.request.urlopen(request, context=context, timeout=30) as response:  # noqa: S310
        assert response.read() == b"a note"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, context=context, timeout=30)
    assert refused.value.code == 401


def test_a_wrong_s3_key_is_refused(deployed):
    from botocore.exceptions import ClientError

    s3 = s3_client(deployed, "wrong", "wrong")
    with pytest.raises(ClientError) as refused:
        s3.list_buckets()
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] in (401, 403)


def test_the_console_page_and_its_api_answer(deployed):
    context = ssl.create_default_context(cadata=ca_pem(deployed["box"]).decode())
    home = f"https://{deployed['address']}/"
    with urllib.request.urlopen(home, context=context, timeout=30) as response:
        page = response.read().decode()
    assert response.status == 200 and "<html" in page.lower() and "Pachyderm" in page
    request = urllib.request.Request(
        f"https://{deployed['address']}/api/versionpb_v2.API/GetVersion",
        data=b"{}",
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, context=context, timeout=30) as response:  # noqa: S310
            answer = json.loads(response.read())
    except urllib.error.HTTPError as err:
        pytest.fail(f"/api answered {err.code}: {err.read()[:500]!r}")
    assert answer.get("major") == 2 and answer.get("minor") == 12


def health(deployed, timeout: float) -> tuple[str, float]:
    """One grpc.health.v1 Check through the one port: its status code's name and how long it took."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    channel = grpc.secure_channel(
        f"{deployed['address']}:443", grpc.ssl_channel_credentials(ca_pem(deployed["box"]))
    )
    started = time.monotonic()
    try:
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=timeout)
        return "OK", time.monotonic() - started
    except grpc.RpcError as err:
        return err.code().name, time.monotonic() - started
    finally:
        channel.close()


def test_pachd_deleted_gives_unavailable_at_once_and_traffic_returns_with_the_new_pod(deployed):
    box = deployed["box"]
    assert health(deployed, 10)[0] == "OK"
    pods = json.loads(kubectl(box, "-n", NAMESPACE, "get", "pods", "-l", "app=pachd", "-o", "json"))["items"]
    # Gone at once (no grace), as a crashed or evicted pod is; the proxy is not touched.
    kubectl(box, "-n", NAMESPACE, "delete", "pod", pods[0]["metadata"]["name"], "--grace-period=0", "--force")
    seen = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        code, took = health(deployed, 10)
        seen.append((code, round(took, 2)))
        if code != "OK":
            break
        time.sleep(0.2)
    failures = [(code, took) for code, took in seen if code != "OK"]
    assert failures, f"pachd never went away: {seen}"
    code, took = failures[0]
    assert code == "UNAVAILABLE" and took < 2, seen  # refused quickly, never a hang
    kubectl(box, "-n", NAMESPACE, "rollout", "status", "deployment/pachd", "--timeout=180s")
    deadline = time.monotonic() + 60
    while health(deployed, 10)[0] != "OK":
        assert time.monotonic() < deadline, (
            "gRPC did not come back through the one port after pachd was ready"
        )
        time.sleep(1)
    result = pachctl(deployed, "list", "repo", token=root_token(box))
    assert result.returncode == 0, result.stderr.decode()


def browser_login(url: str, context: ssl.SSLContext) -> str:
    """What a browser does with pachctl's login URL: Dex's login form with the mock identity provider's
    user, its approval form if shown, then the redirect to pachd's callback; the final page's text."""
    import http.cookiejar
    import re
    import urllib.parse

    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
        urllib.request.HTTPSHandler(context=context),
    )
    with opener.open(url, timeout=30) as page:
        where, body = page.geturl(), page.read().decode()
    for _step in range(4):
        form = re.search(r'<form[^>]*method="post"[^>]*action="([^"]*)"', body, re.IGNORECASE)
        if not form:
            break
        if 'name="password"' in body:
            fields = {"login": "admin", "password": "password"}
        elif 'name="approval"' in body:
            fields = dict(
                re.findall(r'<input[^>]*name="(req)"[^>]*value="([^"]*)"', body), approval="approve"
            )
        else:
            break
        action = urllib.parse.urljoin(where, form.group(1).replace("&amp;", "&"))
        with opener.open(action, data=urllib.parse.urlencode(fields).encode(), timeout=30) as page:
            where, body = page.geturl(), page.read().decode()
    return body


def test_pachctl_auth_login_through_dex_with_the_mock_identity_provider(deployed):
    config = deployed["work"] / "pachctl-login.json"
    data = json.loads(deployed["pach_config"].read_text())
    data["v2"]["metrics"] = False
    config.write_text(json.dumps(data))
    config.chmod(0o600)
    env = dict(os.environ, PACH_CONFIG=str(config))
    login = subprocess.Popen(
        [str(bin_tool("pachctl")), "auth", "login", "--no-browser"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = ""
        while not url:
            line = login.stdout.readline()
            assert line, f"pachctl printed no login URL: {login.stderr.read()}"
            if line.startswith("https://"):
                url = line.strip()
        # The login URL points at Dex under the one port, the issuer the role configured.
        assert url.startswith(f"https://{deployed['address']}/dex/auth")
        context = ssl.create_default_context(cadata=ca_pem(deployed["box"]).decode())
        browser_login(url, context)
        assert login.wait(timeout=60) == 0, login.stderr.read()
    finally:
        if login.poll() is None:
            login.kill()
    whoami = subprocess.run(
        [str(bin_tool("pachctl")), "auth", "whoami"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # Dex's mock password connector logs every user in as its one identity, Kilgore Trout.
    assert whoami.returncode == 0, whoami.stderr
    assert 'You are "user:kilgore@kilgore.trout"' in whoami.stdout, whoami.stdout
