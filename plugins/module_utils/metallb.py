# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""MetalLB configuration objects from the metallb role's structured variables.

The role's variables use snake_case keys; this model checks them (names, references, ASNs, address
ranges without overlaps) and turns them into IPAddressPool, L2Advertisement, BGPPeer and
BGPAdvertisement objects. Every error names the variable path, the bad value and the fix, and is
raised before the role applies anything. Plain Python, no Ansible imports.
"""

from __future__ import annotations

import ipaddress

from ansible_collections.oneport.pachyderm.plugins.module_utils import inputs as check
from ansible_collections.oneport.pachyderm.plugins.module_utils.inputs import InputError
from ansible_collections.oneport.pachyderm.plugins.module_utils.ip_ranges import (
    RangeError,
    check_no_overlaps,
    parse_range,
)

API_VERSION = "metallb.io/v1beta1"
BGP_PEER_API_VERSION = "metallb.io/v1beta2"
# Every object the role applies carries it, so a later run can find the ones the variables dropped.
MANAGED_BY = {"app.kubernetes.io/managed-by": "oneport.pachyderm"}
MAX_ASN = 4294967295

# snake_case variable key -> CRD field, per object kind; `name` is handled apart.
POOL_FIELDS = {"addresses": "addresses", "auto_assign": "autoAssign", "avoid_buggy_ips": "avoidBuggyIPs"}
L2_FIELDS = {
    "ip_address_pools": "ipAddressPools",
    "interfaces": "interfaces",
    "node_selectors": "nodeSelectors",
}
PEER_FIELDS = {
    "my_asn": "myASN",
    "peer_asn": "peerASN",
    "dynamic_asn": "dynamicASN",
    "peer_address": "peerAddress",
    "peer_port": "peerPort",
    "source_address": "sourceAddress",
    "router_id": "routerID",
    "hold_time": "holdTime",
    "keepalive_time": "keepaliveTime",
    "ebgp_multi_hop": "ebgpMultiHop",
    "password_secret": "passwordSecret",
    "bfd_profile": "bfdProfile",
    "vrf": "vrf",
    "node_selectors": "nodeSelectors",
}
BGP_AD_FIELDS = {
    "ip_address_pools": "ipAddressPools",
    "aggregation_length": "aggregationLength",
    "aggregation_length_v6": "aggregationLengthV6",
    "local_pref": "localPref",
    "communities": "communities",
    "peers": "peers",
    "node_selectors": "nodeSelectors",
}


class MetalLBConfigError(InputError):
    """Bad MetalLB variables; the message names the variable, the value and the fix."""


def _entries(value, variable):
    if value is None:
        return []
    if not isinstance(value, list):
        raise check.fail(
            variable,
            value,
            "a list of mappings",
            "give a YAML list of entries, each with a name",
            MetalLBConfigError,
        )
    for index, entry in enumerate(value):
        if not isinstance(entry, dict):
            raise check.fail(
                f"{variable}[{index}]",
                entry,
                "a mapping",
                "give a mapping with at least `name`",
                MetalLBConfigError,
            )
    return value


def _name(entry, where, seen):
    name = check.k8s_name(entry.get("name"), f"{where}.name", MetalLBConfigError, label=True)
    if name in seen:
        raise MetalLBConfigError(f"{where}.name: {name!r} is used twice; give each entry its own name")
    seen.add(name)
    return name


def _spec(entry, fields, where):
    unknown = sorted(set(entry) - set(fields) - {"name"})
    if unknown:
        raise MetalLBConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)}; the keys are name, {', '.join(fields)}"
        )
    return {fields[key]: value for key, value in entry.items() if key != "name" and value is not None}


def _object(kind, name, namespace, spec, api_version=API_VERSION):
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace, "labels": dict(MANAGED_BY)},
        "spec": spec,
    }


def _pool_refs(spec, where, pools):
    refs = spec.get("ipAddressPools", [])
    if not isinstance(refs, list):
        raise check.fail(
            f"{where}.ip_address_pools",
            refs,
            "a list of pool names",
            "list names of metallb_address_pools entries",
            MetalLBConfigError,
        )
    for ref in refs:
        if ref not in pools:
            known = ", ".join(sorted(pools)) or "none defined"
            raise MetalLBConfigError(
                f"{where}.ip_address_pools: {ref!r} is not a pool in metallb_address_pools ({known}); "
                "name one of them or add the pool"
            )


def _asn(value, where):
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ASN:
        raise MetalLBConfigError(f"{where}: {value!r} is not an AS number; use an integer 1..{MAX_ASN}")


def _address(value, where):
    try:
        ipaddress.ip_address(str(value))
    except ValueError:
        raise MetalLBConfigError(f"{where}: {value!r} is not an IP address; write e.g. 10.0.0.1") from None


def address_pools(pools, namespace):
    """IPAddressPool objects; every range is parsed and no two ranges (in or across pools) overlap."""
    seen, objects, ranges = set(), [], []
    for index, entry in enumerate(_entries(pools, "metallb_address_pools")):
        where = f"metallb_address_pools[{index}]"
        name = _name(entry, where, seen)
        spec = _spec(entry, POOL_FIELDS, where)
        addresses = spec.get("addresses")
        if not isinstance(addresses, list) or not addresses:
            raise MetalLBConfigError(
                f"{where}.addresses: {addresses!r} is not a non-empty list; "
                "list CIDRs or a-b ranges, e.g. ['192.168.10.240-192.168.10.250']"
            )
        try:
            parsed = [parse_range(text, f"{where}.addresses[{i}]") for i, text in enumerate(addresses)]
        except RangeError as exc:
            raise MetalLBConfigError(str(exc)) from None
        ranges.extend(parsed)
        spec["addresses"] = [r.text for r in parsed]
        for flag in ("autoAssign", "avoidBuggyIPs"):
            if flag in spec:
                key = next(k for k, v in POOL_FIELDS.items() if v == flag)
                spec[flag] = check.boolean(spec[flag], f"{where}.{key}", MetalLBConfigError)
        objects.append(_object("IPAddressPool", name, namespace, spec))
    try:
        check_no_overlaps(ranges)
    except RangeError as exc:
        raise MetalLBConfigError(str(exc)) from None
    return objects


def l2_advertisements(ads, namespace, pools):
    seen, objects = set(), []
    for index, entry in enumerate(_entries(ads, "metallb_l2_advertisements")):
        where = f"metallb_l2_advertisements[{index}]"
        name = _name(entry, where, seen)
        spec = _spec(entry, L2_FIELDS, where)
        _pool_refs(spec, where, pools)
        objects.append(_object("L2Advertisement", name, namespace, spec))
    return objects


def bgp_peers(peers, namespace):
    seen, objects = set(), []
    for index, entry in enumerate(_entries(peers, "metallb_bgp_peers")):
        where = f"metallb_bgp_peers[{index}]"
        name = _name(entry, where, seen)
        spec = _spec(entry, PEER_FIELDS, where)
        if "myASN" not in spec:
            raise MetalLBConfigError(f"{where}.my_asn: missing; set this cluster's AS number, e.g. 64500")
        _asn(spec["myASN"], f"{where}.my_asn")
        if "peerASN" in spec and "dynamicASN" in spec:
            raise check.refuse(
                f"{where}.dynamic_asn",
                spec["dynamicASN"],
                "is set beside peer_asn",
                "set peer_asn or dynamic_asn, not both",
                MetalLBConfigError,
            )
        if "peerASN" in spec:
            _asn(spec["peerASN"], f"{where}.peer_asn")
        elif spec.get("dynamicASN") not in ("internal", "external"):
            raise MetalLBConfigError(
                f"{where}.peer_asn: missing; set the router's AS number (e.g. 64501) "
                "or dynamic_asn: internal|external"
            )
        if "peerAddress" not in spec:
            raise MetalLBConfigError(f"{where}.peer_address: missing; set the router's IP address")
        _address(spec["peerAddress"], f"{where}.peer_address")
        if "routerID" in spec:
            _address(spec["routerID"], f"{where}.router_id")
        if "peerPort" in spec:
            spec["peerPort"] = check.port(spec["peerPort"], f"{where}.peer_port", MetalLBConfigError)
        if "passwordSecret" in spec:
            spec["passwordSecret"] = {"name": spec["passwordSecret"], "namespace": namespace}
        objects.append(_object("BGPPeer", name, namespace, spec, BGP_PEER_API_VERSION))
    return objects


def bgp_advertisements(ads, namespace, pools, peers):
    seen, objects = set(), []
    for index, entry in enumerate(_entries(ads, "metallb_bgp_advertisements")):
        where = f"metallb_bgp_advertisements[{index}]"
        name = _name(entry, where, seen)
        spec = _spec(entry, BGP_AD_FIELDS, where)
        _pool_refs(spec, where, pools)
        for peer in spec.get("peers", []):
            if peer not in peers:
                raise MetalLBConfigError(
                    f"{where}.peers: {peer!r} is not a peer in metallb_bgp_peers; name one of them"
                )
        objects.append(_object("BGPAdvertisement", name, namespace, spec))
    return objects


def build_objects(config):
    """Every MetalLB object of the configuration, pools first (the advertisements refer to them).

    ``config`` holds ``namespace``, ``address_pools``, ``l2_advertisements``, ``bgp_peers`` and
    ``bgp_advertisements`` as the role's variables give them.
    """
    # The role passes metallb_namespace (its defaults decide it): no second default here.
    namespace = check.role_input(config, "namespace", "metallb", MetalLBConfigError)
    pools = address_pools(config.get("address_pools"), namespace)
    pool_names = {p["metadata"]["name"] for p in pools}
    peers = bgp_peers(config.get("bgp_peers"), namespace)
    peer_names = {p["metadata"]["name"] for p in peers}
    l2 = l2_advertisements(config.get("l2_advertisements"), namespace, pool_names)
    bgp = bgp_advertisements(config.get("bgp_advertisements"), namespace, pool_names, peer_names)
    if pools and not (l2 or bgp):
        raise check.refuse(
            "metallb_l2_advertisements",
            config.get("l2_advertisements"),
            "is empty and so is metallb_bgp_advertisements, so MetalLB would announce none of the pools",
            "add an L2 advertisement (e.g. [{name: l2}]) or a BGP one",
            MetalLBConfigError,
        )
    if bgp and not peers:
        raise MetalLBConfigError(
            "metallb_bgp_peers: empty while metallb_bgp_advertisements is set; add the routers to peer with"
        )
    return pools + peers + l2 + bgp


def stale_objects(found, desired):
    """The objects in ``found`` that this role applied earlier and ``desired`` no longer names.

    ``found`` is what the cluster holds (k8s_info resources of the managed kinds); only those that
    carry the role's label count, so objects made by other means are never returned. Each result
    names the object well enough to delete it: apiVersion, kind, namespace, name.
    """
    wanted = {(obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"]) for obj in desired}
    stale = []
    for obj in found or []:
        metadata = obj.get("metadata") or {}
        labels = metadata.get("labels") or {}
        if any(labels.get(key) != value for key, value in MANAGED_BY.items()):
            continue
        key = (obj.get("kind"), metadata.get("namespace"), metadata.get("name"))
        if key not in wanted:
            stale.append(
                {"apiVersion": obj.get("apiVersion"), "kind": key[0], "namespace": key[1], "name": key[2]}
            )
    return stale
