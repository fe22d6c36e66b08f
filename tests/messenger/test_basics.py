"""Messenger to Messenger over loopback: the everyday contract."""

from __future__ import annotations

import threading
import uuid

import pytest

from msgr_tui.messenger import (
    ABORTED,
    ACCEPTED,
    PENDING,
    Interrupt,
    Message,
    Messenger,
    MessengerException,
    Subscription,
    Timeout,
)
from msgr_tui.messenger.events import ConnectionOpened
from msgr_tui.messenger.subscription import SubscriptionState
from tests.helpers import DEADLINE, ThreadedPeer, pump_until, started, stop_all, wait_for


def test_name_defaults_to_a_uuid_and_is_the_container_id() -> None:
    anonymous = Messenger()
    assert str(uuid.UUID(anonymous.name)) == anonymous.name
    assert Messenger("alice").name == "alice"
    assert Messenger().name != anonymous.name


def test_public_names_match_the_original_api() -> None:
    import msgr_tui.messenger as module

    namespace: dict = {}
    exec("from msgr_tui.messenger import *", namespace)
    for name in (
        "Messenger",
        "Message",
        "Subscription",
        "Timeout",
        "Interrupt",
        "MessengerException",
        "PENDING",
        "ACCEPTED",
        "REJECTED",
        "RELEASED",
        "MODIFIED",
        "ABORTED",
        "SETTLED",
    ):
        assert name in namespace, name
    import proton

    assert module.Timeout is proton.Timeout
    assert module.Interrupt is proton.Interrupt
    assert issubclass(module.MessengerException, proton.ProtonException)
    # Proton's own class (binary ids handed out as bytes): any proton.Message works.
    assert issubclass(module.Message, proton.Message)


def test_a_listener_receives_what_a_client_sends() -> None:
    server = started("server")
    client = started("client")
    subscription = server.subscribe("amqp://~127.0.0.1:0")
    assert isinstance(subscription, Subscription)
    assert subscription.address == "amqp://~127.0.0.1:0"
    assert subscription.port and subscription.port > 0

    message = Message(address=f"amqp://127.0.0.1:{subscription.port}/orders", body="hello")
    message.subject = "greeting"
    client.put(message)
    assert client.outgoing == 1

    server.blocking = False
    server.recv(10)
    pump_until([client, server], lambda: server.incoming == 1, what="message at the server")
    received = Message()
    server.get(received)
    assert received.body == "hello"
    assert received.subject == "greeting"
    assert received.address == f"amqp://127.0.0.1:{subscription.port}/orders"
    assert client.outgoing == 0
    stop_all(client, server)


def test_send_blocks_until_the_peer_answers_every_message() -> None:
    with ThreadedPeer("peer") as peer:
        client = started("client", outgoing_window=10, timeout=10)
        trackers = [client.put(Message(address=f"{peer.address}/q", body=i)) for i in range(5)]
        client.send()
        assert [client.status(t) for t in trackers] == [ACCEPTED] * 5
        assert client.outgoing == 0
        wait_for(lambda: len(peer.received) == 5, what="five messages at the peer")
        assert [r.body for r in peer.received] == [0, 1, 2, 3, 4]
        client.stop()
        assert client.stopped


def test_put_copies_the_message_and_never_changes_the_callers_object() -> None:
    with ThreadedPeer("peer") as peer:
        client = started("client", timeout=10)
        # A user without a password still means SASL ANONYMOUS (a Messenger
        # listener offers nothing else), but the user must not travel either.
        message = Message(address=f"amqp://guest@127.0.0.1:{peer.port}/q", body="v1")
        message.reply_to = "~/replies"
        client.put(message)
        message.body = "changed after put"
        client.send()
        assert message.address == f"amqp://guest@127.0.0.1:{peer.port}/q"
        assert message.reply_to == "~/replies"
        wait_for(lambda: peer.received, what="the message")
        got = peer.received[0]
        assert got.body == "v1"
        # Default rewrite: credentials never travel in the message.
        assert got.address == f"amqp://127.0.0.1:{peer.port}/q"
        assert got.reply_to == "amqp://client/replies"
        client.stop()


