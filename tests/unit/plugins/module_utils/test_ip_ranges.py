"""Address ranges as MetalLB takes them."""

from __future__ import annotations

import pytest

from ansible_collections.oneport.pachyderm.plugins.module_utils.ip_ranges import (
    RangeError,
    check_no_overlaps,
    parse_range,
    size,
)


def test_cidr_covers_its_whole_network():
    r = parse_range("192.168.10.0/30")
    assert (str(r.first), str(r.last), size(r)) == ("192.168.10.0", "192.168.10.3", 4)


def test_dash_range_is_inclusive_and_tolerates_spaces():
    r = parse_range("10.0.0.10 - 10.0.0.20")
    assert (str(r.first), str(r.last), size(r)) == ("10.0.0.10", "10.0.0.20", 11)


def test_ipv6_cidr_and_range_are_accepted():
    assert size(parse_range("fd00::/126")) == 4
    assert size(parse_range("fd00::10-fd00::1f")) == 16


def test_reversed_range_names_the_variable_and_the_fix():
    with pytest.raises(RangeError, match=r"pools\[0\]\.addresses\[0\].*backwards.*10\.0\.0\.1-10\.0\.0\.9"):
        parse_range("10.0.0.9-10.0.0.1", "pools[0].addresses[0]")


def test_cidr_with_host_bits_suggests_the_network():
    with pytest.raises(RangeError, match=r"host bits set; the network is 192\.168\.1\.0/24"):
        parse_range("192.168.1.7/24")


def test_octet_out_of_range_is_refused():
    with pytest.raises(RangeError, match="not a valid CIDR"):
        parse_range("10.0.0.300/32", "x")


def test_single_address_asks_for_a_host_prefix():
    with pytest.raises(RangeError, match=r"write it as 10\.0\.0\.5/32"):
        parse_range("10.0.0.5")
    with pytest.raises(RangeError, match=r"fd00::5/128"):
        parse_range("fd00::5")


def test_mixed_ip_versions_in_one_range_are_refused():
    with pytest.raises(RangeError, match="mixes IPv4 and IPv6"):
        parse_range("10.0.0.1-fd00::1")


@pytest.mark.parametrize("bad", ["", "pool", None, 42, "10.0.0.1-", "a-b"])
def test_garbage_is_refused_with_examples(bad):
    with pytest.raises(RangeError, match=r"192\.168\.10\.0/24"):
        parse_range(bad)


def test_overlap_between_a_cidr_and_a_range_is_found():
    a = parse_range("192.168.10.0/24", "pools[0].addresses[0]")
    b = parse_range("192.168.10.250-192.168.11.5", "pools[1].addresses[0]")
    with pytest.raises(RangeError, match=r"pools\[1\]\.addresses\[0\].*overlaps pools\[0\]\.addresses\[0\]"):
        check_no_overlaps([a, b])


def test_touching_ranges_do_not_overlap():
    check_no_overlaps([parse_range("10.0.0.0/25"), parse_range("10.0.0.128-10.0.0.255")])


def test_same_numbers_in_ipv4_and_ipv6_do_not_overlap():
    check_no_overlaps([parse_range("0.0.0.0/30"), parse_range("::/126")])
