"""Fixtures shared by every test suite."""

from __future__ import annotations

import os
import sys
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


@pytest.fixture(scope="session")
def checkout_sandbox():
    """This checkout's running sandbox (`make cluster-up`), or a skip that names the command.

    Running means every component answers its health check: a kubeconfig left behind by a stopped
    sandbox does not count.
    """
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from tools.sandbox import Sandbox

    sandbox = Sandbox()
    if not sandbox.running():
        pytest.skip("the sandbox is not running: `make cluster-up` first")
    return sandbox