def test_reply_to_tilde_alone_becomes_the_messenger_name() -> None:
    with ThreadedPeer("peer") as peer:
        client = started("me", timeout=10)
        client.put(Message(address=f"{peer.address}/q", body=1, reply_to="~"))
        client.send()
        wait_for(lambda: peer.received, what="the message")
        assert peer.received[0].reply_to == "amqp://me"
        client.stop()


def test_request_reply_travels_back_over_the_connection_the_client_opened() -> None:
    def echo(messenger: Messenger, message: Message, tracker: int) -> None:
        reply = Message(address=message.reply_to, body=f"re: {message.body}")
        reply.correlation_id = message.correlation_id
        messenger.put(reply)

    with ThreadedPeer("echo", handler=echo) as peer:
        # The client listens nowhere: the reply can only come back over its own connection.
        client = started("requester", timeout=10)
        request = Message(address=f"{peer.address}/service", body="ping", reply_to="~/inbox")
        request.correlation_id = "c-1"
        client.put(request)
        client.send()
        client.recv(1)
        reply = Message()
        client.get(reply)
        assert reply.body == "re: ping"
        assert reply.correlation_id == "c-1"
        assert reply.address == "amqp://requester/inbox"
        client.stop()


@pytest.mark.parametrize(
    "requester_name", ["ID:host-1234-1:1", "reporting desk 7"], ids=["JMS-style id", "spaces"]
)
def test_a_reply_reaches_a_peer_named_like_no_host_over_its_own_connection(
    requester_name: str,
) -> None:
    # Seen on the original: the domain is matched with the peers' container-ids
    # as text, before it is parsed as host:port (which these names are not).
    server = started("server", outgoing_window=5, blocking=False)
    port = server.subscribe("amqp://~127.0.0.1:0").port
    server.recv(1)
    client = started(requester_name, blocking=False)
    client.put(Message(address=f"amqp://127.0.0.1:{port}/service", body="q", reply_to="~/inbox"))
    client.recv(1)
    pump_until([client, server], lambda: server.incoming == 1, what="the request")
    request = Message()
    server.get(request)
    assert request.reply_to == f"amqp://{requester_name}/inbox"
    tracker = server.put(Message(address=request.reply_to, body="answer"))
    pump_until([client, server], lambda: client.incoming == 1, what="the reply")
    reply = Message()
    client.get(reply)
    assert reply.body == "answer"
    pump_until([client, server], lambda: server.status(tracker) is ACCEPTED, what="accepted")
    assert [c.inbound for c in server.connections] == [True]  # no connection of its own
    stop_all(client, server)


def test_a_late_reply_to_a_peer_that_has_left_is_aborted_with_the_reason() -> None:
    # Not an address error: the original aborted it (its closed connection was
    # still known); here the name of a departed peer is remembered.
    server = started("server", outgoing_window=5, blocking=False)
    port = server.subscribe("amqp://~127.0.0.1:0").port
    server.recv(1)
    client = started("ID:gone-1:1", blocking=False)
    client.put(Message(address=f"amqp://127.0.0.1:{port}/service", body="q", reply_to="~/r"))
    pump_until([client, server], lambda: server.incoming == 1, what="the request")
    request = Message()
    server.get(request)
    client.stop()  # non-blocking: the close completes as both work
    pump_until([client, server], lambda: client.stopped and not server.connections, what="gone")
    tracker = server.put(Message(address=request.reply_to, body="too late"))
    assert server.status(tracker) is ABORTED
    failure = server.failure(tracker)
    assert failure is not None and "'ID:gone-1:1' is no longer connected" in failure.reason
    stop_all(server)


def test_connections_are_reused_for_the_same_host_port_and_credentials() -> None:
    with ThreadedPeer("peer") as peer:
        client = started("client", timeout=10)
        for name in ("a", "b", "a"):
            client.put(Message(address=f"{peer.address}/{name}", body=name))
        client.put(Message(address=f"amqp://localhost:{peer.port}/c", body="c"))
        client.send()
        assert len(client.connections) == 2  # 127.0.0.1 and localhost differ as hosts
        links = [link.address for conn in client.connections for link in conn.links]
        assert sorted(links) == ["a", "b", "c"]
        client.stop()


