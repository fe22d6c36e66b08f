"""One line at the bottom: who we are, connections, traffic."""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.markup import escape
from textual.timer import Timer
from textual.widgets import Static

from ...bridge import BridgeState, RetryScheduled, Stats
from ...formatting import printable


@dataclass
class _Retry:
    due: float
    attempt: int
    waiting: int


class StatusBar(Static):
    """Messenger name, connection count, messages in and out with rates,
    and a countdown for every connection waiting to be retried."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("starting…", id=id)
        self.name_text = ""
        self.listening = ""
        self.stats: Stats | None = None
        self.state = BridgeState.STARTING
        self.retries: dict[str, _Retry] = {}
        self._ticker: Timer | None = None

    def show_stats(self, stats: Stats) -> None:
        self.stats = stats
        self.name_text = stats.name
        self._render_line()

    def show_listening(self, address: str) -> None:
        self.listening = address
        self._render_line()

    def show_retry(self, retry: RetryScheduled) -> None:
        waiting = retry.messages + retry.subscriptions
        self.retries[retry.label] = _Retry(time.monotonic() + retry.delay, retry.attempt, waiting)
        if self._ticker is None:
            self._ticker = self.set_interval(1.0, self._render_line)
        self._render_line()

    def connected(self, label: str) -> None:
        if self.retries.pop(label, None) is not None:
            if not self.retries and self._ticker is not None:
                self._ticker.stop()
                self._ticker = None
            self._render_line()

    def show_state(self, state: BridgeState) -> None:
        self.state = state
        self._render_line()

    def _render_line(self) -> None:
        parts = [f"[b]{escape(printable(self.name_text or 'msgr-tui'))}[/b]"]
        if self.state is not BridgeState.RUNNING:
            parts.append(self.state.value)
        if self.listening:
            parts.append(f"listening {escape(printable(self.listening))}")
        if self.stats is not None:
            stats = self.stats
            parts.append(f"conns {stats.connections}")
            parts.append(f"in {stats.received} ({stats.in_rate:,.0f}/s)")
            parts.append(f"out {stats.sent} ({stats.out_rate:,.0f}/s)")
        now = time.monotonic()
        for label, retry in self.retries.items():
            seconds = max(0, round(retry.due - now))
            countdown = f"in {seconds}s" if seconds else "now"
            parts.append(
                f"[b]⟳ {escape(printable(label))} {countdown}[/b] "
                f"(try {retry.attempt}, {retry.waiting} waiting)"
            )
        self.update(" │ ".join(parts))
