"""Make the README's screenshots from the real app with real messages.

The app runs headless (Textual's test driver) on its embedded default, a
listener on loopback; a peer Messenger in this process sends it real messages
over AMQP, keys are pressed as a user would, and each view is saved as SVG in
this directory. Nothing is faked: what you see is what the app showed.

    python screenshots/make_screenshots.py
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from textual.pilot import Pilot  # noqa: E402

from msgr_tui.messenger import Message, Messenger  # noqa: E402
from msgr_tui.settings import Settings  # noqa: E402
from msgr_tui.ui.app import MsgrTuiApp  # noqa: E402

SIZE = (110, 32)


async def until(pilot: Pilot, condition: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("timed out while preparing a screenshot")
        await pilot.pause(0.02)


def sample_messages(address: str) -> list[Message]:
    messages = []
    orders = [(1042, 99.5), (1043, 12.0), (1044, 310.25)]
    for number, total in orders:
        message = Message(address=f"{address}/orders", subject="order.created")
        message.body = f'{{"order": {number}, "total": {total}, "currency": "EUR"}}'
        message.content_type = "application/json"
        message.properties = {"tenant": "acme", "region": "eu-west"}
        message.correlation_id = f"req-{number}"
        messages.append(message)
    messages.append(Message(address=f"{address}/ops", subject="ping", body="ping from ops"))
    messages.append(
        Message(address=f"{address}/audit", subject="binary", body=b"\x00\x01PK\x03\x04")
    )
    warning = Message(address=f"{address}/alerts", subject="disk 91% on db-2")
    warning.body = "disk usage on db-2 is above 90%"
    warning.priority = 9
    messages.append(warning)
    return messages


async def shoot(
    name: str,
    prepare: Callable[[Pilot, Messenger, str], Awaitable[None]],
    theme: str = "msgr-dark",
) -> None:
    settings = Settings(
        listen=("amqp://~127.0.0.1:0",), messenger_name="msgr-tui-demo", theme=theme
    )
    app = MsgrTuiApp(settings)
    peer = Messenger("demo-peer")
    peer.blocking = False
    peer.outgoing_window = 100
    peer.start()
    async with app.run_test(size=SIZE) as pilot:
        rows = app.subscriptions.rows
        await until(pilot, lambda: any(row.connect_address for row in rows))
        address = next(row.connect_address for row in rows if row.connect_address)
        await prepare(pilot, peer, address)
        await pilot.pause(0.3)
        app.save_screenshot(str(HERE / f"{name}.svg"))
        await pilot.press("ctrl+q")
        await until(pilot, lambda: app.bridge_stopped)
    peer.stop()
    print(f"wrote screenshots/{name}.svg")


async def with_traffic(pilot: Pilot, peer: Messenger, address: str) -> None:
    app = pilot.app
    for message in sample_messages(address):
        peer.put(message)
    incoming = app.incoming  # type: ignore[attr-defined]
    await until(pilot, lambda: (peer.work(0), len(incoming.rows) == 6)[1])
    # The user sends two messages from Compose and decides the fate of three.
    compose = app.query_one("#subject")
    compose.value = "hello from compose"  # type: ignore[attr-defined]
    await pilot.press("ctrl+s")
    compose.value = "second"  # type: ignore[attr-defined]
    await pilot.press("ctrl+s")
    await until(pilot, lambda: len(incoming.rows) == 8)
    await pilot.press("3", "home", "a", "down", "a", "down", "r", "down", "l", "end", "r")
    outgoing = app.outgoing  # type: ignore[attr-defined]
    # The last compose message was rejected by the user: its tracker turns REJECTED.
    await until(pilot, lambda: outgoing.rows[-1].status == "REJECTED")
    await pilot.press("up", "up")


async def main_view(pilot: Pilot, peer: Messenger, address: str) -> None:
    await with_traffic(pilot, peer, address)


async def detail_view(pilot: Pilot, peer: Messenger, address: str) -> None:
    await with_traffic(pilot, peer, address)
    await pilot.press("home", "enter")


async def help_view(pilot: Pilot, peer: Messenger, address: str) -> None:
    await pilot.press("f1")


async def compose_error(pilot: Pilot, peer: Messenger, address: str) -> None:
    app = pilot.app
    app.query_one("#address").value = "amqp://broker:56 72/orders"  # type: ignore[attr-defined]
    await pilot.press("ctrl+s")


async def profiles_view(pilot: Pilot, peer: Messenger, address: str) -> None:
    await pilot.press("f2")


async def filtered(pilot: Pilot, peer: Messenger, address: str) -> None:
    await with_traffic(pilot, peer, address)
    await pilot.press("3", "slash", "o", "r", "d", "e", "r", "enter")


SHOTS: list[tuple[str, Callable[[Pilot, Messenger, str], Awaitable[None]], str]] = [
    ("main", main_view, "msgr-dark"),
    ("detail", detail_view, "msgr-dark"),
    ("filter", filtered, "msgr-dark"),
    ("compose-error", compose_error, "msgr-dark"),
    ("help", help_view, "msgr-dark"),
    ("profiles", profiles_view, "msgr-dark"),
    ("main-light", main_view, "msgr-light"),
    ("main-16-colours", main_view, "msgr-16"),
]


async def run_all() -> None:
    for name, prepare, theme in SHOTS:
        await shoot(name, prepare, theme)


if __name__ == "__main__":
    asyncio.run(run_all())
