"""Run the collection's playbooks for real, the way the tests need them, in one place."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from support.paths import REPO

LOCAL_INVENTORY = REPO / "inventories" / "local"
# The cluster host of inventories/local (the sandbox) and of the one-cluster inventories tests write.
CLUSTER = "sandbox"
# How every cluster host of those inventories is reached: the work runs on the control node.
LOCAL_CONNECTION = {
    "ansible_connection": "local",
    "ansible_python_interpreter": "{{ ansible_playbook_python }}",
}


def cluster_inventory(directory: Path, variables: dict | None = None, name: str = CLUSTER) -> Path:
    """A one-cluster inventory in ``directory`` (host ``name`` in the clusters group) for a test's run."""
    directory.mkdir(parents=True, exist_ok=True)
    inventory = {"all": {"children": {"clusters": {"hosts": {name: dict(LOCAL_CONNECTION)}}}}}
    (directory / "hosts.yml").write_text(yaml.safe_dump(inventory))
    if variables is not None:
        (directory / "group_vars").mkdir(exist_ok=True)
        (directory / "group_vars" / "all.yml").write_text(yaml.safe_dump(variables))
    return directory


def sandbox_fleet_inventory(directory: Path, clusters: dict, shared: dict | None = None) -> Path:
    """An inventory of sandbox clusters, shaped as inventories/prod: ``clusters`` maps each cluster's name
    to (its Sandbox, its own variables); every cluster is a metallb cluster with the local inventory's
    sandbox settings (``shared`` adds to them), its kubeconfig and chart repository in its host_vars."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "group_vars").mkdir(exist_ok=True)
    (directory / "host_vars").mkdir(exist_ok=True)
    metallb = {"hosts": {name: None for name in clusters}}
    hosts = {"all": {"children": {"clusters": {"vars": LOCAL_CONNECTION, "children": {"metallb": metallb}}}}}
    (directory / "hosts.yml").write_text(yaml.safe_dump(hosts))
    common = {
        "oneport_platform": "metallb",
        "oneport_sandbox": True,
        "oneport_tls": "self_signed",
        "oneport_bin_dir": str(REPO / "bin"),
        "metallb_l2_advertisements": [{"name": "sandbox-pool", "ip_address_pools": ["sandbox-pool"]}],
        "pachyderm_metallb_address_pool": "sandbox-pool",
        "pachyderm_storage_backend": "local",
        "pachyderm_database": "bundled",
        "pachyderm_wait_timeout": 300,
        "prerequisites_install_tools": False,
        "oneport_enable_verify": False,
        **(shared or {}),
    }
    (directory / "group_vars" / "all.yml").write_text(yaml.safe_dump(common))
    for name, (box, own) in clusters.items():
        host = {
            "oneport_kubeconfig": str(box.kubeconfig),
            "oneport_chart_repo_url": box.chart_repo_url,
            **own,
        }
        (directory / "host_vars" / f"{name}.yml").write_text(yaml.safe_dump(host))
    return directory


def ansible_env(tmp: Path | None = None, json_report: bool = False, **overrides: str) -> dict:
    """The environment of a test's playbook run: this checkout's config, collection and tools.

    With `tmp`, Ansible's home and local temp live there (runs never share state). With
    `json_report`, stdout is the JSON callback's report. `overrides` are set last.
    """
    venv_bin = Path(sys.executable).parent
    env = dict(os.environ)
    env.update(
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=str(REPO / ".build" / "collections"),
        ANSIBLE_NOCOLOR="1",
        PATH=os.pathsep.join([str(REPO / "bin"), str(venv_bin), env.get("PATH", "")]),
    )
    env.setdefault("HELM_PLUGINS", str(REPO / ".build" / "helm" / "plugins"))
    if tmp is not None:
        env.update(ANSIBLE_HOME=str(tmp / "ansible-home"), ANSIBLE_LOCAL_TEMP=str(tmp / "ansible-tmp"))
    if json_report:
        env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.builtin.json"
    env.update(overrides)
    return env


def ansible_playbook(
    playbook: str | Path,
    *args: str,
    inventory: str | Path = LOCAL_INVENTORY,
    env: dict | None = None,
    timeout: float = 900,
) -> subprocess.CompletedProcess:
    """ansible-playbook -i <inventory> <playbook> <args>, from the checkout; never raises on failure.

    A relative playbook is taken from the checkout's root.
    """
    executable = Path(sys.executable).parent / "ansible-playbook"
    return subprocess.run(
        [str(executable), "-i", str(inventory), str(REPO / playbook), *args],
        cwd=REPO,
        env=env if env is not None else ansible_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_playbook(
    playbook: str | Path, variables: dict, tmp: Path, *extra: str
) -> subprocess.CompletedProcess:
    """ansible-playbook -i inventories/local <playbook>, ``variables`` passed as an extra-vars file in tmp."""
    vars_file = tmp / "vars.yml"
    vars_file.write_text(yaml.safe_dump(variables))
    return ansible_playbook(playbook, "-e", f"@{vars_file}", *extra)


def json_report(result: subprocess.CompletedProcess) -> dict:
    """The JSON callback's report of a run that succeeded (fails the test with the output otherwise)."""
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    return json.loads(result.stdout)


def task_results(report: dict):
    """(task name, host, result) for every task result in the JSON report, in the order they ran."""
    for play in report.get("plays", []):
        for task in play.get("tasks", []):
            for host, result in task.get("hosts", {}).items():
                yield task.get("task", {}).get("name", "?"), host, result


def task_states(report: dict, host: str = CLUSTER) -> dict:
    """Each task's name (without its role's prefix) to what it did on ``host`` in the JSON report:
    "skipped", "changed", "failed" or "ok"; a task that ran more than once keeps its last state."""
    states = {}
    for task_name, task_host, result in task_results(report):
        if task_host != host:
            continue
        name = task_name.split(" : ", 1)[-1]
        if result.get("skipped"):
            states[name] = "skipped"
        elif result.get("failed"):
            states[name] = "failed"
        else:
            states[name] = "changed" if result.get("changed") else "ok"
    return states


def changed(result: subprocess.CompletedProcess, host: str = CLUSTER) -> int:
    """The recap's changed count for ``host`` (fails the test with the output when there is none)."""
    match = re.search(rf"{re.escape(host)}\s*:\s*ok=\d+\s+changed=(\d+)", result.stdout)
    assert match, result.stdout[-3000:] + result.stderr[-2000:]
    return int(match.group(1))


def remove_release(*extra: str, tmp: Path | None = None) -> None:
    """playbooks/uninstall.yml with the data confirmation, for a test's own release (``extra`` names it)."""
    removed = ansible_playbook(
        "playbooks/uninstall.yml",
        *extra,
        "-e",
        "pachyderm_uninstall_delete_data_confirm=yes-delete-all-data",
        env=ansible_env(tmp),
    )
    assert removed.returncode == 0, removed.stdout[-4000:] + removed.stderr[-2000:]
