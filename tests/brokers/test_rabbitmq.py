"""The Messenger against a real broker: RabbitMQ 3.10 with its AMQP 1.0 plugin.

Every test is a user story run against the local broker that the session
fixture ``rabbitmq`` starts (tests/brokers/rabbitmq.sh). Each test uses its own
queue (a UUID in the name), so tests are independent of each other and of
earlier runs, and drains what it filled.

RabbitMQ 3.10 facts these tests rely on (and document, where the tests observed
them rather than read them in BROKERS.md):

* ``NAME``, ``/queue/NAME`` and ``/amq/queue/NAME`` name the same queue; the
  first two create it when missing. ``/amq/queue/NAME`` must exist only as a
  *source*: a sender link to a missing ``/amq/queue/NAME`` is attached, and
  its messages are ACCEPTED and dropped as unroutable (they go to the default
  exchange with routing key NAME). A sender is refused (``amqp:not-found``)
  for ``/exchange/MISSING/KEY``.
* A refused link ends the whole *session* (not just the link), and a
  Messenger uses one session per connection.
* RELEASED requeues at the head of the queue; the redelivered message has
  ``first_acquirer`` False but ``delivery_count`` still 0. REJECTED discards.
* A wrong password is answered ``amqp:unauthorized-access`` after a delay of
  about 3 s (the broker's, not ours).
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from proton import SSL

from msgr_tui.messenger import (
    ABORTED,
    ACCEPTED,
    PENDING,
    REJECTED,
    RELEASED,
    Message,
    Messenger,
    MessengerException,
    Timeout,
)
from msgr_tui.messenger.errors import TransportFailed
from msgr_tui.messenger.subscription import SubscriptionState
from tests.conftest import RabbitMQ
from tests.helpers import pump_until, started, stop_all, stopping_messengers

pytestmark = pytest.mark.rabbitmq

# Every blocking call gets this timeout: a lost message is an error, not a hang,
# and a failure noticed only at the timeout raises Timeout and fails the test.
TIMEOUT = 20.0

MakeMessenger = Callable[..., Messenger]


def unique(kind: str) -> str:
    return f"msgr-tui-{kind}-{uuid.uuid4().hex}"


def queue_address(rabbitmq: RabbitMQ, queue: str) -> str:
    """``amqp://guest:guest@127.0.0.1:5672//queue/QUEUE`` (the name part is ``/queue/QUEUE``)."""
    return f"{rabbitmq.url}//queue/{queue}"


def written_address(rabbitmq: RabbitMQ, name: str) -> str:
    """The address a receiver sees: the sender's, minus ``user:password@`` (default rewrite)."""
    return f"amqp://{rabbitmq.host}:{rabbitmq.port}/{name}"


@pytest.fixture
def make(rabbitmq: RabbitMQ) -> Iterator[MakeMessenger]:
    """Start Messengers (timeout TIMEOUT unless given); stop them before the broker goes."""
    with stopping_messengers(TIMEOUT) as factory:
        yield factory


def remaining(rabbitmq: RabbitMQ, queue: str) -> list[Any]:
    """Drain ``queue`` and return the bodies that were in it, in order.

    A sentinel is appended and the queue is read up to it, so "empty" is known
    without waiting for a silence. Nobody else may be consuming the queue.
    """
    sentinel = f"sentinel-{uuid.uuid4().hex}"
    messenger = started(timeout=TIMEOUT, outgoing_window=1)
    try:
        tracker = messenger.put(Message(address=queue_address(rabbitmq, queue), body=sentinel))
        messenger.send()
        assert messenger.status(tracker) is ACCEPTED
        messenger.subscribe(queue_address(rabbitmq, queue))
        bodies: list[Any] = []
        message = Message()
        deadline = time.monotonic() + TIMEOUT
        while True:
            assert time.monotonic() < deadline, f"queue {queue} did not drain: {bodies[-5:]}"
            messenger.recv()
            while messenger.incoming:
                messenger.get(message)
                if message.body == sentinel:
                    return bodies
                bodies.append(message.body)
    finally:
        messenger.stop()


