"""The rendered Envoy bootstraps, kept as files in tests/golden/envoy/ so a config change reads as a diff.

Each case renders through the filters the roles call (pachyderm_proxy_files for the in-cluster proxy,
edge_proxy_description, envoy_config and edge_proxy_secret_files for an edge host) and compares the
files it would write with tests/golden/envoy/<case>.yaml: file name -> the parsed document. Dex and the
OIDC callback are routed in every one-port config, so each golden carries them. A mismatch shows a
unified diff; `make golden` rewrites the files. tests/integration/envoy/test_golden_validate.py loads
every golden into the pinned Envoy's validate mode.
"""

from __future__ import annotations

import json

import pytest
from support.golden import GOLDEN, assert_golden
from support.proxy.deployed import INVENTORIES
from support.role_inputs import role_inputs

from ansible_collections.oneport.pachyderm.plugins.filter.edge_proxy import FilterModule as EdgeFilters
from ansible_collections.oneport.pachyderm.plugins.filter.envoy_config import FilterModule as EnvoyFilters
from ansible_collections.oneport.pachyderm.plugins.filter.pachyderm import FilterModule as PachydermFilters

FILTERS = {**PachydermFilters().filters(), **EdgeFilters().filters(), **EnvoyFilters().filters()}

# The pachyderm role's variables without the pachyderm_ prefix, as the role passes them: the chart's
# defaults on kind, and the inventories the deployed-config tests also run through helm.
IN_CLUSTER = {
    "in_cluster_default": {"platform": "kind"},
    **{f"in_cluster_{name}": inputs for name, inputs in INVENTORIES.items()},
}

# The edge_proxy role's variables as roles/edge_proxy/tasks/validate.yml passes them (its defaults, an
# upstream address, and a node id).
EDGE_VARS = {
    "edge_proxy_service_manager": "systemd",
    "edge_proxy_envoy_source": "control_node",
    "edge_proxy_envoy_sha256": "8aa137a7d00994ce43f613556f5a120709229f63bedb86eedde5ccbc402c2b80",
    "edge_proxy_envoy_url": "",
    "edge_proxy_install_dir": "/opt/oneport/envoy",
    "edge_proxy_config_dir": "/etc/oneport/envoy",
    "edge_proxy_run_dir": "/run/oneport-envoy",
    "edge_proxy_cert_dir": "/etc/oneport/envoy/tls",
    "edge_proxy_base_id": 7,
    "edge_proxy_drain_seconds": 60,
    "edge_proxy_upstream_host": "192.0.2.10",
    "edge_proxy_upstream_port": 80,
    "edge_proxy_upstream_ports": {},
    "edge_proxy_listen_address": "0.0.0.0",
    "edge_proxy_http_port": 80,
    "edge_proxy_https_port": 443,
    "edge_proxy_admin_port": 9901,
    "edge_proxy_readiness_port": 9902,
    "edge_proxy_node_id": "edge-1",
    "edge_proxy_tls_cert": "",
    "edge_proxy_tls_key": "",
    "edge_proxy_description_overrides": {},
}
# Only their presence matters to the render: the bootstrap reads the files the role writes.
PLACEHOLDER_CERT = "-----BEGIN CERTIFICATE-----\nplaceholder\n-----END CERTIFICATE-----\n"
PLACEHOLDER_KEY = "-----BEGIN PRIVATE KEY-----\nplaceholder\n-----END PRIVATE KEY-----\n"
EDGE = {
    "edge_host": {},
    "edge_host_tls": {
        "edge_proxy_tls_cert": PLACEHOLDER_CERT,
        "edge_proxy_tls_key": PLACEHOLDER_KEY,
        "edge_proxy_upstream_ports": {"console": 30080, "pachd_grpc": 30650},
    },
}


def rendered(case: str) -> dict:
    """The files the case's proxy reads: file name -> parsed document."""
    if case in IN_CLUSTER:
        files = FILTERS["pachyderm_proxy_files"](role_inputs(IN_CLUSTER[case]))
        return {name: json.loads(content) for name, content in files.items()}
    description = FILTERS["edge_proxy_description"]({**EDGE_VARS, **EDGE[case]})
    files = {"envoy.json": FILTERS["envoy_config"](description)}
    for path, content in FILTERS["edge_proxy_secret_files"](description).items():
        files[path.rsplit("/", 1)[-1]] = json.loads(content)
    return files


CASES = [*IN_CLUSTER, *EDGE]


@pytest.mark.parametrize("case", CASES)
def test_render_matches_the_golden_file(case):
    assert_golden(GOLDEN / "envoy" / f"{case}.yaml", rendered(case))


def test_every_golden_file_has_a_case():
    """A golden file whose case was removed would be kept and validated for nothing."""
    assert sorted(p.stem for p in (GOLDEN / "envoy").glob("*.yaml")) == sorted(CASES)


def test_the_golden_cases_differ_where_their_descriptions_do():
    """TLS adds the SDS file and listeners, legacy ports add listeners, the edge reads its own paths."""
    default, tls = rendered("in_cluster_default"), rendered("in_cluster_self_signed")
    assert sorted(default) == ["envoy.json"]
    assert sorted(tls) == ["envoy.json", "sds-tls.json"]

    def listeners(files):
        return {lst["name"] for lst in files["envoy.json"]["static_resources"]["listeners"]}

    assert len(listeners(tls)) > len(listeners(default))
    assert len(listeners(rendered("in_cluster_acme_node_port_legacy_ports"))) > len(listeners(tls))
    edge_tls = rendered("edge_host_tls")
    assert "/etc/oneport/envoy/tls" in json.dumps(edge_tls["sds-tls.json"])
