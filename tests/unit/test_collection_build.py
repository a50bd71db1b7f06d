"""The collection tarball ships the collection and nothing of the development environment."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
import yaml

FORBIDDEN_PARTS = {".venv", ".build", ".ansible", "__pycache__", ".pytest_cache", ".ruff_cache", "bin"}


def built_tarball(repo: Path) -> Path:
    galaxy = yaml.safe_load((repo / "galaxy.yml").read_text())
    tarball = repo / "dist" / f"{galaxy['namespace']}-{galaxy['name']}-{galaxy['version']}.tar.gz"
    if not tarball.exists():
        pytest.skip("run `make build` first: no tarball in dist/")
    return tarball


def is_development_artefact(name: str) -> bool:
    parts = set(Path(name).parts)
    return (
        bool(FORBIDDEN_PARTS & parts) or name.startswith(("tests/output", "dist/")) or name.endswith(".pyc")
    )


def test_tarball_holds_no_environment_or_test_output(repo_root):
    with tarfile.open(built_tarball(repo_root)) as tf:
        names = tf.getnames()
    offenders = [
        n
        for n in names
        if FORBIDDEN_PARTS & set(Path(n).parts)
        or n.startswith(("tests/output", "dist/"))
        or n.endswith(".pyc")
    ]
    assert offenders == []


def test_tarball_carries_the_collection_parts(repo_root):
    with tarfile.open(built_tarball(repo_root)) as tf:
        names = set(tf.getnames())
    for required in ("MANIFEST.json", "FILES.json", "meta/runtime.yml", "README.md", "playbooks/site.yml"):
        assert required in names
    assert any(n.startswith("roles/") for n in names)
    assert any(n.startswith("plugins/module_utils/") for n in names)
