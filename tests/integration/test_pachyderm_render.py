"""Render-only mode: the pachyderm role writes values and manifests with real helm, touching no cluster.

The chart is the real Pachyderm chart package (2.12.0) from the shared reference data, so the role's
check runs against its values.yaml and values.schema.json and `helm template` renders its own
templates: what is asserted here is what the chart would install.
"""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest
import yaml
from support.paths import REPO
from support.playbook_runs import CLUSTER, ansible_env, ansible_playbook, cluster_inventory, json_report

from tools.sandbox import images

SECRET_KEY = "render-test-secret-access-key"


@pytest.fixture(scope="module")
def chart(reference_dir) -> Path:
    return reference_dir / "charts" / "pachyderm-2.12.0.tgz"


def run_role(inventory: Path, tmp: Path) -> dict:
    result = ansible_playbook(
        "playbooks/pachyderm.yml", inventory=inventory, env=ansible_env(tmp, json_report=True), timeout=300
    )
    return {"report": json_report(result), "stdout": result.stdout}


@pytest.fixture(scope="module")
def rendered(chart, tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("render")
    inventory = tmp / "inventory"
    cluster_inventory(inventory)
    (inventory / "group_vars").mkdir(parents=True)
    render_dir = tmp / "out"
    group_vars = {
        "oneport_platform": "metallb",
        "oneport_proxy_host": "pachyderm.localhost",
        "oneport_tls": "self_signed",
        "oneport_source_ranges": ["127.0.0.0/8"],
        "oneport_render_dir": str(render_dir),
        "oneport_kubeconfig": str(tmp / "no-cluster" / "kubeconfig"),
        "pachyderm_environment": "sandbox",
        "pachyderm_metallb_address_pool": "sandbox-pool",
        "pachyderm_chart_ref": str(chart),
        "pachyderm_chart_repo_url": "",
        "pachyderm_helm_binary": str(REPO / "bin" / "helm"),
        "pachyderm_storage_backend": "minio",
        "pachyderm_storage_bucket": "pachyderm",
        "pachyderm_storage_endpoint": "minio.storage.svc:9000",
        "pachyderm_storage_access_key_id": "render-test-access-key",
        "pachyderm_storage_secret_access_key": SECRET_KEY,
        "pachyderm_mock_idp": False,
        "pachyderm_upstream_idps": [
            {
                "id": "okta",
                "type": "oidc",
                "config": {"issuer": "https://example.okta.com", "clientID": "pachyderm"},
                "secret": {"name": "pachyderm-okta", "key": "client-secret"},
            }
        ],
    }
    (inventory / "group_vars" / "all.yml").write_text(yaml.safe_dump(group_vars))
    first = run_role(inventory, tmp)
    cluster_dir = render_dir / CLUSTER
    files = {p.name: p.read_text() for p in cluster_dir.iterdir() if p.is_file()}
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in cluster_dir.iterdir() if p.is_file()}
    second = run_role(inventory, tmp)
    return {"dir": cluster_dir, "first": first, "second": second, "files": files, "modes": modes}


def manifest(rendered: dict, kind: str, name: str) -> dict:
    """The object ``kind``/``name`` of the chart's rendered manifests."""
    for doc in yaml.safe_load_all(rendered["files"]["manifests.yaml"]):
        if doc and doc["kind"] == kind and doc["metadata"]["name"] == name:
            return doc
    raise AssertionError(f"manifests.yaml has no {kind} {name}")


def secret_data(secret: dict) -> dict:
    return {key: base64.b64decode(value).decode() for key, value in (secret.get("data") or {}).items()}


def container_env(deployment: dict, container: str) -> dict:
    (spec,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == container]
    return {entry["name"]: entry.get("value") for entry in spec.get("env", [])}


def test_render_writes_values_manifests_and_the_pinned_secret(rendered):
    assert set(rendered["files"]) == {
        "values.yaml",
        "secret-values.yaml",
        "pinned-secret.yaml",
        "upstream-idps-secret.yaml",
        "manifests.yaml",
    }
    # The proxy's configuration files, the bytes the manifests' ConfigMap holds.
    assert sorted(p.name for p in (rendered["dir"] / "proxy").iterdir()) == ["envoy.json", "sds-tls.json"]


def test_rendered_values_carry_no_credentials(rendered):
    values = yaml.safe_load(rendered["files"]["values.yaml"])
    assert SECRET_KEY not in rendered["files"]["values.yaml"]
    assert values["pachd"]["storage"]["amazon"]["secret"].startswith("<redacted")


