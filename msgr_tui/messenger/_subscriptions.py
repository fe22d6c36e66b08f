"""The Messenger's subscriptions: remote sources (receiver links) and ``~`` listeners."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import _pn
from ._credit import CreditScheduler
from ._engine import Conn, Driver, Listener
from ._incoming import IncomingQueue
from ._links import Link
from ._router import Router
from .address import AddressError, parse_address
from .errors import MessengerException
from .subscription import Subscription, SubscriptionState

if TYPE_CHECKING:
    from ._retry import Retrier


class Subscriptions:
    """Every subscription by the source it was made with, and what serves it."""

    def __init__(
        self, driver: Driver, router: Router, credit: CreditScheduler, incoming: IncomingQueue
    ) -> None:
        self.driver = driver
        self.router = router
        self.credit = credit
        self.incoming = incoming
        self.retrier: Retrier | None = None
        self.by_source: dict[str, Subscription] = {}
        self._links: dict[str, Link] = {}
        self._listeners: dict[str, Listener] = {}

    def subscribe(
        self, source: str, *, browse: bool = False, selector: str | None = None
    ) -> Subscription:
        """Listen, or attach a receiver link; the route rules apply to ``source`` first.

        Raises for what cannot be tried at all (an address that does not
        parse, a host that does not resolve, a port in use, TLS files that
        cannot be loaded). A connection that is refused leaves the
        subscription FAILED, with the reason, as the original went on.
        ``browse`` and ``selector`` (extensions) shape the receiver's source.
        """
        existing = self.by_source.get(source)
        if existing is not None and existing.active:
            if existing.browse != browse or existing.selector != selector:
                raise MessengerException(
                    f"subscribe: already subscribed to {source!r} with "
                    f"browse={existing.browse}, selector={existing.selector!r}; "
                    "unsubscribe first to subscribe with other options"
                )
            return existing
        target, routed_note = self.router.routed(source)
        peer = self.router.peer_target(target)
        if peer is not None:
            conn, address = peer
            subscription = Subscription(source, address, browse=browse, selector=selector)
            self.attach(subscription, conn)
            self.by_source[source] = subscription
            return subscription
        try:
            address = parse_address(target)
        except AddressError as error:
            raise AddressError(f"{error}{routed_note}") from None
        if address.listen and (browse or selector is not None):
            raise MessengerException(
                f"subscribe: {source!r} listens; browse and selector apply to a remote source"
            )
        subscription = Subscription(source, address, browse=browse, selector=selector)
        if address.listen:
            domain = self.router.tls_domain("server") if address.tls else None
            listener = self.driver.listen(address, domain)
            listener.subscription = subscription
            subscription.port = listener.port
            subscription.state = SubscriptionState.LISTENING
            self._listeners[source] = listener
        else:
            conn = self.router.connection_for(address)
            if not conn.closed:
                self.attach(subscription, conn)
            elif self.retrier is not None and self.retrier.retrying(conn):
                self.retrier.plan_after(conn).subscriptions.append(subscription)
                subscription.state = SubscriptionState.RETRYING
                subscription.failure = conn.failure
            else:
                subscription.state = SubscriptionState.FAILED
                subscription.failure = conn.failure
        self.by_source[source] = subscription
        return subscription

    def why_none_left(self) -> str:
        """For "no valid sources": what happened to the subscriptions, in words."""
        reasons = [
            str(subscription.failure)
            for subscription in self.by_source.values()
            if subscription.failure is not None
        ]
        return "; ".join(dict.fromkeys(reasons)) or "every connection has closed"

    def attach(self, subscription: Subscription, conn: Conn) -> None:
        """Open the receiver link of a remote subscription on ``conn``."""
        name = subscription.source_name
        impl = self.driver.open_link(
            conn,
            False,
            self.router.link_name(name),
            name,
            copy=subscription.browse,
            selector=subscription.selector,
        )
        link = self.router.new_link(impl, conn, False, name, opened_here=True)
        link.subscription = subscription
        subscription.attaching()
        self._links[subscription.address] = link
        self.credit.add_link(link)
        self.driver.process()
        self.driver.flush(conn)

    def is_current(self, subscription: Subscription) -> bool:
        return self.by_source.get(subscription.address) is subscription

    def detach(self, subscription: Subscription) -> None:
        """Its link is gone (it waits for a reconnection)."""
        self._links.pop(subscription.address, None)

    def unsubscribe(self, key: str) -> None:
        subscription = self.by_source.pop(key, None)
        if subscription is None:
            raise MessengerException(f"not subscribed to {key!r}")
        subscription.state = SubscriptionState.CLOSED
        listener = self._listeners.pop(key, None)
        if listener is not None:
            self.close_listener(listener)
        link = self._links.pop(key, None)
        if link is not None and not link.closed:
            # Browsed messages still held go back before the link closes.
            self.incoming.give_back(link)
            _pn.link_close(link.impl)
            # Its credit comes back once the peer has closed it too (on_link_closed).
            self.credit.close_link(link)
            self.driver.flush(link.conn)

    def close_listener(self, listener: Listener) -> None:
        self.driver.close_listener(listener)
        for key, known in list(self._listeners.items()):
            if known is listener:
                del self._listeners[key]
        if listener.subscription is not None:
            listener.subscription.state = SubscriptionState.CLOSED

    def give_back_all(self) -> None:
        """Stopping: every browsed message still held goes back to its source."""
        for link in self._links.values():
            if not link.closed:
                self.incoming.give_back(link)

    def close_all(self) -> None:
        for subscription in self.by_source.values():
            subscription.state = SubscriptionState.CLOSED
