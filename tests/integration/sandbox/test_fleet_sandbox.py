"""Two sandbox clusters as one fleet: one site.yml run converges both, each with its own endpoint and
certificate, and one pachctl config holds a context per cluster.

The inventory is the shape of inventories/prod: one host per cluster in the clusters group, the
shared settings in group_vars, each cluster's kubeconfig, chart repository, proxy host and MetalLB
range in its host_vars. Cluster sandbox-a is the session's sandbox (this test's own namespace and
release), sandbox-b a second sandbox started here. A second run changes nothing, `--limit` touches one
cluster, and sandbox settings aimed at a cluster that does not identify itself as a sandbox are
refused before any change, naming the cluster and the variable.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from support.playbook_runs import ansible_env, ansible_playbook, sandbox_fleet_inventory
from support.sandboxes import running

from tools.sandbox import Sandbox
from tools.sandbox.cluster import IDENTITY

NAMESPACE = "pachyderm-fleet"
RELEASE = "pachyderm-fleet"
# Each cluster's MetalLB range: sandbox-a the local inventory's own (the session's sandbox already holds
# that pool), sandbox-b another, so their addresses cannot coincide.
RANGES = {"sandbox-a": "127.0.0.240-127.0.0.250", "sandbox-b": "127.0.0.230-127.0.0.239"}
HOSTS = {"sandbox-a": "pachyderm-a.localhost", "sandbox-b": "pachyderm-b.localhost"}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def second_sandbox(tmp_path_factory):
    box = Sandbox(Path(tmp_path_factory.mktemp("sandbox-b")), pachyderm="fake")
    try:
        with running(box, "sandbox-b"):
            yield box
    finally:
        box.wipe_data()


def own_vars(name: str) -> dict:
    return {
        "oneport_proxy_host": HOSTS[name],
        "metallb_address_pools": [{"name": "sandbox-pool", "addresses": [RANGES[name]]}],
    }


@pytest.fixture(scope="module")
def fleet(sandbox, second_sandbox, tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("fleet")
    boxes = {"sandbox-a": sandbox, "sandbox-b": second_sandbox}
    inventory = sandbox_fleet_inventory(
        tmp / "inventory",
        {name: (box, own_vars(name)) for name, box in boxes.items()},
        {"oneport_namespace": NAMESPACE, "pachyderm_release_name": RELEASE},
    )
    pach_config = tmp / "pachctl" / "config.json"
    # The runs' own temp dir, where the roles' private scratch directories (chart values) are made.
    scratch = tmp / "system-tmp"
    scratch.mkdir()
    env = ansible_env(tmp, json_report=True, PACH_CONFIG=str(pach_config), TMPDIR=str(scratch))

    def run(*args: str) -> dict:
        result = ansible_playbook("playbooks/site.yml", *args, inventory=inventory, env=env, timeout=1200)
        try:
            report = json.loads(result.stdout)
        except json.JSONDecodeError:
            report = {}
        return {
            "rc": result.returncode,
            "report": report,
            "out": result.stdout[-6000:] + result.stderr[-3000:],
        }

    try:
        yield {"run": run, "boxes": boxes, "pach_config": pach_config, "inventory": inventory, "tmp": scratch}
    finally:
        ansible_playbook(
            "playbooks/uninstall.yml",
            "--limit",
            "sandbox-a",
            "-e",
            "pachyderm_uninstall_delete_data_confirm=yes-delete-all-data",
            inventory=inventory,
            env=env,
        )


@pytest.fixture(scope="module")
def runs(fleet) -> dict:
    first = fleet["run"]()
    assert first["rc"] == 0, first["out"]
    return {"first": first, "again": fleet["run"](), "limited": fleet["run"]("--limit", "sandbox-b")}


def core(box: Sandbox):
    from kubernetes import client

    return client.CoreV1Api(box.api_client())


def test_one_run_converges_both_clusters(runs):
    stats = runs["first"]["report"]["stats"]
    assert set(stats) >= {"sandbox-a", "sandbox-b"}
    assert stats["sandbox-a"]["changed"] > 0 and stats["sandbox-b"]["changed"] > 0
    assert all(s["failures"] == 0 for s in stats.values())


def test_no_run_leaves_the_chart_values_behind(runs, fleet):
    # A first converge renders in the preflight and again in the rollout; each removes its scratch
    # directory (values with credentials) however the run went.
    assert not sorted(fleet["tmp"].glob("oneport-pachyderm-*"))


def test_each_cluster_gets_its_own_address_from_its_own_range(runs, fleet):
    addresses = {}
    for name, box in fleet["boxes"].items():
        service = core(box).read_namespaced_service("pachyderm-proxy", NAMESPACE)
        (ingress,) = service.status.load_balancer.ingress
        first, last = RANGES[name].split("-")
        assert (
            tuple(map(int, first.split(".")))
            <= tuple(map(int, ingress.ip.split(".")))
            <= tuple(map(int, last.split(".")))
        ), (name, ingress.ip)
        addresses[name] = ingress.ip
    assert addresses["sandbox-a"] != addresses["sandbox-b"]


def test_each_cluster_has_a_certificate_for_its_own_name(runs, fleet):
    from cryptography import x509

    for name, box in fleet["boxes"].items():
        secret = core(box).read_namespaced_secret("pachyderm-proxy-tls", NAMESPACE)
        certificate = x509.load_pem_x509_certificate(base64.b64decode(secret.data["tls.crt"]))
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert names.get_values_for_type(x509.DNSName) == [HOSTS[name]], name


def test_the_pachctl_config_holds_one_context_per_cluster(runs, fleet):
    config = json.loads(fleet["pach_config"].read_text())["v2"]
    assert {name: config["contexts"][name]["pachd_address"] for name in HOSTS} == {
        name: f"grpcs://{host}:443" for name, host in HOSTS.items()
    }
    # The inventory's first cluster is the active one, whichever clusters a run touches.
    assert config["active_context"] == "sandbox-a"
    ids = {name: config["contexts"][name]["cluster_deployment_id"] for name in HOSTS}
    assert ids["sandbox-a"] != ids["sandbox-b"]


def test_a_second_run_changes_nothing_on_either_cluster(runs):
    stats = runs["again"]["report"]["stats"]
    assert runs["again"]["rc"] == 0, runs["again"]["out"]
    assert {name: stats[name]["changed"] for name in HOSTS} == {"sandbox-a": 0, "sandbox-b": 0}


def test_limit_touches_one_cluster(runs):
    assert runs["limited"]["rc"] == 0, runs["limited"]["out"]
    stats = runs["limited"]["report"]["stats"]
    assert "sandbox-a" not in stats
    assert stats["sandbox-b"]["changed"] == 0 and stats["sandbox-b"]["failures"] == 0


def test_sandbox_settings_are_refused_on_a_cluster_that_is_not_a_sandbox(runs, fleet):
    box = fleet["boxes"]["sandbox-b"]
    namespace, name = IDENTITY
    marker = core(box).read_namespaced_config_map(name, namespace)
    core(box).delete_namespaced_config_map(name, namespace)
    try:
        refused = fleet["run"]("--limit", "sandbox-b")
    finally:
        core(box).create_namespaced_config_map(
            namespace, {"metadata": {"name": name, "namespace": namespace}, "data": marker.data}
        )
    assert refused["rc"] != 0
    messages = [
        str(result.get("msg", ""))
        for play in refused["report"]["plays"]
        for task in play["tasks"]
        for host, result in task["hosts"].items()
        if result.get("failed")
    ]
    assert any(
        m.startswith("sandbox-b: pachyderm_environment is sandbox") and "kube-public/oneport-sandbox" in m
        for m in messages
    ), messages
    changed = [task["task"]["name"] for play in refused["report"]["plays"] for task in play["tasks"]
               if any(r.get("changed") for r in task["hosts"].values())]  # fmt: skip
    assert changed == []
