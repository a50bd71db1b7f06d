"""Where things are: the checkout, its bin/ tools, and the reference data, without machine paths."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = REPO / "bin"

# tools/ (the sandbox, the chart repository) is imported by the tests as the `tools` package.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def bin_tool(name: str) -> Path:
    """A tool `make setup` links into bin/ (it may be missing: check `.exists()` where that matters)."""
    return BIN / name


def find_reference_dir() -> Path | None:
    """ONEPORT_REFERENCE_DIR, else ../shared/reference beside the checkout, else None.

    A set ONEPORT_REFERENCE_DIR that holds no charts/index.yaml raises an error saying to point it at
    the reference folder or unset it.
    """
    from tools.sandbox import chart_repo

    return chart_repo.reference_dir()
