"""The in-cluster proxy's configuration, built from the pachyderm role's inputs (pachyderm_proxy.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from support.role_inputs import WithRoleDefaults

from ansible_collections.oneport.pachyderm.plugins.module_utils import envoy_model
from ansible_collections.oneport.pachyderm.plugins.module_utils import pachyderm_inputs as _pachyderm_inputs
from ansible_collections.oneport.pachyderm.plugins.module_utils import pachyderm_pinning as _pachyderm_pinning
from ansible_collections.oneport.pachyderm.plugins.module_utils import pachyderm_proxy as _pachyderm_proxy
from ansible_collections.oneport.pachyderm.plugins.module_utils import pachyderm_values as _pachyderm_values

# The models require every input; these complete what a test leaves out from the role defaults.
inputs_model = WithRoleDefaults(_pachyderm_inputs)
pinning = WithRoleDefaults(_pachyderm_pinning)
proxy = WithRoleDefaults(_pachyderm_proxy)
values_model = WithRoleDefaults(_pachyderm_values)

REPO = Path(__file__).resolve().parents[4]
HOST = "pachyderm.example.com"
TLS = {
    "platform": "metallb",
    "tls": "self_signed",
    "proxy_host": HOST,
    "tls_secret_name": "pachyderm-proxy-tls",
}
ACME = dict(TLS, tls="acme_http01")


def refused(inputs: dict) -> str:
    with pytest.raises(ValueError) as error:
        inputs_model.check_inputs(inputs)
    return str(error.value)


def listeners(inputs: dict) -> dict:
    bootstrap = json.loads(proxy.config_files(inputs)["envoy.json"])
    return {item["name"]: item for item in bootstrap["static_resources"]["listeners"]}


def test_the_admin_interface_stays_on_loopback_and_kubelet_probes_the_readiness_listener():
    bootstrap = json.loads(proxy.config_files({"platform": "aws"})["envoy.json"])
    assert bootstrap["admin"]["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 9901}
    readiness = listeners({"platform": "aws"})["readiness"]
    assert readiness["address"]["socket_address"] == {
        "address": "0.0.0.0",
        "port_value": proxy.READINESS_PORT,
    }


def test_backends_are_the_charts_backend_services_on_the_charts_ports():
    model = proxy.model({"platform": "aws"})
    assert {name: (b.host, b.port) for name, b in model.backends.items()} == {
        "pachd_grpc": ("pachd-proxy-backend", 1650),
        "s3": ("pachd-proxy-backend", 1600),
        "oidc": ("pachd-proxy-backend", 1657),
        "identity": ("pachd-proxy-backend", 1658),
        "pachd_http": ("pachd-proxy-backend", 1659),
        "metrics": ("pachd-proxy-backend", 1656),
        "console": ("console-proxy-backend", 4000),
    }


def test_cleartext_serves_the_one_port_on_the_charts_http_container_port():
    found = listeners({"platform": "aws"})
    assert found["http"]["address"]["socket_address"]["port_value"] == 8080
    assert "https" not in found
    assert list(proxy.config_files({"platform": "aws"})) == ["envoy.json"]


def test_tls_reads_the_secret_the_chart_mounts_and_redirects_to_the_port_clients_use():
    files = proxy.config_files(TLS)
    assert sorted(files) == ["envoy.json", "sds-tls.json"]
    certificate = json.loads(files["sds-tls.json"])["resources"][0]["tls_certificate"]
    assert certificate["certificate_chain"]["filename"] == "/tls/tls.crt"
    assert certificate["watched_directory"]["path"] == "/tls"
    assert proxy.model(TLS).tls.external_https_port == 443
    node_port = dict(TLS, platform="kind", https_node_port=30443)
    assert proxy.model(node_port).tls.external_https_port == 30443
    assert listeners(TLS)["https"]["address"]["socket_address"]["port_value"] == 8443


def test_hsts_is_on_with_tls_by_default_and_can_be_turned_off():
    assert proxy.model(TLS).tls.hsts is not None
    assert proxy.model(dict(TLS, proxy_hsts=False)).tls.hsts is None


def test_legacy_ports_listen_on_the_charts_container_ports_with_tls_when_tls_is_on():
    inputs = dict(TLS, legacy_ports={"grpc": 30650, "s3_gateway": 30600, "pachd_http": 30659, "oidc": 0})
    model = proxy.model(inputs)
    assert [(item.service, item.port, item.tls) for item in model.legacy] == [
        ("grpc", 1650, True),
        ("s3", 1600, True),
        ("pachd_http", 1659, True),
    ]
    values = values_model.build_values(inputs, pinning.pin(None, pinning.pinned_keys(inputs))["values"])
    # The chart has a Service value for grpc and s3 only; the post-renderer adds the pachd HTTP port.
    assert values["proxy"]["service"]["legacyPorts"] == {"grpc": 30650, "s3Gateway": 30600}
    assert proxy.post_render_settings(inputs)["service_ports"] == [
        {"name": "archive-direct", "port": 30659, "targetPort": "archive-direct"}
    ]


def test_the_acme_route_goes_to_cert_managers_solver_pods_through_a_service_in_the_release():
    model = proxy.model(ACME)
    assert model.acme_solver == envoy_model.Address(proxy.ACME_SOLVER_SERVICE, 8089)
    assert model.redirect_routes()[0].name == "acme-challenge"
    (service,) = proxy.post_render_settings(ACME)["documents"]
    assert service["metadata"]["name"] == proxy.ACME_SOLVER_SERVICE
    assert service["spec"]["selector"] == {"acme.cert-manager.io/http01-solver": "true"}
    assert proxy.post_render_settings(TLS)["documents"] == []
    mine = dict(ACME, proxy_acme_solver={"host": "solver.acme.svc", "port": 8089})
    assert proxy.model(mine).acme_solver.address == "solver.acme.svc"
    assert proxy.post_render_settings(mine)["documents"] == []


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (
            dict(TLS, proxy_acme_solver={"host": "s", "port": 8089}),
            "pachyderm_proxy_acme_solver: {'host': 's', 'port': 8089} is set but",
        ),
        (
            dict(TLS, legacy_ports={"grpc": 443}),
            "pachyderm_legacy_ports.grpc: 443 is already used by the one port's HTTPS",
        ),
        (dict(TLS, legacy_ports={"console": 80}), "pachyderm_legacy_ports.console: 80 is already used"),
        (
            {"platform": "kind", "legacy_ports": {"grpc": 30080}},
            "pachyderm_legacy_ports.grpc: 30080 is already used by pachyderm_http_node_port",
        ),
        (
            {"platform": "aws", "legacy_ports": {"grpc": 30650, "s3_gateway": "30650"}},
            "pachyderm_legacy_ports.s3_gateway: 30650 is already used by pachyderm_legacy_ports.grpc",
        ),
        (dict(TLS, proxy_config="chart", legacy_ports={"grpc": 30650}), "pachyderm_proxy_config: collection"),
        (
            {"platform": "kind", "proxy_config": "chart", "legacy_ports": {"pachd_http": 30659}},
            "pachd_http needs",
        ),
        (
            {"platform": "kind", "proxy_config": "envoy"},
            "pachyderm_proxy_config: 'envoy' is not a proxy configuration",
        ),
        (
            {"platform": "kind", "proxy_memory_limit": "1Gi", "proxy_max_heap": "900Mi"},
            "pachyderm_proxy_max_heap: '900Mi' (900Mi) is more than 80%",
        ),
        ({"platform": "kind", "proxy_memory_limit": "512Mi"}, "raise it to at least 700Mi"),
        (
            {"platform": "kind", "proxy_memory_limit": "lots"},
            "pachyderm_proxy_memory_limit: 'lots' is not a memory quantity",
        ),
        ({"platform": "kind", "proxy_limits": {"max_heap_bytes": 1}}, "set pachyderm_proxy_max_heap"),
        (
            {"platform": "kind", "proxy_limits": {"stream_window_bytes": 10}},
            "pachyderm_proxy_limits.stream_window",
        ),
        ({"platform": "kind", "proxy_timeouts": {"connect": 0}}, "pachyderm_proxy_timeouts.connect"),
        ({"platform": "kind", "proxy_s3_hosts": ["not a host"]}, "pachyderm_proxy_s3_hosts[0]"),
        (
            {"platform": "kind", "proxy_image": "Envoy Proxy"},
            "pachyderm_proxy_image: 'Envoy Proxy' is not an image repository",
        ),
        (
            {"platform": "kind", "proxy_image_tag": "v1:2"},
            "pachyderm_proxy_image_tag: 'v1:2' is not an image tag",
        ),
    ],
)
def test_bad_input_is_refused_naming_the_variable(inputs, message):
    assert message in refused(inputs)


def test_the_heap_is_eighty_percent_of_the_memory_limit_unless_given_lower():
    assert proxy.memory({"proxy_memory_limit": "1280Mi"}) == {
        "limit_bytes": 1280 << 20,
        "heap_bytes": 1024 << 20,
    }
    assert proxy.memory({"proxy_memory_limit": "2Gi", "proxy_max_heap": "1Gi"})["heap_bytes"] == 1 << 30
    assert proxy.model({"proxy_memory_limit": "2Gi"}).limits.max_heap_bytes == int(2 * (1 << 30) * 0.8)


def test_the_chart_gets_the_pinned_envoy_image_and_memory_limit_together():
    values = proxy.chart_values({"platform": "aws"})
    assert values["image"] == {"repository": "envoyproxy/envoy", "tag": f"distroless-v{proxy.ENVOY_VERSION}"}
    assert values["resources"]["limits"] == {"memory": "1280Mi"}
    assert values["resources"]["requests"]["memory"] == "1280Mi"
    assert proxy.chart_values({"platform": "kind", "proxy_config": "chart"}) == {}
    assert proxy.post_render_settings({"platform": "kind", "proxy_config": "chart"}) == {}


def test_one_envoy_pin_for_the_image_the_test_binary_and_the_edge_proxy():
    tools = yaml.safe_load((REPO / "tools" / "tools.yml").read_text())
    edge = yaml.safe_load((REPO / "roles" / "edge_proxy" / "defaults" / "main.yml").read_text())
    assert str(tools["tools"]["envoy"]["version"]) == proxy.ENVOY_VERSION
    assert str(edge["edge_proxy_envoy_version"]) == proxy.ENVOY_VERSION


def test_the_files_are_the_same_bytes_for_the_same_inputs_and_change_with_them():
    first = proxy.config_files(ACME)
    assert proxy.config_files(dict(ACME)) == first
    assert proxy.config_files(dict(ACME, proxy_xff_num_trusted_hops="1")) != first
