"""Every cluster of every inventory under inventories/ renders with the real charts, touching no cluster.

Each inventory (found by its hosts.yml, so a new one is covered without a change here) gets one run of
site.yml in render-only mode, with the chart packages from the shared reference data: every stage
finishes and every cluster of the inventory gets its own directory. What the Pachyderm chart renders
for a cluster must match what the inventory asks of that cluster: the storage backend pachd runs, the
storage Secret the chart writes, the proxy Service's type.
"""

from __future__ import annotations

import base64
import json
import tarfile
from pathlib import Path

import pytest
import yaml
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar
from ansible.vars.manager import VariableManager
from support.paths import REPO
from support.playbook_runs import ansible_env, ansible_playbook, json_report

from ansible_collections.oneport.pachyderm.plugins.module_utils import pachyderm_proxy
from ansible_collections.oneport.pachyderm.plugins.module_utils import pachyderm_values as model

POST_RENDER = REPO / "roles" / "pachyderm" / "files" / "post_render.py"
INVENTORY_ROOT = REPO / "inventories"
INVENTORY_DIRS = sorted(
    p.parent.relative_to(INVENTORY_ROOT).as_posix() for p in INVENTORY_ROOT.rglob("hosts.yml")
)


def cluster_hosts(inventory: str) -> list:
    manager = InventoryManager(loader=DataLoader(), sources=[str(INVENTORY_ROOT / inventory)])
    return [host.name for host in manager.groups["clusters"].get_hosts()]


# (inventory, cluster host) for every cluster of every inventory.
CLUSTERS = [(inventory, host) for inventory in INVENTORY_DIRS for host in cluster_hosts(inventory)]
CHART = "pachyderm-2.12.0.tgz"

# The chart's values.yaml: deployTarget "must be one of GOOGLE, AMAZON, MINIO, MICROSOFT, CUSTOM or LOCAL".
CHART_DEPLOY_TARGETS = ("GOOGLE", "AMAZON", "MINIO", "MICROSOFT", "CUSTOM", "LOCAL")
# Inventory storage backend -> (deployTarget, the STORAGE_BACKEND the chart hands pachd).
CHART_STORAGE = {
    "s3": ("AMAZON", "AMAZON"),
    "minio": ("CUSTOM", "AMAZON"),
    "gcs": ("GOOGLE", "GOOGLE"),
    "azure": ("MICROSOFT", "MICROSOFT"),
    "local": ("LOCAL", "LOCAL"),
}
# Kubernetes modules other than helm_template reach a cluster: none may run in render-only mode.
OFFLINE_ACTIONS = {"kubernetes.core.helm_template"}


def inventory_vars(inventory: Path, host: str) -> dict:
    """The variables ``host`` of ``inventory`` has (group_vars, host_vars), as the inventory states them."""
    loader = DataLoader()
    manager = InventoryManager(loader=loader, sources=[str(inventory)])
    return VariableManager(loader=loader, inventory=manager).get_vars(host=manager.get_host(host))


def templated(variables: dict, name: str, default: str = "") -> str:
    """One variable as a run sees it: a value computed from others (inventories/local names the proxy by
    the sandbox's address when it runs Pachyderm for real) is templated with the same variables."""
    return str(Templar(loader=DataLoader(), variables=variables).template(variables.get(name, default)))


def truthy(value) -> bool:
    return str(value).strip().lower() in ("true", "yes", "1")


class Asked:
    """What an inventory asks for, read from its variables with the role's defaults."""

    def __init__(self, variables: dict):
        self.platform = str(variables.get("pachyderm_platform", variables.get("oneport_platform", "local")))
        default_backend = {"aws": "s3", "gcp": "gcs", "azure": "azure"}.get(self.platform, "local")
        self.backend = str(variables.get("pachyderm_storage_backend") or default_backend)
        default_type = "NodePort" if self.platform in ("nodeport", "kind") else "LoadBalancer"
        self.service_type = str(variables.get("pachyderm_service_type") or default_type)
        self.bucket = str(variables.get("pachyderm_storage_bucket", ""))
        self.region = str(variables.get("pachyderm_storage_region", ""))
        self.endpoint = str(variables.get("pachyderm_storage_endpoint", ""))
        self.secure = truthy(variables.get("pachyderm_storage_secure", True))


