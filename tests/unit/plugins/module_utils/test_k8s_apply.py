"""Whether a client-side apply would change nothing: proven from the objects read, or not at all."""

from __future__ import annotations

import json

from ansible_collections.oneport.pachyderm.plugins.filter.k8s_applied import k8s_applied_as_is
from ansible_collections.oneport.pachyderm.plugins.module_utils.k8s_apply import (
    LAST_APPLIED,
    applied_as_is,
    contains,
)

POOL = {
    "apiVersion": "metallb.io/v1beta1",
    "kind": "IPAddressPool",
    "metadata": {
        "name": "public",
        "namespace": "metallb-system",
        "labels": {"app.kubernetes.io/managed-by": "oneport.pachyderm"},
    },
    "spec": {"addresses": ["192.0.2.10-192.0.2.20"], "autoAssign": True},
}


def live(definition, last_applied=None, **spec):
    """The object as the API server returns it after the apply: defaults and server fields added."""
    obj = json.loads(json.dumps(definition))
    obj["metadata"].update(
        uid="5f0c", resourceVersion="812", generation=1, creationTimestamp="2026-12-01T10:00:00Z"
    )
    applied = definition if last_applied is None else last_applied
    if applied is not False:
        obj["metadata"]["annotations"] = {LAST_APPLIED: json.dumps(applied, sort_keys=True)}
    obj["spec"].setdefault("avoidBuggyIPs", False)
    obj["spec"].update(spec)
    obj["status"] = {}
    return obj


def test_objects_as_last_applied_need_no_apply():
    assert applied_as_is([live(POOL)], [POOL])
    assert applied_as_is([live(POOL)], [])


def test_a_changed_value_on_the_cluster_needs_the_apply():
    assert not applied_as_is([live(POOL, autoAssign=False)], [POOL])


def test_a_changed_definition_needs_the_apply():
    wanted = {**POOL, "spec": {**POOL["spec"], "addresses": ["192.0.2.10-192.0.2.30"]}}
    assert not applied_as_is([live(POOL)], [wanted])


def test_a_field_dropped_from_the_definition_needs_the_apply_that_removes_it():
    # The live object still has autoAssign from the last apply; only the annotation tells it was ours.
    dropped = {**POOL, "spec": {"addresses": POOL["spec"]["addresses"]}}
    assert not applied_as_is([live(POOL)], [dropped])


def test_missing_objects_and_annotations_need_the_apply():
    assert not applied_as_is([], [POOL])
    assert not applied_as_is([live(POOL, last_applied=False)], [POOL])
    broken = live(POOL)
    broken["metadata"]["annotations"][LAST_APPLIED] = "{not json"
    assert not applied_as_is([broken], [POOL])


def test_objects_are_matched_by_api_version_kind_namespace_and_name():
    other = {**POOL, "metadata": {**POOL["metadata"], "namespace": "elsewhere"}}
    assert not applied_as_is([live(other)], [POOL])
    advertisement = {**POOL, "kind": "L2Advertisement"}
    assert not applied_as_is([live(POOL)], [advertisement])


def test_contains_compares_types_so_a_string_is_not_a_number_nor_a_bool_an_int():
    assert contains({"a": 1, "b": {"c": [1, 2]}}, {"b": {"c": [1, 2]}})
    assert not contains({"a": "64512"}, {"a": 64512})
    assert not contains({"a": 1}, {"a": True})
    assert not contains({"a": [1, 2, 3]}, {"a": [1, 2]})
    assert not contains({"a": 1}, {"a": {"b": 1}})


def test_the_filter_reads_ansible_strings_as_plain_ones():
    class Tagged(str):
        pass

    tagged = json.loads(json.dumps(POOL))
    tagged["metadata"]["name"] = Tagged("public")
    assert k8s_applied_as_is([live(POOL)], [tagged])
