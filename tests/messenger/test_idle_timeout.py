"""Idle timeouts: a Messenger honours what a peer advertises, and enforces its own.

Contract: MESSENGER.md, "Security properties": idle timeouts that a peer
advertises are honoured (empty frames keep the connection up) — as long as the
program keeps calling into the Messenger, since no I/O happens in the
background. ``Messenger.idle_timeout`` (an extension) advertises one itself; a
peer that stays silent longer than that loses the connection.

Peers are real: other Messengers, a plain Proton ``Container`` running a
``MessagingHandler`` in a thread, or a TCP socket that never says anything.
"""

from __future__ import annotations

import queue
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from proton import Message as ProtonMessage
from proton.handlers import MessagingHandler
from proton.reactor import ApplicationEvent, Container, EventInjector

from msgr_tui.messenger import (
    ABORTED,
    ACCEPTED,
    Message,
    Messenger,
    MessengerException,
    Timeout,
)
from msgr_tui.messenger.views import ConnectionView
from tests.certs import CertificateSet
from tests.helpers import DEADLINE, Make, pump_until, wait_for

# What the peers advertise, and how long the Messengers are left alone with them.
PEER_IDLE = 0.5
QUIET_PERIOD = 6 * PEER_IDLE
IDLE_PATTERN = r"idle.timeout"


# ----------------------------------------------------------------- helpers


class RawPeer(MessagingHandler):
    """A python-qpid-proton Container in a thread, advertising an idle timeout.

    It listens on 127.0.0.1 (``port``) or, with ``connect_to``, connects there
    and opens a sender to ``q``. Every connection it makes or accepts gets
    ``idle_timeout`` on its transport, so it advertises the timeout in its Open
    frame and drops the connection when the other side stays silent too long.
    """

    def __init__(self, idle_timeout: float, connect_to: str | None = None) -> None:
        super().__init__()
        self.idle_timeout = idle_timeout
        self.connect_to = connect_to
        self.port = 0
        self.received: list[Any] = []
        self.errors: list[str] = []
        self.opened = 0
        self.closed = 0
        self.sender: Any = None
        self._connections: list[Any] = []
        self._acceptor: Any = None
        self._injector = EventInjector()
        self._ready: queue.Queue[BaseException | None] = queue.Queue()
        self._container = Container(self)
        self._thread = threading.Thread(target=self._run, daemon=True, name="raw-proton-peer")

    # --- test thread

    def start(self) -> RawPeer:
        self._thread.start()
        outcome = self._ready.get(timeout=DEADLINE)
        if outcome is not None:
            raise outcome
        return self

    def call(self, action: Callable[[], None]) -> None:
        """Run ``action`` on the container's thread."""
        self._injector.trigger(ApplicationEvent("peer_call", subject=action))

    def send(self, body: Any) -> None:
        self.call(lambda: self.sender.send(ProtonMessage(body=body)))

    def stop(self) -> None:
        self._injector.trigger(ApplicationEvent("peer_stop"))
        self._thread.join(DEADLINE)
        assert not self._thread.is_alive(), "the raw Proton peer did not stop"

    def __enter__(self) -> RawPeer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            self._container.run()
        except BaseException as error:  # reported to the test thread
            self.errors.append(f"container failed: {error!r}")
            self._ready.put(error)

    # --- container thread

    def on_start(self, event: Any) -> None:
        container = event.container
        container.selectable(self._injector)
        if self.connect_to is None:
            self._acceptor = container.listen("127.0.0.1:0")
            self.port = self._acceptor._selectable.getsockname()[1]
        else:
            connection = container.connect(self.connect_to, reconnect=False)
            self.sender = container.create_sender(connection, "q")
        self._ready.put(None)

    def on_connection_bound(self, event: Any) -> None:
        # Before the Open frame goes out, so that it carries the timeout.
        event.transport.idle_timeout = self.idle_timeout

    def on_connection_opened(self, event: Any) -> None:
        self.opened += 1
        self._connections.append(event.connection)

    def on_connection_closed(self, event: Any) -> None:
        self.closed += 1

    def on_connection_error(self, event: Any) -> None:
        self.errors.append(f"connection: {event.connection.remote_condition}")

    def on_transport_error(self, event: Any) -> None:
        self.errors.append(f"transport: {event.transport.condition}")

    def on_sendable(self, event: Any) -> None:
        self.sender = event.sender

    def on_message(self, event: Any) -> None:
        self.received.append(event.message.body)

    def on_peer_call(self, event: Any) -> None:
        event.subject()

    def on_peer_stop(self, event: Any) -> None:
        if self._acceptor is not None:
            self._acceptor.close()
        for connection in self._connections:
            if not connection.state & connection.LOCAL_CLOSED:
                connection.close()
        self._injector.close()


