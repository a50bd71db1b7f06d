"""A backend that is down gives a fast error, never a hang; when it returns, traffic flows again
without restarting Envoy."""

from __future__ import annotations

import time

import grpc
import pytest
import requests
from support.backends import ConsoleBackend, GrpcBackend
from support.ports import free_port
from support.proxy.traffic import grpc_channel, grpc_unary, marker, who_got

BOUND = 20  # seconds; only to fail instead of hanging


@pytest.fixture(scope="module")
def flaky(backend_ports, recorder, tmp_path_factory):
    """Our proxy whose console and gRPC backends point at ports where nothing listens yet."""
    from support.proxy.ours import start_ours

    ports = dict(backend_ports, **{"console": free_port(), "pachd-grpc": free_port()})
    proxy = start_ours(ports, tmp_path_factory.mktemp("ours-faults"), legacy=False)
    started = []
    yield proxy, ports, started
    for backend in started:
        backend.stop()
    proxy.stop()


def until(check, bound: float):
    """Retry check() until it returns without raising, up to bound seconds; return its value."""
    deadline = time.monotonic() + bound
    while True:
        try:
            return check()
        except (AssertionError, grpc.RpcError, requests.RequestException):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_http_backend_down_answers_503_fast(flaky):
    proxy = flaky[0]
    response = requests.get(proxy.url + "/", timeout=BOUND)
    assert response.status_code == 503


def test_grpc_backend_down_answers_unavailable_fast(flaky):
    proxy = flaky[0]
    with grpc_channel(f"127.0.0.1:{proxy.port}") as channel, pytest.raises(grpc.RpcError) as error:
        grpc_unary(channel, marker(), timeout=BOUND)
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "upstream" in error.value.details()  # Envoy's answer, not a client-side connect failure


def test_http_traffic_flows_when_backend_returns(flaky, recorder):
    proxy, ports, started = flaky
    started.append(ConsoleBackend(recorder, port=ports["console"]).start())
    probe = marker()

    def reaches_console():
        response = requests.get(proxy.url + f"/?p={probe}", timeout=BOUND)
        assert response.status_code == 200
        return response

    until(reaches_console, 60)
    assert "console" in who_got(recorder, probe)


def test_grpc_traffic_flows_when_backend_returns(flaky, recorder):
    proxy, ports, started = flaky
    started.append(GrpcBackend(recorder, port=ports["pachd-grpc"]).start())
    probe = marker()

    def reaches_pachd():
        with grpc_channel(f"127.0.0.1:{proxy.port}") as channel:
            return grpc_unary(channel, probe, timeout=BOUND)

    assert until(reaches_pachd, 60) == b"pachd-grpc:" + probe.encode()


def test_backend_going_away_again_gives_fast_error(flaky):
    proxy, started = flaky[0], flaky[2]
    for backend in started:
        backend.stop()
    started.clear()
    with grpc_channel(f"127.0.0.1:{proxy.port}") as channel, pytest.raises(grpc.RpcError) as error:
        grpc_unary(channel, marker(), timeout=BOUND)
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE
    assert requests.get(proxy.url + "/", timeout=BOUND).status_code == 503
