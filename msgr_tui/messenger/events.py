"""Notifications a Messenger gives its ``on_event`` callback (an extension).

The original Messenger had no such hook. Programs that need to show what the
Messenger is doing (msgr-tui's worker bridge) set ``messenger.on_event`` to a
callable; it runs in the Messenger's thread, inside whichever call did the I/O,
so it must be quick and must not call back into the Messenger.
"""

from __future__ import annotations

from dataclasses import dataclass

from .failures import Failure
from .status import Status

__all__ = [
    "ConnectionClosed",
    "ConnectionOpened",
    "FailureReported",
    "IncomingSettled",
    "LinkClosed",
    "LinkOpened",
    "MessengerEvent",
    "RetryScheduled",
    "TrackerUpdated",
]


@dataclass(frozen=True, slots=True)
class ConnectionOpened:
    """The peer answered our AMQP open (or opened a connection to our listener)."""

    label: str
    remote_container: str | None
    inbound: bool


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """A connection ended; ``error`` (and ``failure``) is None for a clean close."""

    label: str
    error: str | None
    inbound: bool
    failure: Failure | None = None


@dataclass(frozen=True, slots=True)
class LinkOpened:
    """A link is attached. ``source`` is the subscription it serves, if any."""

    address: str
    role: str
    source: str | None


@dataclass(frozen=True, slots=True)
class LinkClosed:
    """A link ended; ``error`` is the peer's reason when it refused or closed it."""

    address: str
    role: str
    source: str | None
    error: str | None
    failure: Failure | None = None


@dataclass(frozen=True, slots=True)
class TrackerUpdated:
    """An outgoing tracker inside the outgoing window changed status."""

    tracker: int
    status: Status


@dataclass(frozen=True, slots=True)
class IncomingSettled:
    """An incoming tracker left the incoming window and was settled for you.

    ``status`` is ACCEPTED: deliveries nobody acted on are accepted when they
    fall out of the window, as the contract says; this tells you it happened.
    """

    tracker: int
    status: Status


@dataclass(frozen=True, slots=True)
class RetryScheduled:
    """Retry mode: ``label`` will be reconnected in ``delay`` seconds (attempt number
    ``attempt``); ``messages`` and ``subscriptions`` wait for it."""

    label: str
    attempt: int
    delay: float
    messages: int
    subscriptions: int
    reason: str | None


@dataclass(frozen=True, slots=True)
class FailureReported:
    """A connection or link this Messenger uses failed on the wire.

    The original Messenger wrote this to its log and went on; here it is
    also told to the callback (and raised by the next call in
    ``raise_failures`` mode). The messages it affected report ABORTED.
    """

    failure: Failure


MessengerEvent = (
    ConnectionOpened
    | ConnectionClosed
    | LinkOpened
    | LinkClosed
    | TrackerUpdated
    | IncomingSettled
    | RetryScheduled
    | FailureReported
)
