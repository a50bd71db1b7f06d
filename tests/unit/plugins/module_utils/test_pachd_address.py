"""pachd addresses are accepted, refused and normalised as pachctl 2.12's ParsePachdAddress does."""

from __future__ import annotations

import pytest

from ansible_collections.oneport.pachyderm.plugins.module_utils.pachd_address import (
    DEFAULT_PACHD_PORT,
    PachdAddressError,
    build_pachd_address,
    normalize_pachd_address,
    parse_pachd_address,
)


def test_no_scheme_means_grpc():
    assert normalize_pachd_address("pachd.example.com:80") == "grpc://pachd.example.com:80"


def test_no_port_means_30650_for_grpc():
    assert normalize_pachd_address("grpc://pachd.example.com") == "grpc://pachd.example.com:30650"


@pytest.mark.parametrize("scheme", ["grpcs", "https"])
def test_no_port_means_30650_even_with_tls(scheme):
    assert parse_pachd_address(scheme + "://pachd.example.com").port == DEFAULT_PACHD_PORT


def test_https_is_stored_as_grpcs():
    assert normalize_pachd_address("https://pachd.example.com:443") == "grpcs://pachd.example.com:443"


def test_http_is_stored_as_grpc():
    assert normalize_pachd_address("http://pachd.example.com:80") == "grpc://pachd.example.com:80"


def test_scheme_is_case_insensitive_and_host_keeps_its_case():
    assert normalize_pachd_address("GRPCS://Pachd.Example.com:443") == "grpcs://Pachd.Example.com:443"


def test_unix_socket_is_kept_as_given():
    parsed = parse_pachd_address("unix:///var/run/pachd.sock")
    assert parsed.unix_socket == "unix:///var/run/pachd.sock"
    assert parsed.qualified == "unix:///var/run/pachd.sock"


def test_port_leading_zeros_are_dropped():
    assert normalize_pachd_address("grpc://h:080") == "grpc://h:80"


def test_empty_port_means_default_port():
    assert normalize_pachd_address("h:") == "grpc://h:30650"


def test_empty_fragment_is_accepted():
    assert normalize_pachd_address("grpc://h:80#") == "grpc://h:80"


def test_ipv6_in_brackets_is_stored_without_them_as_pachctl_does():
    assert normalize_pachd_address("grpc://[::1]:80") == "grpc://::1:80"


def test_pachctls_ipv6_form_reads_back_the_same():
    assert normalize_pachd_address("grpc://::1:80") == "grpc://::1:80"


def test_normalising_twice_changes_nothing():
    once = normalize_pachd_address("https://pachd.example.com")
    assert normalize_pachd_address(once) == once


@pytest.mark.parametrize(
    ("address", "words"),
    [
        ("", "empty"),
        ("ftp://h:21", "scheme 'ftp'"),
        ("grpc://h:80/", "path"),
        ("grpc://h:80/pachd", "path"),
        ("grpc://user@h:80", "login credentials"),
        ("grpc://user:secret@h:80", "login credentials"),
        ("grpc://h:80?x=1", "query"),
        ("grpc://h:80#top", "fragment"),
        ("grpc://h:http", "invalid port"),
        ("grpc://h:70000", "above 65535"),
        ("grpc://h h:80", "character ' '"),
        ("grpc://[1.2.3.4]:80", "IPv4 address in brackets"),
        ("grpc://[::1:80", "no ']'"),
        ("grpc://h%2:80", "invalid escape"),
        ("grpc://h%41:80", "escapes an ASCII"),
        ("grpc://h\n:80", "control character"),
        ("://h:80", "scheme"),
    ],
)
def test_addresses_pachctl_refuses_are_refused_with_the_reason(address, words):
    with pytest.raises(PachdAddressError) as caught:
        parse_pachd_address(address)
    assert words in str(caught.value)


def test_error_names_the_field_and_value():
    with pytest.raises(PachdAddressError, match=r"^pachd_address: 'grpc://h:80/x'"):
        parse_pachd_address("grpc://h:80/x")


def test_error_names_a_custom_field():
    with pytest.raises(PachdAddressError, match=r"^oneport_proxy_endpoint.pachd_address: "):
        parse_pachd_address("ftp://h", field="oneport_proxy_endpoint.pachd_address")


def test_build_with_tls_uses_grpcs_and_443():
    assert build_pachd_address("pachyderm.example.com", tls=True) == "grpcs://pachyderm.example.com:443"


def test_build_without_tls_uses_grpc_and_80():
    assert build_pachd_address("203.0.113.10", tls=False) == "grpc://203.0.113.10:80"


def test_build_with_an_explicit_port():
    assert build_pachd_address("203.0.113.10", tls=True, port=8443) == "grpcs://203.0.113.10:8443"


@pytest.mark.parametrize("host", ["2001:db8::1", "[2001:db8::1]"])
def test_build_puts_ipv6_in_brackets(host):
    assert build_pachd_address(host, tls=False) == "grpc://[2001:db8::1]:80"


def test_built_address_is_one_pachctl_accepts():
    built = build_pachd_address("pachyderm.example.com", tls=True)
    assert parse_pachd_address(built).secured


@pytest.mark.parametrize(
    "host", ["", "https://pachyderm.example.com", "pachyderm.example.com:443", "a/b", "-bad.example.com"]
)
def test_build_refuses_anything_but_a_host(host):
    with pytest.raises(PachdAddressError, match=r"^host: "):
        build_pachd_address(host, tls=True)


@pytest.mark.parametrize("port", [0, 65536, "443", True])
def test_build_refuses_a_bad_port(port):
    with pytest.raises(PachdAddressError, match=r"^port: "):
        build_pachd_address("h.example.com", tls=True, port=port)


def test_build_refuses_a_non_boolean_tls():
    with pytest.raises(PachdAddressError, match=r"^tls: 'yes'"):
        build_pachd_address("h.example.com", tls="yes")
