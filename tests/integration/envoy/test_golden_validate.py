"""Every golden bootstrap (tests/golden/envoy/, see tests/unit/test_golden_envoy.py) passes the pinned
Envoy's validate mode: the files as kept, only the directories they read moved into the test's own.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from support.certs import TestCA
from support.envoy import validate
from support.golden import GOLDEN

GOLDENS = sorted((GOLDEN / "envoy").glob("*.yaml"))
# The directories the configs read: the edge host's config dir, the pod's ConfigMap and Secret mounts.
MOUNTS = {"/etc/oneport/envoy": "edge", "/etc/envoy": "etc-envoy", "/tls": "tls"}


def moved(text: str, workdir: Path) -> str:
    for mount, local in MOUNTS.items():
        text = text.replace(f'"{mount}/', f'"{workdir / local}/').replace(
            f'"{mount}"', f'"{workdir / local}"'
        )
    return text


@pytest.fixture(scope="module")
def certificate() -> tuple[bytes, bytes]:
    cert, key, _serial = TestCA().issue(names=("pachyderm.example.com",), ips=())
    return cert, key


def test_there_are_golden_bootstraps():
    assert len(GOLDENS) >= 6


@pytest.mark.parametrize("golden", GOLDENS, ids=[p.stem for p in GOLDENS])
def test_golden_bootstrap_passes_envoy_validate(golden, certificate, tmp_path):
    files = yaml.safe_load(golden.read_text())
    bootstrap = moved(json.dumps(files["envoy.json"]), tmp_path)
    config_dir = tmp_path / ("edge" if "/etc/oneport/envoy" in json.dumps(files) else "etc-envoy")
    for directory in (config_dir, config_dir / "tls", tmp_path / "tls"):
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "tls.crt").write_bytes(certificate[0])
        (directory / "tls.key").write_bytes(certificate[1])
    for name, document in files.items():
        (config_dir / name).write_text(moved(json.dumps(document), tmp_path))
    config = config_dir / "envoy.json"
    assert config.read_text() == bootstrap

    result = validate(config, "-l", "warning")

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"configuration '{config}' OK" in output
    assert "][warning][" not in output, output
