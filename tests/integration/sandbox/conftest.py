"""A sandbox cluster of its own for these tests, in a temporary state directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support.paths import REPO
from support.sandboxes import running

from tools.sandbox import Sandbox


def sandbox_binaries_missing() -> list[str]:
    return [
        name for name in ("kube", "etcd", "kwok", "metallb-controller") if not (REPO / "bin" / name).exists()
    ]


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    missing = sandbox_binaries_missing()
    if missing:
        pytest.fail(f"sandbox binaries missing from bin/: {', '.join(missing)}; run `make setup`")
    # A short path: the state directory appears in every component's command line.
    root = Path(tmp_path_factory.mktemp("sandbox"))
    # Pachyderm's pods on kwok's node: these tests check the roles' logic (idempotence, check mode,
    # upgrades, failures), not traffic, which test_real_pachyderm.py proves on a sandbox of its own.
    with running(Sandbox(root, pachyderm="fake")) as box:
        yield box


@pytest.fixture(scope="session")
def chart_repo_url(sandbox) -> str:
    """The sandbox's chart repository: the real published charts, served on loopback."""
    return sandbox.chart_repo_url


@pytest.fixture(scope="module")
def local_inventory_on_sandbox(sandbox):
    """Point inventories/local (and so every playbook run of the module) at this sandbox and its charts."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ONEPORT_SANDBOX_DIR", str(sandbox.root))
        yield sandbox


@pytest.fixture
def sandbox_env(sandbox) -> dict:
    """The environment a playbook needs to act on this sandbox and its chart repository."""
    return dict(os.environ, ONEPORT_SANDBOX_DIR=str(sandbox.root), KUBECONFIG=str(sandbox.kubeconfig))
