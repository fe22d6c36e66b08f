"""TLS in profiles: files checked before saving, and profiles that really connect over TLS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from msgr_tui.bridge import (
    MessageArrived,
    Notice,
    SubscriptionChanged,
    TrackerUpdated,
)
from msgr_tui.messenger import ABORTED, ACCEPTED, Messenger
from msgr_tui.messenger.subscription import SubscriptionState
from msgr_tui.profiles import ProfileSession, read_config, resolve
from msgr_tui.profiles.tls_files import check_tls
from tests.bridge.running import running
from tests.certs import CertificateSet
from tests.conftest import RabbitMQ
from tests.helpers import ThreadedPeer, wait_for

# --------------------------------------------------------------- checks


def fields(**paths: str | None) -> list[str]:
    return [problem.field for problem in check_tls(**paths)]


def test_good_files_pass(certs: CertificateSet) -> None:
    assert (
        check_tls(
            certificate=certs.client_cert,
            private_key=certs.client_key_encrypted,
            key_password=certs.key_password,
            trusted_certificates=certs.ca,
        )
        == []
    )


def test_a_missing_file_names_its_field(certs: CertificateSet, tmp_path: Path) -> None:
    problems = check_tls(trusted_certificates=str(tmp_path / "nope.pem"))
    assert [p.field for p in problems] == ["trusted_certificates"]
    assert "does not exist" in str(problems[0]) and str(problems[0]).startswith("tls.")
    assert fields(certificate=str(tmp_path / "x.pem"), private_key=certs.client_key) == [
        "certificate"
    ]


def test_an_unreadable_file_names_its_field(certs: CertificateSet, tmp_path: Path) -> None:
    locked = tmp_path / "locked.pem"
    locked.write_bytes(Path(certs.client_key).read_bytes())
    locked.chmod(0)
    if os.geteuid() != 0:
        assert fields(certificate=certs.client_cert, private_key=str(locked)) == ["private_key"]
        return
    # Root reads any file; without the capabilities that let it (as a root
    # process in a hardened container would be), mode 000 is unreadable again.
    code = (
        "import json, sys\n"
        "from msgr_tui.profiles.tls_files import check_tls\n"
        "problems = check_tls(certificate=sys.argv[1], private_key=sys.argv[2])\n"
        "print(json.dumps([[p.field, p.message] for p in problems]))\n"
    )
    result = subprocess.run(
        [
            "setpriv",
            "--bounding-set",
            "-dac_override,-dac_read_search",
            "--",
            sys.executable,
            "-c",
            code,
            certs.client_cert,
            str(locked),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    problems = json.loads(result.stdout)
    assert [field for field, _ in problems] == ["private_key"]
    assert "not readable" in problems[0][1] or "ermission" in problems[0][1]


def test_a_directory_is_not_a_file(certs: CertificateSet, tmp_path: Path) -> None:
    problems = check_tls(trusted_certificates=str(tmp_path))
    assert [p.field for p in problems] == ["trusted_certificates"]
    assert "not a file" in problems[0].message


def test_a_key_that_does_not_match_the_certificate(certs: CertificateSet) -> None:
    problems = check_tls(certificate=certs.client_cert, private_key=certs.server_key)
    assert [p.field for p in problems] == ["private_key"]
    assert "does not match" in problems[0].message


def test_an_encrypted_key_without_or_with_a_wrong_password(certs: CertificateSet) -> None:
    key = certs.client_key_encrypted
    missing = check_tls(certificate=certs.client_cert, private_key=key)
    assert [p.field for p in missing] == ["key_password"]
    assert "needed" in missing[0].message
    wrong = check_tls(certificate=certs.client_cert, private_key=key, key_password="nope")
    assert [p.field for p in wrong] == ["key_password"]
    assert "does not open" in wrong[0].message


def test_files_of_the_wrong_kind(certs: CertificateSet) -> None:
    assert fields(certificate=certs.client_key, private_key=certs.client_key) == ["certificate"]
    assert fields(certificate=certs.client_cert, private_key=certs.client_cert) == ["private_key"]
    assert fields(trusted_certificates=certs.client_key) == ["trusted_certificates"]


def test_half_a_client_identity(certs: CertificateSet) -> None:
    assert fields(certificate=certs.client_cert) == ["private_key"]
    assert fields(private_key=certs.client_key) == ["certificate"]


# ------------------------------------------------------------- connecting


def tls_server(certs: CertificateSet) -> Callable[[Messenger], None]:
    def setup(messenger: Messenger) -> None:
        messenger.certificate = certs.server_cert
        messenger.private_key = certs.server_key
        messenger.trusted_certificates = certs.ca  # so clients must show a certificate

    return setup


def test_a_tls_profile_connects_to_a_mutual_tls_listener(
    certs: CertificateSet, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[profiles.secure]
listen = []
outgoing_window = 10

[profiles.secure.tls]
certificate = "{certs.client_cert}"
private_key = "{certs.client_key_encrypted}"
key_password_env = "TEST_KEY_PASSWORD"
trusted_certificates = "{certs.ca}"
verify_hostname = true
"""
    )
    session = ProfileSession(config, env={"TEST_KEY_PASSWORD": certs.key_password})
    session.load()
    assert session.requests("secure") == []
    settings = session.settings("secure")
    with (
        ThreadedPeer(
            "tls-listener", listen="amqps://~127.0.0.1:0", setup=tls_server(certs)
        ) as peer,
        running(settings) as run,
    ):
        run.put(f"amqps://localhost:{peer.port}/orders", "over mutual TLS")
        wait_for(lambda: peer.received, what="the message at the TLS listener")
        wait_for(
            lambda: any(e.status is ACCEPTED for e in run.of(TrackerUpdated)),
            what="ACCEPTED",
        )
    assert peer.received[0].body == "over mutual TLS"
    assert peer.errors == []


