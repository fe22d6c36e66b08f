"""What a session runs with: a profile with its secrets resolved, or the defaults.

Plain data, no UI and no I/O; the worker bridge and the app both read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .messenger import Messenger

DEFAULT_LISTEN = "amqp://~127.0.0.1:5672"
DEFAULT_MAX_MESSAGES = 10_000
DEFAULT_INCOMING_WINDOW = 1024
DEFAULT_OUTGOING_WINDOW = 10_000


@dataclass(frozen=True)
class TLSOptions:
    certificate: str | None = None
    private_key: str | None = None
    key_password: str | None = field(default=None, repr=False)
    trusted_certificates: str | None = None
    verify_hostname: bool = True
    allow_insecure_plain: bool = False


@dataclass(frozen=True)
class Settings:
    """Everything one Messenger session needs. Secrets never appear in ``repr``."""

    profile: str | None = None
    messenger_name: str | None = None
    listen: tuple[str, ...] = (DEFAULT_LISTEN,)
    subscribe: tuple[str, ...] = ()
    # Sources subscribed as browsers: look, never consume (see Messenger.subscribe).
    browse: tuple[str, ...] = ()
    # (source, JMS-style selector) pairs sent on those sources' attach.
    selectors: tuple[tuple[str, str], ...] = ()
    compose_address: str | None = None
    routes: tuple[tuple[str, str], ...] = ()
    rewrites: tuple[tuple[str, str | None], ...] = ()
    timeout: float | None = 10.0
    incoming_window: int = DEFAULT_INCOMING_WINDOW
    outgoing_window: int = DEFAULT_OUTGOING_WINDOW
    max_messages: int = DEFAULT_MAX_MESSAGES
    theme: str | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: TLSOptions = field(default_factory=TLSOptions)
    retry: bool = True
    # When the first listen address is taken, try the next ports (the embedded default).
    listen_fallback: bool = False

    def configure(self, messenger: Messenger, *, insecure_plain: bool = True) -> None:
        """Give ``messenger`` this profile's TLS files, routes and rewrites.

        ``insecure_plain`` False leaves SASL PLAIN over plain TCP at the
        Messenger's own default rather than the profile's choice.
        """
        tls = self.tls
        messenger.certificate = tls.certificate
        messenger.private_key = tls.private_key
        messenger.password = tls.key_password
        messenger.trusted_certificates = tls.trusted_certificates
        messenger.verify_hostname = tls.verify_hostname
        if insecure_plain:
            messenger.allow_insecure_mechs = tls.allow_insecure_plain
        for pattern, address in self.routes:
            messenger.route(pattern, address)
        for pattern, rewritten in self.rewrites:
            messenger.rewrite(pattern, rewritten)

    def with_credentials(self, address: str) -> str:
        """Add this profile's user and password to an address that names no user."""
        from .messenger.address import add_credentials

        return add_credentials(address, self.user, self.password)
