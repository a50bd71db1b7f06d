"""Every row of docs/envoy-parity.md, asserted through Pachyderm's reference config and through ours."""

from __future__ import annotations

import json
import time

import grpc
import pytest
from support.proxy.matrix import ROWS
from support.proxy.parity import expectations
from support.proxy.traffic import grpc_channel, grpc_unary, http_get, marker, raw_request, who_got

EXPECTATIONS = expectations()
# "deployed" is the in-cluster proxy's configuration as the pachyderm role deploys it (the real
# chart's ConfigMap after the role's post-renderer): it must do everything "ours" does.
FIXTURE_PREFIX = {"reference": "reference", "ours": "our", "deployed": "deployed"}


def proxy_of(request, kind: str, tls: bool = False):
    return request.getfixturevalue(f"{FIXTURE_PREFIX[kind]}_{'tls_' if tls else ''}proxy")


def legacy_other_service(request, kind):
    proxy, recorder = proxy_of(request, kind), request.getfixturevalue("recorder")
    probe = marker()
    response = http_get(f"http://127.0.0.1:{proxy.legacy['oidc']}/dex/{probe}", probe)
    landed = who_got(recorder, probe)
    if landed == ["pachd-oidc"]:
        return "own backend"
    return str(response.status_code) if not landed else ",".join(landed)


def legacy_grpc_with_tls(request, kind):
    proxy, test_ca = proxy_of(request, kind, tls=True), request.getfixturevalue("test_ca")
    if "grpc" not in proxy.legacy:
        return "no listener"
    probe = marker()
    with grpc_channel(f"localhost:{proxy.legacy['grpc']}", test_ca.pem) as channel:
        grpc_unary(channel, probe)
    return ",".join(who_got(request.getfixturevalue("recorder"), probe))


def acme_on_port_80(request, kind):
    proxy = proxy_of(request, kind, tls=True)
    probe = marker()
    response = http_get(f"http://127.0.0.1:{proxy.redirect_port}/.well-known/acme-challenge/{probe}", probe)
    if response.status_code in (301, 308):
        return "redirect"
    return ",".join(who_got(request.getfixturevalue("recorder"), probe)) or str(response.status_code)


def grpc_on_port_80(request, kind):
    proxy = proxy_of(request, kind, tls=True)
    with grpc_channel(f"127.0.0.1:{proxy.redirect_port}") as channel, pytest.raises(grpc.RpcError) as error:
        grpc_unary(channel, marker())
    return "error naming grpcs://" if "grpcs://" in (error.value.details() or "") else "error without hint"


def http_on_port_80(request, kind):
    proxy = proxy_of(request, kind, tls=True)
    status, _body, headers = raw_request("GET", f"http://127.0.0.1:{proxy.redirect_port}/lineage")
    assert status == 301
    location = headers["location"]
    if location.startswith(f"https://127.0.0.1:{proxy.port}/"):
        return "https on the TLS port"
    if location.startswith(f"https://127.0.0.1:{proxy.redirect_port}/"):
        return "https on the cleartext port"
    return location


def admin_address(request, kind):
    if kind == "reference":
        reference_dir = request.getfixturevalue("reference_dir")
        config = json.loads((reference_dir / "pachyderm" / "envoy.json").read_text())
    elif kind == "deployed":
        config = json.loads(proxy_of(request, kind).files["envoy.json"])
    else:
        from support.proxy.ours import render

        config = render({}, request.getfixturevalue("tmp_path"))
    return config["admin"]["address"]["socket_address"]["address"]


def underscore_header(request, kind):
    proxy = proxy_of(request, kind)
    probe = marker()
    status = raw_request("GET", f"{proxy.url}/?p={probe}", headers={"x_probe_header": probe})[0]
    landed = who_got(request.getfixturevalue("recorder"), probe)
    return ",".join(landed) if landed else f"{status}, no backend"


def pachctl_command_logged(request, kind):
    proxy = proxy_of(request, kind)
    command = f"pachctl list repo {marker()}"
    with grpc_channel(f"127.0.0.1:{proxy.port}") as channel:
        channel.unary_unary("/oneport.test.Probe/Echo")(b"x", metadata=[("command", command)], timeout=15)
    deadline = time.monotonic() + 20  # access logs are flushed on an interval
    while time.monotonic() < deadline:
        for line in proxy.envoy.log(tail=10**7).splitlines():
            if command in line:
                entry = json.loads(line[line.index("{") :])
                return "logged" if command in entry.values() else "in log, not a field"
        time.sleep(0.5)
    return "not logged"


OUTCOMES = {
    "request header with an underscore": underscore_header,
    "pachctl command header in the JSON access log": pachctl_command_logged,
    "legacy port, request of another service": legacy_other_service,
    "legacy gRPC port with TLS on": legacy_grpc_with_tls,
    "ACME HTTP-01 challenge on port 80, TLS on": acme_on_port_80,
    "gRPC on port 80, TLS on": grpc_on_port_80,
    "HTTP on port 80, TLS on a non-default port": http_on_port_80,
    "admin interface bound to": admin_address,
}


def test_table_covers_exactly_the_traffic_the_tests_send():
    assert set(EXPECTATIONS) == set(ROWS) | set(OUTCOMES)


@pytest.mark.parametrize("traffic_name", list(EXPECTATIONS))
def test_table_explains_every_difference(traffic_name):
    row = EXPECTATIONS[traffic_name]
    assert (row.reference == row.ours) == (row.why == ""), row


@pytest.mark.parametrize("kind", ["reference", "ours", "deployed"])
@pytest.mark.parametrize("traffic_name", list(EXPECTATIONS))
def test_config_does_what_the_table_says(traffic_name, kind, request):
    if traffic_name in ROWS:
        outcome = ROWS[traffic_name](proxy_of(request, kind), request.getfixturevalue("traffic"))
    else:
        outcome = OUTCOMES[traffic_name](request, kind)
    assert outcome == EXPECTATIONS[traffic_name].expected(kind)
