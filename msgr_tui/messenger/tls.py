"""TLS settings of a Messenger, turned into Proton ``SSLDomain`` objects.

Files are checked before Proton sees them so that a mistake is reported with
the property and the path at fault rather than as a bare "invalid credentials".
"""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
from dataclasses import dataclass

from proton import SSL, SSLDomain, SSLException, SSLUnavailable

from .errors import MessengerException

__all__ = [
    "TLSError",
    "TLSSettings",
    "diagnose_verification",
    "file_problem",
    "ip_host_hint",
    "key_is_encrypted",
]


class TLSError(MessengerException):
    """A TLS setting is unusable (missing file, bad key password, bad CA file...)."""


@dataclass(frozen=True)
class TLSSettings:
    """The security properties of a Messenger (all optional)."""

    certificate: str | None = None
    private_key: str | None = None
    password: str | None = None
    trusted_certificates: str | None = None
    verify_hostname: bool = True

    def client_domain(self) -> SSLDomain:
        """A domain for outgoing ``amqps`` connections."""
        domain = self._domain(SSLDomain.MODE_CLIENT)
        if self.trusted_certificates:
            mode = SSLDomain.VERIFY_PEER_NAME if self.verify_hostname else SSLDomain.VERIFY_PEER
            domain.set_peer_authentication(mode)
        else:
            domain.set_peer_authentication(SSLDomain.ANONYMOUS_PEER)
        return domain

    def server_domain(self) -> SSLDomain:
        """A domain for ``amqps://~`` listeners.

        With a certificate and key, clients verify the listener; trusting a
        CA as well makes client certificates mandatory. Without any, as the
        original did, the listener still accepts TLS with anonymous ciphers:
        encrypted, but neither side is authenticated (OpenSSL allows this at
        security level 0 over TLS 1.2, which Proton asks for).
        """
        if self.trusted_certificates and not (self.certificate or self.private_key):
            raise TLSError(
                "a listener that verifies its clients (trusted_certificates) needs its own "
                "certificate and private_key (invalid credentials)"
            )
        domain = self._domain(SSLDomain.MODE_SERVER)
        if self.trusted_certificates:
            domain.set_peer_authentication(SSLDomain.VERIFY_PEER, self.trusted_certificates)
        else:
            domain.set_peer_authentication(SSLDomain.ANONYMOUS_PEER)
        return domain

    def _domain(self, mode: int) -> SSLDomain:
        if not SSL.present():
            raise TLSError("TLS is not available: this Proton build has no SSL support")
        try:
            domain = SSLDomain(mode)
        except SSLUnavailable as error:
            raise TLSError(f"TLS is not available: {error}") from None
        if self.certificate or self.private_key:
            self._load_credentials(domain)
        if self.trusted_certificates:
            _check_readable("trusted_certificates", self.trusted_certificates)
            try:
                domain.set_trusted_ca_db(self.trusted_certificates)
            except SSLException:
                raise TLSError(
                    f"trusted_certificates {self.trusted_certificates!r} could not be loaded "
                    "as PEM CA certificates"
                ) from None
        return domain

    def _load_credentials(self, domain: SSLDomain) -> None:
        if not self.certificate:
            raise TLSError("private_key is set but certificate is not (invalid credentials)")
        if not self.private_key:
            raise TLSError("certificate is set but private_key is not (invalid credentials)")
        _check_readable("certificate", self.certificate)
        _check_readable("private_key", self.private_key)
        try:
            # With no password OpenSSL would prompt on the terminal for one
            # and block; an empty one makes an encrypted key fail cleanly.
            domain.set_credentials(self.certificate, self.private_key, self.password or "")
        except SSLException:
            raise TLSError(
                f"invalid credentials: certificate {self.certificate!r} and private_key "
                f"{self.private_key!r} could not be loaded together (check that the key matches "
                "the certificate and that password opens the key"
                + (", which may be encrypted)" if not self.password else ")")
            ) from None


def file_problem(path: str) -> str | None:
    """Why the file at ``path`` cannot be used ("does not exist"...), or None when it can."""
    if not os.path.exists(path):
        return "does not exist"
    if not os.path.isfile(path):
        return "is not a file"
    try:
        with open(path, "rb") as stream:
            stream.read(1)
    except OSError as error:
        return f"cannot be read: {error.strerror}"
    return None


def key_is_encrypted(path: str) -> bool:
    """True when a PEM private key is password-protected (PKCS#8 or the legacy header)."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(64 * 1024)
    except OSError:
        return False  # file_problem names an unreadable key
    return b"ENCRYPTED PRIVATE KEY" in head or b"Proc-Type: 4,ENCRYPTED" in head


def _check_readable(prop: str, path: str) -> None:
    problem = file_problem(path)
    if problem is not None:
        raise TLSError(f"{prop} file {path!r} {problem} (invalid credentials)")


def ip_host_hint(host: str) -> str | None:
    """What to do when a certificate check of an IP address fails, or None for a name.

    Proton matches the host against the certificate's DNS names and common
    name as text: an address written as an IP passes only when the common
    name is that IP; an IP address SAN is not read.
    """
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    return (
        f"{host} is an IP address, and Proton matches it only against the certificate's "
        "common name and DNS names, not its IP address SANs: connect by a name the "
        "certificate lists (e.g. localhost), or set verify_hostname False to check the "
        "chain only"
    )


def diagnose_verification(
    host: str, port: int, trusted_certificates: str, *, check_hostname: bool, timeout: float = 2.0
) -> str | None:
    """Why the server's certificate fails verification, in OpenSSL's words.

    Proton only reports "certificate verify failed". A second, short handshake
    with Python's ssl module (same CA file, same name check) learns the reason:
    an unknown CA, an expired certificate, a name mismatch. None when that
    handshake cannot tell (the server is gone, or it passes this time).
    """
    try:
        context = ssl.create_default_context(cafile=trusted_certificates)
        context.check_hostname = check_hostname
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=host),
        ):
            return None
    except ssl.SSLCertVerificationError as error:
        return error.verify_message or None
    except (OSError, ValueError, ssl.SSLError):
        return None