@pytest.fixture
def queue(rabbitmq: RabbitMQ) -> Iterator[str]:
    """A fresh queue name; whatever a test leaves in the queue is drained afterwards."""
    name = unique("q")
    yield name
    with contextlib.suppress(Exception):
        remaining(rabbitmq, name)


def receive(messenger: Messenger, count: int) -> list[tuple[Message, int]]:
    """Blocking receive of exactly ``count`` messages (each recv bounded by the timeout)."""
    got: list[tuple[Message, int]] = []
    deadline = time.monotonic() + TIMEOUT
    while len(got) < count:
        assert time.monotonic() < deadline, f"only {len(got)} of {count} messages arrived"
        messenger.recv(count - len(got))
        while messenger.incoming and len(got) < count:
            message = Message()
            tracker = messenger.get(message)
            got.append((message, tracker))
    return got


def attached(*messengers: Messenger) -> Callable[[], bool]:
    return lambda: all(
        s.state is SubscriptionState.ATTACHED for m in messengers for s in m.subscriptions
    )


def sasl_mechanisms(messenger: Messenger) -> list[str]:
    return [conn.sasl_mechanism for conn in messenger.connections]


# ------------------------------------------------------------ send, receive


def test_a_message_put_to_a_queue_is_accepted_and_received_intact(
    rabbitmq: RabbitMQ, queue: str, make: MakeMessenger
) -> None:
    sender = make("rabbit-sender", outgoing_window=10)
    message = Message(address=queue_address(rabbitmq, queue), body={"order": 42, "items": [1, 2]})
    message.subject = "new order"
    message.id = "order-42"
    message.correlation_id = "corr-7"
    message.content_type = "application/json"
    message.reply_to = "~/replies"
    message.properties = {"customer": "ada", "priority": 3, "rush": True}
    tracker = sender.put(message)
    assert sender.status(tracker) is PENDING
    sender.send()
    assert sender.status(tracker) is ACCEPTED
    assert sender.outgoing == 0
    # The caller's message is untouched (credentials, ~ reply_to).
    assert message.address == queue_address(rabbitmq, queue)
    assert message.reply_to == "~/replies"

    receiver = make("rabbit-receiver")
    subscription = receiver.subscribe(queue_address(rabbitmq, queue))
    assert subscription.address == queue_address(rabbitmq, queue)
    [(got, _)] = receive(receiver, 1)
    assert subscription.state is SubscriptionState.ATTACHED
    assert got.body == {"order": 42, "items": [1, 2]}
    assert got.subject == "new order"
    assert got.id == "order-42"
    assert got.correlation_id == "corr-7"
    assert got.content_type == "application/json"
    assert got.reply_to == "amqp://rabbit-sender/replies"
    assert got.properties == {"customer": "ada", "priority": 3, "rush": True}
    # The address the sender wrote, without its credentials.
    assert got.address == written_address(rabbitmq, f"/queue/{queue}")
    assert receiver.incoming == 0
    sender.stop()
    receiver.stop()
    # incoming_window 0: get() accepted it, so the broker removed it.
    assert remaining(rabbitmq, queue) == []


def test_a_plain_queue_name_is_the_same_queue(
    rabbitmq: RabbitMQ, queue: str, make: MakeMessenger
) -> None:
    sender = make(outgoing_window=10)
    plain = f"{rabbitmq.url}/{queue}"
    trackers = [sender.put(Message(address=plain, body=f"plain-{i}")) for i in range(3)]
    sender.send()
    assert [sender.status(t) for t in trackers] == [ACCEPTED] * 3

    receiver = make()
    receiver.subscribe(plain)
    first, _ = receive(receiver, 1)[0]
    assert first.body == "plain-0"
    assert first.address == written_address(rabbitmq, queue)
    receiver.stop()
    # NAME, /queue/NAME and /amq/queue/NAME (which must exist: it does now)
    # all name the same queue.
    other = make()
    other.subscribe(f"{rabbitmq.url}//amq/queue/{queue}")
    second, _ = receive(other, 1)[0]
    assert second.body == "plain-1"
    other.stop()
    assert remaining(rabbitmq, queue) == ["plain-2"]


