"""The pachyderm role against the sandbox's real kube-apiserver: converge, re-run, check mode.

Runs against the integration stage's own sandbox (conftest.py here), with helm-diff installed as a
helm plugin. It uses the local inventory, as the demo does, pointed at that sandbox
(ONEPORT_SANDBOX_DIR), with the proxy as a NodePort: this proves the role on its own, without
depending on MetalLB handing out an address (the site playbook's run covers the LoadBalancer path).
The chart is the real packaged chart given as a local .tgz path and pinned by its sha256, as an
air-gapped site gives it. The release goes to a namespace, release name and node ports of its own
and is removed afterwards.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from support.paths import REPO, bin_tool
from support.playbook_runs import CLUSTER, ansible_env, ansible_playbook, json_report, remove_release

INVENTORY = REPO / "inventories" / "local"
# A namespace and node ports of this test's own, so a demo or another test's release on the same
# sandbox is neither changed nor in the way (node ports are cluster-wide).
NAMESPACE = "pachyderm-role-test"
HTTPS_NODE_PORT = 30444
OWN = (
    "-e",
    f"oneport_namespace={NAMESPACE}",
    "-e",
    "pachyderm_release_name=pachyderm-role-test",
    "-e",
    "pachyderm_http_node_port=30081",
    "-e",
    f"pachyderm_https_node_port={HTTPS_NODE_PORT}",
)
NODE_PORT = ("-e", "pachyderm_service_type=NodePort", *OWN)

pytestmark = pytest.mark.slow


def local_chart(sandbox) -> tuple:
    """The packaged chart the sandbox serves, as a local path with its digest from the index."""
    path, digest = sandbox.chart_archive("pachyderm", "2.12.0")
    return (
        "-e",
        f"pachyderm_chart_ref={path}",
        "-e",
        "pachyderm_chart_repo_url=",
        "-e",
        f"pachyderm_chart_sha256={digest}",
    )


def playbook(sandbox, *extra: str) -> dict:
    result = ansible_playbook(
        "playbooks/pachyderm.yml",
        *NODE_PORT,
        *local_chart(sandbox),
        *extra,
        inventory=INVENTORY,
        env=ansible_env(json_report=True),
    )
    return json_report(result)


def published_facts(report: dict) -> dict:
    facts = {}
    for play in report["plays"]:
        for task in play["tasks"]:
            result = task["hosts"].get(CLUSTER, {})
            facts.update(result.get("ansible_facts", {}))
    return facts


def templates(sandbox) -> dict:
    """Each Deployment of the test's release: name -> (pod template, generation)."""
    from kubernetes import client

    apps = client.AppsV1Api(sandbox.api_client())
    return {
        item.metadata.name: (
            sandbox.api_client().sanitize_for_serialization(item.spec.template),
            item.metadata.generation,
        )
        for item in apps.list_namespaced_deployment(NAMESPACE).items
    }


def proxy_config_map(sandbox) -> dict:
    from kubernetes import client

    return (
        client.CoreV1Api(sandbox.api_client())
        .read_namespaced_config_map("pachyderm-proxy-config", NAMESPACE)
        .data
    )


# A proxy input that changes only the proxy's configuration (the trusted hops in front of it).
CHANGED_PROXY = ("-e", "pachyderm_proxy_xff_num_trusted_hops=1")


@pytest.fixture(scope="module")
def runs(local_inventory_on_sandbox, tmp_path_factory) -> Iterator[dict]:
    try:
        sandbox = local_inventory_on_sandbox
        converge = playbook(sandbox)
        again = playbook(sandbox)
        check = playbook(sandbox, "--check", "--diff")
        config_map = proxy_config_map(sandbox)
        render_dir = tmp_path_factory.mktemp("proxy-render") / "out"
        render = playbook(sandbox, "-e", f"oneport_render_dir={render_dir}")
        before = templates(sandbox)
        check_changed = playbook(sandbox, *CHANGED_PROXY, "--check", "--diff")
        after_check = templates(sandbox)
        changed = playbook(sandbox, *CHANGED_PROXY)
        yield {
            "converge": converge,
            "again": again,
            "check": check,
            "config_map": config_map,
            "render": render,
            "rendered_files": {
                p.name: p.read_text() for p in sorted((render_dir / CLUSTER / "proxy").iterdir())
            },
            "before": before,
            "after_check": after_check,
            "check_changed": check_changed,
            "changed": changed,
            "after": templates(sandbox),
            "changed_config_map": proxy_config_map(sandbox),
        }
    finally:
        remove_release(*OWN)


