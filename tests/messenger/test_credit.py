"""How one receiving Messenger shares its credit between every link that feeds it.

The contract ("Credit scheduling across receiver links" in MESSENGER.md):
``recv(n)`` sets the total credit (given + still to give), each link's share is
``max(total / links, 1)``, waiting links are served first come first served,
credited idle links are drained after 250 ms so their credit can move on, links
running low are topped up, a closed link's credit returns to the pool, and
``recv()`` keeps at most 1024 messages per link in flight or queued.

Senders are Messengers, except where a test must see exactly what credit the
receiver grants: there the sender is a plain Proton client (``RawSender``) that
records every flow frame it gets.
"""

from __future__ import annotations

import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from proton.handlers import MessagingHandler
from proton.reactor import ApplicationEvent, Container, EventInjector

from msgr_tui.messenger import Message, Messenger
from msgr_tui.messenger.events import LinkClosed, LinkOpened, MessengerEvent
from msgr_tui.messenger.subscription import SubscriptionState
from tests.helpers import DEADLINE, pump_until, started, stop_all, wait_for

# --------------------------------------------------------------------------- peers


class RawSender(MessagingHandler):
    """A plain Proton client sending on named links, recording the credit it is given.

    It runs in its own thread. It sends only what the test asks for
    (``send``), answers drain requests unless told not to, and can close a link.
    """

    def __init__(self, url: str, targets: list[str], *, answer_drain: bool = True) -> None:
        super().__init__(prefetch=0)
        self.url = url
        self.targets = targets
        self.answer_drain = answer_drain
        self._lock = threading.Lock()
        self._flows: dict[str, list[tuple[int, bool]]] = {t: [] for t in targets}
        self._backlog = dict.fromkeys(targets, 0)
        self._credit = dict.fromkeys(targets, 0)
        self._links: dict[str, object] = {}
        self.sent = dict.fromkeys(targets, 0)
        self.handed_back = dict.fromkeys(targets, 0)
        self.errors: list[BaseException] = []
        self.finished = threading.Event()
        self._injector = EventInjector()
        self._container = Container(self)
        self._container.selectable(self._injector)
        self._thread = threading.Thread(target=self._run, daemon=True, name="raw-sender")

    # ---- test thread side

    def start(self) -> RawSender:
        self._thread.start()
        return self

    def send(self, target: str, count: int) -> None:
        """Queue ``count`` more messages on ``target``; they go out as credit allows."""
        self._injector.trigger(ApplicationEvent("send_more", subject=(target, count)))

    def close_link(self, target: str) -> None:
        self._injector.trigger(ApplicationEvent("close_link", subject=target))

    def flows(self, target: str) -> list[tuple[int, bool]]:
        """Every (credit, drain) the receiver's flow frames left us with, in order."""
        with self._lock:
            return list(self._flows[target])

    def credit(self, target: str) -> int:
        """The credit the link holds now: last grant minus what was sent since."""
        with self._lock:
            return self._credit[target]

    def drain_requests(self, target: str) -> int:
        return sum(1 for _, drain in self.flows(target) if drain)

    def stop(self) -> None:
        """Wait for the connection to end (the receiver closing it), then for the thread."""
        if not self.finished.wait(DEADLINE):
            self._injector.trigger(ApplicationEvent("shutdown"))
        self._thread.join(DEADLINE)
        assert not self._thread.is_alive(), "raw sender thread did not stop"
        assert not self.errors, self.errors

    # ---- container thread side

    def _run(self) -> None:
        try:
            self._container.run()
        except BaseException as error:  # reported to the test thread
            self.errors.append(error)
        finally:
            self.finished.set()

    def on_start(self, event: Any) -> None:
        connection = event.container.connect(self.url, reconnect=False)
        for target in self.targets:
            self._links[target] = event.container.create_sender(
                connection, target=target, name=target
            )

    def on_link_flow(self, event: Any) -> None:
        link = event.link
        if not link.is_sender:
            return
        with self._lock:
            self._flows[link.name].append((link.credit, link.drain_mode))
        self._pump(link)

    def _pump(self, link: Any) -> None:
        target = link.name
        while self._backlog[target] and link.credit > 0:
            link.send(Message(address=target, body=f"{target}#{self.sent[target]}"))
            self._backlog[target] -= 1
            self.sent[target] += 1
        if self.answer_drain and link.drain_mode and link.credit > 0:
            self.handed_back[target] += link.drained()
        with self._lock:
            self._credit[target] = link.credit

    def on_send_more(self, event: Any) -> None:
        target, count = event.subject
        self._backlog[target] += count
        self._pump(self._links[target])

    def on_close_link(self, event: Any) -> None:
        self._links[event.subject].close()

    def on_shutdown(self, event: Any) -> None:
        self._injector.close()
        event.container.stop()

    def on_transport_closed(self, event: Any) -> None:
        self._injector.close()


