"""Every error the collection raises about its inputs has one root: InputError."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

from ansible_collections.oneport.pachyderm.plugins.module_utils.inputs import InputError

PLUGINS = Path(__file__).resolve().parents[4] / "plugins"
MODULES = sorted(
    "ansible_collections.oneport.pachyderm.plugins."
    + ".".join(path.relative_to(PLUGINS).with_suffix("").parts)
    for folder in ("module_utils", "plugin_utils")
    for path in (PLUGINS / folder).glob("*.py")
    if path.name != "__init__.py"
)


def test_input_error_is_a_value_error_that_keeps_its_parts():
    error = InputError("port: 70000 is not a port; use 1-65535", field="port", value=70000, fix="use 1-65535")
    assert isinstance(error, ValueError)
    assert (error.field, error.value, error.fix) == ("port", 70000, "use 1-65535")
    assert str(error) == "port: 70000 is not a port; use 1-65535"


@pytest.mark.parametrize("name", MODULES)
def test_every_error_class_of_the_models_derives_from_input_error(name):
    module = importlib.import_module(name)
    errors = [
        cls
        for _name, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, Exception) and cls.__module__ == module.__name__
    ]
    assert [cls.__name__ for cls in errors if not issubclass(cls, InputError)] == []


def test_no_plugin_raises_a_bare_value_error():
    offenders = []
    for path in sorted(PLUGINS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            raised = node.exc if isinstance(node, ast.Raise) else None
            if isinstance(raised, ast.Call) and getattr(raised.func, "id", "") in ("ValueError", "Exception"):
                offenders.append(f"{path.relative_to(PLUGINS)}:{node.lineno}")
    assert offenders == [], "raise InputError (plugins/module_utils/inputs.py) instead"
