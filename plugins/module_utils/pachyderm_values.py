# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The Pachyderm chart values, built from the role's structured variables and checked against the chart.

Plain Python: no Ansible imports. ``inputs`` is the role's variables without the ``pachyderm_``
prefix (``proxy_host`` for ``pachyderm_proxy_host``). Every error is a ``ValueError`` whose message
names the variable, the bad value and the fix; ``check_inputs`` runs them all before anything changes.
"""

from __future__ import annotations

import copy
import re
import secrets as _secrets

from ansible_collections.oneport.pachyderm.plugins.module_utils import inputs as check
from ansible_collections.oneport.pachyderm.plugins.module_utils import lb_annotations as lb
from ansible_collections.oneport.pachyderm.plugins.module_utils import pachyderm_proxy
from ansible_collections.oneport.pachyderm.plugins.module_utils.inputs import InputError

SERVICE_TYPES = ("LoadBalancer", "NodePort", "ClusterIP")
TLS_MODES = ("off", "self_signed", "acme_http01", "acme_dns01", "existing_secret")
ACME_MODES = ("acme_http01", "acme_dns01")
ENVIRONMENTS = ("production", "sandbox")
STORAGE_BACKENDS = ("s3", "minio", "gcs", "azure", "local")
DATABASES = ("bundled", "external")
TRAFFIC_POLICIES = ("", "Cluster", "Local")
IDP_TYPES = ("oidc", "github", "gitlab", "google", "microsoft", "ldap", "saml", "oauth")
# inventory name -> chart key under proxy.service.legacyPorts (the chart's own configuration serves these)
LEGACY_PORTS = {name: key for name, (_service, _port, key) in pachyderm_proxy.LEGACY.items() if key}
DEFAULT_STORAGE = {"aws": "s3", "gcp": "gcs", "azure": "azure"}
# MinIO speaks S3 but is not AWS: CUSTOM, with backend AMAZON and the endpoint storageURL set explicitly.
DEPLOY_TARGET = {"s3": "AMAZON", "minio": "CUSTOM", "gcs": "GOOGLE", "azure": "MICROSOFT", "local": "LOCAL"}
STORAGE_BACKEND = {"s3": "AMAZON", "minio": "AMAZON", "gcs": "GOOGLE", "azure": "MICROSOFT", "local": "LOCAL"}
# Keys of the existing Secret named by pachyderm_storage_credentials_secret, per backend.
STORAGE_SECRET_KEYS = {
    "s3": ("access-key-id", "secret-access-key"),
    "minio": ("access-key-id", "secret-access-key"),
    "gcs": ("credentials.json",),
    "azure": ("account-name", "account-key"),
}

# Values the chart randomises on every render unless set: generated once, kept in the pinned Secret.
# The keys the chart reads from a Secret (rootTokenSecretName, ...) carry the chart's key names.
PINNED_ROOT_TOKEN = "root-token"  # noqa: S105 - a key name, not a secret
PINNED_PACHD_OAUTH = "pachd-oauth-client-secret"
PINNED_CONSOLE_OAUTH = "OAUTH_CLIENT_SECRET"
PINNED_ENTERPRISE_SECRET = "enterprise-secret"  # noqa: S105 - a key name, not a secret
PINNED_DEPLOYMENT_ID = "cluster-deployment-id"
PINNED_HOST_PATH = "local-host-path"
PINNED_PG_PASSWORD = "postgresql-password"  # noqa: S105 - a key name, not a secret
PINNED_PG_ROOT_PASSWORD = "postgresql-postgres-password"  # noqa: S105 - a key name, not a secret
ENTERPRISE_LICENSE_KEY = "enterprise-license-key"
UPSTREAM_IDPS_KEY = "upstream-idps"

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

SUBJECT = re.compile(r"^[^\s:][^\s]*$")
IDP_ID = re.compile(r"^[a-z0-9][-a-z0-9_]*$")


def _get(inputs: dict, name: str, default=None):
    value = inputs.get(name, default)
    return default if value is None else value


def _bool(inputs: dict, name: str, default: bool = False) -> bool:
    return check.boolean(_get(inputs, name, default), f"pachyderm_{name}")


def _choice(inputs: dict, name: str, choices, default):
    return check.one_of(_get(inputs, name, default), f"pachyderm_{name}", choices)


def _secret_name(inputs: dict, name: str) -> str:
    return check.k8s_name(_get(inputs, name, ""), f"pachyderm_{name}", empty=True)


# --- the inputs, one decision each ---------------------------------------------------------------


def platform(inputs: dict) -> str:
    """The platform the cluster runs on."""
    value = _get(inputs, "platform", "local")
    lb.check_platform(value)
    return value


def environment(inputs: dict) -> str:
    """``sandbox`` for disposable local clusters, ``production`` otherwise."""
    default = "sandbox" if platform(inputs) in ("local", "kind") else "production"
    return _choice(inputs, "environment", ENVIRONMENTS, default)


def service_type(inputs: dict) -> str:
    """The proxy Service type; NodePort by default on the nodeport and kind platforms."""
    default = "NodePort" if platform(inputs) in ("nodeport", "kind") else "LoadBalancer"
    return _choice(inputs, "service_type", SERVICE_TYPES, default)


def tls_enabled(inputs: dict) -> bool:
    """Whether the proxy serves TLS."""
    return _choice(inputs, "tls", TLS_MODES, "off") != "off"


def proxy_host(inputs: dict) -> str:
    """The external host name of the one port (optionally with a non-standard :port)."""
    raw = _get(inputs, "proxy_host", "")
    host = raw.strip() if isinstance(raw, str) else raw
    if not host:
        if tls_enabled(inputs):
            raise InputError(
                f"pachyderm_tls (oneport_tls) is {inputs.get('tls')!r} but pachyderm_proxy_host "
                "(oneport_proxy_host) is empty; a certificate needs a host name: set "
                "oneport_proxy_host, for example pachyderm.example.com (an IP address with self_signed "
                "or existing_secret), or set oneport_tls: off"
            )
        return ""
    if isinstance(host, str) and ("://" in host or "/" in host):
        raise InputError(
            f"pachyderm_proxy_host (oneport_proxy_host) is {raw!r}; give the bare host name without a "
            "scheme or path, for example pachyderm.example.com"
        )
    name, port = check.external_host(
        host, "pachyderm_proxy_host (oneport_proxy_host)", acme=_get(inputs, "tls", "off") in ACME_MODES
    )
    return name if port is None else f"{name}:{port}"


def scheme(inputs: dict) -> str:
    """``https`` with TLS, else ``http``."""
    return "https" if tls_enabled(inputs) else "http"


def oidc_uris(inputs: dict) -> dict:
    """Every OAuth/OIDC URI the chart wires, derived from one host and scheme.

    Empty when there is no host: the chart then infers them for an in-cluster address.
    """
    host = proxy_host(inputs)
    if not host:
        return {}
    base = f"{scheme(inputs)}://{host}"
    return {
        "pachd.oauthRedirectURI": f"{base}/authorization-code/callback",
        "console.config.reactAppRuntimeIssuerURI": base,
        "console.config.oauthRedirectURI": f"{base}/oauth/callback/?inline=true",
        "oidc.userAccessibleOauthIssuerHost": host,
        "dex.callback": f"{base}/dex/callback",
    }


def legacy_ports(inputs: dict) -> dict:
    """Chart legacyPorts from pachyderm_legacy_ports, checked against each other, the one port's
    Service ports, the service type and the proxy configuration (pachyderm_proxy_config)."""
    ports = _get(inputs, "legacy_ports", {}) or {}
    if not isinstance(ports, dict):
        raise InputError(f"pachyderm_legacy_ports must be a mapping such as {{grpc: 30650}}, got {ports!r}")
    collection = pachyderm_proxy.mode(inputs) == "collection"
    known = tuple(pachyderm_proxy.LEGACY) if collection else tuple(LEGACY_PORTS)
    kind = service_type(inputs)
    taken = {80: "the one port's HTTP Service port", 443: "the one port's HTTPS Service port"}
    if kind == "NodePort":
        taken[_node_port(inputs, "http_node_port", 30080)] = "pachyderm_http_node_port"
        taken[_node_port(inputs, "https_node_port", 30443)] = "pachyderm_https_node_port"
    result, opened = {}, {}
    for name, given in ports.items():
        if name not in known:
            more = "" if collection else " (pachd_http needs pachyderm_proxy_config: collection)"
            raise InputError(
                f"pachyderm_legacy_ports has {name!r}; the legacy ports are: {', '.join(known)}{more}"
            )
        if given in (0, False, "0"):  # closed
            continue
        # A NodePort proxy Service opens legacy ports as node ports.
        read = check.node_port if kind == "NodePort" else check.port
        port = read(given, f"pachyderm_legacy_ports.{name}")
        if port in taken:
            raise InputError(
                f"pachyderm_legacy_ports.{name} is {port}, which {taken[port]} already uses; "
                "give each legacy port its own number"
            )
        taken[port] = f"pachyderm_legacy_ports.{name}"
        opened[name] = port
        if name in LEGACY_PORTS:
            result[LEGACY_PORTS[name]] = port
    if opened and tls_enabled(inputs) and not collection:
        raise InputError(
            f"pachyderm_legacy_ports opens {sorted(opened)} but TLS is on; the chart's own configuration "
            "(pachyderm_proxy_config: chart) serves legacy ports only in cleartext: use "
            "pachyderm_proxy_config: collection (legacy ports with TLS), remove pachyderm_legacy_ports, "
            "or set oneport_tls: off"
        )
    return result


def _node_port(inputs: dict, name: str, default: int) -> int:
    return check.node_port(_get(inputs, name, default), f"pachyderm_{name}")


def load_balancer(inputs: dict) -> dict:
    """Annotations and loadBalancerIP of the proxy Service."""
    kind = service_type(inputs)
    ranges = lb.check_source_ranges(_get(inputs, "source_ranges", []))
    if kind != "LoadBalancer":
        if ranges:
            raise InputError(
                f"pachyderm_source_ranges (oneport_source_ranges) is {ranges} but pachyderm_service_type is "
                f"{kind}; a source-range allow-list applies only to a LoadBalancer: remove it or firewall "
                "the nodes"
            )
        return {
            "annotations": lb.check_extra_annotations(_get(inputs, "service_annotations", {})),
            "load_balancer_ip": "",
        }
    return lb.load_balancer(
        platform(inputs),
        internal=_bool(inputs, "lb_internal"),
        static_ip=str(_get(inputs, "lb_static_ip", "")).strip(),
        aws_subnets=_get(inputs, "aws_subnets", []),
        aws_eip_allocations=_get(inputs, "aws_eip_allocations", []),
        azure_resource_group=str(_get(inputs, "azure_resource_group", "")).strip(),
        metallb_address_pool=str(_get(inputs, "metallb_address_pool", "")).strip(),
        source_ranges=ranges,
        extra_annotations=_get(inputs, "service_annotations", {}),
    )


def storage_backend(inputs: dict) -> str:
    """The object store: the platform's own in the cloud, LOCAL elsewhere."""
    default = DEFAULT_STORAGE.get(platform(inputs), "local")
    return _choice(inputs, "storage_backend", STORAGE_BACKENDS, default)


