# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Probe the one port the way users hit it: gRPC health, console, S3 gateway, Dex, pachctl.

Plain Python: grpcio for the gRPC health check, botocore only to sign S3 requests (SigV4), the
standard library for HTTP. Every probe returns a ProbeResult; none raises for a failed check, so one
run reports every row of the table.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import ssl
import subprocess
import traceback
import urllib.parse
from dataclasses import asdict, dataclass
from xml.etree import ElementTree

from ansible_collections.oneport.pachyderm.plugins.module_utils.inputs import InputError

try:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    GRPC_IMPORT_ERROR = None
except ImportError:
    grpc = None
    GRPC_IMPORT_ERROR = traceback.format_exc()

try:
    from botocore.auth import S3SigV4QueryAuth, SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    BOTOCORE_IMPORT_ERROR = None
except ImportError:
    SigV4Auth = None
    BOTOCORE_IMPORT_ERROR = traceback.format_exc()

ALL_PROBES = ("grpc", "console", "s3", "s3_presigned", "dex", "pachctl")
# s3_presigned is opt-in: the proxy Pachyderm's chart ships routes S3 by the Authorization header
# only, so query-signed (presigned) URLs reach the console there; ask for it to prove a proxy that
# routes them.
DEFAULT_PROBES = ("grpc", "console", "s3", "dex", "pachctl")
# Credentials that only prove who answers: the gateway rejects them with an S3 error document.
DUMMY_ACCESS_KEY = "oneport-probe"
DUMMY_SECRET_KEY = "oneport-probe-not-a-secret"  # noqa: S105 - deliberately not a credential
S3_NAMESPACE = "{http://s3.amazonaws.com/doc/2006-03-01/}"
MAX_BODY = 256 * 1024


class ProbeInputError(InputError):
    """An option the probes cannot work with; the message names it and the fix."""


@dataclass
class ProbeResult:
    name: str
    status: str  # ok, failed, skipped
    target: str
    detail: str

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Endpoint:
    """Where the one port is: scheme (http/https), host to connect to, port, and TLS settings."""

    scheme: str
    host: str
    port: int
    ca_file: str = ""
    server_name: str = ""
    timeout: float = 10.0
    ca_pem: str = ""

    @property
    def tls(self) -> bool:
        return self.scheme == "https"

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def authority(self) -> str:
        """The Host header / TLS name users send: the server name when set, else host:port."""
        name = self.server_name or self.host
        default = 443 if self.tls else 80
        return name if self.port == default else f"{name}:{self.port}"


def parse_endpoint(
    url: str, ca_file: str = "", server_name: str = "", timeout: float = 10.0, ca_pem: str = ""
) -> Endpoint:
    """Read `http://host[:port]`, `https://host[:port]`, `grpc://`, `grpcs://` into an Endpoint."""
    if not isinstance(url, str) or "://" not in url:
        raise ProbeInputError(
            f"endpoint: {url!r} is not a URL; give scheme://host[:port], "
            "e.g. http://10.0.0.5:80 or https://pachyderm.example.com"
        )
    parsed = urllib.parse.urlsplit(url)
    scheme = {"grpc": "http", "grpcs": "https", "http": "http", "https": "https"}.get(parsed.scheme)
    if scheme is None:
        raise ProbeInputError(
            f"endpoint: scheme {parsed.scheme!r} in {url!r} is not supported; use http, https, grpc or grpcs"
        )
    if not parsed.hostname:
        raise ProbeInputError(f"endpoint: {url!r} has no host; give scheme://host[:port]")
    try:
        port = parsed.port or (443 if scheme == "https" else 80)
    except ValueError as exc:
        raise ProbeInputError(f"endpoint: {url!r} has a bad port ({exc}); use a number 1-65535") from None
    if ca_file and not os.path.isfile(ca_file):
        raise ProbeInputError(f"ca_file: {ca_file!r} does not exist; give the PEM file of the proxy's CA")
    if ca_pem and "-----BEGIN CERTIFICATE-----" not in ca_pem:
        raise ProbeInputError(
            "ca_pem: is not a PEM certificate; give the CA's PEM text (-----BEGIN CERTIFICATE-----)"
        )
    if timeout <= 0:
        raise ProbeInputError(f"timeout: {timeout!r} is not a positive number of seconds; give e.g. 10")
    return Endpoint(scheme, parsed.hostname, port, ca_file, server_name, timeout, ca_pem)


