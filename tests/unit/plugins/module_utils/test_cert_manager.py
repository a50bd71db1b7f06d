"""cert-manager issuers and the proxy's Certificate from the cert_manager role's variables."""

from __future__ import annotations

import pytest
from support.role_inputs import cert_manager_settings

from ansible_collections.oneport.pachyderm.plugins.module_utils.cert_manager import (
    CertManagerConfigError,
    plan,
)

BASE = {
    "tls": "self_signed",
    "namespace": "cert-manager",
    "tls_namespace": "pachyderm",
    "secret_name": "pachyderm-proxy-tls",
    "proxy_host": "pachyderm.example.com",
    "acme_email": "platform@example.com",
}
# The settings whose defaults the role decides (defaults/main.yml), as the role passes them.
BASE.update(cert_manager_settings())


def config(**changes):
    return {**BASE, **changes}


def bad(match, **changes):
    with pytest.raises(CertManagerConfigError, match=match):
        plan(config(**changes))


def test_self_signed_builds_a_ca_chain_and_signs_the_proxy_with_the_ca():
    result = plan(config(ip_addresses=["192.168.10.240"]))
    assert result["issuer"] == "oneport-ca"
    assert [(o["kind"], o["metadata"]["name"]) for o in result["issuers"]] == [
        ("ClusterIssuer", "oneport-selfsigned"),
        ("Certificate", "oneport-ca"),
        ("ClusterIssuer", "oneport-ca"),
    ]
    ca_cert = result["issuers"][1]
    assert ca_cert["spec"]["isCA"] is True
    assert ca_cert["metadata"]["namespace"] == "cert-manager"  # a CA ClusterIssuer reads its secret there
    assert result["issuers"][2]["spec"] == {"ca": {"secretName": "oneport-ca"}}
    cert = result["certificate"]
    assert cert["metadata"] == {"name": "pachyderm-proxy-tls", "namespace": "pachyderm"}
    assert cert["spec"]["dnsNames"] == ["pachyderm.example.com"]
    assert cert["spec"]["ipAddresses"] == ["192.168.10.240"]
    assert cert["spec"]["issuerRef"]["name"] == "oneport-ca"


def test_self_signed_may_name_only_ip_addresses():
    cert = plan(config(proxy_host="", ip_addresses=["10.0.0.5"]))["certificate"]
    assert "dnsNames" not in cert["spec"]
    assert cert["spec"]["ipAddresses"] == ["10.0.0.5"]


def test_acme_http01_with_an_ingress_class():
    result = plan(config(tls="acme_http01", acme_http01_ingress_class="nginx"))
    acme = result["issuers"][0]["spec"]["acme"]
    assert acme["server"].startswith("https://acme-v02.api.letsencrypt.org")
    assert acme["solvers"] == [{"http01": {"ingress": {"ingressClassName": "nginx"}}}]
    assert result["certificate"]["spec"]["issuerRef"]["name"] == "oneport-acme"


def test_acme_http01_with_a_gateway():
    result = plan(config(tls="acme_http01", acme_http01_gateway={"name": "edge", "namespace": "gw"}))
    solver = result["issuers"][0]["spec"]["acme"]["solvers"][0]
    assert solver["http01"]["gatewayHTTPRoute"]["parentRefs"][0]["name"] == "edge"


def test_acme_http01_needs_exactly_one_solver_target():
    bad("set exactly one", tls="acme_http01")


def test_acme_without_email_is_refused():
    bad(r"cert_manager_acme_email: ''", tls="acme_http01", acme_email="", acme_http01_ingress_class="nginx")


def test_acme_without_host_is_refused():
    bad(
        r"cert_manager_proxy_host: empty", tls="acme_http01", proxy_host="", acme_http01_ingress_class="nginx"
    )


def test_acme_with_ip_addresses_is_refused():
    bad(
        "do not sign IP addresses",
        tls="acme_http01",
        acme_http01_ingress_class="x",
        ip_addresses=["10.0.0.1"],
    )


