"""Make the README's screenshots from the real app with real messages.

The app runs headless (Textual's test driver) on its embedded default, a
listener on loopback; a peer Messenger in this process sends it real messages
over AMQP, keys are pressed as a user would, and each view is saved as SVG in
this directory. Nothing is faked: what you see is what the app showed.

    python screenshots/make_screenshots.py [NAME...]   (all of them without names)
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from textual.pilot import Pilot  # noqa: E402
from textual.widgets import Input  # noqa: E402

from msgr_tui.locations import STATE_ENV, recovery_dir  # noqa: E402
from msgr_tui.messagefile import MessageRecord, save_messages  # noqa: E402
from msgr_tui.messagefile.sections import Body, BodyKind  # noqa: E402
from msgr_tui.messenger import REJECTED, Message, Messenger  # noqa: E402
from msgr_tui.profiles import ProfileSession  # noqa: E402
from msgr_tui.settings import Settings  # noqa: E402
from msgr_tui.ui.app import MsgrTuiApp  # noqa: E402
from msgr_tui.ui.screens.main import MainScreen  # noqa: E402
from msgr_tui.ui.screens.profiles import ProfilesScreen  # noqa: E402
from msgr_tui.ui.screens.quit import QuitScreen  # noqa: E402
from msgr_tui.ui.screens.recovered import RecoveryScreen  # noqa: E402

DEMO_STATE = Path("/tmp/msgr-tui-demo/state")
SIZE = (110, 32)
SSH_WINDOW = (80, 24)  # what an SSH session has: the main views are shown at this size


async def until(pilot: Pilot, condition: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("timed out while preparing a screenshot")
        await pilot.pause(0.02)


def main_screen(pilot: Pilot) -> MainScreen:
    app = pilot.app
    assert isinstance(app, MsgrTuiApp)
    return app.main_screen


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


# The profiles view needs a config file: these profiles, in a file of its own.
PROFILES = """\
default_profile = "local"

[profiles.local]
messenger_name = "msgr-tui-demo"
listen = ["amqp://~127.0.0.1:0"]

[profiles.prod]
messenger_name = "ops-console"
listen = []
subscribe = ["amqps://broker.example.com:5671/orders"]
compose_address = "amqps://broker.example.com:5671/replies"
user = "ops"
password_env = "PROD_AMQP_PASSWORD"

