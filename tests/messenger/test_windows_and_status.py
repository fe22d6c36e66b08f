"""Outgoing and incoming windows, tracker statuses, settle, buffered and send(n).

Messenger to Messenger over loopback, plus plain python-qpid-proton programs
for what a Messenger never does itself (a receiver answering MODIFIED, a sender
that pre-settles, a peer whose connection vanishes mid-conversation).
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from proton import Message as ProtonMessage
from proton.handlers import MessagingHandler
from proton.reactor import ApplicationEvent, AtMostOnce, Container, EventInjector

from msgr_tui.messenger import (
    ABORTED,
    ACCEPTED,
    MODIFIED,
    PENDING,
    REJECTED,
    RELEASED,
    SETTLED,
    Message,
    Messenger,
    Timeout,
)
from msgr_tui.messenger.events import LinkOpened, MessengerEvent, TrackerUpdated
from tests.helpers import DEADLINE, ThreadedPeer, pump_until, started, stop_all, wait_for

# ------------------------------------------------------------------ helpers


class ProtonProgram(MessagingHandler):
    """Base for the plain Proton programs below: remembers its connections."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.connections: list[Any] = []
        self.received: list[Any] = []

    def on_connection_init(self, event: Any) -> None:
        self.connections.append(event.connection)


class ProtonPeer:
    """A python-qpid-proton Container running ``program`` in its own thread.

    With ``listen`` it accepts connections on 127.0.0.1 (``port``). Leaving the
    ``with`` block closes the listener and every connection from the
    container's own thread, then waits for the thread to end.
    """

    def __init__(self, program: ProtonProgram, listen: bool = True) -> None:
        self.program = program
        self.container = Container(program)
        self.injector = EventInjector()
        self.container.selectable(self.injector)
        self.acceptor = self.container.listen("127.0.0.1:0") if listen else None
        # The acceptor's listening socket knows the ephemeral port it got.
        self.port = self.acceptor._selectable._delegate.getsockname()[1] if listen else 0
        program.on_shutdown = self._shutdown
        self._thread = threading.Thread(target=self.container.run, daemon=True, name="proton")

    @property
    def address(self) -> str:
        return f"amqp://127.0.0.1:{self.port}"

    def _shutdown(self, event: Any) -> None:
        if self.acceptor is not None:
            self.acceptor.close()
        for connection in self.program.connections:
            if not connection.state & connection.LOCAL_CLOSED:
                connection.close()
        self.injector.close()

    def __enter__(self) -> ProtonPeer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.injector.trigger(ApplicationEvent("shutdown"))
        self._thread.join(DEADLINE)
        assert not self._thread.is_alive(), "proton container did not stop"


class AnsweringReceiver(ProtonProgram):
    """Receives every message and answers it with ``answer(program, event)``."""

    def __init__(self, answer: Any) -> None:
        super().__init__(auto_accept=False)
        self.answer = answer

    def on_message(self, event: Any) -> None:
        self.received.append(event.message.body)
        self.answer(self, event)


class VanishingReceiver(ProtonProgram):
    """Takes ``count`` messages without answering, then drops its sockets (no AMQP close)."""

    def __init__(self, count: int) -> None:
        super().__init__(auto_accept=False)
        self.count = count

    def on_message(self, event: Any) -> None:
        self.received.append(event.message.body)
        if len(self.received) == self.count:
            event.transport.close_tail()
            event.transport.close_head()


class PresettlingSender(ProtonProgram):
    """Sends ``bodies`` to ``url`` pre-settled (at-most-once), then stays connected."""

    def __init__(self, url: str, bodies: list[Any]) -> None:
        super().__init__()
        self.url = url
        self.bodies = list(bodies)

    def on_start(self, event: Any) -> None:
        event.container.create_sender(self.url, options=AtMostOnce())

    def on_sendable(self, event: Any) -> None:
        while event.sender.credit and self.bodies:
            event.sender.send(ProtonMessage(body=self.bodies.pop(0)))


