"""The real node's pure parts: placement decisions, packed images, addresses and configuration."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import subprocess
import tarfile

import pytest
import yaml
from support.role_inputs import WithRoleDefaults

from ansible_collections.oneport.pachyderm.plugins.module_utils import pachyderm_proxy as _pachyderm_proxy
from tools.sandbox import images, node, placement
from tools.sandbox.egress import decide, service_index

REAL = node.NODE_NAME
pachyderm_proxy = WithRoleDefaults(_pachyderm_proxy)


def pod(image: str, **spec) -> dict:
    return {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": image}], **spec}}


def apply_patch(obj: dict, patch: list[dict]) -> dict:
    """A JSON patch of `add` operations, as the API server applies it (enough for these patches)."""
    for op in patch:
        assert op["op"] == "add"
        *parents, last = [t.replace("~1", "/").replace("~0", "~") for t in op["path"].split("/")[1:]]
        target = obj
        for token in parents:
            target = target[token]
        if last == "-":
            target.append(op["value"])
        else:
            target[last] = op["value"]
    return obj


def test_a_pod_with_only_packed_images_tolerates_the_real_node_and_is_pinned_to_it():
    placed = apply_patch(pod(images.PROBE_IMAGE), placement.place_pod(pod(images.PROBE_IMAGE), REAL))
    assert placed["spec"]["tolerations"] == [placement.TOLERATION]
    assert placed["spec"]["nodeSelector"] == {"kubernetes.io/hostname": REAL}


def test_existing_selectors_and_tolerations_are_kept():
    original = pod(
        images.PROBE_IMAGE, nodeSelector={"kubernetes.io/os": "linux"}, tolerations=[{"operator": "Exists"}]
    )
    placed = apply_patch(json.loads(json.dumps(original)), placement.place_pod(original, REAL))
    assert placed["spec"]["nodeSelector"] == {"kubernetes.io/os": "linux", "kubernetes.io/hostname": REAL}
    assert placed["spec"]["tolerations"] == [{"operator": "Exists"}, placement.TOLERATION]


def test_a_pod_with_an_image_the_sandbox_lacks_goes_to_the_fake_node_with_the_reason():
    original = pod(images.PROBE_IMAGE)
    original["spec"]["initContainers"] = [
        {"name": "i", "image": "quay.io/jetstack/cert-manager-controller:v1.21.1"}
    ]
    placed = apply_patch(original, placement.place_pod(json.loads(json.dumps(original)), REAL))
    assert placed["spec"]["nodeSelector"] == placement.FAKE_NODE_SELECTOR
    assert "tolerations" not in placed["spec"]
    assert placed["metadata"]["annotations"][placement.REASON_ANNOTATION] == (
        "images the sandbox cannot provide: quay.io/jetstack/cert-manager-controller:v1.21.1"
    )


@pytest.mark.parametrize(
    "extra",
    [
        {"spec": {"nodeName": "anywhere"}},
        {"metadata": {"ownerReferences": [{"kind": "DaemonSet", "name": "d"}]}},
    ],
)
def test_bound_pods_and_daemonset_pods_are_left_alone(extra):
    original = pod("quay.io/example/absent:1")
    for key, value in extra.items():
        original[key].update(value)
    assert placement.place_pod(original, REAL) == []


def test_daemonsets_reach_the_real_node_only_with_every_image_packed():
    speaker = {"spec": {"template": {"spec": {"containers": [{"image": images.METALLB_SPEAKER_IMAGE}]}}}}
    frr = {"spec": {"template": {"spec": {"containers": [{"image": "quay.io/frrouting/frr:10.4.3"}]}}}}
    assert placement.place_daemonset(frr) == []
    placed = apply_patch(speaker, placement.place_daemonset(speaker))
    assert placed["spec"]["template"]["spec"]["tolerations"] == [placement.TOLERATION]
    # A second admission (an update) adds nothing.
    assert placement.place_daemonset(placed) == []


def test_the_review_answers_with_a_base64_json_patch_and_always_allows():
    request = {"uid": "u1", "kind": {"kind": "Pod"}, "operation": "CREATE", "object": pod(images.PROBE_IMAGE)}
    answer = placement.review(REAL)({"request": request}, "/mutate")["response"]
    assert answer["allowed"] is True and answer["uid"] == "u1"
    assert answer["patchType"] == "JSONPatch"
    assert json.loads(base64.b64decode(answer["patch"])) == placement.place_pod(pod(images.PROBE_IMAGE), REAL)


def tool_finder(tmp_path, **contents):
    """find_tool over files (bytes) and trees (dicts of relative path -> bytes or ("link", target))."""
    for tool, content in contents.items():
        where = tmp_path / "tools" / tool
        if isinstance(content, bytes):
            where.parent.mkdir(parents=True, exist_ok=True)
            where.write_bytes(content)
            continue
        for relative, data in content.items():
            path = where / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(data, tuple):
                path.symlink_to(data[1])
            else:
                path.write_bytes(data)
    return lambda tool: str(tmp_path / "tools" / tool)


def read_image(data: bytes) -> tuple[list, dict, tarfile.TarFile]:
    with tarfile.open(fileobj=io.BytesIO(data)) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))
        config = json.load(outer.extractfile(manifest[0]["Config"]))
        layer_bytes = outer.extractfile(manifest[0]["Layers"][0]).read()
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(layer_bytes).hexdigest()]
    return manifest, config, tarfile.open(fileobj=io.BytesIO(layer_bytes))


def test_an_image_archive_is_deterministic_and_named_as_the_chart_asks(tmp_path):
    image = images.CATALOGUE[images.METALLB_SPEAKER_IMAGE]
    one = tool_finder(tmp_path / "a", **{"metallb-speaker": b"\x7fELF binary"})
    other = tool_finder(tmp_path / "b", **{"metallb-speaker": b"\x7fELF other"})
    first = images.archive(images.METALLB_SPEAKER_IMAGE, image, one)
    assert first == images.archive(images.METALLB_SPEAKER_IMAGE, image, one)
    assert first != images.archive(images.METALLB_SPEAKER_IMAGE, image, other)
    manifest, config, layer = read_image(first)
    assert manifest[0]["RepoTags"] == ["quay.io/metallb/speaker:v0.16.1"]
    assert config["config"]["Entrypoint"] == ["/speaker"]
    assert layer.extractfile("speaker").read() == b"\x7fELF binary"
    assert layer.getmember("speaker").mode == 0o755
    assert "etc/passwd" in layer.getnames()
    assert images.image_id(first) == "sha256:" + manifest[0]["Config"].removesuffix(".json")


def test_an_image_carries_trees_and_repository_files_and_the_later_source_wins(tmp_path):
    find_tool = tool_finder(
        tmp_path,
        base={
            "usr/lib/x86_64-linux-gnu/libc.so.6": b"libc",
            "lib64/ld-linux-x86-64.so.2": ("link", "../usr/lib/x86_64-linux-gnu/ld.so"),
            ".complete": b"1\n",
        },
        app={"dist/index.js": b"console.log(1)"},
    )
    image = images.Image(
        entrypoint=("/entrypoint.sh",),
        trees=(("base", "/"), ("app", "/app")),
        files=(("tools/sandbox/images.py", "/entrypoint.sh"), ("tools/sandbox/images.py", "/etc/passwd")),
        env=("HOME=/app",),
        workdir="/app",
    )
    _manifest, config, layer = read_image(images.archive("example.test/app:1", image, find_tool))
    names = layer.getnames()
    assert names == sorted(names)
    assert layer.extractfile("usr/lib/x86_64-linux-gnu/libc.so.6").read() == b"libc"
    assert layer.getmember("lib64/ld-linux-x86-64.so.2").linkname == "../usr/lib/x86_64-linux-gnu/ld.so"
    assert layer.extractfile("app/dist/index.js").read() == b"console.log(1)"
    assert ".complete" not in names  # the installer's mark is not part of the tool
    assert "usr/lib" in names and "app" in names  # every parent directory is there
    script = (images.REPO / "tools/sandbox/images.py").read_bytes()
    assert layer.extractfile("entrypoint.sh").read() == script
    assert layer.extractfile("etc/passwd").read() == script  # the image's own file over the base one
    assert {(member.uid, member.mtime) for member in layer.getmembers()} == {(0, 0)}
    assert config["config"]["Env"] == ["PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/app"]
    assert config["config"]["WorkingDir"] == "/app"
    assert "StopSignal" not in config["config"]
    assert "base, app" in config["history"][0]["created_by"]


def test_the_pachd_image_is_named_as_the_chart_renders_it_and_holds_what_its_deployment_runs(
    tmp_path, reference_dir
):
    chart = yaml.safe_load((reference_dir / "pachyderm" / "Chart.yaml").read_text())
    values = yaml.safe_load((reference_dir / "pachyderm" / "values.yaml").read_text())
    registry, repository = values["global"]["image"]["registry"], values["pachd"]["image"]["repository"]
    rendered = f"{registry}{repository}:{chart['appVersion']}"
    assert rendered == images.PACHD_IMAGE
    assert images.CATALOGUE[rendered].group == "pachyderm"  # on the real node only with Pachyderm real
    find_tool = tool_finder(
        tmp_path,
        pachd=b"\x7fELF pachd",
        **{
            "dex-assets": {
                "static/main.css": b"body {}",
                "templates/login.html": b"<form>",
                ".complete": b"2\n",
            }
        },
    )
    _manifest, config, layer = read_image(images.archive(rendered, images.CATALOGUE[rendered], find_tool))
    # The Deployment's command and probes run /pachd as user 65532; Dex reads /dex-assets.
    assert layer.extractfile("pachd").read() == b"\x7fELF pachd"
    assert layer.getmember("pachd").mode == 0o755
    assert layer.extractfile("dex-assets/static/main.css").read() == b"body {}"
    assert layer.extractfile("dex-assets/templates/login.html").read() == b"<form>"
    assert layer.getmember("tmp").mode == 0o1777
    assert config["config"]["Entrypoint"] == ["/pachd"]
    assert config["config"]["User"] == "65532:65532"


def test_archives_are_rewritten_only_when_what_they_are_made_from_changed(tmp_path, monkeypatch):
    image = images.Image(entrypoint=("/app",), binary="app", path="/app")
    monkeypatch.setattr(images, "CATALOGUE", {"example.test/app:1": image})
    out = tmp_path / "images"
    out.mkdir()
    (out / "example.test_gone_1.tar").write_bytes(b"an image no longer in the catalogue")
    find_tool = tool_finder(tmp_path / "v1", app=b"one")
    path = images.build_all(find_tool, out)["example.test/app:1"]
    assert sorted(p.name for p in out.glob("*.tar")) == ["example.test_app_1.tar"]
    written = path.stat().st_mtime_ns
    os.utime(path, ns=(written - 10**9, written - 10**9))
    images.build_all(find_tool, out)
    assert path.stat().st_mtime_ns == written - 10**9  # unchanged inputs: not rewritten
    images.build_all(tool_finder(tmp_path / "v2", app=b"two"), out)
    layer = read_image(path.read_bytes())[2]
    assert layer.extractfile("app").read() == b"two"


def test_missing_names_every_image_outside_the_catalogue():
    assert images.missing([images.PAUSE_IMAGE, "b:1", "a:1", "b:1"]) == ["a:1", "b:1"]


def test_an_image_is_found_whether_or_not_its_name_carries_the_default_registry():
    # The chart names pgbouncer without a registry and the Bitnami subchart's postgresql with one.
    wanted = ["pachyderm/postgresql:13.3.0", "docker.io/pachyderm/pgbouncer:1.16.2", "pachyderm/etcd:v3.5.11"]
    assert images.missing(wanted) == ["pachyderm/etcd:v3.5.11"]
    # They are the Pachyderm chart's: a sandbox that keeps Pachyderm on kwok's node does not pack them.
    assert images.missing(wanted[:2], ("node",)) == sorted(wanted[:2])


def test_postgresql_stops_fast_rather_than_waiting_for_pooled_connections(tmp_path):
    image = images.Image(entrypoint=("/app",), binary="app", path="/app", stop_signal="SIGINT")
    config = read_image(images.archive("example.test/app:1", image, tool_finder(tmp_path, app=b"x")))[1]
    assert config["config"]["StopSignal"] == "SIGINT"
    assert images.CATALOGUE[images.POSTGRESQL_IMAGE].stop_signal == "SIGINT"


def test_the_sandbox_packs_the_proxy_image_the_role_asks_for():
    values = pachyderm_proxy.chart_values({"platform": "local"})
    assert images.missing([f"{values['image']['repository']}:{values['image']['tag']}"]) == []
    assert images.ENVOY_VERSION == pachyderm_proxy.ENVOY_VERSION


PGBOUNCER_CHART_ENV = {
    "POSTGRESQL_USERNAME": "pachyderm",
    "POSTGRESQL_DATABASE": "pachyderm",
    "PGBOUNCER_SET_USER": "True",
    "POSTGRESQL_HOST": "postgres.pachyderm.svc.cluster.local",
    "PGBOUNCER_PORT": "5432",
    "POSTGRESQL_PORT": "5432",
    "PGBOUNCER_DATABASE": "*",
    "PGBOUNCER_AUTH_TYPE": "md5",
    "PGBOUNCER_MAX_CLIENT_CONN": "100000",
    "PGBOUNCER_POOL_MODE": "transaction",
    "PGBOUNCER_SERVER_TLS_SSLMODE": "prefer",
    "PGBOUNCER_UNIX_SOCKET_DIR": " ",
    "POSTGRESQL_PASSWORD": 'pa"ss',
}


def run_pgbouncer_entrypoint(tmp_path, env: dict) -> tuple[str, str]:
    """The pgbouncer image's entrypoint with a stand-in pgbouncer; returns the .ini and the user list."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "pgbouncer").write_text('#!/bin/sh\necho "would run pgbouncer $1"\n')
    (fake_bin / "pgbouncer").chmod(0o755)
    (tmp_path / "conf").mkdir()
    script = images.REPO / images.IMAGE_FILES / "pgbouncer-entrypoint.sh"
    env = {"PATH": f"{fake_bin}:/usr/bin:/bin", "PGBOUNCER_BASE_DIR": str(tmp_path), **env}
    run = subprocess.run([str(script)], env=env, capture_output=True, text=True, check=True)
    assert run.stdout == f"would run pgbouncer {tmp_path}/conf/pgbouncer.ini\n"
    return (tmp_path / "conf/pgbouncer.ini").read_text(), (tmp_path / "conf/userlist.txt").read_text()


