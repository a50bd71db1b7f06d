#!/usr/bin/python
# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
module: tool_check
short_description: Check in one step that installed tools run, helm lists its plugins and a cluster answers
version_added: 1.2.0
description:
  - Looks for each tool of O(tools) in O(bin_dir) and runs the version command of those it finds, side by
    side; when C(helm) is there and O(helm_plugins) is set, runs C(helm plugin list) as well.
  - With O(kubeconfig) set, asks the cluster for its version and for its core API versions. The second
    call is granted to authenticated users only, so credentials the cluster refuses are caught.
  - Reports what it found and never fails on it; the caller decides what is fatal (a missing tool is
    expected in check mode before the first install). Fails only on bad options.
  - Read-only, so it runs in check mode and never reports a change.
author:
  - oneport.pachyderm contributors (@oneport)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
requirements:
  - the Python C(kubernetes) library, when O(kubeconfig) is set
options:
  bin_dir:
    description: The directory the tools are installed in.
    type: path
    required: true
  tools:
    description: The tools to look for.
    type: list
    elements: str
    choices: [helm, kubectl, pachctl]
    default: []
  helm_plugins:
    description: Plugin names C(helm plugin list) must show.
    type: list
    elements: str
    default: []
  helm_plugins_dir:
    description: Where helm looks for plugins (C(HELM_PLUGINS)); unset, helm's own default.
    type: path
  kubeconfig:
    description: The kubeconfig of the cluster to ask; unset, no cluster is asked.
    type: path
  context:
    description: The kubeconfig context; unset or empty, the kubeconfig's current context.
    type: str
  request_timeout:
    description: Seconds to wait for each answer from the cluster.
    type: int
    default: 10
seealso:
  - module: kubernetes.core.k8s_cluster_info
"""

EXAMPLES = r"""
- name: Check the tools and the cluster
  oneport.pachyderm.tool_check:
    bin_dir: ~/.local/bin
    tools: [helm, kubectl]
    helm_plugins: [diff]
    kubeconfig: ~/.kube/config
  register: checked

- name: Stop on a missing tool
  ansible.builtin.assert:
    that: checked.missing | length == 0
"""

RETURN = r"""
missing:
  description: The tools of O(tools) not in O(bin_dir).
  returned: always
  type: list
  elements: str
failed:
  description: Tool (or C(helm plugin list)) to why its command failed.
  returned: always
  type: dict
versions:
  description: Tool to the first line of its version command's output.
  returned: always
  type: dict
  sample: {helm: v3.17.2+gcc0bbbd}
helm_plugins:
  description: The plugin names helm lists (empty when helm was not asked).
  returned: always
  type: list
  elements: str
helm_plugins_missing:
  description: The plugins of O(helm_plugins) helm does not list.
  returned: always
  type: list
  elements: str
cluster_version:
  description: The cluster's version.
  returned: when O(kubeconfig) is set and the cluster answered
  type: str
  sample: v1.32.3
cluster_error:
  description: Why the cluster did not answer.
  returned: when O(kubeconfig) is set and the cluster did not answer
  type: str
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402 - after the documentation

from ansible_collections.oneport.pachyderm.plugins.module_utils.tool_check import (  # noqa: E402
    BINARIES,
    check_tools,
    cluster_version,
)


def main():
    module = AnsibleModule(
        argument_spec={
            "bin_dir": {"type": "path", "required": True},
            "tools": {"type": "list", "elements": "str", "choices": list(BINARIES), "default": []},
            "helm_plugins": {"type": "list", "elements": "str", "default": []},
            "helm_plugins_dir": {"type": "path"},
            "kubeconfig": {"type": "path"},
            "context": {"type": "str"},
            "request_timeout": {"type": "int", "default": 10},
        },
        supports_check_mode=True,
    )
    params = module.params
    try:
        result = check_tools(
            params["bin_dir"], params["tools"], params["helm_plugins"], params["helm_plugins_dir"]
        )
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    if params["kubeconfig"]:
        try:
            result["cluster_version"] = cluster_version(
                params["kubeconfig"], params["context"], params["request_timeout"]
            )
        except RuntimeError as exc:
            result["cluster_error"] = str(exc)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
