"""The one-port proxy model: every bad description is refused with the field, the value and the fix."""

from __future__ import annotations

from dataclasses import asdict

import pytest
import yaml

from ansible_collections.oneport.pachyderm.plugins.module_utils.envoy_model import (
    DESCRIPTION_FIELDS,
    MIB,
    EnvoyConfigError,
    Limits,
    Timeouts,
    parse_description,
)


def refused(description) -> str:
    with pytest.raises(EnvoyConfigError) as caught:
        parse_description(description)
    return str(caught.value)


# ---------------------------------------------------------------------------------------------------
# Defaults


def test_empty_description_is_a_cleartext_proxy_on_8080_with_admin_on_loopback():
    model = parse_description({})
    assert model.tls is None
    assert (model.listen_address, model.http_port) == ("0.0.0.0", 8080)
    assert (model.admin.address, model.admin.port) == ("127.0.0.1", 9901)
    assert model.legacy == ()


def test_readiness_listens_where_the_proxy_listens_so_kubelet_reaches_it():
    model = parse_description({"listen_address": "::"})
    assert (model.readiness.address, model.readiness.port) == ("::", 9902)


def test_legacy_port_true_picks_the_well_known_number():
    model = parse_description({"legacy_ports": {"grpc": True, "s3": 31600, "console": 0, "oidc": False}})
    assert [(legacy.service, legacy.port) for legacy in model.legacy] == [("grpc", 30650), ("s3", 31600)]


def test_legacy_ports_serve_tls_when_tls_is_on_unless_legacy_tls_is_false():
    tls = {"tls": {"cert_dir": "/tls"}, "legacy_ports": {"grpc": True}}
    assert parse_description(tls).legacy[0].tls is True
    assert parse_description({**tls, "legacy_tls": False}).legacy[0].tls is False
    assert parse_description({"legacy_ports": {"grpc": True}}).legacy[0].tls is False


def test_host_names_are_lowercased_and_ips_kept():
    model = parse_description(
        {"backends": {"s3": {"host": "Pachd.Pachyderm.SVC."}, "console": {"host": "[fd00::1]"}}}
    )
    assert model.backends["s3"].host == "pachd.pachyderm.svc"
    assert model.backends["console"].host == "fd00::1"
    assert model.backends["console"].is_ip


def test_upstream_tls_sni_defaults_to_the_backend_host_name():
    model = parse_description(
        {"backends": {"console": {"host": "console.svc", "tls": {"ca_file": "/ca.crt"}}}}
    )
    assert model.backends["console"].tls.sni == "console.svc"


def test_hsts_true_means_one_year():
    model = parse_description({"tls": {"cert_dir": "/tls", "hsts": True}})
    assert model.tls.hsts.header_value == "max-age=31536000"


def test_hsts_header_spells_every_directive():
    hsts = {"max_age": 63072000, "include_subdomains": True, "preload": True}
    model = parse_description({"tls": {"cert_dir": "/tls", "hsts": hsts}})
    assert model.tls.hsts.header_value == "max-age=63072000; includeSubDomains; preload"


def test_default_heap_limit_holds_a_worst_case_connection_and_several_streams():
    limits = parse_description({}).limits
    assert limits.max_heap_bytes >= limits.connection_worst_case_bytes
    assert limits.max_heap_bytes >= 8 * limits.stream_worst_case_bytes


# ---------------------------------------------------------------------------------------------------
# Bad input: each message names the field, shows the value and says what to do


def test_description_must_be_a_mapping():
    assert "description" in refused(["http_port", 80])


def test_unknown_top_level_field_is_named_with_the_valid_ones():
    message = refused({"htp_port": 80})
    assert message.startswith("htp_port: unknown field")
    assert "http_port" in message


def test_unknown_backend_is_named():
    message = refused({"backends": {"pachd": {"host": "pachd"}}})
    assert "backends.pachd: unknown field" in message
    assert "pachd_grpc" in message


@pytest.mark.parametrize("port", [0, 65536, -1, "http", True, 1.5])
def test_port_out_of_range_names_the_field_and_value(port):
    message = refused({"backends": {"s3": {"port": port}}})
    assert message.startswith("backends.s3.port: ")
    assert repr(port) in message
    assert "1 to 65535" in message


def test_http_port_out_of_range_is_refused():
    assert refused({"http_port": 70000}).startswith("http_port: 70000 is not a port")


