"""A STAND-IN for cert-manager's webhook and cainjector, honouring the contract of the v1.21 chart.

cert-manager's webhook and cainjector cannot be built on these machines (like its controller), but the
real chart registers their admission webhooks with failurePolicy Fail, so without them no Issuer or
Certificate could be created. This module does what they do for that chart, and no more:

- the webhook's dynamic serving CA: the Secret `cert-manager/cert-manager-webhook-ca` (ECDSA P-384,
  CN cert-manager-webhook-ca, one year, `tls.crt` = `ca.crt`, `tls.key` in PKCS#8, annotated
  `cert-manager.io/allow-direct-injection: "true"`), regenerated when missing, malformed or two thirds
  through its life; a serving certificate for cert-manager-webhook(.cert-manager(.svc)) signed by it;
- the cainjector's `cert-manager.io/inject-ca-from-secret` annotation on Validating- and
  MutatingWebhookConfigurations: each webhook's `clientConfig.caBundle` is set to the Secret's `ca.crt`
  (only when the Secret allows direct injection, as cainjector requires);
- the admission endpoints, AdmissionReview v1 over HTTPS: `/validate` refuses what cert-manager's
  webhook refuses for the common cases (a Certificate without secretName, issuerRef.name or any
  subject name, an unknown issuerRef.kind, a commonName over 64 characters, a bad IP address; an
  Issuer/ClusterIssuer with no issuer type or more than one), with cert-manager's wording; everything
  else is allowed. `/mutate` sets a CertificateRequest's username, uid, groups and extra from the
  requesting user, as cert-manager's does.

It is no replacement for cert-manager's validation: most rules (ACME solvers, Vault, Venafi, key
usages, durations, ...) are not checked here.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import ipaddress
import json
import os
import socketserver
import ssl
import threading
from http.server import BaseHTTPRequestHandler

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_SECRET = "cert-manager-webhook-ca"  # noqa: S105 (a Secret name)
NAMESPACE = "cert-manager"
SERVICE = "cert-manager-webhook"
CA_DURATION = datetime.timedelta(days=365)
LEAF_DURATION = datetime.timedelta(days=7)
INJECT_FROM_SECRET = "cert-manager.io/inject-ca-from-secret"  # noqa: S105 (an annotation)
ALLOW_DIRECT_INJECTION = "cert-manager.io/allow-direct-injection"
SUBJECT_NAME_RULE = (
    "at least one of commonName (from the commonName field or from a literalSubject), dnsNames, "
    "emailSANs, ipAddresses, otherNames, or uriSANs must be set"
)
ISSUER_TYPES = ("acme", "ca", "selfSigned", "vault", "venafi")


def dns_names(service: str = SERVICE, namespace: str = NAMESPACE) -> list[str]:
    """The names the chart passes as --dynamic-serving-dns-names."""
    return [service, f"{service}.{namespace}", f"{service}.{namespace}.svc"]


# --------------------------------------------------------------------------- the serving CA
def new_ca(now: datetime.datetime | None = None):
    now = now or datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP384R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cert-manager-webhook-ca")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + CA_DURATION)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=True,
                key_cert_sign=True,
                crl_sign=False,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert


def ca_secret_data(key, cert) -> dict[str, str]:
    """The Secret's data (base64), as cert-manager's DynamicAuthority writes it."""
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    b64 = base64.b64encode
    return {
        "tls.crt": b64(cert_pem).decode(),
        "tls.key": b64(key_pem).decode(),
        "ca.crt": b64(cert_pem).decode(),
    }


def load_ca(data: dict[str, bytes] | None, now: datetime.datetime | None = None):
    """(key, cert) from decoded Secret data, or None when it must be regenerated (cert-manager's rules)."""
    now = now or datetime.datetime.now(datetime.UTC)
    if not data or not all(data.get(k) for k in ("ca.crt", "tls.crt", "tls.key")):
        return None
    if data["ca.crt"] != data["tls.crt"]:
        return None
    try:
        cert = x509.load_pem_x509_certificate(data["tls.crt"])
        key = serialization.load_pem_private_key(data["tls.key"], password=None)
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except (ValueError, x509.ExtensionNotFound):
        return None
    if not constraints.ca or key.public_key().public_numbers() != cert.public_key().public_numbers():
        return None
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    if cert.not_valid_after_utc - now < lifetime / 3:
        return None
    return key, cert


def serving_certificate(ca_key, ca_cert, names: list[str], now: datetime.datetime | None = None):
    """A leaf for the webhook Service, signed by the serving CA (never outliving it)."""
    now = now or datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    not_after = min(now + LEAF_DURATION, ca_cert.not_valid_after_utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


# --------------------------------------------------------------------------- CA injection
def injection_source(obj: dict) -> tuple[str, str] | None:
    """(namespace, name) of the Secret an object asks to be injected from, or None."""
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(INJECT_FROM_SECRET)
    if not value or value.count("/") != 1:
        return None
    namespace, name = value.split("/")
    return namespace, name


def injectable_bundle(secret: dict | None) -> str | None:
    """The base64 ca.crt of a Secret that allows direct injection (cainjector's rule), else None."""
    if not secret:
        return None
    annotations = (secret.get("metadata") or {}).get("annotations") or {}
    if annotations.get(ALLOW_DIRECT_INJECTION) != "true":
        return None
    return (secret.get("data") or {}).get("ca.crt") or None


def inject(config: dict, bundle: str) -> list[dict] | None:
    """The webhooks list with every caBundle set to bundle, or None when all are already set."""
    webhooks = config.get("webhooks") or []
    if all((w.get("clientConfig") or {}).get("caBundle") == bundle for w in webhooks):
        return None
    updated = []
    for webhook in webhooks:
        webhook = dict(webhook)
        webhook["clientConfig"] = dict(webhook.get("clientConfig") or {}, caBundle=bundle)
        updated.append(webhook)
    return updated


# --------------------------------------------------------------------------- admission
def _invalid(path: str, value: str, detail: str) -> str:
    return f"{path}: Invalid value: {json.dumps(value)}: {detail}"


def _required(path: str, detail: str = "") -> str:
    return f"{path}: Required value" + (f": {detail}" if detail else "")


def _forbidden(path: str, detail: str) -> str:
    return f"{path}: Forbidden: {detail}"


def validate_certificate_spec(spec: dict, path: str = "spec") -> list[str]:
    """The field errors cert-manager's ValidateCertificateSpec reports for the common mistakes."""
    errors = []
    secret_name = spec.get("secretName") or ""
    if not secret_name:
        errors.append(_required(f"{path}.secretName", "must be specified"))
    ref = spec.get("issuerRef") or {}
    if not ref.get("name"):
        errors.append(_required(f"{path}.issuerRef.name", "must be specified"))
    group, kind = ref.get("group") or "", ref.get("kind") or ""
    if group in ("", "cert-manager.io") and kind not in ("", "Issuer", "ClusterIssuer"):
        detail = "must be one of Issuer or ClusterIssuer"
        if not group:
            detail += f" (did you forget to set {path}.issuerRef.kind.group?)"
        errors.append(_invalid(f"{path}.issuerRef.kind", kind, detail))
    common_name = spec.get("commonName") or ""
    names = ("dnsNames", "uris", "emailAddresses", "ipAddresses", "otherNames")
    if not common_name and not spec.get("literalSubject") and not any(spec.get(n) for n in names):
        errors.append(_invalid(path, "", SUBJECT_NAME_RULE))
    if len(common_name) > 64:
        errors.append(f"{path}.commonName: Too long: may not be more than 64 bytes")
    for i, address in enumerate(spec.get("ipAddresses") or []):
        try:
            ipaddress.ip_address(address)
        except ValueError:
            errors.append(_invalid(f"{path}.ipAddresses[{i}]", address, "invalid IP address"))
    return errors


def validate_issuer_spec(spec: dict, path: str = "spec") -> list[str]:
    """cert-manager's ValidateIssuerConfig: exactly one issuer type."""
    errors, configured = [], 0
    for kind in ISSUER_TYPES:
        if spec.get(kind) is None:
            continue
        if configured:
            errors.append(_forbidden(f"{path}.{kind}", "may not specify more than one issuer type"))
        else:
            configured += 1
    if not configured:
        errors.append(_required(path, "at least one issuer must be configured"))
    return errors


def aggregate(errors: list[str]) -> str:
    """Like k8s.io/apimachinery's utilerrors aggregate: one message, or `[a, b]`."""
    return errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"


def _resource(request: dict) -> tuple[str, str]:
    resource = request.get("requestResource") or request.get("resource") or {}
    return resource.get("group", ""), resource.get("resource", "")


def validate(request: dict) -> list[str]:
    if request.get("operation") not in ("CREATE", "UPDATE"):
        return []
    group, resource = _resource(request)
    spec = (request.get("object") or {}).get("spec") or {}
    if group == "cert-manager.io" and resource == "certificates":
        return validate_certificate_spec(spec)
    if group == "cert-manager.io" and resource in ("issuers", "clusterissuers"):
        return validate_issuer_spec(spec)
    return []


def mutate(request: dict) -> list[dict]:
    """JSON patch setting a new CertificateRequest's requester identity (cert-manager's mutation)."""
    group, resource = _resource(request)
    if request.get("operation") != "CREATE" or (group, resource) != (
        "cert-manager.io",
        "certificaterequests",
    ):
        return []
    user = request.get("userInfo") or {}
    spec = (request.get("object") or {}).get("spec")
    patch = [] if spec is not None else [{"op": "add", "path": "/spec", "value": {}}]
    for field, value in (
        ("username", user.get("username", "")),
        ("uid", user.get("uid", "")),
        ("groups", user.get("groups") or []),
        ("extra", user.get("extra") or {}),
    ):
        if value:
            patch.append({"op": "add", "path": f"/spec/{field}", "value": value})
    return patch


def review(body: dict, path: str) -> dict:
    """The AdmissionReview v1 answer for a request posted to path (/validate or /mutate)."""
    request = body.get("request") or {}
    response: dict = {"uid": request.get("uid", ""), "allowed": True}
    if path == "/validate":
        errors = validate(request)
        if errors:
            response["allowed"] = False
            response["status"] = {"code": 403, "reason": "Forbidden", "message": aggregate(errors)}
    elif path == "/mutate":
        patch = mutate(request)
        if patch:
            response["patchType"] = "JSONPatch"
            response["patch"] = base64.b64encode(json.dumps(patch).encode()).decode()
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}


# --------------------------------------------------------------------------- HTTPS on a Unix socket
class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cert-manager-webhook-stand-in"

    def address_string(self) -> str:  # Unix sockets have no peer address
        return "unix"

    def log_message(self, fmt, *args) -> None:
        self.server.log(f"webhook: {fmt % args}")

    def _send(self, code: int, payload: bytes, content_type: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        if self.path in ("/healthz", "/livez"):
            self._send(200, b"ok", "text/plain")
        else:
            self._send(404, b"not found", "text/plain")

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        if path not in ("/validate", "/mutate"):
            self._send(404, b"not found", "text/plain")
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._send(400, b"request body is not JSON", "text/plain")
            return
        answer = self.server.review(body, path)
        if not answer["response"]["allowed"]:
            self.server.log(f"refused {path}: {answer['response']['status']['message']}")
        self._send(200, json.dumps(answer).encode())


class WebhookServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """The admission endpoints over TLS on a Unix socket (the sandbox's egress proxy relays to it)."""

    daemon_threads = True

    def __init__(self, path: str, log=print, review=review):
        """`review(body, path)` answers each AdmissionReview posted to /validate or /mutate."""
        self.log = log
        self.review = review
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.has_certificate = False
        # A socket file left by a stand-in that was stopped (`down`) answers nobody: bind anew.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        super().__init__(path, _Handler)

    def set_certificate(self, cert_file: str, key_file: str) -> None:
        # New handshakes use the reloaded pair; connections in flight keep theirs.
        self.context.load_cert_chain(cert_file, key_file)
        self.has_certificate = True

    def get_request(self):
        sock, addr = super().get_request()
        # The handshake happens on the first read, in the request's own thread.
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, daemon=True, name="webhook")
        thread.start()
        return thread
