"""Every variant of the one-port bootstrap the tests render passes the pinned Envoy's validate mode.

`envoy --mode validate` loads the whole configuration as a server would (listeners, clusters, the SDS
file and the certificate files it names, regexes) without binding ports or connecting to backends.
The certificates come from the test CA of the harness; they only have to be real PEM files.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.certs import TestCA
from support.envoy import validate

from ansible_collections.oneport.pachyderm.plugins.module_utils.envoy_config import (
    render_bootstrap,
    secret_files,
)

LOOPBACK_BACKENDS = {
    name: {"host": "127.0.0.1"}
    for name in ("pachd_grpc", "s3", "oidc", "identity", "pachd_http", "metrics", "console")
}
ALL_LEGACY = dict.fromkeys(("grpc", "s3", "oidc", "identity", "metrics", "console", "pachd_http"), True)


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Path:
    """tls.crt/tls.key (served), ca.crt (trusted for backends), client.crt/client.key (mTLS)."""
    directory = tmp_path_factory.mktemp("certs")
    ca = TestCA()
    ca.write_ca(directory)
    for stem, name in (("tls", "proxy.example.com"), ("client", "proxy-client")):
        cert_pem, key_pem, _serial = ca.issue(names=(name,), ips=())
        (directory / f"{stem}.crt").write_bytes(cert_pem)
        (directory / f"{stem}.key").write_bytes(key_pem)
        (directory / f"{stem}.key").chmod(0o600)
    return directory


def variants(certs: Path) -> dict:
    tls = {"cert_dir": str(certs)}
    upstream_tls = {"ca_file": str(certs / "ca.crt")}
    mtls = {**upstream_tls, "cert_file": str(certs / "client.crt"), "key_file": str(certs / "client.key")}
    return {
        "cleartext defaults (DNS backends)": {},
        "cleartext, IP backends": {"backends": LOOPBACK_BACKENDS},
        "cleartext, explicit DNS backends": {
            "backends": {"pachd_grpc": {"host": "pachd.pachyderm.svc.cluster.local", "port": 30650}}
        },
        "tls": {"tls": tls},
        "tls, hsts, acme": {
            "tls": {**tls, "hsts": {"max_age": 63072000, "include_subdomains": True, "preload": True}},
            "acme_solver": {"host": "cm-acme-http-solver-abcde", "port": 8089},
        },
        "tls on a node port": {"tls": {**tls, "https_port": 30443, "external_https_port": 30443}},
        "cleartext with acme": {"acme_solver": {"host": "10.0.0.7", "port": 8089}},
        "legacy ports, cleartext": {"legacy_ports": ALL_LEGACY},
        "legacy ports, tls": {"tls": tls, "legacy_ports": ALL_LEGACY},
        "legacy ports, cleartext beside tls": {"tls": tls, "legacy_ports": ALL_LEGACY, "legacy_tls": False},
        "s3 hosts": {"s3_hosts": ["s3.example.com", "*.s3.my-cluster.example.org"]},
        "upstream tls and mtls": {
            "backends": {
                "pachd_grpc": {"host": "pachd.internal", "tls": mtls},
                "console": {"host": "127.0.0.1", "tls": {**upstream_tls, "sni": "console.internal"}},
                "s3": {"tls": upstream_tls},
            }
        },
        "ipv6": {
            "listen_address": "::",
            "admin": {"address": "::1"},
            "backends": {"s3": {"host": "fd00::10"}},
        },
        "extra routes": {
            "routes": [{"prefix": "/metrics", "backend": "metrics"}, {"prefix": "/x/", "backend": "console"}]
        },
        "tuned": {
            "node": {"id": "edge-1", "cluster": "edge"},
            "xff_num_trusted_hops": 2,
            "limits": {
                "stream_window_bytes": 268435456,
                "connection_window_bytes": 268435456,
                "max_heap_bytes": 2**33,
            },
            "timeouts": {"stream_idle": 300, "request_headers": 5},
        },
    }


VARIANT_NAMES = list(variants(Path("/")).keys())


@pytest.mark.parametrize("name", VARIANT_NAMES)
def test_rendered_bootstrap_passes_envoy_validate(name, certs, tmp_path):
    description = {**variants(certs)[name], "config_dir": str(tmp_path)}
    for path, content in secret_files(description).items():
        Path(path).write_text(content)
    config = tmp_path / "envoy.json"
    config.write_text(json.dumps(render_bootstrap(description), indent=2))

    result = validate(config, "-l", "warning")

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"configuration '{config}' OK" in output
    assert "][warning][" not in output, output  # no deprecated field, no risky default flagged


def test_validate_rejects_tls_when_the_sds_file_is_missing(certs, tmp_path):
    """The validate mode really reads the SDS file, so the TLS variants above prove it is complete."""
    config = tmp_path / "envoy.json"
    config.write_text(
        json.dumps(render_bootstrap({"tls": {"cert_dir": str(certs)}, "config_dir": str(tmp_path)}))
    )

    result = validate(config)

    assert result.returncode != 0
    assert "sds-tls.json" in result.stdout + result.stderr