# ---------------------------------------------------------------------- the rig


class Rig:
    """Everything a test starts, pumped together from the test thread and stopped at the end."""

    def __init__(self) -> None:
        self.messengers: list[Messenger] = []
        self.raw_senders: list[RawSender] = []
        self.events: dict[str, list[MessengerEvent]] = {}

    def messenger(self, name: str) -> Messenger:
        messenger = started(name, blocking=False)
        events = self.events.setdefault(name, [])
        messenger.on_event = events.append
        self.messengers.append(messenger)
        return messenger

    def listening(self, name: str) -> tuple[Messenger, str]:
        """A non-blocking Messenger listening on an ephemeral port, and its address."""
        messenger = self.messenger(name)
        port = messenger.subscribe("amqp://~127.0.0.1:0").port
        return messenger, f"amqp://127.0.0.1:{port}"

    def raw_sender(self, address: str, targets: list[str], **options: bool) -> RawSender:
        sender = RawSender(address, targets, **options)
        self.raw_senders.append(sender)
        return sender.start()

    def receiver_links(self, messenger: Messenger) -> int:
        """Receiver links attached to ``messenger`` and not closed since."""
        events = self.events[messenger.name]
        opened = sum(1 for e in events if isinstance(e, LinkOpened) and e.role == "receiver")
        closed = sum(1 for e in events if isinstance(e, LinkClosed) and e.role == "receiver")
        return opened - closed

    def pump_until(self, condition: Callable[[], bool], what: str) -> None:
        pump_until(self.messengers, condition, what=what)

    def pump_until_quiet(self, *pairs: tuple[Messenger, Messenger]) -> None:
        """Pump until nothing is on the way between each pair, and nobody has more to say.

        For showing that something does NOT happen, without waiting for a while:
        each side of each pair has read every frame the other wrote (the
        connections' frame counts agree), and a further round of work on every
        Messenger writes nothing new. Only a timer could still make a frame.
        """

        def frames(one: Messenger, other: Messenger) -> tuple[int, int, int, int]:
            ours = [c for c in one.connections if c.remote_container == other.name]
            theirs = [c for c in other.connections if c.remote_container == one.name]
            return (
                sum(c.frames_sent for c in ours),
                sum(c.frames_received for c in theirs),
                sum(c.frames_sent for c in theirs),
                sum(c.frames_received for c in ours),
            )

        def quiet() -> bool:
            before = [frames(*pair) for pair in pairs]
            if not all(
                a_sent == b_read and b_sent == a_read for a_sent, b_read, b_sent, a_read in before
            ):
                return False
            for messenger in self.messengers:
                messenger.work(0)
            return [frames(*pair) for pair in pairs] == before

        self.pump_until(quiet, "nothing left on the wire")

    def close(self) -> None:
        try:
            stop_all(*[m for m in self.messengers if not m.stopped])
        finally:
            for sender in self.raw_senders:
                sender.stop()


