"""The sandbox's chart repository, and roles that stop before any change when a chart is wrong.

The repository serves the real published charts on loopback; the roles take them from it through
`oneport_chart_repo_url`, as a site takes them from its mirror. A wrong digest or values the chart
refuses must leave the cluster exactly as it was: the namespaces the roles would create never appear.
"""

from __future__ import annotations

import urllib.request

import pytest
import yaml
from support.paths import REPO
from support.playbook_runs import ansible_env, ansible_playbook

INVENTORY = REPO / "inventories" / "local"

pytestmark = pytest.mark.slow


def namespace_exists(sandbox, name: str) -> bool:
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    try:
        client.CoreV1Api(sandbox.api_client()).read_namespace(name)
    except ApiException as err:
        if err.status == 404:
            return False
        raise
    return True


def test_the_chart_repository_is_served_on_loopback_with_every_pinned_chart(sandbox, chart_repo_url):
    assert chart_repo_url.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(f"{chart_repo_url}/index.yaml", timeout=5) as response:  # noqa: S310
        index = yaml.safe_load(response.read())
    listed = {(name, str(e["version"])) for name, entries in index["entries"].items() for e in entries}
    assert {("metallb", "0.16.1"), ("cert-manager", "v1.21.1"), ("pachyderm", "2.12.0")} <= listed
    statuses = {s.name: s for s in sandbox.status()}
    assert statuses["chart-repo"].running


def test_a_chart_archive_with_another_digest_stops_the_role_before_any_change(
    local_inventory_on_sandbox, tmp_path
):
    sandbox = local_inventory_on_sandbox
    path, digest = sandbox.chart_archive("pachyderm", "2.12.0")
    wrong = ("0" if digest[0] != "0" else "1") + digest[1:]
    result = ansible_playbook(
        "playbooks/pachyderm.yml",
        "-e",
        "oneport_namespace=pachyderm-digest-test",
        "-e",
        f"pachyderm_chart_ref={path}",
        "-e",
        "pachyderm_chart_repo_url=",
        "-e",
        f"pachyderm_chart_sha256={wrong}",
        inventory=INVENTORY,
        env=ansible_env(tmp_path),
    )
    assert result.returncode != 0
    assert f"pachyderm_chart_sha256: the chart {path} has sha256 {digest}, not {wrong}" in " ".join(
        result.stdout.split()
    ), result.stdout[-3000:]
    assert not namespace_exists(sandbox, "pachyderm-digest-test")


def test_values_the_chart_refuses_stop_metallb_before_any_change(local_inventory_on_sandbox, tmp_path):
    result = ansible_playbook(
        "playbooks/metallb.yml",
        "-e",
        "metallb_namespace=metallb-refused",
        "-e",
        '{"metallb_chart_values": {"speaker": {"logLevel": "chatty"}}}',
        inventory=INVENTORY,
        env=ansible_env(tmp_path),
    )
    assert result.returncode != 0
    output = " ".join(result.stdout.split())
    assert "The MetalLB chart metallb 0.16.1 refuses the values built from metallb_chart_values" in output
    assert "logLevel" in output and "nothing was changed" in output
    assert not namespace_exists(local_inventory_on_sandbox, "metallb-refused")
