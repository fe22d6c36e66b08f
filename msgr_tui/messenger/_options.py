"""The settable properties of one Messenger, shared by its parts."""

from __future__ import annotations

from dataclasses import dataclass

from .tls import TLSSettings


@dataclass
class Options:
    """What the program set on the Messenger (see its properties for each meaning)."""

    name: str
    timeout: float | None = None
    blocking: bool = True
    certificate: str | None = None
    private_key: str | None = None
    password: str | None = None
    trusted_certificates: str | None = None
    verify_hostname: bool = True
    allow_insecure_mechs: bool = True
    idle_timeout: float = 0.0
    retry: bool = False
    raise_failures: bool = False
    durable_targets: bool = False

    def tls(self) -> TLSSettings:
        return TLSSettings(
            self.certificate,
            self.private_key,
            self.password,
            self.trusted_certificates,
            self.verify_hostname,
        )
