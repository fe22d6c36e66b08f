"""The app in a flood: it decodes the rows it shows, and a message it cannot decode waits
for the user like any other (shown as undecodable, decided with the usual keys); a key
repaints what it changes, and the status bar what changed."""

from __future__ import annotations

from collections.abc import Callable

from textual.geometry import Region
from textual.pilot import Pilot
from textual.widgets import Static

from msgr_tui.bridge import MessageArrived, Stats
from msgr_tui.messenger import PENDING, REJECTED, Message, Messenger
from msgr_tui.ui.app import MsgrTuiApp
from msgr_tui.ui.messages import BridgeBatch
from msgr_tui.ui.screens.main import BATCH_SLICE
from msgr_tui.ui.widgets.incoming import IncomingPane
from tests.bridge.test_arrivals import not_utf8
from tests.helpers import started, stop_all
from tests.ui.story import Notifications, app_with, listening, main, quit_app, screen_text, until

FLOOD = 3_000
SIZE = (100, 30)


def incoming(app: MsgrTuiApp) -> IncomingPane:
    return main(app).incoming


async def sent_and_shown(pilot: Pilot, app: MsgrTuiApp, sender: Messenger, count: int) -> None:
    await until(
        pilot,
        lambda: (sender.work(0), incoming(app).received_total >= count)[1],
        f"{count} messages shown",
    )


async def test_a_flood_decodes_only_the_rows_drawn() -> None:
    app = app_with()
    async with app.run_test(size=SIZE) as pilot:
        address = await listening(pilot, app)
        sender = started("flooder", blocking=False)
        for number in range(FLOOD):
            sender.put(Message(address=f"{address}/flood", subject="flood", body=f"n={number}"))
        await sent_and_shown(pilot, app, sender, FLOOD)
        await pilot.pause()
        rows = incoming(app).rows
        # The table follows the newest: its rows are on screen, decoded to be drawn...
        assert f"n={FLOOD - 1}" in screen_text(app)
        assert rows[-1].arrival.decoded
        # ...and most of the rows, never drawn (the table followed the flood a batch
        # at a time), were never decoded.
        decoded = sum(row.arrival.decoded for row in rows)
        assert decoded <= FLOOD // 10, decoded
        # A search reads them all: every row matches on its own body.
        await pilot.press("3", "slash", *"n=1234", "enter")
        await until(pilot, lambda: len(incoming(app).table.rows) == 1, "one row matching")
        assert incoming(app).table.rows[0].arrival.message.body == "n=1234"
        stop_all(sender)
        await quit_app(pilot, app)


async def test_an_undecodable_message_is_shown_and_rejected_with_r() -> None:
    notes = Notifications()
    app = app_with()
    async with app.run_test(size=SIZE, message_hook=notes.hook) as pilot:
        address = f"{await listening(pilot, app)}/mixed"
        sender = started("mixed-sender", blocking=False, outgoing_window=10)
        sender.put(Message(address=address, body="fine"))
        bad = sender.put_encoded(not_utf8(address), address)
        await sent_and_shown(pilot, app, sender, 2)
        row = incoming(app).rows[1]
        await until(pilot, lambda: "undecodable" in screen_text(app), "the row saying so")
        assert row.arrival.problem is not None and "UnicodeDecodeError" in row.arrival.problem
        assert row.state is PENDING and sender.status(bad) is PENDING

        # Nothing but a decision applies: a move says so, and sends nothing.
        await pilot.press("3", "end", "m")
        await until(pilot, lambda: notes.saying("could not be decoded"), "the refusal")
        assert main(app).outgoing.rows == []

        await pilot.press("r")
        await until(pilot, lambda: (sender.work(0), sender.status(bad))[1] is REJECTED, "REJECTED")
        await until(pilot, lambda: row.state is REJECTED, "rejected in Incoming")
        stop_all(sender)
        await quit_app(pilot, app)


