"""The pachctl_context role writes a context the real pachctl reads, once, and changes nothing after."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess

import pytest
from support.certs import TestCA
from support.playbook_runs import CLUSTER, run_playbook


@pytest.fixture
def converge(repo_root, tmp_path):
    config = tmp_path / "pachyderm" / "config.json"

    def run(extra, *args):
        playbook = repo_root / "playbooks" / "pachctl_context.yml"
        extra_vars = {"pachctl_context_config_path": str(config), **extra}
        return run_playbook(playbook, extra_vars, tmp_path, *args)

    run.config = config
    return run


def pachctl(repo_root, config, *args):
    binary = repo_root / "bin" / "pachctl"
    if not binary.exists():
        pytest.skip("pachctl not installed: run `make setup`")
    return subprocess.run(
        [str(binary), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PACH_CONFIG": str(config)},
        check=True,
    ).stdout


PUBLISHED = {
    "oneport_proxy_endpoint": {"pachd_address": "grpc://192.0.2.10:80"},
    "oneport_cluster_deployment_id": "dep-1",
    "oneport_namespace": "pachyderm-prod",
}


def test_the_published_address_becomes_the_active_context_pachctl_reads(repo_root, converge):
    result = converge(PUBLISHED)
    assert result.returncode == 0, result.stdout + result.stderr
    assert stat.S_IMODE(converge.config.stat().st_mode) == 0o600
    assert pachctl(repo_root, converge.config, "config", "get", "active-context").strip() == CLUSTER
    context = json.loads(pachctl(repo_root, converge.config, "config", "get", "context", CLUSTER))
    assert context == {
        "pachd_address": "grpc://192.0.2.10:80",
        "cluster_deployment_id": "dep-1",
        "namespace": "pachyderm-prod",
    }


def test_second_run_and_check_mode_change_nothing(converge):
    assert converge(PUBLISHED).returncode == 0
    again = converge(PUBLISHED)
    assert "changed=0" in again.stdout, again.stdout
    checked = converge(PUBLISHED, "--check")
    assert "changed=0" in checked.stdout, checked.stdout


def test_a_tls_address_stores_the_ca_pachctl_will_trust(repo_root, converge, tmp_path):
    pem = TestCA().pem.decode()
    published = {
        **PUBLISHED,
        "oneport_proxy_endpoint": {"pachd_address": "grpcs://pachyderm.example.com:443"},
    }
    result = converge({**published, "pachctl_context_server_cas": pem})
    assert result.returncode == 0, result.stdout + result.stderr
    context = json.loads(pachctl(repo_root, converge.config, "config", "get", "context", CLUSTER))
    assert context["pachd_address"] == "grpcs://pachyderm.example.com:443"

    assert base64.b64decode(context["server_cas"]).decode() == pem


def test_an_address_without_port_is_refused_before_the_file_exists(converge):
    result = converge({"pachctl_context_pachd_address": "grpc://192.0.2.10"})
    assert result.returncode != 0
    assert "pachctl_context_pachd_address" in result.stdout
    assert not converge.config.exists()
