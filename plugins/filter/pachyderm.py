# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Filters over the Pachyderm values model (plugins/module_utils/pachyderm_values.py)."""

from __future__ import annotations

import base64

from ansible.errors import AnsibleFilterError

from ansible_collections.oneport.pachyderm.plugins.module_utils import pachyderm_chart_hints, pachyderm_proxy
from ansible_collections.oneport.pachyderm.plugins.module_utils import pachyderm_values as model
from ansible_collections.oneport.pachyderm.plugins.module_utils.plain import plain as _plain
from ansible_collections.oneport.pachyderm.plugins.plugin_utils import helm_release


def _call(function, *args):
    try:
        return function(*(_plain(a) for a in args))
    except ValueError as error:
        raise AnsibleFilterError(str(error)) from None


def pachyderm_check_inputs(inputs):
    """Validate the role inputs; return the decisions made."""
    return _call(model.check_inputs, inputs)


def pachyderm_pin(secret_data, inputs, encoded=True, placeholders=False):
    """Reuse pinned values from a Secret's data (base64 unless encoded=false); generate the missing
    (fixed stand-ins with placeholders=true)."""
    data = _plain(secret_data or {})
    if encoded:
        data = {k: base64.b64decode(v).decode() for k, v in data.items()}
    return _call(lambda d, i: model.pin(d, model.pinned_keys(i), bool(placeholders)), data, inputs)


def pachyderm_adopt(pinned_secret, chart_secrets=None, pachd=None):
    """The pinned values to reuse, from the registered k8s_info results of the pinned Secret, the chart's
    generated Secrets (a loop over their names) and the pachd Deployment; {"values", "adopted"}."""

    def first(result):
        resources = (_plain(result) or {}).get("resources") or []
        return resources[0] if resources else {}

    def decoded(obj):
        return {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}

    secrets = {}
    for result in (_plain(chart_secrets) or {}).get("results") or []:
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
    return _call(model.adopt, decoded(first(pinned_secret)), secrets, env)


def helm_cluster_scoped(manifest):
    """The cluster-scoped objects ({api_version, kind, name}) of a release manifest."""
    return _call(helm_release.cluster_scoped, manifest)


def helm_owned_elsewhere(results, release, namespace):
    """Objects (from a k8s_info loop result) that Helm records as another release's."""
    live = []
    for result in (_plain(results) or {}).get("results") or []:
        live += result.get("resources") or []
    return _call(helm_release.owned_elsewhere, live, release, namespace)


def pachyderm_values(inputs, pinned, storage_secret_data=None, encoded=True):
    """The chart values; storage_secret_data None (not read) puts placeholders for its credentials."""
    data = None if storage_secret_data is None else _plain(storage_secret_data)
    if encoded and data:
        data = {k: base64.b64decode(v).decode() for k, v in data.items()}
    return _call(model.build_values, inputs, pinned, data)


def pachyderm_proxy_files(inputs):
    """The in-cluster proxy's configuration files (ConfigMap data: name -> content)."""
    return _call(pachyderm_proxy.config_files, inputs)


def pachyderm_proxy_settings(inputs):
    """What the role's post-renderer changes in the chart's proxy objects ({} in chart mode)."""
    return _call(pachyderm_proxy.post_render_settings, inputs)


def pachyderm_chart_problems(values, schema, chart_values):
    """Schema errors and unknown key paths of the values against one chart."""
    return _call(model.chart_problems, values, schema, chart_values)


def pachyderm_chart_hint(message):
    """The pachyderm_* variables to fix for a message the chart failed with."""
    return pachyderm_chart_hints.chart_hint(message)


def pachyderm_pinned_secret_data(inputs, pinned):
    """Everything the pinned Secret holds (plain strings): the pinned values plus an inline license key."""
    return _call(model.pinned_secret_data, inputs, pinned)


def pachyderm_redact(values):
    """[values with credentials masked, {path: credential}] for render output."""
    return list(_call(model.redact, values))


def pachyderm_upstream_idps(inputs, secret_values):
    """The Dex connector list, client secrets filled in from ``secret_values`` by connector id."""
    return _call(model.upstream_idps_document, inputs, secret_values)


def pachyderm_endpoint(inputs, ingress=None, node_address=""):
    """The oneport_proxy_endpoint fact from the proxy Service's load-balancer ingress."""
    return _call(model.proxy_endpoint, inputs, ingress or [], node_address or "")


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
            "pachyderm_chart_problems": pachyderm_chart_problems,
            "pachyderm_proxy_files": pachyderm_proxy_files,
            "pachyderm_proxy_settings": pachyderm_proxy_settings,
            "pachyderm_chart_hint": pachyderm_chart_hint,
            "pachyderm_pinned_secret_data": pachyderm_pinned_secret_data,
            "pachyderm_redact": pachyderm_redact,
            "pachyderm_upstream_idps": pachyderm_upstream_idps,
            "pachyderm_endpoint": pachyderm_endpoint,
        }