def storage_identity(inputs: dict) -> dict:
    """Service-account annotations that grant pachd storage access without keys (IRSA, GKE WI)."""
    role_arn = str(_get(inputs, "storage_aws_role_arn", "")).strip()
    gcp_sa = str(_get(inputs, "storage_gcp_service_account", "")).strip()
    backend = storage_backend(inputs)
    if role_arn and backend != "s3":
        raise InputError(
            f"pachyderm_storage_aws_role_arn is set but pachyderm_storage_backend is {backend!r}"
        )
    if gcp_sa and backend != "gcs":
        raise InputError(
            f"pachyderm_storage_gcp_service_account is set but pachyderm_storage_backend is {backend!r}"
        )
    if role_arn and not re.match(r"^arn:aws[-a-z]*:iam::\d{12}:role/.+$", role_arn):
        raise InputError(
            f"pachyderm_storage_aws_role_arn is {role_arn!r}; use an IAM role ARN such as "
            "arn:aws:iam::123456789012:role/pachyderm"
        )
    if role_arn:
        return {"eks.amazonaws.com/role-arn": role_arn}
    if gcp_sa:
        return {"iam.gke.io/gcp-service-account": gcp_sa}
    return {}


def _inline_storage_credentials(inputs: dict, backend: str) -> dict:
    if backend in ("s3", "minio"):
        pairs = {"access-key-id": "storage_access_key_id", "secret-access-key": "storage_secret_access_key"}
    elif backend == "gcs":
        pairs = {"credentials.json": "storage_gcs_credentials"}
    elif backend == "azure":
        pairs = {"account-name": "storage_azure_account", "account-key": "storage_azure_key"}
    else:
        return {}
    found = {key: str(_get(inputs, var, "")) for key, var in pairs.items()}
    given = [pairs[k] for k, v in found.items() if v]
    if given and len(given) != len(pairs):
        missing = [f"pachyderm_{pairs[k]}" for k, v in found.items() if not v]
        raise InputError(
            f"storage credentials are incomplete: {', '.join('pachyderm_' + g for g in given)} set but "
            f"{', '.join(missing)} empty; give all of them or name a Secret in "
            "pachyderm_storage_credentials_secret"
        )
    return found if given else {}


