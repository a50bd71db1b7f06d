"""The metallb and cert_manager roles in render mode: the files they write are what they would apply.

Each playbook runs for real (ansible-playbook, the local inventory's cluster) with oneport_render_dir
set and no cluster reached; the written objects must validate against the real MetalLB and
cert-manager CRDs, and a second run must change nothing.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from support.crd_schemas import assert_valid, crd_schemas
from support.playbook_runs import CLUSTER, changed, run_playbook

METALLB_SITE = {
    "oneport_platform": "metallb",
    "metallb_address_pools": [
        {"name": "public", "addresses": ["192.168.10.240-192.168.10.250"]},
        {"name": "lab", "addresses": ["10.20.0.0/28", "fd00:20::/124"], "auto_assign": False},
    ],
    "metallb_l2_advertisements": [{"name": "l2-all-pools"}],
    "metallb_bgp_peers": [{"name": "tor", "my_asn": 64500, "peer_asn": 64501, "peer_address": "10.0.0.1"}],
    "metallb_bgp_advertisements": [{"name": "lab", "ip_address_pools": ["lab"], "peers": ["tor"]}],
}


def local_charts(reference_dir: Path) -> dict:
    """The packaged real charts as local paths: a render fetches and renders its chart, offline here."""
    charts = reference_dir / "charts"
    return {
        "metallb_chart_ref": str(charts / "metallb-0.16.1.tgz"),
        "metallb_chart_repo_url": "",
        "cert_manager_chart_ref": str(charts / "cert-manager-v1.21.1.tgz"),
        "cert_manager_chart_repo_url": "",
    }


def render(playbook: str, variables: dict, tmp: Path, reference_dir: Path) -> subprocess.CompletedProcess:
    site = {**local_charts(reference_dir), **variables, "oneport_render_dir": str(tmp / "render")}
    return run_playbook(playbook, site, tmp)


def rendered(tmp: Path, role: str):
    objects = [
        o for o in yaml.safe_load_all((tmp / "render" / CLUSTER / role / "objects.yml").read_text()) if o
    ]
    release = yaml.safe_load((tmp / "render" / CLUSTER / role / "release.yml").read_text())
    return objects, release


def test_metallb_render_writes_objects_the_crds_accept(reference_dir, tmp_path):
    result = render("playbooks/metallb.yml", METALLB_SITE, tmp_path, reference_dir)
    assert result.returncode == 0, result.stdout[-4000:]
    objects, release = rendered(tmp_path, "metallb")
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [
        ("IPAddressPool", "public"),
        ("IPAddressPool", "lab"),
        ("BGPPeer", "tor"),
        ("L2Advertisement", "l2-all-pools"),
        ("BGPAdvertisement", "lab"),
    ]
    assert (release["chart"], release["repo"]) == (str(reference_dir / "charts" / "metallb-0.16.1.tgz"), "")
    assert (release["version"], len(release["sha256"])) == ("0.16.1", 64)
    assert_valid(objects, crd_schemas(reference_dir / "crds" / "metallb-v0.16.1"))
    again = render("playbooks/metallb.yml", METALLB_SITE, tmp_path, reference_dir)
    assert changed(again) == 0


@pytest.mark.parametrize(
    "site",
    [
        {"oneport_tls": "self_signed", "oneport_proxy_host": "pachyderm.lab.internal"},
        {
            "oneport_tls": "acme_dns01",
            "oneport_proxy_host": "pachyderm.example.com",
            "cert_manager_acme_email": "platform@example.com",
            "cert_manager_acme_dns01": {
                "provider": "route53",
                "region": "eu-west-1",
                "credentials_secret": "r53",
            },
        },
    ],
    ids=["self_signed", "acme_dns01"],
)
def test_cert_manager_render_writes_objects_the_crds_accept(site, reference_dir, tmp_path):
    result = render("playbooks/cert_manager.yml", site, tmp_path, reference_dir)
    assert result.returncode == 0, result.stdout[-4000:]
    objects, release = rendered(tmp_path, "cert_manager")
    certificate = objects[-1]
    assert certificate["kind"] == "Certificate"
    assert certificate["metadata"] == {"name": "pachyderm-proxy-tls", "namespace": "pachyderm"}
    assert certificate["spec"]["dnsNames"] == [site["oneport_proxy_host"]]
    assert release["values"]["crds"] == {"enabled": True, "keep": True}
    assert_valid(objects, crd_schemas(reference_dir / "crds" / "cert-manager-v1.21.1"))
