"""The Messenger: one outgoing queue, one incoming queue, any number of peers."""

from __future__ import annotations

import contextlib
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

import cproton
from cproton_ffi import lib
from proton import Message

from ._codec import MessageEncoder
from ._credit import CreditScheduler
from ._engine import Conn, Driver, Listener, now_ms
from ._incoming import INCOMING_BIT, IncomingQueue
from ._links import Link
from ._outgoing import OutgoingQueue
from ._retry import Reconnector, RetryPlan, retryable
from .address import Address, AddressError, parse_address
from .errors import (
    Interrupt,
    LinkRefused,
    MessengerException,
    Timeout,
    TransportFailed,
    condition_name,
)
from .events import (
    ConnectionClosed,
    ConnectionOpened,
    IncomingSettled,
    LinkClosed,
    LinkOpened,
    MessengerEvent,
    RetryScheduled,
    TrackerUpdated,
)
from .rules import RuleList, default_rewrite
from .status import (
    ACCEPTED,
    REJECTED,
    RELEASED,
    Status,
)
from .subscription import Subscription
from .tls import TLSSettings, check_verifiable_host, diagnose_verification

__all__ = ["Messenger"]

# Bytes of messages a burst of puts may leave in the transport before put writes.
_PUT_FLUSH_BYTES = 64 * 1024


def _seconds(value: float | None) -> float | None:
    """The Messenger's timeout convention: None or a negative number = forever."""
    if value is None or value < 0:
        return None
    return float(value)


