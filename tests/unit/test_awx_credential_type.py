"""The kubeconfig credential type hands the cluster to every tool a job runs."""

from __future__ import annotations

from support import awx_objects

KUBECONFIG = "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n"


def test_inputs_are_well_formed_and_the_kubeconfig_is_secret():
    inputs = awx_objects.controller_vars()["oneport_awx_credential_type_inputs"]
    fields = {f["id"]: f for f in inputs["fields"]}
    assert len(fields) == len(inputs["fields"])
    assert set(inputs["required"]) <= set(fields)
    assert all(f["type"] in ("string", "boolean") for f in fields.values())
    assert fields["kubeconfig"]["secret"] is True and fields["kubeconfig"]["multiline"] is True


def test_injectors_read_only_declared_inputs():
    config = awx_objects.controller_vars()
    declared = {f["id"] for f in config["oneport_awx_credential_type_inputs"]["fields"]} | {"tower"}
    injectors = config["oneport_awx_credential_type_injectors"]
    for section in injectors.values():
        for template in section.values():
            assert awx_objects.template_variables(template) <= declared, template


def test_kubeconfig_is_written_to_a_private_file(tmp_path):
    awx_objects.inject_credential({"kubeconfig": KUBECONFIG}, tmp_path)
    written = tmp_path / "credential_kubeconfig"
    assert written.read_text() == KUBECONFIG
    assert written.stat().st_mode & 0o077 == 0


def test_kubernetes_core_and_the_command_line_tools_both_find_the_file(tmp_path):
    env = awx_objects.inject_credential({"kubeconfig": KUBECONFIG}, tmp_path)[0]
    path = str(tmp_path / "credential_kubeconfig")
    assert env["K8S_AUTH_KUBECONFIG"] == path
    assert env["KUBECONFIG"] == path


def test_roles_use_the_injected_kubeconfig_and_each_cluster_keeps_its_context(tmp_path):
    extra = awx_objects.inject_credential({"kubeconfig": KUBECONFIG}, tmp_path)[1]
    assert extra == {"oneport_kubeconfig": str(tmp_path / "credential_kubeconfig")}
    # An injected context would be an extra variable, above every cluster's host_vars: one context for all.
    assert "oneport_kube_context" not in extra
