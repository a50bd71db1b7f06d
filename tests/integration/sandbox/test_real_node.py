"""The sandbox's real node: kubelet, containerd and runc run pods from images built here.

One sandbox of its own in the real node mode for the module; the last test brings another one up and
down and compares the host before and after. Needs root (namespaces, cgroups), as `make cluster-up` does
for the real node.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from support.kubectl import on_cluster
from support.paths import BIN, bin_tool
from support.playbook_runs import changed, run_playbook
from support.sandboxes import running

from tools.sandbox import Sandbox, images, node

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="the real node needs root (network and mount namespaces)"),
]

PROBE = images.PROBE_IMAGE
WEB = f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
        - name: web
          image: {PROBE}
          imagePullPolicy: Never
          args: [serve]
          readinessProbe: {{httpGet: {{path: /, port: 8080}}, periodSeconds: 1}}
---
apiVersion: v1
kind: Service
metadata: {{name: web}}
spec:
  selector: {{app: web}}
  ports: [{{port: 80, targetPort: 8080}}]
---
apiVersion: v1
kind: Service
metadata: {{name: web-nodeport}}
spec:
  type: NodePort
  selector: {{app: web}}
  ports: [{{port: 80, targetPort: 8080}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: client}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: client
      image: {PROBE}
      imagePullPolicy: Never
      args: [sleep]
"""
STORE = f"""
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: data}}
spec:
  accessModes: [ReadWriteOnce]
  resources: {{requests: {{storage: 1Gi}}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: store}}
spec:
  terminationGracePeriodSeconds: 1
  # Not root, as the charts' etcd and PostgreSQL: the provisioned volume must be writable for them.
  securityContext: {{runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000}}
  containers:
    - name: store
      image: {PROBE}
      imagePullPolicy: Never
      args: [serve, -data, /data]
      readinessProbe: {{httpGet: {{path: /, port: 8080}}, periodSeconds: 1}}
      volumeMounts: [{{name: data, mountPath: /data}}]
  volumes: [{{name: data, persistentVolumeClaim: {{claimName: data}}}}]
"""


def kubectl(box: Sandbox, *args: str, stdin: str | None = None, check: bool = True) -> str:
    return on_cluster(box, str(bin_tool("kubectl")), *args, stdin=stdin, check=check).stdout


def http_get(url: str, timeout: float = 5.0, method: str = "GET", data: bytes | None = None) -> str:
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - node addresses only
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        return response.read().decode()