def connected_pair(incoming_window: int = 0) -> tuple[Messenger, Messenger, str]:
    """A sender (outgoing window 10) and a listening receiver, both non-blocking."""
    receiver = started("receiver", incoming_window=incoming_window, blocking=False)
    port = receiver.subscribe("amqp://~127.0.0.1:0").port
    sender = started("sender", outgoing_window=10, blocking=False)
    return sender, receiver, f"amqp://127.0.0.1:{port}/inbox"


def deliver(sender: Messenger, receiver: Messenger, address: str, bodies: list[Any]) -> list[int]:
    """Put ``bodies`` and pump until they all sit in the receiver's incoming queue."""
    trackers = [sender.put(Message(address=address, body=body)) for body in bodies]
    receiver.recv(len(bodies))
    pump_until(
        [sender, receiver],
        lambda: receiver.incoming == len(bodies),
        what=f"{len(bodies)} messages at the receiver",
    )
    return trackers


def got(receiver: Messenger, count: int) -> list[int]:
    return [receiver.get() for _ in range(count)]


# -------------------------------------------------------- outgoing window


def test_trackers_in_the_outgoing_window_report_pending_then_accepted() -> None:
    with ThreadedPeer("peer") as peer:
        client = started("client", outgoing_window=3, timeout=10)
        trackers = [client.put(Message(address=f"{peer.address}/q", body=i)) for i in range(3)]
        assert [client.status(t) for t in trackers] == [PENDING] * 3
        client.send()
        assert [client.status(t) for t in trackers] == [ACCEPTED] * 3
        client.stop()


def test_trackers_older_than_the_outgoing_window_report_none() -> None:
    with ThreadedPeer("peer") as peer:
        client = started("client", outgoing_window=2, timeout=10)
        trackers = [client.put(Message(address=f"{peer.address}/q", body=i)) for i in range(4)]
        assert [client.status(t) for t in trackers] == [None, None, PENDING, PENDING]
        client.send()
        assert [client.status(t) for t in trackers] == [None, None, ACCEPTED, ACCEPTED]
        wait_for(lambda: len(peer.received) == 4, what="all four messages")
        client.stop()


def test_with_outgoing_window_zero_no_status_is_kept() -> None:
    with ThreadedPeer("peer") as peer:
        client = started("client", timeout=10)
        assert client.outgoing_window == 0
        tracker = client.put(Message(address=f"{peer.address}/q", body="untracked"))
        assert client.status(tracker) is None
        client.send()
        assert client.status(tracker) is None
        wait_for(lambda: peer.received, what="the message")
        assert peer.received[0].body == "untracked"
        client.stop()


def test_with_outgoing_window_zero_messages_go_pre_settled() -> None:
    # Seen on the original: the receiver's incoming tracker reports SETTLED at
    # once, and send() returns without an answer (the receiver never gives one).
    receiver = started("receiver", incoming_window=5, blocking=False)
    port = receiver.subscribe("amqp://~127.0.0.1:0").port
    receiver.recv(2)
    sender = started("sender", outgoing_window=0, blocking=False)
    for body in ("a", "b"):
        sender.put(Message(address=f"amqp://127.0.0.1:{port}/q", body=body))
    pump_until([sender, receiver], lambda: receiver.incoming == 2, what="both messages")
    sender.blocking = True
    sender.timeout = 10
    sender.send()  # written out, and nobody will answer: nothing to wait for
    assert sender.outgoing == 0
    trackers = got(receiver, 2)
    assert [receiver.status(t) for t in trackers] == [SETTLED, SETTLED]
    stop_all(sender, receiver)