async def test_a_cursor_move_repaints_the_two_rows_it_changes() -> None:
    app = app_with()
    async with app.run_test(size=SIZE) as pilot:
        address = await listening(pilot, app)
        sender = started("few", blocking=False)
        for number in range(5):
            sender.put(Message(address=f"{address}/few", body=f"n={number}"))
        await sent_and_shown(pilot, app, sender, 5)
        table = incoming(app).table
        await pilot.press("3", "home")
        await pilot.pause()
        repainted: list[tuple[object, ...]] = []
        refresh = table.refresh

        def recorded(*regions: Region, **options: bool) -> object:
            repainted.append(regions)
            return refresh(*regions, **options)

        table.refresh = recorded  # type: ignore[method-assign]
        await pilot.press("j")
        await until(pilot, lambda: table.cursor == 1, "the cursor on the second row")
        # Rows 0 and 1 are lines 1 and 2 (line 0 is the header).
        assert sorted(region.y for regions in repainted for region in regions) == [1, 2]
        assert all(len(regions) == 1 and regions[0].height == 1 for regions in repainted), repainted
        stop_all(sender)
        await quit_app(pilot, app)


async def test_the_status_bar_is_redrawn_only_when_what_it_says_changes() -> None:
    app = app_with()
    async with app.run_test(size=SIZE) as pilot:
        await listening(pilot, app)
        bar = main(app).status_bar
        updates: list[str] = []
        for static in bar.query(Static):
            update = static.update

            def counted(content: object = "", *, update: Callable[..., None] = update) -> None:
                updates.append(str(content))
                update(content)

            static.update = counted  # type: ignore[method-assign]
        stats = Stats("tui", 1, 10, 2, 5.0, 1.0)
        bar.show_stats(stats)
        told = len(updates)
        assert told and any("in 10 5/s" in text for text in updates)
        bar.show_stats(stats)  # the same, a second later
        assert len(updates) == told
        bar.show_stats(Stats("tui", 1, 11, 2, 1.0, 1.0))
        assert updates[told:] == ["in 11 1/s"]
        await quit_app(pilot, app)


async def test_rows_the_window_decided_in_the_same_batch_leave_first_and_quietly() -> None:
    """A batch larger than max_messages: the window's decisions in it are applied before
    the oldest rows go, so no pending row is dropped (nor said to be)."""
    notes = Notifications()
    app = app_with(max_messages=100, incoming_window=10)
    async with app.run_test(size=SIZE, message_hook=notes.hook) as pilot:
        address = await listening(pilot, app)
        sender = started("flooder", blocking=False)
        for number in range(FLOOD):
            sender.put(Message(address=f"{address}/flood", body=f"n={number}"))
        await sent_and_shown(pilot, app, sender, FLOOD)
        pane = incoming(app)
        await until(pilot, lambda: pane.pending == 10, "the window's 10 pending")
        assert len(pane.rows) == 100
        assert [row.state for row in pane.rows[-10:]] == [PENDING] * 10
        assert notes.saying("dropped from the view") == []
        stop_all(sender)
        await quit_app(pilot, app)


async def test_a_large_batch_is_applied_a_slice_a_turn_in_the_order_it_came() -> None:
    """Keys are handled between slices of a flood's batch; batches that come meanwhile
    wait behind what is left of it (events are never reordered)."""
    app = app_with()
    async with app.run_test(size=SIZE) as pilot:
        address = await listening(pilot, app)
        data = bytes(Message(address=f"{address}/q", body="b").encode())
        screen, pane = main(app), incoming(app)
        slices: list[int] = []
        add_messages = pane.add_messages

        def recorded(arrivals: list[MessageArrived], decided: object = ()) -> None:
            slices.append(len(arrivals))
            add_messages(arrivals, decided)  # type: ignore[arg-type]

        pane.add_messages = recorded  # type: ignore[method-assign]
        count = 2 * BATCH_SLICE + 500
        arrivals = [MessageArrived(seq, 10**6 + seq, 0.0, data) for seq in range(1, count + 1)]
        first, second = arrivals[: count - 100], arrivals[count - 100 :]
        screen.post_message(BridgeBatch(list(first)))
        screen.post_message(BridgeBatch(list(second)))
        await until(pilot, lambda: pane.received_total == count, "every arrival applied")
        assert [row.arrival.seq for row in pane.rows] == list(range(1, count + 1))
        assert max(slices) <= BATCH_SLICE and len(slices) >= 3, slices
        await quit_app(pilot, app)