def test_converge_publishes_the_endpoint_on_the_host_name_over_tls(runs):
    facts = published_facts(runs["converge"])
    endpoint = facts["oneport_proxy_endpoint"]
    assert endpoint["pachd_address"] == f"grpcs://pachyderm.localhost:{HTTPS_NODE_PORT}"
    assert endpoint["ip"] == "127.0.0.1"
    assert len(facts["oneport_cluster_deployment_id"]) == 32


def test_the_cluster_deployment_id_survives_a_second_run(runs):
    first = published_facts(runs["converge"])["oneport_cluster_deployment_id"]
    assert published_facts(runs["again"])["oneport_cluster_deployment_id"] == first


def test_a_second_run_changes_nothing(runs):
    assert runs["again"]["stats"][CLUSTER]["changed"] == 0


def test_check_mode_after_converge_changes_nothing(runs):
    assert runs["check"]["stats"][CLUSTER]["changed"] == 0


def test_the_proxy_configmap_the_api_server_holds_is_the_filters_render_byte_for_byte(runs):
    assert runs["render"]["stats"][CLUSTER]["failures"] == 0
    assert set(runs["config_map"]) == {"envoy.json", "sds-tls.json"}
    assert runs["config_map"] == runs["rendered_files"]


def shown_diff(report: dict) -> str:
    """What check mode with --diff showed of the release's change (helm-diff's output), as text."""
    for play in report["plays"]:
        for task in play["tasks"]:
            if task["task"]["name"].endswith("Show what the upgrade would change"):
                msg = task["hosts"].get(CLUSTER, {}).get("msg", "")
                return "\n".join(msg) if isinstance(msg, list) else str(msg)
    raise AssertionError("check mode with --diff showed no diff of the release")


def test_check_mode_shows_a_changed_proxy_configuration_and_changes_nothing(runs):
    stats = runs["check_changed"]["stats"][CLUSTER]
    assert stats["changed"] >= 1 and stats["failures"] == 0
    shown = shown_diff(runs["check_changed"])
    assert '"xff_num_trusted_hops": 1' in shown and "checksum/envoy-config" in shown
    assert shown_diff(runs["check"]) == "no change"
    assert runs["after_check"] == runs["before"]


def test_a_changed_proxy_variable_rolls_only_the_proxy(runs):
    assert runs["changed"]["stats"][CLUSTER]["changed"] >= 1
    rolled = sorted(name for name, state in runs["after"].items() if state != runs["before"].get(name))
    assert rolled == ["pachyderm-proxy"]
    before = runs["before"]["pachyderm-proxy"][0]["metadata"]["annotations"]["checksum/envoy-config"]
    after = runs["after"]["pachyderm-proxy"][0]["metadata"]["annotations"]["checksum/envoy-config"]
    assert before != after
    assert '"xff_num_trusted_hops": 1' in runs["changed_config_map"]["envoy.json"]
    assert '"xff_num_trusted_hops": 0' in runs["config_map"]["envoy.json"]


# The traffic matrix rows this check sends through the configuration read back from the cluster (the
# whole matrix runs through the same bytes, rendered, in tests/integration/envoy/test_envoy_parity.py).
READ_BACK_ROWS = (
    "grpc by content-type",
    "S3 SigV4 authorization header",
    "S3 presigned GET (X-Amz-Algorithm)",
    "Dex under /dex",
    "pachd HTTP /archive/",
    "console websocket upgrade",
)


