# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Thin filter faces over module_utils/edge_proxy.py (and envoy_config.secret_files for the SDS files).

Documentation: edge_proxy_description.yml and edge_proxy_secret_files.yml beside this file.
"""

from __future__ import annotations

from ansible_collections.oneport.pachyderm.plugins.module_utils import edge_proxy
from ansible_collections.oneport.pachyderm.plugins.module_utils.envoy_config import secret_files
from ansible_collections.oneport.pachyderm.plugins.plugin_utils.filter_face import expect_mapping, filter_face


@filter_face
def edge_proxy_description(params):
    """Check the edge_proxy role variables and return the envoy_config description."""
    edge_proxy.check_install(expect_mapping(params, "edge_proxy_description"))
    return edge_proxy.description(params)


@filter_face
def edge_proxy_secret_files(description):
    """The SDS files (path -> content) the rendered bootstrap reads its certificate through."""
    return secret_files(description)


class FilterModule:
    def filters(self):
        return {
            "edge_proxy_description": edge_proxy_description,
            "edge_proxy_secret_files": edge_proxy_secret_files,
        }