def pump_for(messengers: list[Messenger], period: float) -> None:
    """Drive the messengers' I/O with work() for ``period`` seconds (no sleeping)."""
    end = time.monotonic() + period
    while (left := end - time.monotonic()) > 0:
        for messenger in messengers:
            messenger.work(min(left, 0.05) if len(messengers) > 1 else left)


def only_conn(messenger: Messenger) -> ConnectionView:
    conns = list(messenger.connections)
    assert len(conns) == 1, conns
    return conns[0]


# ------------------------------------- a peer's idle timeout is honoured


def test_a_peer_advertised_idle_timeout_is_honoured_while_the_messenger_works(
    messengers: Make,
) -> None:
    with RawPeer(PEER_IDLE) as peer:
        client = messengers("client", outgoing_window=5, timeout=10)
        address = f"amqp://127.0.0.1:{peer.port}/q"
        first = client.put(Message(address=address, body="before"))
        client.send()
        assert client.status(first) is ACCEPTED
        conn = only_conn(client)
        # The peer really asked (Proton advertises half of its own limit).
        assert 0 < conn.remote_idle_timeout <= PEER_IDLE

        pump_for([client], QUIET_PERIOD)

        assert only_conn(client).id == conn.id
        second = client.put(Message(address=address, body="after"))
        client.send()
        assert client.status(second) is ACCEPTED
        assert only_conn(client).id == conn.id
        wait_for(lambda: len(peer.received) == 2, what="both messages at the raw peer")
        assert peer.received == ["before", "after"]
        assert peer.opened == 1
        assert peer.errors == []
        client.stop()


def test_blocking_calls_keep_the_connection_alive_too(messengers: Make) -> None:
    # recv() blocks (here until its timeout) without the program calling work().
    with RawPeer(PEER_IDLE) as peer:
        client = messengers("subscriber", timeout=QUIET_PERIOD)
        subscription = client.subscribe(f"amqp://127.0.0.1:{peer.port}/source")
        with pytest.raises(Timeout):
            client.recv(1)
        assert subscription.state == "attached"
        conn = only_conn(client)
        assert 0 < conn.remote_idle_timeout <= PEER_IDLE
        assert peer.errors == []

        client.timeout = 10
        wait_for(lambda: peer.sender is not None, what="the raw peer's sender")
        peer.send("finally")
        client.recv(1)
        received = Message()
        client.get(received)
        assert received.body == "finally"
        assert only_conn(client).id == conn.id
        assert peer.opened == 1
        assert peer.errors == []
        client.stop()


def test_a_listening_messenger_honours_a_connecting_peers_idle_timeout(
    messengers: Make,
) -> None:
    server = messengers("server", blocking=False)
    port = server.subscribe("amqp://~127.0.0.1:0").port
    server.recv(10)
    with RawPeer(PEER_IDLE, connect_to=f"amqp://127.0.0.1:{port}") as peer:
        pump_until([server], lambda: peer.sender is not None, what="the raw client's link")
        peer.send("before")
        pump_until([server], lambda: server.incoming == 1, what="the first message")
        server.get()
        conn = only_conn(server)
        assert conn.inbound
        assert 0 < conn.remote_idle_timeout <= PEER_IDLE

        pump_for([server], QUIET_PERIOD)

        assert peer.errors == []
        assert only_conn(server).id == conn.id
        peer.send("after")
        pump_until([server], lambda: server.incoming == 1, what="the second message")
        received = Message()
        server.get(received)
        assert received.body == "after"
        assert peer.errors == []


@pytest.mark.parametrize("scheme", ["amqp", "amqps"])
def test_messengers_keep_each_other_alive(
    certs: CertificateSet, scheme: str, messengers: Make
) -> None:
    # The listener advertises a short timeout; the client advertises none but must
    # answer with empty frames (over TLS as well: they are TLS records there).
    server = messengers(
        "server",
        idle_timeout=PEER_IDLE,
        certificate=certs.server_cert,
        private_key=certs.server_key,
        blocking=False,
    )
    port = server.subscribe(f"{scheme}://~127.0.0.1:0").port
    server.recv(10)
    client = messengers("client", outgoing_window=5, blocking=False)
    client.trusted_certificates = certs.ca
    both = [client, server]
    address = f"{scheme}://localhost:{port}/q"
    bodies: list[str] = []

    def deliver() -> None:
        # The server accepts on get (incoming_window 0).
        while server.incoming:
            received = Message()
            server.get(received)
            bodies.append(received.body)

    first = client.put(Message(address=address, body="before"))
    pump_until(both, lambda: deliver() or client.status(first) is ACCEPTED, what="acceptance")
    conn = only_conn(client)
    assert 0 < conn.remote_idle_timeout <= PEER_IDLE
    assert (conn.tls_protocol is not None) is (scheme == "amqps")

    pump_for(both, QUIET_PERIOD)

    assert only_conn(client).id == conn.id
    assert len(server.connections) == 1
    second = client.put(Message(address=address, body="after"))
    pump_until(both, lambda: deliver() or client.status(second) is ACCEPTED, what="acceptance")
    assert bodies == ["before", "after"]


