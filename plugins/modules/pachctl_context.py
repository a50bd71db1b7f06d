#!/usr/bin/python
# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
module: pachctl_context
short_description: Manage a context in pachctl's config file, exactly as pachctl writes it
version_added: 1.0.0
description:
  - Creates, updates or removes one context in pachctl's config file and can make it the active
    (or active enterprise) context, as C(pachctl config set context), C(pachctl config update context)
    and C(pachctl config set active-context) would.
  - The file is found as pachctl finds it - O(path), else E(PACH_CONFIG), else
    C(~/.pachyderm/config.json) of the user the module runs as.
  - A missing file is created as pachctl creates it - a random C(user_id), C(metrics) on and an empty
    C(default) context. Other contexts, fields this module does not know and fields not given stay as
    they are.
  - Addresses are checked and stored as pachctl stores them (see the P(oneport.pachyderm.pachd_address#filter)
    filter). The file is replaced atomically, is mode 0600, and directories it creates are 0700 (as is an
    existing C(~/.pachyderm)).
  - A file that is not valid JSON or YAML is reported and never overwritten.
author:
  - oneport.pachyderm contributors (@oneport)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: The diff shows the whole file with every C(session_token) masked.
  platform:
    platforms: posix
options:
  name:
    description: The context's name, as C(pachctl config list context) shows it.
    type: str
    required: true
  state:
    description: Whether the context exists. pachctl cannot delete the active context, nor can this module.
    type: str
    choices: [present, absent]
    default: present
  path:
    description:
      - The config file. Defaults to E(PACH_CONFIG), else C(~/.pachyderm/config.json).
    type: path
  active:
    description:
      - V(true) makes this the active context (C(v2.active_context)); V(false) clears it if this one is
        active. Left alone when unset.
    type: bool
  active_enterprise:
    description:
      - The same for the active enterprise context (C(v2.active_enterprise_context)).
    type: bool
  pachd_address:
    description:
      - The pachd address, for example V(grpcs://pachyderm.example.com:443). Stored with scheme and port
        spelled out; with no port pachctl uses 30650, so an address through the one-port proxy must carry
        V(:80) or V(:443).
    type: str
  server_cas:
    description:
      - CA certificates pachctl trusts for this context, as PEM text or as base64 of the PEM. Stored as
        pachctl reads it (base64 of the PEM, one line). Needs a C(grpcs://) or C(https://) address.
      - V("") removes it.
    type: str
  server_cas_file:
    description: A PEM file on the target host to read O(server_cas) from.
    type: path
  session_token:
    description: The pachd session token. Never logged, masked in diffs. V("") removes it.
    type: str
  cluster_name:
    description: The Kubernetes cluster name pachctl uses to build a kube context.
    type: str
  auth_info:
    description: The Kubernetes auth info pachctl uses to build a kube context.
    type: str
  namespace:
    description: The Kubernetes namespace Pachyderm runs in.
    type: str
  cluster_deployment_id:
    description:
      - The cluster deployment ID pachctl checks on connect; pachctl fills it itself on first use when empty.
    type: str
  project:
    description: The current Pachyderm project.
    type: str
  enterprise_server:
    description: Whether the context points at an enterprise server rather than a stand-alone pachd.
    type: bool
  port_forwarders:
    description: Service name to local port, as pachctl records running port forwards. V({}) removes them.
    type: dict
  source:
    description: Where the context came from (pachctl's C(ContextSource)); V(NONE) is stored as no field.
    type: str
    choices: [NONE, CONFIG_V1, HUB, IMPORTED]
  active_transaction:
    description: The ID of pachctl's active transaction. V("") removes it.
    type: str
notes:
  - Fields left unset are not changed; a field set to its empty value is removed, as pachctl never
    writes empty fields.
  - pachctl stores an IPv6 address without brackets (C(grpc://::1:80)); so does this module.
seealso:
  - plugin: oneport.pachyderm.pachd_address
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Point pachctl at the new cluster through the one-port proxy
  oneport.pachyderm.pachctl_context:
    name: production
    pachd_address: "{{ oneport_proxy_endpoint.pachd_address }}"
    cluster_deployment_id: "{{ oneport_cluster_deployment_id }}"
    active: true

- name: A TLS context with a private CA, written for another user
  oneport.pachyderm.pachctl_context:
    name: staging
    path: /home/alice/.pachyderm/config.json
    pachd_address: "{{ 'pachyderm.example.com' | oneport.pachyderm.pachd_address(tls=true) }}"
    server_cas_file: /etc/pki/oneport/ca.pem
    session_token: "{{ vault_pachd_token }}"
    active: true
  become: true
  become_user: alice

- name: Forget an old context
  oneport.pachyderm.pachctl_context:
    name: old-cluster
    state: absent
"""

RETURN = r"""
path:
  description: The config file managed.
  returned: always
  type: str
  sample: /home/alice/.pachyderm/config.json
context:
  description: The context after the run, C(session_token) masked; null when absent.
  returned: always
  type: dict
  sample: {pachd_address: "grpcs://pachyderm.example.com:443", session_token: "********"}
active_context:
  description: C(v2.active_context) after the run.
  returned: always
  type: str
  sample: production
active_enterprise_context:
  description: C(v2.active_enterprise_context) after the run.
  returned: always
  type: str
  sample: ""
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402 - after the documentation

from ansible_collections.oneport.pachyderm.plugins.module_utils import pachctl_config  # noqa: E402

CONTEXT_OPTIONS = (
    "pachd_address",
    "server_cas",
    "session_token",
    "cluster_name",
    "auth_info",
    "namespace",
    "cluster_deployment_id",
    "project",
    "enterprise_server",
    "port_forwarders",
    "source",
    "active_transaction",
)


def main():
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "path": {"type": "path"},
            "active": {"type": "bool"},
            "active_enterprise": {"type": "bool"},
            "pachd_address": {"type": "str"},
            "server_cas": {"type": "str"},
            "server_cas_file": {"type": "path"},
            "session_token": {"type": "str", "no_log": True},
            "cluster_name": {"type": "str"},
            "auth_info": {"type": "str"},
            "namespace": {"type": "str"},
            "cluster_deployment_id": {"type": "str"},
            "project": {"type": "str"},
            "enterprise_server": {"type": "bool"},
            "port_forwarders": {"type": "dict"},
            "source": {"type": "str", "choices": list(pachctl_config.CONTEXT_SOURCES)},
            "active_transaction": {"type": "str"},
        },
        mutually_exclusive=[("server_cas", "server_cas_file")],
        supports_check_mode=True,
    )
    params = module.params
    fields = {option: params[option] for option in CONTEXT_OPTIONS}
    path = pachctl_config.config_path(params["path"])
    try:
        if params["server_cas_file"]:
            fields["server_cas"] = pachctl_config.read_file(params["server_cas_file"])
            if fields["server_cas"] is None:
                module.fail_json(msg="server_cas_file: {} does not exist".format(params["server_cas_file"]))
        if params["port_forwarders"] is not None:
            fields["port_forwarders"] = pachctl_config.port_forwarders(params["port_forwarders"])
        plan = pachctl_config.plan(
            path,
            params["name"],
            params["state"],
            fields,
            active=params["active"],
            active_enterprise=params["active_enterprise"],
        )
    except pachctl_config.ConfigError as exc:
        module.fail_json(msg=str(exc), path=path)

    mode_changed = plan.mode_changed()
    changed = plan.content_changed or mode_changed
    if changed and not module.check_mode:
        try:
            if plan.content_changed:
                pachctl_config.write_atomically(path, plan.text)
            pachctl_config.tighten_modes(path)
        except OSError as exc:
            module.fail_json(msg=f"{path} could not be written: {exc}", path=path)

    v2 = plan.after["v2"]
    result = {
        "changed": changed,
        "path": path,
        "context": plan.context(params["name"]),
        "active_context": v2.get("active_context", ""),
        "active_enterprise_context": v2.get("active_enterprise_context", ""),
    }
    if module._diff and plan.content_changed:
        result["diff"] = pachctl_config.diff(path, plan.before, plan.after)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
