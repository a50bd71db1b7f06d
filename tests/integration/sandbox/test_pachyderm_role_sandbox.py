"""The pachyderm role against the sandbox's real kube-apiserver: converge, re-run, check mode.

Runs against the integration stage's own sandbox (conftest.py here), with helm-diff installed as a
helm plugin. It uses the local inventory, as the demo does, pointed at that sandbox
(ONEPORT_SANDBOX_DIR), with the proxy as a NodePort: this proves the role on its own, without
depending on MetalLB handing out an address (the site playbook's run covers the LoadBalancer path).
The chart is the real packaged chart given as a local .tgz path and pinned by its sha256, as an
air-gapped site gives it. The release goes to a namespace, release name and node ports of its own
and is removed afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playbook_runs import ansible_env, ansible_playbook, json_report

REPO = Path(__file__).resolve().parents[3]
INVENTORY = REPO / "inventories" / "local"
# A namespace and node ports of this test's own, so a demo or another test's release on the same
# sandbox is neither changed nor in the way (node ports are cluster-wide).
NAMESPACE = "pachyderm-role-test"
HTTPS_NODE_PORT = 30444
OWN = (
    "-e",
    f"oneport_namespace={NAMESPACE}",
    "-e",
    "pachyderm_release_name=pachyderm-role-test",
    "-e",
    "pachyderm_http_node_port=30081",
    "-e",
    f"pachyderm_https_node_port={HTTPS_NODE_PORT}",
)
NODE_PORT = ("-e", "pachyderm_service_type=NodePort", *OWN)

pytestmark = pytest.mark.slow


def local_chart(sandbox) -> tuple:
    """The packaged chart the sandbox serves, as a local path with its digest from the index."""
    path, digest = sandbox.chart_archive("pachyderm", "2.12.0")
    return (
        "-e",
        f"pachyderm_chart_ref={path}",
        "-e",
        "pachyderm_chart_repo_url=",
        "-e",
        f"pachyderm_chart_sha256={digest}",
    )


def playbook(sandbox, *extra: str) -> dict:
    result = ansible_playbook(
        "playbooks/pachyderm.yml",
        *NODE_PORT,
        *local_chart(sandbox),
        *extra,
        inventory=INVENTORY,
        env=ansible_env(json_report=True),
    )
    return json_report(result)


def published_facts(report: dict) -> dict:
    facts = {}
    for play in report["plays"]:
        for task in play["tasks"]:
            result = task["hosts"].get("localhost", {})
            facts.update(result.get("ansible_facts", {}))
    return facts


@pytest.fixture(scope="module")
def runs(local_inventory_on_sandbox) -> Iterator[dict]:
    try:
        sandbox = local_inventory_on_sandbox
        converge = playbook(sandbox)
        again = playbook(sandbox)
        check = playbook(sandbox, "--check", "--diff")
        yield {"converge": converge, "again": again, "check": check}
    finally:
        removed = ansible_playbook(
            "playbooks/uninstall.yml",
            *OWN,
            "-e",
            "pachyderm_uninstall_delete_data_confirm=yes-delete-all-data",
            inventory=INVENTORY,
        )
        assert removed.returncode == 0, removed.stdout[-4000:] + removed.stderr[-2000:]


def test_converge_publishes_the_endpoint_on_the_host_name_over_tls(runs):
    facts = published_facts(runs["converge"])
    endpoint = facts["oneport_proxy_endpoint"]
    assert endpoint["pachd_address"] == f"grpcs://pachyderm.localhost:{HTTPS_NODE_PORT}"
    assert endpoint["ip"] == "127.0.0.1"
    assert len(facts["oneport_cluster_deployment_id"]) == 32


def test_the_cluster_deployment_id_survives_a_second_run(runs):
    first = published_facts(runs["converge"])["oneport_cluster_deployment_id"]
    assert published_facts(runs["again"])["oneport_cluster_deployment_id"] == first


def test_a_second_run_changes_nothing(runs):
    assert runs["again"]["stats"]["localhost"]["changed"] == 0


def test_check_mode_after_converge_changes_nothing(runs):
    assert runs["check"]["stats"]["localhost"]["changed"] == 0
