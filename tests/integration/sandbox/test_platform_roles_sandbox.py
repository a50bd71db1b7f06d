"""The metallb and cert_manager roles converge against the sandbox API server, then change nothing.

Real kube-apiserver, the real MetalLB controller (it assigns the pool's addresses) and the
cert-manager stand-in that signs Certificates (see docs/sandbox.md); the roles fetch the real charts
from the sandbox's chart repository (oneport_chart_repo_url, as a site's mirror) and install them
through kubernetes.core.helm with helm-diff.
"""

from __future__ import annotations

import ipaddress
import json
import time
from pathlib import Path

import pytest
import yaml
from support.kubectl import kubectl
from support.paths import REPO
from support.playbook_runs import (
    ansible_env,
    ansible_playbook,
    changed,
    json_report,
    run_playbook,
    task_states,
)

pytestmark = pytest.mark.slow
# The pool the sandbox's own converge uses (same name and range), so the two never conflict.
POOL = "127.240.0.10-127.240.0.20"
TLS_NAMESPACE = "platform-roles-test"


def site(sandbox) -> dict:
    return {
        "oneport_kubeconfig": str(sandbox.kubeconfig),
        "oneport_bin_dir": str(REPO / "bin"),
        "oneport_platform": "metallb",
        "oneport_tls": "self_signed",
        "oneport_proxy_host": "pachyderm.sandbox.test",
        "oneport_chart_repo_url": sandbox.chart_repo_url,
        "metallb_wait_timeout": 120,
        "metallb_address_pools": [{"name": "sandbox-pool", "addresses": [POOL]}],
        "cert_manager_tls_namespace": TLS_NAMESPACE,
        "cert_manager_wait_timeout": 120,
    }


@pytest.fixture(scope="module")
def converged(sandbox, tmp_path_factory):
    """Each role's first run, in rollout order."""
    tmp = tmp_path_factory.mktemp("platform")
    variables = site(sandbox)
    runs = {}
    for role in ("metallb", "cert_manager"):
        runs[role] = run_playbook(f"playbooks/{role}.yml", variables, tmp)
        assert runs[role].returncode == 0, runs[role].stdout[-5000:] + runs[role].stderr[-2000:]
    return tmp, variables, runs


@pytest.mark.parametrize("role", ["metallb", "cert_manager"])
def test_second_run_changes_nothing(role, converged):
    tmp, variables, runs = converged
    assert changed(runs[role]) > 0
    again = run_playbook(f"playbooks/{role}.yml", variables, tmp)
    assert again.returncode == 0, again.stdout[-5000:]
    assert changed(again) == 0, again.stdout[-5000:]


@pytest.mark.parametrize("role", ["metallb", "cert_manager"])
def test_check_mode_after_converge_changes_nothing(role, converged):
    tmp, variables, _runs = converged
    check = run_playbook(f"playbooks/{role}.yml", variables, tmp, "--check", "--diff")
    assert check.returncode == 0, check.stdout[-5000:]
    assert changed(check) == 0, check.stdout[-5000:]


def run_report(playbook: str, variables: dict, tmp: Path) -> dict:
    """The playbook run with the JSON callback: task by task, what ran and what was skipped."""
    vars_file = tmp / "report-vars.yml"
    vars_file.write_text(yaml.safe_dump(variables))
    result = ansible_playbook(playbook, "-e", f"@{vars_file}", env=ansible_env(tmp, json_report=True))
    return json_report(result)


METALLB_WAITS = (
    "Wait until the controller Deployment is available",
    "Wait until the MetalLB CRDs are established",
    "Wait until the validating webhook answers",
)
CERT_MANAGER_WAITS = (
    "Wait until the cert-manager Deployments are available",
    "Wait until the cert-manager CRDs are established",
    "Wait until the webhook answers",
)

APPLY_ISSUERS = "Apply the namespace of the proxy's TLS Secret, the issuers and the proxy's Certificate"


