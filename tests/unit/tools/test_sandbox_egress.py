"""The sandbox's egress proxy: which CONNECT goes where, and that nothing off the machine is reached."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from tools.sandbox.egress import Proxy, decide, parse_connect, parse_serve, service_index
from tools.sandbox.relay import Endpoint, parse_endpoint

CIDR = "127.96.0.0/16"
SERVICES = [
    {
        "metadata": {"namespace": "metallb-system", "name": "metallb-webhook-service"},
        "spec": {"clusterIP": "127.96.0.20", "clusterIPs": ["127.96.0.20"], "ports": [{"port": 443}]},
    },
    {
        "metadata": {"namespace": "metallb-system", "name": "frr-k8s-webhook-service"},
        "spec": {"clusterIP": "127.96.0.21", "ports": [{"port": 443}]},
    },
    {
        "metadata": {"namespace": "x", "name": "headless"},
        "spec": {"clusterIP": "None", "ports": [{"port": 80}]},
    },
]
SERVE = dict([parse_serve("metallb-system/metallb-webhook-service:443=unix:/run/sbx/metallb-webhook.sock")])


def route(host, port, allow=frozenset()):
    return decide(
        host, port, service_cidr=CIDR, services=service_index(SERVICES), serve=SERVE, allow=set(allow)
    )


def test_a_served_webhook_service_is_relayed_to_its_local_socket():
    decision = route("127.96.0.20", 443)
    assert decision.target == Endpoint("unix", path="/run/sbx/metallb-webhook.sock")
    assert "metallb-system/metallb-webhook-service:443" in decision.reason


@pytest.mark.parametrize(
    ("host", "port", "why"),
    [
        ("127.96.0.21", 443, "no sandbox process serving it"),  # a Service nobody serves here
        ("127.96.0.20", 80, "no Service has ClusterIP"),  # a port the Service does not have
        ("10.244.0.7", 8080, "outside the machine"),  # a Pod IP
        ("10.96.0.1", 443, "outside the machine"),  # the old, non-loopback Service CIDR
        ("192.0.2.1", 443, "outside the machine"),
        ("::ffff:8.8.8.8", 443, "outside the machine"),
        ("127.0.0.1", 10250, "loopback but not a sandbox endpoint"),
        ("example.com", 443, "not an IP address"),
    ],
)
def test_everything_else_is_refused_with_the_reason(host, port, why):
    decision = route(host, port)
    assert decision.target is None
    assert why in decision.reason


def test_an_explicitly_allowed_loopback_endpoint_is_connected_to():
    assert route("127.0.0.1", 10250, allow={("127.0.0.1", 10250)}).target == Endpoint(
        "tcp", host="127.0.0.1", port=10250
    )


def test_headless_services_are_not_indexed():
    assert ("None", 80) not in service_index(SERVICES)


def test_connect_requests_are_parsed_and_anything_else_is_not():
    assert parse_connect(b"CONNECT 127.96.0.20:443 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n") == (
        "127.96.0.20",
        443,
    )
    assert parse_connect(b"CONNECT [::1]:443 HTTP/1.1\r\n\r\n") == ("::1", 443)
    for bad in (b"GET / HTTP/1.1\r\n\r\n", b"CONNECT host HTTP/1.1\r\n\r\n", b"CONNECT a:b HTTP/1.1\r\n\r\n"):
        with pytest.raises(ValueError):
            parse_connect(bad)


@pytest.mark.parametrize(
    "text",
    ["tcp:10.0.0.1:80", "tcp:0.0.0.0:80", "unix:relative.sock", "udp:127.0.0.1:53", "unix:/" + "a" * 120],
)
def test_endpoints_off_loopback_or_malformed_are_refused(text):
    with pytest.raises(ValueError):
        parse_endpoint(text)


def test_serve_mappings_are_checked():
    with pytest.raises(ValueError, match="NAMESPACE/NAME:PORT"):
        parse_serve("metallb-webhook-service=unix:/x.sock")


def test_the_proxy_relays_a_served_service_and_refuses_a_pod_ip(tmp_path):
    """End to end over real sockets: a CONNECT to the ClusterIP reaches the local server's socket."""

    async def scenario():
        backend = tmp_path / "backend.sock"

        async def echo(reader, writer):
            writer.write(b"hello " + await reader.readline())
            await writer.drain()
            writer.close()

        server = await asyncio.start_unix_server(echo, str(backend))
        args = SimpleNamespace(
            serve=[f"metallb-system/metallb-webhook-service:443=unix:{backend}"],
            allow=[],
            allow_network=[],
            service_cidr=CIDR,
            kubeconfig="unused",
        )
        proxy = Proxy(args, log=lambda _m: None)
        proxy._list_services = lambda: SERVICES
        front = await asyncio.start_unix_server(proxy.handle, str(tmp_path / "egress.sock"))

        async def connect(target: str) -> bytes:
            reader, writer = await asyncio.open_unix_connection(str(tmp_path / "egress.sock"))
            writer.write(f"CONNECT {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            status = await reader.readuntil(b"\r\n\r\n")
            if status.startswith(b"HTTP/1.1 200"):
                writer.write(b"apiserver\n")
                await writer.drain()
                status += await reader.read()
            writer.close()
            return status

        ok = await connect("127.96.0.20:443")
        refused = await connect("10.244.0.7:443")
        server.close()
        front.close()
        return ok, refused

    ok, refused = asyncio.run(scenario())
    assert ok.startswith(b"HTTP/1.1 200") and ok.endswith(b"hello apiserver\n")
    assert refused.startswith(b"HTTP/1.1 403") and b"outside the machine" in refused