[profiles.prod.tls]
trusted_certificates = "/etc/ssl/certs/company-ca.pem"
"""


def session_with_profiles() -> ProfileSession:
    path = Path(tempfile.gettempdir()) / "msgr-tui-screenshots" / "config.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(PROFILES)
    session = ProfileSession(path, env={})
    session.load()
    session.start("local")
    return session


async def shoot(
    name: str,
    prepare: Callable[[Pilot, Messenger, str], Awaitable[None]],
    theme: str = "msgr-dark",
    profiles: ProfileSession | None = None,
    size: tuple[int, int] = SIZE,
) -> None:
    settings = Settings(
        listen=("amqp://~127.0.0.1:0",), messenger_name="msgr-tui-demo", theme=theme
    )
    if profiles is not None:
        settings = profiles.settings("local")
    app = MsgrTuiApp(settings, profiles=profiles)
    peer = Messenger("demo-peer")
    peer.blocking = False
    peer.outgoing_window = 100
    peer.start()
    if prepare is recovery_offer:
        leave_recovery_file()
    async with app.run_test(size=size) as pilot:
        rows = app.main_screen.subscriptions.rows
        await until(pilot, lambda: any(row.connect_address for row in rows))
        address = next(row.connect_address for row in rows if row.connect_address)
        await prepare(pilot, peer, address)
        await pilot.pause(0.3)
        app.save_screenshot(str(HERE / f"{name}.svg"))
        while isinstance(app.screen, RecoveryScreen):
            await pilot.press("k")
        await pilot.press("ctrl+q")
        await until(pilot, lambda: app.quitting or isinstance(app.screen, QuitScreen))
        if isinstance(app.screen, QuitScreen):
            await pilot.press("q")  # the demo's undecided messages go back to the peer
        # The peer answers the app's clean close.
        await until(pilot, lambda: (peer.work(0), app.main_screen.bridge_stopped)[1])
    peer.stop()
    # Whatever a shot left in the recovery directory would be offered by the next one.
    shutil.rmtree(recovery_dir(), ignore_errors=True)
    print(f"wrote screenshots/{name}.svg")


async def with_traffic(pilot: Pilot, peer: Messenger, address: str) -> None:
    main = main_screen(pilot)
    for message in sample_messages(address):
        peer.put(message)
    incoming = main.incoming
    await until(pilot, lambda: (peer.work(0), len(incoming.rows) == 6)[1])
    # The user sends two messages from Compose and decides the fate of three.
    subject = main.compose_pane.query_one("#subject", Input)
    subject.value = "hello from compose"
    await pilot.press("ctrl+s")
    subject.value = "second"
    await pilot.press("ctrl+s")
    await until(pilot, lambda: len(incoming.rows) == 8)
    await pilot.press("3", "home", "a", "down", "a", "down", "r", "down", "l", "end", "r")
    outgoing = main.outgoing
    # The last compose message was rejected by the user: its tracker turns REJECTED.
    await until(pilot, lambda: outgoing.rows[-1].status is REJECTED)
    await pilot.press("up", "up")


async def main_view(pilot: Pilot, peer: Messenger, address: str) -> None:
    await with_traffic(pilot, peer, address)


async def detail_view(pilot: Pilot, peer: Messenger, address: str) -> None:
    await with_traffic(pilot, peer, address)
    await pilot.press("home", "enter")


async def help_view(pilot: Pilot, peer: Messenger, address: str) -> None:
    await pilot.press("f1")


async def compose_error(pilot: Pilot, peer: Messenger, address: str) -> None:
    compose = main_screen(pilot).compose_pane
    compose.query_one("#address", Input).value = "amqp://broker:56 72/orders"
    await pilot.press("ctrl+s")
    # The bridge refuses the draft; its answer shows inline.
    await until(pilot, lambda: compose.query_one("#compose-error").display)


async def profiles_view(pilot: Pilot, peer: Messenger, address: str) -> None:
    await pilot.press("f2")
    await until(pilot, lambda: isinstance(pilot.app.screen, ProfilesScreen))
    await pilot.press("down")  # prod: where its password and TLS files come from


async def filtered(pilot: Pilot, peer: Messenger, address: str) -> None:
    await with_traffic(pilot, peer, address)
    await pilot.press("3", "slash", "o", "r", "d", "e", "r", "enter")


async def zoomed(pilot: Pilot, peer: Messenger, address: str) -> None:
    await with_traffic(pilot, peer, address)
    await pilot.press("z")
    await until(pilot, lambda: main_screen(pilot).zoomed is not None)


async def quit_dialog(pilot: Pilot, peer: Messenger, address: str) -> None:
    await with_traffic(pilot, peer, address)  # leaves incoming messages undecided
    await pilot.press("ctrl+q")
    await until(pilot, lambda: isinstance(pilot.app.screen, QuitScreen))


def leave_recovery_file() -> None:
    """What a session ended by SIGHUP left: two orders nobody answered."""
    directory = recovery_dir()
    directory.mkdir(parents=True, exist_ok=True)
    records = [
        (
            MessageRecord(
                header={"durable": True},
                properties={"to": "amqp://broker.example:5672/orders", "subject": subject},
                body=Body(BodyKind.VALUE, (f'{{"order": {number}}}',)),
            ),
            {"unsent": "unknown"},
        )
        for number, subject in ((1044, "order.created"), (1045, "order.created"))
    ]
    save_messages(directory / "unanswered-20261203-061500.jsonl", records)


async def recovery_offer(pilot: Pilot, peer: Messenger, address: str) -> None:
    await until(pilot, lambda: isinstance(pilot.app.screen, RecoveryScreen))


Prepare = Callable[[Pilot, Messenger, str], Awaitable[None]]
SHOTS: list[tuple[str, Prepare, str, tuple[int, int]]] = [
    ("main", main_view, "msgr-dark", SSH_WINDOW),
    ("zoomed", zoomed, "msgr-dark", SSH_WINDOW),
    ("quit", quit_dialog, "msgr-dark", SSH_WINDOW),
    ("recovery", recovery_offer, "msgr-dark", SSH_WINDOW),
    ("detail", detail_view, "msgr-dark", SIZE),
    ("filter", filtered, "msgr-dark", SIZE),
    ("compose-error", compose_error, "msgr-dark", SIZE),
    ("help", help_view, "msgr-dark", SIZE),
    ("profiles", profiles_view, "msgr-dark", SIZE),
    ("main-light", main_view, "msgr-light", SIZE),
    ("main-16-colours", main_view, "msgr-16", SIZE),
]


async def run_all(names: list[str]) -> None:
    for name, prepare, theme, size in SHOTS:
        if names and name not in names:
            continue
        profiles = session_with_profiles() if prepare is profiles_view else None
        await shoot(name, prepare, theme, profiles, size)


if __name__ == "__main__":
    # What the demo sessions leave unanswered is the demo's: keep it out of the
    # user's recovery directory.
    # A fixed path: the recovery offer shows it.
    shutil.rmtree(DEMO_STATE, ignore_errors=True)
    os.environ[STATE_ENV] = str(DEMO_STATE)
    asyncio.run(run_all(sys.argv[1:]))
