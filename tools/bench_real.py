"""Real Pachyderm's data paths through the one port: the collection's proxy, the chart's, and none.

Run with `make bench-real` (not part of `make test`; root, like the sandbox's real node). It starts a
sandbox of its own in a temporary directory with Pachyderm running for real, deploys it with site.yml
and inventories/local, and measures from the host, in one run:

- `pachctl put file` and `pachctl get file` of one file (1 GiB by default, `--size-mib`);
- a multipart S3 upload of that size with boto3 (64 MiB parts, boto3's default concurrency);
- 8 `pachctl put file` at once (`--parallel`), together that size;

through three paths, each behind the same emulated link (1 Gbit/s by default, `--mbit`, shared by every
connection crossing it, at 0, 20 and 60 ms round trip, `--rtt`):

- ours: the in-cluster proxy as the pachyderm role deploys it (`pachyderm_proxy_config: collection`);
- chart: the chart's own envoy-tls.json on the same Envoy (`pachyderm_proxy_config: chart`);
- direct: pachd's own gRPC and S3 ports, through a LoadBalancer Service of the benchmark's that MetalLB
  and kube-proxy carry as they carry the proxy's (no TLS on this path: pachd serves cleartext).

The two uploads the targets name (one file, and 8 at once) run 3 times each (`--repeat`), with new data
every time, and the median is kept: single runs on this shared 2-core machine differed by up to 20%.
Ours and direct take turns at each round trip; the chart's configuration needs a redeploy, so it comes
last. `make bench-real BENCH_REAL_ARGS="--paths ours direct --rtt 20"` measures a subset.

These kernels lack `tc netem`, so the link is tools/emulated_link.py, a userspace relay in its own
process on loopback, in front of the address MetalLB assigned. The proxy's certificate is issued for
127.0.0.1 too (cert_manager_ip_addresses), so pachctl and boto3 verify it through the relay. Every file
written is new data (each MiB carries the run's tag), so pachd's deduplication never skips work.

Printed: MB/s per path, operation and round trip; the ratios ours/direct and ours/chart; the proxy's
peak memory (the container's cgroup, `memory.max_usage_in_bytes`) per path and round trip. Client,
relay, proxy, pachd and its databases share this machine's cores, so the numbers measure the whole
machine as much as the proxy. Timing is a measurement here, never a pass/fail test: the targets are
printed beside the ratios.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from support.playbook_runs import ansible_env  # noqa: E402

from tools.emulated_link import link_process  # noqa: E402
from tools.sandbox import Sandbox  # noqa: E402
from tools.sandbox.pki import write_private  # noqa: E402
from tools.sandbox.s3 import s3_client  # noqa: E402

MIB = 1024 * 1024
NAMESPACE = "pachyderm"
DIRECT_SERVICE = "bench-pachd-direct"
PATHS = ("ours", "chart", "direct")
OPERATIONS = ("put", "get", "s3 multipart", "parallel puts")
# What the proxy should reach (issue targets): single upload against direct (at 20 and 60 ms) and
# against the chart's configuration; parallel uploads against direct.
TARGETS = (
    ("put", "direct", (20, 60), 0.9),
    ("put", "chart", (20, 60), 20.0),
    ("parallel puts", "direct", (0, 20, 60), 0.9),
)


def log(message: str) -> None:
    print(f"[bench-real] {message}", flush=True)


class Cluster:
    """kubectl and pachctl against the benchmark's sandbox."""

    def __init__(self, box: Sandbox, work: Path):
        self.box, self.work = box, work
        self.kubectl_bin = str(ROOT / "bin" / "kubectl")
        self.pachctl_bin = str(ROOT / "bin" / "pachctl")

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        result = subprocess.run(
            [self.kubectl_bin, f"--kubeconfig={self.box.kubeconfig}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if result.returncode != 0:
            raise SystemExit(f"bench-real: kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def secret(self, name: str, key: str) -> str:
        data = json.loads(self.kubectl("-n", NAMESPACE, "get", "secret", name, "-o", "json"))["data"]
        return base64.b64decode(data[key]).decode()

    def deploy(self, config: str, extra_vars: dict) -> Path:
        """site.yml with inventories/local and one proxy configuration; the pachctl config it wrote."""
        pach_config = self.work / f"pachctl-{config}.json"
        env = ansible_env(
            self.work / f"ansible-{config}",
            ONEPORT_SANDBOX_DIR=str(self.box.root),
            PACH_CONFIG=str(pach_config),
        )
        extra = {**extra_vars, "pachyderm_proxy_config": config, "cert_manager_ip_addresses": ["127.0.0.1"]}
        started = time.monotonic()
        result = subprocess.run(
            [
                str(Path(sys.executable).parent / "ansible-playbook"),
                "-i",
                "inventories/local",
                "site.yml",
                "-e",
                json.dumps(extra),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            sys.stderr.write(result.stdout[-6000:] + result.stderr[-2000:])
            raise SystemExit(f"bench-real: site.yml with the {config} configuration failed")
        log(f"site.yml with the {config} configuration: {time.monotonic() - started:.0f} s")
        return pach_config

    def direct_address(self) -> str:
        """A LoadBalancer Service straight to pachd's gRPC and S3 ports; the address MetalLB gave it."""
        service = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": DIRECT_SERVICE, "namespace": NAMESPACE},
            "spec": {
                "type": "LoadBalancer",
                "selector": {"app": "pachd"},
                "ports": [
                    {"name": "grpc", "port": 1650, "targetPort": 1650},
                    {"name": "s3", "port": 1600, "targetPort": 1600},
                ],
            },
        }
        self.kubectl("apply", "-f", "-", stdin=json.dumps(service))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status = json.loads(self.kubectl("-n", NAMESPACE, "get", "service", DIRECT_SERVICE, "-o", "json"))
            ingress = status.get("status", {}).get("loadBalancer", {}).get("ingress") or []
            if ingress and ingress[0].get("ip"):
                return ingress[0]["ip"]
            time.sleep(1)
        raise SystemExit(f"bench-real: MetalLB gave {DIRECT_SERVICE} no address within 120 s")

    def proxy_memory_file(self) -> Path | None:
        """The proxy container's cgroup v1 `memory.max_usage_in_bytes` on the real node, if found."""
        pods = json.loads(
            self.kubectl("-n", NAMESPACE, "get", "pods", "-l", "app=pachyderm-proxy", "-o", "json")
        )["items"]
        running = [pod for pod in pods if pod["status"].get("phase") == "Running"]
        if not running:
            return None
        container = running[0]["status"]["containerStatuses"][0].get("containerID", "").split("//")[-1]
        for found in Path("/sys/fs/cgroup/memory").glob(
            f"oneport-*/**/*{container}*/memory.max_usage_in_bytes"
        ):
            return found
        return None

    def proxy_failures(self, limit: int = 10) -> list[str]:
        """The proxy's access-log lines of the requests it did not complete, the latest `limit`."""
        try:
            access_log = self.kubectl("-n", NAMESPACE, "logs", "deployment/pachyderm-proxy", "--tail=2000")
        except SystemExit as err:  # the failure being explained comes first; say why there is no log
            return [f"(no proxy log: {err})"]
        return incomplete_requests(access_log)[-limit:]


def incomplete_requests(access_log: str) -> list[str]:
    """Requests the proxy's JSON access log shows it did not complete (a response flag, or a gRPC
    status other than OK), one line each: why an operation through it failed."""
    failed = []
    for line in access_log.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # Envoy's own log lines
        if not isinstance(entry, dict):
            continue
        if entry.get("response_flags", "-") != "-" or entry.get("grpc_status") not in (None, "-", "OK"):
            keys = ("path", "response_flags", "response_code_details", "grpc_status", "duration_ms")
            failed.append(" ".join(f"{key}={entry.get(key)}" for key in keys))
    return failed


def fresh_file(path: Path, size: int, tag: str, base: bytes) -> None:
    """`size` bytes of random data whose every MiB starts with this run's tag: new chunks for pachd."""
    with path.open("wb") as out:
        for index in range(size // MIB):
            start = (index * MIB) % len(base)
            block = base[start : start + MIB]
            stamp = f"{tag}:{index}:".encode()
            out.write(stamp + block[len(stamp) :])


def pachctl_config(role_written: Path, out: Path, address: str, token: str, tls: bool) -> Path:
    """The context the role wrote, pointed at `address` (the link), with the root token."""
    data = json.loads(role_written.read_text())
    context = data["v2"]["contexts"][data["v2"]["active_context"]]
    context["pachd_address"] = f"{'grpcs' if tls else 'grpc'}://{address}"
    if not tls:
        context.pop("server_cas", None)
    context["session_token"] = token
    data["v2"]["metrics"] = False
    write_private(out, json.dumps(data).encode())  # it holds the root token
    return out


def timed(command: list[str], env: dict) -> float:
    started = time.monotonic()
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"bench-real: {' '.join(command[1:4])} failed: {result.stderr.strip()[-500:]}")
    return time.monotonic() - started


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def measure(path: str, rtt: int, args, cluster: Cluster, target: dict, files: dict) -> dict:
    """MB/s of each operation through one path at one round trip: the uploads the targets name are
    run `--repeat` times (new data each time) and their median kept; every run is logged."""
    from boto3.s3.transfer import TransferConfig

    size, rate = args.size_mib * MIB, args.mbit * 1_000_000 / 8
    tag = f"{path}-{rtt}"
    repo = f"bench-{tag}"
    part_repos = [f"{repo}-p{index}" for index in range(args.parallel)]
    part = size // args.parallel
    runs: dict[str, list[float]] = {"put": [], "parallel puts": []}
    results = {}
    with (
        link_process(target["grpc_port"], rtt, rate, target["host"]) as (grpc_port, _grpc_pid),
        link_process(target["s3_port"], rtt, rate, target["host"]) as (s3_port, _s3_pid),
    ):
        config = pachctl_config(
            target["pach_config"],
            cluster.work / f"pachctl-{tag}.json",
            f"127.0.0.1:{grpc_port}",
            target["token"],
            target["tls"],
        )
        env = dict(os.environ, PACH_CONFIG=str(config))
        pachctl = cluster.pachctl_bin
        for name in (repo, *part_repos):
            timed([pachctl, "create", "repo", name], env)
        timed([pachctl, "create", "branch", f"{repo}@s3"], env)

        for run in range(args.repeat):
            fresh_file(files["one"], size, f"{tag}-r{run}", files["base"])
            target_file = f"{repo}@master:/one-{run}.bin"
            seconds = timed([pachctl, "put", "file", target_file, "-f", str(files["one"])], env)
            runs["put"].append(size / seconds / 1e6)
        seconds = timed([pachctl, "get", "file", target_file, "-o", str(files["back"])], env)
        results["get"] = size / seconds / 1e6
        got = files["back"].stat().st_size
        if got != size:
            raise SystemExit(f"bench-real: get file through {path} returned {got} bytes, not {size}")

        for run in range(args.repeat):
            # Each upload to a repo of its own: parallel commits to one branch would wait for each other.
            for index in range(args.parallel):
                fresh_file(files["parts"][index], part, f"{tag}-r{run}-p{index}", files["base"])
            commands = [
                [pachctl, "put", "file", f"{name}@master:/part-{run}.bin", "-f", str(files["parts"][index])]
                for index, name in enumerate(part_repos)
            ]
            started = time.monotonic()
            with ThreadPoolExecutor(args.parallel) as pool:
                list(pool.map(lambda command: timed(command, env), commands))
            runs["parallel puts"].append(part * args.parallel / (time.monotonic() - started) / 1e6)

        client = s3_client(f"127.0.0.1:{s3_port}", target["token"], target["token"], target["ca"])
        fresh_file(files["one"], size, f"{tag}-s3", files["base"])
        transfer = TransferConfig(multipart_threshold=64 * MIB, multipart_chunksize=64 * MIB)
        started = time.monotonic()
        client.upload_file(str(files["one"]), f"s3.{repo}", "one.bin", Config=transfer)
        results["s3 multipart"] = size / (time.monotonic() - started) / 1e6

        for name in (repo, *part_repos):
            timed([pachctl, "delete", "repo", name, "--force"], env)
    for op, values in runs.items():
        results[op] = median(values)
        log(f"{path} at {rtt} ms, {op}: " + ", ".join(f"{value:.1f}" for value in values) + " MB/s")
    return results


def run_round_trip(
    path: str, rtt: int, args, cluster: Cluster, target: dict, table: dict, memory: dict, files
):
    peak_file = cluster.proxy_memory_file() if path != "direct" else None
    if peak_file:
        peak_file.write_text("0")  # cgroup v1: resets the peak
    log(f"{path} at {rtt} ms ...")
    try:
        table[(path, rtt)] = measure(path, rtt, args, cluster, target, files)
    except SystemExit:
        if path != "direct":
            for line in cluster.proxy_failures():
                log(f"proxy did not complete: {line}")
        raise
    if peak_file:
        memory[(path, rtt)] = int(peak_file.read_text()) / MIB
    shown = ", ".join(f"{op} {table[(path, rtt)][op]:.0f}" for op in OPERATIONS)
    log(f"{path} at {rtt} ms: {shown} MB/s")


def report(args, table: dict, memory: dict) -> None:
    print()
    print(
        f"MB/s through a {args.mbit:g} Mbit/s emulated link, {args.size_mib} MiB per operation "
        f"({args.parallel} files of {args.size_mib // args.parallel} MiB at once for parallel puts)"
    )
    print(f"{'path':<8}{'rtt':>6}" + "".join(f"{op:>15}" for op in OPERATIONS) + f"{'proxy peak MiB':>16}")
    for path in PATHS:
        for rtt in args.rtt:
            if (path, rtt) not in table:
                continue
            row = table[(path, rtt)]
            peak = f"{memory[(path, rtt)]:.0f}" if (path, rtt) in memory else "-"
            print(f"{path:<8}{rtt:>4}ms" + "".join(f"{row[op]:>15.1f}" for op in OPERATIONS) + f"{peak:>16}")
    print()
    print("ratios (ours / other, same run)")
    for rtt in args.rtt:
        for other in ("direct", "chart"):
            if ("ours", rtt) in table and (other, rtt) in table:
                ratios = "  ".join(
                    f"{op} {table[('ours', rtt)][op] / table[(other, rtt)][op]:.2f}x" for op in OPERATIONS
                )
                print(f"  {rtt:>3} ms, ours/{other}: {ratios}")
    print()
    print("targets")
    for op, other, rtts, goal in TARGETS:
        for rtt in rtts:
            if ("ours", rtt) in table and (other, rtt) in table:
                ratio = table[("ours", rtt)][op] / table[(other, rtt)][op]
                mark = "met" if ratio >= goal else "NOT met"
                print(f"  {op} at {rtt} ms, ours/{other} >= {goal:g}x: {ratio:.2f}x {mark}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument(
        "--size-mib", type=int, default=1024, help="bytes per operation, in MiB (default 1024)"
    )
    parser.add_argument("--parallel", type=int, default=8, help="uploads at once (default 8)")
    parser.add_argument("--rtt", type=int, nargs="+", default=[0, 20, 60], help="round trips in ms")
    parser.add_argument("--mbit", type=float, default=1000.0, help="the link's bandwidth (default 1000)")
    parser.add_argument("--paths", nargs="+", choices=PATHS, default=list(PATHS))
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of each upload the targets name; the median is kept (default 3)",
    )
    parser.add_argument(
        "--extra-vars",
        type=json.loads,
        default={},
        metavar="JSON",
        help="more site.yml variables, for a variant: '{\"pachyderm_proxy_limits\": {...}}'",
    )
    args = parser.parse_args()
    if not isinstance(args.extra_vars, dict):
        parser.error("--extra-vars must be a JSON object of site.yml variables")
    if args.repeat < 1:
        parser.error(f"--repeat {args.repeat} must be at least 1")
    if args.size_mib < args.parallel:
        parser.error(f"--size-mib {args.size_mib} must be at least --parallel {args.parallel}")
    if os.geteuid() != 0:
        print(
            "bench-real needs root: the sandbox's real node (namespaces, cgroups) runs Pachyderm",
            file=sys.stderr,
        )
        return 2
    work = Path(tempfile.mkdtemp(prefix="oneport-bench-real-"))
    box = Sandbox(work / "sandbox", node_mode="real", pachyderm="real")
    cluster = Cluster(box, work)
    files = {
        "base": os.urandom(64 * MIB),
        "one": work / "one.bin",
        "back": work / "back.bin",
        "parts": [work / f"part-{index}.bin" for index in range(args.parallel)],
    }
    table: dict = {}
    memory: dict = {}
    try:
        started = time.monotonic()
        box.up(log=lambda message: log(f"sandbox: {message}"))
        log(f"sandbox up in {time.monotonic() - started:.0f} s")
        for config, path in (("collection", "ours"), ("chart", "chart")):
            if path not in args.paths and not (config == "collection" and "direct" in args.paths):
                continue
            pach_config = cluster.deploy(config, args.extra_vars)
            token = cluster.secret("pachyderm-oneport-pinned", "root-token")
            ca = work / "ca.pem"
            ca.write_text(cluster.secret("pachyderm-proxy-tls", "ca.crt"))
            address = (box.root / "proxy-address").read_text().strip()
            common = {"pach_config": pach_config, "token": token}
            targets = {}
            if path in args.paths:
                targets[path] = {
                    **common,
                    "host": address,
                    "grpc_port": 443,
                    "s3_port": 443,
                    "tls": True,
                    "ca": ca,
                }
            if config == "collection" and "direct" in args.paths:
                targets["direct"] = {
                    **common,
                    "host": cluster.direct_address(),
                    "grpc_port": 1650,
                    "s3_port": 1600,
                    "tls": False,
                    "ca": None,
                }
            # Ours and direct take turns at each round trip, so both meet the machine in the same state.
            for rtt in args.rtt:
                for name, target in targets.items():
                    run_round_trip(name, rtt, args, cluster, target, table, memory, files)
        report(args, table, memory)
    finally:
        box.down(log=lambda message: log(f"sandbox: {message}"))
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
