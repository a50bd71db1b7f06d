"""Run a command in a network namespace of its own, reachable only through Unix sockets.

MetalLB v0.16.1's controller binds its webhook on port 9443 of every interface (the port is fixed in its
code) and its metrics and health ports on every interface too. Run as is, two sandboxes would fight over
9443 and the ports would be open beyond loopback. In a namespace of its own (`unshare --net`, with only
`lo`), every port it binds is private to that namespace; the sandbox connects to it through Unix
sockets in the state directory (path sockets work across network namespaces):

  --bridge unix:S=tcp:127.0.0.1:P (host side) a Unix socket that reaches a host loopback port, e.g. the
                                  API server
  --connect-in tcp:127.0.0.1:P=unix:S (inside) a loopback port inside the namespace that reaches S,
                                  so the command's kubeconfig (https://127.0.0.1:P) works unchanged
  --expose unix:S=tcp:127.0.0.1:P (inside) a Unix socket that reaches a port the command listens on
                                  inside, e.g. the webhook on 9443

Nothing inside the namespace can reach any other address: it has no interface but `lo`.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading

from .relay import forwarder, parse_endpoint, serve_endpoint

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


def loopback_up() -> None:
    """Bring `lo` up: a new network namespace starts with it down."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(sock, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | IFF_UP))


def parse_pair(text: str, option: str):
    left, sep, right = text.partition("=")
    if not sep:
        raise SystemExit(f"{option} {text!r}: expected SOURCE=TARGET")
    try:
        source, target = parse_endpoint(left), parse_endpoint(right)
    except ValueError as err:
        raise SystemExit(f"{option}: {err}") from None
    return source, target


def start_relays(pairs, log) -> None:
    """Serve every (listen, target) pair on an event loop in a background thread."""
    ready = threading.Event()
    errors: list[BaseException] = []

    def run():
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            for listen, target in pairs:
                loop.run_until_complete(serve_endpoint(listen, forwarder(target, log)))
        except BaseException as err:  # reported to the starting thread
            errors.append(err)
            ready.set()
            return
        ready.set()
        loop.run_forever()

    threading.Thread(target=run, daemon=True, name="relays").start()
    ready.wait()
    if errors:
        raise SystemExit(f"cannot start the socket relays: {errors[0]}")


def unshare_command() -> list[str]:
    tool = shutil.which("unshare")
    if not tool:
        raise SystemExit("`unshare` (util-linux) is needed to give MetalLB a network namespace of its own")
    # As root a plain network namespace; otherwise a user namespace makes it possible without privileges.
    return [tool, "--net"] if os.geteuid() == 0 else [tool, "--net", "--map-root-user"]


def run_child(cmd: list[str]) -> int:
    child = subprocess.Popen(cmd)

    def forward(signum, _frame):
        if child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    return child.wait()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bridge", action="append", default=[])
    parser.add_argument("--connect-in", action="append", default=[])
    parser.add_argument("--expose", action="append", default=[])
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")

    def log(msg: str) -> None:
        print(f"[netns] {msg}", file=sys.stderr, flush=True)

    if not args.inside:
        start_relays([parse_pair(p, "--bridge") for p in args.bridge], log)
        inner = [sys.executable, "-m", "tools.sandbox.netns", "--inside"]
        for option in ("connect_in", "expose"):
            for value in getattr(args, option):
                inner += [f"--{option.replace('_', '-')}", value]
        return run_child([*unshare_command(), *inner, "--", *command])

    loopback_up()
    pairs = [parse_pair(p, "--connect-in") for p in args.connect_in]
    pairs += [parse_pair(p, "--expose") for p in args.expose]
    start_relays(pairs, log)
    return run_child(command)


if __name__ == "__main__":
    sys.exit(main())
