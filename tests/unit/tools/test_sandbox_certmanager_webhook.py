"""The cert-manager webhook/cainjector stand-in: serving CA, caBundle injection, AdmissionReview answers."""

from __future__ import annotations

import base64
import datetime
import json
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tools.sandbox import certmanager_webhook as wh

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def decoded(data: dict) -> dict:
    return {k: base64.b64decode(v) for k, v in data.items()}


def test_the_serving_ca_secret_is_shaped_like_cert_managers():
    key, cert = wh.new_ca(now=NOW)
    data = decoded(wh.ca_secret_data(key, cert))
    assert data["ca.crt"] == data["tls.crt"]
    assert b"BEGIN PRIVATE KEY" in data["tls.key"]  # PKCS#8
    assert cert.subject.rfc4514_string() == "CN=cert-manager-webhook-ca"
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert wh.load_ca(data, now=NOW) is not None


def test_a_missing_mismatched_or_ageing_ca_is_regenerated():
    key, cert = wh.new_ca(now=NOW)
    data = decoded(wh.ca_secret_data(key, cert))
    assert wh.load_ca({}, now=NOW) is None
    assert wh.load_ca(dict(data, **{"ca.crt": b"other"}), now=NOW) is None
    other_key = wh.new_ca(now=NOW)[0]
    pem = other_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert wh.load_ca(dict(data, **{"tls.key": pem}), now=NOW) is None
    assert wh.load_ca(data, now=NOW + datetime.timedelta(days=250)) is None  # two thirds through its life


def test_the_serving_certificate_names_the_service_and_chains_to_the_ca():
    ca_key, ca_cert = wh.new_ca(now=NOW)
    _key, leaf = wh.serving_certificate(ca_key, ca_cert, wh.dns_names(), now=NOW)
    leaf.verify_directly_issued_by(ca_cert)
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "cert-manager-webhook.cert-manager.svc" in names.get_values_for_type(x509.DNSName)


def test_ca_is_injected_only_from_secrets_that_allow_it_and_only_when_it_differs():
    config = {
        "metadata": {"annotations": {wh.INJECT_FROM_SECRET: "cert-manager/cert-manager-webhook-ca"}},
        "webhooks": [{"name": "webhook.cert-manager.io", "clientConfig": {"service": {"name": "x"}}}],
    }
    assert wh.injection_source(config) == ("cert-manager", "cert-manager-webhook-ca")
    assert wh.injection_source({"metadata": {}}) is None
    secret = {"metadata": {"annotations": {wh.ALLOW_DIRECT_INJECTION: "true"}}, "data": {"ca.crt": "Q0E="}}
    assert wh.injectable_bundle(secret) == "Q0E="
    assert wh.injectable_bundle({"metadata": {}, "data": {"ca.crt": "Q0E="}}) is None
    webhooks = wh.inject(config, "Q0E=")
    assert webhooks[0]["clientConfig"] == {"service": {"name": "x"}, "caBundle": "Q0E="}
    assert wh.inject({"webhooks": webhooks}, "Q0E=") is None


def admission(resource: str, obj: dict, operation: str = "CREATE", **extra) -> dict:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "1234",
            "operation": operation,
            "requestResource": {"group": "cert-manager.io", "version": "v1", "resource": resource},
            "object": obj,
            **extra,
        },
    }


def test_a_valid_certificate_is_allowed():
    cert = {"spec": {"secretName": "s", "dnsNames": ["a.example"], "issuerRef": {"name": "i"}}}
    answer = wh.review(admission("certificates", cert), "/validate")
    assert answer["apiVersion"] == "admission.k8s.io/v1" and answer["kind"] == "AdmissionReview"
    assert answer["response"] == {"uid": "1234", "allowed": True}


def test_a_certificate_without_any_name_is_refused_in_cert_managers_words():
    cert = {"spec": {"secretName": "s", "issuerRef": {"name": "i"}}}
    response = wh.review(admission("certificates", cert), "/validate")["response"]
    assert response["allowed"] is False
    assert response["status"]["code"] == 403
    assert response["status"]["message"] == (
        'spec: Invalid value: "": at least one of commonName (from the commonName field or from a '
        "literalSubject), dnsNames, emailSANs, ipAddresses, otherNames, or uriSANs must be set"
    )


