"""The pachyderm role's post-renderer (roles/pachyderm/files/post_render.py), as plain Python."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import yaml

SCRIPT = Path(__file__).resolve().parents[3] / "roles" / "pachyderm" / "files" / "post_render.py"
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