@pytest.fixture(scope="module")
def chart_contract(reference_dir) -> dict:
    """The values.yaml and values.schema.json inside the chart package."""
    with tarfile.open(reference_dir / "charts" / CHART) as archive:
        values = archive.extractfile("pachyderm/values.yaml").read()
        schema = archive.extractfile("pachyderm/values.schema.json").read()
    return {"values": yaml.safe_load(values), "schema": json.loads(schema)}


@pytest.fixture(scope="module")
def site_renders(reference_dir, tmp_path_factory):
    """One render-only run of site.yml per inventory (every cluster at once), memoised."""
    runs: dict = {}

    def run(inventory: str) -> dict:
        if inventory not in runs:
            tmp = tmp_path_factory.mktemp("inventory-render")
            render_dir = tmp / "out"
            charts = reference_dir / "charts"
            # The charts are local packages: no repository (inventories/local reads its sandbox's URL from
            # a file only a running sandbox has). A kubeconfig that does not exist: reaching a cluster
            # would fail. The tools are the checkout's (prerequisites only checks they run).
            no_cluster = str(tmp / "no-cluster" / "kubeconfig")
            result = ansible_playbook(
                "playbooks/site.yml",
                "-e", f"oneport_render_dir={render_dir}",
                "-e", f"pachyderm_chart_ref={charts / CHART}",
                "-e", f"metallb_chart_ref={charts / 'metallb-0.16.1.tgz'}",
                "-e", f"cert_manager_chart_ref={charts / 'cert-manager-v1.21.1.tgz'}",
                "-e", "oneport_chart_repo_url=",
                "-e", "pachyderm_chart_repo_url=",
                "-e", "metallb_chart_repo_url=",
                "-e", "cert_manager_chart_repo_url=",
                "-e", f"oneport_bin_dir={REPO / 'bin'}",
                "-e", "prerequisites_install_tools=false",
                "-e", f"oneport_kubeconfig={no_cluster}",
                inventory=INVENTORY_ROOT / inventory,
                env=ansible_env(tmp, json_report=True, KUBECONFIG=no_cluster, K8S_AUTH_KUBECONFIG=no_cluster),
                timeout=600,
            )  # fmt: skip
            runs[inventory] = {"report": json_report(result), "dir": render_dir}
        return runs[inventory]

    return run


@pytest.fixture(scope="module", params=CLUSTERS, ids=[f"{i}/{h}" for i, h in CLUSTERS])
def render(request, site_renders) -> dict:
    """What the site render wrote for one cluster of an inventory."""
    inventory, host = request.param
    run = site_renders(inventory)
    render_dir = run["dir"] / host
    manifests = [doc for doc in yaml.safe_load_all((render_dir / "manifests.yaml").read_text()) if doc]
    return {
        "host": host,
        "inventory": inventory,
        "asked": Asked(inventory_vars(INVENTORY_ROOT / inventory, host)),
        "report": run["report"],
        "dir": render_dir,
        "values": yaml.safe_load((render_dir / "values.yaml").read_text()),
        "manifests": manifests,
        "proxy_files": {path.name: path.read_text() for path in sorted((render_dir / "proxy").iterdir())},
    }


def ran(report: dict, host: str):
    """(task path, action, result) of every task that ran on ``host``, not skipped."""
    for play in report["plays"]:
        for task in play["tasks"]:
            result = task["hosts"].get(host, {})
            if result and not result.get("skipped"):
                yield task["task"].get("path", ""), result.get("action", ""), result


def manifest(render: dict, kind: str, name: str) -> dict:
    for doc in render["manifests"]:
        if doc["kind"] == kind and doc["metadata"]["name"] == name:
            return doc
    raise AssertionError(f"manifests.yaml has no {kind} {name}")


def container_env(deployment: dict, container: str) -> dict:
    (spec,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == container]
    return {entry["name"]: entry.get("value") for entry in spec.get("env", [])}


def secret_data(secret: dict) -> dict:
    return {key: base64.b64decode(value).decode() for key, value in (secret.get("data") or {}).items()}


