"""The pachyderm role's model inputs as the role passes them: its defaults rendered, the given values on top.

The role's defaults/main.yml decides every default once and the models require every key, so a test
that names only the variables it is about gets the rest from the same place a playbook run does: the
oneport and pachyderm role defaults and the role's vars/main.yml (``_pachyderm_secret_inputs``),
rendered with Ansible's templating. The test inventory's platform is ``local`` unless given.
"""

from __future__ import annotations

import functools
import json

import yaml

from support.paths import REPO

ROLES = REPO / "roles"


def _load(path) -> dict:
    return yaml.safe_load(path.read_text()) or {}


@functools.cache
def _render(given_json: str) -> dict:
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    given = json.loads(given_json)
    variables = {"inventory_hostname": "cluster", "hostvars": {}, "oneport_platform": "local"}
    for path in (
        ROLES / "oneport" / "defaults" / "main.yml",
        ROLES / "pachyderm" / "defaults" / "main.yml",
        ROLES / "pachyderm" / "vars" / "main.yml",
    ):
        variables.update(_load(path))
    variables = {key: _trust(value, trust_as_template) for key, value in variables.items()}
    if "platform" in given:
        variables["oneport_platform"] = given["platform"]
    variables.update({f"pachyderm_{key}": value for key, value in given.items()})
    templar = Templar(loader=DataLoader(), variables=variables)
    # Plain Python values, as a playbook hands them to a filter (templating tags its strings).
    return json.loads(json.dumps(templar.template(variables["_pachyderm_secret_inputs"])))


def _trust(value, trust):
    if isinstance(value, str):
        return trust(value)
    if isinstance(value, dict):
        return {key: _trust(item, trust) for key, item in value.items()}
    if isinstance(value, list):
        return [_trust(item, trust) for item in value]
    return value


def role_inputs(given: dict | None = None, **more) -> dict:
    """Every model input: the role's defaults for what ``given`` (and ``more``) leave out."""
    given = {**(given or {}), **more}
    result = dict(_render(json.dumps(given, sort_keys=True, default=str)))
    result.update(given)
    return result


class WithRoleDefaults:
    """A model module whose functions taking ``inputs`` (at any position) get them completed by
    role_inputs first, as the role completes them; the rest of the module passes through unchanged."""

    def __init__(self, module):
        self._module = module

    def __getattr__(self, name):
        import inspect

        attr = getattr(self._module, name)
        if not callable(attr) or inspect.isclass(attr):
            return attr
        try:
            signature = inspect.signature(attr)
        except (TypeError, ValueError):
            return attr
        if "inputs" not in signature.parameters:
            return attr

        @functools.wraps(attr)
        def completed(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            if isinstance(bound.arguments.get("inputs"), dict):
                bound.arguments["inputs"] = role_inputs(bound.arguments["inputs"])
            return attr(*bound.args, **bound.kwargs)

        return completed


def cert_manager_settings() -> dict:
    """The issuer model's settings whose defaults the cert_manager role decides, as it passes them."""
    defaults = _load(ROLES / "cert_manager" / "defaults" / "main.yml")
    return {
        "issuer_prefix": defaults["cert_manager_issuer_prefix"],
        "ca_common_name": defaults["cert_manager_ca_common_name"],
        "acme_server": defaults["cert_manager_acme_server"],
        "duration": defaults["cert_manager_certificate_duration"],
        "renew_before": defaults["cert_manager_certificate_renew_before"],
    }
