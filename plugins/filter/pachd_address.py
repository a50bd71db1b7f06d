# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The pachd_address filter: check and normalise a pachd address, or build one for the proxy."""

from __future__ import annotations

from ansible_collections.oneport.pachyderm.plugins.module_utils.pachd_address import (
    build_pachd_address,
    normalize_pachd_address,
)
from ansible_collections.oneport.pachyderm.plugins.plugin_utils.filter_face import filter_face

_UNSET = object()


@filter_face
def pachd_address(value, tls=_UNSET, port=None):
    """Without arguments, normalise ``value``; with ``tls`` (and ``port``), build from a host."""
    if tls is _UNSET and port is None:
        return normalize_pachd_address(value)
    return build_pachd_address(value, tls=False if tls is _UNSET else tls, port=port)


class FilterModule:
    """pachd address filters."""

    def filters(self):
        return {"pachd_address": pachd_address}
