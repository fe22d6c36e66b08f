"""Extensions: browsing (``subscribe(browse=True)``), selectors, the peer's product, MODIFIED.

Browsing asks for distribution-mode ``copy``; what the peer's attach answer
makes of it is ``Subscription.browse_mode``. The peers here are a Messenger
listener (which echoes the source it is asked for, as the original did) and
raw Proton peers that echo the source, do not echo it, or echo it while
calling themselves ``RabbitMQ`` in their open frame (a peer known to echo
``copy`` and selectors without honouring them). The raw peers record the
outcome of every message they send, so that what a browser gives back is
seen where it matters: at the source.
"""

from __future__ import annotations

from typing import Any

import pytest
from proton import Delivery, Described, symbol

from msgr_tui.messenger import (
    MODIFIED,
    PENDING,
    RELEASED,
    BrowseMode,
    Message,
    Messenger,
    MessengerException,
    Modification,
)
from msgr_tui.messenger.subscription import SubscriptionState
from tests.helpers import Make, pump_until
from tests.peers import PeerBehaviour, RawPeer

LISTEN = "amqp://~127.0.0.1:0"
_OUTCOMES = {
    Delivery.ACCEPTED: "ACCEPTED",
    Delivery.REJECTED: "REJECTED",
    Delivery.RELEASED: "RELEASED",
    Delivery.MODIFIED: "MODIFIED",
}
BODIES = ["one", "two", "three"]


class Source(PeerBehaviour):
    """A raw peer that feeds BODIES to each receiver and records what comes back.

    ``echo``: answer the attach with the client's source (``copy`` and
    filters included) or with its address only. ``product``: the ``product``
    connection property of its open frame.
    """

    def __init__(self, *, echo: bool = True, product: str | None = None) -> None:
        super().__init__(feed=list(BODIES))
        self.echo = echo
        self.product = product
        self.outcomes: list[str] = []
        self.asked_filters: list[Any] = []
        self.asked_copy: list[bool] = []

    def on_connection_remote_open(self, event: Any) -> None:
        if self.product is not None:
            event.connection.properties = {
                symbol("product"): self.product,
                symbol("version"): "3.10.8",
            }
        super().on_connection_remote_open(event)

    def on_link_remote_open(self, event: Any) -> None:
        link = event.link
        if not link.is_sender or not link.state & link.LOCAL_UNINIT:
            super().on_link_remote_open(event)
            return
        remote = link.remote_source
        self.asked_copy.append(remote.distribution_mode == remote.DIST_MODE_COPY)
        remote.filter.rewind()
        self.asked_filters.append(remote.filter.get_object() if remote.filter.next() else None)
        remote.filter.rewind()
        if self.echo:
            link.source.copy(remote)
        else:
            link.source.address = remote.address
        link.target.copy(link.remote_target)
        link.open()

    def on_delivery(self, event: Any) -> None:
        delivery = event.delivery
        if event.link.is_sender:
            if delivery.remote_state is not None or delivery.settled:
                self.outcomes.append(_OUTCOMES.get(delivery.remote_state, "SETTLED"))
                delivery.settle()
            return
        super().on_delivery(event)


def browse_all(messenger: Messenger, count: int) -> tuple[list[Any], list[int]]:
    """Receive ``count`` messages; their bodies and trackers."""
    bodies: list[Any] = []
    trackers: list[int] = []
    message = Message()
    while len(bodies) < count:
        messenger.recv()
        while messenger.incoming:
            trackers.append(messenger.get(message))
            bodies.append(message.body)
    return bodies, trackers


def receiver(**properties: Any) -> Messenger:
    messenger = Messenger("browser")
    messenger.timeout = 10
    messenger.incoming_window = 10
    for key, value in properties.items():
        setattr(messenger, key, value)
    messenger.start()
    return messenger


