"""Rendering decisions of the one-port Envoy bootstrap, read from the rendered dict."""

from __future__ import annotations

import json
import re

import pytest

from ansible_collections.oneport.pachyderm.plugins.module_utils.envoy_config import (
    GRPC_TLS_REQUIRED_MESSAGE,
    EnvoyConfigError,
    parse_description,
    render_bootstrap,
    secret_files,
)

TLS = {"cert_dir": "/etc/envoy/tls"}


def listener(bootstrap, name):
    for item in bootstrap["static_resources"]["listeners"]:
        if item["name"] == name:
            return item
    raise AssertionError(
        f"no listener {name}: {[i['name'] for i in bootstrap['static_resources']['listeners']]}"
    )


def hcm(item):
    return item["filter_chains"][0]["filters"][0]["typed_config"]


def routes(item):
    return hcm(item)["route_config"]["virtual_hosts"][0]["routes"]


def route(item, name):
    return next(r for r in routes(item) if r["name"] == name)


def cluster(bootstrap, name):
    return next(c for c in bootstrap["static_resources"]["clusters"] if c["name"] == name)


def socket_address(item):
    return item["address"]["socket_address"]


def all_hcms(bootstrap):
    return [hcm(item) for item in bootstrap["static_resources"]["listeners"] if item["name"] != "readiness"]


# ---------------------------------------------------------------------------------------------------
# Parity with Pachyderm's own proxy config (read from the chart's envoy.json)


@pytest.fixture(scope="module")
def chart_envoy(reference_dir):
    return json.loads((reference_dir / "pachyderm" / "envoy.json").read_text())


def chart_one_port_routes(chart_envoy):
    item = next(i for i in chart_envoy["static_resources"]["listeners"] if i["name"] == "proxy-http")
    return routes(item)


def test_default_backends_are_the_charts_clusters_hosts_and_ports(chart_envoy):
    def endpoints(bootstrap):
        result = {}
        for c in bootstrap["static_resources"]["clusters"]:
            address = c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
            result[c["name"]] = (
                address["socket_address"]["address"],
                address["socket_address"]["port_value"],
            )
        return result

    assert endpoints(render_bootstrap({})) == endpoints(chart_envoy)


def test_every_chart_route_is_kept_in_the_charts_order_with_the_same_backend(chart_envoy):
    def key(r):
        match = dict(r["match"])
        return json.dumps(match, sort_keys=True), r["route"]["cluster"]

    ours = [key(r) for r in routes(listener(render_bootstrap({}), "http"))]
    theirs = [key(r) for r in chart_one_port_routes(chart_envoy)]
    positions = [ours.index(k) for k in theirs]
    assert positions == sorted(positions)


def test_every_chart_tls_route_is_kept_on_our_https_port(reference_dir):
    chart = json.loads((reference_dir / "pachyderm" / "envoy-tls.json").read_text())
    chart_https = next(i for i in chart["static_resources"]["listeners"] if i["name"] == "proxy-https")

    def key(r):
        return json.dumps(r["match"], sort_keys=True), r["route"]["cluster"]

    ours = [key(r) for r in routes(listener(render_bootstrap({"tls": TLS}), "https"))]
    positions = [ours.index(key(r)) for r in routes(chart_https)]
    assert positions == sorted(positions)


def test_the_chart_sends_presigned_urls_to_the_console_and_we_send_them_to_s3(chart_envoy):
    presigned = {"X-Amz-Algorithm", "AWSAccessKeyId"}
    chart_query_routes = [r for r in chart_one_port_routes(chart_envoy) if "query_parameters" in r["match"]]
    assert chart_query_routes == []
    ours = routes(listener(render_bootstrap({}), "http"))
    query_routes = {
        r["match"]["query_parameters"][0]["name"]: r["route"]["cluster"]
        for r in ours
        if "query_parameters" in r["match"]
    }
    assert query_routes == dict.fromkeys(presigned, "pachd-s3")


