# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Filters over an inventory of several clusters (plugins/plugin_utils/fleet.py)."""

from __future__ import annotations

from ansible_collections.oneport.pachyderm.plugins.module_utils.plain import plain as _plain
from ansible_collections.oneport.pachyderm.plugins.plugin_utils import fleet


def fleet_problems(clusters, edges=None, workstations=None, known=None):
    """Every problem of the fleet (duplicate names or contexts, hosts naming no cluster), as messages."""
    return fleet.problems(
        _plain(clusters) or {}, _plain(edges) or {}, _plain(workstations) or {}, _plain(known)
    )


class FilterModule:
    def filters(self):
        return {"fleet_problems": fleet_problems}
