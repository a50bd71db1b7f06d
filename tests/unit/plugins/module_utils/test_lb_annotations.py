"""The proxy Service's load-balancer annotations, per platform."""

from __future__ import annotations

import pytest

from ansible_collections.oneport.pachyderm.plugins.module_utils import lb_annotations as lb

SUBNETS = ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"]


def test_aws_gets_an_external_nlb_with_ip_targets_facing_the_internet_by_default():
    annotations = lb.load_balancer("aws")["annotations"]
    assert annotations[lb.AWS_TYPE] == "external"
    assert annotations[lb.AWS_TARGET_TYPE] == "ip"
    assert annotations[lb.AWS_SCHEME] == "internet-facing"


def test_aws_internal_option_sets_the_internal_scheme():
    assert lb.load_balancer("aws", internal=True)["annotations"][lb.AWS_SCHEME] == "internal"


def test_aws_subnets_and_eips_are_comma_separated_one_eip_per_subnet():
    eips = ["eipalloc-0a1b2c3d4e5f60001", "eipalloc-0a1b2c3d4e5f60002"]
    annotations = lb.load_balancer("aws", aws_subnets=SUBNETS, aws_eip_allocations=eips)["annotations"]
    assert annotations[lb.AWS_SUBNETS] == ",".join(SUBNETS)
    assert annotations[lb.AWS_EIP_ALLOCATIONS] == ",".join(eips)


def test_aws_eip_count_must_match_the_subnets():
    with pytest.raises(
        ValueError,
        match=r"pachyderm_aws_eip_allocations: \['eipalloc-0a1b2c3d4e5f60001'\] lists 1 allocation",
    ):
        lb.load_balancer("aws", aws_subnets=SUBNETS, aws_eip_allocations=["eipalloc-0a1b2c3d4e5f60001"])


def test_aws_eips_are_refused_on_an_internal_nlb():
    with pytest.raises(ValueError, match="only attach to an internet-facing NLB"):
        lb.load_balancer(
            "aws", internal=True, aws_subnets=SUBNETS[:1], aws_eip_allocations=["eipalloc-0a1b2c3d"]
        )


def test_aws_refuses_a_static_ip_and_points_at_eips():
    with pytest.raises(ValueError, match="pachyderm_aws_eip_allocations instead"):
        lb.load_balancer("aws", static_ip="203.0.113.10")


def test_gcp_static_ip_becomes_load_balancer_ip_and_internal_sets_the_gke_annotation():
    result = lb.load_balancer("gcp", static_ip="203.0.113.10", internal=True)
    assert result["load_balancer_ip"] == "203.0.113.10"
    assert result["annotations"] == {lb.GCP_LB_TYPE: "Internal"}


def test_azure_static_ip_resource_group_and_internal_option():
    result = lb.load_balancer("azure", static_ip="20.0.0.10", azure_resource_group="net-rg", internal=True)
    assert result["load_balancer_ip"] == "20.0.0.10"
    assert result["annotations"] == {lb.AZURE_RESOURCE_GROUP: "net-rg", lb.AZURE_INTERNAL: "true"}


def test_metallb_takes_an_address_pool():
    assert lb.load_balancer("metallb", metallb_address_pool="lan")["annotations"] == {lb.METALLB_POOL: "lan"}


def test_metallb_takes_a_fixed_address_as_an_annotation():
    result = lb.load_balancer("metallb", static_ip="10.20.30.240")
    assert result["annotations"] == {lb.METALLB_IPS: "10.20.30.240"}
    assert result["load_balancer_ip"] == ""


def test_metallb_refuses_a_pool_and_a_fixed_address_together():
    with pytest.raises(ValueError, match="either a pool or a fixed address"):
        lb.load_balancer("metallb", metallb_address_pool="lan", static_ip="10.20.30.240")


def test_a_static_ip_must_be_an_address():
    with pytest.raises(ValueError, match="pachyderm_lb_static_ip: 'my-address' is not an IP address"):
        lb.load_balancer("gcp", static_ip="my-address")


