"""The parity tables in docs/envoy-parity.md, read as the tests' expectations.

The first table (before any `##` heading) is the recorded-backend matrix; the section headed
`## Real Pachyderm` holds what real traffic does through each configuration in the sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass

from support.paths import REPO

TABLE = REPO / "docs" / "envoy-parity.md"
REAL_SECTION = "## Real Pachyderm"


@dataclass(frozen=True)
class Expectation:
    traffic: str
    reference: str
    ours: str
    why: str

    def expected(self, kind: str) -> str:
        return self.reference if kind in ("reference", "chart") else self.ours

    def allowed(self, kind: str) -> tuple[str, ...]:
        """The outcomes a cell allows: one, or each of "either A or B" where the outcome is a race."""
        cell = self.expected(kind)
        return tuple(cell.removeprefix("either ").split(" or ")) if cell.startswith("either ") else (cell,)


def _rows(section: str | None) -> list[list[str]]:
    """The cells of every table row in `section` (None: before the first `##` heading)."""
    inside = section is None
    rows = []
    for line in TABLE.read_text().splitlines():
        if line.startswith("## "):
            inside = section is not None and line.startswith(section)
            continue
        if inside and line.startswith("| ") and not line.startswith("| traffic "):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def expectations(section: str | None = None) -> dict[str, Expectation]:
    """Row name -> what each config must do with that traffic (the reference/chart column first)."""
    rows = {}
    for cells in _rows(section):
        traffic, reference, ours, why = cells
        rows[traffic] = Expectation(traffic, reference, ours, why)
    return rows


def real_expectations() -> dict[str, Expectation]:
    """The real-Pachyderm table: row name -> outcome through the chart's configuration and ours."""
    return expectations(REAL_SECTION)
