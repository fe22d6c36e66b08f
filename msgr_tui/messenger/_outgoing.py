"""The outgoing queue: trackers, the outgoing window, handing messages to links."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from . import _pn
from ._links import Link, Outgoing
from .failures import Failure
from .status import (
    ABORTED,
    ACCEPTED,
    MODIFIED,
    PENDING,
    REJECTED,
    RELEASED,
    SETTLED,
    Modification,
    Status,
)

_REMOTE_STATUS = {
    _pn.ACCEPTED: ACCEPTED,
    _pn.REJECTED: REJECTED,
    _pn.RELEASED: RELEASED,
    _pn.MODIFIED: MODIFIED,
}

StatusListener = Callable[[int, Status], None]


class OutgoingQueue:
    """Messages from ``put`` until the peer answers, and the statuses worth keeping.

    Messages wait on their link's queue until it has credit, then become
    deliveries. ``window`` is the outgoing window: the newest ``window``
    trackers are tracked, their deliveries unsettled until the peer answers;
    a message outside it is settled (pre-settled if it was not sent yet), so
    the peer never answers it and ``send`` waits only until it is written.
    ``dirty`` collects the connections whose deliveries were settled outside
    a round of I/O: their frames go out with the next call that does I/O.
    """

    def __init__(self, dirty: set[Any]) -> None:
        self.window = 0
        self.dirty = dirty
        self.next_tracker = 0
        # Waiting for credit / on the wire and not answered yet.
        self.queued = 0
        self.unanswered = 0
        self.links: list[Link] = []
        self._recent: deque[Outgoing] = deque()
        self._tracked: dict[int, Outgoing] = {}
        self.on_status: StatusListener | None = None
        # Retry mode keeps each message's bytes until it is answered, to resend.
        self.retain = False
        self._tags = _pn.DeliveryTags()
        # Links with messages put since the last hand-over (an ordered set).
        self.unsent: dict[Link, None] = {}

    def undone(self) -> int:
        """What ``send`` waits for: messages not yet written, and tracked ones not answered.

        As in the original, a tracked message still in the engine's buffers
        counts twice (to be written, then to be answered).
        """
        return self.on_wire_pending() + self.unanswered

    def on_wire_pending(self) -> int:
        """Messages queued here or on a link, not yet written out by the engine."""
        total = self.queued
        for link in self.links:
            if not link.closed:
                total += _pn.link_queued(link.impl)
        return total

    # ------------------------------------------------------------ queueing

    def add(self, data: bytes, link: Link) -> int:
        """Queue a message for ``link``; a link that could not be made aborts it at once."""
        tracker = self.next_tracker
        self.next_tracker += 1
        entry = Outgoing(tracker, data, link)
        if self.window:
            recent = self._recent
            recent.append(entry)
            self._tracked[tracker] = entry
            if len(recent) > self.window:
                self.trim()
        else:
            entry.settled = True
            if self._recent:
                self.trim()  # the window was shrunk to 0 since the last put
        if link.closed:
            entry.data = None
            entry.failure = link.failure
            self._set_status(entry, ABORTED)
            return tracker
        link.queue.append(entry)
        self.queued += 1
        return tracker

    def hand_over(self) -> None:
        """Hand the messages put since the last call to their links, as far as credit goes."""
        if self.unsent:
            links = list(self.unsent)
            self.unsent.clear()
            for link in links:
                self.pump(link)

    def pump(self, link: Link) -> None:
        """Hand queued messages to ``link`` while it has credit."""
        queue = link.queue
        if not queue or link.closed or link.impl is None:
            return
        impl = link.impl
        credit = _pn.link_credit(impl)
        new_delivery = self._tags.new_delivery
        send = _pn.link_send
        advance = _pn.link_advance
        unanswered = link.unanswered
        while queue and credit > 0:
            entry = queue.popleft()
            data = entry.data
            # The delivery tag is the tracker.
            delivery = new_delivery(impl, entry.tracker)
            send(impl, data, len(data))  # bytes go to C as they are, no copy
            advance(impl)
            if not self.retain or entry.settled:
                entry.data = None
            entry.sequence = link.transfers
            link.transfers += 1
            credit -= 1
            self.queued -= 1
            if entry.settled:
                _pn.delivery_settle(delivery)
                continue
            entry.delivery = delivery
            unanswered[delivery] = entry
            self.unanswered += 1

    def on_flow(self, link: Link) -> None:
        """The peer gave credit (or asked to drain): send, or hand back unused credit."""
        if link.queue:
            self.pump(link)
        if not link.queue:
            _pn.link_drained(link.impl)

    def on_delivery(self, link: Link, delivery: Any) -> None:
        """The peer answered (or settled) a delivery: record it and settle our side."""
        state = _pn.delivery_remote_state(delivery)
        if state == _pn.RECEIVED or (not state and not _pn.delivery_settled(delivery)):
            return
        entry = link.unanswered.pop(delivery, None)
        if entry is not None and state == _pn.MODIFIED:
            entry.modification = Modification(*_pn.remote_modification(delivery))
        _pn.delivery_settle(delivery)
        if entry is None:
            return
        self.unanswered -= 1
        entry.delivery = None
        self._set_status(entry, _REMOTE_STATUS.get(state, SETTLED))

    # ---------------------------------------------------------- statuses

    def status(self, tracker: int) -> Status | None:
        entry = self._tracked.get(tracker)
        return entry.status if entry is not None else None

    def modification(self, tracker: int) -> Modification | None:
        entry = self._tracked.get(tracker)
        return entry.modification if entry is not None else None

    def failure(self, tracker: int) -> Failure | None:
        entry = self._tracked.get(tracker)
        return entry.failure if entry is not None else None

    def buffered(self, tracker: int) -> bool:
        entry = self._tracked.get(tracker)
        if entry is None or entry.status is not PENDING:
            return False
        if entry.delivery is None:
            return entry.data is not None
        link = entry.link
        if link.closed:
            return False
        return entry.sequence >= link.transfers - _pn.link_queued(link.impl)

    def settle(self, tracker: int | None) -> None:
        """Forget one tracker, or every one; their deliveries are settled."""
        if tracker is None:
            entries = list(self._recent)
            self._recent.clear()
            self._tracked.clear()
        else:
            entry = self._tracked.pop(tracker, None)
            if entry is None:
                return
            self._recent.remove(entry)
            entries = [entry]
        for entry in entries:
            self._settle(entry)

    def trim(self) -> None:
        """Settle and forget the trackers that fell out of the window."""
        recent = self._recent
        tracked = self._tracked
        while len(recent) > self.window:
            entry = recent.popleft()
            del tracked[entry.tracker]
            if entry.delivery is not None or entry.status is PENDING:
                self._settle(entry)  # (an answered one has nothing left to settle)

    def _settle(self, entry: Outgoing) -> None:
        delivery = entry.delivery
        if delivery is None:
            if entry.status is PENDING:
                # Not sent yet: it will go out pre-settled, and nobody answers it.
                entry.settled = True
            return
        link = entry.link
        if link.unanswered.pop(delivery, None) is not None:
            self.unanswered -= 1
        entry.delivery = None
        entry.settled = True
        if not link.closed:
            _pn.delivery_settle(delivery)
            self.dirty.add(link.conn)

    # ------------------------------------------------------------ failures

    def abort_queue(self, link: Link, failure: Failure | None) -> None:
        """Messages that never got credit on ``link`` are given up as ABORTED."""
        queue = link.queue
        while queue:
            entry = queue.popleft()
            entry.data = None
            entry.failure = failure
            self.queued -= 1
            self._set_status(entry, ABORTED)

    def abort_link(self, link: Link, failure: Failure | None) -> list[Outgoing]:
        """Give up every message of a closed link; returns those that were on the wire."""
        self.abort_queue(link, failure)
        lost = list(link.unanswered.values())
        for entry in lost:
            entry.delivery = None
            entry.failure = failure
            self.unanswered -= 1
            self._set_status(entry, ABORTED)
        link.unanswered.clear()
        return lost

    def take_for_retry(self, link: Link) -> list[Outgoing]:
        """Everything of a failed link that still needs an answer, oldest first.

        Messages that were on the wire count as waiting again (their bytes
        were kept, see ``retain``); the peer may have seen them already.
        """
        entries = list(link.unanswered.values())
        for entry in entries:
            entry.delivery = None
        self.unanswered -= len(entries)
        self.queued += len(entries)
        link.unanswered.clear()
        entries.extend(link.queue)
        link.queue.clear()
        entries.sort(key=lambda entry: entry.tracker)
        return entries

    def _set_status(self, entry: Outgoing, status: Status) -> None:
        entry.status = status
        if self.on_status is not None and entry.tracker in self._tracked:
            self.on_status(entry.tracker, status)
