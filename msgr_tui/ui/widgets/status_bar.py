"""One line at the bottom: who we are, connections, traffic and its recent shape."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

from rich.markup import escape
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.timer import Timer
from textual.widgets import Sparkline, Static

from ...bridge import BridgeState, RetryScheduled, Stats
from ...formatting import count_of, printable, short_name

# Half a minute of rates, one a second (the bridge's Stats interval), drawn in a
# few cells: each bar is the highest rate of its seconds.
RATE_HISTORY = 30


@dataclass
class _Retry:
    due: float
    attempt: int
    waiting: int


class StatusBar(Horizontal):
    """The session's name (its profile, or the Messenger's short name), connections,
    messages in and out with their rates and a sparkline of each, and a countdown for
    every connection waiting to be retried."""

    def __init__(self, *, profile: str | None = None, id: str | None = None) -> None:
        super().__init__(id=id)
        self.profile = profile
        self.name_text = ""
        self.listening = ""
        self.stats: Stats | None = None
        self.state = BridgeState.STARTING
        self.retries: dict[str, _Retry] = {}
        self.in_rates: deque[float] = deque([0.0] * RATE_HISTORY, maxlen=RATE_HISTORY)
        self.out_rates: deque[float] = deque([0.0] * RATE_HISTORY, maxlen=RATE_HISTORY)
        self._ticker: Timer | None = None
        # Built here: the session tells the bar its state before the screen is mounted.
        self._line = Static("starting…", id="status-line")
        self._in_label = Static("in", classes="rate-label")
        self._out_label = Static("out", classes="rate-label")
        self._in_sparkline = Sparkline(_anchored(self.in_rates), id="in-rates")
        self._out_sparkline = Sparkline(_anchored(self.out_rates), id="out-rates")

    def compose(self) -> ComposeResult:
        yield self._line
        yield self._in_label
        yield self._in_sparkline
        yield self._out_label
        yield self._out_sparkline

    @property
    def text(self) -> str:
        """The line as shown (markup included)."""
        return str(self._line.content)

    def show_stats(self, stats: Stats) -> None:
        self.stats = stats
        self.name_text = stats.name
        self.in_rates.append(stats.in_rate)
        self.out_rates.append(stats.out_rate)
        self.draw_rates()
        self._render_line()

    def draw_rates(self) -> None:
        """Draw the sparklines from ``in_rates`` and ``out_rates`` as they are now."""
        for sparkline, rates in (
            (self._in_sparkline, self.in_rates),
            (self._out_sparkline, self.out_rates),
        ):
            data = _anchored(rates)
            if data != sparkline.data:
                sparkline.data = data

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

    def _session_name(self) -> str:
        if self.profile:
            return self.profile
        return short_name(self.name_text) if self.name_text else "msgr-tui"

    def _render_line(self) -> None:
        parts = [f"[b]{escape(printable(self._session_name()))}[/b]"]
        if self.state is not BridgeState.RUNNING:
            parts.append(self.state.value)
        now = time.monotonic()
        # Retries before the rest: when the line is cut at 80 columns, they still show.
        for label, retry in self.retries.items():
            seconds = max(0, round(retry.due - now))
            countdown = f"in {seconds}s" if seconds else "now"
            parts.append(
                f"[b]⟳ {escape(printable(label))} {countdown}[/b] "
                f"(try {retry.attempt}, {retry.waiting} waiting)"
            )
        if self.stats is not None:
            parts.append(count_of(self.stats.connections, "conn"))
        if self.listening:
            # amqp:// is what an address means without a scheme; amqps:// stays.
            shown = self.listening.removeprefix("amqp://")
            parts.append(f"listening {escape(printable(shown))}")
        _show(self._line, " │ ".join(parts))
        if self.stats is not None:
            stats = self.stats
            _show(self._in_label, f"in {stats.received:,} {stats.in_rate:,.0f}/s")
            _show(self._out_label, f"out {stats.sent:,} {stats.out_rate:,.0f}/s")


def _show(static: Static, text: str) -> None:
    """``text`` in ``static``, redrawn only if it changed: an update lays the bar out
    again, and in a flood the bar is told the same thing every second."""
    if str(static.content) != text:
        static.update(text)


def _anchored(rates: deque[float]) -> list[float]:
    """The rates for a sparkline, with a 0 before them: a sparkline scales from the
    lowest value it is given, so a steady 30,000/s would read as flat as 0/s."""
    # A fresh list too: a sparkline redraws when its data is replaced, not mutated.
    return [0.0, *rates]
