"""Starting and stopping: the close handshake of every connection and listener."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import _pn
from ._engine import Driver
from ._outgoing import OutgoingQueue
from ._router import Router
from ._subscriptions import Subscriptions

if TYPE_CHECKING:
    from ._retry import Retrier


class Lifecycle:
    """Whether the Messenger runs, and the steps of a clean stop.

    A stop closes listeners at once; a connection is closed once every sender
    link on it has handed its bytes to the transport (closing earlier would
    lose pre-settled messages Proton still holds); the Messenger is stopped
    when no connection and no listener is left.
    """

    def __init__(
        self, driver: Driver, router: Router, outgoing: OutgoingQueue, subscriptions: Subscriptions
    ) -> None:
        self.driver = driver
        self.router = router
        self.outgoing = outgoing
        self.subscriptions = subscriptions
        self.retrier: Retrier | None = None
        self.started = False
        self.stopping = False

    @property
    def running(self) -> bool:
        """Started and not yet stopped (a stop in progress still runs)."""
        return self.started

    def start(self) -> None:
        self.started = True
        self.stopping = False

    def begin_stop(self) -> None:
        """Give up what cannot leave (no credit, or waiting to reconnect); close listeners."""
        self.stopping = True
        # Messages that have credit but were not handed to their link yet can leave.
        self.outgoing.hand_over()
        for link in self.outgoing.links:
            self.outgoing.abort_queue(link, None)
        if self.retrier is not None:
            self.retrier.abandon()
        self.subscriptions.give_back_all()
        for listener in list(self.driver.listeners):
            self.subscriptions.close_listener(listener)
        self.advance()

    def advance(self) -> None:
        """Close the connections that are ready to close; finish when none is left."""
        if not self.stopping:
            return
        driver = self.driver
        for conn in list(driver.conns.values()):
            if conn.closing or conn.closed:
                continue
            if all(
                link.closed or _pn.link_queued(link.impl) == 0
                for link in conn.links
                if link.is_sender
            ):
                driver.close_conn(conn)
        if not driver.conns and not driver.listeners:
            self.finish()

    def stopped_now(self) -> bool:
        self.advance()
        return not self.started

    def finish(self) -> None:
        self.started = False
        self.stopping = False
        self.router.reset()
        self.subscriptions.close_all()

    def abort(self, reason: str) -> None:
        """The peers did not answer the close in time: drop their connections."""
        for conn in list(self.driver.conns.values()):
            self.driver.abort_conn(conn, reason)
        self.finish()
