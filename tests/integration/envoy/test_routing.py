"""The one port routes every kind of traffic to the right backend, proven by the backend's record."""

from __future__ import annotations

import pytest
from harness.matrix import ROWS


@pytest.mark.parametrize(("row", "send"), ROWS, ids=[row.name for row, _ in ROWS])
def test_reference_config_routes_request_to_backend(row, send, reference_proxy, traffic):
    assert send(reference_proxy, traffic) == row.reference


@pytest.mark.parametrize(("row", "send"), ROWS, ids=[row.name for row, _ in ROWS])
def test_our_config_routes_request_to_backend(row, send, our_proxy, traffic):
    assert send(our_proxy, traffic) == row.ours
