"""pachd's `/archive/` download URLs, as its console builds them.

pachd 2.12's archive server takes `/archive/<files>.zip`, where `<files>` is base64url (no padding) of
a version byte (1) followed by a zstd frame holding the sorted file references
(`project/repo@branch:/path`), each ended by a NUL byte. The token goes in the `authn-token` header or
query parameter, as for `/pfs/`.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable

VERSION = b"\x01"


def archive_path(references: Iterable[str]) -> str:
    """The URL path that downloads `references` (`project/repo@branch:/path`) as one ZIP file."""
    import zstandard

    listed = sorted(references)
    if not listed:
        raise ValueError("an archive needs at least one file reference")
    payload = b"".join(reference.encode() + b"\0" for reference in listed)
    encoded = base64.urlsafe_b64encode(VERSION + zstandard.ZstdCompressor().compress(payload))
    return f"/archive/{encoded.rstrip(b'=').decode()}.zip"


def references(path: str) -> list[str]:
    """The file references an `/archive/` path names (the inverse of `archive_path`)."""
    import zstandard

    name = path.removeprefix("/archive/").removesuffix(".zip")
    raw = base64.urlsafe_b64decode(name + "=" * (-len(name) % 4))
    if raw[:1] != VERSION:
        raise ValueError(f"unknown archive URL version {raw[:1]!r}")
    payload = zstandard.ZstdDecompressor().decompressobj().decompress(raw[1:])
    return [item.decode() for item in payload.split(b"\0") if item]