def test_a_peer_that_does_not_echo_copy_is_peeked_and_gets_everything_back_at_unsubscribe() -> None:
    behaviour = Source(echo=False)
    with RawPeer(behaviour) as peer:
        browser = receiver()
        subscription = browser.subscribe(f"{peer.address}/orders", browse=True)
        assert subscription.browse and subscription.browse_mode is BrowseMode.PENDING
        bodies, trackers = browse_all(browser, len(BODIES))
        assert bodies == BODIES
        assert behaviour.asked_copy == [True]  # the attach asked for copy...
        assert subscription.copy_echoed is False  # ...and the answer did not carry it
        assert subscription.browse_mode is BrowseMode.PEEK
        assert subscription.echo_trusted is True
        # Held, never accepted: the source has no outcome for any of them yet.
        assert [browser.status(t) for t in trackers] == [PENDING] * 3
        browser.work(0)
        assert behaviour.outcomes == []
        for tracker in trackers:
            with pytest.raises(MessengerException, match="was browsed"):
                browser.accept(tracker)
        with pytest.raises(MessengerException, match="was browsed"):
            browser.reject(trackers[0])
        with pytest.raises(MessengerException, match="was browsed"):
            browser.modify(trackers[0])
        browser.accept()  # bulk accept passes browsed messages by
        assert [browser.status(t) for t in trackers] == [PENDING] * 3

        browser.unsubscribe(subscription)
        assert [browser.status(t) for t in trackers] == [RELEASED] * 3
        pump_until([browser], lambda: len(behaviour.outcomes) == 3, what="the give-backs")
        assert behaviour.outcomes == ["RELEASED"] * 3
        browser.stop()


def test_release_and_settle_give_a_peeked_message_back_early() -> None:
    behaviour = Source(echo=False)
    with RawPeer(behaviour) as peer:
        browser = receiver()
        browser.subscribe(f"{peer.address}/orders", browse=True)
        _, trackers = browse_all(browser, len(BODIES))
        browser.release(trackers[0])
        browser.settle(trackers[1])  # settling a browsed message gives it back too
        assert browser.status(trackers[0]) is RELEASED
        pump_until([browser], lambda: len(behaviour.outcomes) == 2, what="two give-backs")
        assert behaviour.outcomes == ["RELEASED", "RELEASED"]
        assert browser.status(trackers[2]) is PENDING
        browser.stop()  # the last one goes back with the stop
        assert behaviour.outcomes == ["RELEASED"] * 3


def test_a_peer_that_confirms_copy_is_browsed_and_each_copy_is_released_by_get() -> None:
    behaviour = Source(echo=True)
    with RawPeer(behaviour) as peer:
        browser = receiver(incoming_window=0)
        subscription = browser.subscribe(f"{peer.address}/orders", browse=True)
        bodies, _ = browse_all(browser, len(BODIES))
        assert bodies == BODIES
        assert subscription.copy_echoed is True
        assert subscription.browse_mode is BrowseMode.COPY
        # Incoming window 0 would accept each message in get: browsed ones are released.
        pump_until([browser], lambda: len(behaviour.outcomes) == 3, what="the releases")
        assert behaviour.outcomes == ["RELEASED"] * 3
        browser.stop()


def test_a_rabbitmq_peer_echoing_copy_and_the_selector_is_not_taken_at_its_word() -> None:
    behaviour = Source(echo=True, product="RabbitMQ")
    with RawPeer(behaviour) as peer:
        browser = receiver()
        subscription = browser.subscribe(
            f"{peer.address}/orders", browse=True, selector="color = 'red'"
        )
        _, trackers = browse_all(browser, len(BODIES))
        assert subscription.peer_product == "RabbitMQ"
        assert subscription.peer_version == "3.10.8"
        assert subscription.echo_trusted is False
        assert subscription.copy_echoed is True
        assert subscription.browse_mode is BrowseMode.PEEK  # echo only: held, never accepted
        assert subscription.selector_confirmed is True
        assert subscription.selector_honoured is False
        (view,) = browser.connections
        assert (view.remote_product, view.remote_version) == ("RabbitMQ", "3.10.8")
        with pytest.raises(MessengerException, match="was browsed"):
            browser.accept(trackers[0])
        browser.stop()
        assert behaviour.outcomes == ["RELEASED"] * 3


def test_a_selector_goes_out_as_proton_writes_it_and_its_echo_is_reported() -> None:
    echoing, silent = Source(echo=True), Source(echo=False)
    with RawPeer(echoing) as one, RawPeer(silent) as other:
        messenger = receiver()
        confirmed = messenger.subscribe(f"{one.address}/orders", selector="color = 'red'")
        unconfirmed = messenger.subscribe(f"{other.address}/orders", selector="color = 'red'")
        assert confirmed.selector == "color = 'red'"
        assert confirmed.selector_confirmed is None  # not attached yet
        pump_until(
            [messenger],
            lambda: SubscriptionState.ATTACHED == confirmed.state == unconfirmed.state,
            what="both links",
        )
        expected = {
            symbol("selector"): Described(
                symbol("apache.org:selector-filter:string"), "color = 'red'"
            )
        }
        assert echoing.asked_filters == [expected] and silent.asked_filters == [expected]
        assert echoing.asked_copy == [False]  # not browsing: no distribution mode asked
        assert (confirmed.selector_confirmed, confirmed.selector_honoured) == (True, True)
        assert (unconfirmed.selector_confirmed, unconfirmed.selector_honoured) == (False, False)
        assert confirmed.browse_mode is BrowseMode.NONE and confirmed.copy_echoed is None
        messenger.stop()


