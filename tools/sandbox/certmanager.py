"""A STAND-IN for cert-manager's controller, webhook and cainjector in the sandbox cluster.

cert-manager's controller, webhook and cainjector cannot be built on these machines, so the sandbox
runs this instead. It is not cert-manager: it honours the part of cert-manager's contract the roles and
the real v1.21 chart rely on, against the real cert-manager.io/v1 CRDs:

- Issuers and ClusterIssuers get a Ready condition: `selfSigned` is Ready; `ca` is Ready when its
  `secretName` holds a key pair; ACME issuers are never Ready here (no ACME server is reachable), with
  reason `ErrRegisterACMEAccount` and a message saying so.
- A Certificate whose issuer is Ready gets its Secret (`spec.secretName`, type kubernetes.io/tls with
  tls.crt, tls.key, ca.crt, the `cert-manager.io/*` annotations and `spec.secretTemplate`) and a Ready
  condition; its status carries notBefore, notAfter, renewalTime and revision like cert-manager's.
  A Certificate is re-issued only when its Secret is missing or no longer matches the spec (names,
  issuer), so repeated runs leave the Secret unchanged.

- The webhook and cainjector part (see certmanager_webhook.py): the `cert-manager-webhook-ca` Secret,
  caBundle injection into the chart's webhook configurations, and the admission endpoints served over
  HTTPS on a Unix socket that the sandbox's egress proxy connects the `cert-manager-webhook` Service to.

It does not do CertificateRequests, Orders, Challenges, renewal before expiry or key rotation policies.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import ipaddress
import os
import re
import signal
import sys
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from . import certmanager_webhook as webhook

GROUP, VERSION = "cert-manager.io", "v1"
DEFAULT_DURATION = datetime.timedelta(days=90)
ANN = "cert-manager.io/"


class NotReady(Exception):
    """An issuer that cannot sign: (reason, message)."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


# --------------------------------------------------------------------------- pure logic
def parse_duration(text: str | None) -> datetime.timedelta:
    """A Go duration as cert-manager takes it ("2160h", "1h30m0s", "90m")."""
    if not text:
        return DEFAULT_DURATION
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    total = 0.0
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"invalid duration {text!r}: use a Go duration such as 2160h")
    for number, unit in parts:
        total += float(number) * units[unit]
    return datetime.timedelta(seconds=total)


def new_private_key(spec: dict):
    algorithm = (spec or {}).get("algorithm", "RSA")
    size = (spec or {}).get("size")
    if algorithm == "RSA":
        return rsa.generate_private_key(public_exponent=65537, key_size=int(size or 2048))
    if algorithm == "ECDSA":
        curve = {256: ec.SECP256R1(), 384: ec.SECP384R1(), 521: ec.SECP521R1()}[int(size or 256)]
        return ec.generate_private_key(curve)
    if algorithm == "Ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"privateKey.algorithm {algorithm!r} is not one of RSA, ECDSA, Ed25519")


def private_key_pem(key, encoding: str = "PKCS1") -> bytes:
    fmt = (
        serialization.PrivateFormat.TraditionalOpenSSL
        if encoding == "PKCS1" and isinstance(key, rsa.RSAPrivateKey)
        else serialization.PrivateFormat.PKCS8
    )
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())


def _hash_for(key):
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def wanted_names(spec: dict) -> dict:
    """What a Certificate asks for, in the form compared against an issued certificate."""
    return {
        "common_name": spec.get("commonName") or "",
        "dns_names": sorted(spec.get("dnsNames") or []),
        "ip_addresses": sorted(str(ipaddress.ip_address(i)) for i in spec.get("ipAddresses") or []),
        "uris": sorted(spec.get("uris") or []),
        "is_ca": bool(spec.get("isCA")),
    }


def issued_names(cert: x509.Certificate) -> dict:
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = san.get_values_for_type(x509.DNSName)
        ips = [str(i) for i in san.get_values_for_type(x509.IPAddress)]
        uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    except x509.ExtensionNotFound:
        dns, ips, uris = [], [], []
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    return {
        "common_name": cns[0].value if cns else "",
        "dns_names": sorted(dns),
        "ip_addresses": sorted(ips),
        "uris": sorted(uris),
        "is_ca": is_ca,
    }


