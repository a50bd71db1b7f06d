# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The pachyderm role's inputs, every one checked once and parsed into a frozen model.

``inputs`` is the role's variables without the ``pachyderm_`` prefix (``proxy_host`` for
``pachyderm_proxy_host``). ``parse`` runs every check, in order, before anything changes, and returns
``PachydermInputs``; the values (pachyderm_values), the pinned Secret (pachyderm_pinning) and the
in-cluster proxy (pachyderm_proxy) are built from the decisions made here. Every error is an
InputError whose message names the variable, the bad value and the fix.

Defaults: the role always passes every variable (roles/pachyderm/vars/main.yml, ``_pachyderm_inputs``),
so the role's defaults/main.yml, documented in its argument specs, decides each one, once. The model
keeps no copy: a missing key is refused (inputs.role_input) naming the variable.
Plain Python, no Ansible imports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ansible_collections.oneport.pachyderm.plugins.module_utils import inputs as check
from ansible_collections.oneport.pachyderm.plugins.module_utils import lb_annotations as lb
from ansible_collections.oneport.pachyderm.plugins.module_utils import pachyderm_proxy
from ansible_collections.oneport.pachyderm.plugins.module_utils import pachyderm_storage as storage
from ansible_collections.oneport.pachyderm.plugins.module_utils.inputs import (
    ACME_MODES,
    TLS_MODES,
)

SERVICE_TYPES = ("LoadBalancer", "NodePort", "ClusterIP")
ENVIRONMENTS = ("production", "sandbox")
TRAFFIC_POLICIES = ("", "Cluster", "Local")
STORAGE_BACKENDS = ("s3", "minio", "gcs", "azure", "local")
DATABASES = ("bundled", "external")
IDP_TYPES = ("oidc", "github", "gitlab", "google", "microsoft", "ldap", "saml", "oauth")
# inventory name -> chart key under proxy.service.legacyPorts (the chart's own configuration serves these)
LEGACY_PORTS = {name: key for name, (_service, _port, key) in pachyderm_proxy.LEGACY.items() if key}
SUBJECT = re.compile(r"^[^\s:][^\s]*$")
IDP_ID = re.compile(r"^[a-z0-9][-a-z0-9_]*$")


def _get(inputs: dict, name: str):
    # The role passes every variable; its defaults/main.yml decides each default (check.role_input).
    return check.role_input(inputs, name, "pachyderm")


def _bool(inputs: dict, name: str) -> bool:
    return check.boolean(_get(inputs, name), f"pachyderm_{name}")


def _choice(inputs: dict, name: str, choices):
    return check.one_of(_get(inputs, name), f"pachyderm_{name}", choices)


def _secret_name(inputs: dict, name: str) -> str:
    return check.k8s_name(_get(inputs, name), f"pachyderm_{name}", empty=True)


# --- the inputs, one decision each ---------------------------------------------------------------


def platform(inputs: dict) -> str:
    """The platform the cluster runs on."""
    value = _get(inputs, "platform")
    lb.check_platform(value)
    return value


def environment(inputs: dict) -> str:
    """``sandbox`` for disposable local clusters, ``production`` otherwise (the role's default follows
    the platform: oneport_sandbox)."""
    return _choice(inputs, "environment", ENVIRONMENTS)


def service_type(inputs: dict) -> str:
    """The proxy Service type (the role's default: NodePort on the nodeport and kind platforms)."""
    return _choice(inputs, "service_type", SERVICE_TYPES)


def namespace(inputs: dict) -> str:
    """The namespace of the release."""
    return _get(inputs, "namespace")


def tls_enabled(inputs: dict) -> bool:
    """Whether the proxy serves TLS."""
    return _choice(inputs, "tls", TLS_MODES) != "off"


