"""TLS (amqps) between Messengers over loopback, with certificates the tests make.

Contract: MESSENGER.md, "Security properties" and "Where the original reported
failures". ``certificate``, ``private_key``, ``password`` and
``trusted_certificates`` apply to outgoing amqps connections and to amqps
listeners. Setting ``trusted_certificates`` verifies the peer's certificate
and its name (the original's VERIFY_PEER_NAME). A listener that trusts a CA
requires client certificates; a listener without a certificate still accepts
TLS, anonymously. A listener whose credentials cannot be loaded raises
"invalid credentials" from subscribe. On the sending side nothing raises (as
seen on ../shared/oracle/run-original): a handshake that fails, or TLS files
that cannot be loaded, abort the messages, and ``failure(tracker)`` says why.
"""

from __future__ import annotations

import os
import re
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
from msgr_tui.messenger.failures import Failure
from msgr_tui.messenger.subscription import SubscriptionState
from msgr_tui.messenger.views import ConnectionView
from tests import certs as certs_module
from tests.certs import CertificateSet
from tests.helpers import DEADLINE, Make, ThreadedPeer, pump_until, wait_for

ROOT = Path(__file__).resolve().parents[2]
TLS_LISTEN = "amqps://~127.0.0.1:0"


# ----------------------------------------------------------------- helpers


def tls_server(
    cert: str | None, key: str | None, trusted: str | None = None
) -> Callable[[Messenger], None]:
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


def assert_refused(client: Messenger, address: str, pattern: str) -> Failure:
    """A put to ``address`` that cannot be delivered: put and send return, the tracker
    is ABORTED, and its failure matches ``pattern``."""
    tracker = client.put(Message(address=address, body="must not arrive"))
    client.send()
    assert client.status(tracker) is ABORTED
    assert client.outgoing == 0
    failure = client.failure(tracker)
    assert failure is not None, "an aborted message must say why"
    assert re.search(pattern, failure.reason), failure
    return failure


# ------------------------------------------------------- the build has TLS


def test_this_proton_build_supports_tls() -> None:
    # Everything below needs it; a build without TLS must fail here, loudly.
    assert proton.SSL.present()
    proton.SSLDomain(proton.SSLDomain.MODE_CLIENT)
    proton.SSLDomain(proton.SSLDomain.MODE_SERVER)


# --------------------------------------------------------- server-only TLS


@pytest.mark.parametrize(
    ("host", "which"),
    [("localhost", "server"), ("127.0.0.1", "ip_name")],
    ids=["by DNS name", "by IP in the common name"],
)
def test_server_only_tls_verifies_the_server_and_delivers(
    certs: CertificateSet, host: str, which: str, messengers: Make
) -> None:
    cert, key = {
        "server": (certs.server_cert, certs.server_key),
        "ip_name": (certs.ip_name_cert, certs.ip_name_key),
    }[which]
    with ThreadedPeer("tls-server", listen=TLS_LISTEN, setup=tls_server(cert, key)) as peer:
        assert peer.address.startswith("amqps://")
        client = messengers(
            "tls-client", trusted_certificates=certs.ca, outgoing_window=5, timeout=10
        )
        assert client.verify_hostname is True  # the original's default: the name counts
        address = f"amqps://{host}:{peer.port}/orders"
        tracker = send_one(client, address, "secret order")
        assert client.status(tracker) is ACCEPTED

        # It really travelled over TLS, and the client saw the server's certificate.
        conn = outgoing_conn(client)
        assert (conn.tls_protocol or "").startswith("TLS")
        assert (conn.tls_peer_subject or "").startswith("CN=")

        wait_for(lambda: peer.received, what="the message at the TLS listener")
        assert [r.body for r in peer.received] == ["secret order"]
        assert peer.received[0].address == address
        client.stop()
        assert client.stopped
    assert peer.errors == []


