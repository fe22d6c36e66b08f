"""``msgr-tui send`` and ``msgr-tui recv``, run as real subprocesses against real peers.

Peers are Messengers in the test process (a listening ThreadedPeer, or a
sender that connects to a ``recv`` listening on ``~127.0.0.1:0``) and a raw
Proton peer that refuses links. Nothing waits on a clock: every wait is for
an event (a line, an exit, a status) with a generous deadline.
"""

from __future__ import annotations

import base64
import json
import os
import pty
import queue
import re
import select
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from msgr_tui.commands.progress import Progress
from msgr_tui.commands.send import MAX_IN_FLIGHT
from msgr_tui.messenger import (
    ACCEPTED,
    PENDING,
    REJECTED,
    RELEASED,
    Message,
    Messenger,
)
from msgr_tui.messenger.events import ConnectionClosed, ConnectionOpened, LinkOpened, MessengerEvent
from tests.certs import CertificateSet
from tests.command_line import COMMAND, ROOT, msgr_tui
from tests.conftest import RabbitMQ
from tests.helpers import DEADLINE, ThreadedPeer, pump_until, started, stop_all, wait_for
from tests.peers import PeerBehaviour, RawPeer, refuse_names_starting_with


def counts(summary: str) -> dict[str, int]:
    """``accepted 3`` (and ``not sent 904``) lines of a send summary as a dict."""
    found = {}
    for line in summary.splitlines():
        match = re.fullmatch(r"([a-z][a-z ]*?) +(\d+)", line.strip())
        if match:
            found[match.group(1)] = int(match.group(2))
    return found