def test_route53_reads_both_keys_from_the_named_secret():
    result = plan(
        config(
            tls="acme_dns01",
            acme_dns01={"provider": "route53", "credentials_secret": "r53", "region": "eu-west-1"},
        )
    )
    route53 = result["issuers"][0]["spec"]["acme"]["solvers"][0]["dns01"]["route53"]
    assert route53["accessKeyIDSecretRef"] == {"name": "r53", "key": "access-key-id"}
    assert route53["secretAccessKeySecretRef"] == {"name": "r53", "key": "secret-access-key"}


def test_route53_ambient_uses_no_secret():
    result = plan(
        config(tls="acme_dns01", acme_dns01={"provider": "route53", "ambient": True, "region": "us-east-1"})
    )
    assert result["issuers"][0]["spec"]["acme"]["solvers"][0] == {
        "dns01": {"route53": {"region": "us-east-1"}}
    }


def test_clouddns_and_azuredns_solvers():
    gcp = plan(
        config(
            tls="acme_dns01", acme_dns01={"provider": "clouddns", "credentials_secret": "g", "project": "p"}
        )
    )
    assert gcp["issuers"][0]["spec"]["acme"]["solvers"][0]["dns01"]["cloudDNS"] == {
        "project": "p",
        "serviceAccountSecretRef": {"name": "g", "key": "key.json"},
    }
    azure = plan(
        config(
            tls="acme_dns01",
            acme_dns01={
                "provider": "azuredns",
                "credentials_secret": "az",
                "subscription_id": "s",
                "resource_group": "rg",
                "tenant_id": "t",
                "client_id": "c",
            },
        )
    )
    block = azure["issuers"][0]["spec"]["acme"]["solvers"][0]["dns01"]["azureDNS"]
    assert block["clientSecretSecretRef"] == {"name": "az", "key": "client-secret"}


def test_dns01_without_credentials_secret_is_refused():
    bad(
        r"cert_manager_acme_dns01\.credentials_secret: empty",
        tls="acme_dns01",
        acme_dns01={"provider": "route53", "region": "x"},
    )


def test_dns01_unknown_provider_is_refused():
    bad(
        r"cert_manager_acme_dns01\.provider: 'cloudflare'",
        tls="acme_dns01",
        acme_dns01={"provider": "cloudflare"},
    )


def test_dns01_missing_provider_setting_is_named():
    bad(
        r"cert_manager_acme_dns01\.project: missing",
        tls="acme_dns01",
        acme_dns01={"provider": "clouddns", "credentials_secret": "g"},
    )


def test_dns01_misspelled_key_is_named():
    bad(
        r"cert_manager_acme_dns01: \['regoin'\] are unknown key\(s\)",
        tls="acme_dns01",
        acme_dns01={"provider": "route53", "credentials_secret": "r", "regoin": "x"},
    )


def test_unknown_tls_mode_is_refused_with_the_choices():
    bad(r"cert_manager_tls: 'letsencrypt'.*self_signed, acme_http01", tls="letsencrypt")


def test_off_is_refused_with_the_switch_to_skip_the_role():
    bad("oneport_enable_cert_manager: false", tls="off")


def test_existing_secret_issues_nothing():
    assert plan(config(tls="existing_secret")) == {"issuer": "", "issuers": [], "certificate": None}


def test_bad_host_is_refused():
    bad(
        r"cert_manager_proxy_host: 'https://pachyderm.example.com'",
        proxy_host="https://pachyderm.example.com",
    )


def test_bad_ip_is_refused():
    bad(r"cert_manager_ip_addresses\[0\]: 'ten'", ip_addresses=["ten"])


def test_bad_duration_is_refused():
    bad(r"cert_manager_certificate_duration: '90 days'", duration="90 days")


@pytest.mark.parametrize(
    ("name", "variable"),
    [("issuer_prefix", "cert_manager_issuer_prefix"), ("duration", "cert_manager_certificate_duration")],
)
def test_a_setting_the_role_decides_is_required_naming_its_variable(name, variable):
    missing = {key: value for key, value in config().items() if key != name}
    with pytest.raises(CertManagerConfigError, match=rf"^{variable}: missing from the model inputs"):
        plan(missing)
    bad(rf"^{variable}: '' is (empty|not a duration)", **{name: ""})
