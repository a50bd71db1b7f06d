"""The pachd_address filter: normalise without arguments, build with tls/port, clear errors."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.oneport.pachyderm.plugins.filter.pachd_address import FilterModule

pachd_address = FilterModule().filters()["pachd_address"]


def test_without_arguments_it_normalises():
    assert pachd_address("https://pachyderm.example.com:443") == "grpcs://pachyderm.example.com:443"


def test_with_tls_it_builds_from_a_host():
    assert pachd_address("pachyderm.example.com", tls=True) == "grpcs://pachyderm.example.com:443"


def test_with_only_a_port_it_builds_a_plain_address():
    assert pachd_address("203.0.113.10", port=8080) == "grpc://203.0.113.10:8080"


def test_with_tls_false_it_builds_for_port_80():
    assert pachd_address("203.0.113.10", tls=False) == "grpc://203.0.113.10:80"


def test_bad_address_is_a_filter_error_with_the_reason():
    with pytest.raises(AnsibleFilterError, match=r"pachd_address: 'grpc://h:80/x' has a path"):
        pachd_address("grpc://h:80/x")


def test_an_address_given_where_a_host_is_wanted_is_an_error():
    with pytest.raises(AnsibleFilterError, match=r"^host: 'grpcs://h:443'"):
        pachd_address("grpcs://h:443", tls=True)
