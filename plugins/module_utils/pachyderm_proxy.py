# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The in-cluster one-port proxy: the collection's Envoy configuration for the Pachyderm chart's proxy pod.

Plain Python: no Ansible imports. ``inputs`` is the pachyderm role's variables without the
``pachyderm_`` prefix, as in ``pachyderm_inputs``. This module decides, once, how the chart's proxy
pod runs the collection's configuration:

- ``description(inputs)`` is the envoy_config description (the same model the edge_proxy role renders)
  for the pod the chart deploys: the ConfigMap mounted at ``/etc/envoy``, the TLS Secret at ``/tls``,
  the chart's backend Services, legacy listeners on the chart's ``*-direct`` container ports.
- ``chart_values(inputs)`` is what the chart takes as values: the proxy image (the pinned Envoy the
  configuration is validated with) and its resources (memory limit and the heap limit set together).
- ``post_render_settings(inputs)`` is what the role's post-renderer (roles/pachyderm/files/post_render.py)
  needs: the ConfigMap's files, the readiness port, Service ports and documents the chart has no value for.

Every error is a ``ValueError`` whose message names the role variable, the bad value and the fix.
"""

from __future__ import annotations

import json
import re

from ansible_collections.oneport.pachyderm.plugins.module_utils import envoy_config, envoy_model, envoy_types
from ansible_collections.oneport.pachyderm.plugins.module_utils import inputs as check
from ansible_collections.oneport.pachyderm.plugins.module_utils.inputs import InputError

PROXY_CONFIG_MODES = ("collection", "chart")

# The Envoy release the proxy image runs: the one the configuration is validated with (tools/tools.yml
# installs it for the tests, the edge_proxy role pins its binary; a unit test keeps the three equal).
ENVOY_VERSION = "1.40.0"
ENVOY_IMAGE = "envoyproxy/envoy"

# What the chart deploys (templates/proxy/*.yaml): names are fixed, not derived from the release.
CONFIG_MAP = "pachyderm-proxy-config"
DEPLOYMENT = "pachyderm-proxy"
SERVICE = "pachyderm-proxy"
CONTAINER = "envoy"
CONFIG_DIR = "/etc/envoy"  # the ConfigMap's mount; the container runs `envoy -c /etc/envoy/envoy.json`
BOOTSTRAP_FILE = "envoy.json"
TLS_DIR = "/tls"  # the TLS Secret's mount
HTTP_PORT = 8080  # container port http-port
HTTPS_PORT = 8443  # container port https-port
ADMIN_PORT = 9901
READINESS_PORT = 9902
CHECKSUM_ANNOTATION = "checksum/envoy-config"

# cert-manager's HTTP-01 solver pods carry this label and answer on this port; one Service in the
# release selects them, so the proxy routes /.well-known/acme-challenge/ to whichever solver runs.
ACME_SOLVER_SERVICE = "oneport-acme-http01-solver"
ACME_SOLVER_LABEL = ("acme.cert-manager.io/http01-solver", "true")
ACME_SOLVER_PORT = 8089

# pachyderm_legacy_ports names -> (the model's legacy service, the chart's container port name, the
# chart's key under proxy.service.legacyPorts). The chart's Service targets these container ports by
# name; the configuration listens on them. The one table of legacy ports, for the values too.
LEGACY = {
    "console": ("console", "console-direct", "console"),
    "grpc": ("grpc", "grpc-direct", "grpc"),
    "s3_gateway": ("s3", "s3-direct", "s3Gateway"),
    "oidc": ("oidc", "oidc-direct", "oidc"),
    "identity": ("identity", "identity-direct", "identity"),
    "metrics": ("metrics", "metrics-direct", "metrics"),
    "pachd_http": ("pachd_http", "archive-direct", None),
}
# Legacy ports the chart's Service has no value for: the post-renderer adds their Service ports.
LEGACY_WITHOUT_CHART_VALUE = tuple(name for name, (_service, _port, key) in LEGACY.items() if key is None)

# The heap the overload manager protects is at most this share of the container's memory limit: the
# binary, thread stacks and data arriving between two overload checks live outside it (the share
# Envoy Gateway uses).
HEAP_SHARE = 0.8
_IMAGE_REPOSITORY = re.compile(r"^[a-z0-9]+(?:[._:/-][a-z0-9]+)*$")
_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_QUANTITY = re.compile(r"^([0-9]+)(Ki|Mi|Gi|Ti|k|M|G|T)?$")
_UNITS = {
    None: 1,
    "k": 1000,
    "M": 1000**2,
    "G": 1000**3,
    "T": 1000**4,
    "Ki": 1024,
    "Mi": 1024**2,
    "Gi": 1024**3,
    "Ti": 1024**4,
}
MIB = 1024 * 1024

# Model field paths -> the role variable a user sets for them.
_FIELD_VARIABLES = (
    ("limits.", "pachyderm_proxy_limits."),
    ("timeouts.", "pachyderm_proxy_timeouts."),
    ("s3_hosts", "pachyderm_proxy_s3_hosts"),
    ("xff_num_trusted_hops", "pachyderm_proxy_xff_num_trusted_hops"),
    ("tls.hsts", "pachyderm_proxy_hsts"),
    ("acme_solver", "pachyderm_proxy_acme_solver"),
)


def _get(inputs: dict, name: str):
    # The role passes every variable; its defaults/main.yml decides each default (check.role_input).
    return check.role_input(inputs, name, "pachyderm")


def mode(inputs: dict) -> str:
    """`collection` (the collection's configuration) or `chart` (the chart's own envoy.json)."""
    value = _get(inputs, "proxy_config")
    if value not in PROXY_CONFIG_MODES:
        raise check.fail(
            "pachyderm_proxy_config",
            value,
            "a proxy configuration",
            "choose collection (the collection's Envoy configuration) or chart (the chart's own envoy.json)",
        )
    return value


def quantity_bytes(value, variable: str) -> int:
    """Bytes from a Kubernetes memory quantity (1280Mi, 2Gi, 1500M) or a whole number of bytes."""
    text = str(value).strip() if not isinstance(value, bool) else ""
    match = _QUANTITY.match(text)
    if not match or int(match.group(1)) == 0:
        raise check.fail(
            variable, value, "a memory quantity", "give one such as 1280Mi or 2Gi (or a number of bytes)"
        )
    return int(match.group(1)) * _UNITS[match.group(2)]


def _mib(number: int) -> str:
    return f"{number / MIB:.0f}Mi"


def memory(inputs: dict) -> dict:
    """The container's memory limit and the overload manager's heap limit, checked together."""
    limit = quantity_bytes(_get(inputs, "proxy_memory_limit"), "pachyderm_proxy_memory_limit")
    ceiling = int(limit * HEAP_SHARE)
    given = _get(inputs, "proxy_max_heap")
    if given in ("", 0, "0"):
        heap = ceiling
    else:
        heap = quantity_bytes(given, "pachyderm_proxy_max_heap")
        if heap > ceiling:
            raise check.refuse(
                "pachyderm_proxy_max_heap",
                given,
                f"({_mib(heap)}) is more than {int(HEAP_SHARE * 100)}% of "
                f"pachyderm_proxy_memory_limit ({_get(inputs, 'proxy_memory_limit')}, so at most "
                f"{_mib(ceiling)}), and the container would be killed before the overload manager sheds load",
                "lower it, leave it empty (80% of the limit), or raise pachyderm_proxy_memory_limit",
            )
    limits = _limits_overrides(inputs)
    defaults = envoy_types.Limits()
    windows = {
        name: limits.get(name, getattr(defaults, name))
        for name in ("stream_window_bytes", "upstream_stream_window_bytes", "buffer_bytes")
    }
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in windows.values()):
        return {"limit_bytes": limit, "heap_bytes": heap}  # the model names the bad limit
    stream_worst = (
        windows["stream_window_bytes"] + windows["upstream_stream_window_bytes"] + 2 * windows["buffer_bytes"]
    )
    if heap < 8 * stream_worst:
        needed = -(-10 * stream_worst // MIB)  # 8 streams / 0.8, in MiB, rounded up
        raise check.refuse(
            "pachyderm_proxy_memory_limit",
            _get(inputs, "proxy_memory_limit"),
            f"gives a heap ({_mib(heap)}) that holds fewer than 8 streams at their worst case "
            f"({_mib(stream_worst)} each: a full window from each side and a buffer each way)",
            f"raise it to at least {needed}Mi, or shrink pachyderm_proxy_limits.stream_window_bytes",
        )
    return {"limit_bytes": limit, "heap_bytes": heap}


def _limits_overrides(inputs: dict) -> dict:
    limits = _get(inputs, "proxy_limits") or {}
    if not isinstance(limits, dict):
        raise check.fail(
            "pachyderm_proxy_limits", limits, "a mapping", "give one such as {stream_window_bytes: 67108864}"
        )
    if "max_heap_bytes" in limits:
        raise check.refuse(
            "pachyderm_proxy_limits.max_heap_bytes",
            limits["max_heap_bytes"],
            "is set, but the heap limit follows the container's memory",
            "set pachyderm_proxy_max_heap (at most 80% of pachyderm_proxy_memory_limit) instead",
        )
    return {key: check.as_integer(value) for key, value in limits.items()}


def tls_mode(inputs: dict) -> str:
    return _get(inputs, "tls")


def legacy_ports(inputs: dict) -> dict:
    """pachyderm_legacy_ports without the closed ones (0, false): inventory name -> Service port."""
    ports = _get(inputs, "legacy_ports") or {}
    return {
        name: check.port(port, f"pachyderm_legacy_ports.{name}", closed=True)
        for name, port in ports.items()
        if port not in (0, False, "0")
    }


def acme_solver(inputs: dict):
    """Where /.well-known/acme-challenge/ goes: cert-manager's solver when oneport_tls is acme_http01."""
    given = _get(inputs, "proxy_acme_solver") or {}
    if tls_mode(inputs) != "acme_http01":
        if given:
            raise check.refuse(
                "pachyderm_proxy_acme_solver",
                given,
                f"is set but pachyderm_tls (oneport_tls) is {tls_mode(inputs)!r}, and the ACME HTTP-01 route "
                "needs an ACME issuer that solves HTTP-01",
                "set oneport_tls: acme_http01 or remove pachyderm_proxy_acme_solver",
            )
        return None
    if given and not isinstance(given, dict):
        raise check.fail(
            "pachyderm_proxy_acme_solver",
            given,
            "a mapping",
            "give {host: <Service>, port: <port>} or leave it empty for cert-manager's solver pods",
        )
    return {
        "host": given.get("host", ACME_SOLVER_SERVICE),
        "port": check.port(given.get("port", ACME_SOLVER_PORT), "pachyderm_proxy_acme_solver.port"),
    }