def test_a_tracker_that_falls_out_of_the_outgoing_window_is_settled_at_once() -> None:
    # Seen on the original: with window 1, the older messages reach the
    # receiver settled; only the newest waits for an answer.
    sender, receiver, address = connected_pair(incoming_window=5)
    sender.outgoing_window = 1
    sent = deliver(sender, receiver, address, ["old", "older", "newest"])
    incoming = got(receiver, 3)
    assert [receiver.status(t) for t in incoming] == [SETTLED, SETTLED, PENDING]
    assert [sender.status(t) for t in sent] == [None, None, PENDING]
    receiver.accept()
    pump_until([sender, receiver], lambda: sender.status(sent[2]) is ACCEPTED, what="the answer")
    stop_all(sender, receiver)


def test_shrinking_the_outgoing_window_takes_effect_at_the_next_put() -> None:
    # As the original: the window is applied when a new tracker is made.
    with ThreadedPeer("peer") as peer:
        client = started("client", outgoing_window=5, timeout=10)
        trackers = [client.put(Message(address=f"{peer.address}/q", body=i)) for i in range(5)]
        client.send()
        assert [client.status(t) for t in trackers] == [ACCEPTED] * 5
        client.outgoing_window = 2
        assert [client.status(t) for t in trackers] == [ACCEPTED] * 5
        trackers.append(client.put(Message(address=f"{peer.address}/q", body=5)))
        assert [client.status(t) for t in trackers] == [None] * 4 + [ACCEPTED, PENDING]
        client.send()
        assert client.status(trackers[-1]) is ACCEPTED
        client.outgoing_window = 0
        client.put(Message(address=f"{peer.address}/q", body=6))
        assert [client.status(t) for t in trackers] == [None] * 6
        client.stop()


def test_status_of_a_tracker_this_messenger_never_issued_is_none() -> None:
    with ThreadedPeer("peer") as peer:
        alice = started("alice", outgoing_window=10, incoming_window=10, timeout=10)
        bob = started("bob", outgoing_window=10, timeout=10)
        mine = alice.put(Message(address=f"{peer.address}/q", body="a"))
        bobs = [bob.put(Message(address=f"{peer.address}/q", body=f"b{i}")) for i in range(3)]
        alice.send()
        bob.send()
        assert alice.status(mine) is ACCEPTED
        assert bob.status(bobs[-1]) is ACCEPTED
        # Bob's newest tracker is beyond anything Alice has issued.
        assert alice.status(bobs[-1]) is None
        assert alice.status(mine + 1000) is None
        stop_all(alice, bob)


def test_status_of_an_incoming_tracker_from_another_messenger_is_none() -> None:
    sender, receiver, address = connected_pair(incoming_window=10)
    deliver(sender, receiver, address, ["x", "y", "z"])
    theirs = got(receiver, 3)
    assert [receiver.status(t) for t in theirs] == [PENDING] * 3
    bystander = started("bystander", incoming_window=10)
    assert [bystander.status(t) for t in theirs] == [None] * 3
    stop_all(sender, receiver, bystander)


def test_rejected_message_reports_rejected_to_the_sender() -> None:
    def judge(messenger: Messenger, message: Message, tracker: int) -> None:
        if message.body == "bad":
            messenger.reject(tracker)
        else:
            messenger.accept(tracker)

    with ThreadedPeer("judge", incoming_window=10, handler=judge) as peer:
        client = started("client", outgoing_window=10, timeout=10)
        good = client.put(Message(address=f"{peer.address}/q", body="good"))
        bad = client.put(Message(address=f"{peer.address}/q", body="bad"))
        client.send()
        assert client.status(good) is ACCEPTED
        assert client.status(bad) is REJECTED
        client.stop()


def test_released_message_reports_released_to_the_sender() -> None:
    def give_back(messenger: Messenger, message: Message, tracker: int) -> None:
        messenger.release(tracker)

    with ThreadedPeer("releaser", incoming_window=10, handler=give_back) as peer:
        client = started("client", outgoing_window=10, timeout=10)
        tracker = client.put(Message(address=f"{peer.address}/q", body="not now"))
        client.send()
        assert client.status(tracker) is RELEASED
        client.stop()


