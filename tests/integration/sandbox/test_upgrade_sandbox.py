"""Upgrades from the previous Pachyderm release (chart 2.11.6, the real published chart) lose nothing.

Two releases of their own, each in its own namespace: one installed with 2.11.6 by the role, one by
hand with plain `helm install` (as users did before this collection: the chart generated its
secrets). The role then upgrades each to 2.12.0. Compared before and after: the root token and OAuth
client secrets, the cluster deployment ID, the bundled PostgreSQL passwords, the storage settings,
and every PersistentVolumeClaim (still bound to the same volume). Check mode before the upgrade shows
a change and changes nothing; a run after it changes nothing.
"""

from __future__ import annotations

import base64
import subprocess

import pytest
from support.paths import REPO
from support.playbook_runs import CLUSTER, ansible_env, ansible_playbook, json_report, remove_release

INVENTORY = REPO / "inventories" / "local"
PINNED = "pachyderm-oneport-pinned"
CHART_SECRETS = ("pachyderm-deployment-id-secret", "pachyderm-console-secret", "postgres", "pachyderm-auth")

pytestmark = pytest.mark.slow


def role_run(sandbox, tmp, namespace: str, version: str, *extra: str) -> dict:
    archive, digest = sandbox.chart_archive("pachyderm", version)
    result = ansible_playbook(
        "playbooks/pachyderm.yml",
        *("-e", f"oneport_namespace={namespace}", "-e", f"pachyderm_release_name={namespace}"),
        *("-e", "pachyderm_service_type=ClusterIP", "-e", f"pachyderm_chart_ref={archive}"),
        *("-e", "pachyderm_chart_repo_url=", "-e", f"pachyderm_chart_version={version}"),
        *("-e", f"pachyderm_chart_sha256={digest}"),
        *extra,
        inventory=INVENTORY,
        env=ansible_env(tmp, json_report=True),
    )
    report = json_report(result)
    report["stdout"] = " ".join(result.stdout.split())
    return report


def decoded(secret) -> dict:
    return {key: base64.b64decode(value).decode() for key, value in (secret.data or {}).items()}


def snapshot(sandbox, namespace: str) -> dict:
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    api = sandbox.api_client()
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    secrets = {}
    for name in (PINNED, *CHART_SECRETS):
        try:
            secrets[name] = decoded(core.read_namespaced_secret(name, namespace))
        except ApiException as err:
            if err.status != 404:
                raise
    pachd = apps.read_namespaced_deployment("pachd", namespace).spec.template.spec.containers
    (container,) = [c for c in pachd if c.name == "pachd"]
    env = {item.name: item.value for item in container.env or [] if item.value is not None}
    return {
        "secrets": secrets,
        "pvcs": {
            item.metadata.name: (item.spec.volume_name, item.status.phase)
            for item in core.list_namespaced_persistent_volume_claim(namespace).items
        },
        "storage": {key: env.get(key) for key in ("STORAGE_BACKEND", "STORAGE_HOST_PATH")},
        "pachd_image": container.image,
    }


def kept(before: dict, after: dict) -> dict:
    """What must not change across the upgrade, from both snapshots."""
    pinned_after = after["secrets"][PINNED]
    chart_before = before["secrets"]
    return {
        "pvcs": (before["pvcs"], after["pvcs"]),
        "storage": (before["storage"], after["storage"]),
        "deployment id": (
            chart_before["pachyderm-deployment-id-secret"]["CLUSTER_DEPLOYMENT_ID"],
            pinned_after["cluster-deployment-id"],
        ),
        "console oauth": (
            chart_before.get("pachyderm-console-secret", {}).get("OAUTH_CLIENT_SECRET")
            or before["secrets"][PINNED]["OAUTH_CLIENT_SECRET"],
            pinned_after["OAUTH_CLIENT_SECRET"],
        ),
        "database password": (
            chart_before["postgres"]["postgresql-password"],
            pinned_after["postgresql-password"],
        ),
    }


@pytest.fixture(scope="module")
def by_role(local_inventory_on_sandbox, tmp_path_factory):
    sandbox, tmp, namespace = (
        local_inventory_on_sandbox,
        tmp_path_factory.mktemp("upgrade"),
        "pachyderm-upgrade",
    )
    try:
        install = role_run(sandbox, tmp, namespace, "2.11.6")
        before = snapshot(sandbox, namespace)
        check = role_run(sandbox, tmp, namespace, "2.12.0", "--check", "--diff")
        after_check = snapshot(sandbox, namespace)
        upgrade = role_run(sandbox, tmp, namespace, "2.12.0")
        after = snapshot(sandbox, namespace)
        again = role_run(sandbox, tmp, namespace, "2.12.0")
        yield {
            "install": install,
            "before": before,
            "check": check,
            "after_check": after_check,
            "upgrade": upgrade,
            "after": after,
            "again": again,
        }
    finally:
        uninstall(tmp, namespace)


