"""The TUI driven like a user would: keys pressed, real peers on loopback."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from rich.color import blend_rgb
from rich.color_triplet import ColorTriplet
from rich.terminal_theme import SVG_EXPORT_THEME
from textual.command import CommandList, CommandPalette
from textual.pilot import Pilot
from textual.widgets import Input

from msgr_tui.messenger import Message, Messenger
from msgr_tui.messenger.events import LinkClosed, MessengerEvent
from msgr_tui.messenger.status import ABORTED, ACCEPTED, PENDING, REJECTED, RELEASED, Status
from msgr_tui.messenger.subscription import SubscriptionState
from msgr_tui.settings import Settings
from msgr_tui.ui.app import MsgrTuiApp
from msgr_tui.ui.screens.detail import DetailScreen
from msgr_tui.ui.screens.help import HelpScreen
from msgr_tui.ui.widgets.incoming import IncomingPane
from msgr_tui.ui.widgets.outgoing import OutgoingPane
from tests.helpers import ThreadedPeer, started, stop_all
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


def incoming(app: MsgrTuiApp) -> IncomingPane:
    return main(app).incoming


def outgoing(app: MsgrTuiApp) -> OutgoingPane:
    return main(app).outgoing


def field(app: MsgrTuiApp, selector: str) -> Input:
    return main(app).compose_pane.query_one(selector, Input)


async def sender_sees(pilot: Pilot, sender: Messenger, tracker: int, expected: Status) -> None:
    """Pump ``sender`` until the app's answer for ``tracker`` reached it."""
    await until(
        pilot,
        lambda: (sender.work(0), sender.status(tracker))[1] is expected,
        f"the sender to see {expected} (it sees {sender.status(tracker)})",
    )


async def test_a_new_user_sends_to_themselves_accepts_and_sees_accepted() -> None:
    app = app_with()
    async with app.run_test(size=(100, 30)) as pilot:
        address = await listening(pilot, app)
        # Compose was pre-filled with the listener's address.
        assert field(app, "#address").value == address
        await pilot.press("2", "tab")
        await type_text(pilot, "hello tui")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: incoming(app).rows, "the message in Incoming")
        row = incoming(app).rows[0]
        assert row.arrival.message.subject == "hello tui"
        assert row.state is PENDING
        await until(pilot, lambda: outgoing(app).rows, "the tracker row")
        assert outgoing(app).rows[0].status is PENDING

        await pilot.press("escape", "3", "a")
        await until(pilot, lambda: row.state is ACCEPTED, "accepted in Incoming")
        await until(pilot, lambda: outgoing(app).rows[0].status is ACCEPTED, "ACCEPTED tracker")
        await quit_app(pilot, app)
        await until(pilot, lambda: main(app).bridge_stopped, "a clean Messenger stop")


@pytest.mark.parametrize(
    ("key", "status"), [("a", ACCEPTED), ("r", REJECTED), ("l", RELEASED)], ids=str
)
async def test_outcome_keys_reach_the_sender_as_the_right_status(key: str, status: Status) -> None:
    app = app_with()
    async with app.run_test(size=(100, 30)) as pilot:
        address = await listening(pilot, app)
        sender = started("sender", outgoing_window=5, blocking=False)
        tracker = sender.put(Message(address=f"{address}/orders", body="decide me", subject="s1"))
        await until(pilot, lambda: (sender.work(0), incoming(app).rows)[1], "the message")
        await pilot.press("3", key)
        await sender_sees(pilot, sender, tracker, status)
        assert incoming(app).rows[0].state is status
        stop_all(sender)
        await quit_app(pilot, app)


