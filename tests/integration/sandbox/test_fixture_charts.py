"""The fixture charts honour the vendor contracts the roles rely on (rendered by the real helm)."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

BASE = ["--set", "pachd.storage.storageURL=s3://bucket"]


def helm_template(chart, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["helm", "template", "rel", str(chart), "--namespace", "pachyderm", *args],
        capture_output=True,
        text=True,
        check=check,
    )


def objects(chart, *args: str) -> dict:
    docs = yaml.safe_load_all(helm_template(chart, *args).stdout)
    return {(d["kind"], d["metadata"]["name"]): d for d in docs if d}


def test_pachyderm_chart_carries_the_real_values_and_schema(charts_dir, reference_dir):
    for name in ("values.yaml", "values.schema.json"):
        assert (charts_dir / "pachyderm" / name).read_bytes() == (
            reference_dir / "pachyderm" / name
        ).read_bytes()
    chart = yaml.safe_load((charts_dir / "pachyderm" / "Chart.yaml").read_text())
    assert (chart["name"], chart["version"]) == ("pachyderm", "2.12.0")


def test_pachyderm_chart_refuses_to_render_without_storage_url(charts_dir):
    result = helm_template(charts_dir / "pachyderm", check=False)
    assert result.returncode != 0
    assert "pachd.storage.storageURL" in result.stderr


def test_pachyderm_chart_rejects_values_the_real_schema_rejects(charts_dir):
    result = helm_template(
        charts_dir / "pachyderm", *BASE, "--set", "proxy.service.httpPort=eighty", check=False
    )
    assert result.returncode != 0
    assert "proxy.service.httpPort" in result.stderr


def test_proxy_service_follows_the_proxy_service_values(charts_dir):
    values = {
        "proxy": {
            "service": {
                "type": "LoadBalancer",
                "annotations": {"metallb.io/address-pool": "pool"},
                "loadBalancerIP": "192.0.2.10",
                "externalTrafficPolicy": "Local",
                "legacyPorts": {"grpc": 30650},
            },
            "tls": {"enabled": True, "secretName": "proxy-tls"},
        }
    }
    svc = objects(charts_dir / "pachyderm", *BASE, "--set-json", f"proxy={json.dumps(values['proxy'])}")[
        ("Service", "pachyderm-proxy")
    ]
    assert svc["spec"]["type"] == "LoadBalancer"
    assert svc["metadata"]["annotations"] == {"metallb.io/address-pool": "pool"}
    assert svc["spec"]["loadBalancerIP"] == "192.0.2.10"
    assert svc["spec"]["externalTrafficPolicy"] == "Local"
    assert {p["name"]: p["port"] for p in svc["spec"]["ports"]} == {
        "http-port": 80,
        "https-port": 443,
        "legacy-grpc": 30650,
    }


def test_proxy_service_defaults_to_cluster_ip_on_port_80_only(charts_dir):
    svc = objects(charts_dir / "pachyderm", *BASE)[("Service", "pachyderm-proxy")]
    assert svc["spec"]["type"] == "ClusterIP"
    assert [p["port"] for p in svc["spec"]["ports"]] == [80]


def test_proxy_deployment_mounts_the_tls_secret(charts_dir):
    rendered = objects(
        charts_dir / "pachyderm",
        *BASE,
        "--set",
        "proxy.tls.enabled=true",
        "--set",
        "proxy.tls.secretName=proxy-tls",
    )
    volumes = rendered[("Deployment", "pachyderm-proxy")]["spec"]["template"]["spec"]["volumes"]
    assert {"name": "tls", "secret": {"secretName": "proxy-tls"}} in volumes


def test_tls_without_a_secret_name_is_refused(charts_dir):
    result = helm_template(charts_dir / "pachyderm", *BASE, "--set", "proxy.tls.enabled=true", check=False)
    assert result.returncode != 0
    assert "proxy.tls.secretName" in result.stderr


@pytest.mark.parametrize(("enabled", "present"), [("true", True), ("false", False)])
def test_console_deployment_follows_console_enabled(charts_dir, enabled, present):
    rendered = objects(charts_dir / "pachyderm", *BASE, "--set", f"console.enabled={enabled}")
    assert (("Deployment", "console") in rendered) is present
    assert ("Deployment", "pachd") in rendered


def test_pinned_cluster_deployment_id_is_rendered_and_an_empty_one_is_random(charts_dir):
    def ident(*args):
        pachd = objects(charts_dir / "pachyderm", *BASE, *args)[("Deployment", "pachd")]
        env = pachd["spec"]["template"]["spec"]["containers"][0]["env"]
        return next(e["value"] for e in env if e["name"] == "CLUSTER_DEPLOYMENT_ID")

    assert ident("--set", "pachd.clusterDeploymentID=pinned") == "pinned"
    assert ident() != ident()


@pytest.mark.parametrize(
    ("chart", "args", "crd_dir"),
    [
        ("metallb", [], "metallb-v0.16.1"),
        ("cert-manager", ["--set", "crds.enabled=true"], "cert-manager-v1.21.1"),
    ],
)
def test_crd_charts_install_exactly_the_reference_crds(charts_dir, reference_dir, chart, args, crd_dir):
    rendered = objects(charts_dir / chart, *args)
    names = {name for kind, name in rendered if kind == "CustomResourceDefinition"}
    expected = {
        yaml.safe_load(p.read_text())["metadata"]["name"]
        for p in (reference_dir / "crds" / crd_dir).glob("*.yaml")
    }
    assert names == expected


def test_cert_manager_chart_installs_crds_only_when_asked(charts_dir):
    rendered = objects(charts_dir / "cert-manager")
    assert not [k for k in rendered if k[0] == "CustomResourceDefinition"]
    assert {("Deployment", n) for n in ("rel", "rel-webhook", "rel-cainjector")} <= set(rendered)
