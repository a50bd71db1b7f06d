"""The edge_proxy role for real: bin/envoy installed into a temporary prefix, supervised by the test.

The machine has no systemd as PID 1, so the role runs with `edge_proxy_service_manager: none` and the
test supervises the run script the role writes, exactly as systemd would run the unit's ExecStart. The
configuration is the role's own: the description built from its variables, rendered by the
envoy_config filter. The console backend streams slowly, so a hot restart can be watched while a
response is in flight; the other backends point at a closed port until a test moves one.
"""

from __future__ import annotations

import grp
import http.client
import json
import os
import pwd
import random
import shutil
import signal
import stat
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from support.backends import GrpcBackend
from support.certs import TestCA
from support.envoy import envoy_binary, find_envoy, wait_ready
from support.playbook_runs import run_playbook
from support.ports import free_port

from ansible_collections.oneport.pachyderm.plugins.module_utils import oneport_probe as probe

pytestmark = pytest.mark.skipif(not find_envoy(), reason="envoy not installed: run `make setup`")

CHUNK_INTERVAL = 0.2
STREAM_STOP = threading.Event()


class _Streaming(BaseHTTPRequestHandler):
    """`/stream` sends a numbered line every CHUNK_INTERVAL until STREAM_STOP, then `end`."""

    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path != "/stream":
            body = b"<html><body>console</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        index = 0
        while not STREAM_STOP.is_set() and index < 1500:
            self._chunk(f"chunk {index}\n".encode())
            index += 1
            time.sleep(CHUNK_INTERVAL)
        self._chunk(b"end\n")
        self.wfile.write(b"0\r\n\r\n")

    def _chunk(self, data):
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def streaming_backend():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Streaming)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    STREAM_STOP.set()
    server.shutdown()
    server.server_close()


