# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Load-balancer annotations for the proxy Service, one table per platform.

Plain Python: no Ansible imports. Every error is a ``ValueError`` whose message names the inventory
variable, the bad value and the fix.
"""

from __future__ import annotations

import ipaddress
import re

from ansible_collections.oneport.pachyderm.plugins.module_utils.inputs import fail, refuse

PLATFORMS = ("aws", "gcp", "azure", "metallb", "nodeport", "kind", "local")
CLOUD_PLATFORMS = ("aws", "gcp", "azure")

# The chart has no proxy.service.loadBalancerSourceRanges key, so the allow-list travels as the
# standard annotation, which the service controller (and cloud controllers) honour and which
# `helm upgrade` keeps, because it is part of the values.
SOURCE_RANGES_ANNOTATION = "service.beta.kubernetes.io/load-balancer-source-ranges"

AWS_TYPE = "service.beta.kubernetes.io/aws-load-balancer-type"
AWS_TARGET_TYPE = "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"
AWS_SCHEME = "service.beta.kubernetes.io/aws-load-balancer-scheme"
AWS_SUBNETS = "service.beta.kubernetes.io/aws-load-balancer-subnets"
AWS_EIP_ALLOCATIONS = "service.beta.kubernetes.io/aws-load-balancer-eip-allocations"
GCP_LB_TYPE = "networking.gke.io/load-balancer-type"
AZURE_RESOURCE_GROUP = "service.beta.kubernetes.io/azure-load-balancer-resource-group"
AZURE_INTERNAL = "service.beta.kubernetes.io/azure-load-balancer-internal"
METALLB_POOL = "metallb.io/address-pool"
METALLB_IPS = "metallb.io/loadBalancerIPs"

# <optional DNS prefix>/<name>, as Kubernetes validates annotation keys.
_KEY_PREFIX = r"(?:[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?)*/)?"
_KEY_NAME = r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
ANNOTATION_KEY = re.compile(rf"^{_KEY_PREFIX}{_KEY_NAME}$")
AWS_SUBNET = re.compile(r"^(subnet-[0-9a-f]{8,17}|[A-Za-z0-9][-A-Za-z0-9_.]*)$")
AWS_EIP = re.compile(r"^eipalloc-[0-9a-f]{8,17}$")


def check_platform(platform: str) -> str:
    """The platform name, or an error listing the supported ones."""
    if platform not in PLATFORMS:
        raise fail(
            "pachyderm_platform (oneport_platform)",
            platform,
            "a supported platform",
            f"use one of: {', '.join(PLATFORMS)}",
        )
    return platform


def check_source_ranges(ranges) -> list:
    """Normalised CIDRs of the firewall allow-list, or an error naming the bad entry."""
    if ranges is None:
        return []
    if not isinstance(ranges, (list, tuple)):
        raise fail(
            "pachyderm_source_ranges (oneport_source_ranges)",
            ranges,
            "a list of CIDRs",
            "write it as a YAML list such as ['203.0.113.0/24']",
        )
    result = []
    for entry in ranges:
        text = str(entry).strip()
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise fail(
                "pachyderm_source_ranges (oneport_source_ranges)",
                entry,
                "a CIDR",
                "write each entry as ADDRESS/PREFIX, for example 203.0.113.0/24",
            ) from None
        if "/" not in text or str(network) != text:
            raise fail(
                "pachyderm_source_ranges (oneport_source_ranges)",
                entry,
                "a network address with its prefix",
                f"write {network} instead",
            )
        result.append(str(network))
    return result


def check_extra_annotations(annotations) -> dict:
    """User-supplied Service annotations as a str->str map, or an error naming the bad entry."""
    if annotations in (None, ""):
        return {}
    if not isinstance(annotations, dict):
        raise fail(
            "pachyderm_service_annotations",
            annotations,
            "a mapping of annotation key to value",
            "write it as key: value lines",
        )
    result = {}
    for key, value in annotations.items():
        if not isinstance(key, str) or not ANNOTATION_KEY.match(key):
            raise fail(
                "pachyderm_service_annotations",
                key,
                "a valid Kubernetes annotation key",
                "use [prefix/]name, for example example.com/owner",
            )
        if isinstance(value, (dict, list)) or value is None:
            raise fail(
                f"pachyderm_service_annotations[{key!r}]",
                value,
                "a string",
                "an annotation value must be a string (quote it)",
            )
        if key == SOURCE_RANGES_ANNOTATION:
            raise refuse(
                "pachyderm_service_annotations",
                key,
                "is set here",
                "set pachyderm_source_ranges (oneport_source_ranges) instead, which is validated and kept "
                "consistent",
            )
        result[key] = str(value).lower() if isinstance(value, bool) else str(value)
    return result


def _check_ip(variable: str, value: str) -> str:
    try:
        return str(ipaddress.ip_address(str(value).strip()))
    except ValueError:
        raise fail(
            variable, value, "an IP address", "give the reserved address, for example 203.0.113.10"
        ) from None


def _as_list(variable: str, value) -> list:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)):
        raise fail(variable, value, "a list", "write it as a YAML list")
    return [str(v).strip() for v in value]


def load_balancer(
    platform: str,
    *,
    internal: bool = False,
    static_ip: str = "",
    aws_subnets=(),
    aws_eip_allocations=(),
    azure_resource_group: str = "",
    metallb_address_pool: str = "",
    source_ranges=(),
    extra_annotations=None,
) -> dict:
    """Annotations and loadBalancerIP for a LoadBalancer proxy Service on ``platform``.

    Returns ``{"annotations": {...}, "load_balancer_ip": str}``.
    """
    check_platform(platform)
    annotations: dict = {}
    load_balancer_ip = ""
    subnets = _as_list("pachyderm_aws_subnets", aws_subnets)
    eips = _as_list("pachyderm_aws_eip_allocations", aws_eip_allocations)
    if platform != "aws" and (subnets or eips):
        raise refuse(
            "pachyderm_aws_subnets" if subnets else "pachyderm_aws_eip_allocations",
            subnets or eips,
            f"is set but pachyderm_platform is {platform!r}",
            "remove pachyderm_aws_subnets and pachyderm_aws_eip_allocations or set the platform to aws",
        )
    if platform != "azure" and azure_resource_group:
        raise refuse(
            "pachyderm_azure_resource_group",
            azure_resource_group,
            f"is set but pachyderm_platform is {platform!r}",
            "remove it or set the platform to azure",
        )
    if platform not in ("metallb", "local") and metallb_address_pool:
        raise refuse(
            "pachyderm_metallb_address_pool",
            metallb_address_pool,
            f"is set but pachyderm_platform is {platform!r}",
            "remove it or set the platform to metallb",
        )

    if platform == "aws":
        if static_ip:
            raise refuse(
                "pachyderm_lb_static_ip",
                static_ip,
                "is set, but an AWS NLB takes Elastic IPs, not an address",
                "list the allocation ids in pachyderm_aws_eip_allocations instead",
            )
        annotations[AWS_TYPE] = "external"
        annotations[AWS_TARGET_TYPE] = "ip"
        annotations[AWS_SCHEME] = "internal" if internal else "internet-facing"
        for subnet in subnets:
            if not AWS_SUBNET.match(subnet):
                raise fail(
                    "pachyderm_aws_subnets",
                    subnet,
                    "a subnet id or a subnet name tag",
                    "use ids like subnet-0123abcd",
                )
        if subnets:
            annotations[AWS_SUBNETS] = ",".join(subnets)
        if eips:
            if internal:
                raise refuse(
                    "pachyderm_aws_eip_allocations",
                    eips,
                    "is set but pachyderm_lb_internal is true, and Elastic IPs only attach to an "
                    "internet-facing NLB",
                    "drop them or set pachyderm_lb_internal: false",
                )
            for eip in eips:
                if not AWS_EIP.match(eip):
                    raise fail(
                        "pachyderm_aws_eip_allocations",
                        eip,
                        "an allocation id",
                        "use ids like eipalloc-0123abcd",
                    )
            if len(eips) != len(subnets):
                raise refuse(
                    "pachyderm_aws_eip_allocations",
                    eips,
                    f"lists {len(eips)} allocation(s) for {len(subnets)} subnet(s) in pachyderm_aws_subnets",
                    "an NLB needs exactly one Elastic IP per subnet",
                )
            annotations[AWS_EIP_ALLOCATIONS] = ",".join(eips)
    elif platform == "gcp":
        if static_ip:
            load_balancer_ip = _check_ip("pachyderm_lb_static_ip", static_ip)
        if internal:
            annotations[GCP_LB_TYPE] = "Internal"
    elif platform == "azure":
        if static_ip:
            load_balancer_ip = _check_ip("pachyderm_lb_static_ip", static_ip)
        if azure_resource_group:
            annotations[AZURE_RESOURCE_GROUP] = azure_resource_group
        if internal:
            annotations[AZURE_INTERNAL] = "true"
    elif platform in ("metallb", "local"):
        if metallb_address_pool and static_ip:
            raise refuse(
                "pachyderm_metallb_address_pool",
                metallb_address_pool,
                f"and pachyderm_lb_static_ip ({static_ip!r}) are both set",
                "MetalLB takes either a pool or a fixed address: keep one",
            )
        if metallb_address_pool:
            annotations[METALLB_POOL] = metallb_address_pool
        if static_ip:
            annotations[METALLB_IPS] = _check_ip("pachyderm_lb_static_ip", static_ip)
    elif static_ip:
        load_balancer_ip = _check_ip("pachyderm_lb_static_ip", static_ip)

    ranges = check_source_ranges(source_ranges)
    if ranges:
        annotations[SOURCE_RANGES_ANNOTATION] = ",".join(ranges)

    for key, value in check_extra_annotations(extra_annotations).items():
        if key in annotations and annotations[key] != value:
            raise refuse(
                f"pachyderm_service_annotations[{key!r}]",
                value,
                f"differs from {annotations[key]!r}, which the role derives from the platform variables",
                "change those variables instead",
            )
        annotations[key] = value
    return {"annotations": annotations, "load_balancer_ip": load_balancer_ip}


def is_public(platform: str, service_type: str, internal: bool) -> bool:
    """True when the proxy gets an Internet-facing cloud load balancer."""
    return service_type == "LoadBalancer" and platform in CLOUD_PLATFORMS and not internal