class Messenger:
    """Send and receive AMQP 1.0 messages through two queues.

    A Messenger holds one logical queue of outgoing messages and one of
    incoming messages, whatever addresses they come from or go to. It is used
    from a single thread; only :meth:`interrupt` may be called from another.
    I/O happens only inside its calls (``put``, ``send``, ``recv``, ``work``,
    ``subscribe``, ``stop``), never in the background.

    Example::

        messenger = Messenger()
        messenger.start()
        message = Message(address="amqp://127.0.0.1/queue", body="hello")
        messenger.put(message)
        messenger.send()
        messenger.stop()

    Addresses look like ``[amqp[s]://][user[:password]@][~]domain[/name]``;
    see :mod:`msgr_tui.messenger.address`.
    """

    def __init__(self, name: str | None = None) -> None:
        """Create a stopped Messenger; ``name`` (its AMQP container-id) defaults to a UUID."""
        self._name = name if name is not None else str(uuid.uuid4())
        self._timeout: float | None = None
        self._blocking = True
        self._certificate: str | None = None
        self._private_key: str | None = None
        self._password: str | None = None
        self._trusted_certificates: str | None = None
        self._verify_hostname = False
        self._allow_insecure_mechs = True
        self._idle_timeout = 0.0
        self._tls_cache: dict[str, Any] = {}
        self._routes = RuleList()
        self._rewrites = RuleList()
        self._rewrite_cache: dict[str, str | None] = {}
        self._link_cache: dict[str, Link] = {}

        self._driver = Driver(self, self._name)
        self._encoder = MessageEncoder()
        self._credit = CreditScheduler()
        self._started = False
        self._stopping = False
        self._interrupted = False
        self._errors: deque[MessengerException] = deque()
        self.on_event: Callable[[MessengerEvent], None] | None = None
        """Optional callback for :mod:`~msgr_tui.messenger.events` (an extension)."""

        self._out_conns: dict[tuple[Any, ...], Conn] = {}
        self._subscriptions: dict[str, Subscription] = {}
        self._sub_links: dict[str, Link] = {}
        self._sub_listeners: dict[str, Listener] = {}

        self._retry = False
        self._reconnector = Reconnector()
        self._outgoing = OutgoingQueue()
        self._outgoing.on_status = self._tracker_updated
        self._incoming = IncomingQueue()
        self._incoming.on_auto_settled = self._incoming_auto_settled

    def __repr__(self) -> str:
        return f"<Messenger {self._name!r}{' stopped' if self.stopped else ''}>"

    def __enter__(self) -> Messenger:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __del__(self) -> None:
        driver = getattr(self, "_driver", None)
        if driver is not None:
            with contextlib.suppress(Exception):
                driver.close()

    # ------------------------------------------------------------ properties

    @property
    def name(self) -> str:
        """The Messenger's name, used as the container-id of all its connections."""
        return self._name

    @property
    def timeout(self) -> float | None:
        """Seconds a blocking call may wait before raising Timeout; None waits forever."""
        return self._timeout

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        self._timeout = _seconds(value)

    @property
    def blocking(self) -> bool:
        """When False, ``send``/``recv``/``stop`` do what they can without waiting."""
        return self._blocking

    @blocking.setter
    def blocking(self, value: bool) -> None:
        self._blocking = bool(value)

    @property
    def incoming_window(self) -> int:
        """How many trackers returned by ``get`` stay unsettled for accept/reject.

        With 0 (the default) each message is accepted and settled by ``get``.
        A tracker pushed out of the window is accepted if you did not act on it.
        """
        return self._incoming.window

    @incoming_window.setter
    def incoming_window(self, value: int) -> None:
        self._incoming.window = _window(value, "incoming_window")
        self._incoming.trim()

    @property
    def outgoing_window(self) -> int:
        """How many of the most recent outgoing trackers keep their status (default 0)."""
        return self._outgoing.window

    @outgoing_window.setter
    def outgoing_window(self, value: int) -> None:
        self._outgoing.window = _window(value, "outgoing_window")
        self._outgoing.trim()

    @property
    def certificate(self) -> str | None:
        """Path of this Messenger's certificate (PEM).

        Needed to listen on ``amqps://~`` and to authenticate to peers that ask
        for a client certificate.
        """
        return self._certificate

    @certificate.setter
    def certificate(self, value: str | None) -> None:
        self._certificate = value
        self._tls_cache.clear()

    @property
    def private_key(self) -> str | None:
        """Path of the private key (PEM) that goes with :attr:`certificate`."""
        return self._private_key

    @private_key.setter
    def private_key(self, value: str | None) -> None:
        self._private_key = value
        self._tls_cache.clear()

    @property
    def password(self) -> str | None:
        """Password of :attr:`private_key`, or None when the key is not encrypted."""
        return self._password

    @password.setter
    def password(self, value: str | None) -> None:
        self._password = value
        self._tls_cache.clear()

    @property
    def trusted_certificates(self) -> str | None:
        """CA certificates (PEM file) to verify peers with; None means no verification.

        On an ``amqps://~`` listener, setting it makes client certificates mandatory.
        """
        return self._trusted_certificates

    @trusted_certificates.setter
    def trusted_certificates(self, value: str | None) -> None:
        self._trusted_certificates = value
        self._tls_cache.clear()

    @property
    def verify_hostname(self) -> bool:
        """Extension: also check that the server certificate names the host (default False).

        Only applies when :attr:`trusted_certificates` is set. The original
        Messenger verified the certificate chain but not the name.
        """
        return self._verify_hostname

    @verify_hostname.setter
    def verify_hostname(self, value: bool) -> None:
        self._verify_hostname = bool(value)
        self._tls_cache.clear()

    @property
    def allow_insecure_mechs(self) -> bool:
        """Extension: allow SASL PLAIN over unencrypted TCP (default True, as the original)."""
        return self._allow_insecure_mechs

    @allow_insecure_mechs.setter
    def allow_insecure_mechs(self, value: bool) -> None:
        self._allow_insecure_mechs = bool(value)
        self._driver.allow_insecure_mechs = bool(value)

    @property
    def idle_timeout(self) -> float:
        """Extension: idle timeout in seconds advertised on new connections (0 = none).

        A peer that hears nothing for this long may close the connection; the
        Messenger keeps its side alive with empty frames whenever a peer
        advertises a timeout, as long as the program keeps calling into it.
        """
        return self._idle_timeout

    @idle_timeout.setter
    def idle_timeout(self, value: float) -> None:
        self._idle_timeout = max(0.0, float(value or 0))
        self._driver.idle_timeout_ms = int(self._idle_timeout * 1000)

    @property
    def retry(self) -> bool:
        """Extension: reconnect and resend after connection failures (default False).

        Messages without an answer when a connection this Messenger opened
        fails (refused, reset, broker restart, idle timeout) stay PENDING and
        are sent again once the address is reachable; subscriptions are made
        again. Attempts back off from 0.1 s, doubling up to
        :attr:`retry_max_delay`. Delivery becomes at-least-once: a receiver may
        see a message twice. Refused credentials, untrusted certificates and
        refused links are not retried.
        """
        return self._retry

    @retry.setter
    def retry(self, value: bool) -> None:
        self._retry = bool(value)
        self._outgoing.retain = self._retry

    @property
    def retry_max_delay(self) -> float:
        """Extension: the longest wait between two reconnection attempts, in seconds."""
        return self._reconnector.max_delay

    @retry_max_delay.setter
    def retry_max_delay(self, value: float) -> None:
        self._reconnector.max_delay = max(0.01, float(value))

    @property
    def stopped(self) -> bool:
        """True before ``start`` and once ``stop`` has closed every connection and listener."""
        return not self._started

    @property
    def outgoing(self) -> int:
        """Messages put and not yet on the wire (waiting here or queued on a link)."""
        return self._outgoing.on_wire_pending()

    @property
    def incoming(self) -> int:
        """Messages received and waiting to be taken with ``get``."""
        return len(self._incoming)

    @property
    def receiving(self) -> int:
        """Credit granted to peers or still grantable, not yet used by a message."""
        return self._credit.receiving

    @property
    def subscriptions(self) -> list[Subscription]:
        """Extension: the current subscriptions, in the order they were made."""
        return list(self._subscriptions.values())

    # ------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Make the Messenger active; required before sending or receiving."""
        self._started = True
        self._stopping = False

    def stop(self) -> None:
        """Close every connection and listener with a clean AMQP close.

        Messages already handed to a link are written out first; messages
        still waiting for credit are given up and report ABORTED. Blocking
        mode waits for the peers' close (or the timeout, after which the
        connections are dropped and Timeout is raised); non-blocking mode
        returns at once and ``work`` completes the close (see :attr:`stopped`).
        """
        if not self._started:
            return
        self._stopping = True
        for link in self._outgoing.links:
            self._outgoing.abort_queue(link)
        for plan in self._reconnector.plans.values():
            for parked in plan.parked.values():
                self._outgoing.abort_queue(parked)
            for subscription in plan.subscriptions:
                subscription.state = "closed"
        self._reconnector.plans.clear()
        for listener in list(self._driver.listeners):
            self._close_listener(listener)
        self._advance_stop()
        if not self._blocking:
            self._driver.pump(0)
            self._advance_stop()
            return
        try:
            self._sync(self._stop_complete, self._timeout, interruptible=False)
        except Timeout:
            for conn in list(self._driver.conns.values()):
                self._driver.abort_conn(conn, "stop timed out waiting for the peer to close")
            self._finish_stop()
            raise
        self._errors.clear()

    def _advance_stop(self) -> None:
        if not self._stopping:
            return
        for conn in list(self._driver.conns.values()):
            if conn.closing or conn.closed:
                continue
            if all(
                link.closed or lib.pn_link_queued(link.impl) == 0
                for link in conn.links
                if link.is_sender
            ):
                self._driver.close_conn(conn)
        if not self._driver.conns and not self._driver.listeners:
            self._finish_stop()

    def _stop_complete(self) -> bool:
        self._advance_stop()
        return not self._started

    def _finish_stop(self) -> None:
        self._started = False
        self._stopping = False
        self._out_conns.clear()
        self._link_cache.clear()
        for sub in self._subscriptions.values():
            sub.state = "closed"

    # ---------------------------------------------------------- subscribing

    def subscribe(self, source: str) -> Subscription:
        """Receive from ``source``: a remote node, or ``[amqp[s]://]~host[:port]`` to listen.

        Listening binds at once (a port in use raises MessengerException).
        A remote source opens a receiver link whose source is the address's
        name; subscribing twice to the same source returns the first
        subscription. ``amqps://~`` listeners need :attr:`certificate` and
        :attr:`private_key`.
        """
        existing = self._subscriptions.get(source)
        if existing is not None and existing.state not in ("closed", "failed"):
            return existing
        address = parse_address(source)
        subscription = Subscription(source, address)
        if address.listen:
            domain = self._tls("server") if address.tls else None
            listener = self._driver.listen(address, domain)
            listener.subscription = subscription
            subscription.port = listener.port
            subscription.state = "listening"
            self._sub_listeners[source] = listener
        else:
            self._attach(subscription, self._connection_for(address))
        self._subscriptions[source] = subscription
        return subscription

    def _attach(self, subscription: Subscription, conn: Conn) -> None:
        """Open the receiver link of a remote subscription on ``conn``."""
        name = subscription.source_name
        impl = self._driver.open_link(conn, False, self._link_name(name), name)
        link = self._new_link(impl, conn, False, name, ours=True)
        link.subscription = subscription
        subscription.state = "connecting"
        self._sub_links[subscription.address] = link
        self._credit.add_link(link)
        self._driver.process()
        self._driver.flush(conn)

    def unsubscribe(self, source: str | Subscription) -> None:
        """Extension: stop receiving from a source (close its link or listener)."""
        key = source.address if isinstance(source, Subscription) else source
        subscription = self._subscriptions.pop(key, None)
        if subscription is None:
            raise MessengerException(f"not subscribed to {key!r}")
        subscription.state = "closed"
        listener = self._sub_listeners.pop(key, None)
        if listener is not None:
            self._close_listener(listener)
        link = self._sub_links.pop(key, None)
        if link is not None and not link.closed:
            lib.pn_link_close(link.impl)
            self._credit.remove_link(link)
            self._driver.flush(link.conn)

    def _close_listener(self, listener: Listener) -> None:
        self._driver.close_listener(listener)
        for key, known in list(self._sub_listeners.items()):
            if known is listener:
                del self._sub_listeners[key]
        if listener.subscription is not None:
            listener.subscription.state = "closed"

    # -------------------------------------------------------------- sending

    def put(self, message: Message) -> int:
        """Queue a copy of ``message`` and try to send it without blocking.

        The message's address picks the destination (after :meth:`route`);
        the copy carries the address after :meth:`rewrite` and has a ``~``
        reply_to expanded to this Messenger's name. ``message`` itself is not
        changed. Returns the outgoing tracker.
        """
        address = message.address
        if not address:
            raise MessengerException("put: the message has no address (set message.address)")
        link = self._link_cache.get(address)
        if link is None or link.closed or link.conn.closing:
            link = self._sender_for(address)
        written = self._rewritten(address)
        reply_to = message.reply_to
        munged_reply = self._munge_reply_to(reply_to)
        if written != address or munged_reply != reply_to:
            try:
                message.address = written
                if munged_reply != reply_to:
                    message.reply_to = munged_reply
                data = self._encoder.encode(message)
            finally:
                message.address = address
                message.reply_to = reply_to
        else:
            data = self._encoder.encode(message)
        tracker = self._outgoing.add(data, link)
        if self._started and not self._stopping and link.conn is not None:
            # Like Nagle's algorithm: a put with nothing unanswered on its link
            # is written out at once; later puts of a burst collect in the
            # transport and go out in one write per _PUT_FLUSH_BYTES, or at the
            # next send/recv/work. One socket write per message cost the sender
            # a quarter of its time and the receiver a read per few messages.
            idle = not link.unanswered
            self._outgoing.pump(link)
            conn = link.conn
            conn.unflushed += len(data)
            if idle or conn.unflushed >= _PUT_FLUSH_BYTES:
                self._driver.flush(conn)
        return tracker

    def send(self, n: int = -1) -> None:
        """Block until ``n`` (default: all) outgoing messages are sent and answered.

        "Answered" means the peer settled the delivery or gave it an outcome.
        ``send(0)``, and any call in non-blocking mode, only does the I/O that
        is possible right now. Raises Timeout after :attr:`timeout`, Interrupt
        when interrupted, and MessengerException when a connection or link
        used by this Messenger failed (the affected messages report ABORTED).
        """
        self._check_started("send")
        outgoing = self._outgoing
        threshold = 0 if n is None or n < 0 else max(outgoing.pending - n, 0)
        self._sync(lambda: outgoing.pending <= threshold, self._timeout)

    def status(self, tracker: int) -> Status | None:
        """The last known status of a tracker, or None when it is unknown.

        Outgoing: PENDING until the peer answers, then ACCEPTED, REJECTED,
        RELEASED or MODIFIED (SETTLED if it settled without an outcome), ABORTED
        if the connection failed first; None outside the outgoing window.
        Incoming: ACCEPTED/REJECTED/RELEASED once you acted, SETTLED if the
        sender settled it first, PENDING while it waits for you; None outside
        the incoming window.
        """
        if tracker & INCOMING_BIT:
            return self._incoming.status(tracker)
        return self._outgoing.status(tracker)

    def buffered(self, tracker: int) -> bool:
        """True while the tracked outgoing message still waits for credit or the wire."""
        return self._outgoing.buffered(tracker)

    def settle(self, tracker: int | None = None) -> None:
        """Forget a tracker (default: every outgoing tracker), settling its delivery.

        An outgoing message still on the wire stops being waited for by
        ``send``; an incoming one is settled without an outcome.
        """
        if tracker is not None and tracker & INCOMING_BIT:
            self._incoming.settle(tracker)
        else:
            self._outgoing.settle(tracker)

    def route(self, pattern: str, address: str) -> None:
        """Send messages whose address matches ``pattern`` to ``address`` instead.

        Routing only chooses the connection and link; the message keeps its
        address (see :meth:`rewrite`). ``%`` matches within one path segment,
        ``*`` across segments, and ``$1``, ``$2``... insert what they matched.
        Rules are tried in the order they were added; the first match wins.
        """
        self._routes.add(pattern, address)
        self._link_cache.clear()

    def rewrite(self, pattern: str, address: str | None) -> None:
        """Change the address written into outgoing messages that match ``pattern``.

        Same pattern language as :meth:`route`; None removes the address.
        Without a matching rule, ``user:password@`` is removed from the address.
        """
        self._rewrites.add(pattern, address)
        self._rewrite_cache.clear()

    # ------------------------------------------------------------ receiving

    def recv(self, n: int | None = None) -> None:
        """Grant credit for up to ``n`` messages and wait until at least one is queued.

        ``n`` None or -1: keep up to 1024 messages per receiver link in flight
        or queued. Raises Timeout, Interrupt, or MessengerException (for
        example when there is nothing to receive from). In non-blocking mode
        it grants the credit and returns.
        """
        self._check_started("recv")
        if self._blocking and not self._driver.listeners and not self._driver.conns:
            raise MessengerException("recv: no valid sources (subscribe to a source first)")
        self._credit.set_limit(n)
        self._credit.flow(now_ms(), len(self._incoming))
        self._sync(self._received, self._timeout)
        if (
            not self._incoming
            and self._blocking
            and not self._driver.listeners
            and not self._driver.conns
        ):
            raise MessengerException("recv: no valid sources (every connection has closed)")

    def _received(self) -> bool:
        return bool(self._incoming) or not (self._driver.listeners or self._driver.conns)

    def get(self, message: Message | None = None) -> int:
        """Take the oldest incoming message into ``message`` and return its tracker.

        With ``message`` None the content is dropped. Never blocks; raises
        MessengerException when the incoming queue is empty.
        """
        entry = self._incoming.get(message)
        if not self._incoming.window and not self._incoming and self._started:
            # Caught up: let the dispositions out now rather than at the next
            # call. While a backlog is read they go out in batches.
            self._driver.flush(entry.link.conn)
        return entry.tracker

    def accept(self, tracker: int | None = None) -> None:
        """Accept one incoming tracker, or (None) every unsettled one in the window."""
        self._act(tracker, ACCEPTED)

    def reject(self, tracker: int | None = None) -> None:
        """Reject one incoming tracker, or (None) every unsettled one in the window."""
        self._act(tracker, REJECTED)

    def release(self, tracker: int | None = None) -> None:
        """Extension: give messages back unprocessed (a broker requeues them)."""
        self._act(tracker, RELEASED)

    def _act(self, tracker: int | None, outcome: Status) -> None:
        if self._incoming.act(tracker, outcome) and self._started:
            self._driver.flush_all()

    # ------------------------------------------------------------ pumping

    def work(self, timeout: float | None = None) -> bool:
        """Do pending I/O, waiting up to ``timeout`` seconds (None: until something happens).

        Returns True if anything happened, False if the time ran out. Raises
        Interrupt after :meth:`interrupt` and MessengerException for failures
        of connections or links this Messenger opened.
        """
        self._check_started("work")
        self._check_interrupt()
        timeout = self._until_timer(_seconds(timeout))
        worked = self._driver.pump(timeout)
        self._after_io()
        self._check_interrupt()
        self._raise_pending()
        return worked

    def interrupt(self) -> None:
        """Make the current (or next) blocking call raise Interrupt; any thread may call it."""
        self._interrupted = True
        self._driver.wake()

    def _check_started(self, operation: str) -> None:
        if not self._started and not self._stopping:
            raise MessengerException(f"{operation}: the Messenger is not started (call start())")

    def _check_interrupt(self) -> None:
        if self._interrupted:
            self._interrupted = False
            raise Interrupt("interrupted")

    def _raise_pending(self) -> None:
        """Raise what went wrong since the last call, all of it at once.

        One failure often has several faces (a broker that ends a session
        closes every link on it): they are reported together by the call that
        notices them, so no stale error is left for an unrelated later call.
        """
        if not self._errors:
            return
        errors = list(self._errors)
        self._errors.clear()
        first = errors[0]
        texts = list(dict.fromkeys(str(error) for error in errors))
        if len(texts) == 1:
            raise first
        combined = type(first)("; ".join(texts))
        if isinstance(first, TransportFailed) and isinstance(combined, TransportFailed):
            combined.address = first.address
            combined.condition = first.condition
        raise combined

    def _until_timer(self, wait: float | None) -> float | None:
        """``wait`` shortened to the next drain or reconnection, whichever is first."""
        deadlines = [self._credit.next_drain] if self._credit.next_drain else []
        retry_at = self._reconnector.next_deadline()
        if retry_at is not None:
            deadlines.append(retry_at)
        if not deadlines:
            return wait
        until = max(0.0, (min(deadlines) - now_ms()) / 1000.0)
        return until if wait is None else min(wait, until)

    def _after_io(self) -> None:
        if self._credit.flow(now_ms(), len(self._incoming)):
            self._driver.flush_all()
        if self._reconnector.plans:
            self._reconnect_due()
        self._advance_stop()

    def _reconnect_due(self) -> None:
        now = now_ms()
        for _key, plan in self._reconnector.due(now):
            plan.next_at = 0
            try:
                conn = self._connection_for(plan.address)
            except MessengerException as error:
                if plan.next_at == 0:
                    self._schedule_retry(plan, str(error))
                continue
            for name, parked in list(plan.parked.items()):
                if not parked.queue:
                    continue
                link = self._sender_link(conn, name)
                for entry in parked.queue:
                    entry.link = link
                link.queue.extend(parked.queue)
                parked.queue.clear()
                self._outgoing.pump(link)
            plan.parked.clear()
            subscriptions, plan.subscriptions = plan.subscriptions, []
            for subscription in subscriptions:
                if self._subscriptions.get(subscription.address) is subscription:
                    self._attach(subscription, conn)
            self._driver.flush(conn)

    def _retrying(self, conn: Conn) -> bool:
        """Whether what ``conn`` leaves behind waits for a reconnection."""
        return (
            self._retry
            and conn.outbound
            and conn.closed
            and conn.address is not None
            and not self._stopping
            and retryable(conn.error)
        )

    def _retry_plan(self, conn: Conn) -> RetryPlan:
        assert conn.key is not None and conn.address is not None
        return self._reconnector.plan_for(conn.key, conn.address, conn.label)

    def _schedule_retry(self, plan: RetryPlan, reason: str | None) -> None:
        delay = self._reconnector.schedule(plan, now_ms())
        if self.on_event is not None:
            self.on_event(
                RetryScheduled(
                    plan.label,
                    plan.attempt,
                    delay,
                    plan.waiting,
                    len(plan.subscriptions),
                    reason,
                )
            )

    def _sync(
        self, done: Callable[[], bool], timeout: float | None, *, interruptible: bool = True
    ) -> None:
        """Pump until ``done()``; the heart of every blocking call."""
        deadline = None if timeout is None else now_ms() + int(timeout * 1000)
        driver = self._driver
        # One non-waiting round of real I/O first: send(0) and non-blocking
        # calls must read the peer's answers (open, credit, dispositions) too.
        driver.pump(0)
        self._after_io()
        while True:
            self._raise_pending()
            if done():
                return
            if not self._blocking:
                return
            if interruptible:
                self._check_interrupt()
            wait: float | None = None
            if deadline is not None:
                remaining = deadline - now_ms()
                if remaining <= 0:
                    raise Timeout("timed out")
                wait = remaining / 1000.0
            driver.pump(self._until_timer(wait))
            self._after_io()

    # ------------------------------------------------------ outgoing plumbing

    def _sender_for(self, address: str) -> Link:
        matched, routed = self._routes.apply(address)
        target = routed if matched and routed is not None else address
        routed_note = f" (routed from {address!r})" if matched else ""
        try:
            parsed = parse_address(target)
        except AddressError as error:
            raise AddressError(f"{error}{routed_note}") from None
        if parsed.listen:
            raise AddressError(
                f"put: cannot send to {parsed.without_credentials()!r}: '~' means listen; "
                f"use the listener's host and port{routed_note}"
            )
        if self._retry:
            plan = self._reconnector.waiting_plan(parsed.connection_key(), now_ms())
            if plan is not None:
                # The address is down and a reconnection is planned: wait with the rest.
                return plan.park(parsed.name)
        try:
            conn = self._connection_for(parsed)
        except MessengerException as error:
            if not routed_note:
                raise
            raise type(error)(f"{error}{routed_note}") from None
        link = self._sender_link(conn, parsed.name)
        self._link_cache[address] = link
        return link

    def _sender_link(self, conn: Conn, name: str | None) -> Link:
        """The sender link for ``name`` on ``conn``, opened if there is none."""
        link = conn.senders.get(name)
        if link is None or link.closed:
            impl = self._driver.open_link(conn, True, self._link_name(name), name)
            link = self._new_link(impl, conn, True, name, ours=True)
            conn.senders[name] = link
        return link

    def _connection_for(self, address: Address) -> Conn:
        key = address.connection_key()
        conn = self._out_conns.get(key)
        if conn is not None and not conn.closing and not conn.closed:
            return conn
        domain = address.domain
        for candidate in self._driver.conns.values():
            if (
                candidate.remote_container == domain
                and not candidate.closing
                and not candidate.closed
            ):
                return candidate
        label = _connection_label(address)
        domain_tls = self._tls("client") if address.tls else None
        if domain_tls is not None and self._verify_hostname and self._trusted_certificates:
            check_verifiable_host(address.host)
        mechs = (
            "PLAIN"
            if address.user is not None and address.password is not None
            else (
                "ANONYMOUS EXTERNAL"
                if domain_tls is not None and self._certificate
                else "ANONYMOUS"
            )
        )
        conn = self._driver.connect(address, label, domain_tls, mechs)
        if not conn.closed:
            self._out_conns[key] = conn
        elif conn.error:
            # Failed before it started (no address worked): report it now.
            raise TransportFailed(f"{label}: {conn.error}", address=label)
        return conn

    def _tls(self, role: str) -> Any:
        domain = self._tls_cache.get(role)
        if domain is None:
            settings = TLSSettings(
                self._certificate,
                self._private_key,
                self._password,
                self._trusted_certificates,
                self._verify_hostname,
            )
            domain = settings.server_domain() if role == "server" else settings.client_domain()
            self._tls_cache[role] = domain
        return domain

    def _link_name(self, terminus: str | None) -> str:
        # Unique per connection pair and direction, so a broker never confuses
        # (or steals) links after a reconnect.
        return f"{terminus or '-'}#{uuid.uuid4().hex[:12]}"

    def _new_link(
        self, impl: Any, conn: Conn, is_sender: bool, address: str | None, ours: bool
    ) -> Link:
        link = Link(impl, conn, is_sender, address, ours)
        conn.links.append(link)
        self._driver.links[impl] = link
        if is_sender:
            self._outgoing.links.append(link)
        return link

    def _rewritten(self, address: str) -> str | None:
        try:
            return self._rewrite_cache[address]
        except KeyError:
            pass
        matched, result = self._rewrites.apply(address)
        written = result if matched else default_rewrite(address)
        if len(self._rewrite_cache) > 4096:
            self._rewrite_cache.clear()
        self._rewrite_cache[address] = written
        return written

    def _munge_reply_to(self, reply_to: str | None) -> str | None:
        if reply_to and reply_to.startswith("~"):
            return f"amqp://{self._name}{reply_to[1:]}"
        return reply_to

    def _tracker_updated(self, tracker: int, status: Status) -> None:
        if self.on_event is not None:
            self.on_event(TrackerUpdated(tracker, status))

    def _incoming_auto_settled(self, tracker: int, status: Status) -> None:
        if self.on_event is not None:
            self.on_event(IncomingSettled(tracker, status))

    # ------------------------------------------------- driver callbacks

    def on_delivery(self, link: Link, delivery: Any) -> None:
        if link.is_sender:
            self._outgoing.on_delivery(link, delivery)
        elif self._incoming.on_delivery(link, delivery):
            self._credit.on_message(link)

    def on_flow(self, link: Link) -> None:
        if link.is_sender:
            self._outgoing.on_flow(link)
        else:
            self._credit.on_flow(link)

    def on_connection_opened(self, conn: Conn) -> None:
        if conn.outbound and conn.key is not None:
            self._reconnector.connected(conn.key)
        if self.on_event is not None:
            self.on_event(ConnectionOpened(conn.label, conn.remote_container, not conn.outbound))

    def on_link_opened(self, link: Link) -> None:
        subscription = link.subscription
        if subscription is not None:
            subscription.state = "attached"
            subscription.error = None
        if self.on_event is not None:
            self.on_event(
                LinkOpened(
                    link.describe(), link.role, subscription.address if subscription else None
                )
            )

    def on_remote_link(self, conn: Conn, impl: Any, is_sender: bool) -> Link:
        if is_sender:
            # A peer subscribes to us: the link's source names what it wants.
            address = cproton.pn_terminus_get_address(lib.pn_link_source(impl))
            link = self._new_link(impl, conn, True, address, ours=False)
            conn.senders.setdefault(address, link)
            target = cproton.pn_terminus_get_address(lib.pn_link_target(impl))
            if target is not None:
                conn.senders.setdefault(target, link)
        else:
            address = cproton.pn_terminus_get_address(lib.pn_link_target(impl))
            link = self._new_link(impl, conn, False, address, ours=False)
            self._credit.add_link(link)
        return link

    def on_link_closed(self, link: Link, error: str | None) -> None:
        if link.closed:
            return
        link.closed = True
        link.error = error
        link.partial = None
        conn = link.conn
        if link in conn.links:
            conn.links.remove(link)
        if link.is_sender:
            self._outgoing.links.remove(link)
            for key in [key for key, known in conn.senders.items() if known is link]:
                del conn.senders[key]
            if self._retrying(conn) and link.ours:
                parked = self._retry_plan(conn).park(link.address)
                entries = self._outgoing.take_for_retry(link)
                for entry in entries:
                    entry.link = parked
                merged = sorted([*parked.queue, *entries], key=lambda entry: entry.tracker)
                parked.queue.clear()
                parked.queue.extend(merged)
                lost = 0
            else:
                lost = self._outgoing.abort_link(link)
            conn.aborted += lost
            if lost and not error and link.ours and not conn.closed and not self._stopping:
                self._errors.append(
                    LinkRefused(
                        f"{link.describe()}: the peer closed the sender link before answering "
                        f"{lost} message(s); they report ABORTED",
                        address=link.describe(),
                    )
                )
        else:
            self._credit.remove_link(link)
        subscription = link.subscription
        reason = error or conn.error
        if subscription is not None and subscription.state != "closed" and self._retrying(conn):
            # It comes back with the connection.
            self._retry_plan(conn).subscriptions.append(subscription)
            self._sub_links.pop(subscription.address, None)
            subscription.state = "retrying"
            subscription.error = reason
        elif subscription is not None and subscription.state != "closed":
            subscription.state = "failed" if reason else "closed"
            subscription.error = reason
        if error and link.ours:
            self._errors.append(
                LinkRefused(
                    f"{link.describe()}: the peer closed the {link.role} link: {error}",
                    address=link.describe(),
                    condition=condition_name(error),
                )
            )
        if self.on_event is not None:
            self.on_event(
                LinkClosed(
                    link.describe(),
                    link.role,
                    subscription.address if subscription else None,
                    reason,
                )
            )

    def on_connection_closed(self, conn: Conn, error: str | None) -> None:
        if self._out_conns.get(conn.key) is conn:
            del self._out_conns[conn.key]
        if self._retrying(conn):
            plan = self._reconnector.plans.get(conn.key)
            if plan is not None and not plan.empty:
                if plan.next_at == 0:
                    self._schedule_retry(plan, error)
            elif plan is not None:
                del self._reconnector.plans[conn.key]
        elif conn.outbound and not self._stopping:
            if error:
                self._errors.append(
                    TransportFailed(
                        f"{conn.label}: {error}",
                        address=conn.label,
                        condition=condition_name(error),
                    )
                )
            elif conn.aborted:
                self._errors.append(
                    TransportFailed(
                        f"{conn.label}: the peer closed the connection before answering "
                        f"{conn.aborted} message(s); they report ABORTED",
                        address=conn.label,
                    )
                )
        if self.on_event is not None:
            self.on_event(ConnectionClosed(conn.label, error, not conn.outbound))

    def explain_failure(self, conn: Conn, error: str) -> str:
        """Add what the engine's error leaves unsaid for failures users meet often."""
        address = conn.address
        if address is None:
            return error
        if (
            "mech=none" in error
            and address.password is not None
            and not address.tls
            and not self._allow_insecure_mechs
        ):
            return (
                f"{error} — SASL PLAIN was not offered because it would send the password "
                "in clear over unencrypted TCP; use amqps://, or allow it explicitly "
                "(allow_insecure_mechs; profiles: tls.allow_insecure_plain = true)"
            )
        if address.tls and "certificate verify failed" in error and self._trusted_certificates:
            reason = diagnose_verification(
                address.host,
                address.effective_port,
                self._trusted_certificates,
                check_hostname=self._verify_hostname,
            )
            if reason:
                return f"{error} ({reason})"
        return error


def _window(value: int, name: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise MessengerException(f"{name} must be an integer, not {value!r}") from None
    if number < 0:
        raise MessengerException(f"{name} must be 0 or more, not {number}")
    return number


def _connection_label(address: Address) -> str:
    """How a connection is named in errors and events: scheme, user, host, port."""
    host = f"[{address.host}]" if ":" in address.host else address.host
    user = f"{address.user}@" if address.user is not None else ""
    return f"{address.effective_scheme}://{user}{host}:{address.effective_port}"
