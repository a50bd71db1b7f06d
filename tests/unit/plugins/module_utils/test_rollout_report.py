"""Why a rollout is not ready: pods, events and logs as kubernetes.core reads them, turned into a report."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.oneport.pachyderm.plugins.filter.rollout_report import (
    rollout_report,
    unready_containers,
)
from ansible_collections.oneport.pachyderm.plugins.module_utils import rollout_report as model

NS = "pachyderm"


def pod(
    name,
    *,
    owner=("ReplicaSet", "pachd-6f7c9d"),
    template_hash="6f7c9d",
    ready=False,
    containers=(),
    **status,
):
    labels = {"pod-template-hash": template_hash} if template_hash else {}
    refs = [{"kind": owner[0], "name": owner[1], "controller": True}] if owner else []
    return {
        "metadata": {"name": name, "labels": labels, "ownerReferences": refs},
        "spec": {"containers": [{"name": c["name"], "image": c.get("image", "img")} for c in containers]},
        "status": {
            "phase": status.pop("phase", "Running"),
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": list(containers),
            **status,
        },
    }


def event(pod_name, reason, message, kind="Warning", count=1, when="2026-12-02T10:00:00Z"):
    return {
        "involvedObject": {"kind": "Pod", "name": pod_name},
        "reason": reason,
        "message": message,
        "type": kind,
        "count": count,
        "lastTimestamp": when,
    }


PULL = {
    "name": "pachd",
    "image": "pachyderm/pachd:9.9.9",
    "ready": False,
    "state": {
        "waiting": {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "pachyderm/pachd:9.9.9"'}
    },
}
CRASH = {
    "name": "postgres",
    "ready": False,
    "restartCount": 4,
    "state": {
        "waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting failed container"}
    },
    "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}},
}
NOT_READY = {"name": "console", "ready": False, "state": {"running": {"startedAt": "x"}}}
READY = {"name": "etcd", "ready": True, "state": {"running": {"startedAt": "x"}}}


def test_a_pulled_image_that_cannot_be_had_is_named_with_the_deployment_to_fix():
    found = model.report([pod("pachd-6f7c9d-abcde", containers=[PULL])], [], [], NS)
    (item,) = found["unready"]
    assert item["object"] == "Deployment pachyderm/pachd"  # the ReplicaSet's owner, as one fixes it
    assert "image pachyderm/pachd:9.9.9 cannot be had (ImagePullBackOff" in item["problems"][0]
    assert "fix Deployment pachyderm/pachd" in found["text"]


def test_a_crashing_container_reports_its_exit_code_events_and_log_tail():
    crashing = pod("postgres-0", owner=("StatefulSet", "postgres"), template_hash="", containers=[CRASH])
    events = [
        event("postgres-0", "Pulled", "already present", kind="Normal"),
        event("postgres-0", "BackOff", "Back-off restarting failed container", count=7),
        event("other-0", "BackOff", "not this pod's"),
    ]
    logs = [
        {"pod": "postgres-0", "container": "postgres", "lines": ["FATAL:  password authentication failed"]}
    ]
    found = model.report([crashing], events, logs, NS)
    (item,) = found["unready"]
    assert item["object"] == "StatefulSet pachyderm/postgres"
    assert item["problems"] == [
        "container postgres: CrashLoopBackOff, last exit code 1 (Error): "
        "back-off 40s restarting failed container"
    ]
    assert item["events"] == ["BackOff: Back-off restarting failed container (x7)"]  # warnings only, its own
    assert "    FATAL:  password authentication failed" in found["text"]


def test_ready_finished_and_terminating_pods_are_left_out_and_a_running_unready_one_is_named():
    done = pod("job-x", owner=("Job", "migrate"), template_hash="", phase="Succeeded")
    going = pod("pachd-6f7c9d-old", containers=[NOT_READY])
    going["metadata"]["deletionTimestamp"] = "2026-12-02T10:00:00Z"
    found = model.report(
        [
            pod("etcd-0", ready=True, containers=[READY]),
            done,
            going,
            pod("console-1-a", containers=[NOT_READY]),
        ],
        [],
        [],
        NS,
    )
    assert [item["pod"] for item in found["unready"]] == ["console-1-a"]
    assert found["unready"][0]["problems"] == [
        "container console: running, not ready (its readiness probe does not pass yet)"
    ]


def test_an_unscheduled_pod_says_why_no_node_takes_it():
    pending = pod("pachd-6f7c9d-zz", phase="Pending")
    pending["status"]["conditions"] = [
        {
            "type": "PodScheduled",
            "status": "False",
            "message": "0/1 nodes are available: 1 Insufficient memory.",
        }
    ]
    (item,) = model.report([pending], [], [], NS)["unready"]
    assert item["problems"] == ["not scheduled: 0/1 nodes are available: 1 Insufficient memory."]


def test_logs_are_read_only_for_containers_that_ran():
    pods = [
        pod("pachd-6f7c9d-a", containers=[PULL]),  # never started: no log to read
        pod("postgres-0", owner=("StatefulSet", "postgres"), template_hash="", containers=[CRASH]),
        pod("etcd-0", ready=True, containers=[READY]),
    ]
    assert unready_containers(pods) == [["postgres-0", "postgres"]]


def test_the_filter_takes_k8s_log_loop_results_and_skips_failed_reads():
    crashing = pod("postgres-0", owner=("StatefulSet", "postgres"), template_hash="", containers=[CRASH])
    results = [
        {"item": ["postgres-0", "postgres"], "log_lines": ["last words", ""]},
        {"item": ["postgres-0", "init"], "failed": True, "msg": "container not found"},
    ]
    found = rollout_report([crashing], [], results, NS)
    assert found["unready"][0]["logs"] == {"postgres": ["last words"]}
    assert model.report([], [], [], NS)["text"] == "every pod in namespace pachyderm is ready"
    with pytest.raises(AnsibleFilterError, match="rollout_report"):
        rollout_report({"not": "a list"}, [], [], NS)


def test_a_container_that_just_exited_reports_its_exit_code():
    ended = {
        "name": "main",
        "ready": False,
        "restartCount": 1,
        "state": {"terminated": {"exitCode": 2, "reason": "Error"}},
    }
    (item,) = model.report([pod("crasher-6f7c9d-a", containers=[ended])], [], [], NS)["unready"]
    assert item["problems"] == ["container main: exited with code 2 (Error)"]
