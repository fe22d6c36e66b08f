"""TLS (amqps) between Messengers over loopback, with certificates the tests make.

Contract: MESSENGER.md, "Security properties" and "amqps://~". ``certificate``,
``private_key``, ``password`` and ``trusted_certificates`` apply to outgoing
amqps connections and to amqps listeners; a listener that trusts a CA requires
client certificates; bad credentials raise MessengerException ("invalid
credentials"); a connection whose handshake is refused aborts its messages.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import proton
import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID

from msgr_tui.messenger import (
    ABORTED,
    ACCEPTED,
    Message,
    Messenger,
    MessengerException,
    Timeout,
)
from msgr_tui.messenger.views import ConnectionView
from tests import certs as certs_module
from tests.certs import CertificateSet
from tests.helpers import DEADLINE, Make, ThreadedPeer, pump_until, wait_for

ROOT = Path(__file__).resolve().parents[2]
TLS_LISTEN = "amqps://~127.0.0.1:0"


# ----------------------------------------------------------------- helpers


def tls_server(cert: str, key: str, trusted: str | None = None) -> Callable[[Messenger], None]:
    """A ThreadedPeer ``setup`` that gives the listener its TLS identity."""

    def setup(messenger: Messenger) -> None:
        messenger.certificate = cert
        messenger.private_key = key
        if trusted is not None:
            messenger.trusted_certificates = trusted

    return setup


def send_one(client: Messenger, address: str, body: object) -> int:
    """Put one message and block in send(); returns the tracker."""
    tracker = client.put(Message(address=address, body=body))
    client.send()
    return tracker


def outgoing_conn(client: Messenger) -> ConnectionView:
    conns = list(client.connections)
    assert len(conns) == 1, conns
    return conns[0]


def assert_refused(client: Messenger, address: str, pattern: str) -> MessengerException:
    """A put to ``address`` whose connection fails: send raises, the tracker is ABORTED."""
    tracker = client.put(Message(address=address, body="must not arrive"))
    with pytest.raises(MessengerException, match=pattern) as caught:
        client.send()
    assert client.status(tracker) is ABORTED
    assert client.outgoing == 0
    return caught.value


# ------------------------------------------------------- the build has TLS


def test_this_proton_build_supports_tls() -> None:
    # Everything below needs it; a build without TLS must fail here, loudly.
    assert proton.SSL.present()
    proton.SSLDomain(proton.SSLDomain.MODE_CLIENT)
    proton.SSLDomain(proton.SSLDomain.MODE_SERVER)


# --------------------------------------------------------- server-only TLS


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_server_only_tls_delivers_and_the_message_is_accepted(
    certs: CertificateSet, host: str, messengers: Make
) -> None:
    with ThreadedPeer(
        "tls-server", listen=TLS_LISTEN, setup=tls_server(certs.server_cert, certs.server_key)
    ) as peer:
        assert peer.address.startswith("amqps://")
        client = messengers(
            "tls-client", trusted_certificates=certs.ca, outgoing_window=5, timeout=10
        )
        address = f"amqps://{host}:{peer.port}/orders"
        tracker = send_one(client, address, "secret order")
        assert client.status(tracker) is ACCEPTED

        # It really travelled over TLS, and the client saw the server's certificate.
        conn = outgoing_conn(client)
        assert (conn.tls_protocol or "").startswith("TLS")
        assert "localhost" in (conn.tls_peer_subject or "")

        wait_for(lambda: peer.received, what="the message at the TLS listener")
        assert [r.body for r in peer.received] == ["secret order"]
        assert peer.received[0].address == address
        client.stop()
        assert client.stopped
    assert peer.errors == []


def test_a_client_without_trusted_certificates_does_not_verify_the_server(
    certs: CertificateSet, messengers: Make
) -> None:
    # The server's certificate comes from a CA nobody trusts: with no
    # trusted_certificates the client does not verify, so it still connects.
    with ThreadedPeer(
        "rogue-server", listen=TLS_LISTEN, setup=tls_server(certs.rogue_cert, certs.rogue_key)
    ) as peer:
        client = messengers("unverifying", outgoing_window=5, timeout=10)
        assert client.trusted_certificates is None
        tracker = send_one(client, f"amqps://localhost:{peer.port}/q", "no verification")
        assert client.status(tracker) is ACCEPTED
        assert outgoing_conn(client).tls_protocol is not None
        wait_for(lambda: peer.received, what="the message")
        assert peer.received[0].body == "no verification"
        client.stop()


# --------------------------------------------------------------- mutual TLS


def test_mutual_tls_requires_a_client_certificate(certs: CertificateSet, messengers: Make) -> None:
    setup = tls_server(certs.server_cert, certs.server_key, trusted=certs.ca)
    with ThreadedPeer("mtls-server", listen=TLS_LISTEN, setup=setup) as peer:
        address = f"amqps://localhost:{peer.port}/q"

        with_cert = messengers(
            "with-cert",
            trusted_certificates=certs.ca,
            certificate=certs.client_cert,
            private_key=certs.client_key,
            outgoing_window=5,
            timeout=10,
        )
        assert with_cert.status(send_one(with_cert, address, "first")) is ACCEPTED
        with_cert.stop()

        without_cert = messengers(
            "without-cert", trusted_certificates=certs.ca, outgoing_window=5, timeout=10
        )
        error = assert_refused(without_cert, address, r"certificate")
        assert f"localhost:{peer.port}" in str(error)
        without_cert.stop()

        # The listener is still there for clients that do present a certificate.
        again = messengers(
            "with-cert-again",
            trusted_certificates=certs.ca,
            certificate=certs.client_cert,
            private_key=certs.client_key,
            outgoing_window=5,
            timeout=10,
        )
        assert again.status(send_one(again, address, "second")) is ACCEPTED
        again.stop()
        wait_for(lambda: len(peer.received) == 2, what="both good messages")
        assert [r.body for r in peer.received] == ["first", "second"]
    assert peer.errors == []


def test_mutual_tls_with_an_encrypted_key_and_its_password(
    certs: CertificateSet, messengers: Make
) -> None:
    setup = tls_server(certs.server_cert, certs.server_key, trusted=certs.ca)
    with ThreadedPeer("mtls-server", listen=TLS_LISTEN, setup=setup) as peer:
        client = messengers(
            "encrypted-key",
            trusted_certificates=certs.ca,
            certificate=certs.client_cert,
            private_key=certs.client_key_encrypted,
            password=certs.key_password,
            outgoing_window=5,
            timeout=10,
        )
        tracker = send_one(client, f"amqps://127.0.0.1:{peer.port}/q", "unlocked")
        assert client.status(tracker) is ACCEPTED
        wait_for(lambda: peer.received, what="the message")
        assert peer.received[0].body == "unlocked"
        client.stop()


@pytest.fixture(scope="module")
def rogue_client(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A client certificate (and key) issued by a CA the listener does not trust."""
    directory = tmp_path_factory.mktemp("rogue-client")
    issuer = certs_module._ca("rogue client CA")
    cert, key = certs_module._leaf("rogue client", [], issuer, ExtendedKeyUsageOID.CLIENT_AUTH)
    return (
        certs_module._write_cert(directory / "client.pem", cert),
        certs_module._write_key(directory / "client-key.pem", key),
    )


