"""Idle timeouts: a Messenger honours what a peer advertises, and enforces its own.

Contract: MESSENGER.md, "Security properties": idle timeouts that a peer
advertises are honoured (empty frames keep the connection up) — as long as the
program keeps calling into the Messenger, since no I/O happens in the
background. ``Messenger.idle_timeout`` (an extension) enforces one itself and
advertises half of it, as Proton does; a peer that stays silent longer loses
the connection.

Peers are real: other Messengers, a plain Proton ``Container`` running a
``MessagingHandler`` in a thread, or a TCP socket that never says anything.
Nothing here waits on the clock for a connection to survive: the tests count
the empty frames that arrive at the other side, with timeouts long enough
that a stalled, loaded machine does not drop the connection. Only the tests
where a connection must be dropped use a short timeout (a stall there only
makes the drop come sooner).
"""

from __future__ import annotations

import queue
import re
import socket
import threading
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
)
from msgr_tui.messenger.subscription import SubscriptionState
from msgr_tui.messenger.views import ConnectionView
from tests.certs import CertificateSet
from tests.helpers import DEADLINE, Make, failures_heard, pump_until, wait_for

# Where a connection must survive: long enough that no stall of a loaded
# machine ends it (Proton advertises half, and its peer sends every quarter).
KEEPALIVE_IDLE = 4.0
# Empty frames a side must send, without a message, to show it keeps a connection alive.
KEEPALIVES = 2
# Where a connection must be dropped: short, so the test does not wait long.
DROP_IDLE = 0.5
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
        self.advertised_by_other_side: float | None = None
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

    def frames_in(self) -> int:
        """Frames received on its (first) connection so far; read from the test thread,
        an integer the container thread only increments."""
        if not self._connections or self._connections[0].transport is None:
            return 0
        return self._connections[0].transport.frames_input

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
        self.advertised_by_other_side = event.transport.remote_idle_timeout

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


def pump_until_kept_alive(
    messengers: list[Messenger], frames_seen: Callable[[], int], what: str
) -> None:
    """Pump until the other side has counted KEEPALIVES more frames (none carries a message)."""
    start = frames_seen()
    pump_until(
        messengers,
        lambda: frames_seen() >= start + KEEPALIVES,
        timeout=KEEPALIVES * KEEPALIVE_IDLE,
        what=what,
    )


def only_conn(messenger: Messenger) -> ConnectionView:
    conns = list(messenger.connections)
    assert len(conns) == 1, conns
    return conns[0]


# ------------------------------------- a peer's idle timeout is honoured


def test_a_peer_advertised_idle_timeout_is_honoured_while_the_messenger_works(
    messengers: Make,
) -> None:
    with RawPeer(KEEPALIVE_IDLE) as peer:
        client = messengers("client", outgoing_window=5, timeout=DEADLINE)
        address = f"amqp://127.0.0.1:{peer.port}/q"
        first = client.put(Message(address=address, body="before"))
        client.send()
        assert client.status(first) is ACCEPTED
        conn = only_conn(client)
        # The peer really asked: Proton advertises half of its own limit.
        assert conn.remote_idle_timeout == KEEPALIVE_IDLE / 2
        # No message, only work(): the other side must hear empty frames.
        pump_until_kept_alive([client], peer.frames_in, "empty frames at the peer")

        assert only_conn(client).id == conn.id
        second = client.put(Message(address=address, body="after"))
        client.send()
        assert client.status(second) is ACCEPTED
        wait_for(lambda: len(peer.received) == 2, what="both messages at the raw peer")
        assert peer.received == ["before", "after"]
        assert peer.opened == 1
        assert peer.errors == []
        client.stop()


def test_blocking_calls_keep_the_connection_alive_too(messengers: Make) -> None:
    # recv() blocks without the program calling work(); the peer sends its
    # message only once it has heard empty frames during that recv.
    with RawPeer(KEEPALIVE_IDLE) as peer:
        client = messengers("subscriber", blocking=False)
        subscription = client.subscribe(f"amqp://127.0.0.1:{peer.port}/source")
        client.recv(1)  # grants the credit, without waiting
        pump_until(
            [client],
            lambda: subscription.state is SubscriptionState.ATTACHED and peer.sender is not None,
            what="the receiver link with its credit",
        )
        quiet_from = peer.frames_in()

        def send_once_kept_alive() -> None:
            wait_for(
                lambda: peer.frames_in() >= quiet_from + KEEPALIVES,
                timeout=KEEPALIVES * KEEPALIVE_IDLE,
                what="empty frames during the blocking recv",
            )
            peer.send("finally")

        sender = threading.Thread(target=send_once_kept_alive, daemon=True)
        sender.start()
        client.blocking = True
        client.timeout = KEEPALIVES * KEEPALIVE_IDLE + DEADLINE
        client.recv(1)  # returns only once the peer heard the keep-alives and sent
        sender.join(DEADLINE)
        received = Message()
        client.get(received)
        assert received.body == "finally"
        assert peer.opened == 1
        assert peer.errors == []
        client.stop()