def _service_type(inputs: dict) -> str:
    # The proxy Service's type is decided once, in pachyderm_inputs (which imports this module).
    from ansible_collections.oneport.pachyderm.plugins.module_utils import pachyderm_inputs

    return pachyderm_inputs.service_type(inputs)


def external_https_port(inputs: dict) -> int:
    """The port clients reach HTTPS on, named in redirects: the node port on NodePort Services."""
    if _service_type(inputs) == "NodePort":
        from ansible_collections.oneport.pachyderm.plugins.module_utils import pachyderm_inputs

        return pachyderm_inputs.https_node_port(inputs)
    return 443


def description(inputs: dict) -> dict:
    """The envoy_config description of the chart's proxy pod running the collection's configuration."""
    mem = memory(inputs)
    limits = dict(_limits_overrides(inputs), max_heap_bytes=mem["heap_bytes"])
    result = {
        "node": {"id": "pachyderm-proxy", "cluster": "pachyderm-proxy"},
        "listen_address": "0.0.0.0",  # noqa: S104 - the pod's own address; the Service exposes it
        "http_port": HTTP_PORT,
        # Admin can stop the proxy and dump its configuration: loopback only (kubectl port-forward).
        "admin": {"address": "127.0.0.1", "port": ADMIN_PORT},
        # Kubelet probes this listener; it answers /ready and nothing else.
        "readiness": {"address": "0.0.0.0", "port": READINESS_PORT},  # noqa: S104
        "config_dir": CONFIG_DIR,
        "backends": {},  # the chart's pachd-proxy-backend and console-proxy-backend Services
        "xff_num_trusted_hops": check.as_integer(_get(inputs, "proxy_xff_num_trusted_hops")),
        "limits": limits,
        "timeouts": _get(inputs, "proxy_timeouts") or {},
    }
    s3_hosts = _get(inputs, "proxy_s3_hosts") or []
    if s3_hosts:
        result["s3_hosts"] = s3_hosts
    if tls_mode(inputs) != "off":
        hsts = _get(inputs, "proxy_hsts")
        result["tls"] = {
            "cert_dir": TLS_DIR,
            "https_port": HTTPS_PORT,
            "external_https_port": external_https_port(inputs),
            "hsts": hsts,
        }
    solver = acme_solver(inputs)
    if solver is not None:
        result["acme_solver"] = solver
    legacy = {}
    for name in legacy_ports(inputs):
        service = LEGACY[name][0]
        # The listener takes the chart's container port for that service; the Service maps the
        # legacy port to it by name.
        legacy[service] = envoy_types.BACKEND_PORTS[envoy_types.LEGACY_BACKENDS[service]]
    if legacy:
        result["legacy_ports"] = legacy
    return result


