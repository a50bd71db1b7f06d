"""MetalLB objects from the metallb role's structured variables."""

from __future__ import annotations

import pytest

from ansible_collections.oneport.pachyderm.plugins.module_utils.metallb import (
    MANAGED_BY,
    MetalLBConfigError,
    build_objects,
    stale_objects,
)

L2_SITE = {
    "namespace": "metallb-system",
    "address_pools": [
        {"name": "public", "addresses": ["192.168.10.240-192.168.10.250"], "auto_assign": False},
        {"name": "lab", "addresses": ["10.20.0.0/28", "fd00:20::/124"], "avoid_buggy_ips": True},
    ],
    "l2_advertisements": [{"name": "l2", "ip_address_pools": ["public"], "interfaces": ["eth0"]}],
}


def kinds(objects):
    return [(o["kind"], o["metadata"]["name"]) for o in objects]


def test_l2_site_yields_pools_then_advertisements():
    objects = build_objects(L2_SITE)
    assert kinds(objects) == [
        ("IPAddressPool", "public"),
        ("IPAddressPool", "lab"),
        ("L2Advertisement", "l2"),
    ]
    assert objects[0]["spec"] == {"addresses": ["192.168.10.240-192.168.10.250"], "autoAssign": False}
    assert objects[1]["spec"]["avoidBuggyIPs"] is True
    assert objects[2]["spec"] == {"ipAddressPools": ["public"], "interfaces": ["eth0"]}
    assert {o["metadata"]["namespace"] for o in objects} == {"metallb-system"}


def test_bgp_site_yields_v1beta2_peers_with_secret_reference():
    objects = build_objects(
        {
            "namespace": "metallb-system",
            "address_pools": [{"name": "bgp", "addresses": ["10.30.0.0/24"]}],
            "bgp_peers": [
                {
                    "name": "tor",
                    "my_asn": 64500,
                    "peer_asn": 64501,
                    "peer_address": "10.0.0.1",
                    "password_secret": "tor-pw",
                }
            ],
            "bgp_advertisements": [
                {"name": "all", "ip_address_pools": ["bgp"], "peers": ["tor"], "local_pref": 100}
            ],
        }
    )
    peer = objects[1]
    assert peer["apiVersion"] == "metallb.io/v1beta2"
    assert peer["spec"] == {
        "myASN": 64500,
        "peerASN": 64501,
        "peerAddress": "10.0.0.1",
        "passwordSecret": {"name": "tor-pw", "namespace": "metallb-system"},
    }
    assert objects[2]["spec"] == {"ipAddressPools": ["bgp"], "peers": ["tor"], "localPref": 100}


def bad(config, match):
    with pytest.raises(MetalLBConfigError, match=match):
        build_objects({"namespace": "metallb-system", **config})


def test_overlapping_pools_name_both_entries():
    bad(
        {
            "address_pools": [
                {"name": "a", "addresses": ["10.0.0.0/24"]},
                {"name": "b", "addresses": ["10.0.0.128-10.0.1.10"]},
            ],
            "l2_advertisements": [{"name": "l2"}],
        },
        r"metallb_address_pools\[1\]\.addresses\[0\].*overlaps metallb_address_pools\[0\]\.addresses\[0\]",
    )


def test_overlap_within_one_pool_is_refused():
    bad(
        {"address_pools": [{"name": "a", "addresses": ["10.0.0.0/24", "10.0.0.5-10.0.0.6"]}]},
        r"metallb_address_pools\[0\]\.addresses\[1\].*overlaps",
    )


def test_empty_addresses_are_refused():
    bad({"address_pools": [{"name": "a", "addresses": []}]}, r"metallb_address_pools\[0\]\.addresses")


def test_misspelled_key_is_named():
    bad({"address_pools": [{"name": "a", "adresses": ["10.0.0.0/24"]}]}, r"unknown key\(s\) adresses")


def test_bad_pool_name_is_refused():
    bad({"address_pools": [{"name": "Public_Pool", "addresses": ["10.0.0.0/24"]}]}, r"\.name: 'Public_Pool'")


def test_duplicate_pool_names_are_refused():
    bad(
        {
            "address_pools": [
                {"name": "a", "addresses": ["10.0.0.0/25"]},
                {"name": "a", "addresses": ["10.0.1.0/25"]},
            ]
        },
        "used twice",
    )


def test_advertisement_of_unknown_pool_is_refused():
    bad(
        {
            "address_pools": [{"name": "a", "addresses": ["10.0.0.0/24"]}],
            "l2_advertisements": [{"name": "l2", "ip_address_pools": ["b"]}],
        },
        r"metallb_l2_advertisements\[0\]\.ip_address_pools: 'b' is not a pool",
    )


