"""`make demo`: roll Pachyderm out behind one port on the local sandbox cluster and say what happened.

Steps: start the sandbox cluster and its chart repository of the real charts if they are not running, run
`ansible-playbook site.yml -i inventories/local` against it, then print the proxy's external address,
the pachctl context written and what to do next, and plainly what the demo did not do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.sandbox import Sandbox, SandboxError  # noqa: E402
from tools.sandbox.chart_repo import ChartSourceError  # noqa: E402


def say(msg: str = "") -> None:
    print(msg, flush=True)


def proxy_address(sandbox: Sandbox, namespace: str) -> str | None:
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    core = client.CoreV1Api(sandbox.api_client())
    try:
        service = core.read_namespaced_service("pachyderm-proxy", namespace)
    except ApiException:
        return None
    ingress = (service.status.load_balancer and service.status.load_balancer.ingress) or []
    return (ingress[0].ip or ingress[0].hostname) if ingress else None


def pachctl_context() -> tuple[str, dict] | None:
    path = Path(os.environ.get("PACH_CONFIG", Path.home() / ".pachyderm" / "config.json"))
    if not path.is_file():
        return None
    config = json.loads(path.read_text()).get("v2", {})
    name = config.get("active_context")
    return (name, config.get("contexts", {}).get(name, {})) if name else None


def main() -> int:
    namespace = os.environ.get("ONEPORT_NAMESPACE", "pachyderm")
    sandbox = Sandbox()
    say(f"==> demo: the sandbox cluster and its chart repository of the real charts ({sandbox.root})")
    try:
        sandbox.up(log=lambda m: say(f"    {m}"))
        say(f"    charts: {sandbox.chart_repo_url} serves {sandbox.charts_dir}")
    except (SandboxError, ChartSourceError) as err:
        say(f"demo: the sandbox did not start: {err}")
        return 1

    # pachctl's context goes into a config of the demo's own unless PACH_CONFIG says otherwise.
    pach_config = os.environ.get("PACH_CONFIG") or str(ROOT / ".build" / "demo" / "pachctl-config.json")
    Path(pach_config).parent.mkdir(parents=True, exist_ok=True)
    env = dict(
        os.environ,
        K8S_AUTH_KUBECONFIG=str(sandbox.kubeconfig),
        KUBECONFIG=str(sandbox.kubeconfig),
        PACH_CONFIG=pach_config,
    )
    os.environ["PACH_CONFIG"] = pach_config
    # The local inventory decides what runs: prerequisites only checks the tools in bin/, and verify
    # is off, since its probes send traffic to the proxy's address, where nothing listens here.
    cmd = ["ansible-playbook", "site.yml", "-i", "inventories/local"]
    say("==> demo: " + " ".join(cmd))
    rc = subprocess.run(cmd, cwd=ROOT, env=env, check=False).returncode
    if rc:
        say(f"demo: site.yml failed (exit {rc}); the sandbox keeps running for a look:")
        say(f"    export KUBECONFIG={sandbox.kubeconfig}; kubectl get all -A")
        return rc

    address = proxy_address(sandbox, namespace)
    context = pachctl_context()
    say("")
    say("==> demo: result")
    say(f"    cluster      sandbox Kubernetes v1.32.5 at {sandbox.server} (KUBECONFIG={sandbox.kubeconfig})")
    if address:
        say(f"    one port     pachyderm-proxy in namespace {namespace} at {address} (assigned by MetalLB)")
    else:
        say(f"    one port     no pachyderm-proxy Service with an address in namespace {namespace}: site.yml")
        say("                 did not roll Pachyderm out (are its roles enabled in inventories/local?)")
    if context:
        say(f"    pachctl      context {context[0]!r} -> {context[1].get('pachd_address', '?')}")
        say(f"                 (in {pach_config}: `export PACH_CONFIG={pach_config}` to use it)")
    else:
        say("    pachctl      no pachctl context was written")
    say("")
    real = sandbox.node_mode == "real"
    outcome = ", rolling Pachyderm out." if address else "."
    say(
        "What was done: a real Kubernetes control plane"
        + (
            ", a real node (kubelet, containerd, runc, kube-proxy, CoreDNS) running MetalLB's controller and"
            " speaker"
            if real
            else ", the MetalLB controller"
        )
        + " and a cert-manager stand-in"
    )
    say(f"ran on this machine, and site.yml ran against them{outcome}")
    say("Checked, not installed: the prerequisites stage found the pinned tools `make setup` put in bin/.")
    say("Skipped: the verify stage (its probes need a proxy that answers).")
    if real:
        say("What was not: Pachyderm's and cert-manager's pods need images this machine cannot build, so the")
        say(
            "sandbox placed them on kwok's fake node (Running in name only): the proxy's address is announced"
        )
        say("by MetalLB's speaker, but no Pachyderm answers behind it. See docs/sandbox.md.")
    else:
        why = "not root" if os.geteuid() != 0 else "this sandbox was made without the real node"
        say(f"What was not: no container runs ({why}: kwok fakes the node and its pods), so nothing")
        say("answers on the proxy's address. As root, a sandbox made anew (`python -m tools.sandbox down")
        say("--wipe-data`) gets a real node. See docs/sandbox.md.")
    say("")
    say("Next: `make cluster-status`, then look around:")
    say(f"    kubectl --kubeconfig {sandbox.kubeconfig} -n {namespace} get svc,deploy,certificate")
    say("On a real cluster: set the oneport_* variables in an inventory, run")
    say("    ansible-playbook site.yml -i inventories/<env>")
    say("and `pachctl version` then uses the context written. `make cluster-down` stops the sandbox.")
    return 0 if address else 1


if __name__ == "__main__":
    sys.exit(main())
