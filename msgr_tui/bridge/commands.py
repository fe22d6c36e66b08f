"""What the UI asks the bridge to do (plain data, safe to pass between threads)."""

from __future__ import annotations

from dataclasses import dataclass

from ..drafts import Draft
from ..messenger.snapshot import MessageSnapshot
from ..recovery import RecoveredMessage


@dataclass(frozen=True, slots=True)
class Subscribe:
    """Receive from ``source`` (or listen there); ``browse``: show its messages without
    consuming them; ``selector``: ask the peer to filter them (JMS-style)."""

    source: str
    browse: bool = False
    selector: str | None = None


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    source: str


@dataclass(frozen=True, slots=True)
class Put:
    draft: Draft
    draft_id: int


@dataclass(frozen=True, slots=True)
class Accept:
    """Accept one incoming tracker, or every pending one when ``tracker`` is None."""

    tracker: int | None


@dataclass(frozen=True, slots=True)
class Reject:
    tracker: int | None


@dataclass(frozen=True, slots=True)
class Release:
    tracker: int | None


@dataclass(frozen=True, slots=True)
class Modify:
    """Settle an incoming tracker MODIFIED: its delivery failed (the peer may count it),
    and with ``undeliverable_here`` it should not come back to this receiver."""

    tracker: int | None
    undeliverable_here: bool = False


@dataclass(frozen=True, slots=True)
class Purge:
    """Accept every message ``source`` holds now: those pending here, then each one it
    sends until it has sent nothing for a moment; the count is told when done."""

    source: str


@dataclass(frozen=True, slots=True)
class Settle:
    tracker: int


@dataclass(frozen=True, slots=True)
class Replay:
    """Send the messages of a recovery file again, each to its own address.

    The bridge removes ``origin`` once every one of them is answered, or once
    a Stop has saved those still unanswered to a newer file.
    """

    origin: str
    messages: tuple[RecoveredMessage, ...]


@dataclass(frozen=True, slots=True)
class SendMessages:
    """Put a message file's messages, each to its own address, at most ``rate`` a second
    (None: as fast as the peers take them). Unlike a Replay, the file is the user's:
    it stays."""

    messages: tuple[RecoveredMessage, ...]
    rate: float | None = None


@dataclass(frozen=True, slots=True)
class Forward:
    """Put a copy of received messages (every field kept) to ``destination``, or each to
    its own address when None (a resend).

    With ``move``, an original is accepted once its copy is ACCEPTED, never
    sooner; a copy refused or lost leaves its original pending (and says so).
    Without, the originals are left as they are.
    """

    originals: tuple[tuple[int, MessageSnapshot], ...]
    destination: str | None
    move: bool = False


@dataclass(frozen=True, slots=True)
class Stop:
    """Close every connection and stop; with ``save_to``, the outgoing messages still
    unanswered after the clean close are written there as a message file.

    The first Stop decides: a later one (the screen going away after a quit
    that chose not to save) changes nothing.
    """

    save_to: str | None = None


Command = (
    Subscribe
    | Unsubscribe
    | Put
    | Replay
    | SendMessages
    | Forward
    | Accept
    | Reject
    | Release
    | Modify
    | Purge
    | Settle
    | Stop
)
