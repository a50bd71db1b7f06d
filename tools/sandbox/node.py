"""The sandbox's real node: containerd, runc, kubelet and kube-proxy in a network namespace of their own.

Layout (N is picked free at the first `up` and kept in state.json, so two sandboxes never share it):

  host                                     node network namespace (oneport-<id>)
  veth <id>h  10.250.N.1/24  <----------->  eth0  10.250.N.2/24  (the node's InternalIP)
  route 10.244.N.0/24 via 10.250.N.2        cni0  10.244.N.1/24  bridge for the pods (10.244.N.0/24)
  relay 10.250.N.1:<apiserver port>         kube-proxy programs Services (10.96.0.0/16) here
        -> 127.0.0.1:<apiserver port>       MetalLB's pool: 10.250.N.200-10.250.N.250 (on eth0's link)

The node has no default route: nothing in it can reach anything but the host's veth address and its own
pods. The host gains one interface, two routes and the netns file; `down` removes all three.

Host isolation: the node's processes run in a private mount namespace (`unshare --mount`) in
which `/run` is a tmpfs, `/var` is a directory of the sandbox (kubelet hard-codes /var/log/pods and
libcni /var/lib/cni; hostPath volumes such as Pachyderm's local storage live under /var), and the
three sysctl files kubelet would rewrite
(vm/overcommit_memory, kernel/panic, kernel/panic_on_oops) are files of the sandbox bind-mounted over
/proc/sys. Pods' cgroups live under /oneport-<id> of each cgroup v1 controller (kubelet's cgroupfs
driver); `down` stops every process in them and removes them.

`python -m tools.sandbox.node inside ...` is the supervisor that runs in the namespaces: it makes the
mounts, starts containerd, imports the sandbox's images, then kubelet and kube-proxy, and on SIGTERM
stops them and every process they left behind (it is their child subreaper, so containerd's shims and
the containers stay its descendants).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import ipaddress
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .placement import REAL_NODE_TAINT

SERVICE_CIDR = "10.96.0.0/16"
SERVICE_IP = "10.96.0.1"
DNS_IP = "10.96.0.10"
NODE_NAME = "oneport-node"
POD_CIDR_TEMPLATE = "10.244.{n}.0/24"
LINK_TEMPLATE = "10.250.{n}.0/24"
KUBELET_PORT = 10250
SYSCTL_FILES = ("vm/overcommit_memory", "kernel/panic", "kernel/panic_on_oops")
CGROUP_BASE = Path("/sys/fs/cgroup")
PR_SET_CHILD_SUBREAPER = 36


class NodeError(RuntimeError):
    """Something the real node could not do; the message says what and how to fix it."""


class Network:
    """The node's addresses, derived from its index N (1..249)."""

    def __init__(self, index: int, ident: str):
        self.index = index
        self.ident = ident
        link = ipaddress.ip_network(LINK_TEMPLATE.format(n=index))
        self.link = str(link)
        self.host_ip = str(link.network_address + 1)
        self.node_ip = str(link.network_address + 2)
        self.pool = f"{link.network_address + 200}-{link.network_address + 250}"
        self.pod_cidr = POD_CIDR_TEMPLATE.format(n=index)
        self.bridge_ip = str(ipaddress.ip_network(self.pod_cidr).network_address + 1)
        self.netns = f"oneport-{ident}"
        self.host_veth = f"op{ident}h"
        self.cgroup_root = f"/oneport-{ident}"


def _routed(routes: str) -> list:
    networks = []
    for line in routes.splitlines():
        word = line.split()[0] if line.split() else "default"
        with contextlib.suppress(ValueError):
            if word != "default":
                networks.append(ipaddress.ip_network(word, strict=False))
    return networks


def index_free(n: int, routes: str) -> bool:
    """Whether no host route (`ip route show` output) overlaps 10.250.N.0/24 or 10.244.N.0/24."""
    mine = [
        ipaddress.ip_network(LINK_TEMPLATE.format(n=n)),
        ipaddress.ip_network(POD_CIDR_TEMPLATE.format(n=n)),
    ]
    return not any(a.overlaps(b) for a in mine for b in _routed(routes))


def pick_index(routes: str) -> int:
    """The first N whose 10.250.N.0/24 and 10.244.N.0/24 no host route overlaps."""
    for n in range(1, 250):
        if index_free(n, routes):
            return n
    raise NodeError("no free 10.250.N.0/24 for the node's link: remove stale routes (`ip route`)")


def link_exists(name: str) -> bool:
    return ip("link", "show", name, check=False).returncode == 0


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def netns_exists(name: str) -> bool:
    return name in ip("netns", "list", check=False).stdout.split()


