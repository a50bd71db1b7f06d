# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The edge proxy's inputs: checked, then turned into the description the envoy_config filter renders.

An edge host forwards the one port to the cluster: every backend of the description points at the
cluster's address (a node for NodePorts, or the load balancer), each on its own port. The checks name
the role variable, the bad value and the fix, and run before the role changes anything.
"""

from __future__ import annotations

import ipaddress
import re

from ansible_collections.oneport.pachyderm.plugins.module_utils.inputs import InputError

# Backends of the envoy_config description, in the order users read them.
BACKENDS = ("pachd_grpc", "s3", "oidc", "identity", "pachd_http", "metrics", "console")
SERVICE_MANAGERS = ("systemd", "none")
ENVOY_SOURCES = ("control_node", "url")
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9-]{1,63})*\.?$"
)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class EdgeProxyInputError(InputError):
    """A role variable the edge proxy cannot work with; the message names it and the fix."""


def _fail(variable: str, value, fix: str) -> EdgeProxyInputError:
    return EdgeProxyInputError(f"{variable}: {value!r} {fix}")


def _check_host(variable: str, value) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(
            variable,
            value,
            "is empty: set it to the address the edge host reaches the cluster at "
            "(a node IP for NodePorts, or the load balancer's IP or DNS name)",
        )
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    if not _HOSTNAME.match(value):
        raise _fail(
            variable, value, "is not an IP address or DNS name: use e.g. 10.0.0.5 or nodes.example.com"
        )
    return value


def _check_port(variable: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise _fail(variable, value, "is not a port: use a number from 1 to 65535")
    return value


def check_install(params: dict) -> None:
    """The binary and service inputs: source, checksum, service manager, directories."""
    if params.get("edge_proxy_service_manager") not in SERVICE_MANAGERS:
        raise _fail(
            "edge_proxy_service_manager",
            params.get("edge_proxy_service_manager"),
            f"is not supported: choose one of {list(SERVICE_MANAGERS)}",
        )
    source = params.get("edge_proxy_envoy_source")
    if source not in ENVOY_SOURCES:
        raise _fail(
            "edge_proxy_envoy_source", source, f"is not supported: choose one of {list(ENVOY_SOURCES)}"
        )
    digest = params.get("edge_proxy_envoy_sha256")
    if not isinstance(digest, str) or not _SHA256.match(digest):
        raise _fail(
            "edge_proxy_envoy_sha256",
            digest,
            "is not a sha256: give the 64 lower-case hex digits of the envoy binary (sha256sum envoy)",
        )
    if source == "url" and not str(params.get("edge_proxy_envoy_url") or "").startswith(
        ("https://", "http://")
    ):
        raise _fail(
            "edge_proxy_envoy_url",
            params.get("edge_proxy_envoy_url"),
            "is not an http(s) URL: give the download URL of the envoy binary, "
            "or use edge_proxy_envoy_source: control_node",
        )
    for variable in ("edge_proxy_install_dir", "edge_proxy_config_dir", "edge_proxy_run_dir"):
        value = params.get(variable)
        if not isinstance(value, str) or not value.startswith("/"):
            raise _fail(variable, value, "is not an absolute path: use e.g. /opt/oneport/envoy")
    _check_port("edge_proxy_drain_seconds", params.get("edge_proxy_drain_seconds"))
    base_id = params.get("edge_proxy_base_id")
    if isinstance(base_id, bool) or not isinstance(base_id, int) or not 0 <= base_id < 2**31:
        raise _fail(
            "edge_proxy_base_id", base_id, "is not a hot-restart base id: use a number from 0 to 2147483647"
        )


def description(params: dict) -> dict:
    """The envoy_config description for an edge host, from the role variables (checked first)."""
    host = _check_host("edge_proxy_upstream_host", params.get("edge_proxy_upstream_host"))
    default_port = _check_port("edge_proxy_upstream_port", params.get("edge_proxy_upstream_port"))
    ports = params.get("edge_proxy_upstream_ports") or {}
    if not isinstance(ports, dict):
        raise _fail(
            "edge_proxy_upstream_ports", ports, "is not a mapping: use e.g. {pachd_grpc: 30650, s3: 30600}"
        )
    unknown = sorted(set(ports) - set(BACKENDS))
    if unknown:
        raise _fail(
            "edge_proxy_upstream_ports", unknown, f"names unknown backends: choose from {list(BACKENDS)}"
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
            "edge_proxy_listen_address", listen, "is not an IP address: use 0.0.0.0 or one of the host's"
        ) from None
    result = {
        "node": {"id": params.get("edge_proxy_node_id") or "edge-proxy", "cluster": "oneport-edge-proxy"},
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
            f"{missing}: missing: TLS on the edge proxy needs both edge_proxy_tls_cert and "
            "edge_proxy_tls_key (PEM contents), or neither for cleartext"
        )
    if cert:
        for variable, value, marker in (
            ("edge_proxy_tls_cert", cert, "-----BEGIN CERTIFICATE-----"),
            ("edge_proxy_tls_key", key, "PRIVATE KEY-----"),
        ):
            if marker not in str(value):
                # The value is a secret: name the variable and what is wrong, never print it.
                raise EdgeProxyInputError(
                    f"{variable}: is not PEM (no '{marker}' line): give the PEM contents"
                )
        result["tls"] = {
            "cert_dir": params.get("edge_proxy_cert_dir"),
            "https_port": _check_port("edge_proxy_https_port", params.get("edge_proxy_https_port")),
            "external_https_port": _check_port("edge_proxy_https_port", params.get("edge_proxy_https_port")),
        }
    overrides = params.get("edge_proxy_description_overrides") or {}
    if not isinstance(overrides, dict):
        raise _fail("edge_proxy_description_overrides", overrides, "is not a mapping of description fields")
    result.update(overrides)
    return result