def proxy_host(inputs: dict) -> str:
    """The external host name of the one port (optionally with a non-standard :port)."""
    raw = _get(inputs, "proxy_host")
    host = raw.strip() if isinstance(raw, str) else raw
    if not host:
        if tls_enabled(inputs):
            raise check.refuse(
                "pachyderm_proxy_host (oneport_proxy_host)",
                raw,
                f"is empty but pachyderm_tls (oneport_tls) is {inputs.get('tls')!r}, and a certificate "
                "needs a host name",
                "set oneport_proxy_host, for example pachyderm.example.com (an IP address with self_signed "
                "or existing_secret), or set oneport_tls: off",
            )
        return ""
    if isinstance(host, str) and ("://" in host or "/" in host):
        raise check.fail(
            "pachyderm_proxy_host (oneport_proxy_host)",
            raw,
            "a bare host name",
            "give it without a scheme or path, for example pachyderm.example.com",
        )
    name, port = check.external_host(
        host, "pachyderm_proxy_host (oneport_proxy_host)", acme=_get(inputs, "tls") in ACME_MODES
    )
    return name if port is None else f"{name}:{port}"


def scheme(inputs: dict) -> str:
    """``https`` with TLS, else ``http``."""
    return "https" if tls_enabled(inputs) else "http"


def legacy_ports(inputs: dict) -> dict:
    """Chart legacyPorts from pachyderm_legacy_ports, checked against each other, the one port's
    Service ports, the service type and the proxy configuration (pachyderm_proxy_config)."""
    ports = _get(inputs, "legacy_ports") or {}
    if not isinstance(ports, dict):
        raise check.fail("pachyderm_legacy_ports", ports, "a mapping", "give one such as {grpc: 30650}")
    collection = pachyderm_proxy.mode(inputs) == "collection"
    known = tuple(pachyderm_proxy.LEGACY) if collection else tuple(LEGACY_PORTS)
    kind = service_type(inputs)
    taken = {80: "the one port's HTTP Service port", 443: "the one port's HTTPS Service port"}
    if kind == "NodePort":
        taken[http_node_port(inputs)] = "pachyderm_http_node_port"
        taken[https_node_port(inputs)] = "pachyderm_https_node_port"
    result, opened = {}, {}
    for name, given in ports.items():
        if name not in known:
            more = "" if collection else " (pachd_http needs pachyderm_proxy_config: collection)"
            raise check.fail(
                f"pachyderm_legacy_ports.{name}",
                name,
                "a legacy port",
                f"the legacy ports are: {', '.join(known)}{more}",
            )
        if given in (0, False, "0"):  # closed
            continue
        # A NodePort proxy Service opens legacy ports as node ports.
        read = check.node_port if kind == "NodePort" else check.port
        port = read(given, f"pachyderm_legacy_ports.{name}")
        if port in taken:
            raise check.refuse(
                f"pachyderm_legacy_ports.{name}",
                port,
                f"is already used by {taken[port]}",
                "give each legacy port its own number",
            )
        taken[port] = f"pachyderm_legacy_ports.{name}"
        opened[name] = port
        if name in LEGACY_PORTS:
            result[LEGACY_PORTS[name]] = port
    if opened and tls_enabled(inputs) and not collection:
        raise check.refuse(
            "pachyderm_legacy_ports",
            sorted(opened),
            "are opened but TLS is on, and the chart's own configuration (pachyderm_proxy_config: chart) "
            "serves legacy ports only in cleartext",
            "use pachyderm_proxy_config: collection (legacy ports with TLS), remove pachyderm_legacy_ports, "
            "or set oneport_tls: off",
        )
    return result


def http_node_port(inputs: dict) -> int:
    """The proxy Service's HTTP node port (used on NodePort Services)."""
    return check.node_port(_get(inputs, "http_node_port"), "pachyderm_http_node_port")


def https_node_port(inputs: dict) -> int:
    """The proxy Service's HTTPS node port (used on NodePort Services)."""
    return check.node_port(_get(inputs, "https_node_port"), "pachyderm_https_node_port")


