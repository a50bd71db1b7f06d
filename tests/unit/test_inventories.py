"""Every inventory under inventories/ produces Pachyderm values the reference chart accepts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from ansible.vars.manager import VariableManager

from ansible_collections.oneport.pachyderm.plugins.module_utils import pachyderm_values as model

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "pachyderm"
INVENTORIES = sorted(p.parent for p in (REPO / "inventories").rglob("hosts.yml"))


def trusted(value):
    if isinstance(value, dict):
        return {k: trusted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [trusted(v) for v in value]
    return trust_as_template(value) if isinstance(value, str) else value


def role_inputs(inventory: Path) -> dict:
    """The values-model inputs the pachyderm role computes for localhost of ``inventory``."""
    loader = DataLoader()
    manager = InventoryManager(loader=loader, sources=[str(inventory)])
    variables = VariableManager(loader=loader, inventory=manager)
    host_vars = variables.get_vars(host=manager.get_host("localhost"))
    # The role's own files are trusted templates, as in a real run.
    role_vars = trusted(yaml.safe_load((ROLE / "defaults" / "main.yml").read_text()))
    role_vars.update(host_vars)
    role_vars.update(trusted(yaml.safe_load((ROLE / "vars" / "main.yml").read_text())))
    templar = Templar(loader=loader, variables=role_vars)
    return json.loads(json.dumps(templar.template(role_vars["_pachyderm_inputs"])))


@pytest.fixture(scope="module")
def chart(reference_dir):
    base = reference_dir / "pachyderm"
    return (
        json.loads((base / "values.schema.json").read_text()),
        yaml.safe_load((base / "values.yaml").read_text()),
    )


def test_every_shape_has_an_inventory():
    names = {str(p.relative_to(REPO / "inventories")) for p in INVENTORIES}
    assert {"local", "kind", "onprem", "prod/aws", "prod/gcp", "prod/azure"} <= names


@pytest.mark.parametrize("inventory", INVENTORIES, ids=lambda p: str(p.relative_to(REPO / "inventories")))
def test_inventory_values_fit_the_reference_chart(inventory, chart):
    schema, chart_values = chart
    inputs = role_inputs(inventory)
    pinned = model.pin(None, model.pinned_keys(inputs))["values"]
    values = model.build_values(inputs, pinned)
    assert model.chart_problems(values, schema, chart_values) == []


@pytest.mark.parametrize("inventory", INVENTORIES, ids=lambda p: str(p.relative_to(REPO / "inventories")))
def test_inventory_outside_a_sandbox_keeps_the_mock_idp_off(inventory):
    inputs = role_inputs(inventory)
    if model.environment(inputs) == "production":
        pinned = model.pin(None, model.pinned_keys(inputs))["values"]
        assert model.build_values(inputs, pinned)["oidc"]["mockIDP"] is False