# ------------------------------------------------- the consumer's outcomes


def test_accept_reject_and_release_by_the_consumer(
    rabbitmq: RabbitMQ, queue: str, make: MakeMessenger
) -> None:
    sender = make(outgoing_window=10)
    for body in ("keep", "bad", "later"):
        sender.put(Message(address=queue_address(rabbitmq, queue), body=body))
    sender.send()

    consumer = make(incoming_window=10)
    consumer.subscribe(queue_address(rabbitmq, queue))
    received = receive(consumer, 3)
    assert [m.body for m, _ in received] == ["keep", "bad", "later"]
    (_, keep), (_, bad), (_, later) = received
    assert [consumer.status(t) for t in (keep, bad, later)] == [PENDING] * 3
    consumer.accept(keep)
    consumer.reject(bad)
    consumer.release(later)
    assert consumer.status(keep) is ACCEPTED
    assert consumer.status(bad) is REJECTED
    assert consumer.status(later) is RELEASED
    consumer.stop()

    # Only the released message is back; accepted and rejected ones are gone.
    assert remaining(rabbitmq, queue) == ["later"]


def test_a_rejected_message_is_gone_for_every_consumer(
    rabbitmq: RabbitMQ, queue: str, make: MakeMessenger
) -> None:
    sender = make(outgoing_window=1)
    sender.put(Message(address=queue_address(rabbitmq, queue), body="poison"))
    sender.send()

    consumer = make(incoming_window=1)
    consumer.subscribe(queue_address(rabbitmq, queue))
    [(message, tracker)] = receive(consumer, 1)
    assert message.body == "poison"
    consumer.reject(tracker)
    assert consumer.status(tracker) is REJECTED
    consumer.stop()

    # A second consumer, with credit, sees nothing during a short pump...
    second = make(blocking=False)
    second.subscribe(queue_address(rabbitmq, queue))
    second.recv(10)
    pump_until([second], attached(second), what="the second consumer to attach")
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        second.work(0.05)
    assert second.incoming == 0
    second.blocking = True
    second.stop()
    # ...and the queue holds nothing in front of a fresh message.
    assert remaining(rabbitmq, queue) == []


def test_a_released_message_is_redelivered_to_a_fresh_subscriber(
    rabbitmq: RabbitMQ, queue: str, make: MakeMessenger
) -> None:
    sender = make(outgoing_window=2)
    for body in ("job-1", "job-2"):
        sender.put(Message(address=queue_address(rabbitmq, queue), body=body))
    sender.send()

    first = make(incoming_window=5)
    first.subscribe(queue_address(rabbitmq, queue))
    [(message, tracker)] = receive(first, 1)
    assert message.body == "job-1"
    # First delivery as RabbitMQ marks it.
    assert message.first_acquirer is True
    assert message.delivery_count == 0
    first.release(tracker)
    assert first.status(tracker) is RELEASED
    first.stop()

    again = make(incoming_window=5)
    again.subscribe(queue_address(rabbitmq, queue))
    redelivered, tracker = receive(again, 1)[0]
    # Requeued at the head, in front of job-2.
    assert redelivered.body == "job-1"
    # Observed on RabbitMQ 3.10: the redelivery is flagged through
    # first_acquirer only; delivery_count is not incremented for RELEASED
    # (as AMQP 1.0 specifies for that outcome).
    assert redelivered.first_acquirer is False
    assert redelivered.delivery_count == 0
    again.accept(tracker)
    assert again.status(tracker) is ACCEPTED
    again.stop()
    assert remaining(rabbitmq, queue) == ["job-2"]


