"""The cert-manager stand-in's signing rules, as plain functions."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tools.sandbox.certmanager import issued_names, parse_duration, sign, wanted_names

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("2160h", 2160 * 3600), ("1h30m0s", 5400), ("90m", 5400), ("45s", 45), (None, 90 * 86400)],
)
def test_durations_are_read_like_go_durations(text, seconds):
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("bad", ["90d", "1 h", "h"])
def test_a_malformed_duration_is_refused_with_the_value_named(bad):
    with pytest.raises(ValueError, match=repr(bad)):
        parse_duration(bad)


def test_self_signed_certificate_is_its_own_ca_and_carries_the_requested_names():
    spec = {"commonName": "px.example", "dnsNames": ["px.example"], "ipAddresses": ["127.0.0.9"]}
    key, cert, ca = sign(spec, None, None, now=NOW)
    assert ca is cert
    assert cert.issuer == cert.subject
    assert issued_names(cert) == wanted_names(spec)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == datetime.timedelta(days=90)


def test_ca_issuer_signs_leaves_that_verify_against_its_certificate():
    ca_key, ca_cert, _self = sign({"commonName": "sandbox-ca", "isCA": True}, None, None, now=NOW)
    spec = {"dnsNames": ["a.example"], "privateKey": {"algorithm": "ECDSA", "size": 256}, "duration": "24h"}
    key, leaf, chain_ca = sign(spec, ca_key, ca_cert, now=NOW)
    assert chain_ca is ca_cert
    assert leaf.issuer == ca_cert.subject
    leaf.verify_directly_issued_by(ca_cert)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_a_changed_spec_no_longer_matches_the_issued_certificate():
    spec = {"dnsNames": ["a.example"]}
    _key, cert, _ca = sign(spec, None, None, now=NOW)
    assert issued_names(cert) == wanted_names(spec)
    assert issued_names(cert) != wanted_names({"dnsNames": ["a.example", "b.example"]})
