"""The real published charts (metallb 0.16.1, cert-manager v1.21.1, pachyderm 2.12.0) on the sandbox.

Plain `helm install --wait --wait-for-jobs` from the reference .tgz files, with every admission webhook
the charts register served for real through the sandbox's egress proxy: MetalLB's by its real
controller, cert-manager's by the sandbox's stand-in (see docs/sandbox.md).
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import time

import pytest
from support.kubectl import kubectl_json, on_cluster

from tools.sandbox.cluster import SERVICE_CIDR

pytestmark = pytest.mark.slow

POOL = "real-charts-pool"
POOL_RANGE = "127.241.0.10-127.241.0.20"
ISSUER = "real-charts-selfsigned"
CERT = "real-charts-cert"
TEST_NS = "real-charts"
INSTALL = ("--wait", "--wait-for-jobs", "--timeout", "5m")


def run(sandbox, *cmd: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    # No deadline of its own: helm's --wait and --timeout bound the installs.
    return on_cluster(sandbox, *cmd, stdin=stdin, check=check, timeout=None)


def apply(sandbox, manifest: str, check: bool = True) -> subprocess.CompletedProcess:
    return run(sandbox, "kubectl", "apply", "-f", "-", stdin=manifest, check=check)


def releases(sandbox, namespace: str) -> dict:
    listed = json.loads(run(sandbox, "helm", "list", "-n", namespace, "-o", "json").stdout or "[]")
    return {r["name"]: r["chart"] for r in listed}


@pytest.fixture(scope="module")
def charts(reference_dir):
    folder = reference_dir / "charts"
    paths = {
        "metallb": folder / "metallb-0.16.1.tgz",
        "cert-manager": folder / "cert-manager-v1.21.1.tgz",
        "pachyderm": folder / "pachyderm-2.12.0.tgz",
    }
    missing = [str(p) for p in paths.values() if not p.is_file()]
    assert not missing, f"reference charts missing: {missing}"
    return paths


@pytest.fixture(scope="module")
def installed(sandbox, charts):
    """Install what is not there yet (a release another module left is reused, not removed)."""
    mine = []

    def install(release, namespace, chart, *values, expect_chart):
        present = releases(sandbox, namespace)
        if release in present:
            assert present[release] == expect_chart, (
                f"release {namespace}/{release} is {present[release]}, not {expect_chart}: another test left "
                "it behind; uninstall it first"
            )
            return
        started = time.monotonic()
        args = ("helm", "install", release, str(chart), "-n", namespace, "--create-namespace", *INSTALL)
        run(sandbox, *args, *values)
        mine.append((release, namespace, time.monotonic() - started))

    install("metallb", "metallb-system", charts["metallb"], expect_chart="metallb-0.16.1")
    yield install, mine
    for release, namespace, seconds in reversed(mine):
        print(f"[real charts] helm install {namespace}/{release} took {seconds:.0f}s")
        run(sandbox, "helm", "uninstall", release, "-n", namespace, "--wait", "--timeout", "3m", check=False)
        if release == "pachyderm":  # StatefulSet claims outlive the release; their PVs go with them
            run(sandbox, "kubectl", "-n", namespace, "delete", "pvc", "--all", "--wait=false", check=False)
    run(sandbox, "kubectl", "delete", "namespace", TEST_NS, "--ignore-not-found", "--wait=false", check=False)


@pytest.fixture(scope="module")
def metallb(sandbox, installed):
    """MetalLB installed, its webhook answering, and this module's pool and L2Advertisement created."""
    # The controller starts once its Pod is Running, then writes its certificate and caBundle: retry
    # until its webhook admits the pool (a Fail policy refuses while nobody answers).
    manifest = f"""
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: {POOL}, namespace: metallb-system}}
spec:
  addresses: [{POOL_RANGE}]
  autoAssign: false
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {{name: {POOL}, namespace: metallb-system}}
spec:
  ipAddressPools: [{POOL}]
"""
    deadline = time.monotonic() + 120
    while True:
        result = apply(sandbox, manifest, check=False)
        if result.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert result.returncode == 0, result.stderr
    yield sandbox
    run(
        sandbox,
        "kubectl",
        "-n",
        "metallb-system",
        "delete",
        "l2advertisement,ipaddresspool",
        POOL,
        check=False,
    )


@pytest.fixture(scope="module")
def cert_manager(sandbox, installed, charts):
    install, _mine = installed
    install(
        "cert-manager",
        "cert-manager",
        charts["cert-manager"],
        "--set",
        "crds.enabled=true",
        expect_chart="cert-manager-v1.21.1",
    )
    return sandbox


@pytest.fixture(scope="module")
def pachyderm(sandbox, metallb, installed, charts):
    install, _mine = installed
    install(
        "pachyderm",
        "pachyderm",
        charts["pachyderm"],
        "--set",
        "deployTarget=LOCAL",
        "--set",
        "proxy.enabled=true",
        "--set",
        "proxy.service.type=LoadBalancer",
        "--set",
        f"proxy.service.annotations.metallb\\.io/address-pool={POOL}",
        "--set",
        "console.enabled=true",
        expect_chart="pachyderm-2.12.0",
    )
    return sandbox


def test_metallb_installs_with_its_webhook_configuration_and_ca_injected(metallb):
    config = kubectl_json(metallb, "get", "validatingwebhookconfiguration", "metallb-webhook-configuration")
    bundles = {w["clientConfig"].get("caBundle") for w in config["webhooks"]}
    assert len(bundles) == 1 and None not in bundles, "MetalLB's cert rotation did not inject its CA"
    assert all(w["failurePolicy"] == "Fail" for w in config["webhooks"])
    secret = kubectl_json(metallb, "-n", "metallb-system", "get", "secret", "metallb-webhook-cert")
    assert {"ca.crt", "tls.crt", "tls.key"} <= set(secret["data"])


