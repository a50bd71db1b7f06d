"""Run one sandbox component, restarting it with backoff; optionally start only once a CRD exists.

MetalLB's controller needs its CRDs, which the metallb role (or fixture chart) installs after the
sandbox is up: this keeps it waiting, then running, and restarts it if it exits (for example when the
CRDs are deleted and installed again). SIGTERM stops the child and this loop.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

MAX_BACKOFF = 30.0


def crd_established(kubeconfig: str, name: str) -> bool:
    from kubernetes import client, config
    from kubernetes.client.rest import ApiException

    try:
        api = client.ApiextensionsV1Api(config.new_client_from_config(config_file=kubeconfig))
        crd = api.read_custom_resource_definition(name)
    except ApiException:
        return False
    except Exception:
        return False
    conditions = (crd.status and crd.status.conditions) or []
    return any(c.type == "Established" and c.status == "True" for c in conditions)


def find_pod(kubeconfig: str, namespace: str, selector: str) -> str | None:
    """The name of a Running pod matching the selector (MetalLB's controller looks up its own pod)."""
    from kubernetes import client, config

    try:
        core = client.CoreV1Api(config.new_client_from_config(config_file=kubeconfig))
        pods = core.list_namespaced_pod(namespace, label_selector=selector).items
    except Exception:  # API server not reachable yet: try again later
        return None
    running = [
        p.metadata.name for p in pods if p.status.phase == "Running" and not p.metadata.deletion_timestamp
    ]
    return sorted(running)[0] if running else None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--wait-crd", action="append", default=[])
    parser.add_argument(
        "--pod-for",
        metavar="NAMESPACE:SELECTOR",
        help="wait for a Running pod matching SELECTOR in NAMESPACE and pass --pod-name=<it> to the command",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    name = Path(command[0]).name
    marker = Path("run") / f"{name}.state"
    marker.parent.mkdir(exist_ok=True)

    stopping = False
    child: subprocess.Popen | None = None

    def stop(_signum, _frame):
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def pause(seconds: float) -> None:
        """Sleep, but end early once asked to stop."""
        deadline = time.monotonic() + seconds
        while not stopping and time.monotonic() < deadline:
            time.sleep(0.2)

    def say(state: str) -> None:
        marker.write_text(state + "\n")
        print(f"[supervise] {time.strftime('%H:%M:%S')} {name}: {state}", flush=True)

    backoff = 1.0
    while not stopping:
        missing = [crd for crd in args.wait_crd if not crd_established(args.kubeconfig, crd)]
        if missing:
            say(f"waiting for CRDs: {', '.join(missing)}")
            pause(2.0)
            continue
        extra = []
        if args.pod_for:
            namespace, selector = args.pod_for.split(":", 1)
            pod = find_pod(args.kubeconfig, namespace, selector)
            if pod is None:
                say(f"waiting for a Running pod {selector} in {namespace}")
                pause(2.0)
                continue
            extra = [f"--pod-name={pod}"]
        say("running")
        started = time.monotonic()
        child = subprocess.Popen([*command, *extra], env=dict(os.environ))
        child.wait()
        if stopping:
            break
        if time.monotonic() - started > 60:
            backoff = 1.0
        say(f"exited with {child.returncode}; restarting in {backoff:.0f}s")
        pause(backoff)
        backoff = min(backoff * 2, MAX_BACKOFF)
    if child is not None and child.poll() is None:
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
    say("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
