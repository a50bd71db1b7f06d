"""Wrong inventories fail before anything changes, with a message that names the variable.

Each case is a directory under tests/fixtures/bad_inventories/<case>/: an inventory (hosts.yml and
group_vars/all.yml) and expected.yml with

    playbook: playbooks/<x>.yml     # run from the repository root
    message: <substring>            # the failure must contain it (name the variable)

The playbook runs for real with no cluster reachable: the kubeconfig points at a closed loopback
port, so a role that touched the cluster before validating would fail differently (or change
something). The test asserts a non-zero exit, the message, and that no task reported a change.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from support.paths import REPO
from support.playbook_runs import ansible_env, ansible_playbook
from support.ports import free_port

CASES_DIR = REPO / "tests" / "fixtures" / "bad_inventories"
CASES = sorted(p for p in CASES_DIR.iterdir() if (p / "expected.yml").is_file()) if CASES_DIR.is_dir() else []


@pytest.fixture(scope="module")
def unreachable_kubeconfig(tmp_path_factory) -> Path:
    port = free_port()  # nothing listens there
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "closed", "cluster": {"server": f"https://127.0.0.1:{port}"}}],
        "users": [{"name": "nobody", "user": {"token": "not-a-token"}}],
        "contexts": [{"name": "closed", "context": {"cluster": "closed", "user": "nobody"}}],
        "current-context": "closed",
    }
    path = tmp_path_factory.mktemp("kube") / "config"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def failure_messages(report: dict) -> list:
    """Every failure message in an ansible-playbook JSON report, argument-spec details included."""
    messages = []
    for play in report.get("plays", []):
        for task in play.get("tasks", []):
            for result in task.get("hosts", {}).values():
                if result.get("failed") or result.get("unreachable"):
                    messages.append(str(result.get("msg", "")))
                    messages.extend(str(e) for e in result.get("argument_errors", []) or [])
    return messages


def changed_tasks(report: dict) -> list:
    names = []
    for play in report.get("plays", []):
        for task in play.get("tasks", []):
            for result in task.get("hosts", {}).values():
                if result.get("changed"):
                    names.append(task.get("task", {}).get("name", "?"))
    return names


def run_playbook(case: Path, playbook: str, kubeconfig: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    (tmp_path / "home").mkdir(exist_ok=True)
    env = ansible_env(
        tmp_path,
        json_report=True,
        K8S_AUTH_KUBECONFIG=str(kubeconfig),
        KUBECONFIG=str(kubeconfig),
        HOME=str(tmp_path / "home"),
    )
    return ansible_playbook(playbook, inventory=case, env=env, timeout=300)


def test_there_are_bad_inventory_cases():
    assert len(CASES) >= 12


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_inventory_fails_before_any_change_naming_the_variable(case, unreachable_kubeconfig, tmp_path):
    expected = yaml.safe_load((case / "expected.yml").read_text())
    result = run_playbook(case, expected["playbook"], unreachable_kubeconfig, tmp_path)
    assert result.returncode != 0, f"{case.name}: the playbook succeeded\n{result.stdout[-3000:]}"
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(
            f"{case.name}: no JSON report\nstdout:{result.stdout[-2000:]}\nstderr:{result.stderr[-2000:]}"
        )
    messages = failure_messages(report)
    assert any(expected["message"] in m for m in messages), (
        f"{case.name}: no failure mentions {expected['message']!r}; failures were: {messages}"
    )
    assert changed_tasks(report) == [], f"{case.name}: tasks changed something before failing"
