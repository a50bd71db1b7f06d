"""Byte relays between TCP and Unix-socket endpoints (asyncio), shared by the sandbox's network helpers.

An endpoint is written `unix:/path/to.sock` or `tcp:HOST:PORT`. Only loopback TCP addresses are
accepted: the sandbox never opens a connection that could leave the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
from dataclasses import dataclass

# sockaddr_un.sun_path is 108 bytes including the terminating NUL.
MAX_UNIX_PATH = 107


@dataclass(frozen=True)
class Endpoint:
    kind: str  # "unix" or "tcp"
    path: str = ""
    host: str = ""
    port: int = 0

    def __str__(self) -> str:
        return f"unix:{self.path}" if self.kind == "unix" else f"tcp:{self.host}:{self.port}"


def parse_endpoint(text: str) -> Endpoint:
    """`unix:/abs/path` or `tcp:127.x.y.z:PORT` (loopback only); raises ValueError naming the problem."""
    if text.startswith("unix:"):
        path = text[len("unix:") :]
        if not os.path.isabs(path):
            raise ValueError(f"{text!r}: a Unix socket path must be absolute")
        if len(path.encode()) > MAX_UNIX_PATH:
            raise ValueError(
                f"{text!r}: Unix socket paths are limited to {MAX_UNIX_PATH} bytes; "
                "use a shorter sandbox directory (ONEPORT_SANDBOX_DIR)"
            )
        return Endpoint("unix", path=path)
    if text.startswith("tcp:"):
        host, _sep, port = text[len("tcp:") :].rpartition(":")
        host = host.strip("[]")
        try:
            address = ipaddress.ip_address(host)
            number = int(port)
        except ValueError as err:
            raise ValueError(f"{text!r}: expected tcp:IP:PORT ({err})") from None
        if not address.is_loopback:
            raise ValueError(f"{text!r}: only loopback addresses are allowed in the sandbox")
        if not 0 < number < 65536:
            raise ValueError(f"{text!r}: port out of range")
        return Endpoint("tcp", host=str(address), port=number)
    raise ValueError(f"{text!r}: an endpoint is unix:/path or tcp:IP:PORT")


async def open_endpoint(endpoint: Endpoint):
    if endpoint.kind == "unix":
        return await asyncio.open_unix_connection(endpoint.path)
    return await asyncio.open_connection(endpoint.host, endpoint.port)


async def serve_endpoint(endpoint: Endpoint, handler):
    if endpoint.kind == "unix":
        with contextlib.suppress(FileNotFoundError):
            os.unlink(endpoint.path)
        server = await asyncio.start_unix_server(handler, endpoint.path)
        os.chmod(endpoint.path, 0o600)
        return server
    return await asyncio.start_server(handler, endpoint.host, endpoint.port)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        # Half-close: the peer may still answer (TLS close_notify, an HTTP response).
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass


async def splice(r1, w1, r2, w2) -> None:
    """Copy both ways until both sides are done, then close both."""
    try:
        await asyncio.gather(_pipe(r1, w2), _pipe(r2, w1))
    finally:
        for writer in (w1, w2):
            with contextlib.suppress(Exception):
                writer.close()


def forwarder(target: Endpoint, log=print):
    """A connection handler that relays every accepted connection to target."""

    async def handle(reader, writer):
        try:
            r2, w2 = await open_endpoint(target)
        except OSError as err:
            log(f"cannot reach {target}: {err}")
            writer.close()
            return
        await splice(reader, writer, r2, w2)

    return handle
