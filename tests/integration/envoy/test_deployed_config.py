"""The in-cluster proxy's configuration as the pachyderm role deploys it: valid for the pinned Envoy, and
serving the one port the way the traffic matrix says (test_envoy_parity.py runs every row through it as
the "deployed" proxy; this file covers what only the deployed form has)."""

from __future__ import annotations

import json

import pytest
from support.certs import install_pair
from support.proxy.deployed import INVENTORIES, deployed_files, render_inputs, validate
from support.proxy.traffic import http_get, marker, raw_request, who_got
from support.role_inputs import role_inputs

from ansible_collections.oneport.pachyderm.plugins.module_utils import pachyderm_proxy


@pytest.mark.parametrize("name", list(INVENTORIES))
def test_the_deployed_files_pass_envoy_validation_with_the_pinned_envoy(
    name, reference_dir, test_ca, tmp_path
):
    inputs = INVENTORIES[name]
    files = render_inputs(reference_dir, inputs, tmp_path / "render")
    # The ConfigMap holds exactly what the filter renders for these inputs.
    assert files == pachyderm_proxy.config_files(role_inputs(inputs))
    tls_dir = None
    if "tls" in inputs:
        tls_dir = tmp_path / "tls"
        tls_dir.mkdir()
        cert, key, _serial = test_ca.issue()
        install_pair(tls_dir, cert, key)
    result = validate(files, tmp_path / "validate", tls_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout + result.stderr


def test_a_broken_file_fails_validation(reference_dir, tmp_path):
    files = deployed_files(reference_dir, tmp_path / "render", tls=False)
    broken = json.loads(files["envoy.json"])
    broken["static_resources"]["clusters"][0]["type"] = "NOT_A_TYPE"
    result = validate({"envoy.json": json.dumps(broken)}, tmp_path / "validate")
    assert result.returncode != 0


def test_the_readiness_listener_kubelet_probes_answers_ready_and_nothing_else(deployed_proxy):
    ready = deployed_proxy.envoy.bootstrap["static_resources"]["listeners"]
    (listener,) = [item for item in ready if item["name"] == "readiness"]
    port = listener["address"]["socket_address"]["port_value"]
    assert raw_request("GET", f"http://127.0.0.1:{port}/ready")[0] == 200
    assert raw_request("GET", f"http://127.0.0.1:{port}/stats")[0] == 404


def test_the_pachd_http_legacy_port_reaches_pachd_http(deployed_proxy, recorder):
    probe = marker()
    http_get(f"http://127.0.0.1:{deployed_proxy.legacy['pachd_http']}/archive/{probe}", probe)
    assert who_got(recorder, probe) == ["pachd-http"]


def test_the_acme_challenge_on_port_80_reaches_the_solver_service(deployed_tls_proxy, recorder):
    probe = marker()
    url = f"http://127.0.0.1:{deployed_tls_proxy.redirect_port}/.well-known/acme-challenge/{probe}"
    response = http_get(url, probe)
    assert response.status_code == 200
    assert who_got(recorder, probe) == ["acme-solver"]