async def test_enter_opens_the_detail_view_with_every_field() -> None:
    app = app_with()
    async with app.run_test(size=(120, 40)) as pilot:
        address = await listening(pilot, app)
        message = Message(address=f"{address}/detail", subject="inspect me")
        message.body = '{"order": 42, "items": ["a", "b"]}'
        message.content_type = "application/json"
        message.properties = {"tenant": "acme", "retries": 3}
        message.correlation_id = "corr-7"
        message.reply_to = "amqp://elsewhere/replies"
        message.priority = 7
        sender = started("detail-sender", blocking=False)
        sender.put(message)
        await until(pilot, lambda: (sender.work(0), incoming(app).rows)[1], "the message")
        await pilot.press("3", "enter")
        await until(pilot, lambda: isinstance(app.screen, DetailScreen), "the detail view")
        detail = app.screen
        assert isinstance(detail, DetailScreen)
        assert detail.arrival.message.correlation_id == "corr-7"
        shown = screen_text(app)
        assert "inspect me" in shown
        assert "corr-7" in shown
        assert "tenant" in shown and "acme" in shown
        assert '"order": 42' in shown  # JSON body pretty-printed
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, DetailScreen), "detail closed")
        stop_all(sender)
        await quit_app(pilot, app)


async def test_a_bad_address_shows_an_inline_error_and_sends_nothing() -> None:
    with ThreadedPeer("watcher") as peer:
        app = app_with(compose_address=f"amqp://127.0.0.1:{peer.port}:oops/q")
        async with app.run_test(size=(100, 30)) as pilot:
            await listening(pilot, app)
            await pilot.press("ctrl+s")
            error = main(app).query_one("#compose-error")
            await until(pilot, lambda: error.display, "the inline error")
            assert "address" in str(error.render())
            assert field(app, "#address").has_class("-invalid")
            # The error is the bridge's answer to that draft (PutFailed): it was never put.
            assert outgoing(app).rows == []
            # Fixed, it goes; the peer's first message is this one, nothing before it.
            good = f"amqp://127.0.0.1:{peer.port}/q"
            field(app, "#address").value = good
            await pilot.press("ctrl+s")
            await until(pilot, lambda: peer.received, "the fixed draft at the peer")
            assert [received.address for received in peer.received] == [good]
            await until(pilot, lambda: not error.display, "the error gone")
            await quit_app(pilot, app)


async def test_invalid_json_body_is_refused_with_its_position() -> None:
    app = app_with()
    async with app.run_test(size=(100, 30)) as pilot:
        await listening(pilot, app)
        compose = main(app).compose_pane
        compose.query_one("#body-mode").value = "json"  # type: ignore[attr-defined]
        compose.query_one("#body").text = '{"unterminated": '  # type: ignore[attr-defined]
        await pilot.press("ctrl+s")
        error = compose.query_one("#compose-error")
        await until(pilot, lambda: error.display, "the inline error")
        assert "invalid JSON at line 1" in str(error.render())
        assert compose.query_one("#body").has_class("-invalid")
        assert outgoing(app).rows == []
        await quit_app(pilot, app)


async def test_messages_leaving_the_window_show_as_auto_accepted() -> None:
    app = app_with(incoming_window=2)
    async with app.run_test(size=(100, 30)) as pilot:
        address = await listening(pilot, app)
        sender = started("flood", blocking=False)
        for number in range(3):
            sender.put(Message(address=f"{address}/q", body=number))
        await until(pilot, lambda: (sender.work(0), len(incoming(app).rows) == 3)[1], "3 rows")
        rows = incoming(app).rows
        await until(pilot, lambda: rows[0].state is ACCEPTED, "the first auto-accepted")
        assert rows[0].automatic is True
        assert [r.state for r in rows[1:]] == [PENDING, PENDING]
        # "A" accepts every pending one.
        await pilot.press("3", "A")
        await until(pilot, lambda: all(r.state is ACCEPTED for r in rows), "all accepted")
        assert [r.automatic for r in rows] == [True, False, False]
        stop_all(sender)
        await quit_app(pilot, app)


