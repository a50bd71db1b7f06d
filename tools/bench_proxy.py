"""Single-stream gRPC upload throughput: direct, through the collection's Envoy configs, through the chart's.

Run with `make bench-proxy` (not part of `make test`). Every path goes client -> emulated link ->
target on loopback, where the target is the gRPC backend itself (direct), the edge proxy's rendered
config (edge), the in-cluster proxy's config exactly as the pachyderm role deploys it (deployed: the
real chart's ConfigMap after the role's post-renderer, only its addresses moved to loopback, see
tests/support/proxy/deployed.py), or the chart's envoy.json (reference). These
kernels lack `tc netem`, so the link is a userspace relay
(tools/emulated_link.py) that holds each chunk for half the round trip in each direction and, with
`--rate`, also serialises it at a link's bandwidth. Its own cost is measured as direct-through-link at
0 ms against a plain direct connection. All paths use the same grpcio client settings, so the direct
path at high latency is bounded by grpcio's own flow-control windows (BDP probing) like the others.

Two kinds of run, both by default:
- an unlimited link (as fast as the machine copies). With client, link, proxy and backend on one
  small machine this measures CPU shares as much as the proxy: each extra hop takes CPU from the
  others. An `envoy-l4` path (a bare Envoy TCP proxy, no HTTP) shows what any proxy hop costs here.
- a link with a bandwidth (1 Gbit/s by default), the case the windows are sized for: whether one
  stream keeps the link full as the round trip grows. The target, on such a link: edge and deployed
  at least 0.95x direct at every round trip, in the same run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tools"))

from emulated_link import link_process, server_process  # noqa: E402
from support.backends import GrpcBackend, Recorder  # noqa: E402
from support.envoy import Envoy  # noqa: E402
from support.paths import find_reference_dir  # noqa: E402
from support.ports import free_port  # noqa: E402
from support.proxy import BACKEND_NAMES  # noqa: E402
from support.proxy.deployed import localize, render_inputs  # noqa: E402
from support.proxy.ours import render  # noqa: E402
from support.proxy.reference import reference_bootstrap  # noqa: E402
from support.proxy.traffic import grpc_channel, grpc_upload  # noqa: E402
from support.reference_data import assemble_from_charts  # noqa: E402

CHUNK = 256 * 1024
TARGET = 0.95
# The collection's two configurations, held to TARGET on a link with a bandwidth.
OURS = ("edge", "deployed")


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


def cpu_seconds(pid: int | None) -> float:
    """CPU time (user + system) a process has used so far; 0 without a process."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def through_link(
    target: tuple[int, int | None], round_trip_ms: float, rate: float | None, seconds: float, backend_pid: int
) -> tuple[float, float, float]:
    """Throughput in MB/s; the share of one core the Envoy in the path used; the cores that every
    process in the path (client, link, Envoy, backend) used together."""
    port, envoy_pid = target
    with link_process(port, round_trip_ms, rate) as (link_port, link_pid):
        measure(link_port, 1.0)  # warm up: connection, BDP probing
        pids = (os.getpid(), link_pid, backend_pid, envoy_pid)
        before, started = [cpu_seconds(pid) for pid in pids], time.monotonic()
        throughput = measure(link_port, seconds)
        elapsed = time.monotonic() - started
        used = [(cpu_seconds(pid) - cpu) / elapsed for pid, cpu in zip(pids, before, strict=True)]
        return throughput, used[3], sum(used)


def l4_bootstrap(listen_port: int, backend_port: int) -> dict:
    """A bare Envoy TCP proxy to the backend: the least any proxy hop can do."""
    address = {"socket_address": {"address": "127.0.0.1", "port_value": 0}}
    backend = {"socket_address": {"address": "127.0.0.1", "port_value": backend_port}}
    tcp_proxy = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
    return {
        "admin": {"address": address},
        "static_resources": {
            "listeners": [
                {
                    "name": "l4",
                    "address": {"socket_address": {"address": "127.0.0.1", "port_value": listen_port}},
                    "filter_chains": [
                        {
                            "filters": [
                                {
                                    "name": "envoy.filters.network.tcp_proxy",
                                    "typed_config": {
                                        "@type": tcp_proxy,
                                        "stat_prefix": "l4",
                                        "cluster": "backend",
                                    },
                                }
                            ]
                        }
                    ],
                }
            ],
            "clusters": [
                {
                    "name": "backend",
                    "type": "STATIC",
                    "connect_timeout": "2s",
                    "load_assignment": {
                        "cluster_name": "backend",
                        "endpoints": [{"lb_endpoints": [{"endpoint": {"address": backend}}]}],
                    },
                }
            ],
        },
    }


def rate_label(mbit: float) -> str:
    if not mbit:
        return "unlimited link"
    return f"{mbit / 1000:g} Gbit/s link" if mbit >= 1000 else f"{mbit:g} Mbit/s link"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="measuring time per run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per cell; the median is reported")
    parser.add_argument("--rtt", type=float, nargs="*", default=[0, 20, 60], help="round trips in ms")
    parser.add_argument(
        "--rate",
        type=float,
        nargs="*",
        default=[0, 1000],
        metavar="MBIT",
        help="link bandwidths in Mbit/s, one table each; 0 is an unlimited link (default: 0 1000)",
    )
    parser.add_argument(
        "--limit",
        action="append",
        default=[],
        metavar="NAME=BYTES",
        help="override one of our description's limits (e.g. stream_window_bytes=67108864), to tune",
    )
    args = parser.parse_args()

    with (
        server_process(_serve_backend) as (backend_port, backend_pid),
        tempfile.TemporaryDirectory(prefix="oneport-bench-") as tmp,
    ):
        return run(args, backend_port, backend_pid, Path(tmp))