def test_a_proton_receiver_that_modifies_reports_modified_to_the_sender() -> None:
    def answer(program: ProtonProgram, event: Any) -> None:
        # delivered=True: MODIFIED (delivery-failed); delivered=False: RELEASED.
        program.release(event.delivery, delivered=event.message.body == "retry later")

    program = AnsweringReceiver(answer)
    with ProtonPeer(program) as peer:
        client = started("client", outgoing_window=10, timeout=10)
        modified = client.put(Message(address=f"{peer.address}/q", body="retry later"))
        released = client.put(Message(address=f"{peer.address}/q", body="not for me"))
        client.send()
        assert client.status(modified) is MODIFIED
        assert client.status(released) is RELEASED
        assert program.received == ["retry later", "not for me"]
        client.stop()


def test_the_observer_hears_status_changes_of_trackers_in_the_window() -> None:
    def judge(messenger: Messenger, message: Message, tracker: int) -> None:
        if message.body == "bad":
            messenger.reject(tracker)
        else:
            messenger.accept(tracker)

    with ThreadedPeer("judge", incoming_window=10, handler=judge) as peer:
        client = started("client", outgoing_window=2, timeout=10)
        events: list[MessengerEvent] = []
        client.on_event = events.append
        outside = client.put(Message(address=f"{peer.address}/q", body="early"))
        good = client.put(Message(address=f"{peer.address}/q", body="good"))
        bad = client.put(Message(address=f"{peer.address}/q", body="bad"))
        client.send()
        updates = sorted(
            (e for e in events if isinstance(e, TrackerUpdated)), key=lambda e: e.tracker
        )
        assert updates == [TrackerUpdated(good, ACCEPTED), TrackerUpdated(bad, REJECTED)]
        assert all(e.tracker != outside for e in updates)
        client.stop()


# -------------------------------------------------------- incoming window


def test_with_incoming_window_zero_get_accepts_and_settles() -> None:
    sender, receiver, address = connected_pair(incoming_window=0)
    (sent,) = deliver(sender, receiver, address, ["hello"])
    message = Message()
    tracker = receiver.get(message)
    assert message.body == "hello"
    assert receiver.status(tracker) is None  # nothing kept with a window of 0
    pump_until([sender, receiver], lambda: sender.status(sent) is not PENDING, what="an answer")
    assert sender.status(sent) is ACCEPTED
    stop_all(sender, receiver)


def test_receiver_accepts_and_rejects_single_trackers() -> None:
    sender, receiver, address = connected_pair(incoming_window=5)
    sent = deliver(sender, receiver, address, ["ok", "broken", "later"])
    incoming = got(receiver, 3)
    assert [receiver.status(t) for t in incoming] == [PENDING] * 3
    receiver.accept(incoming[0])
    receiver.reject(incoming[1])
    assert [receiver.status(t) for t in incoming] == [ACCEPTED, REJECTED, PENDING]
    pump_until(
        [sender, receiver],
        lambda: sender.status(sent[0]) is not PENDING and sender.status(sent[1]) is not PENDING,
        what="two answers",
    )
    assert [sender.status(t) for t in sent] == [ACCEPTED, REJECTED, PENDING]
    stop_all(sender, receiver)


def test_accept_without_tracker_covers_every_got_message_not_yet_acted_on() -> None:
    sender, receiver, address = connected_pair(incoming_window=10)
    sent = deliver(sender, receiver, address, ["a", "b", "c", "not got yet"])
    a, b, c = got(receiver, 3)
    receiver.reject(b)
    receiver.accept()
    assert [receiver.status(t) for t in (a, b, c)] == [ACCEPTED, REJECTED, ACCEPTED]
    pump_until(
        [sender, receiver],
        lambda: all(sender.status(t) is not PENDING for t in sent[:3]),
        what="three answers",
    )
    # The rejection stands, and the message still in the incoming queue is untouched.
    assert [sender.status(t) for t in sent] == [ACCEPTED, REJECTED, ACCEPTED, PENDING]
    last = receiver.get()
    assert receiver.status(last) is PENDING
    stop_all(sender, receiver)


