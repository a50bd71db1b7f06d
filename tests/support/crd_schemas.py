"""Check Kubernetes objects against the openAPIV3Schema of real CRDs (the reference data)."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import yaml


def crd_schemas(directory: Path) -> dict:
    """(apiVersion, kind) -> openAPIV3Schema for every served version of every CRD in the folder."""
    schemas = {}
    for path in sorted(directory.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if version.get("served"):
                schemas[(f"{group}/{version['name']}", kind)] = version["schema"]["openAPIV3Schema"]
    return schemas


def assert_valid(objects: list, schemas: dict) -> None:
    """Each object matches its CRD schema, and declares no field the schema would prune silently."""
    assert objects
    for obj in objects:
        schema = schemas[(obj["apiVersion"], obj["kind"])]
        jsonschema.Draft7Validator(schema).validate(obj)
        assert_declared(obj["spec"], schema["properties"]["spec"], f"{obj['kind']}.spec")


def assert_declared(value, schema: dict, path: str) -> None:
    if isinstance(value, dict) and "properties" in schema:
        for key, item in value.items():
            assert key in schema["properties"], f"{path}.{key} is not in the CRD schema"
            assert_declared(item, schema["properties"][key], f"{path}.{key}")
    elif isinstance(value, list) and "items" in schema:
        for item in value:
            assert_declared(item, schema["items"], f"{path}[]")