def test_without_the_key_password_the_same_profile_cannot_connect(
    certs: CertificateSet, tmp_path: Path
) -> None:
    # The other side of the test above: the TLS settings really are what connects.
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[profiles.secure]
listen = []
outgoing_window = 10
[profiles.secure.tls]
certificate = "{certs.client_cert}"
private_key = "{certs.client_key_encrypted}"
trusted_certificates = "{certs.ca}"
"""
    )
    profile = read_config(config).config.get("secure")
    assert profile is not None
    settings = resolve(profile, env={})
    with (
        ThreadedPeer(
            "tls-listener", listen="amqps://~127.0.0.1:0", setup=tls_server(certs)
        ) as peer,
        running(settings) as run,
    ):
        run.put(f"amqps://localhost:{peer.port}/orders", "never arrives")
        wait_for(
            lambda: (
                any(e.status is ABORTED for e in run.of(TrackerUpdated))
                or any("credentials" in str(getattr(e, "error", "")) for e in run.events)
            ),
            what="the refusal",
        )
    assert peer.received == []


@pytest.mark.rabbitmq
def test_a_tls_profile_connects_to_rabbitmq_with_hostname_check(
    rabbitmq: RabbitMQ, tmp_path: Path
) -> None:
    queue = f"msgr-tui-profile-{uuid.uuid4().hex}"
    address = f"amqps://{rabbitmq.tls_host}:{rabbitmq.tls_port}//queue/{queue}"
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
default_profile = "rabbit"

[profiles.rabbit]
listen = []
subscribe = ["{address}"]
incoming_window = 0
outgoing_window = 10
user = "guest"
password_env = "TEST_RABBIT_PASSWORD"

[profiles.rabbit.tls]
trusted_certificates = "{rabbitmq.ca}"
verify_hostname = true
"""
    )
    session = ProfileSession(config, env={"TEST_RABBIT_PASSWORD": "guest"})
    session.load()
    settings = session.settings("rabbit")
    assert settings.password == "guest"  # from the environment variable the profile names
    with running(settings) as run:
        wait_for(
            lambda: any(e.state is SubscriptionState.ATTACHED for e in run.of(SubscriptionChanged)),
            timeout=30,
            what="the subscription attached over TLS",
        )
        run.put(address, "through the broker")
        wait_for(lambda: run.of(MessageArrived), timeout=30, what="the message back")
        # The hostname check is on: the broker's certificate names localhost, not its IP.
        by_ip = address.replace(f"amqps://{rabbitmq.tls_host}:", "amqps://127.0.0.1:")
        run.put(by_ip, "refused by name", draft_id=2)
        wait_for(
            lambda: any("certificate verify failed" in n.text for n in run.of(Notice)),
            timeout=30,
            what="the name check to refuse the IP address",
        )
    assert run.of(MessageArrived)[0].message.body == "through the broker"
    assert len(run.of(MessageArrived)) == 1
    assert any(e.status is ACCEPTED for e in run.of(TrackerUpdated))
    assert any(e.status is ABORTED for e in run.of(TrackerUpdated))
