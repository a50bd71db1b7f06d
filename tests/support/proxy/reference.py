"""Pachyderm's own proxy configs (chart 2.12.0), pointed at loopback backends for comparison runs.

The configs are read from the shared reference data at test time and rewritten in memory: cluster
endpoints go to the test backends, listeners to ephemeral loopback ports, the admin interface to
loopback, and the SDS paths to the test's certificate directory. Nothing else changes, so the routing
under test is Pachyderm's.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from support.ports import free_port


def _walk(node, visit):
    if isinstance(node, dict):
        visit(node)
        for value in node.values():
            _walk(value, visit)
    elif isinstance(node, list):
        for value in node:
            _walk(value, visit)


def point_clusters_at(config: dict, backends: dict[str, int]) -> None:
    """Send each cluster of a bootstrap to the loopback port of the backend with its name."""
    for cluster in config["static_resources"]["clusters"]:
        port = backends[cluster["name"]]
        for endpoints in cluster["load_assignment"]["endpoints"]:
            for lb_endpoint in endpoints["lb_endpoints"]:
                lb_endpoint["endpoint"]["address"]["socket_address"] = {
                    "address": "127.0.0.1",
                    "port_value": port,
                }


def reference_bootstrap(reference_dir: Path, backends: dict[str, int], tls_dir: Path | None = None) -> dict:
    """The chart's envoy.json (or envoy-tls.json when tls_dir is given) with loopback addresses.

    backends maps the chart's cluster names (pachd-grpc, pachd-s3, pachd-http, pachd-identity,
    pachd-oidc, pachd-metrics, console) to loopback ports. Listener ports become 0: read the bound
    ports from Envoy's admin (`Envoy.listener_ports()`), keyed by the chart's listener names.
    """
    name = "envoy-tls.json" if tls_dir else "envoy.json"
    config = copy.deepcopy(json.loads((reference_dir / "pachyderm" / name).read_text()))
    # The chart passes --service-node/--service-cluster on the command line; file-based SDS needs them.
    config.setdefault("node", {"id": "pachyderm-proxy", "cluster": "pachyderm-proxy"})
    config["admin"]["address"]["socket_address"] = {"address": "127.0.0.1", "port_value": 0}
    point_clusters_at(config, backends)
    for listener in config["static_resources"]["listeners"]:
        listener["address"]["socket_address"] = {"address": "127.0.0.1", "port_value": 0}
    if tls_dir:
        sds_path = tls_dir / "sds.yaml"
        sds_path.write_text(
            json.dumps(
                {
                    "resources": [
                        {
                            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
                            "name": "tls",
                            "tls_certificate": {
                                "watched_directory": {"path": str(tls_dir)},
                                "certificate_chain": {"filename": str(tls_dir / "tls.crt")},
                                "private_key": {"filename": str(tls_dir / "tls.key")},
                            },
                        }
                    ]
                }
            )
        )

        def visit(node):
            source = node.get("path_config_source")
            if isinstance(source, dict) and source.get("path") == "/etc/envoy/sds.yaml":
                source["path"] = str(sds_path)
                source["watched_directory"] = {"path": str(tls_dir)}

        _walk(config, visit)
    return config


def probe_bootstrap(reference_dir: Path, backends: dict[str, int]) -> dict:
    """The chart's envoy.json reduced to the one port, for tests that decide which backend is up.

    Only the one port's listener (`proxy-http`, port 0: read it from `Envoy.listener_ports()`) is kept;
    each cluster is a static loopback endpoint at backends[cluster] (an unused port when the test starts
    no backend for it), and active health checks are dropped.
    """
    config = json.loads((reference_dir / "pachyderm" / "envoy.json").read_text())
    names = [cluster["name"] for cluster in config["static_resources"]["clusters"]]
    config = reference_bootstrap(reference_dir, {name: backends.get(name) or free_port() for name in names})
    config["admin"].pop("access_log", None)
    listeners = config["static_resources"]["listeners"]
    config["static_resources"]["listeners"] = [lst for lst in listeners if lst["name"] == "proxy-http"]
    for cluster in config["static_resources"]["clusters"]:
        cluster.pop("health_checks", None)
        cluster["type"] = "static"
        for key in ("dns_lookup_family", "dns_refresh_rate", "dns_failure_refresh_rate"):
            cluster.pop(key, None)
    return config
