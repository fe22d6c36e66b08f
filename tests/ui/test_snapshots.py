"""Layout snapshots of the main screen and the modal screens at 80x24 and 120x40.

The subject here is layout, so the Messenger worker is not started: the panes are
fed the same typed bridge events the worker would send, with fixed times and
names so the pictures are stable.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
from textual.pilot import Pilot

from msgr_tui.bridge import (
    IncomingDecided,
    ListenerBound,
    MessageArrived,
    MessageQueued,
    Stats,
    SubscriptionChanged,
    TrackerUpdated,
)
from msgr_tui.messenger import ABORTED, ACCEPTED, PENDING, REJECTED, RELEASED, Message
from msgr_tui.messenger.failures import Condition, Failure
from msgr_tui.messenger.snapshot import MessageSnapshot
from msgr_tui.messenger.subscription import SubscriptionState
from msgr_tui.settings import Settings
from msgr_tui.ui.app import MsgrTuiApp
from msgr_tui.ui.messages import BridgeBatch

BASE_TIME = 1_790_000_000.0  # a fixed instant, shown in UTC


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


def received(**fields: object) -> MessageSnapshot:
    """What the bridge captures of a message with these fields, once it crossed the wire."""
    wire = Message(**fields).encode()
    message = Message()
    message.decode(wire)
    return MessageSnapshot.of(message)


def demo_events() -> list[object]:
    listen = "amqp://127.0.0.1:5672"
    bodies = [
        ("order.created", '{"order": 1042, "total": 99.5}', ACCEPTED, False),
        ("order.created", '{"order": 1043, "total": 12.0}', ACCEPTED, True),
        ("invoice", "Invoice 77 for ACME Corp", REJECTED, False),
        ("ping", "ping from ops", RELEASED, False),
        ("order.cancelled", '{"order": 1041}', PENDING, False),
        ("escape test", "\x1b[2Jnot a terminal command", PENDING, False),
    ]
    missing = "amqp://broker.internal//amq/queue/missing"
    not_found = Condition("amqp:not-found", "no queue 'missing' in vhost '/'")
    events: list[object] = [
        ListenerBound("amqp://~127.0.0.1:5672", "amqp://~127.0.0.1:5672", listen),
        SubscriptionChanged("amqp://~127.0.0.1:5672", SubscriptionState.LISTENING, None, listen),
        SubscriptionChanged("amqp://broker.internal/orders", SubscriptionState.ATTACHED),
        SubscriptionChanged(
            missing, SubscriptionState.FAILED, Failure(missing, str(not_found), not_found)
        ),
    ]
    for seq, (subject, body, state, automatic) in enumerate(bodies, start=1):
        tracker = (1 << 62) | seq
        message = received(
            address=f"{listen}/orders", subject=subject, body=body, properties={"tenant": "acme"}
        )
        events.append(MessageArrived(seq, tracker, BASE_TIME + seq, message))
        if state is not PENDING:
            events.append(IncomingDecided(tracker, state, automatic))
    for tracker, (subject, status) in enumerate(
        [("hello", ACCEPTED), ("bad", REJECTED), ("later", PENDING), ("lost", ABORTED)]
    ):
        events.append(MessageQueued(tracker, tracker + 1, f"{listen}/orders", subject, BASE_TIME))
        if status is not PENDING:
            events.append(TrackerUpdated(tracker, status))
    events.append(Stats("demo", 2, 6, 4, 3.0, 2.0))
    return events


def snapshot_app() -> MsgrTuiApp:
    settings = Settings(messenger_name="demo", compose_address="amqp://127.0.0.1:5672/orders")
    return MsgrTuiApp(settings, start_messenger=False)


async def show_demo(pilot: Pilot) -> None:
    app = pilot.app
    app.post_message(BridgeBatch(demo_events()))  # type: ignore[arg-type]
    await pilot.pause()
    await pilot.press("3", "up", "up")
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_main_screen_layout(snap_compare, size: tuple[int, int]) -> None:
    assert snap_compare(snapshot_app(), terminal_size=size, run_before=show_demo)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_detail_view_layout(snap_compare, size: tuple[int, int]) -> None:
    async def open_detail(pilot: Pilot) -> None:
        await show_demo(pilot)
        await pilot.press("home", "enter")
        await pilot.pause()

    assert snap_compare(snapshot_app(), terminal_size=size, run_before=open_detail)


def test_help_layout(snap_compare) -> None:
    async def open_help(pilot: Pilot) -> None:
        await pilot.press("f1")
        await pilot.pause()

    assert snap_compare(snapshot_app(), terminal_size=(80, 24), run_before=open_help)


def test_compose_error_layout(snap_compare) -> None:
    async def bad_send(pilot: Pilot) -> None:
        await show_demo(pilot)
        app = pilot.app
        app.query_one("#address").value = "amqp://host:notaport/q"  # type: ignore[attr-defined]
        await pilot.press("ctrl+s")
        await pilot.pause()

    assert snap_compare(snapshot_app(), terminal_size=(80, 24), run_before=bad_send)


def test_light_theme_layout(snap_compare) -> None:
    settings = Settings(messenger_name="demo", theme="msgr-light")
    app = MsgrTuiApp(settings, start_messenger=False)
    assert snap_compare(app, terminal_size=(100, 30), run_before=show_demo)