def test_messages_pushed_out_of_the_incoming_window_are_accepted(
    rabbitmq: RabbitMQ, queue: str, make: MakeMessenger
) -> None:
    sender = make()
    for i in range(5):
        sender.put(Message(address=queue_address(rabbitmq, queue), body=i))
    sender.send()

    consumer = make(incoming_window=2)
    consumer.subscribe(queue_address(rabbitmq, queue))
    trackers = [t for _, t in receive(consumer, 5)]
    # Only the last two are still ours to decide; the first three were accepted.
    assert [consumer.status(t) for t in trackers] == [None, None, None, PENDING, PENDING]
    consumer.release()  # no tracker: everything still in the window
    assert [consumer.status(t) for t in trackers[3:]] == [RELEASED, RELEASED]
    consumer.stop()
    assert remaining(rabbitmq, queue) == [3, 4]


# --------------------------------------------------- refusals by the broker


def test_sending_to_a_missing_amq_queue_is_accepted_and_dropped(
    rabbitmq: RabbitMQ, make: MakeMessenger
) -> None:
    # Observed on RabbitMQ 3.10 (BROKERS.md only says "must exist"): that
    # holds for *sources*. A sender to /amq/queue/MISSING is attached and its
    # message is routed through the default exchange; nothing is bound, so the
    # broker ACCEPTs it and drops it. No error, and no queue is created.
    missing = unique("missing")
    sender = make(outgoing_window=1)
    tracker = sender.put(Message(address=f"{rabbitmq.url}//amq/queue/{missing}", body="void"))
    sender.send()
    assert sender.status(tracker) is ACCEPTED
    sender.stop()

    receiver = make(blocking=False)
    subscription = receiver.subscribe(f"{rabbitmq.url}//amq/queue/{missing}")
    receiver.recv(1)
    pump_until(
        [receiver], lambda: subscription.state is SubscriptionState.FAILED, what="the refusal"
    )
    assert subscription.failure is not None
    assert subscription.failure.condition is not None
    assert subscription.failure.condition.name == "amqp:not-found"


def test_a_sender_link_the_broker_refuses_aborts_its_message_with_the_reason(
    rabbitmq: RabbitMQ, make: MakeMessenger
) -> None:
    exchange = unique("no-exchange")
    sender = make(outgoing_window=5)
    tracker = sender.put(Message(address=f"{rabbitmq.url}//exchange/{exchange}/key", body=1))
    sender.send()  # returns before its timeout: the refusal answers the message
    assert sender.status(tracker) is ABORTED
    failure = sender.failure(tracker)
    assert failure is not None
    assert failure.condition is not None and failure.condition.name == "amqp:not-found"
    assert exchange in failure.reason
    assert "guest:guest" not in str(failure)
    assert sender.outgoing == 0


def test_the_messenger_keeps_working_after_the_broker_refuses_a_link(
    rabbitmq: RabbitMQ, queue: str, make: MakeMessenger
) -> None:
    sender = make(outgoing_window=5)
    refused = sender.put(
        Message(address=f"{rabbitmq.url}//exchange/{unique('no-exchange')}/k", body=1)
    )
    sender.send()
    assert sender.status(refused) is ABORTED
    # Same connection (same credentials, host and port), a queue that works.
    tracker = sender.put(Message(address=queue_address(rabbitmq, queue), body="after"))
    sender.send()
    assert sender.status(tracker) is ACCEPTED


def test_a_failed_subscription_does_not_break_later_ones(
    rabbitmq: RabbitMQ, queue: str, make: MakeMessenger
) -> None:
    sender = make()
    sender.put(Message(address=queue_address(rabbitmq, queue), body="waiting"))
    sender.send()

    receiver = make(blocking=False)
    bad = receiver.subscribe(f"{rabbitmq.url}//amq/queue/{unique('missing')}")
    receiver.recv(1)
    pump_until([receiver], lambda: bad.state is SubscriptionState.FAILED, what="the refusal")
    assert bad.failure is not None and "not-found" in bad.failure.reason
    good = receiver.subscribe(queue_address(rabbitmq, queue))
    receiver.blocking = True
    receiver.recv(1)
    assert good.state is SubscriptionState.ATTACHED
    message = Message()
    receiver.get(message)
    assert message.body == "waiting"