def test_mutual_tls_refuses_a_client_certificate_from_an_untrusted_ca(
    certs: CertificateSet, rogue_client: tuple[str, str], messengers: Make
) -> None:
    setup = tls_server(certs.server_cert, certs.server_key, trusted=certs.ca)
    with ThreadedPeer("mtls-server", listen=TLS_LISTEN, setup=setup) as peer:
        cert, key = rogue_client
        client = messengers(
            "rogue-client",
            trusted_certificates=certs.ca,
            certificate=cert,
            private_key=key,
            outgoing_window=5,
            timeout=10,
        )
        assert_refused(client, f"amqps://localhost:{peer.port}/q", r"SSL|certificate")
        client.stop()
        assert peer.received == []


# --------------------------------------------------------- bad inputs fail


@pytest.mark.parametrize("prop", ["certificate", "private_key", "trusted_certificates"])
def test_a_missing_file_names_the_property_and_the_path(
    certs: CertificateSet, tmp_path: Path, prop: str, messengers: Make
) -> None:
    missing = str(tmp_path / f"no-such-{prop}.pem")
    properties = {
        "certificate": certs.client_cert,
        "private_key": certs.client_key,
        "trusted_certificates": certs.ca,
    }
    properties[prop] = missing
    client = messengers("client", **properties)
    with pytest.raises(MessengerException) as caught:
        client.put(Message(address="amqps://127.0.0.1:1/q", body="x"))
    text = str(caught.value)
    assert missing in text
    assert prop in text
    assert client.outgoing == 0

    # The same mistake on a listener is reported the same way, at subscribe.
    server_properties = dict(properties, certificate=certs.server_cert)
    server_properties["private_key"] = certs.server_key
    server_properties[prop] = missing
    server = messengers("server", **server_properties)
    with pytest.raises(MessengerException) as caught:
        server.subscribe(TLS_LISTEN)
    assert missing in str(caught.value)
    assert prop in str(caught.value)
    assert server.subscriptions == []


