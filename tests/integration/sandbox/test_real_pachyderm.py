"""Real Pachyderm behind the one port: the real chart's pods on the sandbox's real node, site.yml as a
user runs it with inventories/local, then real traffic through the proxy as deployed, with TLS from the
sandbox's issuer.

pachd, its PostgreSQL, pgbouncer and etcd, the console and the proxy run from images packed here
(tools/sandbox/images.py); Loki's pods, whose images cannot be built here, are on kwok's node, and
pipelines' worker pods never start. Every call goes to the proxy's address, which MetalLB assigned and
the host reaches through kube-proxy, as pachctl, boto3 and a browser would.

Every test runs twice on the same sandbox: through the collection's proxy configuration, then, after
site.yml switches the release to it, through the chart's own (`pachyderm_proxy_config: chart`). What
each one does is the real-Pachyderm table of docs/envoy-parity.md; every test checks its row there.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import ssl
import subprocess
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest
from support.kubectl import on_cluster
from support.paths import bin_tool
from support.pfs_archive import archive_path
from support.playbook_runs import ansible_env, ansible_playbook
from support.proxy.parity import real_expectations
from support.sandboxes import running

from tools.sandbox import Sandbox
from tools.sandbox.pki import write_private
from tools.sandbox.s3 import s3_client as gateway_client

pytestmark = pytest.mark.slow

NAMESPACE = "pachyderm"
BIG = 256 * 1024 * 1024


CONFIGS = ("collection", "chart")
PARITY = real_expectations()


def kubectl(box: Sandbox, *args: str, check: bool = True) -> str:
    return on_cluster(box, str(bin_tool("kubectl")), *args, check=check).stdout


@pytest.fixture(scope="module")
def real_sandbox(tmp_path_factory):
    """A sandbox running Pachyderm for real: both configurations are deployed on it in turn."""
    root = Path(tmp_path_factory.mktemp("real-pachyderm"))
    with running(Sandbox(root, node_mode="real", pachyderm="real")) as box:
        yield box


@pytest.fixture(scope="module", params=CONFIGS)
def deployed(request, real_sandbox, tmp_path_factory):
    """site.yml's run with the local inventory and one proxy configuration (the collection's first)."""
    config = request.param
    work = Path(tmp_path_factory.mktemp(f"real-pachyderm-{config}"))
    pach_config = work / "pachctl.json"
    env = ansible_env(work, ONEPORT_SANDBOX_DIR=str(real_sandbox.root), PACH_CONFIG=str(pach_config))
    started = time.monotonic()
    run = ansible_playbook("site.yml", "-e", f"pachyderm_proxy_config={config}", env=env, timeout=1500)
    print(f"site.yml with the {config} configuration took {time.monotonic() - started:.0f}s")
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]
    address = (real_sandbox.root / "proxy-address").read_text().strip()
    return {
        "box": real_sandbox,
        "run": run,
        "address": address,
        "pach_config": pach_config,
        "work": work,
        "config": config,
    }


def expect(deployed, row: str, outcome: str) -> None:
    """The outcome must be the one docs/envoy-parity.md's real-Pachyderm table gives this configuration."""
    wanted = PARITY[row].expected(deployed["config"])
    assert outcome in PARITY[row].allowed(deployed["config"]), (
        f"{row}, through the {deployed['config']} configuration: {outcome!r}; the table says {wanted!r}"
    )


def answer(status: int, content_type: str, body: bytes) -> str:
    """An HTTP answer in the table's words: an S3 error by its code, the console's page, else the type."""
    text = body.decode(errors="replace")
    code = re.search(r"<Code>([^<]+)</Code>", text)
    if code:
        return f"{status} {code.group(1)} (S3 gateway)"
    if "<html" in text.lower() and "Pachyderm" in text:
        return f"{status} console page"
    return f"{status} {content_type.split(';')[0] or 'no body'}"


