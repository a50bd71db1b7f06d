# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The envoy_config filter: a thin face over plugins/module_utils/envoy_config.py."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.oneport.pachyderm.plugins.module_utils.envoy_config import (
    EnvoyConfigError,
    render_bootstrap,
)
from ansible_collections.oneport.pachyderm.plugins.module_utils.plain import plain as _plain


def envoy_config(description):
    """The Envoy v3 bootstrap for a one-port proxy description."""
    try:
        return render_bootstrap(_plain(description))
    except EnvoyConfigError as error:
        raise AnsibleFilterError(f"envoy_config: {error}") from None


class FilterModule:
    """oneport.pachyderm Envoy filters."""

    def filters(self):
        return {"envoy_config": envoy_config}