def test_a_wrong_key_password_is_invalid_credentials_until_corrected(
    certs: CertificateSet, messengers: Make
) -> None:
    setup = tls_server(certs.server_cert, certs.server_key, trusted=certs.ca)
    with ThreadedPeer("mtls-server", listen=TLS_LISTEN, setup=setup) as peer:
        client = messengers(
            "client",
            trusted_certificates=certs.ca,
            certificate=certs.client_cert,
            private_key=certs.client_key_encrypted,
            password="not-the-password",
            outgoing_window=5,
            timeout=10,
        )
        address = f"amqps://localhost:{peer.port}/q"
        with pytest.raises(MessengerException, match="invalid credentials"):
            client.put(Message(address=address, body="locked"))
        assert client.outgoing == 0
        # Fixing the property takes effect for the next connection.
        client.password = certs.key_password
        assert client.status(send_one(client, address, "unlocked")) is ACCEPTED
        client.stop()
        wait_for(lambda: peer.received, what="the message")
        assert [r.body for r in peer.received] == ["unlocked"]


def test_an_encrypted_key_without_a_password_fails_instead_of_prompting(
    certs: CertificateSet,
) -> None:
    # msgr-tui owns the terminal: the library must never prompt on it. Run the
    # put in a child whose terminal is a pty we watch.
    child_code = (
        "import sys\n"
        "from msgr_tui.messenger import Message, Messenger, MessengerException\n"
        "m = Messenger('prompt-check')\n"
        "m.certificate, m.private_key = sys.argv[1], sys.argv[2]\n"
        "m.start()\n"
        "try:\n"
        "    m.put(Message(address='amqps://127.0.0.1:1/q'))\n"
        "except MessengerException as error:\n"
        "    print('REFUSED:', error, flush=True)\n"
        "else:\n"
        "    print('NOT REFUSED', flush=True)\n"
        "m.blocking = False\n"
        "m.stop()\n"
    )
    master, slave = os.openpty()
    child = subprocess.Popen(
        [sys.executable, "-c", child_code, certs.client_cert, certs.client_key_encrypted],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=ROOT,
        start_new_session=True,
    )
    os.close(slave)
    output = b""
    try:
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline and b"pass phrase" not in output:
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                output += chunk
            elif child.poll() is not None:
                break
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(DEADLINE)
        os.close(master)
    text = output.decode(errors="replace")
    assert "pass phrase" not in text, f"the library prompted on the terminal: {text!r}"
    assert "REFUSED:" in text, text
    assert "invalid credentials" in text, text


def test_a_key_that_does_not_match_the_certificate_is_refused(
    certs: CertificateSet, messengers: Make
) -> None:
    client = messengers("client", certificate=certs.client_cert, private_key=certs.server_key)
    with pytest.raises(MessengerException, match="invalid credentials") as caught:
        client.put(Message(address="amqps://127.0.0.1:1/q", body="x"))
    assert certs.client_cert in str(caught.value)
    assert client.outgoing == 0

    server = messengers("server", certificate=certs.server_cert, private_key=certs.client_key)
    with pytest.raises(MessengerException, match="invalid credentials"):
        server.subscribe(TLS_LISTEN)
    assert server.subscriptions == []


def test_an_untrusted_server_certificate_is_refused_until_its_ca_is_trusted(
    certs: CertificateSet, messengers: Make
) -> None:
    with ThreadedPeer(
        "rogue-server", listen=TLS_LISTEN, setup=tls_server(certs.rogue_cert, certs.rogue_key)
    ) as peer:
        client = messengers("careful", trusted_certificates=certs.ca, outgoing_window=5, timeout=10)
        address = f"amqps://localhost:{peer.port}/q"
        error = assert_refused(client, address, r"certificate verify failed")
        assert f"localhost:{peer.port}" in str(error)
        assert client.connections == ()

        # Trusting the rogue CA is a new setting: the next put connects anew and succeeds.
        client.trusted_certificates = certs.rogue_ca
        assert client.status(send_one(client, address, "now trusted")) is ACCEPTED
        client.stop()
        wait_for(lambda: peer.received, what="the message")
        assert [r.body for r in peer.received] == ["now trusted"]


