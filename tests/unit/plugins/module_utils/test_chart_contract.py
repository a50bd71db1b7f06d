"""The generic chart contract against the real MetalLB and cert-manager charts the roles install.

The chart is read as chart_fetch reads it (helm_chart.read_archive, then helm_chart.contract), and
checked through the one chart_problems filter every role uses.
"""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.oneport.pachyderm.plugins.filter import helm as filters
from ansible_collections.oneport.pachyderm.plugins.module_utils import chart_contract as contract
from ansible_collections.oneport.pachyderm.plugins.module_utils import helm_chart

CHARTS = {"metallb": "metallb-0.16.1.tgz", "cert-manager": "cert-manager-v1.21.1.tgz"}


@pytest.fixture(scope="module", params=sorted(CHARTS))
def chart(request, reference_dir) -> dict:
    """A chart_fetch result with the chart's contract, for each real chart."""
    files = helm_chart.read_archive(str(reference_dir / "charts" / CHARTS[request.param]))
    return {"name": request.param, **helm_chart.contract(files)}


@pytest.fixture(scope="module")
def metallb(reference_dir) -> dict:
    return helm_chart.contract(helm_chart.read_archive(str(reference_dir / "charts" / CHARTS["metallb"])))


@pytest.fixture(scope="module")
def cert_manager(reference_dir) -> dict:
    return helm_chart.contract(
        helm_chart.read_archive(str(reference_dir / "charts" / CHARTS["cert-manager"]))
    )


def test_both_charts_carry_a_schema(chart):
    assert chart["schema"] and chart["schema"]["$schema"].endswith("draft-07/schema#"), chart["name"]


def test_the_roles_default_values_fit_the_chart(chart):
    # metallb_chart_values: {} and the crds block the cert_manager role always sets.
    values = {"crds": {"enabled": True, "keep": True}} if chart["name"] == "cert-manager" else {}
    assert filters.chart_problems(values, chart) == []


def test_an_unknown_top_level_key_is_refused(chart):
    problems = filters.chart_problems({"replicas": 2}, chart)
    assert "replicas: not a key of this chart's values.yaml (the chart would ignore it)" in problems
    # cert-manager's schema refuses it too; MetalLB's accepts it, and the chart would ignore it.
    refused_by_schema = [line for line in problems if line.startswith("(top level): Additional properties")]
    assert len(refused_by_schema) == (1 if chart["name"] == "cert-manager" else 0)


def test_a_value_the_metallb_schema_refuses_is_named_by_its_path(metallb):
    problems = filters.chart_problems({"speaker": {"logLevel": "chatty"}}, metallb)
    assert len(problems) == 1
    assert problems[0].startswith("speaker.logLevel: 'chatty' is not one of")


def test_values_the_metallb_chart_reads_pass(metallb):
    values = {"controller": {"logLevel": "debug"}, "speaker": {"frr": {"enabled": False}}}
    assert filters.chart_problems(values, metallb) == []


def test_the_schema_reads_the_values_over_the_charts_defaults(metallb):
    # The MetalLB schema requires controller.image and speaker.serviceAccount: values.yaml sets them, as
    # Helm sees it. Checked alone, the user's few keys would miss them.
    values = {"speaker": {"logLevel": "debug"}}
    assert any("required property" in line for line in contract.schema_problems(values, metallb["schema"]))
    assert filters.chart_problems(values, metallb) == []


def test_a_nested_unknown_key_is_refused_though_the_metallb_schema_allows_it(metallb):
    assert filters.chart_problems({"controller": {"logLevl": "debug"}}, metallb) == [
        "controller.logLevl: not a key of this chart's values.yaml (the chart would ignore it)"
    ]


def test_cert_manager_refuses_a_wrong_type_and_an_unknown_key(cert_manager):
    problems = filters.chart_problems({"replicaCount": "two", "webhook": {"replicas": 2}}, cert_manager)
    assert any(line.startswith("replicaCount: 'two' is not of type") for line in problems), problems
    assert "webhook.replicas: not a key of this chart's values.yaml (the chart would ignore it)" in problems


def test_cert_manager_takes_a_value_its_values_yaml_reads(cert_manager):
    assert filters.chart_problems({"replicaCount": 2, "prometheus": {"enabled": False}}, cert_manager) == []


def test_a_null_removes_a_default_as_helm_does():
    chart_values = {"a": {"b": 1, "c": 2}, "d": 3}
    assert contract.coalesce(chart_values, {"a": {"b": None, "e": 4}, "d": [1]}) == {
        "a": {"c": 2, "e": 4},
        "d": [1],
    }
    assert chart_values == {"a": {"b": 1, "c": 2}, "d": 3}


def test_a_chart_without_a_schema_is_checked_against_its_values_yaml():
    chart = {"values_yaml": "controller:\n  logLevel: info\n", "schema": None}
    assert filters.chart_problems({"controller": {"logLevel": "debug"}}, chart) == []
    assert filters.chart_problems({"speaker": {}}, chart) == [
        "speaker: not a key of this chart's values.yaml (the chart would ignore it)"
    ]


@pytest.mark.parametrize("chart", [None, {"chart_path": "/c/metallb.tgz"}, "metallb"])
def test_the_filter_asks_for_a_fetch_result_with_the_contract(chart):
    with pytest.raises(AnsibleFilterError, match=r"chart_problems: .* contract: true"):
        filters.chart_problems({}, chart)


def test_the_filter_refuses_values_that_are_not_a_mapping(metallb):
    with pytest.raises(AnsibleFilterError, match="a mapping of chart values"):
        filters.chart_problems(["speaker"], metallb)
