"""The TUI driven like a user would: keys pressed, real peers on loopback."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from msgr_tui.messenger import Message, Messenger
from msgr_tui.messenger.status import ACCEPTED, PENDING, REJECTED, RELEASED, Status
from msgr_tui.settings import Settings
from msgr_tui.ui.app import MsgrTuiApp
from msgr_tui.ui.screens.detail import DetailScreen
from msgr_tui.ui.screens.help import HelpScreen
from msgr_tui.ui.widgets.compose_pane import ComposePane
from msgr_tui.ui.widgets.incoming import IncomingPane
from msgr_tui.ui.widgets.outgoing import OutgoingPane
from msgr_tui.ui.widgets.subscriptions import SubscriptionsPane
from tests.helpers import ThreadedPeer, started

LOOPBACK = "amqp://~127.0.0.1:0"


async def until(
    pilot: Pilot, condition: Callable[[], bool], what: str, timeout: float = 15
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


def app_with(**changes: object) -> MsgrTuiApp:
    settings = Settings(listen=(LOOPBACK,), messenger_name="tui", **changes)  # type: ignore[arg-type]
    return MsgrTuiApp(settings)


async def listening(pilot: Pilot, app: MsgrTuiApp) -> str:
    """Wait until the app's listener is bound; return the address peers send to."""
    panes = app.query_one(SubscriptionsPane)
    await until(pilot, lambda: any(r.connect_address for r in panes.rows), "the listener")
    return next(r.connect_address for r in panes.rows if r.connect_address)


async def type_text(pilot: Pilot, text: str) -> None:
    for char in text:
        await pilot.press(char if char != " " else "space")


def incoming(app: MsgrTuiApp) -> IncomingPane:
    return app.query_one(IncomingPane)


def outgoing(app: MsgrTuiApp) -> OutgoingPane:
    return app.query_one(OutgoingPane)


async def test_a_new_user_sends_to_themselves_accepts_and_sees_accepted() -> None:
    app = app_with()
    async with app.run_test(size=(100, 30)) as pilot:
        address = await listening(pilot, app)
        # Compose was pre-filled with the listener's address.
        assert app.query_one("#address").value == address
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
        await pilot.press("ctrl+q")
        await until(pilot, lambda: app.bridge_stopped, "a clean Messenger stop")


@pytest.mark.parametrize(
    ("key", "status"), [("a", ACCEPTED), ("r", REJECTED), ("l", RELEASED)], ids=str
)
async def test_outcome_keys_reach_the_sender_as_the_right_status(key: str, status: Status) -> None:
    app = app_with()
    async with app.run_test(size=(100, 30)) as pilot:
        address = await listening(pilot, app)
        sender = started("sender", outgoing_window=5, blocking=False)
        tracker = sender.put(Message(address=f"{address}/orders", body="decide me", subject="s1"))

        async def sender_sees(expected: Status) -> None:
            deadline = time.monotonic() + 15
            while sender.status(tracker) is not expected:
                assert time.monotonic() < deadline, f"sender status {sender.status(tracker)}"
                sender.work(0)
                await pilot.pause(0.02)

        await until(pilot, lambda: (sender.work(0), incoming(app).rows)[1], "the message")
        await pilot.press("3", key)
        await sender_sees(status)
        assert incoming(app).rows[0].state is status
        sender.blocking = False
        sender.stop()
        await pilot.press("ctrl+q")


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
        assert "inspect me" in _screen_text(app)
        assert "corr-7" in _screen_text(app)
        assert "tenant" in _screen_text(app) and "acme" in _screen_text(app)
        assert '"order": 42' in _screen_text(app)  # JSON body pretty-printed
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, DetailScreen), "detail closed")
        sender.stop()
        await pilot.press("ctrl+q")


