"""Routes choose where a message goes; rewrites choose what address it carries.

End to end over loopback: a client Messenger with rules sends to peer
Messengers running in their own threads, and the peers report what arrived
and on which link.
"""

from __future__ import annotations

import pytest

from msgr_tui.messenger import ACCEPTED, Message, Messenger, MessengerException
from msgr_tui.messenger.events import ConnectionOpened, LinkOpened, MessengerEvent
from msgr_tui.messenger.subscription import SubscriptionState
from tests.helpers import ThreadedPeer, pump_until, started, stop_all, wait_for

LISTEN = "amqp://~127.0.0.1:0"


def recording_peer(name: str, **options: object) -> ThreadedPeer:
    """A listening peer Messenger that also records the links opened to it."""
    events: list[MessengerEvent] = []

    def setup(messenger: Messenger) -> None:
        messenger.on_event = events.append

    peer = ThreadedPeer(name, listen=LISTEN, setup=setup, **options)
    peer.events = events
    return peer


def link_targets(peer: ThreadedPeer) -> list[str]:
    """Target names of the links peers opened to ``peer`` (from its LinkOpened events)."""
    # An accepted link is described as "peer <ip:port> on <listen address>/<target>".
    marker = f" on {LISTEN}/"
    return [
        event.address.split(marker, 1)[1]
        for event in list(peer.events)
        if isinstance(event, LinkOpened) and marker in event.address
    ]


def bodies(peer: ThreadedPeer) -> list[object]:
    return [received.body for received in peer.received]


def address_of(peer: ThreadedPeer, body: object) -> str | None:
    (match,) = [received for received in peer.received if received.body == body]
    return match.address


# ------------------------------------------------------------------ routes


def test_a_route_sends_the_message_to_another_peer_but_it_keeps_its_address() -> None:
    with recording_peer("direct") as direct, recording_peer("routed") as routed:
        client = started("client", timeout=10)
        client.route("amqp://orders.example/*", f"{routed.address}/$1")
        message = Message(address="amqp://orders.example/incoming", body="routed")
        client.put(message)
        client.put(Message(address=f"{direct.address}/q", body="direct"))
        client.send()
        wait_for(lambda: routed.received and direct.received, what="both messages")
        assert bodies(routed) == ["routed"]
        assert bodies(direct) == ["direct"]
        assert address_of(routed, "routed") == "amqp://orders.example/incoming"
        assert message.address == "amqp://orders.example/incoming"
        # The routed address named the link: its target is what $1 matched.
        wait_for(lambda: link_targets(routed), what="the link at the routed peer")
        assert link_targets(routed) == ["incoming"]
        client.stop()


def test_route_wildcards_pick_the_port_and_the_link_of_each_message() -> None:
    with recording_peer("east") as east, recording_peer("west") as west:
        client = started("client", timeout=10)
        # % is one path segment (here: a port), * the rest of the address.
        client.route("amqp://node/%/*", "amqp://127.0.0.1:$1/$2")
        to_east = f"amqp://node/{east.port}/jobs/urgent"
        to_west = f"amqp://node/{west.port}/jobs"
        client.put(Message(address=to_east, body="for east"))
        client.put(Message(address=to_west, body="for west"))
        client.send()
        wait_for(lambda: east.received and west.received, what="one message at each peer")
        assert bodies(east) == ["for east"]
        assert bodies(west) == ["for west"]
        assert address_of(east, "for east") == to_east
        assert address_of(west, "for west") == to_west
        wait_for(lambda: link_targets(east) and link_targets(west), what="the links")
        assert link_targets(east) == ["jobs/urgent"]
        assert link_targets(west) == ["jobs"]
        client.stop()


def test_the_first_matching_route_wins() -> None:
    with recording_peer("first") as first, recording_peer("second") as second:
        client = started("client", timeout=10)
        client.route("amqp://svc/special/*", f"{first.address}/$1")
        client.route("amqp://svc/*", f"{second.address}/$1")
        client.route("amqp://svc/special/vip", f"{second.address}/vip")  # never reached
        client.put(Message(address="amqp://svc/special/vip", body="vip"))
        client.put(Message(address="amqp://svc/plain", body="plain"))
        client.send()
        wait_for(lambda: first.received and second.received, what="one message at each peer")
        assert bodies(first) == ["vip"]
        assert bodies(second) == ["plain"]
        client.stop()