def test_the_charts_pachd_http_prefixes_are_ours(chart_envoy):
    def prefixes(rs):
        return [r["match"]["prefix"] for r in rs if r.get("route", {}).get("cluster") == "pachd-http"]

    assert prefixes(routes(listener(render_bootstrap({}), "http"))) == prefixes(
        chart_one_port_routes(chart_envoy)
    )


# ---------------------------------------------------------------------------------------------------
# The one port


def test_one_port_route_order():
    names = [r["name"] for r in routes(listener(render_bootstrap({"s3_hosts": ["s3.example.com"]}), "http"))]
    assert names == [
        "grpc",
        "s3-sigv4",
        "s3-sigv2",
        "s3-presigned-v4",
        "s3-presigned-v2",
        "s3-host",
        "identity",
        "oidc-callback",
        "pachd-http-archive",
        "pachd-http-jsonschema",
        "pachd-http-pfs",
        "pachd-http-api",
        "console",
    ]


def test_grpc_is_matched_by_content_type():
    assert route(listener(render_bootstrap({}), "http"), "grpc")["match"] == {"prefix": "/", "grpc": {}}


def test_s3_is_matched_by_sigv4_and_sigv2_authorization():
    item = listener(render_bootstrap({}), "http")
    assert route(item, "s3-sigv4")["match"]["headers"] == [
        {"name": "authorization", "string_match": {"prefix": "AWS4-HMAC-SHA256"}}
    ]
    assert route(item, "s3-sigv2")["match"]["headers"] == [
        {"name": "authorization", "string_match": {"prefix": "AWS "}}
    ]


@pytest.mark.parametrize(
    ("authority", "matches"),
    [
        ("s3.example.com", True),
        ("S3.Example.COM:8080", True),
        ("bucket.s3.example.org", True),
        ("a.b.s3.example.org:443", True),
        ("s3.example.org", False),
        ("evil-s3.example.com", False),
        ("s3.example.com.evil", False),
        ("s3xexample.com", False),
    ],
)
def test_s3_host_route_matches_the_names_with_any_port_and_case(authority, matches):
    item = listener(render_bootstrap({"s3_hosts": ["s3.example.com", "*.s3.example.org"]}), "http")
    header = route(item, "s3-host")["match"]["headers"][0]
    assert header["name"] == ":authority"
    regex = header["string_match"]["safe_regex"]["regex"]
    assert bool(re.match(regex, authority)) is matches


def test_console_is_the_catch_all_with_websockets():
    console = routes(listener(render_bootstrap({}), "http"))[-1]
    assert console["match"] == {"prefix": "/"}
    assert console["route"]["cluster"] == "console"
    assert console["route"]["upgrade_configs"] == [{"upgrade_type": "websocket"}]


@pytest.mark.parametrize("name", ["grpc", "s3-sigv4", "s3-presigned-v4", "pachd-http-pfs", "console"])
def test_streaming_routes_have_no_total_timeout(name):
    assert route(listener(render_bootstrap({}), "http"), name)["route"]["timeout"] == "0s"


def test_idle_streams_are_still_reclaimed():
    item = listener(render_bootstrap({}), "http")
    assert route(item, "grpc")["route"]["idle_timeout"] == "3600s"
    assert route(item, "s3-sigv4")["route"]["idle_timeout"] == "900s"
    assert hcm(item)["stream_idle_timeout"] == "900s"


def test_short_auth_requests_keep_a_total_timeout():
    item = listener(render_bootstrap({"timeouts": {"auth_request": 30}}), "http")
    assert route(item, "identity")["route"]["timeout"] == "30s"
    assert route(item, "oidc-callback")["route"]["timeout"] == "30s"


def test_slow_headers_are_cut_and_whole_requests_never():
    manager = hcm(listener(render_bootstrap({}), "http"))
    assert manager["request_headers_timeout"] == "10s"
    assert manager["request_timeout"] == "0s"
    assert manager["max_request_headers_kb"] == 96