def test_a_refused_link_ends_the_session_and_its_sibling_links_say_so(
    rabbitmq: RabbitMQ, queue: str, make: MakeMessenger
) -> None:
    # RabbitMQ 3.10 answers a refused attach by ending the session, and a
    # Messenger has one session per connection: a subscription sharing the
    # connection is lost too. It must be reported, not left silently dead.
    messenger = make(outgoing_window=5)
    subscription = messenger.subscribe(queue_address(rabbitmq, queue))
    messenger.put(Message(address=queue_address(rabbitmq, queue), body="before"))
    messenger.send()
    [(message, _)] = receive(messenger, 1)
    assert message.body == "before"
    assert subscription.state is SubscriptionState.ATTACHED

    exchange = unique("no-exchange")
    tracker = messenger.put(Message(address=f"{rabbitmq.url}//exchange/{exchange}/k", body=1))
    messenger.send()
    assert messenger.status(tracker) is ABORTED
    assert subscription.state is SubscriptionState.FAILED
    assert subscription.error is not None and exchange in subscription.error


def test_subscribing_to_a_missing_amq_queue_fails_the_subscription(
    rabbitmq: RabbitMQ, make: MakeMessenger
) -> None:
    missing = unique("missing")
    receiver = make(blocking=False)
    subscription = receiver.subscribe(f"{rabbitmq.url}//amq/queue/{missing}")
    receiver.recv(1)
    pump_until(
        [receiver], lambda: subscription.state is SubscriptionState.FAILED, what="the refusal"
    )
    assert subscription.failure is not None
    assert missing in subscription.failure.where
    assert subscription.error is not None and "amqp:not-found" in subscription.error


@pytest.mark.parametrize(
    ("address", "condition"),
    [
        ("amqp://guest:wrong-password@127.0.0.1:5672//queue/x", "amqp:unauthorized-access"),
        ("amqp://guest:guest@127.0.0.1:5672//exchange/{missing}/k", "amqp:not-found"),
    ],
    ids=["unauthorized", "not-found"],
)
def test_errors_carry_the_amqp_condition_name(
    rabbitmq: RabbitMQ, make: MakeMessenger, address: str, condition: str
) -> None:
    quiet = make(outgoing_window=1)
    tracker = quiet.put(Message(address=address.format(missing=unique("no-exchange")), body=1))
    quiet.send()
    failure = quiet.failure(tracker)
    assert failure is not None and failure.condition is not None
    assert failure.condition.name == condition

    # Raised instead, on request: the same condition, as data.
    strict = make(outgoing_window=1, raise_failures=True)
    strict.put(Message(address=address.format(missing=unique("no-exchange")), body=1))
    with pytest.raises(TransportFailed) as caught:
        strict.send()
    assert condition in str(caught.value)
    assert caught.value.condition == condition
    assert caught.value.failure is not None
    assert caught.value.failure.condition is not None
    assert caught.value.failure.condition.name == condition


# ------------------------------------------------------------ authentication


def test_sasl_plain_and_anonymous_both_reach_the_queue(
    rabbitmq: RabbitMQ, queue: str, make: MakeMessenger
) -> None:
    anonymous_address = f"amqp://{rabbitmq.host}:{rabbitmq.port}//queue/{queue}"
    plain = make(outgoing_window=1)
    tracker = plain.put(Message(address=queue_address(rabbitmq, queue), body="as guest"))
    plain.send()
    assert plain.status(tracker) is ACCEPTED
    assert sasl_mechanisms(plain) == ["PLAIN"]

    # No credentials: SASL ANONYMOUS, which RabbitMQ maps to guest.
    anonymous = make(outgoing_window=1)
    tracker = anonymous.put(Message(address=anonymous_address, body="anonymous"))
    anonymous.send()
    assert anonymous.status(tracker) is ACCEPTED
    assert sasl_mechanisms(anonymous) == ["ANONYMOUS"]

    receiver = make()
    receiver.subscribe(anonymous_address)
    assert [m.body for m, _ in receive(receiver, 2)] == ["as guest", "anonymous"]
    assert sasl_mechanisms(receiver) == ["ANONYMOUS"]
    stop_all(plain, anonymous, receiver)
    assert remaining(rabbitmq, queue) == []


