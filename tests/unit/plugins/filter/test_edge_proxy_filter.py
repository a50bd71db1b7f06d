"""The edge_proxy_description filter: a thin face that turns input errors into filter errors."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.oneport.pachyderm.plugins.filter.edge_proxy import FilterModule


def test_filter_is_registered_under_its_documented_name():
    assert "edge_proxy_description" in FilterModule().filters()


def test_a_bad_input_becomes_a_filter_error_naming_the_variable():
    describe = FilterModule().filters()["edge_proxy_description"]
    with pytest.raises(AnsibleFilterError, match="edge_proxy_service_manager"):
        describe({"edge_proxy_service_manager": "upstart"})
