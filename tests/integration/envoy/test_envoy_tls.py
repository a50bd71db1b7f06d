"""TLS on the one port: protocol versions, ALPN, certificate renewal on disk, port 80 and legacy ports."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time

import grpc
import pytest
from cryptography import x509
from support.certs import install_pair
from support.proxy.matrix import ROWS
from support.proxy.parity import expectations
from support.proxy.streams import Background, server_stream
from support.proxy.traffic import grpc_channel, grpc_unary, http_get, marker, raw_request, who_got


def handshake(port: int, context: ssl.SSLContext) -> ssl.SSLSocket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    return context.wrap_socket(sock, server_hostname="localhost")


def client_context(ca_pem: bytes, version=None, alpn=("h2", "http/1.1")) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata=ca_pem.decode())
    if version is not None:
        context.minimum_version = context.maximum_version = version
    if alpn:
        context.set_alpn_protocols(list(alpn))
    return context


def served_serial(port: int, ca_pem: bytes) -> int:
    with handshake(port, client_context(ca_pem)) as tls:
        return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True)).serial_number


def tls11_client(ca_pem: bytes) -> ssl.SSLContext:
    context = client_context(ca_pem, ssl.TLSVersion.TLSv1_1)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # let the client offer TLS 1.1 so the server decides
    return context


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_tls_1_1_client_works_against_a_server_that_allows_it(test_ca, tmp_path):
    """The control for the refusal below: this client really can speak TLS 1.1 here."""
    cert, key, _serial = test_ca.issue()
    (tmp_path / "tls.crt").write_bytes(cert)
    (tmp_path / "tls.key").write_bytes(key)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(tmp_path / "tls.crt", tmp_path / "tls.key")
    server_context.minimum_version = ssl.TLSVersion.TLSv1_1
    server_context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def accept():
            connection, _peer = listener.accept()
            with contextlib.suppress(OSError), server_context.wrap_socket(connection, server_side=True):
                pass

        server = threading.Thread(target=accept, daemon=True)
        server.start()
        with handshake(listener.getsockname()[1], tls11_client(test_ca.pem)) as tls:
            assert tls.version() == "TLSv1.1"
        server.join(10)


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_tls_1_1_is_refused(tls_proxy, test_ca):
    with pytest.raises(ssl.SSLError):
        handshake(tls_proxy.port, tls11_client(test_ca.pem)).close()


@pytest.mark.parametrize(
    "version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3], ids=["TLSv1.2", "TLSv1.3"]
)
def test_tls_1_2_and_1_3_are_accepted(version, tls_proxy, test_ca):
    with handshake(tls_proxy.port, client_context(test_ca.pem, version)) as tls:
        assert tls.version() == version.name.replace("v1_", "v1.")


def test_alpn_offers_h2(tls_proxy, test_ca):
    with handshake(tls_proxy.port, client_context(test_ca.pem)) as tls:
        assert tls.selected_alpn_protocol() == "h2"


def test_alpn_falls_back_to_http11(tls_proxy, test_ca):
    with handshake(tls_proxy.port, client_context(test_ca.pem, alpn=("http/1.1",))) as tls:
        assert tls.selected_alpn_protocol() == "http/1.1"


@pytest.mark.parametrize("traffic_name", list(ROWS))
def test_routes_over_tls_like_cleartext(traffic_name, tls_proxy, tls_traffic):
    expected = expectations()[traffic_name].expected(tls_proxy.kind)
    assert ROWS[traffic_name](tls_proxy, tls_traffic) == expected


def test_renewed_certificate_is_served_while_running_stream_survives(tls_proxy, test_ca, traffic):
    address = f"localhost:{tls_proxy.port}"
    stream = Background("stream across renewal", server_stream, address, marker(), 12, 1, test_ca.pem)
    stream.start()
    time.sleep(3)
    cert, key, serial = test_ca.issue()
    install_pair(tls_proxy.tls_dir, cert, key)
    deadline = time.monotonic() + 30
    while served_serial(tls_proxy.port, test_ca.pem) != serial and time.monotonic() < deadline:
        time.sleep(0.5)
    assert served_serial(tls_proxy.port, test_ca.pem) == serial
    result = stream.result(60)
    assert [tick["tick"] for tick in result["ticks"]] == list(range(12))
    with grpc_channel(address, test_ca.pem) as channel:
        probe = marker()
        assert grpc_unary(channel, probe) == b"pachd-grpc:" + probe.encode()


def test_port_80_redirects_keeping_non_default_port(our_tls_proxy):
    status, _body, headers = raw_request("GET", f"http://127.0.0.1:{our_tls_proxy.redirect_port}/lineage?x=1")
    assert status == 301
    assert headers["location"] == f"https://127.0.0.1:{our_tls_proxy.port}/lineage?x=1"


def test_reference_port_80_redirect_cannot_name_the_https_port(reference_tls_proxy):
    """The chart's https_redirect keeps the port of the Host header: the cleartext port, not 443's."""
    port = reference_tls_proxy.redirect_port
    status, _body, headers = raw_request("GET", f"http://127.0.0.1:{port}/lineage?x=1")
    assert status == 301
    assert headers["location"] == f"https://127.0.0.1:{port}/lineage?x=1"


def test_grpc_on_port_80_gets_clear_error(our_tls_proxy, traffic):
    probe = marker()
    with (
        grpc_channel(f"127.0.0.1:{our_tls_proxy.redirect_port}") as channel,
        pytest.raises(grpc.RpcError) as error,
    ):
        grpc_unary(channel, probe)
    assert "grpcs://" in error.value.details()
    assert error.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.FAILED_PRECONDITION)
    assert who_got(traffic["recorder"], probe) == []


def test_acme_challenge_on_port_80_reaches_solver(our_tls_proxy, traffic):
    probe = marker()
    response = http_get(
        f"http://127.0.0.1:{our_tls_proxy.redirect_port}/.well-known/acme-challenge/{probe}", probe
    )
    assert response.status_code == 200
    assert who_got(traffic["recorder"], probe) == ["acme-solver"]


def test_reference_redirects_acme_challenge(reference_tls_proxy, traffic):
    probe = marker()
    url = f"http://127.0.0.1:{reference_tls_proxy.redirect_port}/.well-known/acme-challenge/{probe}"
    assert http_get(url, probe).status_code == 301
    assert who_got(traffic["recorder"], probe) == []


def test_legacy_grpc_port_speaks_tls(our_tls_proxy, test_ca, traffic):
    probe = marker()
    with grpc_channel(f"localhost:{our_tls_proxy.legacy['grpc']}", test_ca.pem) as channel:
        assert grpc_unary(channel, probe) == b"pachd-grpc:" + probe.encode()
    assert who_got(traffic["recorder"], probe) == ["pachd-grpc"]


def test_legacy_s3_port_speaks_tls(our_tls_proxy, tls_traffic):
    s3 = tls_traffic["s3"].client(
        f"https://localhost:{our_tls_proxy.legacy['s3']}", verify=tls_traffic["ca_file"]
    )
    key = f"legacy-tls/{marker()}"
    s3.put_object(Bucket=tls_traffic["bucket"], Key=key, Body=b"tls")
    assert s3.get_object(Bucket=tls_traffic["bucket"], Key=key)["Body"].read() == b"tls"


def test_legacy_port_refuses_cleartext_when_tls_is_on(our_tls_proxy):
    with pytest.raises((ConnectionError, OSError)):
        raw_request("GET", f"http://127.0.0.1:{our_tls_proxy.legacy['identity']}/dex/x", timeout=5)
