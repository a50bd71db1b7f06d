"""Fixtures shared by every test suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def find_reference_dir() -> Path:
    """The shared reference data: ../shared/reference beside the checkout, or ONEPORT_REFERENCE_DIR."""
    candidates = [
        os.environ.get("ONEPORT_REFERENCE_DIR"),
        REPO.parent / "shared" / "reference",
        "/work/shared/reference",
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "pachyderm" / "values.schema.json").is_file():
            return Path(candidate)
    raise RuntimeError(
        "reference data not found: put the shared/ folder beside the checkout or set ONEPORT_REFERENCE_DIR"
    )


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    return find_reference_dir()