def test_a_wrong_password_fails_clearly_without_revealing_it(
    rabbitmq: RabbitMQ, queue: str, make: MakeMessenger
) -> None:
    secret = f"not-the-password-{uuid.uuid4().hex[:8]}"
    address = f"amqp://guest:{secret}@{rabbitmq.host}:{rabbitmq.port}//queue/{queue}"
    sender = make(outgoing_window=1)
    tracker = sender.put(Message(address=address, body="denied"))
    sender.send()  # RabbitMQ itself takes about 3 s to refuse
    assert sender.status(tracker) is ABORTED
    failure = sender.failure(tracker)
    assert failure is not None
    assert failure.condition is not None
    assert failure.condition.name == "amqp:unauthorized-access"
    assert failure.where == f"amqp://guest@{rabbitmq.host}:{rabbitmq.port}"  # says where
    assert failure.permanent
    for text in (str(failure), repr(failure)):
        assert secret not in text
    assert sender.outgoing == 0

    receiver = make()
    subscription = receiver.subscribe(address)
    with pytest.raises(MessengerException, match="unauthorized") as caught:
        receiver.recv(1)  # its only source failed: "no valid sources", and why
    assert secret not in str(caught.value) and secret not in repr(caught.value)
    assert subscription.state is SubscriptionState.FAILED
    assert secret not in (subscription.error or "")
    # Nothing got through.
    assert remaining(rabbitmq, queue) == []


# ---------------------------------------------------------------------- TLS


def tls_address(rabbitmq: RabbitMQ, queue: str, host: str | None = None) -> str:
    return f"amqps://guest:guest@{host or rabbitmq.tls_host}:{rabbitmq.tls_port}//queue/{queue}"


def test_tls_with_the_brokers_ca_and_hostname_check(
    rabbitmq: RabbitMQ, queue: str, make: MakeMessenger
) -> None:
    assert SSL.present(), "python-qpid-proton was built without TLS support"
    tls = {"trusted_certificates": rabbitmq.ca, "verify_hostname": True}
    sender = make(outgoing_window=5, **tls)
    trackers = [sender.put(Message(address=tls_address(rabbitmq, queue), body=i)) for i in range(3)]
    sender.send()
    assert [sender.status(t) for t in trackers] == [ACCEPTED] * 3

    receiver = make(**tls)
    receiver.subscribe(tls_address(rabbitmq, queue))
    received = receive(receiver, 3)
    assert [m.body for m, _ in received] == [0, 1, 2]
    assert received[0][0].address == (
        f"amqps://{rabbitmq.tls_host}:{rabbitmq.tls_port}//queue/{queue}"
    )
    stop_all(sender, receiver)
    assert remaining(rabbitmq, queue) == []


def test_tls_without_hostname_check_verifies_only_the_chain(
    rabbitmq: RabbitMQ, queue: str, make: MakeMessenger
) -> None:
    # The default checks the name too (the original's VERIFY_PEER_NAME): the
    # broker's certificate names localhost, so its IP address does not pass...
    checked = make(outgoing_window=1, trusted_certificates=rabbitmq.ca)
    refused = checked.put(Message(address=tls_address(rabbitmq, queue, "127.0.0.1"), body="x"))
    checked.send()
    assert checked.status(refused) is ABORTED
    failure = checked.failure(refused)
    assert failure is not None and "IP address" in failure.reason
    # ...while checking the chain only (an extension) lets it through.
    sender = make(outgoing_window=1, trusted_certificates=rabbitmq.ca, verify_hostname=False)
    tracker = sender.put(Message(address=tls_address(rabbitmq, queue, "127.0.0.1"), body="ip"))
    sender.send()
    assert sender.status(tracker) is ACCEPTED
    sender.stop()
    assert remaining(rabbitmq, queue) == ["ip"]


