"""The traffic matrix: every kind of request the one port must route.

Each row sends one real request through a proxy and returns the name of the backend that recorded it
(or "none" when no backend saw it). The same rows run through Pachyderm's reference config and through
ours; `docs/envoy-parity.md` states where each must land and why the two differ where they do.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import urllib.parse
from email.utils import formatdate

import requests

from support.proxy.traffic import grpc_channel, grpc_unary, http_get, marker, raw_request, who_got

# The host name our test proxies list in s3_hosts.
S3_HOST = "s3.oneport.test"


def _landed(recorder, probe, since: int = 0) -> str:
    got = who_got(recorder, probe, since)
    return ",".join(got) if got else "none"


def send_grpc(proxy, ctx):
    probe = marker()
    with grpc_channel(f"127.0.0.1:{proxy.port}", ctx.get("ca_pem") if proxy.tls else None) as channel:
        reply = grpc_unary(channel, probe)
    assert reply == b"pachd-grpc:" + probe.encode()
    return _landed(ctx["recorder"], probe)


def send_s3_sigv4(proxy, ctx):
    probe = marker()
    s3 = ctx["s3"].client(proxy.url, verify=ctx.get("ca_file"))
    bucket = ctx["bucket"]
    s3.put_object(Bucket=bucket, Key=f"sigv4/{probe}", Body=probe.encode())
    assert s3.get_object(Bucket=bucket, Key=f"sigv4/{probe}")["Body"].read() == probe.encode()
    return _landed(ctx["recorder"], probe)


def _sigv2_headers(method: str, path: str, access_key: str, secret: str) -> dict:
    date = formatdate(usegmt=True)
    string_to_sign = f"{method}\n\n\n{date}\n{path}"
    signature = base64.b64encode(hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha1).digest())
    return {"Date": date, "Authorization": f"AWS {access_key}:{signature.decode()}"}


def send_s3_sigv2(proxy, ctx):
    probe = marker()
    creds = ctx["s3"].credentials
    path = f"/{ctx['bucket']}/sigv2-{probe}"
    headers = _sigv2_headers("PUT", path, creds["AccessKeyId"], creds["SecretAccessKey"])
    response = requests.put(
        proxy.url + path, data=b"v2", headers=headers, timeout=15, verify=ctx.get("ca_file")
    )
    landed = _landed(ctx["recorder"], probe)
    if landed == "pachd-s3":
        assert response.status_code == 200, response.text
    return landed


def send_presigned_get(proxy, ctx):
    probe = marker()
    bucket = ctx["bucket"]
    direct = ctx["s3"].client(ctx["s3_direct"])
    direct.put_object(Bucket=bucket, Key=f"presigned/{probe}", Body=probe.encode())
    s3 = ctx["s3"].client(proxy.url)
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": f"presigned/{probe}"})
    since = ctx["recorder"].mark()
    response = requests.get(url, timeout=15, verify=ctx.get("ca_file"))
    landed = _landed(ctx["recorder"], probe, since)
    if landed == "pachd-s3":
        assert response.status_code == 200, response.text
        assert response.content == probe.encode()
    return landed


def send_presigned_put(proxy, ctx):
    probe = marker()
    s3 = ctx["s3"].client(proxy.url)
    url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": ctx["bucket"], "Key": f"presigned-put/{probe}"}
    )
    response = requests.put(url, data=probe.encode(), timeout=15, verify=ctx.get("ca_file"))
    landed = _landed(ctx["recorder"], probe)
    if landed == "pachd-s3":
        assert response.status_code == 200, response.text
        direct = ctx["s3"].client(ctx["s3_direct"])
        assert (
            direct.get_object(Bucket=ctx["bucket"], Key=f"presigned-put/{probe}")["Body"].read()
            == probe.encode()
        )
    return landed


def send_presigned_v2(proxy, ctx):
    probe = marker()
    creds = ctx["s3"].credentials
    path = f"/{ctx['bucket']}/presigned-v2-{probe}"
    expires = str(int(time.time()) + 600)
    string_to_sign = f"GET\n\n\n{expires}\n{path}"
    signature = base64.b64encode(
        hmac.new(creds["SecretAccessKey"].encode(), string_to_sign.encode(), hashlib.sha1).digest()
    ).decode()
    query = urllib.parse.urlencode(
        {"AWSAccessKeyId": creds["AccessKeyId"], "Expires": expires, "Signature": signature}
    )
    requests.get(f"{proxy.url}{path}?{query}", timeout=15, verify=ctx.get("ca_file"))
    return _landed(ctx["recorder"], probe)


def _http(path_template: str):
    def send(proxy, ctx):
        probe = marker()
        response = http_get(proxy.url + path_template.format(probe=probe), probe, verify=ctx.get("ca_file"))
        assert response.status_code < 500, response.text
        return _landed(ctx["recorder"], probe)

    return send


def send_websocket(proxy, ctx):
    from websockets.sync.client import connect

    probe = marker()
    scheme = "wss" if proxy.tls else "ws"
    ssl_context = ctx.get("ssl_context") if proxy.tls else None
    with connect(
        f"{scheme}://127.0.0.1:{proxy.port}/ws?probe={probe}",
        ssl=ssl_context,
        open_timeout=15,
        close_timeout=5,
    ) as ws:
        ws.send(probe)
        assert ws.recv(timeout=15) == probe
    return _landed(ctx["recorder"], probe)


def send_s3_host(proxy, ctx):
    """An anonymous request naming the S3 host (as virtual-host clients and browsers do)."""
    probe = marker()
    raw_request(
        "GET", f"{proxy.url}/{ctx['bucket']}/{probe}", headers={"host": S3_HOST}, ca_file=ctx.get("ca_file")
    )
    return _landed(ctx["recorder"], probe)


# Traffic name (as in docs/envoy-parity.md) -> how to send it.
ROWS = {
    "grpc by content-type": send_grpc,
    "S3 SigV4 authorization header": send_s3_sigv4,
    "S3 SigV2 authorization header": send_s3_sigv2,
    "S3 presigned GET (X-Amz-Algorithm)": send_presigned_get,
    "S3 presigned PUT (X-Amz-Algorithm)": send_presigned_put,
    "S3 presigned SigV2 (AWSAccessKeyId)": send_presigned_v2,
    "S3 anonymous GET on an s3_hosts name": send_s3_host,
    "Dex under /dex": _http("/dex/.well-known/openid-configuration?p={probe}"),
    "OIDC callback": _http("/authorization-code/callback?code={probe}"),
    "pachd HTTP /archive/": _http("/archive/{probe}.zip"),
    "pachd HTTP /jsonschema/": _http("/jsonschema/{probe}.json"),
    "pachd HTTP /pfs": _http("/pfs/{probe}"),
    "pachd HTTP /api/": _http("/api/{probe}"),
    "console catch-all /": _http("/?p={probe}"),
    "console page /lineage": _http("/lineage/{probe}"),
    "console websocket upgrade": send_websocket,
}
