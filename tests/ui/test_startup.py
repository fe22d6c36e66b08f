"""The start: a first frame of four empty pane frames, then the panes, losing nothing.

The main screen draws the frames of its panes first (their borders and titles)
and mounts the panes right after; what the Messenger says meanwhile (its
listener bound), and what the user chose meanwhile, waits for them and is
done once they are there.
"""

from __future__ import annotations

import pytest
from textual.widgets import Input

from msgr_tui.settings import Settings
from msgr_tui.ui.app import MsgrTuiApp
from msgr_tui.ui.screens.main import PANE_TITLES, MainScreen, PaneFrame
from msgr_tui.ui.screens.recovered import RecoveryScreen
from msgr_tui.ui.widgets.keys_footer import KeysFooter
from tests.ui.story import LOOPBACK, app_with, listening, main, quit_app, screen_text, until
from tests.ui.test_next_start import leave_recovery_file

SIZE = (80, 24)


async def test_first_frame_has_the_four_pane_titles_and_events_wait_for_the_panes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mount_panes = MainScreen._mount_panes
    held: list[MainScreen] = []
    # The panes are held back until the test lets them in, as long as a slow
    # machine would take to mount them.
    monkeypatch.setattr(MainScreen, "_mount_panes", lambda screen: held.append(screen))
    app = app_with()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: held, "the first frame")
        screen = main(app)
        first_frame = screen_text(app)
        for title in PANE_TITLES.values():
            assert title in first_frame
        assert "starting" in first_frame  # the status line is there from the start
        # The Messenger runs meanwhile: its listener is bound before the panes exist.
        await until(pilot, lambda: screen._waiting, "the bridge's first events")
        assert not screen.panes_ready

        await mount_panes(screen)
        address = await listening(pilot, app)
        assert screen.panes_ready and not screen.query(PaneFrame)
        # What the events said, applied to the panes in order: the source listed,
        # Compose addressed to it, the status line listening there.
        assert screen.compose_pane.query_one("#address", Input).value == address
        assert "listening" in screen.status_bar.text
        await until(pilot, lambda: screen.focused is screen.incoming.table, "Incoming focused")
        await quit_app(pilot, app)


async def test_the_frames_have_the_panes_own_titles() -> None:
    app = app_with()
    async with app.run_test(size=SIZE) as pilot:
        screen = main(app)
        await until(pilot, lambda: screen.panes_ready, "the panes")
        panes = (screen.subscriptions, screen.compose_pane, screen.incoming, screen.outgoing)
        assert [pane.border_title for pane in panes] == list(PANE_TITLES.values())
        await quit_app(pilot, app)


async def test_the_keys_line_shows_the_focused_panes_keys_and_a_click_presses_one() -> None:
    app = app_with()
    async with app.run_test(size=SIZE) as pilot:
        screen = main(app)
        await until(pilot, lambda: screen.panes_ready, "the panes")
        await until(pilot, lambda: screen.focused is screen.incoming.table, "Incoming focused")
        await pilot.pause()
        bottom = screen_text(app).splitlines()[-1]
        assert "a Accept" in bottom and "z Zoom" in bottom and "^p palette" in bottom
        footer = screen.query_one(KeysFooter)
        start = next(start for start, _, key in footer.spans if key == "z")
        await pilot.click(KeysFooter, offset=(start + 2, 0))  # on "Zoom"
        await until(pilot, lambda: screen.zoomed is screen.incoming, "Incoming zoomed")
        await pilot.press("2")  # another pane's keys
        await until(pilot, lambda: "More fields" in screen_text(app), "Compose's keys")
        await quit_app(pilot, app)


async def test_a_choice_made_before_the_panes_are_there_is_done_once_they_are(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mount_panes = MainScreen._mount_panes
    held: list[MainScreen] = []
    monkeypatch.setattr(MainScreen, "_mount_panes", lambda screen: held.append(screen))
    leave_recovery_file("amqp://127.0.0.1:1/orders", ["kept"])
    app = app_with()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RecoveryScreen), "the offer")
        await until(pilot, lambda: held, "the first frame")
        await pilot.press("o")  # open them in Outgoing, held: the pane is not there yet
        await until(pilot, lambda: app.screen is main(app), "the offer answered")
        screen = main(app)
        assert not screen.panes_ready and screen.outgoing.rows == []

        await mount_panes(screen)
        await until(pilot, lambda: screen.outgoing.rows, "the kept message in Outgoing")
        assert [row.subject for row in screen.outgoing.rows] == ["kept"]
        assert screen.outgoing.rows[0].held_from is not None
        await until(pilot, lambda: screen.focused is screen.outgoing.table, "Outgoing focused")
        await quit_app(pilot, app)


async def test_the_start_is_over_once_the_panes_are_drawn_and_said_once() -> None:
    shown: list[bool] = []
    app = MsgrTuiApp(
        Settings(listen=(LOOPBACK,)),
        start_messenger=False,
        on_shown=lambda: shown.append(main(app).panes_ready),
    )
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: shown, "the start over")
        assert shown == [True]  # the panes were there when it was said
        await quit_app(pilot, app)
    assert shown == [True]
