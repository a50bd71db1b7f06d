#!/usr/bin/python
# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
module: chart_fetch
short_description: Resolve a Helm chart to one verified local archive before anything is installed
version_added: 1.1.0
description:
  - Takes a chart as the roles name it - a chart in a repository (O(chart_repo_url)), an C(oci://)
    reference, or a local chart directory or packaged C(.tgz) - and returns a local path that
    C(kubernetes.core.helm) and C(kubernetes.core.helm_template) install or render from.
  - A repository chart is pulled once (C(helm pull --repo --version)) into O(cache_dir), keyed by
    repository, name and version; later runs read it from there.
  - With O(chart_sha256) the archive's digest must match before it is kept or used. The chart's own
    C(Chart.yaml) must carry O(chart_version) when one is given.
  - Every refusal names the role's variable (O(variable_prefix) plus C(_chart_ref), C(_chart_version),
    C(_chart_repo_url) or C(_chart_sha256)), the bad value and the fix. Nothing on a cluster is read or
    changed; the module never reports a change.
author:
  - oneport.pachyderm contributors (@oneport)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The chart is fetched in check mode too; only the per-user cache is written.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  chart_ref:
    description: The chart's name in the repository, an C(oci://) reference, or a local directory or C(.tgz).
    type: str
    required: true
  chart_repo_url:
    description: The chart repository (or a site mirror of it). Empty with a local O(chart_ref).
    type: str
    default: ""
  chart_version:
    description: The chart version; required for repository charts, checked against local ones when set.
    type: str
    default: ""
  chart_sha256:
    description: The sha256 of the packaged chart (C(.tgz)); empty skips the check.
    type: str
    default: ""
  cache_dir:
    description: Where pulled charts are kept, per user.
    type: path
    default: ~/.cache/oneport/charts
  binary_path:
    description: The helm binary used for C(helm pull).
    type: path
    default: helm
  variable_prefix:
    description: The prefix of the role's variables, used in error messages (for example V(pachyderm)).
    type: str
    default: chart
  contract:
    description: Also return the chart's C(values.yaml) text and parsed C(values.schema.json).
    type: bool
    default: false
seealso:
  - module: kubernetes.core.helm
"""

EXAMPLES = r"""
- name: Fetch the Pachyderm chart from a site mirror, pinned by digest
  oneport.pachyderm.chart_fetch:
    chart_ref: pachyderm
    chart_repo_url: https://charts.example.internal/pachyderm
    chart_version: 2.12.0
    chart_sha256: f4c32bb5f38c20d6c5b9869403bb26c91faefaacc325af340878e32ec1732cd6
    binary_path: ~/.local/share/oneport/bin/helm
    variable_prefix: pachyderm
  register: chart

- name: Install from the verified archive
  kubernetes.core.helm:
    release_name: pachyderm
    release_namespace: pachyderm
    chart_ref: "{{ chart.chart_path }}"
"""

RETURN = r"""
chart_path:
  description: Local path of the chart (the cached or given C(.tgz), or the chart directory).
  returned: success
  type: str
sha256:
  description: The archive's sha256; empty for a chart directory.
  returned: success
  type: str
name:
  description: The chart's name from its C(Chart.yaml).
  returned: success
  type: str
version:
  description: The chart's version from its C(Chart.yaml).
  returned: success
  type: str
source:
  description: V(repository), V(archive) or V(directory).
  returned: success
  type: str
pulled:
  description: Whether this run pulled the chart into the cache.
  returned: success
  type: bool
values_yaml:
  description: The chart's C(values.yaml) text.
  returned: when O(contract=true)
  type: str
schema:
  description: The chart's parsed C(values.schema.json), or null when it has none.
  returned: when O(contract=true)
  type: dict
"""

import os  # noqa: E402 - after the documentation

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.oneport.pachyderm.plugins.module_utils import helm_chart  # noqa: E402


def main():
    module = AnsibleModule(
        argument_spec={
            "chart_ref": {"type": "str", "required": True},
            "chart_repo_url": {"type": "str", "default": ""},
            "chart_version": {"type": "str", "default": ""},
            "chart_sha256": {"type": "str", "default": ""},
            "cache_dir": {"type": "path", "default": "~/.cache/oneport/charts"},
            "binary_path": {"type": "path", "default": "helm"},
            "variable_prefix": {"type": "str", "default": "chart"},
            "contract": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    params = module.params
    helm = params["binary_path"]
    if os.sep not in helm:
        helm = module.get_bin_path(helm, required=True)

    def run(argv):
        return module.run_command(argv, environ_update={"HELM_NO_PLUGINS": "1"})

    try:
        found = helm_chart.fetch(
            params["variable_prefix"],
            params["chart_ref"],
            params["chart_repo_url"],
            params["chart_version"],
            params["chart_sha256"],
            params["cache_dir"],
            helm,
            run,
        )
        result = {key: found[key] for key in ("chart_path", "sha256", "name", "version", "source", "pulled")}
        if params["contract"]:
            result.update(helm_chart.contract(found["files"]))
    except (helm_chart.ChartError, ValueError, OSError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
