"""The fleet check: an inventory of clusters refused, naming the host and the variable, before any change."""

from __future__ import annotations

from ansible_collections.oneport.pachyderm.plugins.filter.fleet import fleet_problems
from ansible_collections.oneport.pachyderm.plugins.plugin_utils import fleet


def cluster(platform="aws", host="", kubeconfig="/etc/kube/config", context=""):
    return {"platform": platform, "proxy_host": host, "kubeconfig": kubeconfig, "kube_context": context}


def test_a_sound_fleet_has_no_problems():
    clusters = {
        "eks": cluster("aws", "a.example.com", context="eks"),
        "gke": cluster("gcp", "b.example.com", context="gke"),
        "aks": cluster("azure", "", context="aks"),
    }
    assert fleet.problems(clusters, {"edge-1": "eks"}, {"laptop": "gke"}) == []


def test_a_cluster_without_a_platform_is_named():
    found = fleet.problems({"eks": cluster(context="a"), "odd": cluster(platform="", context="b")})
    assert found == [
        "cluster odd: oneport_platform is not set; set it in the group_vars of its platform group or its "
        "host_vars to one of aws, gcp, azure, metallb, nodeport, kind, local"
    ]


def test_an_unknown_platform_is_named():
    assert "oneport_platform is 'digitalocean'" in fleet.problems({"do": cluster("digitalocean")})[0]


def test_two_clusters_on_one_name_are_refused_whatever_the_case():
    found = fleet.problems(
        {
            "one": cluster(host="Pachyderm.example.com", context="a"),
            "two": cluster(host="pachyderm.example.com.", context="b"),
        }
    ) + fleet.problems(
        {"one": cluster(host="x.example.com", context="a"), "two": cluster(host="X.example.com", context="b")}
    )
    assert any("clusters one and two have the same oneport_proxy_host 'x.example.com'" in p for p in found)


def test_two_clusters_on_one_kubeconfig_context_are_refused():
    found = fleet.problems({"one": cluster(context="prod"), "two": cluster(context="prod")})
    assert len(found) == 1 and "clusters one and two point at the same cluster" in found[0]
    assert "oneport_kube_context prod" in found[0]


def test_the_same_file_by_another_path_is_the_same_cluster(tmp_path):
    config = tmp_path / "config"
    config.write_text("{}")
    link = tmp_path / "link"
    link.symlink_to(config)
    found = fleet.problems({"one": cluster(kubeconfig=str(config)), "two": cluster(kubeconfig=str(link))})
    assert "(its current context)" in found[0]


def test_one_kubeconfig_with_two_contexts_is_two_clusters():
    assert fleet.problems({"one": cluster(context="a"), "two": cluster(context="b")}) == []


def test_edge_hosts_and_workstations_must_name_a_cluster_of_the_inventory():
    found = fleet.problems({"eks": cluster()}, {"edge-1": "", "edge-2": "gke"}, {"laptop": "eks"})
    assert found[0].startswith(
        "edge_proxy host edge-1: oneport_cluster is not set; name the cluster it serves (one of eks)"
    )
    assert found[1].startswith(
        "edge_proxy host edge-2: oneport_cluster is 'gke', which is not a host of the clusters"
    )


def test_a_limited_run_still_knows_every_cluster_of_the_inventory():
    assert fleet.problems({"eks": cluster()}, {"edge-1": "gke"}, known=["eks", "gke"]) == []


def test_an_inventory_without_clusters_is_refused():
    assert "no host in the 'clusters' group" in fleet.problems({}, known=[])[0]


def test_the_filter_is_the_same_check():
    assert fleet_problems({"odd": cluster(platform="")}, None, None, None) == fleet.problems(
        {"odd": cluster(platform="")}
    )