def test_the_render_succeeds_without_touching_a_cluster(render):
    online = sorted(
        {
            action
            for _path, action, _result in ran(render["report"], render["host"])
            if action.startswith("kubernetes.core.")
        }
        - OFFLINE_ACTIONS
    )
    assert online == []
    assert render["report"]["stats"][render["host"]]["failures"] == 0


def test_the_role_checks_the_values_against_the_real_chart(render, chart_contract):
    checks = [
        result
        for path, action, result in ran(render["report"], render["host"])
        if "roles/pachyderm/tasks/check_values.yml" in path and action == "ansible.builtin.assert"
    ]
    assert checks, "the role's chart check (check_values.yml) did not run"
    assert not any(result.get("failed") for result in checks)
    assert model.chart_problems(render["values"], chart_contract["schema"], chart_contract["values"]) == []


def test_the_manifests_parse_as_kubernetes_objects(render):
    assert render["manifests"]
    for doc in render["manifests"]:
        assert doc.get("apiVersion") and doc.get("kind") and doc["metadata"].get("name"), doc
    manifest(render, "Deployment", "pachd")


def test_the_values_set_the_deploy_target_of_the_storage_backend(render):
    target = render["values"].get("deployTarget")
    assert target in CHART_DEPLOY_TARGETS
    assert target == CHART_STORAGE[render["asked"].backend][0]


@pytest.mark.parametrize("deployment", ["pachd", "pachw"])
def test_pachd_and_pachw_run_the_storage_backend_of_the_inventory(render, deployment):
    asked = render["asked"]
    env = container_env(manifest(render, "Deployment", deployment), deployment)
    assert env["STORAGE_BACKEND"] == CHART_STORAGE[asked.backend][1]
    expected_url = {
        "s3": f"s3://{asked.bucket}",
        "minio": f"s3://{asked.bucket}?endpoint={asked.endpoint}&",
        "gcs": f"gs://{asked.bucket}",
        "azure": f"azblob://{asked.bucket}",
    }
    if asked.backend == "local":
        # The chart leaves STORAGE_URL out for LOCAL and stores under a host path instead.
        assert "STORAGE_URL" not in env
        assert env["STORAGE_HOST_PATH"].endswith("/pachd")
    elif asked.backend == "minio":
        assert env["STORAGE_URL"].startswith(expected_url["minio"])
    else:
        assert env["STORAGE_URL"] == expected_url[asked.backend]


def test_the_storage_secret_matches_the_storage_backend(render):
    asked = render["asked"]
    data = secret_data(manifest(render, "Secret", "pachyderm-storage-secret"))
    if asked.backend == "local":
        assert data == {}
    elif asked.backend == "gcs":
        assert set(data) >= {"GOOGLE_BUCKET", "GOOGLE_CRED"}
        assert data["GOOGLE_BUCKET"] == asked.bucket
    elif asked.backend == "azure":
        # The container travels in STORAGE_URL; the Secret holds the account and its key.
        assert set(data) == {"AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_KEY"}
        assert data["AZURE_STORAGE_ACCOUNT"]
    else:
        assert data["AMAZON_BUCKET"] == asked.bucket
        if asked.backend == "s3":
            assert (data["AMAZON_REGION"], data["CUSTOM_ENDPOINT"]) == (asked.region, "")
        else:
            scheme = "https" if asked.secure else "http"
            assert data["CUSTOM_ENDPOINT"] == f"{scheme}://{asked.endpoint}"
            assert data["DISABLE_SSL"] == str(not asked.secure).lower()


def test_the_proxy_service_has_the_type_the_inventory_implies(render):
    service = manifest(render, "Service", "pachyderm-proxy")
    assert service["spec"]["type"] == render["asked"].service_type


