"""The kind scenario cannot run here (no Docker): its playbooks must still parse and resolve."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from support.paths import REPO

KIND = REPO / "molecule" / "kind"
PLAYBOOKS = ["create.yml", "converge.yml", "verify.yml", "destroy.yml"]


def _env(tmp_path: Path) -> dict:
    return dict(
        os.environ,
        MOLECULE_PROJECT_DIRECTORY=str(REPO),
        MOLECULE_SCENARIO_DIRECTORY=str(KIND),
        MOLECULE_EPHEMERAL_DIRECTORY=str(tmp_path),
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
    )


def _inventories() -> list[str]:
    return ["-i", str(REPO / "inventories" / "local"), "-i", str(KIND / "inventory")]


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_kind_scenario_playbook_passes_syntax_check(playbook, tmp_path):
    result = subprocess.run(
        ["ansible-playbook", "--syntax-check", *_inventories(), str(KIND / playbook)],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_kind_scenario_variables_resolve_to_real_chart_repositories(tmp_path):
    (tmp_path / "metallb_range").write_text("172.18.255.200-172.18.255.250")
    result = subprocess.run(
        ["ansible-inventory", *_inventories(), "--host", "sandbox"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        check=True,
    )
    host = json.loads(result.stdout)
    for name in ("pachyderm", "metallb", "cert_manager"):
        assert host[f"{name}_chart_repo_url"].startswith("https://"), name
        assert host[f"{name}_chart_version"], name
    assert host["oneport_platform"] == "metallb"


def test_kind_scenario_runs_the_same_sequence_as_the_sandbox_one():
    import yaml

    kind = yaml.safe_load((KIND / "molecule.yml").read_text())
    sandbox = yaml.safe_load((REPO / "molecule" / "sandbox" / "molecule.yml").read_text())
    assert kind["scenario"]["test_sequence"] == sandbox["scenario"]["test_sequence"]
    assert "idempotence" in kind["scenario"]["test_sequence"]