def test_pgbouncer_forwards_every_database_as_the_charts_user_with_its_settings(tmp_path):
    ini, userlist = run_pgbouncer_entrypoint(tmp_path, PGBOUNCER_CHART_ENV)
    lines = ini.splitlines()
    assert lines[:2] == [
        "[databases]",
        "* = host=postgres.pachyderm.svc.cluster.local port=5432 user=pachyderm",
    ]
    for setting in (
        "listen_port = 5432",
        "unix_socket_dir =  ",
        "auth_type = md5",
        "max_client_conn = 100000",
        "pool_mode = transaction",
        "server_tls_sslmode = prefer",
        f"auth_file = {tmp_path}/conf/userlist.txt",
    ):
        assert setting in lines
    assert not any(line.startswith("default_pool_size") for line in lines)  # unset: pgbouncer's default
    assert userlist == '"pachyderm" "pa""ss"\n'
    assert (tmp_path / "conf/userlist.txt").stat().st_mode & 0o077 == 0


def test_pgbouncer_sends_a_named_database_to_the_configured_one(tmp_path):
    env = {**PGBOUNCER_CHART_ENV, "PGBOUNCER_DATABASE": "app", "PGBOUNCER_SET_USER": "no"}
    ini = run_pgbouncer_entrypoint(tmp_path, env)[0]
    assert "app = host=postgres.pachyderm.svc.cluster.local port=5432 dbname=pachyderm" in ini.splitlines()


