"""Read-only views of a Messenger's connections and retry plans (extensions).

Each view is a snapshot taken when the property is read: it does not change
afterwards and holds no reference into the engine. ``id`` tells whether two
snapshots show the same connection.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ConnectionView", "LinkView", "RetryView"]


@dataclass(frozen=True, slots=True)
class LinkView:
    """A link on a connection: its terminus address and role (``sender``/``receiver``)."""

    address: str | None
    role: str
    opened_here: bool


@dataclass(frozen=True, slots=True)
class ConnectionView:
    """One open (or opening) connection, outgoing or accepted by a listener."""

    id: int
    label: str
    inbound: bool
    peer: str
    remote_container: str | None
    opened: bool
    """The peer's AMQP open has arrived."""
    tls_protocol: str | None
    """``TLSv1.3`` and the like once TLS is established; None for plain TCP."""
    tls_peer_subject: str | None
    sasl_mechanism: str | None
    remote_idle_timeout: float
    """Seconds the peer advertised in its open (0: none)."""
    frames_received: int
    frames_sent: int
    links: tuple[LinkView, ...]
    remote_product: str | None = None
    """``product`` from the properties of the peer's open frame (``RabbitMQ``...)."""
    remote_version: str | None = None
    """``version`` from the same properties (``3.10.8``...)."""


@dataclass(frozen=True, slots=True)
class RetryView:
    """Retry mode: an address waiting to be reconnected, and what waits with it."""

    label: str
    attempt: int
    messages: int
    subscriptions: int
    due_in: float | None
    """Seconds until the next attempt (None while an attempt is under way)."""
