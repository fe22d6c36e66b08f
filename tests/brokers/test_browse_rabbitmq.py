"""Browsing, selectors and MODIFIED against RabbitMQ 3.10 (extensions).

RabbitMQ echoes distribution-mode ``copy`` and selector filters in its attach
answer but honours neither (BROKERS.md): it removes what a "browser" accepts
and delivers every message whatever the selector. Its open frame names it
(``product`` RabbitMQ), so a browse there is a PEEK: messages are held
unsettled and given back (RELEASED) when the subscription ends, and the
broker's own count (rabbitmqctl) shows the queue untouched. Releasing each
message at ``get`` would not do: RabbitMQ puts a released message back at the
head of the queue and sends it again to the same link, round and round.

MODIFIED is not supported by 3.10: the broker ends the session with
``amqp:invalid-field``, which must reach the program as a Failure.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from msgr_tui.messenger import RELEASED, BrowseMode, Message, MessengerException
from msgr_tui.messenger.errors import LinkRefused
from msgr_tui.messenger.subscription import SubscriptionState
from tests.conftest import RabbitMQ
from tests.helpers import Make, pump_until, stopping_messengers
from tests.messagefile.test_commands import drain, fill, queue_depth, queue_url
from tests.messenger.test_browse import browse_all

pytestmark = pytest.mark.rabbitmq

TIMEOUT = 20.0
COUNT = 25


@pytest.fixture
def make(rabbitmq: RabbitMQ) -> Iterator[Make]:
    with stopping_messengers(TIMEOUT) as factory:
        yield factory


def unique() -> str:
    return f"msgr-tui-browse-{uuid.uuid4().hex}"


def test_browsing_a_queue_leaves_it_as_it_was_counted_by_the_broker(
    rabbitmq: RabbitMQ, make: Make
) -> None:
    queue = unique()
    fill(rabbitmq, queue, COUNT)
    assert queue_depth(queue) == COUNT
    browser = make("browser", incoming_window=COUNT)
    subscription = browser.subscribe(queue_url(rabbitmq, queue), browse=True)
    bodies, trackers = browse_all(browser, COUNT)
    assert bodies == list(range(COUNT))  # every message once, in order, no cycling
    assert subscription.peer_product == "RabbitMQ"
    assert subscription.copy_echoed is True  # echoed...
    assert subscription.echo_trusted is False  # ...by a peer known not to honour it
    assert subscription.browse_mode is BrowseMode.PEEK
    (view,) = browser.connections
    assert view.remote_product == "RabbitMQ" and view.remote_version
    with pytest.raises(MessengerException, match="was browsed"):
        browser.accept(trackers[0])
    browser.accept()  # bulk: browsed messages are passed by
    assert queue_depth(queue) == COUNT  # held, not consumed

    browser.unsubscribe(subscription)
    assert [browser.status(t) for t in trackers] == [RELEASED] * COUNT
    pump_until([browser], lambda: not any(c.links for c in browser.connections), what="the detach")
    browser.stop()
    assert queue_depth(queue) == COUNT
    assert drain(rabbitmq, queue) == list(range(COUNT))


def test_a_selector_is_echoed_but_reported_not_honoured(rabbitmq: RabbitMQ, make: Make) -> None:
    queue = unique()
    address = queue_url(rabbitmq, queue)
    sender = make("sender", outgoing_window=10)
    colors = ["red", "blue", "red", "green"]
    for number, color in enumerate(colors):
        sender.put(Message(address=address, body=number, properties={"color": color}))
    sender.send()
    browser = make("browser", incoming_window=10)
    subscription = browser.subscribe(address, browse=True, selector="color = 'red'")
    bodies, _ = browse_all(browser, len(colors))
    assert subscription.selector == "color = 'red'"
    assert subscription.selector_confirmed is True
    assert subscription.selector_honoured is False
    assert bodies == [0, 1, 2, 3]  # blue and green too: RabbitMQ does not filter
    browser.stop()
    assert drain(rabbitmq, queue) == [0, 1, 2, 3]


def test_modify_on_rabbitmq_is_a_failure_with_its_condition_not_a_hang(
    rabbitmq: RabbitMQ, make: Make
) -> None:
    queue = unique()
    fill(rabbitmq, queue, 2)
    address = queue_url(rabbitmq, queue)

    raising = make("raising", incoming_window=10, raise_failures=True)
    raising.subscribe(address)
    raising.recv(1)
    raising.modify(raising.get(), delivery_failed=True)
    with pytest.raises(LinkRefused) as raised:
        raising.recv(1)  # sends the disposition; the broker ends the session
    assert raised.value.failure is not None
    assert raised.value.failure.condition is not None
    assert raised.value.failure.condition.name == "amqp:invalid-field"
    raising.stop()

    quiet = make("quiet", incoming_window=10, blocking=False)
    subscription = quiet.subscribe(address)
    quiet.recv(1)
    pump_until([quiet], lambda: quiet.incoming > 0, what="a message")
    quiet.modify(quiet.get())
    pump_until([quiet], lambda: subscription.state is SubscriptionState.FAILED, what="the failure")
    assert subscription.failure is not None and subscription.failure.condition is not None
    assert subscription.failure.condition.name == "amqp:invalid-field"
    quiet.blocking = True
    quiet.stop()
    assert sorted(drain(rabbitmq, queue)) == [0, 1]  # the broker kept both messages