def fetch(request, context: ssl.SSLContext) -> tuple[int, str, bytes]:
    """Status, content type and body of a request, whatever its status."""
    try:
        with urllib.request.urlopen(request, context=context, timeout=60) as response:  # noqa: S310
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Content-Type", ""), err.read()


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
    write_private(config, json.dumps(data).encode())  # it holds the root token
    env = dict(os.environ, PACH_CONFIG=str(config))
    command = [str(bin_tool("pachctl")), *args]
    return subprocess.run(command, env=env, input=stdin, capture_output=True, timeout=timeout, check=False)


def test_the_verify_role_probed_real_pachd_through_the_one_port(deployed):
    out = deployed["run"].stdout
    table = out.split("Show the probe table", 1)[1].split("TASK [", 1)[0]
    passed = []
    for probe, answer_text in (
        ("grpc", "SERVING"),
        ("console", "200 text/html"),
        ("s3", "S3 error"),
        ("dex", f"https://{deployed['address']}/dex"),
        ("pachctl", "2.12.2"),
    ):
        row = table.split(f"- {probe} ", 1)[1].split("\n    - ", 1)[0]
        if " ok " in row and answer_text in " ".join(row.split()):
            passed.append(probe)
    assert (
        "Fail when a probe failed" in out and "skipping" in out.split("Fail when a probe failed", 1)[1][:200]
    ), table
    expect(deployed, "the verify role's five probes", f"{len(passed)} of 5 ok")


def test_pachctl_version_through_the_one_port_with_the_context_the_role_wrote(deployed):
    result = pachctl(deployed, "version", token=root_token(deployed["box"]))
    text = result.stdout.decode()
    server = text.split("pachd", 1)[1].split()[0] if result.returncode == 0 and "pachd" in text else ""
    expect(deployed, "pachctl version (gRPC, TLS)", f"pachd {server}" if server else result.stderr.decode())


def test_unauthenticated_calls_are_refused(deployed):
    result = pachctl(deployed, "list", "repo")
    error = result.stderr.decode().lower()
    refused = result.returncode != 0 and ("not authenticated" in error or "no authentication token" in error)
    expect(deployed, "pachctl list repo without a token", "refused, not authenticated" if refused else error)