def _screen_text(app: MsgrTuiApp) -> str:
    """What is on the screen right now, as plain text (read from a real screenshot)."""
    svg = app.export_screenshot()
    lines = re.findall(r"<text[^>]*>(.*?)</text>", svg, flags=re.S)
    return html.unescape("".join(lines)).replace("\xa0", " ")


async def test_a_bad_address_shows_an_inline_error_and_sends_nothing() -> None:
    with ThreadedPeer("watcher") as peer:
        app = app_with(compose_address=f"amqp://127.0.0.1:{peer.port}:oops/q")
        async with app.run_test(size=(100, 30)) as pilot:
            await listening(pilot, app)
            await pilot.press("ctrl+s")
            error = app.query_one("#compose-error")
            await until(pilot, lambda: error.display, "the inline error")
            assert "address" in str(error.render())
            assert app.query_one("#address").has_class("-invalid")
            await pilot.pause(0.2)
            assert outgoing(app).rows == []
            assert peer.received == []
            await pilot.press("ctrl+q")


async def test_invalid_json_body_is_refused_with_its_position() -> None:
    app = app_with()
    async with app.run_test(size=(100, 30)) as pilot:
        await listening(pilot, app)
        compose = app.query_one(ComposePane)
        app.query_one("#body-mode").value = "json"
        app.query_one("#body").text = '{"unterminated": '
        await pilot.press("ctrl+s")
        error = app.query_one("#compose-error")
        await until(pilot, lambda: error.display, "the inline error")
        assert "invalid JSON at line 1" in str(error.render())
        assert compose.query_one("#body").has_class("-invalid")
        assert outgoing(app).rows == []
        await pilot.press("ctrl+q")


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
        sender.stop()
        await pilot.press("ctrl+q")


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
        sender.stop()
        await pilot.press("ctrl+q")


async def test_subscribing_to_a_peer_shows_it_attached_and_receives() -> None:
    peer = started("peer")
    port = peer.subscribe("amqp://~127.0.0.1:0").port
    app = app_with()
    async with app.run_test(size=(100, 30)) as pilot:
        await listening(pilot, app)
        await pilot.press("1", "n")
        await type_text(pilot, f"amqp://127.0.0.1:{port}/news")
        await pilot.press("enter")
        panes = app.query_one(SubscriptionsPane)
        source = f"amqp://127.0.0.1:{port}/news"

        def attached() -> bool:
            peer.work(0)
            return any(r.source == source and r.state == "attached" for r in panes.rows)

        await until(pilot, attached, "the subscription attached")
        # The peer sends back over the connection the app opened, by container name.
        peer.blocking = False
        peer.put(Message(address="amqp://tui/news", body="extra, extra"))
        await until(pilot, lambda: (peer.work(0), incoming(app).rows)[1], "the news")
        assert incoming(app).rows[0].arrival.message.body == "extra, extra"
        await pilot.press("ctrl+q")
        await until(pilot, lambda: (peer.work(0), app.bridge_stopped)[1], "stopped")
    peer.blocking = False
    peer.stop()


async def test_a_subscription_that_fails_shows_the_reason() -> None:
    closed = started()
    port = closed.subscribe("amqp://~127.0.0.1:0").port
    closed.stop()
    app = app_with(subscribe=(f"amqp://127.0.0.1:{port}/gone",), retry=False)
    async with app.run_test(size=(100, 30)) as pilot:
        panes = app.query_one(SubscriptionsPane)
        await until(pilot, lambda: any(r.state == "failed" for r in panes.rows), "failure")
        row = next(r for r in panes.rows if r.state == "failed")
        assert "refused" in (row.error or "").lower()
        assert app.is_running  # the app keeps going
        await pilot.press("ctrl+q")


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
        await pilot.press("ctrl+q")


