"""The memory bounds docs/envoy.md states hold in the pinned Envoy with a real gRPC client and backend.

Four client-streaming uploads share one HTTP/2 connection to a backend that never reads. What Envoy
accepts from the client (its `downstream_cx_rx_bytes_total` counter, read once it stops growing) is
what it now holds. The bound: the connection window, plus about one upstream stream window per
stream already passed on towards the backend.
"""

from __future__ import annotations

import threading
import time
from concurrent import futures

import grpc
import pytest
from support.envoy import Envoy
from support.ports import free_port

from ansible_collections.oneport.pachyderm.plugins.module_utils.envoy_config import render_bootstrap

MIB = 1024 * 1024
STREAMS = 4


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


def stat(envoy: Envoy, name: str) -> int:
    return int(envoy.admin(f"/stats?filter=^{name}$").split(":")[1])


def bytes_held_from_one_client(tmp_path, backend_port, limits) -> int:
    http_port = free_port()
    description = {
        "listen_address": "127.0.0.1",
        "http_port": http_port,
        "admin": {"port": free_port()},
        "readiness": {"port": free_port()},
        "backends": {"pachd_grpc": {"host": "127.0.0.1", "port": backend_port}},
        "limits": limits,
    }
    with (
        Envoy(render_bootstrap(description), tmp_path, "memory-bounds") as envoy,
        grpc.insecure_channel(f"127.0.0.1:{http_port}") as channel,
    ):
        upload = channel.stream_unary("/oneport.Stalled/Upload")
        chunk = b"x" * MIB
        calls = [upload.future(iter([chunk] * 64), timeout=120) for stream in range(STREAMS)]

        # Wait until Envoy stops accepting: the counter is unchanged for three seconds (or give up
        # waiting after a minute and judge what was received by then).
        received, steady_since, give_up = -1, time.monotonic(), time.monotonic() + 60
        while time.monotonic() - steady_since < 3 and time.monotonic() < give_up:
            now = stat(envoy, "http.http.downstream_cx_rx_bytes_total")
            if now != received:
                received, steady_since = now, time.monotonic()
            time.sleep(0.25)
        for call in calls:
            call.cancel()
        return received


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