def test_source_ranges_travel_as_the_standard_annotation():
    annotations = lb.load_balancer("gcp", source_ranges=["203.0.113.0/24", "10.0.0.0/8"])["annotations"]
    assert annotations[lb.SOURCE_RANGES_ANNOTATION] == "203.0.113.0/24,10.0.0.0/8"


@pytest.mark.parametrize("bad", ["10.0.0.300/24", "not-a-cidr", "10.0.0.0"])
def test_a_source_range_that_is_not_a_cidr_is_refused(bad):
    with pytest.raises(ValueError, match="pachyderm_source_ranges"):
        lb.check_source_ranges([bad])


def test_a_source_range_with_host_bits_names_the_network_to_write():
    with pytest.raises(ValueError, match=r"write 10\.0\.0\.0/8 instead"):
        lb.check_source_ranges(["10.1.2.3/8"])


def test_ipv6_source_ranges_are_accepted():
    assert lb.check_source_ranges(["2001:db8::/32"]) == ["2001:db8::/32"]


def test_extra_annotations_join_the_derived_ones():
    annotations = lb.load_balancer("gcp", extra_annotations={"example.com/owner": "data"})["annotations"]
    assert annotations == {"example.com/owner": "data"}


def test_extra_annotations_may_not_contradict_the_derived_ones():
    with pytest.raises(ValueError, match="change those variables instead"):
        lb.load_balancer("aws", extra_annotations={lb.AWS_SCHEME: "internal"})


def test_the_source_ranges_annotation_is_set_through_its_variable_only():
    with pytest.raises(ValueError, match="set pachyderm_source_ranges"):
        lb.check_extra_annotations({lb.SOURCE_RANGES_ANNOTATION: "0.0.0.0/0"})


@pytest.mark.parametrize("bad", [["a=b"], "a=b", 3])
def test_annotations_must_be_a_mapping(bad):
    with pytest.raises(ValueError, match=r"pachyderm_service_annotations: .* is not a mapping"):
        lb.check_extra_annotations(bad)


def test_annotation_keys_must_be_valid_kubernetes_keys():
    with pytest.raises(ValueError, match="not a valid Kubernetes annotation key"):
        lb.check_extra_annotations({"bad key": "x"})


def test_annotation_values_must_be_scalars():
    with pytest.raises(ValueError, match=r"must be a\s+string"):
        lb.check_extra_annotations({"example.com/list": ["a"]})


def test_boolean_annotation_values_become_lower_case_strings():
    assert lb.check_extra_annotations({"example.com/flag": True}) == {"example.com/flag": "true"}


def test_an_unknown_platform_is_refused_with_the_supported_list():
    with pytest.raises(ValueError, match="use one of: aws, gcp, azure, metallb"):
        lb.load_balancer("digitalocean")


@pytest.mark.parametrize(
    ("platform", "kwargs", "variable"),
    [
        ("gcp", {"aws_subnets": SUBNETS}, "pachyderm_aws_subnets"),
        ("aws", {"azure_resource_group": "rg"}, "pachyderm_azure_resource_group"),
        ("azure", {"metallb_address_pool": "lan"}, "pachyderm_metallb_address_pool"),
    ],
)
def test_a_platform_specific_variable_on_another_platform_is_refused(platform, kwargs, variable):
    with pytest.raises(ValueError, match=variable):
        lb.load_balancer(platform, **kwargs)


@pytest.mark.parametrize(
    ("platform", "service_type", "internal", "public"),
    [
        ("aws", "LoadBalancer", False, True),
        ("aws", "LoadBalancer", True, False),
        ("gcp", "NodePort", False, False),
        ("metallb", "LoadBalancer", False, False),
    ],
)
def test_only_an_internet_facing_cloud_load_balancer_counts_as_public(
    platform, service_type, internal, public
):
    assert lb.is_public(platform, service_type, internal) is public