@pytest.fixture
def rig() -> Iterator[Rig]:
    rig = Rig()
    yield rig
    rig.close()


def put_many(client: Messenger, address: str, count: int) -> None:
    for i in range(count):
        client.put(Message(address=address, body=f"{address.rsplit('/', 1)[1]}#{i}"))


def take_all(messenger: Messenger) -> list[str]:
    """get() everything queued; returns the bodies (``<sender>#<n>``)."""
    bodies = []
    message = Message()
    while messenger.incoming:
        messenger.get(message)
        bodies.append(message.body)
    return bodies


def origin(body: str) -> str:
    return body.split("#", 1)[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ------------------------------------------------------------------ recv(n) limit


def test_recv_n_lets_exactly_n_messages_in_until_recv_is_called_again(rig: Rig) -> None:
    inbox, address = rig.listening("inbox")
    client = rig.messenger("client")
    put_many(client, f"{address}/orders", 50)
    rig.pump_until(lambda: rig.receiver_links(inbox) == 1, "the client's link")
    assert (inbox.receiving, inbox.incoming) == (0, 0)  # no recv yet: no credit at all

    inbox.recv(5)
    assert inbox.receiving == 5
    rig.pump_until(lambda: inbox.incoming == 5, "the first five orders")
    assert inbox.receiving == 0
    rig.pump_until_quiet((inbox, client))
    assert inbox.incoming == 5, "more arrived than recv(5) allowed"
    assert client.outgoing == 45

    # Reading does not grant anything in recv(n) mode: only recv does.
    assert take_all(inbox) == [f"orders#{i}" for i in range(5)]
    rig.pump_until_quiet((inbox, client))
    assert (inbox.incoming, inbox.receiving, client.outgoing) == (0, 0, 45)

    inbox.recv(5)
    assert inbox.receiving == 5
    rig.pump_until(lambda: inbox.incoming == 5, "the next five orders")
    assert inbox.receiving == 0
    assert take_all(inbox) == [f"orders#{i}" for i in range(5, 10)]
    assert client.outgoing == 40


def test_recv_n_counts_credit_before_any_link_exists(rig: Rig) -> None:
    inbox, address = rig.listening("inbox")
    inbox.recv(3)
    assert inbox.receiving == 3  # grantable, nobody to give it to yet
    client = rig.messenger("client")
    put_many(client, f"{address}/late", 10)
    rig.pump_until(lambda: inbox.incoming == 3, "three messages for the late link")
    rig.pump_until_quiet((inbox, client))
    assert (inbox.incoming, inbox.receiving, client.outgoing) == (3, 0, 7)


# -------------------------------------------------------------------- fair share


def _two_senders_two_clients(rig: Rig, address: str) -> list[Messenger]:
    alice, bob = rig.messenger("alice"), rig.messenger("bob")
    put_many(alice, f"{address}/alice", 100)
    put_many(bob, f"{address}/bob", 100)
    return [alice, bob]


def _two_senders_one_client(rig: Rig, address: str) -> list[Messenger]:
    client = rig.messenger("client")
    for i in range(100):
        client.put(Message(address=f"{address}/alice", body=f"alice#{i}"))
        client.put(Message(address=f"{address}/bob", body=f"bob#{i}"))
    return [client]


@pytest.mark.parametrize(
    "make_senders",
    [_two_senders_two_clients, _two_senders_one_client],
    ids=["two-clients", "one-client-two-targets"],
)
def test_recv_shares_credit_fairly_between_links(
    rig: Rig, make_senders: Callable[[Rig, str], list[Messenger]]
) -> None:
    inbox, address = rig.listening("inbox")
    make_senders(rig, address)
    rig.pump_until(lambda: rig.receiver_links(inbox) == 2, "both links")

    # Share = max(10 / 2, 1) = 5 for each link.
    inbox.recv(10)
    assert inbox.receiving == 10
    rig.pump_until(lambda: inbox.incoming == 10, "the first ten messages")
    first = Counter(origin(body) for body in take_all(inbox))
    assert first == {"alice": 5, "bob": 5}

    # Over a longer run neither link starves.
    received = Counter(first)
    for _ in range(9):
        inbox.recv(10)
        rig.pump_until(lambda: inbox.incoming == 10, "ten more messages")
        received.update(origin(body) for body in take_all(inbox))
    assert sum(received.values()) == 100
    assert received["alice"] >= 30 and received["bob"] >= 30, received


# ------------------------------------------------------------------------- drain


def test_idle_links_credit_is_drained_and_given_to_a_waiting_link(rig: Rig) -> None:
    inbox, address = rig.listening("inbox")
    quiet = rig.raw_sender(address, ["quiet"])  # attached first, nothing to say yet
    rig.pump_until(lambda: rig.receiver_links(inbox) == 1, "the quiet link")
    busy = rig.messenger("busy")
    put_many(busy, f"{address}/busy", 3)
    rig.pump_until(lambda: rig.receiver_links(inbox) == 2, "the busy link")

    # One credit, two links: the first to wait (quiet) gets it, busy waits.
    inbox.recv(1)
    assert inbox.receiving == 1
    # recv() already wrote the flow frame; nobody pumps the inbox while we look.
    wait_for(lambda: quiet.flows("quiet"), what="quiet's credit")
    assert quiet.flows("quiet") == [(1, False)]
    assert inbox.incoming == 0

    # Pumping on, the inbox drains quiet's idle credit and busy gets it.
    rig.pump_until(lambda: inbox.incoming == 1, "busy's first message")
    assert quiet.drain_requests("quiet") >= 1
    assert quiet.handed_back["quiet"] >= 1
    assert inbox.receiving == 0
    received = take_all(inbox)
    assert received == ["busy#0"]

    # Later quiet has something to say; repeated recv(1)/get cycles get everything.
    quiet.send("quiet", 1)
    while len(received) < 4:
        inbox.recv(1)
        # recv does a round of I/O: the credit may already be used by an arrival.
        assert inbox.receiving + inbox.incoming == 1
        rig.pump_until(lambda: inbox.incoming == 1, f"message {len(received) + 1}")
        received += take_all(inbox)
    assert sorted(received) == ["busy#0", "busy#1", "busy#2", "quiet#0"]
    assert busy.outgoing == 0


def test_one_credit_reaches_three_messenger_senders_even_when_one_is_idle(rig: Rig) -> None:
    inbox, address = rig.listening("inbox")
    # The inbox also subscribes to a news feed that has nothing yet; that link
    # is the first to wait for credit, so its credit must be drained back.
    news, news_address = rig.listening("news")
    inbox.subscribe(f"{news_address}/headlines")
    alice, bob = rig.messenger("alice"), rig.messenger("bob")
    put_many(alice, f"{address}/alice", 2)
    put_many(bob, f"{address}/bob", 2)
    rig.pump_until(lambda: rig.receiver_links(inbox) == 3, "three links into the inbox")

    received: list[str] = []

    def recv_one() -> None:
        inbox.recv(1)
        assert inbox.receiving + inbox.incoming == 1
        rig.pump_until(lambda: inbox.incoming == 1, f"message {len(received) + 1}")
        received.extend(take_all(inbox))

    while len(received) < 4:
        recv_one()
    assert sorted(received) == ["alice#0", "alice#1", "bob#0", "bob#1"]

    # The feed speaks at last, over the link the inbox opened to it.
    news.put(Message(address="amqp://inbox/headlines", body="headlines#0"))
    recv_one()
    assert received[-1] == "headlines#0"
    assert (alice.outgoing, bob.outgoing, news.outgoing) == (0, 0, 0)


# ------------------------------------------------------------------------ top up


def test_recv_auto_tops_up_a_link_running_low_without_another_recv(rig: Rig) -> None:
    inbox, address = rig.listening("inbox")
    feed = rig.raw_sender(address, ["feed"])
    rig.pump_until(lambda: rig.receiver_links(inbox) == 1, "the feed link")

    inbox.recv()
    rig.pump_until(lambda: feed.credit("feed") == 1024, "the feed's first 1024 credit")

    feed.send("feed", 900)
    rig.pump_until(lambda: inbox.incoming == 900, "900 messages")
    assert len(take_all(inbox)) == 900
    inbox.work(0)  # the application keeps pumping; it does not call recv again
    assert feed.credit("feed") == 124

    # The next message finds the link under 20 % of its share: it is topped up.
    feed.send("feed", 1)
    rig.pump_until(lambda: feed.credit("feed") > 124, "the feed topped up")
    assert feed.credit("feed") + inbox.incoming <= 1024
    assert feed.credit("feed") >= 1000


def test_recv_n_again_tops_up_a_link_that_still_holds_a_little_credit(rig: Rig) -> None:
    inbox, address = rig.listening("inbox")
    feed = rig.raw_sender(address, ["feed"])
    rig.pump_until(lambda: rig.receiver_links(inbox) == 1, "the feed link")

    inbox.recv(100)
    rig.pump_until(lambda: feed.credit("feed") == 100, "100 credit")
    feed.send("feed", 90)
    rig.pump_until(lambda: inbox.incoming == 90, "90 messages")
    take_all(inbox)

    inbox.recv(200)  # 10 still given, 190 more to give
    assert inbox.receiving == 200
    feed.send("feed", 1)
    # 9 left is under 20 % of the share (199): topped up to the share.
    rig.pump_until(lambda: feed.credit("feed") > 10, "the feed topped up")
    assert inbox.incoming == 1
    assert feed.credit("feed") == 199
    assert inbox.receiving == 199


# ------------------------------------------------------------- reclaim on close


def test_a_closed_links_unused_credit_goes_to_the_link_that_waits(rig: Rig) -> None:
    inbox, address = rig.listening("inbox")
    # A peer that takes credit and never gives it back, even when drained.
    hoarder = rig.raw_sender(address, ["hoard"], answer_drain=False)
    rig.pump_until(lambda: rig.receiver_links(inbox) == 1, "the hoarder's link")
    worker = rig.messenger("worker")
    put_many(worker, f"{address}/work", 20)
    rig.pump_until(lambda: rig.receiver_links(inbox) == 2, "the worker's link")

    inbox.recv(10)
    rig.pump_until(lambda: inbox.incoming == 5, "the worker's share")
    rig.pump_until(lambda: hoarder.credit("hoard") == 5, "the hoarder's share")
    rig.pump_until(lambda: hoarder.drain_requests("hoard") >= 1, "a drain of the hoarder")
    # The hoarder ignores the drain: its 5 stay out, the worker waits.
    rig.pump_until_quiet((inbox, worker))
    assert (inbox.incoming, inbox.receiving, worker.outgoing) == (5, 5, 15)

    hoarder.close_link("hoard")
    rig.pump_until(lambda: inbox.incoming == 10, "the hoarded credit used by the worker")
    assert rig.receiver_links(inbox) == 1
    assert inbox.receiving == 0
    assert Counter(origin(body) for body in take_all(inbox)) == {"work": 10}
    rig.pump_until_quiet((inbox, worker))
    assert (inbox.incoming, worker.outgoing) == (0, 10)


def test_credit_given_to_a_subscription_that_fails_returns_to_the_pool(rig: Rig) -> None:
    inbox, address = rig.listening("inbox")
    # Nobody listens there (yet): the connection will be refused.
    subscription = inbox.subscribe(f"amqp://127.0.0.1:{free_port()}/not-yet")
    # The only receiver link gets all 10; the refusal (which does not raise)
    # gives them back to the pool.
    inbox.recv(10)
    assert inbox.receiving == 10
    rig.pump_until(lambda: subscription.state is SubscriptionState.FAILED, "the refusal")
    assert subscription.failure is not None and "refused" in subscription.failure.reason
    assert inbox.receiving == 10

    client = rig.messenger("client")
    put_many(client, f"{address}/orders", 15)
    rig.pump_until(lambda: inbox.incoming == 10, "the ten credits used by the client")
    rig.pump_until_quiet((inbox, client))
    assert (inbox.incoming, inbox.receiving, client.outgoing) == (10, 0, 5)


def test_unsubscribing_while_messages_are_on_the_way_keeps_recv_n_exact(rig: Rig) -> None:
    inbox, address = rig.listening("inbox")
    feed, feed_address = rig.listening("feed")
    subscription = inbox.subscribe(f"{feed_address}/news")
    rig.pump_until(lambda: rig.receiver_links(inbox) == 1, "the news link")
    for i in range(20):
        feed.put(Message(address="amqp://inbox/news", body=f"news#{i}"))

    inbox.recv(10)
    # The feed answers at once; the inbox has not read those ten yet when it unsubscribes.
    pump_until([feed], lambda: feed.outgoing == 10, what="ten news on the wire")
    inbox.unsubscribe(subscription)
    rig.pump_until(lambda: rig.receiver_links(inbox) == 0, "the news link closed")
    rig.pump_until_quiet((inbox, feed))
    # The feed wrote ten before it heard of the detach: they arrive, and nothing more.
    assert take_all(inbox) == [f"news#{i}" for i in range(10)]
    # They used up recv(10): another sender gets no credit until recv is called again.
    client = rig.messenger("client")
    put_many(client, f"{address}/orders", 50)
    rig.pump_until(lambda: rig.receiver_links(inbox) == 1, "the client's link")
    rig.pump_until_quiet((inbox, client))
    assert (inbox.incoming, client.outgoing) == (0, 50), "recv(10) let more than ten in"
    assert inbox.receiving == 0

    inbox.recv(5)
    assert inbox.receiving == 5
    rig.pump_until(lambda: inbox.incoming >= 5, "five orders")
    rig.pump_until_quiet((inbox, client))
    assert inbox.incoming == 5, f"recv(5) let {inbox.incoming} orders in"
    assert client.outgoing == 45


# ---------------------------------------------------------------- back pressure


@pytest.mark.parametrize("senders", [1, 2])
def test_recv_auto_pushes_back_on_senders_when_nobody_reads(rig: Rig, senders: int) -> None:
    inbox, address = rig.listening("inbox")
    per_sender = 3000 // senders
    clients = [rig.messenger(f"sender{i}") for i in range(senders)]
    for i, client in enumerate(clients):
        put_many(client, f"{address}/sender{i}", per_sender)
    rig.pump_until(lambda: rig.receiver_links(inbox) == senders, "every sender's link")

    inbox.recv()  # as much as it can buffer: 1024 per receiver link
    limit = 1024 * senders
    rig.pump_until(lambda: inbox.incoming >= limit, "the incoming queue to fill")
    rig.pump_until_quiet(*[(inbox, client) for client in clients])
    assert inbox.incoming == limit
    assert inbox.receiving == 0
    assert [client.outgoing for client in clients] == [per_sender - 1024] * senders

    # Reading the queue lets the rest flow, never more than the limit queued.
    received: list[str] = take_all(inbox)
    peak = 0

    def everything_read() -> bool:
        nonlocal peak
        peak = max(peak, inbox.incoming)
        received.extend(take_all(inbox))
        return len(received) == 3000

    rig.pump_until(everything_read, "all 3000 messages")
    assert peak <= limit
    counts = Counter(origin(body) for body in received)
    assert counts == {f"sender{i}": per_sender for i in range(senders)}
    assert all(client.outgoing == 0 for client in clients)
