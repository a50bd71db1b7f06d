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

- With ``--proxy SETTINGS.json`` (the collection's proxy configuration, pachyderm_proxy_config:
  collection; the file comes from plugins/module_utils/pachyderm_proxy.py), the proxy runs the
  collection's Envoy configuration: the ConfigMap's data is replaced by its files, the Deployment's
  ``checksum/envoy-config`` becomes their digest (pods roll exactly when the configuration changes),
  kubelet probes the configuration's readiness listener (the admin interface is bound to loopback),
  and the Service gets the legacy ports the chart has no value for. Extra documents (the ACME HTTP-01
  solver Service) join the release.

The output depends on the input alone (same input, same bytes), and an install renders the workloads
exactly as an upgrade does. Run as
``python post_render.py [--proxy SETTINGS.json]`` by a wrapper the role writes; only PyYAML is needed
besides the standard library.
"""

from __future__ import annotations

import hashlib
import json
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


def config_checksum(files):
    """The digest of the proxy's configuration files, as the Deployment's checksum annotation."""
    canonical = json.dumps(files, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _named(doc, kind, name):
    return (
        isinstance(doc, dict) and doc.get("kind") == kind and (doc.get("metadata") or {}).get("name") == name
    )


def apply_proxy(doc, settings):
    """Make the chart's proxy objects run the collection's configuration; return whether it changed."""
    if not settings:
        return False
    if _named(doc, "ConfigMap", settings["config_map"]):
        doc["data"] = dict(sorted(settings["files"].items()))
        return True
    if _named(doc, "Deployment", settings["deployment"]):
        template = doc.setdefault("spec", {}).setdefault("template", {})
        annotations = template.setdefault("metadata", {}).get("annotations") or {}
        annotations["checksum/envoy-config"] = config_checksum(settings["files"])
        template["metadata"]["annotations"] = annotations
        for container in (template.get("spec") or {}).get("containers") or []:
            if container.get("name") != settings["container"]:
                continue
            port = settings["readiness_port"]
            # The admin interface listens on loopback only: kubelet probes the readiness listener.
            ports = [p for p in container.get("ports") or [] if p.get("name") != "admin-port"]
            if not any(p.get("name") == "readiness" for p in ports):
                ports.append({"name": "readiness", "containerPort": port})
            container["ports"] = ports
            container["readinessProbe"] = {"httpGet": {"path": "/ready", "port": "readiness"}}
            container["livenessProbe"] = {"tcpSocket": {"port": "readiness"}}
        return True
    if _named(doc, "Service", settings["service"]) and settings.get("service_ports"):
        spec = doc.setdefault("spec", {})
        ports = spec.get("ports") or []
        names = {p.get("name") for p in ports}
        ports.extend(dict(p) for p in settings["service_ports"] if p["name"] not in names)
        spec["ports"] = ports
        return True
    return False


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the proxy's JSON files) as literal blocks, so manifests stay readable."""


def _str_representer(dumper, value):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_representer)


def dump(doc):
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True)


def post_render(text, proxy=None):
    """The manifests with the role's changes; other documents than these keep their bytes."""
    out = []
    for chunk in split_documents(text):
        doc = yaml.safe_load(chunk) if chunk.strip() else None
        # Workloads are always written anew, with or without the variable, so that an install (the
        # chart adds none) and the upgrades after it yield the same bytes for helm-diff to compare.
        drop_random_env(doc)
        ranged = enforce_source_ranges(doc)
        proxied = apply_proxy(doc, proxy)
        if ranged or proxied or (isinstance(doc, dict) and doc.get("kind") in WORKLOADS):
            # Keep the leading comments (helm's "# Source: <template>" line) above the new text.
            lines = chunk.splitlines(keepends=True)
            comments = [line for line in lines[: next_content(lines)] if line.strip()]
            chunk = "".join(comments) + dump(doc)
        out.append(chunk)
    for extra in (proxy or {}).get("documents") or []:
        out.append("# Source: oneport.pachyderm post-renderer\n" + dump(extra))
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


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    proxy = None
    if argv[:1] == ["--proxy"] and len(argv) == 2:
        with open(argv[1], encoding="utf-8") as handle:
            proxy = json.load(handle)
    elif argv:
        sys.stderr.write("usage: post_render.py [--proxy SETTINGS.json] < manifests > manifests\n")
        return 2
    sys.stdout.write(post_render(sys.stdin.read(), proxy))
    return 0


if __name__ == "__main__":
    sys.exit(main())
