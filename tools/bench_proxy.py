"""Single-stream gRPC upload throughput: direct, through our Envoy config, through Pachyderm's.

Run with `make bench-proxy` (not part of `make test`). Every path goes client -> delay relay -> target
on loopback, where the target is the gRPC backend itself (direct), our rendered config, or the chart's
envoy.json (reference). The relay holds each chunk for half the round trip in each direction (these
kernels lack tc netem); its own cost is measured as direct-through-relay at 0 ms against a plain direct
connection. All paths use the same grpcio client settings, so the direct path at high latency is
bounded by grpcio's own flow-control windows (BDP probing) exactly like the others.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "integration" / "envoy"))
sys.path.insert(0, str(ROOT / "tests"))

from conftest import find_reference_dir  # noqa: E402
from envoy_harness.backends import GrpcBackend, Recorder  # noqa: E402
from envoy_harness.envoy import Envoy, free_port  # noqa: E402
from envoy_harness.ours import render  # noqa: E402
from envoy_harness.proxies import BACKEND_NAMES  # noqa: E402
from envoy_harness.reference import reference_bootstrap  # noqa: E402
from envoy_harness.traffic import grpc_channel, grpc_upload  # noqa: E402

CHUNK = 256 * 1024


class DelayRelay:
    """A loopback TCP relay that delivers every chunk one-way-delay after it arrived, both directions."""

    def __init__(self, target_port: int, round_trip_ms: float):
        self.target_port = target_port
        self.one_way = round_trip_ms / 2000.0
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> DelayRelay:
        self._thread.start()
        self._ready.wait(10)
        return self

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(self._serve())
        self._loop.run_forever()

    async def _serve(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()

    async def _accept(self, client_reader, client_writer) -> None:
        try:
            target_reader, target_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_writer.close()
            return
        try:
            await asyncio.gather(
                self._pipe(client_reader, target_writer), self._pipe(target_reader, client_writer)
            )
        except asyncio.CancelledError:
            # Shutdown: end quietly instead of as a cancelled connection handler.
            client_writer.close()
            target_writer.close()

    async def _pipe(self, reader, writer) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    with contextlib.suppress(OSError):
                        writer.close()
                    return
                writer.write(data)
                with contextlib.suppress(OSError, ConnectionError):
                    await writer.drain()

        sender = asyncio.create_task(deliver())
        while True:
            try:
                data = await reader.read(1024 * 1024)
            except (OSError, ConnectionError):
                data = b""
            queue.put_nowait((loop.time() + self.one_way, data))
            if not data:
                break
        await sender

    def stop(self) -> None:
        if self._loop:
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self._loop.close()

    async def _shutdown(self) -> None:
        self._server.close()
        current = asyncio.current_task()
        tasks = [task for task in asyncio.all_tasks() if task is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def measure(port: int, seconds: float) -> float:
    """Upload as fast as one stream can for `seconds`; return MB/s (10^6 bytes)."""
    block = bytes(range(256)) * (CHUNK // 256)
    sent = 0
    started = time.monotonic()

    def chunks():
        nonlocal sent
        while time.monotonic() - started < seconds:
            sent += len(block)
            yield block

    with grpc_channel(f"127.0.0.1:{port}") as channel:
        reply = grpc_upload(channel, "bench", chunks())
    elapsed = time.monotonic() - started
    if reply["size"] != sent:
        raise RuntimeError(f"backend received {reply['size']} bytes, client sent {sent}")
    return sent / elapsed / 1e6


def _serve_backend(ports, stop) -> None:
    backend = GrpcBackend(Recorder()).start()
    ports.put(backend.port)
    stop.wait()
    backend.stop()


def _serve_relay(target_port: int, round_trip_ms: float, ports, stop) -> None:
    relay = DelayRelay(target_port, round_trip_ms).start()
    ports.put(relay.port)
    stop.wait()
    relay.stop()


@contextlib.contextmanager
def child(target, *args):
    """Run a server in its own process (its own GIL, like the real parts); yield the port it bound."""
    context = multiprocessing.get_context("spawn")
    ports, stop = context.Queue(), context.Event()
    process = context.Process(target=target, args=(*args, ports, stop), daemon=True)
    process.start()
    try:
        yield ports.get(timeout=60)
    finally:
        stop.set()
        process.join(15)
        if process.is_alive():
            process.kill()


def cpu_seconds(pid: int | None) -> float:
    """CPU time (user + system) a process has used so far; 0 without a process."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def through_relay(
    target_port: int, round_trip_ms: float, seconds: float, envoy_pid=None
) -> tuple[float, float]:
    """Throughput in MB/s, and the share of one core the Envoy in the path used meanwhile."""
    with child(_serve_relay, target_port, round_trip_ms) as relay_port:
        measure(relay_port, 1.0)  # warm up: connection, BDP probing
        cpu_before, started = cpu_seconds(envoy_pid), time.monotonic()
        throughput = measure(relay_port, seconds)
        cpu = (cpu_seconds(envoy_pid) - cpu_before) / (time.monotonic() - started)
        return throughput, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="measuring time per run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per cell; the median is reported")
    parser.add_argument("--rtt", type=float, nargs="*", default=[0, 20, 60], help="round trips in ms")
    parser.add_argument(
        "--limit",
        action="append",
        default=[],
        metavar="NAME=BYTES",
        help="override one of our description's limits (e.g. stream_window_bytes=67108864), to tune",
    )
    args = parser.parse_args()

    with child(_serve_backend) as backend_port, tempfile.TemporaryDirectory(prefix="oneport-bench-") as tmp:
        return run(args, backend_port, Path(tmp))


