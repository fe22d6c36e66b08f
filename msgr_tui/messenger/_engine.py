"""The Messenger's own I/O loop over Proton's AMQP engine.

No reactor and no handler classes: sockets are driven with ``selectors``, bytes
are pushed into and pulled out of ``pn_transport`` directly, and engine events
are read from one collector. Proton's Python wrappers (``Connection``,
``Transport``, ``SSL``, ``SASL``) are used to build and own each connection;
the per-event and per-message paths call the C engine through ``cproton_ffi``
because building a wrapper object for every event costs more than the engine
work itself (see the benchmark issue). Everything here runs in the thread that
owns the Messenger, except :meth:`Driver.wake`.

The driver knows nothing about queues, trackers or credit: it reports what
happened to a :class:`Handler` (the Messenger) and performs what it is asked.
"""

from __future__ import annotations

import contextlib
import errno
import os
import selectors
import socket
import time
from typing import TYPE_CHECKING, Any, Protocol

import cproton
from cproton_ffi import ffi, lib
from proton import SSL, Collector, Connection, SSLDomain, Transport

from .address import Address
from .errors import MessengerException, TransportFailed

if TYPE_CHECKING:
    from ._links import Link

PN_DELIVERY = lib.PN_DELIVERY
PN_LINK_FLOW = lib.PN_LINK_FLOW
PN_TRANSPORT = lib.PN_TRANSPORT
PN_CONNECTION_REMOTE_OPEN = lib.PN_CONNECTION_REMOTE_OPEN
PN_CONNECTION_REMOTE_CLOSE = lib.PN_CONNECTION_REMOTE_CLOSE
PN_SESSION_REMOTE_OPEN = lib.PN_SESSION_REMOTE_OPEN
PN_SESSION_REMOTE_CLOSE = lib.PN_SESSION_REMOTE_CLOSE
PN_LINK_REMOTE_OPEN = lib.PN_LINK_REMOTE_OPEN
PN_LINK_REMOTE_CLOSE = lib.PN_LINK_REMOTE_CLOSE
PN_LINK_REMOTE_DETACH = lib.PN_LINK_REMOTE_DETACH
PN_TRANSPORT_ERROR = lib.PN_TRANSPORT_ERROR
PN_TRANSPORT_CLOSED = lib.PN_TRANSPORT_CLOSED
PN_LOCAL_UNINIT = lib.PN_LOCAL_UNINIT
PN_LOCAL_ACTIVE = lib.PN_LOCAL_ACTIVE
PN_LOCAL_CLOSED = lib.PN_LOCAL_CLOSED

_IO_CHUNK = 256 * 1024
_READ = selectors.EVENT_READ
_WRITE = selectors.EVENT_WRITE


def now_ms() -> int:
    return int(time.monotonic() * 1000)


def condition_text(condition: Any) -> str | None:
    """``name: description`` of a ``pn_condition_t*``, or None when it is not set."""
    if not condition or not lib.pn_condition_is_set(condition):
        return None
    name = cproton.pn_condition_get_name(condition) or "error"
    description = cproton.pn_condition_get_description(condition)
    return f"{name}: {description}" if description else name