def test_tls_with_a_ca_that_did_not_sign_the_broker_fails_clearly(
    rabbitmq: RabbitMQ, queue: str, make: MakeMessenger, certs: Any
) -> None:
    sender = make(outgoing_window=1, trusted_certificates=certs.rogue_ca, verify_hostname=True)
    tracker = sender.put(Message(address=tls_address(rabbitmq, queue), body="secret"))
    sender.send()
    assert sender.status(tracker) is ABORTED
    failure = sender.failure(tracker)
    assert failure is not None
    assert "certificate verify failed" in failure.reason
    assert failure.where == f"amqps://guest@{rabbitmq.tls_host}:{rabbitmq.tls_port}"
    assert "guest:guest" not in str(failure)
    assert sender.outgoing == 0

    receiver = make(trusted_certificates=certs.rogue_ca)
    receiver.subscribe(tls_address(rabbitmq, queue))
    with pytest.raises(MessengerException, match="certificate verify failed"):
        receiver.recv(1)  # no valid sources left, and why
    assert remaining(rabbitmq, queue) == []


# ------------------------------------------------------------ volume, sharing


def test_a_stream_of_messages_arrives_exactly_once_and_in_order(
    rabbitmq: RabbitMQ, queue: str, make: MakeMessenger
) -> None:
    count, window = 2000, 100
    # The consumer is attached first, so sending and receiving overlap.
    receiver = make(incoming_window=window, blocking=False)
    receiver.subscribe(queue_address(rabbitmq, queue))
    receiver.recv(-1)
    sender = make(outgoing_window=window, blocking=False)
    pump_until([receiver], attached(receiver), what="the consumer to attach")

    trackers = [
        sender.put(
            Message(
                address=queue_address(rabbitmq, queue),
                body=f"m{i}",
                properties={"seq": i},
            )
        )
        for i in range(count)
    ]
    bodies: list[str] = []
    sequence: list[int] = []
    last_in: list[int] = []
    message = Message()

    def take() -> bool:
        while receiver.incoming:
            last_in.append(receiver.get(message))
            bodies.append(message.body)
            sequence.append(message.properties["seq"])
        return len(bodies) >= count and all(sender.status(t) is not PENDING for t in trackers)

    pump_until([sender, receiver], take, timeout=120, what=f"{count} messages")
    assert sequence == list(range(count))
    assert bodies == [f"m{i}" for i in range(count)]
    # Only the last `window` trackers keep a status, and the broker accepted each.
    assert [sender.status(t) for t in trackers[-window:]] == [ACCEPTED] * window
    assert all(sender.status(t) is None for t in trackers[:-window])
    assert sender.outgoing == 0
    # The consumer still holds the last `window` deliveries; the rest were accepted.
    assert receiver.status(last_in[-1]) is PENDING
    assert receiver.status(last_in[-window - 1]) is None
    receiver.accept()
    assert receiver.status(last_in[-1]) is ACCEPTED
    stop_all(sender, receiver)
    assert remaining(rabbitmq, queue) == []


def test_competing_consumers_share_a_queue(
    rabbitmq: RabbitMQ, queue: str, make: MakeMessenger
) -> None:
    count = 200
    consumers = [make(f"worker-{i}", blocking=False) for i in range(2)]
    for consumer in consumers:
        consumer.subscribe(queue_address(rabbitmq, queue))
        consumer.recv(10)  # small credit: neither can take everything
    pump_until(consumers, attached(*consumers), what="both consumers to attach")

    sender = make(blocking=False, outgoing_window=count)
    trackers = [
        sender.put(Message(address=queue_address(rabbitmq, queue), body=i)) for i in range(count)
    ]
    got: dict[str, list[int]] = {c.name: [] for c in consumers}
    message = Message()

    def take() -> bool:
        for consumer in consumers:
            while consumer.incoming:
                consumer.get(message)
                got[consumer.name].append(message.body)
            consumer.recv(10)  # non-blocking: top the credit up again
        return sum(len(b) for b in got.values()) >= count

    pump_until([sender, *consumers], take, what=f"{count} messages at the two consumers")
    pump_until([sender], lambda: all(sender.status(t) is ACCEPTED for t in trackers))
    everything = got["worker-0"] + got["worker-1"]
    assert sorted(everything) == list(range(count))  # each message exactly once
    assert got["worker-0"] and got["worker-1"], {k: len(v) for k, v in got.items()}
    # Each consumer sees its share in queue order.
    for bodies in got.values():
        assert bodies == sorted(bodies)
    stop_all(sender, *consumers)
    assert remaining(rabbitmq, queue) == []


