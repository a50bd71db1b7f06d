"""The same host name, port, node port and boolean is accepted or refused alike by every model.

Each reader below feeds one value to one model's field, the way its role hands it over, and returns
what the model made of it or raises the model's error. For every value, all readers of a kind must
agree, and every refusal must name the field and the value in one shape: ``FIELD: VALUE ...; FIX``.
"""

from __future__ import annotations

import pytest
import yaml
from support.role_inputs import WithRoleDefaults, cert_manager_settings

from ansible_collections.oneport.pachyderm.plugins.module_utils import (
    cert_manager,
    edge_proxy,
    envoy_model,
    metallb,
    pachd_address,
)
from ansible_collections.oneport.pachyderm.plugins.module_utils import pachyderm_inputs as _pachyderm_inputs
from ansible_collections.oneport.pachyderm.plugins.module_utils import pachyderm_pinning as _pachyderm_pinning
from ansible_collections.oneport.pachyderm.plugins.module_utils import pachyderm_proxy as _pachyderm_proxy
from ansible_collections.oneport.pachyderm.plugins.module_utils import pachyderm_storage as _pachyderm_storage
from ansible_collections.oneport.pachyderm.plugins.module_utils import pachyderm_values as _pachyderm_values
from ansible_collections.oneport.pachyderm.plugins.module_utils.inputs import InputError

# The models require every input; these complete what a test leaves out from the role defaults.
inputs_model = WithRoleDefaults(_pachyderm_inputs)
pachyderm_proxy = WithRoleDefaults(_pachyderm_proxy)
pinning = WithRoleDefaults(_pachyderm_pinning)
storage = WithRoleDefaults(_pachyderm_storage)
values = WithRoleDefaults(_pachyderm_values)

REPO = __import__("pathlib").Path(__file__).resolve().parents[4]
EDGE_DEFAULTS = yaml.safe_load((REPO / "roles" / "edge_proxy" / "defaults" / "main.yml").read_text())
CERT_MANAGER = {
    "tls": "self_signed",
    "namespace": "cert-manager",
    "tls_namespace": "pachyderm",
    "secret_name": "pachyderm-proxy-tls",
    "acme_email": "platform@example.com",
    "acme_http01_ingress_class": "nginx",
}


def _edge(**params):
    return edge_proxy.description({**EDGE_DEFAULTS, "edge_proxy_upstream_host": "10.0.10.11", **params})


def _pachyderm_values(**inputs):
    inputs = {"platform": "kind", **inputs}
    pinned = pinning.pin({}, pinning.pinned_keys(inputs), placeholders=True)["values"]
    return values.build_values(inputs, pinned)


def _metallb_pool(**pool):
    config = {
        "namespace": "metallb-system",
        "address_pools": [{"name": "public", "addresses": ["192.168.10.240/29"], **pool}],
        "l2_advertisements": [{"name": "l2", "ip_address_pools": ["public"]}],
    }
    return metallb.build_objects(config)[0]["spec"]


def _metallb_peer(port):
    peer = {"name": "tor", "my_asn": 64500, "peer_asn": 64501, "peer_address": "10.0.0.1", "peer_port": port}
    config = {
        "namespace": "metallb-system",
        "address_pools": [{"name": "public", "addresses": ["192.168.10.240/29"]}],
        "bgp_peers": [peer],
        "bgp_advertisements": [{"name": "bgp", "ip_address_pools": ["public"], "peers": ["tor"]}],
    }
    return next(o for o in metallb.build_objects(config) if o["kind"] == "BGPPeer")["spec"]["peerPort"]


def _certificate(**config):
    return cert_manager.plan({**CERT_MANAGER, **cert_manager_settings(), **config})["certificate"]["spec"]


