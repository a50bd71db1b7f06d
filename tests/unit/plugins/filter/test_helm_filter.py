"""helm_diff_command: the one place the roles' helm-diff judgement is spelled; helm_render_mark."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.oneport.pachyderm.plugins.filter import helm as filters


def test_the_filter_is_registered():
    assert set(filters.FilterModule().filters()) == {
        "chart_problems",
        "helm_diff_command",
        "helm_render_mark",
    }


def test_the_command_resets_values_shows_a_first_install_and_says_a_change_by_its_exit_code():
    chart = "/cache/metallb-0.16.1.tgz"
    argv = filters.helm_diff_command("metallb", chart, "metallb-system", helm="/opt/helm")
    assert argv[:7] == ["/opt/helm", "diff", "upgrade", "metallb", chart, "--namespace", "metallb-system"]
    for flag in (
        "--reset-values",
        "--allow-unreleased",
        "--detailed-exitcode",
        "--no-color",
        "--disable-openapi-validation",
    ):
        assert flag in argv
    # The cluster's version and APIs are read (.Capabilities as for the upgrade): validation stays on.
    assert "--disable-validation" not in argv
    assert "--kubeconfig" not in argv and "--kube-context" not in argv and "--post-renderer" not in argv


def test_values_files_keep_their_order_and_the_cluster_and_post_renderer_are_passed():
    argv = filters.helm_diff_command(
        "pachyderm",
        "/c/pachyderm.tgz",
        "pachyderm",
        kubeconfig="/k/config",
        context="prod",
        values_files=["/s/values.yaml", "-"],
        post_renderer="/s/post-renderer",
    )
    values = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--values"]
    assert values == ["/s/values.yaml", "-"]
    assert argv[argv.index("--post-renderer") + 1] == "/s/post-renderer"
    assert argv[argv.index("--kubeconfig") + 1] == "/k/config"
    assert argv[argv.index("--kube-context") + 1] == "prod"


@pytest.mark.parametrize("field", ["release", "chart", "namespace"])
def test_an_empty_release_chart_or_namespace_is_named(field):
    args = {"release": "r", "chart": "c", "namespace": "n", field: ""}
    with pytest.raises(AnsibleFilterError, match=f"helm_diff_command.{field}: .* is not a non-empty string"):
        filters.helm_diff_command(args["release"], args["chart"], args["namespace"])


@pytest.fixture
def chart_and_helm(tmp_path):
    archive = tmp_path / "cache" / "metallb-0.16.1.tgz"
    archive.parent.mkdir()
    archive.write_bytes(b"chart")
    helm = tmp_path / "helm"
    helm.write_bytes(b"helm")
    return {"chart_path": str(archive), "sha256": "a" * 64}, helm


def test_a_render_mark_is_in_the_cache_and_stable_for_the_same_inputs(chart_and_helm, tmp_path):
    chart, helm = chart_and_helm
    cache = str(tmp_path / "cache")
    mark = filters.helm_render_mark(cache, chart, str(helm), {"values": {"a": 1}, "release": "metallb"})
    assert mark.startswith(cache + "/.rendered-")
    assert mark == filters.helm_render_mark(
        cache, chart, str(helm), {"release": "metallb", "values": {"a": 1}}
    )


def test_a_render_mark_changes_with_the_inputs_the_chart_and_helm(chart_and_helm, tmp_path):
    chart, helm = chart_and_helm
    cache = str(tmp_path / "cache")
    first = filters.helm_render_mark(cache, chart, str(helm), {"a": 1})
    assert filters.helm_render_mark(cache, chart, str(helm), {"a": 2}) != first
    assert filters.helm_render_mark(cache, {**chart, "sha256": "b" * 64}, str(helm), {"a": 1}) != first
    helm.write_bytes(b"a newer helm")
    assert filters.helm_render_mark(cache, chart, str(helm), {"a": 1}) != first
    after_helm = filters.helm_render_mark(cache, chart, str(helm), {"a": 1})
    with open(chart["chart_path"], "ab") as archive:
        archive.write(b" replaced")
    assert filters.helm_render_mark(cache, chart, str(helm), {"a": 1}) != after_helm


def test_a_chart_folder_or_a_helm_not_here_is_never_remembered(chart_and_helm, tmp_path):
    chart, helm = chart_and_helm
    cache = str(tmp_path / "cache")
    folder = {"chart_path": str(tmp_path), "sha256": ""}
    assert filters.helm_render_mark(cache, folder, str(helm), {}) == ""
    assert filters.helm_render_mark(cache, chart, str(tmp_path / "no-helm"), {}) == ""
    assert filters.helm_render_mark("", chart, str(helm), {}) == ""


def test_a_render_mark_needs_a_chart_fetch_result(chart_and_helm):
    with pytest.raises(AnsibleFilterError, match="chart_fetch"):
        filters.helm_render_mark("/cache", "/cache/x.tgz", "helm", {})