def test_a_converged_cluster_skips_the_waits_and_a_changed_input_is_applied_and_waited_for(
    sandbox, converged, tmp_path
):
    """The no-op fast path loosens nothing: a changed chart value upgrades the release and the waits
    run again; a changed issuer is applied and the CA waited for; a changed certificate is applied and
    waited for; then back to changed=0."""
    _tmp, variables, _runs = converged
    upgraded = {**variables, "metallb_chart_values": {"controller": {"logLevel": "debug"}}}
    reissued = {**variables, "cert_manager_ca_common_name": "oneport CA (reissued)"}
    # On top of the reissued CA, so that only the proxy's Certificate differs from the run before.
    renewed = {**reissued, "cert_manager_certificate_renew_before": "720h"}
    try:
        # The waits are one included file: on a converged cluster the include is skipped and none runs.
        for playbook, include, waits in (
            ("playbooks/metallb.yml", "Wait for the controller, the CRDs and the webhook", METALLB_WAITS),
            (
                "playbooks/cert_manager.yml",
                "Wait for cert-manager, its CRDs and its webhook",
                CERT_MANAGER_WAITS,
            ),
        ):
            states = task_states(run_report(playbook, variables, tmp_path))
            assert states[include] == "skipped", states
            assert not any(wait in states for wait in waits), states
        assert states["Wait until the CA certificate is issued"] == "skipped"
        assert states["Wait until the proxy's certificate is issued"] == "skipped"

        states = task_states(run_report("playbooks/metallb.yml", upgraded, tmp_path))
        assert states["Install or upgrade the MetalLB release from the verified chart"] == "changed"
        assert all(states[wait] == "ok" for wait in METALLB_WAITS), states
        # The pools did not change: they are read and found as last applied, so nothing is applied.
        assert states["Apply the pools, peers and advertisements"] == "skipped"
        controller = json.loads(
            kubectl(
                sandbox,
                "-n",
                "metallb-system",
                "get",
                "deployment",
                "-l",
                "app.kubernetes.io/component=controller",
                "-o",
                "json",
            ).stdout
        )["items"][0]
        assert "--log-level=debug" in controller["spec"]["template"]["spec"]["containers"][0]["args"]

        # A pool edited on the cluster by hand is put back by the next run.
        drifted = kubectl(
            sandbox,
            "-n",
            "metallb-system",
            "patch",
            "ipaddresspool",
            "sandbox-pool",
            "--type",
            "merge",
            "-p",
            json.dumps({"spec": {"addresses": ["127.240.0.50-127.240.0.51"]}}),
        )
        assert drifted.returncode == 0, drifted.stderr
        states = task_states(run_report("playbooks/metallb.yml", upgraded, tmp_path))
        assert states["Apply the pools, peers and advertisements"] == "changed"
        pool = json.loads(
            kubectl(
                sandbox, "-n", "metallb-system", "get", "ipaddresspool", "sandbox-pool", "-o", "json"
            ).stdout
        )
        assert pool["spec"]["addresses"] == [POOL]

        states = task_states(run_report("playbooks/cert_manager.yml", reissued, tmp_path))
        assert states[APPLY_ISSUERS] == "changed"
        assert states["Wait until the CA certificate is issued"] == "ok"
        ca = json.loads(kubectl(sandbox, "get", "certificate", "-A", "-o", "json").stdout)["items"]
        assert "oneport CA (reissued)" in [c["spec"].get("commonName") for c in ca]

        states = task_states(run_report("playbooks/cert_manager.yml", renewed, tmp_path))
        assert states[APPLY_ISSUERS] == "changed"
        assert states["Wait until the CA certificate is issued"] == "skipped"
        assert states["Wait until the proxy's certificate is issued"] == "ok"
        proxy = json.loads(kubectl(sandbox, "get", "certificate", "-A", "-o", "json").stdout)["items"]
        assert "720h" in [c["spec"].get("renewBefore") for c in proxy]
    finally:
        for role in ("metallb", "cert_manager"):
            restored = run_playbook(f"playbooks/{role}.yml", variables, tmp_path)
            assert restored.returncode == 0, restored.stdout[-5000:]
    for role in ("metallb", "cert_manager"):
        again = run_playbook(f"playbooks/{role}.yml", variables, tmp_path)
        assert changed(again) == 0, again.stdout[-5000:]


