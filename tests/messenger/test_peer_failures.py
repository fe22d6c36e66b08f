"""Peers that refuse, fail or vanish: errors surface promptly, not as timeouts.

The misbehaving peers are real: a python-qpid-proton Container in a thread
(refusing links, ending sessions, closing connections with a condition,
dropping the socket), a Messenger in a child process that is SIGKILLed, and
raw TCP sockets that never speak AMQP or speak nonsense. The Messenger under
test gets a large timeout wherever an error is expected, so an error that
only showed up as a Timeout would fail the exception-type check.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from proton import Condition, Endpoint, Handler
from proton import Message as ProtonMessage
from proton.reactor import ApplicationEvent, Container, EventInjector

from msgr_tui.messenger import (
    ABORTED,
    ACCEPTED,
    PENDING,
    Message,
    MessengerException,
    Timeout,
)
from msgr_tui.messenger.events import ConnectionClosed, LinkOpened, MessengerEvent
from tests.helpers import DEADLINE, ThreadedPeer, pump_until, started, wait_for

ROOT = Path(__file__).resolve().parents[2]
LARGE_TIMEOUT = 30.0


# ------------------------------------------------------------ a raw Proton peer


class PeerBehaviour(Handler):
    """Server-side AMQP handshake done by hand, with hooks to misbehave.

    By default it opens whatever the client opens, grants credit to links it
    receives on, accepts every message and records its body. ``decide(link)``
    may return an action for each link the client attaches:
    ``"refuse"`` (close the link with ``amqp:not-found``), ``"end-session"``,
    ``"close-connection"`` or None (welcome).
    """

    def __init__(
        self, decide: Callable[[Any], str | None] = lambda link: None, feed: list | None = None
    ) -> None:
        self.decide = decide
        self.feed = list(feed or [])  # bodies to send on links the client receives on
        self.connections: list[Any] = []
        self.received: list[Any] = []
        self.acceptor: Any = None
        self.injector: EventInjector | None = None

    def on_connection_remote_open(self, event: Any) -> None:
        connection = event.connection
        self.connections.append(connection)
        if connection.state & Endpoint.LOCAL_UNINIT:
            connection.open()

    def on_session_remote_open(self, event: Any) -> None:
        if event.session.state & Endpoint.LOCAL_UNINIT:
            event.session.open()

    def on_link_remote_open(self, event: Any) -> None:
        link = event.link
        if not link.state & Endpoint.LOCAL_UNINIT:
            return
        action = self.decide(link)
        if action == "refuse":
            link.condition = Condition("amqp:not-found", f"no node named {_terminus(link)!r}")
            link.close()
        elif action == "end-session":
            link.session.condition = Condition(
                "amqp:resource-limit-exceeded", "session quota used up"
            )
            link.session.close()
        elif action == "close-connection":
            event.connection.condition = Condition(
                "amqp:connection:forced", "broker going down for maintenance"
            )
            event.connection.close()
        else:
            link.source.copy(link.remote_source)
            link.target.copy(link.remote_target)
            link.open()
            if link.is_receiver:
                link.flow(100)
            self.on_welcome(link)

    def on_welcome(self, link: Any) -> None:
        """A link was accepted (hook for subclasses)."""

    def on_link_flow(self, event: Any) -> None:
        link = event.link
        while link.is_sender and link.credit > 0 and self.feed:
            link.send(ProtonMessage(body=self.feed.pop(0)))

    def on_delivery(self, event: Any) -> None:
        delivery = event.delivery
        link = event.link
        if link.is_receiver and delivery.readable and not delivery.partial:
            message = ProtonMessage()
            message.decode(link.recv(delivery.pending))
            link.advance()
            self.received.append(message.body)
            delivery.update(delivery.ACCEPTED)
            delivery.settle()
            link.flow(1)

    def on_connection_remote_close(self, event: Any) -> None:
        if not event.connection.state & Endpoint.LOCAL_CLOSED:
            event.connection.close()

    def on_session_remote_close(self, event: Any) -> None:
        if not event.session.state & Endpoint.LOCAL_CLOSED:
            event.session.close()

    def on_link_remote_close(self, event: Any) -> None:
        if not event.link.state & Endpoint.LOCAL_CLOSED:
            event.link.close()

    @staticmethod
    def drop(connection: Any) -> None:
        """Stop talking at once: no AMQP close, the socket just goes away."""
        transport = connection.transport
        if transport is not None:
            transport.close_tail()
            transport.close_head()

    def on_shutdown(self, event: Any) -> None:
        self.acceptor.close()
        for connection in self.connections:
            self.drop(connection)
        self.injector.close()


def _terminus(link: Any) -> str | None:
    return link.remote_target.address if link.is_receiver else link.remote_source.address


class RawPeer:
    """A Proton Container listening on 127.0.0.1 (free port) in its own thread."""

    def __init__(self, behaviour: PeerBehaviour) -> None:
        self.behaviour = behaviour
        self.container = Container(behaviour)
        self.injector = EventInjector()
        behaviour.injector = self.injector
        self.container.selectable(self.injector)
        behaviour.acceptor = self.container.listen("127.0.0.1:0")
        self.port: int = behaviour.acceptor._selectable._delegate.getsockname()[1]
        self.errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, daemon=True, name="raw-peer")

    @property
    def address(self) -> str:
        return f"amqp://127.0.0.1:{self.port}"

    def _run(self) -> None:
        try:
            self.container.run()
        except BaseException as error:  # reported to the test thread
            self.errors.append(error)

    def __enter__(self) -> RawPeer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.injector.trigger(ApplicationEvent("shutdown"))
        self._thread.join(DEADLINE)
        assert not self._thread.is_alive(), "raw peer did not stop"
        for fd in self.injector.pipe:
            os.close(fd)
        assert self.errors == []


def refuse_names_starting_with(
    prefix: str, action: str = "refuse", feed: list | None = None
) -> PeerBehaviour:
    return PeerBehaviour(
        lambda link: action if (_terminus(link) or "").startswith(prefix) else None, feed
    )


# ------------------------------------------------------------ refused links


def test_a_refused_receiver_link_fails_recv_promptly_with_the_peers_condition() -> None:
    with RawPeer(refuse_names_starting_with("missing")) as peer:
        client = started("subscriber", timeout=LARGE_TIMEOUT)
        subscription = client.subscribe(f"{peer.address}/missing-queue")
        with pytest.raises(MessengerException) as caught:
            client.recv(1)
        text = str(caught.value)
        assert f"127.0.0.1:{peer.port}/missing-queue" in text
        assert "amqp:not-found" in text
        assert "no node named 'missing-queue'" in text
        assert subscription.state == "failed"
        # Still usable on the same connection: a send to a node that exists works.
        client.put(Message(address=f"{peer.address}/present", body="fine"))
        client.outgoing_window = 1
        tracker = client.put(Message(address=f"{peer.address}/present", body="tracked"))
        client.send()
        assert client.status(tracker) is ACCEPTED
        assert peer.behaviour.received == ["fine", "tracked"]
        client.timeout = 5
        client.stop()


def test_a_refused_sender_link_fails_send_promptly_and_aborts_its_messages() -> None:
    with RawPeer(refuse_names_starting_with("missing")) as peer:
        client = started("sender", timeout=LARGE_TIMEOUT, outgoing_window=10)
        trackers = [
            client.put(Message(address=f"{peer.address}/missing-topic", body=index))
            for index in range(3)
        ]
        with pytest.raises(MessengerException) as caught:
            client.send()
        text = str(caught.value)
        assert f"127.0.0.1:{peer.port}/missing-topic" in text
        assert "amqp:not-found" in text
        assert [client.status(t) for t in trackers] == [ABORTED] * 3
        assert client.outgoing == 0
        assert not any(client.buffered(t) for t in trackers)
        client.send()  # nothing left to wait for: returns at once, no stale error
        # The connection itself is fine: another node on the same peer works.
        good = client.put(Message(address=f"{peer.address}/present", body="ok"))
        client.send()
        assert client.status(good) is ACCEPTED
        assert peer.behaviour.received == ["ok"]
        client.timeout = 5
        client.stop()


def test_a_refused_subscription_gives_its_credit_back_to_the_healthy_one() -> None:
    with RawPeer(refuse_names_starting_with("missing", feed=["a", "b", "c"])) as peer:
        client = started("subscriber", timeout=5)
        # Subscribed first, the doomed link is first in line for credit.
        client.subscribe(f"{peer.address}/missing")
        client.subscribe(f"{peer.address}/feed")
        with pytest.raises(MessengerException, match="amqp:not-found"):
            client.recv(1)
        bodies = []
        message = Message()
        while len(bodies) < 3:
            client.recv(1)  # one credit at a time: it can only go to the feed now
            while client.incoming:
                client.get(message)
                bodies.append(message.body)
        assert bodies == ["a", "b", "c"]
        client.stop()


# ------------------------------------------------------------ sessions, connections


@pytest.mark.parametrize("direction", ["recv", "send"])
def test_a_session_ended_with_an_error_surfaces_as_messenger_exception(direction: str) -> None:
    with RawPeer(refuse_names_starting_with("doomed", "end-session")) as peer:
        client = started("client", timeout=LARGE_TIMEOUT, outgoing_window=5)
        tracker = None
        with pytest.raises(MessengerException) as caught:
            if direction == "recv":
                client.subscribe(f"{peer.address}/doomed")
                client.recv(1)
            else:
                tracker = client.put(Message(address=f"{peer.address}/doomed", body=1))
                client.send()
        text = str(caught.value)
        assert "session" in text
        assert "amqp:resource-limit-exceeded" in text
        assert "session quota used up" in text
        assert f"127.0.0.1:{peer.port}/doomed" in text
        if tracker is not None:
            assert client.status(tracker) is ABORTED
        client.timeout = 5
        client.stop()
        assert client.stopped


def test_after_the_peer_ends_the_session_the_same_peer_is_still_reachable() -> None:
    with RawPeer(refuse_names_starting_with("doomed", "end-session")) as peer:
        client = started("client", timeout=1, outgoing_window=5)
        client.put(Message(address=f"{peer.address}/doomed", body=1))
        with pytest.raises(MessengerException):
            client.send()
        # The connection is still open (the contract reuses it); only its session
        # was ended. A message to a healthy node of the same peer must go through,
        # not wait forever on a link attached to the ended session.
        tracker = client.put(Message(address=f"{peer.address}/healthy", body=2))
        try:
            client.send()
        finally:
            status = client.status(tracker)
            client.stop()
        assert status is ACCEPTED
        assert peer.behaviour.received == [2]


@pytest.mark.parametrize("direction", ["recv", "send"])
def test_a_connection_closed_with_an_error_surfaces_the_peers_condition(direction: str) -> None:
    with RawPeer(refuse_names_starting_with("", "close-connection")) as peer:
        client = started("client", timeout=LARGE_TIMEOUT, outgoing_window=5)
        tracker = None
        with pytest.raises(MessengerException) as caught:
            if direction == "recv":
                client.subscribe(f"{peer.address}/anything")
                client.recv(1)
            else:
                tracker = client.put(Message(address=f"{peer.address}/anything", body=1))
                client.send()
        text = str(caught.value)
        assert "amqp:connection:forced" in text
        assert "broker going down for maintenance" in text
        assert f"127.0.0.1:{peer.port}" in text
        if tracker is not None:
            assert client.status(tracker) is ABORTED
        client.stop()  # the connection is gone: nothing to wait for
        assert client.stopped


# ------------------------------------------------------------ vanishing peers

CHILD_RECEIVER = """
import sys
from msgr_tui.messenger import Message, Messenger

