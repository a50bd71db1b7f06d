"""The real charts, served as a chart repository, and what the roles do with a chart that is wrong.

A chart repository here is the sandbox's: the real published charts (tools/sandbox/chart_repo.py)
served over HTTP on loopback, exactly what `oneport_chart_repo_url` names at a site with a mirror.
Every bad chart input stops the role before any change, naming the variable to fix.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from support.paths import REPO, find_reference_dir
from support.playbook_runs import CLUSTER, ansible_env, ansible_playbook, cluster_inventory
from support.ports import free_port
from support.reference_data import assemble_from_charts

from tools.sandbox import chart_repo

HELM = str(REPO / "bin" / "helm")


@pytest.fixture(scope="module")
def charts() -> Path:
    return chart_repo.charts_source()


@pytest.fixture(scope="module")
def repository(charts) -> str:
    """The charts served the way the sandbox serves them, for this module."""
    port = free_port()
    server = subprocess.Popen(
        chart_repo.serve_command(charts, port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.mark.parametrize("chart", chart_repo.pinned_charts(), ids=lambda c: c["name"])
def test_helm_pulls_each_pinned_chart_from_the_repository_with_the_indexed_digest(
    chart, charts, repository, tmp_path
):
    subprocess.run(
        [
            HELM,
            "pull",
            chart["name"],
            "--repo",
            repository,
            "--version",
            chart["version"],
            "-d",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
    )
    (archive,) = tmp_path.glob("*.tgz")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert digest == chart_repo.archive(charts, chart["name"], chart["version"])[1]


def test_the_pinned_charts_are_the_versions_the_roles_default_to():
    pinned = {c["name"]: c for c in chart_repo.pinned_charts()}
    assert {name: c["version"] for name, c in pinned.items()} == {
        "metallb": "0.16.1",
        "cert-manager": "v1.21.1",
        "pachyderm": "2.12.0",
    }
    assert pinned["pachyderm"]["publisher"] == "https://helm.pachyderm.com"


def test_reference_data_assembled_from_the_charts_matches_the_reference(tmp_path):
    reference = find_reference_dir()
    if reference is None:
        pytest.skip(
            "no reference folder to compare with: the tests already run on data assembled from the charts"
        )
    assembled = assemble_from_charts(tmp_path / "assembled", HELM)
    for name in ("values.yaml", "values.schema.json", "envoy.json", "envoy-tls.json", "envoy-sds.yaml"):
        assert (assembled / "pachyderm" / name).read_bytes() == (
            reference / "pachyderm" / name
        ).read_bytes(), name
    for folder in ("metallb-v0.16.1", "cert-manager-v1.21.1"):
        names = sorted(p.name for p in (reference / "crds" / folder).glob("*.yaml"))
        assert sorted(p.name for p in (assembled / "crds" / folder).glob("*.yaml")) == names
        for name in names:
            ours = yaml.safe_load((assembled / "crds" / folder / name).read_text())
            theirs = yaml.safe_load((reference / "crds" / folder / name).read_text())
            assert ours["spec"]["versions"] == theirs["spec"]["versions"], name


def test_without_reference_data_or_network_the_sandbox_names_what_to_set(tmp_path):
    """A clone with no shared/ beside it, no ONEPORT_REFERENCE_DIR and no network: one clear error."""
    clone = tmp_path / "clone" / "checkout"
    shutil.copytree(REPO / "tools", clone / "tools", ignore=shutil.ignore_patterns("__pycache__", "go"))
    for role in chart_repo.CHART_ROLES.values():
        (clone / "roles" / role / "defaults").mkdir(parents=True)
        shutil.copy(REPO / "roles" / role / "defaults" / "main.yml", clone / "roles" / role / "defaults")
    (clone / "bin").mkdir()
    (clone / "bin" / "helm").symlink_to(HELM)
    env = {k: v for k, v in os.environ.items() if k != "ONEPORT_REFERENCE_DIR"}
    env.update(ONEPORT_CACHE=str(tmp_path / "cache"), HOME=str(tmp_path), PYTHONPATH=str(clone))
    # A network namespace of its own with nothing in it: helm's requests cannot leave the machine.
    result = subprocess.run(
        ["unshare", "--net", sys.executable, "-m", "tools.sandbox", "charts"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    message = result.stderr
    assert message.count("sandbox: ") == 1
    assert "Set ONEPORT_REFERENCE_DIR" in message and "oneport_chart_repo_url" in message
    for url in (
        "https://metallb.github.io/metallb",
        "https://charts.jetstack.io",
        "https://helm.pachyderm.com",
    ):
        assert url in message
    assert not (tmp_path / "cache" / "chart-repository").exists()


def render(playbook: str, tmp: Path, *extra: str) -> subprocess.CompletedProcess:
    inventory = cluster_inventory(tmp / "inventory")
    return ansible_playbook(
        playbook,
        "-e",
        f"oneport_render_dir={tmp / 'out'}",
        "-e",
        f"oneport_bin_dir={REPO / 'bin'}",
        "-e",
        f"oneport_chart_cache_dir={tmp / 'charts'}",
        "-e",
        "oneport_platform=metallb",
        "-e",
        "oneport_proxy_host=pachyderm.example.com",
        *extra,
        inventory=inventory,
        env=ansible_env(tmp),
        timeout=300,
    )


def test_metallb_render_fetches_the_chart_from_the_mirror_and_writes_its_manifests(repository, tmp_path):
    result = render(
        "playbooks/metallb.yml",
        tmp_path,
        "-e",
        f"oneport_chart_repo_url={repository}",
        "-e",
        '{"metallb_address_pools": [{"name": "lan", "addresses": ["192.0.2.240-192.0.2.250"]}]}',
    )
    assert result.returncode == 0, result.stdout[-4000:]
    release = yaml.safe_load((tmp_path / "out" / CLUSTER / "metallb" / "release.yml").read_text())
    assert (release["version"], len(release["sha256"])) == ("0.16.1", 64)
    kinds = {
        d["kind"]
        for d in yaml.safe_load_all((tmp_path / "out" / CLUSTER / "metallb" / "manifests.yaml").read_text())
        if d
    }
    assert {"Deployment", "DaemonSet", "ValidatingWebhookConfiguration", "CustomResourceDefinition"} <= kinds
    assert list((tmp_path / "charts").rglob("metallb-0.16.1.tgz"))


@pytest.mark.parametrize(
    ("playbook", "extra", "variable"),
    [
        ("playbooks/metallb.yml", ["-e", "metallb_chart_version=0.0.1"], "metallb_chart_version"),
        (
            "playbooks/cert_manager.yml",
            ["-e", "cert_manager_chart_sha256=" + "0" * 63 + "1"],
            "cert_manager_chart_sha256",
        ),
        ("playbooks/pachyderm.yml", ["-e", "pachyderm_chart_version=2.99.0"], "pachyderm_chart_version"),
        (
            "playbooks/metallb.yml",
            ["-e", '{"metallb_chart_values": {"controller": {"logLevel": "loud"}}}'],
            "metallb_chart_values",
        ),
        (
            "playbooks/cert_manager.yml",
            ["-e", '{"cert_manager_chart_values": {"replicaCount": "three"}}'],
            "cert_manager_chart_values",
        ),
    ],
    ids=[
        "version-not-in-repository",
        "digest-mismatch",
        "pachyderm-version",
        "metallb-values",
        "cert-manager-values",
    ],
)
def test_a_bad_chart_input_stops_the_role_before_anything_is_written(
    playbook, extra, variable, repository, tmp_path
):
    result = render(
        playbook,
        tmp_path,
        "-e",
        f"oneport_chart_repo_url={repository}",
        "-e",
        '{"metallb_address_pools": [{"name": "lan", "addresses": ["192.0.2.240-192.0.2.250"]}]}',
        "-e",
        "oneport_tls=self_signed",
        *extra,
    )
    assert result.returncode != 0
    assert f"{variable}" in result.stdout, result.stdout[-4000:]
    written = [p for p in (tmp_path / "out").rglob("*") if p.is_file()] if (tmp_path / "out").exists() else []
    assert written == []


def test_an_unreachable_repository_names_the_repository_variables(tmp_path):
    result = render(
        "playbooks/metallb.yml",
        tmp_path,
        "-e",
        f"oneport_chart_repo_url=http://127.0.0.1:{free_port()}",
        "-e",
        '{"metallb_address_pools": [{"name": "lan", "addresses": ["192.0.2.240-192.0.2.250"]}]}',
    )
    assert result.returncode != 0
    assert "metallb_chart_repo_url: the chart repository" in result.stdout
    assert "oneport_chart_repo_url" in result.stdout
