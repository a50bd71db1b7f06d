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


# --- the shared checks ------------------------------------------------------------------------------

from ansible_collections.oneport.pachyderm.plugins.module_utils import inputs as check  # noqa: E402


class _ModelError(InputError):
    """Stands for a model's own error class."""


def _refused(function, *args, **kwargs):
    with pytest.raises(_ModelError) as caught:
        function(*args, error=_ModelError, **kwargs)
    return caught.value


@pytest.mark.parametrize(
    ("given", "read"), [(30080, 30080), ("30080", 30080), (" 30080 ", 30080), (30080.0, 30080)]
)
def test_integer_reads_what_yaml_and_the_command_line_give(given, read):
    assert check.integer(given, "f", 1, 65535) == read


@pytest.mark.parametrize("given", [True, False, "30080.5", 30080.5, "3e4", "", None, [1], "0x10"])
def test_integer_refuses_booleans_fractions_and_words(given):
    error = _refused(check.integer, given, "f", 0, 65535)
    assert str(error).startswith(f"f: {given!r} is not ")
    assert (error.field, error.value) == ("f", given)
    assert "0 to 65535" in error.fix


@pytest.mark.parametrize("given", [0, 65536, -1, "http", True, 1.5])
def test_port_is_1_to_65535(given):
    assert "1 to 65535" in str(_refused(check.port, given, "p"))


def test_a_closed_port_is_zero_or_false():
    assert [check.port(v, "p", closed=True) for v in (0, False, "0", "8080")] == [0, 0, 0, 8080]


@pytest.mark.parametrize("given", [29999, 32768, 80, "3008x"])
def test_node_port_is_in_the_default_range(given):
    assert "30000 to 32767" in str(_refused(check.node_port, given, "n"))


def test_node_port_range_is_an_option():
    assert check.node_port(20000, "n", low=20000, high=22767) == 20000


@pytest.mark.parametrize("word", [*check.BOOLEAN_TRUE, "YES", " True ", True, 1])
def test_boolean_true_as_ansible_reads_it(word):
    assert check.boolean(word, "b") is True


@pytest.mark.parametrize("word", [*check.BOOLEAN_FALSE, "No", False, 0])
def test_boolean_false_as_ansible_reads_it(word):
    assert check.boolean(word, "b") is False


@pytest.mark.parametrize("given", ["maybe", "", None, 2, 1.5, "enabled", [True]])
def test_boolean_refuses_anything_else(given):
    assert str(_refused(check.boolean, given, "b")).startswith(f"b: {given!r} is not true or false; ")


@pytest.mark.parametrize(
    ("given", "options", "read"),
    [
        ("Pachyderm.Example.COM", {}, "pachyderm.example.com"),
        ("10.0.0.5", {"ip": True}, "10.0.0.5"),
        ("[2001:db8::1]", {"ip": True}, "2001:db8::1"),
        ("*.s3.example.com", {"wildcard": True}, "*.s3.example.com"),
        ("nodes.example.com.", {"trailing_dot": True}, "nodes.example.com"),
        ("a" * 63 + ".example.com", {}, "a" * 63 + ".example.com"),
    ],
)
def test_dns_name_and_its_options(given, options, read):
    assert check.dns_name(given, "h", **options) == read


@pytest.mark.parametrize(
    ("given", "options"),
    [
        ("10.0.0.5.", {}),
        ("pachyderm_lab.example.com", {"ip": True}),
        ("-pachd.svc", {}),
        ("pachd..svc", {}),
        ("a" * 64 + ".svc", {}),
        ("*.s3.example.com", {}),
        ("nodes.example.com.", {}),
        ("pachd:1650", {"ip": True}),
        ("http://pachd", {}),
        ("", {"ip": True}),
        (None, {}),
        ("x." * 127 + "xx", {}),
    ],
)
def test_dns_name_refuses_what_the_options_do_not_allow(given, options):
    error = _refused(check.dns_name, given, "h", **options)
    assert str(error).startswith(f"h: {given!r} is not ")
    assert "DNS name" in str(error)


