"""What the UI asks the bridge to do (plain data, safe to pass between threads)."""

from __future__ import annotations

from dataclasses import dataclass

from ..drafts import Draft


@dataclass(frozen=True, slots=True)
class Subscribe:
    source: str


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
class Settle:
    tracker: int


@dataclass(frozen=True, slots=True)
class Stop:
    """Close every connection and stop; with ``save_to``, the outgoing messages still
    unanswered after the clean close are written there as a message file."""

    save_to: str | None = None


Command = Subscribe | Unsubscribe | Put | Accept | Reject | Release | Settle | Stop
