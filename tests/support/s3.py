"""The S3 gateway's stand-in: moto's server with signature checking on, behind a recorder.

moto verifies SigV4 `authorization` headers itself once its IAM auth is on, so a request whose path,
query or signed headers Envoy altered fails with SignatureDoesNotMatch. moto does not verify SigV2
headers or presigned (query-string) signatures, so the recorder verifies those itself against the raw
request as it arrived and, when they hold, re-signs the request with SigV4 for moto. Either way a
single altered byte in the path, query or signed headers is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import threading
import urllib.parse
import uuid
from email.utils import formatdate

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from support.backends import NO_RECORD, Hit, Recorder

REGION = "us-east-1"


def _error(start_response, status: str, code: str, message: str):
    xml = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    body = ('<?xml version="1.0" encoding="UTF-8"?>' + xml).encode()
    start_response(status, [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
    return [body]


def presigned_v4_signature(method: str, raw_path: str, query: str, host: str, secret: str) -> str:
    """The SigV4 query-string signature S3 expects for this request, computed from the raw bytes."""
    params = urllib.parse.parse_qsl(query, keep_blank_values=True)
    values = dict(params)
    canonical_query = "&".join(
        f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
        for k, v in sorted(params)
        if k != "X-Amz-Signature"
    )
    signed_headers = values.get("X-Amz-SignedHeaders", "host")
    if signed_headers != "host":
        raise ValueError(f"only host is signed by the test clients, got {signed_headers}")
    canonical_request = "\n".join(
        [method, raw_path, canonical_query, f"host:{host}", "", signed_headers, "UNSIGNED-PAYLOAD"]
    )
    amz_date = values["X-Amz-Date"]
    scope = values["X-Amz-Credential"].split("/", 1)[1]
    string_to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    date, region, service, terminal = scope.split("/")
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, terminal):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def sigv2_signature(method: str, raw_path: str, headers: dict, secret: str) -> str:
    """The SigV2 header signature for a request without sub-resources, from the raw path as received."""
    amz = "".join(f"{k}:{headers[k].strip()}\n" for k in sorted(headers) if k.startswith("x-amz-"))
    string_to_sign = "\n".join(
        [method, headers.get("content-md5", ""), headers.get("content-type", ""), headers.get("date", "")]
    )
    string_to_sign += "\n" + amz + raw_path
    digest = hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class S3Recorder:
    """WSGI middleware: record the raw request, check the signatures moto cannot, pass on to moto."""

    def __init__(self, app, recorder: Recorder, credentials: dict, name: str = "pachd-s3"):
        self.app = app
        self.recorder = recorder
        self.credentials = credentials
        self.name = name
        self.auth_on = False

    def __call__(self, environ, start_response):
        raw_uri = environ.get("REQUEST_URI") or environ.get("RAW_URI") or environ.get("PATH_INFO", "/")
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        if self.auth_on:
            self.recorder.add(Hit(self.name, environ["REQUEST_METHOD"], raw_uri, headers))
        if not self.auth_on:
            return self.app(environ, start_response)
        raw_path, _sep, query = raw_uri.partition("?")
        authorization = headers.get("authorization", "")
        params = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
        if authorization.startswith("AWS "):
            return self._sigv2(environ, start_response, raw_path, query, headers, authorization)
        if "X-Amz-Signature" in params:
            return self._presigned(environ, start_response, raw_path, query, headers, params)
        return self.app(environ, start_response)

    def _body(self, environ) -> bytes:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        return environ["wsgi.input"].read(length) if length else b""

    def _sigv2(self, environ, start_response, raw_path, query, headers, authorization):
        access_key, _sep, signature = authorization[4:].partition(":")
        if access_key != self.credentials["AccessKeyId"]:
            return _error(start_response, "403 Forbidden", "InvalidAccessKeyId", "unknown access key")
        expected = sigv2_signature(
            environ["REQUEST_METHOD"], raw_path, headers, self.credentials["SecretAccessKey"]
        )
        if not hmac.compare_digest(expected, signature):
            return _error(start_response, "403 Forbidden", "SignatureDoesNotMatch", "SigV2 mismatch")
        return self._resign(environ, start_response, raw_path, query, headers)

    def _presigned(self, environ, start_response, raw_path, query, headers, params):
        if not params.get("X-Amz-Credential", "").startswith(self.credentials["AccessKeyId"] + "/"):
            return _error(start_response, "403 Forbidden", "InvalidAccessKeyId", "unknown access key")
        expected = presigned_v4_signature(
            environ["REQUEST_METHOD"],
            raw_path,
            query,
            headers.get("host", ""),
            self.credentials["SecretAccessKey"],
        )
        if not hmac.compare_digest(expected, params["X-Amz-Signature"]):
            return _error(start_response, "403 Forbidden", "SignatureDoesNotMatch", "presigned mismatch")
        return self._resign(environ, start_response, raw_path, query, headers, strip_presign=True)

    def _resign(self, environ, start_response, raw_path, query, headers, strip_presign=False):
        """Hand a verified request on to moto, signed the way moto checks (SigV4 headers)."""
        body = self._body(environ)
        params = urllib.parse.parse_qsl(query, keep_blank_values=True)
        if strip_presign:
            params = [(k, v) for k, v in params if not k.startswith("X-Amz-")]
        new_query = urllib.parse.urlencode(params)
        host = headers.get("host", "")
        url = f"http://{host}{raw_path}" + (f"?{new_query}" if new_query else "")
        request = AWSRequest(method=environ["REQUEST_METHOD"], url=url, data=body, headers={"host": host})
        creds = Credentials(self.credentials["AccessKeyId"], self.credentials["SecretAccessKey"])
        S3SigV4Auth(creds, "s3", REGION).add_auth(request)
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Content-SHA256"):
            environ["HTTP_" + name.upper().replace("-", "_")] = request.headers[name]
        environ["QUERY_STRING"] = new_query
        environ["REQUEST_URI"] = environ["RAW_URI"] = raw_path + (f"?{new_query}" if new_query else "")
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        return self.app(environ, start_response)


class S3Backend:
    """moto's S3 on loopback with IAM signature checking turned on and a user allowed s3:*.

    With check_signatures=False it answers any well-formed signature (so a client's own credentials
    work) and records nothing.
    """

    def __init__(
        self, recorder: Recorder = NO_RECORD, name: str = "pachd-s3", port: int = 0, check_signatures=True
    ):
        self.recorder = recorder
        self.check_signatures = check_signatures
        self.name = name
        self.requested_port = port
        self.port = 0
        self.credentials: dict = {}
        self._server = None
        self._thread = None
        self._saved_count = None
        # moto's IAM is process-wide: each backend gets a user of its own.
        self.user = f"oneport-test-{uuid.uuid4().hex[:8]}"

    def start(self) -> S3Backend:
        from moto import settings
        from moto.core.authorization import ActionAuthenticatorMixin
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        self.app = S3Recorder(DomainDispatcherApplication(create_backend_app), self.recorder, {}, self.name)
        quiet = type("QuietMotoHandler", (MotoRequestHandler,), {"log_request": lambda *a, **k: None})
        self._server = make_server(
            "127.0.0.1", self.requested_port, self.app, threaded=True, request_handler=quiet
        )
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self._saved_count = settings.INITIAL_NO_AUTH_ACTION_COUNT
        if not self.check_signatures:
            # moto's signature checking is process-wide; another suite's S3 server may have turned it on.
            settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")
            return self
        import boto3

        # moto counts unauthenticated actions process-wide: the three IAM calls below are the last
        # ones allowed without a signature, everything after them is verified.
        ActionAuthenticatorMixin.request_count = 0
        settings.INITIAL_NO_AUTH_ACTION_COUNT = 3
        iam = boto3.client(
            "iam",
            endpoint_url=f"http://127.0.0.1:{self.port}",
            region_name=REGION,
            aws_access_key_id="bootstrap",
            aws_secret_access_key="bootstrap",
        )
        iam.create_user(UserName=self.user)
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
        }
        iam.put_user_policy(UserName=self.user, PolicyName="s3", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=self.user)["AccessKey"]
        self.credentials = {"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]}
        self.app.credentials = self.credentials
        self.app.auth_on = True
        return self

    def client(
        self, endpoint: str, signature_version: str = "s3v4", secret: str | None = None, verify=None, **config
    ):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id=self.credentials["AccessKeyId"],
            aws_secret_access_key=secret or self.credentials["SecretAccessKey"],
            verify=verify,
            config=Config(
                signature_version=signature_version,
                s3={"addressing_style": "path"},
                retries={"max_attempts": 1, "mode": "standard"},
                **config,
            ),
        )

    def stop(self) -> None:
        from moto import settings

        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._saved_count is not None:
            settings.INITIAL_NO_AUTH_ACTION_COUNT = self._saved_count


def http_date() -> str:
    return formatdate(usegmt=True)
