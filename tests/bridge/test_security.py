"""Security defaults of a session (what the app runs): loopback listener, no PLAIN in clear."""

from __future__ import annotations

import socket

import pytest

from msgr_tui.bridge import ListenerBound, Notice, SubscriptionChanged
from msgr_tui.messenger.subscription import SubscriptionState
from msgr_tui.settings import Settings, TLSOptions
from tests.bridge.running import running
from tests.conftest import RabbitMQ
from tests.helpers import wait_for


def test_the_default_listener_binds_loopback_only() -> None:
    # The README's promise: amqp://~127.0.0.1:5672, or the next free port (and it says so).
    assert Settings().listen == ("amqp://~127.0.0.1:5672",)
    with running(Settings(listen_fallback=True)) as run:
        bound = run.first(ListenerBound)
        assert bound.requested == "amqp://~127.0.0.1:5672"
        host, port = bound.connect_address.removeprefix("amqp://").rsplit(":", 1)
        assert host == "127.0.0.1"
        if bound.note is None:
            assert int(port) == 5672  # it was free: the default port itself
        else:
            # Taken (a local broker, say): another port, and the note says which.
            assert int(port) != 5672
            assert bound.note == (
                f"amqp://~127.0.0.1:5672 was taken; listening on {bound.connect_address} instead"
            )
        wait_for(
            lambda: any(
                e.state is SubscriptionState.LISTENING for e in run.of(SubscriptionChanged)
            ),
            what="the listener",
        )
        # It takes connections on 127.0.0.1...
        socket.create_connection(("127.0.0.1", int(port)), timeout=5).close()
        # ...and not on another address of this host: it is not bound to 0.0.0.0.
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.2", int(port)), timeout=5)


@pytest.mark.rabbitmq
def test_the_app_refuses_plain_over_tcp_by_default_and_says_so(rabbitmq: RabbitMQ) -> None:
    """A profile (or the defaults) must opt in to PLAIN over plaintext TCP."""
    assert TLSOptions().allow_insecure_plain is False
    settings = Settings(listen=(), user="guest", password="guest", retry=False)
    with running(settings) as run:
        run.put(f"amqp://127.0.0.1:{rabbitmq.port}/security-app", "x")
        wait_for(
            lambda: any("unencrypted" in notice.text for notice in run.of(Notice)),
            timeout=20,
            what="the refusal, explained",
        )
        notices = [notice.text for notice in run.of(Notice)]
    assert not any("guest:guest" in text or ":guest@" in text for text in notices)
