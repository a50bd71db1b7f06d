# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The checks an inventory of several clusters needs before any of them is changed.

Controller-only (a filter uses it). No Ansible imports. An inventory host of the ``clusters`` group is
one Kubernetes cluster; edge proxy hosts and workstations name the cluster they serve with
``oneport_cluster``. Each problem names the host, the variable and the fix.
"""

from __future__ import annotations

import os

PLATFORMS = ("aws", "gcp", "azure", "metallb", "nodeport", "kind", "local")


def _kube_target(cluster: dict) -> tuple:
    """(kubeconfig path as the controller resolves it, context); an empty context is the current one."""
    path = os.path.realpath(os.path.expanduser(str(cluster.get("kubeconfig") or "")))
    return path, str(cluster.get("kube_context") or "")


def problems(clusters: dict, edges: dict | None = None, workstations: dict | None = None, known=None) -> list:
    """Every problem of a fleet, as messages; an empty list when the fleet is sound.

    ``clusters`` maps each cluster host in the run to {platform, proxy_host, kubeconfig, kube_context};
    ``edges`` and ``workstations`` map each host of those groups to the ``oneport_cluster`` it names
    (empty when it names none); ``known`` lists every cluster host of the inventory (default: those of
    ``clusters``), so an edge host may serve a cluster a ``--limit`` left out.
    """
    found = []
    known = set(known if known is not None else clusters)
    if not known:
        found.append(
            "the inventory has no host in the 'clusters' group, so there is no cluster to roll out to: give "
            "each Kubernetes cluster a host there, with ansible_connection: local (docs/inventories.md, "
            "inventories/prod for an example)"
        )
    by_host: dict = {}
    by_target: dict = {}
    for name in sorted(clusters):
        cluster = clusters[name] or {}
        platform = str(cluster.get("platform") or "")
        if not platform:
            found.append(
                f"cluster {name}: oneport_platform is not set; set it in the group_vars of its platform "
                f"group or its host_vars to one of {', '.join(PLATFORMS)}"
            )
        elif platform not in PLATFORMS:
            found.append(
                f"cluster {name}: oneport_platform is {platform!r}; use one of {', '.join(PLATFORMS)}"
            )
        host = str(cluster.get("proxy_host") or "").strip().lower().rstrip(".")
        if host:
            if host in by_host:
                found.append(
                    f"clusters {by_host[host]} and {name} have the same oneport_proxy_host {host!r}: give "
                    "each cluster its own name in its host_vars"
                )
            else:
                by_host[host] = name
        target = _kube_target(cluster)
        if target in by_target:
            context = target[1] or "(its current context)"
            found.append(
                f"clusters {by_target[target]} and {name} point at the same cluster: oneport_kubeconfig "
                f"{target[0]} with oneport_kube_context {context}; give each cluster its own "
                "oneport_kube_context (or kubeconfig) in its host_vars"
            )
        else:
            by_target[target] = name
    for group, hosts in (("edge_proxy", edges or {}), ("workstations", workstations or {})):
        for name in sorted(hosts):
            served = str(hosts[name] or "")
            if not served:
                found.append(
                    f"{group} host {name}: oneport_cluster is not set; name the cluster it serves "
                    f"(one of {', '.join(sorted(known)) or 'the clusters group'})"
                )
            elif served not in known:
                found.append(
                    f"{group} host {name}: oneport_cluster is {served!r}, which is not a host of the "
                    f"clusters group; use one of {', '.join(sorted(known)) or '(none)'}"
                )
    return found