async def test_incoming_keeps_max_messages_rows_decided_first_and_says_when_pending_go() -> None:
    notes = Notifications()
    app = app_with(max_messages=3)
    async with app.run_test(size=(100, 30), message_hook=notes.hook) as pilot:
        address = await listening(pilot, app)
        sender = started("many", outgoing_window=10, blocking=False)
        pane = incoming(app)

        async def send(*numbers: int) -> None:
            for number in numbers:
                sender.put(Message(address=f"{address}/q", subject=f"m{number}", body=number))
            last = numbers[-1]
            await until(pilot, lambda: (sender.work(0), pane.received_total == last)[1], f"m{last}")

        await send(1, 2, 3)
        await pilot.press("3", "home", "down", "a")  # m2 decided; m1 and m3 still pending
        await until(pilot, lambda: pane.rows[1].state is ACCEPTED, "m2 accepted")
        await send(4)
        # Over the limit by one: the decided row goes (not the oldest), the pending stay.
        assert [row.arrival.message.subject for row in pane.rows] == ["m1", "m3", "m4"]
        assert notes.saying("dropped") == []
        await send(5)
        # Only pending rows are left to drop: the oldest goes, and the user is told.
        assert [row.arrival.message.subject for row in pane.rows] == ["m3", "m4", "m5"]
        assert pane.border_subtitle == "3 messages · 3 pending"
        await until(pilot, lambda: notes.saying("dropped"), "the notice")
        assert notes.saying("dropped") == [
            "1 pending message was dropped from the view (max_messages=3); they stay "
            "unsettled until they leave the incoming window"
        ]
        stop_all(sender)
        await quit_app(pilot, app)


async def test_outgoing_keeps_max_messages_rows_answered_ones_go_first() -> None:
    def accept_only_ok(messenger: Messenger, message: Message, tracker: int) -> None:
        if message.subject == "ok":
            messenger.accept(tracker)

    with ThreadedPeer("judge", incoming_window=100, handler=accept_only_ok) as peer:
        app = app_with(compose_address=f"{peer.address}/q", max_messages=3)
        async with app.run_test(size=(100, 30)) as pilot:
            await listening(pilot, app)
            pane = outgoing(app)

            async def send(subject: str) -> None:
                field(app, "#subject").value = subject
                await pilot.press("ctrl+s")
                await until(pilot, lambda: any(r.subject == subject for r in pane.rows), subject)

            await send("wait-1")
            await send("ok")
            await until(pilot, lambda: pane.rows[1].status is ACCEPTED, "ok answered")
            for subject in ("wait-2", "wait-3"):
                await send(subject)
            # The answered row made room (not the oldest); the unanswered ones are kept.
            assert [row.subject for row in pane.rows] == ["wait-1", "wait-2", "wait-3"]
            await send("wait-4")
            # Nothing answered is left: the oldest unanswered row goes.
            assert [row.subject for row in pane.rows] == ["wait-2", "wait-3", "wait-4"]
            assert pane.border_subtitle == "3 sent · 3 pending"
            await quit_app(pilot, app)


async def test_slash_filters_incoming_by_text() -> None:
    app = app_with()
    async with app.run_test(size=(100, 30)) as pilot:
        address = await listening(pilot, app)
        sender = started("filters", blocking=False)
        for subject in ("apple", "banana", "apricot"):
            sender.put(Message(address=f"{address}/q", subject=subject, body=subject))
        await until(pilot, lambda: (sender.work(0), len(incoming(app).rows) == 3)[1], "3 rows")
        await pilot.press("3", "slash")
        await type_text(pilot, "ap")
        table = incoming(app).table
        await until(pilot, lambda: table.row_count == 2, "two matching rows")
        assert [row.arrival.message.subject for row in table.rows] == ["apple", "apricot"]
        await pilot.press("escape")  # back to the table, filter kept
        await pilot.press("escape")  # clears it
        await until(pilot, lambda: table.row_count == 3, "all rows again")
        stop_all(sender)
        await quit_app(pilot, app)


