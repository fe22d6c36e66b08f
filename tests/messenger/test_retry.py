"""Retry mode: a stream survives its peer going away and coming back."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from msgr_tui.messenger import (
    ABORTED,
    ACCEPTED,
    PENDING,
    Message,
    Messenger,
)
from msgr_tui.messenger.events import ConnectionClosed, RetryScheduled
from msgr_tui.messenger.subscription import SubscriptionState
from tests.certs import CertificateSet
from tests.conftest import RabbitMQ
from tests.helpers import ThreadedPeer, pump_until, started, stop_all, wait_for


def free_port() -> int:
    probe = started()
    port = probe.subscribe("amqp://~127.0.0.1:0").port
    probe.stop()
    assert port is not None
    return port


def test_messages_wait_for_a_peer_that_is_not_there_yet_and_arrive_when_it_is() -> None:
    port = free_port()
    events: list[object] = []
    client = started("client", retry=True, outgoing_window=20, blocking=False)
    client.on_event = events.append
    trackers = [client.put(Message(address=f"amqp://127.0.0.1:{port}/q", body=i)) for i in range(5)]
    pump_until([client], lambda: any(isinstance(e, RetryScheduled) for e in events), what="a retry")
    assert [client.status(t) for t in trackers] == [PENDING] * 5
    more = client.put(Message(address=f"amqp://127.0.0.1:{port}/q", body=5))  # parked meanwhile
    with ThreadedPeer("late", listen=f"amqp://~127.0.0.1:{port}") as peer:
        pump_until(
            [client], lambda: client.status(more) is ACCEPTED, what="delivery after the peer came"
        )
        assert [client.status(t) for t in trackers] == [ACCEPTED] * 5
        wait_for(lambda: len(peer.received) == 6, what="six at the peer")
        assert sorted(r.body for r in peer.received) == [0, 1, 2, 3, 4, 5]
    stop_all(client)
    delays = [e.delay for e in events if isinstance(e, RetryScheduled)]
    assert delays == sorted(delays)  # backing off, never faster


def test_the_backoff_doubles_from_a_tenth_of_a_second_up_to_retry_max_delay() -> None:
    # Nobody listens: every attempt is refused, and each RetryScheduled says how long
    # the next wait is (the waits themselves are the Messenger's business, not timed here).
    port = free_port()
    events: list[object] = []
    client = started("client", retry=True, retry_max_delay=0.4, outgoing_window=5, blocking=False)
    assert client.retry_max_delay == 0.4
    client.on_event = events.append
    client.put(Message(address=f"amqp://127.0.0.1:{port}/q", body="patient"))

    def plans() -> list[RetryScheduled]:
        return [event for event in events if isinstance(event, RetryScheduled)]

    pump_until([client], lambda: len(plans()) >= 6, what="six attempts planned")
    scheduled = plans()[:6]
    assert [plan.attempt for plan in scheduled] == [1, 2, 3, 4, 5, 6]
    assert [plan.delay for plan in scheduled] == pytest.approx([0.1, 0.2, 0.4, 0.4, 0.4, 0.4])
    assert {plan.label for plan in scheduled} == {f"amqp://127.0.0.1:{port}"}
    assert all(plan.messages == 1 for plan in scheduled)  # the message waits, not lost
    assert all("refused" in (plan.reason or "").lower() for plan in scheduled)
    stop_all(client)


def test_a_peer_that_leaves_with_messages_unanswered_gets_them_again_when_back() -> None:
    port = free_port()
    # The first peer keeps everything undecided (window 100, never acts), then leaves.
    first = ThreadedPeer("first", listen=f"amqp://~127.0.0.1:{port}", incoming_window=100)
    first.start()
    client = started("client", retry=True, outgoing_window=100, blocking=False)
    trackers = [
        client.put(Message(address=f"amqp://127.0.0.1:{port}/q", body=i)) for i in range(10)
    ]
    pump_until([client], lambda: len(first.received) == 10, what="ten at the first peer")
    first.stop()
    pump_until(
        [client],
        lambda: client.retries and client.retries[0].messages,
        what="messages waiting to be retried",
    )
    assert all(client.status(t) is PENDING for t in trackers)
    with ThreadedPeer("second", listen=f"amqp://~127.0.0.1:{port}") as second:
        pump_until(
            [client], lambda: all(client.status(t) is ACCEPTED for t in trackers), what="accepted"
        )
        wait_for(lambda: len(second.received) == 10, what="ten at the second peer")
        assert sorted(r.body for r in second.received) == list(range(10))
    stop_all(client)


def test_subscriptions_come_back_with_the_connection() -> None:
    port = free_port()
    feed = started("feed")
    feed.subscribe(f"amqp://~127.0.0.1:{port}")
    inbox = started("inbox", retry=True, blocking=False)
    subscription = inbox.subscribe(f"amqp://127.0.0.1:{port}/news")
    inbox.recv()
    pump_until(
        [inbox, feed], lambda: subscription.state is SubscriptionState.ATTACHED, what="attached"
    )
    feed.blocking = False
    feed.stop()
    pump_until([inbox, feed], lambda: feed.stopped, what="feed gone")
    pump_until([inbox], lambda: subscription.state is SubscriptionState.RETRYING, what="retrying")

    again = started("feed")  # same container name, same port: the feed restarted
    again.subscribe(f"amqp://~127.0.0.1:{port}")
    pump_until(
        [inbox, again],
        lambda: subscription.state is SubscriptionState.ATTACHED,
        what="attached again",
    )
    again.blocking = False
    again.put(Message(address="amqp://inbox/news", body="back"))
    pump_until([inbox, again], lambda: inbox.incoming == 1, what="news after the restart")
    received = Message()
    inbox.get(received)
    assert received.body == "back"
    stop_all(inbox, again)


def test_without_retry_the_same_failure_aborts_and_says_why() -> None:
    port = free_port()
    client = started("client", outgoing_window=5, timeout=10)
    tracker = client.put(Message(address=f"amqp://127.0.0.1:{port}/q", body="x"))
    client.send()
    assert client.status(tracker) is ABORTED
    failure = client.failure(tracker)
    assert failure is not None and "refused" in failure.reason
    assert client.retries == ()


def test_permanent_failures_are_not_retried(certs: CertificateSet) -> None:
    # An untrusted server certificate will not get better by waiting.
    with ThreadedPeer(
        "rogue",
        listen="amqps://~127.0.0.1:0",
        setup=lambda m: (
            setattr(m, "certificate", certs.rogue_cert),
            setattr(m, "private_key", certs.rogue_key),
        ),
    ) as peer:
        client = started(
            "client", retry=True, outgoing_window=5, timeout=10, trusted_certificates=certs.ca
        )
        tracker = client.put(Message(address=f"amqps://localhost:{peer.port}/q", body="x"))
        client.send()
        assert client.status(tracker) is ABORTED
        failure = client.failure(tracker)
        assert failure is not None and failure.permanent
        assert "certificate verify failed" in failure.reason
        assert client.retries == ()
        client.stop()


def test_stop_gives_up_what_waits_for_a_reconnection() -> None:
    port = free_port()
    client = started("client", retry=True, outgoing_window=5, blocking=False)
    tracker = client.put(Message(address=f"amqp://127.0.0.1:{port}/q", body="never"))
    pump_until([client], lambda: bool(client.retries), what="a plan")
    stop_all(client)
    assert client.status(tracker) is ABORTED
    assert client.outgoing == 0


KILLABLE_PEER = textwrap.dedent(
    """
    import sys
    from msgr_tui.messenger import Messenger, Message
    m = Messenger("victim")
    m.start()
    m.subscribe(sys.argv[1])
    print("ready", flush=True)
    msg = Message()
    while True:
        m.recv()
        while m.incoming:
            m.get(msg)
    """
)


def test_a_sigkilled_peer_is_replaced_and_the_stream_completes_at_least_once() -> None:
    port = free_port()
    listen = f"amqp://~127.0.0.1:{port}"
    victim = subprocess.Popen(
        [sys.executable, "-c", KILLABLE_PEER, listen], stdout=subprocess.PIPE, text=True
    )
    try:
        assert victim.stdout is not None and victim.stdout.readline().strip() == "ready"
        client = started("client", retry=True, outgoing_window=2000, blocking=False)
        trackers = []
        accepted_before: set[int] = set()
        for number in range(2000):
            trackers.append(client.put(Message(address=f"amqp://127.0.0.1:{port}/s", body=number)))
            if number == 500:
                pump_until(
                    [client],
                    lambda: sum(client.status(t) is ACCEPTED for t in trackers) > 100,
                    what="part of the stream accepted",
                )
                victim.kill()
                victim.wait(10)
                accepted_before = {
                    i for i, t in enumerate(trackers) if client.status(t) is ACCEPTED
                }
        with ThreadedPeer("replacement", listen=listen) as replacement:
            pump_until(
                [client],
                lambda: all(client.status(t) is ACCEPTED for t in trackers),
                timeout=60,
                what="every message accepted",
            )
            missing = set(range(2000)) - accepted_before
            wait_for(
                lambda: missing <= {r.body for r in replacement.received},
                what="the replacement's records",
            )
            bodies = Counter(r.body for r in replacement.received)
        # Whatever the victim had not accepted (as far as the client knew) reached
        # the replacement; some it had accepted may come again (at least once).
        assert set(range(2000)) - accepted_before <= set(bodies)
        assert all(count == 1 for count in bodies.values())
        stop_all(client)
    finally:
        victim.kill()
        victim.wait(10)


def declare_durable_queue(rabbitmq: RabbitMQ, queue: str) -> None:
    """RabbitMQ's AMQP 1.0 plugin declares /queue/NAME durable only when the first
    link's target asks for a durable terminus; a Messenger never does, so the
    test creates the queue first with a plain Proton client (or it would vanish
    with the restart, and its messages with it). The Messenger then sends to
    /amq/queue/NAME, which uses the queue as it is."""
    from proton import Terminus
    from proton.reactor import LinkOption
    from proton.utils import BlockingConnection

    class DurableTarget(LinkOption):
        def apply(self, link: Any) -> None:
            link.target.durability = Terminus.DELIVERIES

    connection = BlockingConnection(f"amqp://127.0.0.1:{rabbitmq.port}", timeout=30)
    try:
        connection.create_sender(f"/queue/{queue}", options=DurableTarget())
    finally:
        connection.close()


def messages_in(queue: str) -> int:
    """How many messages the broker holds in ``queue``, as ``rabbitmqctl`` counts them."""
    listing = subprocess.run(
        ["rabbitmqctl", "-q", "list_queues", "name", "messages"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    counts = dict(line.split("\t") for line in listing.splitlines()[1:] if "\t" in line)
    return int(counts[queue])


def receive_from(address: str, seen: Counter[int], done: Callable[[], bool]) -> None:
    """Receive bodies into ``seen`` until ``done()``, then close the receiver."""
    receiver = started("restart-receiver", timeout=30)
    receiver.subscribe(address)
    got = Message()
    while not done():
        receiver.recv()  # Timeout after 30 s without a message: the test fails
        while receiver.incoming and not done():
            receiver.get(got)
            seen[got.body] += 1
    receiver.stop()


@pytest.mark.rabbitmq
def test_a_10000_message_stream_survives_a_rabbitmq_restart(rabbitmq: RabbitMQ) -> None:
    """Every message reaches the queue at least once; duplicates are counted, none lost."""
    queue = f"restart-{uuid.uuid4().hex[:8]}"
    # /amq/queue/ names an existing queue without declaring it (see below).
    address = f"amqp://guest:guest@127.0.0.1:{rabbitmq.port}//amq/queue/{queue}"
    total = 10_000
    declare_durable_queue(rabbitmq, queue)
    sender = Messenger("restart-sender")
    sender.retry = True
    sender.retry_max_delay = 1.0
    sender.outgoing_window = total
    sender.timeout = 120
    sender.start()
    restarter = threading.Thread(target=rabbitmq.restart)
    message = Message(address=address)
    message.durable = True  # the queue is durable; durable messages survive the restart
    trackers: list[int] = []
    events: list[object] = []
    sender.on_event = events.append
    # The numbers the broker had accepted when the outage began: never sent again.
    accepted_before_outage: set[int] | None = None

    def note_the_outage() -> None:
        nonlocal accepted_before_outage
        if accepted_before_outage is None and any(
            isinstance(event, ConnectionClosed) for event in events
        ):
            # No reconnection has happened yet: the first attempt is 0.1 s away.
            accepted_before_outage = {
                number for number, t in enumerate(trackers) if sender.status(t) is ACCEPTED
            }

    paced_from = 0.0
    for number in range(total):
        message.body = number
        trackers.append(sender.put(message))
        if number < 3000:
            if number % 500 == 499:
                sender.send(250)
            continue
        if number == 3000:
            restarter.start()
            paced_from = time.monotonic()
        # From here on ~700 msg/s, so the stream spans the broker's restart.
        due = paced_from + (number - 3000) / 700
        while time.monotonic() < due:
            sender.work(max(0.0, due - time.monotonic()))
            note_the_outage()

    def all_accepted() -> bool:
        note_the_outage()
        return all(sender.status(t) is ACCEPTED for t in trackers)

    pump_until([sender], all_accepted, timeout=120, what="every message accepted")
    restarter.join()
    assert accepted_before_outage is not None, "the broker restart did not interrupt the stream"
    sender.stop()

    seen: Counter[int] = Counter()
    # Every number once (the receiver stops as soon as it has them all)...
    receive_from(address, seen, lambda: len(seen) == total)
    # ...then exactly what is left: the duplicates sent again around the restart
    # (and what the first receiver had taken in but not read, now back in the queue).
    left = messages_in(queue)
    received = sum(seen.values())
    receive_from(address, seen, lambda: sum(seen.values()) == received + left)
    assert messages_in(queue) == 0
    subprocess.run(["rabbitmqctl", "-q", "delete_queue", queue], capture_output=True, timeout=60)
    lost = set(range(total)) - set(seen)
    duplicated = {number for number, count in seen.items() if count > 1}
    print(
        f"\nRabbitMQ restart: sent {total}, received {sum(seen.values())}, "
        f"duplicated {len(duplicated)}, lost {len(lost)}"
    )
    assert lost == set()
    assert set(seen) == set(range(total))  # nothing that was not sent
    # At least once, and no more than needed: what the broker had accepted when
    # the outage began was never sent again.
    assert not duplicated & accepted_before_outage
    assert accepted_before_outage  # the stream was well under way
