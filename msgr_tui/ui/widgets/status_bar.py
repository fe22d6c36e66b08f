"""One line at the bottom: who we are, connections, traffic."""

from __future__ import annotations

from rich.markup import escape
from textual.widgets import Static

from ...bridge import Stats
from ...formatting import printable


class StatusBar(Static):
    """Messenger name, connection count, messages in and out with rates."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("starting…", id=id)
        self.name_text = ""
        self.listening = ""
        self.stats: Stats | None = None
        self.state = "starting"

    def show_stats(self, stats: Stats) -> None:
        self.stats = stats
        self.name_text = stats.name
        self._render_line()

    def show_listening(self, address: str) -> None:
        self.listening = address
        self._render_line()

    def show_state(self, state: str) -> None:
        self.state = state
        self._render_line()

    def _render_line(self) -> None:
        parts = [f"[b]{escape(printable(self.name_text or 'msgr-tui'))}[/b]"]
        if self.state != "running":
            parts.append(self.state)
        if self.listening:
            parts.append(f"listening {escape(printable(self.listening))}")
        if self.stats is not None:
            stats = self.stats
            parts.append(f"conns {stats.connections}")
            parts.append(f"in {stats.received} ({stats.in_rate:,.0f}/s)")
            parts.append(f"out {stats.sent} ({stats.out_rate:,.0f}/s)")
        self.update(" │ ".join(parts))