async def test_compose_suggests_the_addresses_sent_to_most_recent_first() -> None:
    with ThreadedPeer("inbox") as peer:
        orders, invoices = f"{peer.address}/orders", f"{peer.address}/invoices"
        app = app_with(compose_address=orders)
        async with app.run_test(size=(120, 40)) as pilot:
            await listening(pilot, app)
            compose = main(app).compose_pane
            address = field(app, "#address")
            await pilot.press("ctrl+s")
            await until(pilot, lambda: len(peer.received) == 1, "the order")
            address.value = invoices
            await pilot.press("ctrl+s")
            await until(pilot, lambda: len(peer.received) == 2, "the invoice")
            # A draft the bridge refused is not an address to suggest.
            address.value = f"{peer.address}:oops/orders"
            await pilot.press("ctrl+s")
            await until(pilot, lambda: address.has_class("-invalid"), "the refusal")
            await until(pilot, lambda: compose.recent[:2] == [invoices, orders], "the memory")
            assert f"{peer.address}:oops/orders" not in compose.recent

            # The user clears the field and starts typing: the latest match is offered...
            await pilot.press("2")
            address.value = ""
            await type_text(pilot, f"{peer.address}/")
            await until(pilot, lambda: invoices in screen_text(app), "the suggested invoices")
            # ...and a longer start picks the other one; right takes it.
            await type_text(pilot, "o")
            await until(pilot, lambda: orders in screen_text(app), "the suggested orders")
            assert address.value == f"{peer.address}/o"
            await pilot.press("right")
            assert address.value == orders
            await pilot.press("ctrl+s")
            await until(pilot, lambda: len(peer.received) == 3, "the second order")
            assert [r.address for r in peer.received] == [orders, invoices, orders]
            await quit_app(pilot, app)


async def test_subscribing_to_a_peer_shows_it_attached_and_receives() -> None:
    peer = started("peer")
    port = peer.subscribe("amqp://~127.0.0.1:0").port
    app = app_with()
    async with app.run_test(size=(100, 30)) as pilot:
        await listening(pilot, app)
        await pilot.press("1", "n")
        await type_text(pilot, f"amqp://127.0.0.1:{port}/news")
        await pilot.press("enter")
        panes = main(app).subscriptions
        source = f"amqp://127.0.0.1:{port}/news"

        def attached() -> bool:
            peer.work(0)
            return any(
                r.source == source and r.state is SubscriptionState.ATTACHED for r in panes.rows
            )

        await until(pilot, attached, "the subscription attached")
        # The peer sends back over the connection the app opened, by container name.
        peer.blocking = False
        peer.put(Message(address="amqp://tui/news", body="extra, extra"))
        await until(pilot, lambda: (peer.work(0), incoming(app).rows)[1], "the news")
        assert incoming(app).rows[0].arrival.message.body == "extra, extra"
        await quit_app(pilot, app)
        await until(pilot, lambda: (peer.work(0), main(app).bridge_stopped)[1], "stopped")
    stop_all(peer)


async def test_d_removes_a_source_the_peer_sees_it_detached_and_a_removed_listener_is_shut() -> (
    None
):
    feed = started("feed", blocking=False)
    port = feed.subscribe("amqp://~127.0.0.1:0").port
    closed: list[LinkClosed] = []

    def on_event(event: MessengerEvent) -> None:
        if isinstance(event, LinkClosed):
            closed.append(event)

    feed.on_event = on_event
    source = f"amqp://127.0.0.1:{port}/news"
    app = app_with(subscribe=(source,))
    async with app.run_test(size=(100, 30)) as pilot:
        address = await listening(pilot, app)
        panes = main(app).subscriptions
        await until(
            pilot,
            lambda: (
                (feed.work(0), [r.state for r in panes.rows])[1]
                == [SubscriptionState.LISTENING, SubscriptionState.ATTACHED]
            ),
            "the listener and the attached source",
        )
        # The listener is first, the source second: the cursor goes down to it.
        await pilot.press("1", "down", "d")
        assert [row.source for row in panes.rows] == [LOOPBACK]
        await until(pilot, lambda: (feed.work(0), closed)[1], "the feed to see the link detach")
        assert [(event.role, event.error) for event in closed] == [("sender", None)]

        # Now the listener: once removed, a peer can no longer connect to it.
        await pilot.press("d")
        assert panes.rows == []
        await until(pilot, lambda: "no sources" in screen_text(app), "the empty pane")
        late = started("late", outgoing_window=1, blocking=False)
        tracker = late.put(Message(address=f"{address}/q", body="anyone there?"))
        await sender_sees(pilot, late, tracker, ABORTED)
        assert incoming(app).rows == []
        # Nothing the bridge said since brought a removed source back.
        assert panes.rows == []
        stop_all(late)
        await quit_app(pilot, app)
        await until(pilot, lambda: (feed.work(0), main(app).bridge_stopped)[1], "stopped")
    stop_all(feed)


