"""Start, stop and inspect the sandbox cluster: real Kubernetes components as local processes.

Order: chart repository (the real published charts over HTTP) -> etcd -> kube-apiserver -> egress
proxy -> kube-controller-manager -> kube-scheduler -> kwok (fake nodes) -> MetalLB controller
(supervised: it starts once MetalLB's CRDs and its Pod exist, restarts with backoff; in a network
namespace of its own) -> cert-manager stand-in (controller, webhook, cainjector).
Everything listens on 127.0.0.1 on ports picked free at the first `up` and kept in state.json, or on Unix
sockets in the state directory, so several checkouts can run a sandbox each.

Safety: the Service CIDR is loopback (127.96.0.0/16), and the API server's only way to reach Services,
Pods or nodes is the egress proxy (tools/sandbox/egress.py), which relays the webhook Services the
sandbox serves to their local processes and refuses everything else. No traffic leaves the machine.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

from . import chart_repo, images, node, pki, placement

REPO = Path(__file__).resolve().parent.parent.parent
# Loopback, so that every ClusterIP the API server could dial is on this machine. kube-apiserver v1.32
# accepts it: only the size of the range is validated (at most 20 host bits), loopback is refused only
# for Endpoints, EndpointSlices and externalIPs, not for ClusterIPs.
SERVICE_CIDR = "127.96.0.0/16"
SERVICE_IP = "127.96.0.1"
# Pod IPs kwok hands out. They must not be loopback (Endpoints refuse it); nothing ever dials them: the
# API server's pods/proxy goes through the egress proxy, which refuses them. Beside the real node they
# come from another range than its pods' (10.244.N.0/24), so no address is both.
POD_CIDR = "10.244.0.0/16"
FAKE_POD_CIDR_BESIDE_REAL_NODE = "10.245.0.0/16"
# MetalLB's pool without the real node: loopback addresses, assigned but answered by nothing.
FAKE_NODE_POOL = "127.0.0.240-127.0.0.250"
# The label by which an EndpointSlice names the Service it belongs to.
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
# The default StorageClass the sandbox creates: kube-controller-manager's own hostPath provisioner.
STORAGE_CLASS = "standard"
HOSTPATH_PROVISIONER = "kubernetes.io/host-path"
# Fixed in k8s.io/kubernetes pkg/volume/hostpath (no flag moves it); only ever read here, never written.
HOSTPATH_ROOT = "/tmp/hostpath_pv/"  # noqa: S108
# Webhook Services the sandbox serves itself: (namespace, name, port) -> socket under run/.
SERVED_SERVICES = {
    ("metallb-system", "metallb-webhook-service", 443): "metallb-webhook.sock",
    ("cert-manager", "cert-manager-webhook", 443): "cert-manager-webhook.sock",
    placement.PLACEMENT_SERVICE: "placement.sock",
}
METALLB_WEBHOOK_PORT = 9443  # fixed in MetalLB v0.16.1's code; private to its network namespace
CLUSTER_NAME = "oneport-sandbox"
# (namespace, name) of the ConfigMap that marks the API server as this tool's disposable sandbox.
IDENTITY = ("kube-public", "oneport-sandbox")
FAKE_NODES = ("kwok-node-0",)
PORT_NAMES = (
    "chart_repo",
    "etcd",
    "etcd_peer",
    "apiserver",
    "controller_manager",
    "scheduler",
    "kwok",
    "metallb_metrics",
    "metallb_health",
)
# MetalLB's controller watches all of these; it starts once every one is Established.
METALLB_CRDS = tuple(
    f"{plural}.metallb.io"
    for plural in (
        "bfdprofiles",
        "bgpadvertisements",
        "bgppeers",
        "communities",
        "configurationstates",
        "ipaddresspools",
        "l2advertisements",
        "servicebgpstatuses",
        "servicel2statuses",
    )
)
# Components in start order; `down` stops them in reverse.
COMPONENTS = (
    "chart-repo",
    "etcd",
    "kube-apiserver",
    "egress",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "placement",
    "apiserver-relay",
    "node",
    "metallb-controller",
    "cert-manager",
)
# Components of one node mode only. MetalLB's controller runs as a host process only when kwok's fake
# node is the only node; with the real node, the chart's own controller and speaker pods run. The real
# node needs the relay (its pods' way to the API server) and the placement webhook.
NODE_MODE_COMPONENTS = {"fake": ("metallb-controller",), "real": ("placement", "apiserver-relay", "node")}
NODE_MODES = tuple(NODE_MODE_COMPONENTS)


class SandboxError(RuntimeError):
    """Something the sandbox could not do; the message says what and how to fix it."""


def requested_node_mode(recorded: str | None) -> str:
    """The node mode asked for by ONEPORT_SANDBOX_NODE, else the one the sandbox was made with, else the
    real node as root and the fake node alone otherwise (namespaces and cgroups need root)."""
    asked = os.environ.get("ONEPORT_SANDBOX_NODE", "").strip().lower()
    if asked and asked not in NODE_MODES:
        raise SandboxError(f"ONEPORT_SANDBOX_NODE={asked!r}: expected one of {', '.join(NODE_MODES)}")
    return asked or recorded or ("real" if os.geteuid() == 0 else "fake")


def requested_pachyderm_mode(recorded: str | None = None) -> str:
    """Whether the real node runs the Pachyderm chart's pods (`real`) or kwok's fake node holds them
    (`fake`: the roles' logic, without the minute real pods take): ONEPORT_SANDBOX_PACHYDERM, else what
    the sandbox was made with, else `real`. Without the real node Pachyderm is always fake."""
    asked = os.environ.get("ONEPORT_SANDBOX_PACHYDERM", "").strip().lower()
    if asked and asked not in NODE_MODES:
        raise SandboxError(f"ONEPORT_SANDBOX_PACHYDERM={asked!r}: expected one of {', '.join(NODE_MODES)}")
    return asked or recorded or "real"


def state_dir() -> Path:
    explicit = os.environ.get("ONEPORT_SANDBOX_DIR")
    return Path(explicit) if explicit else REPO / ".build" / "sandbox"


def ephemeral_ports() -> tuple[int, int]:
    """The range the kernel hands out as source ports of outgoing connections."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A loopback port that is free now and stays free: the sandbox keeps its ports across `up`s.

    Ports come from below the kernel's ephemeral range. A port from inside it (what binding port 0
    gives) can be taken in the meantime as the source port of any outgoing connection, and a component
    started later then finds its recorded port in use.
    """
    low = ephemeral_ports()[0]
    first = max(1024, low - 12000)
    candidates = list(range(first, low))
    random.SystemRandom().shuffle(candidates)
    for port in candidates[:200]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise SandboxError(f"no free loopback port in {first}-{low - 1}, below the ephemeral range")


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def find_binary(name: str) -> str:
    """A sandbox binary: bin/ of the checkout (make setup links it there), else PATH."""
    candidate = REPO / "bin" / name
    if candidate.exists():
        return str(candidate)
    from shutil import which

    found = which(name)
    if not found:
        raise SandboxError(
            f"{name} is not installed: run `make setup` (or `tools/install_tools.py --group sandbox`) "
            "to build the sandbox components into the per-user cache"
        )
    return found


@dataclass
class Status:
    name: str
    running: bool
    pid: int | None
    detail: str = ""


class Sandbox:
    """One sandbox cluster whose state lives in `root` (default .build/sandbox of the checkout)."""

    def __init__(self, root: Path | None = None, node_mode: str | None = None, pachyderm: str | None = None):
        self.root = Path(root) if root else state_dir()
        for name, value in (("node_mode", node_mode), ("pachyderm", pachyderm)):
            if value is not None and value not in NODE_MODES:
                raise SandboxError(f"{name}={value!r}: expected one of {', '.join(NODE_MODES)}")
        self._node_mode_asked = node_mode
        self._pachyderm_asked = pachyderm
        self.pki = self.root / "pki"
        self.logs = self.root / "logs"
        self.pids = self.root / "pids"
        self.kubeconfig = self.root / "kubeconfig"

    # ---------------------------------------------------------------- state
    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    def state(self) -> dict:
        if self.state_file.exists():
            return json.loads(self.state_file.read_text())
        return {}

    def _init_state(self) -> dict:
        state = self.state()
        # A sandbox made before the real node existed recorded only its loopback Service range: it keeps
        # the fake node until `down --wipe-data`.
        made_with = state.get("node_mode") or ("fake" if state.get("service_cidr") == SERVICE_CIDR else None)
        mode = self._node_mode_asked or requested_node_mode(made_with)
        service_cidr = node.SERVICE_CIDR if mode == "real" else SERVICE_CIDR
        # Sandboxes that recorded none were made with Kubernetes' usual 10.96.0.0/16.
        recorded = state.get("service_cidr", "10.96.0.0/16")
        if recorded != service_cidr and (self.root / "data" / "etcd").exists():
            raise SandboxError(
                f"the sandbox in {self.root} holds cluster data made with Service CIDR "
                f"{recorded}, not {service_cidr} (the {mode} node's): "
                "run `python -m tools.sandbox down --wipe-data` (or `make cluster-down` and delete "
                f"{self.root / 'data'}) and `up` again"
            )
        state["service_cidr"] = service_cidr
        state["node_mode"] = mode
        # A sandbox keeps the mode it was made with: Pachyderm's StatefulSets keep their pods where they
        # were placed, so a release made fake would mix real and fake pods. One made before the mode
        # existed had Pachyderm on kwok's node.
        made_fake = "fake" if (self.root / "data" / "etcd").exists() else None
        recorded_pachyderm = state.get("pachyderm") or made_fake
        state["pachyderm"] = (
            (self._pachyderm_asked or requested_pachyderm_mode(recorded_pachyderm))
            if mode == "real"
            else "fake"
        )
        ports = state.setdefault("ports", {})
        for name in PORT_NAMES:
            if name not in ports:
                ports[name] = free_port()
        state.setdefault("cluster", CLUSTER_NAME)
        if mode == "real":
            self._claim_network(state)
        pki.write_private(self.state_file, json.dumps(state, indent=2).encode(), mode=0o644)
        return state

    def _claim_network(self, state: dict) -> None:
        """Keep (or pick) the node's network index and create its link at once, under a lock shared by
        every sandbox of this user: two sandboxes starting together never take the same addresses, and
        a stopped sandbox whose addresses another took meanwhile moves to free ones."""
        import fcntl

        cache = Path(os.environ.get("ONEPORT_CACHE") or Path.home() / ".cache" / "oneport")
        cache.mkdir(parents=True, exist_ok=True)
        with open(cache / "sandbox-node-network.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            index = state.get("node_network")
            if index is not None and node.link_exists(self._network_for(index).host_veth):
                return
            routes = subprocess.run(["ip", "route"], capture_output=True, text=True, check=False).stdout
            if index is None or not node.index_free(index, routes):
                index = node.pick_index(routes)
            state["node_network"] = index
            try:
                node.network_up(self._network_for(index))
            except subprocess.CalledProcessError as err:
                raise SandboxError(f"cannot set up the node's network: {err.stderr.strip() or err}") from None
            except node.NodeError as err:
                raise SandboxError(str(err)) from None

    @property
    def node_mode(self) -> str:
        """`fake` (kwok's node: objects only) or `real` (kubelet, containerd and runc run the pods)."""
        return self.state().get("node_mode", "fake")

    @property
    def pachyderm_mode(self) -> str:
        """`real` when the real node runs the Pachyderm chart's pods, `fake` when kwok's node holds them."""
        return self.state().get("pachyderm", "fake")

    @property
    def image_groups(self) -> tuple[str, ...]:
        """The image groups the real node runs."""
        return images.GROUPS if self.pachyderm_mode == "real" else ("node",)

    @property
    def service_cidr(self) -> str:
        return self.state().get("service_cidr", SERVICE_CIDR)

    @property
    def service_ip(self) -> str:
        """The `kubernetes` Service's ClusterIP: the first address of the Service CIDR."""
        import ipaddress

        return str(ipaddress.ip_network(self.service_cidr).network_address + 1)

    @property
    def network(self) -> node.Network:
        """The real node's addresses (only in the real node mode)."""
        return self._network_for(self.state()["node_network"])

    def _network_for(self, index: int) -> node.Network:
        import hashlib

        return node.Network(index, hashlib.sha256(str(self.root).encode()).hexdigest()[:8])

    @property
    def node_dir(self) -> Path:
        return self.root / "node"

    def components(self) -> tuple[str, ...]:
        """The components of this sandbox's node mode, in start order."""
        other = [m for m in NODE_MODES if m != self.node_mode]
        skip = {c for m in other for c in NODE_MODE_COMPONENTS[m]}
        return tuple(c for c in COMPONENTS if c not in skip)

    @property
    def ports(self) -> dict:
        return self.state().get("ports", {})

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports['apiserver']}"

    # ---------------------------------------------------------------- PKI
    def _ensure_pki(self) -> None:
        ca_crt, ca_key = self.pki / "ca.crt", self.pki / "ca.key"
        if not ca_crt.exists():
            key, cert = pki.make_ca()
            pki.write_private(ca_key, pki.key_pem(key))
            pki.write_private(ca_crt, pki.cert_pem(cert), mode=0o644)
        ca_key_obj, ca_cert = pki.load_key(ca_key), pki.load_cert(ca_crt)

        real_ips = [self.network.host_ip] if self.node_mode == "real" else []

        def leaf(name, common_name, **kwargs):
            crt, key = self.pki / f"{name}.crt", self.pki / f"{name}.key"
            if crt.exists() and key.exists() and _has_ip_sans(crt, kwargs.get("ip_addresses", [])):
                return
            k, c = pki.issue(ca_key_obj, ca_cert, common_name, **kwargs)
            pki.write_private(key, pki.key_pem(k))
            pki.write_private(crt, pki.cert_pem(c), mode=0o644)

        leaf(
            "apiserver",
            "kube-apiserver",
            dns_names=[
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ],
            ip_addresses=["127.0.0.1", self.service_ip, *real_ips],
            server=True,
        )
        if self.node_mode == "real":
            net = self.network
            leaf(
                "kubelet-client",
                "kube-apiserver-kubelet-client",
                organizations=["system:masters"],
                client=True,
            )
            leaf("node", f"system:node:{node.NODE_NAME}", organizations=["system:nodes"], client=True)
            leaf("kube-proxy", "system:kube-proxy", client=True)
            namespace, service, _port = placement.PLACEMENT_SERVICE
            leaf(
                "placement",
                f"{service}.{namespace}.svc",
                dns_names=[f"{service}.{namespace}.svc", f"{service}.{namespace}.svc.cluster.local"],
                server=True,
            )
            leaf(
                "kubelet-serving",
                f"system:node:{node.NODE_NAME}",
                dns_names=[node.NODE_NAME],
                ip_addresses=[net.node_ip],
                server=True,
            )
        leaf("admin", "oneport-admin", organizations=["system:masters"], client=True)
        leaf("controller-manager", "system:kube-controller-manager", client=True)
        leaf("scheduler", "system:kube-scheduler", client=True)
        # kwok, MetalLB and the cert-manager stand-in run outside the cluster, where the vendor
        # charts' RBAC cannot reach them: they act as cluster admins of this throwaway cluster.
        for component in ("kwok", "metallb-controller", "cert-manager", "egress"):
            leaf(component, f"oneport-sandbox:{component}", organizations=["system:masters"], client=True)
        # The aggregation layer's own CA, as kubeadm sets it up: components that delegate
        # authentication read it from kube-system/extension-apiserver-authentication.
        fp_crt, fp_key = self.pki / "front-proxy-ca.crt", self.pki / "front-proxy-ca.key"
        if not fp_crt.exists():
            key, cert = pki.make_ca("oneport-sandbox-front-proxy-ca")
            pki.write_private(fp_key, pki.key_pem(key))
            pki.write_private(fp_crt, pki.cert_pem(cert), mode=0o644)
        if not (self.pki / "front-proxy-client.crt").exists():
            k, c = pki.issue(pki.load_key(fp_key), pki.load_cert(fp_crt), "front-proxy-client", client=True)
            pki.write_private(self.pki / "front-proxy-client.key", pki.key_pem(k))
            pki.write_private(self.pki / "front-proxy-client.crt", pki.cert_pem(c), mode=0o644)
        if not (self.pki / "sa.key").exists():
            private, public = pki.service_account_keys()
            pki.write_private(self.pki / "sa.key", private)
            pki.write_private(self.pki / "sa.pub", public, mode=0o644)

    def _kubeconfig_text(self, user: str, server: str | None = None) -> bytes:
        def b64(path: Path) -> str:
            import base64

            return base64.b64encode(path.read_bytes()).decode()

        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": CLUSTER_NAME,
                    "cluster": {
                        "server": server or self.server,
                        "certificate-authority-data": b64(self.pki / "ca.crt"),
                    },
                }
            ],
            "users": [
                {
                    "name": user,
                    "user": {
                        "client-certificate-data": b64(self.pki / f"{user}.crt"),
                        "client-key-data": b64(self.pki / f"{user}.key"),
                    },
                }
            ],
            "contexts": [{"name": CLUSTER_NAME, "context": {"cluster": CLUSTER_NAME, "user": user}}],
            "current-context": CLUSTER_NAME,
        }
        return yaml.safe_dump(config, sort_keys=False).encode()

    def component_kubeconfig(self, user: str) -> Path:
        return self.root / "kubeconfigs" / f"{user}.yaml"

    def _write_kubeconfigs(self) -> None:
        for user in (
            "controller-manager",
            "scheduler",
            "kwok",
            "metallb-controller",
            "cert-manager",
            "egress",
        ):
            pki.write_private(self.component_kubeconfig(user), self._kubeconfig_text(user))
        pki.write_private(self.kubeconfig, self._kubeconfig_text("admin"))
        if self.node_mode == "real":
            # The node's processes reach the API server through the relay on the host's veth address.
            inside = f"https://{self.network.host_ip}:{self.ports['apiserver']}"
            for user, name in (("node", "kubelet"), ("kube-proxy", "kube-proxy")):
                pki.write_private(self.node_dir / f"{name}.kubeconfig", self._kubeconfig_text(user, inside))

    # ---------------------------------------------------------------- processes
    def _pid_file(self, name: str) -> Path:
        return self.pids / f"{name}.pid"

    def pid(self, name: str) -> int | None:
        """The pid of a running component started by this sandbox (checked against /proc)."""
        path = self._pid_file(name)
        if not path.exists():
            return None
        try:
            pid = int(path.read_text().split()[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except (ValueError, OSError):
            return None
        if not _alive(pid):
            return None
        # A recycled pid belongs to some other process: ours carry a marker in their environment
        # (unreadable for an instant right after exec; the pid file is then fresh and trusted).
        marker = f"ONEPORT_SANDBOX_COMPONENT={self.root}:{name}".encode()
        if environ and cmdline and marker not in environ.split(b"\0"):
            return None
        return pid

    def _spawn(self, name: str, cmd: list[str], env: dict | None = None) -> int:
        self.logs.mkdir(parents=True, exist_ok=True)
        self.pids.mkdir(parents=True, exist_ok=True)
        environment = dict(os.environ, **(env or {}))
        environment["ONEPORT_SANDBOX_COMPONENT"] = f"{self.root}:{name}"
        with open(self.logs / f"{name}.log", "ab") as log:
            log.write(f"\n==> {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(cmd)}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                env=environment,
                start_new_session=True,
            )
        self._pid_file(name).write_text(f"{proc.pid}\n")
        return proc.pid

    def _python_component(self, module: str, *args: str) -> list[str]:
        return [sys.executable, "-m", module, *args]

    def run_path(self, name: str) -> Path:
        """A socket or directory under run/ (removed by wipe_data)."""
        return self.root / "run" / name

    def _write_egress_config(self) -> Path:
        """The API server sends all cluster and control-plane traffic through the egress proxy."""
        uds = {
            "proxyProtocol": "HTTPConnect",
            "transport": {"uds": {"udsName": str(self.run_path("egress.sock"))}},
        }
        config = {
            "apiVersion": "apiserver.k8s.io/v1beta1",
            "kind": "EgressSelectorConfiguration",
            "egressSelections": [
                {"name": "cluster", "connection": uds},
                {"name": "controlplane", "connection": uds},
            ],
        }
        path = self.root / "egress-selector.yaml"
        pki.write_private(path, yaml.safe_dump(config, sort_keys=False).encode(), mode=0o644)
        return path

    def _check_socket_paths(self) -> None:
        from .relay import MAX_UNIX_PATH

        names = ["egress.sock", "apiserver.sock", *SERVED_SERVICES.values()]
        too_long = [
            str(self.run_path(n)) for n in names if len(str(self.run_path(n)).encode()) > MAX_UNIX_PATH
        ]
        if too_long:
            raise SandboxError(
                f"Unix socket paths longer than {MAX_UNIX_PATH} bytes: {', '.join(too_long)}; "
                "use a shorter state directory (ONEPORT_SANDBOX_DIR)"
            )

    def _commands(self) -> dict:
        p = self.ports
        charts = {"chart-repo": (chart_repo.serve_command(self.charts_dir, p["chart_repo"]), None)}
        # MetalLB's webhook server reads its certificate from controller-runtime's default directory,
        # $TMPDIR/k8s-webhook-server/serving-certs (the chart mounts the Secret there; --cert-dir only
        # moves the rotator's copy): one TMPDIR per sandbox keeps two sandboxes apart.
        metallb_tmp = self.run_path("metallb-tmp")
        metallb_certs = metallb_tmp / "k8s-webhook-server" / "serving-certs"
        kube = find_binary("kube")
        data = self.root / "data"
        pk = self.pki
        return {
            **charts,
            "etcd": (
                [
                    find_binary("etcd"),
                    "--name=sandbox",
                    f"--data-dir={data / 'etcd'}",
                    f"--listen-client-urls=http://127.0.0.1:{p['etcd']}",
                    f"--advertise-client-urls=http://127.0.0.1:{p['etcd']}",
                    f"--listen-peer-urls=http://127.0.0.1:{p['etcd_peer']}",
                    f"--initial-advertise-peer-urls=http://127.0.0.1:{p['etcd_peer']}",
                    f"--initial-cluster=sandbox=http://127.0.0.1:{p['etcd_peer']}",
                    "--unsafe-no-fsync=true",
                    "--log-level=warn",
                ],
                None,
            ),
            "kube-apiserver": (
                [
                    kube,
                    "kube-apiserver",
                    f"--etcd-servers=http://127.0.0.1:{p['etcd']}",
                    "--bind-address=127.0.0.1",
                    f"--secure-port={p['apiserver']}",
                    f"--cert-dir={data / 'apiserver'}",
                    f"--tls-cert-file={pk / 'apiserver.crt'}",
                    f"--tls-private-key-file={pk / 'apiserver.key'}",
                    f"--client-ca-file={pk / 'ca.crt'}",
                    "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                    f"--service-account-key-file={pk / 'sa.pub'}",
                    f"--service-account-signing-key-file={pk / 'sa.key'}",
                    f"--service-cluster-ip-range={self.service_cidr}",
                    f"--egress-selector-config-file={self.root / 'egress-selector.yaml'}",
                    *self._apiserver_node_flags(),
                    f"--requestheader-client-ca-file={pk / 'front-proxy-ca.crt'}",
                    "--requestheader-allowed-names=front-proxy-client",
                    "--requestheader-username-headers=X-Remote-User",
                    "--requestheader-group-headers=X-Remote-Group",
                    "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                    f"--proxy-client-cert-file={pk / 'front-proxy-client.crt'}",
                    f"--proxy-client-key-file={pk / 'front-proxy-client.key'}",
                    "--allow-privileged=true",
                    "--enable-priority-and-fairness=false",
                    "--profiling=false",
                    "--v=1",
                ],
                None,
            ),
            "kube-controller-manager": (
                [
                    *self._hostpath_wrapper(),
                    kube,
                    "kube-controller-manager",
                    f"--kubeconfig={self.component_kubeconfig('controller-manager')}",
                    f"--authentication-kubeconfig={self.component_kubeconfig('controller-manager')}",
                    f"--authorization-kubeconfig={self.component_kubeconfig('controller-manager')}",
                    "--bind-address=127.0.0.1",
                    f"--secure-port={p['controller_manager']}",
                    f"--cert-dir={data / 'controller-manager'}",
                    f"--service-account-private-key-file={pk / 'sa.key'}",
                    f"--root-ca-file={pk / 'ca.crt'}",
                    f"--cluster-signing-cert-file={pk / 'ca.crt'}",
                    f"--cluster-signing-key-file={pk / 'ca.key'}",
                    f"--service-cluster-ip-range={self.service_cidr}",
                    # PersistentVolumeClaims of the default StorageClass get hostPath volumes (nothing
                    # runs, so the directories stay empty); see HOSTPATH_ROOT.
                    "--enable-hostpath-provisioner=true",
                    "--use-service-account-credentials=true",
                    "--leader-elect=false",
                    "--profiling=false",
                    "--v=1",
                ],
                {"PYTHONPATH": str(REPO)} if self.node_mode == "real" else None,
            ),
            "kube-scheduler": (
                [
                    kube,
                    "kube-scheduler",
                    f"--kubeconfig={self.component_kubeconfig('scheduler')}",
                    f"--authentication-kubeconfig={self.component_kubeconfig('scheduler')}",
                    f"--authorization-kubeconfig={self.component_kubeconfig('scheduler')}",
                    "--bind-address=127.0.0.1",
                    f"--secure-port={p['scheduler']}",
                    f"--cert-dir={data / 'scheduler'}",
                    "--leader-elect=false",
                    "--profiling=false",
                    "--v=1",
                ],
                None,
            ),
            "kwok": (
                [
                    find_binary("kwok"),
                    f"--kubeconfig={self.component_kubeconfig('kwok')}",
                    "--config="
                    + ",".join(
                        str(p) for p in sorted((Path(__file__).parent / "kwok-stages").glob("*.yaml"))
                    ),
                    "--manage-all-nodes=false",
                    "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                    f"--cidr={FAKE_POD_CIDR_BESIDE_REAL_NODE if self.node_mode == 'real' else POD_CIDR}",
                    "--node-ip=127.0.0.1",
                    f"--server-address=127.0.0.1:{p['kwok']}",
                    "--node-lease-duration-seconds=40",
                ],
                None,
            ),
            "egress": (
                self._python_component(
                    "tools.sandbox.egress",
                    f"--socket={self.run_path('egress.sock')}",
                    f"--kubeconfig={self.component_kubeconfig('egress')}",
                    f"--service-cidr={self.service_cidr}",
                    *(
                        [f"--allow-network={self.network.link}", f"--allow-network={self.network.pod_cidr}"]
                        if self.node_mode == "real"
                        else []
                    ),
                    *[
                        f"--serve={ns}/{name}:{port}=unix:{self.run_path(sock)}"
                        for (ns, name, port), sock in SERVED_SERVICES.items()
                        if (ns, name, port) not in self._unserved()
                    ],
                ),
                {"PYTHONPATH": str(REPO)},
            ),
            **self._node_commands(),
            "metallb-controller": (
                self._python_component(
                    "tools.sandbox.supervise",
                    "--name=metallb-controller",
                    "--kubeconfig",
                    str(self.component_kubeconfig("metallb-controller")),
                    *[f"--wait-crd={crd}" for crd in METALLB_CRDS],
                    "--pod-for=metallb-system:app.kubernetes.io/name=metallb,app.kubernetes.io/component=controller",
                    # As the chart's Pod runs it: its webhook mode (enabled by the chart's default) and
                    # its BGP type, memberlist Secret and Deployment name.
                    "--arg-from-pod=--webhook-mode=",
                    # The chart mounts this Secret at the controller's cert dir; no kubelet does it here.
                    f"--mount-secret=metallb-system/metallb-webhook-cert={metallb_certs}",
                    *[
                        f"--env-from-pod={name}"
                        for name in ("METALLB_BGP_TYPE", "METALLB_ML_SECRET_NAME", "METALLB_DEPLOYMENT")
                    ],
                    "--",
                    *self._python_component(
                        "tools.sandbox.netns",
                        f"--bridge=unix:{self.run_path('apiserver.sock')}=tcp:127.0.0.1:{p['apiserver']}",
                        f"--connect-in=tcp:127.0.0.1:{p['apiserver']}=unix:{self.run_path('apiserver.sock')}",
                        f"--expose=unix:{self.run_path('metallb-webhook.sock')}"
                        f"=tcp:127.0.0.1:{METALLB_WEBHOOK_PORT}",
                    ),
                    "--",
                    find_binary("metallb-controller"),
                    "--namespace=metallb-system",
                    f"--cert-dir={metallb_certs}",
                    f"--port={p['metallb_metrics']}",
                    f"--health-probe-port={p['metallb_health']}",
                    "--log-level=info",
                    f"--kubeconfig={self.component_kubeconfig('metallb-controller')}",
                ),
                {"PYTHONPATH": str(REPO), "TMPDIR": str(metallb_tmp)},
            ),
            "cert-manager": (
                self._python_component(
                    "tools.sandbox.certmanager",
                    "--kubeconfig",
                    str(self.component_kubeconfig("cert-manager")),
                    f"--webhook-socket={self.run_path('cert-manager-webhook.sock')}",
                ),
                {"PYTHONPATH": str(REPO)},
            ),
        }

    def _unserved(self) -> set:
        """SERVED_SERVICES this node mode does not serve: pods do (MetalLB's), or nothing needs them."""
        if self.node_mode == "real":
            return {("metallb-system", "metallb-webhook-service", 443)}
        return {placement.PLACEMENT_SERVICE}

    def _apiserver_node_flags(self) -> list[str]:
        if self.node_mode != "real":
            return [
                "--advertise-address=127.0.0.1",
                "--authorization-mode=RBAC",
                # The endpoint reconciler would publish 127.0.0.1, which Endpoints reject.
                "--endpoint-reconciler-type=none",
            ]
        pk = self.pki
        return [
            # Pods reach `kubernetes.default` at this address (the relay on the host's veth).
            f"--advertise-address={self.network.host_ip}",
            "--endpoint-reconciler-type=lease",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            f"--kubelet-client-certificate={pk / 'kubelet-client.crt'}",
            f"--kubelet-client-key={pk / 'kubelet-client.key'}",
            f"--kubelet-certificate-authority={pk / 'ca.crt'}",
            "--kubelet-preferred-address-types=InternalIP",
        ]

    def _hostpath_wrapper(self) -> list[str]:
        """With the real node, the hostPath provisioner's directories live in the sandbox directory.

        kube-controller-manager makes each volume's directory under HOSTPATH_ROOT; in a private mount
        namespace that path is the sandbox's node/hostpath_pv, which the node's namespace mounts there too.
        """
        if self.node_mode != "real":
            return []
        return [
            "unshare",
            "--mount",
            "--propagation=private",
            *self._python_component(
                "tools.sandbox.node",
                "bindrun",
                f"--bind={self.node_dir / 'hostpath_pv'}={HOSTPATH_ROOT}",
                "--",
            ),
        ]

    def _node_commands(self) -> dict:
        if self.node_mode != "real":
            return {}
        net, port = self.network, self.ports["apiserver"]
        return {
            "placement": (
                self._python_component(
                    "tools.sandbox.placement",
                    f"--socket={self.run_path('placement.sock')}",
                    f"--cert={self.pki / 'placement.crt'}",
                    f"--key={self.pki / 'placement.key'}",
                    f"--real-node={node.NODE_NAME}",
                    *(f"--group={group}" for group in self.image_groups),
                ),
                {"PYTHONPATH": str(REPO)},
            ),
            "apiserver-relay": (
                self._python_component(
                    "tools.sandbox.node", "relay", f"--listen={net.host_ip}:{port}", f"--to=127.0.0.1:{port}"
                ),
                {"PYTHONPATH": str(REPO)},
            ),
            "node": (
                [
                    # Not `ip netns exec`: it remounts /sys, hiding the cgroup hierarchies kubelet needs.
                    "nsenter",
                    f"--net=/run/netns/{net.netns}",
                    "--",
                    "unshare",
                    "--mount",
                    "--propagation=private",
                    *self._python_component(
                        "tools.sandbox.node",
                        "inside",
                        f"--node-dir={self.node_dir}",
                        f"--runtime={find_binary('node-runtime')}",
                        f"--kube-node={find_binary('kube-node')}",
                        f"--node-ip={net.node_ip}",
                        f"--cgroup-root={net.cgroup_root}",
                    ),
                ],
                {"PYTHONPATH": str(REPO)},
            ),
        }

    def _prepare_node(self) -> None:
        """The real node's network, configuration files and images (before its processes start)."""
        net, nd = self.network, self.node_dir
        try:
            node.network_up(net)
        except subprocess.CalledProcessError as err:
            raise SandboxError(f"cannot set up the node's network: {err.stderr.strip() or err}") from None
        except node.NodeError as err:
            raise SandboxError(str(err)) from None
        for sub in ("cni", "manifests", "logs"):
            (nd / sub).mkdir(parents=True, exist_ok=True)
        runtime = Path(find_binary("node-runtime")).resolve()
        files = {
            "containerd.toml": node.containerd_config(nd, runtime),
            "cni/10-oneport.conflist": json.dumps(node.cni_config(net), indent=2) + "\n",
            "resolv.conf": "# the node has no upstream resolver\noptions ndots:1\n",
            "kubelet.yaml": yaml.safe_dump(node.kubelet_config(net, self.pki, nd), sort_keys=False),
            "kube-proxy.yaml": yaml.safe_dump(
                node.kube_proxy_config(net, nd / "kube-proxy.kubeconfig"), sort_keys=False
            ),
        }
        for name, text in files.items():
            # Only when changed: kube-proxy exits when its configuration file is rewritten.
            path = nd / name
            if not path.exists() or path.read_text() != text:
                pki.write_private(path, text.encode(), mode=0o644)
        try:
            images.build_all(find_binary, nd / "images", self.image_groups)
        except OSError as err:
            raise SandboxError(f"cannot build the node's images: {err}; run `make setup`") from None

    # ---------------------------------------------------------------- readiness
    def _ssl_context(self, verify: bool = True) -> ssl.SSLContext:
        if verify:
            ctx = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        else:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        ctx.load_cert_chain(str(self.pki / "admin.crt"), str(self.pki / "admin.key"))
        return ctx

    def _get(self, url: str, verify: bool = True, timeout: float = 2.0) -> tuple[int, str]:
        context = self._ssl_context(verify) if url.startswith("https") else None
        try:
            with urllib.request.urlopen(url, timeout=timeout, context=context) as resp:  # noqa: S310
                return resp.status, resp.read().decode(errors="replace")
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode(errors="replace")
        except (urllib.error.URLError, OSError) as err:
            return 0, str(err)

    def _health_url(self, name: str) -> tuple[str, bool] | None:
        p = self.ports
        return {
            "chart-repo": (f"http://127.0.0.1:{p.get('chart_repo')}/index.yaml", True),
            "etcd": (f"http://127.0.0.1:{p.get('etcd')}/health", True),
            "kube-apiserver": (f"https://127.0.0.1:{p.get('apiserver')}/readyz", True),
            "kube-controller-manager": (f"https://127.0.0.1:{p.get('controller_manager')}/healthz", False),
            "kube-scheduler": (f"https://127.0.0.1:{p.get('scheduler')}/healthz", False),
            "kwok": (f"http://127.0.0.1:{p.get('kwok')}/healthz", True),
        }.get(name)

    def healthy(self, name: str) -> tuple[bool, str]:
        check = self._health_url(name)
        if check is None:
            return (self.pid(name) is not None, "running" if self.pid(name) else "stopped")
        code, body = self._get(check[0], verify=check[1])
        ok = code == 200 and ("true" in body if name == "etcd" else True)
        return ok, f"{code} {body.strip()[:80]}"

    def _wait(self, name: str, pid: int, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        detail = ""
        while time.monotonic() < deadline:
            _reap(pid)
            if not _alive(pid):
                raise SandboxError(
                    f"{name} exited during start-up; see {self.logs / (name + '.log')} (last lines:\n"
                    + self.tail(name)
                    + ")"
                )
            ok, detail = self.healthy(name)
            if ok:
                return
            time.sleep(0.5)
        raise SandboxError(
            f"{name} did not become ready in {timeout:.0f}s ({detail}); see {self.logs / (name + '.log')}"
        )

    def tail(self, name: str, lines: int = 15) -> str:
        path = self.logs / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    # ---------------------------------------------------------------- API objects
    def api_client(self, user: str = "admin"):
        from kubernetes import config

        path = self.kubeconfig if user == "admin" else self.component_kubeconfig(user)
        return config.new_client_from_config(config_file=str(path))

    def _ensure_nodes(self) -> None:
        from kubernetes import client
        from kubernetes.client.rest import ApiException

        core = client.CoreV1Api(self.api_client())
        for name in FAKE_NODES:
            body = {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                    "labels": {
                        "kubernetes.io/hostname": name,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "type": "kwok",
                    },
                },
                "status": {
                    "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "250"},
                    "capacity": {"cpu": "32", "memory": "256Gi", "pods": "250"},
                },
            }
            try:
                core.read_node(name)
            except ApiException as err:
                if err.status != 404:
                    raise
                core.create_node(body)

    def _wait_nodes_ready(self, timeout: float = 60.0) -> None:
        from kubernetes import client

        core = client.CoreV1Api(self.api_client())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready = {
                n.metadata.name
                for n in core.list_node().items
                if any(c.type == "Ready" and c.status == "True" for c in (n.status.conditions or []))
            }
            if set(FAKE_NODES) <= ready:
                return
            time.sleep(0.5)
        raise SandboxError(f"kwok did not mark the fake nodes Ready in {timeout:.0f}s; see {self.logs}")

    def _ensure_placement(self) -> None:
        """The placement webhook's Service (served by the sandbox through the egress proxy) and config."""
        namespace, name, port = placement.PLACEMENT_SERVICE
        service = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"ports": [{"name": "https", "port": port, "protocol": "TCP"}]},
        }
        config = placement.webhook_configuration((self.pki / "ca.crt").read_bytes())
        text = json.dumps({"apiVersion": "v1", "kind": "List", "items": [service, config]})
        result = self._kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", stdin=text)
        if result.returncode:
            raise SandboxError(f"cannot register the placement webhook: {result.stderr.strip()}")

    def _node_detail(self) -> str:
        """The real node's readiness and the pods running on it, as the API server reports them."""
        found = self._kubectl("get", "node", node.NODE_NAME, "-o", "json", "--request-timeout=3s")
        if found.returncode:
            return "not registered yet"
        conditions = json.loads(found.stdout).get("status", {}).get("conditions") or []
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
        pods = self._kubectl(
            "get",
            "pods",
            "-A",
            f"--field-selector=spec.nodeName={node.NODE_NAME},status.phase=Running",
            "-o",
            "name",
            "--request-timeout=3s",
        )
        running = len(pods.stdout.split()) if pods.returncode == 0 else 0
        state = "Ready" if ready else "NotReady"
        pachyderm = "Pachyderm's pods real" if self.pachyderm_mode == "real" else "Pachyderm's pods on kwok"
        return f"{node.NODE_NAME} {state}, {running} pods running ({self.network.node_ip}; {pachyderm})"

    def _kubectl(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        """kubectl as the sandbox's admin; the caller reads returncode and stderr."""
        command = [find_binary("kubectl"), f"--kubeconfig={self.kubeconfig}", *args]
        return subprocess.run(command, input=stdin, capture_output=True, text=True, check=False)

    def _wait_real_node(self, timeout: float = 90.0) -> None:
        from kubernetes import client

        core = client.CoreV1Api(self.api_client())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pid("node") is None:
                raise SandboxError(
                    f"the node stopped during start-up; see {self.logs / 'node.log'} "
                    f"and {self.node_dir / 'logs'}"
                )
            for item in core.list_node().items:
                if item.metadata.name == node.NODE_NAME and any(
                    c.type == "Ready" and c.status == "True" for c in (item.status.conditions or [])
                ):
                    return
            time.sleep(0.5)
        raise SandboxError(
            f"the node {node.NODE_NAME} did not become Ready in {timeout:.0f}s; see {self.node_dir / 'logs'}"
        )

    def _ensure_dns(self, log=print, timeout: float = 90.0) -> None:
        """CoreDNS (built here) as the cluster's DNS at the kubelet's clusterDNS address."""
        manifest = Path(__file__).parent / "manifests" / "coredns.yaml"
        text = manifest.read_text().replace("@DNS_IP@", node.DNS_IP).replace("@IMAGE@", images.COREDNS_IMAGE)
        result = self._kubectl("apply", "--server-side", "-f", "-", stdin=text)
        if result.returncode:
            raise SandboxError(f"cannot apply CoreDNS: {result.stderr.strip()}")
        wait = self._kubectl(
            "-n", "kube-system", "rollout", "status", "deployment/coredns", f"--timeout={int(timeout)}s"
        )
        if wait.returncode:
            raise SandboxError(
                f"CoreDNS did not become available: {wait.stderr.strip() or wait.stdout.strip()}"
            )
        log("coredns: available")

    def _wait_pods_back(self, since: datetime.datetime, log=print, timeout: float = 240.0) -> None:
        """After the node (re)started, wait for the pods it runs to be Ready again and for the node's
        ports of the Services they serve to answer: a sandbox brought back up with its data is then in
        use at once (site.yml finds nothing to change, and its verify probes a one port whose pods are
        still restarting otherwise). A Ready condition older than the node's start, on containers that
        started before it, is the status the node had before it stopped, not an answer; a node port
        refuses until kube-proxy has programmed it with a ready endpoint. What is still not ready after
        `timeout` is named, and up goes on: the rollout that owns it reports why."""
        from kubernetes import client

        core = client.CoreV1Api(self.api_client())
        discovery = client.DiscoveryV1Api(self.api_client())

        def waiting() -> list[str]:
            pods = core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node.NODE_NAME}").items
            names = []
            for pod in pods:
                if pod.metadata.deletion_timestamp or pod.status.phase in ("Succeeded", "Failed"):
                    continue
                ready = [c for c in (pod.status.conditions or []) if c.type == "Ready"]
                running_since = [
                    status.state.running.started_at if status.state and status.state.running else None
                    for status in (pod.status.container_statuses or [])
                ]
                fresh = (ready and ready[0].last_transition_time >= since) or (
                    running_since and all(at is not None and at >= since for at in running_since)
                )
                if not (ready and ready[0].status == "True" and fresh):
                    names.append(f"{pod.metadata.namespace}/{pod.metadata.name}")
            return names

        def refused() -> list[str]:
            """Services with a ready endpoint on this node none of whose node ports accepts a connection
            from the host yet (kube-proxy programs a Service's ports together; one answering is enough,
            as a Service may name ports its pods do not serve)."""
            served = {
                (endpoints.metadata.namespace, (endpoints.metadata.labels or {}).get(SERVICE_NAME_LABEL))
                for endpoints in discovery.list_endpoint_slice_for_all_namespaces().items
                if any(
                    # An endpoint without a ready condition counts as ready, as kube-proxy counts it.
                    endpoint.node_name == node.NODE_NAME
                    and (endpoint.conditions is None or endpoint.conditions.ready is not False)
                    for endpoint in endpoints.endpoints or []
                )
            }
            names = []
            for service in core.list_service_for_all_namespaces().items:
                key = (service.metadata.namespace, service.metadata.name)
                ports = [
                    port.node_port
                    for port in service.spec.ports or []
                    if port.node_port and port.protocol == "TCP"
                ]
                if key in served and ports and not any(answers(port) for port in ports):
                    names.append(f"{key[0]}/{key[1]} (node ports {', '.join(map(str, ports))})")
            return names

        def answers(port: int) -> bool:
            try:
                socket.create_connection((self.network.node_ip, port), timeout=2).close()
            except OSError:
                return False
            return True

        started = time.monotonic()
        pending = waiting() or refused()
        if not pending:
            return
        shown = ", ".join(pending[:5])
        log(f"pods: waiting for {len(pending)} to be ready again on the restarted node: {shown}")
        while pending and time.monotonic() - started < timeout:
            time.sleep(2)
            pending = waiting() or refused()
        if pending:
            log(f"pods: not ready after {timeout:.0f}s: {', '.join(sorted(pending))}")
        else:
            log(f"pods: all ready again, their node ports answering ({time.monotonic() - started:.0f}s)")

    def _wait_default_service_account(self, timeout: float = 60.0) -> None:
        from kubernetes import client
        from kubernetes.client.rest import ApiException

        core = client.CoreV1Api(self.api_client())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                core.read_namespaced_service_account("default", "default")
                return
            except ApiException:
                time.sleep(0.5)
        raise SandboxError("the controller-manager did not create the default ServiceAccount")

    def _ensure_storage_class(self) -> None:
        """The default StorageClass: PVCs without a class get a hostPath PV from the controller-manager."""
        from kubernetes import client
        from kubernetes.client.rest import ApiException

        storage = client.StorageV1Api(self.api_client())
        try:
            storage.read_storage_class(STORAGE_CLASS)
            return
        except ApiException as err:
            if err.status != 404:
                raise
        storage.create_storage_class(
            {
                "apiVersion": "storage.k8s.io/v1",
                "kind": "StorageClass",
                "metadata": {
                    "name": STORAGE_CLASS,
                    "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
                },
                "provisioner": HOSTPATH_PROVISIONER,
                "reclaimPolicy": "Delete",
                "volumeBindingMode": "Immediate",
            }
        )

    def _ensure_identity(self) -> None:
        """The ConfigMap by which the roles recognise this cluster as a disposable sandbox (IDENTITY).

        The pachyderm role allows sandbox settings (the mock identity provider, plain HTTP) only on a
        cluster that holds it, or on a kind cluster.
        """
        from kubernetes import client
        from kubernetes.client.rest import ApiException

        core = client.CoreV1Api(self.api_client())
        namespace, name = IDENTITY
        try:
            core.read_namespaced_config_map(name, namespace)
            return
        except ApiException as err:
            if err.status != 404:
                raise
        core.create_namespaced_config_map(
            namespace,
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": namespace},
                "data": {"cluster": CLUSTER_NAME, "state-dir": str(self.root)},
            },
        )

    @property
    def _hostpath_record(self) -> Path:
        return self.root / "hostpath-volumes.txt"

    def _record_hostpath_volumes(self) -> None:
        """Remember the directories the hostPath provisioner made (outside the state dir), for wipe_data."""
        if self.pid("kube-apiserver") is None:
            return
        try:
            from kubernetes import client

            volumes = client.CoreV1Api(self.api_client()).list_persistent_volume(_request_timeout=5).items
        except Exception:  # the API is already gone: keep the last record
            return
        paths = {v.spec.host_path.path for v in volumes if v.spec.host_path}
        if self._hostpath_record.exists():
            paths |= set(self._hostpath_record.read_text().split())
        paths = sorted(p for p in paths if _is_provisioned_hostpath(p))
        self._hostpath_record.write_text("".join(p + "\n" for p in paths))

    # ---------------------------------------------------------------- commands
    # ---------------------------------------------------------------- chart repository
    @property
    def chart_repo_url(self) -> str:
        """The sandbox's chart repository, as a site's mirror is named (oneport_chart_repo_url)."""
        return f"http://127.0.0.1:{self.ports['chart_repo']}"

    @property
    def charts_dir(self) -> Path:
        """The folder the chart repository serves (the real charts and their index.yaml)."""
        served = self.state().get("charts_dir")
        if not served:
            raise SandboxError(f"the sandbox in {self.root} has not served charts yet: run `up`")
        return Path(served)

    def chart_archive(self, name: str, version: str) -> tuple[Path, str]:
        """(path, sha256) of one packaged chart the repository serves, as its index.yaml lists it."""
        try:
            return chart_repo.archive(self.charts_dir, name, version)
        except chart_repo.ChartSourceError as err:
            raise SandboxError(str(err)) from None

    def _serve_charts(self) -> None:
        """Find the charts to serve and publish the repository's URL where inventories read it."""
        state = self._init_state()
        state["charts_dir"] = str(chart_repo.charts_source())
        pki.write_private(self.state_file, json.dumps(state, indent=2).encode(), mode=0o644)
        pki.write_private(self.root / "chart-repo-url", self.chart_repo_url.encode(), mode=0o644)

    def up(self, log=print) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._init_state()
        try:
            self._serve_charts()
        except chart_repo.ChartSourceError as err:
            raise SandboxError(str(err)) from None
        if self.node_mode == "fake" and not os.environ.get("ONEPORT_SANDBOX_NODE"):
            if os.geteuid() != 0:
                log(
                    "not root: starting the sandbox without its real node (the control plane and kwok's fake "
                    "node: objects are stored, no pod runs); as root, `make cluster-up` adds a real node"
                )
            elif self._node_mode_asked is None:
                log(
                    "this sandbox was made without the real node and keeps it that way; "
                    "`python -m tools.sandbox down --wipe-data`, then `up`, gives it one"
                )
        elif self.pachyderm_mode == "fake" and self._pachyderm_asked is None:
            log(
                "this sandbox keeps Pachyderm's pods on kwok's fake node, as it was made; "
                "`python -m tools.sandbox down --wipe-data`, then `up`, runs them for real"
            )
        # The MetalLB pool inventories/local hands out: the real node's link (the host routes to it),
        # else loopback addresses nothing answers on.
        pool = self.network.pool if self.node_mode == "real" else FAKE_NODE_POOL
        pki.write_private(self.root / "metallb-pool", pool.encode(), mode=0o644)
        # With Pachyderm for real, the proxy's address: the pool's first, which inventories/local asks
        # MetalLB for and names the one port by (pachctl, presigned S3 URLs and the browser reach it
        # by address: nothing here resolves a name to it). Without it, nothing answers there.
        address = self.root / "proxy-address"
        if self.pachyderm_mode == "real":
            pki.write_private(address, pool.split("-")[0].encode(), mode=0o644)
        else:
            address.unlink(missing_ok=True)
        self._ensure_pki()
        self._write_kubeconfigs()
        self._check_socket_paths()
        (self.root / "run").mkdir(exist_ok=True)
        self._write_egress_config()
        if self.node_mode == "real":
            self._prepare_node()
        commands = self._commands()
        node_started = None
        for name in self.components():
            if self.pid(name) is not None:
                log(f"{name}: already running (pid {self.pid(name)})")
                continue
            self._check_ports_free(name)
            cmd, env = commands[name]
            if name == "node":
                node_started = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
            pid = self._spawn(name, cmd, env)
            log(f"{name}: started (pid {pid})")
            if self._health_url(name) is not None:
                self._wait(name, pid)
            if name == "kwok":
                self._ensure_nodes()
                self._wait_nodes_ready()
            if name == "placement":
                self._ensure_placement()
        self._ensure_nodes()
        self._wait_nodes_ready()
        if self.node_mode == "real":
            self._wait_real_node()
        self._wait_default_service_account()
        self._ensure_storage_class()
        self._ensure_identity()
        if self.node_mode == "real":
            self._ensure_dns(log)
        if node_started is not None:
            self._wait_pods_back(node_started, log)
        log(
            f"sandbox ready: {self.server} (kubeconfig {self.kubeconfig}; {self.node_mode} node"
            + (f", Pachyderm {self.pachyderm_mode})" if self.node_mode == "real" else ")")
        )

    def _check_ports_free(self, name: str) -> None:
        owned = {
            "chart-repo": ("chart_repo",),
            "etcd": ("etcd", "etcd_peer"),
            "kube-apiserver": ("apiserver",),
            "kube-controller-manager": ("controller_manager",),
            "kube-scheduler": ("scheduler",),
            "kwok": ("kwok",),
        }.get(name, ())
        for key in owned:
            port = self.ports[key]
            if port_in_use(port):
                raise SandboxError(
                    f"port {port} ({key}) of {self.state_file} is taken by another process; "
                    f"stop it, or delete {self.state_file} so `up` picks new free ports"
                )

    def down(self, log=print, timeout: float = 15.0) -> None:
        self._record_hostpath_volumes()
        for name in reversed(COMPONENTS):
            if name in NODE_MODE_COMPONENTS["real"] and self.node_mode != "real" and self.pid(name) is None:
                continue
            pid = self.pid(name)
            if pid is None:
                self._pid_file(name).unlink(missing_ok=True)
                continue
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and _group_alive(pid):
                _reap(pid)
                time.sleep(0.2)
            if _group_alive(pid):
                os.killpg(pid, signal.SIGKILL)
                while _group_alive(pid):
                    _reap(pid)
                    time.sleep(0.1)
            _reap(pid, timeout=5.0)
            self._pid_file(name).unlink(missing_ok=True)
            log(f"{name}: stopped")
        if self.node_mode == "real" and "node_network" in self.state():
            net = self.network
            node.cgroups_remove(net.cgroup_root)
            node.network_down(net)

    def wipe_data(self) -> None:
        """Forget every object of the cluster (etcd data); only while stopped."""
        import shutil

        if any(self.pid(name) for name in COMPONENTS):
            raise SandboxError("the sandbox is running: `down` before wiping its data")
        shutil.rmtree(self.root / "data", ignore_errors=True)
        shutil.rmtree(self.node_dir, ignore_errors=True)
        shutil.rmtree(self.root / "run", ignore_errors=True)
        # The node mode and its Service range belong to the data: the next `up` chooses them anew.
        state = self.state()
        if state:
            for key in ("node_mode", "service_cidr", "node_network", "pachyderm"):
                state.pop(key, None)
            pki.write_private(self.state_file, json.dumps(state, indent=2).encode(), mode=0o644)
        # The hostPath provisioner's directories (empty: nothing ever runs) of this sandbox's volumes.
        if self._hostpath_record.exists():
            for path in self._hostpath_record.read_text().split():
                if _is_provisioned_hostpath(path):
                    shutil.rmtree(path, ignore_errors=True)
            self._hostpath_record.unlink()

    def status(self) -> list[Status]:
        result = []
        for name in self.components():
            pid = self.pid(name)
            if pid is None:
                result.append(Status(name, False, None, "stopped"))
                continue
            ok, detail = self.healthy(name)
            if name == "metallb-controller":
                marker = self.root / "run" / "metallb-controller.state"
                detail = marker.read_text().strip() if marker.exists() else "starting"
            if name == "cert-manager":
                marker = self.root / "run" / "cert-manager.state"
                detail = marker.read_text().strip() if marker.exists() else "starting"
            if name == "node":
                detail = self._node_detail()
            result.append(Status(name, ok, pid, detail))
        return result

    def running(self) -> bool:
        return all(s.running for s in self.status())


def _has_ip_sans(crt: Path, ips: list[str]) -> bool:
    """True when the certificate names every one of ips (a changed Service CIDR needs a new one)."""
    if not ips:
        return True
    import ipaddress

    from cryptography import x509

    try:
        san = pki.load_cert(crt).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    have = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    return {str(ipaddress.ip_address(ip)) for ip in ips} <= have


def _is_provisioned_hostpath(path: str) -> bool:
    """A directory the in-tree hostPath provisioner made: /tmp/hostpath_pv/<uuid>, nothing else."""
    import re

    return bool(re.fullmatch(re.escape(HOSTPATH_ROOT) + r"[0-9a-f-]{36}", path))


def _reap(pid: int, timeout: float = 0.0) -> None:
    """Collect the exit status of a component this process started itself (no zombie left).

    Components started by another process (an earlier `up`) are not our children: nothing to do.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            done, _status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if done or time.monotonic() >= deadline:
            return
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # Zombies of our own children count as gone.
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False
