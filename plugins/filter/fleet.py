# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Filters over an inventory of several clusters (plugins/plugin_utils/fleet.py)."""

from __future__ import annotations

from ansible_collections.oneport.pachyderm.plugins.plugin_utils import fleet
from ansible_collections.oneport.pachyderm.plugins.plugin_utils.filter_face import filter_face


@filter_face
def fleet_problems(clusters, edges=None, workstations=None, known=None):
    """Every problem of the fleet (duplicate names or contexts, hosts naming no cluster), as messages."""
    return fleet.problems(clusters or {}, edges or {}, workstations or {}, known)


class FilterModule:
    def filters(self):
        return {"fleet_problems": fleet_problems}
