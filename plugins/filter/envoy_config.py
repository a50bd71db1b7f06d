# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The envoy_config filter: a thin face over plugins/module_utils/envoy_config.py."""

from __future__ import annotations

from ansible_collections.oneport.pachyderm.plugins.module_utils.envoy_config import render_bootstrap
from ansible_collections.oneport.pachyderm.plugins.plugin_utils.filter_face import filter_face


@filter_face
def envoy_config(description):
    """The Envoy v3 bootstrap for a one-port proxy description."""
    return render_bootstrap(description)


class FilterModule:
    """oneport.pachyderm Envoy filters."""

    def filters(self):
        return {"envoy_config": envoy_config}
