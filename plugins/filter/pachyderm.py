# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Filters over the Pachyderm model: inputs, pinning, values (plugins/module_utils/pachyderm_*.py)."""

from __future__ import annotations

import base64

from ansible_collections.oneport.pachyderm.plugins.module_utils import (
    pachyderm_chart_hints,
    pachyderm_inputs,
    pachyderm_pinning,
    pachyderm_proxy,
)
from ansible_collections.oneport.pachyderm.plugins.module_utils import pachyderm_values as model
from ansible_collections.oneport.pachyderm.plugins.plugin_utils import helm_release
from ansible_collections.oneport.pachyderm.plugins.plugin_utils.filter_face import filter_face


@filter_face
def pachyderm_check_inputs(inputs):
    """Validate the role inputs; return the decisions made."""
    return pachyderm_inputs.check_inputs(inputs)


@filter_face
def pachyderm_pin(secret_data, inputs, encoded=True, placeholders=False):
    """Reuse pinned values from a Secret's data (base64 unless encoded=false); generate the missing
    (fixed stand-ins with placeholders=true)."""
    data = secret_data or {}
    if encoded:
        data = {k: base64.b64decode(v).decode() for k, v in data.items()}
    return pachyderm_pinning.pin(data, pachyderm_pinning.pinned_keys(inputs), bool(placeholders))


@filter_face
def pachyderm_adopt(pinned_secret, chart_secrets=None, pachd=None):
    """The pinned values to reuse, from the registered k8s_info results of the pinned Secret, the chart's
    generated Secrets (a loop over their names) and the pachd Deployment; {"values", "adopted"}."""

    def first(result):
        resources = (result or {}).get("resources") or []
        return resources[0] if resources else {}

    def decoded(obj):
        return {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}

    secrets = {}
    for result in (chart_secrets or {}).get("results") or []:
        found = first(result)
        if found:
            secrets[found["metadata"]["name"]] = decoded(found)
    containers = (
        (((first(pachd).get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers")
    ) or []
    env = {
        item["name"]: item["value"]
        for container in containers
        if container.get("name") == "pachd"
        for item in container.get("env") or []
        if "value" in item
    }
    return pachyderm_pinning.adopt(decoded(first(pinned_secret)), secrets, env)


@filter_face
def helm_cluster_scoped(manifest):
    """The cluster-scoped objects ({api_version, kind, name}) of a release manifest."""
    return helm_release.cluster_scoped(manifest)


@filter_face
def helm_owned_elsewhere(results, release, namespace):
    """Objects (from a k8s_info loop result) that Helm records as another release's."""
    live = []
    for result in (results or {}).get("results") or []:
        live += result.get("resources") or []
    return helm_release.owned_elsewhere(live, release, namespace)


@filter_face
def pachyderm_values(inputs, pinned, storage_secret_data=None, encoded=True):
    """The chart values; storage_secret_data None (not read) puts placeholders for its credentials."""
    data = storage_secret_data
    if encoded and data:
        data = {k: base64.b64decode(v).decode() for k, v in data.items()}
    return model.build_values(inputs, pinned, data)


@filter_face
def pachyderm_proxy_files(inputs):
    """The in-cluster proxy's configuration files (ConfigMap data: name -> content)."""
    return pachyderm_proxy.config_files(inputs)


@filter_face
def pachyderm_proxy_settings(inputs):
    """What the role's post-renderer changes in the chart's proxy objects ({} in chart mode)."""
    return pachyderm_proxy.post_render_settings(inputs)


def pachyderm_chart_hint(message):
    """The pachyderm_* variables to fix for a message the chart failed with."""
    return pachyderm_chart_hints.chart_hint(message)


@filter_face
def pachyderm_pinned_secret_data(inputs, pinned):
    """Everything the pinned Secret holds (plain strings): the pinned values plus an inline license key."""
    return pachyderm_pinning.pinned_secret_data(inputs, pinned)


@filter_face
def pachyderm_redact(values):
    """[values with credentials masked, {path: credential}] for render output."""
    return list(model.redact(values))


@filter_face
def pachyderm_upstream_idps(inputs, secret_values):
    """The Dex connector list, client secrets filled in from ``secret_values`` by connector id."""
    return model.upstream_idps_document(inputs, secret_values)


@filter_face
def pachyderm_endpoint(inputs, ingress=None, node_address=""):
    """The oneport_proxy_endpoint fact from the proxy Service's load-balancer ingress."""
    return model.proxy_endpoint(inputs, ingress or [], node_address or "")


class FilterModule:
    """Pachyderm values model filters."""

    def filters(self):
        return {
            "pachyderm_check_inputs": pachyderm_check_inputs,
            "pachyderm_pin": pachyderm_pin,
            "pachyderm_adopt": pachyderm_adopt,
            "helm_cluster_scoped": helm_cluster_scoped,
            "helm_owned_elsewhere": helm_owned_elsewhere,
            "pachyderm_values": pachyderm_values,
            "pachyderm_proxy_files": pachyderm_proxy_files,
            "pachyderm_proxy_settings": pachyderm_proxy_settings,
            "pachyderm_chart_hint": pachyderm_chart_hint,
            "pachyderm_pinned_secret_data": pachyderm_pinned_secret_data,
            "pachyderm_redact": pachyderm_redact,
            "pachyderm_upstream_idps": pachyderm_upstream_idps,
            "pachyderm_endpoint": pachyderm_endpoint,
        }