def load_balancer(inputs: dict) -> dict:
    """Annotations and loadBalancerIP of the proxy Service."""
    kind = service_type(inputs)
    ranges = lb.check_source_ranges(_get(inputs, "source_ranges"))
    if kind != "LoadBalancer":
        if ranges:
            raise check.refuse(
                "pachyderm_source_ranges (oneport_source_ranges)",
                ranges,
                f"is set but pachyderm_service_type is {kind}, and a source-range allow-list applies only "
                "to a LoadBalancer",
                "remove it or firewall the nodes",
            )
        return {
            "annotations": lb.check_extra_annotations(_get(inputs, "service_annotations")),
            "load_balancer_ip": "",
        }
    return lb.load_balancer(
        platform(inputs),
        internal=_bool(inputs, "lb_internal"),
        static_ip=str(_get(inputs, "lb_static_ip")).strip(),
        aws_subnets=_get(inputs, "aws_subnets"),
        aws_eip_allocations=_get(inputs, "aws_eip_allocations"),
        azure_resource_group=str(_get(inputs, "azure_resource_group")).strip(),
        metallb_address_pool=str(_get(inputs, "metallb_address_pool")).strip(),
        source_ranges=ranges,
        extra_annotations=_get(inputs, "service_annotations"),
    )


def storage_backend(inputs: dict) -> str:
    """The object store (the role's default: the platform's own in the cloud, LOCAL elsewhere)."""
    return _choice(inputs, "storage_backend", STORAGE_BACKENDS)


def database(inputs: dict) -> str:
    """``bundled`` PostgreSQL from the chart, or an ``external`` server."""
    return _choice(inputs, "database", DATABASES)


def auth_enabled(inputs: dict) -> bool:
    """Pachyderm authentication (on unless a sandbox turns it off)."""
    return _bool(inputs, "auth_enabled")


def mock_idp(inputs: dict) -> bool:
    """The chart's mock identity provider (the role's default: in sandboxes without upstream IdPs)."""
    return _bool(inputs, "mock_idp")


def enterprise_enabled(inputs: dict) -> bool:
    """Pachyderm Enterprise features."""
    return _bool(inputs, "enterprise_enabled")


def inline_license_key(inputs: dict) -> str:
    """The enterprise license key given inline (kept in the pinned Secret), or ""."""
    if enterprise_enabled(inputs) and not _get(inputs, "enterprise_license_secret"):
        return str(_get(inputs, "enterprise_license_key"))
    return ""


def check_enterprise(inputs: dict) -> None:
    """Enterprise features need a license key (inline, no_log) or an existing Secret holding it."""
    if not enterprise_enabled(inputs):
        if _get(inputs, "enterprise_license_key") or _get(inputs, "enterprise_license_secret"):
            raise check.refuse(
                "pachyderm_enterprise_enabled",
                False,
                "but a license is given (pachyderm_enterprise_license_key or "
                "pachyderm_enterprise_license_secret)",
                "set it to true or drop the license",
            )
        return
    _secret_name(inputs, "enterprise_license_secret")
    if not (_get(inputs, "enterprise_license_key") or _get(inputs, "enterprise_license_secret")):
        raise check.refuse(
            "pachyderm_enterprise_enabled",
            True,
            "but there is no license",
            "set pachyderm_enterprise_license_secret (a Secret with the key 'enterprise-license-key') or "
            "pachyderm_enterprise_license_key (from a vault)",
        )


def auth_subjects(inputs: dict) -> dict:
    """pachAuthClusterRoleBindings from the allowed users and groups."""
    roles = _get(inputs, "allowed_roles") or []
    if not isinstance(roles, list) or not all(isinstance(r, str) and r.strip() for r in roles):
        raise check.fail(
            "pachyderm_allowed_roles", roles, "a list of role names", "give a list such as [clusterAdmin]"
        )
    bindings: dict = {}
    for variable, kind in (("allowed_users", "user"), ("allowed_groups", "group")):
        entries = _get(inputs, variable) or []
        if not isinstance(entries, list):
            raise check.fail(f"pachyderm_{variable}", entries, "a list", f"give a list of {kind} names")
        for entry in entries:
            name = str(entry).strip()
            if name.startswith(f"{kind}:"):
                name = name[len(kind) + 1 :]
            if not name or not SUBJECT.match(name):
                raise check.fail(
                    f"pachyderm_{variable}",
                    entry,
                    f"a {kind} name",
                    f"give a {kind} name without spaces, "
                    f"for example {'alice@example.com' if kind == 'user' else 'data-team'}",
                )
            bindings[f"{kind}:{name}"] = list(roles)
    return bindings