@pytest.mark.parametrize(
    ("host", "hint"),
    [
        ("pachd:1650", "put the port in the port field"),
        ("pachd_grpc", "DNS name"),
        ("-pachd.svc", "DNS name"),
        ("pachd..svc", "DNS name"),
        ("http://pachd", "port field"),
        ("", "DNS name"),
        ("a" * 64 + ".svc", "DNS name"),
    ],
)
def test_bad_backend_host_is_refused(host, hint):
    message = refused({"backends": {"console": {"host": host}}})
    assert message.startswith("backends.console.host: ")
    assert hint in message


def test_tls_without_certificate_directory_is_refused():
    message = refused({"tls": {"https_port": 8443}})
    assert message.startswith("tls.cert_dir: missing")


def test_tls_certificate_directory_must_be_absolute():
    assert refused({"tls": {"cert_dir": "tls"}}).startswith("tls.cert_dir: 'tls' is not valid")


def test_certificate_outside_the_watched_directory_is_refused():
    message = refused({"tls": {"cert_dir": "/etc/envoy/tls", "cert_file": "/etc/ssl/proxy.crt"}})
    assert message.startswith("tls.cert_file: '/etc/ssl/proxy.crt' is not valid")
    assert "watches that directory" in message


def test_certificate_may_be_named_absolutely_inside_the_watched_directory():
    model = parse_description({"tls": {"cert_dir": "/tls", "key_file": "/tls/private/key.pem"}})
    assert model.tls.key_path == "/tls/private/key.pem"


def test_parsing_leaves_the_description_untouched():
    description = {"tls": {"cert_dir": "/tls/", "hsts": True}, "backends": {"s3": {"host": "S3.svc"}}}
    snapshot = repr(description)
    parse_description(description)
    assert repr(description) == snapshot


def test_hsts_preload_needs_a_year_and_subdomains():
    message = refused({"tls": {"cert_dir": "/tls", "hsts": {"preload": True}}})
    assert message.startswith("tls.hsts.preload: ")
    assert "include_subdomains" in message


def test_upstream_tls_without_ca_is_refused():
    message = refused({"backends": {"console": {"tls": {"sni": "console"}}}})
    assert message.startswith("backends.console.tls.ca_file: missing")


def test_upstream_mtls_needs_both_certificate_and_key():
    message = refused({"backends": {"pachd_grpc": {"tls": {"ca_file": "/ca", "cert_file": "/c"}}}})
    assert message.startswith("backends.pachd_grpc.tls.key_file: missing")


def test_admin_beyond_loopback_is_refused():
    message = refused({"admin": {"address": "0.0.0.0"}})
    assert message.startswith("admin.address: '0.0.0.0' is not valid")
    assert "127.0.0.1" in message


def test_listen_address_must_be_an_ip():
    assert refused({"listen_address": "localhost"}).startswith("listen_address: 'localhost'")


def test_legacy_port_on_the_one_port_is_refused():
    message = refused({"legacy_ports": {"grpc": 8080}})
    assert message.startswith("legacy_ports.grpc: 8080 is not valid")
    assert "http_port already listens on port 8080" in message


def test_two_legacy_ports_on_one_port_are_refused():
    message = refused({"legacy_ports": {"grpc": 30000, "s3": 30000}})
    assert message.startswith("legacy_ports.s3: 30000")
    assert "legacy_ports.grpc" in message


def test_https_port_on_the_readiness_port_is_refused():
    message = refused({"tls": {"cert_dir": "/tls", "https_port": 9902}})
    assert message.startswith("tls.https_port: 9902")
    assert "readiness.port" in message


def test_admin_port_on_the_one_port_is_refused_because_the_wildcard_covers_loopback():
    message = refused({"admin": {"port": 8080}})
    assert message.startswith("admin.port: 8080")


def test_same_port_on_distinct_addresses_is_allowed():
    model = parse_description({"listen_address": "127.0.0.2", "admin": {"port": 8080}})
    assert model.admin.port == model.http_port


def test_route_to_unknown_backend_is_refused():
    message = refused({"routes": [{"prefix": "/x/", "backend": "dex"}]})
    assert message.startswith("routes[0].backend: 'dex' is not valid")
    assert "identity" in message


def test_route_prefix_must_be_a_path():
    assert refused({"routes": [{"prefix": "x/", "backend": "console"}]}).startswith("routes[0].prefix: 'x/'")


