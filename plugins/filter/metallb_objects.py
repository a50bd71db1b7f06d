# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Filter face of the MetalLB object model (documentation in metallb_objects.yml)."""

from __future__ import annotations

from ansible_collections.oneport.pachyderm.plugins.module_utils.metallb import build_objects, stale_objects
from ansible_collections.oneport.pachyderm.plugins.plugin_utils.filter_face import (
    expect_lists,
    expect_mapping,
    filter_face,
)


@filter_face
def metallb_objects(config):
    """Checked MetalLB objects for the metallb role's variables."""
    return build_objects(expect_mapping(config, "metallb_objects"))


@filter_face
def metallb_stale_objects(found, desired):
    """The objects the role applied earlier that the variables no longer name."""
    expect_lists("metallb_stale_objects", found, desired)
    return stale_objects(found, desired)


class FilterModule:
    def filters(self):
        return {
            "metallb_objects": metallb_objects,
            "metallb_stale_objects": metallb_stale_objects,
        }
