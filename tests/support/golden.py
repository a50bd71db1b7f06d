"""Golden files: a render kept in the tree, so a change to it reads as a diff in review.

A test compares what it renders with the file; on a mismatch it fails with a unified diff and says how
to regenerate. `make golden` (or ONEPORT_UPDATE_GOLDEN=1 on the test run) rewrites the files instead.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import yaml

from support.paths import REPO

GOLDEN = REPO / "tests" / "golden"
UPDATE = "ONEPORT_UPDATE_GOLDEN"


class _Dumper(yaml.SafeDumper):
    """Block style with indented sequences (what yamllint asks of the tree)."""

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)


def dump(document) -> str:
    """The stable text of a document: keys sorted, block style, long strings unfolded."""
    return "---\n" + yaml.dump(document, Dumper=_Dumper, sort_keys=True, width=1_000_000, allow_unicode=True)


def updating() -> bool:
    return os.environ.get(UPDATE, "") not in ("", "0")


def assert_golden(path: Path, document) -> None:
    """The document's text equals the golden file (or, when updating, becomes it)."""
    text = dump(document)
    if updating():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return
    relative = path.relative_to(REPO)
    if not path.exists():
        raise AssertionError(f"{relative} does not exist: run `make golden` to write it, then review it")
    kept = path.read_text()
    if kept != text:
        diff = "".join(
            difflib.unified_diff(
                kept.splitlines(keepends=True),
                text.splitlines(keepends=True),
                f"{relative} (kept)",
                f"{relative} (rendered now)",
            )
        )
        raise AssertionError(
            f"the render differs from {relative}:\n{diff}\n"
            f"If the change is intended, run `make golden` ({UPDATE}=1) and commit the new file."
        )
