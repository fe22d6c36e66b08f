"""Delivery statuses reported by :meth:`Messenger.status`.

Each status is a singleton: compare with ``is`` (``status(t) is ACCEPTED``).
``None`` stands for "unknown" (a tracker outside its window, or never seen).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ABORTED",
    "ACCEPTED",
    "MODIFIED",
    "PENDING",
    "REJECTED",
    "RELEASED",
    "SETTLED",
    "Modification",
    "Status",
]


class Status:
    """A named delivery status; there is exactly one instance per name."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name

    def __reduce__(self) -> str:
        # Pickling/copying must hand back the singleton, or ``is`` breaks.
        return self.name


PENDING = Status("PENDING")
"""Sent (or queued) and the peer has not answered yet."""
ACCEPTED = Status("ACCEPTED")
"""The peer accepted the message (or, for an incoming tracker, you did)."""
REJECTED = Status("REJECTED")
"""The peer rejected the message as invalid (or, incoming, you did)."""
RELEASED = Status("RELEASED")
"""The peer gave the message back unprocessed; a broker requeues it."""
MODIFIED = Status("MODIFIED")
"""Released with changes (for example a raised delivery count)."""
ABORTED = Status("ABORTED")
"""The connection failed or closed before the peer answered."""
SETTLED = Status("SETTLED")
"""Incoming: the sender settled the delivery before you acted on it."""


@dataclass(frozen=True, slots=True)
class Modification:
    """The two flags of a MODIFIED outcome (an extension; see ``Messenger.modify``).

    ``delivery_failed``: the attempt counts as failed (a peer raises the
    message's delivery count); ``undeliverable_here``: the peer should not
    deliver it to this link again.
    """

    delivery_failed: bool
    undeliverable_here: bool
