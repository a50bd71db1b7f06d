"""The pachyderm role against the sandbox's real kube-apiserver: converge, re-run, check mode.

Needs `make cluster-up` (.build/sandbox/kubeconfig, the charts in .build/charts) and helm-diff
installed as a helm plugin; skipped with the reason when the sandbox is not running. It uses the
local inventory, the embedded default, as the demo does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
KUBECONFIG = REPO / ".build" / "sandbox" / "kubeconfig"
CHART = REPO / ".build" / "charts" / "pachyderm"
INVENTORY = REPO / "inventories" / "local"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (KUBECONFIG.is_file() and CHART.is_dir()),
        reason="the sandbox is not running: `make cluster-up` first",
    ),
]


def playbook(*extra: str) -> dict:
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ)
    env.update(
        ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=str(REPO / ".build" / "collections"),
        HELM_PLUGINS=env.get("HELM_PLUGINS", str(REPO / ".build" / "helm" / "plugins")),
        PATH=os.pathsep.join([str(REPO / "bin"), str(bin_dir), env.get("PATH", "")]),
    )
    result = subprocess.run(
        [
            str(bin_dir / "ansible-playbook"),
            "-i",
            str(INVENTORY),
            str(REPO / "playbooks" / "pachyderm.yml"),
            *extra,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    return json.loads(result.stdout)


def published_facts(report: dict) -> dict:
    facts = {}
    for play in report["plays"]:
        for task in play["tasks"]:
            result = task["hosts"].get("localhost", {})
            facts.update(result.get("ansible_facts", {}))
    return facts


@pytest.fixture(scope="module")
def runs() -> dict:
    converge = playbook()
    again = playbook()
    check = playbook("--check", "--diff")
    return {"converge": converge, "again": again, "check": check}


def test_converge_publishes_the_endpoint_on_the_host_name_over_tls(runs):
    facts = published_facts(runs["converge"])
    endpoint = facts["oneport_proxy_endpoint"]
    assert endpoint["pachd_address"] == "grpcs://pachyderm.localhost:443"
    assert endpoint["ip"].startswith("127.0.0.")
    assert len(facts["oneport_cluster_deployment_id"]) == 32


def test_the_cluster_deployment_id_survives_a_second_run(runs):
    first = published_facts(runs["converge"])["oneport_cluster_deployment_id"]
    assert published_facts(runs["again"])["oneport_cluster_deployment_id"] == first


def test_a_second_run_changes_nothing(runs):
    assert runs["again"]["stats"]["localhost"]["changed"] == 0


def test_check_mode_after_converge_changes_nothing(runs):
    assert runs["check"]["stats"]["localhost"]["changed"] == 0
