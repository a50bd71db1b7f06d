"""The parity table in docs/envoy-parity.md, read as the tests' expectations."""

from __future__ import annotations

from dataclasses import dataclass

from support.paths import REPO

TABLE = REPO / "docs" / "envoy-parity.md"


@dataclass(frozen=True)
class Expectation:
    traffic: str
    reference: str
    ours: str
    why: str

    def expected(self, kind: str) -> str:
        return self.reference if kind == "reference" else self.ours


def expectations() -> dict[str, Expectation]:
    """Row name -> what each config must do with that traffic."""
    rows = {}
    for line in TABLE.read_text().splitlines():
        if not line.startswith("| ") or line.startswith("| traffic "):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        traffic, reference, ours, why = cells
        rows[traffic] = Expectation(traffic, reference, ours, why)
    return rows
