"""Run one sandbox component, restarting it with backoff; optionally start only once a CRD exists.

MetalLB's controller needs its CRDs, which the metallb role (or the MetalLB chart) installs after the
sandbox is up: this keeps it waiting, then running, and restarts it if it exits (for example when the
CRDs are deleted and installed again). SIGTERM stops the child and this loop.

With --pod-for it runs the component as the chart's own Pod would run: `--pod-name`, the Pod's
`--arg-from-pod` arguments (e.g. MetalLB's `--webhook-mode=`) and literal `--env-from-pod` variables
(e.g. METALLB_BGP_TYPE). When that changes (a helm upgrade, another chart, a new Pod) the component is
restarted with the new settings; when the Pod is gone it is stopped until one exists again.

--mount-secret NAMESPACE/NAME=DIR does what the kubelet does for a Secret volume (there is no kubelet
here): it keeps DIR holding the Secret's keys as files. MetalLB's cert rotation writes its serving
certificate into the Secret `metallb-webhook-cert` and starts its webhook only once the chart's volume
shows it in its --cert-dir.
"""

from __future__ import annotations

import argparse
import base64
import os
import signal
import subprocess
import sys
import threading
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


UNKNOWN = object()  # the API could not be asked: keep doing what we do


def find_pod(kubeconfig: str, namespace: str, selector: str):
    """The first Running pod (a dict) matching the selector, None if there is none, UNKNOWN on API errors."""
    from kubernetes import client, config

    try:
        api = config.new_client_from_config(config_file=kubeconfig)
        pods = client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector=selector).items
    except Exception:  # API server not reachable yet: try again later
        return UNKNOWN
    running = sorted(
        (p for p in pods if p.status.phase == "Running" and not p.metadata.deletion_timestamp),
        key=lambda p: p.metadata.name,
    )
    return api.sanitize_for_serialization(running[0]) if running else None


def settings_from_pod(pod: dict, arg_prefixes: list[str], env_names: list[str]) -> tuple[list[str], dict]:
    """(extra args, extra environment) the chart gives its container, limited to what was asked for."""
    containers = (pod.get("spec") or {}).get("containers") or [{}]
    container = containers[0]
    args = [f"--pod-name={pod['metadata']['name']}"]
    for prefix in arg_prefixes:
        args += [
            a
            for a in (container.get("command") or []) + (container.get("args") or [])
            if a.startswith(prefix)
        ]
    env = {
        e["name"]: e["value"]
        for e in container.get("env") or []
        if e.get("name") in env_names and isinstance(e.get("value"), str)
    }
    return args, env


def write_secret_files(directory: Path, data: dict[str, bytes]) -> list[str]:
    """Make directory hold exactly these files (atomically each); return the names that changed."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    changed = []
    for key, value in data.items():
        if "/" in key or key.startswith("."):
            continue  # not a file name a Secret volume would create
        target = directory / key
        if target.exists() and target.read_bytes() == value:
            continue
        staging = directory / f".{key}.tmp"
        fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(value)
        staging.replace(target)
        changed.append(key)
    for stale in directory.iterdir():
        if stale.is_file() and not stale.name.startswith(".") and stale.name not in data:
            stale.unlink()
            changed.append(stale.name)
    return changed


def mount_secret(kubeconfig: str, spec: str, log, stopping, interval: float = 1.0) -> None:
    """Keep DIR in sync with Secret NAMESPACE/NAME until stopping() (a Secret volume's behaviour)."""
    from kubernetes import client, config
    from kubernetes.client.rest import ApiException

    secret_ref, _sep, directory = spec.partition("=")
    namespace, _sep, name = secret_ref.partition("/")
    core = None
    while not stopping():
        try:
            core = core or client.CoreV1Api(config.new_client_from_config(config_file=kubeconfig))
            secret = core.read_namespaced_secret(name, namespace)
            data = {k: base64.b64decode(v) for k, v in (secret.data or {}).items()}
            changed = write_secret_files(Path(directory), data)
            if changed:
                log(f"secret {namespace}/{name} -> {directory}: {', '.join(sorted(changed))}")
        except ApiException as err:
            if err.status != 404:
                log(f"cannot read secret {namespace}/{name}: {err.reason}")
        except Exception as err:  # the API server is not there yet
            log(f"cannot read secret {namespace}/{name}: {err}")
        time.sleep(interval)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--name", help="the component's name in run/<name>.state (default: the command's)")
    parser.add_argument("--wait-crd", action="append", default=[])
    parser.add_argument(
        "--pod-for",
        metavar="NAMESPACE:SELECTOR",
        help="wait for a Running pod matching SELECTOR in NAMESPACE and pass --pod-name=<it> to the command",
    )
    parser.add_argument("--arg-from-pod", action="append", default=[], metavar="PREFIX")
    parser.add_argument("--env-from-pod", action="append", default=[], metavar="NAME")
    parser.add_argument("--mount-secret", action="append", default=[], metavar="NAMESPACE/NAME=DIR")
    parser.add_argument("--recheck", type=float, default=5.0, help="seconds between checks of the Pod")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    name = args.name or Path(command[0]).name
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

    def say_log(message: str) -> None:
        print(f"[supervise] {time.strftime('%H:%M:%S')} {name}: {message}", flush=True)

    def say(state: str) -> None:
        marker.write_text(state + "\n")
        print(f"[supervise] {time.strftime('%H:%M:%S')} {name}: {state}", flush=True)

    for spec in args.mount_secret:
        threading.Thread(
            target=mount_secret,
            args=(args.kubeconfig, spec, say_log, lambda: stopping),
            daemon=True,
            name=f"mount {spec}",
        ).start()

    def wanted():
        """(extra args, env) to run with; (message,) to wait; UNKNOWN when the API cannot tell."""
        missing = [crd for crd in args.wait_crd if not crd_established(args.kubeconfig, crd)]
        if missing:
            return ("waiting for CRDs: " + ", ".join(missing),)
        if not args.pod_for:
            return [], {}
        namespace, selector = args.pod_for.split(":", 1)
        pod = find_pod(args.kubeconfig, namespace, selector)
        if pod is UNKNOWN:
            return UNKNOWN
        if pod is None:
            return (f"waiting for a Running pod {selector} in {namespace}",)
        return settings_from_pod(pod, args.arg_from_pod, args.env_from_pod)

    backoff = 1.0
    while not stopping:
        want = wanted()
        if want is UNKNOWN or len(want) == 1:
            say(want[0] if want is not UNKNOWN else "waiting for the API server")
            pause(2.0)
            continue
        extra, env = want
        say("running " + " ".join(extra) + "".join(f" {k}={v}" for k, v in sorted(env.items())))
        started = time.monotonic()
        child = subprocess.Popen([*command, *extra], env=dict(os.environ, **env))
        changed = False
        while child.poll() is None and not stopping:
            pause(args.recheck)
            if stopping or child.poll() is not None:
                break
            now = wanted()
            if now is not UNKNOWN and now != want:
                changed = True
                say(
                    "settings changed ("
                    + (now[0] if len(now) == 1 else "new Pod or arguments")
                    + "): stopping"
                )
                child.terminate()
                try:
                    child.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
        child.wait()
        if stopping:
            break
        if changed:
            backoff = 1.0
            continue
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
