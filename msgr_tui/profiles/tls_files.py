"""Check a profile's TLS files before it is saved, naming the field at fault.

Uses Python's ``ssl`` module (the same OpenSSL Proton uses), so what passes here
loads in the Messenger too. OpenSSL reports most key problems as a bare
"PEM lib", so each file is checked on its own first to tell the fields apart.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

from ..messenger.tls import file_problem, key_is_encrypted


@dataclass(frozen=True)
class TLSProblem:
    field: str  # certificate, private_key, key_password or trusted_certificates
    message: str

    def __str__(self) -> str:
        return f"tls.{self.field}: {self.message}"


def _unreadable(field: str, path: str) -> TLSProblem | None:
    problem = file_problem(path)
    return TLSProblem(field, f"{path} {problem}") if problem is not None else None


def _context() -> ssl.SSLContext:
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def _certificates_parse(field: str, path: str, what: str) -> TLSProblem | None:
    try:
        _context().load_verify_locations(cafile=path)
    except ssl.SSLError:
        return TLSProblem(field, f"{path} does not hold {what} in PEM format")
    return None


def _key_problem(certificate: str, private_key: str, key_password: str | None) -> TLSProblem | None:
    try:
        # A callable, even for "no password": OpenSSL must never prompt on the terminal.
        _context().load_cert_chain(certificate, private_key, password=lambda: key_password or "")
    except ssl.SSLError as error:
        if error.reason == "KEY_VALUES_MISMATCH":
            return TLSProblem("private_key", f"{private_key} does not match {certificate}")
        if key_is_encrypted(private_key):
            if not key_password:
                return TLSProblem(
                    "key_password", f"{private_key} is encrypted: a key password is needed"
                )
            return TLSProblem("key_password", f"the key password does not open {private_key}")
        return TLSProblem("private_key", f"{private_key} is not a PEM private key")
    return None


def check_tls(
    *,
    certificate: str | None = None,
    private_key: str | None = None,
    key_password: str | None = None,
    trusted_certificates: str | None = None,
) -> list[TLSProblem]:
    """Every problem found with these (already resolved) paths; empty when all is well."""
    problems: list[TLSProblem] = []
    if certificate and not private_key:
        problems.append(TLSProblem("private_key", "certificate is set, so private_key is needed"))
    if private_key and not certificate:
        problems.append(TLSProblem("certificate", "private_key is set, so certificate is needed"))
    cert_ok = key_ok = False
    if certificate:
        problem = _unreadable("certificate", certificate) or _certificates_parse(
            "certificate", certificate, "a certificate"
        )
        cert_ok = problem is None
        problems += [problem] if problem else []
    if private_key:
        problem = _unreadable("private_key", private_key)
        key_ok = problem is None
        problems += [problem] if problem else []
    if cert_ok and key_ok and certificate and private_key:
        problem = _key_problem(certificate, private_key, key_password)
        problems += [problem] if problem else []
    if trusted_certificates:
        problem = _unreadable("trusted_certificates", trusted_certificates) or _certificates_parse(
            "trusted_certificates", trusted_certificates, "CA certificates"
        )
        problems += [problem] if problem else []
    return problems
