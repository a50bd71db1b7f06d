# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Parse a one-port proxy description into the typed model (``envoy_types``), checking every field.

`parse_description` turns a plain dict (inventory data, JSON) into a validated `ProxyModel`, or raises
`EnvoyConfigError` naming the field, the bad value and the fix; each default a description may leave
out is decided here or on the model's dataclasses. The translator in `envoy_config` only spells the
model out in Envoy's terms.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.oneport.pachyderm.plugins.module_utils import inputs as check
from ansible_collections.oneport.pachyderm.plugins.module_utils.envoy_types import (
    BACKEND_HOSTS,
    BACKEND_PORTS,
    DEFAULT_PACHD_HOST,
    LEGACY_DEFAULT_PORTS,
    MIB,
    Address,
    Backend,
    EnvoyConfigError,
    ExtraRoute,
    Hsts,
    LegacyListener,
    Limits,
    ProxyModel,
    Timeouts,
    Tls,
    UpstreamTls,
)

_is_ip = check.is_ip


def _fail(path: str, value: Any, fix: str) -> EnvoyConfigError:
    return check.fail(path, value, "valid", fix, EnvoyConfigError)


def _mapping(value: Any, path: str) -> Dict[str, Any]:
    return check.mapping(value, path, EnvoyConfigError)


def _known(data: Dict[str, Any], path: str, allowed: Tuple[str, ...]) -> None:
    check.known_keys(data, path, allowed, EnvoyConfigError)


def _int(value: Any, path: str, low: int, high: int, what: str = "") -> int:
    return check.integer(value, path, low, high, f"a whole number{what}", EnvoyConfigError)


def _port(value: Any, path: str) -> int:
    return check.port(value, path, EnvoyConfigError)


def _bool(value: Any, path: str) -> bool:
    return check.boolean(value, path, EnvoyConfigError)


