# Copyright: oneport.pachyderm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Thin filter face over module_utils/edge_proxy.py; documentation in edge_proxy_description.yml."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.oneport.pachyderm.plugins.module_utils import edge_proxy


def edge_proxy_description(params):
    """Check the edge_proxy role variables and return the envoy_config description."""
    if not isinstance(params, dict):
        raise AnsibleFilterError(
            f"edge_proxy_description: expects a mapping of role variables, not {params!r}"
        )
    try:
        edge_proxy.check_install(params)
        return edge_proxy.description(params)
    except edge_proxy.EdgeProxyInputError as exc:
        raise AnsibleFilterError(str(exc)) from None


class FilterModule:
    def filters(self):
        return {"edge_proxy_description": edge_proxy_description}
