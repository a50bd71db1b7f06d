"""site.yml checks every stage and renders every chart before the first stage changes the cluster.

Without the preflight, an input the Pachyderm stage refuses (or a Pachyderm chart that is not the
one pinned) stopped the run only after the MetalLB and cert-manager stages had installed their charts.
Each case runs site.yml with the local inventory against the sandbox, with namespaces of its own for
every stage, and compares what the cluster holds before and after: nothing may have changed.
"""

from __future__ import annotations

import pytest
from support.paths import REPO
from support.playbook_runs import ansible_env, ansible_playbook

INVENTORY = REPO / "inventories" / "local"
OWN_NAMESPACES = (
    "-e",
    "metallb_namespace=metallb-preflight",
    "-e",
    "cert_manager_namespace=cert-manager-preflight",
    "-e",
    "oneport_namespace=pachyderm-preflight",
    "-e",
    "pachyderm_release_name=pachyderm-preflight",
)

pytestmark = pytest.mark.slow


def cluster_state(sandbox) -> dict:
    """What a stage's changes would show in: namespaces, Deployments, CRDs, Helm releases, webhooks."""
    from kubernetes import client

    api = sandbox.api_client()
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    extensions = client.ApiextensionsV1Api(api)
    admission = client.AdmissionregistrationV1Api(api)
    return {
        "namespaces": sorted(item.metadata.name for item in core.list_namespace().items),
        "deployments": sorted(
            (item.metadata.namespace, item.metadata.name, item.metadata.resource_version)
            for item in apps.list_deployment_for_all_namespaces().items
        ),
        "crds": sorted(item.metadata.name for item in extensions.list_custom_resource_definition().items),
        "releases": sorted(
            (item.metadata.namespace, item.metadata.name)
            for item in core.list_secret_for_all_namespaces(label_selector="owner=helm").items
        ),
        "webhooks": sorted(
            item.metadata.name for item in admission.list_validating_webhook_configuration().items
        ),
    }


def site(sandbox, tmp_path, *extra: str):
    return ansible_playbook(
        "site.yml", *OWN_NAMESPACES, *extra, inventory=INVENTORY, env=ansible_env(tmp_path), timeout=600
    )


def test_a_pachyderm_input_the_model_refuses_stops_site_before_any_stage_changes_the_cluster(
    local_inventory_on_sandbox, tmp_path
):
    before = cluster_state(local_inventory_on_sandbox)
    result = site(local_inventory_on_sandbox, tmp_path, "-e", "pachyderm_proxy_memory_limit=256Mi")
    assert result.returncode != 0
    output = " ".join(result.stdout.split())
    assert "pachyderm_proxy_memory_limit: '256Mi' gives a heap" in output, result.stdout[-3000:]
    assert "Preflight - check the fleet and every stage's inputs" in output
    assert cluster_state(local_inventory_on_sandbox) == before


def test_a_pachyderm_chart_refusal_stops_site_before_any_stage_changes_the_cluster(
    local_inventory_on_sandbox, tmp_path
):
    # The 2.12.0 archive offered as 2.11.6: the chart itself says it is another version.
    archive, _digest = local_inventory_on_sandbox.chart_archive("pachyderm", "2.12.0")
    before = cluster_state(local_inventory_on_sandbox)
    result = site(
        local_inventory_on_sandbox,
        tmp_path,
        "-e",
        f"pachyderm_chart_ref={archive}",
        "-e",
        "pachyderm_chart_repo_url=",
        "-e",
        "pachyderm_chart_version=2.11.6",
    )
    assert result.returncode != 0
    output = " ".join(result.stdout.split())
    assert "pachyderm_chart_version" in output, result.stdout[-3000:]
    assert "Preflight - render every chart with the final values" in output
    # MetalLB's and cert-manager's charts rendered in the same preflight, before Pachyderm's stopped it.
    assert "Render the MetalLB chart" in output
    assert cluster_state(local_inventory_on_sandbox) == before
