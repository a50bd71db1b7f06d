"""The playbook that configures AWX is valid, lint-clean, and hands AWX the objects as written.

No AWX runs here, so the playbook is not run against one; its checks are Ansible's own
(--syntax-check, ansible-lint's production profile) and a run of the same variables file through
Ansible that shows the credential type's injector templates reach the modules untouched (AWX, not
Ansible, must render `{{ tower.filename.kubeconfig }}`).
"""

from __future__ import annotations

import json
import subprocess

from support import awx_objects
from support.paths import REPO

PLAYBOOK = REPO / "awx" / "configure.yml"


def test_configuration_playbook_passes_syntax_check():
    result = subprocess.run(
        ["ansible-playbook", "--syntax-check", str(PLAYBOOK)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_configuration_playbook_passes_ansible_lint_production_profile():
    result = subprocess.run(
        ["ansible-lint", "--profile", "production", "--offline", "awx/"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_injector_templates_reach_awx_unrendered(tmp_path):
    out = tmp_path / "injectors.json"
    playbook = tmp_path / "show.yml"
    playbook.write_text(
        f"""---
- name: Show what awx/configure.yml passes as injectors
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{{{ ansible_playbook_python }}}}"
  vars_files:
    - {REPO / "awx" / "vars" / "controller.yml"}
  tasks:
    - name: Write the injectors as the credential_type module receives them
      ansible.builtin.copy:
        content: "{{{{ oneport_awx_credential_type_injectors | to_json }}}}"
        dest: {out}
        mode: "0600"
"""
    )
    result = subprocess.run(
        ["ansible-playbook", "-i", "localhost,", str(playbook)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        json.loads(out.read_text()) == awx_objects.controller_vars()["oneport_awx_credential_type_injectors"]
    )
    assert json.loads(out.read_text())["env"]["KUBECONFIG"] == "{{ tower.filename.kubeconfig }}"
