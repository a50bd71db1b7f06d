# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Filter faces of plugins/module_utils/rollout_report.py (documentation in rollout_report.yml and
unready_containers.yml)."""

from __future__ import annotations

from ansible_collections.oneport.pachyderm.plugins.module_utils import rollout_report as model
from ansible_collections.oneport.pachyderm.plugins.plugin_utils.filter_face import expect_lists, filter_face


@filter_face
def unready_containers(pods):
    """[pod, container] of every container of an unready pod that has run, so its log can be read."""
    expect_lists("unready_containers", pods)
    return model.containers_with_logs(pods)


@filter_face
def rollout_report(pods, events, log_results, namespace):
    """The unready pods with the object to fix, their problems, events and log tails, and as text."""
    expect_lists("rollout_report", pods, events, log_results)
    logs = [
        {"pod": result["item"][0], "container": result["item"][1], "lines": result.get("log_lines") or []}
        for result in log_results
        if isinstance(result, dict) and isinstance(result.get("item"), list) and len(result["item"]) == 2
    ]
    return model.report(pods, events, logs, namespace)


class FilterModule:
    def filters(self):
        return {"rollout_report": rollout_report, "unready_containers": unready_containers}
