# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The typed model of the one-port proxy: what should be reachable on which port.

`parse_description` turns a plain dict (inventory data, JSON) into a validated `ProxyModel`, or raises
`EnvoyConfigError` naming the field, the bad value and the fix. Every default lives in this file, next
to the reason it was chosen; the translator in `envoy_config` only spells the model out in Envoy's terms.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from ansible_collections.oneport.pachyderm.plugins.module_utils import inputs as check
from ansible_collections.oneport.pachyderm.plugins.module_utils.inputs import InputError

MIB = 1024 * 1024


class EnvoyConfigError(InputError):
    """A description that cannot become a correct proxy; the message names field, value and fix."""


# The backends behind the one port, with the container ports Pachyderm's chart uses and the Envoy
# cluster names its own proxy config uses (so access logs and stats read the same in both).
BACKEND_PORTS = {
    "pachd_grpc": 1650,
    "s3": 1600,
    "oidc": 1657,
    "identity": 1658,
    "pachd_http": 1659,
    "metrics": 1656,
    "console": 4000,
}
BACKEND_HOSTS = {
    "console": "console-proxy-backend",
}
DEFAULT_PACHD_HOST = "pachd-proxy-backend"
CLUSTER_NAMES = {
    "pachd_grpc": "pachd-grpc",
    "s3": "pachd-s3",
    "oidc": "pachd-oidc",
    "identity": "pachd-identity",
    "pachd_http": "pachd-http",
    "metrics": "pachd-metrics",
    "console": "console",
    "acme_solver": "acme-solver",
}

# The well-known direct ports of a Pachyderm install; `legacy_ports: {grpc: true}` picks these.
LEGACY_DEFAULT_PORTS = {
    "grpc": 30650,
    "s3": 30600,
    "oidc": 30657,
    "identity": 30658,
    "metrics": 30656,
    "console": 4000,
    "pachd_http": 30659,
}
LEGACY_BACKENDS = {
    "grpc": "pachd_grpc",
    "s3": "s3",
    "oidc": "oidc",
    "identity": "identity",
    "metrics": "metrics",
    "console": "console",
    "pachd_http": "pachd_http",
}

# Uploads, downloads, watches and websockets last as long as they move bytes: routes to these never
# get a total timeout (Envoy's 15 s default would cut them), only an idle one.
STREAMING_BACKENDS = ("pachd_grpc", "s3", "console", "pachd_http")

# Path prefixes pachd serves over plain HTTP (its chart routes exactly these to port 1659).
PACHD_HTTP_PREFIXES = ("/archive/", "/jsonschema/", "/pfs", "/api/")
IDENTITY_PREFIX = "/dex"
OIDC_CALLBACK_PREFIX = "/authorization-code/callback"
ACME_CHALLENGE_PREFIX = "/.well-known/acme-challenge/"
# Route targets that are answers from the proxy itself rather than backends.
HTTPS_REDIRECT = "https_redirect"
GRPC_TLS_REQUIRED = "grpc_tls_required"


@dataclass(frozen=True)
class UpstreamTls:
    """TLS from the proxy to a backend; with cert_file and key_file it is mutual TLS."""

    ca_file: str
    cert_file: Optional[str] = None
    key_file: Optional[str] = None
    sni: Optional[str] = None


@dataclass(frozen=True)
class Backend:
    name: str
    host: str
    port: int
    tls: Optional[UpstreamTls] = None

    @property
    def cluster(self) -> str:
        return CLUSTER_NAMES[self.name]

    @property
    def is_ip(self) -> bool:
        return check.is_ip(self.host)

    @property
    def http2(self) -> bool:
        """pachd's gRPC port speaks HTTP/2; the others speak HTTP/1.1 (websocket upgrades, S3)."""
        return self.name == "pachd_grpc"


@dataclass(frozen=True)
class Hsts:
    max_age: int = 31536000
    include_subdomains: bool = False
    preload: bool = False

    @property
    def header_value(self) -> str:
        value = f"max-age={self.max_age}"
        if self.include_subdomains:
            value += "; includeSubDomains"
        if self.preload:
            value += "; preload"
        return value


@dataclass(frozen=True)
class Tls:
    """TLS on the one port: the certificate comes from files a renewal rewrites (cert-manager, kubelet)."""

    cert_dir: str
    cert_file: str = "tls.crt"
    key_file: str = "tls.key"
    https_port: int = 8443
    # The port clients see (the load balancer's), used in redirects; 443 keeps URLs clean.
    external_https_port: int = 443
    hsts: Optional[Hsts] = None

    @property
    def cert_path(self) -> str:
        return _join(self.cert_dir, self.cert_file)

    @property
    def key_path(self) -> str:
        return _join(self.cert_dir, self.key_file)


