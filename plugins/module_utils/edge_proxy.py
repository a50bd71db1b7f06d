# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The edge proxy's inputs: checked, then turned into the description the envoy_config filter renders.

An edge host forwards the one port to the cluster: every backend of the description points at the
cluster's address (a node for NodePorts, or the load balancer), each on its own port. The checks name
the role variable, the bad value and the fix, and run before the role changes anything.
"""

from __future__ import annotations

import ipaddress

from ansible_collections.oneport.pachyderm.plugins.module_utils import inputs as check
from ansible_collections.oneport.pachyderm.plugins.module_utils.inputs import InputError

# Backends of the envoy_config description, in the order users read them.
BACKENDS = ("pachd_grpc", "s3", "oidc", "identity", "pachd_http", "metrics", "console")
SERVICE_MANAGERS = ("systemd", "none")
ENVOY_SOURCES = ("control_node", "url")


class EdgeProxyInputError(InputError):
    """A role variable the edge proxy cannot work with; the message names it and the fix."""


def _fail(variable: str, value, problem: str, fix: str = "") -> EdgeProxyInputError:
    return check.refuse(variable, value, problem, fix, EdgeProxyInputError)


def _check_host(variable: str, value) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(
            variable,
            value,
            "is empty",
            "set it to the address the edge host reaches the cluster at "
            "(a node IP for NodePorts, or the load balancer's IP or DNS name)",
        )
    return check.dns_name(
        value, variable, EdgeProxyInputError, ip=True, trailing_dot=True, example="nodes.example.com"
    )


def _check_port(variable: str, value) -> int:
    return check.port(value, variable, EdgeProxyInputError)


def check_install(params: dict) -> None:
    """The binary and service inputs: source, checksum, service manager, directories."""
    check.one_of(
        params.get("edge_proxy_service_manager"),
        "edge_proxy_service_manager",
        SERVICE_MANAGERS,
        EdgeProxyInputError,
    )
    source = check.one_of(
        params.get("edge_proxy_envoy_source"), "edge_proxy_envoy_source", ENVOY_SOURCES, EdgeProxyInputError
    )
    check.sha256(
        params.get("edge_proxy_envoy_sha256"),
        "edge_proxy_envoy_sha256",
        EdgeProxyInputError,
        fix="give the 64 lower-case hex digits of the envoy binary (sha256sum envoy)",
    )
    if source == "url" and not str(params.get("edge_proxy_envoy_url") or "").startswith(
        ("https://", "http://")
    ):
        raise _fail(
            "edge_proxy_envoy_url",
            params.get("edge_proxy_envoy_url"),
            "is not an http(s) URL",
            "give the download URL of the envoy binary, or use edge_proxy_envoy_source: control_node",
        )
    for variable in ("edge_proxy_install_dir", "edge_proxy_config_dir", "edge_proxy_run_dir"):
        value = params.get(variable)
        if not isinstance(value, str) or not value.startswith("/"):
            raise _fail(variable, value, "is not an absolute path", "use e.g. /opt/oneport/envoy")
    _check_port("edge_proxy_drain_seconds", params.get("edge_proxy_drain_seconds"))
    check.integer(
        params.get("edge_proxy_base_id"),
        "edge_proxy_base_id",
        0,
        2**31 - 1,
        "a hot-restart base id",
        EdgeProxyInputError,
    )


def description(params: dict) -> dict:
    """The envoy_config description for an edge host, from the role variables (checked first)."""
    host = _check_host("edge_proxy_upstream_host", params.get("edge_proxy_upstream_host"))
    default_port = _check_port("edge_proxy_upstream_port", params.get("edge_proxy_upstream_port"))
    ports = check.mapping(
        params.get("edge_proxy_upstream_ports") or {},
        "edge_proxy_upstream_ports",
        EdgeProxyInputError,
        "{pachd_grpc: 30650, s3: 30600}",
    )
    unknown = sorted(set(ports) - set(BACKENDS))
    if unknown:
        raise _fail(
            "edge_proxy_upstream_ports", unknown, "names unknown backends", f"choose from {list(BACKENDS)}"
        )
    backends = {}
    for name in BACKENDS:
        port = _check_port(f"edge_proxy_upstream_ports.{name}", ports.get(name, default_port))
        backends[name] = {"host": host, "port": port}

    listen = params.get("edge_proxy_listen_address")
    try:
        ipaddress.ip_address(listen)
    except (ValueError, TypeError):
        raise _fail(
            "edge_proxy_listen_address", listen, "is not an IP address", "use 0.0.0.0 or one of the host's"
        ) from None
    # The role passes edge_proxy_node_id (the inventory host name by default): no second default here.
    node_id = check.role_input(
        params, "edge_proxy_node_id", "edge_proxy", EdgeProxyInputError, "edge_proxy_node_id"
    )
    result = {
        "node": {"id": node_id, "cluster": "oneport-edge-proxy"},
        "listen_address": listen,
        "http_port": _check_port("edge_proxy_http_port", params.get("edge_proxy_http_port")),
        "admin": {
            "address": "127.0.0.1",
            "port": _check_port("edge_proxy_admin_port", params.get("edge_proxy_admin_port")),
        },
        "readiness": {
            "address": listen,
            "port": _check_port("edge_proxy_readiness_port", params.get("edge_proxy_readiness_port")),
        },
        "backends": backends,
        "config_dir": params.get("edge_proxy_config_dir"),
    }
    cert, key = params.get("edge_proxy_tls_cert"), params.get("edge_proxy_tls_key")
    if bool(cert) != bool(key):
        missing = "edge_proxy_tls_key" if cert else "edge_proxy_tls_cert"
        raise EdgeProxyInputError(
            f"{missing}: missing; TLS on the edge proxy needs both edge_proxy_tls_cert and "
            "edge_proxy_tls_key (PEM contents), or neither for cleartext"
        )
    if cert:
        for variable, value, marker in (
            ("edge_proxy_tls_cert", cert, "-----BEGIN CERTIFICATE-----"),
            ("edge_proxy_tls_key", key, "PRIVATE KEY-----"),
        ):
            if marker not in str(value):
                # The value is a secret: name the variable and what is wrong, never print it.
                raise check.refuse(
                    variable,
                    "<hidden>",
                    f"is not PEM (no '{marker}' line)",
                    "give the PEM contents",
                    EdgeProxyInputError,
                )
        result["tls"] = {
            "cert_dir": params.get("edge_proxy_cert_dir"),
            "https_port": _check_port("edge_proxy_https_port", params.get("edge_proxy_https_port")),
            "external_https_port": _check_port("edge_proxy_https_port", params.get("edge_proxy_https_port")),
        }
    overrides = params.get("edge_proxy_description_overrides") or {}
    if not isinstance(overrides, dict):
        raise check.fail(
            "edge_proxy_description_overrides",
            overrides,
            "a mapping",
            "give description fields",
            EdgeProxyInputError,
        )
    result.update(overrides)
    return result