def test_a_route_added_after_sending_redirects_the_same_address() -> None:
    with recording_peer("old") as old, recording_peer("new") as new:
        client = started("client", timeout=10)
        address = f"{old.address}/q"
        client.put(Message(address=address, body="before the route"))
        client.send()
        client.route(f"{old.address}/*", f"{new.address}/$1")
        client.put(Message(address=address, body="after the route"))
        client.send()
        wait_for(lambda: old.received and new.received, what="one message at each peer")
        assert bodies(old) == ["before the route"]
        assert bodies(new) == ["after the route"]
        assert address_of(new, "after the route") == address
        client.stop()


@pytest.mark.parametrize(
    "target",
    [
        "amqp://127.0.0.1:notaport/$1",
        "amqp://127.0.0.1:99999/$1",
        "ftp://relay.example/$1",
        "amqp://~127.0.0.1:5672/$1",
    ],
)
def test_a_route_to_an_invalid_address_fails_at_put_naming_the_original(target: str) -> None:
    client = started("client")
    client.route("orders.example/*", target)
    with pytest.raises(MessengerException) as caught:
        client.put(Message(address="orders.example/incoming", body="lost?"))
    assert "'orders.example/incoming'" in str(caught.value)
    assert client.outgoing == 0
    client.stop()


def test_routing_everything_to_a_relay_uses_one_connection() -> None:
    with recording_peer("relay") as relay:
        client = started("client", timeout=10)
        events: list[MessengerEvent] = []
        client.on_event = events.append
        client.route("*", f"amqp://127.0.0.1:{relay.port}/$1")
        addresses = ["orders", "amqp://billing.example/invoices", "warehouse/stock/42"]
        for address in addresses:
            client.put(Message(address=address, body=address))
        client.send()
        wait_for(lambda: len(relay.received) == 3, what="three messages at the relay")
        assert [received.address for received in relay.received] == addresses
        wait_for(lambda: len(link_targets(relay)) == 3, what="three links at the relay")
        assert sorted(link_targets(relay)) == sorted(addresses)
        assert len([e for e in events if isinstance(e, ConnectionOpened)]) == 1
        client.stop()


def test_a_relay_forwards_by_the_address_that_stayed_in_the_message() -> None:
    with recording_peer("backend") as backend:

        def setup_relay(messenger: Messenger) -> None:
            messenger.route("amqp://backend.example/*", f"{backend.address}/$1")

        def forward(messenger: Messenger, message: Message, tracker: int) -> None:
            messenger.put(message)

        with ThreadedPeer("relay", setup=setup_relay, handler=forward) as relay:
            client = started("client", timeout=10)
            client.route("*", f"{relay.address}/$1")
            client.put(Message(address="amqp://backend.example/orders", body="order 1"))
            client.send()
            wait_for(lambda: backend.received, what="the message at the backend")
            assert bodies(relay) == ["order 1"]
            assert bodies(backend) == ["order 1"]
            assert address_of(backend, "order 1") == "amqp://backend.example/orders"
            wait_for(lambda: link_targets(backend), what="the link at the backend")
            assert link_targets(backend) == ["orders"]
            client.stop()


# ---------------------------------------------------------------- rewrites


def test_a_rewrite_changes_the_address_the_receiver_sees() -> None:
    with recording_peer("peer") as peer:
        client = started("client", timeout=10)
        client.rewrite(f"{peer.address}/%", "amqp://public.example/$1")
        message = Message(address=f"{peer.address}/orders", body="rewritten")
        client.put(message)
        client.send()
        # Routing was not affected: public.example does not even resolve.
        wait_for(lambda: peer.received, what="the message")
        assert peer.received[0].address == "amqp://public.example/orders"
        assert message.address == f"{peer.address}/orders"
        wait_for(lambda: link_targets(peer), what="the link")
        assert link_targets(peer) == ["orders"]
        client.stop()


