"""The two proxies under comparison: Pachyderm's reference config and the collection's renderer."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from support.envoy import Envoy
from support.proxy.reference import reference_bootstrap

# The chart's cluster names, which are also the names of the test backends.
BACKEND_NAMES = (
    "pachd-grpc",
    "pachd-s3",
    "pachd-http",
    "pachd-identity",
    "pachd-oidc",
    "pachd-metrics",
    "console",
)

# Legacy (direct) listeners of the chart, by the service they carry.
REFERENCE_LEGACY = {
    "grpc": "direct-pachd-grpc",
    "s3": "direct-pachd-s3",
    "oidc": "direct-pachd-oidc",
    "identity": "direct-pachd-identity",
    "metrics": "direct-pachd-metrics",
    "pachd_http": "direct-pachd-http",
    "console": "direct-console",
}


@dataclass
class Proxy:
    """A running Envoy and where to reach it."""

    kind: str  # "reference" or "ours"
    envoy: Envoy
    port: int  # the one port (cleartext, or TLS when tls is set)
    tls: bool = False
    redirect_port: int | None = None  # port 80's stand-in when TLS is on
    legacy: dict[str, int] = field(default_factory=dict)

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.envoy.stop()


def start_reference(
    reference_dir: Path, ports: dict[str, int], workdir: Path, tls_dir: Path | None = None
) -> Proxy:
    envoy = Envoy(
        reference_bootstrap(reference_dir, ports, tls_dir),
        workdir,
        "reference-tls" if tls_dir else "reference",
    )
    envoy.start()
    bound = envoy.listener_ports()
    if tls_dir:
        return Proxy(
            "reference", envoy, bound["proxy-https"], tls=True, redirect_port=bound["https-redirect"]
        )
    legacy = {service: bound[name] for service, name in REFERENCE_LEGACY.items()}
    return Proxy("reference", envoy, bound["proxy-http"], legacy=legacy)