def test_a_release_left_pending_is_handed_to_helm_not_taken_as_converged(sandbox, converged, tmp_path):
    """helm-diff compares with a pending revision as if it were complete: the release Secret's status
    makes the helm task run (and report helm's own error on a real pending release)."""
    _tmp, variables, _runs = converged
    revisions = json.loads(
        kubectl(
            sandbox, "-n", "metallb-system", "get", "secret", "-l", "owner=helm,name=metallb", "-o", "json"
        ).stdout
    )["items"]
    latest = max(revisions, key=lambda item: int(item["metadata"]["labels"]["version"]))
    secret, status = latest["metadata"]["name"], latest["metadata"]["labels"]["status"]
    marked = kubectl(
        sandbox, "-n", "metallb-system", "label", "secret", secret, "status=pending-upgrade", "--overwrite"
    )
    assert marked.returncode == 0, marked.stderr
    try:
        states = task_states(run_report("playbooks/metallb.yml", variables, tmp_path))
        assert states["Ask helm-diff whether the MetalLB release changes (changes nothing)"] == "changed"
        assert states["Install or upgrade the MetalLB release from the verified chart"] != "skipped"
    finally:
        kubectl(sandbox, "-n", "metallb-system", "label", "secret", secret, f"status={status}", "--overwrite")
    states = task_states(run_report("playbooks/metallb.yml", variables, tmp_path))
    assert states["Install or upgrade the MetalLB release from the verified chart"] == "skipped"


def test_metallb_assigns_a_pool_address_to_a_load_balancer_service(sandbox, converged):
    if "--pod-for" not in (REPO / "tools" / "sandbox" / "supervise.py").read_text():
        pytest.skip(
            "this sandbox cannot run MetalLB's controller yet: it needs its own pod's name (--pod-for)"
        )
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "pool-probe", "namespace": "default"},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}], "selector": {"app": "none"}},
    }
    created = kubectl(sandbox, "create", "-f", "-", stdin=json.dumps(service))
    assert created.returncode == 0, created.stderr
    try:
        first, last = (ipaddress.ip_address(p) for p in POOL.split("-"))
        address = ""
        deadline = time.monotonic() + 120  # a wait for the controller, not a timing criterion
        while not address and time.monotonic() < deadline:
            got = json.loads(
                kubectl(sandbox, "get", "service", "pool-probe", "-n", "default", "-o", "json").stdout
            )
            ingress = got.get("status", {}).get("loadBalancer", {}).get("ingress") or []
            address = ingress[0]["ip"] if ingress else ""
            if not address:
                time.sleep(1)
        assert address, "MetalLB assigned no address from the role's pool"
        assert first <= ipaddress.ip_address(address) <= last
    finally:
        kubectl(sandbox, "delete", "service", "pool-probe", "-n", "default", "--wait=false")


def pool_labels(sandbox, name: str) -> dict | None:
    """The labels of the IPAddressPool `name` in metallb-system, or None when there is none."""
    found = kubectl(sandbox, "-n", "metallb-system", "get", "ipaddresspool", name, "-o", "json")
    if found.returncode != 0:
        assert "NotFound" in found.stderr, found.stderr
        return None
    return json.loads(found.stdout)["metadata"].get("labels", {})


def test_metallb_removes_a_pool_the_variables_dropped_and_leaves_others_alone(sandbox, converged, tmp_path):
    _tmp, variables, _runs = converged
    by_hand = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": "made-by-hand", "namespace": "metallb-system"},
        "spec": {"addresses": ["127.240.0.40-127.240.0.41"]},
    }
    created = kubectl(sandbox, "create", "-f", "-", stdin=json.dumps(by_hand))
    assert created.returncode == 0, created.stderr
    retired = {"name": "retired", "addresses": ["127.240.0.30-127.240.0.31"]}
    with_retired = {**variables, "metallb_address_pools": [*variables["metallb_address_pools"], retired]}
    try:
        added = run_playbook("playbooks/metallb.yml", with_retired, tmp_path)
        assert added.returncode == 0, added.stdout[-5000:]
        assert pool_labels(sandbox, "retired") == {"app.kubernetes.io/managed-by": "oneport.pachyderm"}

        # Check mode reports the deletion and leaves the pool in place.
        check = run_playbook("playbooks/metallb.yml", variables, tmp_path, "--check")
        assert check.returncode == 0, check.stdout[-5000:]
        assert changed(check) == 1, check.stdout[-5000:]
        assert pool_labels(sandbox, "retired") is not None

        dropped = run_playbook("playbooks/metallb.yml", variables, tmp_path)
        assert dropped.returncode == 0, dropped.stdout[-5000:]
        assert changed(dropped) == 1, dropped.stdout[-5000:]
        assert pool_labels(sandbox, "retired") is None
        # A pool the role did not make is never touched, and the configured one stays.
        assert pool_labels(sandbox, "made-by-hand") == {}
        assert pool_labels(sandbox, "sandbox-pool") is not None

        again = run_playbook("playbooks/metallb.yml", variables, tmp_path)
        assert changed(again) == 0, again.stdout[-5000:]
    finally:
        kubectl(
            sandbox, "-n", "metallb-system", "delete", "ipaddresspool", "made-by-hand", "--ignore-not-found"
        )
        kubectl(sandbox, "-n", "metallb-system", "delete", "ipaddresspool", "retired", "--ignore-not-found")