def test_topic_subscribers_each_get_what_is_published(
    rabbitmq: RabbitMQ, make: MakeMessenger
) -> None:
    key = unique("topic")
    topic = f"{rabbitmq.url}//topic/{key}"
    subscribers = [make(blocking=False) for _ in range(2)]
    for subscriber in subscribers:
        subscriber.subscribe(topic)
        subscriber.recv(10)
    # The broker binds each subscriber's temporary queue on attach: publish after.
    pump_until(subscribers, attached(*subscribers), what="the subscribers to attach")

    publisher = make(outgoing_window=5)
    trackers = [publisher.put(Message(address=topic, body=f"news-{i}")) for i in range(3)]
    publisher.send()
    assert [publisher.status(t) for t in trackers] == [ACCEPTED] * 3

    pump_until(subscribers, lambda: all(s.incoming == 3 for s in subscribers), what="fan-out")
    for subscriber in subscribers:
        bodies = []
        for _ in range(3):
            message = Message()
            subscriber.get(message)
            bodies.append(message.body)
            assert message.address == written_address(rabbitmq, f"/topic/{key}")
        assert bodies == ["news-0", "news-1", "news-2"]

    # Nobody subscribed to another key: RabbitMQ accepts and drops the message.
    tracker = publisher.put(Message(address=f"{rabbitmq.url}//topic/{unique('nobody')}", body=0))
    publisher.send()
    assert publisher.status(tracker) is ACCEPTED
    stop_all(publisher, *subscribers)


def test_recv_times_out_on_an_empty_queue(
    rabbitmq: RabbitMQ, queue: str, make: MakeMessenger
) -> None:
    receiver = make(blocking=False)
    subscription = receiver.subscribe(queue_address(rabbitmq, queue))
    receiver.recv(1)
    # However long the broker takes to attach (a loaded machine), wait for it...
    pump_until(
        [receiver], lambda: subscription.state is SubscriptionState.ATTACHED, what="the attach"
    )
    # ...then an empty queue gives nothing, and a blocking recv times out.
    receiver.blocking = True
    receiver.timeout = 0.3
    with pytest.raises(Timeout):
        receiver.recv(1)
    assert subscription.state is SubscriptionState.ATTACHED
    assert receiver.incoming == 0


def test_plain_credentials_over_plain_tcp_are_refused_unless_allowed(rabbitmq: RabbitMQ) -> None:
    address = f"amqp://guest:guest@127.0.0.1:{rabbitmq.port}/security-{uuid.uuid4().hex}"
    careful = started("careful", allow_insecure_mechs=False, outgoing_window=1, timeout=20)
    tracker = careful.put(Message(address=address, body="secret stuff"))
    careful.send()
    assert careful.status(tracker) is ABORTED
    failure = careful.failure(tracker)
    assert failure is not None
    assert "clear over unencrypted TCP" in failure.reason and "amqps://" in failure.reason
    assert "guest:guest" not in str(failure)
    assert failure.permanent
    careful.stop()

    trusting = started("trusting", allow_insecure_mechs=True, outgoing_window=1, timeout=20)
    tracker = trusting.put(Message(address=address, body="ok, on loopback"))
    trusting.send()
    assert trusting.status(tracker) is ACCEPTED
    trusting.stop()