async def test_a_subscription_that_fails_shows_the_reason() -> None:
    closed = started()
    port = closed.subscribe("amqp://~127.0.0.1:0").port
    closed.stop()
    app = app_with(subscribe=(f"amqp://127.0.0.1:{port}/gone",), retry=False)
    async with app.run_test(size=(100, 30)) as pilot:
        panes = main(app).subscriptions

        def failed() -> list[object]:
            return [r for r in panes.rows if r.state is SubscriptionState.FAILED]

        await until(pilot, failed, "failure")
        row = next(r for r in panes.rows if r.state is SubscriptionState.FAILED)
        assert "refused" in (row.error or "").lower()
        assert app.is_running  # the app keeps going
        await quit_app(pilot, app)


async def test_help_lists_the_keys_with_their_ids() -> None:
    app = app_with()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f1")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "help")
        assert isinstance(app.screen, HelpScreen)
        markdown = app.screen.markdown
        for key_id in ("incoming.accept", "incoming.reject", "incoming.release", "app.send"):
            assert key_id in markdown
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, HelpScreen), "help closed")
        await quit_app(pilot, app)


async def run_command(pilot: Pilot, app: MsgrTuiApp, name: str) -> None:
    """ctrl+p, type the command's name, enter once the palette highlights it."""
    await pilot.press("ctrl+p")
    await until(pilot, lambda: isinstance(app.screen, CommandPalette), "the palette")
    await type_text(pilot, name)
    commands = app.screen.query_one(CommandList)

    def highlighted() -> str | None:
        if commands.highlighted is None or commands.option_count == 0:
            return None
        return commands.get_option_at_index(commands.highlighted).hit.text  # type: ignore[attr-defined]

    await until(pilot, lambda: highlighted() == name, f"{name!r} highlighted")
    await pilot.press("enter")
    await until(pilot, lambda: not isinstance(app.screen, CommandPalette), "the palette closed")


async def test_the_command_palette_accepts_focuses_and_sends_as_the_keys_do() -> None:
    with ThreadedPeer("palette-inbox") as peer:
        app = app_with(compose_address=f"{peer.address}/palette")
        async with app.run_test(size=(120, 40)) as pilot:
            address = await listening(pilot, app)
            sender = started("palette-sender", outgoing_window=5, blocking=False)
            trackers = [sender.put(Message(address=f"{address}/q", body=n)) for n in range(2)]
            await until(
                pilot, lambda: (sender.work(0), len(incoming(app).rows) == 2)[1], "two pending"
            )
            await run_command(pilot, app, "Accept all pending")
            for tracker in trackers:
                await sender_sees(pilot, sender, tracker, ACCEPTED)

            await run_command(pilot, app, "Focus compose")
            assert app.focused is field(app, "#address")
            await pilot.press("tab")
            await type_text(pilot, "from the palette")
            await run_command(pilot, app, "Send message")
            await until(pilot, lambda: peer.received, "the message at the peer")
            assert [r.subject for r in peer.received] == ["from the palette"]

            # Over a modal screen, the palette offers no command that acts on hidden panes.
            await pilot.press("f1")
            await until(pilot, lambda: isinstance(app.screen, HelpScreen), "help")
            names = [command.title for command in app.get_system_commands(app.screen)]
            assert "Send message" not in names and "Quit" in names
            stop_all(sender)
            await pilot.press("escape")
            await quit_app(pilot, app)


