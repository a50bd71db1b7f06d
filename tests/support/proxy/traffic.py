"""Test clients: one call per kind of traffic, each tagged with a marker so the backend's record shows
which backend received it.
"""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.parse
import uuid

import grpc
import requests

from support.backends import CLIENT_STREAM, SERVER_STREAM, UNARY, Recorder


def marker() -> str:
    return "m" + uuid.uuid4().hex[:12]


def grpc_channel(address: str, ca_pem: bytes | None = None, options=()) -> grpc.Channel:
    options = [*options, ("grpc.max_send_message_length", 64 * 1024 * 1024)]
    if ca_pem is not None:
        return grpc.secure_channel(address, grpc.ssl_channel_credentials(ca_pem), options=options)
    return grpc.insecure_channel(address, options=options)


def grpc_unary(channel: grpc.Channel, probe: str, timeout: float = 15) -> bytes:
    call = channel.unary_unary(UNARY)
    return call(probe.encode(), metadata=[("x-probe", probe)], timeout=timeout)


def grpc_ticks(channel: grpc.Channel, probe: str, seconds: float, interval: float = 0.5, timeout=None):
    call = channel.unary_stream(SERVER_STREAM)
    request = json.dumps({"seconds": seconds, "interval": interval}).encode()
    return call(request, metadata=[("x-probe", probe)], timeout=timeout)


def grpc_upload(channel: grpc.Channel, probe: str, chunks, timeout=None) -> dict:
    call = channel.stream_unary(CLIENT_STREAM)
    return json.loads(call(chunks, metadata=[("x-probe", probe)], timeout=timeout))


def who_got(recorder: Recorder, probe: str, since: int = 0) -> list[str]:
    """The backends that recorded a request carrying the probe marker."""
    return sorted({hit.backend for hit in recorder.find(probe, since)})


def http_get(url: str, probe: str, verify=None, **kwargs) -> requests.Response:
    headers = {"x-probe": probe, **kwargs.pop("headers", {})}
    return requests.get(url, headers=headers, timeout=15, allow_redirects=False, verify=verify, **kwargs)


def tls_context(ca_pem: bytes, minimum=None, maximum=None, alpn=("h2", "http/1.1")) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=ca_pem.decode())
    if minimum is not None:
        context.minimum_version = minimum
    if maximum is not None:
        context.maximum_version = maximum
    if alpn:
        context.set_alpn_protocols(list(alpn))
    return context


def raw_request(method: str, url: str, body: bytes = b"", headers=None, ca_file=None, timeout: float = 15):
    """Send a request with the path exactly as given: requests/urllib3 would remove `..` segments.

    Returns (status, body bytes, headers dict with lower-case names).
    """
    split = urllib.parse.urlsplit(url)
    target = split.path + (f"?{split.query}" if split.query else "")
    if split.scheme == "https":
        context = ssl.create_default_context(cafile=ca_file)
        connection = http.client.HTTPSConnection(split.hostname, split.port, timeout=timeout, context=context)
    else:
        connection = http.client.HTTPConnection(split.hostname, split.port, timeout=timeout)
    try:
        connection.request(method, target, body=body or None, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read(), {k.lower(): v for k, v in response.getheaders()}
    finally:
        connection.close()
