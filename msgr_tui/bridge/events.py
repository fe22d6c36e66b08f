"""What the bridge reports to the UI: plain, immutable data, delivered in batches.

This is the one vocabulary between the Messenger's thread and the UI (an
arrival decodes its message once, when it is first read). Where
the library already says a thing as data, the bridge passes the library's own
value on rather than a copy of its fields: statuses are the Messenger's
singletons (``ACCEPTED``...), subscription states its ``SubscriptionState``,
failures its ``Failure``, a retry its ``RetryScheduled`` and a tracker update
its ``TrackerUpdated``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import NamedTuple

from ..messenger.events import RetryScheduled, TrackerUpdated
from ..messenger.failures import Failure
from ..messenger.message import Message
from ..messenger.snapshot import MessageSnapshot
from ..messenger.status import Status
from ..messenger.subscription import BrowseMode, Subscription, SubscriptionState

__all__ = [
    "UNDECODABLE",
    "AtStake",
    "BridgeEvent",
    "BridgeState",
    "BridgeStopped",
    "ConnectionChanged",
    "ConnectionPhase",
    "IncomingDecided",
    "ListenerBound",
    "MessageArrived",
    "MessageQueued",
    "Notice",
    "PutFailed",
    "ReplayAnswered",
    "RetryScheduled",
    "Severity",
    "SourceReading",
    "Stats",
    "SubscriptionChanged",
    "TrackerUpdated",
    "UnansweredSaved",
]


class Severity(StrEnum):
    """How much a notice matters (the values are Textual's notification severities)."""

    INFORMATION = "information"
    WARNING = "warning"
    ERROR = "error"


class ConnectionPhase(Enum):
    OPEN = "open"
    CLOSED = "closed"
    """Closed cleanly."""
    FAILED = "failed"


class BridgeState(Enum):
    """Where the bridge's session stands, as the status bar shows it."""

    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    NOT_CONNECTED = "not connected"
    """No session: the app waits for a profile (or its password)."""


@dataclass(slots=True, eq=False)
class MessageArrived:
    """A message was taken off the incoming queue (``seq`` counts them from 1).

    It carries the message as it arrived, AMQP bytes: ``message`` decodes them
    the first time it is read, in the thread that reads it. In a flood most
    rows are never drawn, and decoding every message was half of what the
    bridge spent on it. A message that cannot be decoded (a string that is not
    UTF-8, say) is still a message waiting for a decision: ``problem`` says
    why, ``message`` is then :data:`UNDECODABLE` (no field, no body) and
    ``data`` holds all there is.
    """

    seq: int
    tracker: int
    received_at: float
    data: bytes
    browsed: bool = False
    """From a browsed source: shown, never accepted (given back when the session ends)."""
    _message: MessageSnapshot | None = field(default=None, init=False, repr=False)
    _problem: str | None = field(default=None, init=False, repr=False)

    @property
    def message(self) -> MessageSnapshot:
        """Every field of the message (:data:`UNDECODABLE` if it cannot be decoded)."""
        return self._message or self._decode()

    @property
    def problem(self) -> str | None:
        """Why the message cannot be decoded, or None."""
        if self._message is None:
            self._decode()
        return self._problem

    def _decode(self) -> MessageSnapshot:
        try:
            message = MessageSnapshot.decode(self.data, _scratch())
        except Exception as error:  # whatever the decoder raises: the message is kept
            message = UNDECODABLE
            self._problem = f"{type(error).__name__}: {error}"
        self._message = message
        return message

    @property
    def decoded(self) -> bool:
        """Whether ``message`` was read (and the bytes decoded) yet."""
        return self._message is not None


UNDECODABLE = MessageSnapshot(
    **{
        **dict.fromkeys(MessageSnapshot._fields),
        "durable": False,
        "priority": 4,
        "first_acquirer": False,
        "delivery_count": 0,
    }
)
"""What ``MessageArrived.message`` is for a message that cannot be decoded: no field."""

_decoders = threading.local()


def _scratch() -> Message:
    """This thread's Message to decode into (a Message is not shared between threads)."""
    scratch = getattr(_decoders, "message", None)
    if scratch is None:
        scratch = _decoders.message = Message()
    return scratch


class IncomingDecided(NamedTuple):
    """An incoming message was settled with ``outcome`` (``automatic``: by the window).

    A named tuple, not a frozen dataclass: a flood makes one per message, and a
    frozen dataclass's ``__init__`` costs four times a tuple's.
    """

    tracker: int
    outcome: Status
    automatic: bool = False


@dataclass(frozen=True, slots=True)
class MessageQueued:
    """A message was put; the outgoing table gets a row for its tracker.

    ``draft_id`` is Compose's draft, None for a message sent again from a file.
    """

    tracker: int
    draft_id: int | None
    address: str
    subject: str
    at: float


@dataclass(frozen=True, slots=True)
class PutFailed:
    """A draft could not be put; ``field`` names the Compose field at fault."""

    draft_id: int
    error: str
    field: str = "address"


@dataclass(frozen=True, slots=True)
class ConnectionChanged:
    label: str
    phase: ConnectionPhase
    inbound: bool
    remote_container: str | None = None
    failure: Failure | None = None


@dataclass(frozen=True, slots=True)
class SubscriptionChanged:
    """A source's state, as the user wrote the source (credentials added are not shown)."""

    source: str
    state: SubscriptionState
    failure: Failure | None = None
    connect_address: str | None = None
    reading: SourceReading | None = None
    """How the source is read (browse, selector), once the subscription exists."""


@dataclass(frozen=True, slots=True)
class SourceReading:
    """What was asked of a source and what its peer's attach answer made of it."""

    browse_mode: BrowseMode = BrowseMode.NONE
    selector: str | None = None
    selector_confirmed: bool | None = None
    selector_honoured: bool | None = None
    peer_product: str | None = None

    @classmethod
    def of(cls, subscription: Subscription) -> SourceReading:
        return cls(
            subscription.browse_mode,
            subscription.selector,
            subscription.selector_confirmed,
            subscription.selector_honoured,
            subscription.peer_product,
        )


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
    severity: Severity = Severity.ERROR


@dataclass(frozen=True, slots=True)
class UnansweredSaved:
    """What a Stop with ``save_to`` kept: ``count`` messages at ``path``, or why not."""

    path: str
    count: int
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class AtStake:
    """What quitting now would leave undone; sent whenever it changes.

    ``outgoing`` messages put and not answered by their peer (``failed`` of
    them ABORTED: no answer will come), ``incoming`` messages taken and not
    yet decided (a clean close gives them back to their senders).
    """

    outgoing: int = 0
    failed: int = 0
    incoming: int = 0

    @property
    def awaited(self) -> int:
        """Outgoing messages an answer may still come for."""
        return self.outgoing - self.failed

    def __bool__(self) -> bool:
        return bool(self.outgoing or self.incoming)


@dataclass(frozen=True, slots=True)
class ReplayAnswered:
    """Every message of a recovery file sent again was answered; the file is removed."""

    origin: str
    count: int
    accepted: int


@dataclass(frozen=True, slots=True)
class BridgeStopped:
    """The bridge thread ended; ``error`` says why if it failed, ``crash_log`` where
    its traceback went."""

    error: str | None = None
    crash_log: str | None = None


BridgeEvent = (
    MessageArrived
    | IncomingDecided
    | MessageQueued
    | PutFailed
    | TrackerUpdated
    | ConnectionChanged
    | RetryScheduled
    | SubscriptionChanged
    | ListenerBound
    | Stats
    | Notice
    | UnansweredSaved
    | AtStake
    | ReplayAnswered
    | BridgeStopped
)