def test_a_256_mib_file_goes_in_and_comes_back_with_the_same_digest(deployed, tmp_path):
    token = root_token(deployed["box"])
    repo = f"images-{deployed['config']}"
    created = pachctl(deployed, "create", "repo", repo, token=token)
    assert created.returncode == 0, created.stderr.decode()
    data = os.urandom(1024 * 1024) * (BIG // (1024 * 1024))
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    put = pachctl(deployed, "put", "file", f"{repo}@master:/big.bin", "-f", str(source), token=token)
    assert put.returncode == 0, put.stderr.decode()
    back = tmp_path / "back.bin"
    got = pachctl(deployed, "get", "file", f"{repo}@master:/big.bin", "-o", str(back), token=token)
    assert got.returncode == 0, got.stderr.decode()
    same = hashlib.sha256(back.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()
    expect(deployed, "256 MiB pachctl put file, get file", "same sha256" if same else "different sha256")


def s3_client(deployed, key: str, secret: str):
    ca = deployed["work"] / "ca.pem"
    ca.write_bytes(ca_pem(deployed["box"]))
    return gateway_client(deployed["address"], key, secret, ca, retries={"max_attempts": 1})


def s3_bucket(deployed) -> tuple[str, str]:
    """A repo with a master branch (an S3 bucket, `master.<repo>`) for this configuration, and the token."""
    token = root_token(deployed["box"])
    repo = f"s3data-{deployed['config']}"
    if pachctl(deployed, "inspect", "branch", f"{repo}@master", token=token).returncode != 0:
        # A bucket is a branch of a repo: a new repo's master branch exists once made (or first written).
        for step in (("create", "repo", repo), ("create", "branch", f"{repo}@master")):
            made = pachctl(deployed, *step, token=token)
            assert made.returncode == 0, made.stderr.decode()
    return f"master.{repo}", token


def test_the_s3_gateway_takes_signed_puts_gets_and_a_multipart_upload(deployed):
    bucket, token = s3_bucket(deployed)
    s3 = s3_client(deployed, token, token)
    s3.put_object(Bucket=bucket, Key="hello.txt", Body=b"hello, one port")
    same = s3.get_object(Bucket=bucket, Key="hello.txt")["Body"].read() == b"hello, one port"
    expect(deployed, "S3 SigV4 put and get", "same bytes" if same else "different bytes")

    upload = s3.create_multipart_upload(Bucket=bucket, Key="parts.bin")
    parts = []
    chunks = [os.urandom(5 * 1024 * 1024), os.urandom(1024 * 1024)]
    for number, chunk in enumerate(chunks, start=1):
        uploaded = s3.upload_part(
            Bucket=bucket, Key="parts.bin", PartNumber=number, UploadId=upload["UploadId"], Body=chunk
        )
        parts.append({"PartNumber": number, "ETag": uploaded["ETag"]})
    s3.complete_multipart_upload(
        Bucket=bucket, Key="parts.bin", UploadId=upload["UploadId"], MultipartUpload={"Parts": parts}
    )
    same = s3.get_object(Bucket=bucket, Key="parts.bin")["Body"].read() == b"".join(chunks)
    expect(deployed, "S3 multipart upload (5 MiB + 1 MiB)", "same bytes" if same else "different bytes")


@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_presigned_urls_are_answered_as_the_table_says(deployed, method):
    # Through the collection's proxy a query-signed URL goes to pachd's S3 gateway; the chart's own proxy
    # routes S3 by the authorization header alone, so it sends the URL to the console. pachd 2.12 verifies
    # only header-signed requests while auth is on, so the gateway answers AccessDenied, as S3 XML; a
    # presigned URL would carry the token (the secret key) in the clear.
    bucket, token = s3_bucket(deployed)
    s3 = s3_client(deployed, token, token)
    operation = "get_object" if method == "GET" else "put_object"
    url = s3.generate_presigned_url(operation, Params={"Bucket": bucket, "Key": "hello.txt"})
    request = urllib.request.Request(url, data=b"x" if method == "PUT" else None, method=method)  # noqa: S310
    context = ssl.create_default_context(cadata=ca_pem(deployed["box"]).decode())
    expect(deployed, f"S3 presigned {method}", answer(*fetch(request, context)))


def test_a_wrong_s3_key_is_refused(deployed):
    from botocore.exceptions import ClientError

    s3 = s3_client(deployed, "wrong", "wrong")
    try:
        s3.list_buckets()
        outcome = "accepted"
    except ClientError as err:
        status = err.response["ResponseMetadata"]["HTTPStatusCode"]
        outcome = f"{status} {err.response['Error']['Code']} (S3 gateway)"
    expect(deployed, "S3 with a wrong key", outcome)


@pytest.fixture
def note(deployed) -> tuple[str, str]:
    """A repo holding note.txt ("a note") for this configuration, and the root token."""
    token = root_token(deployed["box"])
    repo = f"notes-{deployed['config']}"
    if pachctl(deployed, "inspect", "repo", repo, token=token).returncode != 0:
        made = pachctl(deployed, "create", "repo", repo, token=token)
        assert made.returncode == 0, made.stderr.decode()
        put = pachctl(
            deployed, "put", "file", f"{repo}@master:/note.txt", "-f", "-", token=token, stdin=b"a note"
        )
        assert put.returncode == 0, put.stderr.decode()
    return repo, token


def download(deployed, path: str, token: str | None) -> tuple[int, str, bytes]:
    """GET `path` through the one port, with pachd's `authn-token` header when a token is given."""
    context = ssl.create_default_context(cadata=ca_pem(deployed["box"]).decode())
    url = f"https://{deployed['address']}{path}"
    return fetch(urllib.request.Request(url, headers={"authn-token": token} if token else {}), context)


@pytest.mark.parametrize("with_token", [True, False], ids=["token", "no-token"])
def test_a_file_downloads_from_pfs_with_a_token_and_not_without(deployed, note, with_token):
    # pachd's browser-facing file server, through the one port, as the console's download links use it.
    repo, token = note
    status, content_type, body = download(
        deployed, f"/pfs/default/{repo}/master/note.txt", token if with_token else None
    )
    outcome = "200 the file" if (status, body) == (200, b"a note") else answer(status, content_type, body)
    expect(deployed, f"/pfs/ download {'with a token' if with_token else 'without a token'}", outcome)


@pytest.mark.parametrize("with_token", [True, False], ids=["token", "no-token"])
def test_an_archive_downloads_as_a_zip_with_a_token_and_only_an_error_without(deployed, note, with_token):
    # The console's "download" button: /archive/<the files, encoded>.zip on pachd's HTTP port.
    repo, token = note
    path = archive_path([f"default/{repo}@master:/note.txt"])
    status, content_type, body = download(deployed, path, token if with_token else None)
    if status == 200 and content_type == "application/zip":
        archive = zipfile.ZipFile(io.BytesIO(body))
        names = [name.rsplit("/", 1)[-1] for name in archive.namelist()]
        if names == ["note.txt"]:
            assert archive.read(archive.namelist()[0]) == b"a note"
        outcome = f"200 ZIP of {', '.join(names)}"
    else:
        outcome = answer(status, content_type, body)
    expect(deployed, f"/archive/ ZIP {'with a token' if with_token else 'without a token'}", outcome)


def test_the_console_page_and_its_api_answer(deployed):
    context = ssl.create_default_context(cadata=ca_pem(deployed["box"]).decode())
    home = urllib.request.Request(f"https://{deployed['address']}/")
    expect(deployed, "console page /", answer(*fetch(home, context)))
    request = urllib.request.Request(
        f"https://{deployed['address']}/api/versionpb_v2.API/GetVersion",
        data=b"{}",
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    status, content_type, body = fetch(request, context)
    if status == 200:
        version = json.loads(body)
        outcome = f"200 pachd {version.get('major')}.{version.get('minor')}"
    else:
        outcome = answer(status, content_type, body)
    expect(deployed, "console's /api/ call (GetVersion)", outcome)


# The databases behind pachd do not depend on the proxy configuration: checked once, on the first one.
ONCE = pytest.mark.parametrize("deployed", ["collection"], indirect=True)


@ONCE
def test_postgres_refuses_a_wrong_password(deployed):
    result = on_cluster(
        deployed["box"],
        str(bin_tool("kubectl")),
        *("-n", NAMESPACE, "exec", "statefulset/postgres", "--", "/bin/sh", "-c"),
        "PGPASSWORD=wrong psql -h 127.0.0.1 -U pachyderm -d pachyderm -c 'select 1'",
    )
    assert result.returncode != 0
    assert "password authentication failed" in result.stderr


@ONCE
def test_a_restarted_postgres_keeps_pachyderms_data_without_initialising_again(deployed):
    box, token = deployed["box"], root_token(deployed["box"])
    repo = "kept-across-restarts"
    for step in (("create", "repo", repo), ("put", "file", f"{repo}@master:/kept.txt", "-f", "-")):
        made = pachctl(deployed, *step, token=token, stdin=b"kept")
        assert made.returncode == 0, made.stderr.decode()
    before = json.loads(kubectl(box, "-n", NAMESPACE, "get", "pod", "postgres-0", "-o", "json"))["metadata"]
    kubectl(box, "-n", NAMESPACE, "delete", "pod", "postgres-0", "--wait=true")
    deadline = time.monotonic() + 180
    while True:  # the StatefulSet makes a new postgres-0
        ready = on_cluster(
            box,
            str(bin_tool("kubectl")),
            *("-n", NAMESPACE, "wait", "--for=condition=Ready", "pod/postgres-0", "--timeout=5s"),
        )
        if ready.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert ready.returncode == 0, ready.stderr
    after = json.loads(kubectl(box, "-n", NAMESPACE, "get", "pod", "postgres-0", "-o", "json"))["metadata"]
    assert after["uid"] != before["uid"]
    assert "initialising" not in kubectl(box, "-n", NAMESPACE, "logs", "postgres-0")
    # pachd finds its metadata again through pgbouncer once the database is back.
    while True:
        got = pachctl(deployed, "get", "file", f"{repo}@master:/kept.txt", token=token, timeout=60)
        if got.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert (got.returncode, got.stdout) == (0, b"kept"), got.stderr.decode()


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
    # Ours refuses quickly, never a hang; the table says what the chart's health checks allow.
    expect(
        deployed,
        "gRPC with the pachd pod deleted",
        f"{code} in {'under 2 s' if took < 2 else f'{took:.0f} s'}",
    )
    kubectl(box, "-n", NAMESPACE, "rollout", "status", "deployment/pachd", "--timeout=180s")
    waited = time.monotonic()
    while health(deployed, 10)[0] != "OK" and time.monotonic() - waited < 60:
        time.sleep(1)
    result = pachctl(deployed, "list", "repo", token=root_token(box))
    # pachd's HTTP routes (Dex, the OIDC callback, file downloads) come back too: a proxy whose health
    # checks still hold the new pod out answers them with its own 503 meanwhile.
    unanswered = http_routes_held_out(deployed, within=90)
    if result.returncode != 0:
        outcome = "gRPC not back within 60 s"
    elif unanswered:
        outcome = f"{', '.join(unanswered)} not back within 90 s"
    else:
        outcome = "flow, proxy untouched"
    expect(deployed, "gRPC, Dex and the callback once the new pachd pod is ready", outcome)


PACHD_HTTP_ROUTES = {
    "Dex": "/dex/.well-known/openid-configuration",
    "the OIDC callback": "/authorization-code/callback",
    "/pfs/": "/pfs/",
}


def http_routes_held_out(deployed, within: float) -> list[str]:
    """pachd's HTTP routes still answered by the proxy's own 503 after `within` seconds (none: all back)."""
    context = ssl.create_default_context(cadata=ca_pem(deployed["box"]).decode())
    started = time.monotonic()
    while True:
        held_out = [
            name
            for name, path in PACHD_HTTP_ROUTES.items()
            if fetch(urllib.request.Request(f"https://{deployed['address']}{path}"), context)[0] == 503
        ]
        waited = time.monotonic() - started
        if not held_out or waited > within:
            state = ", ".join(held_out) or "all back"
            print(f"pachd's HTTP routes through the {deployed['config']} proxy after {waited:.0f} s: {state}")
            return held_out
        time.sleep(1)


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
        try:
            with opener.open(action, data=urllib.parse.urlencode(fields).encode(), timeout=30) as page:
                where, body = page.geturl(), page.read().decode()
        except urllib.error.HTTPError as err:
            # Name the hop that failed (Dex's form or the redirect to pachd's callback) and what answered.
            answered = f"{err.code} from {err.url}: {err.read()[:300]!r} {dict(err.headers)}"
            raise AssertionError(answered) from err
    return body


def test_pachctl_auth_login_through_dex_with_the_mock_identity_provider(deployed):
    config = deployed["work"] / "pachctl-login.json"
    data = json.loads(deployed["pach_config"].read_text())
    data["v2"]["metrics"] = False
    write_private(config, json.dumps(data).encode())  # the login stores its session token here
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
    who = re.search(r'You are "([^"]+)"', whoami.stdout)
    expect(
        deployed, "pachctl auth login through Dex (mock IdP)", who.group(1) if who else whoami.stderr.strip()
    )


def test_the_table_has_exactly_the_rows_these_tests_check():
    rows = (
        "the verify role's five probes",
        "pachctl version (gRPC, TLS)",
        "pachctl list repo without a token",
        "256 MiB pachctl put file, get file",
        "S3 SigV4 put and get",
        "S3 multipart upload (5 MiB + 1 MiB)",
        "S3 presigned GET",
        "S3 presigned PUT",
        "S3 with a wrong key",
        "/pfs/ download with a token",
        "/pfs/ download without a token",
        "/archive/ ZIP with a token",
        "/archive/ ZIP without a token",
        "console page /",
        "console's /api/ call (GetVersion)",
        "gRPC with the pachd pod deleted",
        "gRPC, Dex and the callback once the new pachd pod is ready",
        "pachctl auth login through Dex (mock IdP)",
    )
    assert sorted(PARITY) == sorted(rows)
    for row in PARITY.values():
        assert (row.reference == row.ours) == (not row.why), f"{row.traffic}: a difference needs its why"
