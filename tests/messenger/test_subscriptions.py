"""Subscriptions: subscribing twice, and ``unsubscribe`` (an extension) of sources and listeners.

A news feed is a Messenger listening on loopback; the inbox subscribes to
``<feed>/news``, which opens a receiver link to the feed, and the feed pushes
messages over it (addressed to the inbox by its name). The feed records the
links it sees open and close, so what an inbox call did is seen at the peer.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

import pytest

from msgr_tui.messenger import Message, Messenger, MessengerException, Subscription
from msgr_tui.messenger.events import LinkClosed, LinkOpened, MessengerEvent
from msgr_tui.messenger.subscription import SubscriptionState
from tests.helpers import Make, pump_until, started

LISTEN = "amqp://~127.0.0.1:0"


@dataclass
class Feed:
    """A listening Messenger that records its link events."""

    messenger: Messenger
    address: str
    events: list[MessengerEvent] = field(default_factory=list)

    def links(self, kind: type) -> list[MessengerEvent]:
        return [e for e in self.events if isinstance(e, kind) and e.role == "sender"]


@pytest.fixture
def feed(messengers: Make) -> Feed:
    messenger = messengers("feed", blocking=False)
    port = messenger.subscribe(LISTEN).port
    news = Feed(messenger, f"amqp://127.0.0.1:{port}")
    messenger.on_event = news.events.append
    return news


def receiver_links(messenger: Messenger) -> list[str | None]:
    return [
        link.address
        for conn in messenger.connections
        for link in conn.links
        if link.role == "receiver"
    ]


def test_subscribing_twice_to_a_source_returns_the_first_subscription(
    feed: Feed, messengers: Make
) -> None:
    inbox = messengers("inbox", blocking=False)
    first = inbox.subscribe(f"{feed.address}/news")
    again = inbox.subscribe(f"{feed.address}/news")
    assert again is first
    both = [inbox, feed.messenger]
    pump_until(both, lambda: first.state is SubscriptionState.ATTACHED, what="the news link")
    assert inbox.subscribe(f"{feed.address}/news") is first  # attached: still the same
    assert inbox.subscriptions == [first]
    assert receiver_links(inbox) == ["news"]
    assert len(feed.links(LinkOpened)) == 1  # one link at the feed, not two

    listener = inbox.subscribe(LISTEN)
    assert inbox.subscribe(LISTEN) is listener
    assert inbox.subscriptions == [first, listener]


@pytest.mark.parametrize("given", ["the source text", "the Subscription"])
def test_unsubscribing_closes_the_link_at_the_peer_and_keeps_the_connection(
    feed: Feed, given: str, messengers: Make
) -> None:
    inbox = messengers("inbox", blocking=False)
    source = f"{feed.address}/news"
    subscription = inbox.subscribe(source)
    inbox.recv()
    both = [inbox, feed.messenger]
    pump_until(both, lambda: subscription.state is SubscriptionState.ATTACHED, what="the link")
    feed.messenger.put(Message(address="amqp://inbox/news", body="before"))
    pump_until(both, lambda: inbox.incoming == 1, what="the news before")
    received = Message()
    inbox.get(received)
    assert received.body == "before"

    inbox.unsubscribe(source if given == "the source text" else subscription)
    assert subscription.state is SubscriptionState.CLOSED
    assert inbox.subscriptions == []
    pump_until(both, lambda: bool(feed.links(LinkClosed)), what="the detach at the feed")
    (closed,) = feed.links(LinkClosed)
    assert closed.error is None  # a clean detach, not a failure
    pump_until(both, lambda: receiver_links(inbox) == [], what="the link gone at the inbox")
    assert len(inbox.connections) == 1  # only the link went; the connection stays

    # Subscribing again is a new subscription with a new link.
    renewed = inbox.subscribe(source)
    assert renewed is not subscription
    pump_until(both, lambda: renewed.state is SubscriptionState.ATTACHED, what="the new link")
    assert len(feed.links(LinkOpened)) == 2


def test_unsubscribing_a_listener_closes_its_port() -> None:
    server = started("server")
    listener = server.subscribe(LISTEN)
    port = listener.port
    assert port
    socket.create_connection(("127.0.0.1", port), timeout=5).close()  # listening

    server.unsubscribe(LISTEN)
    assert listener.state is SubscriptionState.CLOSED
    assert server.subscriptions == []
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)
    # The port is free: another Messenger can listen there.
    other = started("other")
    assert other.subscribe(f"amqp://~127.0.0.1:{port}").port == port
    other.stop()
    server.stop()


def test_unsubscribing_what_is_not_subscribed_is_an_error_naming_it(
    feed: Feed, messengers: Make
) -> None:
    inbox = messengers("inbox", blocking=False)
    kept = inbox.subscribe(f"{feed.address}/news")
    with pytest.raises(MessengerException, match=r"not subscribed to 'amqp://elsewhere/q'"):
        inbox.unsubscribe("amqp://elsewhere/q")
    gone = inbox.subscribe(f"{feed.address}/sports")
    inbox.unsubscribe(gone)
    with pytest.raises(MessengerException, match="not subscribed to"):
        inbox.unsubscribe(gone)  # the second time it is unknown too
    assert inbox.subscriptions == [kept]
    assert isinstance(kept, Subscription) and kept.state is not SubscriptionState.CLOSED
