"""Certificates made by the tests themselves (a CA, a server, a client, an untrusted CA)."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KEY_PASSWORD = "s3cret-key-pw"


@dataclass(frozen=True)
class CertificateSet:
    directory: Path
    ca: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str
    # The client key encrypted with KEY_PASSWORD.
    client_key_encrypted: str
    # Signed by another CA that nobody trusts.
    rogue_ca: str
    rogue_cert: str
    rogue_key: str
    # Valid chain, but expired yesterday.
    expired_cert: str
    expired_key: str
    # Valid chain and dates, but only for the name "elsewhere.example".
    wrong_name_cert: str
    wrong_name_key: str
    # Common name "127.0.0.1" (the IP as text), DNS name localhost, no IP SAN.
    ip_name_cert: str
    ip_name_key: str
    key_password: str = KEY_PASSWORD


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey, password: str | None = None) -> str:
    encryption = (
        serialization.BestAvailableEncryption(password.encode())
        if password
        else serialization.NoEncryption()
    )
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    )
    return str(path)


def _write_cert(path: Path, cert: x509.Certificate) -> str:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(path)


def _ca(common_name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _leaf(
    common_name: str,
    names: list[x509.GeneralName],
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
    usage: x509.ObjectIdentifier,
    *,
    expired: bool = False,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    now = dt.datetime.now(dt.UTC)
    start, end = (
        (now - dt.timedelta(days=30), now - dt.timedelta(days=1))
        if expired
        else (now - dt.timedelta(days=1), now + dt.timedelta(days=825))
    )
    ca_cert, ca_key = issuer
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def make_certificates(directory: Path) -> CertificateSet:
    directory.mkdir(parents=True, exist_ok=True)
    ca = _ca("msgr-tui test CA")
    rogue = _ca("rogue CA")
    local_names: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    server = _leaf("localhost", local_names, ca, ExtendedKeyUsageOID.SERVER_AUTH)
    client = _leaf(
        "msgr-tui client", [x509.DNSName("client.test")], ca, ExtendedKeyUsageOID.CLIENT_AUTH
    )
    rogue_server = _leaf("localhost", local_names, rogue, ExtendedKeyUsageOID.SERVER_AUTH)
    expired = _leaf("localhost", local_names, ca, ExtendedKeyUsageOID.SERVER_AUTH, expired=True)
    wrong_name = _leaf(
        "elsewhere.example",
        [x509.DNSName("elsewhere.example")],
        ca,
        ExtendedKeyUsageOID.SERVER_AUTH,
    )
    ip_name = _leaf("127.0.0.1", [x509.DNSName("localhost")], ca, ExtendedKeyUsageOID.SERVER_AUTH)
    d = directory
    return CertificateSet(
        directory=d,
        ca=_write_cert(d / "ca.pem", ca[0]),
        server_cert=_write_cert(d / "server.pem", server[0]),
        server_key=_write_key(d / "server-key.pem", server[1]),
        client_cert=_write_cert(d / "client.pem", client[0]),
        client_key=_write_key(d / "client-key.pem", client[1]),
        client_key_encrypted=_write_key(d / "client-key-enc.pem", client[1], KEY_PASSWORD),
        rogue_ca=_write_cert(d / "rogue-ca.pem", rogue[0]),
        rogue_cert=_write_cert(d / "rogue-server.pem", rogue_server[0]),
        rogue_key=_write_key(d / "rogue-server-key.pem", rogue_server[1]),
        expired_cert=_write_cert(d / "expired.pem", expired[0]),
        expired_key=_write_key(d / "expired-key.pem", expired[1]),
        wrong_name_cert=_write_cert(d / "wrong-name.pem", wrong_name[0]),
        wrong_name_key=_write_key(d / "wrong-name-key.pem", wrong_name[1]),
        ip_name_cert=_write_cert(d / "ip-name.pem", ip_name[0]),
        ip_name_key=_write_key(d / "ip-name-key.pem", ip_name[1]),
    )
