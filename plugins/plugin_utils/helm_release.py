# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""What a Helm release's manifest holds outside its namespace, and who owns it on the cluster.

Controller-only (the filters use it; no module ships it to a target), so it may read YAML with the
PyYAML that ansible-core depends on. No Ansible imports. Cluster-scoped objects (ClusterRoles, CRDs,
webhooks, ...) have one name for the whole cluster, so two releases of a chart that names them
without the release name would share them; `helm uninstall` deletes every object of its manifest,
whoever else relies on it.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat

import yaml

from ansible_collections.oneport.pachyderm.plugins.module_utils.inputs import InputError

# Kinds without a namespace that charts commonly render.
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "APIService",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "IngressClass",
        "MutatingWebhookConfiguration",
        "Namespace",
        "PersistentVolume",
        "PodSecurityPolicy",
        "PriorityClass",
        "StorageClass",
        "ValidatingWebhookConfiguration",
    }
)
RELEASE_NAME = "meta.helm.sh/release-name"
RELEASE_NAMESPACE = "meta.helm.sh/release-namespace"


def cluster_scoped(manifest: str) -> list:
    """[{api_version, kind, name}] of the cluster-scoped objects in a manifest (`helm get manifest`)."""
    found = []
    for doc in yaml.safe_load_all(manifest or ""):
        if isinstance(doc, dict) and doc.get("kind") in CLUSTER_SCOPED_KINDS:
            found.append(
                {
                    "api_version": doc.get("apiVersion", ""),
                    "kind": doc["kind"],
                    "name": (doc.get("metadata") or {}).get("name", ""),
                }
            )
    return sorted(found, key=lambda item: (item["kind"], item["name"]))


def owned_elsewhere(live: list, release: str, namespace: str) -> list:
    """ "<Kind> <name> (release <r> in <ns>)" for each live object Helm records as another release's."""
    others = []
    for obj in live or []:
        metadata = obj.get("metadata") or {}
        annotations = metadata.get("annotations") or {}
        owner = (annotations.get(RELEASE_NAME), annotations.get(RELEASE_NAMESPACE))
        if owner[0] and owner != (release, namespace):
            others.append(f"{obj.get('kind')} {metadata.get('name')} (release {owner[0]} in {owner[1]})")
    return sorted(others)


# How helm-diff judges whether an upgrade changes a release: the flags kubernetes.core.helm uses for
# its own check (values reset to the ones given), plus an exit code that says it (0 same, 2 changed,
# else an error: the chart refused the values, or the cluster did not answer), and a first install
# shown as one (the release may not exist yet). The render reads the cluster's version and APIs, so a
# chart that asks .Capabilities renders as the upgrade would; the rendered objects are not checked
# against the cluster's OpenAPI schema here (half of helm-diff's time): helm's upgrade checks them
# whenever there is a change to make, so a converged release is judged the same either way.
DIFF_FLAGS = (
    "--reset-values",
    "--allow-unreleased",
    "--detailed-exitcode",
    "--disable-openapi-validation",
    "--no-color",
    "--context",
    "3",
)


def diff_command(
    release: str,
    chart: str,
    namespace: str,
    helm: str = "helm",
    kubeconfig: str = "",
    context: str = "",
    values_files: list | tuple = (),
    post_renderer: str = "",
) -> list:
    """The argv of `helm diff upgrade` for a release; a values file "-" is read from stdin."""
    for field, value in (("release", release), ("chart", chart), ("namespace", namespace), ("helm", helm)):
        if not isinstance(value, str) or not value:
            raise InputError(
                f"helm_diff_command.{field}: {value!r} is not a non-empty string; give the {field} as text"
            )
    argv = [helm, "diff", "upgrade", release, chart, "--namespace", namespace, *DIFF_FLAGS]
    for path in values_files or ():
        argv += ["--values", str(path)]
    if post_renderer:
        argv += ["--post-renderer", post_renderer]
    if kubeconfig:
        argv += ["--kubeconfig", kubeconfig]
    if context:
        argv += ["--kube-context", context]
    return argv


# A chart that rendered once with some inputs renders again with the same ones: `helm template` reads
# no cluster, so its verdict depends only on the chart archive, helm and the inputs. The preflight
# remembers a passed render as an empty file in the per-user chart cache, named by a digest of all
# three, and skips rendering while that file is there. Credentials never go into the digest: callers
# pass redacted values.
RENDER_MARK_PREFIX = ".rendered-"


def _file_identity(path: str) -> list | None:
    try:
        real = os.path.realpath(os.path.expanduser(path))
        status = os.stat(real)
    except (OSError, TypeError, ValueError):
        return None
    if not stat.S_ISREG(status.st_mode):
        return None
    return [real, status.st_size, status.st_mtime_ns]


def render_mark(cache_dir: str, chart_path: str, chart_sha256: str, helm: str, inputs) -> str:
    """The file that says this chart rendered with ``inputs``; "" when the chart or helm is not a file here.

    ``inputs`` is anything JSON can hold (values, release name, namespace, the post-renderer's source).
    A chart in a folder, or tools on another host, are never remembered: they are rendered every run.
    """
    chart = _file_identity(chart_path)
    binary = _file_identity(helm)
    if not cache_dir or chart is None or binary is None:
        return ""
    material = json.dumps([chart, chart_sha256, binary, inputs], sort_keys=True, default=str)
    digest = hashlib.sha256(material.encode()).hexdigest()
    return os.path.join(os.path.expanduser(cache_dir), RENDER_MARK_PREFIX + digest)