@pytest.fixture(scope="module")
def by_hand(local_inventory_on_sandbox, tmp_path_factory):
    sandbox, tmp, namespace = local_inventory_on_sandbox, tmp_path_factory.mktemp("adopt"), "pachyderm-adopt"
    archive, _digest = sandbox.chart_archive("pachyderm", "2.11.6")
    try:
        installed = subprocess.run(
            [
                str(REPO / "bin" / "helm"),
                "install",
                namespace,
                str(archive),
                "--namespace",
                namespace,
                "--create-namespace",
                "--kubeconfig",
                str(sandbox.kubeconfig),
                "--set",
                "deployTarget=LOCAL",
                "--set",
                "proxy.service.type=ClusterIP",
                "--wait",
                "--timeout",
                "600s",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert installed.returncode == 0, installed.stderr
        before = snapshot(sandbox, namespace)
        upgrade = role_run(sandbox, tmp, namespace, "2.12.0")
        after = snapshot(sandbox, namespace)
        again = role_run(sandbox, tmp, namespace, "2.12.0")
        yield {"before": before, "upgrade": upgrade, "after": after, "again": again}
    finally:
        uninstall(tmp, namespace)


def uninstall(tmp, namespace: str) -> None:
    remove_release(
        "-e", f"oneport_namespace={namespace}", "-e", f"pachyderm_release_name={namespace}", tmp=tmp
    )


def assert_upgraded_keeping_everything(run: dict) -> None:
    assert run["upgrade"]["stats"][CLUSTER]["failures"] == 0, run["upgrade"]["stdout"][-3000:]
    assert run["before"]["pachd_image"].endswith(":2.11.6")
    assert run["after"]["pachd_image"].endswith(":2.12.0")
    assert run["before"]["pvcs"] and all(phase == "Bound" for _volume, phase in run["after"]["pvcs"].values())
    for what, (was, now) in kept(run["before"], run["after"]).items():
        assert was == now, what
    assert run["again"]["stats"][CLUSTER]["changed"] == 0


def test_the_role_upgrades_its_own_2_11_release_keeping_every_pinned_value_and_volume(by_role):
    assert_upgraded_keeping_everything(by_role)
    assert by_role["before"]["secrets"][PINNED] == {
        key: value
        for key, value in by_role["after"]["secrets"][PINNED].items()
        if key in by_role["before"]["secrets"][PINNED]
    }


def test_check_mode_before_the_upgrade_shows_a_change_and_changes_nothing(by_role):
    assert by_role["check"]["stats"][CLUSTER]["changed"] >= 1
    (shown,) = [
        task["hosts"][CLUSTER]["msg"]
        for play in by_role["check"]["plays"]
        for task in play["tasks"]
        if task["task"]["name"].endswith("Show what the upgrade would change")
    ]
    assert any("pachyderm/pachd:2.12.0" in line for line in shown), shown[:40]
    assert by_role["check"]["stats"][CLUSTER]["failures"] == 0
    assert by_role["after_check"] == by_role["before"]


def test_a_release_installed_by_hand_is_adopted_never_regenerated(by_hand):
    assert "was installed without this role: kept what its chart generated" in by_hand["upgrade"]["stdout"]
    assert_upgraded_keeping_everything(by_hand)
    host_path = by_hand["before"]["storage"]["STORAGE_HOST_PATH"]
    assert by_hand["after"]["secrets"][PINNED]["local-host-path"] + "pachd" == host_path


def test_uninstall_refuses_to_delete_a_cluster_wide_object_another_release_owns(
    by_role, local_inventory_on_sandbox, tmp_path
):
    from kubernetes import client

    namespace = "pachyderm-upgrade"
    rbac = client.RbacAuthorizationV1Api(local_inventory_on_sandbox.api_client())
    (role,) = [
        item
        for item in rbac.list_cluster_role().items
        if (item.metadata.annotations or {}).get("meta.helm.sh/release-name") == namespace
    ][:1]
    name = role.metadata.name
    owner = {"meta.helm.sh/release-name": "other-team", "meta.helm.sh/release-namespace": "team-b"}
    mine = {"meta.helm.sh/release-name": namespace, "meta.helm.sh/release-namespace": namespace}
    rbac.patch_cluster_role(name, {"metadata": {"annotations": owner}})
    try:
        result = ansible_playbook(
            "playbooks/uninstall.yml",
            *("-e", f"oneport_namespace={namespace}", "-e", f"pachyderm_release_name={namespace}"),
            inventory=INVENTORY,
            env=ansible_env(tmp_path),
        )
        output = " ".join(result.stdout.split())
        assert result.returncode != 0
        assert f"ClusterRole {name} (release other-team in team-b)" in output, output[-3000:]
        assert "Nothing was deleted" in output
        assert rbac.read_cluster_role(name).metadata.name == name
        assert snapshot(local_inventory_on_sandbox, namespace)["pachd_image"].endswith(":2.12.0")
    finally:
        rbac.patch_cluster_role(name, {"metadata": {"annotations": mine}})