def test_get_on_an_empty_queue_raises_and_recv_without_sources_too() -> None:
    messenger = started()
    with pytest.raises(MessengerException, match="incoming queue is empty"):
        messenger.get()
    with pytest.raises(MessengerException, match="no valid sources"):
        messenger.recv(1)
    messenger.stop()


def test_work_send_and_stop_on_a_messenger_not_started_do_nothing() -> None:
    # Seen on the original: nothing raises, work returns False at once.
    never = Messenger()
    assert never.stopped
    assert never.work(0) is False
    assert never.work() is False  # even with no timeout: there is nothing to wait for
    never.send()
    never.stop()
    assert never.stopped
    never.blocking = False
    never.recv()  # non-blocking: nothing to grant credit to
    never.recv(1)
    # A blocking recv with nothing to receive from raises, as the original did.
    never.blocking = True
    with pytest.raises(MessengerException, match="no valid sources"):
        never.recv(1)


def test_work_send_recv_and_stop_on_a_stopped_messenger_do_nothing() -> None:
    stopped = started("stopped-one")
    stopped.subscribe("amqp://~127.0.0.1:0")
    stopped.stop()
    assert stopped.stopped
    assert stopped.work(0) is False
    stopped.send()
    stopped.stop()
    stopped.blocking = False
    stopped.recv(1)
    assert stopped.stopped


def test_the_usual_non_blocking_teardown_passes_with_messengers_never_started() -> None:
    with ThreadedPeer("peer") as peer:
        running = started("running", blocking=False, outgoing_window=5)
        running.put(Message(address=f"{peer.address}/q", body="in flight"))
        listening = started("listening", blocking=False)
        listening.subscribe("amqp://~127.0.0.1:0")
        idle = Messenger("never-started")
        idle.blocking = False
        everyone = [running, listening, idle]
        for messenger in everyone:
            messenger.stop()
        rounds = 0
        while not all(messenger.stopped for messenger in everyone):
            rounds += 1
            assert rounds < 100_000, "the teardown never finished"
            for messenger in everyone:
                messenger.work(0)
        assert [m.connections for m in everyone] == [(), (), ()]


def test_put_without_an_address_is_refused() -> None:
    messenger = started()
    with pytest.raises(MessengerException, match="no address"):
        messenger.put(Message(body="nowhere"))
    assert messenger.outgoing == 0


def test_put_to_a_malformed_address_is_refused_and_nothing_is_queued() -> None:
    messenger = started()
    with pytest.raises(MessengerException, match="not a number"):
        messenger.put(Message(address="amqp://host:port/q"))
    with pytest.raises(MessengerException, match="listen"):
        messenger.put(Message(address="amqp://~127.0.0.1:5672/q"))
    assert messenger.outgoing == 0


def test_unresolvable_host_is_refused_at_put() -> None:
    messenger = started()
    with pytest.raises(MessengerException, match=r"cannot resolve host 'no-such-host\.invalid'"):
        messenger.put(Message(address="amqp://no-such-host.invalid/q"))
    assert messenger.outgoing == 0


def test_recv_times_out_and_work_reports_idle() -> None:
    messenger = started(timeout=0.2)
    messenger.subscribe("amqp://~127.0.0.1:0")
    with pytest.raises(Timeout):
        messenger.recv(1)
    assert messenger.work(0.05) is False
    messenger.stop()


def test_interrupt_from_another_thread_breaks_a_blocked_recv() -> None:
    server = started("server")  # timeout: forever
    port = server.subscribe("amqp://~127.0.0.1:0").port
    # The server does I/O only inside its calls: a connection it hears of was
    # accepted by the recv running in its thread, which is then provably blocked.
    heard_in: list[str] = []
    server.on_event = lambda event: (
        heard_in.append(threading.current_thread().name)
        if isinstance(event, ConnectionOpened) and event.inbound
        else None
    )
    outcome: list[BaseException] = []

    def blocked() -> None:
        try:
            server.recv(1)  # nothing will be sent: only an interrupt ends it
        except BaseException as error:
            outcome.append(error)

    thread = threading.Thread(target=blocked, name="blocked-in-recv")
    thread.start()
    # A peer connects and subscribes: no message for the server, only a connection.
    client = started("client", blocking=False)
    client.subscribe(f"amqp://127.0.0.1:{port}/nothing-here")
    pump_until([client], lambda: bool(heard_in), what="the server's recv to accept the peer")
    assert heard_in == ["blocked-in-recv"]
    assert thread.is_alive() and outcome == []  # recv(1) is still waiting
    server.interrupt()
    thread.join(DEADLINE)
    assert not thread.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], Interrupt)
    assert server.incoming == 0
    stop_all(client, server)


