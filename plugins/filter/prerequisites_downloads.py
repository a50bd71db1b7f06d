# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Filter face of the tool download model (documentation in prerequisites_downloads.yml)."""

from __future__ import annotations

from ansible_collections.oneport.pachyderm.plugins.module_utils.tool_downloads import plan
from ansible_collections.oneport.pachyderm.plugins.plugin_utils.filter_face import expect_mapping, filter_face


@filter_face
def prerequisites_downloads(config):
    """Checked download and install steps for the prerequisites role's variables."""
    return plan(expect_mapping(config, "prerequisites_downloads"))


class FilterModule:
    def filters(self):
        return {"prerequisites_downloads": prerequisites_downloads}