def check_upstream_idps(inputs: dict) -> list:
    """Validated Dex connectors; client secrets must come from existing Secrets, never inline."""
    idps = _get(inputs, "upstream_idps") or []
    if not isinstance(idps, list):
        raise check.fail(
            "pachyderm_upstream_idps",
            idps,
            "a list of connectors",
            "give a list of mappings with id, name, type, config",
        )
    seen = set()
    for index, idp in enumerate(idps):
        where = f"pachyderm_upstream_idps[{index}]"
        if not isinstance(idp, dict):
            raise check.fail(
                where, idp, "a mapping", "each connector is a mapping with id, name, type, config"
            )
        ident = str(idp.get("id", ""))
        if not IDP_ID.match(ident):
            raise check.fail(
                f"{where}.id", ident, "a connector id", "use lower-case letters, digits, '-' or '_'"
            )
        if ident in seen:
            raise check.refuse(f"{where}.id", ident, "is used twice", "connector ids must be unique")
        seen.add(ident)
        if idp.get("type") not in IDP_TYPES:
            raise check.fail(
                f"{where}.type", idp.get("type"), "a connector type", f"use one of: {', '.join(IDP_TYPES)}"
            )
        config = idp.get("config", {})
        if not isinstance(config, dict):
            raise check.fail(
                f"{where}.config", config, "a mapping", "give the connector's settings as key: value pairs"
            )
        for key in ("clientSecret", "bindPW"):
            if key in config:
                # A secret: name the field and the fix, never print the value.
                raise check.refuse(
                    f"{where}.config.{key}",
                    "<hidden>",
                    "is given inline",
                    f"keep it in a Secret and name it in {where}.secret: {{name: ..., key: ...}}",
                )
        secret = idp.get("secret")
        if secret is not None and (
            not isinstance(secret, dict)
            or not check.k8s_name(secret.get("name", ""), f"{where}.secret.name", empty=True)
            or not secret.get("key")
        ):
            raise check.fail(
                f"{where}.secret",
                secret,
                "a Secret reference",
                "give {name: <Secret name>, key: <key in it>}",
            )
    return idps


def check_exposure(inputs: dict) -> None:
    """The mock IdP only in sandboxes; a public LoadBalancer needs TLS and auth unless acknowledged."""
    mock = mock_idp(inputs)
    if mock and environment(inputs) != "sandbox":
        raise check.refuse(
            "pachyderm_mock_idp",
            True,
            "but pachyderm_environment is 'production', and the mock identity provider lets anyone log in "
            "as admin/password",
            "configure pachyderm_upstream_idps and set pachyderm_mock_idp: false (it is allowed only for "
            "local and sandbox inventories)",
        )
    if mock and _get(inputs, "upstream_idps"):
        raise check.refuse(
            "pachyderm_mock_idp", True, "and pachyderm_upstream_idps is set", "turn the mock IdP off"
        )
    auth = auth_enabled(inputs)
    if not auth and environment(inputs) != "sandbox":
        raise check.refuse(
            "pachyderm_auth_enabled",
            False,
            "in a production environment",
            "Pachyderm authentication must stay on (set pachyderm_auth_enabled: true)",
        )
    internal = _bool(inputs, "lb_internal")
    if lb.is_public(platform(inputs), service_type(inputs), internal):
        missing = [what for what, ok in (("TLS", tls_enabled(inputs)), ("authentication", auth)) if not ok]
        if missing and not _bool(inputs, "accept_public_exposure_risk"):
            raise check.refuse(
                "pachyderm_lb_internal",
                False,
                f"gives the proxy a public {platform(inputs).upper()} load balancer without "
                f"{' and '.join(missing)} (pachyderm_tls is {_get(inputs, 'tls')!r})",
                "enable TLS (oneport_tls) with oneport_proxy_host, set pachyderm_lb_internal: true, or "
                "acknowledge with pachyderm_accept_public_exposure_risk: true",
            )


