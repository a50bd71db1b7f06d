"""The emulated link of `make bench-proxy`: bytes unchanged, delay and bandwidth honoured, bounded."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import socket
import threading
import time

import pytest

from tools.emulated_link import MIB, EmulatedLink


class Server:
    """A loopback TCP server: echoes, or records what it reads, or never reads (`mode`)."""

    def __init__(self, mode: str = "echo"):
        self.mode = mode
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.received = hashlib.sha256()
        self.size = 0
        self.eof = threading.Event()
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            conn, _address = self.listener.accept()
            self.connections.append(conn)
            if self.mode == "still":
                return
            while data := conn.recv(MIB):
                self.size += len(data)
                self.received.update(data)
                if self.mode == "echo":
                    conn.sendall(data)
            self.eof.set()
            conn.sendall(b"bye")
            conn.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.listener.close()
        for conn in self.connections:
            conn.close()


@pytest.fixture
def server():
    servers = []

    def make(mode="echo"):
        servers.append(Server(mode))
        return servers[-1]

    yield make
    for each in servers:
        each.close()


def connect(link: EmulatedLink) -> socket.socket:
    return socket.create_connection(("127.0.0.1", link.port), timeout=30)


def read_all(sock: socket.socket) -> bytes:
    parts = []
    while data := sock.recv(MIB):
        parts.append(data)
    return b"".join(parts)


def test_bytes_arrive_unchanged_and_a_half_close_travels_after_them(server):
    backend = server("record")
    payload = os.urandom(8 * MIB + 123)
    with EmulatedLink(backend.port, round_trip_ms=10) as link, connect(link) as client:
        client.sendall(payload)
        client.shutdown(socket.SHUT_WR)
        # The server saw EOF only after every byte, and its answer still comes back.
        assert read_all(client) == b"bye"
    assert backend.eof.is_set()
    assert backend.size == len(payload)
    assert backend.received.hexdigest() == hashlib.sha256(payload).hexdigest()


def test_both_directions_carry_data(server):
    backend = server("echo")
    payload = os.urandom(3 * MIB)
    with EmulatedLink(backend.port) as link, connect(link) as client:

        def send() -> None:
            client.sendall(payload)
            client.shutdown(socket.SHUT_WR)

        sender = threading.Thread(target=send)
        sender.start()
        echoed = read_all(client)
        sender.join()
    assert echoed == payload + b"bye"


def test_a_round_trip_takes_at_least_the_configured_delay(server):
    backend = server("echo")
    with EmulatedLink(backend.port, round_trip_ms=200) as link, connect(link) as client:
        client.sendall(b"ping")  # connection and threads warm
        assert client.recv(16) == b"ping"
        started = time.monotonic()
        client.sendall(b"again")
        assert client.recv(16) == b"again"
        # 100 ms each way: the link must have held the data for the whole round trip.
        assert time.monotonic() - started >= 0.2


def test_a_bandwidth_bounds_how_fast_bytes_arrive(server):
    backend = server("record")
    rate = 40 * MIB  # bytes per second
    payload = b"x" * (10 * MIB)
    with EmulatedLink(backend.port, rate=rate) as link, connect(link) as client:
        started = time.monotonic()
        client.sendall(payload)
        client.shutdown(socket.SHUT_WR)
        assert read_all(client) == b"bye"
        elapsed = time.monotonic() - started
    assert backend.size == len(payload)
    # The link serialises every byte at `rate`, so the last one cannot arrive before 10/40 s.
    assert elapsed >= len(payload) / rate


def test_connections_at_once_share_the_links_bandwidth_one_wire_per_direction():
    # 8 uploads over one network path share its bandwidth: what one connection's bytes take of the wire
    # delays another's in the same direction, and never the other direction's.
    link = EmulatedLink(1, rate=100 * MIB)
    try:
        started = time.monotonic()
        firsts = [link.due("up", 10 * MIB) for _connection in range(8)]
        download = link.due("down", 10 * MIB)
    finally:
        link.stop()
    assert firsts[-1] - started >= 8 * 0.1  # eight 10 MiB chunks at 100 MiB/s, one after another
    assert all(later > earlier for earlier, later in itertools.pairwise(firsts))
    assert download - started < 0.2


def test_what_a_direction_holds_is_bounded_when_the_far_side_stops_reading(server):
    backend = server("still")
    with EmulatedLink(backend.port, queue_bytes=2 * MIB) as link, connect(link) as client:
        client.setblocking(False)
        sent, block, idle_since = 0, b"y" * (256 * 1024), None
        # Write until the whole path pushes back for a moment.
        while idle_since is None or time.monotonic() - idle_since < 0.5:
            try:
                sent += client.send(block)
                idle_since = None
            except BlockingIOError:
                idle_since = idle_since or time.monotonic()
                time.sleep(0.01)
            assert sent < 256 * MIB, "the link kept accepting data from a sender nobody reads"
        held = max(direction.held for direction in link._directions)
    assert held <= 2 * MIB + link.read_size


def test_stop_ends_the_relayed_connections(server):
    backend = server("echo")
    link = EmulatedLink(backend.port).start()
    client = socket.create_connection(("127.0.0.1", link.port), timeout=10)
    client.sendall(b"hello")
    assert client.recv(16) == b"hello"
    link.stop()
    with contextlib.suppress(ConnectionResetError):
        assert client.recv(16) == b""
    client.close()
    assert all(not thread.is_alive() for thread in link._threads)


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [({"round_trip_ms": -1}, "round_trip_ms"), ({"rate": 0}, "rate"), ({"rate": -5.0}, "rate")],
)
def test_bad_settings_are_refused_with_the_setting_named(kwargs, named):
    with pytest.raises(ValueError, match=named):
        EmulatedLink(1, **kwargs)
