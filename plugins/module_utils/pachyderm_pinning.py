# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The values the Pachyderm chart would randomise on every render, generated once and kept.

The chart generates a root token, OAuth client secrets, a cluster deployment ID, an enterprise secret,
database passwords and a storage host path unless the values set them; rendered twice, a release would
change identity. The role keeps them in one Secret (the pinned Secret): ``pin`` reuses what is stored
and generates only what is missing, ``adopt`` takes over what a plain ``helm install`` generated.
Plain Python, no Ansible imports.
"""

from __future__ import annotations

import secrets as _secrets

from ansible_collections.oneport.pachyderm.plugins.module_utils import pachyderm_inputs as inputs_model

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


def pinned_keys(inputs: dict) -> list:
    """The pinned-Secret keys this configuration needs."""
    keys = [PINNED_DEPLOYMENT_ID, PINNED_ROOT_TOKEN, PINNED_PACHD_OAUTH, PINNED_CONSOLE_OAUTH]
    if inputs_model.enterprise_enabled(inputs):
        keys.append(PINNED_ENTERPRISE_SECRET)
    if inputs_model.storage_backend(inputs) == "local":
        keys.append(PINNED_HOST_PATH)
    if inputs_model.database(inputs) == "bundled":
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


def pinned_secret_data(inputs: dict, pinned: dict) -> dict:
    """Everything the pinned Secret holds: the pinned values plus an inline license key, if any."""
    data = dict(pinned)
    license_key = inputs_model.inline_license_key(inputs)
    if license_key:
        data[ENTERPRISE_LICENSE_KEY] = license_key
    return data
