"""pachctl_context and verify read the CA of a self-signed certificate from its Secret in a real cluster.

Runs against the integration stage's own sandbox (conftest.py here). The test writes a Secret shaped
like the one cert-manager issues (tls.crt, tls.key, ca.crt) into a namespace of its own and removes it
afterwards.
"""

from __future__ import annotations

import base64
import json
import uuid

import pytest
from support.certs import TestCA
from support.playbook_runs import CLUSTER, run_playbook


@pytest.fixture(scope="module")
def kubeconfig(sandbox):
    return sandbox.kubeconfig


def issue_certificate() -> tuple[str, str, str]:
    """A CA and a serving certificate it signs, as PEM: (ca, certificate, key)."""
    ca = TestCA()
    cert, key, _serial = ca.issue(names=("pachyderm.localhost",), ips=())
    return ca.pem.decode(), cert.decode(), key.decode()


@pytest.fixture(scope="module")
def tls_secret(kubeconfig):
    kubernetes = pytest.importorskip("kubernetes")
    client = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
    core = kubernetes.client.CoreV1Api(client)
    namespace = f"oneport-ca-{uuid.uuid4().hex[:8]}"
    ca, chain, key = issue_certificate()
    core.create_namespace({"metadata": {"name": namespace}})
    data = {"tls.crt": chain, "tls.key": key, "ca.crt": ca}
    core.create_namespaced_secret(
        namespace,
        {
            "metadata": {"name": "pachyderm-proxy-tls"},
            "type": "kubernetes.io/tls",
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
        },
    )
    yield {"name": "pachyderm-proxy-tls", "namespace": namespace, "ca": ca, "key": key}
    core.delete_namespace(namespace)


def test_pachctl_context_trusts_the_ca_from_the_secret_and_never_prints_the_key(
    repo_root, kubeconfig, tls_secret, tmp_path
):
    config = tmp_path / "config.json"
    extra = {
        "oneport_tls": "self_signed",
        "oneport_kubeconfig": str(kubeconfig),
        "oneport_tls_secret": {"name": tls_secret["name"], "namespace": tls_secret["namespace"]},
        "oneport_proxy_endpoint": {"pachd_address": "grpcs://pachyderm.localhost:443"},
        "pachctl_context_config_path": str(config),
    }
    result = run_playbook(repo_root / "playbooks" / "pachctl_context.yml", extra, tmp_path, "-v")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PRIVATE KEY" not in result.stdout + result.stderr
    context = json.loads(config.read_text())["v2"]["contexts"][CLUSTER]
    assert base64.b64decode(context["server_cas"]).decode() == tls_secret["ca"]


def test_verify_reads_the_ca_from_the_secret_for_an_https_endpoint(
    repo_root, kubeconfig, tls_secret, tmp_path
):
    # No listener on the endpoint: the console row fails on the connection, after the CA was read.
    extra = {
        "oneport_tls": "self_signed",
        "oneport_kubeconfig": str(kubeconfig),
        "oneport_tls_secret": {"name": tls_secret["name"], "namespace": tls_secret["namespace"]},
        # The local inventory leaves the verify stage off (nothing answers in the sandbox).
        "oneport_enable_verify": True,
        "verify_endpoint": "https://127.0.0.1:9",
        "verify_probes": ["console"],
    }
    result = run_playbook(repo_root / "playbooks" / "verify.yml", extra, tmp_path, "-v")
    output = result.stdout + result.stderr
    assert "PRIVATE KEY" not in output
    assert "Take the CA from the Secret's ca.crt" in output
    assert f"ok: [{CLUSTER}]" in output.split("Take the CA from the Secret's ca.crt", 1)[1][:400]
    assert "console: ConnectionRefusedError" in output
