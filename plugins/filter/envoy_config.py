"""The envoy_config filter: a thin face over plugins/module_utils/envoy_config.py."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.oneport.pachyderm.plugins.module_utils.envoy_config import (
    EnvoyConfigError,
    render_bootstrap,
)


def _plain(value):
    """Ansible's tagged strings and lazy containers into plain Python values."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


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
