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
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.sandbox import Sandbox, SandboxError  # noqa: E402
from tools.sandbox.chart_repo import ChartSourceError  # noqa: E402
from tools.sandbox.s3 import s3_client  # noqa: E402


def say(msg: str = "") -> None:
    print(msg, flush=True)


def tell(text: str) -> None:
    """A paragraph, wrapped."""
    for line in textwrap.wrap(text, 100):
        say(line)


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


def secret_value(sandbox: Sandbox, namespace: str, name: str, *keys: str) -> str:
    """The first of `keys` the Secret holds, decoded."""
    import base64

    from kubernetes import client

    data = client.CoreV1Api(sandbox.api_client()).read_namespaced_secret(name, namespace).data or {}
    return base64.b64decode(next(data[key] for key in keys if key in data)).decode()


def run_pachctl(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(ROOT / "bin" / "pachctl"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def show_pachyderm(sandbox: Sandbox, namespace: str, address: str) -> bool:
    """Use real Pachyderm through the one port as a user would, saying what each step gave; False when one
    failed."""
    import ssl
    import urllib.error
    import urllib.request

    say("==> demo: Pachyderm through the one port (real pachd; the context the pachctl_context role wrote)")
    version = run_pachctl("version")
    if version.returncode:
        say(f"    pachctl version failed: {version.stderr.strip()}")
        return False
    for line in version.stdout.strip().splitlines():
        say(f"    {line}")
    # The root token the role pinned logs pachctl in (a user logs in with `pachctl auth login`, Dex).
    token = secret_value(sandbox, namespace, "pachyderm-oneport-pinned", "root-token")
    login = run_pachctl("auth", "use-auth-token", stdin=token + "\n")
    if login.returncode:
        say(f"    pachctl auth use-auth-token failed: {login.stderr.strip()}")
        return False
    repo = run_pachctl("create", "repo", "demo")
    if repo.returncode and "already exists" not in repo.stderr:
        say(f"    pachctl create repo demo failed: {repo.stderr.strip()}")
        return False
    put = run_pachctl(
        "put", "file", "demo@master:/hello.txt", "-f", "-", stdin="hello from behind one port\n"
    )
    if put.returncode:
        say(f"    pachctl put file failed: {put.stderr.strip()}")
        return False
    for line in run_pachctl("list", "file", "demo@master").stdout.strip().splitlines():
        say(f"    {line}")
    # The S3 gateway, as an S3 client uses it: the access key and the secret key are both the token.
    ca = secret_value(sandbox, namespace, "pachyderm-proxy-tls", "ca.crt", "tls.crt")
    ca_file = ROOT / ".build" / "demo" / "proxy-ca.pem"
    ca_file.parent.mkdir(parents=True, exist_ok=True)
    ca_file.write_text(ca)
    s3 = s3_client(address, token, token, ca_file)
    body = s3.get_object(Bucket="master.demo", Key="hello.txt")["Body"].read().decode().strip()
    say(f"    S3           GET s3://master.demo/hello.txt at https://{address} (SigV4): {body!r}")
    # A presigned URL reaches the S3 gateway through the one port (the chart's own proxy sends it to the
    # console), and pachd answers it as S3. With auth on, pachd 2.12 accepts only header-signed requests.
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "master.demo", "Key": "hello.txt"})
    try:
        with urllib.request.urlopen(url, context=ssl.create_default_context(cadata=ca), timeout=30) as answer:  # noqa: S310
            status, text = answer.status, answer.read().decode()
    except urllib.error.HTTPError as err:
        status, text = err.code, err.read().decode()
    say(f"    presigned    {url.replace(token, '<root token>')}")  # the token is the key: never printed
    if status == 200:
        say(f"                 -> 200: {text.strip()!r}")
    else:
        code = text.split("<Code>", 1)[-1].split("</Code>", 1)[0] if "<Code>" in text else text[:80]
        say(f"                 -> {status} {code}, answered by pachd's S3 gateway: with auth on, pachd 2.12")
        say("                 verifies only header-signed requests (and a presigned URL would carry the")
        say("                 token, which is also the secret key, in the clear)")
    say(f"    console      https://{address}/ (log in as admin / password: the mock identity provider)")
    return True


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
    # probes the one port when the sandbox's real node runs Pachyderm.
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
    pachyderm_real = real and sandbox.pachyderm_mode == "real"
    used = bool(address) and pachyderm_real and show_pachyderm(sandbox, namespace, address)
    say("")
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
    if pachyderm_real:
        tell(
            "Real: pachd 2.12, its PostgreSQL, pgbouncer and etcd, the console and the proxy (running "
            "the collection's Envoy configuration) run as the chart's pods on the real node, from images "
            "built on this machine; the verify stage probed them through the one port"
            + (", and the steps above used them." if used else ".")
        )
        tell(
            "Not real: Loki's pods (their images cannot be built here) are on kwok's fake node, pipelines' "
            "worker pods cannot start (no worker image is built), and cert-manager is a stand-in that issues "
            "from the sandbox's CA. See docs/sandbox.md."
        )
    elif real:
        say("Skipped: the verify stage (its probes need a Pachyderm that answers).")
        tell(
            "What was not: this sandbox keeps Pachyderm's pods on kwok's fake node "
            "(ONEPORT_SANDBOX_PACHYDERM=fake), so no Pachyderm answers behind the proxy's address. "
            "See docs/sandbox.md."
        )
    else:
        say("Skipped: the verify stage (its probes need a Pachyderm that answers).")
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
    return 0 if address and (used or not pachyderm_real) else 1


if __name__ == "__main__":
    sys.exit(main())
