"""What the bridge reports to the UI (plain data, delivered in batches)."""

from __future__ import annotations

from dataclasses import dataclass

from .snapshot import IncomingMessage


@dataclass(frozen=True, slots=True)
class MessageArrived:
    message: IncomingMessage


@dataclass(frozen=True, slots=True)
class IncomingStateChanged:
    """An incoming message was accepted/rejected/released (``automatic``: by the window)."""

    tracker: int
    state: str
    automatic: bool = False


@dataclass(frozen=True, slots=True)
class MessageQueued:
    """A draft was put; the outgoing table gets a row for its tracker."""

    tracker: int
    draft_id: int
    address: str
    subject: str
    at: float


@dataclass(frozen=True, slots=True)
class PutFailed:
    draft_id: int
    error: str


@dataclass(frozen=True, slots=True)
class TrackerStatus:
    tracker: int
    status: str


@dataclass(frozen=True, slots=True)
class ConnectionState:
    label: str
    state: str  # "open", "closed" or "failed"
    error: str | None
    inbound: bool
    remote_container: str | None = None


@dataclass(frozen=True, slots=True)
class ConnectionRetry:
    """Retry mode: ``label`` is reconnected in ``delay`` seconds."""

    label: str
    attempt: int
    delay: float
    messages: int
    subscriptions: int
    reason: str | None


@dataclass(frozen=True, slots=True)
class SubscriptionState:
    source: str
    state: str  # "listening", "connecting", "attached", "closed", "failed"
    error: str | None = None
    connect_address: str | None = None


@dataclass(frozen=True, slots=True)
class ListenerBound:
    requested: str
    source: str
    connect_address: str
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Stats:
    name: str
    connections: int
    received: int
    sent: int
    in_rate: float
    out_rate: float


@dataclass(frozen=True, slots=True)
class Notice:
    text: str
    severity: str = "error"  # "information", "warning" or "error"


@dataclass(frozen=True, slots=True)
class BridgeStopped:
    error: str | None = None


BridgeEvent = (
    MessageArrived
    | IncomingStateChanged
    | MessageQueued
    | PutFailed
    | TrackerStatus
    | ConnectionState
    | ConnectionRetry
    | SubscriptionState
    | ListenerBound
    | Stats
    | Notice
    | BridgeStopped
)