def test_the_configuration_read_back_from_the_cluster_validates_and_routes_real_traffic(runs, tmp_path):
    from support.backends import ConsoleBackend, GrpcBackend, HttpBackend, Recorder
    from support.certs import TestCA, install_pair
    from support.proxy.deployed import start_deployed, validate
    from support.proxy.matrix import ROWS
    from support.proxy.parity import expectations
    from support.proxy.traffic import tls_context
    from support.s3 import S3Backend

    files = runs["config_map"]
    ca = TestCA()
    tls_dir = tmp_path / "tls"
    tls_dir.mkdir()
    install_pair(tls_dir, *ca.issue()[:2])
    checked = validate(files, tmp_path / "validate", tls_dir)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    recorder = Recorder()
    backends = {
        "pachd-grpc": GrpcBackend(recorder),
        "pachd-s3": S3Backend(recorder),
        "pachd-http": HttpBackend(recorder, "pachd-http"),
        "pachd-identity": HttpBackend(recorder, "pachd-identity"),
        "pachd-oidc": HttpBackend(recorder, "pachd-oidc"),
        "pachd-metrics": HttpBackend(recorder, "pachd-metrics"),
        "console": ConsoleBackend(recorder),
    }
    proxy = None
    try:
        for backend in backends.values():
            backend.start()
        ports = {name: backend.port for name, backend in backends.items()}
        proxy = start_deployed(files, ports, tmp_path / "deployed", tls_dir=tls_dir)
        s3 = backends["pachd-s3"]
        direct = f"http://127.0.0.1:{s3.port}"
        s3.client(direct).create_bucket(Bucket="oneport-read-back")
        (tmp_path / "ca").mkdir()
        ca_file = ca.write_ca(tmp_path / "ca")
        context = {
            "recorder": recorder,
            "s3": s3,
            "s3_direct": direct,
            "bucket": "oneport-read-back",
            "ca_file": str(ca_file),
            "ca_pem": ca.pem,
            "ssl_context": tls_context(ca.pem, alpn=None),
        }
        table = expectations()
        outcomes = {row: ROWS[row](proxy, context) for row in READ_BACK_ROWS}
        assert outcomes == {row: table[row].ours for row in READ_BACK_ROWS}
    finally:
        if proxy is not None:
            proxy.stop()
        for backend in backends.values():
            backend.stop()


# A release of its own that cannot become ready: its proxy asks for more memory than any node has.
FAILING = (
    "-e",
    "oneport_namespace=pachyderm-role-failing",
    "-e",
    "pachyderm_release_name=pachyderm-role-failing",
    "-e",
    "pachyderm_http_node_port=30082",
    "-e",
    "pachyderm_https_node_port=30445",
    "-e",
    "pachyderm_proxy_memory_limit=300Gi",
    "-e",
    "pachyderm_wait_timeout=20",
)


def test_a_release_that_does_not_become_ready_is_reported_pod_by_pod_then_undone(local_inventory_on_sandbox):
    sandbox = local_inventory_on_sandbox
    try:
        result = ansible_playbook(
            "playbooks/pachyderm.yml",
            "-e",
            "pachyderm_service_type=NodePort",
            *local_chart(sandbox),
            *FAILING,
            inventory=INVENTORY,
        )
        output = result.stdout
        assert result.returncode != 0, output[-4000:]
        assert "release pachyderm-role-failing in namespace pachyderm-role-failing failed" in output
        assert "It was undone (the first install removed)" in output
        # The report read before the undo: the object to fix, and why no node takes its pod.
        assert "fix Deployment pachyderm-role-failing/pachyderm-proxy:" in output
        assert "not scheduled: 0/2 nodes are available" in output and "Insufficient memory" in output
        helm = subprocess.run(
            [
                str(bin_tool("helm")),
                "--kubeconfig",
                str(sandbox.kubeconfig),
                "status",
                "pachyderm-role-failing",
                "--namespace",
                "pachyderm-role-failing",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert (
            helm.returncode != 0 and "not found" in helm.stderr
        )  # the first install is gone, as --atomic would
    finally:
        remove_release(*FAILING[:8])