def sign(spec: dict, signer_key, signer_cert: x509.Certificate | None, now=None):
    """Issue the certificate a Certificate spec asks for.

    signer_cert None means self-signed (the new key signs its own certificate and signer_key is
    ignored). Returns (key, cert, ca_cert).
    """
    now = now or datetime.datetime.now(datetime.UTC)
    key = new_private_key(spec.get("privateKey") or {})
    names = wanted_names(spec)
    subject_attrs = []
    subject = spec.get("subject") or {}
    for org in subject.get("organizations") or []:
        subject_attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    if names["common_name"]:
        subject_attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, names["common_name"]))
    subject_name = x509.Name(subject_attrs)
    duration = parse_duration(spec.get("duration"))
    self_signed = signer_cert is None
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject_name)
        .issuer_name(subject_name if self_signed else signer_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + duration)
        .add_extension(x509.BasicConstraints(ca=names["is_ca"], path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=isinstance(key, rsa.RSAPrivateKey),
                key_cert_sign=names["is_ca"],
                crl_sign=False,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    if not names["is_ca"]:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
    sans = (
        [x509.DNSName(d) for d in names["dns_names"]]
        + [x509.IPAddress(ipaddress.ip_address(i)) for i in names["ip_addresses"]]
        + [x509.UniformResourceIdentifier(u) for u in names["uris"]]
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=not subject_attrs)
    signing_key = key if self_signed else signer_key
    cert = builder.sign(signing_key, _hash_for(signing_key))
    return key, cert, cert if self_signed else signer_cert


def condition(kind: str, status: bool, reason: str, message: str, generation=None) -> dict:
    cond = {
        "type": kind,
        "status": "True" if status else "False",
        "reason": reason,
        "message": message,
        "lastTransitionTime": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if generation is not None:
        cond["observedGeneration"] = generation
    return cond


def _iso(when: datetime.datetime) -> str:
    return when.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- the controller
class StandIn:
    def __init__(self, api_client, log=print):
        from kubernetes import client

        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)
        self.ext = client.ApiextensionsV1Api(api_client)
        self.log = log

    def crds_present(self) -> bool:
        """True once the Certificate, Issuer and ClusterIssuer CRDs are Established (served)."""
        from kubernetes.client.rest import ApiException

        for plural in ("certificates", "issuers", "clusterissuers"):
            try:
                crd = self.ext.read_custom_resource_definition(f"{plural}.{GROUP}")
            except ApiException:
                return False
            conditions = (crd.status and crd.status.conditions) or []
            if not any(c.type == "Established" and c.status == "True" for c in conditions):
                return False
        return True

    # issuers -----------------------------------------------------------------
    def issuer_signer(self, issuer: dict, namespace: str | None):
        """(key, cert) to sign with; (None, None) for selfSigned; raises NotReady otherwise."""
        spec = issuer.get("spec") or {}
        if "selfSigned" in spec:
            return None, None
        if "ca" in spec:
            secret_name = spec["ca"].get("secretName", "")
            # A ClusterIssuer's CA secret lives in cert-manager's cluster resource namespace.
            secret_ns = namespace or "cert-manager"
            data = self._secret_data(secret_name, secret_ns)
            if not data or "tls.crt" not in data or "tls.key" not in data:
                raise NotReady(
                    "ErrGetKeyPair",
                    f"Error getting keypair for CA issuer: secret {secret_ns}/{secret_name} "
                    "not found or without tls.crt/tls.key",
                )
            key = serialization.load_pem_private_key(data["tls.key"], password=None)
            cert = x509.load_pem_x509_certificate(data["tls.crt"])
            return key, cert
        if "acme" in spec:
            raise NotReady(
                "ErrRegisterACMEAccount",
                "ACME issuers cannot complete in the sandbox cluster: no ACME server is reachable "
                "(the cert-manager stand-in signs selfSigned and ca issuers only)",
            )
        raise NotReady("IssuerTypeUnsupported", "only selfSigned, ca and acme issuers are known here")

    def reconcile_issuers(self) -> dict:
        """Set Ready on every Issuer and ClusterIssuer; return {(kind, ns, name): error-or-None}."""
        result = {}
        listings = [
            ("ClusterIssuer", self.custom.list_cluster_custom_object(GROUP, VERSION, "clusterissuers"))
        ]
        listings.append(("Issuer", self.custom.list_cluster_custom_object(GROUP, VERSION, "issuers")))
        for kind, listing in listings:
            for issuer in listing.get("items", []):
                meta = issuer["metadata"]
                ns = meta.get("namespace") if kind == "Issuer" else None
                try:
                    self.issuer_signer(issuer, ns)
                    cond = condition(
                        "Ready",
                        True,
                        "KeyPairVerified" if "ca" in issuer["spec"] else "IsReady",
                        "Signing CA verified" if "ca" in issuer["spec"] else "",
                        meta.get("generation"),
                    )
                    result[(kind, ns, meta["name"])] = None
                except NotReady as err:
                    cond = condition("Ready", False, err.reason, err.message, meta.get("generation"))
                    result[(kind, ns, meta["name"])] = err
                self._set_condition(kind, issuer, cond)
        return result

    # certificates -----------------------------------------------------------
    def reconcile_certificates(self, issuers: dict) -> None:
        listing = self.custom.list_cluster_custom_object(GROUP, VERSION, "certificates")
        for cert in listing.get("items", []):
            try:
                self.reconcile_certificate(cert, issuers)
            except Exception as err:
                self.log(f"certificate {cert['metadata'].get('namespace')}/{cert['metadata']['name']}: {err}")

    def reconcile_certificate(self, cert: dict, issuers: dict) -> None:
        meta, spec = cert["metadata"], cert.get("spec") or {}
        ns, gen = meta["namespace"], meta.get("generation")
        ref = spec.get("issuerRef") or {}
        kind = ref.get("kind") or "Issuer"
        issuer_ns = ns if kind == "Issuer" else None
        key = (kind, issuer_ns, ref.get("name"))
        if key not in issuers:
            self._set_condition(
                "Certificate",
                cert,
                condition("Ready", False, "Pending", f"{kind} {ref.get('name')!r} not found", gen),
            )
            return
        if issuers[key] is not None:
            self._set_condition(
                "Certificate",
                cert,
                condition(
                    "Ready",
                    False,
                    "Pending",
                    f"{kind} {ref.get('name')!r} is not ready: {issuers[key].message}",
                    gen,
                ),
            )
            return
        secret_name = spec["secretName"]
        data = self._secret_data(secret_name, ns)
        current = None
        if data and "tls.crt" in data:
            current = x509.load_pem_x509_certificate(data["tls.crt"])
        existing = self._read_secret(secret_name, ns)
        issuer_ann = (existing.metadata.annotations or {}) if existing else {}
        same_issuer = (
            issuer_ann.get(ANN + "issuer-name") == ref.get("name")
            and issuer_ann.get(ANN + "issuer-kind") == kind
        )
        if current is not None and same_issuer and issued_names(current) == wanted_names(spec):
            x509_cert = current
        else:
            issuer_obj = self._get_issuer(kind, issuer_ns, ref.get("name"))
            signer_key, signer_cert = self.issuer_signer(issuer_obj, issuer_ns)
            k, x509_cert, ca = sign(spec, signer_key, signer_cert)
            encoding = (spec.get("privateKey") or {}).get("encoding", "PKCS1")
            self._write_secret(cert, k, x509_cert, ca, encoding)
            self.log(
                f"issued {ns}/{secret_name} for Certificate {ns}/{meta['name']} via {kind} {ref.get('name')}"
            )
        not_after = x509_cert.not_valid_after_utc
        not_before = x509_cert.not_valid_before_utc
        renewal = not_after - (not_after - not_before) / 3
        status = dict(cert.get("status") or {})
        status.update(
            notBefore=_iso(not_before),
            notAfter=_iso(not_after),
            renewalTime=_iso(renewal),
            revision=status.get("revision") or 1,
        )
        self._set_condition(
            "Certificate",
            cert,
            condition("Ready", True, "Ready", "Certificate is up to date and has not expired", gen),
            extra=status,
        )

    # API helpers ------------------------------------------------------------
    def _read_secret(self, name: str, ns: str):
        from kubernetes.client.rest import ApiException

        try:
            return self.core.read_namespaced_secret(name, ns)
        except ApiException as err:
            if err.status == 404:
                return None
            raise

    def _secret_data(self, name: str, ns: str) -> dict | None:
        secret = self._read_secret(name, ns)
        if secret is None:
            return None
        return {k: base64.b64decode(v) for k, v in (secret.data or {}).items()}

    def _get_issuer(self, kind: str, ns: str | None, name: str) -> dict:
        if kind == "ClusterIssuer":
            return self.custom.get_cluster_custom_object(GROUP, VERSION, "clusterissuers", name)
        return self.custom.get_namespaced_custom_object(GROUP, VERSION, ns, "issuers", name)

    def _write_secret(self, cert: dict, key, x509_cert, ca, encoding: str) -> None:
        meta, spec = cert["metadata"], cert["spec"]
        ref = spec["issuerRef"]
        names = wanted_names(spec)
        template = spec.get("secretTemplate") or {}
        annotations = dict(template.get("annotations") or {})
        annotations.update(
            {
                ANN + "certificate-name": meta["name"],
                ANN + "issuer-name": ref["name"],
                ANN + "issuer-kind": ref.get("kind") or "Issuer",
                ANN + "issuer-group": ref.get("group") or GROUP,
                ANN + "common-name": names["common_name"],
                ANN + "alt-names": ",".join(names["dns_names"]),
                ANN + "ip-sans": ",".join(names["ip_addresses"]),
                ANN + "uri-sans": ",".join(names["uris"]),
            }
        )
        labels = dict(template.get("labels") or {})
        labels["controller.cert-manager.io/fao"] = "true"
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/tls",
            "metadata": {
                "name": spec["secretName"],
                "namespace": meta["namespace"],
                "annotations": annotations,
                "labels": labels,
            },
            "data": {
                "tls.crt": base64.b64encode(x509_cert.public_bytes(serialization.Encoding.PEM)).decode(),
                "tls.key": base64.b64encode(private_key_pem(key, encoding)).decode(),
                "ca.crt": base64.b64encode(ca.public_bytes(serialization.Encoding.PEM)).decode(),
            },
        }
        if self._read_secret(spec["secretName"], meta["namespace"]) is None:
            self.core.create_namespaced_secret(meta["namespace"], body)
        else:
            self.core.replace_namespaced_secret(spec["secretName"], meta["namespace"], body)

    def _set_condition(self, kind: str, obj: dict, cond: dict, extra: dict | None = None) -> None:
        """Patch the status only when something other than the transition time changes."""
        status = dict(obj.get("status") or {})
        conditions = [c for c in status.get("conditions") or [] if c.get("type") != cond["type"]]
        old = next((c for c in status.get("conditions") or [] if c.get("type") == cond["type"]), None)

        def same(a, b):
            keys = ("status", "reason", "message", "observedGeneration")
            return a is not None and all(a.get(k) == b.get(k) for k in keys)

        new_status = dict(status, **(extra or {}))
        if same(old, cond):
            if new_status == status:
                return
            cond = old
        new_status["conditions"] = [*conditions, cond]
        meta = obj["metadata"]
        plural = {"Certificate": "certificates", "Issuer": "issuers", "ClusterIssuer": "clusterissuers"}[kind]
        body = {"status": new_status}
        if kind == "ClusterIssuer":
            self.custom.patch_cluster_custom_object_status(GROUP, VERSION, plural, meta["name"], body)
        else:
            self.custom.patch_namespaced_custom_object_status(
                GROUP, VERSION, meta["namespace"], plural, meta["name"], body
            )

    def step(self) -> None:
        issuers = self.reconcile_issuers()
        self.reconcile_certificates(issuers)


class WebhookStandIn:
    """The webhook's serving CA and certificate, and the cainjector's caBundle injection."""

    def __init__(self, api_client, server: webhook.WebhookServer, cert_dir: Path, log=print):
        from kubernetes import client

        self.core = client.CoreV1Api(api_client)
        self.admission = client.AdmissionregistrationV1Api(api_client)
        self.api_client = api_client
        self.server = server
        self.cert_dir = cert_dir
        self.log = log
        self.serving_for = None  # (CA serial, leaf not_after) of the certificate being served

    def _namespace_exists(self) -> bool:
        from kubernetes.client.rest import ApiException

        try:
            self.core.read_namespace(webhook.NAMESPACE)
            return True
        except ApiException as err:
            if err.status == 404:
                return False
            raise

    def ensure_ca(self):
        """(key, cert) of the serving CA Secret, (re)generated the way cert-manager's webhook does."""
        from kubernetes.client.rest import ApiException

        try:
            secret = self.core.read_namespaced_secret(webhook.CA_SECRET, webhook.NAMESPACE)
        except ApiException as err:
            if err.status != 404:
                raise
            secret = None
        data = {k: base64.b64decode(v) for k, v in ((secret.data or {}) if secret else {}).items()}
        loaded = webhook.load_ca(data)
        if loaded is not None:
            return loaded
        key, cert = webhook.new_ca()
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": webhook.CA_SECRET,
                "namespace": webhook.NAMESPACE,
                "annotations": {webhook.ALLOW_DIRECT_INJECTION: "true"},
            },
            "data": webhook.ca_secret_data(key, cert),
        }
        if secret is None:
            self.core.create_namespaced_secret(webhook.NAMESPACE, body)
        else:
            body["metadata"]["resourceVersion"] = secret.metadata.resource_version
            body["metadata"]["annotations"] = dict(
                secret.metadata.annotations or {}, **body["metadata"]["annotations"]
            )
            self.core.replace_namespaced_secret(webhook.CA_SECRET, webhook.NAMESPACE, body)
        self.log(f"generated the webhook serving CA {webhook.NAMESPACE}/{webhook.CA_SECRET}")
        return key, cert

    def ensure_serving_certificate(self, ca_key, ca_cert) -> None:
        now = datetime.datetime.now(datetime.UTC)
        if self.serving_for is not None:
            serial, not_after = self.serving_for
            if serial == ca_cert.serial_number and not_after - now > webhook.LEAF_DURATION / 3:
                return
        key, cert = webhook.serving_certificate(ca_key, ca_cert, webhook.dns_names(), now=now)
        self.cert_dir.mkdir(parents=True, exist_ok=True)
        key_file, cert_file = self.cert_dir / "tls.key", self.cert_dir / "tls.crt"
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(private_key_pem(key, "PKCS8"))
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.server.set_certificate(str(cert_file), str(key_file))
        self.serving_for = (ca_cert.serial_number, cert.not_valid_after_utc)
        self.log(f"serving the admission webhook with a certificate for {', '.join(webhook.dns_names())}")

    def inject_ca_bundles(self) -> None:
        from kubernetes.client.rest import ApiException

        kinds = (
            (
                "ValidatingWebhookConfiguration",
                self.admission.list_validating_webhook_configuration,
                self.admission.patch_validating_webhook_configuration,
            ),
            (
                "MutatingWebhookConfiguration",
                self.admission.list_mutating_webhook_configuration,
                self.admission.patch_mutating_webhook_configuration,
            ),
        )
        for kind, lister, patcher in kinds:
            for item in lister().items:
                config = self.api_client.sanitize_for_serialization(item)
                source = webhook.injection_source(config)
                if source is None:
                    continue
                try:
                    secret = self.core.read_namespaced_secret(source[1], source[0])
                except ApiException as err:
                    if err.status == 404:
                        continue
                    raise
                bundle = webhook.injectable_bundle(self.api_client.sanitize_for_serialization(secret))
                webhooks = webhook.inject(config, bundle) if bundle else None
                if webhooks is not None:
                    patcher(config["metadata"]["name"], {"webhooks": webhooks})
                    self.log(
                        f"injected the CA of {source[0]}/{source[1]} into {kind} {config['metadata']['name']}"
                    )

    def step(self) -> bool:
        """One reconcile; False while cert-manager's namespace does not exist yet."""
        if not self._namespace_exists():
            return False
        ca_key, ca_cert = self.ensure_ca()
        self.ensure_serving_certificate(ca_key, ca_cert)
        self.inject_ca_bundles()
        return True


