# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Filter face of the tool download model (documentation in prerequisites_downloads.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.oneport.pachyderm.plugins.module_utils.tool_downloads import (
    DownloadConfigError,
    plan,
)


def prerequisites_downloads(config):
    """Checked download and install steps for the prerequisites role's variables."""
    if not isinstance(config, dict):
        raise AnsibleFilterError(f"prerequisites_downloads: expected a mapping, got {type(config).__name__}")
    try:
        return plan(config)
    except DownloadConfigError as exc:
        raise AnsibleFilterError(str(exc)) from None


class FilterModule:
    def filters(self):
        return {"prerequisites_downloads": prerequisites_downloads}