def _role_message(error: envoy_types.EnvoyConfigError) -> str:
    text = str(error)
    for field, variable in _FIELD_VARIABLES:
        if text.startswith(field):
            return variable + text[len(field) :]
    # Already FIELD: VALUE PROBLEM; FIX for a field of the proxy description.
    return f"{text} (in the in-cluster proxy configuration)"


def model(inputs: dict) -> envoy_types.ProxyModel:
    """The checked model; errors name the role variable."""
    try:
        return envoy_model.parse_description(description(inputs))
    except envoy_types.EnvoyConfigError as error:
        raise InputError(_role_message(error), field=error.field, value=error.value, fix=error.fix) from None


def config_files(inputs: dict) -> dict:
    """The ConfigMap's data: file name -> content (the bootstrap, and the SDS file with TLS)."""
    checked = model(inputs)
    files = {BOOTSTRAP_FILE: _json(envoy_config.translate(checked))}
    for path, content in envoy_config.secret_files(description(inputs)).items():
        files[path.rsplit("/", 1)[-1]] = content
    return dict(sorted(files.items()))


def _json(document) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def chart_values(inputs: dict) -> dict:
    """The chart's proxy values for the collection's configuration: image and resources."""
    if mode(inputs) != "collection":
        return {}
    memory(inputs)  # the heap and the memory limit are checked together
    repository = str(_get(inputs, "proxy_image")).strip()
    tag = str(_get(inputs, "proxy_image_tag")).strip() or f"distroless-v{ENVOY_VERSION}"
    if not _IMAGE_REPOSITORY.match(repository):
        raise check.fail(
            "pachyderm_proxy_image",
            repository,
            "an image repository",
            f"give one such as {ENVOY_IMAGE} or your registry's mirror of it "
            "(registry.example.com/envoyproxy/envoy), without a tag",
        )
    if not _IMAGE_TAG.match(tag):
        raise check.fail(
            "pachyderm_proxy_image_tag",
            tag,
            "an image tag",
            f"give one such as distroless-v{ENVOY_VERSION} (or leave it empty for the Envoy release the "
            "configuration is validated with)",
        )
    limit = _get(inputs, "proxy_memory_limit")
    return {
        "image": {"repository": repository, "tag": tag},
        "resources": {
            # Requests equal the memory limit: the proxy's memory is reserved, never overcommitted.
            "requests": {"cpu": str(_get(inputs, "proxy_cpu_request")), "memory": str(limit)},
            "limits": {"memory": str(limit)},
        },
    }


