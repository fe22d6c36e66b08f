"""Layout snapshots of the main screen and the modal screens, at 80x24 and larger.

What the pictures show comes from the real thing: the app's own Messenger in
its worker thread, a peer Messenger sending it real messages over loopback, a
raw AMQP peer standing for a broker (one queue attaches, the other is refused
with amqp:not-found), a host that refuses connections, and the user's keys
(accept, reject, release, send from Compose). Only what would differ from run
to run is pinned:

* the wall clock as the bridge reads it (``time.time``: each reading one second
  after the previous, from a fixed instant) and the time zone (UTC);
* names (the app's container-id, the peer's);
* ports: every one is ephemeral, as everywhere in the tests. Messages go to
  names (``demo.internal``, ``broker.internal``) that routes map to the real
  ports, as a profile's routes would; the app's own listening address, which
  the picture must show, is shown with its port as 49152 (the same width:
  ephemeral ports always have five digits).

Rates in the status bar are shown once a whole second passed without traffic
(0/s), and the toasts of the failures staged here are dismissed before the
picture: layout is the subject, and each toast is checked elsewhere.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import socket
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

import msgr_tui.bridge.worker as bridge_worker
from msgr_tui.locations import STATE_ENV, recovery_dir
from msgr_tui.messagefile import MessageRecord, save_messages
from msgr_tui.messenger import ABORTED, ACCEPTED, PENDING, REJECTED, RELEASED, Message
from msgr_tui.messenger.status import Status
from msgr_tui.messenger.subscription import SubscriptionState
from msgr_tui.settings import Settings
from msgr_tui.ui.app import MsgrTuiApp
from msgr_tui.ui.screens.ask import AskScreen
from msgr_tui.ui.screens.confirm import ConfirmScreen
from msgr_tui.ui.screens.detail import DetailScreen
from msgr_tui.ui.screens.help import HelpScreen
from msgr_tui.ui.screens.quit import QuitScreen
from msgr_tui.ui.screens.recovered import RecoveryScreen
from tests.peers import RawPeer, refuse_names_starting_with
from tests.ui.story import SendingPeer, until

BASE_TIME = 1_790_000_000.0  # a fixed instant (14:13:20 UTC)
# What the pictures show for the app's ephemeral port (five digits, as it has).
SHOWN_PORT = "49152"
# The app's own listener, by name: the peer's and the app's routes lead there.
DEMO = "amqp://demo.internal"
BROKER = "amqp://broker.internal"
GONE = "amqp://gone.internal/orders"  # routed to a port where nothing listens
# What the sparklines show in every picture (the real history varies by run).
RATE_SHAPE = [0.0, 2.0, 5.0, 3.0, 6.0, 0.0]
# The second message leaves a window of 7 when the ninth arrives: auto-accepted.
WINDOW = 7


@pytest.fixture(autouse=True)
def utc_clock() -> Iterator[None]:
    previous = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if previous is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = previous
    time.tzset()


class TickingClock:
    """``time.time`` for the bridge: each reading one second after the previous one.

    The bridge reads it once per message taken and once per message put, so
    a story told in a fixed order shows the same times every run.
    """

    def __init__(self, start: float) -> None:
        self._now = start

    def time(self) -> float:
        self._now += 1
        return self._now


@dataclass
class Demo:
    """The world of one snapshot: a broker, a peer, the clock, and the listening port."""

    broker: RawPeer
    peer: SendingPeer
    port: int  # the app listens there

    def settings(self, theme: str | None = None) -> Settings:
        return Settings(
            messenger_name="demo",
            listen=(f"amqp://~127.0.0.1:{self.port}",),
            subscribe=(f"{BROKER}/orders", f"{BROKER}//amq/queue/missing"),
            routes=(
                (f"{BROKER}/*", f"amqp://127.0.0.1:{self.broker.port}/$1"),
                ("amqp://gone.internal/*", "amqp://127.0.0.1:1/$1"),
                (f"{DEMO}/*", f"amqp://127.0.0.1:{self.port}/$1"),
            ),
            compose_address=f"{DEMO}/orders",
            incoming_window=WINDOW,
            retry=False,
            theme=theme,
        )


@pytest.fixture
def demo(monkeypatch: pytest.MonkeyPatch) -> Iterator[Demo]:
    clock = TickingClock(BASE_TIME)
    # Only the wall clock is pinned: the bridge's batching runs on the real monotonic one.
    monkeypatch.setattr(
        bridge_worker, "time", SimpleNamespace(time=clock.time, monotonic=time.monotonic)
    )
    port = ephemeral_port()
    peer = SendingPeer("demo-peer")
    peer.messenger.route(f"{DEMO}/*", f"amqp://127.0.0.1:{port}/$1")
    with RawPeer(refuse_names_starting_with("/amq")) as broker, peer:
        yield Demo(broker, peer, port)


def ephemeral_port() -> int:
    """A port the system picks from its ephemeral range, free for the app to listen on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


