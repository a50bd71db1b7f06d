"""The MetalLB and cert-manager objects the roles apply validate against the real CRD schemas."""

from __future__ import annotations

import pytest
from support.crd_schemas import assert_valid, crd_schemas
from support.role_inputs import cert_manager_settings

from ansible_collections.oneport.pachyderm.plugins.module_utils.cert_manager import plan
from ansible_collections.oneport.pachyderm.plugins.module_utils.metallb import build_objects


@pytest.fixture(scope="module")
def metallb_schemas(reference_dir):
    return crd_schemas(reference_dir / "crds" / "metallb-v0.16.1")


@pytest.fixture(scope="module")
def cert_manager_schemas(reference_dir):
    return crd_schemas(reference_dir / "crds" / "cert-manager-v1.21.1")


def test_metallb_l2_objects_match_the_crds(metallb_schemas):
    assert_valid(
        build_objects(
            {
                "namespace": "metallb-system",
                "address_pools": [
                    {
                        "name": "public",
                        "addresses": ["192.168.10.240-192.168.10.250", "fd00::/120"],
                        "auto_assign": False,
                        "avoid_buggy_ips": True,
                    }
                ],
                "l2_advertisements": [{"name": "l2", "ip_address_pools": ["public"], "interfaces": ["eth0"]}],
            }
        ),
        metallb_schemas,
    )


def test_metallb_bgp_objects_match_the_crds(metallb_schemas):
    assert_valid(
        build_objects(
            {
                "namespace": "metallb-system",
                "address_pools": [{"name": "bgp", "addresses": ["10.30.0.0/24"]}],
                "bgp_peers": [
                    {
                        "name": "tor",
                        "my_asn": 64500,
                        "peer_asn": 64501,
                        "peer_address": "10.0.0.1",
                        "peer_port": 179,
                        "hold_time": "90s",
                        "ebgp_multi_hop": True,
                        "password_secret": "tor-password",
                    }
                ],
                "bgp_advertisements": [
                    {"name": "all", "ip_address_pools": ["bgp"], "peers": ["tor"], "local_pref": 100}
                ],
            }
        ),
        metallb_schemas,
    )


BASE = {
    "namespace": "cert-manager",
    "tls_namespace": "pachyderm",
    "secret_name": "pachyderm-proxy-tls",
    "proxy_host": "pachyderm.example.com",
    "acme_email": "platform@example.com",
}


def all_objects(config):
    result = plan({**BASE, **cert_manager_settings(), **config})
    return [*result["issuers"], result["certificate"]]


@pytest.mark.parametrize(
    "config",
    [
        {"tls": "self_signed", "ip_addresses": ["192.168.10.240"]},
        {"tls": "acme_http01", "acme_http01_ingress_class": "nginx"},
        {"tls": "acme_http01", "acme_http01_gateway": {"name": "edge", "namespace": "gw"}},
        {
            "tls": "acme_dns01",
            "acme_dns01": {
                "provider": "route53",
                "credentials_secret": "r",
                "region": "eu-west-1",
                "hosted_zone_id": "Z1",
            },
        },
        {
            "tls": "acme_dns01",
            "acme_dns01": {"provider": "clouddns", "credentials_secret": "g", "project": "p"},
        },
        {
            "tls": "acme_dns01",
            "acme_dns01": {
                "provider": "azuredns",
                "credentials_secret": "az",
                "subscription_id": "s",
                "resource_group": "rg",
                "hosted_zone": "example.com",
                "tenant_id": "t",
                "client_id": "c",
                "environment": "AzurePublicCloud",
            },
        },
    ],
    ids=["self_signed", "http01-ingress", "http01-gateway", "route53", "clouddns", "azuredns"],
)
def test_cert_manager_objects_match_the_crds(config, cert_manager_schemas):
    assert_valid(all_objects(config), cert_manager_schemas)