def test_a_rewrite_to_none_removes_the_address() -> None:
    with recording_peer("peer") as peer:
        client = started("client", timeout=10)
        client.rewrite(f"{peer.address}/secret/*", None)
        client.put(Message(address=f"{peer.address}/secret/q", body="anonymous"))
        client.put(Message(address=f"{peer.address}/public", body="addressed"))
        client.send()
        wait_for(lambda: len(peer.received) == 2, what="both messages")
        assert address_of(peer, "anonymous") is None
        assert address_of(peer, "addressed") == f"{peer.address}/public"
        client.stop()


def test_a_rewrite_applies_to_the_address_as_put_not_the_routed_one() -> None:
    with recording_peer("peer") as peer:
        client = started("client", timeout=10)
        client.route("amqp://logical/*", f"{peer.address}/$1")
        client.rewrite("amqp://logical/*", "amqp://shown.example/$1")
        client.rewrite(f"{peer.address}/*", "amqp://wrong.example/$1")  # must not apply
        client.put(Message(address="amqp://logical/q", body="both"))
        client.send()
        wait_for(lambda: peer.received, what="the message")
        assert peer.received[0].address == "amqp://shown.example/q"
        client.stop()


def test_the_default_rewrite_strips_user_and_password() -> None:
    with recording_peer("inventory") as peer:
        client = started("client", timeout=10)
        # Route by a logical host so no credentials are needed to connect.
        client.route("amqp://%@inventory.example/*", f"{peer.address}/$2")
        client.route("%@inventory.example/*", f"{peer.address}/$2")
        with_password = "amqp://alice:secret@inventory.example/stock"
        user_only = "bob@inventory.example/stock"
        client.put(Message(address=with_password, body="alice"))
        client.put(Message(address=user_only, body="bob"))
        client.send()
        wait_for(lambda: len(peer.received) == 2, what="both messages")
        assert address_of(peer, "alice") == "amqp://inventory.example/stock"
        assert address_of(peer, "bob") == "inventory.example/stock"
        client.stop()


def test_a_matching_rewrite_rule_replaces_the_default_rewrite() -> None:
    with recording_peer("peer") as peer:
        client = started("client", timeout=10)
        client.route("amqp://%@%/*", f"{peer.address}/$3")
        # Keep the user (but not the password) for kept.example only.
        client.rewrite("amqp://%:%@kept.example/*", "amqp://$1@kept.example/$3")
        client.put(Message(address="amqp://alice:secret@kept.example/q", body="kept"))
        client.put(Message(address="amqp://alice:secret@other.example/q", body="other"))
        client.send()
        wait_for(lambda: len(peer.received) == 2, what="both messages")
        assert address_of(peer, "kept") == "amqp://alice@kept.example/q"
        assert address_of(peer, "other") == "amqp://other.example/q"
        client.stop()


def test_subscribe_applies_the_routes_first() -> None:
    # Seen on the original: a route can turn a name into a listen address.
    probe = started()
    port = probe.subscribe("amqp://~127.0.0.1:0").port
    probe.stop()
    server = started("server", blocking=False)
    server.route("inbox", f"amqp://~127.0.0.1:{port}")
    subscription = server.subscribe("inbox")
    assert subscription.address == "inbox"
    assert subscription.port == port
    assert subscription.state is SubscriptionState.LISTENING
    server.recv(1)
    client = started("client", outgoing_window=1, blocking=False)
    tracker = client.put(Message(address=f"amqp://127.0.0.1:{port}/q", body="via the route"))
    pump_until([client, server], lambda: server.incoming == 1, what="the message")
    received = Message()
    server.get(received)
    assert received.body == "via the route"
    pump_until([client, server], lambda: client.status(tracker) is ACCEPTED, what="accepted")
    stop_all(client, server)


def test_subscribe_to_a_routed_remote_source_attaches_at_the_route_target() -> None:
    with ThreadedPeer("feed") as peer:
        client = started("client", blocking=False)
        client.route("news/*", f"{peer.address}/$1")
        subscription = client.subscribe("news/today")
        pump_until(
            [client], lambda: subscription.state is SubscriptionState.ATTACHED, what="the link"
        )
        assert subscription.source_name == "today"
        assert [link.address for c in client.connections for link in c.links] == ["today"]
        stop_all(client)
