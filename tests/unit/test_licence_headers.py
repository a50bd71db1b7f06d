"""Every plugin file names its copyright holder and licence at the top, as galaxy.yml declares it."""

from __future__ import annotations

import pytest
from support.paths import REPO

HEADER = (
    "# Copyright: oneport.pachyderm contributors\n"
    "# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)\n"
)
PLUGINS = sorted(path.relative_to(REPO) for path in (REPO / "plugins").rglob("*.py"))


def test_there_are_plugins_to_check():
    assert len(PLUGINS) > 20


@pytest.mark.parametrize("path", PLUGINS, ids=str)
def test_the_plugin_starts_with_the_licence_header(path):
    text = (REPO / path).read_text()
    if text.startswith("#!"):
        text = text.split("\n", 1)[1]
    assert text.startswith(HEADER), f"{path}: start it with\n{HEADER}"
