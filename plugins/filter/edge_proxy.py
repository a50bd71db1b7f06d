# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Thin filter faces over module_utils/edge_proxy.py (and envoy_config.secret_files for the SDS files).

Documentation: edge_proxy_description.yml and edge_proxy_secret_files.yml beside this file.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.oneport.pachyderm.plugins.module_utils import edge_proxy
from ansible_collections.oneport.pachyderm.plugins.module_utils.envoy_config import (
    EnvoyConfigError,
    secret_files,
)
from ansible_collections.oneport.pachyderm.plugins.module_utils.plain import plain as _plain


def edge_proxy_description(params):
    """Check the edge_proxy role variables and return the envoy_config description."""
    if not isinstance(params, dict):
        raise AnsibleFilterError(
            f"edge_proxy_description: expects a mapping of role variables, not {params!r}"
        )
    try:
        plain = _plain(params)
        edge_proxy.check_install(plain)
        return edge_proxy.description(plain)
    except edge_proxy.EdgeProxyInputError as exc:
        raise AnsibleFilterError(str(exc)) from None


def edge_proxy_secret_files(description):
    """The SDS files (path -> content) the rendered bootstrap reads its certificate through."""
    try:
        return secret_files(_plain(description))
    except EnvoyConfigError as exc:
        raise AnsibleFilterError(f"edge_proxy_secret_files: {exc}") from None


class FilterModule:
    def filters(self):
        return {
            "edge_proxy_description": edge_proxy_description,
            "edge_proxy_secret_files": edge_proxy_secret_files,
        }
