"""Backends that stand where Pachyderm's services stand behind the proxy and record what reached them.

Each backend speaks its real protocol (gRPC over HTTP/2, the S3 REST protocol through moto, HTTP and
websockets), so a request that Envoy routed to the wrong place, or altered on the way, fails or shows
up in the wrong backend's record. Envoy's own health checks (user agent `Envoy/HC`) are answered but
not recorded. A backend started without a recorder records nothing.

pachd itself cannot run here: GrpcBackend stands in for its gRPC face as far as the probes need it
(the standard health service and the two calls `pachctl version` makes), and `console_page_backend`
and `dex_backend` answer the documents the console and Dex probes read.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

SERVICE = "oneport.test.Probe"
UNARY = f"/{SERVICE}/Echo"
SERVER_STREAM = f"/{SERVICE}/Ticks"
CLIENT_STREAM = f"/{SERVICE}/Upload"

PACHD_VERSION = (2, 12, 2)
CLUSTER_ID = "oneport-test-cluster"
DEPLOYMENT_ID = "oneport-test-deployment"
CONSOLE_PAGE = (
    b"<!DOCTYPE html><html><head><title>Pachyderm Console</title></head><body>console</body></html>"
)


@dataclass
class Hit:
    """One request as a backend saw it on arrival."""

    backend: str
    method: str
    raw_path: str
    headers: dict = field(default_factory=dict)


class Recorder:
    """The shared, thread-safe record of which backend saw which request."""

    def __init__(self):
        self._lock = threading.Lock()
        self.hits: list[Hit] = []

    def add(self, hit: Hit) -> None:
        with self._lock:
            self.hits.append(hit)

    def clear(self) -> None:
        with self._lock:
            self.hits.clear()

    def mark(self) -> int:
        """A position in the record; `find(..., since=mark)` sees only what arrived after it."""
        with self._lock:
            return len(self.hits)

    def find(self, marker: str, since: int = 0) -> list[Hit]:
        """Hits whose raw path or `x-probe` header carries the marker a test put in its request."""
        with self._lock:
            return [
                h for h in self.hits[since:] if marker in h.raw_path or h.headers.get("x-probe") == marker
            ]


class _NoRecord(Recorder):
    """For a backend that only has to answer: keeps nothing."""

    def add(self, hit: Hit) -> None:
        pass


NO_RECORD = _NoRecord()


def is_health_check(headers) -> bool:
    return str(headers.get("user-agent", "")).startswith("Envoy/HC")


def _identity(data: bytes) -> bytes:
    return data


def _protobuf_string(field_number: int, text: str) -> bytes:
    data = text.encode()
    return bytes([(field_number << 3) | 2, len(data)]) + data


def _get_version(_request, _context) -> bytes:
    """versionpb_v2.Version{major, minor, micro}: fields 1-3, varints."""
    major, minor, micro = PACHD_VERSION
    return bytes([0x08, major, 0x10, minor, 0x18, micro])


def _inspect_cluster(_request, _context) -> bytes:
    """admin_v2.ClusterInfo{id, deployment_id}: fields 1 and 2, strings."""
    return _protobuf_string(1, CLUSTER_ID) + _protobuf_string(2, DEPLOYMENT_ID)


class GrpcBackend:
    """pachd's gRPC port: the standard health service plus unary, server- and client-streaming methods.

    Messages are raw bytes (generic handlers), so no generated code is needed. The two calls
    `pachctl version` makes (admin_v2.API/InspectCluster, versionpb_v2.API/GetVersion) are answered
    with protobuf messages encoded by hand, field numbers as in Pachyderm's .proto files.
    `Echo` answers `<backend>:<request>`. `Ticks` takes JSON {"seconds": s, "interval": i} and sends one
    message every interval for s seconds. `Upload` returns the SHA-256 hex digest and size of all
    bytes received, as JSON.
    """

    def __init__(self, recorder: Recorder = NO_RECORD, name: str = "pachd-grpc", port: int = 0):
        self.recorder = recorder
        self.name = name
        self.requested_port = port
        self.server: grpc.Server | None = None
        self.port = 0

    def _record(self, context, path: str) -> None:
        headers = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
        self.recorder.add(Hit(self.name, "POST", path, headers))

    def _echo(self, request: bytes, context) -> bytes:
        self._record(context, UNARY)
        return self.name.encode() + b":" + request

    def _ticks(self, request: bytes, context):
        self._record(context, SERVER_STREAM)
        spec = json.loads(request or b"{}")
        seconds, interval = float(spec.get("seconds", 1)), float(spec.get("interval", 0.5))
        started = time.monotonic()
        count = 0
        while context.is_active():
            elapsed = time.monotonic() - started
            if elapsed >= seconds:
                break
            yield json.dumps({"tick": count, "elapsed": round(elapsed, 3)}).encode()
            count += 1
            time.sleep(interval)

    def _upload(self, request_iterator, context) -> bytes:
        self._record(context, CLIENT_STREAM)
        digest = hashlib.sha256()
        size = 0
        for chunk in request_iterator:
            digest.update(chunk)
            size += len(chunk)
        return json.dumps({"sha256": digest.hexdigest(), "size": size}).encode()

    def start(self) -> GrpcBackend:
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=16),
            options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)],
        )
        handlers = {
            "Echo": grpc.unary_unary_rpc_method_handler(self._echo, _identity, _identity),
            "Ticks": grpc.unary_stream_rpc_method_handler(self._ticks, _identity, _identity),
            "Upload": grpc.stream_unary_rpc_method_handler(self._upload, _identity, _identity),
        }
        pachd = {
            "versionpb_v2.API": {"GetVersion": grpc.unary_unary_rpc_method_handler(_get_version)},
            "admin_v2.API": {"InspectCluster": grpc.unary_unary_rpc_method_handler(_inspect_cluster)},
        }
        server.add_generic_rpc_handlers(
            (
                grpc.method_handlers_generic_handler(SERVICE, handlers),
                *(grpc.method_handlers_generic_handler(name, methods) for name, methods in pachd.items()),
            )
        )
        self.health = health.HealthServicer()
        self.health.set("", health_pb2.HealthCheckResponse.SERVING)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        self.port = server.add_insecure_port(f"127.0.0.1:{self.requested_port}")
        server.start()
        self.server = server
        return self

    def stop(self) -> None:
        if self.server:
            self.server.stop(grace=None).wait(5)
            self.server = None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    backend: HttpBackend

    def log_message(self, *args) -> None:
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        if not is_health_check(headers):
            self.backend.recorder.add(Hit(self.backend.name, self.command, self.path, headers))
        if self.backend.routes is None:
            payload = json.dumps({"backend": self.backend.name, "path": self.path, "received": len(body)})
            content_type, data = "application/json", payload.encode()
        else:
            found = self.backend.document(self.path.split("?", 1)[0])
            if found is None:
                self.send_error(404)
                return
            content_type, data = found
        self.send_response(200)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _serve


class HttpBackend:
    """A plain HTTP/1.1 service (Dex, the OIDC callback, pachd's HTTP API, metrics, an ACME solver).

    It answers every request with JSON naming itself, or, given routes (path prefix -> (content type,
    body), a prefix ending in / matching below it), those fixed documents and 404 elsewhere.
    """

    def __init__(self, recorder: Recorder = NO_RECORD, name: str = "http", port: int = 0, routes=None):
        self.recorder = recorder
        self.name = name
        self.requested_port = port
        self.routes: dict | None = routes
        self.server: ThreadingHTTPServer | None = None
        self.port = 0

    def document(self, path: str):
        for prefix, found in self.routes.items():
            if path == prefix or (prefix.endswith("/") and path.startswith(prefix)):
                return found
        return None

    def start(self) -> HttpBackend:
        handler = type(f"Handler_{self.name}", (_Handler,), {"backend": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", self.requested_port), handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


class ConsoleBackend:
    """The console: HTTP pages on any path and method, and an echo websocket on `/ws` and `/graphql`."""

    WEBSOCKET_PATHS = ("/ws", "/graphql")

    def __init__(self, recorder: Recorder, name: str = "console", port: int = 0):
        self.recorder = recorder
        self.name = name
        self.requested_port = port
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None

    def start(self) -> ConsoleBackend:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("console backend did not start")
        return self

    def _run(self, ready: threading.Event) -> None:
        asyncio.run(self._main(ready))

    async def _handle(self, request):
        from aiohttp import WSMsgType, web

        headers = {k.lower(): v for k, v in request.headers.items()}
        upgrade = headers.get("upgrade", "").lower() == "websocket"
        if not is_health_check(headers):
            method = "WEBSOCKET" if upgrade else request.method
            self.recorder.add(Hit(self.name, method, request.raw_path, headers))
        if upgrade and request.path in self.WEBSOCKET_PATHS:
            websocket = web.WebSocketResponse(heartbeat=None)
            await websocket.prepare(request)
            async for message in websocket:
                if message.type == WSMsgType.TEXT:
                    await websocket.send_str(message.data)
                elif message.type == WSMsgType.BINARY:
                    await websocket.send_bytes(message.data)
            return websocket
        await request.read()
        return web.json_response({"backend": self.name, "path": request.raw_path})

    async def _main(self, ready: threading.Event) -> None:
        from aiohttp import web

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self.requested_port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        ready.set()
        await self._stop.wait()
        await runner.cleanup()

    def stop(self) -> None:
        if self._loop and self._stop:
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(10)
            self._loop = None


def console_page_backend(port: int = 0) -> HttpBackend:
    """The console's page and health endpoint, as the console probe reads them (on `port`, or any)."""
    routes = {"/": ("text/html; charset=utf-8", CONSOLE_PAGE), "/health": ("text/plain", b"ok")}
    return HttpBackend(name="console", routes=routes, port=port)


def dex_backend(issuer: str) -> HttpBackend:
    """Dex's discovery document for the issuer, as the dex probe reads it."""
    document = json.dumps(
        {
            "issuer": issuer,
            "authorization_endpoint": issuer + "/auth",
            "token_endpoint": issuer + "/token",
            "jwks_uri": issuer + "/keys",
        }
    ).encode()
    return HttpBackend(
        name="pachd-identity",
        routes={"/dex/.well-known/openid-configuration": ("application/json", document)},
    )