def post_render_settings(inputs: dict) -> dict:
    """What the post-renderer changes in the chart's proxy objects; empty in chart mode."""
    if mode(inputs) != "collection":
        return {}
    files = config_files(inputs)
    service_ports = []
    node_port = _service_type(inputs) == "NodePort"
    for name, port in sorted(legacy_ports(inputs).items()):
        if name not in LEGACY_WITHOUT_CHART_VALUE:
            continue
        entry = {"name": LEGACY[name][1], "port": port, "targetPort": LEGACY[name][1]}
        if node_port:
            entry["nodePort"] = port
        service_ports.append(entry)
    documents = []
    solver = acme_solver(inputs)
    if solver is not None and solver["host"] == ACME_SOLVER_SERVICE:
        documents.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {
                    "name": ACME_SOLVER_SERVICE,
                    "labels": {"app": "pachyderm-proxy-support", "suite": "pachyderm"},
                },
                "spec": {
                    "type": "ClusterIP",
                    "selector": {ACME_SOLVER_LABEL[0]: ACME_SOLVER_LABEL[1]},
                    "ports": [{"name": "http", "port": ACME_SOLVER_PORT, "targetPort": ACME_SOLVER_PORT}],
                },
            }
        )
    return {
        "config_map": CONFIG_MAP,
        "deployment": DEPLOYMENT,
        "service": SERVICE,
        "container": CONTAINER,
        "files": files,
        "readiness_port": READINESS_PORT,
        "service_ports": service_ports,
        "documents": documents,
    }