def test_cert_manager_issues_the_proxy_tls_secret_from_the_ca_chain(sandbox, converged):
    secret = json.loads(
        kubectl(sandbox, "get", "secret", "pachyderm-proxy-tls", "-n", TLS_NAMESPACE, "-o", "json").stdout
    )
    assert secret["type"] == "kubernetes.io/tls"
    assert secret["metadata"]["annotations"]["cert-manager.io/issuer-name"] == "oneport-ca"
    certificate = json.loads(
        kubectl(
            sandbox, "get", "certificate", "pachyderm-proxy-tls", "-n", TLS_NAMESPACE, "-o", "json"
        ).stdout
    )
    ready = [c for c in certificate["status"]["conditions"] if c["type"] == "Ready"]
    assert ready and ready[0]["status"] == "True"
    assert certificate["spec"]["dnsNames"] == ["pachyderm.sandbox.test"]


def test_existing_secret_mode_accepts_a_tls_secret_the_user_brings(sandbox, converged, tmp_path):
    kubectl(sandbox, "create", "namespace", "byo-tls")
    copied = json.loads(
        kubectl(sandbox, "get", "secret", "pachyderm-proxy-tls", "-n", TLS_NAMESPACE, "-o", "json").stdout
    )
    brought = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {"name": "brought-tls", "namespace": "byo-tls"},
        "data": {key: copied["data"][key] for key in ("tls.crt", "tls.key")},
    }
    assert kubectl(sandbox, "create", "-f", "-", stdin=json.dumps(brought)).returncode == 0
    variables = {
        **site(sandbox),
        "oneport_tls": "existing_secret",
        "cert_manager_tls_namespace": "byo-tls",
        "cert_manager_tls_secret_name": "brought-tls",
    }
    result = run_playbook(
        "playbooks/cert_manager.yml", {**variables, "oneport_enable_cert_manager": True}, tmp_path
    )
    assert result.returncode == 0, result.stdout[-4000:]
    assert changed(result) == 0
    assert "tls.key" not in result.stdout


def test_existing_secret_mode_names_the_missing_secret(sandbox, converged, tmp_path):
    variables = {
        **site(sandbox),
        "oneport_tls": "existing_secret",
        "oneport_enable_cert_manager": True,
        "cert_manager_tls_secret_name": "nobody-made-this",
    }
    result = run_playbook("playbooks/cert_manager.yml", variables, tmp_path)
    assert result.returncode != 0
    assert "cert_manager_tls_secret_name: nobody-made-this in namespace" in result.stdout
    assert changed(result) == 0


def test_dns01_without_its_credentials_secret_fails_naming_it(sandbox, converged, tmp_path):
    variables = {
        **site(sandbox),
        "oneport_tls": "acme_dns01",
        "cert_manager_acme_email": "platform@example.com",
        "cert_manager_acme_dns01": {
            "provider": "route53",
            "region": "eu-west-1",
            "credentials_secret": "absent",
        },
    }
    result = run_playbook("playbooks/cert_manager.yml", variables, tmp_path)
    assert result.returncode != 0
    assert "cert_manager_acme_dns01.credentials_secret: Secret absent does not exist" in result.stdout
    assert changed(result) == 0