@dataclass(frozen=True)
class Address:
    address: str
    port: int


@dataclass(frozen=True)
class Limits:
    """Sizes that bound memory and protect the proxy; see docs/envoy.md for the arithmetic."""

    # One stream carries at most one window per round trip. 1 Gbit/s at 60 ms is 7.5 MB in flight,
    # but Envoy returns window credit in steps, so a stream moves only ~40% of its window per round
    # trip in practice: measured on loopback with 60 ms added, 16 MiB gave 0.4x of a direct gRPC
    # upload, 64 MiB gave parity. Envoy's 256 MiB default would quadruple the worst case below.
    stream_window_bytes: int = 64 * MIB
    # Envoy returns connection-level credit only for data it has passed on towards the backend, so
    # this bounds what one client connection can make the proxy hold; twice the stream window lets
    # one stalled stream sit beside one at full speed.
    connection_window_bytes: int = 128 * MIB
    # Backends sit in the same cluster (sub-millisecond round trips): 4 MiB already fills the pipe.
    upstream_stream_window_bytes: int = 4 * MIB
    # One stream per backend connection, as each client has when it talks to pachd directly. pachd's
    # gRPC server reads each connection in one goroutine behind one connection window: 8 uploads at
    # once, multiplexed onto the proxy's two backend connections (one per worker), ran at 45, 58 and
    # 44 MB/s at 0, 20 and 60 ms; with a connection each, at 48, 61 and 55 (make bench-real, medians of
    # three). Envoy keeps the connections for reuse; backend_max_connections bounds them. No stream
    # waits behind another client's, so the connection window need only cover its stream.
    upstream_max_concurrent_streams: int = 1
    upstream_connection_window_bytes: int = 4 * MIB
    # Envoy's own default: the most data waiting to be written per stream and direction before the
    # other side is paused. HTTP/2 throughput comes from the windows, HTTP/1.1 from TCP's own.
    buffer_bytes: int = 1 * MIB
    # What gRPC servers commonly allow a client connection.
    max_concurrent_streams: int = 100
    # Big enough for OIDC cookies and long presigned S3 URLs; Envoy's default is 60.
    max_request_headers_kb: int = 96
    max_connections: int = 50000
    # The heap the overload manager protects; keep it ~80% of the container's memory limit so the
    # binary, thread stacks and the data arriving between two overload checks still fit.
    max_heap_bytes: int = 1024 * MIB
    # Per backend: Envoy's default of 1024 concurrent requests is too low for a cluster's whole
    # gRPC traffic behind one proxy.
    backend_max_connections: int = 10000
    backend_max_requests: int = 10000
    backend_max_pending_requests: int = 10000

    @property
    def stream_worst_case_bytes(self) -> int:
        """A stream stalled both ways: a full window from each side and a buffer in each direction."""
        return self.stream_window_bytes + self.upstream_stream_window_bytes + 2 * self.buffer_bytes

    @property
    def connection_worst_case_bytes(self) -> int:
        """A client connection with every stream stalled: the connection window caps what is held
        from the client; each stream may also hold what it already passed towards its backend."""
        per_stream_rest = self.upstream_stream_window_bytes + 2 * self.buffer_bytes
        return self.connection_window_bytes + self.max_concurrent_streams * per_stream_rest


@dataclass(frozen=True)
class Timeouts:
    """Seconds. Streams are never cut by a total-duration timeout, only by idleness."""

    # Slowloris: a client gets this long to send its complete request headers.
    request_headers: int = 10
    # A stream with no bytes either way for this long is reset; 15 minutes covers slow S3 clients
    # and quiet console websockets while still reclaiming abandoned streams.
    stream_idle: int = 900
    # pachctl waits on commits and subscriptions over long quiet gRPC streams; an hour without a
    # single message is treated as abandoned.
    grpc_stream_idle: int = 3600
    # A connection with no streams for this long is closed.
    connection_idle: int = 3600
    # Backends are in-cluster: a connection that takes longer is not coming; fail fast with 503.
    connect: int = 5
    # Dex and the OIDC callback answer short requests; the chart allows them 60 s.
    auth_request: int = 60
    # Keepalive pings on the upstream gRPC connection find a dead pachd before a request does.
    upstream_keepalive_interval: int = 30
    upstream_keepalive_timeout: int = 10


@dataclass(frozen=True)
class Route:
    """One entry of the one port's route table, in evaluation order."""

    name: str
    backend: str  # a backend name, HTTPS_REDIRECT or GRPC_TLS_REQUIRED
    prefix: str = "/"
    grpc: bool = False
    header: Optional[Tuple[str, str]] = None  # (name, value prefix)
    query_present: Optional[str] = None
    hosts: Tuple[str, ...] = ()
    websocket: bool = False
    field_path: str = ""

    @property
    def conditional(self) -> bool:
        return self.grpc or self.header is not None or self.query_present is not None or bool(self.hosts)