def test_reject_without_tracker_covers_every_got_message_not_yet_acted_on() -> None:
    sender, receiver, address = connected_pair(incoming_window=10)
    sent = deliver(sender, receiver, address, ["a", "b", "c"])
    a, b, c = got(receiver, 3)
    receiver.accept(a)
    receiver.reject()
    assert [receiver.status(t) for t in (a, b, c)] == [ACCEPTED, REJECTED, REJECTED]
    pump_until(
        [sender, receiver],
        lambda: all(sender.status(t) is not PENDING for t in sent),
        what="three answers",
    )
    assert [sender.status(t) for t in sent] == [ACCEPTED, REJECTED, REJECTED]
    stop_all(sender, receiver)


def test_trackers_falling_out_of_the_incoming_window_are_accepted() -> None:
    sender, receiver, address = connected_pair(incoming_window=2)
    sent = deliver(sender, receiver, address, ["first", "second", "third"])
    incoming = got(receiver, 3)
    assert [receiver.status(t) for t in incoming] == [None, PENDING, PENDING]
    pump_until(
        [sender, receiver], lambda: sender.status(sent[0]) is not PENDING, what="first answer"
    )
    assert [sender.status(t) for t in sent] == [ACCEPTED, PENDING, PENDING]
    # Acting on a forgotten tracker changes nothing.
    receiver.reject(incoming[0])
    assert receiver.status(incoming[0]) is None
    stop_all(sender, receiver)


def test_shrinking_the_incoming_window_accepts_what_falls_out_at_the_next_get() -> None:
    # As the original: the window is applied when get makes a new tracker.
    sender, receiver, address = connected_pair(incoming_window=3)
    sent = deliver(sender, receiver, address, ["a", "b", "c", "d"])
    incoming = got(receiver, 3)
    receiver.reject(incoming[0])
    receiver.incoming_window = 1
    assert [receiver.status(t) for t in incoming] == [REJECTED, PENDING, PENDING]
    incoming.append(receiver.get())
    assert [receiver.status(t) for t in incoming] == [None, None, None, PENDING]
    pump_until(
        [sender, receiver],
        lambda: sender.status(sent[2]) is not PENDING,
        what="the auto-accepts",
    )
    assert [sender.status(t) for t in sent] == [REJECTED, ACCEPTED, ACCEPTED, PENDING]
    stop_all(sender, receiver)


def test_receiver_release_reports_released_on_both_sides() -> None:
    sender, receiver, address = connected_pair(incoming_window=5)
    (sent,) = deliver(sender, receiver, address, ["not now"])
    (tracker,) = got(receiver, 1)
    receiver.release(tracker)
    assert receiver.status(tracker) is RELEASED
    pump_until([sender, receiver], lambda: sender.status(sent) is not PENDING, what="answer")
    assert sender.status(sent) is RELEASED
    stop_all(sender, receiver)


def test_presettled_incoming_messages_report_settled() -> None:
    receiver = started("receiver", incoming_window=2, blocking=False)
    port = receiver.subscribe("amqp://~127.0.0.1:0").port
    program = PresettlingSender(f"amqp://127.0.0.1:{port}/inbox", ["one", "two", "three"])
    with ProtonPeer(program, listen=False):
        receiver.recv(3)
        pump_until([receiver], lambda: receiver.incoming == 3, what="three pre-settled messages")
        message = Message()
        trackers = []
        for _ in range(3):
            trackers.append(receiver.get(message))
        assert message.body == "three"
        assert [receiver.status(t) for t in trackers] == [None, SETTLED, SETTLED]
        stop_all(receiver)


# ------------------------------------------------------------------ settle


