# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Whether a client-side apply of some objects would change nothing, from objects already read.

kubernetes.core.k8s with ``apply: true`` keeps the definition it applied in the
``kubectl.kubernetes.io/last-applied-configuration`` annotation and patches the difference of
(last applied -> desired) deletions and (live -> desired) values. So an object whose annotation
holds exactly the desired definition, and whose live fields already carry every desired value,
would get an empty patch. A role that reads the objects anyway (to prune) can skip the module then.
The answer errs one way only: anything it cannot prove unchanged (types that differ, a missing or
unreadable annotation, an object not found) counts as a change and the module decides.
Plain Python, no Ansible imports.
"""

from __future__ import annotations

import json

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def contains(live, desired) -> bool:
    """Every value of ``desired`` is in ``live``: mappings key by key, lists and scalars equal."""
    if isinstance(desired, dict):
        return isinstance(live, dict) and all(
            key in live and contains(live[key], value) for key, value in desired.items()
        )
    return type(live) is type(desired) and live == desired


def _key(obj: dict) -> tuple:
    metadata = obj.get("metadata") or {}
    return (obj.get("apiVersion"), obj.get("kind"), metadata.get("namespace"), metadata.get("name"))


def applied_as_is(found, desired) -> bool:
    """True when applying ``desired`` over the objects ``found`` on the cluster would change nothing."""
    live = {_key(obj): obj for obj in found or [] if isinstance(obj, dict)}
    for obj in desired:
        current = live.get(_key(obj))
        if current is None:
            return False
        annotation = ((current.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
        try:
            last_applied = json.loads(annotation) if annotation else None
        except ValueError:
            return False
        if last_applied != obj or not contains(current, obj):
            return False
    return True
