"""What the UI tests share: drive the real app as a user would, wait on what it shows.

Every wait is on a condition with a deadline (a loaded machine meets it; a
broken app does not), never a fixed pause.
"""

from __future__ import annotations

import contextlib
import html
import queue
import re
import threading
import time
from collections.abc import Callable

from textual.message import Message as TextualMessage
from textual.notifications import Notify
from textual.pilot import Pilot

from msgr_tui.messenger import Interrupt, Message, Messenger
from msgr_tui.settings import Settings
from msgr_tui.ui.app import MsgrTuiApp
from msgr_tui.ui.screens.main import MainScreen
from msgr_tui.ui.screens.quit import QuitScreen
from tests.helpers import DEADLINE

LOOPBACK = "amqp://~127.0.0.1:0"


async def until(
    pilot: Pilot, condition: Callable[[], object], what: str, timeout: float = 15
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


async def quit_app(pilot: Pilot, app: MsgrTuiApp) -> None:
    """ctrl+q, then "quit anyway" if the app asks (a story that leaves messages at stake
    on purpose; tests/ui/test_recovery.py tells the dialog's own stories)."""
    await pilot.press("ctrl+q")
    await until(
        pilot,
        lambda: app.quitting or not app.is_running or isinstance(app.screen, QuitScreen),
        "the app to quit or ask",
    )
    if isinstance(app.screen, QuitScreen):
        await pilot.press("q")


def app_with(**changes: object) -> MsgrTuiApp:
    """The app on loopback (a free port), named "tui", with these settings changed."""
    settings = Settings(listen=(LOOPBACK,), messenger_name="tui", **changes)  # type: ignore[arg-type]
    return MsgrTuiApp(settings)


def main(app: MsgrTuiApp) -> MainScreen:
    """The session's screen, whatever modal screen covers it."""
    return app.main_screen


async def listening(pilot: Pilot, app: MsgrTuiApp) -> str:
    """Wait until the app's listener is bound; return the address peers send to."""

    def bound() -> str | None:
        rows = main(app).subscriptions.rows
        return next((row.connect_address for row in rows if row.connect_address), None)

    await until(pilot, bound, "the listener")
    return bound() or ""


async def type_text(pilot: Pilot, text: str) -> None:
    for char in text:
        await pilot.press(char if char != " " else "space")


def screen_text(app: MsgrTuiApp) -> str:
    """What is on the screen right now, as plain text (read from a real screenshot)."""
    svg = app.export_screenshot()
    lines = re.findall(r"<text[^>]*>(.*?)</text>", svg, flags=re.S)
    return html.unescape("".join(lines)).replace("\xa0", " ")


class Notifications:
    """The notifications the app raised, as the user read them in the toasts.

    Pass :meth:`hook` as ``run_test(message_hook=...)``: every ``notify()``
    travels as a Notify message.
    """

    def __init__(self) -> None:
        self.texts: list[str] = []

    def hook(self, message: TextualMessage) -> None:
        if isinstance(message, Notify):
            self.texts.append(message.notification.message)

    def saying(self, words: str) -> list[str]:
        return [text for text in self.texts if words in text]


class SendingPeer:
    """A Messenger in its own thread that sends what it is handed, as a separate program would.

    It keeps its connections answered while the test thread is busy elsewhere
    (inside ``App.run``, say), so the app's clean close never waits on it.
    """

    def __init__(self, name: str, *, outgoing_window: int = 100) -> None:
        self.messenger = Messenger(name)
        self.messenger.outgoing_window = outgoing_window
        self._outbox: queue.SimpleQueue[Message] = queue.SimpleQueue()
        self._stop = threading.Event()
        self.errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"peer-{name}")

    def __enter__(self) -> SendingPeer:
        self.messenger.blocking = False
        self.messenger.start()
        self._thread.start()
        return self

    def send(self, message: Message) -> None:
        """Put ``message`` from the peer's thread (the test must not touch it afterwards)."""
        self._outbox.put(message)
        self.messenger.interrupt()

    def _run(self) -> None:
        messenger = self.messenger
        try:
            while not self._stop.is_set():
                while not self._outbox.empty():
                    messenger.put(self._outbox.get())
                with contextlib.suppress(Interrupt):
                    messenger.work(0.05)
            messenger.stop()
            deadline = time.monotonic() + DEADLINE
            while not messenger.stopped and time.monotonic() < deadline:
                messenger.work(0.01)
        except BaseException as error:  # reported to the test thread
            self.errors.append(error)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.messenger.interrupt()
        self._thread.join(DEADLINE)
        assert not self._thread.is_alive(), "peer thread did not stop"
        assert self.errors == []