def test_settling_an_incoming_tracker_forgets_it() -> None:
    sender, receiver, address = connected_pair(incoming_window=5)
    sent = deliver(sender, receiver, address, ["a", "b"])
    a, b = got(receiver, 2)
    receiver.settle(a)
    assert receiver.status(a) is None
    assert receiver.status(b) is PENDING
    receiver.accept()  # only b is left in the window
    assert receiver.status(a) is None
    pump_until(
        [sender, receiver],
        lambda: all(sender.status(t) is not PENDING for t in sent),
        what="both answers",
    )
    # Settled without an outcome, then accepted.
    assert [sender.status(t) for t in sent] == [SETTLED, ACCEPTED]
    stop_all(sender, receiver)


def test_settling_an_outgoing_tracker_settles_its_delivery_at_the_receiver() -> None:
    # Seen on the original: the receiver's tracker turns SETTLED; the sender's is forgotten.
    sender, receiver, address = connected_pair(incoming_window=5)
    sent = deliver(sender, receiver, address, ["kept", "settled"])
    incoming = got(receiver, 2)
    sender.settle(sent[1])
    assert sender.status(sent[1]) is None
    pump_until([sender, receiver], lambda: receiver.status(incoming[1]) is SETTLED, what="it")
    assert receiver.status(incoming[0]) is PENDING
    receiver.accept()
    pump_until([sender, receiver], lambda: sender.status(sent[0]) is ACCEPTED, what="answer")
    stop_all(sender, receiver)


def test_settling_an_outgoing_tracker_forgets_it_and_send_stops_waiting_for_it() -> None:
    # The peer keeps every message unanswered in its incoming window.
    with ThreadedPeer("hoarder", incoming_window=10) as peer:
        client = started("client", outgoing_window=10, timeout=3)
        first = client.put(Message(address=f"{peer.address}/q", body="first"))
        second = client.put(Message(address=f"{peer.address}/q", body="second"))
        pump_until([client], lambda: len(peer.received) == 2, what="both on the wire")
        assert client.status(first) is PENDING
        client.settle(first)
        assert client.status(first) is None
        assert client.status(second) is PENDING
        client.timeout = 0.2
        with pytest.raises(Timeout):
            client.send()  # still waits for the second one
        client.timeout = 3
        client.settle(second)
        client.send()  # nothing left to wait for
        assert client.status(second) is None
        client.stop()


def test_settle_without_tracker_forgets_every_outgoing_tracker() -> None:
    with ThreadedPeer("hoarder", incoming_window=10) as peer:
        client = started("client", outgoing_window=10, timeout=3)
        trackers = [client.put(Message(address=f"{peer.address}/q", body=i)) for i in range(3)]
        pump_until([client], lambda: len(peer.received) == 3, what="all on the wire")
        assert [client.status(t) for t in trackers] == [PENDING] * 3
        client.settle()
        assert [client.status(t) for t in trackers] == [None] * 3
        client.send()  # returns: nothing is waited for any more
        client.stop()


def test_send_does_not_wait_for_a_tracker_settled_while_still_buffered() -> None:
    hoarder = started("hoarder", incoming_window=5, blocking=False)  # no credit yet
    port = hoarder.subscribe("amqp://~127.0.0.1:0").port
    client = started("client", outgoing_window=5, blocking=False)
    events: list[MessengerEvent] = []
    client.on_event = events.append
    tracker = client.put(Message(address=f"amqp://127.0.0.1:{port}/q", body="never mind"))
    pump_until(
        [client, hoarder],
        lambda: any(isinstance(event, LinkOpened) for event in events),
        what="the sender link attached",
    )
    assert client.buffered(tracker) is True
    client.settle(tracker)
    assert client.status(tracker) is None
    hoarder.recv(1)  # credit comes; the hoarder keeps whatever arrives unanswered
    pump_until([client, hoarder], lambda: client.outgoing == 0, what="nothing left to write")
    client.blocking = True
    client.timeout = 0.5
    try:
        client.send()  # must not wait for the answer to a settled tracker
    finally:
        stop_all(client, hoarder)


