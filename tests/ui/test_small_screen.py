"""An 80x24 SSH window: zoom, a folded Compose, columns that give the text room,
a footer that never overprints itself, a short name, plurals and sparklines."""

from __future__ import annotations

import uuid

import proton
import pytest
from textual.pilot import Pilot
from textual.widgets import Collapsible, Input, Sparkline

from msgr_tui.settings import Settings
from msgr_tui.ui.app import MsgrTuiApp
from msgr_tui.ui.widgets.keys_footer import KeysFooter
from msgr_tui.ui.widgets.virtual_table import Cut, shortened
from tests.ui.story import (
    LOOPBACK,
    Notifications,
    app_with,
    listening,
    main,
    quit_app,
    screen_text,
    type_text,
    until,
)

SIZE = (80, 24)


async def send_to_myself(pilot: Pilot, app: MsgrTuiApp, subject: str, count: int = 1) -> None:
    await pilot.press("2", "tab")
    await type_text(pilot, subject)
    for _ in range(count):
        await pilot.press("ctrl+s")
    await pilot.press("escape")
    await until(pilot, lambda: len(main(app).outgoing.rows) >= count, "the messages sent")


def visible(widget: object) -> bool:
    region = widget.region  # type: ignore[attr-defined]
    return region.width > 0 and region.height > 0


async def test_z_zooms_the_focused_pane_to_the_whole_screen_and_z_brings_the_four_back() -> None:
    app = app_with()
    async with app.run_test(size=SIZE) as pilot:
        await listening(pilot, app)
        screen = main(app)
        await pilot.press("3", "z")
        await until(pilot, lambda: screen.zoomed is screen.incoming, "Incoming zoomed")
        await pilot.pause()
        assert screen.incoming.region.width == 80
        assert not visible(screen.subscriptions) and not visible(screen.outgoing)
        assert visible(screen.status_bar)  # the status line and the keys stay
        # A pane's number while zoomed zooms that pane instead.
        await pilot.press("4")
        await until(pilot, lambda: screen.zoomed is screen.outgoing, "Outgoing zoomed")
        await pilot.press("z")
        await until(pilot, lambda: screen.zoomed is None, "back to four panes")
        await pilot.pause()
        assert all(visible(pane) for pane in (screen.subscriptions, screen.incoming))
        assert screen.incoming.region.width < 80
        await quit_app(pilot, app)


async def test_z_in_a_text_field_types_a_z_and_zooms_nothing() -> None:
    app = app_with()
    async with app.run_test(size=SIZE) as pilot:
        await listening(pilot, app)
        await pilot.press("2", "tab", "z")
        subject = main(app).compose_pane.query_one("#subject", Input)
        assert subject.value == "z" and main(app).zoomed is None
        await quit_app(pilot, app)


async def test_compose_shows_address_subject_and_body_and_folds_the_rest() -> None:
    app = app_with()
    async with app.run_test(size=SIZE) as pilot:
        await listening(pilot, app)
        compose = main(app).compose_pane
        more = compose.query_one("#more", Collapsible)
        assert more.collapsed and not visible(compose.query_one("#reply-to", Input))
        assert "more fields (ctrl+t)" in screen_text(app)
        await pilot.press("2", "ctrl+t")
        await until(pilot, lambda: not more.collapsed, "the fold open")
        await type_text(pilot, "~")  # ctrl+t put the cursor in reply-to
        assert compose.query_one("#reply-to", Input).value == "~"
        await pilot.press("ctrl+t")
        await until(pilot, lambda: more.collapsed, "folded again")
        # A refused field under the fold opens it, so the error points at something seen.
        compose.query_one("#ttl", Input).value = "soon"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: not more.collapsed, "the fold opened by the error")
        assert compose.query_one("#ttl", Input).has_class("-invalid")
        assert main(app).outgoing.rows == []
        await quit_app(pilot, app)


FOCUS_KEYS = {
    "subscriptions": ("1",),
    "compose field": ("2",),
    "compose pane": ("2", "escape"),
    "incoming": ("3",),
    "outgoing": ("4",),
    "incoming zoomed": ("3", "z"),
}


@pytest.mark.parametrize("where", list(FOCUS_KEYS))
async def test_the_footer_never_overprints_itself_at_80_columns(where: str) -> None:
    app = app_with()
    async with app.run_test(size=SIZE) as pilot:
        await listening(pilot, app)
        await pilot.press(*FOCUS_KEYS[where])
        await pilot.pause()
        footer = app.screen.query_one(KeysFooter)
        *others, (palette_x, _, palette) = footer.spans
        assert palette == "ctrl+p" and others, "the pane's keys are in the footer"
        last_end = max(end for _, end, _ in others)
        # A key that would run under the palette hint is cut there: none may be.
        assert not footer.cut and last_end < palette_x, (
            f"{where}: the keys run to column {last_end}, under the palette hint at "
            f"{palette_x}; cut: {', '.join(footer.cut)}"
        )
        await quit_app(pilot, app)


