"""A run killed in the middle of `helm upgrade` leaves the release pending; the next run recovers it.

The pachyderm role converges a release of this test's own, then a second run that upgrades it (a
changed proxy input) is killed (SIGKILL to ansible-playbook and every process it started, as a machine that
goes away ends it) the moment helm records the upgrade as pending. Helm then refuses any change
until the release is recovered: the next run must say what it found, roll back to the last good
revision, upgrade, and the run after it must change nothing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support.paths import REPO
from support.playbook_runs import CLUSTER, ansible_env, ansible_playbook, json_report, remove_release

from tools.sandbox.node import descendants

INVENTORY = REPO / "inventories" / "local"
NAMESPACE = "pachyderm-interrupted"
RELEASE = "pachyderm-interrupted"
OWN = (
    "-e",
    f"oneport_namespace={NAMESPACE}",
    "-e",
    f"pachyderm_release_name={RELEASE}",
    "-e",
    "pachyderm_service_type=NodePort",
    "-e",
    "pachyderm_http_node_port=30082",
    "-e",
    "pachyderm_https_node_port=30445",
)
CHANGED = ("-e", "pachyderm_proxy_xff_num_trusted_hops=2")

pytestmark = pytest.mark.slow


def helm_statuses(sandbox) -> list[str]:
    """The status of each revision helm recorded for the release, oldest first."""
    from kubernetes import client

    secrets = client.CoreV1Api(sandbox.api_client()).list_namespaced_secret(
        NAMESPACE, label_selector=f"owner=helm,name={RELEASE}"
    )
    ordered = sorted(secrets.items, key=lambda item: int(item.metadata.labels["version"]))
    return [item.metadata.labels["status"] for item in ordered]


def kill_tree(pid: int) -> None:
    """SIGKILL the run and everything it started, as a machine that goes away would end it: the tree is
    frozen first (SIGSTOP until no new process appears), so nothing forks or finishes in between."""
    frozen: list[int] = []
    while True:
        tree = [pid, *descendants(pid)]
        new = [process for process in tree if process not in frozen]
        if not new:
            break
        for process in new:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process, signal.SIGSTOP)
        frozen += new
    for process in frozen:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process, signal.SIGKILL)


def kill_when_pending(sandbox, tmp_path) -> int:
    """Start an upgrading run; kill it and everything it started once helm marks the upgrade pending."""
    from kubernetes import client, watch

    command = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        "-i",
        str(INVENTORY),
        "playbooks/pachyderm.yml",
        *OWN,
        *CHANGED,
    ]
    log = (tmp_path / "killed-run.log").open("wb")
    process = subprocess.Popen(
        command,
        cwd=REPO,
        env=ansible_env(tmp_path),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    core = client.CoreV1Api(sandbox.api_client())
    try:
        for event in watch.Watch().stream(
            core.list_namespaced_secret,
            NAMESPACE,
            label_selector=f"owner=helm,name={RELEASE},status=pending-upgrade",
            timeout_seconds=600,
        ):
            if event["type"] in ("ADDED", "MODIFIED"):
                kill_tree(process.pid)
                break
    finally:
        if process.poll() is None:
            kill_tree(process.pid)
        process.wait(timeout=60)
        log.close()
    return process.returncode


@pytest.fixture(scope="module")
def runs(local_inventory_on_sandbox, tmp_path_factory):
    sandbox = local_inventory_on_sandbox
    tmp = tmp_path_factory.mktemp("interrupted")
    try:
        converge = ansible_playbook(
            "playbooks/pachyderm.yml", *OWN, inventory=INVENTORY, env=ansible_env(tmp)
        )
        assert converge.returncode == 0, converge.stdout[-3000:]
        killed = kill_when_pending(sandbox, tmp)
        left = helm_statuses(sandbox)
        recovered = ansible_playbook(
            "playbooks/pachyderm.yml", *OWN, *CHANGED, inventory=INVENTORY, env=ansible_env(tmp)
        )
        again = ansible_playbook(
            "playbooks/pachyderm.yml",
            *OWN,
            *CHANGED,
            inventory=INVENTORY,
            env=ansible_env(tmp, json_report=True),
        )
        yield {
            "killed": killed,
            "left": left,
            "recovered": recovered,
            "again": again,
            "after": helm_statuses(sandbox),
        }
    finally:
        remove_release(*OWN, tmp=tmp)


def test_the_killed_run_leaves_the_upgrade_pending(runs):
    assert runs["killed"] == -signal.SIGKILL
    assert runs["left"][-1] == "pending-upgrade"


def test_the_next_run_says_what_it_found_rolls_back_and_upgrades(runs):
    result = runs["recovered"]
    assert result.returncode == 0, result.stdout[-4000:]
    output = " ".join(result.stdout.split())
    assert f"Release {RELEASE} in namespace {NAMESPACE} was left pending-upgrade" in output
    assert "It is rolled back to revision 1, the last one that completed, then upgraded." in output
    assert runs["after"][-1] == "deployed"
    assert "pending-upgrade" not in runs["after"][-1:]


def test_the_run_after_the_recovery_changes_nothing(runs):
    assert json_report(runs["again"])["stats"][CLUSTER]["changed"] == 0