# ---------------------------------------------------------------- buffered


def test_buffered_while_waiting_for_credit_and_not_once_sent() -> None:
    silent = started("silent", incoming_window=5, blocking=False)  # no recv yet: no credit
    port = silent.subscribe("amqp://~127.0.0.1:0").port
    client = started("client", outgoing_window=5, blocking=False)
    events: list[MessengerEvent] = []
    client.on_event = events.append
    tracker = client.put(Message(address=f"amqp://127.0.0.1:{port}/q", body="waiting"))
    pump_until(
        [client, silent],
        lambda: any(isinstance(event, LinkOpened) for event in events),
        what="the sender link attached (with no credit)",
    )
    assert client.buffered(tracker) is True
    assert client.outgoing == 1
    silent.recv(1)
    pump_until([client, silent], lambda: silent.incoming == 1, what="the message to arrive")
    assert client.buffered(tracker) is False
    assert client.status(tracker) is PENDING  # on the wire, not answered yet
    silent.accept(silent.get())
    pump_until([client, silent], lambda: client.status(tracker) is ACCEPTED, what="the answer")
    assert client.buffered(tracker) is False
    stop_all(client, silent)


# ----------------------------------------------------------------- send(n)


def test_send_n_returns_once_n_messages_are_answered() -> None:
    def accept_the_first_two(messenger: Messenger, message: Message, tracker: int) -> None:
        if message.body < 2:
            messenger.accept(tracker)

    with ThreadedPeer("picky", incoming_window=10, handler=accept_the_first_two) as peer:
        client = started("client", outgoing_window=10, timeout=10)
        trackers = [client.put(Message(address=f"{peer.address}/q", body=i)) for i in range(5)]
        client.send(2)
        assert [client.status(t) for t in trackers[:2]] == [ACCEPTED, ACCEPTED]
        assert [client.status(t) for t in trackers[2:]] == [PENDING] * 3
        client.timeout = 0.2
        with pytest.raises(Timeout):
            client.send()  # three are still outstanding
        client.stop()


def test_send_zero_returns_without_waiting_for_answers() -> None:
    with ThreadedPeer("hoarder", incoming_window=10) as peer:
        client = started("client", outgoing_window=10, timeout=5)
        tracker = client.put(Message(address=f"{peer.address}/q", body="fire and forget"))
        pump_until([client], lambda: bool(peer.received), what="the message at the peer")
        client.send(0)  # would raise Timeout if it waited for the (never coming) answer
        assert client.status(tracker) is PENDING
        assert peer.received[0].body == "fire and forget"
        client.stop()


@pytest.mark.parametrize("blocking", [True, False], ids=["send(0)", "non-blocking send()"])
def test_send_without_waiting_still_moves_messages_onto_the_wire(blocking: bool) -> None:
    with ThreadedPeer("hoarder", incoming_window=10) as peer:
        client = started("client", outgoing_window=10, timeout=5)
        client.blocking = blocking
        client.put(Message(address=f"{peer.address}/q", body="fire and forget"))

        def sent() -> bool:
            if blocking:
                client.send(0)
            else:
                client.send()
            return bool(peer.received)

        try:
            wait_for(sent, what="the message, moved by send alone")
            assert peer.received[0].body == "fire and forget"
        finally:
            stop_all(client)


# ----------------------------------------------------------------- aborted


def test_messages_in_flight_when_a_proton_peer_vanishes_are_aborted() -> None:
    program = VanishingReceiver(count=2)
    with ProtonPeer(program) as peer:
        client = started("client", outgoing_window=10, timeout=10)
        events: list[MessengerEvent] = []
        client.on_event = events.append
        trackers = [client.put(Message(address=f"{peer.address}/q", body=i)) for i in range(3)]
        client.send()  # returns once all are answered or aborted
        assert [client.status(t) for t in trackers] == [ABORTED] * 3
        failure = client.failure(trackers[0])
        assert failure is not None and failure.where == f"amqp://127.0.0.1:{peer.port}"
        updates = {(e.tracker, e.status) for e in events if isinstance(e, TrackerUpdated)}
        assert updates == {(t, ABORTED) for t in trackers}
        assert client.outgoing == 0
        client.send()  # nothing left to wait for
        client.stop()


