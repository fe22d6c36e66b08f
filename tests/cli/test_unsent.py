"""``send --unsent FILE``: however a run ends, what the peer never answered is kept.

Stories with real peers over loopback: a send stopped by a signal while its
peer sits on the messages, a window that leaves messages unsent, a peer that
cannot be reached; the saved file then goes out again with ``--from``.
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest

from tests.command_line import COMMAND, ROOT, msgr_tui
from tests.helpers import DEADLINE, ThreadedPeer, closed_port, wait_for


def lines_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def stopped_by(number: signal.Signals, args: list[str], peer: ThreadedPeer, waiting: int):
    """Run ``msgr-tui ARGS``, signal it once ``waiting`` messages sit at ``peer``."""
    process = subprocess.Popen(
        [*COMMAND, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT
    )
    try:
        wait_for(lambda: len(peer.received) == waiting, what=f"{waiting} message(s) at the peer")
        process.send_signal(number)
        stdout, stderr = process.communicate(timeout=DEADLINE)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(DEADLINE)
    return process.returncode, stdout.decode(), stderr.decode()


@pytest.mark.parametrize(
    ("number", "code"),
    [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)],
    ids=["SIGTERM", "SIGHUP", "SIGINT"],
)
def test_a_signalled_send_saves_what_was_never_answered_and_from_delivers_it(
    tmp_path: Path, number: signal.Signals, code: int
) -> None:
    unsent = tmp_path / "unsent.jsonl"
    # The peer keeps every delivery undecided: nothing is ever answered.
    with ThreadedPeer("sits-on-them", incoming_window=100) as peer:
        args = ["send", f"{peer.address}/orders", "--body", "keep me", "--subject", "s"]
        returncode, _, stderr = stopped_by(
            number, [*args, "--count", "3", "--unsent", str(unsent)], peer, 3
        )
    assert returncode == code, stderr
    assert "Traceback" not in stderr
    assert f"3 messages not answered written to {unsent}" in stderr
    saved = lines_of(unsent)
    assert [line["meta"]["unsent"] in ("unknown", "aborted") for line in saved] == [True] * 3
    assert not unsent.with_name("unsent.jsonl.partial").exists()

    with ThreadedPeer("acceptor") as again:
        replay = msgr_tui("send", f"{again.address}/orders", "--from", str(unsent))
        wait_for(lambda: len(again.received) == 3, what="the three saved messages")
    assert replay.returncode == 0, replay.stderr
    assert [(m.body, m.subject, m.durable) for m in again.received] == [("keep me", "s", True)] * 3


def test_messages_a_window_never_let_out_are_saved_as_not_sent(tmp_path: Path) -> None:
    source = tmp_path / "five.jsonl"
    source.write_text(
        "".join(
            json.dumps({"msgr-tui": 1, "body": {"value": f"m{number}"}}) + "\n"
            for number in range(1, 6)
        ),
        encoding="utf-8",
    )
    unsent = tmp_path / "unsent.jsonl"
    with ThreadedPeer("sits-on-them", incoming_window=100) as peer:
        args = ["send", f"{peer.address}/q", "--from", str(source), "--outgoing-window", "2"]
        returncode, _, stderr = stopped_by(
            signal.SIGTERM, [*args, "--unsent", str(unsent)], peer, 2
        )
    assert returncode == 143, stderr
    saved = lines_of(unsent)
    assert [line["body"]["value"] for line in saved] == ["m1", "m2", "m3", "m4", "m5"]
    assert [line["meta"]["unsent"] for line in saved][2:] == ["not sent"] * 3
    assert [line["meta"]["from"] for line in saved] == [f"{source}:{n}" for n in range(1, 6)]


def test_a_peer_that_cannot_be_reached_leaves_every_message_in_the_file(tmp_path: Path) -> None:
    unsent = tmp_path / "unsent.jsonl"
    address = f"amqp://127.0.0.1:{closed_port()}/q"
    result = msgr_tui("send", address, "--body", "b", "--count", "2", "--unsent", str(unsent))
    assert result.returncode == 3, result.stderr
    saved = lines_of(unsent)
    assert [line["meta"]["unsent"] for line in saved] == ["aborted", "aborted"]
    assert [line["properties"]["to"] for line in saved] == [address, address]


def test_credentials_never_reach_the_file(tmp_path: Path) -> None:
    unsent = tmp_path / "unsent.jsonl"
    port = closed_port()
    result = msgr_tui(
        "send", f"amqp://user:secret@127.0.0.1:{port}/q", "--body", "b", "--unsent", str(unsent)
    )
    assert result.returncode == 3, result.stderr
    assert "secret" not in unsent.read_text(encoding="utf-8")
    assert lines_of(unsent)[0]["properties"]["to"] == f"amqp://127.0.0.1:{port}/q"


def test_an_existing_file_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    unsent = tmp_path / "unsent.jsonl"
    unsent.write_text("precious\n", encoding="utf-8")
    with ThreadedPeer("acceptor") as peer:
        result = msgr_tui("send", f"{peer.address}/q", "--body", "b", "--unsent", str(unsent))
    assert result.returncode == 2
    assert "already exists" in result.stderr and "(nothing was sent)" in result.stderr
    assert peer.received == []
    assert unsent.read_text(encoding="utf-8") == "precious\n"


def test_when_everything_is_answered_no_file_is_made(tmp_path: Path) -> None:
    unsent = tmp_path / "unsent.jsonl"
    with ThreadedPeer("acceptor") as peer:
        result = msgr_tui("send", f"{peer.address}/q", "--count", "4", "--unsent", str(unsent))
    assert result.returncode == 0, result.stderr
    assert f"every message was answered: {unsent} not written" in result.stderr
    assert not unsent.exists()


def test_without_unsent_an_interrupted_send_says_how_to_keep_them(tmp_path: Path) -> None:
    with ThreadedPeer("sits-on-them", incoming_window=100) as peer:
        returncode, _, stderr = stopped_by(
            signal.SIGINT, ["send", f"{peer.address}/q", "--count", "2"], peer, 2
        )
    assert returncode == 130
    assert "2 messages not answered: --unsent FILE keeps them to send again" in stderr
