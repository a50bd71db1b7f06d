# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Filter face of the cert-manager issuer model (documentation in cert_manager_plan.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.oneport.pachyderm.plugins.module_utils.cert_manager import (
    CertManagerConfigError,
    plan,
)


def cert_manager_plan(config):
    """Checked issuers and proxy Certificate for the cert_manager role's variables."""
    if not isinstance(config, dict):
        raise AnsibleFilterError(f"cert_manager_plan: expected a mapping, got {type(config).__name__}")
    try:
        return plan(config)
    except CertManagerConfigError as exc:
        raise AnsibleFilterError(str(exc)) from None


class FilterModule:
    def filters(self):
        return {"cert_manager_plan": cert_manager_plan}