def test_several_errors_are_aggregated():
    cert = {"spec": {"commonName": "x" * 65, "issuerRef": {"name": "i", "kind": "Nope"}}}
    message = wh.review(admission("certificates", cert), "/validate")["response"]["status"]["message"]
    assert message.startswith("[spec.secretName: Required value: must be specified, ")
    assert 'spec.issuerRef.kind: Invalid value: "Nope": must be one of Issuer or ClusterIssuer' in message
    assert "spec.commonName: Too long" in message


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({}, "spec: Required value: at least one issuer must be configured"),
        (
            {"selfSigned": {}, "ca": {"secretName": "x"}},
            "spec.selfSigned: Forbidden: may not specify more than one",
        ),
    ],
)
def test_issuers_need_exactly_one_type(spec, message):
    response = wh.review(admission("clusterissuers", {"spec": spec}), "/validate")["response"]
    assert response["allowed"] is False
    assert response["status"]["message"].startswith(message)


def test_deletes_and_other_resources_are_allowed():
    assert wh.review(admission("certificates", {}, operation="DELETE"), "/validate")["response"]["allowed"]
    assert wh.review(admission("orders", {"spec": {}}), "/validate")["response"]["allowed"]


def test_mutate_sets_the_requester_of_a_new_certificaterequest():
    user = {"username": "alice", "uid": "u1", "groups": ["devs"]}
    body = admission("certificaterequests", {"spec": {"request": "Q1NS"}}, userInfo=user)
    response = wh.review(body, "/mutate")["response"]
    assert response["allowed"] and response["patchType"] == "JSONPatch"
    patch = json.loads(base64.b64decode(response["patch"]))
    assert {"op": "add", "path": "/spec/username", "value": "alice"} in patch
    assert {"op": "add", "path": "/spec/groups", "value": ["devs"]} in patch


def test_mutate_leaves_everything_else_unpatched():
    response = wh.review(admission("certificates", {"spec": {}}), "/mutate")["response"]
    assert response == {"uid": "1234", "allowed": True}


def test_the_server_answers_over_tls_on_a_unix_socket(tmp_path):
    import http.client
    import socket

    ca_key, ca_cert = wh.new_ca()
    key, cert = wh.serving_certificate(ca_key, ca_cert, wh.dns_names())
    (tmp_path / "tls.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    (tmp_path / "tls.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "ca.crt").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    server = wh.WebhookServer(str(tmp_path / "hook.sock"), log=lambda _m: None)
    server.set_certificate(str(tmp_path / "tls.crt"), str(tmp_path / "tls.key"))
    server.start()
    try:
        context = ssl.create_default_context(cafile=str(tmp_path / "ca.crt"))
        raw = socket.socket(socket.AF_UNIX)
        raw.connect(str(tmp_path / "hook.sock"))
        conn = http.client.HTTPSConnection("cert-manager-webhook.cert-manager.svc", context=context)
        conn.sock = context.wrap_socket(raw, server_hostname="cert-manager-webhook.cert-manager.svc")
        body = admission("certificates", {"spec": {"secretName": "s", "issuerRef": {"name": "i"}}})
        conn.request("POST", "/validate", body=json.dumps(body), headers={"Content-Type": "application/json"})
        answer = json.loads(conn.getresponse().read())
        assert answer["response"]["allowed"] is False
    finally:
        server.shutdown()
        server.server_close()


def test_the_server_binds_over_a_socket_file_a_stopped_stand_in_left(tmp_path):
    stale = wh.WebhookServer(str(tmp_path / "hook.sock"), log=lambda _m: None)
    stale.socket.close()  # stopped without removing its socket file, as `down` leaves it
    assert (tmp_path / "hook.sock").exists()
    server = wh.WebhookServer(str(tmp_path / "hook.sock"), log=lambda _m: None)
    try:
        assert server.socket.getsockname() == str(tmp_path / "hook.sock")
    finally:
        server.server_close()