def eventually(check, timeout: float = 20.0, interval: float = 0.5):
    """check()'s result once it returns without raising; its last error after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except (AssertionError, OSError) as err:
            if time.monotonic() > deadline:
                raise AssertionError(f"not true within {timeout:.0f}s: {err}") from err
            time.sleep(interval)


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    root = Path(tmp_path_factory.mktemp("real"))
    with running(Sandbox(root, node_mode="real", pachyderm="fake")) as box:
        kubectl(box, "apply", "-f", "-", stdin=WEB)
        kubectl(box, "rollout", "status", "deployment/web", "--timeout=60s")
        kubectl(box, "wait", "--for=condition=Ready", "pod/client", "--timeout=60s")
        yield box


def web_pods(box: Sandbox) -> set[str]:
    pods = json.loads(kubectl(box, "get", "pods", "-l", "app=web", "-o", "json"))["items"]
    return {p["metadata"]["name"] for p in pods}


def test_the_node_is_real_and_ready(real):
    item = json.loads(kubectl(real, "get", "node", node.NODE_NAME, "-o", "json"))
    assert item["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://1.6.")
    assert item["status"]["nodeInfo"]["kubeletVersion"] == "v1.32.5"
    addresses = {a["type"]: a["address"] for a in item["status"]["addresses"]}
    assert addresses["InternalIP"] == real.network.node_ip
    assert "kwok.x-k8s.io/node" not in (item["metadata"].get("annotations") or {})
    assert {"key": "sandbox.oneport.dev/real-node", "value": "true", "effect": "NoSchedule"} in item["spec"][
        "taints"
    ]


def test_two_replicas_behind_a_cluster_ip_answer_by_name_from_another_pod(real):
    def get() -> str:
        return kubectl(real, "exec", "client", "--", "probe", "get", "http://web.default.svc.cluster.local/")

    # kube-proxy programs a new Service within about a second: the first call may come before that.
    seen = {eventually(get).strip()}
    for _attempt in range(20):
        seen.add(get().strip())
        if len(seen) == 2:
            break
    assert seen == web_pods(real)


def test_kubernetes_default_resolves_and_answers_from_a_pod(real):
    addresses = kubectl(
        real, "exec", "client", "--", "probe", "lookup", "kubernetes.default.svc.cluster.local"
    )
    assert addresses.split() == [real.service_ip]
    # An anonymous request reaches the API server through the Service and is refused by it.
    result = subprocess.run(
        [
            str(bin_tool("kubectl")),
            f"--kubeconfig={real.kubeconfig}",
            "exec",
            "client",
            "--",
            "probe",
            "get",
            f"https://{real.service_ip}/version",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert "certificate" in result.stderr  # TLS from the API server: the probe does not trust its CA


def test_a_node_port_answers_from_the_host(real):
    port = json.loads(kubectl(real, "get", "service", "web-nodeport", "-o", "json"))["spec"]["ports"][0][
        "nodePort"
    ]
    body = eventually(lambda: http_get(f"http://{real.network.node_ip}:{port}/"))
    assert body.strip() in web_pods(real)


def test_logs_exec_and_port_forward_work(real):
    pod = sorted(web_pods(real))[0]
    assert "serving on :8080" in kubectl(real, "logs", pod)
    assert kubectl(real, "exec", pod, "--", "probe", "get", "http://127.0.0.1:8080/").strip() == pod
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        local = sock.getsockname()[1]
    forward = subprocess.Popen(
        [
            str(bin_tool("kubectl")),
            f"--kubeconfig={real.kubeconfig}",
            "port-forward",
            f"pod/{pod}",
            f"{local}:8080",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert eventually(lambda: http_get(f"http://127.0.0.1:{local}/")).strip() == pod
    finally:
        forward.send_signal(signal.SIGTERM)
        forward.wait(10)


def test_a_claim_binds_and_its_data_survives_a_pod_restart(real):
    kubectl(real, "apply", "-f", "-", stdin=STORE)
    kubectl(real, "wait", "--for=condition=Ready", "pod/store", "--timeout=60s")
    claim = json.loads(kubectl(real, "get", "pvc", "data", "-o", "json"))
    assert claim["status"]["phase"] == "Bound"
    ip = json.loads(kubectl(real, "get", "pod", "store", "-o", "json"))["status"]["podIP"]
    http_get(f"http://{ip}:8080/data/note", method="PUT", data=b"kept")
    kubectl(real, "delete", "pod", "store", "--wait=true")
    kubectl(real, "apply", "-f", "-", stdin=STORE)
    kubectl(real, "wait", "--for=condition=Ready", "pod/store", "--timeout=60s")
    ip = json.loads(kubectl(real, "get", "pod", "store", "-o", "json"))["status"]["podIP"]
    assert eventually(lambda: http_get(f"http://{ip}:8080/data/note")) == "kept"
    # The volume's data is in the sandbox directory, not on the host's /tmp.
    volume = claim["spec"]["volumeName"]
    path = json.loads(kubectl(real, "get", "pv", volume, "-o", "json"))["spec"]["hostPath"]["path"]
    assert (real.node_dir / "hostpath_pv" / Path(path).name / "note").read_text() == "kept"
    assert not Path(path, "note").exists()


def test_a_host_path_volume_lives_in_the_sandbox_not_on_the_host(real):
    # Pachyderm's local storage is a hostPath volume under /var: the node's /var is the sandbox's.
    where = f"/var/oneport-test-{os.getpid()}"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "hostpath"},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "main",
                    "image": PROBE,
                    "args": ["serve", "-data", "/data"],
                    "readinessProbe": {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 1},
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                }
            ],
            "volumes": [{"name": "data", "hostPath": {"path": where, "type": "DirectoryOrCreate"}}],
        },
    }
    kubectl(real, "apply", "-f", "-", stdin=json.dumps(pod))
    try:
        kubectl(real, "wait", "--for=condition=Ready", "pod/hostpath", "--timeout=60s")
        ip = json.loads(kubectl(real, "get", "pod", "hostpath", "-o", "json"))["status"]["podIP"]
        http_get(f"http://{ip}:8080/data/note", method="PUT", data=b"here")
        assert (real.node_dir / "root" / where.lstrip("/") / "note").read_text() == "here"
        assert not Path(where).exists()
    finally:
        kubectl(real, "delete", "pod", "hostpath", "--wait=false")


def test_a_pod_whose_image_the_sandbox_cannot_provide_goes_to_the_fake_node_named(real):
    assert images.missing([PROBE, "quay.io/example/absent:1.0"]) == ["quay.io/example/absent:1.0"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "absent"},
        "spec": {"containers": [{"name": "absent", "image": "quay.io/example/absent:1.0"}]},
    }
    kubectl(real, "apply", "-f", "-", stdin=json.dumps(pod))
    placed = json.loads(kubectl(real, "get", "pod", "absent", "-o", "json"))
    assert placed["spec"]["nodeSelector"] == {"type": "kwok"}
    reason = placed["metadata"]["annotations"]["sandbox.oneport.dev/fake-node"]
    assert reason == "images the sandbox cannot provide: quay.io/example/absent:1.0"
    kubectl(real, "delete", "pod", "absent", "--wait=false")


def test_an_image_missing_on_the_real_node_fails_at_once_naming_it(real):
    # Bound to the real node by hand (past the placement webhook): the pull cannot leave the node, so
    # it fails at once instead of hanging, and the pod's status names the image.
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "absent-bound"},
        "spec": {
            "nodeName": node.NODE_NAME,
            "tolerations": [{"operator": "Exists"}],
            "containers": [{"name": "absent", "image": "quay.io/example/absent:1.0"}],
        },
    }
    kubectl(real, "apply", "-f", "-", stdin=json.dumps(pod))

    def reason() -> str:
        item = json.loads(kubectl(real, "get", "pod", "absent-bound", "-o", "json"))
        waiting = (item["status"].get("containerStatuses") or [{}])[0].get("state", {}).get("waiting", {})
        assert waiting.get("reason") in ("ErrImagePull", "ImagePullBackOff"), waiting
        return waiting.get("message", "")

    assert "quay.io/example/absent:1.0" in eventually(reason, timeout=30)
    kubectl(real, "delete", "pod", "absent-bound", "--wait=false")


# ---------------------------------------------------------------- a rollout that is not ready
REPORT_PLAY = """
- name: Read why the pods of a namespace are not ready, as the pachyderm role does before an undo
  hosts: sandbox
  gather_facts: false
  module_defaults:
    group/kubernetes.core.k8s:
      kubeconfig: "{{ kubeconfig }}"
  tasks:
    - name: Diagnose
      ansible.builtin.include_role:
        name: oneport.pachyderm.pachyderm
        tasks_from: diagnose.yml
      vars:
        pachyderm_namespace: not-ready
    - name: Keep the report
      ansible.builtin.copy:
        content: "{{ _pachyderm_rollout_report | to_json }}"
        dest: "{{ out }}"
        mode: "0600"
