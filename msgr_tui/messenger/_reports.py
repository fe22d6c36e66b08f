"""Where a Messenger's notifications and failures go."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable

from ._options import Options
from .errors import TransportFailed
from .events import FailureReported, IncomingSettled, MessengerEvent, TrackerUpdated
from .failures import Failure
from .status import Status

# The original wrote failures on the wire to stderr; with no logging set up,
# Python's last-resort handler does the same with these warnings.
log = logging.getLogger("msgr_tui.messenger")

EventCallback = Callable[[MessengerEvent], None]


class Reports:
    """The ``on_event`` callback, the log, and the failures the next call must raise."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.on_event: EventCallback | None = None
        self._errors: deque[TransportFailed] = deque()

    def event(self, event: MessengerEvent) -> None:
        callback = self.on_event
        if callback is not None:
            callback(event)

    def tracker_updated(self, tracker: int, status: Status) -> None:
        callback = self.on_event
        if callback is not None:
            callback(TrackerUpdated(tracker, status))

    def incoming_settled(self, tracker: int, status: Status) -> None:
        callback = self.on_event
        if callback is not None:
            callback(IncomingSettled(tracker, status))

    def failed(self, failure: Failure, error: type[TransportFailed] = TransportFailed) -> None:
        """A connection or link this Messenger uses failed: tell, log, raise if asked to."""
        self.event(FailureReported(failure))
        if self.options.raise_failures:
            self._errors.append(error.of(failure))
        else:
            log.warning("%s", failure)

    def clear(self) -> None:
        self._errors.clear()

    def raise_pending(self) -> None:
        """Raise what went wrong since the last call, all of it at once.

        One failure often has several faces (a broker that ends a session
        closes every link on it): they are reported together by the call that
        notices them, so no stale error is left for an unrelated later call.
        """
        if not self._errors:
            return
        errors = list(self._errors)
        self._errors.clear()
        first = errors[0]
        texts = list(dict.fromkeys(str(error) for error in errors))
        if len(texts) == 1:
            raise first
        combined = type(first)("; ".join(texts))
        if isinstance(first, TransportFailed) and isinstance(combined, TransportFailed):
            combined.address = first.address
            combined.condition = first.condition
            combined.failure = first.failure
        raise combined
