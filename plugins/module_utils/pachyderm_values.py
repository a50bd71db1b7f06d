# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The Pachyderm chart values, built from the role's checked inputs (pachyderm_inputs).

``build_values`` parses the inputs once (every check runs there) and spells the decisions out in the
chart's keys; ``redact`` hides the credentials of rendered values; ``proxy_endpoint`` is the fact the
role publishes. Plain Python, no Ansible imports.
"""

from __future__ import annotations

import copy

from ansible_collections.oneport.pachyderm.plugins.module_utils import pachyderm_inputs as inputs_model
from ansible_collections.oneport.pachyderm.plugins.module_utils import pachyderm_proxy
from ansible_collections.oneport.pachyderm.plugins.module_utils import pachyderm_storage as storage
from ansible_collections.oneport.pachyderm.plugins.module_utils.chart_contract import chart_problems
from ansible_collections.oneport.pachyderm.plugins.module_utils.inputs import refuse
from ansible_collections.oneport.pachyderm.plugins.module_utils.pachyderm_pinning import (
    PINNED_DEPLOYMENT_ID,
    PINNED_HOST_PATH,
    PINNED_PG_PASSWORD,
    PINNED_PG_ROOT_PASSWORD,
    pin,
    pinned_keys,
)

# A render end to end (pin, build, check against the chart) needs this module alone.
__all__ = [
    "REDACTED",
    "build_values",
    "chart_problems",
    "oidc_uris",
    "pin",
    "pinned_keys",
    "proxy_endpoint",
    "redact",
    "upstream_idps_document",
]

# Value paths that carry credentials: redacted from rendered values, never logged.
SECRET_PATHS = (
    "global.postgresql.postgresqlPassword",
    "global.postgresql.postgresqlPostgresPassword",
    "pachd.storage.amazon.id",
    "pachd.storage.amazon.secret",
    "pachd.storage.google.cred",
    "pachd.storage.microsoft.id",
    "pachd.storage.microsoft.secret",
)
REDACTED = "<redacted: see secret-values.yaml>"


def oidc_uris(host: str, scheme: str) -> dict:
    """Every OAuth/OIDC URI the chart wires, derived from one host and scheme.

    Empty when there is no host: the chart then infers them for an in-cluster address.
    """
    if not host:
        return {}
    base = f"{scheme}://{host}"
    return {
        "pachd.oauthRedirectURI": f"{base}/authorization-code/callback",
        "console.config.reactAppRuntimeIssuerURI": base,
        "console.config.oauthRedirectURI": f"{base}/oauth/callback/?inline=true",
        "oidc.userAccessibleOauthIssuerHost": host,
        "dex.callback": f"{base}/dex/callback",
    }


def _set(tree: dict, path: str, value) -> None:
    node = tree
    parts = path.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def _merge(into: dict, other: dict) -> dict:
    for key, value in other.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value
    return into


def build_values(inputs: dict, pinned: dict, storage_secret_data: dict | None = None) -> dict:
    """The chart values for ``inputs`` (checked once, here), using the ``pinned`` values (see ``pin``)."""
    model = inputs_model.parse(inputs)
    missing = [k for k in pinned_keys(inputs) if not pinned.get(k)]
    if missing:
        raise refuse("pinned", missing, "are missing", "internal error: call pin() first")
    pinned_secret = model.pinned_secret_name
    service: dict = {"type": model.service_type, "annotations": model.annotations}
    if model.load_balancer_ip:
        service["loadBalancerIP"] = model.load_balancer_ip
    if model.service_type == "NodePort":
        service["httpNodePort"] = model.http_node_port
        service["httpsNodePort"] = model.https_node_port
    if model.external_traffic_policy:
        service["externalTrafficPolicy"] = model.external_traffic_policy
    if model.legacy_ports:
        service["legacyPorts"] = dict(model.legacy_ports)
    proxy: dict = {"enabled": True, "host": model.proxy_host, "service": service}
    proxy["tls"] = {"enabled": model.tls_enabled}
    if model.tls_enabled:
        proxy["tls"]["secretName"] = model.tls_secret_name
    # The collection's configuration runs on the pinned Envoy with its memory limit (the ConfigMap itself
    # is replaced by the post-renderer: the chart has no value for it).
    _merge(proxy, pachyderm_proxy.chart_values(inputs))

    values: dict = {
        "proxy": proxy,
        "pachd": {
            "clusterDeploymentID": pinned[PINNED_DEPLOYMENT_ID],
            "rootTokenSecretName": pinned_secret,
            "oauthClientSecretSecretName": pinned_secret,
            "activateAuth": model.auth_enabled,
            "pachAuthClusterRoleBindings": model.auth_subjects,
        },
        "console": {"enabled": model.console_enabled},
        "oidc": {"mockIDP": model.mock_idp},
    }
    if model.console_enabled:
        values["console"]["config"] = {"oauthClientSecretSecretName": pinned_secret}
    backend = model.storage_backend
    if backend in storage.DEPLOY_TARGET:
        values["deployTarget"] = storage.DEPLOY_TARGET[backend]
    credentials = storage.storage_credentials(inputs, backend, storage_secret_data)
    values["pachd"]["storage"] = storage.storage_values(
        inputs, backend, credentials, pinned.get(PINNED_HOST_PATH, "")
    )
    identity = storage.storage_identity(inputs, backend)
    if identity:
        values["pachd"]["serviceAccount"] = {"additionalAnnotations": dict(identity)}
        values["pachd"]["worker"] = {"serviceAccount": {"additionalAnnotations": dict(identity)}}
    for path, uri in oidc_uris(model.proxy_host, model.scheme).items():
        if path == "dex.callback" or (path.startswith("console.") and not model.console_enabled):
            continue
        _set(values, path, uri)
    if model.upstream_idps:
        values["oidc"]["upstreamIDPsSecretName"] = model.upstream_idps_secret_name
    if model.enterprise_enabled:
        values["pachd"]["enterpriseLicenseKeySecretName"] = model.enterprise_license_secret or pinned_secret
        values["pachd"]["enterpriseSecretSecretName"] = pinned_secret
    passwords = (pinned.get(PINNED_PG_PASSWORD, ""), pinned.get(PINNED_PG_ROOT_PASSWORD, ""))
    _merge(values, storage.database_values(inputs, model.database, passwords))
    return values


def redact(values: dict) -> tuple:
    """(values with credentials replaced by a marker, the credentials by path) for render output."""
    public = copy.deepcopy(values)
    hidden = {}
    for path in SECRET_PATHS:
        node = public
        parts = path.split(".")
        for part in parts[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
            if node is None:
                break
        if isinstance(node, dict) and node.get(parts[-1]) not in (None, ""):
            hidden[path] = node[parts[-1]]
            node[parts[-1]] = REDACTED
    return public, hidden


def upstream_idps_document(inputs: dict, secret_values: dict) -> list:
    """The Dex connector list for the chart's upstream-idps Secret.

    ``secret_values`` maps connector id to its client secret (read from the named Secret).
    """
    host, scheme = inputs_model.proxy_host(inputs), inputs_model.scheme(inputs)
    callback = oidc_uris(host, scheme).get("dex.callback", "")
    result = []
    for idp in inputs_model.check_upstream_idps(inputs):
        config = copy.deepcopy(idp.get("config", {}))
        if idp["type"] != "ldap" and callback:
            config.setdefault("redirectURI", callback)
        if idp.get("secret"):
            config["bindPW" if idp["type"] == "ldap" else "clientSecret"] = secret_values[idp["id"]]
        result.append(
            {"id": idp["id"], "name": idp.get("name", idp["id"]), "type": idp["type"], "config": config}
        )
    return result


def proxy_endpoint(inputs: dict, ingress=None, node_address: str = "") -> dict:
    """The ``oneport_proxy_endpoint`` fact (docs/variables.md) from the Service's status."""
    kind = inputs_model.service_type(inputs)
    host = inputs_model.proxy_host(inputs)
    tls = inputs_model.tls_enabled(inputs)
    ip = ""
    lb_name = ""
    for entry in ingress or []:
        ip = ip or entry.get("ip", "")
        lb_name = lb_name or entry.get("hostname", "")
    if kind == "NodePort":
        port = inputs_model.https_node_port(inputs) if tls else inputs_model.http_node_port(inputs)
        ip = ip or node_address
    elif kind == "ClusterIP":
        port = 443 if tls else 80
        lb_name = lb_name or f"pachyderm-proxy.{inputs_model.namespace(inputs)}.svc.cluster.local"
    else:
        port = 443 if tls else 80
    name, _colon, host_port = host.partition(":")
    address = name or lb_name or ip
    if host_port:
        port = int(host_port)
    scheme_name = "https" if tls else "http"
    default_port = 443 if tls else 80
    base = f"{scheme_name}://{address}" + ("" if port == default_port else f":{port}")
    return {
        "address": address,
        "host": name,
        "ip": ip,
        "scheme": scheme_name,
        "port": port,
        "pachd_address": f"{'grpcs' if tls else 'grpc'}://{address}:{port}",
        "console_url": base + "/",
        "s3_endpoint": base,
        "tls": tls,
        "service_type": kind,
    }
