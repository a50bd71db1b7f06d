# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The contract between values and the chart that reads them, for any Helm chart.

A chart silently ignores a key it does not know, and its values.schema.json (when it has one) is often
lenient about unknown keys: a misspelt value renders, installs and does nothing. ``chart_problems``
checks values against the chart actually fetched (its schema and its values.yaml) before anything is
installed. Nothing here knows Pachyderm: every role that renders a chart can use it.
Plain Python, no Ansible imports (jsonschema is a run-time requirement of the collection).
"""

from __future__ import annotations


def _schema_declares(schema: dict, parts: list) -> bool:
    node = schema
    for part in parts:
        props = node.get("properties") if isinstance(node, dict) else None
        if not props or part not in props:
            return False
        node = props[part]
    return True


def unknown_paths(values: dict, chart_values: dict, schema: dict | None = None) -> list:
    """Key paths set in ``values`` that the chart does not declare.

    A path is known when values.yaml has it, when it sits under a free-form map that values.yaml
    leaves empty (annotations: {}), or when the schema names it explicitly (the chart reads a few
    keys, such as pachd.enterpriseLicenseKeySecretName, that values.yaml leaves out). The schema's
    tolerance of unknown keys is not enough: the chart silently ignores them.
    """
    problems = []

    def walk(ours, theirs, parts):
        for key, value in ours.items():
            path = [*parts, key]
            if isinstance(theirs, dict) and key in theirs:
                sub = theirs[key]
                if isinstance(value, dict) and isinstance(sub, dict) and sub:
                    walk(value, sub, path)
                continue
            if schema is not None and _schema_declares(schema, path):
                continue
            problems.append(".".join(path))

    walk(values, chart_values, [])
    return problems


def coalesce(chart_values: dict, values: dict) -> dict:
    """The values the chart renders with, as Helm coalesces them: ``values`` over the chart's values.yaml.

    Maps merge key by key, anything else replaces the chart's default, and a null removes the key.
    Helm checks values.schema.json against this result, so a key the schema requires and values.yaml
    already sets need not be repeated.
    """
    merged = dict(chart_values or {})
    for key, value in (values or {}).items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = coalesce(merged[key], value)
        else:
            merged[key] = value
    return merged


def schema_problems(values: dict, schema: dict) -> list:
    """jsonschema errors of ``values`` against the chart's values.schema.json, as readable lines."""
    import jsonschema  # a run-time requirement of the collection (requirements.txt)

    # Chart schemas often name the generic "http://json-schema.org/schema#"; read them as draft 7.
    known = jsonschema.validators.validator_for(schema, default=None) if schema.get("$schema") else None
    validator = (known or jsonschema.Draft7Validator)(schema)
    lines = []
    for error in sorted(validator.iter_errors(values), key=lambda e: list(e.absolute_path)):
        where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
        lines.append(f"{where}: {error.message}")
    return lines


def chart_problems(values: dict, schema: dict | None, chart_values: dict) -> list:
    """Schema errors of the coalesced values (none without a schema) plus key paths the chart does not
    declare; empty when the values are sound."""
    problems = schema_problems(coalesce(chart_values, values), schema) if schema else []
    problems += [
        f"{path}: not a key of this chart's values.yaml (the chart would ignore it)"
        for path in unknown_paths(values, chart_values, schema)
    ]
    return problems