@dataclass(frozen=True)
class LegacyListener:
    service: str
    port: int
    tls: bool

    @property
    def backend(self) -> str:
        return LEGACY_BACKENDS[self.service]

    @property
    def name(self) -> str:
        return f"legacy-{self.service}"

    @property
    def route(self) -> Route:
        # A legacy port carries exactly one service: every request on it goes to that backend, so
        # the old direct clients (pachctl on 30650, S3 tools on 30600, ...) keep working unchanged.
        return Route(self.name, self.backend, websocket=self.backend == "console")


@dataclass(frozen=True)
class ExtraRoute:
    prefix: str
    backend: str


@dataclass(frozen=True)
class ProxyModel:
    node_id: str
    node_cluster: str
    admin: Address
    readiness: Address
    listen_address: str
    http_port: int
    tls: Optional[Tls]
    acme_solver: Optional[Address]
    backends: Dict[str, Backend]
    s3_hosts: Tuple[str, ...]
    legacy: Tuple[LegacyListener, ...]
    xff_num_trusted_hops: int
    extra_routes: Tuple[ExtraRoute, ...]
    config_dir: str
    limits: Limits = field(default_factory=Limits)
    timeouts: Timeouts = field(default_factory=Timeouts)

    @property
    def sds_path(self) -> str:
        """The SDS file naming the certificate files; the proxy watches config_dir for its renewal."""
        return _join(self.config_dir, "sds-tls.json")

    def routes(self) -> List[Route]:
        """The one port's routes, first match wins."""
        return one_port_routes(self)

    def route_timeouts(self, backend: str) -> Tuple[int, Optional[int]]:
        """(total, idle) seconds for a route to this backend; a total of 0 means none."""
        if backend == "pachd_grpc":
            return 0, self.timeouts.grpc_stream_idle
        if backend in STREAMING_BACKENDS:
            return 0, self.timeouts.stream_idle
        return self.timeouts.auth_request, None

    def redirect_routes(self) -> List[Route]:
        """The cleartext port's routes when TLS is on."""
        return cleartext_redirect_routes(self)


# HTTP-01 challenges are fetched over plain HTTP on port 80: they go first, before any redirect.
ACME_ROUTE = Route("acme-challenge", "acme_solver", prefix=ACME_CHALLENGE_PREFIX)


def one_port_routes(model: ProxyModel) -> List[Route]:
    routes: List[Route] = []
    if model.acme_solver is not None and model.tls is None:
        routes.append(ACME_ROUTE)
    routes.append(Route("grpc", "pachd_grpc", grpc=True))
    # SigV4 and SigV2 signed requests, then presigned URLs (the signature travels in the query).
    routes.append(Route("s3-sigv4", "s3", header=("authorization", "AWS4-HMAC-SHA256")))
    routes.append(Route("s3-sigv2", "s3", header=("authorization", "AWS ")))
    routes.append(Route("s3-presigned-v4", "s3", query_present="X-Amz-Algorithm"))
    routes.append(Route("s3-presigned-v2", "s3", query_present="AWSAccessKeyId"))
    if model.s3_hosts:
        routes.append(Route("s3-host", "s3", hosts=model.s3_hosts, field_path="s3_hosts"))
    routes.append(Route("identity", "identity", prefix=IDENTITY_PREFIX))
    routes.append(Route("oidc-callback", "oidc", prefix=OIDC_CALLBACK_PREFIX))
    for prefix in PACHD_HTTP_PREFIXES:
        routes.append(Route("pachd-http" + prefix.rstrip("/").replace("/", "-"), "pachd_http", prefix=prefix))
    for index, extra in enumerate(model.extra_routes):
        routes.append(
            Route(
                f"extra-{index}",
                extra.backend,
                prefix=extra.prefix,
                websocket=extra.backend == "console",
                field_path=f"routes[{index}].prefix",
            )
        )
    routes.append(Route("console", "console", websocket=True))
    return routes


def cleartext_redirect_routes(model: ProxyModel) -> List[Route]:
    routes: List[Route] = []
    if model.acme_solver is not None:
        routes.append(ACME_ROUTE)
    # A redirect means nothing to a gRPC client: it gets an error it shows to the user instead.
    routes.append(Route("grpc-tls-required", GRPC_TLS_REQUIRED, grpc=True))
    routes.append(Route("https-redirect", HTTPS_REDIRECT))
    return routes


def _join(directory: str, name: str) -> str:
    if name.startswith("/"):
        return name
    return directory.rstrip("/") + "/" + name