@dataclass(frozen=True)
class PachydermInputs:
    """Every decision the role's inputs make, checked (``parse``); what the values are built from."""

    platform: str
    environment: str
    service_type: str
    tls: str
    tls_secret_name: str
    proxy_host: str
    http_node_port: int  # 0 unless the Service is a NodePort
    https_node_port: int
    external_traffic_policy: str
    legacy_ports: dict  # chart key under proxy.service.legacyPorts -> port
    annotations: dict
    load_balancer_ip: str
    auth_enabled: bool
    console_enabled: bool
    mock_idp: bool
    auth_subjects: dict
    upstream_idps: list
    upstream_idps_secret_name: str
    enterprise_enabled: bool
    enterprise_license_secret: str
    storage_backend: str
    database: str
    namespace: str
    pinned_secret_name: str
    proxy_config: str
    proxy_image: str
    license_key: str = field(default="", repr=False)  # a secret: never shown

    @property
    def tls_enabled(self) -> bool:
        return self.tls != "off"

    @property
    def scheme(self) -> str:
        return "https" if self.tls_enabled else "http"

    def summary(self) -> dict:
        """The decisions for the role's log (no secret among them)."""
        return {
            "proxy_config": self.proxy_config,
            "proxy_image": self.proxy_image,
            "platform": self.platform,
            "environment": self.environment,
            "service_type": self.service_type,
            "proxy_host": self.proxy_host,
            "scheme": self.scheme,
            "storage_backend": self.storage_backend,
            "database": self.database,
        }


def parse(inputs: dict) -> PachydermInputs:
    """Every input check, in order, once; the decisions as a frozen PachydermInputs."""
    plat = platform(inputs)
    kind = service_type(inputs)
    host = proxy_host(inputs)
    ports = legacy_ports(inputs)
    balancer = load_balancer(inputs)
    policy = _choice(inputs, "external_traffic_policy", TRAFFIC_POLICIES)
    nodeport = kind == "NodePort"
    http_port, https_port = (http_node_port(inputs), https_node_port(inputs)) if nodeport else (0, 0)
    tls_secret = _secret_name(inputs, "tls_secret_name")
    if tls_enabled(inputs) and not tls_secret:
        raise check.refuse(
            "pachyderm_tls_secret_name", tls_secret, "is empty but TLS is on", "name the proxy's TLS Secret"
        )
    backend = storage_backend(inputs)
    storage.check_storage(inputs, backend)
    db = database(inputs)
    storage.check_database(inputs, db)
    check_enterprise(inputs)
    subjects = auth_subjects(inputs)
    idps = check_upstream_idps(inputs)
    check_exposure(inputs)
    proxy_config = pachyderm_proxy.mode(inputs)
    if proxy_config == "collection":
        pachyderm_proxy.model(inputs)
    elif _get(inputs, "proxy_acme_solver"):
        raise check.refuse(
            "pachyderm_proxy_acme_solver",
            _get(inputs, "proxy_acme_solver"),
            "is set but pachyderm_proxy_config is chart, and the chart's own configuration has no ACME route",
            "use pachyderm_proxy_config: collection or remove it",
        )
    image = pachyderm_proxy.chart_values(inputs).get("image", {})
    return PachydermInputs(
        platform=plat,
        environment=environment(inputs),
        service_type=kind,
        tls=_choice(inputs, "tls", TLS_MODES),
        tls_secret_name=tls_secret,
        proxy_host=host,
        http_node_port=http_port,
        https_node_port=https_port,
        external_traffic_policy=policy,
        legacy_ports=ports,
        annotations=balancer["annotations"],
        load_balancer_ip=balancer["load_balancer_ip"],
        auth_enabled=auth_enabled(inputs),
        console_enabled=_bool(inputs, "console_enabled"),
        mock_idp=mock_idp(inputs),
        auth_subjects=subjects,
        upstream_idps=idps,
        upstream_idps_secret_name=_get(inputs, "upstream_idps_secret_name"),
        enterprise_enabled=enterprise_enabled(inputs),
        enterprise_license_secret=_secret_name(inputs, "enterprise_license_secret"),
        storage_backend=backend,
        database=db,
        namespace=_get(inputs, "namespace"),
        pinned_secret_name=_get(inputs, "pinned_secret_name"),
        proxy_config=proxy_config,
        proxy_image=f"{image['repository']}:{image['tag']}" if image else "",
        license_key=inline_license_key(inputs),
    )


def check_inputs(inputs: dict) -> dict:
    """Every input check, in order; returns a summary of the decisions for the role's log."""
    return parse(inputs).summary()