class Handler(Protocol):
    """What the driver reports to its owner (the Messenger)."""

    def on_delivery(self, link: Link, delivery: Any) -> None: ...
    def on_flow(self, link: Link) -> None: ...
    def on_connection_opened(self, conn: Conn) -> None: ...
    def on_link_opened(self, link: Link) -> None: ...
    def on_remote_link(self, conn: Conn, impl: Any, is_sender: bool) -> Link: ...
    def on_link_closed(self, link: Link, error: str | None) -> None: ...
    def on_connection_closed(self, conn: Conn, error: str | None) -> None: ...
    def explain_failure(self, conn: Conn, error: str) -> str: ...


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
        "error",
        "impl",
        "interest",
        "key",
        "label",
        "links",
        "next_tick",
        "outbound",
        "peer",
        "remote_container",
        "remote_opened",
        "senders",
        "session",
        "sock",
        "ssl",
        "timpl",
        "transport",
        "unflushed",
        "write_shut",
    )

    def __init__(self, *, outbound: bool, label: str, address: Address | None) -> None:
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
        self.timpl: Any = None
        self.session: Any = None
        self.remote_container: str | None = None
        self.remote_opened = False
        self.peer = ""
        self.links: list[Link] = []
        self.senders: dict[str | None, Link] = {}
        self.interest = 0
        self.next_tick = 0
        self.closing = False
        self.closed = False
        self.write_shut = False
        # Bytes put since the last flush (see Messenger.put).
        self.unflushed = 0
        self.error: str | None = None
        # Messages given up as ABORTED because links of this connection closed.
        self.aborted = 0

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
        self._coll = self.collector._impl
        self.conns: dict[Any, Conn] = {}
        self.links: dict[Any, Link] = {}
        self.listeners: list[Listener] = []
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.selector.register(self._wake_r, _READ, None)
        self._buffer = bytearray(_IO_CHUNK)
        self._view = memoryview(self._buffer)
        self._pointer = ffi.from_buffer(self._buffer)
        self.idle_timeout_ms = 0
        self.allow_insecure_mechs = True

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
        self._fail(conn, f"cannot connect: {errors[-1] if errors else 'no address'}")

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
        conn.impl = connection._impl
        conn.timpl = transport._impl
        session = connection.session()
        session.open()
        conn.session = session._impl
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

    def open_link(self, conn: Conn, is_sender: bool, name: str, address: str | None) -> Any:
        """Create and open a link on ``conn``; returns the ``pn_link_t*``."""
        if conn.session is None:
            # The peer ended our session (brokers do that when they refuse a
            # link): new links go on a fresh one, the connection itself is fine.
            session = lib.pn_session(conn.impl)
            lib.pn_session_open(session)
            conn.session = session
        if is_sender:
            impl = cproton.pn_sender(conn.session, name)
            if address is not None:
                cproton.pn_terminus_set_address(lib.pn_link_target(impl), address)
        else:
            impl = cproton.pn_receiver(conn.session, name)
            if address is not None:
                cproton.pn_terminus_set_address(lib.pn_link_source(impl), address)
        lib.pn_link_open(impl)
        return impl

    def close_conn(self, conn: Conn) -> None:
        """Begin a clean AMQP close of ``conn``."""
        if conn.closing or conn.closed:
            return
        conn.closing = True
        if conn.connecting or (not conn.remote_opened and conn.sock is None):
            self._teardown(conn, None)
            return
        lib.pn_connection_close(conn.impl)

    def abort_conn(self, conn: Conn, error: str | None) -> None:
        """Drop ``conn`` at once, without waiting for the peer."""
        if not conn.closed:
            self._teardown(conn, error)

    # --------------------------------------------------------------- the loop

    def pump(self, timeout: float | None) -> bool:
        """One round of I/O: write, wait up to ``timeout`` seconds, read, process.

        Returns True when anything at all happened (bytes moved, a peer
        connected, an engine event was processed).
        """
        worked = self.process()
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
                self.drain_wake()
                worked = True
            elif isinstance(target, Conn):
                worked = self._service(target, mask) or worked
            else:
                worked = self.accept(target) > 0 or worked
        self._tick()
        worked = self.process() or worked
        worked = self.flush_all() or worked
        return worked

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
                    self._fail(conn, f"cannot connect to {conn.peer}: {os.strerror(code)}")
                return True
            conn.connecting = False
        worked = False
        if mask & _READ:
            worked = self._read(conn)
        if mask & _WRITE and not conn.closed:
            worked = self.flush(conn) or worked
        return worked

    def _read(self, conn: Conn) -> bool:
        timpl = conn.timpl
        capacity = lib.pn_transport_capacity(timpl)
        if capacity <= 0:
            return False
        try:
            count = conn.sock.recv_into(self._view[: min(capacity, _IO_CHUNK)])
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as error:
            self._io_error(conn, error)
            return True
        if count == 0:
            lib.pn_transport_close_tail(timpl)
        else:
            lib.pn_transport_push(timpl, self._pointer, count)
        # Input can change the deadlines (the peer's Open brings its idle
        # timeout): tick again at the next round rather than at the old time.
        conn.next_tick = 0
        return True

    def flush(self, conn: Conn) -> bool:
        """Write what the transport has to send, as far as the socket takes it."""
        if conn.closed or conn.connecting or conn.sock is None:
            return False
        conn.unflushed = 0
        timpl = conn.timpl
        wrote = False
        while True:
            pending = lib.pn_transport_pending(timpl)
            if pending <= 0:
                if pending < 0 and not conn.write_shut:
                    conn.write_shut = True
                    with contextlib.suppress(OSError):
                        conn.sock.shutdown(socket.SHUT_WR)
                break
            size = lib.pn_transport_peek(timpl, self._pointer, min(pending, _IO_CHUNK))
            try:
                sent = conn.sock.send(self._view[:size])
            except (BlockingIOError, InterruptedError):
                break
            except OSError as error:
                self._io_error(conn, error)
                return True
            lib.pn_transport_pop(timpl, sent)
            wrote = True
            if sent < size:
                break
        self._update_interest(conn)
        return wrote

    def flush_all(self) -> bool:
        wrote = False
        for conn in list(self.conns.values()):
            if self.flush(conn):
                wrote = True
        return wrote

    def _update_interest(self, conn: Conn) -> None:
        if conn.closed:
            return
        interest = 0
        if lib.pn_transport_capacity(conn.timpl) > 0:
            interest |= _READ
        if conn.connecting or lib.pn_transport_pending(conn.timpl) > 0:
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
        reason = error.strerror or str(error)
        if not conn.closed:
            cproton.pn_condition_set_name(lib.pn_transport_condition(conn.timpl), "proton:io")
            cproton.pn_condition_set_description(lib.pn_transport_condition(conn.timpl), reason)
            lib.pn_transport_close_tail(conn.timpl)
            lib.pn_transport_close_head(conn.timpl)

    def _tick(self) -> None:
        now = now_ms()
        for conn in list(self.conns.values()):
            if conn.closed or conn.connecting:
                continue
            if conn.next_tick == 0 or conn.next_tick <= now:
                conn.next_tick = lib.pn_transport_tick(conn.timpl, now)

    def _next_deadline(self) -> int | None:
        deadline = None
        for conn in self.conns.values():
            if conn.next_tick and (deadline is None or conn.next_tick < deadline):
                deadline = conn.next_tick
        return deadline

    # ------------------------------------------------------------ the events

    def process(self) -> bool:
        """Handle every queued engine event; returns True if there were any."""
        coll = self._coll
        peek = lib.pn_collector_peek
        pop = lib.pn_collector_pop
        event_type = lib.pn_event_type
        links = self.links
        handler = self.handler
        worked = False
        while True:
            event = peek(coll)
            if not event:
                return worked
            worked = True
            kind = event_type(event)
            if kind == PN_DELIVERY:
                delivery = lib.pn_event_delivery(event)
                link = links.get(lib.pn_delivery_link(delivery))
                if link is not None:
                    handler.on_delivery(link, delivery)
            elif kind == PN_LINK_FLOW:
                link = links.get(lib.pn_event_link(event))
                if link is not None:
                    handler.on_flow(link)
            elif kind != PN_TRANSPORT:
                self._endpoint_event(kind, event)
            pop(coll)

    def _endpoint_event(self, kind: int, event: Any) -> None:
        if kind == PN_LINK_REMOTE_OPEN:
            impl = lib.pn_event_link(event)
            link = self.links.get(impl)
            if link is None:
                conn = self.conns.get(lib.pn_session_connection(lib.pn_link_session(impl)))
                if conn is None or conn.closing:
                    return
                lib.pn_terminus_copy(lib.pn_link_source(impl), lib.pn_link_remote_source(impl))
                lib.pn_terminus_copy(lib.pn_link_target(impl), lib.pn_link_remote_target(impl))
                link = self.handler.on_remote_link(conn, impl, bool(lib.pn_link_is_sender(impl)))
                lib.pn_link_open(impl)
            self.handler.on_link_opened(link)
        elif kind in (PN_LINK_REMOTE_CLOSE, PN_LINK_REMOTE_DETACH):
            impl = lib.pn_event_link(event)
            link = self.links.pop(impl, None)
            error = condition_text(lib.pn_link_remote_condition(impl))
            if lib.pn_link_state(impl) & PN_LOCAL_ACTIVE:
                if kind == PN_LINK_REMOTE_CLOSE:
                    lib.pn_link_close(impl)
                else:
                    lib.pn_link_detach(impl)
            if link is not None:
                self.handler.on_link_closed(link, error)
        elif kind == PN_SESSION_REMOTE_OPEN:
            session = lib.pn_event_session(event)
            if lib.pn_session_state(session) & PN_LOCAL_UNINIT:
                lib.pn_session_open(session)
        elif kind == PN_SESSION_REMOTE_CLOSE:
            session = lib.pn_event_session(event)
            error = condition_text(lib.pn_session_remote_condition(session))
            if lib.pn_session_state(session) & PN_LOCAL_ACTIVE:
                lib.pn_session_close(session)
            conn = self.conns.get(lib.pn_session_connection(session))
            if conn is not None:
                if conn.session == session:
                    conn.session = None
                text = f"session ended by peer: {error}" if error else "session ended by peer"
                for link in [x for x in conn.links if x.session == session]:
                    self._drop_link(link, text)
        elif kind == PN_CONNECTION_REMOTE_OPEN:
            conn = self.conns.get(lib.pn_event_connection(event))
            if conn is not None:
                conn.remote_opened = True
                conn.remote_container = cproton.pn_connection_remote_container(conn.impl)
                self.handler.on_connection_opened(conn)
        elif kind == PN_CONNECTION_REMOTE_CLOSE:
            conn = self.conns.get(lib.pn_event_connection(event))
            if conn is not None:
                error = condition_text(lib.pn_connection_remote_condition(conn.impl))
                if error and conn.error is None:
                    conn.error = f"connection closed by peer: {error}"
                if lib.pn_connection_state(conn.impl) & PN_LOCAL_ACTIVE:
                    conn.closing = True
                    lib.pn_connection_close(conn.impl)
        elif kind == PN_TRANSPORT_ERROR:
            conn = self.conns.get(lib.pn_transport_connection(lib.pn_event_transport(event)))
            if conn is not None and conn.error is None:
                conn.error = condition_text(lib.pn_transport_condition(conn.timpl))
        elif kind == PN_TRANSPORT_CLOSED:
            conn = self.conns.get(lib.pn_transport_connection(lib.pn_event_transport(event)))
            if conn is not None:
                self._teardown(conn, conn.error)

    def _drop_link(self, link: Link, error: str | None) -> None:
        if self.links.pop(link.impl, None) is not None:
            self.handler.on_link_closed(link, error)

    def _fail(self, conn: Conn, reason: str) -> None:
        conn.error = reason
        self._teardown(conn, reason)

    def _teardown(self, conn: Conn, error: str | None) -> None:
        if conn.closed:
            return
        conn.closed = True
        if error:
            # Said once, in the user's terms, for every link and event that follows.
            error = self.handler.explain_failure(conn, error)
            conn.error = error
        if conn.sock is not None:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(conn.sock)
            conn.sock.close()
        self.conns.pop(conn.impl, None)
        for link in list(conn.links):
            if self.links.pop(link.impl, None) is not None:
                self.handler.on_link_closed(link, None)
        if conn.transport is not None:
            conn.transport.unbind()
        self.handler.on_connection_closed(conn, error)

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
            self._teardown(conn, None)
        for listener in list(self.listeners):
            self.close_listener(listener)


def _format_sockaddr(sockaddr: Any) -> str:
    host, port = sockaddr[0], sockaddr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
