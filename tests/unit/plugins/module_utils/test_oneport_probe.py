"""The probe model as plain Python: endpoint parsing, S3 answer recognition, the table."""

from __future__ import annotations

import pytest

from ansible_collections.oneport.pachyderm.plugins.module_utils import oneport_probe as probe


def test_plain_grpc_address_probes_over_http_on_its_port():
    endpoint = probe.parse_endpoint("grpc://192.0.2.10:80")
    assert (endpoint.scheme, endpoint.host, endpoint.port, endpoint.tls) == ("http", "192.0.2.10", 80, False)


def test_grpcs_address_without_port_means_tls_on_443():
    endpoint = probe.parse_endpoint("grpcs://pachyderm.example.com")
    assert (endpoint.scheme, endpoint.port, endpoint.base_url) == (
        "https",
        443,
        "https://pachyderm.example.com:443",
    )


def test_host_header_carries_the_server_name_and_a_non_default_port():
    endpoint = probe.parse_endpoint("https://192.0.2.10:8443", server_name="pachyderm.example.com")
    assert endpoint.authority == "pachyderm.example.com:8443"


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("192.0.2.10:80", ["endpoint", "'192.0.2.10:80'", "scheme://host[:port]"]),
        ("ftp://192.0.2.10", ["endpoint", "'ftp'", "http, https, grpc or grpcs"]),
        ("http://192.0.2.10:99999", ["endpoint", "bad port", "1-65535"]),
    ],
)
def test_a_bad_endpoint_is_refused_naming_the_option_and_the_fix(url, words):
    with pytest.raises(probe.ProbeInputError) as error:
        probe.parse_endpoint(url)
    for word in words:
        assert word in str(error.value)


def test_a_missing_ca_file_is_refused_naming_the_option(tmp_path):
    with pytest.raises(probe.ProbeInputError, match=r"ca_file: .*does not exist"):
        probe.parse_endpoint("https://192.0.2.10", ca_file=str(tmp_path / "ca.crt"))


def test_the_published_endpoint_fact_becomes_the_url_to_probe():
    fact = {"address": "pachyderm.example.com", "scheme": "https", "port": 443, "tls": True}
    assert probe.endpoint_from_fact(fact) == "https://pachyderm.example.com:443"


def test_an_endpoint_fact_without_address_says_to_run_the_pachyderm_role():
    with pytest.raises(probe.ProbeInputError, match=r"oneport_proxy_endpoint: .*run the pachyderm role"):
        probe.endpoint_from_fact({"address": ""})


def test_an_s3_error_document_proves_the_gateway_answered():
    body = b"<?xml version='1.0'?><Error><Code>InvalidAccessKeyId</Code></Error>"
    assert probe._s3_answer(403, {"content-type": "application/xml"}, body) == (
        True,
        "HTTP 403 S3 error InvalidAccessKeyId",
    )


def test_a_bucket_list_in_the_s3_namespace_proves_the_gateway_answered():
    body = (
        b'<ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        b"<Buckets><Bucket><Name>a</Name></Bucket></Buckets></ListAllMyBucketsResult>"
    )
    ok, detail = probe._s3_answer(200, {}, body)
    assert ok
    assert detail.endswith("1 bucket(s)")


@pytest.mark.parametrize(
    "body", [b"<!DOCTYPE html><html><body>console</body></html>", b"<html><body/></html>", b'{"a": 1}']
)
def test_an_html_or_json_answer_to_an_s3_request_is_not_the_gateway(body):
    ok, detail = probe._s3_answer(200, {"content-type": "text/html"}, body)
    assert not ok
    assert "not an S3 answer" in detail


def test_unknown_probe_names_are_refused_listing_the_choices():
    with pytest.raises(probe.ProbeInputError, match=r"probes: unknown \['gprc'\]; choose from"):
        probe.check_probe_names(["gprc"])


def test_probes_run_in_table_order_whatever_order_they_are_asked_in():
    assert probe.check_probe_names(["dex", "grpc"]) == ["grpc", "dex"]


def test_pachctl_row_is_skipped_when_pachctl_is_not_installed():
    result = probe.probe_pachctl("oneport-no-such-pachctl")
    assert (result.status, result.ok) == ("skipped", True)


def test_table_aligns_columns_under_a_header():
    results = [
        probe.ProbeResult("grpc", "ok", "192.0.2.10:80", "grpc.health.v1 SERVING"),
        probe.ProbeResult("s3", "failed", "http://192.0.2.10:80/", "HTTP 200 text/html: not an S3 answer"),
    ]
    table = probe.format_table(results)
    assert table[0].split() == ["PROBE", "STATUS", "TARGET", "DETAIL"]
    assert len({line.index(line.split()[2]) for line in table}) == 1
    assert probe.failure_summary(results) == "s3: HTTP 200 text/html: not an S3 answer"


def test_a_ca_given_as_text_must_be_pem():
    with pytest.raises(probe.ProbeInputError, match="ca_pem: is not a PEM certificate"):
        probe.parse_endpoint("https://192.0.2.10", ca_pem="not a certificate")