def test_without_the_extensions_nothing_is_asked_and_messages_are_consumed() -> None:
    behaviour = Source(echo=True)
    with RawPeer(behaviour) as peer:
        messenger = receiver(incoming_window=0)
        subscription = messenger.subscribe(f"{peer.address}/orders")
        browse_all(messenger, len(BODIES))
        assert behaviour.asked_copy == [False] and behaviour.asked_filters == [None]
        assert subscription.browse_mode is BrowseMode.NONE
        assert subscription.selector is None and subscription.selector_confirmed is None
        assert subscription.selector_honoured is None
        pump_until([messenger], lambda: len(behaviour.outcomes) == 3, what="the acceptances")
        assert behaviour.outcomes == ["ACCEPTED"] * 3
        messenger.stop()


def test_browsing_a_messenger_peer_which_echoes_the_source_as_the_original_did(
    messengers: Make,
) -> None:
    feed = messengers("feed", blocking=False, outgoing_window=10)
    port = feed.subscribe(LISTEN).port
    inbox = messengers("inbox", blocking=False, incoming_window=10)
    subscription = inbox.subscribe(f"amqp://127.0.0.1:{port}/news", browse=True)
    inbox.recv()
    both = [inbox, feed]
    pump_until(both, lambda: subscription.state is SubscriptionState.ATTACHED, what="the link")
    # A Messenger answers with the source it was asked for (pn_terminus_copy, as
    # the original): copy is confirmed, and it sends no product.
    assert subscription.browse_mode is BrowseMode.COPY
    assert subscription.peer_product is None and subscription.echo_trusted is True
    sent = feed.put(Message(address="amqp://inbox/news", body="headline"))
    pump_until(both, lambda: inbox.incoming == 1, what="the headline")
    received = Message()
    tracker = inbox.get(received)
    assert received.body == "headline"
    assert inbox.status(tracker) is RELEASED
    pump_until(both, lambda: feed.status(sent) is RELEASED, what="the release at the feed")


def test_modify_reaches_the_sender_with_its_flags(messengers: Make) -> None:
    feed = messengers("feed", blocking=False, outgoing_window=10)
    port = feed.subscribe(LISTEN).port
    inbox = messengers("inbox", blocking=False, incoming_window=10)
    subscription = inbox.subscribe(f"amqp://127.0.0.1:{port}/news")
    inbox.recv()
    both = [inbox, feed]
    pump_until(both, lambda: subscription.state is SubscriptionState.ATTACHED, what="the link")
    sent = [feed.put(Message(address="amqp://inbox/news", body=n)) for n in range(3)]
    pump_until(both, lambda: inbox.incoming == 3, what="three messages")
    got = [inbox.get() for _ in range(3)]
    inbox.modify(got[0], delivery_failed=True, undeliverable_here=True)
    inbox.modify(got[1], delivery_failed=False)
    inbox.modify()  # the rest of the window, with the defaults
    assert [inbox.status(t) for t in got] == [MODIFIED] * 3
    flags = [Modification(True, True), Modification(False, False), Modification(True, False)]
    assert [inbox.modification(t) for t in got] == flags
    pump_until(
        both, lambda: all(feed.status(t) is MODIFIED for t in sent), what="MODIFIED at the feed"
    )
    assert [feed.modification(t) for t in sent] == flags
    assert feed.modification(feed.put(Message(address="amqp://inbox/news"))) is None


def test_subscribing_again_with_other_options_is_refused(messengers: Make) -> None:
    feed = messengers("feed", blocking=False)
    port = feed.subscribe(LISTEN).port
    inbox = messengers("inbox", blocking=False)
    source = f"amqp://127.0.0.1:{port}/news"
    first = inbox.subscribe(source, browse=True)
    assert inbox.subscribe(source, browse=True) is first
    with pytest.raises(MessengerException, match="other options"):
        inbox.subscribe(source)
    with pytest.raises(MessengerException, match="remote source"):
        inbox.subscribe(LISTEN, browse=True)
    with pytest.raises(TypeError):
        inbox.subscribe(source, True)  # type: ignore[misc]  # keyword-only
