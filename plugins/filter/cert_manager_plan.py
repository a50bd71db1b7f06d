# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Filter face of the cert-manager issuer model (documentation in cert_manager_plan.yml)."""

from __future__ import annotations

from ansible_collections.oneport.pachyderm.plugins.module_utils.cert_manager import plan
from ansible_collections.oneport.pachyderm.plugins.plugin_utils.filter_face import expect_mapping, filter_face


@filter_face
def cert_manager_plan(config):
    """Checked issuers and proxy Certificate for the cert_manager role's variables."""
    return plan(expect_mapping(config, "cert_manager_plan"))


class FilterModule:
    def filters(self):
        return {"cert_manager_plan": cert_manager_plan}