PEER_MESSAGES = [
    ("order.created", '{"order": 1042, "total": 99.5}'),
    ("order.created", '{"order": 1043, "total": 12.0}'),
    ("invoice", "Invoice 77 for ACME Corp"),
    ("ping", "ping from ops"),
    ("order.cancelled", '{"order": 1041}'),
    ("escape test", "\x1b[2Jnot a terminal command"),
]


async def show_demo(pilot: Pilot, demo: Demo) -> None:
    """A session as a user would have it, told in an order that never varies."""
    app = pilot.app
    assert isinstance(app, MsgrTuiApp)
    screen = app.main_screen
    incoming, outgoing, bar = screen.incoming, screen.outgoing, screen.status_bar
    peer = demo.peer

    def states() -> list[SubscriptionState]:
        return [row.state for row in screen.subscriptions.rows]

    settled = [SubscriptionState.LISTENING, SubscriptionState.ATTACHED, SubscriptionState.FAILED]
    await until(pilot, lambda: states() == settled, "the listener and the broker's two queues")
    compose = screen.compose_pane
    address, subject = compose.query_one("#address", Input), compose.query_one("#subject", Input)

    async def from_peer(count: int) -> None:
        for subject, body in PEER_MESSAGES[len(incoming.rows) : count]:
            message = Message(address=f"{DEMO}/orders", subject=subject, body=body)
            message.properties = {"tenant": "acme"}
            peer.send(message)
        await until(pilot, lambda: len(incoming.rows) == count, f"{count} messages")

    # The first order comes in and is accepted at once; five more follow.
    await from_peer(1)
    await pilot.press("3", "a")
    await until(pilot, lambda: incoming.rows[0].state is ACCEPTED, "the first accepted")
    await from_peer(6)

    # The user sends three messages to their own listener, one to a host that is gone.
    for number, title in enumerate(("hello", "bad", "later"), start=7):
        subject.value = title
        await pilot.press("ctrl+s")
        await until(pilot, lambda n=number: len(incoming.rows) == n, f"{title} received")
    address.value, subject.value = GONE, "lost"
    await pilot.press("ctrl+s")
    await until(pilot, lambda: len(outgoing.rows) == 4, "the fourth tracker")
    await until(pilot, lambda: outgoing.rows[3].status is ABORTED, "lost aborted")
    address.value, subject.value = f"{DEMO}/orders", ""

    # Nine pending is two over the window: the second message was accepted for the user.
    await until(pilot, lambda: incoming.rows[1].automatic, "the second auto-accepted")
    # Reject the invoice, release the ping, accept "hello", reject "bad"; "later" waits.
    await pilot.press("3", "home", "down", "down", "r", "down", "l")
    await pilot.press("down", "down", "down", "a", "down", "r")
    expected_in: list[Status] = [ACCEPTED, ACCEPTED, REJECTED, RELEASED, PENDING, PENDING]
    expected_in += [ACCEPTED, REJECTED, PENDING]
    expected_out = [ACCEPTED, REJECTED, PENDING, ABORTED]
    await until(
        pilot,
        lambda: (
            [row.state for row in incoming.rows] == expected_in
            and [row.status for row in outgoing.rows] == expected_out
        ),
        "every decision made and answered",
    )
    # A whole second without traffic: the rates read 0/s.
    await until(
        pilot,
        lambda: (
            (stats := bar.stats) is not None
            and (stats.received, stats.sent, stats.in_rate, stats.out_rate) == (9, 4, 0, 0)
        ),
        "the status bar at rest",
    )
    pin_rates(app)
    app.clear_notifications()
    await pilot.press("up", "up")