def network_up(net: Network) -> None:
    """Create the namespace, the veth pair, the addresses and the host's route to the pods (idempotent)."""
    if os.geteuid() != 0:
        raise NodeError(
            "the real node needs root (network and mount namespaces, cgroups): run as root, or use the "
            "control-plane-only sandbox (ONEPORT_SANDBOX_NODE=fake)"
        )
    if not netns_exists(net.netns):
        ip("netns", "add", net.netns)
    if not link_exists(net.host_veth):
        ip("link", "add", net.host_veth, "type", "veth", "peer", "name", "eth0", "netns", net.netns)
    ip("addr", "replace", f"{net.host_ip}/24", "dev", net.host_veth)
    ip("link", "set", net.host_veth, "up")
    ip("-n", net.netns, "addr", "replace", f"{net.node_ip}/24", "dev", "eth0")
    ip("-n", net.netns, "link", "set", "eth0", "up")
    ip("-n", net.netns, "link", "set", "lo", "up")
    # Host-network pods (MetalLB's speaker) dial ClusterIPs from the node itself: the route lets the
    # connect pass routing, kube-proxy's OUTPUT rules then translate it.
    ip("-n", net.netns, "route", "replace", SERVICE_CIDR, "via", net.host_ip, "dev", "eth0")
    ip("route", "replace", net.pod_cidr, "via", net.node_ip, "dev", net.host_veth)


def network_down(net: Network) -> None:
    ip("route", "del", net.pod_cidr, check=False)
    ip("link", "del", net.host_veth, check=False)
    if netns_exists(net.netns):
        ip("netns", "del", net.netns)


def cgroup_dirs(root: str) -> list[Path]:
    """Every cgroup v1 directory kubelet made under `root`, deepest first."""
    found = []
    for controller in sorted(CGROUP_BASE.iterdir()) if CGROUP_BASE.exists() else []:
        top = controller / root.lstrip("/")
        if top.is_dir() and not top.is_symlink():
            found += [Path(d) for d, _dirs, _files in os.walk(top)]
    return sorted(set(found), key=lambda p: len(p.parts), reverse=True)


def cgroup_pids(root: str) -> set[int]:
    pids = set()
    for directory in cgroup_dirs(root):
        with contextlib.suppress(OSError):
            pids |= {int(p) for p in (directory / "cgroup.procs").read_text().split()}
    return pids


def cgroups_create(root: str) -> None:
    """kubelet's cgroup root in every cgroup v1 hierarchy (kubelet requires it to exist)."""
    for controller in sorted(CGROUP_BASE.iterdir()):
        if controller.is_symlink() or not (controller / "cgroup.procs").exists():
            continue
        if (controller / "cgroup.controllers").exists():
            continue  # the cgroup v2 mount: kubelet's cgroupfs driver uses the v1 hierarchies
        top = controller / root.lstrip("/")
        top.mkdir(exist_ok=True)
        for name in ("cpuset.cpus", "cpuset.mems"):
            if (top / name).exists() and not (top / name).read_text().strip():
                (top / name).write_text((controller / name).read_text())


def cgroups_remove(root: str, timeout: float = 10.0) -> None:
    """Stop every process left in the node's cgroups (pods the sandbox started) and remove them."""
    deadline = time.monotonic() + timeout
    while True:
        pids = cgroup_pids(root)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for directory in cgroup_dirs(root):
            with contextlib.suppress(OSError):
                directory.rmdir()
        if not cgroup_dirs(root) or time.monotonic() > deadline:
            return
        time.sleep(0.2)


# ------------------------------------------------------------------ configuration files
def containerd_config(node_dir: Path, runtime: Path) -> str:
    from .images import PAUSE_IMAGE

    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""version = 2
root = "{node_dir / "containerd"}"
state = "/run/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
                    "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
                    "io.containerd.internal.v1.opt", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "/run/containerd/containerd.sock"