def test_an_ip_address_listed_only_as_an_ip_san_is_refused_with_what_to_do(
    certs: CertificateSet, messengers: Make
) -> None:
    # Proton matches the host as text against DNS names and the common name;
    # this certificate names 127.0.0.1 only in an IP address SAN.
    setup = tls_server(certs.server_cert, certs.server_key)
    with ThreadedPeer("tls-server", listen=TLS_LISTEN, setup=setup) as peer:
        client = messengers("by-ip", trusted_certificates=certs.ca, outgoing_window=5, timeout=10)
        failure = assert_refused(
            client, f"amqps://127.0.0.1:{peer.port}/q", "certificate verify failed"
        )
        assert "IP address" in failure.reason and "localhost" in failure.reason
        assert failure.permanent

        # Checking the chain only (an extension) lets it through.
        chain_only = messengers(
            "chain-only",
            trusted_certificates=certs.ca,
            verify_hostname=False,
            outgoing_window=5,
            timeout=10,
        )
        tracker = send_one(chain_only, f"amqps://127.0.0.1:{peer.port}/q", "chain checked")
        assert chain_only.status(tracker) is ACCEPTED


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


def test_a_listener_without_a_certificate_accepts_anonymous_tls(
    certs: CertificateSet, messengers: Make
) -> None:
    # As the original: amqps://~ with no certificate is encrypted but
    # authenticates nobody. Only a client that does not verify gets through.
    with ThreadedPeer("anonymous", listen=TLS_LISTEN, setup=tls_server(None, None)) as peer:
        client = messengers("anonymous-client", outgoing_window=5, timeout=10)
        tracker = send_one(client, f"amqps://127.0.0.1:{peer.port}/q", "encrypted anyway")
        assert client.status(tracker) is ACCEPTED
        conn = outgoing_conn(client)
        assert (conn.tls_protocol or "").startswith("TLS")
        assert conn.tls_peer_subject is None  # no certificate was presented
        wait_for(lambda: peer.received, what="the message")
        assert peer.received[0].body == "encrypted anyway"

        verifying = messengers("verifying", trusted_certificates=certs.ca, outgoing_window=5)
        verifying.timeout = 10
        assert_refused(verifying, f"amqps://localhost:{peer.port}/q", "SSL")
        client.stop()  # before the listener stops: it waits for its peers' close
    assert peer.errors == []


# --------------------------------------------------------------- mutual TLS


def test_mutual_tls_requires_a_client_certificate(certs: CertificateSet, messengers: Make) -> None:
    setup = tls_server(certs.server_cert, certs.server_key, trusted=certs.ca)
    with ThreadedPeer("mtls-server", listen=TLS_LISTEN, setup=setup) as peer:
        address = f"amqps://localhost:{peer.port}/q"

        def with_certificate(name: str) -> Messenger:
            return messengers(
                name,
                trusted_certificates=certs.ca,
                certificate=certs.client_cert,
                private_key=certs.client_key,
                outgoing_window=5,
                timeout=10,
            )

        first = with_certificate("with-cert")
        assert first.status(send_one(first, address, "first")) is ACCEPTED
        first.stop()

        without_cert = messengers(
            "without-cert", trusted_certificates=certs.ca, outgoing_window=5, timeout=10
        )
        failure = assert_refused(without_cert, address, r"certificate|SSL")
        assert failure.where == f"amqps://localhost:{peer.port}"
        without_cert.stop()

        # The listener is still there for clients that do present a certificate.
        again = with_certificate("with-cert-again")
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
        tracker = send_one(client, f"amqps://localhost:{peer.port}/q", "unlocked")
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


# ------------------------------------------------- certificates refused


