# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Plain Python values out of what Ansible hands a filter (tagged strings, lazy containers)."""

from __future__ import annotations


def plain(value):
    """``value`` as plain dicts, lists and str, so the models never see Ansible's wrapper types."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value