class Edge:
    """One installation of the role into a prefix, and the ansible-playbook runs against it."""

    def __init__(self, repo, prefix, backend_port):
        self.repo = repo
        self.prefix = prefix
        self.backend_port = backend_port
        self.listen_port = free_port()
        self.admin_port = free_port()
        user = pwd.getpwuid(os.getuid()).pw_name
        group = grp.getgrgid(os.getgid()).gr_name
        self.vars = {
            "edge_proxy_service_manager": "none",
            "edge_proxy_create_user": False,
            "edge_proxy_user": user,
            "edge_proxy_group": group,
            "edge_proxy_envoy_local_path": envoy_binary(),
            "edge_proxy_install_dir": str(prefix / "opt"),
            "edge_proxy_config_dir": str(prefix / "etc"),
            "edge_proxy_cert_dir": str(prefix / "etc" / "tls"),
            "edge_proxy_run_dir": str(prefix / "run"),
            "edge_proxy_unit_dir": str(prefix / "systemd"),
            # A base id of our own: hot-restart shared memory never meets another Envoy on this machine.
            "edge_proxy_base_id": random.randint(1000, 2**30),
            "edge_proxy_drain_seconds": 2,
            "edge_proxy_listen_address": "127.0.0.1",
            "edge_proxy_http_port": self.listen_port,
            "edge_proxy_admin_port": self.admin_port,
            "edge_proxy_readiness_port": free_port(),
            "edge_proxy_upstream_host": "127.0.0.1",
            "edge_proxy_upstream_port": free_port(),  # nothing listens there
            "edge_proxy_upstream_ports": {"console": backend_port},
        }
        self.playbook = prefix / "edge.yml"
        self.playbook.write_text(
            "- hosts: sandbox\n  gather_facts: false\n  roles:\n    - oneport.pachyderm.edge_proxy\n"
        )
        self.supervised = None

    def converge(self, *args, **overrides):
        return run_playbook(self.playbook, {**self.vars, **overrides}, self.prefix, *args)

    @property
    def config_file(self):
        return self.prefix / "etc" / "envoy.json"

    def supervise(self):
        """Run the script the role wrote, as a service manager would."""
        log = open(self.prefix / "supervised.log", "ab")  # noqa: SIM115 - closed with the process
        self.supervised = subprocess.Popen(
            [str(self.prefix / "opt" / "oneport-envoy-run")],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log_path = self.prefix / "supervised.log"
        admin = f"http://127.0.0.1:{self.admin_port}"
        wait_ready(admin, 60, self.supervised, lambda: log_path.read_text(errors="replace")[-2000:])

    def stop(self):
        if self.supervised and self.supervised.poll() is None:
            self.supervised.send_signal(signal.SIGTERM)
            try:
                self.supervised.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(self.supervised.pid, signal.SIGKILL)
                self.supervised.wait()

    def server_info(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}/server_info", timeout=5) as response:
            return json.loads(response.read())

    def get(self, path="/"):
        conn = http.client.HTTPConnection("127.0.0.1", self.listen_port, timeout=10)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()


@pytest.fixture(scope="module")
def edge(repo_root, streaming_backend, tmp_path_factory):
    installed = Edge(repo_root, tmp_path_factory.mktemp("edge"), streaming_backend)
    result = installed.converge()
    assert result.returncode == 0, result.stdout + result.stderr
    installed.supervise()
    yield installed
    installed.stop()


def test_role_installs_the_pinned_binary_and_envoy_serves_through_the_run_script(edge):
    binary = edge.prefix / "opt" / "envoy-1.40.0"
    assert binary.is_file() and os.access(binary, os.X_OK)
    status, _headers, body = edge.get("/")
    assert (status, body) == (200, b"<html><body>console</body></html>")


def test_second_run_changes_nothing(edge):
    result = edge.converge()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "changed=0" in result.stdout


def test_check_mode_changes_nothing(edge):
    result = edge.converge("--check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "changed=0" in result.stdout


def test_a_config_envoy_rejects_never_replaces_the_running_one(edge):
    before = edge.config_file.read_bytes()
    epoch_before = edge.server_info()["command_line_options"]["restart_epoch"]
    # A bootstrap the description model would never produce: a route to a cluster that is gone.
    broken = json.loads(before)
    broken["static_resources"]["clusters"] = [
        c for c in broken["static_resources"]["clusters"] if c["name"] != "console"
    ]
    result = edge.converge(edge_proxy_bootstrap=broken)
    assert result.returncode != 0
    assert "failed to validate" in result.stdout
    assert edge.config_file.read_bytes() == before
    assert edge.server_info()["command_line_options"]["restart_epoch"] == epoch_before
    assert edge.get("/")[0] == 200


def test_a_config_change_hot_restarts_envoy_while_an_established_stream_survives(edge):
    epoch_before = edge.server_info()["command_line_options"]["restart_epoch"]
    lines = []  # (arrival time, line)
    outcome = {}
    STREAM_STOP.clear()

    def stream():
        conn = http.client.HTTPConnection("127.0.0.1", edge.listen_port, timeout=60)
        try:
            conn.request("GET", "/stream")
            response = conn.getresponse()
            outcome["status"] = response.status
            while line := response.readline():
                lines.append((time.monotonic(), line.decode().strip()))
        except Exception as exc:
            outcome["error"] = repr(exc)
        finally:
            conn.close()

    reader = threading.Thread(target=stream)
    reader.start()
    try:
        deadline = time.monotonic() + 10
        while not lines:  # the stream is established and flowing before the configuration changes
            assert time.monotonic() < deadline, "the stream did not start"
            time.sleep(0.1)
        assert edge.get("/api/v1")[0] == 503  # pachd_http points at the closed port
        moved = {"console": edge.backend_port, "pachd_http": edge.backend_port}
        result = edge.converge(edge_proxy_upstream_ports=moved)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Hot-restart Envoy under the external supervisor" in result.stdout

        deadline = time.monotonic() + 30
        while edge.server_info()["command_line_options"]["restart_epoch"] == epoch_before:
            assert time.monotonic() < deadline, "no new Envoy epoch took over"
            time.sleep(0.2)
        took_over = time.monotonic()
        assert edge.get("/api/v1")[0] == 200  # the new Envoy routes pachd_http to the backend
        # Past the old Envoy's drain time (2 s), before its parent-shutdown time (17 s).
        time.sleep(4)
    finally:
        STREAM_STOP.set()
        reader.join(timeout=30)
    edge.vars["edge_proxy_upstream_ports"] = moved

    assert "error" not in outcome, outcome.get("error")
    assert outcome["status"] == 200
    texts = [text for _arrived, text in lines]
    assert texts[-1] == "end"
    assert texts[:-1] == [f"chunk {i}" for i in range(len(texts) - 1)], "the stream lost or reordered data"
    assert any(arrived > took_over + 3 for arrived, _text in lines), "the stream did not outlive the restart"


def test_tls_certificate_files_are_private_to_envoy_and_serve_https_and_grpc(edge, request):
    ca = TestCA("oneport edge test CA")
    chain, key_pem, _serial = ca.issue(names=("edge.oneport.test",), ips=("127.0.0.1",))
    chain, key_pem, ca_path = chain.decode(), key_pem.decode(), ca.write_ca(edge.prefix)
    https_port = free_port()
    epoch_before = edge.server_info()["command_line_options"]["restart_epoch"]
    pachd = GrpcBackend().start()
    request.addfinalizer(pachd.stop)
    tls = {
        "edge_proxy_tls_cert": chain,
        "edge_proxy_tls_key": key_pem,
        "edge_proxy_https_port": https_port,
        "edge_proxy_upstream_ports": {**edge.vars["edge_proxy_upstream_ports"], "pachd_grpc": pachd.port},
    }
    result = edge.converge(**tls)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PRIVATE KEY" not in result.stdout + result.stderr

    for name in ("tls.crt", "tls.key"):
        info = (edge.prefix / "etc" / "tls" / name).stat()
        assert (stat.S_IMODE(info.st_mode), info.st_uid) == (0o600, os.getuid())
    deadline = time.monotonic() + 30
    while edge.server_info()["command_line_options"]["restart_epoch"] == epoch_before:
        assert time.monotonic() < deadline, "no new Envoy epoch took over"
        time.sleep(0.2)

    endpoint = probe.parse_endpoint(
        f"https://127.0.0.1:{https_port}", ca_file=str(ca_path), server_name="edge.oneport.test", timeout=5
    )
    result = probe.probe_console(endpoint)
    assert result.status == "ok", result.detail
    # gRPC over TLS, trusting the CA given as PEM text (as the verify role passes it from the Secret).
    endpoint = probe.parse_endpoint(
        f"https://127.0.0.1:{https_port}",
        server_name="edge.oneport.test",
        timeout=5,
        ca_pem=ca_path.read_text(),
    )
    result = probe.probe_grpc(endpoint)
    assert result.status == "ok", result.detail
    edge.vars.update(tls)


@pytest.mark.skipif(
    not shutil.which("systemd-analyze"), reason="systemd-analyze not installed (apt: systemd)"
)
def test_rendered_unit_passes_systemd_analyze_verify(edge):
    playbook = edge.prefix / "unit.yml"
    playbook.write_text(
        "- hosts: sandbox\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.include_role:\n        name: oneport.pachyderm.edge_proxy\n"
        "        tasks_from: unit.yml\n"
    )
    (edge.prefix / "systemd").mkdir(exist_ok=True)
    result = run_playbook(playbook, edge.vars, edge.prefix)
    assert result.returncode == 0, result.stdout + result.stderr
    unit = edge.prefix / "systemd" / "oneport-envoy.service"
    text = unit.read_text()
    for hardening in (
        "NoNewPrivileges=true",
        "ProtectSystem=strict",
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
    ):
        assert hardening in text
    verify = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