def check_storage(inputs: dict) -> None:
    """Refuse a storage configuration the chart cannot run with, before anything changes."""
    backend = storage_backend(inputs)
    if backend == "local":
        return
    bucket = str(_get(inputs, "storage_bucket", "")).strip()
    if not bucket:
        raise InputError(
            f"pachyderm_storage_bucket is empty but pachyderm_storage_backend is {backend!r}; name the "
            "bucket (or Azure container) Pachyderm stores its data in"
        )
    if not re.match(r"^[a-z0-9][-a-z0-9._]{1,221}[a-z0-9]$", bucket):
        raise InputError(f"pachyderm_storage_bucket is {bucket!r}, which is not a valid bucket name")
    if backend == "s3" and not str(_get(inputs, "storage_region", "")).strip():
        raise InputError("pachyderm_storage_region is empty; an S3 bucket needs its region, e.g. us-east-1")
    if backend == "minio":
        endpoint = str(_get(inputs, "storage_endpoint", "")).strip()
        if not endpoint or "://" in endpoint or "/" in endpoint:
            raise InputError(
                f"pachyderm_storage_endpoint is {endpoint!r}; an S3-compatible store needs its endpoint as "
                "host:port without a scheme, for example minio.storage.svc:9000"
            )
    _secret_name(inputs, "storage_credentials_secret")
    has_inline = bool(_inline_storage_credentials(inputs, backend))
    has_secret = bool(_get(inputs, "storage_credentials_secret", ""))
    has_identity = bool(storage_identity(inputs))
    if not (has_inline or has_secret or has_identity):
        hint = {
            "s3": "pachyderm_storage_aws_role_arn (IRSA), ",
            "gcs": "pachyderm_storage_gcp_service_account (Workload Identity), ",
        }.get(backend, "")
        raise InputError(
            f"pachyderm_storage_backend is {backend!r} but no credentials are given; set "
            "pachyderm_storage_credentials_secret (a Secret with keys "
            f"{', '.join(STORAGE_SECRET_KEYS[backend])}), "
            f"{hint}or the inline credential variables"
        )