messenger = Messenger("doomed-child")
messenger.incoming_window = 1000  # hold what it gets, answer only what it accepts
messenger.start()
print(messenger.subscribe("amqp://~127.0.0.1:0").port, flush=True)
message = Message()
while True:
    messenger.recv()
    while messenger.incoming:
        tracker = messenger.get(message)
        if message.body < int(sys.argv[1]):
            messenger.accept(tracker)
        print("got", message.body, flush=True)
    messenger.work(0)  # let the accepts out
"""


class Child:
    """A Python child process whose stdout lines are collected by a thread."""

    def __init__(self, script: str, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", script, *args],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line.strip())

    def next_line(self) -> str:
        try:
            return self.lines.get(timeout=DEADLINE)
        except queue.Empty:
            raise AssertionError("the child process said nothing in time") from None

    def poll_lines(self) -> list[str]:
        while True:
            try:
                self.seen.append(self.lines.get_nowait())
            except queue.Empty:
                return self.seen

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(DEADLINE)
        self._reader.join(DEADLINE)
        self.process.stdout.close()


def test_a_receiver_killed_mid_stream_aborts_in_flight_messages_and_can_be_replaced() -> None:
    child = Child(CHILD_RECEIVER, "3")  # accepts bodies 0..2, holds 3..5 unanswered
    try:
        port = int(child.next_line())
        client = started("producer", blocking=False, outgoing_window=10, timeout=LARGE_TIMEOUT)
        address = f"amqp://127.0.0.1:{port}/work"
        trackers = [client.put(Message(address=address, body=index)) for index in range(6)]
        pump_until(
            [client],
            lambda: (
                len(child.poll_lines()) == 6
                and [client.status(t) for t in trackers[:3]] == [ACCEPTED] * 3
            ),
            what="six messages at the child and three acceptances back",
        )
        assert child.seen == [f"got {index}" for index in range(6)]
        assert [client.status(t) for t in trackers[3:]] == [PENDING] * 3
    finally:
        child.kill()  # SIGKILL: no AMQP close, the kernel just drops the sockets
    client.blocking = True
    with pytest.raises(MessengerException) as caught:
        client.send()
    assert f"127.0.0.1:{port}" in str(caught.value)
    # What the peer had answered stays answered; what it held is ABORTED.
    assert [client.status(t) for t in trackers] == [ACCEPTED] * 3 + [ABORTED] * 3
    assert client.outgoing == 0

    # A new peer on the same port: the next put reconnects and gets through.
    with ThreadedPeer("replacement", listen=f"amqp://~127.0.0.1:{port}") as replacement:
        assert replacement.port == port
        retry = client.put(Message(address=address, body="again"))
        client.send()
        assert client.status(retry) is ACCEPTED
        wait_for(lambda: len(replacement.received) == 1, what="the retried message")
        assert replacement.received[0].body == "again"
        client.timeout = 5
        client.stop()
    assert replacement.errors == []


class DropAfterThree(PeerBehaviour):
    """Feeds three messages to the client; once all are accepted, drops the socket."""

    def __init__(self) -> None:
        super().__init__(feed=["m0", "m1", "m2"])
        self.settled = 0

    def on_delivery(self, event: Any) -> None:
        delivery = event.delivery
        if event.link.is_sender and delivery.remote_state == delivery.ACCEPTED:
            delivery.settle()
            self.settled += 1
            if self.settled == 3:
                self.drop(event.connection)
        else:
            super().on_delivery(event)


def test_a_source_that_drops_the_socket_fails_recv_instead_of_waiting() -> None:
    with RawPeer(DropAfterThree()) as peer:
        client = started("reader", timeout=LARGE_TIMEOUT)
        client.subscribe(f"{peer.address}/feed")
        bodies = []
        message = Message()
        with pytest.raises(MessengerException) as caught:
            while True:
                client.recv()
                while client.incoming:
                    client.get(message)  # accepts (incoming_window 0)
                    bodies.append(message.body)
        assert bodies == ["m0", "m1", "m2"]
        assert f"127.0.0.1:{peer.port}" in str(caught.value)
        client.stop()
        assert client.stopped


# ------------------------------------------------------------ a mute TCP server


def test_a_tcp_server_that_never_speaks_amqp_times_out_and_stop_still_finishes() -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(4)  # the kernel completes the TCP handshake; nobody answers
    port = server.getsockname()[1]
    try:
        client = started("hopeful", timeout=0.5, outgoing_window=5)
        tracker = client.put(Message(address=f"amqp://127.0.0.1:{port}/q", body="unheard"))
        with pytest.raises(Timeout):
            client.send()
        # Observed: PENDING. Nothing failed (the TCP connection is up, the peer
        # is merely silent), and without an attach there is no credit, so the
        # message is still buffered here, ready to go if the peer wakes up.
        assert client.status(tracker) is PENDING
        assert client.buffered(tracker) is True
        assert client.outgoing == 1

        accepted, _ = server.accept()
        with accepted:
            accepted.settimeout(DEADLINE)
            # The Messenger did speak: the SASL protocol header came first.
            assert accepted.recv(8) == b"AMQP\x03\x01\x00\x00"
            # stop() cannot complete a close handshake with a mute peer: it gives
            # up after the timeout (raising Timeout, as blocking calls do), but it
            # does finish: the Messenger is stopped and the socket is closed.
            with pytest.raises(Timeout):
                client.stop()
            assert client.stopped
            assert client.status(tracker) is ABORTED
            assert client.outgoing == 0
            while accepted.recv(4096):
                pass  # whatever was still queued, then EOF: the socket was closed
    finally:
        server.close()


# ------------------------------------------------------------ inbound failures

CHILD_FLOODER = """
import sys
from msgr_tui.messenger import Message, Messenger