def test_paths_reach_backends_byte_for_byte_on_every_listener():
    bootstrap = render_bootstrap({"tls": TLS, "legacy_ports": {"s3": True, "grpc": True}})
    for manager in all_hcms(bootstrap):
        assert manager["normalize_path"] is False
        assert manager["merge_slashes"] is False
        assert manager["path_with_escaped_slashes_action"] == "KEEP_UNCHANGED"


def test_underscored_headers_are_rejected_and_client_address_is_the_peer():
    for manager in all_hcms(render_bootstrap({"xff_num_trusted_hops": 2, "legacy_ports": {"s3": True}})):
        assert manager["common_http_protocol_options"]["headers_with_underscores_action"] == "REJECT_REQUEST"
        assert manager["use_remote_address"] is True
        assert manager["xff_num_trusted_hops"] == 2


def test_retries_only_when_the_backend_never_saw_the_request():
    for manager in all_hcms(render_bootstrap({"legacy_ports": {"s3": True}})):
        policy = manager["route_config"]["virtual_hosts"][0]["retry_policy"]
        assert set(policy["retry_on"].split(",")) == {"connect-failure", "refused-stream"}


def test_access_log_is_json_on_stdout_with_the_pachctl_command():
    log = hcm(listener(render_bootstrap({}), "http"))["access_log"][0]
    assert log["typed_config"]["@type"].endswith("StdoutAccessLog")
    fields = log["typed_config"]["log_format"]["json_format"]
    assert fields["pachctl_command"].startswith("%REQ(COMMAND)")
    assert fields["route"] == "%ROUTE_NAME%"
    assert fields["listener"] == "http"


def test_http2_windows_come_from_the_limits():
    manager = hcm(listener(render_bootstrap({"limits": {"stream_window_bytes": 8388608}}), "http"))
    options = manager["http2_protocol_options"]
    assert options["initial_stream_window_size"] == 8388608
    assert options["initial_connection_window_size"] == 128 * 1024 * 1024
    assert options["max_concurrent_streams"] == 100


def test_http2_windows_fill_a_gigabit_at_sixty_milliseconds_by_default():
    window = hcm(listener(render_bootstrap({}), "http"))["http2_protocol_options"][
        "initial_stream_window_size"
    ]
    bandwidth_delay_product = 1e9 / 8 * 0.060
    assert window >= bandwidth_delay_product


def test_extra_route_goes_before_the_console():
    item = listener(render_bootstrap({"routes": [{"prefix": "/metrics", "backend": "metrics"}]}), "http")
    assert [r["name"] for r in routes(item)][-2:] == ["extra-0", "console"]
    assert route(item, "extra-0")["route"]["cluster"] == "pachd-metrics"


def test_acme_challenge_goes_first_on_a_cleartext_port():
    bootstrap = render_bootstrap({"acme_solver": {"host": "solver", "port": 8089}})
    first = routes(listener(bootstrap, "http"))[0]
    assert first["match"] == {"prefix": "/.well-known/acme-challenge/"}
    assert first["route"]["cluster"] == "acme-solver"
    assert cluster(bootstrap, "acme-solver")["load_assignment"]["cluster_name"] == "acme-solver"


# ---------------------------------------------------------------------------------------------------
# TLS


def test_tls_serves_the_one_port_routes_on_the_https_port():
    bootstrap = render_bootstrap({"tls": {**TLS, "https_port": 9443}})
    https = listener(bootstrap, "https")
    assert socket_address(https)["port_value"] == 9443
    assert routes(https)[0]["name"] == "grpc"


def test_tls_is_1_2_or_newer_with_h2_and_http1():
    context = listener(render_bootstrap({"tls": TLS}), "https")["filter_chains"][0]["transport_socket"]
    common = context["typed_config"]["common_tls_context"]
    assert common["tls_params"]["tls_minimum_protocol_version"] == "TLSv1_2"
    assert common["alpn_protocols"] == ["h2", "http/1.1"]


