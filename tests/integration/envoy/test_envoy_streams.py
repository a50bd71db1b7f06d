"""Streams through the one port are never cut by a timer while they are alive.

The long streams start together in the background (module fixture) so the suite waits for them once;
the tests that check them come last in this file.
"""

from __future__ import annotations

import pytest
from support.proxy.streams import Background, server_stream, upload, websocket_echo
from support.proxy.traffic import marker, who_got

# Longer than Envoy's 15 s default route timeout and than the 60 s the chart gives auth routes;
# the gap between messages is itself longer than 15 s.
STREAM_SECONDS = 80
TICK_INTERVAL = 16
WEBSOCKET_SECONDS = 65
UPLOAD_BYTES = 256 * 1024 * 1024
BOUND = 240  # only to fail instead of hanging


@pytest.fixture(scope="module")
def long_streams(reference_proxy, our_proxy):
    started = {}
    for proxy in (reference_proxy, our_proxy):
        probe = marker()
        address = f"127.0.0.1:{proxy.port}"
        stream = Background(
            f"{proxy.kind} server stream", server_stream, address, probe, STREAM_SECONDS, TICK_INTERVAL
        )
        websocket = Background(
            f"{proxy.kind} websocket",
            websocket_echo,
            f"ws://{address}/ws?probe={probe}",
            WEBSOCKET_SECONDS,
            2,
        )
        stream.start()
        websocket.start()
        started[proxy.kind] = {"probe": probe, "stream": stream, "websocket": websocket}
    return started


@pytest.mark.parametrize("kind", ["reference", "ours"])
def test_client_stream_upload_of_256_mib_arrives_intact(
    kind, long_streams, reference_proxy, our_proxy, traffic
):
    proxy = {"reference": reference_proxy, "ours": our_proxy}[kind]
    probe = marker()
    result = upload(f"127.0.0.1:{proxy.port}", probe, UPLOAD_BYTES)
    assert result["reply"] == {"sha256": result["sha256"], "size": UPLOAD_BYTES}
    assert who_got(traffic["recorder"], probe) == ["pachd-grpc"]


@pytest.mark.parametrize("kind", ["reference", "ours"])
def test_server_stream_outlives_route_timeout(kind, long_streams, traffic):
    result = long_streams[kind]["stream"].result(BOUND)
    assert result["duration"] >= STREAM_SECONDS - 1
    assert [tick["tick"] for tick in result["ticks"]] == list(range(STREAM_SECONDS // TICK_INTERVAL))
    assert who_got(traffic["recorder"], long_streams[kind]["probe"]) == ["console", "pachd-grpc"]


@pytest.mark.parametrize("kind", ["reference", "ours"])
def test_websocket_held_open_past_60s_echoes_every_message(kind, long_streams):
    result = long_streams[kind]["websocket"].result(BOUND)
    assert result["duration"] >= WEBSOCKET_SECONDS
    assert result["echoed"] == result["sent"] >= WEBSOCKET_SECONDS // 2 - 1