# The host clients reach the one port at (oneport_proxy_host), read by each role that names it.
EXTERNAL_HOST_READERS = {
    "pachyderm_proxy_host (oneport_proxy_host)": lambda v: inputs_model.proxy_host(
        {"proxy_host": v, "tls": "self_signed"}
    ),
    "cert_manager_proxy_host": lambda v: _certificate(proxy_host=v),
}
# A host a proxy forwards to: a DNS name resolved where the proxy runs, or an IP address.
UPSTREAM_HOST_READERS = {
    "edge_proxy_upstream_host": lambda v: _edge(edge_proxy_upstream_host=v)["backends"]["s3"]["host"],
    "backends.console.host": lambda v: envoy_model.parse_description({"backends": {"console": {"host": v}}}),
    "host": pachd_address.build_pachd_address,
}
PORT_READERS = {
    "edge_proxy_upstream_port": lambda v: _edge(edge_proxy_upstream_port=v)["backends"]["s3"]["port"],
    "backends.s3.port": lambda v: envoy_model.parse_description({"backends": {"s3": {"port": v}}}),
    "pachyderm_database_port": lambda v: storage.check_database(
        {"database_host": "db", "database_password_secret": "db", "database_port": v}, "external"
    ),
    "pachyderm_proxy_acme_solver.port": lambda v: pachyderm_proxy.acme_solver(
        {"tls": "acme_http01", "proxy_acme_solver": {"port": v}}
    ),
    "metallb_bgp_peers[0].peer_port": _metallb_peer,
}
NODE_PORT_READERS = {
    "pachyderm_http_node_port": lambda v: _pachyderm_values(http_node_port=v)["proxy"]["service"][
        "httpNodePort"
    ],
    "pachyderm_https_node_port": lambda v: pachyderm_proxy.external_https_port(
        {"platform": "kind", "https_node_port": v}
    ),
    "pachyderm_legacy_ports.grpc": lambda v: inputs_model.legacy_ports(
        {"platform": "kind", "legacy_ports": {"grpc": v}}
    ),
}
BOOLEAN_READERS = {
    "pachyderm_console_enabled": lambda v: _pachyderm_values(console_enabled=v)["console"]["enabled"],
    "legacy_tls": lambda v: (
        envoy_model.parse_description(
            {"tls": {"cert_dir": "/tls"}, "legacy_ports": {"grpc": 30650}, "legacy_tls": v}
        )
        .legacy[0]
        .tls
    ),
    "metallb_address_pools[0].auto_assign": lambda v: _metallb_pool(auto_assign=v)["autoAssign"],
}

# Any name of letters, digits and '-' labels, or an IP address, is a host everywhere; these are not.
GOOD_HOSTS = [
    "pachyderm.example.com",
    "Pachyderm.Example.COM",
    "a-b.c-d",
    "10.0.0.5",
    "a" * 63 + ".example.com",
]
BAD_HOSTS = [
    "pachyderm_lab.example.com",
    "-pachyderm.example.com",
    "pachyderm-.example.com",
    "pachyderm..example.com",
    "a" * 64 + ".example.com",
    "x." * 127 + "xx",
    "*.example.com",
    "pachyderm example.com",
]
GOOD_PORTS = [1, 443, "8080", 65535]
BAD_PORTS = [0, 65536, -1, True, False, "80x", "", 1.5, "1.5", [80]]
GOOD_NODE_PORTS = [30000, "30650", 32767]
BAD_NODE_PORTS = [29999, 32768, 80, True, "3065x", 30650.5]
TRUE = [True, "yes", "Yes", "true", "on", "1", "y", 1]
FALSE = [False, "no", "False", "off", "0", "n", 0]
NOT_BOOLEAN = ["maybe", "enabled", "", 2, -1, 1.5, [True]]


def _outcome(reader, value):
    try:
        reader(value)
    except InputError as error:
        return error
    return None


def _assert_shape(field, value, error):
    assert str(error).startswith(f"{field}: {value!r} "), str(error)
    assert "; " in str(error), str(error)  # the fix follows


def _agree(readers, value, accepted):
    for field, reader in readers.items():
        error = _outcome(reader, value)
        if accepted:
            assert error is None, f"{field} refused {value!r}: {error}"
        else:
            assert error is not None, f"{field} accepted {value!r}"
            _assert_shape(field, value, error)


@pytest.mark.parametrize("host", GOOD_HOSTS)
def test_a_host_is_accepted_by_every_model(host):
    _agree({**EXTERNAL_HOST_READERS, **UPSTREAM_HOST_READERS}, host, accepted=True)


@pytest.mark.parametrize("host", BAD_HOSTS)
def test_a_bad_host_is_refused_by_every_model_in_one_shape(host):
    _agree({**EXTERNAL_HOST_READERS, **UPSTREAM_HOST_READERS}, host, accepted=False)