def test_a_peers_shorter_idle_timeout_is_honoured_when_the_messenger_has_its_own(
    messengers: Make,
) -> None:
    with RawPeer(PEER_IDLE) as peer:
        client = messengers("client", idle_timeout=30, outgoing_window=5, timeout=10)
        address = f"amqp://127.0.0.1:{peer.port}/q"
        client.put(Message(address=address, body="before"))
        client.send()
        conn = only_conn(client)
        assert 0 < conn.remote_idle_timeout <= PEER_IDLE

        pump_for([client], QUIET_PERIOD)

        assert peer.errors == []
        assert only_conn(client).id == conn.id
        second = client.put(Message(address=address, body="after"))
        client.send()
        assert client.status(second) is ACCEPTED
        client.stop()


def test_a_messenger_that_is_not_called_is_dropped_by_the_peer(messengers: Make) -> None:
    # The counterpart of the tests above: the peer does enforce its timeout, and
    # the Messenger reports the peer's reason once it is called again.
    with RawPeer(PEER_IDLE) as peer:
        client = messengers("sleepy", outgoing_window=5, timeout=10)
        address = f"amqp://127.0.0.1:{peer.port}/q"
        client.put(Message(address=address, body="before"))
        client.send()
        only_conn(client)  # exactly one connection

        # No call into the client: nothing keeps the connection alive.
        wait_for(lambda: peer.errors, what="the raw peer to give up on the client")
        assert any("idle-timeout" in error for error in peer.errors), peer.errors

        with pytest.raises(MessengerException, match=IDLE_PATTERN) as caught:
            pump_until([client], lambda: not client.connections, what="the client to see the close")
            client.work(0)
        assert f"127.0.0.1:{peer.port}" in str(caught.value)
        assert client.connections == ()
        client.stop()
        assert client.stopped


# --------------------------------------- the Messenger's own idle timeout


@pytest.mark.parametrize("scheme", ["amqp", "amqps"])
def test_the_messengers_idle_timeout_closes_a_connection_to_a_silent_socket(
    scheme: str, messengers: Make
) -> None:
    # A TCP server that accepts and never writes a byte: no AMQP header, no TLS.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        client = messengers("client", idle_timeout=PEER_IDLE, outgoing_window=5, timeout=10)
        tracker = client.put(Message(address=f"{scheme}://127.0.0.1:{port}/q", body="lost"))
        accepted, _ = silent.accept()
        with accepted, pytest.raises(MessengerException, match=IDLE_PATTERN) as caught:
            client.send()
        assert f"{scheme}://127.0.0.1:{port}" in str(caught.value)
        assert client.status(tracker) is ABORTED
        assert client.outgoing == 0
        assert client.connections == ()
        client.stop()
        assert client.stopped


def test_the_messengers_idle_timeout_drops_a_peer_that_stops_working(
    messengers: Make,
) -> None:
    server = messengers("server", blocking=False)
    port = server.subscribe("amqp://~127.0.0.1:0").port
    server.recv(10)
    client = messengers("client", idle_timeout=PEER_IDLE, outgoing_window=5, blocking=False)
    address = f"amqp://127.0.0.1:{port}/q"
    first = client.put(Message(address=address, body="answered"))
    pump_until([client, server], lambda: server.incoming == 1, what="the first message")
    server.get()
    pump_until([client, server], lambda: client.status(first) is ACCEPTED, what="acceptance")
    only_conn(client)  # exactly one connection
    server_conn = only_conn(server)
    # The server Messenger heard the client's timeout and would keep it alive...
    assert 0 < server_conn.remote_idle_timeout <= PEER_IDLE

    # ...but from now on nobody calls it. The next message goes out with credit
    # the server granted earlier, and is never answered.
    second = client.put(Message(address=address, body="never answered"))
    with pytest.raises(MessengerException, match=IDLE_PATTERN) as caught:
        pump_until([client], lambda: not client.connections, what="the idle timeout")
        client.work(0)
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert client.status(second) is ABORTED
    assert client.connections == ()

    # The server, once it works again, finds the connection closed; its listener stays.
    pump_until([server], lambda: not server.connections, what="the server to see the close")
    assert [s.state for s in server.subscriptions] == ["listening"]