[{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  # Negative oom_score_adj needs CAP_SYS_RESOURCE, which may be missing: clamp instead of failing.
  restrict_oom_score_adj = true
  enable_selinux = false
  [{cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [{cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [{cri}.containerd.runtimes.runc.options]
        BinaryName = "{runtime / "usr/sbin/runc"}"
        SystemdCgroup = false
  [{cri}.cni]
    bin_dir = "{runtime / "usr/lib/cni"}"
    conf_dir = "{node_dir / "cni"}"
"""


def cni_config(net: Network) -> dict:
    return {
        "cniVersion": "0.4.0",
        "name": "oneport-sandbox",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "cni0",
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": net.pod_cidr, "gateway": net.bridge_ip}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def kubelet_config(net: Network, pki_dir: Path, node_dir: Path) -> dict:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": net.node_ip,
        "port": KUBELET_PORT,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(pki_dir / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "tlsCertFile": str(pki_dir / "kubelet-serving.crt"),
        "tlsPrivateKeyFile": str(pki_dir / "kubelet-serving.key"),
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": net.cgroup_root,
        "containerRuntimeEndpoint": "unix:///run/containerd/containerd.sock",
        "clusterDNS": [DNS_IP],
        "clusterDomain": "cluster.local",
        "resolvConf": str(node_dir / "resolv.conf"),
        "failSwapOn": False,
        # Images are imported, never pulled: garbage collection must not delete them.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
        "protectKernelDefaults": False,
        "serializeImagePulls": False,
        "staticPodPath": str(node_dir / "manifests"),
        # Only pods the placement webhook lets on (tools/sandbox/placement.py) tolerate it.
        "registerWithTaints": [REAL_NODE_TAINT],
        "podPidsLimit": 4096,
        "maxPods": 110,
    }


def kube_proxy_config(net: Network, kubeconfig: Path) -> dict:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "mode": "iptables",
        "clusterCIDR": net.pod_cidr,
        "hostnameOverride": NODE_NAME,
        "bindAddress": net.node_ip,
        "healthzBindAddress": "127.0.0.1:10256",
        "metricsBindAddress": "127.0.0.1:10249",
        # Negative values cannot be written without CAP_SYS_RESOURCE; conntrack sysctls are the host's.
        "oomScoreAdj": 0,
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
        "nodePortAddresses": [f"{net.node_ip}/32"],
    }


# ------------------------------------------------------------------ the supervisor inside the namespaces
def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True)


def prepare_mounts(node_dir: Path) -> None:
    """The private mounts that keep kubelet, containerd and libcni off the host's paths and sysctls."""
    _mount("-t", "tmpfs", "-o", "mode=755", "tmpfs", "/run")
    # All of /var is the sandbox's: kubelet's and containerd's state under /var/lib, pods' logs under
    # /var/log, and every hostPath volume a chart asks for under /var (Pachyderm's local storage is
    # /var/pachyderm-<id>/), which kubelet would otherwise create on the host.
    own = node_dir / "root" / "var"
    for name in ("lib", "log"):
        (own / name).mkdir(parents=True, exist_ok=True)
    (own / "tmp").mkdir(mode=0o1777, exist_ok=True)
    for name, target in (("run", "/run"), ("lock", "/run/lock")):
        if not (own / name).is_symlink():
            (own / name).symlink_to(target)
    _mount("--bind", str(own), "/var")
    bind_hostpath(node_dir)
    for name in SYSCTL_FILES:
        real = Path("/proc/sys") / name
        copy = node_dir / "sysctl" / name.replace("/", ".")
        copy.parent.mkdir(parents=True, exist_ok=True)
        if not copy.exists():
            copy.write_text(real.read_text())
        _mount("--bind", str(copy), str(real))


def bind_dir(source: Path, target: str) -> None:
    """Mount `source` over `target` in this (private) mount namespace; the mountpoint is made if absent."""
    source.mkdir(parents=True, exist_ok=True)
    Path(target).mkdir(parents=True, exist_ok=True)
    _mount("--bind", str(source), target)


def bind_hostpath(node_dir: Path) -> None:
    from .cluster import HOSTPATH_ROOT

    bind_dir(node_dir / "hostpath_pv", HOSTPATH_ROOT.rstrip("/"))


def open_volumes(root: Path) -> None:
    """Let every user write to the provisioned volumes, as local-path provisioners make them.

    kube-controller-manager's hostPath provisioner makes each volume's directory 0750 and root's, and
    kubelet applies no fsGroup to hostPath volumes: charts' pods that run as another user (etcd and
    PostgreSQL as uid 1000) could not write their data. A new volume is opened within half a second,
    before kubelet has mounted it into a container.
    """
    with contextlib.suppress(OSError):
        for volume in root.iterdir():
            with contextlib.suppress(OSError):
                if volume.is_dir() and volume.stat().st_mode & 0o777 != 0o777:
                    volume.chmod(0o777)


def descendants(root_pid: int) -> list[int]:
    """Every process below root_pid, at any depth (found through /proc: sessions of their own too)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root_pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def inside(args) -> int:
    node_dir = Path(args.node_dir)
    runtime = Path(args.runtime)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    prepare_mounts(node_dir)
    cgroups_create(args.cgroup_root)
    env = dict(os.environ)
    env["PATH"] = f"{runtime / 'usr/sbin'}:{runtime / 'usr/bin'}:{env.get('PATH', '/usr/sbin:/usr/bin')}"
    env["LD_LIBRARY_PATH"] = str(runtime / "usr/lib/x86_64-linux-gnu")
    env["XTABLES_LIBDIR"] = str(runtime / "usr/lib/x86_64-linux-gnu/xtables")
    procs: dict[str, subprocess.Popen] = {}
    stopping = False

    def log(msg: str) -> None:
        print(f"[node] {time.strftime('%H:%M:%S')} {msg}", flush=True)

    def start(name: str, cmd: list[str]) -> None:
        out = open(node_dir / "logs" / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it
        procs[name] = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL
        )
        log(f"{name} started (pid {procs[name].pid})")

    def stop(signum=None, _frame=None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    (node_dir / "logs").mkdir(parents=True, exist_ok=True)
    start("containerd", [str(runtime / "usr/bin/containerd"), "--config", str(node_dir / "containerd.toml")])
    sock = Path("/run/containerd/containerd.sock")
    deadline = time.monotonic() + 30
    while not sock.exists():
        if procs["containerd"].poll() is not None or time.monotonic() > deadline:
            log("containerd did not start; see its log")
            return 1
        time.sleep(0.1)
    ctr = [str(runtime / "usr/bin/ctr"), "--address", str(sock), "-n", "k8s.io"]
    for archive in sorted((node_dir / "images").glob("*.tar")):
        result = subprocess.run(
            [*ctr, "images", "import", "--no-unpack", str(archive)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode:
            log(f"importing {archive.name} failed: {result.stderr.strip()}")
            return 1
    log("images imported")
    start(
        "kubelet",
        [
            args.kube_node,
            "kubelet",
            f"--config={node_dir / 'kubelet.yaml'}",
            f"--kubeconfig={node_dir / 'kubelet.kubeconfig'}",
            f"--hostname-override={NODE_NAME}",
            f"--node-ip={args.node_ip}",
            "--v=1",
        ],
    )
    start("kube-proxy", [args.kube_node, "kube-proxy", f"--config={node_dir / 'kube-proxy.yaml'}", "--v=1"])
    Path(node_dir / "ready").write_text("started\n")
    while not stopping:
        open_volumes(node_dir / "hostpath_pv")
        for name, proc in procs.items():
            if proc.poll() is not None:
                log(f"{name} exited with status {proc.returncode}; stopping the node")
                stopping = True
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        time.sleep(0.5)
    log("stopping")
    for name in ("kube-proxy", "kubelet"):
        if procs.get(name) and procs[name].poll() is None:
            procs[name].terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                procs[name].wait(10)
    cgroups_remove(args.cgroup_root)
    if procs["containerd"].poll() is None:
        procs["containerd"].terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            procs["containerd"].wait(10)
    me = os.getpid()
    for _round in range(3):
        left = descendants(me)
        if not left:
            break
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.3)
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
    (node_dir / "ready").unlink(missing_ok=True)
    log("stopped")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("inside", help="the supervisor inside the node's namespaces")
    run.add_argument("--node-dir", required=True)
    run.add_argument("--runtime", required=True)
    run.add_argument("--kube-node", required=True)
    run.add_argument("--node-ip", required=True)
    run.add_argument("--cgroup-root", required=True)
    bindrun = sub.add_parser("bindrun", help="bind-mount directories, then exec a command")
    bindrun.add_argument("--bind", action="append", default=[], metavar="SOURCE=TARGET")
    bindrun.add_argument("cmd", nargs=argparse.REMAINDER)
    relay = sub.add_parser("relay", help="on the host: the node's way to the API server")
    relay.add_argument("--listen", required=True, metavar="IP:PORT")
    relay.add_argument("--to", required=True, metavar="127.0.0.1:PORT")
    args = parser.parse_args(argv)
    if args.command == "bindrun":
        for item in args.bind:
            source, _sep, target = item.partition("=")
            bind_dir(Path(source), target.rstrip("/"))
        cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
        os.execvp(cmd[0], cmd)  # noqa: S606 - the command line the sandbox built, no shell
    if args.command == "relay":
        return run_relay(args.listen, args.to)
    return inside(args)


def run_relay(listen: str, to: str) -> int:
    """Relay the host's veth address to the API server on loopback (the node's pods dial the former)."""
    import asyncio

    from .relay import Endpoint, forwarder, parse_endpoint, serve_endpoint

    host, _sep, port = listen.rpartition(":")
    source = Endpoint("tcp", host=host, port=int(port))
    target = parse_endpoint("tcp:" + to)

    async def serve() -> None:
        server = await serve_endpoint(
            source, forwarder(target, lambda msg: print(f"[relay] {msg}", flush=True))
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        print(f"[relay] {listen} -> {to}", flush=True)
        async with server:
            await stop.wait()

    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
