# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Filter face of plugins/module_utils/k8s_apply.py (documentation in k8s_applied_as_is.yml)."""

from __future__ import annotations

from ansible_collections.oneport.pachyderm.plugins.module_utils.k8s_apply import applied_as_is
from ansible_collections.oneport.pachyderm.plugins.plugin_utils.filter_face import expect_lists, filter_face


@filter_face
def k8s_applied_as_is(found, desired):
    """Whether kubernetes.core.k8s with apply: true would change nothing on the objects found."""
    expect_lists("k8s_applied_as_is", found, desired)
    return applied_as_is(found, desired)


class FilterModule:
    def filters(self):
        return {"k8s_applied_as_is": k8s_applied_as_is}