def test_trusted_certificates_that_are_not_pem_are_refused(
    certs: CertificateSet, tmp_path: Path, messengers: Make
) -> None:
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("this is not a certificate\n")
    client = messengers("client", trusted_certificates=str(not_pem))
    with pytest.raises(MessengerException) as caught:
        client.put(Message(address="amqps://127.0.0.1:1/q", body="x"))
    assert str(not_pem) in str(caught.value)
    assert "trusted_certificates" in str(caught.value)
    assert client.outgoing == 0

    server = messengers(
        "server",
        certificate=certs.server_cert,
        private_key=certs.server_key,
        trusted_certificates=str(not_pem),
    )
    with pytest.raises(MessengerException, match="trusted_certificates"):
        server.subscribe(TLS_LISTEN)


@pytest.mark.parametrize(
    "which", ["neither", "certificate only", "private_key only"], ids=lambda w: w
)
def test_an_amqps_listener_needs_certificate_and_private_key(
    certs: CertificateSet, which: str, messengers: Make
) -> None:
    properties: dict[str, str] = {}
    if which == "certificate only":
        properties["certificate"] = certs.server_cert
    elif which == "private_key only":
        properties["private_key"] = certs.server_key
    server = messengers("server", **properties)
    with pytest.raises(MessengerException, match="invalid credentials"):
        server.subscribe(TLS_LISTEN)
    assert server.subscriptions == []
    # Plain amqp listening does not need them.
    assert server.subscribe("amqp://~127.0.0.1:0").port

    # With both set, the same subscribe works.
    server.certificate = certs.server_cert
    server.private_key = certs.server_key
    assert server.subscribe(TLS_LISTEN).port


# ------------------------------------------------- certificate checks


def test_an_expired_server_certificate_is_refused_by_a_verifying_client(
    certs: CertificateSet, messengers: Make
) -> None:
    with ThreadedPeer(
        "expired-server",
        listen=TLS_LISTEN,
        setup=tls_server(certs.expired_cert, certs.expired_key),
    ) as peer:
        client = messengers("careful", trusted_certificates=certs.ca, outgoing_window=5, timeout=10)
        assert_refused(client, f"amqps://localhost:{peer.port}/q", r"certificate verify failed")
        client.stop()
        assert peer.received == []


@pytest.mark.parametrize("verify_hostname", [True, False])
def test_verify_hostname_decides_about_a_certificate_for_another_name(
    certs: CertificateSet, verify_hostname: bool, messengers: Make
) -> None:
    with ThreadedPeer(
        "elsewhere",
        listen=TLS_LISTEN,
        setup=tls_server(certs.wrong_name_cert, certs.wrong_name_key),
    ) as peer:
        client = messengers(
            "client",
            trusted_certificates=certs.ca,
            verify_hostname=verify_hostname,
            outgoing_window=5,
            timeout=10,
        )
        assert client.verify_hostname is verify_hostname
        address = f"amqps://localhost:{peer.port}/q"
        if verify_hostname:
            assert_refused(client, address, r"certificate verify failed")
        else:
            # The chain is valid; only the name is wrong, and nobody checks it.
            assert client.status(send_one(client, address, "name unchecked")) is ACCEPTED
        client.stop()
        expected = [] if verify_hostname else ["name unchecked"]
        if expected:
            wait_for(lambda: peer.received, what="the message")
        assert [r.body for r in peer.received] == expected


def test_verify_hostname_accepts_the_right_name(certs: CertificateSet, messengers: Make) -> None:
    with ThreadedPeer(
        "tls-server", listen=TLS_LISTEN, setup=tls_server(certs.server_cert, certs.server_key)
    ) as peer:
        client = messengers(
            "client",
            trusted_certificates=certs.ca,
            verify_hostname=True,
            outgoing_window=5,
            timeout=10,
        )
        tracker = send_one(client, f"amqps://localhost:{peer.port}/q", "right name")
        assert client.status(tracker) is ACCEPTED
        client.stop()


