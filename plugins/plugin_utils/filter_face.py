# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The one face every filter of the collection shows Ansible.

A filter is a thin face over a plain-Python model in module_utils: it hands the model plain values (no
Ansible wrapper types) and turns the model's InputError, whose message already names the variable, the
value and the fix, into the AnsibleFilterError Ansible reports. Controller-only.
"""

from __future__ import annotations

import functools

from ansible.errors import AnsibleFilterError

from ansible_collections.oneport.pachyderm.plugins.module_utils import inputs as check
from ansible_collections.oneport.pachyderm.plugins.module_utils.inputs import InputError
from ansible_collections.oneport.pachyderm.plugins.module_utils.plain import plain


def filter_face(function):
    """Wrap ``function`` as a filter: plain arguments in, InputError out as AnsibleFilterError."""

    @functools.wraps(function)
    def face(*args, **kwargs):
        try:
            return function(*(plain(a) for a in args), **{k: plain(v) for k, v in kwargs.items()})
        except InputError as error:
            raise AnsibleFilterError(str(error)) from None

    return face


def expect_mapping(value, name: str) -> dict:
    """``value`` when it is a mapping (a role's variables), else the InputError naming the filter."""
    if not isinstance(value, dict):
        raise check.fail(name, value, "a mapping", "give the role's variables as a mapping")
    return value


def expect_lists(name: str, *values) -> None:
    """Refuse arguments that are not lists (objects found, objects desired)."""
    for value in values:
        if not isinstance(value, list):
            raise check.fail(name, value, "a list", "give lists of Kubernetes objects")
