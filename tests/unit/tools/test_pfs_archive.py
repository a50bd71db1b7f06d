"""The `/archive/` URL encoding the sandbox's tests use, against pachd's own encoder's outputs."""

from __future__ import annotations

import pytest
from support.pfs_archive import archive_path, references

# Paths pachd 2.12's Go encoder (klauspost zstd) produced for these references: a URL the console would
# build must decode here, and one built here must carry the same references.
PACHD_ENCODED = {
    "ASi1L_0EAMEAAGRlZmF1bHQvaW1hZ2VzQG1hc3RlcjovAGmFDFc": ["default/images@master:/"],
    "ASi1L_0EAK0BALQCZGVmYXVsdC9pbWFnZXNAbWFzdGVyOi8AbW9udGFnZW1vbnRhZ2UucG5nAAIQBFwMS4wBy2xQ2w": [
        "default/images@master:/",
        "default/montage@master:/montage.png",
    ],
}


@pytest.mark.parametrize("encoded", sorted(PACHD_ENCODED))
def test_urls_pachd_encodes_decode_to_their_references(encoded):
    assert references(f"/archive/{encoded}.zip") == PACHD_ENCODED[encoded]


def test_a_url_built_here_names_its_references_sorted_as_pachd_expects():
    path = archive_path(["default/montage@master:/montage.png", "default/images@master:/"])
    assert path.startswith("/archive/AS") and path.endswith(".zip") and "=" not in path
    assert references(path) == ["default/images@master:/", "default/montage@master:/montage.png"]


def test_an_empty_archive_is_refused_before_any_request():
    with pytest.raises(ValueError, match="at least one file"):
        archive_path([])
