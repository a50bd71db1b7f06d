"""The API server's only way out: an HTTP CONNECT proxy on a Unix socket that allows loopback targets only.

kube-apiserver is started with an egress selector configuration that sends its "cluster" and
"controlplane" traffic (admission and conversion webhooks, aggregated APIs, the kubelet, the pods/services
proxy subresources) through this proxy. Each CONNECT is decided here:

- the ClusterIP:port of a Service the sandbox serves (`--serve NAMESPACE/NAME:PORT=ENDPOINT`) is relayed
  to the local process serving it (a Unix socket or a loopback port), e.g. MetalLB's webhook;
- an explicitly allowed loopback HOST:PORT (`--allow`, the fake node's kubelet port) is connected to;
- an address in an allowed network (`--allow-network`: the real node's link and its pods' range, both
  inside the node's network namespace behind the sandbox's own veth) is connected to;
- with the real node (`--allow-network` given), the ClusterIP:port of any other Service is connected to
  one of its ready endpoints, as kube-proxy would, if that endpoint is in an allowed network (the API
  server's webhooks served by pods, e.g. MetalLB's);
- anything else is refused with 403 and logged: Pod IPs, ClusterIPs of Services nobody serves here,
  and every address off the machine. The Service CIDR is loopback too, so even a refusal path that
  failed open would stay local.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import signal
import sys
import time
from dataclasses import dataclass

from .relay import Endpoint, open_endpoint, parse_endpoint, serve_endpoint, splice

MAX_HEADER = 8192
SERVICE_REFRESH = 0.2  # seconds: a miss re-lists the Services, at most this often


@dataclass(frozen=True)
class Decision:
    target: Endpoint | None
    reason: str


def parse_connect(header: bytes) -> tuple[str, int]:
    """(host, port) of an HTTP CONNECT request header; ValueError if it is anything else."""
    try:
        line = header.split(b"\r\n", 1)[0].decode("ascii")
    except UnicodeDecodeError:
        raise ValueError("request line is not ASCII") from None
    parts = line.split()
    if len(parts) != 3 or parts[0] != "CONNECT" or not parts[2].startswith("HTTP/1."):
        raise ValueError(f"not a CONNECT request: {line[:80]!r}")
    host, sep, port = parts[1].rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"CONNECT target {parts[1]!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def parse_serve(text: str) -> tuple[tuple[str, str, int], Endpoint]:
    """`NAMESPACE/NAME:PORT=ENDPOINT` -> ((namespace, name, port), endpoint)."""
    service, sep, endpoint = text.partition("=")
    namespace, slash, rest = service.partition("/")
    name, colon, port = rest.rpartition(":")
    if not (sep and slash and colon and port.isdigit() and namespace and name):
        raise ValueError(f"--serve {text!r}: expected NAMESPACE/NAME:PORT=unix:/path or =tcp:127.0.0.1:PORT")
    return (namespace, name, int(port)), parse_endpoint(endpoint)


def service_index(services: list[dict]) -> dict[tuple[str, int], tuple[str, str, int]]:
    """{(clusterIP, port): (namespace, name, port)} for every Service port with a ClusterIP."""
    index = {}
    for svc in services:
        meta, spec = svc.get("metadata") or {}, svc.get("spec") or {}
        ips = spec.get("clusterIPs") or [spec.get("clusterIP")]
        for ip in ips:
            if not ip or ip == "None":
                continue
            for port in spec.get("ports") or []:
                index[(str(ipaddress.ip_address(ip)), int(port["port"]))] = (
                    meta.get("namespace", ""),
                    meta.get("name", ""),
                    int(port["port"]),
                )
    return index


def decide(
    host: str,
    port: int,
    *,
    service_cidr: str,
    services: dict[tuple[str, int], tuple[str, str, int]],
    serve: dict[tuple[str, str, int], Endpoint],
    allow: set[tuple[str, int]],
    networks: tuple = (),
) -> Decision:
    """Where a CONNECT to host:port goes, or why it is refused (target None)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return Decision(None, f"{host}:{port} is not an IP address; the sandbox resolves no names")
    key = (str(address), port)
    if key in allow:
        return Decision(Endpoint("tcp", host=str(address), port=port), "allowed loopback endpoint")
    for network in networks:
        if address in ipaddress.ip_network(network):
            return Decision(
                Endpoint("tcp", host=str(address), port=port), f"the real node's network {network}"
            )
    if address in ipaddress.ip_network(service_cidr):
        service = services.get(key)
        if service is None:
            return Decision(None, f"no Service has ClusterIP {host} with port {port}")
        if service in serve:
            namespace, name, svc_port = service
            return Decision(serve[service], f"Service {namespace}/{name}:{svc_port}")
        namespace, name, svc_port = service
        return Decision(
            None, f"Service {namespace}/{name}:{svc_port} has no sandbox process serving it (no Pod runs)"
        )
    if address.is_loopback:
        return Decision(None, f"{host}:{port} is loopback but not a sandbox endpoint")
    return Decision(None, f"{host}:{port} is outside the machine; the sandbox never sends traffic there")


