"""The Messenger's own I/O loop over Proton's AMQP engine.

No reactor and no handler classes: sockets are driven with ``selectors``, bytes
are pushed into and pulled out of ``pn_transport`` directly, and engine events
are read from one collector. Proton's Python classes (``Connection``,
``Transport``, ``SSL``, ``SASL``) build and own each connection; the per-event
and per-message paths go through :mod:`._pn` because building a wrapper object
for every event costs more than the engine work itself. Everything here runs
in the thread that owns the Messenger, except :meth:`Driver.wake`.

The driver knows nothing about queues, trackers or credit: it reports what
happened to a :class:`Handler` and performs what it is asked.
"""

from __future__ import annotations

import contextlib
import errno
import os
import selectors
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from proton import SSL, Collector, Connection, SSLDomain, Transport

from . import _pn
from .address import Address
from .errors import MessengerException, TransportFailed
from .failures import Condition, Failure, lasting
from .views import ConnectionView, LinkView

if TYPE_CHECKING:
    from ._links import Link, Outgoing

_IO_CHUNK = 256 * 1024
# A round reads about this many deliveries' worth of bytes (between 16 KiB and
# _IO_CHUNK): see Driver._read.
_READ_BURST = 192
_READ_MIN = 16 * 1024
_READ = selectors.EVENT_READ
_WRITE = selectors.EVENT_WRITE


def now_ms() -> int:
    return int(time.monotonic() * 1000)


class Handler(Protocol):
    """What the driver reports to its owner."""

    # Called for every delivery event, so attributes (bound methods of the
    # queues), not methods of the handler: one call less per message.
    on_sent_delivery: Callable[[Link, Any], None]  # the peer answered or settled ours
    on_received_delivery: Callable[[Link, Any], bool]  # True: a whole message arrived
    on_message: Callable[[Link], None]  # after a whole message (it used a credit)

    def on_flow(self, link: Link) -> None: ...
    def on_connection_opened(self, conn: Conn) -> None: ...
    def on_link_opened(self, link: Link) -> None: ...
    def on_remote_link(
        self, conn: Conn, impl: Any, is_sender: bool, source: str | None, target: str | None
    ) -> Link: ...
    def on_link_closed(self, link: Link, failure: Failure | None) -> None: ...
    def on_connection_closed(self, conn: Conn) -> None: ...
    def explain(self, conn: Conn, failure: Failure) -> Failure: ...


class Conn:
    """One AMQP connection: its socket, transport, engine objects and links."""

    __slots__ = (
        "aborted",
        "address",
        "addrinfos",
        "closed",
        "closing",
        "connecting",
        "connection",
        "eof",
        "failure",
        "id",
        "impl",
        "interest",
        "key",
        "label",
        "links",
        "next_tick",
        "outbound",
        "peer",
        "put_since_io",
        "remote_container",
        "remote_opened",
        "remote_product",
        "remote_version",
        "senders",
        "session",
        "sock",
        "ssl",
        "transport",
        "transport_impl",
        "unflushed",
        "write_shut",
    )

    _next_id = 0

    def __init__(self, *, outbound: bool, label: str, address: Address | None) -> None:
        Conn._next_id += 1
        self.id = Conn._next_id
        self.outbound = outbound
        self.label = label
        self.address = address
        self.key: tuple[Any, ...] | None = address.connection_key() if address else None
        self.sock: socket.socket | None = None
        self.addrinfos: list[tuple[Any, ...]] = []
        self.connecting = False
        self.transport: Transport | None = None
        self.connection: Connection | None = None
        self.ssl: SSL | None = None
        self.impl: Any = None
        self.transport_impl: Any = None
        self.session: Any = None
        self.remote_container: str | None = None
        self.remote_opened = False
        # ``product`` and ``version`` from the properties of the peer's open frame.
        self.remote_product: str | None = None
        self.remote_version: str | None = None
        self.peer = ""
        self.links: list[Link] = []
        self.senders: dict[str | None, Link] = {}
        self.interest = 0
        self.next_tick = 0
        self.closing = False
        self.closed = False
        self.write_shut = False
        # The peer's side of the socket has closed (we read EOF).
        self.eof = False
        # Bytes put since the last flush, and whether a put came since the last
        # round of I/O (see Pump.send_soon).
        self.unflushed = 0
        self.put_since_io = False
        self.failure: Failure | None = None
        # Messages on the wire given up as ABORTED because this connection's links closed.
        self.aborted: list[Outgoing] = []

    @property
    def usable(self) -> bool:
        """Open (or opening) and not on its way out: new links may go on it."""
        return not self.closing and not self.closed

    def fail(self, reason: str, condition: Condition | None = None, *, permanent: bool = False):
        """Record why the connection failed, unless an earlier reason is known."""
        if self.failure is None:
            self.failure = Failure(self.label, reason, condition, permanent)

    def view(self) -> ConnectionView:
        ssl = self.ssl
        transport = self.transport
        sasl_mechanism = None
        remote_idle = 0.0
        frames = (0, 0)
        if transport is not None and not self.closed:
            sasl_mechanism = transport.sasl().mech or None
            remote_idle = transport.remote_idle_timeout
            frames = (transport.frames_input, transport.frames_output)
        return ConnectionView(
            self.id,
            self.label,
            not self.outbound,
            self.peer,
            self.remote_container,
            self.remote_opened,
            (ssl.protocol_name() or None) if ssl is not None else None,
            (ssl.remote_subject or None) if ssl is not None else None,
            sasl_mechanism,
            remote_idle,
            *frames,
            tuple(LinkView(link.address, link.role, link.opened_here) for link in self.links),
            self.remote_product,
            self.remote_version,
        )

    def __repr__(self) -> str:
        direction = "out" if self.outbound else "in"
        return f"<Conn {self.label} {direction}{' closed' if self.closed else ''}>"


