"""A MessengerBridge run in its own thread, as the app runs it, for tests to watch."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from msgr_tui.bridge import BridgeEvent, MessengerBridge, Put
from msgr_tui.drafts import Draft
from msgr_tui.settings import Settings
from tests.helpers import DEADLINE, wait_for

Event = TypeVar("Event")


class BridgeRun:
    """A MessengerBridge in its own thread, its events collected for the test to wait on.

    Every batch the bridge hands over is kept as it came (``batches``), with the
    time it came (``emitted_at``, ``time.monotonic()`` as the callback starts).
    """

    def __init__(self, settings: Settings) -> None:
        self.events: list[BridgeEvent] = []
        self.batches: list[list[BridgeEvent]] = []
        self.emitted_at: list[float] = []
        self.bridge = MessengerBridge(settings, self._emit)
        self.thread = threading.Thread(target=self.bridge.run, name="bridge-under-test")

    def _emit(self, batch: list[BridgeEvent]) -> None:
        self.emitted_at.append(time.monotonic())
        self.batches.append(batch)
        self.events.extend(batch)

    def of(self, kind: type[Event]) -> list[Event]:
        return [event for event in list(self.events) if isinstance(event, kind)]

    def first(self, kind: type[Event], what: str | None = None) -> Event:
        """The first event of ``kind``, waiting for it to come."""
        wait_for(lambda: self.of(kind), what=what or kind.__name__)
        return self.of(kind)[0]

    def put(self, address: str, body: str, draft_id: int = 1) -> None:
        self.bridge.submit(Put(Draft(address=address, body=body), draft_id))


@contextmanager
def running(settings: Settings) -> Iterator[BridgeRun]:
    run = BridgeRun(settings)
    run.thread.start()
    try:
        yield run
    finally:
        run.bridge.stop()
        run.thread.join(DEADLINE)
        assert not run.thread.is_alive(), "the bridge did not stop"
