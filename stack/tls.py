"""A private CA, a broker certificate and a client certificate for the local stack's SASL_SSL
listener, generated with `cryptography` (no keytool/openssl needed).

Why generated per stack: tests and `meshstream stack up --kafka-security sasl_ssl` get a real TLS
handshake with verification (the CA is trusted only by this stack's clients) and real mTLS,
without any key material in git. Files land in <stack data dir>/tls/, keys mode 0600.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class TlsFiles:
    dir: Path

    ca = property(lambda self: self.dir / "ca.pem")
    server = property(lambda self: self.dir / "server.pem")              # key + chain, Kafka PEM keystore
    client_cert = property(lambda self: self.dir / "client.pem")
    client_key = property(lambda self: self.dir / "client.key")
    scram_password = property(lambda self: self.dir / "scram.password")  # MESHSTREAM_KAFKA_SASL_PASSWORD_FILE


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "meshstream local stack"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _write(path: Path, data: bytes, private: bool = False) -> None:
    path.write_bytes(data)
    if private:
        os.chmod(path, 0o600)


def _issue(ca_key, ca_cert, cn: str, usage, sans=None):
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(ca_cert.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


def ensure_tls(directory: Path, host: str) -> TlsFiles:
    """Create the CA, broker and client certificates and a SCRAM password once (idempotent)."""
    files = TlsFiles(Path(directory))
    if files.scram_password.exists():
        return files
    files.dir.mkdir(parents=True, exist_ok=True)
    os.chmod(files.dir, 0o700)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    ca = (x509.CertificateBuilder().subject_name(_name("meshstream local CA")).issuer_name(_name("meshstream local CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    pem = lambda cert: cert.public_bytes(serialization.Encoding.PEM)  # noqa: E731
    skey, scert = _issue(ca_key, ca, host, ExtendedKeyUsageOID.SERVER_AUTH,
                         [x509.IPAddress(ipaddress.ip_address(host)), x509.DNSName("localhost")])
    ckey, ccert = _issue(ca_key, ca, "meshstream", ExtendedKeyUsageOID.CLIENT_AUTH)
    _write(files.ca, pem(ca))
    _write(files.server, _key_pem(skey) + pem(scert) + pem(ca), private=True)
    _write(files.client_cert, pem(ccert))
    _write(files.client_key, _key_pem(ckey), private=True)
    _write(files.scram_password, secrets.token_urlsafe(24).encode(), private=True)
    return files
