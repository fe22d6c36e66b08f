"""Nothing lost when the app ends: quit and SIGTERM keep what nobody answered.

Stories with real peers: a message composed to a broker that is down waits
(retry mode, the app's default); quitting, or a SIGTERM, writes it to a
recovery file in the state directory, the app says where, and
``msgr-tui send --from`` delivers it once a peer is there. The next start
says the file is there.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from textual.pilot import Pilot

from msgr_tui.cli import recovery_notices
from msgr_tui.locations import recovery_dir, recovery_files
from msgr_tui.messagefile import MessageFileWriter, MessageRecord, record_line
from msgr_tui.messagefile.sections import Body, BodyKind
from msgr_tui.messenger import PENDING
from msgr_tui.ui.app import MsgrTuiApp
from tests.command_line import msgr_tui
from tests.helpers import ThreadedPeer, closed_port, wait_for
from tests.ui.story import Notifications, app_with, listening, main, type_text, until


async def compose_and_send(pilot: Pilot, app: MsgrTuiApp, subject: str) -> None:
    """Compose a message with ``subject`` to the pre-filled address; wait until it is PENDING."""
    await listening(pilot, app)
    await pilot.press("2", "tab")
    await type_text(pilot, subject)
    await pilot.press("ctrl+s")
    outgoing = main(app).outgoing
    await until(pilot, lambda: outgoing.rows and outgoing.rows[0].status is PENDING, "PENDING")


def saved_lines() -> list[dict]:
    (path,) = recovery_files()
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def test_quit_keeps_a_message_the_broker_never_answered_and_send_from_delivers_it() -> None:
    port = closed_port()
    app = app_with(compose_address=f"amqp://127.0.0.1:{port}/orders")
    notes = Notifications()
    async with app.run_test(size=(100, 30), message_hook=notes.hook) as pilot:
        await compose_and_send(pilot, app, "do not lose me")
        await pilot.press("ctrl+q")
        await until(pilot, lambda: app.return_code is not None, "the app to end")
    assert app.return_code == 0
    (path,) = recovery_files()
    assert path.parent == recovery_dir()
    (note,) = app.exit_notes
    assert f"1 outgoing message(s) not answered were saved to {path}" in note
    assert notes.saying("not answered were saved")
    (line,) = saved_lines()
    assert line["properties"]["subject"] == "do not lose me"
    assert line["properties"]["to"] == f"amqp://127.0.0.1:{port}/orders"
    assert line["meta"]["unsent"] in ("unknown", "aborted")

    with ThreadedPeer("the-broker-back", listen=f"amqp://~127.0.0.1:{port}") as peer:
        replay = msgr_tui("send", "--from", str(path))
        wait_for(lambda: peer.received, what="the saved message")
    assert replay.returncode == 0, replay.stderr
    assert peer.received[0].subject == "do not lose me"


async def test_sigterm_quits_cleanly_with_143_and_keeps_what_was_not_answered() -> None:
    port = closed_port()
    app = app_with(compose_address=f"amqp://127.0.0.1:{port}/q")
    async with app.run_test(size=(100, 30)) as pilot:
        await compose_and_send(pilot, app, "still here")
        os.kill(os.getpid(), signal.SIGTERM)  # the app's own handler takes it
        await until(pilot, lambda: app.return_code is not None, "the app to end")
    assert app.return_code == 128 + signal.SIGTERM
    assert [line["properties"]["subject"] for line in saved_lines()] == ["still here"]


async def test_with_everything_answered_quitting_leaves_no_file() -> None:
    app = app_with()
    async with app.run_test(size=(100, 30)) as pilot:
        await listening(pilot, app)
        await pilot.press("2", "tab")
        await type_text(pilot, "to myself")
        await pilot.press("ctrl+s")
        outgoing = main(app).outgoing
        # Sent to the app's own listener: the incoming window holds it; accept it.
        await until(pilot, lambda: main(app).incoming.rows, "the message in Incoming")
        await pilot.press("escape", "3", "a")
        await until(
            pilot,
            lambda: outgoing.rows and outgoing.rows[0].status is not PENDING,
            "the answer",
        )
        await pilot.press("ctrl+q")
        await until(pilot, lambda: app.return_code is not None, "the app to end")
    assert recovery_files() == []
    assert app.exit_notes == []


def test_the_next_start_says_a_recovery_file_is_there(state_dir: Path) -> None:
    recovery_dir().mkdir(parents=True)
    path = recovery_dir() / "unanswered-earlier.jsonl"
    writer = MessageFileWriter(path)
    writer.write(
        [
            record_line(MessageRecord(body=Body(BodyKind.VALUE, (f"m{number}",))))
            for number in range(2)
        ]
    )
    writer.commit()
    (notice,) = recovery_notices()
    assert str(path) in notice and "holds 2 outgoing message(s)" in notice
    assert f"msgr-tui send --from {path}" in notice
