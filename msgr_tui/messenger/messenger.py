"""The Messenger: one outgoing queue, one incoming queue, any number of peers.

This class is the public face of the library and only delegates: the parts
that do the work are private modules (the I/O loop in ``_engine``, its event
handler in ``_handler``, address resolution in ``_router``, the queues in
``_outgoing`` and ``_incoming``, credit in ``_credit``, subscriptions in
``_subscriptions``, retry mode in ``_retry``, stopping in ``_lifecycle``).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable

from proton import Message

from ._codec import Encoder, message_address
from ._credit import CreditScheduler
from ._engine import Driver, now_ms
from ._handler import EngineHandler
from ._incoming import INCOMING_BIT, IncomingQueue
from ._lifecycle import Lifecycle
from ._options import Options
from ._outgoing import OutgoingQueue
from ._pump import Pump
from ._reports import Reports
from ._retry import Retrier
from ._router import Router
from ._subscriptions import Subscriptions
from .errors import MessengerException, Timeout
from .events import MessengerEvent
from .failures import Failure
from .status import ACCEPTED, MODIFIED, REJECTED, RELEASED, Modification, Status
from .subscription import Subscription
from .views import ConnectionView, RetryView

__all__ = ["Messenger"]


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
        options = Options(name if name is not None else str(uuid.uuid4()))
        self._options = options
        self._reports = reports = Reports(options)
        self._driver = driver = Driver(None, options.name)  # type: ignore[arg-type]
        self._outgoing = outgoing = OutgoingQueue(driver.dirty)
        self._incoming = incoming = IncomingQueue(driver.dirty)
        self._credit = credit = CreditScheduler()
        self._router = router = Router(options, driver, outgoing, reports)
        self._subscriptions = subscriptions = Subscriptions(driver, router, credit, incoming)
        self._lifecycle = lifecycle = Lifecycle(driver, router, outgoing, subscriptions)
        self._retrier = retrier = Retrier(
            options, lifecycle, driver, router, outgoing, subscriptions, reports
        )
        router.retrier = retrier
        lifecycle.retrier = retrier
        subscriptions.retrier = retrier
        driver.handler = EngineHandler(
            options, lifecycle, router, outgoing, incoming, credit, subscriptions, retrier, reports
        )
        self._pump = Pump(options, driver, outgoing, credit, incoming, retrier, lifecycle, reports)
        self._encoder = Encoder()

    def __repr__(self) -> str:
        return f"<Messenger {self.name!r}{' stopped' if self.stopped else ''}>"

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
        return self._options.name

    @property
    def timeout(self) -> float | None:
        """Seconds a blocking call may wait before raising Timeout; None waits forever."""
        return self._options.timeout

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        self._options.timeout = _seconds(value)

    @property
    def blocking(self) -> bool:
        """When False, ``send``/``recv``/``stop`` do what they can without waiting."""
        return self._options.blocking

    @blocking.setter
    def blocking(self, value: bool) -> None:
        self._options.blocking = bool(value)

    @property
    def incoming_window(self) -> int:
        """How many trackers returned by ``get`` stay unsettled for accept/reject.

        With 0 (the default) each message is accepted and settled by ``get``.
        A tracker pushed out of the window is accepted if you did not act on it.
        """
        return self._incoming.window

    @incoming_window.setter
    def incoming_window(self, value: int) -> None:
        # As in the original, trackers beyond a smaller window are settled at
        # the next get, not here.
        self._incoming.window = _window(value, "incoming_window")

    @property
    def outgoing_window(self) -> int:
        """How many of the most recent outgoing trackers are tracked (default 0).

        Their deliveries stay unsettled until the peer answers, and ``send``
        waits for those answers. A tracker that falls out of the window is
        forgotten and its delivery settled at once; with 0 every message goes
        pre-settled (at most once) and ``send`` only waits until it is written.
        """
        return self._outgoing.window

    @outgoing_window.setter
    def outgoing_window(self, value: int) -> None:
        # As in the original, trackers beyond a smaller window are settled at
        # the next put, not here.
        self._outgoing.window = _window(value, "outgoing_window")

    @property
    def certificate(self) -> str | None:
        """Path of this Messenger's certificate (PEM).

        Needed to listen on ``amqps://~`` and to authenticate to peers that ask
        for a client certificate.
        """
        return self._options.certificate

    @certificate.setter
    def certificate(self, value: str | None) -> None:
        self._options.certificate = value
        self._router.tls_changed()

    @property
    def private_key(self) -> str | None:
        """Path of the private key (PEM) that goes with :attr:`certificate`."""
        return self._options.private_key

    @private_key.setter
    def private_key(self, value: str | None) -> None:
        self._options.private_key = value
        self._router.tls_changed()

    @property
    def password(self) -> str | None:
        """Password of :attr:`private_key`, or None when the key is not encrypted."""
        return self._options.password

    @password.setter
    def password(self, value: str | None) -> None:
        self._options.password = value
        self._router.tls_changed()

    @property
    def trusted_certificates(self) -> str | None:
        """CA certificates (PEM file) to verify peers with; None means no verification.

        On an ``amqps://~`` listener, setting it makes client certificates mandatory.
        """
        return self._options.trusted_certificates

    @trusted_certificates.setter
    def trusted_certificates(self, value: str | None) -> None:
        self._options.trusted_certificates = value
        self._router.tls_changed()

    @property
    def verify_hostname(self) -> bool:
        """Whether a verified server certificate must also name the host (default True).

        Applies when :attr:`trusted_certificates` is set, as the original's
        peer-name verification did: the host of the address is matched
        against the certificate's DNS names and its common name (an IP
        address matches a common name that is that address; Proton does not
        read IP address SANs). Setting it False (an extension) checks the
        chain only.
        """
        return self._options.verify_hostname

    @verify_hostname.setter
    def verify_hostname(self, value: bool) -> None:
        self._options.verify_hostname = bool(value)
        self._router.tls_changed()

    @property
    def allow_insecure_mechs(self) -> bool:
        """Extension: allow SASL PLAIN over unencrypted TCP (default True, as the original)."""
        return self._options.allow_insecure_mechs

    @allow_insecure_mechs.setter
    def allow_insecure_mechs(self, value: bool) -> None:
        self._options.allow_insecure_mechs = bool(value)
        self._driver.allow_insecure_mechs = bool(value)

    @property
    def idle_timeout(self) -> float:
        """Extension: how long a connection may stay silent, in seconds (0 = no limit).

        A connection on which nothing arrives for this long is closed by this
        Messenger. On the wire Proton advertises half of it as the
        idle-time-out of the open frame, so a peer sends something at least
        that often and a frame lost or late in between does not end the
        connection. The other way round, the Messenger keeps its side alive
        with empty frames whenever a peer advertises a timeout, as long as
        the program keeps calling into it.
        """
        return self._options.idle_timeout

    @idle_timeout.setter
    def idle_timeout(self, value: float) -> None:
        self._options.idle_timeout = max(0.0, float(value or 0))
        self._driver.idle_timeout_ms = int(self._options.idle_timeout * 1000)

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
        return self._options.retry

    @retry.setter
    def retry(self, value: bool) -> None:
        self._options.retry = bool(value)
        self._outgoing.retain = self._options.retry

    @property
    def retry_max_delay(self) -> float:
        """Extension: the longest wait between two reconnection attempts, in seconds."""
        return self._retrier.max_delay

    @retry_max_delay.setter
    def retry_max_delay(self, value: float) -> None:
        self._retrier.max_delay = max(0.01, float(value))

    @property
    def raise_failures(self) -> bool:
        """Extension: raise failures on the wire from the next call (default False).

        As in the original, a refused or reset connection, a TLS failure, a
        TLS file that cannot be loaded or a link the peer refuses or closes
        does not raise: the affected messages report ABORTED (see
        :meth:`failure` for why), subscriptions report the reason, the
        ``on_event`` callback hears a ``FailureReported``, and the reason is
        logged (logger ``msgr_tui.messenger``, on stderr when logging is not
        configured). With True, ``send``, ``recv`` and ``work`` also raise
        :class:`~msgr_tui.messenger.errors.TransportFailed` (or its subclass
        ``LinkRefused``), naming the address and carrying the failure.
        """
        return self._options.raise_failures

    @raise_failures.setter
    def raise_failures(self, value: bool) -> None:
        self._options.raise_failures = bool(value)

    @property
    def durable_targets(self) -> bool:
        """Extension: sender links ask the peer for a durable target (default False).

        The target terminus of each new sender link asks for durability
        (unsettled-state), so that a broker which creates the node on the
        first link makes it durable: RabbitMQ 3.10 declares ``/queue/NAME``
        durable only then (and refuses a link whose durability differs from
        an existing queue's). The original never asked.
        """
        return self._options.durable_targets

    @durable_targets.setter
    def durable_targets(self, value: bool) -> None:
        self._options.durable_targets = bool(value)

    @property
    def on_event(self) -> Callable[[MessengerEvent], None] | None:
        """Extension: a callable told about connections, links, trackers and retries.

        It receives the dataclasses of :mod:`msgr_tui.messenger.events`, in
        the Messenger's thread, inside whichever call did the I/O: it must be
        quick and must not call back into the Messenger.
        """
        return self._reports.on_event

    @on_event.setter
    def on_event(self, callback: Callable[[MessengerEvent], None] | None) -> None:
        reports = self._reports
        reports.on_event = callback
        # Per-message notices cost a call each: made only when someone listens.
        listening = callback is not None
        self._outgoing.on_status = reports.tracker_updated if listening else None
        self._incoming.on_auto_settled = reports.incoming_settled if listening else None

    @property
    def stopped(self) -> bool:
        """True before ``start`` and once ``stop`` has closed every connection and listener."""
        return not self._lifecycle.started

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
    def incoming_subscription(self) -> Subscription | None:
        """Extension: the subscription the message got last came from (None before the
        first ``get``, or for a message that came to a listener), as the C Messenger's
        ``pn_messenger_incoming_subscription``: a program reading several sources (some
        browsed) knows which one each message is from."""
        return self._incoming.last_subscription

    @property
    def subscriptions(self) -> list[Subscription]:
        """Extension: the current subscriptions, in the order they were made."""
        return list(self._subscriptions.by_source.values())

    @property
    def connections(self) -> tuple[ConnectionView, ...]:
        """Extension: the connections open or opening now, as read-only snapshots."""
        return tuple(conn.view() for conn in self._driver.conns.values())

    @property
    def retries(self) -> tuple[RetryView, ...]:
        """Extension: retry mode's addresses waiting to be reconnected, as snapshots."""
        return self._retrier.views()

    # ------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Make the Messenger active; required before sending or receiving."""
        self._lifecycle.start()

    def stop(self) -> None:
        """Close every connection and listener with a clean AMQP close.

        Messages already handed to a link are written out first; messages
        still waiting for credit are given up and report ABORTED. Blocking
        mode waits for the peers' close (or the timeout, after which the
        connections are dropped and Timeout is raised); non-blocking mode
        returns at once and ``work`` completes the close (see :attr:`stopped`).
        """
        lifecycle = self._lifecycle
        if not lifecycle.started:
            return
        lifecycle.begin_stop()
        if not self._options.blocking:
            self._driver.pump(0)
            lifecycle.advance()
            return
        try:
            self._pump.until(lifecycle.stopped_now, self._options.timeout, interruptible=False)
        except Timeout:
            lifecycle.abort("stop timed out waiting for the peer to close")
            raise
        self._reports.clear()

    # ---------------------------------------------------------- subscribing

    def subscribe(
        self, source: str, *, browse: bool = False, selector: str | None = None
    ) -> Subscription:
        """Receive from ``source``: a remote node, or ``[amqp[s]://]~host[:port]`` to listen.

        Listening binds at once (a port in use raises MessengerException).
        A remote source opens a receiver link whose source is the address's
        name; subscribing twice to the same source returns the first
        subscription (with other ``browse``/``selector`` options it raises).
        ``amqps://~`` listeners need :attr:`certificate` and
        :attr:`private_key`.

        Extensions, for remote sources only:

        ``browse=True`` reads the source without consuming it. The link asks
        for distribution-mode ``copy``; ``Subscription.browse_mode`` says what
        the peer's attach answer made of it. ``COPY`` (the peer confirmed it,
        and is not known to only echo it): each message is a copy, given back
        (RELEASED) by ``get``. ``PEEK`` (not confirmed, or RabbitMQ, which
        echoes ``copy`` but removes what is accepted): messages are held
        unsettled, so the source keeps them and sends them to no other
        consumer meanwhile, and they are given back (RELEASED, which does not
        count as a failed delivery) at ``unsubscribe``, ``stop``, or
        ``release(tracker)`` (a broker may then send it again). Browsed
        messages are never accepted: ``accept``, ``reject`` and ``modify`` of
        their trackers raise MessengerException, ``settle`` releases, bulk
        ``accept()``/``reject()`` and the incoming window pass them by.

        ``selector`` sends a JMS-style selector (``"color = 'red'"``) as the
        source's filter (key ``selector``, descriptor
        ``apache.org:selector-filter:string``, as Proton's ``Selector``).
        ``Subscription.selector_confirmed`` says whether the peer echoed it,
        ``selector_honoured`` whether that echo can be trusted (False for
        RabbitMQ, which echoes it and filters nothing).
        """
        return self._subscriptions.subscribe(source, browse=browse, selector=selector)

    def unsubscribe(self, source: str | Subscription) -> None:
        """Extension: stop receiving from a source (close its link or listener)."""
        key = source.address if isinstance(source, Subscription) else source
        self._subscriptions.unsubscribe(key)

    # -------------------------------------------------------------- sending

    def put(self, message: Message) -> int:
        """Queue a copy of ``message`` and try to send it without blocking.

        The message's address picks the destination (after :meth:`route`);
        the copy carries the address after :meth:`rewrite` and has a ``~``
        reply_to expanded to this Messenger's name. ``message`` itself is not
        changed. Returns the outgoing tracker. A burst of puts is written out
        together: the first one at once, the others when 64 KiB have
        collected or at the next call that does I/O (``send``, ``recv``,
        ``work``).
        """
        router = self._router
        kept = router.kept_wire_copy(message)
        if kept is not None:
            address, data = kept
            link = router.sender_for(address)
        else:
            address = message_address(message)
            if not address:
                raise MessengerException("put: the message has no address (set message.address)")
            link = router.sender_for(address)
            data = router.wire_copy(message, address, self._encoder)
        tracker = self._outgoing.add(data, link)
        if self._lifecycle.started and not self._lifecycle.stopping:
            self._pump.send_soon(link, len(data))
        return tracker

    def put_encoded(self, data: bytes, address: str) -> int:
        """Extension: queue a message already encoded as AMQP sections, unchanged.

        ``address`` picks the destination as a message's address would (the
        route rules apply); the bytes are sent as they are: no rewrite, no
        ``~`` expansion (the address inside them, if any, stays). For exact
        copies of received messages (see :meth:`get_encoded`). Returns the
        outgoing tracker.
        """
        if not address:
            raise MessengerException("put_encoded: an address is needed")
        link = self._router.sender_for(address)
        tracker = self._outgoing.add(bytes(data), link)
        if self._lifecycle.started and not self._lifecycle.stopping:
            self._pump.send_soon(link, len(data))
        return tracker

    def send(self, n: int = -1) -> None:
        """Block until ``n`` (default: all) outgoing messages are done.

        Done means written out and, for messages inside the outgoing window,
        answered: the peer gave an outcome or settled the delivery, or its
        connection failed (ABORTED). ``send(0)``, and any call in non-blocking
        mode, only does the I/O that is possible right now. Raises Timeout
        after :attr:`timeout` and Interrupt when interrupted. A Messenger that
        is not started has nothing to send: the call returns.
        """
        if not self._lifecycle.running:
            return
        outgoing = self._outgoing
        driver = self._driver
        threshold = 0 if n is None or n < 0 else max(outgoing.undone() - n, 0)
        self._pump.until(
            lambda: driver.quiet() and outgoing.undone() <= threshold, self._options.timeout
        )

    def status(self, tracker: int) -> Status | None:
        """The last known status of a tracker, or None when it is unknown.

        Outgoing: PENDING until the peer answers, then ACCEPTED, REJECTED,
        RELEASED or MODIFIED (SETTLED if it settled without an outcome), ABORTED
        if the connection failed first; None outside the outgoing window.
        Incoming: ACCEPTED/REJECTED/RELEASED (MODIFIED, an extension) once you
        acted, SETTLED if the sender settled it first, PENDING while it waits
        for you; None outside the incoming window. A browsed message (see
        ``subscribe(browse=True)``) reports RELEASED once given back.
        """
        if tracker & INCOMING_BIT:
            return self._incoming.status(tracker)
        return self._outgoing.status(tracker)

    def failure(self, tracker: int) -> Failure | None:
        """Extension: why an ABORTED outgoing tracker was aborted, when it is known.

        None for trackers that were not aborted, that left the outgoing
        window, or whose connection closed cleanly during ``stop``.
        """
        if tracker & INCOMING_BIT:
            return None
        return self._outgoing.failure(tracker)

    def buffered(self, tracker: int) -> bool:
        """True while the tracked outgoing message still waits for credit or the wire."""
        return self._outgoing.buffered(tracker)

    def settle(self, tracker: int | None = None) -> None:
        """Forget a tracker (default: every outgoing tracker), settling its delivery.

        The peer sees the delivery settled (a Messenger receiving it then
        reports SETTLED); an outgoing message not sent yet goes pre-settled,
        and ``send`` no longer waits for an answer. An incoming tracker is
        settled without an outcome. Local state only, like ``accept``.
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
        self._router.add_route(pattern, address)

    def rewrite(self, pattern: str, address: str | None) -> None:
        """Change the address written into outgoing messages that match ``pattern``.

        Same pattern language as :meth:`route`; None removes the address.
        Without a matching rule, ``user:password@`` is removed from the address.
        """
        self._router.add_rewrite(pattern, address)

    # ------------------------------------------------------------ receiving

    def recv(self, n: int | None = None) -> None:
        """Grant credit for up to ``n`` messages and wait until at least one is queued.

        ``n`` None or -1: keep up to 1024 messages per receiver link in flight
        or queued. Raises Timeout, Interrupt, or MessengerException (for
        example when there is nothing to receive from). In non-blocking mode
        it grants the credit and returns. In retry mode a subscription waiting
        to be made again is a source: a blocking call waits for it.
        """
        blocking = self._options.blocking
        if not self._lifecycle.running:
            if blocking:
                # As the original: a blocking recv with nothing to receive from.
                raise MessengerException("recv: no valid sources (the Messenger is not started)")
            return
        if blocking and not self._sources_left():
            raise MessengerException("recv: no valid sources (subscribe to a source first)")
        self._credit.set_limit(n)
        self._credit.flow(now_ms(), len(self._incoming))
        self._pump.until(self._received, self._options.timeout)
        if not self._incoming and blocking and not self._sources_left():
            raise MessengerException(
                f"recv: no valid sources ({self._subscriptions.why_none_left()})"
            )

    def _received(self) -> bool:
        return bool(self._incoming) or not self._sources_left()

    def _sources_left(self) -> bool:
        """A listener, a connection, or (retry mode) a subscription waiting to be made again."""
        driver = self._driver
        return bool(driver.listeners or driver.conns) or self._retrier.subscriptions_waiting()

    def get(self, message: Message | None = None) -> int:
        """Take the oldest incoming message into ``message`` and return its tracker.

        With ``message`` None the content is dropped. Never blocks and does no
        I/O: the disposition of a message accepted here (incoming window 0)
        goes out with the next ``put``, ``send``, ``recv``, ``work`` or
        ``stop``. Raises MessengerException when the incoming queue is empty.
        """
        return self._incoming.take(message)[0].tracker

    def get_encoded(self) -> tuple[int, bytes]:
        """Extension: take the oldest incoming message as the AMQP bytes that arrived.

        Like ``get`` (the same tracker and window rules) but nothing is
        decoded: every section comes as it was sent, footer and repeated data
        sections included, which ``Message`` cannot hold. Returns the tracker
        and the bytes.
        """
        entry, data = self._incoming.take(None)
        return entry.tracker, bytes(data)

    def accept(self, tracker: int | None = None) -> None:
        """Accept one incoming tracker, or (None) every unsettled one in the window.

        Like ``reject`` and ``release``, it only changes local state: the
        disposition goes out with the next call that does I/O.
        """
        self._act(tracker, ACCEPTED)

    def reject(self, tracker: int | None = None) -> None:
        """Reject one incoming tracker, or (None) every unsettled one in the window."""
        self._act(tracker, REJECTED)

    def release(self, tracker: int | None = None) -> None:
        """Extension: give messages back unprocessed (a broker requeues them)."""
        self._act(tracker, RELEASED)

    def modify(
        self,
        tracker: int | None = None,
        *,
        delivery_failed: bool = True,
        undeliverable_here: bool = False,
    ) -> None:
        """Extension: settle incoming trackers with the MODIFIED outcome.

        Like ``release``, the message goes back to its source, here with two
        flags: ``delivery_failed`` (the attempt counts: a broker raises the
        delivery count) and ``undeliverable_here`` (do not send it to this
        link again). ``tracker`` None modifies every undecided tracker in the
        window. ``status`` then reports MODIFIED and :meth:`modification` the
        flags. Local state only, like ``accept``. Not every peer takes it:
        RabbitMQ 3.10 ends the session (``amqp:invalid-field``), reported as
        the subscription's failure (and raised in ``raise_failures`` mode).
        """
        self._act(tracker, MODIFIED, Modification(bool(delivery_failed), bool(undeliverable_here)))

    def modification(self, tracker: int) -> Modification | None:
        """Extension: the flags of a MODIFIED tracker (incoming: as you modified it;
        outgoing: as the peer answered), else None."""
        if tracker & INCOMING_BIT:
            return self._incoming.modification(tracker)
        return self._outgoing.modification(tracker)

    def _act(
        self, tracker: int | None, outcome: Status, modification: Modification | None = None
    ) -> None:
        # Local state only: the disposition goes out with the next call that does I/O.
        self._incoming.act(tracker, outcome, modification)

    # ------------------------------------------------------------ pumping

    def work(self, timeout: float | None = None) -> bool:
        """Do pending I/O, waiting up to ``timeout`` seconds (None: until something happens).

        Returns True if anything happened, False if the time ran out (and at
        once on a Messenger that is not started). Raises Interrupt after
        :meth:`interrupt`.
        """
        if not self._lifecycle.running:
            return False
        pump = self._pump
        pump.check_interrupt()
        worked = pump.once(_seconds(timeout))
        pump.check_interrupt()
        self._reports.raise_pending()
        return worked

    def interrupt(self) -> None:
        """Make the current (or next) blocking call raise Interrupt; any thread may call it."""
        self._pump.interrupt()


def _window(value: int, name: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise MessengerException(f"{name} must be an integer, not {value!r}") from None
    if number < 0:
        raise MessengerException(f"{name} must be 0 or more, not {number}")
    return number
