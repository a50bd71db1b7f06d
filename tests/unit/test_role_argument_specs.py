"""Every role documents each of its variables once, typed, and in step with its defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from support.paths import REPO

ROLES = (
    sorted(p for p in (REPO / "roles").iterdir() if (p / "tasks").is_dir())
    if (REPO / "roles").is_dir()
    else []
)


def load(path: Path):
    return yaml.safe_load(path.read_text()) or {}


def main_options(role: Path) -> dict:
    specs = load(role / "meta" / "argument_specs.yml").get("argument_specs", {})
    assert "main" in specs, f"{role.name}: meta/argument_specs.yml has no 'main' entry point"
    return specs["main"].get("options", {})


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_defaults_and_argument_specs_name_the_same_variables(role):
    defaults = load(role / "defaults" / "main.yml")
    options = main_options(role)
    assert sorted(set(defaults) - set(options)) == [], "defaults missing from meta/argument_specs.yml"
    assert sorted(set(options) - set(defaults)) == [], "argument_specs options without a default"


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_spec_defaults_equal_the_role_defaults(role):
    defaults = load(role / "defaults" / "main.yml")
    for name, spec in main_options(role).items():
        if "default" in spec:
            assert spec["default"] == defaults.get(name), f"{role.name}: {name} default differs"


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_every_variable_is_role_prefixed_typed_and_described(role):
    for name, spec in main_options(role).items():
        assert name.startswith(role.name + "_"), f"{name} is not prefixed with {role.name}_"
        assert spec.get("type"), f"{role.name}: {name} has no type"
        assert spec.get("description"), f"{role.name}: {name} has no description"


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_every_role_has_a_readme_naming_its_variables(role):
    readme = (role / "README.md").read_text()
    missing = [name for name in main_options(role) if name not in readme]
    assert missing == [], f"{role.name}/README.md does not mention {missing}"


def test_every_tls_choice_list_is_the_models_one_list():
    """The TLS modes are decided once (inputs.TLS_MODES); an argument spec lists them as documentation,
    so every list of them must be that list (cert_manager's: every mode but off, which skips it)."""
    from ansible_collections.oneport.pachyderm.plugins.module_utils.inputs import CERTIFICATE_MODES, TLS_MODES

    found = {}
    for role in ROLES:
        for name, spec in main_options(role).items():
            choices = spec.get("choices") or []
            if set(choices) & set(TLS_MODES):
                found[name] = list(choices)
    assert found == {
        "cert_manager_tls": list(CERTIFICATE_MODES),
        "oneport_tls": list(TLS_MODES),
        "pachyderm_tls": list(TLS_MODES),
    }
