# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The pachyderm role's Helm post-renderer: manifests on stdin, the same manifests on stdout, changed
only where the role decides.

- The Pachyderm chart adds an environment variable with a fresh random value (``UPGRADE_NO_OP``) to
  pachd and the console on every ``helm upgrade``, so that every upgrade restarts them. A rerun of an
  unchanged rollout would then never be a no-op: helm-diff always sees a change and pachd restarts.
  The chart already rolls those pods whenever what they run changes (the pod templates carry the
  image and a ``checksum/helm-values`` annotation), so the variable is dropped here.
- The chart has no value for a Service's ``spec.loadBalancerSourceRanges``, so the role's allow-list
  reaches it as the ``service.beta.kubernetes.io/load-balancer-source-ranges`` annotation, which cloud
  load balancers read but kube-proxy (which enforces the allow-list on MetalLB and other bare-metal
  clusters) does not. A LoadBalancer Service carrying the annotation gets the same list in its spec.

The output depends on the input alone (same input, same bytes), and an install renders the workloads
exactly as an upgrade does. Run as
``python post_render.py`` by a wrapper the role writes; only PyYAML is needed besides the standard
library.
"""

from __future__ import annotations

import sys

import yaml

# Environment variables the chart sets to a new random value on every upgrade.
RANDOM_ON_UPGRADE = ("UPGRADE_NO_OP",)
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet")
SOURCE_RANGES_ANNOTATION = "service.beta.kubernetes.io/load-balancer-source-ranges"


def enforce_source_ranges(doc):
    """Copy a LoadBalancer Service's source-ranges annotation into its spec; return whether it did."""
    if not isinstance(doc, dict) or doc.get("kind") != "Service":
        return False
    spec = doc.get("spec") or {}
    annotation = ((doc.get("metadata") or {}).get("annotations") or {}).get(SOURCE_RANGES_ANNOTATION)
    if spec.get("type") != "LoadBalancer" or not annotation:
        return False
    spec["loadBalancerSourceRanges"] = [cidr.strip() for cidr in str(annotation).split(",") if cidr.strip()]
    doc["spec"] = spec
    return True


def drop_random_env(doc):
    """Remove RANDOM_ON_UPGRADE from every container of a workload; return whether it changed."""
    if not isinstance(doc, dict) or doc.get("kind") not in WORKLOADS:
        return False
    pod = ((doc.get("spec") or {}).get("template") or {}).get("spec") or {}
    changed = False
    for key in ("containers", "initContainers"):
        for container in pod.get(key) or []:
            env = container.get("env")
            if not env:
                continue
            kept = [
                item for item in env if not (isinstance(item, dict) and item.get("name") in RANDOM_ON_UPGRADE)
            ]
            if len(kept) != len(env):
                container["env"] = kept
                changed = True
    return changed


def post_render(text):
    """The manifests with the role's changes; other documents than these keep their bytes."""
    out = []
    for chunk in split_documents(text):
        doc = yaml.safe_load(chunk) if chunk.strip() else None
        # Workloads are always written anew, with or without the variable, so that an install (the
        # chart adds none) and the upgrades after it yield the same bytes for helm-diff to compare.
        drop_random_env(doc)
        ranged = enforce_source_ranges(doc)
        if ranged or (isinstance(doc, dict) and doc.get("kind") in WORKLOADS):
            # Keep the leading comments (helm's "# Source: <template>" line) above the new text.
            lines = chunk.splitlines(keepends=True)
            comments = [line for line in lines[: next_content(lines)] if line.strip()]
            chunk = "".join(comments) + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)
        out.append(chunk)
    return "---\n".join(out)


def next_content(lines):
    """Index of the first line that is neither blank nor a comment."""
    for index, line in enumerate(lines):
        if line.strip() and not line.lstrip().startswith("#"):
            return index
    return len(lines)


def split_documents(text):
    """The YAML documents of a multi-document stream, split on '---' lines, text kept as it is."""
    chunks, current = [], []
    for line in text.splitlines(keepends=True):
        if line.rstrip() == "---":
            chunks.append("".join(current))
            current = []
        else:
            current.append(line)
    chunks.append("".join(current))
    return chunks


def main():
    sys.stdout.write(post_render(sys.stdin.read()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