class Proxy:
    def __init__(self, args, log):
        self.args = args
        self.log = log
        self.serve = dict(parse_serve(s) for s in args.serve)
        self.allow = set()
        for item in args.allow:
            endpoint = parse_endpoint("tcp:" + item)
            self.allow.add((endpoint.host, endpoint.port))
        self.services: dict = {}
        self.refreshed = 0.0
        self._core = None

    def _list_services(self) -> list[dict]:
        from kubernetes import client, config

        if self._core is None:
            self._core = client.CoreV1Api(config.new_client_from_config(config_file=self.args.kubeconfig))
        items = self._core.list_service_for_all_namespaces().items
        return [self._core.api_client.sanitize_for_serialization(s) for s in items]

    async def refresh(self) -> None:
        if time.monotonic() - self.refreshed < SERVICE_REFRESH:
            return
        self.refreshed = time.monotonic()
        try:
            services = await asyncio.get_running_loop().run_in_executor(None, self._list_services)
            self.services = service_index(services)
        except Exception as err:  # keep the last view; the next CONNECT tries again
            self.log(f"cannot list Services: {err}")

    def _pod_endpoint(self, namespace: str, name: str, port: int) -> Endpoint | None:
        """A ready endpoint of Service namespace/name's `port`, in an allowed network; None if none."""
        from kubernetes import client

        core = self._core
        if core is None:
            return None
        service = core.read_namespaced_service(name, namespace)
        wanted = next((p for p in service.spec.ports or [] if p.port == port), None)
        if wanted is None:
            return None
        discovery = client.DiscoveryV1Api(core.api_client)
        slices = discovery.list_namespaced_endpoint_slice(
            namespace, label_selector=f"kubernetes.io/service-name={name}"
        ).items
        for item in slices:
            number = next((p.port for p in item.ports or [] if (p.name or "") == (wanted.name or "")), None)
            for endpoint in item.endpoints or []:
                if number is None or (endpoint.conditions and endpoint.conditions.ready is False):
                    continue
                for address in endpoint.addresses:
                    if any(
                        ipaddress.ip_address(address) in ipaddress.ip_network(n)
                        for n in self.args.allow_network
                    ):
                        return Endpoint("tcp", host=address, port=number)
        return None

    async def _resolve_pod(self, host: str, port: int) -> Decision | None:
        service = self.services.get((host, port))
        if service is None or service in self.serve or not self.args.allow_network:
            return None
        namespace, name, svc_port = service
        try:
            target = await asyncio.get_running_loop().run_in_executor(
                None, self._pod_endpoint, namespace, name, svc_port
            )
        except Exception as err:  # the API is unreachable or the Service just went away
            self.log(f"cannot read the endpoints of {namespace}/{name}: {err}")
            return None
        if target is None:
            return Decision(None, f"Service {namespace}/{name}:{svc_port} has no ready endpoint on the node")
        return Decision(target, f"Service {namespace}/{name}:{svc_port} (a pod on the real node)")

    async def handle(self, reader, writer):
        try:
            header = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        try:
            host, port = parse_connect(header)
        except ValueError as err:
            await self._refuse(writer, 400, str(err))
            return
        decision = self._decide(host, port)
        if decision.target is None and self._in_service_cidr(host):
            await self.refresh()  # a Service created, or changed, since the last look
            decision = self._decide(host, port)
        if decision.target is None and self._in_service_cidr(host):
            decision = await self._resolve_pod(host, port) or decision
        if decision.target is None:
            await self._refuse(writer, 403, decision.reason)
            return
        try:
            r2, w2 = await open_endpoint(decision.target)
        except OSError as err:
            await self._refuse(writer, 502, f"{decision.reason}: {decision.target} is not answering ({err})")
            return
        self.log(f"CONNECT {host}:{port} -> {decision.target} ({decision.reason})")
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await splice(reader, writer, r2, w2)

    def _in_service_cidr(self, host: str) -> bool:
        try:
            return ipaddress.ip_address(host) in ipaddress.ip_network(self.args.service_cidr)
        except ValueError:
            return False

    def _decide(self, host: str, port: int) -> Decision:
        return decide(
            host,
            port,
            service_cidr=self.args.service_cidr,
            services=self.services,
            serve=self.serve,
            allow=self.allow,
            networks=tuple(self.args.allow_network),
        )

    async def _refuse(self, writer, code: int, reason: str) -> None:
        self.log(f"REFUSED ({code}) {reason}")
        text = {400: "Bad Request", 403: "Forbidden", 502: "Bad Gateway"}[code]
        writer.write(f"HTTP/1.1 {code} {text}: {reason}\r\nContent-Length: 0\r\n\r\n".encode())
        try:
            await writer.drain()
        finally:
            writer.close()


async def amain(args) -> None:
    def log(msg: str) -> None:
        print(f"[egress] {time.strftime('%H:%M:%S')} {msg}", flush=True)

    proxy = Proxy(args, log)
    server = await serve_endpoint(parse_endpoint("unix:" + args.socket), proxy.handle)
    log(f"listening on {args.socket}; serving {sorted(proxy.serve)}; allowing {sorted(proxy.allow)}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--socket", required=True, help="absolute path of the Unix socket to listen on")
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--service-cidr", required=True)
    parser.add_argument("--serve", action="append", default=[], metavar="NAMESPACE/NAME:PORT=ENDPOINT")
    parser.add_argument("--allow", action="append", default=[], metavar="IP:PORT")
    parser.add_argument("--allow-network", action="append", default=[], metavar="CIDR")
    args = parser.parse_args(argv)
    try:
        asyncio.run(amain(args))
    except ValueError as err:
        print(f"egress: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
