"""Peers that refuse, fail or vanish: the Messenger goes on and says why.

As the original Messenger did (seen on ../shared/oracle/run-original), a
failure on the wire never raises from put, send, recv or work: the messages
it affects report ABORTED, a subscription it ends reports FAILED, and the
reason is at hand as data: ``Messenger.failure(tracker)``,
``Subscription.failure`` and a ``FailureReported`` event. With
``raise_failures = True`` (an extension) the next call raises it instead.

The misbehaving peers are real: a python-qpid-proton Container in a thread
(refusing links, ending sessions, closing connections with a condition,
dropping the socket), a Messenger in a child process that is SIGKILLed, and
raw TCP sockets that never speak AMQP or speak nonsense. Blocking calls get a
large timeout where a failure is expected: one noticed only at the timeout
would raise Timeout and fail the test.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from proton import Condition as ProtonCondition
from proton import Connection as ProtonConnection
from proton import Message as ProtonMessage
from proton import Transport as ProtonTransport
from proton.reactor import Container

from msgr_tui.messenger import (
    ABORTED,
    ACCEPTED,
    PENDING,
    Message,
    MessengerException,
    Timeout,
)
from msgr_tui.messenger.errors import LinkRefused, TransportFailed
from msgr_tui.messenger.events import (
    ConnectionClosed,
    LinkOpened,
    MessengerEvent,
)
from msgr_tui.messenger.failures import Condition
from msgr_tui.messenger.subscription import SubscriptionState
from tests.helpers import (
    DEADLINE,
    ThreadedPeer,
    failures_heard,
    pump_until,
    started,
    stop_all,
    wait_for,
)
from tests.peers import Child, PeerBehaviour, RawPeer, refuse_names_starting_with

ROOT = Path(__file__).resolve().parents[2]
LARGE_TIMEOUT = 30.0


# ------------------------------------------------------------ refused links


def test_a_refused_receiver_link_fails_its_subscription_with_the_peers_condition() -> None:
    with RawPeer(refuse_names_starting_with("missing")) as peer:
        client = started("subscriber", blocking=False)
        heard = failures_heard(client)
        subscription = client.subscribe(f"{peer.address}/missing-queue")
        client.recv(1)  # grants the credit; a refusal is not an error to raise
        pump_until(
            [client], lambda: subscription.state is SubscriptionState.FAILED, what="the refusal"
        )
        failure = subscription.failure
        assert failure is not None
        assert failure.where == f"amqp://127.0.0.1:{peer.port}/missing-queue"
        assert failure.condition == Condition("amqp:not-found", "no node named 'missing-queue'")
        assert failure.permanent
        assert "amqp:not-found" in failure.reason
        assert heard == [failure]
        # The original's blocking recv went on waiting on the open connection.
        client.blocking = True
        client.timeout = 0.2
        with pytest.raises(Timeout):
            client.recv(1)
        # Still usable on the same connection: a send to a node that exists works.
        client.put(Message(address=f"{peer.address}/present", body="fine"))
        client.outgoing_window = 1
        tracker = client.put(Message(address=f"{peer.address}/present", body="tracked"))
        client.timeout = LARGE_TIMEOUT
        client.send()
        assert client.status(tracker) is ACCEPTED
        assert peer.behaviour.received == ["fine", "tracked"]
        client.timeout = 5
        client.stop()


def test_a_refused_sender_link_aborts_its_messages_and_send_returns() -> None:
    with RawPeer(refuse_names_starting_with("missing")) as peer:
        client = started("sender", timeout=LARGE_TIMEOUT, outgoing_window=10)
        heard = failures_heard(client)
        trackers = [
            client.put(Message(address=f"{peer.address}/missing-topic", body=index))
            for index in range(3)
        ]
        client.send()  # returns once every message is answered or aborted
        assert [client.status(t) for t in trackers] == [ABORTED] * 3
        failures = {client.failure(t) for t in trackers}
        assert len(failures) == 1
        failure = failures.pop()
        assert failure is not None
        assert failure.where == f"amqp://127.0.0.1:{peer.port}/missing-topic"
        assert failure.condition is not None and failure.condition.name == "amqp:not-found"
        assert heard == [failure]
        assert client.outgoing == 0
        assert not any(client.buffered(t) for t in trackers)
        client.send()  # nothing left to wait for
        # The connection itself is fine: another node on the same peer works.
        good = client.put(Message(address=f"{peer.address}/present", body="ok"))
        client.send()
        assert client.status(good) is ACCEPTED
        assert client.failure(good) is None
        assert peer.behaviour.received == ["ok"]
        client.timeout = 5
        client.stop()


def test_a_refused_subscription_gives_its_credit_back_to_the_healthy_one() -> None:
    with RawPeer(refuse_names_starting_with("missing", feed=["a", "b", "c"])) as peer:
        client = started("subscriber", timeout=LARGE_TIMEOUT)
        # Subscribed first, the doomed link is first in line for credit.
        missing = client.subscribe(f"{peer.address}/missing")
        feed = client.subscribe(f"{peer.address}/feed")
        bodies = []
        message = Message()
        while len(bodies) < 3:
            client.recv(1)  # one credit at a time: once refused, it can only go to the feed
            while client.incoming:
                client.get(message)
                bodies.append(message.body)
        assert bodies == ["a", "b", "c"]
        assert missing.state is SubscriptionState.FAILED
        assert feed.state is SubscriptionState.ATTACHED
        client.timeout = 5
        client.stop()


@pytest.mark.parametrize("direction", ["recv", "send"])
def test_raise_failures_opts_into_exceptions_that_carry_the_failure(direction: str) -> None:
    with RawPeer(refuse_names_starting_with("missing")) as peer:
        client = started("strict", timeout=LARGE_TIMEOUT, outgoing_window=5, raise_failures=True)
        address = f"{peer.address}/missing"
        with pytest.raises(LinkRefused) as caught:
            if direction == "recv":
                subscription = client.subscribe(address)
                client.recv(1)
            else:
                tracker = client.put(Message(address=address, body=1))
                client.send()
        error = caught.value
        failure = subscription.failure if direction == "recv" else client.failure(tracker)
        assert error.failure == failure
        assert error.condition == "amqp:not-found"
        assert error.address == f"amqp://127.0.0.1:{peer.port}/missing"
        assert str(error) == str(failure)
        client.raise_failures = False
        client.timeout = 5
        client.stop()


# ------------------------------------------------------------ sessions, connections


@pytest.mark.parametrize("direction", ["recv", "send"])
def test_a_session_ended_with_an_error_fails_its_links_with_the_reason(direction: str) -> None:
    with RawPeer(refuse_names_starting_with("doomed", "end-session")) as peer:
        client = started("client", timeout=LARGE_TIMEOUT, outgoing_window=5)
        if direction == "recv":
            subscription = client.subscribe(f"{peer.address}/doomed")
            client.blocking = False
            client.recv(1)
            pump_until(
                [client], lambda: subscription.state is SubscriptionState.FAILED, what="the end"
            )
            failure = subscription.failure
        else:
            tracker = client.put(Message(address=f"{peer.address}/doomed", body=1))
            client.send()
            assert client.status(tracker) is ABORTED
            failure = client.failure(tracker)
        assert failure is not None
        assert "session ended by peer" in failure.reason
        assert failure.condition == Condition(
            "amqp:resource-limit-exceeded", "session quota used up"
        )
        assert failure.where == f"amqp://127.0.0.1:{peer.port}/doomed"
        client.blocking = True
        client.timeout = 5
        client.stop()
        assert client.stopped


def test_after_the_peer_ends_the_session_the_same_peer_is_still_reachable() -> None:
    with RawPeer(refuse_names_starting_with("doomed", "end-session")) as peer:
        client = started("client", timeout=LARGE_TIMEOUT, outgoing_window=5)
        doomed = client.put(Message(address=f"{peer.address}/doomed", body=1))
        client.send()
        assert client.status(doomed) is ABORTED
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
def test_a_connection_closed_with_an_error_reports_the_peers_condition(direction: str) -> None:
    with RawPeer(refuse_names_starting_with("", "close-connection")) as peer:
        client = started("client", timeout=LARGE_TIMEOUT, outgoing_window=5)
        if direction == "recv":
            subscription = client.subscribe(f"{peer.address}/anything")
            # Nothing is left to receive from: the original raised "no valid sources".
            with pytest.raises(MessengerException, match="no valid sources") as caught:
                client.recv(1)
            assert "broker going down for maintenance" in str(caught.value)
            assert subscription.state is SubscriptionState.FAILED
            failure = subscription.failure
        else:
            tracker = client.put(Message(address=f"{peer.address}/anything", body=1))
            client.send()
            assert client.status(tracker) is ABORTED
            failure = client.failure(tracker)
        assert failure is not None
        assert failure.where == f"amqp://127.0.0.1:{peer.port}"
        assert failure.condition == Condition(
            "amqp:connection:forced", "broker going down for maintenance"
        )
        assert not failure.permanent  # a broker that went down may come back
        client.stop()  # the connection is gone: nothing to wait for
        assert client.stopped


def test_a_refused_connection_aborts_at_once_and_raise_failures_raises_it() -> None:
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    lenient = started("lenient", timeout=LARGE_TIMEOUT, outgoing_window=5)
    tracker = lenient.put(Message(address=f"amqp://127.0.0.1:{port}/q", body=1))
    lenient.send()  # as the original: at once, for a refused port
    assert lenient.status(tracker) is ABORTED
    failure = lenient.failure(tracker)
    assert failure is not None and failure.where == f"amqp://127.0.0.1:{port}"
    assert "Connection refused" in failure.reason
    lenient.stop()

    strict = started("strict", timeout=LARGE_TIMEOUT, outgoing_window=5, raise_failures=True)
    tracker = strict.put(Message(address=f"amqp://127.0.0.1:{port}/q", body=1))
    with pytest.raises(TransportFailed, match="Connection refused") as caught:
        strict.send()
    assert caught.value.failure == strict.failure(tracker)
    assert strict.status(tracker) is ABORTED
    strict.stop()


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
    client.send()  # returns: what was unanswered is aborted
    # What the peer had answered stays answered; what it held is ABORTED.
    assert [client.status(t) for t in trackers] == [ACCEPTED] * 3 + [ABORTED] * 3
    failure = client.failure(trackers[3])
    assert failure is not None and failure.where == f"amqp://127.0.0.1:{port}"
    assert [client.failure(t) for t in trackers[3:]] == [failure] * 3
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
        # Once the only source is gone, recv has nothing to wait on: the
        # original raised "no valid sources"; here the reason comes with it.
        with pytest.raises(MessengerException, match="no valid sources") as caught:
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
        event.connection.condition = ProtonCondition("amqp:internal-error", "client crashed")
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
    pump_until(
        [server],
        lambda: (take_all(), len(closed) >= 4)[1],
        what="four inbound closes",
        describe=lambda: f"closes so far: {[event.error for event in closed]}",
    )
    errors_seen = [event.error or "" for event in closed]
    assert len(errors_seen) == 4, errors_seen
    assert any("Unknown protocol" in error for error in errors_seen), errors_seen
    assert any("amqp:internal-error: client crashed" in error for error in errors_seen)
    assert sum("reset" in error or "aborted" in error for error in errors_seen) == 2, errors_seen

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


def test_a_peer_that_vanishes_inside_a_frame_is_closed_not_waited_for() -> None:
    # Proton 0.40 notices an abort only between frames; a client killed while
    # it streams a large message leaves half a frame: the connection must end.
    server = started("server", blocking=False)
    closed: list[ConnectionClosed] = []
    server.on_event = lambda event: (
        closed.append(event) if isinstance(event, ConnectionClosed) else None
    )
    port = server.subscribe("amqp://~127.0.0.1:0").port
    server.recv(1)
    # A client made with Proton's engine in memory: open, attach, one 256 KiB transfer.
    transport = ProtonTransport()
    connection = ProtonConnection()
    transport.bind(connection)
    connection.open()
    session = connection.session()
    session.open()
    sender = session.sender("half")
    sender.target.address = "q"
    sender.open()
    wire = bytearray()

    def drain() -> None:
        while (pending := transport.pending()) > 0:
            wire.extend(transport.peek(pending))
            transport.pop(pending)

    drain()
    with socket.create_connection(("127.0.0.1", port)) as client:
        client.sendall(wire)
        client.setblocking(False)

        def credited() -> bool:
            with contextlib.suppress(BlockingIOError):
                transport.push(client.recv(65536))
            return sender.credit > 0

        pump_until([server], credited, what="credit from the server")
        sender.delivery(b"tag")
        sender.send(ProtonMessage(body=b"x" * 256 * 1024).encode())
        sender.advance()
        wire.clear()
        drain()
        client.sendall(wire[: len(wire) - 1000])  # all but the end of the transfer
    pump_until(
        [server],
        lambda: bool(closed),
        what="the half-sent connection to close",
        describe=lambda: f"connections: {server.connections}",
    )
    assert closed[0].inbound
    assert closed[0].failure is not None and "aborted" in closed[0].failure.reason
    assert server.incoming == 0  # half a message is no message
    stop_all(server)
