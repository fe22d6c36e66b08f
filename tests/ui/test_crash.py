"""A crash takes the quit's path: the unanswered kept, the traceback in a log, a usable terminal.

The failures are forced (a bug stands in for one), the rest is real: the
message waits for a broker that is down, and the files are the app's own.
"""

from __future__ import annotations

import json

import pytest

from msgr_tui.locations import crash_log_dir, recovery_files
from msgr_tui.ui.screens.help import HelpScreen
from tests.helpers import closed_port
from tests.ui.story import Notifications, app_with, main, until
from tests.ui.test_recovery import compose_and_send


class Bug(Exception):
    """What the forced failure raises."""


def boom() -> None:
    raise Bug("forced for the test")


async def test_a_failing_messenger_thread_keeps_the_message_and_the_ui_keeps_running() -> None:
    app = app_with(compose_address=f"amqp://127.0.0.1:{closed_port()}/q")
    notes = Notifications()
    async with app.run_test(size=(80, 24), message_hook=notes.hook) as pilot:
        await compose_and_send(pilot, app, "survive the crash")
        bridge = main(app).bridge
        assert bridge is not None
        bridge._stats = boom  # type: ignore[method-assign]  # the bug, in the thread's loop
        bridge.messenger.interrupt()
        await until(pilot, lambda: main(app).bridge_stopped, "the bridge to stop")
        await until(pilot, lambda: notes.saying("traceback is in"), "the crash told")
        await pilot.press("f1")  # the UI still answers keys
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "the help")
        await pilot.press("escape", "ctrl+q")
        await until(pilot, lambda: app.return_code is not None, "the app to end")
    (log,) = crash_log_dir().iterdir()
    text = log.read_text(encoding="utf-8")
    assert "the Messenger thread" in text and "Bug: forced for the test" in text
    assert any(str(log) in note for note in notes.texts)
    (kept,) = recovery_files()
    (line,) = [json.loads(raw) for raw in kept.read_text(encoding="utf-8").splitlines()]
    assert line["properties"]["subject"] == "survive the crash"
    assert any(str(kept) in note for note in app.exit_notes)


async def test_a_failure_in_the_ui_ends_the_app_with_the_message_kept_and_a_log() -> None:
    app = app_with(compose_address=f"amqp://127.0.0.1:{closed_port()}/q")
    with pytest.raises(Bug):  # Textual's test harness re-raises what ended the app
        async with app.run_test(size=(80, 24)) as pilot:
            await compose_and_send(pilot, app, "kept through a UI bug")
            app.call_later(boom)
            await until(pilot, lambda: app.return_code is not None, "the app to end")
    assert app.return_code == 1
    notes = app.closing_notes(10)
    (log,) = crash_log_dir().iterdir()
    assert "failed in the UI" in log.read_text(encoding="utf-8")
    (kept,) = recovery_files()
    assert "kept through a UI bug" in kept.read_text(encoding="utf-8")
    assert any(str(log) in note for note in notes)
    assert any(str(kept) in note for note in notes)