def test_the_node_index_skips_networks_the_host_already_routes():
    routes = "default via 192.0.2.1 dev eth0\n10.250.1.0/24 dev op1h\n10.244.2.0/24 via 10.250.2.2\n"
    assert node.pick_index(routes) == 3
    net = node.Network(3, "abcd1234")
    assert (net.host_ip, net.node_ip, net.pod_cidr) == ("10.250.3.1", "10.250.3.2", "10.244.3.0/24")
    assert net.pool == "10.250.3.200-10.250.3.250"
    assert len(net.host_veth) <= 15  # the kernel's limit for interface names


def test_kubelet_and_kube_proxy_stay_off_the_hosts_settings(tmp_path):
    net = node.Network(1, "abcd1234")
    kubelet = node.kubelet_config(net, tmp_path / "pki", tmp_path)
    assert kubelet["cgroupRoot"] == "/oneport-abcd1234"
    assert kubelet["imageGCHighThresholdPercent"] == 100  # imported images are never collected
    assert kubelet["registerWithTaints"] == [placement.REAL_NODE_TAINT]
    proxy = node.kube_proxy_config(net, tmp_path / "kubeconfig")
    assert proxy["oomScoreAdj"] == 0
    assert proxy["conntrack"]["maxPerCore"] == 0  # conntrack sysctls are the host's: leave them
    assert "restrict_oom_score_adj = true" in node.containerd_config(tmp_path, tmp_path / "runtime")