def test_a_peer_that_leaves_cleanly_without_answering_aborts_with_the_reason() -> None:
    sender, receiver, address = connected_pair(incoming_window=5)
    sent = deliver(sender, receiver, address, ["a", "b"])
    got(receiver, 2)  # kept unanswered in the receiver's window
    # A clean AMQP close (non-blocking stop writes it at once), both still unanswered.
    receiver.stop()
    sender.blocking = True
    sender.timeout = 5
    try:
        sender.send()
        assert [sender.status(t) for t in sent] == [ABORTED, ABORTED]
        failure = sender.failure(sent[0])
        assert failure is not None
        assert failure.where.startswith(address.removesuffix("/inbox"))
        assert "before answering 2 message(s)" in failure.reason
    finally:
        stop_all(sender, receiver)


# ------------------------------------------------- no I/O in get and accept


def frames_written(messenger: Messenger) -> int:
    """Frames the Messenger has put on the wire so far, over all its connections."""
    return sum(view.frames_sent for view in messenger.connections)


def test_accept_changes_local_state_only_until_the_next_call_that_does_io() -> None:
    # Seen on the original: the sender learns of the acceptance only once the
    # receiving program calls into its Messenger again.
    sender, receiver, address = connected_pair(incoming_window=5)
    (sent,) = deliver(sender, receiver, address, ["handled"])
    written = frames_written(receiver)
    (tracker,) = got(receiver, 1)
    receiver.accept(tracker)
    assert receiver.status(tracker) is ACCEPTED
    # get and accept wrote nothing: not a frame has left the receiver.
    assert frames_written(receiver) == written
    assert sender.status(sent) is PENDING
    receiver.work(0)
    assert frames_written(receiver) > written  # the disposition, at the next call
    pump_until([sender], lambda: sender.status(sent) is ACCEPTED, what="the disposition")
    stop_all(sender, receiver)


def test_get_with_incoming_window_zero_accepts_without_io() -> None:
    sender, receiver, address = connected_pair(incoming_window=0)
    (sent,) = deliver(sender, receiver, address, ["taken"])
    written = frames_written(receiver)
    tracker = receiver.get()
    assert receiver.status(tracker) is None  # accepted and forgotten (window 0)
    # The receiving program is still handling it: nothing has gone out yet.
    assert frames_written(receiver) == written
    assert sender.status(sent) is PENDING
    receiver.work(0)
    assert frames_written(receiver) > written
    pump_until([sender], lambda: sender.status(sent) is ACCEPTED, what="the disposition")
    stop_all(sender, receiver)


def test_the_next_put_carries_the_dispositions_out() -> None:
    sender, receiver, address = connected_pair(incoming_window=5)
    (sent,) = deliver(sender, receiver, address, ["request"])
    to_sender = [c.id for c in receiver.connections]
    written = frames_written(receiver)
    receiver.accept(receiver.get())
    # A receiver that answers with a put (to a listener elsewhere) does I/O in put.
    other = started("elsewhere", blocking=False)
    other_port = other.subscribe("amqp://~127.0.0.1:0").port
    receiver.put(Message(address=f"amqp://127.0.0.1:{other_port}/q", body="reply"))
    # The put itself wrote the disposition on the connection to the sender.
    assert sum(c.frames_sent for c in receiver.connections if c.id in to_sender) > written
    assert sender.status(sent) is PENDING  # not read yet: only the receiver was called
    pump_until([sender], lambda: sender.status(sent) is ACCEPTED, what="the disposition")
    stop_all(sender, receiver, other)
