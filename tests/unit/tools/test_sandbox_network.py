"""The sandbox's network plumbing as plain functions: supervisor settings, netns pairs, cluster safety."""

from __future__ import annotations

import ipaddress

import pytest
import yaml

from tools.sandbox import cluster
from tools.sandbox.netns import parse_pair
from tools.sandbox.supervise import settings_from_pod

POD = {
    "metadata": {"name": "metallb-controller-5d9f"},
    "spec": {
        "containers": [
            {
                "args": ["--port=9120", "--log-level=info", "--webhook-mode=enabled"],
                "env": [
                    {"name": "METALLB_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "METALLB_BGP_TYPE", "value": "frr-k8s"},
                    {"name": "UNRELATED", "value": "x"},
                ],
            }
        ]
    },
}


def test_the_component_runs_with_the_pods_webhook_mode_and_literal_env():
    args, env = settings_from_pod(POD, ["--webhook-mode="], ["METALLB_BGP_TYPE", "METALLB_POD_NAME"])
    assert args == ["--pod-name=metallb-controller-5d9f", "--webhook-mode=enabled"]
    assert env == {"METALLB_BGP_TYPE": "frr-k8s"}  # fieldRef values are not copied


def test_a_pod_without_the_argument_leaves_the_components_default():
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}}
    assert settings_from_pod(pod, ["--webhook-mode="], []) == (["--pod-name=p"], {})


def test_netns_pairs_need_explicit_loopback_endpoints():
    source, target = parse_pair("unix:/run/a.sock=tcp:127.0.0.1:9443", "--expose")
    assert (source.kind, target.port) == ("unix", 9443)
    with pytest.raises(SystemExit, match="only loopback"):
        parse_pair("tcp:127.0.0.1:1=tcp:10.0.0.1:2", "--connect-in")
    with pytest.raises(SystemExit, match="SOURCE=TARGET"):
        parse_pair("unix:/run/a.sock", "--expose")


def test_the_service_cidr_and_the_apiservers_service_ip_are_loopback():
    network = ipaddress.ip_network(cluster.SERVICE_CIDR)
    assert network.is_loopback
    assert ipaddress.ip_address(cluster.SERVICE_IP) == next(network.hosts())
    assert network.max_prefixlen - network.prefixlen <= 20  # kube-apiserver's limit
    assert not ipaddress.ip_network(cluster.POD_CIDR).is_loopback  # Endpoints refuse loopback


def test_all_api_server_egress_goes_through_the_proxy_socket(tmp_path):
    box = cluster.Sandbox(tmp_path)
    (tmp_path / "run").mkdir()
    config = yaml.safe_load(box._write_egress_config().read_text())
    assert {s["name"] for s in config["egressSelections"]} == {"cluster", "controlplane"}
    for selection in config["egressSelections"]:
        assert selection["connection"]["proxyProtocol"] == "HTTPConnect"
        assert selection["connection"]["transport"] == {
            "uds": {"udsName": str(tmp_path / "run" / "egress.sock")}
        }


def test_cluster_data_from_a_non_loopback_service_cidr_is_not_reused(tmp_path):
    (tmp_path / "data" / "etcd").mkdir(parents=True)
    with pytest.raises(cluster.SandboxError, match="wipe-data"):
        cluster.Sandbox(tmp_path, node_mode="fake")._init_state()


def test_a_long_state_directory_is_refused_before_anything_starts(tmp_path):
    box = cluster.Sandbox(tmp_path / ("d" * 100))
    with pytest.raises(cluster.SandboxError, match="shorter state directory"):
        box._check_socket_paths()


@pytest.mark.parametrize(
    ("path", "ours"),
    [
        ("/tmp/hostpath_pv/0f8fad5b-d9cb-469f-a165-70867728950e", True),
        ("/tmp/hostpath_pv/../etc", False),
        ("/tmp/hostpath_pv/", False),
        ("/var/lib/data", False),
    ],
)
def test_only_the_provisioners_own_directories_are_ever_removed(path, ours):
    assert cluster._is_provisioned_hostpath(path) is ours


def test_sandbox_ports_sit_below_the_kernels_ephemeral_range():
    # The sandbox keeps its ports across `up`s: one from the ephemeral range can meanwhile become the
    # source port of an outgoing connection, and the component started later then finds it taken.
    low, _high = cluster.ephemeral_ports()
    ports = {cluster.free_port() for _attempt in range(20)}
    assert all(1024 <= port < low for port in ports), ports
    assert len(ports) > 1  # picked at random, not the first free one every time
