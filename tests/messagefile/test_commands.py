"""Message files on the command line: recv into a file, send it again, move between queues.

Every command runs as a real ``msgr-tui`` subprocess against real peers: a
Messenger over loopback, or the local RabbitMQ 3.10. A message travels as its
exact bytes wherever no broker is in between; through RabbitMQ, what the
broker changes on the way is pinned as such.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from proton import symbol, timestamp, ubyte, uint, ulong

from msgr_tui.messagefile import (
    Body,
    BodyKind,
    MessageRecord,
    decode_message,
    encode_message,
    read_messages,
    record_line,
)
from msgr_tui.messenger import ACCEPTED, Messenger
from tests.command_line import COMMAND, ROOT, msgr_tui
from tests.conftest import RabbitMQ
from tests.helpers import DEADLINE, pump_until, started, stop_all
from tests.messagefile.test_format import EVERY_TYPE, full_message


def listening_peer(incoming_window: int = 100) -> tuple[Messenger, str]:
    peer = started("peer", blocking=False, incoming_window=incoming_window)
    port = peer.subscribe("amqp://~127.0.0.1:0").port
    peer.recv(-1)
    return peer, f"amqp://127.0.0.1:{port}"


def run_to(peer: Messenger, *args: str) -> tuple[int, str, list[bytes]]:
    """``msgr-tui send ARGS`` while ``peer`` accepts what arrives.

    Returns the exit code, the output, and the bytes of every message that
    arrived, in order.
    """
    process = subprocess.Popen(
        [*COMMAND, "send", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT
    )
    got: list[bytes] = []

    def answered() -> bool:
        while peer.incoming:
            tracker, data = peer.get_encoded()
            peer.accept(tracker)
            got.append(data)
        return process.poll() is not None

    pump_until([peer], answered, timeout=DEADLINE * 2, what="the send to finish")
    out, err = process.communicate(timeout=DEADLINE)
    return process.returncode, out.decode() + err.decode(), got


MESSAGES = [
    full_message(Body(BodyKind.VALUE, (EVERY_TYPE,))),
    full_message(Body(BodyKind.DATA, (b"one ", b"two \xff"))),
    MessageRecord(body=Body(BodyKind.SEQUENCE, ([1, symbol("s")], [uint(2)]))),
]


# ------------------------------------------------------- peer to peer, exact


def test_recv_output_writes_every_section_and_send_from_sends_the_same_bytes(
    tmp_path: Path,
) -> None:
    output = tmp_path / "saved.jsonl"
    recv = subprocess.Popen(
        [*COMMAND, "recv", "amqp://~127.0.0.1:0", "--count", "3", "--output", str(output)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        assert recv.stderr is not None
        announced = recv.stderr.readline().decode()
        assert "listening on" in announced, announced
        address = announced.split("listening on ", 1)[1].strip()
        sender = started("sender", outgoing_window=10, blocking=False)
        originals = [encode_message(message) for message in MESSAGES]
        trackers = [sender.put_encoded(data, f"{address}/q") for data in originals]
        pump_until(
            [sender],
            lambda: all(sender.status(t) is ACCEPTED for t in trackers),
            what="the three accepted",
        )
        assert recv.wait(DEADLINE) == 0, recv.stderr.read().decode()
        stop_all(sender)
    finally:
        if recv.poll() is None:
            recv.kill()
    assert not output.with_name("saved.jsonl.partial").exists()
    saved = [message for _, message in read_messages(output)]
    assert [encode_message(message) for message in saved] == originals
    lines = output.read_text().splitlines()
    assert all(json.loads(line)["meta"]["received_at"].endswith("Z") for line in lines)

    # ...and sent again, every message as it was, to where each one was addressed.
    peer, peer_address = listening_peer()
    again = [message.addressed_to(f"{peer_address}/q") for message in saved]
    replay = tmp_path / "replay.jsonl"
    replay.write_text("".join(record_line(message) + "\n" for message in again))
    code, text, got = run_to(peer, "--from", str(replay))
    assert code == 0, text
    assert "accepted          3" in text
    assert got == [encode_message(message) for message in again]
    stop_all(peer)


def test_an_address_given_overrides_where_they_go_and_the_original_is_noted(
    tmp_path: Path,
) -> None:
    file = tmp_path / "dlq.jsonl"
    original = MessageRecord(
        properties={"to": "amqp://broker/orders", "message_id": "m-1"},
        body=Body(BodyKind.VALUE, ("payload",)),
    )
    file.write_text(record_line(original) + "\n")
    peer, address = listening_peer()
    code, text, got = run_to(peer, f"{address}/retry", "--from", str(file))
    assert code == 0, text
    (arrived,) = [decode_message(data) for data in got]
    assert arrived.address == f"{address}/retry"
    assert arrived.message_annotations == {symbol("x-opt-original-to"): "amqp://broker/orders"}
    assert arrived.properties["message_id"] == "m-1"  # type: ignore[index]
    assert arrived.body == original.body
    stop_all(peer)


def test_rate_paces_the_replay(tmp_path: Path) -> None:
    file = tmp_path / "paced.jsonl"
    file.write_text(
        "".join(
            record_line(MessageRecord(body=Body(BodyKind.VALUE, (n,)))) + "\n" for n in range(5)
        )
    )
    peer, address = listening_peer()
    began = time.monotonic()
    code, text, got = run_to(peer, f"{address}/q", "--from", str(file), "--rate", "20")
    assert code == 0, text
    # Five messages at 20 a second take at least the four gaps between them.
    assert time.monotonic() - began >= 4 / 20
    bodies = [decode_message(data).body.sections[0] for data in got]  # type: ignore[union-attr]
    assert bodies == list(range(5))
    stop_all(peer)


# --------------------------------------------------------------- bad files


def test_recv_refuses_to_replace_a_file_and_takes_nothing(tmp_path: Path) -> None:
    existing = tmp_path / "dlq.jsonl"
    existing.write_text("yesterday's export\n")
    # A TCP listener nobody answers: its backlog shows whether recv connected.
    with socket.create_server(("127.0.0.1", 0)) as trap:
        port = trap.getsockname()[1]
        result = msgr_tui("recv", f"amqp://127.0.0.1:{port}/q", "-o", str(existing))
        assert result.returncode == 2
        assert f"--output: {existing}: already exists" in result.stderr
        assert "nothing was received" in result.stderr
        assert existing.read_text() == "yesterday's export\n"
        trap.setblocking(False)
        with pytest.raises(BlockingIOError):
            trap.accept()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"msgr-tui": 1, "body": {"value": "fine"}}\n{"msgr-tui": 1, "bo', ":2: the file ends"),
        (b'{"msgr-tui": 1, "bo\n{"msgr-tui": 1, "body": {"value": "fine"}}\n', ":1: not JSON"),
        (b'{"msgr-tui": 1, "body": {"value": {"$nope": 1}}}\n', ":1: body.value: unknown type"),
        (b'{"msgr-tui": 9, "body": {"value": 1}}\n', ":1: msgr-tui: format version 9"),
        (b"\x00\x01\xff\xfe binary, not text", ":1: not UTF-8 text"),
        (b"", "no messages in the file"),
        (b'{"msgr-tui": 1, "body": {"value": 1}}\n', ":1: the message has no address"),
    ],
    ids=[
        "truncated last line",
        "broken line",
        "unknown type tag",
        "wrong version",
        "binary file",
        "empty",
        "nowhere",
    ],
)
def test_a_file_that_cannot_be_read_sends_nothing_and_says_where(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    file = tmp_path / "bad.jsonl"
    file.write_bytes(content)
    # A TCP listener nobody answers: after the command exits, its backlog shows
    # whether the command ever connected.
    with socket.create_server(("127.0.0.1", 0)) as trap:
        port = trap.getsockname()[1]
        target = [] if reason.endswith("no address") else [f"amqp://127.0.0.1:{port}/q"]
        result = msgr_tui("send", *target, "--from", str(file))
        assert result.returncode == 2, result.stderr
        assert reason in result.stderr
        assert "nothing was sent" in result.stderr
        trap.setblocking(False)
        with pytest.raises(BlockingIOError):
            trap.accept()


# -------------------------------------------------------------- RabbitMQ


def queue_url(rabbitmq: RabbitMQ, name: str, *, existing: bool = False) -> str:
    return f"{rabbitmq.url}/{'/amq/queue/' if existing else ''}{name}"


def fill(rabbitmq: RabbitMQ, name: str, count: int) -> None:
    sender = started("filler", outgoing_window=count, timeout=DEADLINE)
    for number in range(count):
        sender.put_encoded(
            encode_message(MessageRecord(body=Body(BodyKind.VALUE, (number,)))),
            queue_url(rabbitmq, name),
        )
    sender.send()
    sender.stop()


def queue_depth(name: str) -> int:
    """Messages in a RabbitMQ queue, as the broker counts them (0 when there is no queue)."""
    listing = subprocess.run(
        ["rabbitmqctl", "-q", "list_queues", "name", "messages"],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=True,
    ).stdout
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == name:
            return int(parts[1])
    return 0


def drain(rabbitmq: RabbitMQ, name: str, *, existing: bool = False) -> list[object]:
    """The bodies left in a queue, in order (a sentinel marks the end)."""
    sentinel = f"end-{uuid.uuid4().hex}"
    address = queue_url(rabbitmq, name, existing=existing)
    messenger = started("drain", outgoing_window=1, incoming_window=1000, timeout=DEADLINE)
    messenger.put_encoded(
        encode_message(MessageRecord(body=Body(BodyKind.VALUE, (sentinel,)))), address
    )
    messenger.send()
    messenger.subscribe(address)
    bodies: list[object] = []
    try:
        while True:
            messenger.recv()
            while messenger.incoming:
                tracker, data = messenger.get_encoded()
                messenger.accept(tracker)
                value = decode_message(data).body.sections[0]  # type: ignore[union-attr]
                if value == sentinel:
                    return bodies
                bodies.append(value)
    finally:
        messenger.stop()


# What RabbitMQ 3.10's AMQP 1.0 plugin cannot take, found by sending each
# section and type alone: it resets the connection on a delivery-annotations
# section, on an amqp-value that is a list of two or more items, and on an
# array of lists; it refuses a user_id other than the authenticated user.
RABBITMQ_RESETS_ON = {
    "delivery annotations": MessageRecord(
        delivery_annotations={symbol("x-opt-da"): "delivery"}, body=Body(BodyKind.VALUE, ("x",))
    ),
    "a list value": MessageRecord(body=Body(BodyKind.VALUE, ([1, "two"],))),
    "an array of lists": MessageRecord(body=Body(BodyKind.VALUE, (EVERY_TYPE["array of lists"],))),
}


def rabbitmq_safe(message: MessageRecord) -> MessageRecord:
    body = message.body
    if body.kind is BodyKind.VALUE and isinstance(body.sections[0], dict):
        value = {
            key: item
            for key, item in body.sections[0].items()
            if key not in ("list", "array of lists")
        }
        body = Body(BodyKind.VALUE, (value,))
    properties = dict(message.properties or {})
    if "user_id" in properties:
        properties["user_id"] = b"guest"
    return dataclasses.replace(
        message, delivery_annotations=None, properties=properties or None, body=body
    )


@pytest.mark.rabbitmq
def test_every_type_through_rabbitmq_into_a_file_and_back(
    rabbitmq: RabbitMQ, tmp_path: Path
) -> None:
    name = f"msgr-tui-file-{uuid.uuid4().hex}"
    messages = [rabbitmq_safe(message) for message in MESSAGES]
    sender = started("sender", outgoing_window=10, timeout=DEADLINE)
    trackers = [
        sender.put_encoded(encode_message(message), queue_url(rabbitmq, name))
        for message in messages
    ]
    sender.send()
    assert [sender.status(tracker) for tracker in trackers] == [ACCEPTED] * 3
    sender.stop()
    output = tmp_path / "from-rabbit.jsonl"
    result = msgr_tui(
        "recv", queue_url(rabbitmq, name), "--count", "3", "--timeout", "20", "-o", str(output)
    )
    assert result.returncode == 0, result.stderr
    saved = [message for _, message in read_messages(output)]
    # What RabbitMQ 3.10 changes on the way, pinned so that a file replayed
    # through it is known for what it is: it writes its own header (no
    # delivery_count, first_acquirer set), reverses a body of several data or
    # amqp-sequence sections, and gives a message without properties the
    # queue's name as subject. Everything else comes back as it was sent.
    header = {"durable": True, "priority": ubyte(9), "ttl": uint(60_000), "first_acquirer": True}
    assert saved == [
        dataclasses.replace(messages[0], header=header),
        dataclasses.replace(
            messages[1], header=header, body=Body(BodyKind.DATA, (b"two \xff", b"one "))
        ),
        dataclasses.replace(
            messages[2],
            header={"durable": False, "first_acquirer": True},
            properties={"subject": name},
            body=Body(BodyKind.SEQUENCE, ([uint(2)], [1, symbol("s")])),
        ),
    ]
    # and what compares equal is also the same bytes
    assert encode_message(saved[0]) == encode_message(
        dataclasses.replace(messages[0], header=header)
    )


@pytest.mark.rabbitmq
@pytest.mark.parametrize("name", list(RABBITMQ_RESETS_ON), ids=list(RABBITMQ_RESETS_ON))
def test_a_message_rabbitmq_cannot_take_is_reported_and_the_rest_still_go(
    rabbitmq: RabbitMQ, tmp_path: Path, name: str
) -> None:
    queue = f"msgr-tui-refused-{uuid.uuid4().hex}"
    file = tmp_path / "replay.jsonl"
    file.write_text(
        record_line(MessageRecord(body=Body(BodyKind.VALUE, ("before",))))
        + "\n"
        + record_line(RABBITMQ_RESETS_ON[name])
        + "\n"
        + record_line(MessageRecord(body=Body(BodyKind.VALUE, ("after",))))
        + "\n"
    )
    # One at a time, so that what happened to each line is certain.
    result = msgr_tui(
        "send", queue_url(rabbitmq, queue), "--from", str(file), "--outgoing-window", "1"
    )
    assert result.returncode == 3
    assert "Connection reset by peer" in result.stderr
    assert f"aborted: {file} line(s) 2\n" in result.stderr
    assert f"not sent: {file} line(s) 3\n" in result.stderr
    assert drain(rabbitmq, queue, existing=True) == ["before"]  # a replay makes durable queues


@pytest.mark.rabbitmq
def test_move_hands_every_message_over_and_empties_the_source(rabbitmq: RabbitMQ) -> None:
    source, dest = (f"msgr-tui-move-{kind}-{uuid.uuid4().hex}" for kind in ("a", "b"))
    fill(rabbitmq, source, 500)
    result = msgr_tui(
        "move", queue_url(rabbitmq, source), queue_url(rabbitmq, dest), "--timeout", "2"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "moved           500" in result.stdout
    assert drain(rabbitmq, source) == []
    # The destination was created durable (the move asks for it): it is used as it is.
    assert drain(rabbitmq, dest, existing=True) == list(range(500))


@pytest.mark.rabbitmq
def test_count_moves_that_many_and_leaves_the_rest(rabbitmq: RabbitMQ) -> None:
    source, dest = (f"msgr-tui-count-{kind}-{uuid.uuid4().hex}" for kind in ("a", "b"))
    fill(rabbitmq, source, 30)
    result = msgr_tui(
        "move", queue_url(rabbitmq, source), queue_url(rabbitmq, dest), "--count", "10"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "moved            10" in result.stdout
    assert drain(rabbitmq, dest, existing=True) == list(range(10))
    assert drain(rabbitmq, source) == list(range(10, 30))


@pytest.mark.rabbitmq
def test_copy_leaves_every_original_where_it_was(rabbitmq: RabbitMQ) -> None:
    source, dest = (f"msgr-tui-copy-{kind}-{uuid.uuid4().hex}" for kind in ("a", "b"))
    fill(rabbitmq, source, 50)
    result = msgr_tui(
        "move", "--copy", queue_url(rabbitmq, source), queue_url(rabbitmq, dest), "--timeout", "2"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "copied           50" in result.stdout
    assert drain(rabbitmq, dest, existing=True) == list(range(50))
    # Given back in one go at the end: the broker has them all, in their order.
    assert drain(rabbitmq, source) == list(range(50))


@pytest.mark.rabbitmq
def test_move_over_tls_with_a_profile(rabbitmq: RabbitMQ, tmp_path: Path) -> None:
    source, dest = (f"msgr-tui-tls-{kind}-{uuid.uuid4().hex}" for kind in ("a", "b"))
    fill(rabbitmq, source, 25)
    config = tmp_path / "config.toml"
    config.write_text(
        '[profiles.rabbit]\nuser = "guest"\npassword_env = "TEST_RABBIT_PASSWORD"\n'
        f'[profiles.rabbit.tls]\ntrusted_certificates = "{rabbitmq.ca}"\n',
        encoding="utf-8",
    )
    # No credentials and no CA in the addresses: the profile brings them to both ends.
    broker = f"amqps://{rabbitmq.tls_host}:{rabbitmq.tls_port}"
    result = msgr_tui(
        "move", "--config", str(config), "-p", "rabbit", f"{broker}/{source}",
        f"{broker}/{dest}", "--timeout", "2",
        env={"TEST_RABBIT_PASSWORD": "guest"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert drain(rabbitmq, dest, existing=True) == list(range(25))
    assert drain(rabbitmq, source) == []


@pytest.mark.rabbitmq
def test_move_from_a_broker_to_a_peer(rabbitmq: RabbitMQ) -> None:
    source = f"msgr-tui-to-peer-{uuid.uuid4().hex}"
    fill(rabbitmq, source, 25)
    peer, peer_address = listening_peer()
    process = subprocess.Popen(
        [*COMMAND, "move", queue_url(rabbitmq, source), f"{peer_address}/inbox", "--timeout", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    got: list[object] = []

    def take_all() -> bool:
        while peer.incoming:
            tracker, data = peer.get_encoded()
            peer.accept(tracker)
            got.append(decode_message(data).body.sections[0])  # type: ignore[union-attr]
        return process.poll() is not None

    pump_until([peer], take_all, timeout=DEADLINE * 2, what="the move to finish")
    out, err = process.communicate(timeout=DEADLINE)
    stop_all(peer)
    assert process.returncode == 0, out.decode() + err.decode()
    assert got == list(range(25))
    assert drain(rabbitmq, source) == []


@pytest.mark.rabbitmq
def test_a_destination_that_rejects_everything_leaves_the_source_as_it_was(
    rabbitmq: RabbitMQ,
) -> None:
    source = f"msgr-tui-move-src-{uuid.uuid4().hex}"
    fill(rabbitmq, source, 20)
    refuser = started("refuser", blocking=False, incoming_window=100)
    port = refuser.subscribe("amqp://~127.0.0.1:0").port
    refuser.recv(-1)
    process = subprocess.Popen(
        [*COMMAND, "move", queue_url(rabbitmq, source), f"amqp://127.0.0.1:{port}/nope"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )

    def reject_all() -> bool:
        while refuser.incoming:
            refuser.reject(refuser.get())
        return process.poll() is not None

    pump_until([refuser], reject_all, timeout=DEADLINE * 2, what="the move to give up")
    out, err = process.communicate(timeout=DEADLINE)
    assert process.returncode == 1, out.decode() + err.decode()
    assert "rejected" in out.decode() and "given back to the source" in out.decode()
    stop_all(refuser)
    assert sorted(drain(rabbitmq, source)) == list(range(20))


@pytest.mark.rabbitmq
def test_a_destination_that_never_answers_ends_the_move_and_gives_everything_back(
    rabbitmq: RabbitMQ, tmp_path: Path
) -> None:
    source = f"msgr-tui-silent-{uuid.uuid4().hex}"
    fill(rabbitmq, source, 5)
    config = tmp_path / "config.toml"
    config.write_text(
        "[profiles.impatient]\ntimeout = 1\n"
        "[profiles.impatient.tls]\nallow_insecure_plain = true\n",  # guest over plain TCP
        encoding="utf-8",
    )
    # It takes every copy and never says what became of it.
    silent = started("silent", blocking=False, incoming_window=100)
    port = silent.subscribe("amqp://~127.0.0.1:0").port
    silent.recv(-1)
    process = subprocess.Popen(
        [*COMMAND, "move", "--config", str(config), "-p", "impatient",
         queue_url(rabbitmq, source), f"amqp://127.0.0.1:{port}/void"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )  # fmt: skip
    pump_until([silent], lambda: process.poll() is not None, timeout=DEADLINE * 2, what="the end")
    out, err = process.communicate(timeout=DEADLINE)
    assert silent.incoming == 5  # every copy arrived, none was answered
    stop_all(silent)
    assert process.returncode == 3, out.decode() + err.decode()
    assert "no answer for 1 s (5 copies waiting" in err.decode()
    assert "unanswered         5  (given back to the source)" in out.decode()
    assert sorted(drain(rabbitmq, source)) == list(range(5))


@pytest.mark.rabbitmq
def test_a_move_killed_midway_loses_nothing(rabbitmq: RabbitMQ) -> None:
    source, dest = (f"msgr-tui-kill-{kind}-{uuid.uuid4().hex}" for kind in ("a", "b"))
    count = 20_000
    fill(rabbitmq, source, count)
    process = subprocess.Popen(
        [*COMMAND, "move", queue_url(rabbitmq, source), queue_url(rabbitmq, dest), "--window", "8"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        # Midway: once the destination holds some of them, and the move still runs.
        deadline = time.monotonic() + DEADLINE * 4
        while queue_depth(dest) == 0:
            assert process.poll() is None, "the move ended before it could be killed"
            assert time.monotonic() < deadline, "nothing reached the destination"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(DEADLINE)
    left = drain(rabbitmq, source)
    arrived = drain(rabbitmq, dest, existing=True)
    assert 0 < len(arrived) < count
    # Nothing lost: every message is in one queue or the other. One whose copy
    # was accepted just before the kill, its original not yet, is in both.
    assert set(left) | set(arrived) == set(range(count))
    duplicates = set(left) & set(arrived)
    assert len(duplicates) <= 8  # at most the window in flight
    assert len(arrived) == len(set(arrived))


@pytest.mark.rabbitmq
def test_a_save_killed_midway_loses_nothing(rabbitmq: RabbitMQ, tmp_path: Path) -> None:
    source = f"msgr-tui-save-{uuid.uuid4().hex}"
    count = 20_000
    fill(rabbitmq, source, count)
    output = tmp_path / "saved.jsonl"
    partial = tmp_path / "saved.jsonl.partial"
    process = subprocess.Popen(
        [*COMMAND, "recv", queue_url(rabbitmq, source), "-o", str(output)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        # Midway: once the broker has let go of some (accepted), and the save still runs.
        deadline = time.monotonic() + DEADLINE * 4
        while queue_depth(source) in (0, count):
            assert process.poll() is None, "the save ended before it could be killed"
            assert time.monotonic() < deadline, "nothing was accepted"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(DEADLINE)
    assert not output.exists()  # never a file that looks complete
    saved = [message.body.sections[0] for _, message in read_messages(partial)]  # type: ignore[union-attr]
    left = drain(rabbitmq, source)
    # Every message is in the file or back in the queue; one written but not
    # yet accepted when the kill came is in both.
    assert set(saved) | set(left) == set(range(count))
    assert len(saved) > 0 and len(saved) == len(set(saved))


@pytest.mark.rabbitmq
def test_a_queue_the_move_creates_keeps_durable_messages_and_send_is_durable_by_default(
    rabbitmq: RabbitMQ,
) -> None:
    # One restart for both stories: it takes RabbitMQ seconds.
    source, dest = (f"msgr-tui-durable-{kind}-{uuid.uuid4().hex}" for kind in ("a", "b"))
    sender = started("durable-filler", outgoing_window=10, timeout=DEADLINE)
    for number in range(10):
        sender.put_encoded(
            encode_message(
                MessageRecord(header={"durable": True}, body=Body(BodyKind.VALUE, (number,)))
            ),
            queue_url(rabbitmq, source),
        )
    sender.send()
    sender.stop()
    result = msgr_tui(
        "move", queue_url(rabbitmq, source), queue_url(rabbitmq, dest), "--timeout", "2"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # Into the durable queue: send's messages are durable unless told otherwise.
    existing = queue_url(rabbitmq, dest, existing=True)
    kept = msgr_tui("send", existing, "--body", "kept", "--count", "2")
    lost = msgr_tui("send", existing, "--body", "not kept", "--no-durable")
    assert (kept.returncode, lost.returncode) == (0, 0), kept.stderr + lost.stderr
    rabbitmq.restart()
    assert drain(rabbitmq, dest, existing=True) == [*range(10), "kept", "kept"]


def test_timestamps_and_ulongs_stay_typed_in_the_file() -> None:
    line = json.loads(
        record_line(
            MessageRecord(
                properties={"creation_time": timestamp(0), "message_id": ulong(5)},
            )
        )
    )
    assert line["properties"] == {
        "creation_time": "1970-01-01T00:00:00.000Z",
        "message_id": {"$ulong": 5},
    }