class PinnedRates(deque[float]):
    """A rate history that keeps its shape: the figures of later seconds are not kept."""

    def append(self, rate: float) -> None:
        pass


def pin_rates(app: MsgrTuiApp) -> None:
    """The rates' history depends on how the seconds fell during the story: pinned."""
    bar = app.main_screen.status_bar
    bar.in_rates = PinnedRates(RATE_SHAPE)
    bar.out_rates = PinnedRates(RATE_SHAPE)
    bar.draw_rates()


def pictured(app: MsgrTuiApp, demo_port: int) -> MsgrTuiApp:
    """``app``, its screenshots taken with its listening port shown as SHOWN_PORT.

    Same width, so nothing moves; a port cut short by the layout would leave
    its digits behind, and that fails the test rather than the comparison.
    """
    export = app.export_screenshot

    def export_screenshot(**options: object) -> str:
        svg = export(**options)  # type: ignore[arg-type]
        port = str(demo_port)
        assert len(port) == len(SHOWN_PORT), port
        masked = re.sub(rf":{port}\b", f":{SHOWN_PORT}", svg)
        cut = re.search(rf"0\.0\.1:(?!{SHOWN_PORT})\d*", masked)
        assert cut is None, f"a loopback port shown cut short or unmasked: {cut and cut[0]}"
        return masked

    app.export_screenshot = export_screenshot  # type: ignore[method-assign]
    return app


def shutdown(app: MsgrTuiApp) -> None:
    """After the picture: the app's Messenger closed its connections and its port cleanly."""
    bridge = app.main_screen.bridge
    assert bridge is not None and bridge.messenger.stopped


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_main_screen_layout(snap_compare, demo: Demo, size: tuple[int, int]) -> None:
    app = pictured(MsgrTuiApp(demo.settings()), demo.port)

    async def run_before(pilot: Pilot) -> None:
        await show_demo(pilot, demo)

    assert snap_compare(app, terminal_size=size, run_before=run_before)
    shutdown(app)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_detail_view_layout(snap_compare, demo: Demo, size: tuple[int, int]) -> None:
    app = pictured(MsgrTuiApp(demo.settings()), demo.port)

    async def open_detail(pilot: Pilot) -> None:
        await show_demo(pilot, demo)
        await pilot.press("home", "enter")
        await until(pilot, lambda: isinstance(app.screen, DetailScreen), "the detail view")

    assert snap_compare(app, terminal_size=size, run_before=open_detail)
    shutdown(app)


ZOOM_KEYS = {
    "subscriptions": ("1", "z"),
    # Zoomed from the pane itself: in a field, z is typed.
    "compose": ("2", "escape", "z"),
    "incoming": ("3", "z"),
    "outgoing": ("4", "z"),
}


@pytest.mark.parametrize("pane", list(ZOOM_KEYS))
def test_zoomed_pane_layout(snap_compare, demo: Demo, pane: str) -> None:
    app = pictured(MsgrTuiApp(demo.settings()), demo.port)

    async def zoom(pilot: Pilot) -> None:
        await show_demo(pilot, demo)
        await pilot.press(*ZOOM_KEYS[pane])
        await until(pilot, lambda: app.main_screen.zoomed is not None, f"{pane} zoomed")

    assert snap_compare(app, terminal_size=(80, 24), run_before=zoom)
    shutdown(app)


def test_move_dialog_layout(snap_compare, demo: Demo) -> None:
    app = pictured(MsgrTuiApp(demo.settings()), demo.port)

    async def ask_where(pilot: Pilot) -> None:
        await show_demo(pilot, demo)
        # Mark the two pending orders-to-be-decided, then ask to move them.
        await pilot.press("home", "down", "down", "down", "down", "space", "space", "m")
        await until(pilot, lambda: isinstance(app.screen, AskScreen), "the move dialog")

    assert snap_compare(app, terminal_size=(80, 24), run_before=ask_where)
    shutdown(app)


