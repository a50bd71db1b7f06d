"""kubectl against a test cluster: bin/kubectl when `make setup` linked it, else the one on PATH."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

from support.paths import bin_tool


def _binary() -> str:
    pinned = bin_tool("kubectl")
    return str(pinned) if pinned.exists() else (shutil.which("kubectl") or "kubectl")


def on_cluster(
    cluster,
    command: str,
    *args: str,
    stdin: str | None = None,
    check: bool = False,
    timeout: float | None = 120,
) -> subprocess.CompletedProcess:
    """Run a kubeconfig-taking tool (kubectl, helm) on the cluster: anything with a `kubeconfig`, such as
    a Sandbox, or a kubeconfig path. With check, a failure raises an AssertionError with the output."""
    kubeconfig = getattr(cluster, "kubeconfig", cluster)
    result = subprocess.run(
        [command, f"--kubeconfig={kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        shown = " ".join((Path(command).name, *args))
        raise AssertionError(f"{shown} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def kubectl(
    cluster, *args: str, stdin: str | None = None, check: bool = False, timeout: float = 120
) -> subprocess.CompletedProcess:
    """kubectl on the cluster (see on_cluster)."""
    return on_cluster(cluster, _binary(), *args, stdin=stdin, check=check, timeout=timeout)


def kubectl_out(cluster, *args: str) -> str:
    """kubectl's output; a failure fails the test."""
    return kubectl(cluster, *args, check=True).stdout


def kubectl_json(cluster, *args: str) -> dict:
    """`kubectl ... -o json`, parsed; a failure fails the test."""
    return json.loads(kubectl_out(cluster, *args, "-o", "json"))


def kubectl_apply(cluster, manifest: str, timeout: float = 60.0) -> None:
    """kubectl apply, retried while an admission webhook is still coming up (as on any cluster)."""
    deadline = time.monotonic() + timeout
    while True:
        result = kubectl(cluster, "apply", "-f", "-", stdin=manifest)
        if result.returncode == 0:
            return
        if "failed calling webhook" not in result.stderr or time.monotonic() > deadline:
            raise AssertionError(f"kubectl apply failed: {result.stderr}")
        time.sleep(2)
