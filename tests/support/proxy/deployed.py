"""The in-cluster proxy's configuration as the pachyderm role deploys it, run on loopback.

The files are the `pachyderm-proxy-config` ConfigMap's data: the real Pachyderm chart rendered by
`helm template` with the role's values and post-renderer (the same bytes the sandbox's API server
holds after a converge, which tests/integration/sandbox/test_pachyderm_role_sandbox.py asserts).
To run them here, only what names the pod's surroundings is rewritten, in memory:

- each cluster's endpoint (the chart's `pachd-proxy-backend`/`console-proxy-backend` Services, the
  ACME solver Service) becomes the loopback test backend of the same cluster name;
- listeners move from the pod's ports (8080, 8443, 9902, the legacy container ports) to free loopback
  ports, the admin interface to an ephemeral loopback port, and the HTTPS redirect names the moved
  HTTPS port;
- the mount paths `/etc/envoy` (the ConfigMap) and `/tls` (the TLS Secret) become test directories.

Routes, filters, limits, timeouts and TLS settings are the deployed ones, byte for byte.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from support.envoy import Envoy
from support.envoy import validate as envoy_validate
from support.paths import REPO
from support.ports import free_port
from support.proxy import Proxy
from support.proxy.reference import point_clusters_at

CONFIG_DIR = "/etc/envoy"
TLS_DIR = "/tls"


def _walk(node, visit):
    if isinstance(node, dict):
        visit(node)
        for value in list(node.values()):
            _walk(value, visit)
    elif isinstance(node, list):
        for value in node:
            _walk(value, visit)


def _moved(text: str, config_dir: Path, tls_dir: Path | None) -> str:
    text = text.replace(f'"{CONFIG_DIR}/', f'"{config_dir}/').replace(f'"{CONFIG_DIR}"', f'"{config_dir}"')
    if tls_dir is not None:
        text = text.replace(f'"{TLS_DIR}/', f'"{tls_dir}/').replace(f'"{TLS_DIR}"', f'"{tls_dir}"')
    return text


def localize(
    files: dict[str, str], workdir: Path, backend_ports: dict[str, int] | None, tls_dir: Path | None = None
) -> tuple[dict, dict[str, int]]:
    """The bootstrap pointed at loopback, and the listener name -> port it binds.

    With backend_ports None the endpoints stay as deployed (enough for `envoy --mode validate`).
    """
    config_dir = Path(workdir) / "etc-envoy"
    config_dir.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (config_dir / name).write_text(_moved(content, config_dir, tls_dir))
    bootstrap = json.loads(_moved(files["envoy.json"], config_dir, tls_dir))
    ports: dict[str, int] = {}
    if backend_ports is None:
        return bootstrap, ports
    bootstrap["admin"]["address"]["socket_address"] = {"address": "127.0.0.1", "port_value": 0}
    point_clusters_at(bootstrap, backend_ports)
    for listener in bootstrap["static_resources"]["listeners"]:
        ports[listener["name"]] = free_port()
        listener["address"]["socket_address"] = {
            "address": "127.0.0.1",
            "port_value": ports[listener["name"]],
        }
    if "https" in ports:

        def visit(node):
            redirect = node.get("redirect")
            if isinstance(redirect, dict) and redirect.get("https_redirect"):
                redirect["port_redirect"] = ports["https"]

        _walk(bootstrap, visit)
    return bootstrap, ports


def validate(
    files: dict[str, str], workdir: Path, tls_dir: Path | None = None
) -> subprocess.CompletedProcess:
    """`envoy --mode validate` on the deployed files (mount paths moved, nothing else)."""
    bootstrap, _ports = localize(files, workdir, None, tls_dir)
    path = Path(workdir) / "validate.json"
    path.write_text(json.dumps(bootstrap))
    return envoy_validate(path, "--log-level", "error")


def start_deployed(
    files: dict[str, str], backend_ports: dict[str, int], workdir: Path, tls_dir: Path | None = None
):
    """Run the deployed configuration against the loopback backends."""
    bootstrap, ports = localize(files, workdir, backend_ports, tls_dir)
    envoy = Envoy(bootstrap, workdir, "deployed-tls" if tls_dir else "deployed")
    envoy.start()
    legacy = {name.split("-", 1)[1]: port for name, port in ports.items() if name.startswith("legacy-")}
    if tls_dir is not None:
        return Proxy("deployed", envoy, ports["https"], tls=True, redirect_port=ports["http"], legacy=legacy)
    return Proxy("deployed", envoy, ports["http"], legacy=legacy)


def rendered_files(
    reference_dir: Path, inputs: dict, workdir: Path, helm: Path, post_renderer: Path
) -> dict[str, str]:
    """The proxy ConfigMap's data from the real chart, rendered as the pachyderm role renders it:
    values from pachyderm_values, `helm template`, then the role's post-renderer with the settings
    from pachyderm_proxy."""
    import sys

    import yaml

    from ansible_collections.oneport.pachyderm.plugins.module_utils import pachyderm_proxy, pachyderm_values
    from support.role_inputs import role_inputs

    inputs = role_inputs(inputs)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    pinned = pachyderm_values.pin(None, pachyderm_values.pinned_keys(inputs))["values"]
    (workdir / "values.yaml").write_text(yaml.safe_dump(pachyderm_values.build_values(inputs, pinned)))
    (workdir / "proxy.json").write_text(json.dumps(pachyderm_proxy.post_render_settings(inputs)))
    wrapper = workdir / "post-renderer"
    wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} {post_renderer} --proxy {workdir / 'proxy.json'}\n")
    wrapper.chmod(0o700)
    result = subprocess.run(
        [
            str(helm),
            "template",
            "pachyderm",
            str(reference_dir / "charts" / "pachyderm-2.12.0.tgz"),
            "--namespace",
            "pachyderm",
            "--values",
            str(workdir / "values.yaml"),
            "--post-renderer",
            str(wrapper),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    for doc in yaml.safe_load_all(result.stdout):
        if doc and doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == "pachyderm-proxy-config":
            return doc["data"]
    raise AssertionError("the rendered chart has no pachyderm-proxy-config ConfigMap")


# The inventories the deployed proxies stand for: a cleartext one and a TLS one with the ACME route,
# every legacy port (with TLS) and a virtual-host S3 name, as the harness's own "ours" proxies have.
DEPLOYED_LEGACY = {
    "grpc": 30650,
    "s3_gateway": 30600,
    "oidc": 30657,
    "identity": 30658,
    "metrics": 30656,
    "console": 30400,
    "pachd_http": 30659,
}

# The pachyderm role's inputs (its variables without the pachyderm_ prefix) for in-cluster
# configurations the tests validate with the pinned Envoy and keep as golden files
# (tests/golden/envoy/in_cluster_<name>.yaml).
INVENTORIES = {
    "metallb": {"platform": "metallb"},
    "self_signed": {
        "platform": "metallb",
        "tls": "self_signed",
        "proxy_host": "pachyderm.example.com",
        "tls_secret_name": "pachyderm-proxy-tls",
    },
    "acme_node_port_legacy_ports": {
        "platform": "kind",
        "tls": "acme_http01",
        "proxy_host": "pachyderm.example.com",
        "tls_secret_name": "pachyderm-proxy-tls",
        "legacy_ports": DEPLOYED_LEGACY,
        "proxy_memory_limit": "2Gi",
        "proxy_xff_num_trusted_hops": 1,
    },
}


def deployed_inputs(tls: bool) -> dict:
    from .matrix import S3_HOST

    inputs = {"platform": "kind", "legacy_ports": DEPLOYED_LEGACY, "proxy_s3_hosts": [S3_HOST]}
    if tls:
        inputs.update(tls="acme_http01", proxy_host="localhost", tls_secret_name="pachyderm-proxy-tls")
    return inputs


def render_inputs(reference_dir: Path, inputs: dict, workdir: Path) -> dict[str, str]:
    """rendered_files with this checkout's helm and the pachyderm role's post-renderer."""
    return rendered_files(
        reference_dir,
        inputs,
        workdir,
        REPO / "bin" / "helm",
        REPO / "roles" / "pachyderm" / "files" / "post_render.py",
    )


def deployed_files(reference_dir: Path, workdir: Path, tls: bool) -> dict[str, str]:
    return render_inputs(reference_dir, deployed_inputs(tls), workdir)