"""


def test_pods_that_are_not_ready_are_reported_with_the_object_events_log_and_image(real, tmp_path):
    # A Deployment whose container exits at once (its log says why) and a pod whose image is missing.
    crasher = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "crasher", "namespace": "not-ready"},
        "spec": {
            "selector": {"matchLabels": {"app": "crasher"}},
            "template": {
                "metadata": {"labels": {"app": "crasher"}},
                "spec": {"containers": [{"name": "main", "image": PROBE, "args": ["no-such-command"]}]},
            },
        },
    }
    absent = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "absent", "namespace": "not-ready"},
        "spec": {
            "nodeName": node.NODE_NAME,
            "tolerations": [{"operator": "Exists"}],
            "containers": [{"name": "main", "image": "quay.io/example/absent:1.0"}],
        },
    }
    kubectl(real, "create", "namespace", "not-ready")
    try:
        kubectl(
            real,
            "apply",
            "-f",
            "-",
            stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": [crasher, absent]}),
        )

        def crashed_once() -> None:
            pods = json.loads(
                kubectl(real, "-n", "not-ready", "get", "pods", "-l", "app=crasher", "-o", "json")
            )
            assert (
                pods["items"]
                and pods["items"][0]["status"]["containerStatuses"][0].get("restartCount", 0) >= 1
            )

        eventually(crashed_once, timeout=60)
        play = tmp_path / "report.yml"
        play.write_text(REPORT_PLAY)
        out = tmp_path / "report.json"
        result = run_playbook(play, {"kubeconfig": str(real.kubeconfig), "out": str(out)}, tmp_path)
        assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
        report = json.loads(out.read_text())
        by_object = {item["object"]: item for item in report["unready"]}
        assert set(by_object) == {"Deployment not-ready/crasher", "Pod not-ready/absent"}
        crash = by_object["Deployment not-ready/crasher"]
        assert "code 2 (Error)" in crash["problems"][0]  # waiting to restart, or just exited
        assert crash["logs"]["main"][-1] == "probe: unknown command no-such-command"
        assert any(event.startswith("BackOff:") for event in crash["events"])
        missing = by_object["Pod not-ready/absent"]
        assert "image quay.io/example/absent:1.0 cannot be had" in missing["problems"][0]
        assert "logs" in missing and missing["logs"] == {}  # it never ran: no log read
        assert "fix Deployment not-ready/crasher:" in report["text"]
    finally:
        kubectl(real, "delete", "namespace", "not-ready", "--wait=false")


# ---------------------------------------------------------------- MetalLB for real
def test_the_metallb_role_converges_on_the_real_controller_and_speaker(real, tmp_path):
    pool = real.network.pool
    variables = {
        "oneport_kubeconfig": str(real.kubeconfig),
        "oneport_bin_dir": str(BIN),
        "oneport_platform": "metallb",
        "oneport_chart_repo_url": real.chart_repo_url,
        "metallb_wait_timeout": 180,
        "metallb_address_pools": [{"name": "node-link", "addresses": [pool]}],
        "metallb_l2_advertisements": [{"name": "node-link", "ip_address_pools": ["node-link"]}],
    }
    first = run_playbook("playbooks/metallb.yml", variables, tmp_path)
    assert first.returncode == 0, first.stdout[-5000:] + first.stderr[-2000:]
    pods = json.loads(kubectl(real, "-n", "metallb-system", "get", "pods", "-o", "json"))["items"]
    on_node = {
        p["metadata"]["labels"].get("app.kubernetes.io/component"): p
        for p in pods
        if p["spec"].get("nodeName") == node.NODE_NAME
    }
    # MetalLB's own controller and speaker run on the real node; the BGP back end (frr-k8s, with FRR:
    # no image the sandbox can build) is placed on the fake node.
    assert set(on_node) == {"controller", "speaker"}, sorted(on_node)
    for pod in on_node.values():
        assert all(c["ready"] for c in pod["status"]["containerStatuses"]), pod["status"]
    fake = [p for p in pods if p["spec"].get("nodeName") != node.NODE_NAME]
    assert any("frr" in p["metadata"]["name"] for p in fake)
    again = run_playbook("playbooks/metallb.yml", variables, tmp_path)
    assert again.returncode == 0, again.stdout[-5000:]
    assert changed(again) == 0, again.stdout[-5000:]

    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web-lb", "namespace": "default"},
        "spec": {
            "type": "LoadBalancer",
            "ports": [{"port": 80, "targetPort": 8080}],
            "selector": {"app": "web"},
        },
    }
    kubectl(real, "apply", "-f", "-", stdin=json.dumps(service))

    def address() -> str:
        got = json.loads(kubectl(real, "get", "service", "web-lb", "-o", "json"))
        ingress = got.get("status", {}).get("loadBalancer", {}).get("ingress") or []
        assert ingress, "no address assigned yet"
        return ingress[0]["ip"]

    assigned = eventually(address, timeout=60)
    first_ip, last_ip = pool.split("-")
    assert (
        tuple(map(int, first_ip.split(".")))
        <= tuple(map(int, assigned.split(".")))
        <= tuple(map(int, last_ip.split(".")))
    )
    # The host reaches it on the node's link: the speaker answers ARP for it, kube-proxy forwards it.
    assert eventually(lambda: http_get(f"http://{assigned}/"), timeout=60).strip() in web_pods(real)


# ---------------------------------------------------------------- the host stays untouched
def host_snapshot() -> dict:
    """What a real node could change on the host: routes, links, namespaces, rules, sysctls, paths."""
    runtime = bin_tool("node-runtime")
    env = dict(
        os.environ,
        LD_LIBRARY_PATH=str(runtime / "usr/lib/x86_64-linux-gnu"),
        XTABLES_LIBDIR=str(runtime / "usr/lib/x86_64-linux-gnu/xtables"),
    )

    def run(*cmd: str) -> str:
        result = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        return result.stdout + result.stderr

    def listing(root: str) -> list[str]:
        found = []
        for directory, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if not os.path.ismount(os.path.join(directory, d))]
            found += [os.path.join(directory, name) for name in dirs + files]
        return sorted(found)

    sysctls = {}
    for name in [
        *node.SYSCTL_FILES,
        "net/ipv4/ip_forward",
        "net/ipv4/conf/all/route_localnet",
        "net/netfilter/nf_conntrack_max",
        "kernel/pid_max",
        "fs/inotify/max_user_instances",
    ]:
        path = Path("/proc/sys", name)
        sysctls[name] = path.read_text() if path.exists() else None
    return {
        "routes": run("ip", "route", "show", "table", "all"),
        "links": run("ip", "-o", "link", "show"),
        "netns": run("ip", "netns", "list"),
        "iptables-nft": run(str(runtime / "usr/sbin/xtables-nft-multi"), "iptables-save"),
        "iptables-legacy": run(str(runtime / "usr/sbin/xtables-legacy-multi"), "iptables-save"),
        "sysctls": sysctls,
        "var-log": listing("/var/log"),
        "var-lib": listing("/var/lib"),
        "var": sorted(os.listdir("/var")),  # hostPath volumes (Pachyderm's /var/pachyderm-<id>/) too
        "run": [p for p in listing("/run") if not p.startswith("/run/netns")],
        "cgroups": sorted(str(p) for p in Path("/sys/fs/cgroup").glob("*/oneport-*")),
    }


def test_a_sandbox_brought_back_up_returns_once_its_pods_are_ready_again(real):
    def web_ready() -> dict[str, str]:
        """Each ready web pod and when its container last started."""
        pods = json.loads(kubectl(real, "get", "pods", "-l", "app=web", "-o", "json"))["items"]
        return {
            pod["metadata"]["name"]: pod["status"]["containerStatuses"][0]["state"]["running"]["startedAt"]
            for pod in pods
            if any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"]["conditions"])
        }

    before = web_ready()
    assert len(before) == 2
    said: list[str] = []
    real.down(log=lambda msg: None)
    real.up(log=said.append)
    # The pods restarted with the node, and up waited for them to be ready and for their node port to
    # answer: without the wait, the API still shows the Ready status from before the stop while the
    # containers start again, and kube-proxy has yet to program the Service.
    assert any(msg.startswith("pods: all ready again, their node ports answering") for msg in said), said
    after = web_ready()
    assert after.keys() == before.keys()
    assert all(after[name] > before[name] for name in before), (before, after)
    port = json.loads(kubectl(real, "get", "service", "web-nodeport", "-o", "json"))["spec"]["ports"][0][
        "nodePort"
    ]
    assert http_get(f"http://{real.network.node_ip}:{port}/").strip() in after


def test_a_full_up_and_down_leaves_the_host_unchanged(tmp_path):
    before = host_snapshot()
    box = Sandbox(tmp_path / "sbx", node_mode="real", pachyderm="fake")
    try:
        box.up(log=lambda msg: None)
        kubectl(box, "apply", "-f", "-", stdin=WEB)
        kubectl(box, "rollout", "status", "deployment/web", "--timeout=60s")
        during = host_snapshot()
    finally:
        box.down(log=lambda msg: None)
    after = host_snapshot()
    # The node existed (so the comparison means something) ...
    assert box.network.netns in during["netns"]
    assert box.network.host_veth in during["links"]
    assert during["cgroups"]
    # ... and left nothing behind.
    for key in before:
        assert after[key] == before[key], key