def storage_credentials(inputs: dict, secret_data: dict | None) -> dict:
    """Credentials by Secret key: from the named Secret's data, else the inline variables.

    ``secret_data`` None means the Secret was not read: placeholders stand in for its keys.
    """
    backend = storage_backend(inputs)
    if backend == "local":
        return {}
    if _get(inputs, "storage_credentials_secret", ""):
        name = inputs["storage_credentials_secret"]
        if secret_data is None:  # not read (render-only, or the check before any change)
            return {k: f"<from Secret {name}>" for k in STORAGE_SECRET_KEYS[backend]}
        data = secret_data
        missing = [k for k in STORAGE_SECRET_KEYS[backend] if not data.get(k)]
        if missing:
            raise InputError(
                f"the Secret {name!r} named by pachyderm_storage_credentials_secret lacks the key(s) "
                f"{', '.join(missing)}; add them (kubectl create secret generic {name} --from-literal=...)"
            )
        return {k: str(data[k]) for k in STORAGE_SECRET_KEYS[backend]}
    return _inline_storage_credentials(inputs, backend)


def storage_values(inputs: dict, credentials: dict, pinned: dict) -> dict:
    """pachd.storage: backend, storageURL (the chart refuses to render without it) and credentials."""
    backend = storage_backend(inputs)
    bucket = str(_get(inputs, "storage_bucket", "")).strip()
    region = str(_get(inputs, "storage_region", "")).strip()
    storage: dict = {"backend": STORAGE_BACKEND[backend]}
    if backend == "s3":
        storage["storageURL"] = f"s3://{bucket}"
        storage["amazon"] = {"bucket": bucket, "region": region}
        if credentials:
            storage["amazon"].update(id=credentials["access-key-id"], secret=credentials["secret-access-key"])
    elif backend == "minio":
        endpoint = str(_get(inputs, "storage_endpoint", "")).strip()
        secure = _bool(inputs, "storage_secure", True)
        region = region or "us-east-1"
        query = f"endpoint={endpoint}&region={region}&s3ForcePathStyle=true"
        if not secure:
            query += "&disableSSL=true"
        storage["storageURL"] = f"s3://{bucket}?{query}"
        storage["amazon"] = {
            "bucket": bucket,
            "region": region,
            "customEndpoint": f"{'https' if secure else 'http'}://{endpoint}",
            "disableSSL": not secure,
        }
        if credentials:
            storage["amazon"].update(id=credentials["access-key-id"], secret=credentials["secret-access-key"])
    elif backend == "gcs":
        storage["storageURL"] = f"gs://{bucket}"
        storage["google"] = {"bucket": bucket}
        if credentials:
            storage["google"]["cred"] = credentials["credentials.json"]
    elif backend == "azure":
        storage["storageURL"] = f"azblob://{bucket}"
        storage["microsoft"] = {"container": bucket}
        if credentials:
            storage["microsoft"].update(id=credentials["account-name"], secret=credentials["account-key"])
    else:
        storage["storageURL"] = "file:///pach/storage"
        storage["local"] = {"hostPath": pinned[PINNED_HOST_PATH]}
    return storage


def database(inputs: dict) -> str:
    """``bundled`` PostgreSQL from the chart, or an ``external`` server."""
    return _choice(inputs, "database", DATABASES, "bundled")


def check_database(inputs: dict) -> None:
    """Refuse an external database without the facts needed to reach it."""
    if database(inputs) != "external":
        return
    host = str(_get(inputs, "database_host", "")).strip()
    cloudsql = str(_get(inputs, "database_cloudsql_connection_name", "")).strip()
    if not host and not cloudsql:
        raise InputError(
            "pachyderm_database is 'external' but pachyderm_database_host is empty; give the PostgreSQL "
            "server's host name (RDS/Azure/on-prem endpoint) or pachyderm_database_cloudsql_connection_name"
        )
    if host and ("://" in host or "/" in host or " " in host):
        raise InputError(f"pachyderm_database_host is {host!r}; give a bare host name or address")
    check.port(_get(inputs, "database_port", 5432), "pachyderm_database_port")
    if not _secret_name(inputs, "database_password_secret"):
        raise InputError(
            "pachyderm_database is 'external' but pachyderm_database_password_secret is empty; store the "
            "database password in a Secret in the namespace and name it there"
        )


