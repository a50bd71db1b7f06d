"""The pachyderm filters: thin faces that turn model errors into filter errors and decode Secrets."""

from __future__ import annotations

import base64

import pytest
from ansible.errors import AnsibleFilterError
from support.role_inputs import WithRoleDefaults

from ansible_collections.oneport.pachyderm.plugins.filter import pachyderm as _filters

# The models require every input; this completes what a test leaves out from the role defaults.
filters = WithRoleDefaults(_filters)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_every_filter_is_registered():
    assert set(filters.FilterModule().filters()) == {
        "pachyderm_check_inputs",
        "pachyderm_pin",
        "pachyderm_values",
        "pachyderm_chart_hint",
        "pachyderm_pinned_secret_data",
        "pachyderm_redact",
        "pachyderm_upstream_idps",
        "pachyderm_endpoint",
        "pachyderm_proxy_files",
        "pachyderm_proxy_settings",
        "pachyderm_adopt",
        "helm_cluster_scoped",
        "helm_owned_elsewhere",
    }


def test_adopt_reads_the_registered_results_of_the_secrets_and_pachd():
    pinned = {"resources": []}
    chart = {
        "results": [
            {"item": "pachyderm-auth", "resources": []},
            {
                "item": "pachyderm-deployment-id-secret",
                "resources": [
                    {
                        "metadata": {"name": "pachyderm-deployment-id-secret"},
                        "data": {"CLUSTER_DEPLOYMENT_ID": b64("x1")},
                    }
                ],
            },
        ]
    }
    pachd = {
        "resources": [
            {
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [
                                {
                                    "name": "pachd",
                                    "env": [{"name": "STORAGE_HOST_PATH", "value": "/var/p-1/pachd"}],
                                }
                            ]
                        }
                    }
                }
            }
        ]
    }
    adopted = filters.pachyderm_adopt(pinned, chart, pachd)
    assert adopted == {
        "values": {"cluster-deployment-id": "x1", "local-host-path": "/var/p-1/"},
        "adopted": ["cluster-deployment-id", "local-host-path"],
    }
    existing = {"resources": [{"data": {"root-token": b64("kept")}}]}
    assert filters.pachyderm_adopt(existing)["values"] == {"root-token": "kept"}


def test_the_proxy_filters_return_the_files_and_refuse_bad_input_naming_the_variable():
    files = filters.pachyderm_proxy_files({"platform": "kind"})
    assert list(files) == ["envoy.json"] and files["envoy.json"].endswith("}\n")
    assert filters.pachyderm_proxy_settings({"platform": "kind"})["files"] == files
    assert filters.pachyderm_proxy_settings({"platform": "kind", "proxy_config": "chart"}) == {}
    with pytest.raises(AnsibleFilterError, match="pachyderm_proxy_memory_limit"):
        filters.pachyderm_proxy_files({"platform": "kind", "proxy_memory_limit": "100Mi"})


def test_a_model_error_becomes_a_filter_error_with_the_same_message():
    with pytest.raises(AnsibleFilterError, match="pachyderm_platform"):
        filters.pachyderm_check_inputs({"platform": "nowhere"})


def test_pin_decodes_the_secret_data_kubernetes_returns():
    data = {"root-token": b64("kept-token")}
    pinned = filters.pachyderm_pin(data, {"platform": "local"})
    assert pinned["values"]["root-token"] == "kept-token"
    assert "root-token" not in pinned["generated"]


def test_values_decode_the_storage_secret():
    inputs = {
        "platform": "metallb",
        "storage_backend": "minio",
        "storage_bucket": "pachyderm",
        "storage_endpoint": "minio:9000",
        "storage_credentials_secret": "minio",
    }
    pinned = filters.pachyderm_pin({}, inputs)["values"]
    data = {"access-key-id": b64("id"), "secret-access-key": b64("key")}
    amazon = filters.pachyderm_values(inputs, pinned, data)["pachd"]["storage"]["amazon"]
    assert (amazon["id"], amazon["secret"]) == ("id", "key")


def test_values_without_the_secret_read_use_placeholders():
    inputs = {
        "platform": "metallb",
        "storage_backend": "minio",
        "storage_bucket": "pachyderm",
        "storage_endpoint": "minio:9000",
        "storage_credentials_secret": "minio",
    }
    pinned = filters.pachyderm_pin({}, inputs)["values"]
    amazon = filters.pachyderm_values(inputs, pinned)["pachd"]["storage"]["amazon"]
    assert amazon["secret"] == "<from Secret minio>"


def test_a_chart_refusal_names_the_variables_behind_the_value_it_names():
    hint = filters.pachyderm_chart_hint(
        "Error: execution error at (pachyderm/templates/_helpers.tpl:9:3): deployTarget must be set"
    )
    assert hint.startswith("Fix pachyderm_storage_backend ")


def test_a_refusal_of_storage_names_every_storage_variable():
    hint = filters.pachyderm_chart_hint(
        "execution error at (pachyderm/templates/pachd/deployment.yaml): storage URL required"
    )
    assert "pachyderm_storage_bucket" in hint and "pachyderm_storage_endpoint" in hint


def test_an_unknown_refusal_points_at_the_chart_version_and_the_readme():
    hint = filters.pachyderm_chart_hint("Error: something else entirely")
    assert "pachyderm_chart_version" in hint and "roles/pachyderm/README.md" in hint


MANIFEST = """---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: pachyderm-promtail
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: pachyderm-proxy-config
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: pachyderm
"""


def test_the_cluster_scoped_objects_of_a_release_manifest_are_found():
    assert filters.helm_cluster_scoped(MANIFEST) == [
        {"api_version": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "name": "pachyderm-promtail"},
        {"api_version": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "name": "pachyderm"},
    ]
    assert filters.helm_cluster_scoped("") == []


def test_objects_another_release_owns_are_named_with_their_owner():
    def live(name, release, namespace):
        annotations = {"meta.helm.sh/release-name": release, "meta.helm.sh/release-namespace": namespace}
        return {"kind": "ClusterRole", "metadata": {"name": name, "annotations": annotations}}

    results = {
        "results": [
            {"resources": [live("mine", "pachyderm", "pachyderm")]},
            {"resources": [live("shared", "other", "team-b")]},
            {"resources": []},
        ]
    }
    assert filters.helm_owned_elsewhere(results, "pachyderm", "pachyderm") == [
        "ClusterRole shared (release other in team-b)"
    ]
    # The same name in another namespace is another release.
    assert filters.helm_owned_elsewhere(results, "other", "team-a") == [
        "ClusterRole mine (release pachyderm in pachyderm)",
        "ClusterRole shared (release other in team-b)",
    ]


def test_the_pinned_secret_holds_an_inline_license_key_only_when_enterprise_is_on():
    pinned = {"root-token": "r"}
    inline = {"platform": "local", "enterprise_enabled": True, "enterprise_license_key": "LICENSE"}
    assert filters.pachyderm_pinned_secret_data(inline, pinned) == {
        "root-token": "r",
        "enterprise-license-key": "LICENSE",
    }
    in_a_secret = {**inline, "enterprise_license_secret": "license"}
    assert filters.pachyderm_pinned_secret_data(in_a_secret, pinned) == pinned
    assert filters.pachyderm_pinned_secret_data({"platform": "local"}, pinned) == pinned
