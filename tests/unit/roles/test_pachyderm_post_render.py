"""The pachyderm role's post-renderer (roles/pachyderm/files/post_render.py), as plain Python."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import yaml
from support.paths import REPO

SCRIPT = REPO / "roles" / "pachyderm" / "files" / "post_render.py"
spec = importlib.util.spec_from_file_location("post_render", SCRIPT)
post_render = importlib.util.module_from_spec(spec)
spec.loader.exec_module(post_render)

CONFIGMAP = (
    '# Source: pachyderm/templates/proxy/configmap.yaml\napiVersion: v1\nkind: ConfigMap\ndata: {a: "1"}\n'
)
PACHD = """# Source: pachyderm/templates/pachd/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: pachd
spec:
  template:
    spec:
      containers:
      - name: pachd
        image: "pachyderm/pachd:2.12.0"
        env:
        - name: POSTGRES_HOST
          value: "postgres"
        - name: UPGRADE_NO_OP
          value: Zx8rW1uJ3kLq0aPs9dNf2hGt5yVb7cMe
        - name: K8S_MEMORY_REQUEST
          valueFrom: {resourceFieldRef: {containerName: pachd, resource: requests.memory}}
"""


def test_the_random_upgrade_variable_is_dropped_and_everything_else_kept():
    configmap, pachd = yaml.safe_load_all(post_render.post_render(f"---\n{CONFIGMAP}---\n{PACHD}"))
    container = pachd["spec"]["template"]["spec"]["containers"][0]
    assert [item["name"] for item in container["env"]] == ["POSTGRES_HOST", "K8S_MEMORY_REQUEST"]
    assert configmap == yaml.safe_load(CONFIGMAP)
    assert container["image"] == "pachyderm/pachd:2.12.0"


def test_documents_other_than_workloads_keep_their_bytes():
    text = f"---\n{CONFIGMAP}---\n{CONFIGMAP}"
    assert post_render.post_render(text) == text


def test_an_install_renders_the_workloads_as_the_upgrades_after_it_do():
    """On install the chart adds no variable; the bytes must still equal an upgrade's."""
    install = "\n".join(
        line for line in PACHD.splitlines() if "UPGRADE_NO_OP" not in line and "Zx8rW1uJ" not in line
    )
    assert post_render.post_render(install + "\n") == post_render.post_render(PACHD)


def test_a_rewritten_document_keeps_helms_source_comment():
    out = post_render.post_render(PACHD)
    assert out.startswith("# Source: pachyderm/templates/pachd/deployment.yaml\napiVersion: apps/v1\n")


def test_two_upgrades_render_the_same_bytes_whatever_the_random_value():
    first = post_render.post_render(PACHD)
    second = post_render.post_render(
        PACHD.replace("Zx8rW1uJ3kLq0aPs9dNf2hGt5yVb7cMe", "another32characterrandomvalue000")
    )
    assert first == second


def test_it_runs_as_helm_runs_it_stdin_to_stdout():
    result = subprocess.run(
        [sys.executable, str(SCRIPT)], input=PACHD, capture_output=True, text=True, check=True
    )
    assert "UPGRADE_NO_OP" not in result.stdout and "POSTGRES_HOST" in result.stdout


PROXY = """# Source: pachyderm/templates/proxy/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: pachyderm-proxy
  annotations:
    metallb.io/address-pool: lan
    service.beta.kubernetes.io/load-balancer-source-ranges: 10.20.0.0/16,192.0.2.0/24
spec:
  type: LoadBalancer
  ports:
  - {name: http-port, port: 80, targetPort: 8080}
"""


def test_the_source_ranges_annotation_becomes_the_spec_field_kube_proxy_enforces():
    (service,) = yaml.safe_load_all(post_render.post_render(PROXY))
    assert service["spec"]["loadBalancerSourceRanges"] == ["10.20.0.0/16", "192.0.2.0/24"]
    assert service["metadata"]["annotations"]["metallb.io/address-pool"] == "lan"
    assert service["spec"]["ports"] == [{"name": "http-port", "port": 80, "targetPort": 8080}]


def test_a_service_without_ranges_or_not_a_load_balancer_keeps_its_bytes():
    without = PROXY.replace(
        "    service.beta.kubernetes.io/load-balancer-source-ranges: 10.20.0.0/16,192.0.2.0/24\n", ""
    )
    node_port = PROXY.replace("type: LoadBalancer", "type: NodePort")
    assert post_render.post_render(without) == without
    assert post_render.post_render(node_port) == node_port