@pytest.mark.parametrize("host", ["nodes.example.com.", "2001:db8::1", "[2001:db8::1]"])
def test_an_absolute_name_or_ipv6_address_is_an_upstream_but_not_an_external_host(host):
    # The external host goes into URLs and certificates: no trailing dot, no bare IPv6 address.
    _agree(UPSTREAM_HOST_READERS, host, accepted=True)
    for field, reader in EXTERNAL_HOST_READERS.items():
        assert _outcome(reader, host) is not None, field


def test_the_proxy_host_may_carry_a_port_in_both_roles():
    assert (
        inputs_model.proxy_host({"proxy_host": "pachyderm.example.com:8443"}) == "pachyderm.example.com:8443"
    )
    assert _certificate(proxy_host="pachyderm.example.com:8443")["dnsNames"] == ["pachyderm.example.com"]
    for field, reader in EXTERNAL_HOST_READERS.items():
        _assert_shape(f"{field} port", "70000", _outcome(reader, "pachyderm.example.com:70000"))


def test_an_ip_address_proxy_host_with_self_signed_tls_is_accepted_by_both_roles_and_certified_as_an_ip():
    assert inputs_model.proxy_host({"proxy_host": "10.0.0.5", "tls": "self_signed"}) == "10.0.0.5"
    spec = _certificate(proxy_host="10.0.0.5")
    assert spec["ipAddresses"] == ["10.0.0.5"]
    assert "dnsNames" not in spec


def test_an_ip_address_proxy_host_with_acme_is_refused_by_both_roles_alike():
    errors = [
        _outcome(lambda v: inputs_model.proxy_host({"proxy_host": v, "tls": "acme_http01"}), "10.0.0.5"),
        _outcome(lambda v: _certificate(proxy_host=v, tls="acme_http01"), "10.0.0.5"),
    ]
    fields = ["pachyderm_proxy_host (oneport_proxy_host)", "cert_manager_proxy_host"]
    for field, error in zip(fields, errors, strict=True):
        _assert_shape(field, "10.0.0.5", error)
        assert "ACME issues certificates for DNS names only" in str(error)


@pytest.mark.parametrize("port", GOOD_PORTS)
def test_a_port_is_accepted_by_every_model(port):
    _agree(PORT_READERS, port, accepted=True)


@pytest.mark.parametrize("port", BAD_PORTS)
def test_a_bad_port_is_refused_by_every_model_in_one_shape(port):
    _agree(PORT_READERS, port, accepted=False)
    for field, reader in PORT_READERS.items():
        assert "1 to 65535" in str(_outcome(reader, port)), field


def test_a_port_given_on_the_command_line_is_the_number():
    assert PORT_READERS["edge_proxy_upstream_port"]("8080") == 8080
    assert _metallb_peer("179") == 179
    assert (
        pachyderm_proxy.acme_solver({"tls": "acme_http01", "proxy_acme_solver": {"port": "8089"}})["port"]
        == 8089
    )


@pytest.mark.parametrize("port", GOOD_NODE_PORTS)
def test_a_node_port_is_accepted_by_every_model(port):
    _agree(NODE_PORT_READERS, port, accepted=True)
    assert NODE_PORT_READERS["pachyderm_http_node_port"](port) == int(port)
    assert NODE_PORT_READERS["pachyderm_https_node_port"](port) == int(port)


@pytest.mark.parametrize("port", BAD_NODE_PORTS)
def test_a_bad_node_port_is_refused_by_every_model_in_one_shape(port):
    _agree(NODE_PORT_READERS, port, accepted=False)
    for field, reader in NODE_PORT_READERS.items():
        assert "30000 to 32767" in str(_outcome(reader, port)), field


@pytest.mark.parametrize(("word", "meaning"), [(w, True) for w in TRUE] + [(w, False) for w in FALSE])
def test_a_boolean_means_the_same_to_every_model(word, meaning):
    for field, reader in BOOLEAN_READERS.items():
        assert reader(word) is meaning, field


@pytest.mark.parametrize("word", NOT_BOOLEAN)
def test_a_non_boolean_is_refused_by_every_model_in_one_shape(word):
    _agree(BOOLEAN_READERS, word, accepted=False)
    for field, reader in BOOLEAN_READERS.items():
        assert "is not true or false" in str(_outcome(reader, word)), field
