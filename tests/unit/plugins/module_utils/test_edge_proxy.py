"""The edge proxy inputs: each check names the variable and the fix; backends point at the cluster."""

from __future__ import annotations

import pytest
import yaml

from ansible_collections.oneport.pachyderm.plugins.module_utils import edge_proxy

CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
KEY = "-----BEGIN PRIVATE KEY-----\nsecret-key-material\n-----END PRIVATE KEY-----\n"


@pytest.fixture
def params(repo_root):
    """The role defaults, with the templated ones resolved as an inventory would."""
    defaults = yaml.safe_load((repo_root / "roles" / "edge_proxy" / "defaults" / "main.yml").read_text())
    defaults.update({"edge_proxy_upstream_host": "10.0.10.11", "edge_proxy_node_id": "edge-1"})
    return defaults


def test_every_backend_points_at_the_upstream_host_on_the_upstream_port(params):
    backends = edge_proxy.description(params)["backends"]
    assert set(backends) == set(edge_proxy.BACKENDS)
    assert {(b["host"], b["port"]) for b in backends.values()} == {("10.0.10.11", 80)}


def test_a_backend_with_its_own_port_keeps_it(params):
    params["edge_proxy_upstream_ports"] = {"pachd_grpc": 30650, "s3": 30600}
    backends = edge_proxy.description(params)["backends"]
    assert (backends["pachd_grpc"]["port"], backends["s3"]["port"], backends["console"]["port"]) == (
        30650,
        30600,
        80,
    )


def test_the_admin_interface_stays_on_loopback(params):
    params["edge_proxy_listen_address"] = "192.0.2.1"
    assert edge_proxy.description(params)["admin"] == {"address": "127.0.0.1", "port": 9901}


def test_no_certificate_means_no_tls_section(params):
    assert "tls" not in edge_proxy.description(params)


def test_a_certificate_and_key_turn_tls_on_in_the_watched_directory(params):
    params.update({"edge_proxy_tls_cert": CERT, "edge_proxy_tls_key": KEY})
    tls = edge_proxy.description(params)["tls"]
    assert tls == {"cert_dir": "/etc/oneport/envoy/tls", "https_port": 443, "external_https_port": 443}


def test_description_overrides_reach_the_description(params):
    params["edge_proxy_description_overrides"] = {"timeouts": {"stream_idle": 60}}
    assert edge_proxy.description(params)["timeouts"] == {"stream_idle": 60}


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("edge_proxy_upstream_host", "", ["edge_proxy_upstream_host", "node IP", "load balancer"]),
        (
            "edge_proxy_upstream_host",
            "not a host!",
            ["edge_proxy_upstream_host", "'not a host!'", "DNS name"],
        ),
        ("edge_proxy_upstream_port", 0, ["edge_proxy_upstream_port", "1 to 65535"]),
        ("edge_proxy_upstream_ports", {"grpc": 30650}, ["edge_proxy_upstream_ports", "grpc", "pachd_grpc"]),
        ("edge_proxy_upstream_ports", {"s3": 70000}, ["edge_proxy_upstream_ports.s3", "70000"]),
        ("edge_proxy_listen_address", "any", ["edge_proxy_listen_address", "'any'", "0.0.0.0"]),
        ("edge_proxy_http_port", "80x", ["edge_proxy_http_port", "'80x'"]),
    ],
)
def test_bad_description_inputs_name_the_variable_value_and_fix(params, variable, value, words):
    params[variable] = value
    with pytest.raises(edge_proxy.EdgeProxyInputError) as error:
        edge_proxy.description(params)
    for word in words:
        assert word in str(error.value)


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("edge_proxy_service_manager", "upstart", ["edge_proxy_service_manager", "'upstart'", "systemd"]),
        ("edge_proxy_envoy_source", "wheel", ["edge_proxy_envoy_source", "control_node", "url"]),
        ("edge_proxy_envoy_sha256", "abc", ["edge_proxy_envoy_sha256", "'abc'", "sha256sum"]),
        ("edge_proxy_install_dir", "opt/envoy", ["edge_proxy_install_dir", "absolute path"]),
        ("edge_proxy_base_id", -1, ["edge_proxy_base_id", "-1", "0 to 2147483647"]),
    ],
)
def test_bad_install_inputs_name_the_variable_value_and_fix(params, variable, value, words):
    params[variable] = value
    with pytest.raises(edge_proxy.EdgeProxyInputError) as error:
        edge_proxy.check_install(params)
    for word in words:
        assert word in str(error.value)


def test_a_download_source_needs_a_url(params):
    params["edge_proxy_envoy_source"] = "url"
    with pytest.raises(edge_proxy.EdgeProxyInputError, match="edge_proxy_envoy_url: '' is not an http"):
        edge_proxy.check_install(params)


def test_a_certificate_without_its_key_names_the_missing_one(params):
    params["edge_proxy_tls_cert"] = CERT
    with pytest.raises(edge_proxy.EdgeProxyInputError, match=r"^edge_proxy_tls_key: missing"):
        edge_proxy.description(params)


def test_a_key_that_is_not_pem_is_refused_without_printing_it(params):
    params.update({"edge_proxy_tls_cert": CERT, "edge_proxy_tls_key": "secret-key-material"})
    with pytest.raises(edge_proxy.EdgeProxyInputError) as error:
        edge_proxy.description(params)
    assert str(error.value).startswith("edge_proxy_tls_key: '<hidden>' is not PEM")
    assert "secret-key-material" not in str(error.value)


def test_node_id_is_the_roles_to_decide(params):
    """The role passes edge_proxy_node_id (the inventory host name); the model keeps no default."""
    assert edge_proxy.description(params)["node"]["id"] == "edge-1"
    del params["edge_proxy_node_id"]
    with pytest.raises(edge_proxy.EdgeProxyInputError, match=r"^edge_proxy_node_id: missing"):
        edge_proxy.description(params)