def test_verify_hostname_with_an_ip_address_is_refused_with_the_reason(
    certs: CertificateSet, messengers: Make
) -> None:
    # Proton 0.40 matches certificate DNS names only, so a name check against
    # an IP address can never pass: the Messenger says so before connecting.
    with ThreadedPeer(
        "tls-server", listen=TLS_LISTEN, setup=tls_server(certs.server_cert, certs.server_key)
    ) as peer:
        client = messengers(
            "client",
            trusted_certificates=certs.ca,
            verify_hostname=True,
            timeout=10,
            outgoing_window=5,
        )
        with pytest.raises(MessengerException) as caught:
            client.put(Message(address=f"amqps://127.0.0.1:{peer.port}/q", body="by ip"))
        assert "IP address" in str(caught.value)
        assert "localhost" in str(caught.value)
        assert client.outgoing == 0
        tracker = send_one(client, f"amqps://localhost:{peer.port}/q", "by name")
        assert client.status(tracker) is ACCEPTED
        client.stop()


# ------------------------------------------------ protocol mismatches


def test_a_plaintext_client_to_an_amqps_listener_fails_and_the_listener_survives(
    certs: CertificateSet, messengers: Make
) -> None:
    with ThreadedPeer(
        "tls-server", listen=TLS_LISTEN, setup=tls_server(certs.server_cert, certs.server_key)
    ) as peer:
        plain = messengers("plain", outgoing_window=5, timeout=10)
        error = assert_refused(plain, f"amqp://127.0.0.1:{peer.port}/q", r"protocol header|SSL|TLS")
        assert f"amqp://127.0.0.1:{peer.port}" in str(error)
        plain.stop()

        secure = messengers("secure", trusted_certificates=certs.ca, outgoing_window=5, timeout=10)
        tracker = send_one(secure, f"amqps://localhost:{peer.port}/q", "still serving")
        assert secure.status(tracker) is ACCEPTED
        secure.stop()
        wait_for(lambda: peer.received, what="the message")
        assert [r.body for r in peer.received] == ["still serving"]
    assert peer.errors == []


def test_a_tls_client_to_a_plain_listener_fails_clearly(messengers: Make) -> None:
    with ThreadedPeer("plain-server") as peer:
        client = messengers("tls-client", outgoing_window=5, timeout=10)
        error = assert_refused(
            client, f"amqps://127.0.0.1:{peer.port}/q", r"SSL|TLS|protocol|handshake"
        )
        assert f"amqps://127.0.0.1:{peer.port}" in str(error)
        client.stop()

        plain = messengers("plain-client", outgoing_window=5, timeout=10)
        assert plain.status(send_one(plain, f"{peer.address}/q", "plain ok")) is ACCEPTED
        plain.stop()
    assert peer.errors == []


# -------------------------------------------- receiving over TLS


def test_subscribe_over_tls_and_receive_a_message_put_back_by_container_name(
    certs: CertificateSet, messengers: Make
) -> None:
    server = messengers(
        "tls-server",
        certificate=certs.server_cert,
        private_key=certs.server_key,
        outgoing_window=5,
        blocking=False,
    )
    port = server.subscribe(TLS_LISTEN).port
    client = messengers("tls-subscriber", trusted_certificates=certs.ca, blocking=False)
    subscription = client.subscribe(f"amqps://localhost:{port}/queue")
    client.recv(5)
    both = [client, server]
    pump_until(both, lambda: subscription.state == "attached", what="the TLS receiver link")

    # The client listens nowhere: the message can only use the connection it opened.
    tracker = server.put(Message(address="amqp://tls-subscriber/queue", body="pushed over TLS"))
    pump_until(both, lambda: client.incoming == 1, what="the message at the subscriber")
    received = Message()
    client.get(received)
    assert received.body == "pushed over TLS"
    assert received.address == "amqp://tls-subscriber/queue"
    pump_until(both, lambda: server.status(tracker) is ACCEPTED, what="the acceptance")

    server_conns = server.connections
    assert len(server_conns) == 1 and server_conns[0].inbound
    assert server_conns[0].tls_protocol is not None
    assert outgoing_conn(client).tls_protocol is not None


def test_subscribing_to_an_untrusted_server_fails_the_subscription(
    certs: CertificateSet, messengers: Make
) -> None:
    with ThreadedPeer(
        "rogue-server", listen=TLS_LISTEN, setup=tls_server(certs.rogue_cert, certs.rogue_key)
    ) as peer:
        client = messengers("careful", trusted_certificates=certs.ca, timeout=10)
        subscription = client.subscribe(f"amqps://localhost:{peer.port}/queue")
        try:
            client.recv(1)
        except Timeout:
            pytest.fail("recv waited for a connection whose TLS handshake failed")
        except MessengerException as error:
            assert "certificate verify failed" in str(error)
        else:
            pytest.fail("recv returned although the subscription never connected")
        assert subscription.state == "failed"
        assert "certificate verify failed" in (subscription.error or "")
        client.stop()