messenger = Messenger("flooder")
messenger.start()
body = b"x" * 65536
index = 0
while True:
    messenger.put(Message(address=sys.argv[1], body=body, subject=str(index)))
    messenger.send()
    index += 1
"""


class ClosingClient(PeerBehaviour):
    """A Proton client that connects, then closes its connection with an error."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def on_reactor_init(self, event: Any) -> None:
        event.container.connect(self.url, handler=self)

    def on_connection_remote_open(self, event: Any) -> None:
        event.connection.condition = Condition("amqp:internal-error", "client crashed")
        event.connection.close()


def test_failures_of_inbound_connections_never_raise_and_other_clients_still_get_through() -> None:
    server = started("server", timeout=LARGE_TIMEOUT)
    closed: list[ConnectionClosed] = []

    def on_event(event: MessengerEvent) -> None:
        if isinstance(event, ConnectionClosed) and event.inbound:
            closed.append(event)

    server.on_event = on_event
    port = server.subscribe("amqp://~127.0.0.1:0").port
    received: list[Any] = []
    message = Message()

    def take_all() -> None:
        while server.incoming:
            server.get(message)
            received.append(message.subject)

    # 1. A client that speaks nonsense.
    garbage = socket.create_connection(("127.0.0.1", port))
    garbage.sendall(b"GET / HTTP/1.1\r\nHost: example\r\n\r\n")
    # 2. A client that starts AMQP, then resets the connection.
    reset = socket.create_connection(("127.0.0.1", port))
    reset.sendall(b"AMQP\x03\x01\x00\x00")
    # 3. A Proton client that closes its connection with an error condition.
    proton_client = Container(ClosingClient(f"amqp://127.0.0.1:{port}"))
    proton_thread = threading.Thread(target=proton_client.run, daemon=True)
    proton_thread.start()
    # 4. A Messenger client in a child process, killed while it streams.
    flooder = Child(CHILD_FLOODER, f"amqp://127.0.0.1:{port}/in")
    try:
        # The server's own recv loop gets the flood (recv must not raise).
        while len(received) < 3:
            server.recv()
            take_all()
        reset.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        reset.close()  # RST
    finally:
        flooder.kill()
        garbage.close()
    proton_thread.join(DEADLINE)
    assert not proton_thread.is_alive()

    # Every failed inbound connection is noticed, none raises.
    pump_until([server], lambda: (take_all(), len(closed) >= 4)[1], what="four inbound closes")
    errors_seen = [event.error or "" for event in closed]
    assert len(errors_seen) == 4, errors_seen
    assert any("Unknown protocol" in error for error in errors_seen), errors_seen
    assert any("amqp:internal-error: client crashed" in error for error in errors_seen)
    assert sum("reset" in error or "aborted" in error for error in errors_seen) == 2

    # 5. A well-behaved client still gets everything through to the recv loop.
    flood_count = len(received)
    sent: list[Any] = []

    def good_client() -> None:
        client = started("good", timeout=DEADLINE, outgoing_window=20)
        try:
            trackers = [
                client.put(Message(address=f"amqp://127.0.0.1:{port}/in", subject=f"good-{i}"))
                for i in range(20)
            ]
            client.send()
            sent.extend(client.status(t) for t in trackers)
        finally:
            client.stop()

    errors: list[BaseException] = []
    thread = threading.Thread(
        target=lambda: _capture(good_client, errors), daemon=True, name="good-client"
    )
    thread.start()
    while sum(1 for s in received if s.startswith("good-")) < 20:
        server.recv()
        take_all()
    # The client waits for the acceptances and for its close to be answered.
    pump_until([server], lambda: not thread.is_alive(), what="the good client to finish")
    assert errors == []
    assert [s for s in received[flood_count:] if s.startswith("good-")] == [
        f"good-{i}" for i in range(20)
    ]
    assert sent == [ACCEPTED] * 20
    server.timeout = 5
    server.stop()
    assert server.stopped


