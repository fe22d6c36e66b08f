"""Nothing lost when the session ends (issue 13), told with the real app in a terminal.

Each story starts ``msgr-tui`` as a user does: its own process, a pseudo-terminal
of 80x24 as its controlling terminal, a state directory of its own and a config
file whose profile composes to a broker that is down (a loopback port nobody
listens on). Keys are typed into the pty and the screen is read back from it
(tests/terminal.py); what is asserted is what a user would find afterwards: the
exit status the shell sees, the recovery file, the closing note, what a peer
receives, what the broker still holds.

- SIGTERM: exit 143, the unanswered message in a recovery file that
  ``msgr-tui send --from`` delivers.
- SIGHUP, as an SSH drop delivers it (the terminal's master side closed): exit
  129, the file written although the terminal is gone.
- The next start offers the file; ``s`` sends it, and the file goes once answered.
- SIGKILL (no handler can run): RabbitMQ redelivers every message the app held
  undecided.
"""

from __future__ import annotations

import json
import signal
import subprocess
import uuid
from pathlib import Path

import pytest

from msgr_tui.locations import CONFIG_ENV, STATE_ENV, crash_log_dir, recovery_files
from msgr_tui.messenger import ACCEPTED, Message
from tests.command_line import msgr_tui
from tests.conftest import RabbitMQ
from tests.helpers import DEADLINE, ThreadedPeer, closed_port, started, wait_for
from tests.terminal import AppInTerminal, Screen

LOOPBACK = "amqp://~127.0.0.1:0"


def app_env(tmp_path: Path, state_dir: Path, down_port: int) -> dict[str, str]:
    """The app's own state directory, and a default profile composing to a broker that
    is down (retry mode, the app's default: the message waits, PENDING)."""
    config = tmp_path / "config.toml"
    config.write_text(
        'default_profile = "broker-down"\n\n'
        "[profiles.broker-down]\n"
        f'listen = ["{LOOPBACK}"]\n'
        f'compose_address = "amqp://127.0.0.1:{down_port}/orders"\n',
        encoding="utf-8",
    )
    return {STATE_ENV: str(state_dir), CONFIG_ENV: str(config)}


def wait_for_first_screen(terminal: AppInTerminal) -> None:
    """The main screen drawn and its listener bound (the status line says where)."""
    terminal.wait_for_text("Compose", "Outgoing", "listening 127.0.0.")


def compose_and_send(terminal: AppInTerminal, port: int, subject: str) -> None:
    """``2``, ``tab``, the subject, ``ctrl+s`` to the profile's address; wait until PENDING.

    Each key waits for its effect: focus moves when the app gets to it, and a
    key typed before would land elsewhere. Textual leaves the terminal's
    cursor on the focused field's cursor at the end of every frame.
    """
    address = f"{port}/orders"
    terminal.press("2")
    terminal.wait_until(
        lambda screen: address in screen.cursor_line(), "the cursor in Compose's address field"
    )
    address_row = cursor_row(terminal.screen)
    terminal.press("tab")
    terminal.wait_until(
        lambda screen: cursor_row(screen) != address_row, "the cursor to leave the address"
    )
    terminal.write(subject)
    shown = terminal.wait_until(
        lambda screen: cursor_row(screen) != address_row and subject in screen.cursor_line(),
        "the subject typed into its field",
    )
    assert subject not in shown.splitlines()[address_row], "the subject went into the address"
    terminal.press("ctrl+s")
    terminal.wait_for_text("PENDING")


def cursor_row(screen: Screen) -> int:
    return screen.cursor[0] if screen.cursor is not None else -1


def lines_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def no_crash_log() -> bool:
    directory = crash_log_dir()
    return not directory.exists() or not any(directory.iterdir())


def the_recovery_file(subject: str, port: int) -> Path:
    """The one recovery file, complete, holding just the message with ``subject``."""
    (path,) = recovery_files()
    assert path.name.endswith(".jsonl"), f"cut short: {path}"
    (line,) = lines_of(path)
    assert line["properties"]["subject"] == subject
    assert line["properties"]["to"] == f"amqp://127.0.0.1:{port}/orders"
    return path


def test_sigterm_exits_143_keeps_the_message_and_send_from_delivers_it(
    tmp_path: Path, state_dir: Path
) -> None:
    port = closed_port()
    with AppInTerminal(env=app_env(tmp_path, state_dir, port)) as terminal:
        wait_for_first_screen(terminal)
        compose_and_send(terminal, port, "kept-by-sigterm")
        terminal.send_signal(signal.SIGTERM)
        assert terminal.wait() == 128 + signal.SIGTERM
        notes = terminal.after_screen
    path = the_recovery_file("kept-by-sigterm", port)
    # Said on the terminal once the screen is gone: where it is, and how to send it.
    assert f"saved to {path}" in notes
    assert f"msgr-tui send --from {path}" in notes
    assert no_crash_log()

    # The broker is elsewhere now: the file's messages go to the address given.
    with ThreadedPeer("the-broker-elsewhere") as peer:
        replay = msgr_tui("send", "--from", str(path), f"{peer.address}/orders")
        wait_for(lambda: peer.received, what="the saved message")
    assert replay.returncode == 0, replay.stderr
    assert [message.subject for message in peer.received] == ["kept-by-sigterm"]
    assert peer.received[0].address == f"{peer.address}/orders"


