"""Which node a pod goes to: the real node runs what it has images for, the fake node takes the rest.

The sandbox has two nodes: the real one (kubelet, containerd, runc) and kwok's fake one. The real node
carries the taint REAL_NODE_TAINT, so nothing lands on it unless this admission webhook lets it:

- a Pod whose every image the sandbox provides (tools/sandbox/images.py) gets the taint's toleration
  and a nodeSelector for the real node: it runs for real;
- any other Pod gets a nodeSelector for the fake node and an annotation naming the images the sandbox
  cannot provide: kwok marks it Running, nothing runs (the cert-manager chart's, whose controller cannot
  be built here, and Pachyderm's);
- a DaemonSet whose every image the sandbox provides gets the toleration in its pod template, so its
  controller places a pod on the real node as well (MetalLB's speaker); other DaemonSets stay on the
  fake node. A DaemonSet's pods (already bound to their node by the DaemonSet controller) and pods
  with a nodeName are left as they are.

Served over HTTPS on a Unix socket that the egress proxy connects the Service PLACEMENT_SERVICE to, with
failurePolicy Fail: while the sandbox runs, no pod is placed without this decision.
"""

from __future__ import annotations

import argparse
import base64
import json
import signal
import sys
import threading
from pathlib import Path

from . import images
from .certmanager_webhook import WebhookServer

REAL_NODE_TAINT = {"key": "sandbox.oneport.dev/real-node", "value": "true", "effect": "NoSchedule"}
TOLERATION = {"key": REAL_NODE_TAINT["key"], "operator": "Equal", "value": "true", "effect": "NoSchedule"}
HOSTNAME_LABEL = "kubernetes.io/hostname"
FAKE_NODE_SELECTOR = {"type": "kwok"}
REASON_ANNOTATION = "sandbox.oneport.dev/fake-node"
PLACEMENT_SERVICE = ("kube-system", "oneport-sandbox-placement", 443)
WEBHOOK_NAME = "placement.sandbox.oneport.dev"


def pod_images(spec: dict) -> list[str]:
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    return [c.get("image", "") for c in containers]


def _escape(key: str) -> str:
    """A JSON Pointer token (RFC 6901)."""
    return key.replace("~", "~0").replace("/", "~1")


def _add_toleration(spec: dict, path: str) -> list[dict]:
    tolerations = spec.get("tolerations")
    if tolerations is None:
        return [{"op": "add", "path": f"{path}/tolerations", "value": [TOLERATION]}]
    if TOLERATION in tolerations:
        return []
    return [{"op": "add", "path": f"{path}/tolerations/-", "value": TOLERATION}]


def _set_selector(spec: dict, path: str, selector: dict) -> list[dict]:
    if spec.get("nodeSelector") is None:
        return [{"op": "add", "path": f"{path}/nodeSelector", "value": selector}]
    return [
        {"op": "add", "path": f"{path}/nodeSelector/{_escape(key)}", "value": value}
        for key, value in selector.items()
    ]


def place_pod(pod: dict, real_node: str, groups=images.GROUPS) -> list[dict]:
    """The JSON patch that places a new Pod (empty: leave it as it is); `groups` are the image groups
    the real node runs."""
    spec = pod.get("spec") or {}
    owners = (pod.get("metadata") or {}).get("ownerReferences") or []
    if spec.get("nodeName") or any(o.get("kind") == "DaemonSet" for o in owners):
        return []
    missing = images.missing(pod_images(spec), groups)
    if not missing:
        return [*_add_toleration(spec, "/spec"), *_set_selector(spec, "/spec", {HOSTNAME_LABEL: real_node})]
    patch = _set_selector(spec, "/spec", FAKE_NODE_SELECTOR)
    reason = "images the sandbox cannot provide: " + ", ".join(missing)
    if (pod.get("metadata") or {}).get("annotations") is None:
        patch.append({"op": "add", "path": "/metadata/annotations", "value": {REASON_ANNOTATION: reason}})
    else:
        patch.append(
            {"op": "add", "path": f"/metadata/annotations/{_escape(REASON_ANNOTATION)}", "value": reason}
        )
    return patch


def place_daemonset(daemonset: dict, groups=images.GROUPS) -> list[dict]:
    """The JSON patch that lets a DaemonSet onto the real node when the sandbox has all its images."""
    template = ((daemonset.get("spec") or {}).get("template") or {}).get("spec") or {}
    if images.missing(pod_images(template), groups):
        return []
    return _add_toleration(template, "/spec/template/spec")


def decide(request: dict, real_node: str, groups=images.GROUPS) -> list[dict]:
    kind = (request.get("kind") or {}).get("kind")
    obj = request.get("object") or {}
    if kind == "Pod" and request.get("operation") == "CREATE":
        return place_pod(obj, real_node, groups)
    if kind == "DaemonSet":
        return place_daemonset(obj, groups)
    return []


def review(real_node: str, groups=images.GROUPS):
    def answer(body: dict, path: str) -> dict:
        request = body.get("request") or {}
        response: dict = {"uid": request.get("uid", ""), "allowed": True}
        patch = decide(request, real_node, groups) if path == "/mutate" else []
        if patch:
            response["patchType"] = "JSONPatch"
            response["patch"] = base64.b64encode(json.dumps(patch).encode()).decode()
        return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}

    return answer


def webhook_configuration(ca_bundle: bytes) -> dict:
    namespace, name, port = PLACEMENT_SERVICE
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": "oneport-sandbox-placement"},
        "webhooks": [
            {
                "name": WEBHOOK_NAME,
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "failurePolicy": "Fail",
                "timeoutSeconds": 5,
                "reinvocationPolicy": "IfNeeded",
                "clientConfig": {
                    "service": {"namespace": namespace, "name": name, "port": port, "path": "/mutate"},
                    "caBundle": base64.b64encode(ca_bundle).decode(),
                },
                "rules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE"],
                        "resources": ["pods"],
                    },
                    {
                        "apiGroups": ["apps"],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": ["daemonsets"],
                    },
                ],
            }
        ],
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--socket", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--real-node", required=True)
    parser.add_argument(
        "--group",
        action="append",
        choices=images.GROUPS,
        required=True,
        help="an image group the real node runs",
    )
    args = parser.parse_args(argv)

    def log(msg: str) -> None:
        print(f"[placement] {msg}", flush=True)

    server = WebhookServer(args.socket, log=log, review=review(args.real_node, tuple(args.group)))
    Path(args.socket).chmod(0o600)
    server.set_certificate(args.cert, args.key)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server.start()
    log(f"serving on {args.socket}")
    stop.wait()
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