def test_certificate_comes_through_a_watched_sds_file():
    bootstrap = render_bootstrap({"tls": TLS, "config_dir": "/run/envoy"})
    context = listener(bootstrap, "https")["filter_chains"][0]["transport_socket"]["typed_config"]
    sds = context["common_tls_context"]["tls_certificate_sds_secret_configs"][0]
    assert sds["sds_config"]["path_config_source"] == {
        "path": "/run/envoy/sds-tls.json",
        "watched_directory": {"path": "/run/envoy"},
    }


def test_sds_file_names_the_certificate_and_watches_its_directory():
    files = secret_files({"tls": TLS, "config_dir": "/run/envoy"})
    assert list(files) == ["/run/envoy/sds-tls.json"]
    resource = json.loads(files["/run/envoy/sds-tls.json"])["resources"][0]
    certificate = resource["tls_certificate"]
    assert certificate["certificate_chain"] == {"filename": "/etc/envoy/tls/tls.crt"}
    assert certificate["private_key"] == {"filename": "/etc/envoy/tls/tls.key"}
    assert certificate["watched_directory"] == {"path": "/etc/envoy/tls"}


def test_sds_resource_name_matches_the_listeners_reference():
    bootstrap = render_bootstrap({"tls": TLS})
    context = listener(bootstrap, "https")["filter_chains"][0]["transport_socket"]["typed_config"]
    wanted = context["common_tls_context"]["tls_certificate_sds_secret_configs"][0]["name"]
    content = next(iter(secret_files({"tls": TLS}).values()))
    assert json.loads(content)["resources"][0]["name"] == wanted


def test_no_secret_files_without_tls():
    assert secret_files({}) == {}


def test_hsts_header_is_set_on_the_https_port_only():
    bootstrap = render_bootstrap({"tls": {**TLS, "hsts": {"max_age": 600}}})
    header = hcm(listener(bootstrap, "https"))["route_config"]["response_headers_to_add"][0]["header"]
    assert header == {"key": "strict-transport-security", "value": "max-age=600"}
    assert "response_headers_to_add" not in hcm(listener(bootstrap, "http"))["route_config"]


def test_no_hsts_unless_asked():
    assert (
        "response_headers_to_add"
        not in hcm(listener(render_bootstrap({"tls": TLS}), "https"))["route_config"]
    )


def test_cleartext_port_with_tls_redirects_to_https_with_301():
    redirect = route(listener(render_bootstrap({"tls": TLS}), "http"), "https-redirect")
    assert redirect["redirect"] == {"https_redirect": True, "response_code": "MOVED_PERMANENTLY"}


def test_redirect_keeps_a_non_default_external_https_port():
    bootstrap = render_bootstrap({"tls": {**TLS, "external_https_port": 30443}})
    assert route(listener(bootstrap, "http"), "https-redirect")["redirect"]["port_redirect"] == 30443


def test_redirect_drops_the_cleartext_port_from_the_host():
    assert hcm(listener(render_bootstrap({"tls": TLS}), "http"))["strip_any_host_port"] is True


def test_grpc_on_the_cleartext_port_gets_a_clear_error_not_a_redirect():
    item = listener(render_bootstrap({"tls": TLS}), "http")
    grpc = route(item, "grpc-tls-required")
    assert grpc["match"] == {"prefix": "/", "grpc": {}}
    assert grpc["direct_response"]["status"] == 503
    assert "grpcs://" in grpc["direct_response"]["body"]["inline_string"]
    assert [r["name"] for r in routes(item)] == ["grpc-tls-required", "https-redirect"]


def test_acme_challenge_passes_the_redirect_on_the_cleartext_port():
    bootstrap = render_bootstrap({"tls": TLS, "acme_solver": {"host": "10.0.0.9", "port": 8089}})
    assert [r["name"] for r in routes(listener(bootstrap, "http"))] == [
        "acme-challenge",
        "grpc-tls-required",
        "https-redirect",
    ]
    assert cluster(bootstrap, "acme-solver")["type"] == "STATIC"


def test_grpc_error_message_names_the_external_https_port():
    assert "(443)" in GRPC_TLS_REQUIRED_MESSAGE.format(port=443)


