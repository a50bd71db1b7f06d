"""The memory bounds docs/envoy.md states hold in the pinned Envoy with a real gRPC client and backend.

Four client-streaming uploads share one HTTP/2 connection to a backend that never reads. What Envoy
accepts from the client (its `downstream_cx_rx_bytes_total` counter, read once it stops growing) is
what it now holds. The bound: the connection window, plus about one upstream stream window per
stream already passed on towards the backend.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from ansible_collections.oneport.pachyderm.plugins.module_utils.envoy_config import render_bootstrap

MIB = 1024 * 1024
REPO = Path(__file__).resolve().parents[3]
STREAMS = 4


def envoy_binary() -> str:
    pinned = REPO / "bin" / "envoy"
    if pinned.exists():
        return str(pinned)
    found = shutil.which("envoy")
    if not found:
        pytest.fail("envoy not found: run `make setup` (it links the pinned Envoy into bin/)")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def stalled_backend():
    """A gRPC server whose upload method never reads its request stream until the test ends."""
    release = threading.Event()

    def upload(request_iterator, context):
        release.wait(120)
        return b""

    handler = grpc.method_handlers_generic_handler(
        "oneport.Stalled", {"Upload": grpc.stream_unary_rpc_method_handler(upload)}
    )
    # Without BDP probing the backend keeps its small default window, so data piles up in Envoy.
    server = grpc.server(futures.ThreadPoolExecutor(STREAMS + 2), options=[("grpc.http2.bdp_probe", 0)])
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield port
    release.set()
    server.stop(0)


def stat(admin_port: int, name: str) -> int:
    url = f"http://127.0.0.1:{admin_port}/stats?filter=^{name}$"
    with urllib.request.urlopen(url, timeout=5) as response:
        return int(response.read().decode().split(":")[1])


def bytes_held_from_one_client(tmp_path, backend_port, limits) -> int:
    http_port, admin_port, ready_port = free_port(), free_port(), free_port()
    description = {
        "listen_address": "127.0.0.1",
        "http_port": http_port,
        "admin": {"port": admin_port},
        "readiness": {"port": ready_port},
        "backends": {"pachd_grpc": {"host": "127.0.0.1", "port": backend_port}},
        "limits": limits,
    }
    config = tmp_path / "envoy.json"
    config.write_text(json.dumps(render_bootstrap(description)))
    log = (tmp_path / "envoy.log").open("w")
    envoy = subprocess.Popen(
        [envoy_binary(), "-c", str(config), "--use-dynamic-base-id", "--concurrency", "1", "-l", "error"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    channel = None
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{ready_port}/ready", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or envoy.poll() is not None:
                    pytest.fail(f"Envoy did not become ready: {(tmp_path / 'envoy.log').read_text()}")
                time.sleep(0.1)

        channel = grpc.insecure_channel(f"127.0.0.1:{http_port}")
        upload = channel.stream_unary("/oneport.Stalled/Upload")
        chunk = b"x" * MIB
        calls = [upload.future(iter([chunk] * 64), timeout=120) for stream in range(STREAMS)]

        # Wait until Envoy stops accepting: the counter is unchanged for three seconds (or give up
        # waiting after a minute and judge what was received by then).
        received, steady_since, give_up = -1, time.monotonic(), time.monotonic() + 60
        while time.monotonic() - steady_since < 3 and time.monotonic() < give_up:
            now = stat(admin_port, "http.http.downstream_cx_rx_bytes_total")
            if now != received:
                received, steady_since = now, time.monotonic()
            time.sleep(0.25)
        for call in calls:
            call.cancel()
        return received
    finally:
        if channel is not None:
            channel.close()
        envoy.terminate()
        envoy.wait(timeout=30)
        log.close()


SMALL = {
    "stream_window_bytes": 16 * MIB,
    "connection_window_bytes": 16 * MIB,
    "upstream_stream_window_bytes": 1 * MIB,
    "upstream_connection_window_bytes": 64 * MIB,
    "max_heap_bytes": 512 * MIB,
}


def test_one_client_connection_is_held_to_its_connection_window(tmp_path, stalled_backend):
    received = bytes_held_from_one_client(tmp_path, stalled_backend, SMALL)

    bound = SMALL["connection_window_bytes"] + STREAMS * (SMALL["upstream_stream_window_bytes"] + 2 * MIB)
    assert SMALL["connection_window_bytes"] <= received <= bound
    assert received < STREAMS * SMALL["stream_window_bytes"]


def test_with_a_wide_connection_window_each_stream_is_held_to_its_stream_window(tmp_path, stalled_backend):
    limits = {**SMALL, "connection_window_bytes": 64 * MIB}

    received = bytes_held_from_one_client(tmp_path, stalled_backend, limits)

    bound = STREAMS * (SMALL["stream_window_bytes"] + SMALL["upstream_stream_window_bytes"] + 2 * MIB)
    assert STREAMS * SMALL["stream_window_bytes"] <= received <= bound
