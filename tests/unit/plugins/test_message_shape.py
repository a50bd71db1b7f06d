"""Every input error under plugins/ reads the one way: ``FIELD: VALUE PROBLEM; FIX``.

The field (the role variable or option path) leads, then the value given, what is wrong with it,
and after the semicolon the fix. The scan reads every place an InputError (or a model's subclass)
is built from a written message; the table builds real errors from bad inputs and checks the text.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

import pytest

from ansible_collections.oneport.pachyderm.plugins.module_utils import (
    cert_manager,
    edge_proxy,
    metallb,
    pachyderm_inputs,
)
from ansible_collections.oneport.pachyderm.plugins.module_utils.inputs import InputError

PLUGINS = Path(__file__).resolve().parents[3] / "plugins"
# FIELD (a variable or option path, optionally followed by its inventory alias in parentheses),
# a colon, the value and the problem, a semicolon, the fix.
SHAPE = re.compile(r"^[\w.\[\]{}'\"-]+(?: \([\w.]+\))?: \S.*; \S", re.DOTALL)


def _error_classes() -> set:
    names = {"InputError"}
    for path in sorted((PLUGINS / "module_utils").glob("*.py")):
        module = importlib.import_module(
            f"ansible_collections.oneport.pachyderm.plugins.module_utils.{path.stem}"
        )
        names.update(
            name
            for name, cls in inspect.getmembers(module, inspect.isclass)
            if issubclass(cls, InputError) and cls.__module__ == module.__name__
        )
    return names


def _written(node) -> str | None:
    """The message as written, each {placeholder} as {x}; None when it is not written out here."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(part.value if isinstance(part, ast.Constant) else "{x}" for part in node.values)
    return None


def _messages():
    classes = _error_classes()
    for path in sorted(PLUGINS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name in classes:
                yield f"{path.relative_to(PLUGINS)}:{node.lineno}", _written(node.args[0])


def test_the_scan_finds_the_messages():
    """The scan reads real raise sites (so an empty scan cannot pass the next test)."""
    assert len([text for _where, text in _messages() if text]) > 50


def test_every_written_input_error_message_has_the_one_shape():
    wrong = [f"{where}: {text}" for where, text in _messages() if text is not None and not SHAPE.match(text)]
    assert wrong == [], "write FIELD: VALUE PROBLEM; FIX (plugins/module_utils/inputs.py refuse/fail)"


def _pachyderm(**given):
    return pachyderm_inputs.legacy_ports({"platform": "kind", "service_type": "LoadBalancer", **given})


# A bad input per model: the field, the value as the message shows it, and a word of the fix.
CASES = [
    (lambda: _pachyderm(legacy_ports=[30650]), "pachyderm_legacy_ports", "[30650]", "grpc: 30650"),
    (
        lambda: metallb.build_objects({"namespace": "lb", "address_pools": "none"}),
        "metallb_address_pools",
        "'none'",
        "give a YAML list",
    ),
    (
        lambda: cert_manager.dns01_solver({"provider": "route53", "region": "eu-west-1", "zone": "x"}),
        "cert_manager_acme_dns01",
        "['zone']",
        "region",
    ),
    (
        lambda: edge_proxy.description(
            {
                "edge_proxy_upstream_host": "10.0.0.1",
                "edge_proxy_upstream_port": 30650,
                "edge_proxy_upstream_ports": {"grpc": 1},
            }
        ),
        "edge_proxy_upstream_ports",
        "['grpc']",
        "choose from",
    ),
]


@pytest.mark.parametrize(("build", "field", "value", "fix"), CASES)
def test_a_bad_input_of_each_model_reads_the_one_way(build, field, value, fix):
    with pytest.raises(InputError) as caught:
        build()
    text = str(caught.value)
    assert SHAPE.match(text), text
    assert text.startswith(f"{field}"), text
    head, tail = text.split(";", 1)
    assert value in head, text
    assert fix in tail, text
