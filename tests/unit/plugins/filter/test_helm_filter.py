"""helm_diff_command: the one place the roles' helm-diff judgement is spelled."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.oneport.pachyderm.plugins.filter import helm as filters


def test_the_filter_is_registered():
    assert set(filters.FilterModule().filters()) == {"helm_diff_command"}


def test_the_command_resets_values_shows_a_first_install_and_says_a_change_by_its_exit_code():
    chart = "/cache/metallb-0.16.1.tgz"
    argv = filters.helm_diff_command("metallb", chart, "metallb-system", helm="/opt/helm")
    assert argv[:7] == ["/opt/helm", "diff", "upgrade", "metallb", chart, "--namespace", "metallb-system"]
    for flag in ("--reset-values", "--allow-unreleased", "--detailed-exitcode", "--no-color"):
        assert flag in argv
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
    with pytest.raises(AnsibleFilterError, match=f"helm_diff_command: {field} must be a non-empty string"):
        filters.helm_diff_command(args["release"], args["chart"], args["namespace"])