def test_egress_connects_the_real_nodes_networks_and_nothing_else():
    def route(host):
        return decide(
            host,
            10250,
            service_cidr="10.96.0.0/16",
            services=service_index([]),
            serve={},
            allow=set(),
            networks=("10.250.1.0/24", "10.244.1.0/24"),
        )

    assert route("10.250.1.2").target is not None
    assert route("10.244.1.7").target is not None
    assert route("10.244.2.7").target is None
    assert route("192.0.2.1").target is None


@pytest.mark.parametrize(
    ("reference", "normal"),
    [
        ("pachyderm/pachd:2.12.0", "docker.io/pachyderm/pachd:2.12.0"),
        ("docker.io/pachyderm/pachd:2.12.0", "docker.io/pachyderm/pachd:2.12.0"),
        ("alpine", "docker.io/library/alpine:latest"),
        ("docker.io/alpine:3", "docker.io/library/alpine:3"),
        ("quay.io/metallb/speaker:v0.16.1", "quay.io/metallb/speaker:v0.16.1"),
        ("localhost:5000/app", "localhost:5000/app:latest"),
        ("registry.k8s.io/pause@sha256:abc", "registry.k8s.io/pause@sha256:abc"),
    ],
)
def test_image_references_are_compared_as_containerd_reads_them(reference, normal):
    assert images.normalize(reference) == normal


