"""`ansible-doc` documents every plugin and role of the collection by its fully qualified name."""

from __future__ import annotations

import subprocess

import pytest
from support.paths import REPO


def plugin_names(kind: str, suffix: str) -> list[str]:
    folder = REPO / "plugins" / kind
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob(f"*{suffix}") if not p.name.startswith("_"))


CASES = (
    [("module", name) for name in plugin_names("modules", ".py")]
    + [("filter", name) for name in plugin_names("filter", ".yml")]
    + [("role", p.parents[1].name) for p in sorted((REPO / "roles").glob("*/meta/argument_specs.yml"))]
)


@pytest.mark.parametrize(("kind", "name"), CASES, ids=[f"{k}:{n}" for k, n in CASES])
def test_ansible_doc_renders(kind, name):
    fqcn = f"oneport.pachyderm.{name}"
    result = subprocess.run(["ansible-doc", "-t", kind, fqcn], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "" or "WARNING" not in result.stderr, result.stderr
    assert fqcn in result.stdout or name in result.stdout