def test_interrupt_before_a_blocking_call_hits_the_next_one() -> None:
    messenger = started()
    messenger.subscribe("amqp://~127.0.0.1:0")
    messenger.interrupt()
    with pytest.raises(Interrupt):
        messenger.work()
    assert messenger.work(0) is False  # consumed: the next call is normal (and idle)
    messenger.stop()


def test_nonblocking_stop_is_finished_by_work() -> None:
    with ThreadedPeer("peer") as peer:
        client = started("client", blocking=False)
        client.put(Message(address=f"{peer.address}/q", body=1))
        pump_until([client], lambda: client.outgoing == 0, what="the message on the wire")
        client.stop()  # returns at once; the close handshake may need more rounds
        pump_until([client], lambda: client.stopped, what="stopped")
        assert client.connections == ()


def test_blocking_stop_closes_listeners_and_connections() -> None:
    server = started("server")
    subscription = server.subscribe("amqp://~127.0.0.1:0")
    server.stop()
    assert server.stopped
    assert subscription.state is SubscriptionState.CLOSED
    # The port is free again: another listener can take it.
    other = started()
    other.subscribe(f"amqp://~127.0.0.1:{subscription.port}")
    other.stop()


def test_listening_on_a_port_in_use_is_a_clear_error() -> None:
    first = started()
    taken = first.subscribe("amqp://~127.0.0.1:0").port
    second = started()
    with pytest.raises(MessengerException, match=rf"cannot listen on amqp://~127.0.0.1:{taken}"):
        second.subscribe(f"amqp://~127.0.0.1:{taken}")
    first.stop()
    second.stop()


def test_messages_still_waiting_for_credit_are_aborted_by_stop() -> None:
    # A peer that never grants credit: recv() is never called on it.
    silent = started("silent")
    port = silent.subscribe("amqp://~127.0.0.1:0").port
    client = started("client", outgoing_window=10, blocking=False)
    tracker = client.put(Message(address=f"amqp://127.0.0.1:{port}/q", body="stuck"))
    pump_until(
        [client, silent],
        lambda: client.connections and all(c.opened for c in client.connections),
        what="connection open",
    )
    assert client.status(tracker) is PENDING
    assert client.buffered(tracker) is True
    client.stop()
    assert client.status(tracker) is ABORTED
    assert client.outgoing == 0
    stop_all(client, silent)


def test_a_refused_connection_aborts_its_messages_and_says_where() -> None:
    listener = started()
    port = listener.subscribe("amqp://~127.0.0.1:0").port
    listener.stop()  # nobody listens there any more
    client = started("client", outgoing_window=5, timeout=10)
    tracker = client.put(Message(address=f"amqp://127.0.0.1:{port}/q", body="lost?"))
    client.send()  # as the original: returns at once for a refused port
    assert client.status(tracker) is ABORTED
    failure = client.failure(tracker)
    assert failure is not None
    assert failure.where == f"amqp://127.0.0.1:{port}"
    assert "refused" in failure.reason.lower()
    # The next put to the same address tries a new connection.
    again = started("listener-again")
    again.subscribe(f"amqp://~127.0.0.1:{port}")
    again.blocking = False
    again.recv()
    client.blocking = False
    second = client.put(Message(address=f"amqp://127.0.0.1:{port}/q", body="second try"))
    pump_until([client, again], lambda: again.incoming == 1, what="second try to arrive")
    again.get()
    pump_until([client, again], lambda: client.status(second) is ACCEPTED, what="acceptance")
    stop_all(client, again)


def test_context_manager_starts_and_stops() -> None:
    with Messenger("ctx") as messenger:
        assert not messenger.stopped
        messenger.subscribe("amqp://~127.0.0.1:0")
    assert messenger.stopped
