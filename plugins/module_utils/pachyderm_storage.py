# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Where Pachyderm keeps its data: the object store and the PostgreSQL database, checked and as values.

The backend (``s3``, ``minio``, ``gcs``, ``azure``, ``local``) and the database (``bundled`` or
``external``) are decided in pachyderm_inputs; this module checks the settings each one needs and
turns them into the chart's ``pachd.storage`` and ``postgresql`` values. ``inputs`` is the pachyderm
role's variables without the ``pachyderm_`` prefix. Plain Python, no Ansible imports.
"""

from __future__ import annotations

import re

from ansible_collections.oneport.pachyderm.plugins.module_utils import inputs as check

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
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


def _get(inputs: dict, name: str):
    # The role passes every variable; its defaults/main.yml decides each default (check.role_input).
    return check.role_input(inputs, name, "pachyderm")


def storage_identity(inputs: dict, backend: str) -> dict:
    """Service-account annotations that grant pachd storage access without keys (IRSA, GKE WI)."""
    role_arn = str(_get(inputs, "storage_aws_role_arn")).strip()
    gcp_sa = str(_get(inputs, "storage_gcp_service_account")).strip()
    if role_arn and backend != "s3":
        raise check.refuse(
            "pachyderm_storage_aws_role_arn",
            role_arn,
            f"is set but pachyderm_storage_backend is {backend!r}",
            "remove it or set pachyderm_storage_backend: s3",
        )
    if gcp_sa and backend != "gcs":
        raise check.refuse(
            "pachyderm_storage_gcp_service_account",
            gcp_sa,
            f"is set but pachyderm_storage_backend is {backend!r}",
            "remove it or set pachyderm_storage_backend: gcs",
        )
    if role_arn and not re.match(r"^arn:aws[-a-z]*:iam::\d{12}:role/.+$", role_arn):
        raise check.fail(
            "pachyderm_storage_aws_role_arn",
            role_arn,
            "an IAM role ARN",
            "use one such as arn:aws:iam::123456789012:role/pachyderm",
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
    found = {key: str(_get(inputs, var)) for key, var in pairs.items()}
    given = [pairs[k] for k, v in found.items() if v]
    if given and len(given) != len(pairs):
        missing = [f"pachyderm_{pairs[k]}" for k, v in found.items() if not v]
        # Secrets: name the variables, never print their values.
        raise check.refuse(
            missing[0],
            "",
            f"is empty but {', '.join('pachyderm_' + g for g in given)} set, so the storage credentials "
            f"are incomplete ({', '.join(missing)} empty)",
            "give all of them or name a Secret in pachyderm_storage_credentials_secret",
        )
    return found if given else {}


def check_storage(inputs: dict, backend: str) -> None:
    """Refuse a storage configuration the chart cannot run with, before anything changes."""
    if backend == "local":
        return
    bucket = str(_get(inputs, "storage_bucket")).strip()
    if not bucket:
        raise check.refuse(
            "pachyderm_storage_bucket",
            bucket,
            f"is empty but pachyderm_storage_backend is {backend!r}",
            "name the bucket (or Azure container) Pachyderm stores its data in",
        )
    if not re.match(r"^[a-z0-9][-a-z0-9._]{1,221}[a-z0-9]$", bucket):
        raise check.fail(
            "pachyderm_storage_bucket",
            bucket,
            "a valid bucket name",
            "use 3-223 lower-case letters, digits, '-', '.' or '_', starting and ending with a letter "
            "or digit",
        )
    if backend == "s3" and not str(_get(inputs, "storage_region")).strip():
        raise check.refuse(
            "pachyderm_storage_region",
            _get(inputs, "storage_region"),
            "is empty",
            "an S3 bucket needs its region, e.g. us-east-1",
        )
    if backend == "minio":
        endpoint = str(_get(inputs, "storage_endpoint")).strip()
        if not endpoint or "://" in endpoint or "/" in endpoint:
            raise check.fail(
                "pachyderm_storage_endpoint",
                endpoint,
                "host:port",
                "an S3-compatible store needs its endpoint as host:port without a scheme, for example "
                "minio.storage.svc:9000",
            )
    secret = _get(inputs, "storage_credentials_secret")
    check.k8s_name(secret, "pachyderm_storage_credentials_secret", empty=True)
    has_inline = bool(_inline_storage_credentials(inputs, backend))
    has_secret = bool(_get(inputs, "storage_credentials_secret"))
    has_identity = bool(storage_identity(inputs, backend))
    if not (has_inline or has_secret or has_identity):
        hint = {
            "s3": "pachyderm_storage_aws_role_arn (IRSA), ",
            "gcs": "pachyderm_storage_gcp_service_account (Workload Identity), ",
        }.get(backend, "")
        raise check.refuse(
            "pachyderm_storage_backend",
            backend,
            "but no credentials are given",
            "set pachyderm_storage_credentials_secret (a Secret with keys "
            f"{', '.join(STORAGE_SECRET_KEYS[backend])}), "
            f"{hint}or the inline credential variables",
        )


def storage_credentials(inputs: dict, backend: str, secret_data: dict | None) -> dict:
    """Credentials by Secret key: from the named Secret's data, else the inline variables.

    ``secret_data`` None means the Secret was not read: placeholders stand in for its keys.
    """
    if backend == "local":
        return {}
    if _get(inputs, "storage_credentials_secret"):
        name = _get(inputs, "storage_credentials_secret")
        if secret_data is None:  # not read (render-only, or the check before any change)
            return {k: f"<from Secret {name}>" for k in STORAGE_SECRET_KEYS[backend]}
        data = secret_data
        missing = [k for k in STORAGE_SECRET_KEYS[backend] if not data.get(k)]
        if missing:
            raise check.refuse(
                "pachyderm_storage_credentials_secret",
                name,
                f"names a Secret that lacks the key(s) {', '.join(missing)}",
                f"add them (kubectl create secret generic {name} --from-literal=...)",
            )
        return {k: str(data[k]) for k in STORAGE_SECRET_KEYS[backend]}
    return _inline_storage_credentials(inputs, backend)


def storage_values(inputs: dict, backend: str, credentials: dict, host_path: str) -> dict:
    """pachd.storage: backend, storageURL (the chart refuses to render without it) and credentials."""
    bucket = str(_get(inputs, "storage_bucket")).strip()
    region = str(_get(inputs, "storage_region")).strip()
    storage: dict = {"backend": STORAGE_BACKEND[backend]}
    if backend == "s3":
        storage["storageURL"] = f"s3://{bucket}"
        storage["amazon"] = {"bucket": bucket, "region": region}
        if credentials:
            storage["amazon"].update(id=credentials["access-key-id"], secret=credentials["secret-access-key"])
    elif backend == "minio":
        endpoint = str(_get(inputs, "storage_endpoint")).strip()
        secure = check.boolean(_get(inputs, "storage_secure"), "pachyderm_storage_secure")
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
        storage["local"] = {"hostPath": host_path}
    return storage


def check_database(inputs: dict, database: str) -> None:
    """Refuse an external database without the facts needed to reach it."""
    if database != "external":
        return
    host = str(_get(inputs, "database_host")).strip()
    cloudsql = str(_get(inputs, "database_cloudsql_connection_name")).strip()
    if not host and not cloudsql:
        raise check.refuse(
            "pachyderm_database_host",
            host,
            "is empty but pachyderm_database is 'external'",
            "give the PostgreSQL server's host name (RDS/Azure/on-prem endpoint) or "
            "pachyderm_database_cloudsql_connection_name",
        )
    if host and ("://" in host or "/" in host or " " in host):
        raise check.fail(
            "pachyderm_database_host", host, "a bare host name", "give a bare host name or address"
        )
    check.port(_get(inputs, "database_port"), "pachyderm_database_port")
    check.one_of(_get(inputs, "database_ssl_mode"), "pachyderm_database_ssl_mode", SSL_MODES)
    if not check.k8s_name(
        _get(inputs, "database_password_secret"), "pachyderm_database_password_secret", empty=True
    ):
        raise check.refuse(
            "pachyderm_database_password_secret",
            _get(inputs, "database_password_secret"),
            "is empty but pachyderm_database is 'external'",
            "store the database password in a Secret in the namespace and name it there",
        )


def database_values(inputs: dict, database: str, passwords: tuple) -> dict:
    """postgresql / global.postgresql / cloudsqlAuthProxy values; ``passwords`` are the bundled
    database's (user, postgres), pinned."""
    if database == "bundled":
        return {
            "postgresql": {"enabled": True},
            "global": {
                "postgresql": {
                    "postgresqlPassword": passwords[0],
                    "postgresqlPostgresPassword": passwords[1],
                }
            },
        }
    cloudsql = str(_get(inputs, "database_cloudsql_connection_name")).strip()
    namespace = _get(inputs, "namespace")
    host = str(_get(inputs, "database_host")).strip()
    result: dict = {"postgresql": {"enabled": False}}
    if cloudsql:
        host = f"cloudsql-auth-proxy.{namespace}.svc.cluster.local"
        result["cloudsqlAuthProxy"] = {"enabled": True, "connectionName": cloudsql}
        if _get(inputs, "storage_gcp_service_account"):
            result["cloudsqlAuthProxy"]["serviceAccount"] = _get(inputs, "storage_gcp_service_account")
    result["global"] = {
        "postgresql": {
            "postgresqlHost": host,
            "postgresqlPort": str(_get(inputs, "database_port")),
            "postgresqlDatabase": _get(inputs, "database_name"),
            "postgresqlUsername": _get(inputs, "database_user"),
            "postgresqlSSL": _get(inputs, "database_ssl_mode"),
            "postgresqlExistingSecretName": _get(inputs, "database_password_secret"),
            "postgresqlExistingSecretKey": _get(inputs, "database_password_secret_key"),
        }
    }
    return result
