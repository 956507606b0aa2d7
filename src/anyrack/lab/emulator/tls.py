"""The lab's certificate authority and one server certificate per BMC address (SAN = the IP).

Keys are ECDSA P-256, so issuing 1,500 certificates takes about a second. The CA is kept in the
state directory and reused; a server certificate (``certs/<ip>.pem``: certificate, then key) is
reused while it was issued by that CA for that address and is not about to expire.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from anyrack.errors import AnyrackError
from anyrack.filetree import write_atomic

CA_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"
CA_DAYS = 3650
SERVER_DAYS = 825


class CaError(AnyrackError):
    """The lab CA in the state directory cannot be used."""

    template = "{path}: {reason}; remove it to have a new lab CA made"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


class Authority:
    """The lab CA: its certificate file (what clients verify with) and its signing key."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.cert_path = state_dir / CA_FILE
        key_path = state_dir / CA_KEY_FILE
        if self.cert_path.is_file() and key_path.is_file():
            try:
                self.cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
                key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            except ValueError as err:
                raise CaError(path=str(self.cert_path), reason=str(err)) from None
            if not isinstance(key, ec.EllipticCurvePrivateKey) or self.cert.not_valid_after_utc < _now():
                raise CaError(path=str(key_path), reason="not an EC key, or the CA has expired")
            self.key = key
            return
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "anyrack lab CA"),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "anyrack lab")])
        public = self.key.public_key()
        self.cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - dt.timedelta(minutes=5)).not_valid_after(_now() + dt.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        write_atomic(key_path, _key_pem(self.key), mode=0o600)
        write_atomic(self.cert_path, self.cert.public_bytes(serialization.Encoding.PEM).decode())

    def _usable(self, cert_path: Path, host: str) -> bool:
        try:
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        except (OSError, ValueError, x509.ExtensionNotFound):
            return False
        ski = self.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        return (cert.issuer == self.cert.subject and aki.key_identifier == ski.digest
                and ipaddress.ip_address(host) in san.get_values_for_type(x509.IPAddress)
                and cert.not_valid_after_utc > _now() + dt.timedelta(days=1))

    def server_file(self, host: str) -> Path:
        """Certificate and key (one PEM file) for ``host`` (an IP address), issued now unless usable ones exist."""
        path = self.state_dir / "certs" / f"{host}.pem"
        if self._usable(path, host):
            return path
        key = ec.generate_private_key(ec.SECP256R1())
        ski = self.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
            .issuer_name(self.cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - dt.timedelta(minutes=5))
            .not_valid_after(_now() + dt.timedelta(days=SERVER_DAYS))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        write_atomic(path, cert.public_bytes(serialization.Encoding.PEM).decode() + _key_pem(key), mode=0o600)
        return path

    def server_context(self, host: str) -> ssl.SSLContext:
        """A TLS server context presenting ``host``'s certificate."""
        path = self.server_file(host)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)  # no client certificates, so no CA store to load
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(path)
        return context