def test_a_listening_messenger_honours_a_connecting_peers_idle_timeout(
    messengers: Make,
) -> None:
    server = messengers("server", blocking=False)
    port = server.subscribe("amqp://~127.0.0.1:0").port
    server.recv(10)
    with RawPeer(KEEPALIVE_IDLE, connect_to=f"amqp://127.0.0.1:{port}") as peer:
        pump_until([server], lambda: peer.sender is not None, what="the raw client's link")
        peer.send("before")
        pump_until([server], lambda: server.incoming == 1, what="the first message")
        server.get()
        conn = only_conn(server)
        assert conn.inbound
        assert conn.remote_idle_timeout == KEEPALIVE_IDLE / 2
        # No message, only work(): the other side must hear empty frames.
        pump_until_kept_alive([server], peer.frames_in, "empty frames at the connecting peer")

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
    # The listener enforces a timeout; the client advertises none but must
    # answer with empty frames (over TLS as well: they are TLS records there).
    server = messengers(
        "server",
        idle_timeout=KEEPALIVE_IDLE,
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
    assert conn.remote_idle_timeout == KEEPALIVE_IDLE / 2
    assert (conn.tls_protocol is not None) is (scheme == "amqps")
    pump_until_kept_alive(
        both,
        lambda: only_conn(server).frames_received,
        "empty frames from the client at the server",
    )

    assert only_conn(client).id == conn.id
    second = client.put(Message(address=address, body="after"))
    pump_until(both, lambda: deliver() or client.status(second) is ACCEPTED, what="acceptance")
    assert bodies == ["before", "after"]


def test_a_peers_shorter_idle_timeout_is_honoured_when_the_messenger_has_its_own(
    messengers: Make,
) -> None:
    with RawPeer(KEEPALIVE_IDLE) as peer:
        client = messengers("client", idle_timeout=120, outgoing_window=5, timeout=DEADLINE)
        address = f"amqp://127.0.0.1:{peer.port}/q"
        client.put(Message(address=address, body="before"))
        client.send()
        conn = only_conn(client)
        assert conn.remote_idle_timeout == KEEPALIVE_IDLE / 2
        # No message, only work(): the other side must hear empty frames.
        pump_until_kept_alive([client], peer.frames_in, "empty frames at the peer")

        assert peer.errors == []
        assert only_conn(client).id == conn.id
        second = client.put(Message(address=address, body="after"))
        client.send()
        assert client.status(second) is ACCEPTED
        client.stop()


def test_idle_timeout_goes_on_the_wire_as_half_of_it(messengers: Make) -> None:
    # Proton's rule, documented on Messenger.idle_timeout: it enforces the
    # whole value and asks the peer for frames twice as often.
    with RawPeer(KEEPALIVE_IDLE) as peer:
        client = messengers("client", idle_timeout=10, outgoing_window=5, timeout=DEADLINE)
        tracker = client.put(Message(address=f"amqp://127.0.0.1:{peer.port}/q", body="x"))
        client.send()
        assert client.status(tracker) is ACCEPTED
        assert client.idle_timeout == 10
        assert peer.advertised_by_other_side == 5.0
        client.stop()


def test_a_messenger_that_is_not_called_is_dropped_by_the_peer(messengers: Make) -> None:
    # The counterpart of the tests above: the peer does enforce its timeout, and
    # the Messenger tells the reason once it is called again.
    with RawPeer(DROP_IDLE) as peer:
        client = messengers("sleepy", outgoing_window=5, timeout=DEADLINE)
        heard = failures_heard(client)
        address = f"amqp://127.0.0.1:{peer.port}/q"
        client.put(Message(address=address, body="before"))
        client.send()
        only_conn(client)  # exactly one connection

        # No call into the client: nothing keeps the connection alive.
        wait_for(lambda: peer.errors, what="the raw peer to give up on the client")
        assert any("idle-timeout" in error for error in peer.errors), peer.errors

        pump_until([client], lambda: not client.connections, what="the client to see the close")
        assert len(heard) == 1
        assert re.search(IDLE_PATTERN, heard[0].reason)
        assert heard[0].where == f"amqp://127.0.0.1:{peer.port}"
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
        client = messengers("client", idle_timeout=DROP_IDLE, outgoing_window=5)
        client.timeout = DEADLINE
        tracker = client.put(Message(address=f"{scheme}://127.0.0.1:{port}/q", body="lost"))
        accepted, _ = silent.accept()
        with accepted:
            client.send()  # returns once the silent connection is dropped
        assert client.status(tracker) is ABORTED
        failure = client.failure(tracker)
        assert failure is not None and re.search(IDLE_PATTERN, failure.reason), failure
        assert failure.where == f"{scheme}://127.0.0.1:{port}"
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
    client = messengers("client", idle_timeout=DROP_IDLE, outgoing_window=5, blocking=False)
    address = f"amqp://127.0.0.1:{port}/q"
    first = client.put(Message(address=address, body="answered"))
    pump_until([client, server], lambda: server.incoming == 1, what="the first message")
    server.get()
    pump_until([client, server], lambda: client.status(first) is ACCEPTED, what="acceptance")
    # The server Messenger heard the client's timeout and would keep it alive...
    assert only_conn(server).remote_idle_timeout == DROP_IDLE / 2

    # ...but from now on nobody calls it. The next message goes out with credit
    # the server granted earlier, and is never answered.
    second = client.put(Message(address=address, body="never answered"))
    pump_until([client], lambda: not client.connections, what="the idle timeout")
    assert client.status(second) is ABORTED
    failure = client.failure(second)
    assert failure is not None and re.search(IDLE_PATTERN, failure.reason), failure
    assert failure.where == f"amqp://127.0.0.1:{port}"

    # The server, once it works again, finds the connection closed; its listener stays.
    pump_until([server], lambda: not server.connections, what="the server to see the close")
    assert [s.state for s in server.subscriptions] == ["listening"]
