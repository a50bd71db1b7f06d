"""A loopback TCP relay that behaves like a network link: one-way delay and, optionally, a bandwidth.

These kernels have no `tc netem`, so `make bench-proxy` puts this relay between a client and the
server it measures. Every chunk read from one side is delivered to the other no earlier than
`round_trip_ms / 2` after it arrived and, with a bandwidth, no earlier than the link could have
carried it (a serialising link: chunk after chunk at `rate` bytes per second). The bandwidth is the
link's, not each connection's: connections relayed at once share it, one wire per direction, as
parallel uploads over one network path do. Bytes are passed on unchanged and in order; a half-close
travels like data, after the bytes before it.

The relay copies with plain blocking sockets in two threads per direction (reader and deliverer), so
its own CPU cost per byte stays close to the kernel's two copies: the instrument should take as
little as it can from the parts it measures. What it holds per direction is bounded (`queue_bytes`):
beyond it the reader stops reading and TCP pushes back on the sender, like a router's buffer.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import socket
import threading
import time
from collections import deque

MIB = 1024 * 1024


class EmulatedLink:
    """Relay `127.0.0.1:<port>` to `target_host:target_port` with a delay and an optional rate.

    `rate` is in bytes per second (None: as fast as the machine copies). `queue_bytes` bounds what one
    direction holds (default: the larger of 4 MiB and two bandwidth-delay products, or 64 MiB without
    a rate).
    """

    def __init__(
        self,
        target_port: int,
        round_trip_ms: float = 0.0,
        rate: float | None = None,
        queue_bytes: int | None = None,
        target_host: str = "127.0.0.1",
    ):
        if round_trip_ms < 0:
            raise ValueError(f"round_trip_ms must be 0 or more, not {round_trip_ms}")
        if rate is not None and rate <= 0:
            raise ValueError(f"rate must be a positive number of bytes per second, not {rate}")
        self.target = (target_host, target_port)
        self.one_way = round_trip_ms / 2000.0
        self.rate = rate
        if queue_bytes is None:
            bdp = rate * round_trip_ms / 1000.0 if rate else 0
            queue_bytes = max(4 * MIB, int(2 * bdp)) if rate else 64 * MIB
        self.queue_bytes = queue_bytes
        # Small reads with a rate, so a chunk's serialisation time (and the burst it makes) stays
        # near a millisecond; large reads without one, to copy cheaply.
        self.read_size = MIB if rate is None else min(MIB, max(16 * 1024, int(rate / 1000)))
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._directions: list[_Direction] = []
        self._closed = False
        # When each direction of the wire (client to server, server to client) is free again.
        self._wire_lock = threading.Lock()
        self._wire_free_at = {"up": 0.0, "down": 0.0}

    def start(self) -> EmulatedLink:
        self._spawn(self._accept_loop)
        return self

    def __enter__(self) -> EmulatedLink:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while True:
            try:
                client, _address = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target, timeout=10)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pair = _Pair(client, server)
            with self._lock:
                if self._closed:
                    pair.close()
                    return
                self._sockets += [client, server]
                directions = (
                    _Direction(self, client, server, pair, "up"),
                    _Direction(self, server, client, pair, "down"),
                )
                self._directions += directions
            for direction in directions:
                self._spawn(direction.read)
                self._spawn(direction.deliver)

    def due(self, way: str, size: int) -> float:
        """When `size` bytes read now arrive at the far side of direction `way` ("up" or "down")."""
        now = time.monotonic()
        if self.rate is None:
            return now + self.one_way
        with self._wire_lock:
            free_at = self._wire_free_at[way] = max(now, self._wire_free_at[way]) + size / self.rate
        return free_at + self.one_way

    def stop(self) -> None:
        """Close the listener and every relayed connection; wait for the threads to end."""
        with self._lock:
            self._closed = True
            sockets, directions = list(self._sockets), list(self._directions)
        for sock in (self._listener, *sockets):
            _close(sock)
        for direction in directions:
            direction.cancel()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(5)


class _Pair:
    """Both sockets of one relayed connection; closed once both directions have ended."""

    def __init__(self, client: socket.socket, server: socket.socket):
        self.sockets = (client, server)
        self._open_directions = 2
        self._lock = threading.Lock()

    def direction_done(self) -> None:
        with self._lock:
            self._open_directions -= 1
            last = self._open_directions == 0
        if last:
            self.close()

    def close(self) -> None:
        for sock in self.sockets:
            _close(sock)


def _close(sock: socket.socket) -> None:
    """Shut down, then close: a thread blocked in recv() wakes on shutdown, not on close."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


class _Direction:
    """One direction of a connection: a reader that stamps chunks with their due time, a deliverer."""

    def __init__(self, link: EmulatedLink, source: socket.socket, sink: socket.socket, pair: _Pair, way: str):
        self.link = link
        self.source, self.sink, self.pair = source, sink, pair
        self.way = way
        self.chunks: deque = deque()
        self.held = 0
        self.cancelled = False
        self.changed = threading.Condition()

    def read(self) -> None:
        while True:
            with self.changed:
                while self.held >= self.link.queue_bytes and not self.cancelled:
                    self.changed.wait()
                if self.cancelled:
                    return
            try:
                data = self.source.recv(self.link.read_size)
            except OSError:
                data = b""
            with self.changed:
                self.chunks.append((self.link.due(self.way, len(data)), data))
                self.held += len(data)
                self.changed.notify_all()
            if not data:
                return

    def deliver(self) -> None:
        try:
            while True:
                with self.changed:
                    while not self.chunks and not self.cancelled:
                        self.changed.wait()
                    if self.cancelled:
                        return
                    due, data = self.chunks.popleft()
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                if not data:
                    with contextlib.suppress(OSError):
                        self.sink.shutdown(socket.SHUT_WR)
                    return
                try:
                    self.sink.sendall(data)
                except OSError:
                    return
                with self.changed:
                    self.held -= len(data)
                    self.changed.notify_all()
        finally:
            # A failed send ends this direction: release a reader waiting for room in the queue.
            self.cancel()
            self.pair.direction_done()

    def cancel(self) -> None:
        with self.changed:
            self.cancelled = True
            self.changed.notify_all()


def _serve(target_host: str, target_port: int, round_trip_ms: float, rate: float | None, ports, stop) -> None:
    with EmulatedLink(target_port, round_trip_ms, rate, target_host=target_host) as link:
        ports.put(link.port)
        stop.wait()


@contextlib.contextmanager
def server_process(target, *args):
    """Run `target(*args, ports, stop)` in a process of its own (its own GIL, like the real parts it
    stands beside): it puts its port on `ports` and serves until `stop` is set. Yields `(port, pid)`."""
    context = multiprocessing.get_context("spawn")
    ports, stop = context.Queue(), context.Event()
    process = context.Process(target=target, args=(*args, ports, stop), daemon=True)
    process.start()
    try:
        yield ports.get(timeout=60), process.pid
    finally:
        stop.set()
        process.join(15)
        if process.is_alive():
            process.kill()


def link_process(
    target_port: int, round_trip_ms: float = 0.0, rate: float | None = None, target_host="127.0.0.1"
):
    """An EmulatedLink in a process of its own. Yields `(port, pid)`: clients connect to
    `127.0.0.1:<port>`; the pid is for CPU accounting."""
    return server_process(_serve, target_host, target_port, round_trip_ms, rate)
