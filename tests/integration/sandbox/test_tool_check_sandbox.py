"""tool_check's cluster check against the sandbox's real API server (the unit tests use a stand-in).

The check asks for /version (public) and /api (granted to authenticated users only): the sandbox's
own kubeconfig passes and names the server's version; a token the server never issued is refused;
and a kubeconfig with no credentials at all, which the server answers /version for, is refused at
/api: the case a /version-only check would have let through.
"""

from __future__ import annotations

import pytest
import yaml

from ansible_collections.oneport.pachyderm.plugins.module_utils.tool_check import cluster_version

pytestmark = pytest.mark.slow


def test_the_sandbox_answers_with_its_version(sandbox):
    assert cluster_version(str(sandbox.kubeconfig)).startswith("v1.")


def with_user(sandbox, tmp_path, user: dict) -> str:
    """The sandbox's kubeconfig (server and CA) with other credentials."""
    config = yaml.safe_load(sandbox.kubeconfig.read_text())
    for entry in config["users"]:
        entry["user"] = user
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def test_a_token_the_api_server_never_issued_is_refused(sandbox, tmp_path):
    with pytest.raises(RuntimeError, match="HTTP 401"):
        cluster_version(with_user(sandbox, tmp_path, {"token": "not-a-token-this-cluster-issued"}))


def test_no_credentials_is_refused_although_the_version_is_public(sandbox, tmp_path):
    anonymous = with_user(sandbox, tmp_path, {})
    with pytest.raises(RuntimeError, match="HTTP 403"):
        cluster_version(anonymous)