def _text(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(path, value, "give a non-empty string")
    return value.strip()


def _file_path(value: Any, path: str) -> str:
    text = _text(value, path)
    if "\n" in text or "\x00" in text:
        raise _fail(path, value, "give a file path on one line")
    return text


def _dir_path(value: Any, path: str) -> str:
    text = _file_path(value, path)
    if not text.startswith("/"):
        raise _fail(path, value, "give an absolute directory path (Envoy watches it for renewals)")
    return text.rstrip("/") or "/"


def _host(value: Any, path: str) -> str:
    """A DNS name (resolved by Envoy, STRICT_DNS) or an IP address (STATIC)."""
    return check.dns_name(
        value, path, EnvoyConfigError, ip=True, trailing_dot=True, example="pachd.pachyderm.svc"
    )


def _listen_address(value: Any, path: str) -> str:
    text = _text(value, path)
    if not _is_ip(text):
        raise _fail(path, value, "give an IP address to bind, such as 0.0.0.0, :: or 127.0.0.1")
    return text


def _s3_host(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise _fail(path, value, "give a host name such as s3.example.com or *.s3.example.com")
    return check.dns_name(
        value, path, EnvoyConfigError, wildcard=True, trailing_dot=True, example="s3.example.com"
    )


def _duration(value: Any, path: str) -> int:
    return _int(value, path, 1, 7 * 24 * 3600, " (seconds)")


DESCRIPTION_FIELDS = (
    "node",
    "admin",
    "readiness",
    "listen_address",
    "http_port",
    "tls",
    "acme_solver",
    "backends",
    "s3_hosts",
    "legacy_ports",
    "legacy_tls",
    "xff_num_trusted_hops",
    "routes",
    "config_dir",
    "limits",
    "timeouts",
)


def parse_description(description: Any) -> ProxyModel:
    """Validate a plain description and return the typed model; raise EnvoyConfigError naming the field."""
    data = _mapping(description, "description")
    _known(data, "", DESCRIPTION_FIELDS)

    node = _mapping(data.get("node"), "node")
    _known(node, "node", ("id", "cluster"))
    node_id = _text(node.get("id", "pachyderm-proxy"), "node.id")
    node_cluster = _text(node.get("cluster", "pachyderm-proxy"), "node.cluster")

    listen_address = _listen_address(data.get("listen_address", "0.0.0.0"), "listen_address")  # noqa: S104
    http_port = _port(data.get("http_port", 8080), "http_port")

    admin_data = _mapping(data.get("admin"), "admin")
    _known(admin_data, "admin", ("address", "port"))
    admin_address = _listen_address(admin_data.get("address", "127.0.0.1"), "admin.address")
    if not ipaddress.ip_address(admin_address).is_loopback:
        raise _fail(
            "admin.address",
            admin_address,
            "bind the admin interface to a loopback address such as 127.0.0.1: it can stop the proxy "
            "and dump its configuration; reach it with kubectl port-forward",
        )
    admin = Address(admin_address, _port(admin_data.get("port", 9901), "admin.port"))

    readiness_data = _mapping(data.get("readiness"), "readiness")
    _known(readiness_data, "readiness", ("address", "port"))
    readiness = Address(
        _listen_address(readiness_data.get("address", listen_address), "readiness.address"),
        _port(readiness_data.get("port", 9902), "readiness.port"),
    )

    tls = _parse_tls(data.get("tls"))
    acme_solver = None
    if data.get("acme_solver") is not None:
        acme_data = _mapping(data["acme_solver"], "acme_solver")
        _known(acme_data, "acme_solver", ("host", "port"))
        if "host" not in acme_data or "port" not in acme_data:
            raise _fail("acme_solver", acme_data, "give both host and port of the ACME HTTP-01 solver")
        acme_solver = Address(
            _host(acme_data["host"], "acme_solver.host"), _port(acme_data["port"], "acme_solver.port")
        )

    backends = _parse_backends(data.get("backends"))
    s3_hosts = _parse_s3_hosts(data.get("s3_hosts"))
    legacy_tls = _bool(data.get("legacy_tls", True), "legacy_tls")
    legacy = _parse_legacy(data.get("legacy_ports"), tls is not None and legacy_tls)
    xff = _int(data.get("xff_num_trusted_hops", 0), "xff_num_trusted_hops", 0, 10)
    extra_routes = _parse_extra_routes(data.get("routes"))
    config_dir = _dir_path(data.get("config_dir", "/etc/envoy"), "config_dir")
    limits = _parse_limits(data.get("limits"))
    timeouts = _parse_timeouts(data.get("timeouts"))

    model = ProxyModel(
        node_id=node_id,
        node_cluster=node_cluster,
        admin=admin,
        readiness=readiness,
        listen_address=listen_address,
        http_port=http_port,
        tls=tls,
        acme_solver=acme_solver,
        backends=backends,
        s3_hosts=s3_hosts,
        legacy=legacy,
        xff_num_trusted_hops=xff,
        extra_routes=extra_routes,
        config_dir=config_dir,
        limits=limits,
        timeouts=timeouts,
    )
    _check_ports(model)
    _check_routes(model)
    return model


def _parse_tls(value: Any) -> Optional[Tls]:
    if value is None or value is False:
        return None
    data = _mapping(value, "tls")
    _known(data, "tls", ("cert_dir", "cert_file", "key_file", "https_port", "external_https_port", "hsts"))
    if not data.get("cert_dir"):
        raise EnvoyConfigError(
            "tls.cert_dir: missing; give the directory holding the certificate and key "
            "(for example the mount of the TLS Secret, /etc/envoy/tls), or leave tls out for cleartext"
        )
    hsts = None
    if data.get("hsts") not in (None, False):
        hsts_data = {} if data["hsts"] is True else _mapping(data["hsts"], "tls.hsts")
        _known(hsts_data, "tls.hsts", ("max_age", "include_subdomains", "preload"))
        hsts = Hsts(
            max_age=_int(hsts_data.get("max_age", 31536000), "tls.hsts.max_age", 0, 2**31 - 1, " (seconds)"),
            include_subdomains=_bool(
                hsts_data.get("include_subdomains", False), "tls.hsts.include_subdomains"
            ),
            preload=_bool(hsts_data.get("preload", False), "tls.hsts.preload"),
        )
        if hsts.preload and (hsts.max_age < 31536000 or not hsts.include_subdomains):
            raise _fail(
                "tls.hsts.preload",
                True,
                "browsers' preload lists require max_age of at least 31536000 and include_subdomains: true; "
                "set both or drop preload",
            )
    cert_dir = _dir_path(data["cert_dir"], "tls.cert_dir")
    files = {}
    for name, default in (("cert_file", "tls.crt"), ("key_file", "tls.key")):
        path = _file_path(data.get(name, default), f"tls.{name}")
        if path.startswith("/") and not path.startswith(cert_dir.rstrip("/") + "/"):
            raise _fail(
                f"tls.{name}",
                path,
                f"keep it inside tls.cert_dir ({cert_dir}): Envoy watches that directory for renewals, "
                "or give a name relative to it",
            )
        files[name] = path
    return Tls(
        cert_dir=cert_dir,
        cert_file=files["cert_file"],
        key_file=files["key_file"],
        https_port=_port(data.get("https_port", 8443), "tls.https_port"),
        external_https_port=_port(data.get("external_https_port", 443), "tls.external_https_port"),
        hsts=hsts,
    )


def _parse_backends(value: Any) -> Dict[str, Backend]:
    data = _mapping(value, "backends")
    _known(data, "backends", tuple(BACKEND_PORTS))
    backends = {}
    for name, default_port in BACKEND_PORTS.items():
        path = f"backends.{name}"
        entry = _mapping(data.get(name), path)
        _known(entry, path, ("host", "port", "tls"))
        host = _host(entry.get("host", BACKEND_HOSTS.get(name, DEFAULT_PACHD_HOST)), f"{path}.host")
        port = _port(entry.get("port", default_port), f"{path}.port")
        tls = None
        if entry.get("tls") is not None:
            tls_data = _mapping(entry["tls"], f"{path}.tls")
            _known(tls_data, f"{path}.tls", ("ca_file", "cert_file", "key_file", "sni"))
            if not tls_data.get("ca_file"):
                raise EnvoyConfigError(
                    f"{path}.tls.ca_file: missing; give the CA bundle that signed the backend's certificate "
                    "(the proxy never talks TLS to a backend it cannot verify)"
                )
            cert_file = tls_data.get("cert_file")
            key_file = tls_data.get("key_file")
            if bool(cert_file) != bool(key_file):
                missing = "key_file" if cert_file else "cert_file"
                raise EnvoyConfigError(
                    f"{path}.tls.{missing}: missing; mutual TLS needs both cert_file and key_file "
                    "(or neither for one-way TLS)"
                )
            sni = tls_data.get("sni")
            tls = UpstreamTls(
                ca_file=_file_path(tls_data["ca_file"], f"{path}.tls.ca_file"),
                cert_file=_file_path(cert_file, f"{path}.tls.cert_file") if cert_file else None,
                key_file=_file_path(key_file, f"{path}.tls.key_file") if key_file else None,
                sni=_host(sni, f"{path}.tls.sni") if sni else (None if _is_ip(host) else host),
            )
        backends[name] = Backend(name=name, host=host, port=port, tls=tls)
    return backends


def _parse_s3_hosts(value: Any) -> Tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _fail("s3_hosts", value, "give a list of host names, such as [s3.example.com]")
    hosts: List[str] = []
    for index, item in enumerate(value):
        path = f"s3_hosts[{index}]"
        host = _s3_host(item, path)
        for earlier_index, earlier in enumerate(hosts):
            if earlier == host or (earlier.startswith("*.") and host.endswith(earlier[1:])):
                raise _fail(
                    path,
                    item,
                    f"it can never match: s3_hosts[{earlier_index}] ({earlier}) already covers it; "
                    "remove one",
                )
        hosts.append(host)
    return tuple(hosts)


def _parse_legacy(value: Any, with_tls: bool) -> Tuple[LegacyListener, ...]:
    data = _mapping(value, "legacy_ports")
    _known(data, "legacy_ports", tuple(LEGACY_DEFAULT_PORTS))
    listeners = []
    for service, default_port in LEGACY_DEFAULT_PORTS.items():
        port = data.get(service)
        if port is None or port is False or port == 0:
            continue
        if port is True:
            port = default_port
        listeners.append(LegacyListener(service, _port(port, f"legacy_ports.{service}"), with_tls))
    return tuple(listeners)


def _parse_extra_routes(value: Any) -> Tuple[ExtraRoute, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _fail("routes", value, "give a list of {prefix, backend} entries")
    routes = []
    for index, item in enumerate(value):
        path = f"routes[{index}]"
        entry = _mapping(item, path)
        _known(entry, path, ("prefix", "backend"))
        prefix = _text(entry.get("prefix"), f"{path}.prefix")
        if not prefix.startswith("/"):
            raise _fail(f"{path}.prefix", prefix, "give a path prefix starting with /")
        backend = entry.get("backend")
        if backend not in BACKEND_PORTS:
            raise _fail(f"{path}.backend", backend, f"give one of the backends: {', '.join(BACKEND_PORTS)}")
        routes.append(ExtraRoute(prefix, backend))
    return tuple(routes)


def _parse_limits(value: Any) -> Limits:
    data = _mapping(value, "limits")
    defaults = Limits()
    fields = tuple(defaults.__dataclass_fields__)
    _known(data, "limits", fields)
    bounds = {
        "stream_window_bytes": (65535, 2**31 - 1),
        "connection_window_bytes": (65535, 2**31 - 1),
        "upstream_stream_window_bytes": (65535, 2**31 - 1),
        "upstream_connection_window_bytes": (65535, 2**31 - 1),
        "upstream_max_concurrent_streams": (1, 2**31 - 1),
        "buffer_bytes": (16 * 1024, 2**31 - 1),
        "max_concurrent_streams": (1, 2**31 - 1),
        "max_request_headers_kb": (1, 8192),
        "max_connections": (1, 10**7),
        "max_heap_bytes": (64 * MIB, 2**48),
    }
    values = {}
    for name in fields:
        low, high = bounds.get(name, (1, 10**7))
        values[name] = _int(data.get(name, getattr(defaults, name)), f"limits.{name}", low, high)
    limits = Limits(**values)
    if limits.connection_window_bytes < limits.stream_window_bytes:
        raise _fail(
            "limits.connection_window_bytes",
            limits.connection_window_bytes,
            f"make it at least limits.stream_window_bytes ({limits.stream_window_bytes}); "
            "a smaller connection window caps every stream below its own window",
        )
    needed = limits.upstream_max_concurrent_streams * limits.upstream_stream_window_bytes
    if limits.upstream_connection_window_bytes < needed:
        raise _fail(
            "limits.upstream_connection_window_bytes",
            limits.upstream_connection_window_bytes,
            f"make it at least upstream_max_concurrent_streams x upstream_stream_window_bytes ({needed}), "
            "or one slow client could stall every stream sharing its backend connection",
        )
    # The overload manager must be able to hold a handful of full-speed streams before it starts
    # shedding; otherwise the windows promise throughput the heap limit takes back.
    if limits.max_heap_bytes < 8 * limits.stream_worst_case_bytes:
        raise _fail(
            "limits.max_heap_bytes",
            limits.max_heap_bytes,
            f"give at least {8 * limits.stream_worst_case_bytes} (8 streams at their worst case of "
            f"{limits.stream_worst_case_bytes} bytes), or shrink the windows",
        )
    return limits


def _parse_timeouts(value: Any) -> Timeouts:
    data = _mapping(value, "timeouts")
    defaults = Timeouts()
    fields = tuple(defaults.__dataclass_fields__)
    _known(data, "timeouts", fields)
    values = {name: _duration(data.get(name, getattr(defaults, name)), f"timeouts.{name}") for name in fields}
    return Timeouts(**values)


def _overlaps(first: str, second: str) -> bool:
    wildcard = ("0.0.0.0", "::")  # noqa: S104
    return first == second or first in wildcard or second in wildcard


def bound_sockets(model: ProxyModel) -> List[Tuple[str, str, int]]:
    """Every (field path, address, port) the proxy binds."""
    sockets = [
        ("http_port", model.listen_address, model.http_port),
        ("admin.port", model.admin.address, model.admin.port),
        ("readiness.port", model.readiness.address, model.readiness.port),
    ]
    if model.tls is not None:
        sockets.append(("tls.https_port", model.listen_address, model.tls.https_port))
    for legacy in model.legacy:
        sockets.append((f"legacy_ports.{legacy.service}", model.listen_address, legacy.port))
    return sockets


def _check_ports(model: ProxyModel) -> None:
    sockets = bound_sockets(model)
    for index, (path, address, port) in enumerate(sockets):
        for earlier_path, earlier_address, earlier_port in sockets[:index]:
            if port == earlier_port and _overlaps(address, earlier_address):
                raise _fail(
                    path,
                    port,
                    f"{earlier_path} already listens on port {port}; give each listener its own port",
                )


def _check_routes(model: ProxyModel) -> None:
    """Reject a route that an earlier, unconditional prefix route already answers."""
    routes = model.routes()
    for index, route in enumerate(routes):
        if route.backend not in model.backends and route.backend != "acme_solver":
            raise _fail(route.field_path or route.name, route.backend, "route to one of the known backends")
        if route.conditional:
            continue
        for earlier in routes[:index]:
            if earlier.conditional:
                continue
            if route.prefix.startswith(earlier.prefix):
                if route.name == "console" and earlier.field_path:
                    raise _fail(
                        earlier.field_path,
                        earlier.prefix,
                        "it would take every request the console answers; give a narrower prefix",
                    )
                path = route.field_path or f"routes ({route.name})"
                raise _fail(
                    path,
                    route.prefix,
                    f"it can never match: the earlier route {earlier.name!r} (prefix {earlier.prefix!r}) "
                    "takes every such request; choose a prefix outside it or drop the route",
                )