def endpoint_from_fact(fact: dict) -> str:
    """The URL to probe from the `oneport_proxy_endpoint` fact the pachyderm role publishes."""
    if not isinstance(fact, dict) or not fact.get("address"):
        raise ProbeInputError(
            f"oneport_proxy_endpoint: {fact!r} has no address; run the pachyderm role first "
            "or set the endpoint explicitly"
        )
    scheme = fact.get("scheme") or ("https" if fact.get("tls") else "http")
    port = fact.get("port") or (443 if scheme == "https" else 80)
    return f"{scheme}://{fact['address']}:{port}"


def _ssl_context(endpoint: Endpoint) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=endpoint.ca_file or None, cadata=endpoint.ca_pem or None)


def http_get(endpoint: Endpoint, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    """One GET through the one port; returns status, lower-cased headers and (at most MAX_BODY) body."""
    if endpoint.tls:
        conn = _SNIHTTPSConnection(endpoint)
    else:
        conn = http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=endpoint.timeout)
    try:
        send_headers = {"Host": endpoint.authority, "User-Agent": "oneport-probe"}
        send_headers.update(headers or {})
        conn.request("GET", path, headers=send_headers)
        response = conn.getresponse()
        body = response.read(MAX_BODY)
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        conn.close()


class _SNIHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, endpoint: Endpoint):
        super().__init__(
            endpoint.host, endpoint.port, timeout=endpoint.timeout, context=_ssl_context(endpoint)
        )
        # SNI and the certificate check use the name users type, while we connect to the address.
        self._server_name = endpoint.server_name or endpoint.host

    def connect(self):
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self._server_name)


def _describe_error(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text


def probe_grpc(endpoint: Endpoint) -> ProbeResult:
    """grpc.health.v1.Health/Check over h2c (http) or TLS with the given CA (https)."""
    target = f"{endpoint.host}:{endpoint.port}"
    if grpc is None:
        return ProbeResult("grpc", "failed", target, "the Python library grpcio is not installed")
    options = [("grpc.default_authority", endpoint.authority)]
    if endpoint.tls:
        root = endpoint.ca_pem.encode() if endpoint.ca_pem else None
        if endpoint.ca_file:
            with open(endpoint.ca_file, "rb") as handle:
                root = handle.read() + (root or b"")
        if endpoint.server_name:
            options.append(("grpc.ssl_target_name_override", endpoint.server_name))
        channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(root), options=options)
    else:
        channel = grpc.insecure_channel(target, options=options)
    try:
        stub = health_pb2_grpc.HealthStub(channel)
        reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=endpoint.timeout)
    except grpc.RpcError as exc:
        return ProbeResult("grpc", "failed", target, f"health check: {exc.code().name}: {exc.details()}")
    finally:
        channel.close()
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    if reply.status != health_pb2.HealthCheckResponse.SERVING:
        return ProbeResult("grpc", "failed", target, f"pachd answers health {status}, not SERVING")
    return ProbeResult("grpc", "ok", target, "grpc.health.v1 SERVING")