def test_an_ip_address_is_a_dns_name_only_with_the_option():
    assert "not an IP address" in str(_refused(check.dns_name, "10.0.0.5", "h"))
    assert check.dns_name("10.0.0.5", "h", ip=True) == "10.0.0.5"


@pytest.mark.parametrize(
    ("given", "read"),
    [("pachyderm.example.com", ("pachyderm.example.com", None)), ("10.0.0.5:8443", ("10.0.0.5", 8443))],
)
def test_external_host_is_a_name_and_an_optional_port(given, read):
    assert check.external_host(given, "h") == read


@pytest.mark.parametrize(
    ("given", "acme", "words"),
    [
        ("https://pachyderm.example.com", False, "scheme"),
        ("pachyderm.example.com:70000", False, "1 to 65535"),
        ("10.0.0.5", True, "ACME"),
        ("2001:db8::1", False, "DNS name"),
        ("*.example.com", False, "DNS name"),
    ],
)
def test_external_host_refusals(given, acme, words):
    assert words in str(_refused(check.external_host, given, "h", acme=acme))


@pytest.mark.parametrize(
    ("given", "options"),
    [("pachyderm-tls", {}), ("a.b-c", {}), ("", {"empty": True}), ("pool-1", {"label": True})],
)
def test_k8s_name_accepts(given, options):
    assert check.k8s_name(given, "k", **options) == given


@pytest.mark.parametrize(
    ("given", "options"),
    [
        ("Upper", {}),
        ("a_b", {}),
        ("", {}),
        ("a..b", {}),
        ("a.b", {"label": True}),
        ("a" * 64, {"label": True}),
    ],
)
def test_k8s_name_refuses(given, options):
    assert "is not a Kubernetes name" in str(_refused(check.k8s_name, given, "k", **options))


def test_sha256_is_64_lower_case_hex_digits():
    assert check.sha256("a" * 64, "s") == "a" * 64
    for bad in ("A" * 64, "a" * 63, "abc", None):
        assert str(_refused(check.sha256, bad, "s")).startswith(f"s: {bad!r} is not a sha256; ")


def test_one_of_lists_the_choices():
    assert check.one_of("b", "c", ("a", "b")) == "b"
    assert str(_refused(check.one_of, "z", "c", ("", "a"))) == "c: 'z' is not supported; use one of: '', a"


def test_mapping_and_known_keys():
    assert check.mapping(None, "m") == {}
    assert str(_refused(check.mapping, [1], "m")).startswith("m: [1] is not a mapping; ")
    assert str(_refused(check.known_keys, {"htp": 1}, "top", ("http",))).startswith("top.htp: unknown field")


def test_a_model_input_the_role_did_not_pass_is_refused_naming_the_variable():
    from ansible_collections.oneport.pachyderm.plugins.module_utils import inputs as check

    with pytest.raises(InputError, match=r"^pachyderm_service_type: missing .*the pachyderm role passes"):
        check.role_input({"platform": "kind"}, "service_type", "pachyderm")
    with pytest.raises(InputError, match=r"^pachyderm_service_type: None is empty; give a value"):
        check.role_input({"service_type": None}, "service_type", "pachyderm")
    assert check.role_input({"service_type": "NodePort"}, "service_type", "pachyderm") == "NodePort"


def test_the_pachyderm_models_keep_no_default_of_their_own():
    """Each default is decided in the role's defaults/main.yml: a model given no inputs names the first
    variable it needs instead of guessing one."""
    from ansible_collections.oneport.pachyderm.plugins.module_utils import pachyderm_inputs, pachyderm_proxy

    for reader in (
        pachyderm_inputs.environment,
        pachyderm_inputs.service_type,
        pachyderm_inputs.storage_backend,
        pachyderm_inputs.mock_idp,
        pachyderm_inputs.http_node_port,
        pachyderm_inputs.https_node_port,
        pachyderm_inputs.tls_enabled,
        pachyderm_proxy.mode,
    ):
        with pytest.raises(InputError, match=r"^pachyderm_\w+: missing from the model inputs"):
            reader({})
