# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The upstream side of the one-port proxy's bootstrap and its resource bounds, in Envoy's terms.

``clusters`` spells each backend of the model (``envoy_types``) out as an Envoy cluster (circuit
breakers, keepalives, HTTP/2 windows for gRPC, TLS to the backend); ``overload_manager`` bounds the
heap and the connections. Used by ``envoy_config``, which assembles the whole bootstrap.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from ansible_collections.oneport.pachyderm.plugins.module_utils.envoy_types import Backend, ProxyModel

_UPSTREAM_TLS = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
_HTTP_OPTIONS = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
_FIXED_HEAP = "type.googleapis.com/envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig"
_DOWNSTREAM_CONNECTIONS = (
    "type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3."
    "DownstreamConnectionsConfig"
)


def socket_address(address: str, port: int) -> Dict[str, Any]:
    """An Envoy socket address; "::" is one dual-stack socket."""
    socket = {"address": address, "port_value": port}
    if address == "::":
        # One dual-stack socket so IPv4 clients reach a proxy bound to "::" too.
        socket["ipv4_compat"] = True
    return {"socket_address": socket}


# ----------------------------------------------------------------------------------------------------
# Clusters


def clusters(model: ProxyModel) -> List[Dict[str, Any]]:
    result = [_cluster(model, backend) for backend in model.backends.values()]
    if model.acme_solver is not None:
        solver = Backend("acme_solver", model.acme_solver.address, model.acme_solver.port)
        result.append(_cluster(model, solver))
    return result


def _cluster(model: ProxyModel, backend: Backend) -> Dict[str, Any]:
    limits = model.limits
    timeouts = model.timeouts
    grpc = backend.http2
    cluster: Dict[str, Any] = {
        "name": backend.cluster,
        "connect_timeout": seconds(timeouts.connect),
        "per_connection_buffer_limit_bytes": limits.buffer_bytes,
        "load_assignment": {
            "cluster_name": backend.cluster,
            "endpoints": [
                {"lb_endpoints": [{"endpoint": {"address": socket_address(backend.host, backend.port)}}]}
            ],
        },
        # Each backend is one Kubernetes Service (one address); active health checks would only delay
        # recovery, so a down backend is found by the connect attempt itself: a fast 503, and the
        # next request after it returns goes through.
        "circuit_breakers": {
            "thresholds": [
                {
                    "priority": "DEFAULT",
                    "max_connections": limits.backend_max_connections,
                    "max_pending_requests": limits.backend_max_pending_requests,
                    "max_requests": limits.backend_max_requests,
                    "max_retries": 3,
                }
            ]
        },
        "upstream_connection_options": {"tcp_keepalive": {"keepalive_time": 60, "keepalive_interval": 10}},
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": _upstream_protocol(model, grpc)
        },
    }
    if backend.is_ip:
        cluster["type"] = "STATIC"
    else:
        cluster["type"] = "STRICT_DNS"
        # Prefer IPv4 but follow single-stack IPv6 clusters too.
        cluster["dns_lookup_family"] = "V4_PREFERRED"
    if backend.tls is not None:
        cluster["transport_socket"] = _upstream_tls(backend, grpc)
    return cluster


def _upstream_protocol(model: ProxyModel, grpc: bool) -> Dict[str, Any]:
    limits = model.limits
    timeouts = model.timeouts
    options: Dict[str, Any] = {
        "@type": _HTTP_OPTIONS,
        "common_http_protocol_options": {"idle_timeout": seconds(timeouts.connection_idle)},
    }
    if grpc:
        options["explicit_http_config"] = {
            "http2_protocol_options": {
                "initial_stream_window_size": limits.upstream_stream_window_bytes,
                "initial_connection_window_size": limits.upstream_connection_window_bytes,
                "max_concurrent_streams": limits.upstream_max_concurrent_streams,
                "connection_keepalive": {
                    "interval": seconds(timeouts.upstream_keepalive_interval),
                    "timeout": seconds(timeouts.upstream_keepalive_timeout),
                },
            }
        }
    else:
        # HTTP/1.1 to the other backends: websockets upgrade over it and the S3 gateway speaks it.
        options["explicit_http_config"] = {"http_protocol_options": {}}
    return options


def _upstream_tls(backend: Backend, grpc: bool) -> Dict[str, Any]:
    tls = backend.tls
    context: Dict[str, Any] = {
        "tls_params": {"tls_minimum_protocol_version": "TLSv1_2"},
        "validation_context": {"trusted_ca": {"filename": tls.ca_file}},
    }
    if tls.sni:
        context["validation_context"]["match_typed_subject_alt_names"] = [
            {"san_type": "DNS", "matcher": {"exact": tls.sni}}
        ]
    if grpc:
        context["alpn_protocols"] = ["h2"]
    if tls.cert_file:
        context["tls_certificates"] = [
            {"certificate_chain": {"filename": tls.cert_file}, "private_key": {"filename": tls.key_file}}
        ]
    typed: Dict[str, Any] = {"@type": _UPSTREAM_TLS, "common_tls_context": context}
    if tls.sni:
        typed["sni"] = tls.sni
    return {"name": "envoy.transport_sockets.tls", "typed_config": typed}


# ----------------------------------------------------------------------------------------------------
# Overload protection


def overload_manager(model: ProxyModel) -> Dict[str, Any]:
    limits = model.limits

    def at(threshold: float) -> List[Dict[str, Any]]:
        return [{"name": "envoy.resource_monitors.fixed_heap", "threshold": {"value": threshold}}]

    return {
        "refresh_interval": "0.25s",
        "resource_monitors": [
            {
                "name": "envoy.resource_monitors.fixed_heap",
                "typed_config": {"@type": _FIXED_HEAP, "max_heap_size_bytes": limits.max_heap_bytes},
            },
            {
                "name": "envoy.resource_monitors.global_downstream_max_connections",
                "typed_config": {
                    "@type": _DOWNSTREAM_CONNECTIONS,
                    "max_active_downstream_connections": limits.max_connections,
                },
            },
        ],
        # Track per-stream buffer memory from 1 MiB up so the biggest streams can be reset first.
        "buffer_factory_config": {"minimum_account_to_track_power_of_two": 20},
        # Gentle to harsh as the heap fills: return freed memory, stop reusing connections, reset the
        # streams holding the most buffered data, and finally refuse new requests.
        "actions": [
            {"name": "envoy.overload_actions.shrink_heap", "triggers": at(0.90)},
            {"name": "envoy.overload_actions.disable_http_keepalive", "triggers": at(0.92)},
            {
                "name": "envoy.overload_actions.reset_high_memory_stream",
                "triggers": [
                    {
                        "name": "envoy.resource_monitors.fixed_heap",
                        "scaled": {"scaling_threshold": 0.92, "saturation_threshold": 0.98},
                    }
                ],
            },
            {"name": "envoy.overload_actions.stop_accepting_requests", "triggers": at(0.98)},
        ],
    }


def seconds(value: Optional[int]) -> str:
    """An Envoy duration from whole seconds."""
    return f"{value}s"
