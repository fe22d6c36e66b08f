"""Hostile and odd messages on screen, and Compose refusing bad drafts: driven like a user.

A real app (listening on loopback) receives messages from a real Messenger
peer: binary, map, list, described, null and 16 MiB bodies, missing
properties, bidi overrides, zero-width and combining characters, emoji, CJK,
and terminal escape sequences in every field. What reaches the terminal is
read from a real screenshot: escapes must be shown (``\\x1b``), never written.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable
from typing import Any

from proton import Described, symbol
from textual.pilot import Pilot

from msgr_tui.formatting import TEXT_LIMIT
from msgr_tui.messenger import Message, Messenger
from msgr_tui.ui.app import MsgrTuiApp
from msgr_tui.ui.screens.detail import DetailScreen
from msgr_tui.ui.widgets.incoming import IncomingPane
from msgr_tui.ui.widgets.outgoing import OutgoingPane
from tests.helpers import ThreadedPeer, started, stop_all
from tests.ui.story import app_with, listening, main, quit_app
from tests.ui.story import until as wait_until

ESC = "\x1b[2J\x1b]0;pwned\x07"  # clear the screen, then set the window title
ODD = "\u202eevil\u202c \u200bzero\u200d width e\u0301\u0301 😀👨\u200d👩\u200d👧 漢字テスト"
HUGE = 16 * 1024 * 1024


async def until(
    pilot: Pilot, condition: Callable[[], object], what: str, timeout: float = 30
) -> None:
    """As everywhere, with a longer deadline: 16 MiB bodies cross the wire here."""
    await wait_until(pilot, condition, what, timeout)


def new_app() -> MsgrTuiApp:
    return app_with()


def screen(app: MsgrTuiApp) -> tuple[str, str]:
    """(raw SVG, the text on screen) from a real screenshot."""
    svg = app.export_screenshot()
    lines = re.findall(r"<text[^>]*>(.*?)</text>", svg, flags=re.S)
    return svg, html.unescape("".join(lines)).replace("\xa0", " ")


def assert_nothing_executable(app: MsgrTuiApp) -> str:
    """No raw control, escape or bidi/format character reaches the terminal."""
    svg, text = screen(app)
    for raw in ("\x1b", "\x9b", "\x07", "\u202e", "\u200b", "\u200d"):
        assert raw not in svg, f"raw {raw!r} on screen"
    hidden = [c for c in text if unicodedata.category(c) in {"Cc", "Cf"} and c != "\n"]
    assert not hidden, f"hidden characters on screen: {hidden!r}"
    return text


def hostile_messages(address: str) -> dict[str, Message]:
    """Messages keyed by subject; each one a kind of body or field a peer may send."""

    def message(subject: str | None, body: Any = None, **fields: Any) -> Message:
        msg = Message(address=f"{address}/safety", body=body, subject=subject)
        for name, value in fields.items():
            setattr(msg, name, value)
        return msg

    return {
        "binary": message("binary", bytes(range(256))),
        "map": message("map", {"k": "v", symbol("sym"): [1, 2], f"key{ESC}": f"value{ESC}"}),
        "list": message("list", [1, "two", None, b"\x00\xff", ESC]),
        "described": message("described", Described(symbol("x-desc"), f"value{ESC}")),
        "null": message("null", None),
        "huge": message("huge", "0123456789abcdef" * (HUGE // 16)),
        # No subject, no body, no properties at all: only the address.
        None: message(None),
        ODD: message(ODD, ODD, properties={ODD: ODD}),
        f"subject{ESC}": message(
            f"subject{ESC}",
            f"body{ESC}\nsecond line\r\x9b31mred",
            properties={f"prop{ESC}": f"val{ESC}", "n": 7},
            reply_to=f"amqp://x/{ESC}",
            correlation_id=f"corr{ESC}",
            content_type=f"text/{ESC}",
        ),
        "esc-address": message("esc-address", "the address has escapes"),
    }


DETAIL_SHOWS = {
    "binary": ["binary, 256 bytes", "00000000  00 01 02 03 04 05 06 07"],
    # Bodies shown as JSON escape ESC the JSON way: visible as \u001b.
    "map": ['"k": "v"', '"sym": [', '"key\\u001b[2J\\u001b]0;pwned\\u0007": "value'],
    "list": ['"two"', "null", '"$binary_hex": "00ff"', '"\\u001b[2J'],
    "described": ['"$described": "x-desc"', "value\\u001b[2J\\u001b]0;pwned\\u0007"],
    "null": ["(no body)"],
    "huge": [f"string, {HUGE} characters", "0123456789abcdef" * 4],
    None: ["(no body)", "Application properties: none"],
    ODD: ["\\u202eevil\\u202c", "漢字テスト", "😀"],
    f"subject{ESC}": ["body\\x1b[2J\\x1b]0;pwned\\x07", "second line", "\\x9b31mred", "corr\\x1b"],
    "esc-address": ["amqp://evil/\\x1b[2J"],
}


async def test_hostile_and_odd_messages_are_shown_safely_and_the_app_keeps_running() -> None:
    app = new_app()
    async with app.run_test(size=(140, 45)) as pilot:
        address = await listening(pilot, app)
        sender = started("hostile", blocking=False)
        # The Messenger refuses control characters in addresses it sends to, so the
        # escapes go into the address written in the message, as any peer could.
        sender.rewrite(f"{address}/esc-address", f"amqp://evil/{ESC}\u202e")
        messages = hostile_messages(address)
        messages["esc-address"].address = f"{address}/esc-address"
        for message in messages.values():
            sender.put(message)
        incoming = main(app).query_one(IncomingPane)
        await until(
            pilot,
            lambda: (sender.work(0), len(incoming.rows) == len(messages))[1],
            f"{len(messages)} messages in Incoming",
        )
        # The data is intact; only its display is escaped.
        by_subject = {row.arrival.message.subject: row.arrival.message for row in incoming.rows}
        assert set(by_subject) == set(messages)
        assert by_subject["binary"].body == bytes(range(256))
        assert by_subject["huge"].body == messages["huge"].body
        assert by_subject[f"subject{ESC}"].properties == {f"prop{ESC}": f"val{ESC}", "n": 7}
        assert by_subject["esc-address"].address == f"amqp://evil/{ESC}\u202e"
        assert isinstance(by_subject["described"].body, Described)

        text = assert_nothing_executable(app)
        # Shown, not executed (columns are narrow: addresses are cut from the left).
        assert "subject\\x1" in text
        assert "body\\x1b[2J\\x1b]0" in text
        assert "\\x07\\u202e" in text  # the end of the escaped address
        assert "\\u202eevil" in text

        # Every message opens in the detail view, whatever its body.
        await pilot.press("3", "home")
        opened: set[str | None] = set()
        for index in range(len(messages)):
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, DetailScreen), "the detail view")
            detail = app.screen
            assert isinstance(detail, DetailScreen)
            subject = detail.arrival.message.subject
            shown = assert_nothing_executable(app)
            for expected in DETAIL_SHOWS[subject]:
                assert expected in shown, f"{expected!r} not in the detail of {subject!r}"
            if subject == "huge":
                # The body section holds the first part and says what is left out
                # (below the screen: it follows 256 Ki characters).
                body = str(detail.query(".detail-section")[1].render())
                assert body.endswith(f"… {HUGE - TEXT_LIMIT} more characters not shown")
            opened.add(subject)
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, DetailScreen), "detail closed")
            if index < len(messages) - 1:
                await pilot.press("down")
        assert opened == set(messages)
        assert app.is_running
        stop_all(sender)
        await quit_app(pilot, app)
        await until(pilot, lambda: main(app).bridge_stopped, "a clean Messenger stop")


# ------------------------------------------------------------------ Compose


async def refused(pilot: Pilot, app: MsgrTuiApp, field_id: str, words: str) -> None:
    """ctrl+s, then the inline error names the problem and marks the field."""
    await pilot.press("ctrl+s")
    error = main(app).query_one("#compose-error")
    await until(pilot, lambda: error.display, f"the inline error for {field_id}")
    shown = str(error.render())
    assert words in shown, shown
    assert "\x1b" not in shown
    assert main(app).query_one(f"#{field_id}").has_class("-invalid")
    for other in ("address", "body", "properties"):
        if other != field_id:
            assert not main(app).query_one(f"#{other}").has_class("-invalid")
    # The error is the bridge's answer to that draft: it was never put.
    assert main(app).outgoing.rows == []


BAD_ADDRESSES = [
    ("amqp://127.0.0.1:PORT:oops/q", "too many ':'"),
    ("amqp://[::1/q", "missing ']'"),
    ("bogus://127.0.0.1:PORT/q", "unsupported scheme"),
    ("~127.0.0.1:PORT/q", "'~' means listen"),
    ("amqp://127.0.0.1:99999/q", "out of range"),
    ("amqp://127.0.0.1:PORT/q\x1b[2J", "control characters"),
    ("  ", "an address is required"),
]
BAD_PROPERTIES = [
    ("tenant acme", "expected key=value"),
    ("=acme", "key before '=' is empty"),
    ("tenant=a\ntenant=b", "appears twice"),
    ("n=99999999999999999999", "out of range for an AMQP long"),
]


async def test_compose_refuses_bad_drafts_inline_and_sends_nothing() -> None:
    with ThreadedPeer("inbox") as peer:
        app = new_app()
        async with app.run_test(size=(120, 45)) as pilot:
            await listening(pilot, app)
            good = f"amqp://127.0.0.1:{peer.port}/inbox"
            address = main(app).query_one("#address")
            for text, words in BAD_ADDRESSES:
                address.value = text.replace("PORT", str(peer.port))
                await refused(pilot, app, "address", words)
            address.value = good
            body_mode = main(app).query_one("#body-mode")
            body = main(app).query_one("#body")
            body_mode.value = "json"
            for text, words in [('{"a": }', "invalid JSON at line 1"), ("[" * 100_000, "deep")]:
                body.text = text
                await refused(pilot, app, "body", words)
            body_mode.value = "text"
            body.text = "the one that is sent"
            properties = main(app).query_one("#properties")
            for text, words in BAD_PROPERTIES:
                properties.text = text
                await refused(pilot, app, "properties", words)
            # Fixed, it goes, and the error is gone. Commands run in order on one
            # link: had any refused draft been sent, it would arrive first.
            properties.text = "tenant=acme\nn=5"
            await pilot.press("ctrl+s")
            await until(pilot, lambda: len(peer.received) == 1, "the good message at the peer")
            assert not main(app).query_one("#compose-error").display
            received = peer.received[0]
            assert (received.body, received.properties) == (
                "the one that is sent",
                {"tenant": "acme", "n": 5},
            )
            assert app.is_running
            await quit_app(pilot, app)
        assert len(peer.received) == 1


async def test_a_16_mib_text_body_from_compose_arrives_intact() -> None:
    body = ("line of text, été 漢字 😀 " * 64 + "\n") * (HUGE // 2048)
    assert len(body.encode()) >= HUGE
    with ThreadedPeer("big-inbox") as peer:
        app = new_app()
        async with app.run_test(size=(120, 45)) as pilot:
            await listening(pilot, app)
            main(app).query_one("#address").value = f"amqp://127.0.0.1:{peer.port}/big"
            main(app).query_one("#subject").value = "16 MiB"
            main(app).query_one("#body").text = body
            await pilot.press("ctrl+s")
            await until(pilot, lambda: len(peer.received) == 1, "the 16 MiB message", 60)
            outgoing = main(app).query_one(OutgoingPane)
            await until(pilot, lambda: outgoing.rows != [], "its tracker row")
            assert app.is_running
            await quit_app(pilot, app)
    received = peer.received[0]
    assert received.subject == "16 MiB"
    assert received.body == body


# ------------------------------------------------------- markup from peers and users


async def test_markup_in_a_property_does_not_crash_the_detail_view() -> None:
    app = new_app()
    async with app.run_test(size=(120, 40)) as pilot:
        address = await listening(pilot, app)
        sender: Messenger = started("markup", blocking=False)
        try:
            message = Message(address=f"{address}/m", subject="[bold]loud[/bold]", body="b")
            message.properties = {"note": "[/]", "link": "[link=https://example.invalid]x[/link]"}
            sender.put(message)
            incoming = main(app).query_one(IncomingPane)
            await until(pilot, lambda: (sender.work(0), incoming.rows)[1], "the message")
            await pilot.press("3", "enter")
            await until(
                pilot,
                lambda: not app.is_running or "[/]" in screen(app)[1],
                "the detail view showing the property",
            )
            assert app.is_running
            _, text = screen(app)
            assert "[/]" in text and "[bold]loud[/bold]" in text
            await pilot.press("escape")
            await quit_app(pilot, app)
        finally:
            stop_all(sender)


async def test_markup_in_a_bad_address_does_not_crash_compose() -> None:
    app = new_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await listening(pilot, app)
        main(app).query_one("#address").value = "amqp://127.0.0.1:[/]/q"
        await pilot.press("ctrl+s")
        error = main(app).query_one("#compose-error")
        await until(pilot, lambda: error.display or not app.is_running, "the inline error")
        assert app.is_running
        assert "[/]" in str(error.render())
        await quit_app(pilot, app)
