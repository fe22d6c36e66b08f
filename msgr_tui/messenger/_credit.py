"""Sharing receive credit between every receiver link feeding one incoming queue.

The rules are the original Messenger's:

* ``recv(n)`` sets how much credit there is in total (credit still to give
  plus credit given, ``distributed``); ``recv()`` / ``recv(-1)`` keeps up to
  1024 messages per receiver link in flight or queued.
* A link's share is ``max(total // links, 1)``. Links waiting for credit
  (``blocked``) get ``min(share, credit left)``, first come first served.
* If links still wait 250 ms later, credited links are drained so their unused
  credit comes back and can be shared again.
* A link that falls under 20 % of its share is topped up when credit is left
  and nobody waits; a closed link's unused credit returns to the pool.

A link we close (unsubscribe) gets no more credit at once, but what it has
returns to the pool only once the peer has closed it too: until then the
messages the peer sent on that credit still arrive, and they count.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import _pn

if TYPE_CHECKING:
    from ._links import Link

AUTO_BATCH = 1024
DRAIN_DELAY_MS = 250


class CreditScheduler:
    """Credit accounting of one Messenger (all its receiver links)."""

    def __init__(self) -> None:
        self.credit = 0
        self.distributed = 0
        self.receivers = 0
        self.draining = 0
        self.auto = False
        self.next_drain = 0
        self.blocked: list[Link] = []
        self.credited: list[Link] = []

    @property
    def receiving(self) -> int:
        return self.credit + self.distributed

    def share(self) -> int:
        if self.receivers == 0:
            return 0
        return max((self.credit + self.distributed) // self.receivers, 1)

    def set_limit(self, n: int | None) -> None:
        """Apply ``recv(n)``."""
        if n is None or n < 0:
            self.auto = True
        else:
            self.auto = False
            self.credit = n - self.distributed if n > self.distributed else 0

    def add_link(self, link: Link) -> None:
        self.receivers += 1
        link.credit_managed = True
        self.blocked.append(link)

    def close_link(self, link: Link) -> None:
        """We are closing a receiver link: it gets no more credit, and no share.

        Its credit stays counted as given: the peer may have used it already
        (messages on the wire), and those messages still arrive. What is left
        comes back in :meth:`remove_link`, once the peer has closed the link.
        """
        if not link.credit_managed or link.credit_closing:
            return
        link.credit_closing = True
        self._stop_sharing(link)

    def remove_link(self, link: Link) -> None:
        """A receiver link closed: forget it and take back what it did not use.

        Nothing arrives on it any more (the peer closed it too, or the
        connection is gone).
        """
        if not link.credit_managed:
            return
        link.credit_managed = False
        if link.credit_closing:
            link.credit_closing = False
        else:
            self._stop_sharing(link)
        unused = max(_pn.link_credit(link.impl), 0)
        self.distributed -= unused
        if not self.auto:
            self.credit += unused

    def _stop_sharing(self, link: Link) -> None:
        if link in self.blocked:
            self.blocked.remove(link)
        elif link in self.credited:
            self.credited.remove(link)
        self.receivers -= 1
        if _pn.link_get_drain(link.impl):
            _pn.link_set_drain(link.impl, False)
            self.draining -= 1

    def flow(self, now: int, incoming: int) -> bool:
        """Hand out credit to waiting links; start drains when they wait too long.

        Returns True when it changed anything on the wire.
        """
        if self.receivers == 0:
            self.next_drain = 0
            return False
        if self.auto:
            ceiling = self.receivers * AUTO_BATCH
            used = self.distributed + incoming
            self.credit = ceiling - used if ceiling > used else 0
        updated = False
        batch = self.share()
        while self.credit > 0 and self.blocked:
            link = self.blocked.pop(0)
            more = min(self.credit, batch)
            self.distributed += more
            self.credit -= more
            _pn.link_flow(link.impl, more)
            self.credited.append(link)
            updated = True
        if not self.blocked:
            self.next_drain = 0
        elif not self.draining:
            if self.next_drain == 0:
                self.next_drain = now + DRAIN_DELAY_MS
            elif self.next_drain <= now:
                self.next_drain = 0
                needed = len(self.blocked) * batch
                for link in self.credited:
                    if not _pn.link_get_drain(link.impl):
                        _pn.link_set_drain(link.impl, True)
                        needed -= _pn.link_credit(link.impl)
                        self.draining += 1
                        updated = True
                    if needed <= 0:
                        break
        return updated

    def on_message(self, link: Link) -> None:
        """A message arrived on ``link``: top it up or mark it as waiting."""
        if not link.credit_managed:
            return
        self.distributed -= 1
        if link.credit_closing:
            return
        impl = link.impl
        credit = _pn.link_credit(impl)
        if self.credit > 0 and not self.blocked:
            # self.share(), inline: this runs for every message received.
            share = max((self.credit + self.distributed) // self.receivers, 1)
            if credit < int(share * 0.2 + 0.5) and not _pn.link_get_drain(impl):
                more = min(self.credit, share - credit)
                if more > 0:
                    self.credit -= more
                    self.distributed += more
                    _pn.link_flow(impl, more)
                    credit += more
        if credit <= 0 and link in self.credited:
            self.credited.remove(link)
            if _pn.link_get_drain(impl):
                _pn.link_set_drain(impl, False)
                self.draining -= 1
            self.blocked.append(link)

    def on_flow(self, link: Link) -> None:
        """The peer answered a drain: take the credit it gave back."""
        if not link.credit_managed or link.credit_closing:
            return
        impl = link.impl
        if _pn.link_get_drain(impl) and not _pn.link_draining(impl):
            drained = _pn.link_drained(impl)
            self.distributed -= drained
            if not self.auto:
                self.credit += drained
            _pn.link_set_drain(impl, False)
            self.draining -= 1
            if link in self.credited:
                self.credited.remove(link)
                self.blocked.append(link)
