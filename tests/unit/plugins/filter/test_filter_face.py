"""Every filter shows Ansible one face: plain values in, a model's InputError out as AnsibleFilterError."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.oneport.pachyderm.plugins.module_utils.inputs import InputError
from ansible_collections.oneport.pachyderm.plugins.plugin_utils.filter_face import filter_face

FILTERS = Path(__file__).resolve().parents[4] / "plugins" / "filter"
FILTER_MODULES = sorted(path.stem for path in FILTERS.glob("*.py") if path.name != "__init__.py")


class _ModelError(InputError):
    """Stands for a model's own error class."""


def test_an_input_error_becomes_an_ansible_filter_error_with_the_same_message():
    @filter_face
    def refuse(value):
        raise _ModelError(f"field: {value!r} is not a port; give a whole number from 1 to 65535")

    with pytest.raises(AnsibleFilterError) as caught:
        refuse(70000)
    assert str(caught.value) == "field: 70000 is not a port; give a whole number from 1 to 65535"
    assert caught.value.__cause__ is None  # the message is the whole story: no Python traceback chained


def test_other_errors_are_not_disguised_as_input_errors():
    @filter_face
    def broken():
        raise KeyError("bug")

    with pytest.raises(KeyError):
        broken()


def test_the_model_sees_plain_python_values():
    class Tagged(str):
        """Stands for Ansible's tagged strings."""

    seen = []

    @filter_face
    def record(value, other=None):
        seen.append((value, other))
        return value

    record({Tagged("k"): (Tagged("v"),)}, other=[Tagged("x")])
    assert seen == [({"k": ["v"]}, ["x"])]
    assert not isinstance(next(iter(seen[0][0])), Tagged)
    assert not isinstance(seen[0][1][0], Tagged)


@pytest.mark.parametrize("name", FILTER_MODULES)
def test_no_filter_builds_its_own_ansible_filter_error(name):
    tree = ast.parse((FILTERS / f"{name}.py").read_text())
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    assert "AnsibleFilterError" not in names, "raise InputError and let filter_face turn it"
    assert "plain" not in names and "_plain" not in names, "filter_face hands the model plain values"


@pytest.mark.parametrize("name", FILTER_MODULES)
def test_every_filter_that_can_refuse_its_input_wears_the_face(name):
    module = importlib.import_module(f"ansible_collections.oneport.pachyderm.plugins.filter.{name}")
    for filter_name, function in module.FilterModule().filters().items():
        if filter_name == "pachyderm_chart_hint":  # maps any message to a hint: refuses nothing
            continue
        assert getattr(function, "__wrapped__", None) is not None, (
            f"{filter_name} is not wrapped by filter_face"
        )