def database_values(inputs: dict, pinned: dict) -> dict:
    """postgresql / global.postgresql / cloudsqlAuthProxy values."""
    if database(inputs) == "bundled":
        return {
            "postgresql": {"enabled": True},
            "global": {
                "postgresql": {
                    "postgresqlPassword": pinned[PINNED_PG_PASSWORD],
                    "postgresqlPostgresPassword": pinned[PINNED_PG_ROOT_PASSWORD],
                }
            },
        }
    cloudsql = str(_get(inputs, "database_cloudsql_connection_name", "")).strip()
    namespace = _get(inputs, "namespace", "pachyderm")
    host = str(_get(inputs, "database_host", "")).strip()
    result: dict = {"postgresql": {"enabled": False}}
    if cloudsql:
        host = f"cloudsql-auth-proxy.{namespace}.svc.cluster.local"
        result["cloudsqlAuthProxy"] = {"enabled": True, "connectionName": cloudsql}
        if _get(inputs, "storage_gcp_service_account", ""):
            result["cloudsqlAuthProxy"]["serviceAccount"] = inputs["storage_gcp_service_account"]
    result["global"] = {
        "postgresql": {
            "postgresqlHost": host,
            "postgresqlPort": str(_get(inputs, "database_port", 5432)),
            "postgresqlDatabase": _get(inputs, "database_name", "pachyderm"),
            "postgresqlUsername": _get(inputs, "database_user", "pachyderm"),
            "postgresqlSSL": _choice(
                inputs,
                "database_ssl_mode",
                ("disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
                "require",
            ),
            "postgresqlExistingSecretName": inputs["database_password_secret"],
            "postgresqlExistingSecretKey": _get(
                inputs, "database_password_secret_key", "postgresql-password"
            ),
        }
    }
    return result


def check_enterprise(inputs: dict) -> None:
    """Enterprise features need a license key (inline, no_log) or an existing Secret holding it."""
    if not _bool(inputs, "enterprise_enabled"):
        if _get(inputs, "enterprise_license_key", "") or _get(inputs, "enterprise_license_secret", ""):
            raise InputError(
                "a license is given (pachyderm_enterprise_license_key or "
                "pachyderm_enterprise_license_secret) but pachyderm_enterprise_enabled is false; "
                "set it to true or drop the license"
            )
        return
    _secret_name(inputs, "enterprise_license_secret")
    if not (_get(inputs, "enterprise_license_key", "") or _get(inputs, "enterprise_license_secret", "")):
        raise InputError(
            "pachyderm_enterprise_enabled is true but there is no license: set "
            "pachyderm_enterprise_license_secret (a Secret with the key 'enterprise-license-key') or "
            "pachyderm_enterprise_license_key (from a vault)"
        )


def auth_subjects(inputs: dict) -> dict:
    """pachAuthClusterRoleBindings from the allowed users and groups."""
    roles = _get(inputs, "allowed_roles", ["clusterAdmin"]) or []
    if not isinstance(roles, list) or not all(isinstance(r, str) and r.strip() for r in roles):
        raise InputError(f"pachyderm_allowed_roles must be a list of role names, got {roles!r}")
    bindings: dict = {}
    for variable, kind in (("allowed_users", "user"), ("allowed_groups", "group")):
        entries = _get(inputs, variable, []) or []
        if not isinstance(entries, list):
            raise InputError(f"pachyderm_{variable} must be a list, got {entries!r}")
        for entry in entries:
            name = str(entry).strip()
            if name.startswith(f"{kind}:"):
                name = name[len(kind) + 1 :]
            if not name or not SUBJECT.match(name):
                raise InputError(
                    f"pachyderm_{variable} has {entry!r}; give a {kind} name without spaces, "
                    f"for example {'alice@example.com' if kind == 'user' else 'data-team'}"
                )
            bindings[f"{kind}:{name}"] = list(roles)
    return bindings


def check_upstream_idps(inputs: dict) -> list:
    """Validated Dex connectors; client secrets must come from existing Secrets, never inline."""
    idps = _get(inputs, "upstream_idps", []) or []
    if not isinstance(idps, list):
        raise InputError(f"pachyderm_upstream_idps must be a list of connectors, got {idps!r}")
    seen = set()
    for index, idp in enumerate(idps):
        where = f"pachyderm_upstream_idps[{index}]"
        if not isinstance(idp, dict):
            raise InputError(f"{where} is {idp!r}; each connector is a mapping with id, name, type, config")
        ident = str(idp.get("id", ""))
        if not IDP_ID.match(ident):
            raise InputError(f"{where}.id is {ident!r}; use lower-case letters, digits, '-' or '_'")
        if ident in seen:
            raise InputError(f"{where}.id {ident!r} is used twice; connector ids must be unique")
        seen.add(ident)
        if idp.get("type") not in IDP_TYPES:
            raise InputError(f"{where}.type is {idp.get('type')!r}; use one of: {', '.join(IDP_TYPES)}")
        config = idp.get("config", {})
        if not isinstance(config, dict):
            raise InputError(f"{where}.config must be a mapping, got {config!r}")
        for key in ("clientSecret", "bindPW"):
            if key in config:
                raise InputError(
                    f"{where}.config.{key} is given inline; keep it in a Secret and name it in "
                    f"{where}.secret: {{name: ..., key: ...}}"
                )
        secret = idp.get("secret")
        if secret is not None and (
            not isinstance(secret, dict)
            or not check.k8s_name(secret.get("name", ""), f"{where}.secret.name", empty=True)
            or not secret.get("key")
        ):
            raise InputError(f"{where}.secret is {secret!r}; give {{name: <Secret name>, key: <key in it>}}")
    return idps


def upstream_idps_document(inputs: dict, secret_values: dict) -> list:
    """The Dex connector list for the chart's upstream-idps Secret.

    ``secret_values`` maps connector id to its client secret (read from the named Secret).
    """
    callback = oidc_uris(inputs).get("dex.callback", "")
    result = []
    for idp in check_upstream_idps(inputs):
        config = copy.deepcopy(idp.get("config", {}))
        if idp["type"] != "ldap" and callback:
            config.setdefault("redirectURI", callback)
        if idp.get("secret"):
            config["bindPW" if idp["type"] == "ldap" else "clientSecret"] = secret_values[idp["id"]]
        result.append(
            {"id": idp["id"], "name": idp.get("name", idp["id"]), "type": idp["type"], "config": config}
        )
    return result


def check_exposure(inputs: dict) -> None:
    """The mock IdP only in sandboxes; a public LoadBalancer needs TLS and auth unless acknowledged."""
    mock_default = environment(inputs) == "sandbox" and not _get(inputs, "upstream_idps", [])
    mock = _bool(inputs, "mock_idp", mock_default)
    if mock and environment(inputs) != "sandbox":
        raise InputError(
            "pachyderm_mock_idp is true but pachyderm_environment is 'production'; the mock identity "
            "provider lets anyone log in as admin/password: configure pachyderm_upstream_idps and set "
            "pachyderm_mock_idp: false (it is allowed only for local and sandbox inventories)"
        )
    if mock and _get(inputs, "upstream_idps", []):
        raise InputError(
            "pachyderm_mock_idp is true and pachyderm_upstream_idps is set; turn the mock IdP off"
        )
    auth = _bool(inputs, "auth_enabled", True)
    if not auth and environment(inputs) != "sandbox":
        raise InputError(
            "pachyderm_auth_enabled is false in a production environment; Pachyderm authentication must "
            "stay on (set pachyderm_auth_enabled: true)"
        )
    internal = _bool(inputs, "lb_internal")
    if lb.is_public(platform(inputs), service_type(inputs), internal):
        missing = [what for what, ok in (("TLS", tls_enabled(inputs)), ("authentication", auth)) if not ok]
        if missing and not _bool(inputs, "accept_public_exposure_risk"):
            raise InputError(
                f"the proxy gets a public {platform(inputs).upper()} load balancer without "
                f"{' and '.join(missing)} (pachyderm_tls is {_get(inputs, 'tls', 'off')!r}, "
                f"pachyderm_lb_internal is false); enable TLS (oneport_tls) with oneport_proxy_host, set "
                "pachyderm_lb_internal: true, or acknowledge with pachyderm_accept_public_exposure_risk: true"
            )


def check_inputs(inputs: dict) -> dict:
    """Every input check, in order; returns a summary of the decisions for the role's log."""
    plat = platform(inputs)
    kind = service_type(inputs)
    host = proxy_host(inputs)
    legacy_ports(inputs)
    load_balancer(inputs)
    _choice(inputs, "external_traffic_policy", TRAFFIC_POLICIES, "")
    if kind == "NodePort":
        _node_port(inputs, "http_node_port", 30080)
        _node_port(inputs, "https_node_port", 30443)
    if tls_enabled(inputs):
        _secret_name(inputs, "tls_secret_name")
        if not _get(inputs, "tls_secret_name", ""):
            raise InputError("pachyderm_tls_secret_name is empty but TLS is on; name the proxy's TLS Secret")
    check_storage(inputs)
    check_database(inputs)
    check_enterprise(inputs)
    auth_subjects(inputs)
    check_upstream_idps(inputs)
    check_exposure(inputs)
    proxy_config = pachyderm_proxy.mode(inputs)
    if proxy_config == "collection":
        pachyderm_proxy.model(inputs)
    elif _get(inputs, "proxy_acme_solver", {}):
        raise InputError(
            "pachyderm_proxy_acme_solver is set but pachyderm_proxy_config is chart; the chart's own "
            "configuration has no ACME route: use pachyderm_proxy_config: collection or remove it"
        )
    image = pachyderm_proxy.chart_values(inputs).get("image", {})
    return {
        "proxy_config": proxy_config,
        "proxy_image": f"{image['repository']}:{image['tag']}" if image else "",
        "platform": plat,
        "environment": environment(inputs),
        "service_type": kind,
        "proxy_host": host,
        "scheme": scheme(inputs),
        "storage_backend": storage_backend(inputs),
        "database": database(inputs),
    }


# --- values the chart would randomise ------------------------------------------------------------


def pinned_keys(inputs: dict) -> list:
    """The pinned-Secret keys this configuration needs."""
    keys = [PINNED_DEPLOYMENT_ID, PINNED_ROOT_TOKEN, PINNED_PACHD_OAUTH, PINNED_CONSOLE_OAUTH]
    if _bool(inputs, "enterprise_enabled"):
        keys.append(PINNED_ENTERPRISE_SECRET)
    if storage_backend(inputs) == "local":
        keys.append(PINNED_HOST_PATH)
    if database(inputs) == "bundled":
        keys += [PINNED_PG_PASSWORD, PINNED_PG_ROOT_PASSWORD]
    return keys


def _generate(key: str) -> str:
    if key == PINNED_HOST_PATH:
        # The chart wants a trailing slash; a random directory keeps two releases apart.
        return f"/var/pachyderm-{_secrets.token_hex(4)}/"
    return _secrets.token_hex(16)


# Where a release installed without this role (plain `helm install`) keeps what the chart generated:
# pinned key -> (the chart's Secret, its key). Adopted when the pinned Secret lacks the key, so an
# upgrade keeps the cluster's identity, tokens and database passwords instead of generating new ones.
CHART_GENERATED = {
    PINNED_ROOT_TOKEN: ("pachyderm-auth", "root-token"),
    PINNED_PACHD_OAUTH: ("pachyderm-auth", "pachd-oauth-client-secret"),
    PINNED_DEPLOYMENT_ID: ("pachyderm-deployment-id-secret", "CLUSTER_DEPLOYMENT_ID"),
    PINNED_CONSOLE_OAUTH: ("pachyderm-console-secret", "OAUTH_CLIENT_SECRET"),
    PINNED_ENTERPRISE_SECRET: ("pachyderm-enterprise", "enterprise-secret"),
    PINNED_PG_PASSWORD: ("postgres", "postgresql-password"),
    PINNED_PG_ROOT_PASSWORD: ("postgres", "postgresql-postgres-password"),
}
CHART_SECRETS = tuple(sorted({name for name, _key in CHART_GENERATED.values()}))
# pachd's environment names the storage host path the chart chose (<hostPath>pachd).
HOST_PATH_ENV = "STORAGE_HOST_PATH"


def adopt(pinned: dict | None, chart_secrets: dict | None, pachd_env: dict | None = None) -> dict:
    """The pinned values to reuse: the pinned Secret's, completed from what the chart generated.

    ``pinned`` and ``chart_secrets`` ({Secret name: {key: value}}) hold decoded values. Returns
    ``{"values": {key: value}, "adopted": [keys taken from the chart's objects]}``.
    """
    values = {key: str(value) for key, value in (pinned or {}).items() if value}
    adopted = []
    for key, (secret, secret_key) in CHART_GENERATED.items():
        value = ((chart_secrets or {}).get(secret) or {}).get(secret_key)
        if key not in values and value:
            values[key] = str(value)
            adopted.append(key)
    host_path = str((pachd_env or {}).get(HOST_PATH_ENV) or "")
    if PINNED_HOST_PATH not in values and host_path.endswith("/pachd"):
        values[PINNED_HOST_PATH] = host_path[: -len("pachd")]
        adopted.append(PINNED_HOST_PATH)
    return {"values": values, "adopted": sorted(adopted)}


def _placeholder(key: str) -> str:
    """A fixed stand-in of the generated value's shape, for trial renders that must repeat exactly."""
    if key == PINNED_HOST_PATH:
        return "/var/pachyderm-00000000/"
    return "0" * 32


def pin(existing: dict | None, keys, placeholders: bool = False) -> dict:
    """Reuse every pinned value already stored; generate only the missing ones.

    With ``placeholders`` the missing ones are fixed stand-ins instead (a trial render before the
    pinned Secret is read: the same inputs give the same values on every run).
    Returns ``{"values": {key: value}, "generated": [keys], "changed": bool}``.
    """
    existing = dict(existing or {})
    values = {}
    generated = []
    for key in keys:
        if existing.get(key):
            values[key] = str(existing[key])
        else:
            values[key] = _placeholder(key) if placeholders else _generate(key)
            generated.append(key)
    # Keys no longer needed stay in the Secret: turning a feature off and on keeps its identity.
    for key, value in existing.items():
        values.setdefault(key, str(value))
    return {"values": values, "generated": generated, "changed": bool(generated)}


# --- the values ----------------------------------------------------------------------------------


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
    """The chart values for ``inputs``, using the ``pinned`` values (see ``pin``)."""
    check_inputs(inputs)
    pinned_secret = _get(inputs, "pinned_secret_name", "pachyderm-oneport-pinned")
    missing = [k for k in pinned_keys(inputs) if not pinned.get(k)]
    if missing:
        raise InputError(f"pinned values missing: {', '.join(missing)} (internal error: call pin() first)")
    kind = service_type(inputs)
    balancer = load_balancer(inputs)
    service: dict = {"type": kind, "annotations": balancer["annotations"]}
    if balancer["load_balancer_ip"]:
        service["loadBalancerIP"] = balancer["load_balancer_ip"]
    if kind == "NodePort":
        service["httpNodePort"] = _node_port(inputs, "http_node_port", 30080)
        service["httpsNodePort"] = _node_port(inputs, "https_node_port", 30443)
    policy = _get(inputs, "external_traffic_policy", "")
    if policy:
        service["externalTrafficPolicy"] = policy
    ports = legacy_ports(inputs)
    if ports:
        service["legacyPorts"] = ports
    proxy: dict = {"enabled": True, "host": proxy_host(inputs), "service": service}
    proxy["tls"] = {"enabled": tls_enabled(inputs)}
    if tls_enabled(inputs):
        proxy["tls"]["secretName"] = inputs["tls_secret_name"]
    # The collection's configuration runs on the pinned Envoy with its memory limit (the ConfigMap itself
    # is replaced by the post-renderer: the chart has no value for it).
    _merge(proxy, pachyderm_proxy_values(inputs))

    auth = _bool(inputs, "auth_enabled", True)
    mock_default = environment(inputs) == "sandbox" and not _get(inputs, "upstream_idps", [])
    values: dict = {
        "proxy": proxy,
        "pachd": {
            "clusterDeploymentID": pinned[PINNED_DEPLOYMENT_ID],
            "rootTokenSecretName": pinned_secret,
            "oauthClientSecretSecretName": pinned_secret,
            "activateAuth": auth,
            "pachAuthClusterRoleBindings": auth_subjects(inputs),
        },
        "console": {"enabled": _bool(inputs, "console_enabled", True)},
        "oidc": {"mockIDP": _bool(inputs, "mock_idp", mock_default)},
    }
    if values["console"]["enabled"]:
        values["console"]["config"] = {"oauthClientSecretSecretName": pinned_secret}
    backend = storage_backend(inputs)
    if backend in DEPLOY_TARGET:
        values["deployTarget"] = DEPLOY_TARGET[backend]
    credentials = storage_credentials(inputs, storage_secret_data)
    values["pachd"]["storage"] = storage_values(inputs, credentials, pinned)
    identity = storage_identity(inputs)
    if identity:
        values["pachd"]["serviceAccount"] = {"additionalAnnotations": dict(identity)}
        values["pachd"]["worker"] = {"serviceAccount": {"additionalAnnotations": dict(identity)}}
    for path, uri in oidc_uris(inputs).items():
        if path == "dex.callback" or (path.startswith("console.") and not values["console"]["enabled"]):
            continue
        _set(values, path, uri)
    if _get(inputs, "upstream_idps", []):
        values["oidc"]["upstreamIDPsSecretName"] = _get(
            inputs, "upstream_idps_secret_name", "pachyderm-oneport-upstream-idps"
        )
    if _bool(inputs, "enterprise_enabled"):
        license_secret = _get(inputs, "enterprise_license_secret", "") or pinned_secret
        values["pachd"]["enterpriseLicenseKeySecretName"] = license_secret
        values["pachd"]["enterpriseSecretSecretName"] = pinned_secret
    _merge(values, database_values(inputs, pinned))
    return values


def pachyderm_proxy_values(inputs: dict) -> dict:
    """The chart's proxy values the proxy configuration decides (image, resources)."""
    return pachyderm_proxy.chart_values(inputs)


def pinned_secret_data(inputs: dict, pinned: dict) -> dict:
    """Everything the pinned Secret holds: the pinned values plus an inline license key, if any."""
    data = dict(pinned)
    if _bool(inputs, "enterprise_enabled") and not _get(inputs, "enterprise_license_secret", ""):
        data[ENTERPRISE_LICENSE_KEY] = str(inputs["enterprise_license_key"])
    return data


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


# --- checks against the chart actually used ------------------------------------------------------


def _schema_declares(schema: dict, parts: list) -> bool:
    node = schema
    for part in parts:
        props = node.get("properties") if isinstance(node, dict) else None
        if not props or part not in props:
            return False
        node = props[part]
    return True


def unknown_paths(values: dict, chart_values: dict, schema: dict | None = None) -> list:
    """Key paths set in ``values`` that the chart does not declare.

    A path is known when values.yaml has it, when it sits under a free-form map that values.yaml
    leaves empty (annotations: {}), or when the schema names it explicitly (the chart reads a few
    keys, such as pachd.enterpriseLicenseKeySecretName, that values.yaml leaves out). The schema's
    tolerance of unknown keys is not enough: the chart silently ignores them.
    """
    problems = []

    def walk(ours, theirs, parts):
        for key, value in ours.items():
            path = [*parts, key]
            if isinstance(theirs, dict) and key in theirs:
                sub = theirs[key]
                if isinstance(value, dict) and isinstance(sub, dict) and sub:
                    walk(value, sub, path)
                continue
            if schema is not None and _schema_declares(schema, path):
                continue
            problems.append(".".join(path))

    walk(values, chart_values, [])
    return problems


def schema_problems(values: dict, schema: dict) -> list:
    """jsonschema errors of ``values`` against the chart's values.schema.json, as readable lines."""
    import jsonschema  # a run-time requirement of the collection (requirements.txt)

    # Chart schemas often name the generic "http://json-schema.org/schema#"; read them as draft 7.
    known = jsonschema.validators.validator_for(schema, default=None) if schema.get("$schema") else None
    validator = (known or jsonschema.Draft7Validator)(schema)
    lines = []
    for error in sorted(validator.iter_errors(values), key=lambda e: list(e.absolute_path)):
        where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
        lines.append(f"{where}: {error.message}")
    return lines


def chart_problems(values: dict, schema: dict, chart_values: dict) -> list:
    """Schema errors plus key paths the chart does not declare; empty when the values are sound."""
    problems = schema_problems(values, schema)
    problems += [
        f"{path}: not a key of this chart's values.yaml (the chart would ignore it)"
        for path in unknown_paths(values, chart_values, schema)
    ]
    return problems


# --- the published endpoint ----------------------------------------------------------------------


def proxy_endpoint(inputs: dict, ingress=None, node_address: str = "") -> dict:
    """The ``oneport_proxy_endpoint`` fact (docs/variables.md) from the Service's status."""
    kind = service_type(inputs)
    host = proxy_host(inputs)
    tls = tls_enabled(inputs)
    ip = ""
    lb_name = ""
    for entry in ingress or []:
        ip = ip or entry.get("ip", "")
        lb_name = lb_name or entry.get("hostname", "")
    if kind == "NodePort":
        port = _node_port(inputs, "https_node_port" if tls else "http_node_port", 30443 if tls else 30080)
        ip = ip or node_address
    elif kind == "ClusterIP":
        port = 443 if tls else 80
        lb_name = lb_name or f"pachyderm-proxy.{_get(inputs, 'namespace', 'pachyderm')}.svc.cluster.local"
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