async def test_the_status_bar_names_the_profile() -> None:
    settings = Settings(listen=(LOOPBACK,), profile="prod", messenger_name=str(uuid.uuid4()))
    app = MsgrTuiApp(settings)
    async with app.run_test(size=SIZE) as pilot:
        await listening(pilot, app)
        bar = main(app).status_bar
        await until(pilot, lambda: bar.stats is not None, "the first figures")
        assert bar.text.startswith("[b]prod[/b]")
        assert settings.messenger_name not in bar.text
        await quit_app(pilot, app)


async def test_without_a_profile_a_generated_name_shows_its_first_eight_characters() -> None:
    name = str(uuid.uuid4())
    app = MsgrTuiApp(Settings(listen=(LOOPBACK,), messenger_name=name))
    async with app.run_test(size=SIZE) as pilot:
        await listening(pilot, app)
        bar = main(app).status_bar
        await until(pilot, lambda: bar.stats is not None, "the first figures")
        assert bar.text.startswith(f"[b]{name[:8]}[/b]") and name not in bar.text
        await quit_app(pilot, app)


async def test_one_message_reads_in_the_singular() -> None:
    app = app_with()
    async with app.run_test(size=SIZE) as pilot:
        await listening(pilot, app)
        await send_to_myself(pilot, app, "just one")
        incoming = main(app).incoming
        await until(pilot, lambda: len(incoming.rows) == 1, "it arrives")
        assert incoming.border_subtitle == "1 message · 1 pending"
        await pilot.press("3", "a")
        await until(pilot, lambda: main(app).incoming.pending == 0, "accepted")
        assert main(app).outgoing.border_subtitle == "1 sent · 0 pending"
        await quit_app(pilot, app)


async def test_the_status_bar_draws_the_rates_in_and_out_as_sparklines() -> None:
    app = app_with()
    async with app.run_test(size=SIZE) as pilot:
        await listening(pilot, app)
        bar = main(app).status_bar
        await send_to_myself(pilot, app, "burst", count=5)
        await until(pilot, lambda: max(bar.in_rates) > 0, "a rate in")
        await until(pilot, lambda: max(bar.out_rates) > 0, "a rate out")
        lines = bar.query(Sparkline)
        assert [max(line.data or [0]) > 0 for line in lines] == [True, True]
        await pilot.pause()
        # Drawn in the status line: the bars of a rate above the least.
        assert any(block in screen_text(app) for block in "▂▃▄▅▆▇█")
        await quit_app(pilot, app)


async def test_at_80_columns_incoming_gives_subject_and_body_the_room() -> None:
    app = app_with()
    async with app.run_test(size=SIZE) as pilot:
        await listening(pilot, app)
        subject = "order 1042 created for ACME"
        await send_to_myself(pilot, app, subject)
        table = main(app).incoming.table
        await until(pilot, lambda: table.row_count == 1, "the message")
        labels = [column.label for column in table.columns]
        widths = dict(zip(labels, table._column_widths(table.size.width), strict=True))
        # Time and address (the same for every row of one subscription) make way.
        assert widths["time"] == widths["address"] == 0
        assert widths["subject"] >= 12 and widths["body"] >= 12
        assert subject[:12] in screen_text(app)
        # Zoomed, every column is back, the address cut in its middle.
        await pilot.press("3", "z")
        await until(pilot, lambda: main(app).zoomed is not None, "zoomed")
        await pilot.pause()
        widths = dict(zip(labels, table._column_widths(table.size.width), strict=True))
        assert widths["time"] == 8 and widths["address"] >= 12
        await quit_app(pilot, app)


@pytest.mark.parametrize(
    ("cut", "shown"),
    [
        (Cut.END, "amqp://broke…"),
        (Cut.START, "…:5672/orders"),
        (Cut.MIDDLE, "amqp…2/orders"),
    ],
)
def test_a_long_value_is_cut_where_it_says_least(cut: Cut, shown: str) -> None:
    assert shortened("amqp://broker.internal:5672/orders", 13, cut) == shown
    assert shortened("short", 13, cut) == "short"


async def test_a_proton_built_without_tls_is_said_at_start_with_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Stands in for the build (not the subject): this machine's Proton has TLS.
    monkeypatch.setattr(proton.SSL, "present", staticmethod(lambda: False))
    notes = Notifications()
    app = app_with()
    async with app.run_test(size=SIZE, message_hook=notes.hook) as pilot:
        await listening(pilot, app)
        (said,) = notes.saying("TLS is not available")
        assert "apt install libssl-dev" in said and "--no-binary python-qpid-proton" in said
        await quit_app(pilot, app)
