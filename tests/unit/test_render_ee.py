"""tools/render_ee.py: the execution environment's definition is derived, not hand-copied."""

from __future__ import annotations

import yaml

from tools import render_ee


def test_long_steps_fold_without_changing_a_character():
    step = "RUN printf '%s  %s\\n' " + "a" * 64 + " /opt/x.whl | sha256sum --check --strict && " + "b " * 80
    scalar = render_ee.yaml_scalar(step.strip())
    assert yaml.safe_load("- " + scalar.replace("\n      ", "\n  "))[0] == step.strip()


def test_short_steps_stay_plain():
    assert render_ee.yaml_scalar("RUN mkdir -p /opt/oneport/bin") == "RUN mkdir -p /opt/oneport/bin"


def test_only_the_tools_the_roles_run_go_into_the_image():
    manifest = {
        "envoy": {},
        "kube": {},
        "etcd": {},
        "helm": {},
        "helm-diff": {},
        "kubectl": {},
        "pachctl": {},
    }
    assert list(render_ee.ee_tools(manifest)) == ["envoy", "helm", "helm-diff", "kubectl", "pachctl"]


def test_go_toolchain_is_the_newest_any_wrapper_module_asks_for(tmp_path):
    for name, go_mod in {"a": "module a\n\ngo 1.23.1\n", "b": "module b\n\ngo 1.24\n"}.items():
        (tmp_path / "tools" / "go" / name).mkdir(parents=True)
        (tmp_path / "tools" / "go" / name / "go.mod").write_text(go_mod)
    tools = {"a": {"source": "go"}, "b": {"source": "go"}, "w": {"source": "wheel"}}
    assert render_ee.go_toolchain(tools, tmp_path) == "go1.24.0"


def test_a_toolchain_line_wins_over_the_go_line(tmp_path):
    (tmp_path / "tools" / "go" / "a").mkdir(parents=True)
    (tmp_path / "tools" / "go" / "a" / "go.mod").write_text("module a\n\ngo 1.23\n\ntoolchain go1.23.4\n")
    assert render_ee.go_toolchain({"a": {"source": "go"}}, tmp_path) == "go1.23.4"


def test_helm_plugins_are_installed_with_a_manifest_helm_reads():
    tool = {
        "version": "3.9.14",
        "package": "example.com/diff",
        "helm_plugin": {"name": "diff", "version": "3.9.14"},
    }
    steps = render_ee.go_steps("helm-diff", tool)
    assert "-o /opt/oneport/bin/helm-diff example.com/diff" in steps[0]
    assert "mv /opt/oneport/bin/helm-diff /opt/oneport/helm-plugins/diff/bin/diff" in steps[1]
    assert 'command: "$HELM_PLUGIN_DIR/bin/diff"' in steps[1]
