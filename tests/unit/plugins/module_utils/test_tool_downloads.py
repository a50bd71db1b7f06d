"""The prerequisites role's download plan: upstream or mirror URLs, always with a known sha256."""

from __future__ import annotations

import pytest

from ansible_collections.oneport.pachyderm.plugins.module_utils.tool_downloads import (
    DownloadConfigError,
    architecture,
    plan,
)

SHA = "a" * 64
CONFIG = {
    "architecture": "x86_64",
    "tools": ["helm", "helm-diff", "kubectl", "pachctl"],
    "versions": {"helm": "3.17.2", "helm-diff": "v3.9.14", "kubectl": "1.32.3", "pachctl": "2.12.2"},
    "base_urls": {
        "helm": "https://get.helm.sh",
        "helm-diff": "https://github.com/databus23/helm-diff/releases/download",
        "kubectl": "https://dl.k8s.io/release/",
        "pachctl": "https://github.com/pachyderm/pachyderm/releases/download",
    },
    "checksums": {
        "helm": {"3.17.2": {"amd64": SHA}},
        "helm-diff": {"3.9.14": {"amd64": "sha256:" + "B" * 64}},
        "kubectl": {"1.32.3": {"amd64": SHA}},
        "pachctl": {"2.12.2": {"amd64": SHA}},
    },
}


def configured(**changes):
    return {**CONFIG, **changes}


def test_upstream_urls_follow_each_projects_release_layout():
    urls = {step["name"]: step["url"] for step in plan(CONFIG)}
    assert urls == {
        "helm": "https://get.helm.sh/helm-v3.17.2-linux-amd64.tar.gz",
        "helm-diff": "https://github.com/databus23/helm-diff/releases/download/v3.9.14/helm-diff-linux-amd64.tgz",
        "kubectl": "https://dl.k8s.io/release/v1.32.3/bin/linux/amd64/kubectl",
        "pachctl": "https://github.com/pachyderm/pachyderm/releases/download/v2.12.2/pachctl_2.12.2_linux_amd64.tar.gz",
    }


def test_archive_members_and_install_kinds():
    steps = {step["name"]: step for step in plan(CONFIG)}
    assert steps["helm"]["member"] == "linux-amd64/helm"
    assert steps["pachctl"]["member"] == "pachctl_2.12.2_linux_amd64/pachctl"
    assert steps["kubectl"]["member"] is None
    assert steps["helm-diff"]["install"] == "helm_plugin"


def test_checksums_are_normalised_to_the_get_url_form():
    steps = {step["name"]: step for step in plan(CONFIG)}
    assert steps["helm"]["checksum"] == "sha256:" + SHA
    assert steps["helm-diff"]["checksum"] == "sha256:" + "b" * 64


def test_mirror_replaces_every_origin_with_one_folder_per_tool():
    urls = [step["url"] for step in plan(configured(mirror_url="file:///srv/mirror/"))]
    assert urls[0] == "file:///srv/mirror/helm/helm-v3.17.2-linux-amd64.tar.gz"
    assert urls[2] == "file:///srv/mirror/kubectl/v1.32.3/bin/linux/amd64/kubectl"


def test_arm64_machines_pick_arm64_builds_and_their_checksums():
    with pytest.raises(
        DownloadConfigError, match=r"prerequisites_checksums\['helm'\]\['3.17.2'\]\['arm64'\]"
    ):
        plan(configured(architecture="aarch64"))


def test_unknown_checksum_refuses_the_tool_and_names_the_entry():
    checksums = {**CONFIG["checksums"], "pachctl": {"2.12.2": {}}}
    with pytest.raises(
        DownloadConfigError, match=r"prerequisites_checksums\['pachctl'\]\['2.12.2'\]\['amd64'\].*unverified"
    ):
        plan(configured(checksums=checksums))


def test_malformed_checksum_is_refused():
    checksums = {**CONFIG["checksums"], "kubectl": {"1.32.3": {"amd64": "abc"}}}
    with pytest.raises(DownloadConfigError, match="not a sha256"):
        plan(configured(checksums=checksums))


@pytest.mark.parametrize("url", ["ftp://mirror", "mirror.example.com", "", "file://"])
def test_mirror_must_be_http_https_or_file(url):
    with pytest.raises(DownloadConfigError, match="prerequisites_mirror_url"):
        plan(configured(mirror_url=url or "x"))


def test_bad_base_url_is_named_per_tool():
    with pytest.raises(DownloadConfigError, match=r"prerequisites_base_urls\.kubectl: 'dl.k8s.io'"):
        plan(configured(base_urls={**CONFIG["base_urls"], "kubectl": "dl.k8s.io"}))


def test_unknown_architecture_is_refused():
    with pytest.raises(DownloadConfigError, match="prerequisites_architecture: 'ppc64le'"):
        architecture("ppc64le")


def test_unknown_tool_is_refused():
    with pytest.raises(DownloadConfigError, match="prerequisites_tools: 'kustomize'"):
        plan(configured(tools=["kustomize"]))


def test_helm_diff_without_helm_is_refused():
    with pytest.raises(DownloadConfigError, match="install helm with it"):
        plan(configured(tools=["helm-diff"]))


def test_missing_version_is_named():
    with pytest.raises(DownloadConfigError, match=r"prerequisites_versions\.kubectl: missing"):
        plan(configured(versions={}, tools=["kubectl"]))
