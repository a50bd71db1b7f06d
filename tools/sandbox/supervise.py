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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--wait-crd", action="append", default=[])
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

    def say(state: str) -> None:
        marker.write_text(state + "\n")
        print(f"[supervise] {time.strftime('%H:%M:%S')} {name}: {state}", flush=True)

    backoff = 1.0
    while not stopping:
        missing = [crd for crd in args.wait_crd if not crd_established(args.kubeconfig, crd)]
        if missing:
            say(f"waiting for CRDs: {', '.join(missing)}")
            for _ in range(4):
                if stopping:
                    break
                time.sleep(0.5)
            continue
        say("running")
        started = time.monotonic()
        child = subprocess.Popen(command, env=dict(os.environ))
        child.wait()
        if stopping:
            break
        if time.monotonic() - started > 60:
            backoff = 1.0
        say(f"exited with {child.returncode}; restarting in {backoff:.0f}s")
        deadline = time.monotonic() + backoff
        while not stopping and time.monotonic() < deadline:
            time.sleep(0.2)
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