def test_pools_without_any_advertisement_are_refused():
    bad({"address_pools": [{"name": "a", "addresses": ["10.0.0.0/24"]}]}, "announce none of the pools")


def test_bgp_peer_without_peer_asn_is_refused():
    bad(
        {"bgp_peers": [{"name": "tor", "my_asn": 64500, "peer_address": "10.0.0.1"}]},
        r"metallb_bgp_peers\[0\]\.peer_asn: missing",
    )


def test_bgp_peer_with_dynamic_asn_needs_no_peer_asn():
    objects = build_objects(
        {
            "namespace": "metallb-system",
            "bgp_peers": [
                {"name": "tor", "my_asn": 64500, "dynamic_asn": "external", "peer_address": "10.0.0.1"}
            ],
        }
    )
    assert objects[0]["spec"]["dynamicASN"] == "external"


@pytest.mark.parametrize("asn", [0, -1, 4294967296, "64500", True])
def test_bgp_asn_out_of_range_is_refused(asn):
    bad(
        {"bgp_peers": [{"name": "tor", "my_asn": asn, "peer_asn": 1, "peer_address": "10.0.0.1"}]},
        r"metallb_bgp_peers\[0\]\.my_asn: .* is not an AS number",
    )


def test_bgp_peer_address_must_be_an_ip():
    bad(
        {"bgp_peers": [{"name": "tor", "my_asn": 1, "peer_asn": 2, "peer_address": "router.lan"}]},
        r"peer_address: 'router.lan' is not an IP address",
    )


def test_bgp_advertisement_without_peers_is_refused():
    bad(
        {
            "address_pools": [{"name": "a", "addresses": ["10.0.0.0/24"]}],
            "bgp_advertisements": [{"name": "b"}],
        },
        r"metallb_bgp_peers: empty",
    )


def test_pools_that_are_not_a_list_are_refused():
    bad({"address_pools": {"name": "a"}}, r"metallb_address_pools: {.name.: .a.} is not a list of mappings")


def test_every_object_carries_the_managed_by_label():
    objects = build_objects(L2_SITE)
    assert all(
        o["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "oneport.pachyderm"} for o in objects
    )
    # Each object has its own copy: changing one label set leaves the others alone.
    objects[0]["metadata"]["labels"]["x"] = "y"
    assert "x" not in objects[1]["metadata"]["labels"]


def found(kind, name, labels=None, namespace="metallb-system", api_version="metallb.io/v1beta1"):
    metadata = {"name": name, "namespace": namespace}
    if labels is not None:
        metadata["labels"] = labels
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata, "spec": {}}


def test_stale_objects_are_the_labelled_ones_the_variables_dropped():
    desired = build_objects(L2_SITE)
    in_cluster = [
        *desired,
        found("IPAddressPool", "retired", dict(MANAGED_BY)),
        found("BGPPeer", "old-router", dict(MANAGED_BY), api_version="metallb.io/v1beta2"),
        found("IPAddressPool", "made-by-hand"),
        found("L2Advertisement", "other-tool", {"app.kubernetes.io/managed-by": "Helm"}),
    ]
    assert stale_objects(in_cluster, desired) == [
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "namespace": "metallb-system",
            "name": "retired",
        },
        {
            "apiVersion": "metallb.io/v1beta2",
            "kind": "BGPPeer",
            "namespace": "metallb-system",
            "name": "old-router",
        },
    ]


def test_an_object_of_the_same_name_but_another_kind_or_namespace_is_not_kept_by_it():
    desired = build_objects(L2_SITE)  # has IPAddressPool "public" in metallb-system
    in_cluster = [
        found("L2Advertisement", "public", dict(MANAGED_BY)),
        found("IPAddressPool", "public", dict(MANAGED_BY), namespace="elsewhere"),
    ]
    assert [(o["kind"], o["namespace"]) for o in stale_objects(in_cluster, desired)] == [
        ("L2Advertisement", "metallb-system"),
        ("IPAddressPool", "elsewhere"),
    ]


def test_nothing_is_stale_when_the_cluster_holds_what_the_variables_name():
    desired = build_objects(L2_SITE)
    assert stale_objects(desired, desired) == []
    assert stale_objects([], desired) == []
    assert stale_objects(None, desired) == []


def test_namespace_is_the_roles_to_decide():
    """The role passes metallb_namespace; the model keeps no second default for it."""
    config = {key: value for key, value in L2_SITE.items() if key != "namespace"}
    with pytest.raises(MetalLBConfigError, match=r"^metallb_namespace: missing"):
        build_objects(config)
    with pytest.raises(MetalLBConfigError, match=r"^metallb_namespace: None is empty; give a value"):
        build_objects({**L2_SITE, "namespace": None})
    assert {o["metadata"]["namespace"] for o in build_objects({**L2_SITE, "namespace": "lb"})} == {"lb"}