class Listener:
    """A listening socket created by ``subscribe('~...')``."""

    __slots__ = ("address", "closed", "domain", "label", "port", "sock", "subscription")

    def __init__(self, sock: socket.socket, address: Address, domain: SSLDomain | None) -> None:
        self.sock = sock
        self.address = address
        self.domain = domain
        self.port: int = sock.getsockname()[1]
        self.label = address.without_credentials()
        self.subscription: Any = None
        self.closed = False


class Driver:
    """Sockets, transports and the event collector of one Messenger."""

    def __init__(self, handler: Handler, container_id: str) -> None:
        self.handler = handler
        self.container_id = container_id
        self.selector = selectors.DefaultSelector()
        self.collector = Collector()
        self._collector = _pn.impl(self.collector)
        self.conns: dict[Any, Conn] = {}
        self._links: dict[Any, Link] = {}
        self.listeners: list[Listener] = []
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.selector.register(self._wake_r, _READ, None)
        self._buffer = bytearray(_IO_CHUNK)
        self._view = memoryview(self._buffer)
        self._pointer = _pn.buffer_pointer(self._buffer)
        # Bytes read and deliveries they brought, recently: what a round may read.
        self._read_bytes = 0
        self._read_deliveries = 0
        self._read_limit = _IO_CHUNK
        self.idle_timeout_ms = 0
        self.allow_insecure_mechs = True
        # Connections whose engine state changed outside a pump (a disposition
        # by accept/get): their frames go out at the next call that does I/O.
        self.dirty: set[Conn] = set()
        self._endpoint_events: dict[int, Callable[[Any], None]] = {
            _pn.LINK_REMOTE_OPEN: self._link_remote_open,
            _pn.LINK_REMOTE_CLOSE: self._link_remote_end,
            _pn.LINK_REMOTE_DETACH: self._link_remote_end,
            _pn.SESSION_REMOTE_OPEN: self._session_remote_open,
            _pn.SESSION_REMOTE_CLOSE: self._session_remote_close,
            _pn.CONNECTION_REMOTE_OPEN: self._connection_remote_open,
            _pn.CONNECTION_REMOTE_CLOSE: self._connection_remote_close,
            _pn.TRANSPORT_ERROR: self._transport_error,
            _pn.TRANSPORT_CLOSED: self._transport_closed,
        }

    # ------------------------------------------------------------- registry

    def register_link(self, link: Link) -> None:
        """Route the engine's events for ``link.impl`` to ``link``."""
        self._links[link.impl] = link
        link.conn.links.append(link)

    def forget_link(self, link: Link) -> bool:
        """Stop routing events to ``link``; False if it was already forgotten."""
        if link.conn is not None and link in link.conn.links:
            link.conn.links.remove(link)
        return self._links.pop(link.impl, None) is not None

    # ----------------------------------------------------------------- setup

    def connect(
        self,
        address: Address,
        label: str,
        tls_domain: SSLDomain | None,
        sasl_mechs: str,
    ) -> Conn:
        """Start a non-blocking connection; failures to resolve raise at once."""
        port = address.effective_port
        try:
            infos = socket.getaddrinfo(address.host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as error:
            reason = error.strerror if isinstance(error, socket.gaierror) else str(error)
            raise TransportFailed(
                f"{label}: cannot resolve host {address.host!r}: {reason}", address=label
            ) from None
        conn = Conn(outbound=True, label=label, address=address)
        conn.addrinfos = list(infos)
        transport = Transport(Transport.CLIENT)
        sasl = transport.sasl()
        sasl.allowed_mechs(sasl_mechs)
        sasl.allow_insecure_mechs = self.allow_insecure_mechs
        if tls_domain is not None:
            conn.ssl = SSL(transport, tls_domain, None)
            conn.ssl.peer_hostname = address.host
        connection = Connection()
        connection.container = self.container_id
        connection.hostname = address.host
        if address.user is not None and "PLAIN" in sasl_mechs:
            connection.user = address.user
            connection.password = address.password or ""
        self._attach(conn, transport, connection)
        connection.open()
        self._start_socket(conn)
        return conn

    def _start_socket(self, conn: Conn) -> None:
        """Try the next resolved address; on the last failure tear the connection down."""
        errors = []
        while conn.addrinfos:
            family, kind, proto, _, sockaddr = conn.addrinfos.pop(0)
            sock = socket.socket(family, kind, proto)
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            code = sock.connect_ex(sockaddr)
            if code in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
                conn.sock = sock
                conn.connecting = code != 0
                conn.peer = _format_sockaddr(sockaddr)
                conn.interest = _READ | _WRITE
                self.selector.register(sock, conn.interest, conn)
                return
            sock.close()
            errors.append(os.strerror(code))
        conn.fail(f"cannot connect: {errors[-1] if errors else 'no address'}")
        self._teardown(conn)

    def accept(self, listener: Listener) -> int:
        """Accept every pending client of ``listener``; returns how many."""
        count = 0
        while True:
            try:
                sock, peer = listener.sock.accept()
            except (BlockingIOError, InterruptedError):
                return count
            except OSError as error:
                if error.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    # Out of descriptors: leave the client in the backlog for later.
                    return count
                continue
            count += 1
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            label = f"peer {_format_sockaddr(peer)} on {listener.label}"
            conn = Conn(outbound=False, label=label, address=None)
            conn.peer = _format_sockaddr(peer)
            transport = Transport(Transport.SERVER)
            sasl = transport.sasl()
            sasl.allowed_mechs("ANONYMOUS EXTERNAL" if listener.domain else "ANONYMOUS")
            if listener.domain is not None:
                conn.ssl = SSL(transport, listener.domain, None)
            connection = Connection()
            connection.container = self.container_id
            self._attach(conn, transport, connection)
            connection.open()
            conn.sock = sock
            conn.interest = _READ | _WRITE
            self.selector.register(sock, conn.interest, conn)

    def _attach(self, conn: Conn, transport: Transport, connection: Connection) -> None:
        if self.idle_timeout_ms:
            transport.idle_timeout = self.idle_timeout_ms / 1000.0
        transport.bind(connection)
        connection.collect(self.collector)
        conn.transport = transport
        conn.connection = connection
        conn.impl = _pn.impl(connection)
        conn.transport_impl = _pn.impl(transport)
        session = connection.session()
        session.open()
        conn.session = _pn.impl(session)
        self.conns[conn.impl] = conn

    def listen(self, address: Address, domain: SSLDomain | None) -> Listener:
        host = address.host or "0.0.0.0"
        port = address.effective_port
        label = address.without_credentials()
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        except socket.gaierror as error:
            raise MessengerException(
                f"cannot listen on {label}: cannot resolve host {host!r}: {error.strerror}"
            ) from None
        family, kind, proto, _, sockaddr = infos[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(sockaddr)
            sock.listen(128)
        except OSError as error:
            sock.close()
            raise MessengerException(
                f"cannot listen on {label}: {error.strerror or error}"
            ) from None
        sock.setblocking(False)
        listener = Listener(sock, address, domain)
        self.listeners.append(listener)
        self.selector.register(sock, _READ, listener)
        return listener

    def close_listener(self, listener: Listener) -> None:
        if listener.closed:
            return
        listener.closed = True
        self.listeners.remove(listener)
        self.selector.unregister(listener.sock)
        listener.sock.close()

    # ----------------------------------------------------------- engine work

    def open_link(
        self,
        conn: Conn,
        is_sender: bool,
        name: str,
        terminus: str | None,
        *,
        durable: bool = False,
        copy: bool = False,
        selector: str | None = None,
    ) -> Any:
        """Create and open a link on ``conn``; returns the ``pn_link_t*``.

        ``copy`` and ``selector`` are for receivers (see :func:`_pn.open_link`).
        """
        if conn.session is None:
            # The peer ended our session (brokers do that when they refuse a
            # link): new links go on a fresh one, the connection itself is fine.
            session = _pn.session_new(conn.impl)
            _pn.session_open(session)
            conn.session = session
        return _pn.open_link(
            conn.session, is_sender, name, terminus, durable=durable, copy=copy, selector=selector
        )

    def close_conn(self, conn: Conn) -> None:
        """Begin a clean AMQP close of ``conn``."""
        if conn.closing or conn.closed:
            return
        conn.closing = True
        if conn.connecting or (not conn.remote_opened and conn.sock is None):
            self._teardown(conn)
            return
        _pn.connection_close(conn.impl)

    def abort_conn(self, conn: Conn, reason: str) -> None:
        """Drop ``conn`` at once, without waiting for the peer."""
        if not conn.closed:
            conn.fail(reason)
            self._teardown(conn)

    # --------------------------------------------------------------- the loop

    def pump(self, timeout: float | None) -> bool:
        """One round of I/O: write, wait up to ``timeout`` seconds, read, process, write.

        Returns True when anything at all happened (bytes moved, a peer
        connected, an engine event was processed).
        """
        return self.finish_round(self.exchange(timeout))

    def exchange(self, timeout: float | None) -> bool:
        """The first part of a round: wait up to ``timeout`` for input, read it, process it.

        Output is written here only before waiting (the peer may be waiting
        for it); otherwise it is left to :meth:`finish_round`, so that a round
        that does not wait makes one write, with whatever the events and the
        caller added (dispositions, credit): each write on loopback wakes the
        peer, and three per round cost a receiver a sixth of its time.
        """
        for conn in self.conns.values():
            conn.put_since_io = False
        worked = self.process()
        if worked:
            timeout = 0
        if timeout != 0:
            worked = self.flush_all() or worked
            if worked:
                timeout = 0
        deadline = self._next_deadline()
        if deadline is not None:
            wait = max(0.0, (deadline - now_ms()) / 1000.0)
            timeout = wait if timeout is None else min(timeout, wait)
        try:
            ready = self.selector.select(timeout)
        except InterruptedError:
            ready = []
        for key, mask in ready:
            target = key.data
            if target is None:
                # An interrupt (or a leftover one) woke us: nothing happened on the wire.
                self.drain_wake()
            elif isinstance(target, Conn):
                worked = self._service(target, mask) or worked
            else:
                worked = self.accept(target) > 0 or worked
        self._tick()
        return self.process() or worked

    def finish_round(self, worked: bool) -> bool:
        """The end of a round: write everything out; end connections stalled mid-frame."""
        worked = self.flush_all() or worked
        if self._abort_stalled_ends():
            worked = self.process() or worked
        return worked

    def _abort_stalled_ends(self) -> bool:
        """End connections whose peer closed the socket in the middle of a frame.

        Proton 0.40 reports "connection aborted" when the socket closes between
        frames; when it closes inside one (a peer killed while it streamed a
        large message), the transport waits for the rest forever, with nothing
        left to write. Such a connection can only end: say so and close it.
        """
        stalled = [
            conn
            for conn in self.conns.values()
            if conn.eof and not conn.closed and _pn.transport_pending(conn.transport_impl) == 0
        ]
        for conn in stalled:
            # Proton posts no transport error here (its check for an abort runs
            # only between frames): the reason is recorded directly.
            reason = "connection aborted (the peer closed it inside a frame)"
            conn.fail(f"proton:io: {reason}", Condition("proton:io", reason))
            _pn.set_io_error(conn.transport_impl, reason)
        return bool(stalled)

    def _service(self, conn: Conn, mask: int) -> bool:
        if conn.closed:
            return False
        if conn.connecting:
            if not mask & _WRITE:
                return False
            code = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                self.selector.unregister(conn.sock)
                conn.sock.close()
                conn.sock = None
                if conn.addrinfos:
                    self._start_socket(conn)
                else:
                    conn.fail(f"cannot connect to {conn.peer}: {os.strerror(code)}")
                    self._teardown(conn)
                return True
            conn.connecting = False
        worked = False
        if mask & _READ:
            worked = self._read(conn)
        if mask & _WRITE and not conn.closed:
            worked = self.flush(conn) or worked
        return worked

    def _read(self, conn: Conn) -> bool:
        """Read what the socket has, up to a limit, into the transport.

        The transport takes 16 KiB at a time (its input buffer), and digests
        each push at once: reading again until the socket is empty makes one
        round handle a whole burst (sixty 1 KiB messages, not fifteen), and
        every round costs a select, a write of dispositions and credit, and
        the peer's wake-up. But a round that takes in a whole credit window
        of small messages holds the peer's next credit back until the
        program has taken all of them: the sender stalls (a quarter of its
        time at 32 B). So a round reads about ``_READ_BURST`` deliveries'
        worth, from the bytes per delivery seen lately, between 16 KiB and
        ``_IO_CHUNK``.
        """
        if self._read_deliveries >= _READ_BURST:
            per_delivery = self._read_bytes // self._read_deliveries
            self._read_limit = min(max(per_delivery * _READ_BURST, _READ_MIN), _IO_CHUNK)
            # Halved, the counts follow a change of message sizes within a few rounds.
            self._read_bytes //= 2
            self._read_deliveries //= 2
        limit = self._read_limit
        transport = conn.transport_impl
        sock = conn.sock
        view = self._view
        total = 0
        while total < limit:
            capacity = _pn.transport_capacity(transport)
            if capacity <= 0:
                break
            wanted = min(capacity, limit - total)
            try:
                count = sock.recv_into(view[:wanted])
            except (BlockingIOError, InterruptedError):
                break
            except OSError as error:
                self._io_error(conn, error)
                return True
            if count == 0:
                _pn.transport_close_tail(transport)
                conn.eof = True
                total += 1  # something happened
                break
            _pn.transport_push(transport, self._pointer, count)
            total += count
            if count < wanted:
                break  # the socket had no more: no need to hear it say so
        if not total:
            return False
        self._read_bytes += total
        # Input can change the deadlines (the peer's Open brings its idle
        # timeout): tick again at the next round rather than at the old time.
        conn.next_tick = 0
        return True

    def flush(self, conn: Conn) -> bool:
        """Write what the transport has to send, as far as the socket takes it."""
        if conn.closed or conn.connecting or conn.sock is None:
            return False
        conn.unflushed = 0
        transport = conn.transport_impl
        wrote = False
        while True:
            pending = _pn.transport_pending(transport)
            if pending <= 0:
                if pending < 0 and not conn.write_shut:
                    conn.write_shut = True
                    with contextlib.suppress(OSError):
                        conn.sock.shutdown(socket.SHUT_WR)
                break
            size = _pn.transport_peek(transport, self._pointer, min(pending, _IO_CHUNK))
            try:
                sent = conn.sock.send(self._view[:size])
            except (BlockingIOError, InterruptedError):
                break
            except OSError as error:
                self._io_error(conn, error)
                return True
            _pn.transport_pop(transport, sent)
            wrote = True
            if sent < size:
                break
        self._update_interest(conn)
        return wrote

    def flush_all(self) -> bool:
        self.dirty.clear()
        wrote = False
        for conn in list(self.conns.values()):
            if self.flush(conn):
                wrote = True
        return wrote

    def flush_dirty(self) -> None:
        """Write out what changed outside a pump (dispositions) on the connections concerned."""
        dirty = list(self.dirty)
        self.dirty.clear()
        for conn in dirty:
            self.flush(conn)

    def quiet(self) -> bool:
        """True when no open connection has output the socket has not taken yet."""
        for conn in self.conns.values():
            if conn.closed or conn.connecting or conn.sock is None:
                continue
            if _pn.transport_pending(conn.transport_impl) > 0:
                return False
        return True

    def _update_interest(self, conn: Conn) -> None:
        if conn.closed:
            return
        transport = conn.transport_impl
        interest = 0
        if _pn.transport_capacity(transport) > 0:
            interest |= _READ
        if conn.connecting or _pn.transport_pending(transport) > 0:
            interest |= _WRITE
        if interest != conn.interest:
            conn.interest = interest
            if interest:
                self.selector.modify(conn.sock, interest, conn)
            else:
                # Nothing to read or write but the transport is not closed yet:
                # watch for errors by keeping read interest.
                conn.interest = _READ
                self.selector.modify(conn.sock, _READ, conn)

    def _io_error(self, conn: Conn, error: OSError) -> None:
        if not conn.closed:
            _pn.set_io_error(conn.transport_impl, error.strerror or str(error))

    def _tick(self) -> None:
        now = now_ms()
        for conn in list(self.conns.values()):
            if conn.closed or conn.connecting:
                continue
            if conn.next_tick == 0 or conn.next_tick <= now:
                conn.next_tick = _pn.transport_tick(conn.transport_impl, now)

    def _next_deadline(self) -> int | None:
        deadline = None
        for conn in self.conns.values():
            if conn.next_tick and (deadline is None or conn.next_tick < deadline):
                deadline = conn.next_tick
        return deadline

    # ------------------------------------------------------------ the events

    def process(self) -> bool:
        """Handle every queued engine event; returns True if there were any."""
        collector = self._collector
        peek = _pn.collector_peek
        pop = _pn.collector_pop
        event_type = _pn.event_type
        delivery_of = _pn.event_delivery
        link_of_delivery = _pn.delivery_link
        link_of = _pn.event_link
        DELIVERY = _pn.DELIVERY
        LINK_FLOW = _pn.LINK_FLOW
        TRANSPORT = _pn.TRANSPORT
        links = self._links
        handler = self.handler
        on_sent = handler.on_sent_delivery
        on_received = handler.on_received_delivery
        on_message = handler.on_message
        endpoint_events = self._endpoint_events
        worked = False
        deliveries = 0
        while True:
            event = peek(collector)
            if not event:
                self._read_deliveries += deliveries
                return worked
            worked = True
            kind = event_type(event)
            if kind == DELIVERY:
                deliveries += 1
                delivery = delivery_of(event)
                link = links.get(link_of_delivery(delivery))
                if link is not None:
                    if link.is_sender:
                        on_sent(link, delivery)
                    elif on_received(link, delivery):
                        on_message(link)
            elif kind == LINK_FLOW:
                link = links.get(link_of(event))
                if link is not None:
                    handler.on_flow(link)
            elif kind != TRANSPORT:
                react = endpoint_events.get(kind)
                if react is not None:
                    react(event)
            pop(collector)

    def _link_remote_open(self, event: Any) -> None:
        impl = _pn.event_link(event)
        link = self._links.get(impl)
        if link is None:
            conn = self.conns.get(_pn.link_connection(impl))
            if conn is None or conn.closing:
                return
            source, target = _pn.accept_remote_link(impl)
            is_sender = bool(_pn.link_is_sender(impl))
            link = self.handler.on_remote_link(conn, impl, is_sender, source, target)
            _pn.link_open(impl)
        self.handler.on_link_opened(link)

    def _link_remote_end(self, event: Any) -> None:
        impl = _pn.event_link(event)
        link = self._links.get(impl)
        condition = _pn.condition(_pn.link_remote_condition(impl))
        if _pn.link_state(impl) & _pn.LOCAL_ACTIVE:
            if _pn.event_type(event) == _pn.LINK_REMOTE_CLOSE:
                _pn.link_close(impl)
            else:
                _pn.link_detach(impl)
        if link is not None and self.forget_link(link):
            failure = _link_failure(link, str(condition), condition) if condition else None
            self.handler.on_link_closed(link, failure)

    def _session_remote_open(self, event: Any) -> None:
        session = _pn.event_session(event)
        if _pn.session_state(session) & _pn.LOCAL_UNINIT:
            _pn.session_open(session)

    def _session_remote_close(self, event: Any) -> None:
        session = _pn.event_session(event)
        condition = _pn.condition(_pn.session_remote_condition(session))
        if _pn.session_state(session) & _pn.LOCAL_ACTIVE:
            _pn.session_close(session)
        conn = self.conns.get(_pn.session_connection(session))
        if conn is None:
            return
        if conn.session == session:
            conn.session = None
        text = f"session ended by peer: {condition}" if condition else "session ended by peer"
        for link in [link for link in conn.links if link.session == session]:
            if self.forget_link(link):
                self.handler.on_link_closed(link, _link_failure(link, text, condition))

    def _connection_remote_open(self, event: Any) -> None:
        conn = self.conns.get(_pn.event_connection(event))
        if conn is not None:
            conn.remote_opened = True
            conn.remote_container = _pn.remote_container(conn.impl)
            properties = _pn.remote_properties(conn.impl)
            product, version = properties.get("product"), properties.get("version")
            conn.remote_product = str(product) if product is not None else None
            conn.remote_version = str(version) if version is not None else None
            self.handler.on_connection_opened(conn)

    def _connection_remote_close(self, event: Any) -> None:
        conn = self.conns.get(_pn.event_connection(event))
        if conn is None:
            return
        condition = _pn.condition(_pn.connection_remote_condition(conn.impl))
        if condition is not None:
            conn.fail(f"connection closed by peer: {condition}", condition)
        if _pn.connection_state(conn.impl) & _pn.LOCAL_ACTIVE:
            conn.closing = True
            _pn.connection_close(conn.impl)

    def _transport_error(self, event: Any) -> None:
        conn = self.conns.get(_pn.transport_connection(_pn.event_transport(event)))
        if conn is None or conn.failure is not None:
            return
        condition = _pn.condition(_pn.transport_condition(conn.transport_impl))
        # A TLS connection that fails to frame before the peer's open is a
        # failed handshake (an untrusted or mismatched certificate, a plaintext
        # peer): it fails the same way next time.
        handshake_failed = (
            conn.ssl is not None
            and not conn.remote_opened
            and condition is not None
            and condition.name == "amqp:connection:framing-error"
        )
        conn.fail(
            str(condition) if condition else "transport error",
            condition,
            permanent=lasting(condition) or handshake_failed,
        )

    def _transport_closed(self, event: Any) -> None:
        conn = self.conns.get(_pn.transport_connection(_pn.event_transport(event)))
        if conn is not None:
            self._teardown(conn)

    def _teardown(self, conn: Conn) -> None:
        if conn.closed:
            return
        conn.closed = True
        self.dirty.discard(conn)
        if conn.failure is not None:
            # Said once, in the user's terms, for every link and event that follows.
            conn.failure = self.handler.explain(conn, conn.failure)
        if conn.sock is not None:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(conn.sock)
            conn.sock.close()
        self.conns.pop(conn.impl, None)
        for link in list(conn.links):
            if self.forget_link(link):
                self.handler.on_link_closed(link, None)
        if conn.transport is not None:
            conn.transport.unbind()
        self.handler.on_connection_closed(conn)

    # ---------------------------------------------------------------- waking

    def wake(self) -> None:
        """Make a blocked :meth:`pump` return; safe from any thread."""
        with contextlib.suppress(BlockingIOError, OSError):
            self._wake_w.send(b"\0")

    def drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def close(self) -> None:
        """Release every socket at once (used when the Messenger is discarded)."""
        for conn in list(self.conns.values()):
            self._teardown(conn)
        for listener in list(self.listeners):
            self.close_listener(listener)


def _link_failure(link: Link, why: str, condition: Condition | None) -> Failure:
    reason = f"the peer closed the {link.role} link: {why}"
    return Failure(link.describe(), reason, condition, lasting(condition))


def _format_sockaddr(sockaddr: Any) -> str:
    host, port = sockaddr[0], sockaddr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