async def test_quit_stops_the_messenger_cleanly_and_the_peer_sees_a_clean_close() -> None:
    peer = started("observer")
    port = peer.subscribe("amqp://~127.0.0.1:0").port
    closes: list[object] = []
    peer.on_event = lambda event: closes.append(event)
    app = app_with(subscribe=(f"amqp://127.0.0.1:{port}/x",))
    async with app.run_test(size=(100, 30)) as pilot:
        panes = main(app).subscriptions
        await until(
            pilot,
            lambda: (
                peer.work(0),
                any(r.state is SubscriptionState.ATTACHED for r in panes.rows),
            )[1],
            "attached",
        )
        await quit_app(pilot, app)
        await until(pilot, lambda: (peer.work(0), main(app).bridge_stopped)[1], "bridge stopped")
    from msgr_tui.messenger.events import ConnectionClosed

    deadline = time.monotonic() + 10
    while not any(isinstance(e, ConnectionClosed) for e in closes):
        assert time.monotonic() < deadline
        peer.work(0.02)
    closed = [e for e in closes if isinstance(e, ConnectionClosed)]
    assert closed[0].error is None  # a clean AMQP close, not a dropped socket
    peer.stop()


def test_a_broken_theme_file_is_reported_by_name(tmp_path: Path) -> None:
    from msgr_tui.ui.themes import load_themes

    (tmp_path / "good.toml").write_text('name = "good"\nprimary = "#336699"\n')
    (tmp_path / "bad-colour.toml").write_text('name = "bad"\nprimary = "not-a-colour"\n')
    (tmp_path / "broken.toml").write_text("name = \n")
    (tmp_path / "typo.toml").write_text('name = "typo"\nprimary = "#000000"\nprimray = "#fff"\n')
    themes, failures = load_themes([tmp_path])
    assert [theme.name for theme in themes] == ["good"]
    reasons = {failure.path.name: failure.reason for failure in failures}
    assert set(reasons) == {"bad-colour.toml", "broken.toml", "typo.toml"}
    assert "colour" in reasons["bad-colour.toml"]
    assert "TOML" in reasons["broken.toml"]
    assert "primray" in reasons["typo.toml"]


def test_the_shipped_themes_all_load() -> None:
    from msgr_tui.locations import BUILTIN_THEMES
    from msgr_tui.ui.themes import load_themes

    themes, failures = load_themes([BUILTIN_THEMES])
    assert failures == []
    names = {theme.name for theme in themes}
    assert {"msgr-dark", "msgr-light", "msgr-16"} <= names
    assert any(not theme.dark for theme in themes)
    assert any(theme.ansi for theme in themes)


def test_listen_fallback_takes_the_next_port_and_says_so() -> None:
    import threading

    from msgr_tui.bridge import ListenerBound, MessengerBridge

    squatter = Messenger()
    squatter.start()
    taken = squatter.subscribe("amqp://~127.0.0.1:0").port
    events: list[object] = []
    bridge = MessengerBridge(
        Settings(listen=(f"amqp://~127.0.0.1:{taken}",), listen_fallback=True), events.extend
    )
    thread = threading.Thread(target=bridge.run)
    thread.start()
    deadline = time.monotonic() + 10
    while not any(isinstance(e, ListenerBound) for e in events):
        assert time.monotonic() < deadline
        threading.Event().wait(0.01)
    bridge.stop()
    thread.join(10)
    bound = next(e for e in events if isinstance(e, ListenerBound))
    assert bound.connect_address != f"amqp://127.0.0.1:{taken}"
    assert bound.note and f"127.0.0.1:{taken} was taken" in bound.note
    squatter.stop()


