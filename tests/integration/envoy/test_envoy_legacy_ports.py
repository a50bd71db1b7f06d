"""Legacy direct ports (30650-style) each carry their own service and nothing else."""

from __future__ import annotations

import pytest
from support.proxy import Proxy
from support.proxy.traffic import grpc_channel, grpc_unary, http_get, marker, who_got


def _on(proxy: Proxy, service: str) -> Proxy:
    """The same Envoy, addressed through one of its legacy ports."""
    return Proxy(proxy.kind, proxy.envoy, proxy.legacy[service], tls=proxy.tls)


HTTP_CASES = [
    ("identity", "/dex/.well-known/openid-configuration?p={probe}", "pachd-identity"),
    ("oidc", "/authorization-code/callback?code={probe}", "pachd-oidc"),
    ("metrics", "/metrics?p={probe}", "pachd-metrics"),
    ("pachd_http", "/archive/{probe}.zip", "pachd-http"),
    ("console", "/lineage/{probe}", "console"),
    ("console", "/dex/{probe}", "console"),
]


@pytest.mark.parametrize(
    ("service", "path", "backend"), HTTP_CASES, ids=[f"{c[0]}:{c[1]}" for c in HTTP_CASES]
)
def test_legacy_port_carries_its_service(service, path, backend, proxy, traffic):
    probe = marker()
    response = http_get(f"http://127.0.0.1:{proxy.legacy[service]}" + path.format(probe=probe), probe)
    assert response.status_code == 200
    assert who_got(traffic["recorder"], probe) == [backend]


# (legacy port, a request another service would get on the one port, that port's own backend)
OTHER_SERVICE = [
    ("grpc", "/dex/{probe}", "pachd-grpc"),
    ("s3", "/dex/{probe}", "pachd-s3"),
    ("identity", "/authorization-code/callback?code={probe}", "pachd-identity"),
    ("oidc", "/dex/{probe}", "pachd-oidc"),
    ("pachd_http", "/dex/{probe}", "pachd-http"),
]


@pytest.mark.parametrize(
    ("service", "path", "own"), OTHER_SERVICE, ids=[f"{c[0]}:{c[1]}" for c in OTHER_SERVICE]
)
def test_legacy_port_never_hands_request_to_another_service(service, path, own, proxy, traffic):
    """The reference answers 404 for what its port's routes don't match; ours hands everything on a
    legacy port to that port's backend (see docs/envoy-parity.md). Neither reaches another service."""
    probe = marker()
    response = http_get(f"http://127.0.0.1:{proxy.legacy[service]}" + path.format(probe=probe), probe)
    landed = who_got(traffic["recorder"], probe)
    if proxy.kind == "reference":
        assert (response.status_code, landed) == (404, [])
    else:
        assert landed in ([own], [])  # a gRPC backend refuses a plain GET before recording it


def test_legacy_grpc_port_carries_grpc(proxy, traffic):
    probe = marker()
    with grpc_channel(f"127.0.0.1:{proxy.legacy['grpc']}") as channel:
        assert grpc_unary(channel, probe) == b"pachd-grpc:" + probe.encode()
    assert who_got(traffic["recorder"], probe) == ["pachd-grpc"]


def test_legacy_s3_port_carries_s3(proxy, traffic):
    s3 = traffic["s3"].client(f"http://127.0.0.1:{proxy.legacy['s3']}")
    key = f"legacy/{proxy.kind}/{marker()}"
    s3.put_object(Bucket=traffic["bucket"], Key=key, Body=b"legacy")
    assert s3.get_object(Bucket=traffic["bucket"], Key=key)["Body"].read() == b"legacy"
    assert who_got(traffic["recorder"], key.rsplit("/", 1)[1]) == ["pachd-s3"]
