"""Wrong inventories fail before anything changes, with a message that names the variable.

Each case is a row of bad_inventories.yml beside this file: the playbook to run (from the repository
root), the message fragment the failure must contain (it names the variable and the fix), and the
inventory's variables and hosts, from which the test writes hosts.yml and group_vars/all.yml into a
temporary directory. `$BIN` in a value stands for the checkout's bin/, `$CHARTS` for the real charts of
the reference data (a case that names a chart fetches it offline, from its local .tgz).

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
from support.playbook_runs import ansible_env, ansible_playbook, task_results
from support.ports import free_port

TABLE = yaml.safe_load((Path(__file__).parent / "bad_inventories.yml").read_text())
CASES = TABLE["cases"]


def with_bin_dir(value, charts: Path | None = None):
    """The case's value with `$BIN` standing for the checkout's bin/ and `$CHARTS` for ``charts``."""
    if isinstance(value, dict):
        return {key: with_bin_dir(item, charts) for key, item in value.items()}
    if isinstance(value, list):
        return [with_bin_dir(item, charts) for item in value]
    if not isinstance(value, str):
        return value
    value = value.replace("$BIN", str(REPO / "bin"))
    return value.replace("$CHARTS", str(charts)) if charts is not None else value


def names_charts(case: dict) -> bool:
    return "$CHARTS" in json.dumps(case.get("vars") or {})


def build_inventory(case: dict, directory: Path, charts: Path | None = None) -> Path:
    """The case's inventory as files: hosts.yml and group_vars/all.yml."""
    hosts = case.get("hosts", "cluster")
    hosts = TABLE["hosts"][hosts] if isinstance(hosts, str) else hosts
    (directory / "group_vars").mkdir(parents=True)
    (directory / "hosts.yml").write_text(yaml.safe_dump(hosts))
    (directory / "group_vars" / "all.yml").write_text(
        yaml.safe_dump(with_bin_dir(case.get("vars") or {}, charts))
    )
    return directory


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
    for _task, _host, result in task_results(report):
        if result.get("failed") or result.get("unreachable"):
            messages.append(str(result.get("msg", "")))
            messages.extend(str(e) for e in result.get("argument_errors", []) or [])
    return messages


def changed_tasks(report: dict) -> list:
    return [task for task, _host, result in task_results(report) if result.get("changed")]


def run_playbook(
    inventory: Path, playbook: str, kubeconfig: Path, tmp_path: Path
) -> subprocess.CompletedProcess:
    (tmp_path / "home").mkdir(exist_ok=True)
    env = ansible_env(
        tmp_path,
        json_report=True,
        K8S_AUTH_KUBECONFIG=str(kubeconfig),
        KUBECONFIG=str(kubeconfig),
        HOME=str(tmp_path / "home"),
    )
    return ansible_playbook(playbook, inventory=inventory, env=env, timeout=300)


def test_there_are_bad_inventory_cases():
    assert len(CASES) >= 60
    for name, case in CASES.items():
        assert case["message"] and case["playbook"].startswith("playbooks/"), name


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_inventory_fails_before_any_change_naming_the_variable(
    name, unreachable_kubeconfig, tmp_path, request
):
    expected = CASES[name]
    # Only a case that names a chart needs the reference data (found beside the checkout, or assembled).
    charts = request.getfixturevalue("reference_dir") / "charts" if names_charts(expected) else None
    inventory = build_inventory(expected, tmp_path / "inventory", charts)
    result = run_playbook(inventory, expected["playbook"], unreachable_kubeconfig, tmp_path)
    assert result.returncode != 0, f"{name}: the playbook succeeded\n{result.stdout[-3000:]}"
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"{name}: no JSON report\nstdout:{result.stdout[-2000:]}\nstderr:{result.stderr[-2000:]}")
    messages = failure_messages(report)
    assert any(expected["message"] in m for m in messages), (
        f"{name}: no failure mentions {expected['message']!r}; failures were: {messages}"
    )
    assert changed_tasks(report) == [], f"{name}: tasks changed something before failing"
