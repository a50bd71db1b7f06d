"""Fixtures shared by every test suite; the helpers themselves live in tests/support/."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible.plugins.loader import init_plugin_loader
from support.paths import REPO, bin_tool, find_reference_dir
from support.reference_data import assemble_from_charts

# As ansible-playbook does before anything else: lookups in inventory values (the local inventory reads
# the sandbox's files) then resolve in the tests that template them, and the collection's modules load
# through Ansible's collection finder, as in a run.
init_plugin_loader()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def reference_dir(tmp_path_factory) -> Path:
    """The reference data (see tests/support/reference_data.py): found beside the checkout, or assembled."""
    found = find_reference_dir()
    if found is not None:
        return found
    helm = bin_tool("helm")
    return assemble_from_charts(tmp_path_factory.mktemp("reference"), str(helm) if helm.exists() else "helm")
