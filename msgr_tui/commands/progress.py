"""A one-line progress display on stderr for long headless runs."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

# ~10 Hz: readable, and cheap enough to check on every batch.
INTERVAL = 0.1
_CLEAR_LINE = "\r\x1b[K"


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else 0.0


class Progress:
    """Redraws ``<what> <count> [of <total>]  <rate> msg/s`` in place, every :data:`INTERVAL`.

    Disabled, it does nothing, so callers need no conditions. Runs shorter
    than one interval never draw anything: only long runs show a line.
    """

    def __init__(
        self,
        stream: TextIO,
        enabled: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.enabled = enabled
        self.clock = clock
        self.started = clock()
        self._next_draw = self.started + INTERVAL
        self._drawn = False

    def elapsed(self) -> float:
        return self.clock() - self.started

    def update(self, count: int, what: str, total: int | None = None) -> None:
        if not self.enabled:
            return
        now = self.clock()
        if now < self._next_draw:
            return
        self._next_draw = now + INTERVAL
        line = f"{what} {count:,}"
        if total is not None:
            line += f" of {total:,}"
        line += f"  {rate(count, now - self.started):,.0f} msg/s"
        self.stream.write(_CLEAR_LINE + line)
        self.stream.flush()
        self._drawn = True

    def clear(self) -> None:
        """Erase the line, so whatever comes next starts on a clean line."""
        if self._drawn:
            self.stream.write(_CLEAR_LINE)
            self.stream.flush()
            self._drawn = False