def test_a_chart_may_spell_an_image_with_or_without_docker_hubs_domain(monkeypatch):
    monkeypatch.setattr(
        images, "CATALOGUE", {"docker.io/pachyderm/pachd:2.12.0": images.CATALOGUE[images.PAUSE_IMAGE]}
    )
    assert images.missing(["pachyderm/pachd:2.12.0", "docker.io/pachyderm/pachd:2.12.0"]) == []
    assert images.missing(["pachyderm/pachd:2.11.6"]) == ["pachyderm/pachd:2.11.6"]


def test_pachyderms_pods_go_to_the_real_node_only_when_the_sandbox_runs_pachyderm_for_real(monkeypatch):
    pachd = "docker.io/pachyderm/pachd:2.12.0"
    catalogue = dict(images.CATALOGUE)
    catalogue[pachd] = images.Image(entrypoint=("/pachd",), binary="pachd", path="/pachd", group="pachyderm")
    monkeypatch.setattr(images, "CATALOGUE", catalogue)
    real = apply_patch(pod(pachd), placement.place_pod(pod(pachd), REAL, images.GROUPS))
    assert real["spec"]["nodeSelector"] == {"kubernetes.io/hostname": REAL}
    fake = apply_patch(pod(pachd), placement.place_pod(pod(pachd), REAL, ("node",)))
    assert fake["spec"]["nodeSelector"] == {"type": "kwok"}
    assert fake["metadata"]["annotations"]["sandbox.oneport.dev/fake-node"].endswith(pachd)
    # The node's own images stay on the real node either way.
    probe = apply_patch(
        pod(images.PROBE_IMAGE), placement.place_pod(pod(images.PROBE_IMAGE), REAL, ("node",))
    )
    assert probe["spec"]["nodeSelector"] == {"kubernetes.io/hostname": REAL}
    assert images.missing([pachd], ("node",)) == [pachd] and images.missing([pachd]) == []


def test_the_pachyderm_mode_is_real_unless_asked_and_a_bad_value_is_named(monkeypatch):
    from tools.sandbox import cluster

    monkeypatch.delenv("ONEPORT_SANDBOX_PACHYDERM", raising=False)
    assert cluster.requested_pachyderm_mode() == "real"
    # A sandbox keeps what it was made with (its StatefulSets' pods stay where they were placed)...
    assert cluster.requested_pachyderm_mode("fake") == "fake"
    monkeypatch.setenv("ONEPORT_SANDBOX_PACHYDERM", "Real")
    assert cluster.requested_pachyderm_mode("fake") == "real"  # ...unless asked otherwise
    monkeypatch.setenv("ONEPORT_SANDBOX_PACHYDERM", "Fake")
    assert cluster.requested_pachyderm_mode() == "fake"
    monkeypatch.setenv("ONEPORT_SANDBOX_PACHYDERM", "mock")
    with pytest.raises(
        cluster.SandboxError, match="ONEPORT_SANDBOX_PACHYDERM='mock': expected one of fake, real"
    ):
        cluster.requested_pachyderm_mode()