@pytest.mark.parametrize(
    ("server", "client_side", "pattern"),
    [
        ("rogue", {}, r"certificate verify failed \(unable to get local issuer certificate\)"),
        ("expired", {}, r"certificate verify failed \(certificate has expired\)"),
        ("wrong_name", {}, r"certificate verify failed \(Hostname mismatch"),
        ("mutual", {"rogue_client": True}, r"SSL|certificate"),
    ],
    ids=["untrusted CA", "expired", "another name", "untrusted client certificate"],
)
def test_a_certificate_that_fails_verification_aborts_with_the_reason(
    certs: CertificateSet,
    rogue_client: tuple[str, str],
    server: str,
    client_side: dict[str, bool],
    pattern: str,
    messengers: Make,
) -> None:
    setup = {
        "rogue": tls_server(certs.rogue_cert, certs.rogue_key),
        "expired": tls_server(certs.expired_cert, certs.expired_key),
        "wrong_name": tls_server(certs.wrong_name_cert, certs.wrong_name_key),
        "mutual": tls_server(certs.server_cert, certs.server_key, trusted=certs.ca),
    }[server]
    with ThreadedPeer("refusing", listen=TLS_LISTEN, setup=setup) as peer:
        client = messengers("careful", trusted_certificates=certs.ca, outgoing_window=5)
        client.timeout = 10
        if client_side.get("rogue_client"):
            client.certificate, client.private_key = rogue_client
        failure = assert_refused(client, f"amqps://localhost:{peer.port}/q", pattern)
        assert failure.where == f"amqps://localhost:{peer.port}"
        assert failure.permanent  # retrying will not make the certificate good
        assert client.connections == ()
        client.stop()
        assert peer.received == []


def test_an_untrusted_server_certificate_is_refused_until_its_ca_is_trusted(
    certs: CertificateSet, messengers: Make
) -> None:
    with ThreadedPeer(
        "rogue-server", listen=TLS_LISTEN, setup=tls_server(certs.rogue_cert, certs.rogue_key)
    ) as peer:
        client = messengers("careful", trusted_certificates=certs.ca, outgoing_window=5, timeout=10)
        address = f"amqps://localhost:{peer.port}/q"
        assert_refused(client, address, r"certificate verify failed")
        # Trusting the rogue CA is a new setting: the next put connects anew and succeeds.
        client.trusted_certificates = certs.rogue_ca
        assert client.status(send_one(client, address, "now trusted")) is ACCEPTED
        client.stop()
        wait_for(lambda: peer.received, what="the message")
        assert [r.body for r in peer.received] == ["now trusted"]


@pytest.mark.parametrize("verify_hostname", [True, False])
def test_verify_hostname_decides_about_a_certificate_for_another_name(
    certs: CertificateSet, verify_hostname: bool, messengers: Make
) -> None:
    with ThreadedPeer(
        "elsewhere",
        listen=TLS_LISTEN,
        setup=tls_server(certs.wrong_name_cert, certs.wrong_name_key),
    ) as peer:
        client = messengers("client", trusted_certificates=certs.ca, outgoing_window=5)
        client.timeout = 10
        client.verify_hostname = verify_hostname
        address = f"amqps://localhost:{peer.port}/q"
        if verify_hostname:
            assert_refused(client, address, r"Hostname mismatch")
        else:
            # The chain is valid; only the name is wrong, and nobody checks it.
            assert client.status(send_one(client, address, "name unchecked")) is ACCEPTED
            wait_for(lambda: peer.received, what="the message")
        client.stop()
        expected = [] if verify_hostname else ["name unchecked"]
        assert [r.body for r in peer.received] == expected


# -------------------------------------------------- local TLS settings


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
    client = messengers("client", outgoing_window=5, **properties)
    # As the original: put does not raise; the message is aborted, with the reason.
    failure = assert_refused(client, "amqps://127.0.0.1:1/q", re.escape(missing))
    assert prop in failure.reason
    assert failure.permanent

    # The same mistake on a listener raises from subscribe (the original did too).
    server_properties = dict(properties, certificate=certs.server_cert)
    server_properties["private_key"] = certs.server_key
    server_properties[prop] = missing
    server = messengers("server", **server_properties)
    with pytest.raises(MessengerException) as caught:
        server.subscribe(TLS_LISTEN)
    assert missing in str(caught.value)
    assert prop in str(caught.value)
    assert server.subscriptions == []


