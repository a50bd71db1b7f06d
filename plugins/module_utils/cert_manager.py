# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""cert-manager issuers and the proxy's Certificate, from the cert_manager role's variables.

One decision per TLS mode (``oneport_tls``):

- ``self_signed``: a self-signed ClusterIssuer signs a CA Certificate; a CA ClusterIssuer made from
  that CA's secret signs the proxy's Certificate (a chain the user can trust once, on-prem default).
- ``acme_http01`` / ``acme_dns01``: an ACME ClusterIssuer whose solver is an ingress class or a
  Gateway (HTTP-01), or Route53, Cloud DNS or Azure DNS with credentials from an existing Secret.
- ``existing_secret``: nothing to issue; the role checks the user's Secret instead.

Every error names the variable, the bad value and the fix. Plain Python, no Ansible imports.
"""

from __future__ import annotations

import re

from ansible_collections.oneport.pachyderm.plugins.module_utils import inputs as check
from ansible_collections.oneport.pachyderm.plugins.module_utils.inputs import InputError

# The modes this role handles: every TLS mode but off (inputs.TLS_MODES is the one list).
TLS_MODES = check.CERTIFICATE_MODES
DNS01_PROVIDERS = ("route53", "clouddns", "azuredns")
API_VERSION = "cert-manager.io/v1"
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
DURATION_RE = re.compile(r"^([0-9]+(\.[0-9]+)?(h|m|s))+$")

# Provider settings the role accepts under cert_manager_acme_dns01, beyond provider/credentials.
DNS01_KEYS = {
    "route53": {"region", "hosted_zone_id", "role", "access_key_id_key", "secret_access_key_key"},
    "clouddns": {"project", "hosted_zone_name", "service_account_key"},
    "azuredns": {
        "subscription_id",
        "resource_group",
        "hosted_zone",
        "tenant_id",
        "client_id",
        "client_secret_key",
        "environment",
        "managed_identity_client_id",
    },
}


class CertManagerConfigError(InputError):
    """Bad cert_manager variables; the message names the variable, the value and the fix."""


def _required(config: dict, name: str, variable: str = "") -> str:
    """A setting the role always passes (its defaults/main.yml decides the default, once): refused when
    missing or empty, naming the variable."""
    field = variable or f"cert_manager_{name}"
    value = check.role_input(config, name, "cert_manager", CertManagerConfigError, field)
    if not str(value).strip():
        raise check.refuse(
            field,
            value,
            "is empty",
            f"give a value, or leave {field} out to use the role's default",
            CertManagerConfigError,
        )
    return value


def _object(kind, name, spec, namespace=None):
    metadata = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": metadata, "spec": spec}


def proxy_names(config):
    """The proxy host's certificate name: ``(dns_names, ip_addresses)``; a ``:port`` is dropped.

    oneport_proxy_host is read as the pachyderm role reads it (inputs.external_host): a DNS name or,
    unless ACME issues the certificate, an IP address, which the certificate then names as an IP SAN.
    """
    host = config.get("proxy_host") or ""
    if not host:
        return [], []
    name, _port = check.external_host(
        host,
        "cert_manager_proxy_host",
        CertManagerConfigError,
        acme=str(config.get("tls", "")).startswith("acme"),
    )
    return ([], [name]) if check.is_ip(name) else ([name], [])


def check_names(config):
    host = config.get("proxy_host") or ""
    ips = config.get("ip_addresses") or []
    extra = config.get("extra_dns_names") or []
    mode = config["tls"]
    if not host and mode != "self_signed":
        raise CertManagerConfigError(
            f"cert_manager_proxy_host: empty, but cert_manager_tls is {mode!r}, which needs the name "
            "clients use; set oneport_proxy_host (e.g. pachyderm.example.com)"
        )
    proxy_names(config)
    for index, name in enumerate(extra):
        check.dns_name(name, f"cert_manager_extra_dns_names[{index}]", CertManagerConfigError, wildcard=True)
    for index, ip in enumerate(ips):
        if not check.is_ip(str(ip)):
            raise CertManagerConfigError(
                f"cert_manager_ip_addresses[{index}]: {ip!r} is not an IP address; write e.g. 10.0.0.5"
            )
    if mode.startswith("acme") and ips:
        raise CertManagerConfigError(
            "cert_manager_ip_addresses: ACME CAs do not sign IP addresses; leave it empty with ACME"
        )
    if not host and not ips:
        raise CertManagerConfigError(
            "cert_manager_proxy_host: empty and cert_manager_ip_addresses empty, so the certificate "
            "would name nothing; set oneport_proxy_host or list the proxy's IP addresses"
        )
    for variable in ("duration", "renew_before"):
        value = config.get(variable)
        if value is not None and not DURATION_RE.match(str(value)):
            raise CertManagerConfigError(
                f"cert_manager_certificate_{variable}: {value!r} is not a duration; write e.g. 2160h"
            )


def _secret_key(settings, key, default):
    return settings.get(key) or default


def dns01_solver(settings):
    """The ``dns01`` solver block for cert_manager_acme_dns01 (Route53, Cloud DNS or Azure DNS)."""
    if not isinstance(settings, dict) or not settings:
        raise CertManagerConfigError(
            "cert_manager_acme_dns01: empty; set provider (route53, clouddns, azuredns), "
            "credentials_secret and the provider's settings"
        )
    provider = settings.get("provider")
    if provider not in DNS01_PROVIDERS:
        raise CertManagerConfigError(
            f"cert_manager_acme_dns01.provider: {provider!r} is not supported; "
            f"choose one of {', '.join(DNS01_PROVIDERS)}"
        )
    allowed = DNS01_KEYS[provider] | {"provider", "credentials_secret", "ambient"}
    unknown = sorted(set(settings) - allowed)
    if unknown:
        raise check.refuse(
            "cert_manager_acme_dns01",
            unknown,
            f"are unknown key(s) for provider {provider}",
            f"the keys are {', '.join(sorted(allowed))}",
            CertManagerConfigError,
        )
    ambient = settings.get("ambient", False)
    secret = settings.get("credentials_secret") or ""
    if not ambient and not secret:
        raise CertManagerConfigError(
            f"cert_manager_acme_dns01.credentials_secret: empty; name the existing Secret (in the "
            f"cert-manager namespace) holding the {provider} credentials, or set ambient: true to use "
            "the workload's cloud identity"
        )

    def need(key):
        if not settings.get(key):
            raise CertManagerConfigError(
                f"cert_manager_acme_dns01.{key}: missing; provider {provider} needs it"
            )
        return settings[key]

    if provider == "route53":
        block = {"region": need("region")}
        if settings.get("hosted_zone_id"):
            block["hostedZoneID"] = settings["hosted_zone_id"]
        if settings.get("role"):
            block["role"] = settings["role"]
        if not ambient:
            block["accessKeyIDSecretRef"] = {
                "name": secret,
                "key": _secret_key(settings, "access_key_id_key", "access-key-id"),
            }
            block["secretAccessKeySecretRef"] = {
                "name": secret,
                "key": _secret_key(settings, "secret_access_key_key", "secret-access-key"),
            }
        return {"dns01": {"route53": block}}
    if provider == "clouddns":
        block = {"project": need("project")}
        if settings.get("hosted_zone_name"):
            block["hostedZoneName"] = settings["hosted_zone_name"]
        if not ambient:
            block["serviceAccountSecretRef"] = {
                "name": secret,
                "key": _secret_key(settings, "service_account_key", "key.json"),
            }
        return {"dns01": {"cloudDNS": block}}
    block = {"subscriptionID": need("subscription_id"), "resourceGroupName": need("resource_group")}
    if settings.get("hosted_zone"):
        block["hostedZoneName"] = settings["hosted_zone"]
    if settings.get("environment"):
        block["environment"] = settings["environment"]
    if ambient:
        if settings.get("managed_identity_client_id"):
            block["managedIdentity"] = {"clientID": settings["managed_identity_client_id"]}
    else:
        block["tenantID"] = need("tenant_id")
        block["clientID"] = need("client_id")
        block["clientSecretSecretRef"] = {
            "name": secret,
            "key": _secret_key(settings, "client_secret_key", "client-secret"),
        }
    return {"dns01": {"azureDNS": block}}


def http01_solver(config):
    ingress_class = config.get("acme_http01_ingress_class") or ""
    gateway = config.get("acme_http01_gateway") or {}
    if bool(ingress_class) == bool(gateway):
        raise check.refuse(
            "cert_manager_acme_http01_ingress_class",
            ingress_class,
            f"and cert_manager_acme_http01_gateway ({gateway!r}) are both "
            f"{'set' if ingress_class else 'empty'}",
            "set exactly one (the ingress class that serves /.well-known/acme-challenge/, e.g. nginx, "
            "or the Gateway {name, namespace} whose listener on port 80 does)",
            CertManagerConfigError,
        )
    if ingress_class:
        return {"http01": {"ingress": {"ingressClassName": ingress_class}}}
    if not isinstance(gateway, dict) or not gateway.get("name"):
        raise check.refuse(
            "cert_manager_acme_http01_gateway",
            gateway,
            "needs at least name (and namespace)",
            "give the Gateway as {name, namespace}",
            CertManagerConfigError,
        )
    ref = {"name": gateway["name"], "kind": "Gateway", "group": "gateway.networking.k8s.io"}
    if gateway.get("namespace"):
        ref["namespace"] = gateway["namespace"]
    return {"http01": {"gatewayHTTPRoute": {"parentRefs": [ref]}}}


def issuers(config):
    """The ClusterIssuers (and the CA Certificate) the mode needs, and the name of the one to use."""
    mode = config["tls"]
    prefix = _required(config, "issuer_prefix")
    if mode == "self_signed":
        selfsigned, ca = f"{prefix}-selfsigned", f"{prefix}-ca"
        ca_certificate = _object(
            "Certificate",
            ca,
            {
                "isCA": True,
                "commonName": _required(config, "ca_common_name"),
                "secretName": ca,
                "duration": config.get("ca_duration") or "87600h",
                "privateKey": {"algorithm": "ECDSA", "size": 256},
                "issuerRef": {"name": selfsigned, "kind": "ClusterIssuer", "group": "cert-manager.io"},
            },
            config["namespace"],
        )
        return ca, [
            _object("ClusterIssuer", selfsigned, {"selfSigned": {}}),
            ca_certificate,
            _object("ClusterIssuer", ca, {"ca": {"secretName": ca}}),
        ]
    if mode in check.ACME_MODES:
        email = config.get("acme_email") or ""
        if not EMAIL_RE.match(email):
            raise CertManagerConfigError(
                f"cert_manager_acme_email: {email!r} is not an e-mail address; the ACME CA sends expiry "
                "warnings there, set e.g. platform@example.com"
            )
        server = _required(config, "acme_server")
        if not str(server).startswith("https://"):
            raise check.fail(
                "cert_manager_acme_server",
                server,
                "an https:// ACME directory URL",
                "give e.g. https://acme-v02.api.letsencrypt.org/directory",
                CertManagerConfigError,
            )
        solver = http01_solver(config) if mode == "acme_http01" else dns01_solver(config.get("acme_dns01"))
        name = f"{prefix}-acme"
        spec = {
            "acme": {
                "server": server,
                "email": email,
                "privateKeySecretRef": {"name": f"{name}-account-key"},
                "solvers": [solver],
            }
        }
        return name, [_object("ClusterIssuer", name, spec)]
    return "", []


def proxy_certificate(config, issuer):
    names, ips = proxy_names(config)
    names += [n.lower() for n in config.get("extra_dns_names") or [] if n.lower() not in names]
    ips += [str(ip) for ip in config.get("ip_addresses") or [] if str(ip) not in ips]
    spec = {
        "secretName": config["secret_name"],
        "duration": _required(config, "duration", "cert_manager_certificate_duration"),
        "renewBefore": _required(config, "renew_before", "cert_manager_certificate_renew_before"),
        "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
        "usages": ["server auth", "digital signature", "key encipherment"],
        "issuerRef": {"name": issuer, "kind": "ClusterIssuer", "group": "cert-manager.io"},
    }
    if names:
        spec["dnsNames"] = names
        spec["commonName"] = names[0]
    if ips:
        spec["ipAddresses"] = ips
    return _object("Certificate", config["secret_name"], spec, config["tls_namespace"])


def plan(config):
    """Everything the role applies for ``config``, checked: ``{issuer, issuers, certificate}``.

    ``config`` keys: tls, namespace (cert-manager's), tls_namespace, secret_name, proxy_host,
    extra_dns_names, ip_addresses, issuer_prefix, ca_common_name, acme_email, acme_server,
    acme_http01_ingress_class, acme_http01_gateway, acme_dns01, duration, renew_before.
    """
    mode = config.get("tls")
    if mode not in TLS_MODES:
        raise CertManagerConfigError(
            f"cert_manager_tls: {mode!r} is not a TLS mode this role handles; choose one of "
            f"{', '.join(TLS_MODES)} (with 'off' skip the role: oneport_enable_cert_manager: false)"
        )
    secret = config.get("secret_name") or ""
    if not re.match(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", secret):
        raise CertManagerConfigError(
            f"cert_manager_tls_secret_name: {secret!r} is not a Secret name; e.g. pachyderm-proxy-tls"
        )
    if mode == "existing_secret":
        return {"issuer": "", "issuers": [], "certificate": None}
    check_names(config)
    issuer, objects = issuers(config)
    return {"issuer": issuer, "issuers": objects, "certificate": proxy_certificate(config, issuer)}
