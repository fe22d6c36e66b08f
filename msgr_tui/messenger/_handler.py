"""What the Messenger does when the engine reports something (the Driver's handler)."""

from __future__ import annotations

from typing import Any

from . import _pn
from ._credit import CreditScheduler
from ._engine import Conn
from ._incoming import IncomingQueue
from ._lifecycle import Lifecycle
from ._links import Link
from ._options import Options
from ._outgoing import OutgoingQueue
from ._reports import Reports
from ._retry import Retrier
from ._router import Router
from ._subscriptions import Subscriptions
from .errors import LinkRefused
from .events import ConnectionClosed, ConnectionOpened, LinkClosed, LinkOpened
from .failures import Failure
from .subscription import SubscriptionState
from .tls import diagnose_verification, ip_host_hint


class EngineHandler:
    """Turns deliveries, credit, attaches, detaches and closes into queue and state changes."""

    def __init__(
        self,
        options: Options,
        lifecycle: Lifecycle,
        router: Router,
        outgoing: OutgoingQueue,
        incoming: IncomingQueue,
        credit: CreditScheduler,
        subscriptions: Subscriptions,
        retrier: Retrier,
        reports: Reports,
    ) -> None:
        self.options = options
        self.lifecycle = lifecycle
        self.router = router
        self.outgoing = outgoing
        self.incoming = incoming
        self.credit = credit
        self.subscriptions = subscriptions
        self.retrier = retrier
        self.reports = reports
        # Messages: straight to the queues and the credit (see Handler).
        self.on_sent_delivery = outgoing.on_delivery
        self.on_received_delivery = incoming.on_delivery
        self.on_message = credit.on_message

    # ------------------------------------------------------------ messages

    def on_flow(self, link: Link) -> None:
        if link.is_sender:
            self.outgoing.on_flow(link)
        else:
            self.credit.on_flow(link)

    # --------------------------------------------------------------- links

    def on_remote_link(
        self, conn: Conn, impl: Any, is_sender: bool, source: str | None, target: str | None
    ) -> Link:
        if is_sender:
            # A peer subscribes to us: the link's source names what it wants.
            link = self.router.new_link(impl, conn, True, source, opened_here=False)
            conn.senders.setdefault(source, link)
            if target is not None:
                conn.senders.setdefault(target, link)
        else:
            link = self.router.new_link(impl, conn, False, target, opened_here=False)
            self.credit.add_link(link)
        return link

    def on_link_opened(self, link: Link) -> None:
        subscription = link.subscription
        if subscription is not None:
            subscription.state = SubscriptionState.ATTACHED
            subscription.failure = None
            conn = link.conn
            asked_selector = subscription.selector is not None
            subscription.peer_answered(
                subscription.browse and bool(_pn.remote_source_copies(link.impl)),
                _pn.remote_source_selector(link.impl) if asked_selector else None,
                conn.remote_product,
                conn.remote_version,
            )
        self.reports.event(
            LinkOpened(link.describe(), link.role, subscription.address if subscription else None)
        )

    def on_link_closed(self, link: Link, failure: Failure | None) -> None:
        if link.closed:
            return
        link.closed = True
        link.failure = failure
        link.partial = None
        conn = link.conn
        if link.is_sender:
            self._sender_closed(link, failure)
        else:
            self.credit.remove_link(link)
            self.incoming.link_closed(link)
        subscription = link.subscription
        reason = failure or conn.failure
        if subscription is not None and subscription.state is not SubscriptionState.CLOSED:
            if self.retrier.retrying(conn):
                # It comes back with the connection.
                self.retrier.park_subscription(conn, subscription)
            else:
                subscription.state = (
                    SubscriptionState.FAILED if reason else SubscriptionState.CLOSED
                )
            subscription.failure = reason
        if failure is not None and link.opened_here:
            self.reports.failed(failure, LinkRefused)
        self.reports.event(
            LinkClosed(
                link.describe(),
                link.role,
                subscription.address if subscription else None,
                reason.reason if reason is not None else None,
                reason,
            )
        )

    def _sender_closed(self, link: Link, failure: Failure | None) -> None:
        conn = link.conn
        self.outgoing.links.remove(link)
        for key in [key for key, known in conn.senders.items() if known is link]:
            del conn.senders[key]
        if self.retrier.retrying(conn) and link.opened_here:
            self.retrier.park_link(conn, link)
            return
        if failure is None and not conn.closed and link.opened_here and link.unanswered:
            failure = Failure(
                link.describe(),
                f"the peer closed the sender link before answering {len(link.unanswered)} "
                "message(s); they report ABORTED",
            )
            self.outgoing.abort_link(link, failure)
            if not self.lifecycle.stopping:
                self.reports.failed(failure, LinkRefused)
            return
        conn.aborted.extend(self.outgoing.abort_link(link, failure or conn.failure))

    # --------------------------------------------------------- connections

    def on_connection_opened(self, conn: Conn) -> None:
        if conn.outbound and conn.key is not None:
            self.retrier.connected(conn)
        self.reports.event(ConnectionOpened(conn.label, conn.remote_container, not conn.outbound))

    def on_connection_closed(self, conn: Conn) -> None:
        self.router.forget(conn)
        failure = conn.failure
        if self.retrier.retrying(conn):
            self.retrier.connection_closed(conn)
        elif conn.outbound and not self.lifecycle.stopping:
            if failure is not None:
                self.reports.failed(failure)
            elif conn.aborted:
                # A clean close, but with messages still unanswered.
                failure = Failure(
                    conn.label,
                    f"the peer closed the connection before answering {len(conn.aborted)} "
                    "message(s); they report ABORTED",
                )
                for entry in conn.aborted:
                    entry.failure = entry.failure or failure
                self.reports.failed(failure)
        self.reports.event(
            ConnectionClosed(
                conn.label,
                failure.reason if failure is not None else None,
                not conn.outbound,
                failure,
            )
        )

    def explain(self, conn: Conn, failure: Failure) -> Failure:
        """Add what the engine's words leave unsaid, for failures users meet often."""
        address = conn.address
        if address is None:
            return failure
        options = self.options
        condition = failure.condition
        if (
            condition is not None
            and condition.name == "amqp:unauthorized-access"
            and "mech=none" in (condition.description or "")
            and address.password is not None
            and not address.tls
            and not options.allow_insecure_mechs
        ):
            return _with_reason(
                failure,
                f"{failure.reason} — SASL PLAIN was not offered because it would send the "
                "password in clear over unencrypted TCP; use amqps://, or allow it explicitly "
                "(allow_insecure_mechs; profiles: tls.allow_insecure_plain = true)",
            )
        if (
            address.tls
            and options.trusted_certificates
            and "certificate verify failed" in failure.reason
        ):
            reason = diagnose_verification(
                address.host,
                address.effective_port,
                options.trusted_certificates,
                check_hostname=options.verify_hostname,
            )
            hint = ip_host_hint(address.host) if options.verify_hostname else None
            if hint and reason is None:
                # Python's own check passes (an IP SAN): Proton's did not.
                reason = hint
            if reason:
                return _with_reason(failure, f"{failure.reason} ({reason})")
        return failure


def _with_reason(failure: Failure, reason: str) -> Failure:
    return Failure(failure.where, reason, failure.condition, failure.permanent)