def test_credentials_and_manifests_are_private_files(rendered):
    for name in ("secret-values.yaml", "pinned-secret.yaml", "upstream-idps-secret.yaml", "manifests.yaml"):
        assert rendered["modes"][name] == 0o600, name
    secret_values = yaml.safe_load(rendered["files"]["secret-values.yaml"])
    assert secret_values["credentials"]["pachd.storage.amazon.secret"] == SECRET_KEY
    assert "root-token" in secret_values["pinned"]


def test_the_chart_copies_the_storage_credentials_into_its_storage_secret(rendered):
    # Why manifests.yaml is private: the chart's own Secret carries the key.
    data = secret_data(manifest(rendered, "Secret", "pachyderm-storage-secret"))
    assert data["AWS_SECRET_ACCESS_KEY"] == SECRET_KEY
    assert data["AWS_ACCESS_KEY_ID"] == "render-test-access-key"


def test_minio_renders_as_the_s3_backend_on_its_endpoint(rendered):
    values = yaml.safe_load(rendered["files"]["values.yaml"])
    assert values["deployTarget"] == "CUSTOM"
    env = container_env(manifest(rendered, "Deployment", "pachd"), "pachd")
    assert env["STORAGE_BACKEND"] == "AMAZON"
    assert env["STORAGE_URL"].startswith("s3://pachyderm?endpoint=minio.storage.svc:9000&")
    data = secret_data(manifest(rendered, "Secret", "pachyderm-storage-secret"))
    assert data["CUSTOM_ENDPOINT"] == "https://minio.storage.svc:9000"
    assert data["DISABLE_SSL"] == "false"
    assert data["AMAZON_BUCKET"] == "pachyderm"


def test_rendered_proxy_service_carries_the_pool_and_the_source_ranges(rendered):
    service = manifest(rendered, "Service", "pachyderm-proxy")
    assert service["spec"]["type"] == "LoadBalancer"
    annotations = service["metadata"]["annotations"]
    assert annotations["metallb.io/address-pool"] == "sandbox-pool"
    assert annotations["service.beta.kubernetes.io/load-balancer-source-ranges"] == "127.0.0.0/8"
    # Chart 2.12's proxy Service template has no loadBalancerSourceRanges field; the role's post-renderer
    # copies the annotation there, the field kube-proxy enforces on MetalLB clusters.
    assert service["spec"]["loadBalancerSourceRanges"] == ["127.0.0.0/8"]
    assert [(p["name"], p["port"]) for p in service["spec"]["ports"]] == [
        ("http-port", 80),
        ("https-port", 443),
    ]


def test_the_proxy_serves_tls_from_the_named_secret(rendered):
    volumes = manifest(rendered, "Deployment", "pachyderm-proxy")["spec"]["template"]["spec"]["volumes"]
    secrets = [v["secret"]["secretName"] for v in volumes if "secret" in v]
    assert secrets == ["pachyderm-proxy-tls"]


def test_a_second_render_changes_nothing(rendered):
    stats = rendered["second"]["report"]["stats"][CLUSTER]
    assert stats["changed"] == 0
    assert (rendered["dir"] / "values.yaml").read_text() == rendered["files"]["values.yaml"]


def test_render_output_never_prints_a_credential(rendered):
    assert SECRET_KEY not in rendered["first"]["stdout"]
    assert SECRET_KEY not in rendered["second"]["stdout"]


def test_rendered_connectors_name_their_secret_and_the_dex_callback(rendered):
    secret = yaml.safe_load(rendered["files"]["upstream-idps-secret.yaml"])
    (okta,) = json.loads(secret["stringData"]["upstream-idps"])
    assert okta["config"]["redirectURI"] == "https://pachyderm.localhost/dex/callback"
    assert okta["config"]["clientSecret"].startswith("<from Secret ")
    assert "pachyderm-okta" in okta["config"]["clientSecret"]


def test_the_console_image_the_role_renders_is_the_one_the_sandbox_packs(rendered):
    """The sandbox's real node runs a pod only when every image is packed under the name the chart uses."""
    console = manifest(rendered, "Deployment", "console")
    (container,) = console["spec"]["template"]["spec"]["containers"]
    assert container["image"] == images.CONSOLE_IMAGE
    assert not images.missing([container["image"]])
    assert container.get("command") is None and container.get("args") is None  # the image's own start
    assert {port["containerPort"] for port in container["ports"]} == {4000}
