"""Nothing lost when the app ends: quitting asks when something is at stake.

Stories with real peers: a message composed to a broker that is down waits
(retry mode, the app's default); ctrl+q then asks - wait for the answer, save
it to a message file, or quit anyway - and each choice does what it says.
SIGTERM keeps it in a recovery file without asking. Nothing at stake: ctrl+q
quits at once.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from textual.pilot import Pilot

from msgr_tui.locations import recovery_dir, recovery_files
from msgr_tui.messenger import PENDING
from msgr_tui.ui.app import MsgrTuiApp
from msgr_tui.ui.screens.quit import QuitScreen
from tests.command_line import msgr_tui
from tests.helpers import ThreadedPeer, closed_port, wait_for
from tests.ui.story import Notifications, app_with, listening, main, screen_text, type_text, until


async def compose_and_send(pilot: Pilot, app: MsgrTuiApp, subject: str) -> None:
    """Compose a message with ``subject`` to the pre-filled address; wait until it is PENDING."""
    await listening(pilot, app)
    await pilot.press("2", "tab")
    await type_text(pilot, subject)
    await pilot.press("ctrl+s")
    outgoing = main(app).outgoing
    await until(pilot, lambda: outgoing.rows and outgoing.rows[-1].status is PENDING, "PENDING")
    await until(pilot, lambda: main(app).at_stake.outgoing, "the bridge to count it at stake")


async def quit_dialog(pilot: Pilot, app: MsgrTuiApp) -> QuitScreen:
    await pilot.press("ctrl+q")
    await until(pilot, lambda: isinstance(app.screen, QuitScreen), "the quit dialog")
    assert isinstance(app.screen, QuitScreen)
    return app.screen


def lines_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def test_quit_asks_and_saving_keeps_the_message_for_send_from(tmp_path: Path) -> None:
    port = closed_port()
    app = app_with(compose_address=f"amqp://127.0.0.1:{port}/orders")
    notes = Notifications()
    chosen = tmp_path / "unsent.jsonl"
    async with app.run_test(size=(80, 24), message_hook=notes.hook) as pilot:
        await compose_and_send(pilot, app, "do not lose me")
        await quit_dialog(pilot, app)
        shown = screen_text(app)
        assert "1 outgoing message not answered yet" in shown
        assert "w  wait for the answers" in shown
        await pilot.press("s")
        field = app.screen.query_one("#quit-path")
        assert str(recovery_dir()) in field.value  # offered where the next start looks
        field.value = str(chosen)
        await pilot.press("enter")
        await until(pilot, lambda: app.return_code is not None, "the app to end")
    assert app.return_code == 0
    assert recovery_files() == []
    (note,) = app.closing_notes(5)
    assert f"1 outgoing message not answered was saved to {chosen}" in note
    (line,) = lines_of(chosen)
    assert line["properties"]["subject"] == "do not lose me"
    assert line["properties"]["to"] == f"amqp://127.0.0.1:{port}/orders"

    with ThreadedPeer("the-broker-back", listen=f"amqp://~127.0.0.1:{port}") as peer:
        replay = msgr_tui("send", "--from", str(chosen))
        wait_for(lambda: peer.received, what="the saved message")
    assert replay.returncode == 0, replay.stderr
    assert peer.received[0].subject == "do not lose me"


async def test_saving_over_an_existing_file_is_refused_in_the_dialog(tmp_path: Path) -> None:
    taken = tmp_path / "taken.jsonl"
    taken.write_text("keep me\n", encoding="utf-8")
    app = app_with(compose_address=f"amqp://127.0.0.1:{closed_port()}/q")
    async with app.run_test(size=(80, 24)) as pilot:
        await compose_and_send(pilot, app, "m")
        await quit_dialog(pilot, app)
        await pilot.press("s")
        app.screen.query_one("#quit-path").value = str(taken)
        await pilot.press("enter")
        await until(pilot, lambda: "already exists" in screen_text(app), "the refusal")
        assert app.return_code is None and isinstance(app.screen, QuitScreen)
        await pilot.press("escape", "escape")  # back to the choices, then stay
        await until(pilot, lambda: not isinstance(app.screen, QuitScreen), "the dialog gone")
        assert main(app).outgoing.rows[0].status is PENDING
    assert taken.read_text(encoding="utf-8") == "keep me\n"


async def test_quit_anyway_says_what_is_lost_and_leaves_no_file() -> None:
    app = app_with(compose_address=f"amqp://127.0.0.1:{closed_port()}/q")
    async with app.run_test(size=(80, 24)) as pilot:
        await compose_and_send(pilot, app, "let it go")
        await quit_dialog(pilot, app)
        assert "1 unanswered message is lost" in screen_text(app)
        await pilot.press("q")
        await until(pilot, lambda: app.return_code is not None, "the app to end")
    assert app.return_code == 0
    assert recovery_files() == []
    assert app.closing_notes(5) == []


async def test_waiting_shows_the_count_and_quits_once_the_broker_answers() -> None:
    port = closed_port()
    app = app_with(compose_address=f"amqp://127.0.0.1:{port}/q")
    async with app.run_test(size=(80, 24)) as pilot:
        await compose_and_send(pilot, app, "wait for me")
        await quit_dialog(pilot, app)
        await pilot.press("w")
        assert "Waiting for 1 answer" in screen_text(app)
        with ThreadedPeer("late-broker", listen=f"amqp://~127.0.0.1:{port}") as peer:
            # Retry mode finds the broker, it accepts, and the app quits by itself.
            await until(pilot, lambda: app.return_code is not None, "the app to end", 30)
        assert [message.subject for message in peer.received] == ["wait for me"]
    assert recovery_files() == []


async def test_escape_stops_waiting_and_escape_again_stays() -> None:
    app = app_with(compose_address=f"amqp://127.0.0.1:{closed_port()}/q")
    async with app.run_test(size=(80, 24)) as pilot:
        await compose_and_send(pilot, app, "m")
        await quit_dialog(pilot, app)
        await pilot.press("w")
        await pilot.press("escape")
        assert "w  wait for the answers" in screen_text(app)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, QuitScreen), "the dialog gone")
        assert app.return_code is None and main(app).running


async def test_undecided_incoming_only_offers_quit_and_says_they_go_back() -> None:
    app = app_with()
    async with app.run_test(size=(80, 24)) as pilot:
        await listening(pilot, app)
        await pilot.press("2", "tab")
        await type_text(pilot, "to myself")
        await pilot.press("ctrl+s")
        # The incoming window holds it undecided; our own outgoing one waits for that.
        await until(pilot, lambda: main(app).at_stake.incoming == 1, "one undecided")
        await quit_dialog(pilot, app)
        shown = screen_text(app)
        assert "1 incoming message waiting for your decision" in shown
        assert "1 undecided message goes back to its sender" in shown
        await pilot.press("q")
        await until(pilot, lambda: app.return_code is not None, "the app to end")


async def test_sigterm_quits_cleanly_with_143_and_keeps_what_was_not_answered() -> None:
    app = app_with(compose_address=f"amqp://127.0.0.1:{closed_port()}/q")
    async with app.run_test(size=(80, 24)) as pilot:
        await compose_and_send(pilot, app, "still here")
        os.kill(os.getpid(), signal.SIGTERM)  # the app's own handler takes it: no dialog
        await until(pilot, lambda: app.return_code is not None, "the app to end")
    assert app.return_code == 128 + signal.SIGTERM
    (path,) = recovery_files()
    assert [line["properties"]["subject"] for line in lines_of(path)] == ["still here"]
    (note,) = app.closing_notes(5)
    assert str(path) in note


async def test_with_everything_answered_ctrl_q_quits_at_once_and_leaves_no_file() -> None:
    app = app_with()
    async with app.run_test(size=(80, 24)) as pilot:
        await listening(pilot, app)
        await pilot.press("2", "tab")
        await type_text(pilot, "to myself")
        await pilot.press("ctrl+s")
        outgoing = main(app).outgoing
        await until(pilot, lambda: main(app).incoming.rows, "the message in Incoming")
        await pilot.press("escape", "3", "a")
        await until(pilot, lambda: not main(app).at_stake, "nothing at stake")
        assert outgoing.rows[0].status is not PENDING
        await pilot.press("ctrl+q")
        await until(pilot, lambda: app.return_code is not None, "the app to end")
    assert recovery_files() == []
    assert app.closing_notes(5) == []
