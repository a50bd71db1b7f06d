"""A sandbox cluster of its own for these tests, in a temporary state directory."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tools.sandbox import Sandbox  # noqa: E402
from tools.sandbox.charts import build_all  # noqa: E402


def sandbox_binaries_missing() -> list[str]:
    return [
        name for name in ("kube", "etcd", "kwok", "metallb-controller") if not (REPO / "bin" / name).exists()
    ]


@pytest.fixture(scope="session")
def charts_dir(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("charts")
    build_all(dest)
    return dest


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    missing = sandbox_binaries_missing()
    if missing:
        pytest.fail(f"sandbox binaries missing from bin/: {', '.join(missing)}; run `make setup`")
    # A short path: the state directory appears in every component's command line.
    root = Path(tmp_path_factory.mktemp("sandbox"))
    box = Sandbox(root)
    try:
        box.up(log=lambda msg: print(f"[sandbox] {msg}"))
        yield box
    finally:
        box.down(log=lambda msg: print(f"[sandbox] {msg}"))


@pytest.fixture(scope="module")
def local_inventory_on_sandbox(sandbox, charts_dir):
    """Point inventories/local (and so every playbook run of the module) at this sandbox and charts."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ONEPORT_SANDBOX_DIR", str(sandbox.root))
        patch.setenv("ONEPORT_CHARTS_DIR", str(charts_dir))
        yield sandbox


@pytest.fixture
def sandbox_env(sandbox, charts_dir) -> dict:
    """The environment a playbook needs to act on this sandbox with these charts."""
    return dict(
        os.environ,
        ONEPORT_SANDBOX_DIR=str(sandbox.root),
        ONEPORT_CHARTS_DIR=str(charts_dir),
        KUBECONFIG=str(sandbox.kubeconfig),
    )