def config_checksum(files: dict) -> str:
    """The role's post-renderer's digest of the proxy's files (roles/pachyderm/files/post_render.py)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("post_render", POST_RENDER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.config_checksum(files)


def proxy_container(render: dict) -> dict:
    deployment = manifest(render, "Deployment", "pachyderm-proxy")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def test_the_proxy_configmap_holds_the_collections_configuration_and_nothing_of_the_charts(render):
    data = manifest(render, "ConfigMap", "pachyderm-proxy-config")["data"]
    assert data == render["proxy_files"]
    bootstrap = json.loads(data["envoy.json"])
    assert bootstrap["admin"]["address"]["socket_address"]["address"] == "127.0.0.1"
    assert bootstrap["node"]["cluster"] == "pachyderm-proxy"


def test_the_proxy_rolls_exactly_when_its_configuration_changes(render):
    deployment = manifest(render, "Deployment", "pachyderm-proxy")
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["checksum/envoy-config"] == config_checksum(render["proxy_files"])


def test_the_proxy_runs_the_pinned_envoy_with_its_heap_inside_the_memory_limit(render):
    container = proxy_container(render)
    assert container["image"].endswith(f"envoyproxy/envoy:distroless-v{pachyderm_proxy.ENVOY_VERSION}")
    limit = pachyderm_proxy.quantity_bytes(container["resources"]["limits"]["memory"], "limit")
    bootstrap = json.loads(render["proxy_files"]["envoy.json"])
    (heap,) = [
        monitor["typed_config"]["max_heap_size_bytes"]
        for monitor in bootstrap["overload_manager"]["resource_monitors"]
        if monitor["name"] == "envoy.resource_monitors.fixed_heap"
    ]
    assert 0 < int(heap) <= 0.8 * limit
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "readiness"}
    assert {"name": "readiness", "containerPort": pachyderm_proxy.READINESS_PORT} in container["ports"]


def debug_messages(report: dict, host: str) -> list:
    return [
        str(result.get("msg", ""))
        for _path, action, result in ran(report, host)
        if action == "ansible.builtin.debug"
    ]


@pytest.mark.parametrize("inventory", INVENTORY_DIRS)
def test_site_render_finishes_every_stage_with_a_directory_per_cluster(inventory, site_renders):
    run = site_renders(inventory)
    hosts = cluster_hosts(inventory)
    assert sorted(path.name for path in run["dir"].iterdir()) == sorted(hosts)
    for host in hosts:
        stats = run["report"]["stats"][host]
        assert (stats["failures"], stats.get("unreachable", 0)) == (0, 0), host
        asked = inventory_vars(INVENTORY_ROOT / inventory, host)
        out = run["dir"] / host
        assert (out / "values.yaml").is_file() and (out / "manifests.yaml").is_file()
        assert (out / "metallb" / "objects.yml").is_file() == (asked.get("oneport_platform") == "metallb")
        issued = asked.get("oneport_tls") in ("self_signed", "acme_http01", "acme_dns01")
        assert (out / "cert_manager").is_dir() == issued, host
        messages = debug_messages(run["report"], host)
        assert any(f"{host}: verify did not run: render-only run" in m for m in messages), messages
        proxy_host = templated(asked, "oneport_proxy_host")
        if proxy_host:
            config = json.loads((out / "pachctl-config.json").read_text())
            context = config["v2"]["contexts"][host]
            tls = asked.get("oneport_tls", "off") != "off"
            assert (
                context["pachd_address"]
                == f"{'grpcs' if tls else 'grpc'}://{proxy_host}:{443 if tls else 80}"
            )
            assert (
                context["cluster_deployment_id"]
                == yaml.safe_load((out / "values.yaml").read_text())["pachd"]["clusterDeploymentID"]
            )
        else:
            assert not (out / "pachctl-config.json").exists()
            assert any(f"{host}: no pachctl context rendered" in m for m in messages), messages


def test_prod_renders_every_cluster_of_the_fleet_with_its_own_settings(site_renders):
    run = site_renders("prod")
    hosts = cluster_hosts("prod")
    assert len(hosts) == 3
    names = {host: json.loads((run["dir"] / host / "pachctl-config.json").read_text()) for host in hosts}
    addresses = {host: config["v2"]["contexts"][host]["pachd_address"] for host, config in names.items()}
    assert len(set(addresses.values())) == 3, addresses
    targets = {
        yaml.safe_load((run["dir"] / host / "values.yaml").read_text())["deployTarget"] for host in hosts
    }
    assert targets == {"AMAZON", "GOOGLE", "MICROSOFT"}
