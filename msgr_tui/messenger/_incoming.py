"""The incoming queue: reading deliveries, trackers, the incoming window, outcomes."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from proton import Message

from . import _pn
from ._codec import decode_into
from ._links import Incoming, Link
from .errors import MessengerException
from .status import ACCEPTED, MODIFIED, PENDING, REJECTED, RELEASED, SETTLED, Modification, Status
from .subscription import BrowseMode, Subscription

# Incoming trackers carry this bit so they never collide with outgoing ones.
INCOMING_BIT = 1 << 62

_DISPOSITION = {ACCEPTED: _pn.ACCEPTED, REJECTED: _pn.REJECTED, RELEASED: _pn.RELEASED}

_VERB = {ACCEPTED: "accept", REJECTED: "reject", MODIFIED: "modify"}

SettledListener = Callable[[int, Status], None]

# Read for every delivery: bound once.
_readable = _pn.delivery_readable
_aborted = _pn.delivery_aborted
_pending = _pn.delivery_pending
_partial = _pn.delivery_partial
_advance = _pn.link_advance
_NOT_BROWSED = BrowseMode.NONE


class IncomingQueue:
    """Messages received and not yet taken, and the trackers of those taken.

    ``window`` is the incoming window: how many trackers returned by ``get``
    keep their delivery unsettled so the application can decide.
    """

    def __init__(self, dirty: set[Any]) -> None:
        self.window = 0
        # Connections with dispositions not written yet (see OutgoingQueue.dirty).
        self.dirty = dirty
        self.messages: deque[Incoming] = deque()
        self._next_seq = 0
        # Where the message got last came from (None: a listener's link without one).
        self.last_subscription: Subscription | None = None
        self._recent: deque[Incoming] = deque()
        self._tracked: dict[int, Incoming] = {}
        # Entries of the window not decided yet, oldest first (may also hold
        # decided or settled ones until the next bulk act or trim), so that
        # accept()/reject() cost what they decide, not the window's size.
        self._undecided: deque[Incoming] = deque()
        # Told when a tracker leaves the window and is accepted for the application.
        self.on_auto_settled: SettledListener | None = None
        # Browsed (PEEK) messages taken and held unsettled, by link, until given back.
        self._held: dict[Link, list[Incoming]] = {}
        self._reader = _pn.DeliveryReader()

    def __len__(self) -> int:
        return len(self.messages)

    # -------------------------------------------------------------- arriving

    def on_delivery(self, link: Link, delivery: Any) -> bool:
        """Read a readable delivery; True when a transfer finished (it used a credit)."""
        if not _readable(delivery):
            return False
        impl = link.impl
        if _aborted(delivery):
            link.partial = None
            _advance(impl)
            _pn.delivery_settle(delivery)
            return True
        data = self._reader.read(impl, _pending(delivery))
        if _partial(delivery):
            # A large message arrives in several frames: keep what came so far.
            if link.partial is None:
                link.partial = bytearray(data)
            else:
                link.partial += data
            return False
        if link.partial is not None:
            link.partial += data
            data = link.partial
            link.partial = None
        _advance(impl)
        self.messages.append(Incoming(data, delivery, link))
        return True

    # --------------------------------------------------------------- taking

    def take(self, message: Message | None) -> tuple[Incoming, bytes | bytearray]:
        """Pop the oldest message (decoded into ``message`` if given) and its AMQP bytes."""
        try:
            entry = self.messages.popleft()
        except IndexError:
            raise MessengerException("get: the incoming queue is empty (call recv first)") from None
        entry.tracker = INCOMING_BIT | self._next_seq
        self._next_seq += 1
        data = entry.data
        entry.data = None
        subscription = entry.link.subscription
        self.last_subscription = subscription
        if subscription is not None and subscription.browse_mode is not _NOT_BROWSED:
            self._browsed(entry, subscription.browse_mode)
            if message is not None:
                try:
                    decode_into(message, data)
                except Exception as error:
                    self.give_back_entry(entry)
                    raise MessengerException(
                        f"get: message from {entry.link.describe()} could not be decoded and "
                        f"was given back (browsing): {error}"
                    ) from None
            return entry, data
        if message is not None:
            try:
                decode_into(message, data)
            except Exception as error:
                self.dispose(entry, REJECTED)
                raise MessengerException(
                    f"get: message from {entry.link.describe()} could not be decoded and was "
                    f"rejected: {error}"
                ) from None
        if self.window:
            recent, undecided = self._recent, self._undecided
            recent.append(entry)
            undecided.append(entry)
            self._tracked[entry.tracker] = entry
            # (undecided too: trackers settled one by one leave it only in trim.)
            if len(recent) > self.window or len(undecided) > self.window:
                self.trim()
        else:
            self.dispose(entry, ACCEPTED)
        return entry, data

    def _browsed(self, entry: Incoming, mode: BrowseMode) -> None:
        """A browsed message is taken: tracked for its status, never accepted.

        COPY: the peer sent a copy, given back at once. PEEK (and PENDING,
        which cannot have deliveries): held unsettled, so the source keeps
        it and sends it to nobody else, until :meth:`give_back`.
        """
        entry.browsed = True
        if self.window:
            self._recent.append(entry)
            self._tracked[entry.tracker] = entry
            self.trim()
        if mode is BrowseMode.COPY:
            self.dispose(entry, RELEASED)
        else:
            self._held.setdefault(entry.link, []).append(entry)

    def give_back_entry(self, entry: Incoming) -> None:
        """Release one browsed message now (held ones leave the held list)."""
        held = self._held.get(entry.link)
        if held is not None and entry in held:
            held.remove(entry)
        if entry.outcome is None:
            self.dispose(entry, RELEASED)

    def give_back(self, link: Link) -> None:
        """Release every browsed message still held from ``link``."""
        for entry in self._held.pop(link, ()):
            if entry.outcome is None:
                self.dispose(entry, RELEASED)

    def link_closed(self, link: Link) -> None:
        """``link`` is gone: its held messages are back at the source already."""
        self._held.pop(link, None)

    def held(self, link: Link) -> int:
        return len(self._held.get(link, ()))

    def act(
        self, tracker: int | None, outcome: Status, modification: Modification | None = None
    ) -> bool:
        """Settle one tracker, or every undecided one in the window; True if any.

        A browsed tracker can only be released (RELEASED); anything else raises.
        Bulk acts (``tracker`` None) never touch browsed ones.
        """
        if tracker is not None:
            entry = self._tracked.get(tracker)
            if entry is not None and entry.browsed:
                if outcome is not RELEASED:
                    raise MessengerException(
                        f"{_VERB.get(outcome, 'act')}: tracker {tracker} was browsed from "
                        f"{entry.link.describe()}: it is given back to its source, never "
                        "consumed (only release() applies)"
                    )
                self.give_back_entry(entry)
                return True
        if tracker is None:
            tracked = self._tracked
            entries = [
                entry
                for entry in self._undecided
                if entry.outcome is None and tracked.get(entry.tracker) is entry
            ]
            self._undecided.clear()
        else:
            entry = self._tracked.get(tracker)
            entries = [entry] if entry is not None and entry.outcome is None else []
        self.dispose_all(entries, outcome, modification)
        return bool(entries)

    def settle(self, tracker: int) -> None:
        entry = self._tracked.pop(tracker, None)
        if entry is not None:
            self._recent.remove(entry)
            if entry.browsed:
                # Never a bare settle: RabbitMQ does not take one as a give-back.
                self.give_back_entry(entry)
            elif entry.outcome is None:
                self.dispose(entry, None)

    def modification(self, tracker: int) -> Modification | None:
        entry = self._tracked.get(tracker)
        return entry.modification if entry is not None else None

    def status(self, tracker: int) -> Status | None:
        entry = self._tracked.get(tracker)
        if entry is None:
            return None
        if entry.outcome is not None:
            return entry.outcome
        delivery = entry.delivery
        if delivery is not None and not entry.link.closed and _pn.delivery_settled(delivery):
            return SETTLED
        return PENDING

    def trim(self) -> None:
        """Accept (for the application) trackers pushed out of the window."""
        recent = self._recent
        while len(recent) > self.window:
            entry = recent.popleft()
            self._tracked.pop(entry.tracker, None)
            if entry.outcome is None and not entry.browsed:
                self.dispose(entry, ACCEPTED)
                if self.on_auto_settled is not None:
                    self.on_auto_settled(entry.tracker, ACCEPTED)
        undecided = self._undecided
        while undecided and undecided[0].tracker not in self._tracked:
            undecided.popleft()

    def dispose(
        self, entry: Incoming, outcome: Status | None, modification: Modification | None = None
    ) -> None:
        """Settle an incoming delivery with ``outcome`` (None: settle without one).

        ``modification`` carries the flags of a MODIFIED outcome. Only the
        engine's state changes; the frame goes out with the next round of I/O
        on its connection.
        """
        self.dispose_all((entry,), outcome, modification)

    def dispose_all(
        self,
        entries: Iterable[Incoming],
        outcome: Status | None,
        modification: Modification | None = None,
    ) -> None:
        """:meth:`dispose` for many entries in one loop (``accept()`` of a whole window)."""
        # The flags go with MODIFIED only; other outcomes have a state of their own.
        if outcome is MODIFIED:
            modification = modification or Modification(True, False)
            state = None
        else:
            modification = None
            state = _DISPOSITION.get(outcome)
        update, settle, dirty = _pn.delivery_update, _pn.delivery_settle, self.dirty
        for entry in entries:
            entry.outcome = outcome
            delivery = entry.delivery
            entry.delivery = None
            link = entry.link
            if modification is not None:
                entry.modification = modification
            if delivery is None or link.closed:
                continue
            if modification is not None:
                _pn.delivery_modify(
                    delivery, modification.delivery_failed, modification.undeliverable_here
                )
            elif state is not None:
                update(delivery, state)
            settle(delivery)
            dirty.add(link.conn)
