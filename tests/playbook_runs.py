"""Run one of the collection's playbooks for real against localhost and read its recap."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent


def run_playbook(playbook: str, variables: dict, tmp: Path, *extra: str) -> subprocess.CompletedProcess:
    """ansible-playbook -i inventories/local <playbook>, ``variables`` passed as an extra-vars file."""
    vars_file = tmp / "vars.yml"
    vars_file.write_text(yaml.safe_dump(variables))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", str(REPO / ".build" / "collections"))
    env.setdefault("HELM_PLUGINS", str(REPO / ".build" / "helm" / "plugins"))
    inventory = str(REPO / "inventories" / "local")
    return subprocess.run(
        ["ansible-playbook", "-i", inventory, str(REPO / playbook), "-e", f"@{vars_file}", *extra],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def changed(result: subprocess.CompletedProcess) -> int:
    """The recap's changed count for localhost (fails the test with the output when there is none)."""
    match = re.search(r"localhost\s*:\s*ok=\d+\s+changed=(\d+)", result.stdout)
    assert match, result.stdout[-3000:] + result.stderr[-2000:]
    return int(match.group(1))
