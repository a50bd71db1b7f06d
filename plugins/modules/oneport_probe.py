#!/usr/bin/python
# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Thin module face over module_utils/oneport_probe.py."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: oneport_probe
short_description: Probe Pachyderm's one port the way users hit it
version_added: 1.0.0
description:
  - Sends the calls users make to the one port of a Pachyderm deployment and reports a table, one row per
    probe, saying what answered.
  - C(grpc) calls C(grpc.health.v1.Health/Check) over h2c, or TLS verified with O(ca_file).
  - C(console) expects C(GET /) to answer 200 with an HTML page.
  - C(s3) sends a SigV4 header-signed C(ListBuckets) and expects an S3 XML document (a bucket list or an
    C(<Error><Code>)), proving the S3 gateway answered and not the console.
  - C(s3_presigned) does the same with a presigned (query-signed) URL. It is not in the default list
    because the proxy of Pachyderm's chart routes S3 by the C(Authorization) header only, so presigned
    URLs reach the console there.
  - C(dex) expects C(/dex/.well-known/openid-configuration) to be JSON with an C(issuer).
  - C(pachctl) runs C(pachctl version) through the given context; the row is C(skipped) when pachctl is
    not installed.
  - Fails, after running every probe, when any probe failed; the message names the failed probes and why.
  - Probes only read, so check mode runs them too.
author:
  - oneport.pachyderm contributors (@oneport)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
requirements:
  - grpcio and grpcio-health-checking (for the grpc probe)
  - botocore (for the s3 probes)
options:
  endpoint:
    description:
      - The one port, as a URL (V(http://10.0.0.5:80), V(https://pachyderm.example.com), V(grpc://...),
        V(grpcs://...)), or the C(oneport_proxy_endpoint) fact the pachyderm role publishes (a dict with
        C(address), C(scheme) and C(port)).
    type: raw
    required: true
  ca_file:
    description:
      - PEM file of the CA that signed the proxy's certificate (self-signed sites). Empty uses the system
        trust store.
    type: path
    default: ""
  ca_pem:
    description:
      - PEM text of the CA that signed the proxy's certificate, trusted in addition to O(ca_file).
    type: str
    default: ""
  server_name:
    description:
      - The TLS server name and C(Host) header to send, when O(endpoint) is an IP address but the
        certificate is issued for a DNS name.
    type: str
    default: ""
  probes:
    description:
      - The probes to run; the table keeps the order of the choices.
    type: list
    elements: str
    choices: [grpc, console, s3, s3_presigned, dex, pachctl]
    default: [grpc, console, s3, dex, pachctl]
  s3_access_key:
    description:
      - Access key for the S3 probes. Empty sends dummy credentials, which the gateway answers with an S3
        error document; that still proves the gateway answered.
    type: str
    default: ""
  s3_secret_key:
    description:
      - Secret key for the S3 probes.
    type: str
    default: ""
  s3_region:
    description:
      - Region used in the SigV4 signature.
    type: str
    default: us-east-1
  pachctl_binary:
    description:
      - The pachctl executable (a name looked up on C(PATH), or a path).
    type: str
    default: pachctl
  pachctl_context:
    description:
      - The pachctl context to use (C(PACH_CONTEXT)); empty uses the active context.
    type: str
    default: ""
  pachctl_config:
    description:
      - The pachctl configuration file (C(PACH_CONFIG)); empty uses pachctl's default.
    type: path
    default: ""
  timeout:
    description:
      - Seconds each probe waits for an answer.
    type: float
    default: 10
attributes:
  check_mode:
    support: full
    details: the probes only read, so they run in check mode too.
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Probe the one port published by the pachyderm role
  oneport.pachyderm.oneport_probe:
    endpoint: "{{ oneport_proxy_endpoint }}"

- name: Probe a self-signed TLS endpoint by IP, including presigned S3 URLs
  oneport.pachyderm.oneport_probe:
    endpoint: https://192.0.2.10:443
    server_name: pachyderm.example.com
    ca_file: /etc/oneport/ca.crt
    probes: [grpc, console, s3, s3_presigned, dex]
"""

RETURN = r"""
probes:
  description: One entry per probe, in table order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The probe.
      type: str
      sample: s3
    status:
      description: V(ok), V(failed) or V(skipped).
      type: str
      sample: ok
    target:
      description: What the probe called.
      type: str
      sample: http://192.0.2.10:80/
    detail:
      description: What answered, or why the probe failed.
      type: str
      sample: HTTP 403 S3 error InvalidAccessKeyId
table:
  description: The results as aligned text lines, a header first.
  returned: always
  type: list
  elements: str
  sample:
    - "PROBE    STATUS  TARGET                 DETAIL"
    - "grpc     ok      192.0.2.10:80          grpc.health.v1 SERVING"
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib  # noqa: E402

from ansible_collections.oneport.pachyderm.plugins.module_utils import oneport_probe as model  # noqa: E402


def main():
    module = AnsibleModule(
        argument_spec={
            "endpoint": {"type": "raw", "required": True},
            "ca_file": {"type": "path", "default": ""},
            "ca_pem": {"type": "str", "default": ""},
            "server_name": {"type": "str", "default": ""},
            "probes": {
                "type": "list",
                "elements": "str",
                "choices": list(model.ALL_PROBES),
                "default": list(model.DEFAULT_PROBES),
            },
            "s3_access_key": {"type": "str", "default": "", "no_log": True},
            "s3_secret_key": {"type": "str", "default": "", "no_log": True},
            "s3_region": {"type": "str", "default": "us-east-1"},
            "pachctl_binary": {"type": "str", "default": "pachctl"},
            "pachctl_context": {"type": "str", "default": ""},
            "pachctl_config": {"type": "path", "default": ""},
            "timeout": {"type": "float", "default": 10},
        },
        supports_check_mode=True,
    )
    params = module.params
    probes = params["probes"]
    if "grpc" in probes and model.GRPC_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("grpcio"), exception=model.GRPC_IMPORT_ERROR)
    if {"s3", "s3_presigned"} & set(probes) and model.BOTOCORE_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("botocore"), exception=model.BOTOCORE_IMPORT_ERROR)
    try:
        url = params["endpoint"]
        if isinstance(url, dict):
            url = model.endpoint_from_fact(url)
        endpoint = model.parse_endpoint(
            url, params["ca_file"], params["server_name"], params["timeout"], params["ca_pem"]
        )
        results = model.run_probes(
            endpoint,
            probes,
            s3_access_key=params["s3_access_key"],
            s3_secret_key=params["s3_secret_key"],
            s3_region=params["s3_region"],
            pachctl_binary=params["pachctl_binary"],
            pachctl_context=params["pachctl_context"],
            pachctl_config=params["pachctl_config"],
        )
    except model.ProbeInputError as exc:
        module.fail_json(msg=str(exc))
    table = model.format_table(results)
    output = {"changed": False, "probes": [r.as_dict() for r in results], "table": table}
    failed = [r for r in results if not r.ok]
    if failed:
        module.fail_json(
            msg=f"{len(failed)} of {len(results)} probes failed: {model.failure_summary(results)}\n"
            + "\n".join(table),
            **output,
        )
    module.exit_json(**output)


if __name__ == "__main__":
    main()
