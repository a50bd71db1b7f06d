# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Translate the one-port proxy model into a complete Envoy v3 bootstrap.

`render_bootstrap(description)` validates a plain description (see `envoy_model`) and returns the
bootstrap as a dict ready for `json.dumps`. `secret_files(description)` returns the SDS file(s) the
proxy reads its certificate through. Nothing here re-decides what the model decided: each function
spells one part of the model out in Envoy's vocabulary.
"""

from __future__ import annotations

import json
import re
from typing import Any, Dict, List

from ansible_collections.oneport.pachyderm.plugins.module_utils.envoy_model import parse_description
from ansible_collections.oneport.pachyderm.plugins.module_utils.envoy_resources import (
    clusters,
    overload_manager,
    seconds,
    socket_address,
)
from ansible_collections.oneport.pachyderm.plugins.module_utils.envoy_types import (
    CLUSTER_NAMES,
    GRPC_TLS_REQUIRED,
    HTTPS_REDIRECT,
    EnvoyConfigError,
    LegacyListener,
    ProxyModel,
    Route,
)

__all__ = ["EnvoyConfigError", "parse_description", "render_bootstrap", "secret_files"]

SDS_CERTIFICATE_NAME = "oneport-tls"

_HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
_ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
_GRPC_STATS = "type.googleapis.com/envoy.extensions.filters.http.grpc_stats.v3.FilterConfig"
_HEALTH_CHECK = "type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck"
_STDOUT_LOG = "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog"
_DOWNSTREAM_TLS = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
_SDS_CERTIFICATE_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"

# Modern AEAD suites with forward secrecy for TLS 1.2 (TLS 1.3 suites are not configurable and all good).
_TLS12_CIPHERS = [
    "[ECDHE-ECDSA-AES128-GCM-SHA256|ECDHE-ECDSA-CHACHA20-POLY1305]",
    "[ECDHE-RSA-AES128-GCM-SHA256|ECDHE-RSA-CHACHA20-POLY1305]",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
]

# Retry only when the backend provably never saw the request: the connection was never made, or
# the HTTP/2 server refused the stream before processing it. A 5xx after a body was sent is never
# retried, so no upload or mutation can run twice.
_RETRY_POLICY = {"retry_on": "connect-failure,refused-stream", "num_retries": 2}

GRPC_TLS_REQUIRED_MESSAGE = (
    "this port is cleartext and the proxy requires TLS: connect with grpcs:// to the https port ({port})"
)

# What the access log records; `command` is the gRPC metadata pachctl sends with the command line.
_ACCESS_LOG_FIELDS = {
    "timestamp": "%START_TIME%",
    "authority": "%REQ(:AUTHORITY)%",
    "method": "%REQ(:METHOD)%",
    "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
    "protocol": "%PROTOCOL%",
    "response_code": "%RESPONSE_CODE%",
    "response_code_details": "%RESPONSE_CODE_DETAILS%",
    "response_flags": "%RESPONSE_FLAGS%",
    "grpc_status": "%GRPC_STATUS(SNAKE_STRING)%",
    "grpc_message": "%RESP(GRPC-MESSAGE):64%",
    "pachctl_command": "%REQ(COMMAND):256%",
    "route": "%ROUTE_NAME%",
    "upstream": "%UPSTREAM_CLUSTER%",
    "upstream_host": "%UPSTREAM_HOST%",
    "duration_ms": "%DURATION%",
    "rx_bytes": "%BYTES_RECEIVED%",
    "tx_bytes": "%BYTES_SENT%",
    "downstream_remote_address": "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%",
    "xff": "%REQ(X-FORWARDED-FOR)%",
    "user_agent": "%REQ(USER-AGENT)%",
    "request_id": "%REQ(X-REQUEST-ID)%",
    "upgrade": "%REQ(UPGRADE)%",
    "connection_termination_details": "%CONNECTION_TERMINATION_DETAILS%",
}


def render_bootstrap(description: Dict[str, Any]) -> Dict[str, Any]:
    """Validate the description and return the complete Envoy v3 bootstrap; raise EnvoyConfigError."""
    return translate(parse_description(description))


def secret_files(description: Dict[str, Any]) -> Dict[str, str]:
    """The SDS files (path -> content) Envoy must find; empty without TLS."""
    model = parse_description(description)
    if model.tls is None:
        return {}
    secret = {
        "resources": [
            {
                "@type": _SDS_CERTIFICATE_TYPE,
                "name": SDS_CERTIFICATE_NAME,
                "tls_certificate": {
                    "certificate_chain": {"filename": model.tls.cert_path},
                    "private_key": {"filename": model.tls.key_path},
                    # cert-manager's Secret is mounted through a `..data` symlink that kubelet swaps
                    # atomically on renewal; watching the directory reloads cert and key together.
                    "watched_directory": {"path": model.tls.cert_dir},
                },
            }
        ]
    }
    return {model.sds_path: json.dumps(secret, indent=2, sort_keys=True) + "\n"}


def translate(model: ProxyModel) -> Dict[str, Any]:
    """The bootstrap for an already validated model."""
    return {
        "node": {"id": model.node_id, "cluster": model.node_cluster},
        "admin": {"address": socket_address(model.admin.address, model.admin.port)},
        "static_resources": {
            "listeners": listeners(model),
            "clusters": clusters(model),
        },
        "overload_manager": overload_manager(model),
    }


# ----------------------------------------------------------------------------------------------------
# Listeners


def listeners(model: ProxyModel) -> List[Dict[str, Any]]:
    result = []
    if model.tls is None:
        result.append(
            _listener(model, "http", model.http_port, _route_config(model, "one-port", model.routes()))
        )
    else:
        redirect = _listener(model, "http", model.http_port, _redirect_route_config(model))
        # Clients reach the cleartext port under any port number (a node port, a load balancer's 80);
        # dropping it from Host makes the redirect name the https port and nothing else.
        redirect["filter_chains"][0]["filters"][0]["typed_config"]["strip_any_host_port"] = True
        result.append(redirect)
        route_config = _route_config(model, "one-port", model.routes())
        if model.tls.hsts is not None:
            route_config["response_headers_to_add"] = [
                {
                    "header": {"key": "strict-transport-security", "value": model.tls.hsts.header_value},
                    "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
                }
            ]
        result.append(_listener(model, "https", model.tls.https_port, route_config, tls=True))
    for legacy in model.legacy:
        result.append(_legacy_listener(model, legacy))
    result.append(_readiness_listener(model))
    return result


def _listener(
    model: ProxyModel,
    name: str,
    port: int,
    route_config: Dict[str, Any],
    tls: bool = False,
    grpc_stats: bool = True,
) -> Dict[str, Any]:
    chain: Dict[str, Any] = {"filters": [_http_connection_manager(model, name, route_config, grpc_stats)]}
    if tls:
        chain["transport_socket"] = _downstream_tls(model)
    return {
        "name": name,
        "address": socket_address(model.listen_address, port),
        "per_connection_buffer_limit_bytes": model.limits.buffer_bytes,
        "filter_chains": [chain],
    }


def _legacy_listener(model: ProxyModel, legacy: LegacyListener) -> Dict[str, Any]:
    route_config = _route_config(model, legacy.name, [legacy.route])
    return _listener(
        model,
        legacy.name,
        legacy.port,
        route_config,
        tls=legacy.tls,
        grpc_stats=legacy.backend == "pachd_grpc",
    )


def _readiness_listener(model: ProxyModel) -> Dict[str, Any]:
    # Probes get their own port so they never share limits or logs with user traffic; the health
    # check filter answers 200 while the proxy is up and 503 once it drains for shutdown.
    hcm = {
        "@type": _HCM,
        "stat_prefix": "readiness",
        "codec_type": "AUTO",
        "route_config": {
            "name": "readiness",
            "virtual_hosts": [
                {
                    "name": "readiness",
                    "domains": ["*"],
                    "routes": [{"match": {"prefix": "/"}, "direct_response": {"status": 404}}],
                }
            ],
        },
        "http_filters": [
            {
                "name": "envoy.filters.http.health_check",
                "typed_config": {
                    "@type": _HEALTH_CHECK,
                    "pass_through_mode": False,
                    "headers": [{"name": ":path", "string_match": {"exact": "/ready"}}],
                },
            },
            {"name": "envoy.filters.http.router", "typed_config": {"@type": _ROUTER}},
        ],
        "request_headers_timeout": seconds(model.timeouts.request_headers),
    }
    return {
        "name": "readiness",
        "address": socket_address(model.readiness.address, model.readiness.port),
        "filter_chains": [
            {"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]}
        ],
    }


def _downstream_tls(model: ProxyModel) -> Dict[str, Any]:
    return {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": _DOWNSTREAM_TLS,
            "common_tls_context": {
                "alpn_protocols": ["h2", "http/1.1"],
                "tls_params": {
                    "tls_minimum_protocol_version": "TLSv1_2",
                    "cipher_suites": _TLS12_CIPHERS,
                },
                "tls_certificate_sds_secret_configs": [
                    {
                        "name": SDS_CERTIFICATE_NAME,
                        "sds_config": {
                            "resource_api_version": "V3",
                            "path_config_source": {
                                "path": model.sds_path,
                                "watched_directory": {"path": model.config_dir},
                            },
                        },
                    }
                ],
            },
        },
    }


def _http_connection_manager(
    model: ProxyModel, name: str, route_config: Dict[str, Any], grpc_stats: bool
) -> Dict[str, Any]:
    limits = model.limits
    timeouts = model.timeouts
    filters = []
    if grpc_stats:
        filters.append(
            {
                "name": "envoy.filters.http.grpc_stats",
                "typed_config": {
                    "@type": _GRPC_STATS,
                    "enable_upstream_stats": True,
                    "stats_for_all_methods": False,
                },
            }
        )
    filters.append({"name": "envoy.filters.http.router", "typed_config": {"@type": _ROUTER}})
    hcm = {
        "@type": _HCM,
        "stat_prefix": name,
        "codec_type": "AUTO",
        "route_config": route_config,
        "http_filters": filters,
        "access_log": [_access_log(name)],
        # The client address is the TCP peer, or the entry `xff_num_trusted_hops` from the right of
        # X-Forwarded-For when cloud L7 hops sit in front.
        "use_remote_address": True,
        "xff_num_trusted_hops": model.xff_num_trusted_hops,
        # S3 signatures cover the raw path: keys with `..`, `//` or `%2F` must reach the gateway
        # byte for byte, so the proxy never normalises, merges slashes or decodes escaped slashes.
        # No route here depends on a normalised path, so nothing is lost.
        "normalize_path": False,
        "merge_slashes": False,
        "path_with_escaped_slashes_action": "KEEP_UNCHANGED",
        "common_http_protocol_options": {
            "idle_timeout": seconds(timeouts.connection_idle),
            "headers_with_underscores_action": "REJECT_REQUEST",
        },
        "http_protocol_options": {"accept_http_10": False},
        "http2_protocol_options": {
            "initial_stream_window_size": limits.stream_window_bytes,
            "initial_connection_window_size": limits.connection_window_bytes,
            "max_concurrent_streams": limits.max_concurrent_streams,
            # Browsers may open the console's websockets over HTTP/2 (RFC 8441).
            "allow_connect": True,
        },
        # Slowloris: headers must arrive promptly; bodies and streams are bounded by idleness only,
        # never by a total duration (multi-GB uploads and long gRPC streams are normal here).
        "request_headers_timeout": seconds(timeouts.request_headers),
        "request_timeout": "0s",
        "stream_idle_timeout": seconds(timeouts.stream_idle),
        "max_request_headers_kb": limits.max_request_headers_kb,
    }
    return {"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}


def _access_log(listener: str) -> Dict[str, Any]:
    fields = dict(_ACCESS_LOG_FIELDS)
    fields["listener"] = listener
    return {
        "name": "envoy.access_loggers.stdout",
        "typed_config": {
            "@type": _STDOUT_LOG,
            "log_format": {"json_format": fields, "omit_empty_values": True},
        },
    }


# ----------------------------------------------------------------------------------------------------
# Routes


def _route_config(model: ProxyModel, name: str, routes: List[Route]) -> Dict[str, Any]:
    return {
        "name": name,
        "virtual_hosts": [
            {
                "name": name,
                "domains": ["*"],
                "retry_policy": dict(_RETRY_POLICY),
                "routes": [_route(model, route) for route in routes],
            }
        ],
    }


def _redirect_route_config(model: ProxyModel) -> Dict[str, Any]:
    """The cleartext port with TLS on: ACME challenges pass, gRPC gets a clear error, the rest a 301."""
    routes = [_route(model, route) for route in model.redirect_routes()]
    return {"name": "redirect", "virtual_hosts": [{"name": "redirect", "domains": ["*"], "routes": routes}]}


def _host_regex(hosts) -> str:
    alternatives = []
    for host in hosts:
        if host.startswith("*."):
            alternatives.append(r"[^/:]+\." + re.escape(host[2:]))
        else:
            alternatives.append(re.escape(host))
    # Host names are case-insensitive and may carry a port.
    return "(?i)^(?:" + "|".join(alternatives) + r")(?::[0-9]+)?$"


def _match(route: Route) -> Dict[str, Any]:
    match: Dict[str, Any] = {"prefix": route.prefix}
    if route.grpc:
        # Envoy's gRPC matcher: content-type starts with application/grpc.
        match["grpc"] = {}
    headers = []
    if route.header is not None:
        headers.append({"name": route.header[0], "string_match": {"prefix": route.header[1]}})
    if route.hosts:
        headers.append(
            {"name": ":authority", "string_match": {"safe_regex": {"regex": _host_regex(route.hosts)}}}
        )
    if headers:
        match["headers"] = headers
    if route.query_present is not None:
        match["query_parameters"] = [{"name": route.query_present, "present_match": True}]
    return match


def _route(model: ProxyModel, route: Route) -> Dict[str, Any]:
    if route.backend == GRPC_TLS_REQUIRED:
        # Envoy turns a local reply to a gRPC request into a gRPC status (503 -> UNAVAILABLE) with the
        # body as grpc-message, which gRPC clients print.
        message = GRPC_TLS_REQUIRED_MESSAGE.format(port=model.tls.external_https_port)
        return {
            "name": route.name,
            "match": _match(route),
            "direct_response": {"status": 503, "body": {"inline_string": message}},
        }
    if route.backend == HTTPS_REDIRECT:
        redirect: Dict[str, Any] = {"https_redirect": True, "response_code": "MOVED_PERMANENTLY"}
        if model.tls.external_https_port != 443:
            redirect["port_redirect"] = model.tls.external_https_port
        return {"name": route.name, "match": _match(route), "redirect": redirect}
    total, idle = model.route_timeouts(route.backend)
    action: Dict[str, Any] = {"cluster": CLUSTER_NAMES[route.backend], "timeout": seconds(total)}
    if idle is not None:
        action["idle_timeout"] = seconds(idle)
    if route.websocket:
        action["upgrade_configs"] = [{"upgrade_type": "websocket"}]
    return {"name": route.name, "match": _match(route), "route": action}