def probe_console(endpoint: Endpoint) -> ProbeResult:
    """GET / answers 200 with an HTML page (the console)."""
    target = endpoint.base_url + "/"
    try:
        status, headers, body = http_get(endpoint, "/", {"Accept": "text/html"})
    except (OSError, http.client.HTTPException) as exc:
        return ProbeResult("console", "failed", target, _describe_error(exc))
    content_type = headers.get("content-type", "")
    if status != 200:
        return ProbeResult(
            "console", "failed", target, f"HTTP {status} ({content_type or 'no content-type'})"
        )
    if "html" not in content_type and b"<html" not in body[:4096].lower():
        return ProbeResult("console", "failed", target, f"HTTP 200 but not HTML ({content_type})")
    return ProbeResult("console", "ok", target, f"HTTP 200 {content_type.split(';')[0]}")


def _s3_answer(status: int, headers: dict, body: bytes) -> tuple[bool, str]:
    """Did an S3 gateway answer? An S3 XML document (a result or <Error><Code>) says so."""
    content_type = headers.get("content-type", "no content-type").split(";")[0]
    not_s3 = f"HTTP {status} {content_type}: not an S3 answer, another backend (the console?) answered"
    try:
        root = ElementTree.fromstring(body)  # noqa: S314 - a bounded response we only read tags of
    except ElementTree.ParseError:
        return False, not_s3
    tag = root.tag.replace(S3_NAMESPACE, "")
    if tag == "Error" and root.findtext("Code"):
        return True, f"HTTP {status} S3 error {root.findtext('Code')}"
    if tag == "ListAllMyBucketsResult":
        count = len(root.findall(f".//{S3_NAMESPACE}Bucket")) + len(root.findall(".//Bucket"))
        return True, f"HTTP {status} ListAllMyBucketsResult, {count} bucket(s)"
    return False, not_s3


def _credentials(access_key: str, secret_key: str):
    return Credentials(access_key or DUMMY_ACCESS_KEY, secret_key or DUMMY_SECRET_KEY)


def _probe_s3(name: str, endpoint: Endpoint, access_key: str, secret_key: str, region: str, presigned: bool):
    """ListBuckets signed in the header (as SDKs send it) or in the query (a presigned URL)."""
    target = endpoint.base_url + "/"
    if SigV4Auth is None:
        return ProbeResult(name, "failed", target, "the Python library botocore is not installed")
    request = AWSRequest(method="GET", url=target, headers={"Host": endpoint.authority})
    credentials = _credentials(access_key, secret_key)
    if presigned:
        S3SigV4QueryAuth(credentials, "s3", region, expires=300).add_auth(request)
        url = urllib.parse.urlsplit(request.url)
        path, headers = f"{url.path}?{url.query}", {}
    else:
        SigV4Auth(credentials, "s3", region).add_auth(request)
        path, headers = "/", {k: v for k, v in request.headers.items() if k.lower() != "host"}
    try:
        status, response_headers, body = http_get(endpoint, path, headers)
    except (OSError, http.client.HTTPException) as exc:
        return ProbeResult(name, "failed", target, _describe_error(exc))
    ok, detail = _s3_answer(status, response_headers, body)
    return ProbeResult(name, "ok" if ok else "failed", target, detail)


def probe_s3(
    endpoint: Endpoint, access_key: str = "", secret_key: str = "", region: str = "us-east-1"
) -> ProbeResult:
    """A SigV4 header-signed ListBuckets, answered with S3 XML by the gateway, not the console."""
    return _probe_s3("s3", endpoint, access_key, secret_key, region, presigned=False)


def probe_s3_presigned(
    endpoint: Endpoint, access_key: str = "", secret_key: str = "", region: str = "us-east-1"
) -> ProbeResult:
    """A presigned (query-signed) ListBuckets URL, as S3 clients share them, answered by the gateway."""
    return _probe_s3("s3_presigned", endpoint, access_key, secret_key, region, presigned=True)


