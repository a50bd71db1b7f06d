"""Small real backends on loopback and a real Envoy in front of them, for the probe and edge tests.

The backends speak the real protocols: a grpcio server with the standard grpc.health.v1 service, moto's
S3 server (real S3 XML, SigV4 parsing), an HTTP console page and a Dex discovery document. Envoy is the
pinned bin/envoy, started with a dynamic base id so several Envoys on one machine never share memory.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import ipaddress
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import typing
import urllib.request
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

REPO = Path(__file__).resolve().parents[2]
CONSOLE_PAGE = (
    b"<!DOCTYPE html><html><head><title>Pachyderm Console</title></head><body>console</body></html>"
)


def envoy_binary() -> str:
    """The pinned Envoy of `make setup`, else one on PATH."""
    local = REPO / "bin" / "envoy"
    return str(local) if local.exists() else (shutil.which("envoy") or "")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


PACHD_VERSION = (2, 12, 2)
CLUSTER_ID = "oneport-test-cluster"
DEPLOYMENT_ID = "oneport-test-deployment"


def _protobuf_string(field: int, text: str) -> bytes:
    data = text.encode()
    return bytes([(field << 3) | 2, len(data)]) + data


def _get_version(_request, _context) -> bytes:
    """versionpb_v2.Version{major, minor, micro}: fields 1-3, varints."""
    major, minor, micro = PACHD_VERSION
    return bytes([0x08, major, 0x10, minor, 0x18, micro])


def _inspect_cluster(_request, _context) -> bytes:
    """admin_v2.ClusterInfo{id, deployment_id}: fields 1 and 2, strings."""
    return _protobuf_string(1, CLUSTER_ID) + _protobuf_string(2, DEPLOYMENT_ID)


class GrpcHealthBackend:
    """pachd's gRPC face as far as the probes need it.

    A stand-in for pachd, which cannot run here: the real grpc.health.v1 service, and the two calls
    `pachctl version` makes (admin_v2.API/InspectCluster, versionpb_v2.API/GetVersion) answered with
    protobuf messages encoded by hand, field numbers as in Pachyderm's .proto files.
    """

    def __init__(self):
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self.health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self.server.add_generic_rpc_handlers(
            (
                grpc.method_handlers_generic_handler(
                    "versionpb_v2.API", {"GetVersion": grpc.unary_unary_rpc_method_handler(_get_version)}
                ),
                grpc.method_handlers_generic_handler(
                    "admin_v2.API", {"InspectCluster": grpc.unary_unary_rpc_method_handler(_inspect_cluster)}
                ),
            )
        )
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.health.set("", health_pb2.HealthCheckResponse.SERVING)

    def start(self):
        self.server.start()
        return self

    def stop(self):
        self.server.stop(grace=None)


class _Handler(BaseHTTPRequestHandler):
    routes: typing.ClassVar[dict] = {}

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        for prefix, (content_type, body) in self.routes.items():
            if path == prefix or (prefix.endswith("/") and path.startswith(prefix)):
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
        self.send_error(404)

    def log_message(self, *args):
        pass


class HttpBackend:
    """An HTTP server answering fixed documents by path prefix (a prefix ending in / matches below it)."""

    def __init__(self, routes: dict):
        handler = type("Handler", (_Handler,), {"routes": routes})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def console_backend() -> HttpBackend:
    return HttpBackend({"/": ("text/html; charset=utf-8", CONSOLE_PAGE), "/health": ("text/plain", b"ok")})


def dex_backend(issuer: str) -> HttpBackend:
    document = json.dumps(
        {
            "issuer": issuer,
            "authorization_endpoint": issuer + "/auth",
            "token_endpoint": issuer + "/token",
            "jwks_uri": issuer + "/keys",
        }
    ).encode()
    return HttpBackend({"/dex/.well-known/openid-configuration": ("application/json", document)})


class S3Backend:
    """moto's S3 server: real S3 XML answers to signed requests."""

    def __init__(self):
        from moto.server import ThreadedMotoServer

        self.port = free_port()
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)

    def start(self):
        from moto import settings

        # moto's signature checking is process-wide; another suite's S3 server may have turned it on.
        # This backend answers any well-formed signature, so the probes' own credentials work.
        self._saved_count = settings.INITIAL_NO_AUTH_ACTION_COUNT
        settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")
        self.server.start()
        return self

    def stop(self):
        from moto import settings

        self.server.stop()
        settings.INITIAL_NO_AUTH_ACTION_COUNT = self._saved_count


def loopback_config(reference: dict, ports: dict, listen_port: int, admin_port: int) -> dict:
    """Pachyderm's reference Envoy config with its backends moved to loopback ports.

    Only the one port's listener is kept; each cluster points at 127.0.0.1:<ports[cluster]> (an unused
    port when the test starts no backend for it), and active health checks are dropped so the test
    decides which backend is up.
    """
    config = copy.deepcopy(reference)
    config["admin"]["address"] = {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}
    config["admin"].pop("access_log", None)
    listeners = [lst for lst in config["static_resources"]["listeners"] if lst["name"] == "proxy-http"]
    listeners[0]["address"] = {"socket_address": {"address": "127.0.0.1", "port_value": listen_port}}
    config["static_resources"]["listeners"] = listeners
    for cluster in config["static_resources"]["clusters"]:
        cluster.pop("health_checks", None)
        cluster["type"] = "static"
        cluster.pop("dns_lookup_family", None)
        cluster.pop("dns_refresh_rate", None)
        cluster.pop("dns_failure_refresh_rate", None)
        port = ports.get(cluster["name"]) or free_port()
        for group in cluster["load_assignment"]["endpoints"]:
            for endpoint in group["lb_endpoints"]:
                endpoint["endpoint"]["address"] = {
                    "socket_address": {"address": "127.0.0.1", "port_value": port}
                }
    return config


class EnvoyProcess:
    """bin/envoy with a config file; waits until the admin endpoint reports LIVE."""

    def __init__(self, config_path: Path, admin_port: int, log_path: Path):
        self.config_path = config_path
        self.admin_port = admin_port
        self.log_path = log_path
        self.process = None

    def start(self, timeout: float = 60.0):
        log = open(self.log_path, "ab")  # noqa: SIM115 - the process owns it until stop()
        self.process = subprocess.Popen(
            [
                envoy_binary(),
                "-c",
                str(self.config_path),
                "--use-dynamic-base-id",
                "--disable-hot-restart",
                "--log-level",
                "warning",
                "--concurrency",
                "1",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_ready(self.admin_port, timeout, self.process, self.log_path)
        return self

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def wait_ready(admin_port: int, timeout: float, process=None, log_path: Path | None = None) -> None:
    """Poll Envoy's admin /ready until LIVE; a dead process or the deadline raise with its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"envoy exited {process.returncode}: {_tail(log_path)}")
        url = f"http://127.0.0.1:{admin_port}/ready"
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
            if response.read().strip() == b"LIVE":
                return
        time.sleep(0.2)
    raise RuntimeError(f"envoy not ready after {timeout}s: {_tail(log_path)}")


def _tail(path: Path | None) -> str:
    if path is None or not path.exists():
        return ""
    return path.read_text(errors="replace")[-2000:]


def write_json(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data, indent=2))
    os.chmod(path, 0o600)
    return path


def issue_certificate(directory):
    """A CA and a server certificate for edge.oneport.test and 127.0.0.1; returns (ca path, chain, key)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "oneport edge test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "edge.oneport.test")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("edge.oneport.test"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path = directory / "ca.crt"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    chain = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return ca_path, chain, key_pem
