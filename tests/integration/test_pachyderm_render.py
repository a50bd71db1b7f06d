"""Render-only mode: the pachyderm role writes values and manifests with real helm, touching no cluster.

The chart here is assembled for the test from the reference chart's own values.yaml and
values.schema.json (so `helm template` validates the values against the real schema) plus one
template that renders the proxy Service the way the chart does (type, annotations, loadBalancerIP).
The real chart's templates are not available offline; the sandbox's fixture chart covers the rest.
"""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest
import yaml
from playbook_runs import ansible_env, ansible_playbook, json_report

REPO = Path(__file__).resolve().parents[2]
SECRET_KEY = "render-test-secret-access-key"

PROXY_SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: pachyderm-proxy
  namespace: {{ .Release.Namespace }}
  annotations: {{ toYaml .Values.proxy.service.annotations | nindent 4 }}
spec:
  type: {{ .Values.proxy.service.type }}
  {{- if .Values.proxy.service.loadBalancerIP }}
  loadBalancerIP: {{ .Values.proxy.service.loadBalancerIP }}
  {{- end }}
  ports:
    - name: http-port
      port: {{ .Values.proxy.service.httpPort }}
      targetPort: 8080
    {{- if .Values.proxy.tls.enabled }}
    - name: https-port
      port: {{ .Values.proxy.service.httpsPort }}
      targetPort: 8443
    {{- end }}
  selector:
    app: pachyderm-proxy
"""


@pytest.fixture(scope="module")
def chart(reference_dir, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("chart") / "pachyderm"
    (path / "templates").mkdir(parents=True)
    (path / "Chart.yaml").write_text("apiVersion: v2\nname: pachyderm\nversion: 2.12.0\nappVersion: 2.12.0\n")
    for name in ("values.yaml", "values.schema.json"):
        shutil.copy(reference_dir / "pachyderm" / name, path / name)
    (path / "templates" / "proxy-service.yaml").write_text(PROXY_SERVICE)
    return path


def run_role(inventory: Path, tmp: Path) -> dict:
    result = ansible_playbook(
        "playbooks/pachyderm.yml", inventory=inventory, env=ansible_env(tmp, json_report=True), timeout=300
    )
    return {"report": json_report(result), "stdout": result.stdout}


@pytest.fixture(scope="module")
def rendered(chart, tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("render")
    inventory = tmp / "inventory"
    (inventory / "group_vars").mkdir(parents=True)
    (inventory / "hosts.yml").write_text(
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
        "      ansible_python_interpreter: '{{ ansible_playbook_python }}'\n"
    )
    render_dir = tmp / "out"
    group_vars = {
        "oneport_platform": "metallb",
        "oneport_proxy_host": "pachyderm.localhost",
        "oneport_tls": "self_signed",
        "oneport_source_ranges": ["127.0.0.0/8"],
        "oneport_render_dir": str(render_dir),
        "pachyderm_environment": "sandbox",
        "pachyderm_metallb_address_pool": "sandbox-loopback",
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
    files = {p.name: p.read_text() for p in render_dir.iterdir()}
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in render_dir.iterdir()}
    second = run_role(inventory, tmp)
    return {"dir": render_dir, "first": first, "second": second, "files": files, "modes": modes}


def test_render_writes_values_manifests_and_the_pinned_secret(rendered):
    assert set(rendered["files"]) == {
        "values.yaml",
        "secret-values.yaml",
        "pinned-secret.yaml",
        "upstream-idps-secret.yaml",
        "manifests.yaml",
    }


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


def test_rendered_proxy_service_carries_the_pool_and_the_source_ranges(rendered):
    service = next(
        doc
        for doc in yaml.safe_load_all(rendered["files"]["manifests.yaml"])
        if doc and doc["kind"] == "Service"
    )
    annotations = service["metadata"]["annotations"]
    assert annotations["metallb.io/address-pool"] == "sandbox-loopback"
    assert annotations["service.beta.kubernetes.io/load-balancer-source-ranges"] == "127.0.0.0/8"
    assert [p["port"] for p in service["spec"]["ports"]] == [80, 443]


def test_a_second_render_changes_nothing(rendered):
    stats = rendered["second"]["report"]["stats"]["localhost"]
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
