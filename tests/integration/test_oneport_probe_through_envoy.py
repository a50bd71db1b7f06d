"""oneport_probe against a real Envoy carrying Pachyderm's reference routes to real loopback backends."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from support.backends import DEPLOYMENT_ID, PACHD_VERSION, GrpcBackend, console_page_backend, dex_backend
from support.envoy import Envoy, find_envoy
from support.playbook_runs import run_playbook
from support.ports import free_port
from support.proxy.reference import probe_bootstrap
from support.s3 import S3Backend

from ansible_collections.oneport.pachyderm.plugins.module_utils import oneport_probe as probe

pytestmark = pytest.mark.skipif(not find_envoy(), reason="envoy not installed: run `make setup`")

PROBES = ["grpc", "console", "s3", "dex"]


@pytest.fixture(scope="module")
def backends():
    started = {
        "pachd-grpc": GrpcBackend().start(),
        "console": console_page_backend().start(),
        "pachd-s3": S3Backend(check_signatures=False).start(),
    }
    started["pachd-identity"] = dex_backend("http://pachyderm.example.com/dex").start()
    yield started
    for backend in started.values():
        backend.stop()


@pytest.fixture
def one_port(backends, reference_dir, tmp_path):
    """Start Envoy with the reference routes; `one_port(ports)` overrides where clusters point."""
    started = []

    def start(overrides=None):
        ports = {name: backend.port for name, backend in backends.items()}
        ports.update(overrides or {})
        envoy = Envoy(probe_bootstrap(reference_dir, ports), tmp_path, f"envoy-{len(started)}").start()
        started.append(envoy)
        listen = envoy.listener_ports()["proxy-http"]
        return probe.parse_endpoint(f"http://127.0.0.1:{listen}", timeout=5)

    yield start
    for envoy in started:
        envoy.stop()


def rows(results):
    return {r.name: r for r in results}


def test_every_probe_passes_when_each_backend_answers_its_route(one_port):
    results = probe.run_probes(one_port(), PROBES)
    assert [r.status for r in results] == ["ok"] * 4, probe.format_table(results)
    by_name = rows(results)
    assert "SERVING" in by_name["grpc"].detail
    assert "ListAllMyBucketsResult" in by_name["s3"].detail
    assert by_name["dex"].detail == "issuer http://pachyderm.example.com/dex"


def test_grpc_row_fails_when_pachd_grpc_is_down(one_port):
    results = rows(probe.run_probes(one_port({"pachd-grpc": free_port()}), PROBES))
    assert results["grpc"].status == "failed"
    assert "UNAVAILABLE" in results["grpc"].detail
    assert [results[n].status for n in ("console", "s3", "dex")] == ["ok"] * 3


def test_grpc_row_fails_when_pachd_reports_not_serving(backends, one_port):
    health = backends["pachd-grpc"].health
    health.set("", probe.health_pb2.HealthCheckResponse.NOT_SERVING)
    try:
        result = rows(probe.run_probes(one_port(), ["grpc"]))["grpc"]
    finally:
        health.set("", probe.health_pb2.HealthCheckResponse.SERVING)
    assert result.status == "failed"
    assert "NOT_SERVING" in result.detail


def test_s3_row_fails_when_the_console_answers_signed_requests(backends, one_port):
    results = rows(probe.run_probes(one_port({"pachd-s3": backends["console"].port}), PROBES))
    assert results["s3"].status == "failed"
    assert "not an S3 answer" in results["s3"].detail
    assert results["console"].status == "ok"


def test_presigned_row_catches_the_reference_routes_sending_query_signed_urls_to_the_console(one_port):
    results = rows(probe.run_probes(one_port(), ["s3", "s3_presigned"]))
    assert results["s3"].status == "ok"
    assert results["s3_presigned"].status == "failed"
    assert "text/html" in results["s3_presigned"].detail


def test_dex_row_fails_when_the_identity_backend_is_down(one_port):
    results = rows(probe.run_probes(one_port({"pachd-identity": free_port()}), PROBES))
    assert results["dex"].status == "failed"
    assert "HTTP 503" in results["dex"].detail


def test_console_row_fails_when_the_console_is_down(one_port):
    results = rows(probe.run_probes(one_port({"console": free_port()}), ["console", "s3"]))
    assert results["console"].status == "failed"
    assert results["s3"].status == "ok"


def run_named_playbook(repo_root, tmp_path, playbook, extra_vars, *args):
    """playbooks/<playbook> on the local inventory, its stage switched on whatever the inventory says."""
    variables = {f"oneport_enable_{Path(playbook).stem}": True, **extra_vars}
    return run_playbook(repo_root / "playbooks" / playbook, variables, tmp_path, *args)


def run_verify(repo_root, tmp_path, extra_vars, *args):
    return run_named_playbook(repo_root, tmp_path, "verify.yml", extra_vars, *args)


def test_verify_role_passes_and_prints_the_table_for_the_published_endpoint_fact(
    one_port, repo_root, tmp_path
):
    endpoint = one_port()
    fact = {"address": endpoint.host, "scheme": "http", "port": endpoint.port, "tls": False}
    extra = {"oneport_proxy_endpoint": fact, "verify_pachctl_binary": "oneport-no-such-pachctl"}
    result = run_verify(repo_root, tmp_path, extra)
    assert result.returncode == 0, result.stdout + result.stderr
    output = " ".join(result.stdout.split())  # the YAML callback wraps long table lines
    assert "grpc.health.v1 SERVING" in output
    assert "pachctl skipped active context oneport-no-such-pachctl not found" in output
    assert "changed=0" in output


def test_verify_role_in_check_mode_still_probes_and_changes_nothing(one_port, repo_root, tmp_path):
    endpoint = one_port()
    extra = {"verify_endpoint": endpoint.base_url, "verify_probes": ["grpc", "console", "s3", "dex"]}
    result = run_verify(repo_root, tmp_path, extra, "--check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ListAllMyBucketsResult" in " ".join(result.stdout.split())
    assert "changed=0" in result.stdout


def test_verify_role_fails_naming_the_probe_when_the_console_answers_s3(
    backends, one_port, repo_root, tmp_path
):
    endpoint = one_port({"pachd-s3": backends["console"].port})
    extra = {"verify_endpoint": endpoint.base_url, "verify_probes": ["grpc", "console", "s3", "dex"]}
    result = run_verify(repo_root, tmp_path, extra)
    assert result.returncode != 0
    assert "1 of 4 probes failed: s3: HTTP 200 text/html: not an S3 answer" in result.stdout


@pytest.mark.parametrize("release_changed", [True, False], ids=["after-a-rollout", "nothing-changed"])
def test_verify_role_waits_for_a_console_that_comes_up_late_only_after_a_rollout(
    one_port, repo_root, tmp_path, release_changed
):
    # The console answers 7 s after the run starts, as a replaced pod might. Right after this run changed
    # the release, verify keeps probing (verify_settle_seconds: 60) and passes; otherwise it probes once.
    late_port = free_port()
    endpoint = one_port({"console": late_port})
    late = console_page_backend(late_port)
    timer = threading.Timer(7, late.start)
    timer.start()
    try:
        extra = {
            "verify_endpoint": endpoint.base_url,
            "verify_probes": ["console"],
            "oneport_release_changed": release_changed,
        }
        result = run_verify(repo_root, tmp_path, extra)
    finally:
        timer.cancel()
        timer.join()
        late.stop()
    retried = "through the one port (12 retries left)" in result.stdout  # 60 s, every 5 s
    if release_changed:
        assert result.returncode == 0 and retried, result.stdout
        assert "console  ok" in result.stdout
    else:
        assert result.returncode != 0 and not retried, result.stdout
        assert "1 of 1 probes failed: console" in result.stdout


def test_verify_role_without_an_endpoint_says_to_run_the_pachyderm_role(repo_root, tmp_path):
    result = run_verify(repo_root, tmp_path, {})
    assert result.returncode != 0
    assert "verify_endpoint" in result.stdout
    assert "Run the pachyderm role first" in result.stdout


def test_pachctl_version_through_the_context_the_pachctl_context_role_wrote(one_port, repo_root, tmp_path):
    pachctl = repo_root / "bin" / "pachctl"
    if not pachctl.exists():
        pytest.skip("pachctl not installed: run `make setup`")
    endpoint = one_port()
    config = tmp_path / "pachctl" / "config.json"
    written = run_named_playbook(
        repo_root,
        tmp_path,
        "pachctl_context.yml",
        {
            "oneport_proxy_endpoint": {"pachd_address": f"grpc://127.0.0.1:{endpoint.port}"},
            "oneport_cluster_deployment_id": DEPLOYMENT_ID,
            "pachctl_context_config_path": str(config),
        },
    )
    assert written.returncode == 0, written.stdout + written.stderr
    result = run_verify(
        repo_root,
        tmp_path,
        {
            "verify_endpoint": endpoint.base_url,
            "verify_pachctl_binary": str(pachctl),
            "verify_pachctl_config": str(config),
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr
    output = " ".join(result.stdout.split())
    assert f"pachctl ok active context pachd {'.'.join(map(str, PACHD_VERSION))}" in output