def main(argv=None) -> int:
    from kubernetes import config

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument(
        "--webhook-socket",
        help="serve cert-manager's admission webhook (HTTPS) on this Unix socket and inject its CA",
    )
    args = parser.parse_args(argv)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    marker = Path("run") / "cert-manager.state"
    marker.parent.mkdir(exist_ok=True)

    def log(msg: str) -> None:
        print(f"[cert-manager stand-in] {time.strftime('%H:%M:%S')} {msg}", flush=True)

    api_client = config.new_client_from_config(config_file=args.kubeconfig)
    standin = StandIn(api_client, log=log)
    hooks = None
    if args.webhook_socket:
        server = webhook.WebhookServer(args.webhook_socket, log=log)
        os.chmod(args.webhook_socket, 0o600)
        server.start()
        hooks = WebhookStandIn(
            api_client, server, Path(args.webhook_socket).parent / "cert-manager-webhook", log
        )
    last_state = ""
    while not stopping:
        try:
            webhook_state = ""
            if hooks is not None:
                webhook_state = "; webhook serving" if hooks.step() else "; webhook waiting for its namespace"
            if standin.crds_present():
                standin.step()
                state = "reconciling Certificates" + webhook_state
            else:
                state = "waiting for the cert-manager.io CRDs" + webhook_state
        except Exception as err:
            state = f"error: {err}"
        if state != last_state:
            marker.write_text(state + "\n")
            log(state)
            last_state = state
        deadline = time.monotonic() + args.interval
        while not stopping and time.monotonic() < deadline:
            time.sleep(0.1)
    marker.write_text("stopped\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
