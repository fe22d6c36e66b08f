"""Volume and threads: big bodies, long streams, Messengers in several threads.

Every exchange is real AMQP over loopback between Messengers. Each Messenger
is only ever called from the thread that owns it, except ``interrupt()``.
"""

from __future__ import annotations

import hashlib
import queue
import random
import threading
from collections.abc import Callable
from typing import Any

import pytest

from msgr_tui.messenger import (
    ACCEPTED,
    PENDING,
    Interrupt,
    Message,
    Messenger,
    Timeout,
)
from msgr_tui.messenger.events import LinkOpened, MessengerEvent
from tests.helpers import DEADLINE, ThreadedPeer, pump_until, started, stop_all, wait_for

MIB = 1 << 20


def _kind(body: object) -> str:
    # Proton 0.40 decodes AMQP binary as a memoryview (its own Message class does).
    if isinstance(body, str):
        return "string"
    if isinstance(body, bytes | bytearray | memoryview):
        return "binary"
    return type(body).__name__


def _digest(body: bytes | str) -> str:
    data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    return hashlib.sha256(data).hexdigest()


def _run_in_thread(target: Callable[[], None], name: str) -> tuple[threading.Thread, list]:
    """Start ``target`` in a daemon thread; its exception (if any) lands in the list."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            target()
        except BaseException as error:  # reported to the test thread
            errors.append(error)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread, errors


def _join(thread: threading.Thread, errors: list[BaseException]) -> None:
    thread.join(DEADLINE)
    assert not thread.is_alive(), f"thread {thread.name} did not finish"
    if errors:
        raise errors[0]


class GatedPeer:
    """A listening Messenger in its own thread that grants no credit until ``open_gate()``.

    Until then it only pumps (``work``), so its links attach but a sender to
    it waits for credit forever. Once the gate is open it receives like any
    peer (incoming_window 0: every message is accepted on ``get``).
    """

    def __init__(self, name: str) -> None:
        self.messenger = Messenger(name)
        self.received: list[Any] = []
        self.errors: list[BaseException] = []
        self._gate = threading.Event()
        self._stop = threading.Event()
        self._ready: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"gated-{name}")
        self.port = 0

    @property
    def address(self) -> str:
        return f"amqp://127.0.0.1:{self.port}"

    def __enter__(self) -> GatedPeer:
        self._thread.start()
        outcome = self._ready.get(timeout=DEADLINE)
        if isinstance(outcome, BaseException):
            raise outcome
        self.port = outcome
        return self

    def _run(self) -> None:
        messenger = self.messenger
        try:
            messenger.start()
            self._ready.put(messenger.subscribe("amqp://~127.0.0.1:0").port)
        except BaseException as error:
            self._ready.put(error)
            return
        message = Message()
        while not self._stop.is_set():
            try:
                if self._gate.is_set():
                    messenger.recv()
                    while messenger.incoming:
                        messenger.get(message)
                        self.received.append(message.body)
                else:
                    messenger.work(0.5)
            except Interrupt:
                continue
            except Exception as error:
                self.errors.append(error)
                return
        messenger.timeout = 5
        try:
            messenger.stop()
        except Exception as error:
            self.errors.append(error)

    def open_gate(self) -> None:
        self._gate.set()
        self.messenger.interrupt()  # wake it from work() so it calls recv()

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self._stop.set()
        self.messenger.interrupt()
        self._thread.join(DEADLINE)
        assert not self._thread.is_alive(), "gated peer did not stop"
        if exc_type is None:  # do not hide the test's own failure
            assert self.errors == []


# ---------------------------------------------------------------- big bodies


def test_one_mebibyte_bodies_travel_intact_both_ways() -> None:
    # Proton 0.40 decodes AMQP binary into a memoryview of a buffer that the
    # Message reuses on its next decode, so bodies are hashed on arrival.
    at_peer: list[tuple[str, str]] = []

    def echo(messenger: Messenger, message: Message, tracker: int) -> None:
        at_peer.append((_kind(message.body), _digest(message.body)))
        reply = Message(address=message.reply_to, body=message.body)
        reply.correlation_id = message.correlation_id
        messenger.put(reply)

    rng = random.Random(1234)
    bodies: list[bytes | str] = []
    for index in range(3):
        bodies.append(rng.randbytes(MIB))
        # Multi-byte characters: 1 MiB of characters, more than 1 MiB encoded.
        alphabet = "abcdefghij\u00e9\u00df\u20ac\u6f22\U0001f600"
        bodies.append("".join(rng.choices(alphabet, k=MIB - index)))
    sent = [(_kind(body), _digest(body)) for body in bodies]

    with ThreadedPeer("echo", handler=echo) as peer:
        client = started("big-client", timeout=DEADLINE, outgoing_window=len(bodies))
        trackers = []
        for index, body in enumerate(bodies):
            message = Message(address=f"{peer.address}/big", body=body, reply_to="~/back")
            message.correlation_id = index
            trackers.append(client.put(message))
        client.send()
        assert [client.status(t) for t in trackers] == [ACCEPTED] * len(bodies)

        replies: list[tuple[Any, str, str, str | None]] = []
        reply = Message()
        while len(replies) < len(bodies):
            client.recv()
            while client.incoming:
                client.get(reply)
                replies.append(
                    (reply.correlation_id, _kind(reply.body), _digest(reply.body), reply.address)
                )
        client.stop()

    assert peer.errors == []
    # What the peer got is what was sent: same types, same bytes, same order.
    assert at_peer == sent
    # And what came back too.
    assert [r[0] for r in replies] == list(range(len(bodies)))
    assert [(r[1], r[2]) for r in replies] == sent
    assert {r[3] for r in replies} == {"amqp://big-client/back"}


# ---------------------------------------------------------------- long stream


def test_a_4096_message_stream_arrives_in_order_once_each_and_is_accepted() -> None:
    count = 4096
    receiver_status: list[Any] = []

    def accept(messenger: Messenger, message: Message, tracker: int) -> None:
        messenger.accept(tracker)
        receiver_status.append(messenger.status(tracker))

    with ThreadedPeer("sink", handler=accept, incoming_window=64) as peer:
        sender = started("streamer", outgoing_window=count, timeout=DEADLINE)
        trackers = [
            sender.put(Message(address=f"{peer.address}/stream", body=index))
            for index in range(count)
        ]
        assert trackers == sorted(set(trackers))  # monotonically increasing handles
        sender.send()
        statuses = [sender.status(t) for t in trackers]
        assert sender.outgoing == 0
        sender.stop()

    assert peer.errors == []
    bodies = [r.body for r in peer.received]
    assert len(bodies) == count
    assert bodies == list(range(count))  # in order, each exactly once
    assert all(status is ACCEPTED for status in statuses), {
        repr(s) for s in statuses if s is not ACCEPTED
    }
    assert all(status is ACCEPTED for status in receiver_status)


# ---------------------------------------------------------------- threads


@pytest.mark.parametrize("clients", [1, 2])
def test_blocking_clients_in_threads_send_to_a_blocking_server_thread(clients: int) -> None:
    per_client = 300
    expected = clients * per_client
    ports: queue.Queue = queue.Queue()
    received: list[tuple[str, int]] = []

    def server() -> None:
        messenger = started("server", timeout=DEADLINE)
        try:
            ports.put(messenger.subscribe("amqp://~127.0.0.1:0").port)
            message = Message()
            while len(received) < expected:
                messenger.recv()
                while messenger.incoming:
                    messenger.get(message)
                    received.append((message.properties["client"], message.body))
        finally:
            messenger.stop()

    server_thread, server_errors = _run_in_thread(server, "server")
    port = ports.get(timeout=DEADLINE)
    go = threading.Barrier(clients, timeout=DEADLINE)
    accepted: dict[str, list[Any]] = {}

    def client(name: str) -> None:
        messenger = started(name, timeout=DEADLINE, outgoing_window=per_client)
        try:
            go.wait()  # both clients really send at the same time
            trackers = []
            for index in range(per_client):
                trackers.append(
                    messenger.put(
                        Message(
                            address=f"amqp://127.0.0.1:{port}/in",
                            body=index,
                            properties={"client": name},
                        )
                    )
                )
                if index % 50 == 49:
                    messenger.send()
            messenger.send()
            accepted[name] = [messenger.status(t) for t in trackers]
        finally:
            messenger.stop()

    names = [f"client-{index}" for index in range(clients)]
    client_threads = [_run_in_thread(lambda n=name: client(n), name) for name in names]
    for thread, errors in client_threads:
        _join(thread, errors)
    _join(server_thread, server_errors)

    assert len(received) == expected
    for name in names:
        from_client = [body for who, body in received if who == name]
        assert from_client == list(range(per_client)), name  # complete, in order, once each
        assert accepted[name] == [ACCEPTED] * per_client


def test_three_nonblocking_messengers_in_one_thread_pass_messages_around_a_ring() -> None:
    per_hop = 40
    laps = 3
    names = ["A", "B", "C"]
    ring = {name: started(name, blocking=False, outgoing_window=per_hop + laps) for name in names}
    ports = {name: m.subscribe("amqp://~127.0.0.1:0").port for name, m in ring.items()}
    successor = {"A": "B", "B": "C", "C": "A"}
    got: dict[str, list[Any]] = {name: [] for name in names}
    token_hops: list[str] = []

    def address_after(name: str) -> str:
        return f"amqp://127.0.0.1:{ports[successor[name]]}/ring"

    trackers: dict[str, list[int]] = {name: [] for name in names}
    for name, messenger in ring.items():
        messenger.recv()  # non-blocking: grants credit and returns at once
        for index in range(per_hop):
            message = Message(address=address_after(name), body=f"{name}{index}")
            trackers[name].append(messenger.put(message))
    # One token goes round the ring ``laps`` times, forwarded by whoever gets it.
    ring["A"].put(Message(address=address_after("A"), body="token", subject="0"))

    def drained() -> bool:
        for name, messenger in ring.items():
            while messenger.incoming:
                message = Message()
                messenger.get(message)
                if message.body == "token":
                    hop = int(message.subject) + 1
                    token_hops.append(name)
                    if hop < 3 * laps:
                        message.subject = str(hop)
                        message.address = address_after(name)
                        messenger.put(message)
                else:
                    got[name].append(message.body)
        return len(token_hops) == 3 * laps and all(len(v) == per_hop for v in got.values())

    # work(0) only (pump_until): nobody ever blocks, one thread drives all three.
    members = list(ring.values())
    pump_until(members, drained, what="every message around the ring")

    for name in names:
        before = {"A": "C", "B": "A", "C": "B"}[name]
        assert got[name] == [f"{before}{index}" for index in range(per_hop)]
    assert token_hops == ["B", "C", "A"] * laps
    # Everyone's messages were answered (accepted on get, incoming_window 0).
    pump_until(
        members,
        lambda: all(m.status(t) is ACCEPTED for name, m in ring.items() for t in trackers[name]),
        what="acceptances",
    )
    stop_all(*ring.values())


# ---------------------------------------------------------------- interrupt


def test_interrupt_from_another_thread_breaks_a_send_waiting_for_credit() -> None:
    with GatedPeer("stingy") as peer:
        client = started("impatient", outgoing_window=10)  # timeout: forever
        sending = False
        attached_while_sending = threading.Event()

        def on_event(event: MessengerEvent) -> None:
            # on_event runs inside the call doing the I/O: here, in this thread.
            if isinstance(event, LinkOpened) and event.role == "sender" and sending:
                attached_while_sending.set()

        client.on_event = on_event

        def interrupter() -> None:
            # The link attached inside send(), and the peer grants no credit: send()
            # is waiting, and can only stop by being interrupted.
            assert attached_while_sending.wait(DEADLINE), "send() never saw its link attach"
            client.interrupt()

        thread, errors = _run_in_thread(interrupter, "interrupter")
        tracker = client.put(Message(address=f"{peer.address}/q", body="patient"))
        sending = True
        with pytest.raises(Interrupt):
            client.send()
        sending = False
        _join(thread, errors)
        assert attached_while_sending.is_set()

        # Nothing was lost, and the Messenger is still usable.
        assert client.status(tracker) is PENDING
        assert client.buffered(tracker) is True
        assert client.outgoing == 1
        peer.open_gate()
        client.timeout = DEADLINE
        client.send()
        assert client.status(tracker) is ACCEPTED
        second = client.put(Message(address=f"{peer.address}/q", body="after"))
        client.send()
        assert client.status(second) is ACCEPTED
        wait_for(lambda: len(peer.received) == 2, what="both messages at the peer")
        assert peer.received == ["patient", "after"]
        client.stop()
        assert client.stopped


# ---------------------------------------------------------------- timeouts


def test_send_times_out_while_the_peer_grants_no_credit_and_keeps_the_message() -> None:
    with GatedPeer("mute") as peer:
        client = started("waiter", outgoing_window=10, timeout=0.3)
        tracker = client.put(Message(address=f"{peer.address}/q", body="kept"))
        with pytest.raises(Timeout):
            client.send()
        assert client.status(tracker) is PENDING  # not ABORTED: nothing failed
        assert client.buffered(tracker) is True
        assert client.outgoing == 1
        with pytest.raises(Timeout):
            client.send()  # timing out again changes nothing
        assert client.status(tracker) is PENDING
        # The message was kept: once the peer grants credit it goes out.
        peer.open_gate()
        client.timeout = DEADLINE
        client.send()
        assert client.status(tracker) is ACCEPTED
        assert client.outgoing == 0
        wait_for(lambda: peer.received == ["kept"], what="the kept message")
        client.stop()


def test_send_times_out_while_the_peer_holds_the_message_unanswered() -> None:
    # incoming_window with no handler: the peer takes the message but never
    # accepts or settles it, so no disposition ever comes back.
    with ThreadedPeer("hoarder", incoming_window=10) as peer:
        client = started("waiter", outgoing_window=10, timeout=0.3)
        trackers = [
            client.put(Message(address=f"{peer.address}/q", body=index)) for index in range(3)
        ]
        with pytest.raises(Timeout):
            client.send()
        # (Pumped here too, in case the peer's credit came after the timeout.)
        pump_until([client], lambda: len(peer.received) == 3, what="the messages at the peer")
        # On the wire and delivered, but unanswered: PENDING, not buffered, not lost.
        assert [client.status(t) for t in trackers] == [PENDING] * 3
        assert [client.buffered(t) for t in trackers] == [False] * 3
        assert client.outgoing == 0
        assert [r.body for r in peer.received] == [0, 1, 2]
        client.stop()
    assert peer.errors == []