# ---------------------------------------------------------------------------------------------------
# Legacy ports


def legacy_clusters(item):
    return {r["route"]["cluster"] for r in routes(item)}


@pytest.mark.parametrize(
    ("service", "cluster_name"),
    [
        ("grpc", "pachd-grpc"),
        ("s3", "pachd-s3"),
        ("oidc", "pachd-oidc"),
        ("identity", "pachd-identity"),
        ("metrics", "pachd-metrics"),
        ("console", "console"),
        ("pachd_http", "pachd-http"),
    ],
)
def test_each_legacy_listener_carries_only_its_own_service(service, cluster_name):
    item = listener(render_bootstrap({"legacy_ports": {service: True}}), f"legacy-{service}")
    assert legacy_clusters(item) == {cluster_name}
    assert routes(item)[0]["match"] == {"prefix": "/"}


def test_legacy_listeners_are_cleartext_without_tls():
    item = listener(render_bootstrap({"legacy_ports": {"grpc": 30650}}), "legacy-grpc")
    assert socket_address(item)["port_value"] == 30650
    assert "transport_socket" not in item["filter_chains"][0]


def test_legacy_listeners_serve_tls_when_tls_is_on():
    item = listener(render_bootstrap({"tls": TLS, "legacy_ports": {"s3": True}}), "legacy-s3")
    assert item["filter_chains"][0]["transport_socket"]["name"] == "envoy.transport_sockets.tls"


def test_legacy_listeners_stay_cleartext_with_legacy_tls_false():
    bootstrap = render_bootstrap({"tls": TLS, "legacy_ports": {"s3": True}, "legacy_tls": False})
    assert "transport_socket" not in listener(bootstrap, "legacy-s3")["filter_chains"][0]


def test_legacy_console_keeps_websockets():
    item = listener(render_bootstrap({"legacy_ports": {"console": True}}), "legacy-console")
    assert routes(item)[0]["route"]["upgrade_configs"] == [{"upgrade_type": "websocket"}]


# ---------------------------------------------------------------------------------------------------
# Admin, readiness, node, overload


def test_admin_listens_on_loopback():
    assert render_bootstrap({})["admin"]["address"]["socket_address"] == {
        "address": "127.0.0.1",
        "port_value": 9901,
    }


def test_readiness_listener_answers_ready_from_the_health_check_filter():
    item = listener(render_bootstrap({"readiness": {"port": 9000}}), "readiness")
    assert socket_address(item)["port_value"] == 9000
    health = hcm(item)["http_filters"][0]["typed_config"]
    assert health["pass_through_mode"] is False
    assert health["headers"] == [{"name": ":path", "string_match": {"exact": "/ready"}}]


def test_node_id_and_cluster_are_set():
    assert render_bootstrap({"node": {"id": "edge-1", "cluster": "edge"}})["node"] == {
        "id": "edge-1",
        "cluster": "edge",
    }


def test_dual_stack_listen_address_accepts_ipv4_too():
    assert socket_address(listener(render_bootstrap({"listen_address": "::"}), "http"))["ipv4_compat"] is True


def test_overload_manager_protects_the_configured_heap():
    manager = render_bootstrap({"limits": {"max_heap_bytes": 2**31}})["overload_manager"]
    heap = next(m for m in manager["resource_monitors"] if m["name"].endswith("fixed_heap"))
    assert heap["typed_config"]["max_heap_size_bytes"] == 2**31
    actions = [a["name"].rsplit(".", 1)[1] for a in manager["actions"]]
    assert actions == [
        "shrink_heap",
        "disable_http_keepalive",
        "reset_high_memory_stream",
        "stop_accepting_requests",
    ]


def test_downstream_connections_are_capped():
    manager = render_bootstrap({"limits": {"max_connections": 1234}})["overload_manager"]
    monitor = next(m for m in manager["resource_monitors"] if "downstream" in m["name"])
    assert monitor["typed_config"]["max_active_downstream_connections"] == 1234


# ---------------------------------------------------------------------------------------------------
# Clusters


