# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Filter face of the MetalLB object model (documentation in metallb_objects.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.oneport.pachyderm.plugins.module_utils.metallb import (
    MetalLBConfigError,
    build_objects,
    stale_objects,
)


def metallb_objects(config):
    """Checked MetalLB objects for the metallb role's variables."""
    if not isinstance(config, dict):
        raise AnsibleFilterError(f"metallb_objects: expected a mapping, got {type(config).__name__}")
    try:
        return build_objects(config)
    except MetalLBConfigError as exc:
        raise AnsibleFilterError(str(exc)) from None


def metallb_stale_objects(found, desired):
    """The objects the role applied earlier that the variables no longer name."""
    if not isinstance(found, list) or not isinstance(desired, list):
        raise AnsibleFilterError("metallb_stale_objects: expected two lists (found objects, desired objects)")
    return stale_objects(found, desired)


class FilterModule:
    def filters(self):
        return {
            "metallb_objects": metallb_objects,
            "metallb_stale_objects": metallb_stale_objects,
        }