def test_a_dropped_terminal_sighup_exits_129_and_keeps_the_message(
    tmp_path: Path, state_dir: Path
) -> None:
    port = closed_port()
    with AppInTerminal(env=app_env(tmp_path, state_dir, port)) as terminal:
        wait_for_first_screen(terminal)
        compose_and_send(terminal, port, "kept-by-sighup")
        terminal.hang_up()  # the kernel sends SIGHUP; the app's writes fail from here on
        assert terminal.wait() == 128 + signal.SIGHUP
    the_recovery_file("kept-by-sighup", port)
    assert no_crash_log()  # a terminal gone is a signal to quit, not a crash


def test_the_next_start_offers_what_a_signalled_run_kept_and_s_sends_it(
    tmp_path: Path, state_dir: Path
) -> None:
    port = closed_port()
    env = app_env(tmp_path, state_dir, port)
    with AppInTerminal(env=env) as terminal:
        wait_for_first_screen(terminal)
        compose_and_send(terminal, port, "offered-again")
        terminal.send_signal(signal.SIGTERM)
        assert terminal.wait() == 128 + signal.SIGTERM
    path = the_recovery_file("offered-again", port)

    # The broker is back where the message was going; a fresh process, same state dir.
    with (
        ThreadedPeer("the-broker-back", listen=f"amqp://~127.0.0.1:{port}") as peer,
        AppInTerminal(env=env) as terminal,
    ):
        shown = terminal.wait_for_text(
            "Messages from an earlier session",
            "1 outgoing message",
            f"{path.name}  1 message",
            "s  send them again, each to its own address",
        )
        assert peer.received == []  # offered, not sent until asked
        terminal.press("s")
        wait_for(lambda: peer.received, what="the message sent again")
        wait_for(lambda: not path.exists(), what="the file removed once answered")
        # The answer on screen: the session knows nothing is at stake any more.
        terminal.wait_for_text("ACCEPTED")
        terminal.press("ctrl+q")
        assert terminal.wait() == 0, terminal.text()
    assert "when msgr-tui" in shown
    assert [message.subject for message in peer.received] == ["offered-again"]
    assert recovery_files() == []


# ------------------------------------------------------------ SIGKILL, RabbitMQ


def queue_counts(queue: str) -> tuple[int, int] | None:
    """(ready, unacknowledged) messages of ``queue``, as RabbitMQ counts them; None if absent."""
    listing = subprocess.run(
        ["rabbitmqctl", "-q", "list_queues", "name", "messages_ready", "messages_unacknowledged"],
        capture_output=True,
        text=True,
        check=True,
        timeout=DEADLINE * 4,
    ).stdout
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == queue:
            return int(parts[1]), int(parts[2])
    return None


def fill(rabbitmq: RabbitMQ, queue: str, bodies: list[str]) -> None:
    """Put ``bodies`` in ``queue`` (declaring it), each accepted by the broker."""
    sender = started("sigkill-filler", outgoing_window=len(bodies), timeout=DEADLINE)
    try:
        trackers = [
            sender.put(Message(address=f"{rabbitmq.url}/{queue}", body=body)) for body in bodies
        ]
        sender.send()
        assert [sender.status(tracker) for tracker in trackers] == [ACCEPTED] * len(bodies)
    finally:
        sender.stop()


@pytest.mark.rabbitmq
def test_sigkill_loses_nothing_the_broker_holds(rabbitmq: RabbitMQ, tmp_path: Path) -> None:
    queue = f"msgr-tui-sigkill-{uuid.uuid4().hex}"
    # //amq/queue/ reads the queue as fill() declared it (see the README on durability).
    source = f"amqp://{rabbitmq.host}:{rabbitmq.port}//amq/queue/{queue}"
    bodies = [f"held-{number}" for number in range(20)]
    env = {CONFIG_ENV: str(tmp_path / "no-config.toml")}
    try:
        fill(rabbitmq, queue, bodies)
        assert queue_counts(queue) == (20, 0)
        with AppInTerminal("--listen", LOOPBACK, "--subscribe", source, env=env) as terminal:
            # The incoming window holds every one undecided: shown, and unsettled at the broker.
            terminal.wait_for_text("20 pending", "held-0")
            wait_for(
                lambda: queue_counts(queue) == (0, 20),
                timeout=DEADLINE * 2,
                what="RabbitMQ to count all 20 delivered and unacknowledged",
            )
            terminal.send_signal(signal.SIGKILL)  # no handler, no clean close
            assert terminal.wait() == 128 + signal.SIGKILL
        wait_for(
            lambda: queue_counts(queue) == (20, 0),
            timeout=DEADLINE * 2,
            what="RabbitMQ to requeue what the killed app held",
        )
        received = msgr_tui("recv", "--count", "20", "--timeout", "10", "--json", source)
        assert received.returncode == 0, received.stderr
        records = [json.loads(line) for line in received.stdout.splitlines()]
        assert sorted(record["body"]["value"] for record in records) == sorted(bodies)
        # Redelivered: the broker had handed each one to the app first.
        assert all(record["header"].get("first_acquirer") is False for record in records)
        wait_for(lambda: queue_counts(queue) == (0, 0), what="the queue drained")
    finally:
        subprocess.run(
            ["rabbitmqctl", "-q", "delete_queue", queue], capture_output=True, timeout=DEADLINE * 4
        )