# The chart's proxy objects (templates/proxy/*.yaml), trimmed to what the post-renderer touches.
PROXY_CONFIGMAP = """# Source: pachyderm/templates/proxy/configmap.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: pachyderm-proxy-config
data:
  envoy.json: |
    {"admin": {"address": {"socket_address": {"address": "0.0.0.0", "port_value": 9901}}}}
"""
PROXY_DEPLOYMENT = """# Source: pachyderm/templates/proxy/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: pachyderm-proxy
spec:
  template:
    metadata:
      annotations:
        checksum/envoy-config: 0000
    spec:
      containers:
      - name: envoy
        image: "envoyproxy/envoy:distroless-v1.40.0"
        ports:
        - {name: admin-port, containerPort: 9901}
        - {name: http-port, containerPort: 8080}
        - {name: archive-direct, containerPort: 1659}
        readinessProbe: {httpGet: {path: /ready, port: 9901}}
        livenessProbe: {httpGet: {path: /server_info, port: 9901}}
"""
PROXY_SERVICE = """# Source: pachyderm/templates/proxy/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: pachyderm-proxy
spec:
  type: NodePort
  ports:
  - {name: http-port, port: 80, targetPort: http-port, nodePort: 30080}
"""
FILES = {"envoy.json": '{\n  "admin": {}\n}\n', "sds-tls.json": '{\n  "resources": []\n}\n'}
SETTINGS = {
    "config_map": "pachyderm-proxy-config",
    "deployment": "pachyderm-proxy",
    "service": "pachyderm-proxy",
    "container": "envoy",
    "files": FILES,
    "readiness_port": 9902,
    "service_ports": [
        {"name": "archive-direct", "port": 30659, "targetPort": "archive-direct", "nodePort": 30659}
    ],
    "documents": [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "oneport-acme-http01-solver"}}
    ],
}
CHART_PROXY = f"---\n{PROXY_CONFIGMAP}---\n{PROXY_DEPLOYMENT}---\n{PROXY_SERVICE}"


def rendered(settings=None, text=CHART_PROXY):
    settings = SETTINGS if settings is None else settings
    return {
        (doc["kind"], doc["metadata"]["name"]): doc
        for doc in yaml.safe_load_all(post_render.post_render(text, settings))
        if doc
    }


def test_the_proxy_configmap_holds_the_collections_files_exactly():
    docs = rendered()
    assert docs[("ConfigMap", "pachyderm-proxy-config")]["data"] == FILES


def test_the_checksum_annotation_is_the_digest_of_the_files_and_follows_them():
    template = rendered()[("Deployment", "pachyderm-proxy")]["spec"]["template"]
    digest = template["metadata"]["annotations"]["checksum/envoy-config"]
    assert digest == post_render.config_checksum(FILES) and len(digest) == 64
    changed = dict(SETTINGS, files=dict(FILES, **{"envoy.json": "{}\n"}))
    other = rendered(changed)[("Deployment", "pachyderm-proxy")]["spec"]["template"]
    assert other["metadata"]["annotations"]["checksum/envoy-config"] != digest


def test_kubelet_probes_the_readiness_listener_and_the_admin_port_is_not_declared():
    (container,) = rendered()[("Deployment", "pachyderm-proxy")]["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"] == {"httpGet": {"path": "/ready", "port": "readiness"}}
    assert container["livenessProbe"] == {"tcpSocket": {"port": "readiness"}}
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"http-port": 8080, "archive-direct": 1659, "readiness": 9902}
    assert container["image"] == "envoyproxy/envoy:distroless-v1.40.0"


def test_the_service_gets_the_legacy_ports_the_chart_has_no_value_for_once():
    service = rendered()[("Service", "pachyderm-proxy")]
    assert [port["name"] for port in service["spec"]["ports"]] == ["http-port", "archive-direct"]
    again = post_render.post_render(post_render.post_render(CHART_PROXY, SETTINGS), SETTINGS)
    service = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(again) if d}[
        ("Service", "pachyderm-proxy")
    ]
    assert [port["name"] for port in service["spec"]["ports"]] == ["http-port", "archive-direct"]


def test_extra_documents_join_the_release():
    assert ("Service", "oneport-acme-http01-solver") in rendered()


def test_the_same_input_gives_the_same_bytes():
    assert post_render.post_render(CHART_PROXY, SETTINGS) == post_render.post_render(CHART_PROXY, SETTINGS)


def test_the_configmap_files_are_written_as_literal_blocks():
    text = post_render.post_render(CHART_PROXY, SETTINGS)
    assert '  envoy.json: |\n    {\n      "admin": {}\n    }\n' in text


def test_without_proxy_settings_the_proxy_objects_stay_the_charts():
    text = f"---\n{PROXY_CONFIGMAP}---\n{PROXY_SERVICE}"
    assert post_render.post_render(text) == text
    assert post_render.post_render(text, {}) == text


def test_the_proxy_settings_come_from_a_file_named_on_the_command_line(tmp_path):
    settings = tmp_path / "proxy.json"
    settings.write_text(json.dumps(SETTINGS))
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--proxy", str(settings)],
        input=CHART_PROXY,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout == post_render.post_render(CHART_PROXY, SETTINGS)
    wrong = subprocess.run(
        [sys.executable, str(SCRIPT), "--proxies"], input="", capture_output=True, text=True, check=False
    )
    assert wrong.returncode == 2 and "usage" in wrong.stderr
