# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Which pachyderm_* variables lie behind a message the Pachyderm chart fails with.

The chart speaks of its own value paths (``deployTarget``, ``pachd.storage``, ``proxy.tls``); users
set the role's variables. This table maps one to the other so a chart refusal names what to change.
Plain Python, no Ansible imports.
"""

from __future__ import annotations

import re

# (pattern in the chart's message, the variables that set those values), most specific first.
HINTS = (
    (r"deployTarget", ("pachyderm_storage_backend",)),
    (r"Azure account name", ("pachyderm_storage_azure_account", "pachyderm_storage_credentials_secret")),
    (
        r"storage URL|pachd\.storage",
        ("pachyderm_storage_backend", "pachyderm_storage_bucket", "pachyderm_storage_endpoint"),
    ),
    (r"proxy\.tls|secretName|tls", ("pachyderm_tls", "pachyderm_tls_secret_name")),
    (
        r"legacyPorts|nodePort|proxy\.service",
        (
            "pachyderm_service_type",
            "pachyderm_legacy_ports",
            "pachyderm_http_node_port",
            "pachyderm_https_node_port",
        ),
    ),
    (r"proxy\.host|userAccessibleOauthIssuerHost|RedirectURI", ("pachyderm_proxy_host",)),
    (
        r"postgres|pgbouncer|cloudsql",
        ("pachyderm_database", "pachyderm_database_host", "pachyderm_database_password_secret"),
    ),
    (r"oidc|upstreamIDP|dex", ("pachyderm_upstream_idps", "pachyderm_mock_idp")),
    (r"enterprise|license", ("pachyderm_enterprise_enabled", "pachyderm_enterprise_license_secret")),
    (r"console", ("pachyderm_console_enabled",)),
)


def chart_hint(message):
    """One sentence naming the variables to fix for a chart failure message."""
    text = str(message or "")
    variables = []
    for pattern, names in HINTS:
        if re.search(pattern, text, re.IGNORECASE):
            variables.extend(name for name in names if name not in variables)
    if variables:
        return (
            f"Fix {', '.join(variables)} "
            "(the values the chart names come from them: roles/pachyderm/README.md), "
            "or pachyderm_chart_version if the chart is not the 2.12 this role builds values for."
        )
    return (
        "Check pachyderm_chart_version (this role builds values for chart 2.12) and the pachyderm_* "
        "variables behind the value paths the chart names (roles/pachyderm/README.md)."
    )