def run(args, backend_port: int, backend_pid: int, work: Path) -> int:
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
    reference = find_reference_dir() or assemble_from_charts(work / "reference", str(ROOT / "bin" / "helm"))
    reference_config = reference_bootstrap(reference, dict.fromkeys(BACKEND_NAMES, backend_port))
    deployed_inputs = {"platform": "metallb"}
    if args.limit:
        deployed_inputs["proxy_limits"] = description["limits"]
    deployed_files = render_inputs(reference, deployed_inputs, work / "deployed-render")
    deployed_config, deployed_ports = localize(
        deployed_files, work / "deployed", dict.fromkeys(BACKEND_NAMES, backend_port)
    )
    l4_port = free_port()
    with (
        Envoy(render(description, work), work, "edge") as edge,
        Envoy(deployed_config, work / "deployed", "deployed") as deployed,
        Envoy(reference_config, work, "reference") as reference,
        Envoy(l4_bootstrap(l4_port, backend_port), work, "l4") as l4,
    ):
        targets = {
            "direct": (backend_port, None),
            "edge": (description["http_port"], edge.process.pid),
            "deployed": (deployed_ports["http"], deployed.process.pid),
            "reference": (reference.listener_ports()["proxy-http"], reference.process.pid),
            "envoy-l4": (l4_port, l4.process.pid),
        }
        measure(backend_port, 1.0)
        plain = measure(backend_port, args.seconds)
        print(f"direct without the link: {plain:.1f} MB/s", flush=True)
        tables = [measure_table(args, targets, backend_pid, mbit) for mbit in args.rate]

    print()
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"direct without the link: {plain:.1f} MB/s")
    for mbit, (results, busy) in zip(args.rate, tables, strict=True):
        report(args, mbit, results, busy, plain)
    return 0


def measure_table(args, targets: dict, backend_pid: int, mbit: float) -> tuple[dict, dict]:
    """Median MB/s per (path, rtt), and the median cores the path's processes used per (path, rtt)."""
    rate = mbit * 1e6 / 8 if mbit else None
    # The bare TCP hop only says something where the machine's CPUs are the limit.
    names = [name for name in targets if mbit == 0 or name != "envoy-l4"]
    runs: dict = {}
    busy: dict = {}
    print(f"{rate_label(mbit)}:", flush=True)
    for rtt in args.rtt:
        # Paths alternate within each repetition so a busy moment on a shared machine hits
        # all of them alike.
        for _repetition in range(args.repeat):
            for name in names:
                value, envoy, cores = through_link(targets[name], rtt, rate, args.seconds, backend_pid)
                runs.setdefault((name, rtt), []).append(value)
                busy.setdefault((name, rtt), []).append(cores)
                used = f", Envoy {envoy:.2f} of them" if targets[name][1] else ""
                line = f"  {name:<9} at {rtt:>3.0f} ms: {value:8.1f} MB/s, path used {cores:.2f} cores{used}"
                print(line, flush=True)
    medians = {cell: statistics.median(values) for cell, values in runs.items()}
    return medians, {cell: statistics.median(values) for cell, values in busy.items()}


def report(args, mbit: float, results: dict, busy: dict, plain: float) -> None:
    """Print one table and, on a link with a bandwidth, whether edge and deployed reach the target."""
    unlimited = mbit == 0
    paths = ("edge", "deployed", "reference")
    print()
    print(f"{rate_label(mbit)}:")
    if unlimited and 0 in args.rtt:
        overhead = results[("direct", 0)] / plain
        print(f"link overhead at 0 ms: direct-through-link / direct = {overhead:.2f}x")
    extra_head, extra_rule = (" envoy-l4/direct |", "---|") if unlimited else ("", "")
    print(
        "| RTT (ms) | direct MB/s | "
        + " | ".join(f"{name} MB/s" for name in paths)
        + " | "
        + " | ".join(f"{name}/direct" for name in paths)
        + " |"
        + extra_head
        + " cores used (direct / edge / deployed) |"
    )
    print("|---|---|" + "---|" * (2 * len(paths)) + extra_rule + "---|")
    missed = []
    for rtt in args.rtt:
        direct = results[("direct", rtt)]
        row = f"| {rtt:.0f} | {direct:.1f} | " + " | ".join(f"{results[(n, rtt)]:.1f}" for n in paths) + " |"
        row += " " + " | ".join(f"{results[(n, rtt)] / direct:.2f}x" for n in paths) + " |"
        if unlimited:
            row += f" {results[('envoy-l4', rtt)] / direct:.2f}x |"
        cores = " / ".join(f"{busy[(n, rtt)]:.2f}" for n in ("direct", *OURS))
        print(row + f" {cores} |")
        missed += [f"{name} at {rtt:.0f} ms" for name in OURS if results[(name, rtt)] / direct < TARGET]
    if unlimited:
        print("no target on an unlimited link: the machine's cores, not the proxy, set the pace there")
        return
    verdict = "met" if not missed else "missed: " + ", ".join(missed)
    print(f"target edge and deployed >= {TARGET}x direct on the {rate_label(mbit)}: {verdict}")


if __name__ == "__main__":
    sys.exit(main())