class RecvProcess:
    """``msgr-tui recv ~127.0.0.1:0 ...`` in a child process, and where it listens."""

    def __init__(self, *args: str, stderr: int | None = None) -> None:
        self.process = subprocess.Popen(
            [*COMMAND, "recv", "amqp://~127.0.0.1:0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if stderr is None else stderr,
            cwd=ROOT,
        )
        self.stderr_lines: queue.Queue[str] = queue.Queue()
        self.stderr_text: list[str] = []
        if stderr is None:
            threading.Thread(target=self._read_stderr, daemon=True).start()
            line = self.next_stderr_line()
            assert "listening on amqp://127.0.0.1:" in line, line
            self.address = line.split("listening on ", 1)[1].strip()

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for raw in self.process.stderr:
            line = raw.decode("utf-8")
            self.stderr_text.append(line)
            self.stderr_lines.put(line)
        self.stderr_lines.put("")

    def next_stderr_line(self) -> str:
        return self.stderr_lines.get(timeout=DEADLINE)

    def finish(self) -> tuple[int, str, str]:
        """Wait for the exit; returns (code, stdout, stderr)."""
        stdout, _ = self.process.communicate(timeout=DEADLINE)
        while self.stderr_lines.get(timeout=DEADLINE) != "":
            pass
        return self.process.returncode, stdout.decode("utf-8"), "".join(self.stderr_text)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(DEADLINE)


@pytest.fixture
def recv_processes() -> Iterator[list[RecvProcess]]:
    """Receivers a test started; killed afterwards if the test failed before they ended."""
    started_here: list[RecvProcess] = []
    yield started_here
    for receiver in started_here:
        receiver.kill()


def start_recv(registry: list[RecvProcess], *args: str) -> RecvProcess:
    receiver = RecvProcess(*args)
    registry.append(receiver)
    return receiver


def sender_messenger(events: list[MessengerEvent] | None = None) -> Messenger:
    messenger = started("test-sender", outgoing_window=100, timeout=DEADLINE)
    if events is not None:
        messenger.on_event = events.append
    return messenger


def put_bodies(messenger: Messenger, address: str, bodies: list[Any], **fields: Any) -> list[int]:
    trackers = []
    for body in bodies:
        message = Message(address=address, body=body)
        for name, value in fields.items():
            setattr(message, name, value)
        trackers.append(messenger.put(message))
    return trackers


# ------------------------------------------------------------------ send


def test_send_reports_every_outcome_and_exits_0_when_all_are_accepted() -> None:
    with ThreadedPeer("acceptor") as peer:
        result = msgr_tui(
            "send",
            f"{peer.address}/orders",
            "--body",
            "hello",
            "--subject",
            "greeting",
            "--property",
            "n=5",
            "--property",
            "colour=red",
            "--count",
            "5",
        )
        wait_for(lambda: len(peer.received) == 5, what="five messages at the peer")
    assert result.returncode == 0, result.stderr
    assert counts(result.stdout) == {
        "accepted": 5,
        "rejected": 0,
        "released": 0,
        "modified": 0,
        "aborted": 0,
    }
    assert "5 of 5 messages" in result.stdout and "msg/s" in result.stdout
    assert result.stderr == ""
    first = peer.received[0]
    assert (first.body, first.subject) == ("hello", "greeting")
    assert first.properties == {"n": 5, "colour": "red"}
    assert first.address == f"{peer.address}/orders"


def test_send_marks_messages_durable_unless_told_not_to() -> None:
    # A broker keeps only durable messages across a restart; Compose and the
    # replays keep the durability they were given, and plain send defaults to it.
    with ThreadedPeer("durability") as peer:
        durable = msgr_tui("send", f"{peer.address}/q", "--body", "kept")
        volatile = msgr_tui("send", f"{peer.address}/q", "--body", "not kept", "--no-durable")
        wait_for(lambda: len(peer.received) == 2, what="both messages at the peer")
    assert (durable.returncode, volatile.returncode) == (0, 0), durable.stderr + volatile.stderr
    assert [(message.body, message.durable) for message in peer.received] == [
        ("kept", True),
        ("not kept", False),
    ]


def test_no_durable_is_refused_with_from_whose_file_decides(tmp_path: Path) -> None:
    saved = tmp_path / "one.jsonl"
    saved.write_text('{"msgr-tui": 1, "body": {"value": "v"}}\n', encoding="utf-8")
    result = msgr_tui("send", "amqp://127.0.0.1:1/q", "--from", str(saved), "--no-durable")
    assert result.returncode == 2
    assert "not --no-durable" in result.stderr


def test_send_exits_non_zero_and_counts_rejections_when_the_peer_rejects() -> None:
    decided: list[int] = []

    def decide(messenger: Messenger, message: Message, tracker: int) -> None:
        decided.append(tracker)
        (messenger.reject if len(decided) % 2 else messenger.accept)(tracker)

    with ThreadedPeer("picky", incoming_window=10, handler=decide) as peer:
        result = msgr_tui("send", f"{peer.address}/q", "--count", "4")
    assert result.returncode == 1, result.stderr
    found = counts(result.stdout)
    assert (found["accepted"], found["rejected"], found["aborted"]) == (2, 2, 0)


def test_a_window_smaller_than_the_count_still_counts_every_outcome() -> None:
    with ThreadedPeer("acceptor") as peer:
        result = msgr_tui(
            "send", f"{peer.address}/q", "--count", "50", "--outgoing-window", "3", "--size", "8"
        )
    assert result.returncode == 0, result.stderr
    assert counts(result.stdout)["accepted"] == 50
    assert "unknown" not in result.stdout


def test_json_bodies_are_validated_and_sent_like_compose_does() -> None:
    content_types: list[str | None] = []

    def record(messenger: Messenger, message: Message, tracker: int) -> None:
        content_types.append(str(message.content_type))

    with ThreadedPeer("json-peer", handler=record) as peer:
        result = msgr_tui("send", f"{peer.address}/q", "--json", "--body", '{"a": [1, 2]}')
        wait_for(lambda: content_types, what="the message at the peer")
    assert result.returncode == 0, result.stderr
    assert json.loads(peer.received[0].body) == {"a": [1, 2]}
    assert content_types == ["application/json"]

    invalid = msgr_tui("send", f"{peer.address}/q", "--json", "--body", "{nope")
    assert invalid.returncode == 2
    assert "invalid JSON" in invalid.stderr and "Traceback" not in invalid.stderr


def test_size_makes_a_binary_body_of_that_many_bytes() -> None:
    with ThreadedPeer("sized") as peer:
        result = msgr_tui("send", f"{peer.address}/q", "--size", "1000")
        wait_for(lambda: peer.received, what="the message at the peer")
    assert result.returncode == 0, result.stderr
    body = peer.received[0].body
    assert isinstance(body, (bytes, memoryview)) and len(bytes(body)) == 1000


def test_body_files_go_as_text_when_utf8_text_and_as_binary_otherwise(tmp_path: Path) -> None:
    text_file = tmp_path / "note.txt"
    text_file.write_text("grüße\nline two\n", encoding="utf-8")
    with ThreadedPeer("files") as peer:
        as_text = msgr_tui("send", f"{peer.address}/q", "--body-file", str(text_file))
        from_stdin = msgr_tui(
            "send", f"{peer.address}/q", "--body-file", "-", stdin=b"\x00\x01 not text"
        )
        wait_for(lambda: len(peer.received) == 2, what="both messages at the peer")
    assert (as_text.returncode, from_stdin.returncode) == (0, 0), as_text.stderr + from_stdin.stderr
    assert peer.received[0].body == "grüße\nline two\n"
    assert bytes(peer.received[1].body) == b"\x00\x01 not text"

    missing = msgr_tui("send", f"{peer.address}/q", "--body-file", str(tmp_path / "absent"))
    assert missing.returncode == 2 and "absent" in missing.stderr


def test_a_binary_body_file_round_trips_from_send_to_recv_json(
    tmp_path: Path, recv_processes: list[RecvProcess]
) -> None:
    data = bytes(range(256)) * 4
    body_file = tmp_path / "blob.bin"
    body_file.write_bytes(data)
    receiver = start_recv(recv_processes, "--json", "--count", "1")
    sent = msgr_tui("send", f"{receiver.address}/blobs", "--body-file", str(body_file))
    code, stdout, stderr = receiver.finish()
    assert sent.returncode == 0, sent.stderr
    assert code == 0, stderr
    record = json.loads(stdout)
    assert record["body"] == {"value": {"$base64": base64.b64encode(data).decode("ascii")}}
    assert record["properties"]["to"] == f"{receiver.address}/blobs"


def test_property_arguments_are_checked_one_by_one() -> None:
    result = msgr_tui("send", "amqp://127.0.0.1:1/q", "--property", "no-equals-sign")
    assert result.returncode == 2
    assert "--property 'no-equals-sign'" in result.stderr
    assert "expected key=value" in result.stderr


def test_sigint_stops_send_cleanly_while_it_waits_for_outcomes() -> None:
    closes: list[ConnectionClosed] = []

    def watch(messenger: Messenger) -> None:
        messenger.on_event = lambda event: (
            closes.append(event) if isinstance(event, ConnectionClosed) else None
        )

    # The peer keeps every delivery undecided, so the sender waits for ever.
    with ThreadedPeer("undecided", incoming_window=100, setup=watch) as peer:
        process = subprocess.Popen(
            [*COMMAND, "send", f"{peer.address}/q", "--count", "3"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=ROOT,
        )
        try:
            wait_for(lambda: len(peer.received) == 3, what="three messages at the peer")
            process.send_signal(signal.SIGINT)
            stdout, stderr = process.communicate(timeout=DEADLINE)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(DEADLINE)
        wait_for(lambda: closes, what="the connection to close")
    assert process.returncode == 130, stderr
    assert b"Traceback" not in stderr
    assert [event.error for event in closes] == [None]
    found = counts(stdout.decode())
    assert found["accepted"] == 0
    # Never answered: ABORTED by the close (or unknown); either way all three are counted.
    assert found["aborted"] + found.get("unknown", 0) == 3


def test_a_profile_brings_its_routes_and_a_missing_one_is_a_usage_error(tmp_path: Path) -> None:
    with ThreadedPeer("routed") as peer:
        config = tmp_path / "config.toml"
        config.write_text(
            f'[profiles.lab]\nroutes = [["amqp://nowhere/*", "{peer.address}/$1"]]\n',
            encoding="utf-8",
        )
        # Only the profile's route makes "nowhere" reachable.
        result = msgr_tui(
            "send", "amqp://nowhere/q", "--body", "routed", "--config", str(config), "-p", "lab"
        )
        wait_for(lambda: peer.received, what="the routed message")
    assert result.returncode == 0, result.stderr
    assert peer.received[0].body == "routed"

    missing = msgr_tui("send", "amqp://nowhere/q", "--config", str(config), "-p", "absent")
    assert missing.returncode == 2
    assert "no profile 'absent'" in missing.stderr and "lab" in missing.stderr


def watching(events: list[MessengerEvent]) -> Callable[[Messenger], None]:
    """A ThreadedPeer ``setup`` that records the peer Messenger's events."""

    def setup(messenger: Messenger) -> None:
        messenger.on_event = events.append

    return setup


def test_reply_to_travels_and_a_tilde_names_the_sender() -> None:
    events: list[MessengerEvent] = []
    with ThreadedPeer("replier", setup=watching(events)) as peer:
        mine = msgr_tui("send", f"{peer.address}/q", "--body", "1", "--reply-to", "~/replies")
        elsewhere = msgr_tui(
            "send", f"{peer.address}/q", "--body", "2", "--reply-to", "amqp://desk.example/r"
        )
        wait_for(lambda: len(peer.received) == 2, what="both messages at the peer")
    assert (mine.returncode, elsewhere.returncode) == (0, 0), mine.stderr + elsewhere.stderr
    # The sender's name is the container-id its connection announced to the peer.
    senders = [e.remote_container for e in events if isinstance(e, ConnectionOpened)]
    assert len(senders) == 2 and senders[0]
    by_body = {received.body: received.reply_to for received in peer.received}
    assert by_body == {"1": f"amqp://{senders[0]}/replies", "2": "amqp://desk.example/r"}


def test_send_gives_up_when_the_peer_stops_answering_and_says_so(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[profiles.impatient]\ntimeout = 1\n", encoding="utf-8")
    # The peer takes every message and never answers (all stay in its window).
    with ThreadedPeer("mute", incoming_window=100) as peer:
        result = msgr_tui(
            "send", f"{peer.address}/q", "--count", "2", "--config", str(config), "-p", "impatient"
        )
        # They arrived; only the answers never came.
        wait_for(lambda: len(peer.received) == 2, what="both messages at the peer")
    assert result.returncode == 3, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert f"{peer.address}/q: no answer for 1 s (2 messages waiting for an outcome)" in lines[0]
    assert counts(result.stdout)["accepted"] == 0


@pytest.mark.parametrize("command", ["send", "recv"])
def test_sigterm_stops_send_and_recv_with_143_and_a_clean_close(command: str) -> None:
    events: list[MessengerEvent] = []
    # send waits for answers the peer never gives; recv waits for messages nobody sends.
    with ThreadedPeer("peer", incoming_window=100, setup=watching(events)) as peer:
        if command == "send":
            args = ["send", f"{peer.address}/q", "--count", "3"]
        else:
            args = ["recv", f"{peer.address}/feed"]
        process = subprocess.Popen(
            [*COMMAND, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT
        )
        try:
            if command == "send":
                wait_for(lambda: len(peer.received) == 3, what="three messages at the peer")
            else:
                wait_for(
                    lambda: any(isinstance(e, LinkOpened) for e in events),
                    what="recv's link at the peer",
                )
            process.send_signal(signal.SIGTERM)
            stdout, stderr = process.communicate(timeout=DEADLINE)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(DEADLINE)
        wait_for(lambda: any(isinstance(e, ConnectionClosed) for e in events), what="the close")
    assert process.returncode == 143, stderr
    assert b"Traceback" not in stderr
    closes = [event for event in events if isinstance(event, ConnectionClosed)]
    assert [event.error for event in closes] == [None]  # a clean AMQP close
    if command == "send":
        assert counts(stdout.decode())["accepted"] == 0


def test_send_never_has_more_than_max_in_flight_messages_unanswered() -> None:
    events: list[MessengerEvent] = []
    count = MAX_IN_FLIGHT + 904
    # The peer holds every message unanswered: after MAX_IN_FLIGHT, send must wait.
    with ThreadedPeer("holder", incoming_window=count, setup=watching(events)) as peer:
        process = subprocess.Popen(
            [*COMMAND, "send", f"{peer.address}/q", "--count", str(count)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=ROOT,
        )
        try:
            wait_for(
                lambda: len(peer.received) >= MAX_IN_FLIGHT,
                what=f"{MAX_IN_FLIGHT} messages at the peer",
            )
            process.send_signal(signal.SIGTERM)
            stdout, stderr = process.communicate(timeout=DEADLINE)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(DEADLINE)
        wait_for(lambda: any(isinstance(e, ConnectionClosed) for e in events), what="the close")
        received = len(peer.received)
    assert process.returncode == 143, stderr
    # It had put exactly MAX_IN_FLIGHT, none answered, and waited: the rest was never sent.
    summary = counts(stdout.decode())
    assert summary["not sent"] == count - MAX_IN_FLIGHT
    assert summary["accepted"] == 0
    assert received == MAX_IN_FLIGHT


PROFILES = """\
[profiles.rabbit]
user = "guest"
password_env = "TEST_RABBIT_PASSWORD"
[profiles.rabbit.tls]
trusted_certificates = "{ca}"

[profiles.wrong-password]
user = "guest"
password_env = "TEST_WRONG_PASSWORD"
[profiles.wrong-password.tls]
trusted_certificates = "{ca}"

[profiles.untrusted]
user = "guest"
password_env = "TEST_RABBIT_PASSWORD"
[profiles.untrusted.tls]
trusted_certificates = "{rogue_ca}"
"""


@pytest.mark.rabbitmq
def test_a_profile_brings_user_password_and_tls_to_send_and_recv(
    rabbitmq: RabbitMQ, certs: CertificateSet, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(PROFILES.format(ca=rabbitmq.ca, rogue_ca=certs.rogue_ca), encoding="utf-8")
    secrets = {"TEST_RABBIT_PASSWORD": "guest", "TEST_WRONG_PASSWORD": "not-guest-at-all"}
    # No credentials and no CA in the address: everything comes from the profile.
    queue = f"amqps://{rabbitmq.tls_host}:{rabbitmq.tls_port}//queue/cli-{uuid.uuid4().hex}"

    def run(*args: str, profile: str) -> subprocess.CompletedProcess[str]:
        return msgr_tui(*args, "--config", str(config), "-p", profile, env=secrets)

    sent = run("send", queue, "--body", "over TLS, as guest", profile="rabbit")
    assert sent.returncode == 0, sent.stderr
    assert counts(sent.stdout)["accepted"] == 1
    received = run("recv", queue, "--count", "1", profile="rabbit")
    assert received.returncode == 0, received.stderr
    assert received.stdout.splitlines() == [f"{queue}  over TLS, as guest"]

    # The profile's password is the one used: a wrong one is refused, and not shown.
    refused = run("send", queue, "--body", "x", profile="wrong-password")
    assert refused.returncode == 3
    assert "amqp:unauthorized-access" in refused.stderr
    assert f"guest@{rabbitmq.tls_host}:{rabbitmq.tls_port}" in refused.stderr  # its user
    assert "not-guest-at-all" not in refused.stderr + refused.stdout
    # The profile's CA is the one trusted: the broker's certificate is not signed by it.
    untrusted = run("recv", queue, "--count", "1", profile="untrusted")
    assert untrusted.returncode == 3
    assert "certificate verify failed" in untrusted.stderr


# ------------------------------------------------------------------ errors


def test_a_bad_address_is_one_line_on_stderr_and_exit_code_2() -> None:
    result = msgr_tui("send", "amqp://127.0.0.1:notaport/q", "--body", "x")
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "bad address" in lines[0] and "amqp://127.0.0.1:notaport/q" in lines[0]
    assert "not a number" in lines[0]

    listening = msgr_tui("send", "~127.0.0.1:5672/q")
    assert listening.returncode == 2
    assert "bad address '~127.0.0.1:5672/q'" in listening.stderr and "listen" in listening.stderr

    bad_source = msgr_tui("recv", "amqp://[::1/q")
    assert bad_source.returncode == 2 and "bad source" in bad_source.stderr
    assert len(bad_source.stderr.splitlines()) == 1


def test_an_unreachable_peer_is_one_line_naming_it_and_exit_code_3() -> None:
    closed = Messenger()
    closed.start()
    port = closed.subscribe("amqp://~127.0.0.1:0").port
    closed.stop()  # nobody listens on that port any more

    result = msgr_tui("send", f"amqp://127.0.0.1:{port}/q", "--body", "lost")
    assert result.returncode == 3
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert f"127.0.0.1:{port}" in lines[0] and "refused" in lines[0].lower()
    assert counts(result.stdout)["aborted"] == 1

    receiving = msgr_tui("recv", f"amqp://127.0.0.1:{port}/q")
    assert receiving.returncode == 3
    assert f"127.0.0.1:{port}" in receiving.stderr and "refused" in receiving.stderr.lower()
    assert "Traceback" not in receiving.stderr


def test_a_refused_link_is_one_line_with_the_peers_reason_and_exit_code_3() -> None:
    with RawPeer(refuse_names_starting_with("missing")) as peer:
        sending = msgr_tui("send", f"{peer.address}/missing-topic", "--count", "2")
        receiving = msgr_tui("recv", f"{peer.address}/missing-queue")
    assert sending.returncode == 3
    assert len(sending.stderr.splitlines()) == 1, sending.stderr
    assert f"127.0.0.1:{peer.port}/missing-topic" in sending.stderr
    assert "amqp:not-found" in sending.stderr
    assert counts(sending.stdout)["aborted"] == 2
    assert receiving.returncode == 3
    assert len(receiving.stderr.splitlines()) == 1, receiving.stderr
    assert "missing-queue" in receiving.stderr and "amqp:not-found" in receiving.stderr


# ------------------------------------------------------------------ recv


def test_recv_json_lines_carry_header_properties_and_body(
    recv_processes: list[RecvProcess],
) -> None:
    receiver = start_recv(recv_processes, "--json", "--count", "2")
    sender = sender_messenger()
    trackers = put_bodies(
        sender,
        f"{receiver.address}/q",
        ["first", {"nested": [1, 2]}],
        subject="greeting",
        properties={"n": 7, "tag": "x"},
        durable=True,
    )
    pump_until([sender], lambda: receiver.process.poll() is not None, what="recv to exit")
    code, stdout, stderr = receiver.finish()
    assert code == 0, stderr
    records = [json.loads(line) for line in stdout.splitlines()]
    assert [record["body"] for record in records] == [
        {"value": "first"},
        {"value": {"nested": [1, 2]}},
    ]
    assert all(record["properties"]["subject"] == "greeting" for record in records)
    assert all(record["application_properties"] == {"n": 7, "tag": "x"} for record in records)
    assert all(record["header"]["durable"] is True for record in records)
    assert [sender.status(tracker) for tracker in trackers] == [ACCEPTED, ACCEPTED]
    stop_all(sender)


def test_recv_shows_control_characters_as_visible_escapes(
    recv_processes: list[RecvProcess],
) -> None:
    receiver = start_recv(recv_processes, "--count", "1")
    sender = sender_messenger()
    put_bodies(sender, f"{receiver.address}/q", ["\x1b[2Jwiped?\nsecond line"], subject="s\x07")
    pump_until([sender], lambda: receiver.process.poll() is not None, what="recv to exit")
    code, stdout, _ = receiver.finish()
    assert code == 0
    assert "\x1b" not in stdout and "\x07" not in stdout
    assert stdout.count("\n") == 1  # one message, one line
    assert "\\x1b[2Jwiped?⏎second line" in stdout and "subject=s\\x07" in stdout


def test_recv_count_stops_after_n_and_takes_no_more(recv_processes: list[RecvProcess]) -> None:
    receiver = start_recv(recv_processes, "--count", "3")
    sender = sender_messenger()
    trackers = put_bodies(sender, f"{receiver.address}/q", [f"m{i}" for i in range(5)])
    pump_until([sender], lambda: receiver.process.poll() is not None, what="recv to exit")
    code, stdout, stderr = receiver.finish()
    assert code == 0, stderr
    assert [line.rsplit("  ", 1)[1] for line in stdout.splitlines()] == ["m0", "m1", "m2"]
    pump_until([sender], lambda: sender.status(trackers[4]) is not PENDING, what="the close")
    statuses = [sender.status(tracker) for tracker in trackers]
    assert statuses[:3] == [ACCEPTED] * 3 and ACCEPTED not in statuses[3:]
    stop_all(sender)


@pytest.mark.parametrize(("option", "outcome"), [("--reject", REJECTED), ("--release", RELEASED)])
def test_recv_can_reject_or_release_what_it_prints(
    option: str, outcome: object, recv_processes: list[RecvProcess]
) -> None:
    receiver = start_recv(recv_processes, option, "--count", "2")
    sender = sender_messenger()
    trackers = put_bodies(sender, f"{receiver.address}/q", ["a", "b"])
    pump_until(
        [sender],
        lambda: all(sender.status(tracker) is not PENDING for tracker in trackers),
        what="both outcomes",
    )
    # Keep answering: recv's clean close needs this side of the handshake.
    pump_until([sender], lambda: receiver.process.poll() is not None, what="recv to exit")
    code, stdout, _ = receiver.finish()
    assert code == 0 and len(stdout.splitlines()) == 2
    assert [sender.status(tracker) for tracker in trackers] == [outcome, outcome]
    stop_all(sender)


class CreditRecorder(PeerBehaviour):
    """A raw peer that offers a node to receive from, sends nothing, records the credit."""

    def __init__(self) -> None:
        super().__init__()
        self.credits: list[int] = []

    def on_link_flow(self, event: Any) -> None:
        self.credits.append(event.link.credit)
        super().on_link_flow(event)


@pytest.mark.parametrize(("count", "most"), [("3", 3), ("1000000", 1024)])
def test_recv_never_asks_for_more_than_count_or_one_batch(count: str, most: int) -> None:
    behaviour = CreditRecorder()
    with RawPeer(behaviour) as peer:
        process = subprocess.Popen(
            [*COMMAND, "recv", f"{peer.address}/q", "--count", count],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=ROOT,
        )
        try:
            wait_for(lambda: behaviour.credits, what="recv to grant credit")
            process.send_signal(signal.SIGTERM)  # stops as cleanly as Ctrl-C
            _, stderr = process.communicate(timeout=DEADLINE)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(DEADLINE)
    assert process.returncode == 143, stderr
    assert max(behaviour.credits) == most


def test_recv_timeout_stops_when_nothing_arrives(recv_processes: list[RecvProcess]) -> None:
    idle = start_recv(recv_processes, "--timeout", "0.3")
    code, stdout, stderr = idle.finish()
    assert (code, stdout) == (0, ""), stderr  # no --count: giving up is success

    # The one message must come before the timeout does; on a loaded machine that may
    # take a while, so the timeout is long. It counts from the last arrival.
    short = start_recv(recv_processes, "--timeout", "3", "--count", "2")
    sender = sender_messenger()
    (tracker,) = put_bodies(sender, f"{short.address}/q", ["only one"])
    pump_until([sender], lambda: sender.status(tracker) is ACCEPTED, what="the one accepted")
    pump_until([sender], lambda: short.process.poll() is not None, what="recv to give up")
    code, stdout, stderr = short.finish()
    assert code == 1
    assert stdout.splitlines() == [f"{short.address}/q  only one"]
    assert "no message for 3 s: received 1 of 2" in stderr
    stop_all(sender)


def test_sigint_stops_recv_with_a_clean_amqp_close(recv_processes: list[RecvProcess]) -> None:
    receiver = start_recv(recv_processes)
    events: list[MessengerEvent] = []
    sender = sender_messenger(events)
    trackers = put_bodies(sender, f"{receiver.address}/q", ["one", "two"])
    # Accepted means printed and flushed: recv settles only what it has written.
    pump_until(
        [sender],
        lambda: all(sender.status(tracker) is ACCEPTED for tracker in trackers),
        what="both messages accepted",
    )
    receiver.process.send_signal(signal.SIGINT)
    pump_until(
        [sender],
        lambda: any(isinstance(event, ConnectionClosed) for event in events),
        what="recv to close the connection",
    )
    closes = [event for event in events if isinstance(event, ConnectionClosed)]
    assert [event.error for event in closes] == [None]
    code, stdout, stderr = receiver.finish()
    assert code == 130, stderr
    assert "Traceback" not in stderr
    assert [line.rsplit("  ", 1)[1] for line in stdout.splitlines()] == ["one", "two"]
    stop_all(sender)


def test_recv_releases_what_it_could_not_write_when_the_reader_goes_away(
    recv_processes: list[RecvProcess],
) -> None:
    receiver = start_recv(recv_processes)
    assert receiver.process.stdout is not None
    receiver.process.stdout.close()  # like `msgr-tui recv ... | head -0`
    sender = sender_messenger()
    (tracker,) = put_bodies(sender, f"{receiver.address}/q", ["unread"])
    pump_until([sender], lambda: sender.status(tracker) is not PENDING, what="an outcome")
    assert sender.status(tracker) is RELEASED
    pump_until([sender], lambda: receiver.process.poll() is not None, what="recv to exit")
    assert receiver.process.returncode == 141
    stop_all(sender)


def test_recv_takes_from_several_sources_at_once(recv_processes: list[RecvProcess]) -> None:
    # A listener (recv's own ~127.0.0.1:0) and two remote sources, each feeding its own.
    with (
        RawPeer(PeerBehaviour(feed=["from east"])) as east,
        RawPeer(PeerBehaviour(feed=["from west"])) as west,
    ):
        receiver = start_recv(
            recv_processes, f"{east.address}/news", f"{west.address}/news", "--count", "3"
        )
        sender = sender_messenger()
        (tracker,) = put_bodies(sender, f"{receiver.address}/q", ["to the listener"])
        pump_until([sender], lambda: sender.status(tracker) is ACCEPTED, what="the acceptance")
        pump_until([sender], lambda: receiver.process.poll() is not None, what="recv to exit")
        code, stdout, stderr = receiver.finish()
        stop_all(sender)
    assert code == 0, stderr
    bodies = sorted(line.rsplit("  ", 1)[1] for line in stdout.splitlines())
    assert bodies == ["from east", "from west", "to the listener"]


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_recv_shows_binary_bodies_for_what_they_are(
    as_json: bool, recv_processes: list[RecvProcess]
) -> None:
    bodies: list[Any] = [b"\x00\xff\x10", "café".encode(), "café"]
    options = ["--json"] if as_json else []
    receiver = start_recv(recv_processes, *options, "--count", "3")
    sender = sender_messenger()
    put_bodies(sender, f"{receiver.address}/q", bodies)
    pump_until([sender], lambda: receiver.process.poll() is not None, what="recv to exit")
    code, stdout, stderr = receiver.finish()
    stop_all(sender)
    assert code == 0, stderr
    if as_json:
        shown = [json.loads(line)["body"] for line in stdout.splitlines()]
        # Binary stays binary: base64 when it is not text, and never confused with a string.
        assert shown == [
            {"value": {"$base64": "AP8Q"}},
            {"value": {"$binary": "café"}},
            {"value": "café"},
        ]
    else:
        shown = [line.rsplit("  ", 1)[1] for line in stdout.splitlines()]
        assert shown == ["<3 bytes> 00ff10", "café", "café"]


# ------------------------------------------------------------------ progress


def test_progress_is_drawn_on_a_terminal_and_absent_when_piped() -> None:
    piped = RecvProcess("--timeout", "0.5")
    code, _, stderr = piped.finish()
    assert code == 0
    assert stderr.splitlines() == [f"msgr-tui recv: listening on {piped.address}"]

    controller, terminal = pty.openpty()
    try:
        on_terminal = RecvProcess("--timeout", "0.5", stderr=terminal)
        os.close(terminal)
        seen = _read_until_closed(controller)
        assert on_terminal.process.wait(DEADLINE) == 0
    finally:
        os.close(controller)
    assert "listening on" in seen
    assert "received 0" in seen and "msg/s" in seen
    assert seen.rstrip("\r\n").endswith("\x1b[K")  # the line is erased at the end


def test_send_draws_progress_on_a_terminal_while_it_waits_and_erases_it() -> None:
    release = threading.Event()

    def hold_then_accept(messenger: Messenger, message: Message, tracker: int) -> None:
        # Blocks the peer (so nothing is answered) until the test saw the progress line.
        release.wait(DEADLINE)
        messenger.accept(tracker)

    with ThreadedPeer("slow", incoming_window=10, handler=hold_then_accept) as peer:
        controller, terminal = pty.openpty()
        try:
            process = subprocess.Popen(
                [*COMMAND, "send", f"{peer.address}/q", "--count", "3"],
                stdout=subprocess.PIPE,
                stderr=terminal,
                cwd=ROOT,
            )
            os.close(terminal)
            seen = ""
            while "answered 0 of 3" not in seen:
                readable, _, _ = select.select([controller], [], [], DEADLINE)
                assert readable, f"no progress line within {DEADLINE}s: {seen!r}"
                chunk = os.read(controller, 4096).decode("utf-8", "replace")
                assert chunk, f"the terminal closed first: {seen!r}"
                seen += chunk
            release.set()
            stdout, _ = process.communicate(timeout=DEADLINE)
            seen += _read_until_closed(controller)
        finally:
            release.set()
            os.close(controller)
            if process.poll() is None:
                process.kill()
                process.wait(DEADLINE)
    assert process.returncode == 0
    assert counts(stdout.decode())["accepted"] == 3
    assert "msg/s" in seen and seen.endswith("\x1b[K")


def _read_until_closed(fd: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


def test_progress_line_is_throttled_and_silent_when_disabled() -> None:
    now = [0.0]

    class Sink:
        def __init__(self) -> None:
            self.text = ""

        def write(self, text: str) -> None:
            self.text += text

        def flush(self) -> None:
            pass

    sink = Sink()
    progress = Progress(sink, enabled=True, clock=lambda: now[0])  # type: ignore[arg-type]
    progress.update(10, "sent")
    assert sink.text == ""  # shorter than one interval: nothing drawn
    now[0] = 0.5
    progress.update(100, "answered", 1000)
    assert sink.text.endswith("answered 100 of 1,000  200 msg/s")
    drawn = sink.text
    now[0] = 0.55
    progress.update(120, "sent")
    assert sink.text == drawn  # within 100 ms of the last draw
    progress.clear()
    assert sink.text.endswith("\r\x1b[K")

    quiet = Sink()
    disabled = Progress(quiet, enabled=False, clock=lambda: now[0])  # type: ignore[arg-type]
    now[0] = 10.0
    disabled.update(5, "received")
    disabled.clear()
    assert quiet.text == ""


def test_the_headless_commands_never_import_the_ui_toolkit() -> None:
    code = (
        "import sys\n"
        "import msgr_tui.commands.send, msgr_tui.commands.recv\n"
        "from msgr_tui.cli import main\n"
        "main(['send', '--help'])\n"
    )
    check = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('LEAKED' if any(m == 'textual' or m.startswith('textual.')"
        " for m in sys.modules) else 'CLEAN', file=sys.stderr))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", check + code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=DEADLINE * 2,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().endswith("CLEAN"), result.stderr
