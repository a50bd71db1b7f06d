"""Every cluster of every inventory under inventories/ gets Pachyderm values the reference chart accepts."""

from __future__ import annotations

import functools
import importlib
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from ansible.vars.manager import VariableManager
from support.crd_schemas import crd_schemas
from support.paths import REPO

from ansible_collections.oneport.pachyderm.plugins.module_utils import pachyderm_inputs
from ansible_collections.oneport.pachyderm.plugins.module_utils import pachyderm_values as model

ROLE = REPO / "roles" / "pachyderm"
INVENTORY_DIRS = sorted(p.parent for p in (REPO / "inventories").rglob("hosts.yml"))


@dataclass(frozen=True)
class Cluster:
    """One host of an inventory's clusters group: one Kubernetes cluster."""

    inventory: Path
    host: str

    def __str__(self) -> str:
        return f"{self.inventory.relative_to(REPO / 'inventories')}/{self.host}"


def clusters_of(inventory: Path) -> list:
    manager = InventoryManager(loader=DataLoader(), sources=[str(inventory)])
    return [Cluster(inventory, host.name) for host in manager.groups["clusters"].get_hosts()]


INVENTORIES = [cluster for inventory in INVENTORY_DIRS for cluster in clusters_of(inventory)]


def trusted(value):
    if isinstance(value, dict):
        return {k: trusted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [trusted(v) for v in value]
    return trust_as_template(value) if isinstance(value, str) else value


def role_template(cluster: Cluster, role: str, expression):
    """``expression`` templated as ``role`` would see it for ``cluster`` (its inventory host)."""
    loader = DataLoader()
    manager = InventoryManager(loader=loader, sources=[str(cluster.inventory)])
    variables = VariableManager(loader=loader, inventory=manager)
    host_vars = variables.get_vars(host=manager.get_host(cluster.host))
    # The role's own files are trusted templates, as in a real run; the globals role's defaults come
    # first (every role depends on it).
    role_dir = REPO / "roles" / role
    role_vars = trusted(yaml.safe_load((REPO / "roles" / "oneport" / "defaults" / "main.yml").read_text()))
    role_vars.update(trusted(yaml.safe_load((role_dir / "defaults" / "main.yml").read_text())))
    role_vars.update(host_vars)
    if (role_dir / "vars" / "main.yml").is_file():
        role_vars.update(trusted(yaml.safe_load((role_dir / "vars" / "main.yml").read_text())))
    templar = Templar(loader=loader, variables=role_vars)
    return json.loads(json.dumps(templar.template(trusted(expression))))


@functools.cache
def role_inputs(inventory: Cluster) -> dict:
    """The values-model inputs the pachyderm role computes for one cluster of an inventory."""
    return role_template(inventory, "pachyderm", "{{ _pachyderm_inputs }}")


def role_plan(inventory: Cluster, role: str, task_file: str, fact: str):
    """What ``role``'s set_fact of ``fact`` computes: its own input template, then its own filter."""
    for task in yaml.safe_load((REPO / "roles" / role / "tasks" / task_file).read_text()):
        expression = task.get("ansible.builtin.set_fact", {}).get(fact)
        if expression:
            break
    else:
        raise LookupError(f"{role}/tasks/{task_file} sets no {fact}")
    inputs, _pipe, filter_name = expression.strip().removesuffix("}}").rpartition("| oneport.pachyderm.")
    config = role_template(inventory, role, inputs + "}}")
    return collection_filter(filter_name.strip())(config)


def collection_filter(name: str):
    """A filter of this collection by name, from the plugin that registers it."""
    for path in sorted((REPO / "plugins" / "filter").glob("*.py")):
        module = importlib.import_module(f"ansible_collections.oneport.pachyderm.plugins.filter.{path.stem}")
        found = getattr(module, "FilterModule", None)
        if found and name in found().filters():
            return found().filters()[name]
    raise LookupError(f"no filter {name}")


@pytest.fixture(scope="module")
def chart(reference_dir):
    base = reference_dir / "pachyderm"
    return (
        json.loads((base / "values.schema.json").read_text()),
        yaml.safe_load((base / "values.yaml").read_text()),
    )


def test_every_shape_has_an_inventory():
    names = {str(p.relative_to(REPO / "inventories")) for p in INVENTORY_DIRS}
    assert {"local", "kind", "onprem", "prod"} <= names


def test_prod_is_one_fleet_with_a_cluster_per_platform():
    platforms = {role_inputs(c)["platform"] for c in INVENTORIES if str(c).startswith("prod/")}
    assert platforms == {"aws", "gcp", "azure"}
    hosts = [
        role_template(c, "pachyderm", "{{ pachyderm_proxy_host }}")
        for c in INVENTORIES
        if str(c).startswith("prod/")
    ]
    assert len(hosts) == len(set(hosts)) == 3


@pytest.mark.parametrize("inventory", INVENTORIES, ids=str)
def test_inventory_values_fit_the_reference_chart(inventory, chart):
    schema, chart_values = chart
    inputs = role_inputs(inventory)
    pinned = model.pin(None, model.pinned_keys(inputs))["values"]
    values = model.build_values(inputs, pinned)
    assert model.chart_problems(values, schema, chart_values) == []


@pytest.mark.parametrize("inventory", INVENTORIES, ids=str)
def test_inventory_outside_a_sandbox_keeps_the_mock_idp_off(inventory):
    inputs = role_inputs(inventory)
    if pachyderm_inputs.environment(inputs) == "production":
        pinned = model.pin(None, model.pinned_keys(inputs))["values"]
        assert model.build_values(inputs, pinned)["oidc"]["mockIDP"] is False


METALLB_INVENTORIES = [p for p in INVENTORIES if role_inputs(p)["platform"] == "metallb"]
TLS_INVENTORIES = [
    p for p in INVENTORIES if role_inputs(p)["tls"] in ("self_signed", "acme_http01", "acme_dns01")
]


@pytest.mark.parametrize("inventory", METALLB_INVENTORIES, ids=str)
def test_inventory_metallb_objects_fit_the_crds(inventory, reference_dir):
    import jsonschema

    schemas = crd_schemas(reference_dir / "crds" / "metallb-v0.16.1")
    objects = role_plan(inventory, "metallb", "validate.yml", "_metallb_objects")
    assert objects
    for obj in objects:
        jsonschema.Draft7Validator(schemas[(obj["apiVersion"], obj["kind"])]).validate(obj)
    pools = {o["metadata"]["name"] for o in objects if o["kind"] == "IPAddressPool"}
    assert role_inputs(inventory)["metallb_address_pool"] in pools


@pytest.mark.parametrize("inventory", TLS_INVENTORIES, ids=str)
def test_inventory_cert_manager_objects_fit_the_crds(inventory, reference_dir):
    import jsonschema

    schemas = crd_schemas(reference_dir / "crds" / "cert-manager-v1.21.1")
    plan = role_plan(inventory, "cert_manager", "validate.yml", "_cert_manager_plan")
    objects = plan["issuers"] + ([plan["certificate"]] if plan.get("certificate") else [])
    assert objects
    for obj in objects:
        jsonschema.Draft7Validator(schemas[(obj["apiVersion"], obj["kind"])]).validate(obj)
    assert plan["certificate"]["spec"]["secretName"] == role_inputs(inventory)["tls_secret_name"]
