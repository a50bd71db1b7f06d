"""The envoy_config filter is a thin face: same bootstrap, same error text as an Ansible error."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.oneport.pachyderm.plugins.filter.envoy_config import FilterModule, envoy_config
from ansible_collections.oneport.pachyderm.plugins.module_utils.envoy_config import render_bootstrap


class TaggedText(str):
    """Stands for the str subclasses Ansible hands to filters."""


def test_filter_is_registered_as_envoy_config():
    assert FilterModule().filters() == {"envoy_config": envoy_config}


def test_filter_returns_the_translators_bootstrap():
    description = {"tls": {"cert_dir": "/tls"}, "legacy_ports": {"grpc": True}}
    assert envoy_config(description) == render_bootstrap(description)


def test_filter_hands_plain_strings_to_the_model():
    bootstrap = envoy_config({TaggedText("node"): {"id": TaggedText("edge-1")}})
    assert bootstrap["node"]["id"] == "edge-1"
    assert not isinstance(bootstrap["node"]["id"], TaggedText)


def test_filter_turns_a_bad_description_into_an_ansible_error_naming_the_field():
    with pytest.raises(AnsibleFilterError, match=r"backends\.s3\.port: 0 is not a port"):
        envoy_config({"backends": {"s3": {"port": 0}}})