async def test_quit_stops_the_messenger_cleanly_and_the_peer_sees_a_clean_close() -> None:
    peer = started("observer")
    port = peer.subscribe("amqp://~127.0.0.1:0").port
    closes: list[object] = []
    peer.on_event = lambda event: closes.append(event)
    app = app_with(subscribe=(f"amqp://127.0.0.1:{port}/x",))
    async with app.run_test(size=(100, 30)) as pilot:
        panes = app.query_one(SubscriptionsPane)
        await until(
            pilot,
            lambda: (peer.work(0), any(r.state == "attached" for r in panes.rows))[1],
            "attached",
        )
        await pilot.press("ctrl+q")
        await until(pilot, lambda: (peer.work(0), app.bridge_stopped)[1], "bridge stopped")
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
        bar = app.status_bar
        await until(pilot, lambda: bar.retries, "a retry countdown")
        assert f"127.0.0.1:{port}" in _screen_text(app)
        assert outgoing(app).rows[0].status is PENDING  # waiting, not lost
        with ThreadedPeer("late", listen=f"amqp://~127.0.0.1:{port}") as peer:
            await until(pilot, lambda: outgoing(app).rows[0].status is ACCEPTED, "delivered")
            await until(pilot, lambda: not bar.retries, "countdown cleared")
            await until(pilot, lambda: len(peer.received) == 1, "the peer's record")
            assert peer.received[0].address == f"amqp://127.0.0.1:{port}/later"
        await pilot.press("ctrl+q")


@pytest.mark.parametrize("theme", ["msgr-dark", "msgr-light", "msgr-16"])
async def test_every_shipped_theme_paints_the_whole_app(theme: str) -> None:
    app = MsgrTuiApp(Settings(listen=(LOOPBACK,), theme=theme), start_messenger=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f1")  # a modal screen and its widgets too
        await pilot.pause()
        assert app.theme == theme
        assert app.is_running
        assert "Help" in _screen_text(app)
        await pilot.press("escape", "ctrl+q")


def test_an_ansi_theme_without_its_variables_is_refused(tmp_path: Path) -> None:
    from msgr_tui.ui.themes import load_themes

    (tmp_path / "ansi.toml").write_text('name = "a"\nansi = true\nprimary = "ansi_blue"\n')
    themes, failures = load_themes([tmp_path])
    assert themes == []
    assert "ansi-background" in failures[0].reason


async def test_keys_are_remapped_by_binding_id_and_the_help_shows_the_new_keys() -> None:
    app = MsgrTuiApp(
        Settings(listen=(LOOPBACK,), messenger_name="tui"),
        keymap={"incoming.accept": "y", "no.such.binding": "z"},
    )
    async with app.run_test(size=(100, 30)) as pilot:
        address = await listening(pilot, app)
        sender = started("remap", outgoing_window=1, blocking=False)
        tracker = sender.put(Message(address=f"{address}/q", body="remapped"))
        await until(pilot, lambda: (sender.work(0), incoming(app).rows)[1], "the message")
        await pilot.press("3", "a")  # the old key does nothing now
        await pilot.pause(0.2)
        assert incoming(app).rows[0].state is PENDING
        await pilot.press("y")
        await until(pilot, lambda: (sender.work(0), sender.status(tracker))[1] is ACCEPTED, "y")
        await pilot.press("f1")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "help")
        assert "| `y` | Accept | `incoming.accept` |" in app.screen.markdown
        assert any("no.such.binding" in str(n.message) for n in app._notifications)
        await pilot.press("escape", "ctrl+q")
        sender.stop()


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
            panes = app.subscriptions
            await until(
                pilot,
                lambda: any(r.state in ("retrying", "failed") for r in panes.rows),
                "the subscription noticing",
            )
            assert app.is_running
            await pilot.press("3", "down", "enter")  # still usable
            await until(pilot, lambda: isinstance(app.screen, DetailScreen), "detail")
            await pilot.press("escape", "ctrl+q")
            await until(pilot, lambda: app.bridge_stopped, "a clean stop")
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
            await pilot.press("ctrl+q")
            await until(pilot, lambda: app.bridge_stopped, "the stop", timeout=20)
            conn.close()
    finally:
        mute.close()
