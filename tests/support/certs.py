"""A throw-away certificate authority made by the test, and server certificates it signs.

tools/sandbox/pki.py keeps its own maker: tools never import the tests.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


class TestCA:
    """A CA whose certificate the test clients trust; `issue()` signs loopback server certificates."""

    __test__ = False  # not a pytest test class

    def __init__(self, common_name: str = "oneport test CA"):
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(_name(common_name))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, names=("localhost",), ips=("127.0.0.1",)) -> tuple[bytes, bytes, int]:
        """A server certificate and key (PEM) for the names and IPs, and its serial number."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        serial = x509.random_serial_number()
        sans = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(names[0]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return cert_pem, key_pem, serial

    def write_ca(self, directory: Path) -> Path:
        path = Path(directory) / "ca.crt"
        path.write_bytes(self.pem)
        return path


def install_pair(directory: Path, cert_pem: bytes, key_pem: bytes, cert_name="tls.crt", key_name="tls.key"):
    """Put a certificate and key in place the way kubelet updates a mounted secret.

    kubelet writes the new files into a fresh `..<timestamp>` directory and swaps the `..data` symlink
    atomically; the visible names are symlinks through `..data`. Envoy's watched directory sees the
    swap as one move event.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    stamp = f"..{datetime.datetime.now().strftime('%Y_%m_%d_%H_%M_%S.%f')}"
    version = directory / stamp
    version.mkdir()
    (version / cert_name).write_bytes(cert_pem)
    key_path = version / key_name
    key_path.write_bytes(key_pem)
    key_path.chmod(0o600)
    tmp_link = directory / "..data_tmp"
    tmp_link.unlink(missing_ok=True)
    tmp_link.symlink_to(stamp)
    os.replace(tmp_link, directory / "..data")
    for name in (cert_name, key_name):
        link = directory / name
        if not link.is_symlink():
            link.unlink(missing_ok=True)
            link.symlink_to(f"..data/{name}")