def test_dns_names_are_strict_dns_and_ips_static():
    bootstrap = render_bootstrap({"backends": {"s3": {"host": "10.1.2.3"}}})
    assert cluster(bootstrap, "pachd-s3")["type"] == "STATIC"
    assert cluster(bootstrap, "pachd-grpc")["type"] == "STRICT_DNS"


def test_grpc_backend_is_http2_with_keepalive_pings():
    options = cluster(render_bootstrap({}), "pachd-grpc")["typed_extension_protocol_options"]
    http2 = next(iter(options.values()))["explicit_http_config"]["http2_protocol_options"]
    assert http2["connection_keepalive"] == {"interval": "30s", "timeout": "10s"}


def test_backend_connection_window_covers_every_stream_on_it():
    options = cluster(render_bootstrap({}), "pachd-grpc")["typed_extension_protocol_options"]
    http2 = next(iter(options.values()))["explicit_http_config"]["http2_protocol_options"]
    streams = http2["max_concurrent_streams"]
    assert http2["initial_connection_window_size"] >= streams * http2["initial_stream_window_size"]


def test_console_backend_is_http1_for_websocket_upgrades():
    options = cluster(render_bootstrap({}), "console")["typed_extension_protocol_options"]
    assert next(iter(options.values()))["explicit_http_config"] == {"http_protocol_options": {}}


def test_every_backend_has_circuit_breakers_and_a_short_connect_timeout():
    for item in render_bootstrap({"limits": {"backend_max_requests": 777}})["static_resources"]["clusters"]:
        assert item["connect_timeout"] == "5s"
        assert item["circuit_breakers"]["thresholds"][0]["max_requests"] == 777


def test_upstream_tls_verifies_the_backend_and_speaks_h2_to_pachd():
    tls = {"ca_file": "/ca.crt", "cert_file": "/c.crt", "key_file": "/c.key", "sni": "pachd.internal"}
    item = cluster(render_bootstrap({"backends": {"pachd_grpc": {"tls": tls}}}), "pachd-grpc")
    typed = item["transport_socket"]["typed_config"]
    assert typed["sni"] == "pachd.internal"
    common = typed["common_tls_context"]
    assert common["validation_context"]["trusted_ca"] == {"filename": "/ca.crt"}
    assert common["validation_context"]["match_typed_subject_alt_names"][0]["matcher"] == {
        "exact": "pachd.internal"
    }
    assert common["tls_certificates"][0]["private_key"] == {"filename": "/c.key"}
    assert common["alpn_protocols"] == ["h2"]


def test_upstream_tls_without_client_certificate_is_one_way():
    item = cluster(render_bootstrap({"backends": {"console": {"tls": {"ca_file": "/ca.crt"}}}}), "console")
    common = item["transport_socket"]["typed_config"]["common_tls_context"]
    assert "tls_certificates" not in common
    assert "alpn_protocols" not in common


def test_every_route_points_at_a_rendered_cluster():
    bootstrap = render_bootstrap(
        {
            "tls": TLS,
            "acme_solver": {"host": "s", "port": 1},
            "legacy_ports": dict.fromkeys(["grpc", "s3"], True),
        }
    )
    names = {c["name"] for c in bootstrap["static_resources"]["clusters"]}
    for item in bootstrap["static_resources"]["listeners"]:
        for r in routes(item):
            if "route" in r:
                assert r["route"]["cluster"] in names


# ---------------------------------------------------------------------------------------------------
# API


def test_bootstrap_is_plain_json():
    bootstrap = render_bootstrap({"tls": {**TLS, "hsts": True}, "s3_hosts": ["s3.example.com"]})
    assert json.loads(json.dumps(bootstrap)) == bootstrap


def test_bad_description_raises_and_renders_nothing():
    with pytest.raises(EnvoyConfigError, match=r"^backends\.s3\.port: 0 "):
        render_bootstrap({"backends": {"s3": {"port": 0}}})


def test_parse_description_is_the_models_entry_point():
    assert parse_description({"http_port": 80}).http_port == 80