def test_metallb_real_webhook_refuses_an_overlapping_pool(metallb):
    result = apply(
        metallb,
        f"""
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: {POOL}-overlap, namespace: metallb-system}}
spec:
  addresses: [127.241.0.15/32]
""",
        check=False,
    )
    assert result.returncode != 0
    assert 'admission webhook "ipaddresspoolvalidationwebhook.metallb.io" denied the request' in result.stderr
    assert "overlaps with already defined CIDR" in result.stderr  # MetalLB's own message


def test_cert_manager_installs_and_a_self_signed_certificate_goes_ready(cert_manager):
    for kind in ("validatingwebhookconfiguration", "mutatingwebhookconfiguration"):
        config = kubectl_json(cert_manager, "get", kind, "cert-manager-webhook")
        assert all(w["clientConfig"].get("caBundle") for w in config["webhooks"]), f"{kind} has no caBundle"
    apply(cert_manager, f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {TEST_NS}}}\n")
    deadline = time.monotonic() + 60
    manifest = f"""
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: {{name: {ISSUER}, namespace: {TEST_NS}}}
spec: {{selfSigned: {{}}}}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {{name: {CERT}, namespace: {TEST_NS}}}
spec:
  secretName: {CERT}-tls
  dnsNames: [px.real-charts.example]
  issuerRef: {{name: {ISSUER}}}
"""
    while True:  # the stand-in injects the caBundle within a second of the chart's install
        result = apply(cert_manager, manifest, check=False)
        if result.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert result.returncode == 0, result.stderr
    run(
        cert_manager,
        "kubectl",
        "-n",
        TEST_NS,
        "wait",
        "--for=condition=Ready",
        f"certificate/{CERT}",
        "--timeout=60s",
    )
    secret = kubectl_json(cert_manager, "-n", TEST_NS, "get", "secret", f"{CERT}-tls")
    assert secret["type"] == "kubernetes.io/tls"


def test_cert_manager_webhook_refuses_a_certificate_without_names(cert_manager):
    result = apply(
        cert_manager,
        f"""
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {{name: {CERT}-nameless, namespace: {TEST_NS}}}
spec:
  secretName: {CERT}-nameless
  issuerRef: {{name: {ISSUER}}}
""",
        check=False,
    )
    assert result.returncode != 0
    assert 'admission webhook "webhook.cert-manager.io" denied the request' in result.stderr
    assert "at least one of commonName" in result.stderr


def test_pachyderm_converges_with_bound_volumes_and_a_metallb_address(pachyderm):
    deployments = kubectl_json(pachyderm, "-n", "pachyderm", "get", "deployments")["items"]
    assert {d["metadata"]["name"] for d in deployments} >= {
        "pachd",
        "console",
        "pachyderm-proxy",
        "pg-bouncer",
    }
    for d in deployments:
        available = [c for c in d["status"].get("conditions", []) if c["type"] == "Available"]
        assert available and available[0]["status"] == "True", d["metadata"]["name"]
    statefulsets = kubectl_json(pachyderm, "-n", "pachyderm", "get", "statefulsets")["items"]
    assert {s["metadata"]["name"] for s in statefulsets} >= {"etcd", "postgres"}
    for s in statefulsets:
        assert s["status"].get("readyReplicas") == s["spec"]["replicas"], s["metadata"]["name"]
    claims = kubectl_json(pachyderm, "-n", "pachyderm", "get", "pvc")["items"]
    assert len(claims) >= 2
    assert all(c["status"]["phase"] == "Bound" for c in claims), [c["status"] for c in claims]
    deadline = time.monotonic() + 60
    while True:
        svc = kubectl_json(pachyderm, "-n", "pachyderm", "get", "service", "pachyderm-proxy")
        ingress = svc["status"].get("loadBalancer", {}).get("ingress") or []
        if ingress or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert ingress, "MetalLB assigned no address to pachyderm-proxy"
    first, last = (ipaddress.ip_address(a) for a in POOL_RANGE.split("-"))
    assert first <= ipaddress.ip_address(ingress[0]["ip"]) <= last


def test_every_cluster_ip_is_in_a_range_only_the_sandbox_routes(sandbox, pachyderm, cert_manager):
    network = ipaddress.ip_network(sandbox.service_cidr)
    if sandbox.node_mode == "real":
        # Only the node's namespace routes the Service range; on the host it matches no route of its
        # own (the API server reaches Services through the egress proxy only).
        routes = subprocess.run(["ip", "route"], capture_output=True, text=True, check=True).stdout
        covering = [
            line
            for line in routes.splitlines()
            if line.split()[0] != "default" and ipaddress.ip_network(line.split()[0]).overlaps(network)
        ]
        assert not covering, covering
    else:
        assert network == ipaddress.ip_network(SERVICE_CIDR) and network.is_loopback
    services = kubectl_json(pachyderm, "get", "services", "-A")["items"]
    outside = [
        f"{s['metadata']['namespace']}/{s['metadata']['name']}={ip}"
        for s in services
        for ip in s["spec"].get("clusterIPs") or []
        if ip != "None" and ipaddress.ip_address(ip) not in network
    ]
    assert not outside, outside


def test_no_aggregated_api_is_served_by_a_service(pachyderm, cert_manager):
    services = [a for a in kubectl_json(pachyderm, "get", "apiservices")["items"] if a["spec"].get("service")]
    assert not services, [a["metadata"]["name"] for a in services]