def probe_dex(endpoint: Endpoint) -> ProbeResult:
    """/dex/.well-known/openid-configuration is a JSON discovery document with an issuer."""
    path = "/dex/.well-known/openid-configuration"
    target = endpoint.base_url + path
    try:
        status, headers, body = http_get(endpoint, path, {"Accept": "application/json"})
    except (OSError, http.client.HTTPException) as exc:
        return ProbeResult("dex", "failed", target, _describe_error(exc))
    if status != 200:
        return ProbeResult("dex", "failed", target, f"HTTP {status} ({headers.get('content-type', '')})")
    try:
        document = json.loads(body)
    except ValueError:
        return ProbeResult("dex", "failed", target, "HTTP 200 but not JSON (another backend answered)")
    issuer = document.get("issuer") if isinstance(document, dict) else None
    if not isinstance(issuer, str) or not issuer:
        return ProbeResult("dex", "failed", target, "discovery document has no issuer")
    return ProbeResult("dex", "ok", target, f"issuer {issuer}")


def probe_pachctl(
    binary: str = "pachctl", context: str = "", config: str = "", timeout: float = 10.0
) -> ProbeResult:
    """`pachctl version` through the written context; skipped when pachctl is not installed."""
    path = shutil.which(binary) if binary else None
    if not path:
        return ProbeResult(
            "pachctl", "skipped", context or "active context", f"{binary or 'pachctl'} not found"
        )
    env = dict(os.environ)
    if config:
        env["PACH_CONFIG"] = config
    if context:
        env["PACH_CONTEXT"] = context
    target = context or "active context"
    try:
        completed = subprocess.run(
            [path, "version", "--timeout", f"{max(int(timeout), 1)}s"],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout + 5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return ProbeResult("pachctl", "failed", target, _describe_error(exc))
    output = (completed.stdout + completed.stderr).strip()
    if completed.returncode != 0:
        last = output.splitlines()[-1] if output else f"exit {completed.returncode}"
        return ProbeResult("pachctl", "failed", target, f"pachctl version: {last}")
    versions = [line.split() for line in completed.stdout.splitlines() if line.strip()]
    pachd = next((parts[1] for parts in versions if len(parts) > 1 and parts[0] == "pachd"), None)
    if pachd is None:
        return ProbeResult("pachctl", "failed", target, "pachctl version printed no pachd version")
    return ProbeResult("pachctl", "ok", target, f"pachd {pachd}")


def check_probe_names(probes) -> list:
    """The probes asked for, in the table's order; unknown names are an input error."""
    unknown = [p for p in probes if p not in ALL_PROBES]
    if unknown:
        raise ProbeInputError(f"probes: unknown {unknown}; choose from {list(ALL_PROBES)}")
    return [p for p in ALL_PROBES if p in probes]


def run_probes(
    endpoint: Endpoint,
    probes=DEFAULT_PROBES,
    s3_access_key: str = "",
    s3_secret_key: str = "",
    s3_region: str = "us-east-1",
    pachctl_binary: str = "pachctl",
    pachctl_context: str = "",
    pachctl_config: str = "",
) -> list:
    """Run the named probes against one endpoint; one ProbeResult per probe, in table order."""
    runners = {
        "grpc": lambda: probe_grpc(endpoint),
        "console": lambda: probe_console(endpoint),
        "s3": lambda: probe_s3(endpoint, s3_access_key, s3_secret_key, s3_region),
        "s3_presigned": lambda: probe_s3_presigned(endpoint, s3_access_key, s3_secret_key, s3_region),
        "dex": lambda: probe_dex(endpoint),
        "pachctl": lambda: probe_pachctl(pachctl_binary, pachctl_context, pachctl_config, endpoint.timeout),
    }
    return [runners[name]() for name in check_probe_names(probes)]


def format_table(results) -> list:
    """The results as aligned text lines: probe, status, target, detail."""
    rows = [("PROBE", "STATUS", "TARGET", "DETAIL")]
    rows += [(r.name, r.status, r.target, r.detail) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return [
        f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}".rstrip()
        for row in rows
    ]


def failure_summary(results) -> str:
    failed = [r for r in results if not r.ok]
    return "; ".join(f"{r.name}: {r.detail}" for r in failed)
