"""Per-link and per-message bookkeeping shared by the Messenger's parts."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from .status import PENDING, Modification, Status

if TYPE_CHECKING:
    from ._engine import Conn
    from .failures import Failure
    from .subscription import Subscription


class Link:
    """One AMQP link and what the Messenger keeps about it."""

    __slots__ = (
        "address",
        "closed",
        "conn",
        "credit_closing",
        "credit_managed",
        "failure",
        "impl",
        "is_sender",
        "opened_here",
        "partial",
        "queue",
        "session",
        "subscription",
        "transfers",
        "unanswered",
    )

    def __init__(
        self, impl: Any, conn: Conn | None, is_sender: bool, address: str | None, opened_here: bool
    ):
        self.impl = impl
        self.conn = conn
        self.session = conn.session if conn is not None else None
        self.is_sender = is_sender
        # The terminus name: target of a sender, source of a receiver.
        self.address = address
        # Attached by this Messenger (a sender for put, a subscription's
        # receiver), not by a peer attaching to us.
        self.opened_here = opened_here
        self.closed = False
        self.failure: Failure | None = None
        # Sender side: messages waiting for credit, and those on the wire
        # that the peer has not answered yet (keyed by pn_delivery_t*).
        self.queue: deque[Outgoing] = deque()
        self.unanswered: dict[Any, Outgoing] = {}
        # Sender side: deliveries created on this link so far.
        self.transfers = 0
        # Receiver side: bytes of a delivery still arriving in several frames.
        self.partial: bytearray | None = None
        self.subscription: Subscription | None = None
        # Receiver side: counted by the credit scheduler (False once removed),
        # and closed by us but not yet by the peer (its credit may still be used).
        self.credit_managed = False
        self.credit_closing = False

    @classmethod
    def parked(cls, address: str | None) -> Link:
        """A sender link without a connection: it holds messages while one is retried."""
        return cls(None, None, True, address, opened_here=True)

    @classmethod
    def dead(cls, address: str | None, failure: Failure) -> Link:
        """A sender link that could not be made: messages put on it are ABORTED at once."""
        link = cls(None, None, True, address, opened_here=True)
        link.closed = True
        link.failure = failure
        return link

    @property
    def role(self) -> str:
        return "sender" if self.is_sender else "receiver"

    def describe(self) -> str:
        """``<connection label>/<terminus>`` for messages to the user."""
        label = self.conn.label if self.conn is not None else "(waiting to reconnect)"
        return f"{label}/{self.address}" if self.address else label

    def __repr__(self) -> str:
        return f"<Link {self.role} {self.describe()}{' closed' if self.closed else ''}>"


class Outgoing:
    """A message put on the outgoing queue, from ``put`` until the peer answers."""

    __slots__ = (
        "data",
        "delivery",
        "failure",
        "link",
        "modification",
        "sequence",
        "settled",
        "status",
        "tracker",
    )

    def __init__(self, tracker: int, data: bytes, link: Link) -> None:
        self.tracker = tracker
        self.data: bytes | None = data
        self.link = link
        self.delivery: Any = None
        # Its place among the deliveries of its link (see Link.transfers).
        self.sequence = -1
        self.status: Status = PENDING
        # Settled by this side before it was sent: it goes out pre-settled.
        self.settled = False
        self.failure: Failure | None = None
        # The flags of a MODIFIED answer.
        self.modification: Modification | None = None


class Incoming:
    """A message received and not yet settled."""

    __slots__ = ("browsed", "data", "delivery", "link", "modification", "outcome", "tracker")

    def __init__(self, data: bytes | bytearray, delivery: Any, link: Link) -> None:
        self.data = data
        self.delivery = delivery
        self.link = link
        self.tracker = -1
        self.outcome: Status | None = None
        # Taken from a browsing subscription: never accepted, only given back.
        self.browsed = False
        self.modification: Modification | None = None
