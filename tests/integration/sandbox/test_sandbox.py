"""The sandbox cluster: real control-plane processes on loopback, driven as the roles will drive it."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest
from support.kubectl import kubectl_apply, kubectl_out

pytestmark = pytest.mark.slow
HERE = Path(__file__).resolve().parent


def test_kubeconfig_reaches_an_api_server_reporting_v1_32(sandbox):
    version = json.loads(kubectl_out(sandbox, "version", "-o", "json"))
    assert version["serverVersion"]["gitVersion"] == "v1.32.5"
    assert (version["serverVersion"]["major"], version["serverVersion"]["minor"]) == ("1", "32")


def test_kubeconfig_is_private_and_points_at_loopback(sandbox):
    assert sandbox.kubeconfig.stat().st_mode & 0o077 == 0
    assert re.fullmatch(r"https://127\.0\.0\.1:\d+", sandbox.server)


def test_every_component_reports_running(sandbox):
    statuses = {s.name: s for s in sandbox.status()}
    assert all(s.running for s in statuses.values()), statuses


def test_up_again_is_a_no_op(sandbox):
    before = {s.name: s.pid for s in sandbox.status()}
    messages = []
    sandbox.up(log=messages.append)
    assert {s.name: s.pid for s in sandbox.status()} == before
    assert not [m for m in messages if "started" in m]


def test_a_fake_node_is_ready(sandbox):
    nodes = json.loads(kubectl_out(sandbox, "get", "nodes", "-o", "json"))["items"]
    ready = [
        n["metadata"]["name"]
        for n in nodes
        if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])
    ]
    assert ready


def test_deployment_rolls_out_and_job_succeeds(sandbox):
    kubectl_apply(
        sandbox,
        """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: example.invalid/web:1}]}
---
apiVersion: batch/v1
kind: Job
metadata: {name: once, namespace: default}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: once, image: example.invalid/once:1}]
""",
    )
    kubectl_out(sandbox, "rollout", "status", "deployment/web", "--timeout=90s")
    kubectl_out(sandbox, "wait", "--for=condition=complete", "job/once", "--timeout=90s")


def test_real_charts_converge_with_a_metallb_address_and_a_second_run_changes_nothing(sandbox, sandbox_env):
    def play(name: str) -> str:
        result = subprocess.run(
            ["ansible-playbook", "-i", str(HERE.parents[2] / "inventories" / "local"), str(HERE / name)],
            env=sandbox_env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
        return result.stdout

    play("converge.yml")
    second = play("converge.yml")
    recap = re.search(r"localhost\s+:\s+ok=\d+\s+changed=(\d+)", second)
    assert recap and recap.group(1) == "0", second[-3000:]
    verified = play("verify.yml")
    assert re.search(r"pachyderm-proxy is at 127\.240\.0\.\d+", verified)


@pytest.mark.parametrize("mode", ["real", "fake"])
def test_down_stops_every_process_and_frees_the_ports(tmp_path, mode):
    from tools.sandbox import Sandbox
    from tools.sandbox.cluster import port_in_use

    box = Sandbox(tmp_path / "box", node_mode=mode, pachyderm="fake")
    box.up(log=lambda _m: None)
    try:
        statuses = {s.name: s for s in box.status()}
        pids = [s.pid for s in statuses.values()]
        assert all(pids)
        # The real node and its helpers, or MetalLB's controller as a host process beside kwok alone.
        assert ("node" in statuses) == (mode == "real")
        assert ("metallb-controller" in statuses) == (mode == "fake")
    finally:
        box.down(log=lambda _m: None)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in pids):
        time.sleep(0.2)
    assert not [p for p in pids if Path(f"/proc/{p}").exists()]
    busy = [port for name, port in box.ports.items() if port_in_use(port) and not name.startswith("metallb")]
    assert not busy
    assert all(not s.running for s in box.status())


CERT_MANAGER_OBJECTS = """
apiVersion: v1
kind: Namespace
metadata: {name: certs}
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: root}
spec: {selfSigned: {}}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: sandbox-ca, namespace: cert-manager}
spec:
  isCA: true
  commonName: sandbox-ca
  secretName: sandbox-ca
  issuerRef: {name: root, kind: ClusterIssuer}
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: ca}
spec: {ca: {secretName: sandbox-ca}}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: leaf, namespace: certs}
spec:
  secretName: leaf-tls
  dnsNames: [px.example]
  issuerRef: {name: ca, kind: ClusterIssuer}
---
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: {name: acme, namespace: certs}
spec:
  acme:
    server: https://acme.invalid/directory
    privateKeySecretRef: {name: acme-key}
    solvers: [{http01: {ingress: {ingressClassName: envoy}}}]
"""


@pytest.fixture(scope="module")
def cert_manager_objects(sandbox, chart_repo_url):
    subprocess.run(
        [
            "helm",
            f"--kubeconfig={sandbox.kubeconfig}",
            "upgrade",
            "--install",
            "cert-manager",
            "cert-manager",
            "--repo",
            chart_repo_url,
            "--version",
            "v1.21.1",
            "-n",
            "cert-manager",
            "--create-namespace",
            "--set",
            "crds.enabled=true",
        ],
        check=True,
        capture_output=True,
    )
    kubectl_out(
        sandbox, "wait", "--for=condition=Established", "crd/certificates.cert-manager.io", "--timeout=60s"
    )
    kubectl_apply(sandbox, CERT_MANAGER_OBJECTS)
    kubectl_out(sandbox, "-n", "certs", "wait", "--for=condition=Ready", "certificate/leaf", "--timeout=60s")
    return sandbox


def test_stand_in_signs_a_leaf_with_a_ca_issuer_chain(cert_manager_objects):
    import base64

    from cryptography import x509

    secret = json.loads(
        kubectl_out(cert_manager_objects, "-n", "certs", "get", "secret", "leaf-tls", "-o", "json")
    )
    assert secret["type"] == "kubernetes.io/tls"
    assert secret["metadata"]["annotations"]["cert-manager.io/issuer-name"] == "ca"
    leaf = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["tls.crt"]))
    ca = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["ca.crt"]))
    leaf.verify_directly_issued_by(ca)
    assert ca.subject.rfc4514_string() == "CN=sandbox-ca"


def test_stand_in_leaves_a_signed_secret_alone(cert_manager_objects):
    def version():
        return kubectl_out(
            cert_manager_objects,
            "-n",
            "certs",
            "get",
            "secret",
            "leaf-tls",
            "-o",
            "jsonpath={.metadata.resourceVersion}",
        )

    before = version()
    time.sleep(3)  # the stand-in reconciles every second
    assert version() == before


def test_stand_in_reports_acme_issuers_not_ready_with_the_reason(cert_manager_objects):
    kubectl_out(
        cert_manager_objects,
        "-n",
        "certs",
        "wait",
        "--for=condition=Ready=False",
        "issuer/acme",
        "--timeout=30s",
    )
    issuer = json.loads(
        kubectl_out(cert_manager_objects, "-n", "certs", "get", "issuer", "acme", "-o", "json")
    )
    ready = next(c for c in issuer["status"]["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "ErrRegisterACMEAccount"
    assert "no ACME server" in ready["message"]