@pytest.mark.parametrize(
    "mistake", ["key of another certificate", "wrong key password", "CA file not PEM"]
)
def test_tls_settings_that_cannot_be_loaded_abort_sends_and_refuse_listeners(
    certs: CertificateSet, tmp_path: Path, mistake: str, messengers: Make
) -> None:
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("this is not a certificate\n")
    client_properties, server_properties, pattern = {
        "key of another certificate": (
            {"certificate": certs.client_cert, "private_key": certs.server_key},
            {"certificate": certs.server_cert, "private_key": certs.client_key},
            "invalid credentials",
        ),
        "wrong key password": (
            {
                "certificate": certs.client_cert,
                "private_key": certs.client_key_encrypted,
                "password": "not-the-password",
            },
            {
                "certificate": certs.client_cert,
                "private_key": certs.client_key_encrypted,
                "password": "not-the-password",
            },
            "invalid credentials",
        ),
        "CA file not PEM": (
            {"trusted_certificates": str(not_pem)},
            {
                "certificate": certs.server_cert,
                "private_key": certs.server_key,
                "trusted_certificates": str(not_pem),
            },
            "trusted_certificates",
        ),
    }[mistake]
    client = messengers("client", outgoing_window=5, **client_properties)
    assert_refused(client, "amqps://127.0.0.1:1/q", pattern)
    server = messengers("server", **server_properties)
    with pytest.raises(MessengerException, match=pattern):
        server.subscribe(TLS_LISTEN)
    assert server.subscriptions == []


def test_a_wrong_key_password_fails_until_corrected(
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
        assert_refused(client, address, "invalid credentials")
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
        "from msgr_tui.messenger import ABORTED, Message, Messenger\n"
        "m = Messenger('prompt-check')\n"
        "m.certificate, m.private_key = sys.argv[1], sys.argv[2]\n"
        "m.outgoing_window = 1\n"
        "m.start()\n"
        "tracker = m.put(Message(address='amqps://127.0.0.1:1/q'))\n"
        "m.send()\n"
        "if m.status(tracker) is ABORTED:\n"
        "    print('REFUSED:', m.failure(tracker), flush=True)\n"
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


@pytest.mark.parametrize(
    "which",
    ["certificate only", "private_key only", "trusted_certificates only"],
)
def test_an_amqps_listener_with_incomplete_credentials_is_refused(
    certs: CertificateSet, which: str, messengers: Make
) -> None:
    properties = {
        "certificate only": {"certificate": certs.server_cert},
        "private_key only": {"private_key": certs.server_key},
        "trusted_certificates only": {"trusted_certificates": certs.ca},
    }[which]
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


# ------------------------------------------------ protocol mismatches


def test_a_plaintext_client_to_an_amqps_listener_fails_and_the_listener_survives(
    certs: CertificateSet, messengers: Make
) -> None:
    with ThreadedPeer(
        "tls-server", listen=TLS_LISTEN, setup=tls_server(certs.server_cert, certs.server_key)
    ) as peer:
        plain = messengers("plain", outgoing_window=5, timeout=10)
        failure = assert_refused(plain, f"amqp://127.0.0.1:{peer.port}/q", r"protocol header|SSL")
        assert failure.where == f"amqp://127.0.0.1:{peer.port}"
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
        failure = assert_refused(client, f"amqps://127.0.0.1:{peer.port}/q", r"SSL|protocol")
        assert failure.where == f"amqps://127.0.0.1:{peer.port}"
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
    pump_until(both, lambda: subscription.state is SubscriptionState.ATTACHED, what="the TLS link")

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
        # Its only source fails: as the original, recv has nothing to wait on.
        try:
            client.recv(1)
        except Timeout:
            pytest.fail("recv waited for a connection whose TLS handshake failed")
        except MessengerException as error:
            assert "no valid sources" in str(error)
            assert "certificate verify failed" in str(error)
        else:
            pytest.fail("recv returned although the subscription never connected")
        assert subscription.state is SubscriptionState.FAILED
        assert subscription.failure is not None
        assert "certificate verify failed" in subscription.failure.reason
        client.stop()
