"""The collection's renderer (`envoy_config.render_bootstrap`), driven with a description that points
every backend at the test backends on loopback. The description format is the one docs/envoy.md
documents.
"""

from __future__ import annotations

from pathlib import Path

from support.envoy import Envoy
from support.ports import free_port
from support.proxy import Proxy
from support.proxy.matrix import S3_HOST

# The chart's cluster names (the test backends' names) -> the description's backend names.
DESCRIPTION_BACKENDS = {
    "pachd-grpc": "pachd_grpc",
    "pachd-s3": "s3",
    "pachd-oidc": "oidc",
    "pachd-identity": "identity",
    "pachd-http": "pachd_http",
    "pachd-metrics": "metrics",
    "console": "console",
}
LEGACY_SERVICES = ("grpc", "s3", "oidc", "identity", "metrics", "console", "pachd_http")


def renderer():
    """The collection's renderer module; it is found through the collection tree `make setup` links."""
    try:
        from ansible_collections.oneport.pachyderm.plugins.module_utils import envoy_config
    except ImportError as error:
        raise RuntimeError(
            "cannot import oneport.pachyderm's envoy_config: run through `make` (or set "
            "PYTHONPATH=$PWD/.build/collections after `make setup`)"
        ) from error
    return envoy_config


def describe(
    backend_ports: dict[str, int],
    config_dir: Path,
    tls_dir: Path | None = None,
    legacy: bool = True,
    **extra,
) -> tuple[dict, dict]:
    """A description for loopback tests, and the ports chosen for it (name -> port)."""
    ports = {"http": free_port(), "admin": free_port(), "readiness": free_port()}
    description = {
        "listen_address": "127.0.0.1",
        "http_port": ports["http"],
        "admin": {"address": "127.0.0.1", "port": ports["admin"]},
        "readiness": {"address": "127.0.0.1", "port": ports["readiness"]},
        "config_dir": str(config_dir),
        "backends": {
            name: {"host": "127.0.0.1", "port": backend_ports[chart_name]}
            for chart_name, name in DESCRIPTION_BACKENDS.items()
        },
    }
    if legacy:
        legacy_ports = {service: free_port() for service in LEGACY_SERVICES}
        description["legacy_ports"] = legacy_ports
        ports.update({f"legacy:{service}": port for service, port in legacy_ports.items()})
    if tls_dir is not None:
        ports["https"] = free_port()
        description["tls"] = {
            "cert_dir": str(tls_dir),
            "https_port": ports["https"],
            "external_https_port": ports["https"],
        }
    if "acme-solver" in backend_ports and extra.pop("acme", tls_dir is not None):
        description["acme_solver"] = {"host": "127.0.0.1", "port": backend_ports["acme-solver"]}
    description.setdefault("s3_hosts", [S3_HOST])
    description.update(extra)
    return description, ports


def render(description: dict, config_dir: Path) -> dict:
    """Render the bootstrap and write the SDS files it reads."""
    envoy_config = renderer()
    bootstrap = envoy_config.render_bootstrap(description)
    for path, content in envoy_config.secret_files(description).items():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(content)
    return bootstrap


def start_ours(backend_ports, workdir, tls_dir: Path | None = None, legacy: bool = True, **extra) -> Proxy:
    workdir = Path(workdir)
    config_dir = workdir / "config"
    config_dir.mkdir(parents=True, exist_ok=True)
    description, ports = describe(backend_ports, config_dir, tls_dir, legacy, **extra)
    bootstrap = render(description, config_dir)
    envoy = Envoy(bootstrap, workdir, "ours-tls" if tls_dir else "ours")
    envoy.description = description
    envoy.start()
    legacy_ports = {key.split(":", 1)[1]: port for key, port in ports.items() if key.startswith("legacy:")}
    if tls_dir is not None:
        return Proxy(
            "ours", envoy, ports["https"], tls=True, redirect_port=ports["http"], legacy=legacy_ports
        )
    return Proxy("ours", envoy, ports["http"], legacy=legacy_ports)