def test_many_decided_at_once_layout(snap_compare, demo: Demo) -> None:
    app = pictured(MsgrTuiApp(demo.settings()), demo.port)

    async def ask_first(pilot: Pilot) -> None:
        await show_demo(pilot, demo)
        await pilot.press("asterisk", "a")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")

    assert snap_compare(app, terminal_size=(80, 24), run_before=ask_first)
    shutdown(app)


def test_help_layout(snap_compare, demo: Demo) -> None:
    app = pictured(MsgrTuiApp(demo.settings()), demo.port)

    async def open_help(pilot: Pilot) -> None:
        await show_demo(pilot, demo)
        await pilot.press("f1")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "the help")

    assert snap_compare(app, terminal_size=(80, 24), run_before=open_help)
    shutdown(app)


def test_compose_error_layout(snap_compare, demo: Demo) -> None:
    app = pictured(MsgrTuiApp(demo.settings()), demo.port)

    async def bad_send(pilot: Pilot) -> None:
        await show_demo(pilot, demo)
        compose = app.main_screen.compose_pane
        compose.query_one("#address", Input).value = "amqp://host:notaport/q"
        await pilot.press("ctrl+s")
        error = compose.query_one("#compose-error")
        await until(pilot, lambda: error.display, "the bridge refusing the draft")

    assert snap_compare(app, terminal_size=(80, 24), run_before=bad_send)
    shutdown(app)


def test_light_theme_layout(snap_compare, demo: Demo) -> None:
    app = pictured(MsgrTuiApp(demo.settings(theme="msgr-light")), demo.port)

    async def run_before(pilot: Pilot) -> None:
        await show_demo(pilot, demo)

    assert snap_compare(app, terminal_size=(100, 30), run_before=run_before)
    shutdown(app)


def test_quit_dialog_layout(snap_compare, demo: Demo) -> None:
    app = pictured(MsgrTuiApp(demo.settings()), demo.port)

    async def ask_to_quit(pilot: Pilot) -> None:
        await show_demo(pilot, demo)  # "later" unanswered, "lost" aborted, three undecided
        await pilot.press("ctrl+q")
        await until(pilot, lambda: isinstance(app.screen, QuitScreen), "the quit dialog")

    assert snap_compare(app, terminal_size=(80, 24), run_before=ask_to_quit)
    shutdown(app)


# A fixed state directory for the picture that shows its path (tmp_path's name varies).
PICTURED_STATE = Path("/tmp/msgr-tui-snapshot-state")


@pytest.fixture
def pictured_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    shutil.rmtree(PICTURED_STATE, ignore_errors=True)
    monkeypatch.setenv(STATE_ENV, str(PICTURED_STATE))
    yield PICTURED_STATE
    shutil.rmtree(PICTURED_STATE, ignore_errors=True)


def test_recovery_offer_layout(snap_compare, demo: Demo, pictured_state: Path) -> None:
    recovery_dir().mkdir(parents=True)
    for name, count in (("unanswered-20261202T101500-4242.jsonl", 3), ("unanswered-x.jsonl", 1)):
        save_messages(
            recovery_dir() / name,
            [
                (MessageRecord(properties={"to": f"{DEMO}/orders", "subject": f"m{n}"}), {})
                for n in range(count)
            ],
        )
    # No broker queues: the picture is of the offer, not of the sources attaching.
    settings = dataclasses.replace(demo.settings(), subscribe=())
    app = pictured(MsgrTuiApp(settings), demo.port)

    async def offered(pilot: Pilot) -> None:
        await until(pilot, lambda: isinstance(app.screen, RecoveryScreen), "the offer")
        # The status line under the offer, once its first figures are in.
        await until(pilot, lambda: app.main_screen.status_bar.stats is not None, "figures")
        pin_rates(app)

    assert snap_compare(app, terminal_size=(80, 24), run_before=offered)
    shutdown(app)