async def test_a_peer_that_goes_away_shows_a_retry_countdown_and_messages_arrive_later() -> None:
    probe = started()
    port = probe.subscribe("amqp://~127.0.0.1:0").port
    probe.stop()
    app = app_with(compose_address=f"amqp://127.0.0.1:{port}/later", retry=True)
    async with app.run_test(size=(120, 30)) as pilot:
        await listening(pilot, app)
        await pilot.press("ctrl+s")
        bar = main(app).status_bar
        await until(pilot, lambda: bar.retries, "a retry countdown")
        assert f"127.0.0.1:{port}" in screen_text(app)
        assert outgoing(app).rows[0].status is PENDING  # waiting, not lost
        with ThreadedPeer("late", listen=f"amqp://~127.0.0.1:{port}") as peer:
            await until(pilot, lambda: outgoing(app).rows[0].status is ACCEPTED, "delivered")
            await until(pilot, lambda: not bar.retries, "countdown cleared")
            await until(pilot, lambda: len(peer.received) == 1, "the peer's record")
            assert peer.received[0].address == f"amqp://127.0.0.1:{port}/later"
        await quit_app(pilot, app)


def painted(svg: str) -> set[str]:
    """The colours a screenshot paints with (text and backgrounds)."""
    return {colour.lower() for colour in re.findall(r"#[0-9a-fA-F]{6}\b", svg)}


def sixteen_colours() -> set[str]:
    """What the screenshot may show for a theme of the terminal's 16 colours: those
    colours and the default ones, as the exporter draws them, and dim text, which it
    draws as a blend of two of them."""
    theme = SVG_EXPORT_THEME
    base = [theme.foreground_color, theme.background_color, *theme.ansi_colors._colors]
    triplets = [ColorTriplet(*colour) for colour in base]
    blends = {blend_rgb(a, b, 0.4).hex for a in triplets for b in triplets}
    # The exporter's own window frame (its background and the three dots).
    frame = {"#ff5f57", "#febc2e", "#28c840"}
    return {t.hex for t in triplets} | blends | frame


@pytest.mark.parametrize("theme", ["msgr-dark", "msgr-light", "msgr-16"])
async def test_every_shipped_theme_paints_the_main_screen_and_a_modal_in_its_colours(
    theme: str,
) -> None:
    from msgr_tui.locations import BUILTIN_THEMES
    from msgr_tui.ui.themes import load_theme_file

    colours = load_theme_file(BUILTIN_THEMES / f"{theme}.toml")
    app = MsgrTuiApp(Settings(listen=(LOOPBACK,), theme=theme), start_messenger=False)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = main(app)
        await until(pilot, lambda: screen.panes_ready and screen.incoming.table.has_focus, "panes")
        await pilot.pause()  # the panes, mounted after the first frame, painted with the focus
        on_main = painted(app.export_screenshot())
        await pilot.press("f1")  # a modal screen and its widgets too
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "help")
        await pilot.pause()
        on_help = painted(app.export_screenshot())
        assert "Help" in screen_text(app)
        if colours.ansi:
            # Nothing but the terminal's own colours, on any screen.
            assert on_main | on_help <= sixteen_colours()
        else:
            # The screen's background, the focused pane's border and the help panel
            # are the theme file's colours.
            assert colours.background is not None and colours.background.lower() in on_main
            assert colours.accent is not None and colours.accent.lower() in on_main
            assert colours.surface is not None and colours.surface.lower() in on_help
        await pilot.press("escape")
        await quit_app(pilot, app)


def test_an_ansi_theme_without_its_variables_is_refused(tmp_path: Path) -> None:
    from msgr_tui.ui.themes import load_themes

    (tmp_path / "ansi.toml").write_text('name = "a"\nansi = true\nprimary = "ansi_blue"\n')
    themes, failures = load_themes([tmp_path])
    assert themes == []
    assert "ansi-background" in failures[0].reason


