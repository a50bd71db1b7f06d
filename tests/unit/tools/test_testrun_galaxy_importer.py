"""The galaxy-importer stage fails on what galaxy-importer logs as an error, though it exits 0."""

from __future__ import annotations

from pathlib import Path

from tools.testrun import importer_errors

REPO = Path(__file__).resolve().parents[3]

LOG = """Importing with galaxy-importer 0.4.44
Getting doc strings via ansible-doc
ERROR: Error running ansible-doc: cmd="ansible-doc --type filter oneport.pachyderm.k8s_applied"
b'[ERROR]: filter oneport.pachyderm.helm_render_mark Missing documentation'
Finding content inside collection
WARNING: Ignore files skip ansible-test sanity tests, found ignore-2.19.txt with 5 statement(s)
WARNING: roles/pachyderm:1: internal-error: an ERROR: inside a warning
CRITICAL: something worse
Collection loading complete
Importer processing completed successfully
"""


def test_the_error_lines_are_those_logged_at_error_or_critical_level():
    assert importer_errors(LOG) == [
        'ERROR: Error running ansible-doc: cmd="ansible-doc --type filter oneport.pachyderm.k8s_applied"',
        "CRITICAL: something worse",
    ]


def test_a_clean_import_with_warnings_has_no_error_lines():
    clean = "\n".join(line for line in LOG.splitlines() if not line.startswith(("ERROR:", "CRITICAL:")))
    assert importer_errors(clean) == []


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        name, sep, version = line.partition("==")
        if sep and not line.startswith("#"):
            found[name.strip().lower().replace("_", "-")] = version.strip()
    return found


def test_its_environment_checks_with_the_ansible_the_collection_is_developed_with():
    importer = pins(REPO / "requirements-galaxy-importer.txt")
    dev = pins(REPO / "requirements-dev.txt")
    assert "galaxy-importer" in importer
    for name in ("ansible-core", "ansible-lint", "ansible-builder"):
        assert importer[name] == dev[name], (
            f"{name}: {importer[name]} here, {dev[name]} in requirements-dev.txt"
        )


def test_every_package_of_its_environment_is_pinned():
    lines = (REPO / "requirements-galaxy-importer.txt").read_text().splitlines()
    unpinned = [line for line in lines if line.strip() and not line.startswith("#") and "==" not in line]
    assert unpinned == []
