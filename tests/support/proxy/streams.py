"""Long-running traffic that runs in the background while other tests proceed."""

from __future__ import annotations

import hashlib
import json
import threading
import time

from support.proxy.traffic import grpc_channel, grpc_ticks, grpc_upload


class Background(threading.Thread):
    """Run a function in a thread; `result()` joins with a bound (to fail instead of hanging)."""

    def __init__(self, name: str, target, *args):
        super().__init__(name=name, daemon=True)
        self._target_fn = target
        self._args = args
        self.value = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.value = self._target_fn(*self._args)
        except BaseException as error:  # the test that joins reports it
            self.error = error

    def result(self, bound: float):
        self.join(bound)
        if self.is_alive():
            raise AssertionError(f"{self.name} still running after {bound}s")
        if self.error is not None:
            raise self.error
        return self.value


def server_stream(
    address: str, probe: str, seconds: float, interval: float, ca_pem: bytes | None = None
) -> dict:
    """Consume a server stream; report the ticks received and how long the stream stayed up."""
    started = time.monotonic()
    ticks = []
    with grpc_channel(address, ca_pem) as channel:
        for message in grpc_ticks(channel, probe, seconds, interval):
            ticks.append(json.loads(message))
    return {"ticks": ticks, "duration": time.monotonic() - started}


def websocket_echo(url: str, seconds: float, interval: float, ssl_context=None) -> dict:
    """Hold a websocket open, sending a message every interval and checking each echo."""
    from websockets.sync.client import connect

    started = time.monotonic()
    sent = echoed = 0
    with connect(url, ssl=ssl_context, open_timeout=15, close_timeout=5, ping_interval=None) as websocket:
        while time.monotonic() - started < seconds:
            message = f"echo-{sent}"
            websocket.send(message)
            sent += 1
            reply = websocket.recv(timeout=15)
            if reply != message:
                raise AssertionError(f"echo {sent}: sent {message!r}, got {reply!r}")
            echoed += 1
            time.sleep(interval)
    return {"sent": sent, "echoed": echoed, "duration": time.monotonic() - started}


def chunks(total: int, chunk_size: int, digest):
    """Deterministic, incompressible-looking chunks; feeds the digest as they are produced."""
    block = hashlib.sha256(b"oneport").digest() * (chunk_size // 32)
    sent = 0
    index = 0
    while sent < total:
        size = min(chunk_size, total - sent)
        chunk = index.to_bytes(8, "big") + block[8:size]
        digest.update(chunk)
        sent += len(chunk)
        index += 1
        yield chunk


def upload(
    address: str, probe: str, total: int, chunk_size: int = 1024 * 1024, ca_pem=None, options=()
) -> dict:
    digest = hashlib.sha256()
    started = time.monotonic()
    with grpc_channel(address, ca_pem, options) as channel:
        reply = grpc_upload(channel, probe, chunks(total, chunk_size, digest))
    return {"reply": reply, "sha256": digest.hexdigest(), "seconds": time.monotonic() - started}
