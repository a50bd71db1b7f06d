"""A test's own sandbox: started, handed over, and always stopped, in one place."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def running(box, label: str = "sandbox", quiet: bool = False) -> Iterator:
    """Start `box` (a tools.sandbox.Sandbox), yield it, and stop it however the block ends.

    Its progress lines are printed with `[label]` in front (shown with `pytest -s`), or dropped when quiet.
    """

    def say(message: str) -> None:
        if not quiet:
            print(f"[{label}] {message}")

    try:
        box.up(log=say)
        yield box
    finally:
        box.down(log=say)
