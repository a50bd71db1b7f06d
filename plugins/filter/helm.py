# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Filters over Helm charts and releases (plugins/module_utils/chart_contract.py,
plugins/plugin_utils/helm_release.py)."""

from __future__ import annotations

import yaml

from ansible_collections.oneport.pachyderm.plugins.module_utils import chart_contract
from ansible_collections.oneport.pachyderm.plugins.module_utils import inputs as check
from ansible_collections.oneport.pachyderm.plugins.plugin_utils import helm_release
from ansible_collections.oneport.pachyderm.plugins.plugin_utils.filter_face import filter_face


@filter_face
def helm_diff_command(
    release, chart, namespace, helm="helm", kubeconfig="", context="", values_files=(), post_renderer=""
):
    """The argv that asks helm-diff whether upgrading the release changes it (exit code 2 when it does)."""
    return helm_release.diff_command(
        release,
        chart,
        namespace,
        helm=helm,
        kubeconfig=kubeconfig or "",
        context=context or "",
        values_files=values_files or (),
        post_renderer=post_renderer or "",
    )


@filter_face
def helm_render_mark(cache_dir, chart, helm, inputs):
    """The file that remembers a passed render of ``chart`` (a chart_fetch result) with ``inputs``."""
    if not isinstance(chart, dict) or not chart.get("chart_path"):
        raise check.fail(
            "helm_render_mark",
            chart,
            "a chart_fetch result",
            "give the result of oneport.pachyderm.chart_fetch",
        )
    return helm_release.render_mark(
        str(cache_dir or ""),
        str(chart["chart_path"]),
        str(chart.get("sha256") or ""),
        str(helm),
        inputs,
    )


@filter_face
def chart_problems(values, chart):
    """Schema errors and undeclared key paths of ``values`` against ``chart`` (a chart_fetch result
    registered with contract=true); empty when the chart takes the values as they are."""
    if not isinstance(chart, dict) or "values_yaml" not in chart:
        raise check.fail(
            "chart_problems",
            sorted(chart) if isinstance(chart, dict) else chart,
            "a chart_fetch result with the chart's contract",
            "register oneport.pachyderm.chart_fetch with contract: true and pass its result",
        )
    if not isinstance(values, dict):
        raise check.fail(
            "chart_problems", values, "a mapping of chart values", "pass the values as a mapping"
        )
    chart_values = yaml.safe_load(chart["values_yaml"] or "") or {}
    return chart_contract.chart_problems(values, chart.get("schema") or None, chart_values)


class FilterModule:
    def filters(self):
        return {
            "chart_problems": chart_problems,
            "helm_diff_command": helm_diff_command,
            "helm_render_mark": helm_render_mark,
        }
