#!/usr/bin/env python
"""Unpack one pinned binary from a downloaded archive inside the execution-environment build.

Usage: extract_binary.py ARCHIVE TARGET SHA256 MEMBER [MEMBER ...]

Each MEMBER opens the next archive (zip, wheel or tar) down to the binary; the binary's sha256 must
equal SHA256 or nothing is written. Standard library only: it runs in the bare builder stage.
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
import tarfile
import tempfile
import zipfile


def open_member(blob: bytes, member: str) -> bytes:
    """Read one member out of a zip or tar archive held in memory."""
    if zipfile.is_zipfile(io.BytesIO(blob)):
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            return archive.read(member)
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:*") as archive:
        extracted = archive.extractfile(member)
        if extracted is None:
            raise SystemExit(f"{member} is not a regular file in the archive")
        return extracted.read()


def main(argv: list[str]) -> int:
    if len(argv) < 4:
        raise SystemExit(__doc__)
    archive, target, expected, *members = argv
    with open(archive, "rb") as handle:
        blob = handle.read()
    for member in members:
        blob = open_member(blob, member)
    actual = hashlib.sha256(blob).hexdigest()
    if actual != expected:
        raise SystemExit(f"sha256 mismatch for {target}: expected {expected}, got {actual}; not installed")
    directory = os.path.dirname(os.path.abspath(target))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory)
    with os.fdopen(fd, "wb") as handle:
        handle.write(blob)
    os.chmod(tmp, 0o755)  # noqa: S103 - an executable for every user of the image
    os.replace(tmp, target)
    print(f"{target}: sha256 {actual} verified")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