@pytest.mark.parametrize(
    ("prefix", "earlier"),
    [("/dex/custom", "identity"), ("/pfs_extra", "pachd-http-pfs"), ("/api/v2/", "pachd-http-api")],
)
def test_route_shadowed_by_a_built_in_prefix_is_refused(prefix, earlier):
    message = refused({"routes": [{"prefix": prefix, "backend": "console"}]})
    assert message.startswith(f"routes[0].prefix: {prefix!r}")
    assert "can never match" in message
    assert earlier in message


def test_route_shadowed_by_an_earlier_extra_route_is_refused():
    routes = [{"prefix": "/tools/", "backend": "pachd_http"}, {"prefix": "/tools/x", "backend": "metrics"}]
    message = refused({"routes": routes})
    assert message.startswith("routes[1].prefix: '/tools/x'")
    assert "extra-0" in message


def test_catch_all_extra_route_that_hides_the_console_is_refused():
    message = refused({"routes": [{"prefix": "/", "backend": "pachd_http"}]})
    assert message.startswith("routes[0].prefix: '/'")
    assert "console" in message


def test_extra_route_outside_the_built_in_prefixes_is_accepted():
    model = parse_description({"routes": [{"prefix": "/metrics", "backend": "metrics"}]})
    names = [route.name for route in model.routes()]
    assert names[-2:] == ["extra-0", "console"]


def test_duplicate_s3_host_is_refused_as_never_matching():
    message = refused({"s3_hosts": ["s3.example.com", "S3.example.com"]})
    assert message.startswith("s3_hosts[1]: 'S3.example.com'")
    assert "s3_hosts[0]" in message


def test_s3_host_covered_by_an_earlier_wildcard_is_refused():
    message = refused({"s3_hosts": ["*.s3.example.com", "data.s3.example.com"]})
    assert message.startswith("s3_hosts[1]: 'data.s3.example.com'")
    assert "can never match" in message


def test_s3_hosts_must_be_a_list_of_names():
    assert refused({"s3_hosts": "s3.example.com"}).startswith("s3_hosts: 's3.example.com'")
    assert refused({"s3_hosts": ["s3.example.com:9000"]}).startswith("s3_hosts[0]: ")


def test_connection_window_below_stream_window_is_refused():
    message = refused({"limits": {"stream_window_bytes": 8388608, "connection_window_bytes": 4194304}})
    assert message.startswith("limits.connection_window_bytes: 4194304")


def test_backend_connection_window_too_small_for_its_streams_is_refused():
    message = refused({"limits": {"upstream_max_concurrent_streams": 64}})
    assert message.startswith("limits.upstream_connection_window_bytes: 4194304")
    assert "268435456" in message  # 64 streams x 4 MiB


def test_heap_limit_too_small_for_the_windows_is_refused():
    message = refused({"limits": {"max_heap_bytes": 100 * 1024 * 1024}})
    assert message.startswith("limits.max_heap_bytes: 104857600")
    assert "shrink the windows" in message


def test_unknown_timeout_is_named():
    assert refused({"timeouts": {"stream": 60}}).startswith("timeouts.stream: unknown field")


def test_zero_timeout_is_refused_because_it_would_mean_never():
    assert refused({"timeouts": {"stream_idle": 0}}).startswith("timeouts.stream_idle: 0")


def test_xff_hops_are_bounded():
    assert refused({"xff_num_trusted_hops": -1}).startswith("xff_num_trusted_hops: -1")


def test_acme_solver_needs_host_and_port():
    assert refused({"acme_solver": {"host": "solver"}}).startswith("acme_solver: ")


# ---------------------------------------------------------------------------------------------------
# docs/envoy.md speaks of the model as it is


def documented_description(repo_root) -> dict:
    text = (repo_root / "docs" / "envoy.md").read_text()
    section = text[text.index("## The description") :]
    block = section[
        section.index("```yaml") + len("```yaml") : section.index("```", section.index("```yaml") + 7)
    ]
    return yaml.safe_load(block)


def test_documented_description_is_valid(repo_root):
    model = parse_description(documented_description(repo_root))
    assert model.tls is not None
    assert len(model.legacy) == 7


def test_documented_description_names_every_field_and_default(repo_root):
    documented = documented_description(repo_root)
    assert set(documented) == set(DESCRIPTION_FIELDS)
    assert documented["limits"] == asdict(Limits())
    assert documented["timeouts"] == asdict(Timeouts())


def test_documented_worst_case_memory_is_the_models(repo_root):
    text = (repo_root / "docs" / "envoy.md").read_text()
    limits = Limits()
    assert f"**{limits.stream_worst_case_bytes // MIB} MiB**" in text
    assert f"**{limits.connection_worst_case_bytes // MIB} MiB**" in text
