"""Security defaults and the reasons given when they refuse something."""

from __future__ import annotations

import threading
import time

import pytest

from msgr_tui.bridge import MessengerBridge, Notice, Put
from msgr_tui.compose import Draft
from msgr_tui.messenger import ABORTED, ACCEPTED, Message, Messenger, MessengerException
from msgr_tui.settings import Settings, TLSOptions
from tests.certs import CertificateSet
from tests.conftest import RabbitMQ
from tests.helpers import ThreadedPeer, started


def tls_peer(certs: CertificateSet, cert: str, key: str) -> ThreadedPeer:
    def setup(messenger: Messenger) -> None:
        messenger.certificate = cert
        messenger.private_key = key

    return ThreadedPeer("tls-peer", listen="amqps://~127.0.0.1:0", setup=setup)


@pytest.mark.parametrize(
    ("which", "verify_hostname", "reason"),
    [
        ("rogue", False, "unable to get local issuer certificate"),
        ("expired", False, "certificate has expired"),
        ("wrong_name", True, "Hostname mismatch"),
    ],
)
def test_a_failed_certificate_check_says_why(
    certs: CertificateSet, which: str, verify_hostname: bool, reason: str
) -> None:
    cert, key = {
        "rogue": (certs.rogue_cert, certs.rogue_key),
        "expired": (certs.expired_cert, certs.expired_key),
        "wrong_name": (certs.wrong_name_cert, certs.wrong_name_key),
    }[which]
    with tls_peer(certs, cert, key) as peer:
        client = started(
            "client",
            trusted_certificates=certs.ca,
            verify_hostname=verify_hostname,
            outgoing_window=1,
            timeout=15,
        )
        tracker = client.put(Message(address=f"amqps://localhost:{peer.port}/q", body="x"))
        with pytest.raises(MessengerException) as caught:
            client.send()
        assert "certificate verify failed" in str(caught.value)
        assert reason in str(caught.value)
        assert client.status(tracker) is ABORTED
        client.stop()


@pytest.mark.rabbitmq
def test_plain_credentials_over_plain_tcp_are_refused_unless_allowed(rabbitmq: RabbitMQ) -> None:
    address = f"amqp://guest:guest@127.0.0.1:{rabbitmq.port}/security-{time.time_ns()}"
    careful = started("careful", allow_insecure_mechs=False, outgoing_window=1, timeout=20)
    tracker = careful.put(Message(address=address, body="secret stuff"))
    with pytest.raises(MessengerException) as caught:
        careful.send()
    text = str(caught.value)
    assert "clear over unencrypted TCP" in text and "amqps://" in text
    assert "guest:guest" not in text
    assert careful.status(tracker) is ABORTED
    careful.stop()

    trusting = started("trusting", allow_insecure_mechs=True, outgoing_window=1, timeout=20)
    tracker = trusting.put(Message(address=address, body="ok, on loopback"))
    trusting.send()
    assert trusting.status(tracker) is ACCEPTED
    trusting.stop()


@pytest.mark.rabbitmq
def test_the_app_refuses_plain_over_tcp_by_default_and_says_so(rabbitmq: RabbitMQ) -> None:
    """A profile (or the defaults) must opt in to PLAIN over plaintext TCP."""
    assert TLSOptions().allow_insecure_plain is False
    events: list[object] = []
    settings = Settings(listen=(), user="guest", password="guest", retry=False)
    bridge = MessengerBridge(settings, events.extend)
    thread = threading.Thread(target=bridge.run)
    thread.start()
    try:
        draft = Draft(address=f"amqp://127.0.0.1:{rabbitmq.port}/security-app", body="x")
        bridge.submit(Put(draft, 1))
        deadline = time.monotonic() + 20
        while not any(isinstance(e, Notice) and "unencrypted" in e.text for e in events):
            assert time.monotonic() < deadline, events
            threading.Event().wait(0.01)
        notices = [e.text for e in events if isinstance(e, Notice)]
        assert not any("guest:guest" in text or ":guest@" in text for text in notices)
    finally:
        bridge.stop()
        thread.join(15)


def test_the_default_listener_binds_loopback_only() -> None:
    from msgr_tui.settings import DEFAULT_LISTEN

    assert DEFAULT_LISTEN == "amqp://~127.0.0.1:5672"