async def test_keys_are_remapped_by_binding_id_and_the_help_shows_the_new_keys() -> None:
    notes = Notifications()
    app = MsgrTuiApp(
        Settings(listen=(LOOPBACK,), messenger_name="tui"),
        keymap={"incoming.accept": "y", "app.send": "f5", "no.such.binding": "z"},
    )
    async with app.run_test(size=(100, 30), message_hook=notes.hook) as pilot:
        address = await listening(pilot, app)
        sender = started("remap", outgoing_window=2, blocking=False)
        first = sender.put(Message(address=f"{address}/q", body="old key"))
        await until(pilot, lambda: (sender.work(0), incoming(app).rows)[1], "the message")
        # "a" no longer accepts: had it queued an Accept, the reject after it (the
        # commands run in order) would find the message decided, and the sender
        # would see ACCEPTED.
        await pilot.press("3", "a", "r")
        await sender_sees(pilot, sender, first, REJECTED)
        second = sender.put(Message(address=f"{address}/q", body="new key"))
        await until(pilot, lambda: (sender.work(0), len(incoming(app).rows) == 2)[1], "another")
        await pilot.press("end", "y")
        await sender_sees(pilot, sender, second, ACCEPTED)
        # The main screen's keys too: f5 sends Compose (to the app's own listener).
        await pilot.press("f5")
        await until(pilot, lambda: len(incoming(app).rows) == 3, "the message sent with f5")
        await pilot.press("f1")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "help")
        markdown = app.screen.markdown  # type: ignore[attr-defined]
        assert "| `y` | Accept | `incoming.accept` |" in markdown
        assert "| `f5` | Send | `app.send` |" in markdown
        assert notes.saying("no.such.binding")
        await pilot.press("escape")
        await quit_app(pilot, app)
        stop_all(sender)


KILLABLE_FEED = """
import sys, time
from msgr_tui.messenger import Messenger, Message, MessengerException
m = Messenger("feed")
m.start()
m.subscribe(sys.argv[1])
m.blocking = False
print("ready", flush=True)
n = 0
while True:
    m.work(0.05)
    try:  # "tui" is reachable only once the app has connected
        m.put(Message(address="amqp://tui/news", body=n))
        n += 1
    except MessengerException:
        pass
"""


async def test_the_app_keeps_running_when_a_peer_is_killed_and_quits_cleanly() -> None:
    import subprocess
    import sys

    probe = started()
    port = probe.subscribe("amqp://~127.0.0.1:0").port
    probe.stop()
    feed = subprocess.Popen(
        [sys.executable, "-c", KILLABLE_FEED, f"amqp://~127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert feed.stdout is not None and feed.stdout.readline().strip() == "ready"
        app = app_with(subscribe=(f"amqp://127.0.0.1:{port}/news",))
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: len(incoming(app).rows) >= 5, "news from the feed")
            feed.kill()
            feed.wait(10)
            panes = main(app).subscriptions
            noticed = (SubscriptionState.RETRYING, SubscriptionState.FAILED)
            await until(
                pilot,
                lambda: any(r.state in noticed for r in panes.rows),
                "the subscription noticing",
            )
            assert app.is_running
            await pilot.press("3", "down", "enter")  # still usable
            await until(pilot, lambda: isinstance(app.screen, DetailScreen), "detail")
            await pilot.press("escape")
            await quit_app(pilot, app)
            await until(pilot, lambda: main(app).bridge_stopped, "a clean stop")
    finally:
        feed.kill()
        feed.wait(10)


async def test_quit_does_not_hang_on_a_peer_that_never_speaks_amqp() -> None:
    import socket

    mute = socket.socket()
    mute.bind(("127.0.0.1", 0))
    mute.listen()
    port = mute.getsockname()[1]
    try:
        app = app_with(subscribe=(f"amqp://127.0.0.1:{port}/silence",))
        async with app.run_test(size=(100, 30)) as pilot:
            await listening(pilot, app)
            conn, _ = mute.accept()  # TCP is up; AMQP never answers
            await quit_app(pilot, app)
            await until(pilot, lambda: main(app).bridge_stopped, "the stop", timeout=20)
            conn.close()
    finally:
        mute.close()