def run(args, backend_port: int, work: Path) -> int:
    description = {
        "listen_address": "127.0.0.1",
        "http_port": free_port(),
        "admin": {"address": "127.0.0.1", "port": free_port()},
        "readiness": {"address": "127.0.0.1", "port": free_port()},
        "config_dir": str(work),
        "backends": {
            name: {"host": "127.0.0.1", "port": backend_port}
            for name in ("pachd_grpc", "s3", "oidc", "identity", "pachd_http", "metrics", "console")
        },
    }
    if args.limit:
        description["limits"] = {k: int(v) for k, v in (item.split("=", 1) for item in args.limit)}
    reference_config = reference_bootstrap(find_reference_dir(), dict.fromkeys(BACKEND_NAMES, backend_port))
    with (
        Envoy(render(description, work), work, "ours") as ours,
        Envoy(reference_config, work, "reference") as reference,
    ):
        targets = {
            "direct": (backend_port, None),
            "ours": (description["http_port"], ours.process.pid),
            "reference": (reference.listener_ports()["proxy-http"], reference.process.pid),
        }
        measure(backend_port, 1.0)
        plain = measure(backend_port, args.seconds)
        runs: dict = {}
        for rtt in args.rtt:
            # Paths alternate within each repetition so a busy moment on a shared machine hits
            # all of them alike.
            for _repetition in range(args.repeat):
                for name, (port, pid) in targets.items():
                    value, cpu = through_relay(port, rtt, args.seconds, pid)
                    runs.setdefault((name, rtt), []).append(value)
                    busy = f", Envoy used {cpu:4.0%} of a core" if pid else ""
                    print(f"  {name:<9} at {rtt:>3.0f} ms: {value:8.1f} MB/s{busy}", flush=True)
    results = {cell: statistics.median(values) for cell, values in runs.items()}

    print()
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"direct without relay: {plain:.1f} MB/s")
    if 0 in args.rtt:
        overhead = results[("direct", 0)] / plain
        print(f"relay overhead at 0 ms: direct-through-relay / direct = {overhead:.2f}x")
    print()
    print("| RTT (ms) | direct MB/s | ours MB/s | reference MB/s | ours/direct | reference/direct |")
    print("|---|---|---|---|---|---|")
    for rtt in args.rtt:
        direct, our, ref = (results[(name, rtt)] for name in ("direct", "ours", "reference"))
        ratios = f"{our / direct:.2f}x | {ref / direct:.2f}x"
        print(f"| {rtt:.0f} | {direct:.1f} | {our:.1f} | {ref:.1f} | {ratios} |")
    missed = [rtt for rtt in args.rtt if results[("ours", rtt)] / results[("direct", rtt)] < 0.8]
    print()
    print("target ours >= 0.8x direct: " + ("met" if not missed else f"missed at {missed} ms"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
