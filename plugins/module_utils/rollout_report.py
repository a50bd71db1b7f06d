# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Why a rollout did not become ready, pod by pod, from objects already read.

A release whose pods never become ready fails helm's wait with little more than "context deadline
exceeded". Before the release is undone (and its pods with it), the role reads the namespace's Pods,
Events and the last lines of each unready container's log, and this module turns them into a report
that names, for each pod: the object to fix (its Deployment, StatefulSet or Job, not the pod), what
holds it back (an image that cannot be pulled, named; a crash with its exit code; a failing readiness
probe; a pod no node takes), its latest warning events and its log tail. Plain Python, no Ansible
imports.
"""

from __future__ import annotations

# What kubelet says, as containers' waiting reasons, when it cannot get an image.
IMAGE_REASONS = ("ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName")
EVENTS_PER_POD = 5


def _conditions(pod: dict) -> dict:
    return {c.get("type"): c for c in (pod.get("status") or {}).get("conditions") or []}


def is_ready(pod: dict) -> bool:
    """Ready, or finished (a completed Job's pod waits for nothing)."""
    status = pod.get("status") or {}
    if status.get("phase") == "Succeeded":
        return True
    return _conditions(pod).get("Ready", {}).get("status") == "True"


def owner(pod: dict) -> tuple[str, str]:
    """The object that makes the pod, as one fixes it: a ReplicaSet's pod belongs to its Deployment."""
    metadata = pod.get("metadata") or {}
    for ref in metadata.get("ownerReferences") or []:
        if not ref.get("controller", True):
            continue
        kind, name = ref.get("kind", ""), ref.get("name", "")
        template_hash = (metadata.get("labels") or {}).get("pod-template-hash")
        if kind == "ReplicaSet" and template_hash and name.endswith("-" + template_hash):
            return "Deployment", name[: -len(template_hash) - 1]
        return kind, name
    return "Pod", metadata.get("name", "")


def containers_with_logs(pods: list) -> list[list[str]]:
    """[pod, container] of each container of an unready pod that has run: the logs worth reading."""
    pairs = []
    for pod in pods or []:
        if is_ready(pod):
            continue
        status = pod.get("status") or {}
        for item in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
            state = item.get("state") or {}
            if state.get("running") or state.get("terminated") or item.get("restartCount"):
                pairs.append([pod["metadata"]["name"], item.get("name", "")])
    return pairs


def _image_of(pod: dict, container: str) -> str:
    spec = pod.get("spec") or {}
    for item in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        if item.get("name") == container:
            return item.get("image", "")
    return ""


def container_problems(pod: dict) -> list[str]:
    """What holds each container back, in words that name the image or the exit code."""
    status = pod.get("status") or {}
    problems = []
    statuses = [("init container", s) for s in status.get("initContainerStatuses") or []]
    statuses += [("container", s) for s in status.get("containerStatuses") or []]
    for role, item in statuses:
        name = item.get("name", "")
        state = item.get("state") or {}
        waiting = state.get("waiting") or {}
        reason = waiting.get("reason", "")
        last = (item.get("lastState") or {}).get("terminated") or {}
        if reason in IMAGE_REASONS:
            image = item.get("image") or _image_of(pod, name)
            said = waiting.get("message", "").strip()
            problems.append(
                f"{role} {name}: image {image} cannot be had ({reason}: {said}); "
                "make the image available to the cluster (a registry it can pull from, or a mirror) or "
                "set the chart value that names it"
            )
        elif reason:
            detail = f"{reason}"
            if last:
                detail += f", last exit code {last.get('exitCode')} ({last.get('reason', 'terminated')})"
            if waiting.get("message"):
                detail += f": {waiting['message'].strip()}"
            problems.append(f"{role} {name}: {detail}")
        elif state.get("terminated"):
            ended = state["terminated"]
            if ended.get("exitCode") or role == "container":
                why = ended.get("reason", "terminated")
                problems.append(f"{role} {name}: exited with code {ended.get('exitCode')} ({why})")
        elif state.get("running") and not item.get("ready") and role == "container":
            problems.append(f"{role} {name}: running, not ready (its readiness probe does not pass yet)")
    if not statuses:
        scheduled = _conditions(pod).get("PodScheduled", {})
        if scheduled.get("status") == "False":
            problems.append(f"not scheduled: {scheduled.get('message', scheduled.get('reason', ''))}".strip())
        else:
            problems.append(f"phase {status.get('phase', 'unknown')}, no container started yet")
    return problems


def pod_events(events: list, pod_name: str) -> list[str]:
    """The pod's latest events, warnings first, newest last, with how often each came."""
    mine = [
        event
        for event in events or []
        if (event.get("involvedObject") or {}).get("kind") == "Pod"
        and (event.get("involvedObject") or {}).get("name") == pod_name
    ]

    def when(event: dict) -> str:
        return event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp") or ""

    warnings = [e for e in mine if e.get("type") == "Warning"] or mine
    lines = []
    for event in sorted(warnings, key=when)[-EVENTS_PER_POD:]:
        count = event.get("count") or 1
        times = f" (x{count})" if count > 1 else ""
        lines.append(f"{event.get('reason', '')}: {(event.get('message') or '').strip()}{times}")
    return lines


def report(pods: list, events: list, logs: list, namespace: str) -> dict:
    """Every unready pod: the object to fix, its problems, events and log tail; and the report as text.

    ``logs`` holds what kubernetes.core.k8s_log returned per container: mappings with ``pod``,
    ``container`` and ``lines`` (absent or empty when the container never ran).
    """
    tails: dict = {}
    for item in logs or []:
        lines = list(item.get("lines") or [])
        while lines and not str(lines[-1]).strip():  # a log's final newline reads as an empty line
            lines.pop()
        if lines:
            tails.setdefault(item.get("pod"), []).append((item.get("container", ""), lines))
    unready = []
    for pod in pods or []:
        if is_ready(pod) or (pod.get("metadata") or {}).get("deletionTimestamp"):
            continue
        name = (pod.get("metadata") or {}).get("name", "")
        kind, owner_name = owner(pod)
        unready.append(
            {
                "pod": name,
                "object": f"{kind} {namespace}/{owner_name}",
                "problems": container_problems(pod),
                "events": pod_events(events, name),
                "logs": dict(tails.get(name, [])),
            }
        )
    return {"unready": unready, "text": as_text(unready, namespace)}


def as_text(unready: list, namespace: str) -> str:
    if not unready:
        return f"every pod in namespace {namespace} is ready"
    parts = []
    for item in unready:
        lines = [f"pod {item['pod']} is not ready; fix {item['object']}:"]
        lines += [f"  - {problem}" for problem in item["problems"]]
        if item["events"]:
            lines.append("  events:")
            lines += [f"    {event}" for event in item["events"]]
        for container, tail in item["logs"].items():
            lines.append(f"  last lines of {container}'s log:")
            lines += [f"    {line}" for line in tail]
        parts.append("\n".join(lines))
    return "\n".join(parts)