CHILD_ASKER = """
import sys
from msgr_tui.messenger import Message, Messenger

messenger = Messenger("asker")  # never calls recv: grants no credit for the reply
messenger.start()
messenger.put(Message(address=sys.argv[1], body="question", reply_to="~/replies"))
messenger.send()
print("asked", flush=True)
while True:
    messenger.work()
"""


def test_a_reply_over_an_inbound_connection_whose_client_dies_is_aborted_quietly() -> None:
    server = started("server", timeout=LARGE_TIMEOUT, outgoing_window=5)
    attached: list[LinkOpened] = []
    server.on_event = lambda event: (
        attached.append(event) if isinstance(event, LinkOpened) and event.role == "sender" else None
    )
    port = server.subscribe("amqp://~127.0.0.1:0").port
    child = Child(CHILD_ASKER, f"amqp://127.0.0.1:{port}/service")
    try:
        server.recv(1)
        question = Message()
        server.get(question)
        assert question.reply_to == "amqp://asker/replies"
        assert child.next_line() == "asked"
        # The reply goes back over the connection the child opened.
        tracker = server.put(Message(address=question.reply_to, body="answer"))
        pump_until(
            [server],
            lambda: any(event.address.endswith("/replies") for event in attached),
            what="the reply link attached",
        )
        assert server.status(tracker) is PENDING
        assert server.buffered(tracker) is True  # the child grants no credit
    finally:
        child.kill()
    # The client vanished: its connection was never ours, so send() does not
    # raise; the reply it will never get reports ABORTED.
    server.send()
    assert server.status(tracker) is ABORTED
    assert server.outgoing == 0
    server.timeout = 5
    server.stop()
    assert server.stopped


def _capture(target: Callable[[], None], errors: list[BaseException]) -> None:
    try:
        target()
    except BaseException as error:
        errors.append(error)
