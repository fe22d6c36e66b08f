"""The Incoming pane: the live incoming queue, with single-key outcomes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input

from ...bridge import Accept, MessageArrived, Reject, Release
from ...formatting import clock_time, count_of, preview, printable, short_address
from ...messenger.status import ACCEPTED, PENDING, REJECTED, RELEASED, SETTLED, Status
from ...settings import DEFAULT_MAX_MESSAGES
from ..messages import CommandRequested
from .virtual_table import Cell, Column, Cut, VirtualTable

SHOWN_STATES = {
    status: (status.name.lower(), f"status--{status.name.lower()}")
    for status in (PENDING, ACCEPTED, REJECTED, RELEASED, SETTLED)
}


@dataclass(slots=True)
class IncomingRow:
    arrival: MessageArrived
    state: Status = PENDING
    automatic: bool = False
    _search: str | None = None

    @property
    def search_text(self) -> str:
        if self._search is None:
            message = self.arrival.message
            parts = [
                message.address or "",
                message.subject or "",
                preview(message.body, 2000),
                preview(message.properties, 500) if message.properties else "",
                self.state.name,
            ]
            self._search = "\n".join(parts).lower()
        return self._search


def incoming_cells(row: IncomingRow) -> Sequence[Cell]:
    arrival = row.arrival
    message = arrival.message
    label, style = SHOWN_STATES.get(row.state, (row.state.name.lower(), None))
    if row.automatic and row.state is ACCEPTED:
        label, style = "auto-accepted", "status--auto"
    return (
        (str(arrival.seq), "muted"),
        (clock_time(arrival.received_at), "muted"),
        (short_address(message.address or ""), None),
        (printable(message.subject or ""), None),
        (preview(message.body, 120), None),
        (label, style),
    )


class IncomingPane(Vertical, can_focus=False):
    """Messages as they arrive. ``a``/``r``/``l`` decide the highlighted one's fate."""

    # Zoom (z) shows the pane on the whole screen.
    ALLOW_MAXIMIZE = True

    HELP = (
        "Every message received by the Messenger, newest last. Messages stay "
        "*pending* until you accept, reject or release them; when more than the "
        "incoming window are pending, the oldest are accepted for you and shown as "
        "*auto-accepted*."
    )

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "accept", "Accept", id="incoming.accept"),
        Binding("r", "reject", "Reject", id="incoming.reject"),
        Binding("l", "release", "Release", id="incoming.release"),
        Binding("A", "accept_all", "Accept all", show=False, id="incoming.accept_all"),
        Binding("enter", "details", "Open", id="incoming.details"),
        Binding("slash", "filter", "Filter", id="incoming.filter"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="incoming.clear_filter"),
    ]

    class DetailsRequested(Message):
        def __init__(self, arrival: MessageArrived, state: Status) -> None:
            super().__init__()
            self.arrival = arrival
            self.state = state

    def __init__(self, *, max_messages: int = DEFAULT_MAX_MESSAGES, id: str | None = None):
        super().__init__(id=id)
        self.max_messages = max_messages
        self.rows: list[IncomingRow] = []
        self._by_tracker: dict[int, IncomingRow] = {}
        self._filter = ""
        self._view: list[IncomingRow] = self.rows
        # Rows still waiting for a decision (kept as a count: a flood adds rows per frame).
        self.pending = 0
        # Every message ever shown, including rows since dropped by max_messages.
        self.received_total = 0

    def compose(self) -> ComposeResult:
        yield Input(placeholder="filter: text in address, subject, body, properties", id="filter")
        yield VirtualTable(
            [
                # Subject and body first: at 80 columns the time and then the
                # address (the subscription's, mostly) make room for them.
                Column("#", 5, min_width=3, cut=Cut.START),
                Column("time", 8, drop_priority=3),
                Column("address", None, min_width=12, weight=2, drop_priority=2, cut=Cut.MIDDLE),
                Column("subject", None, min_width=12, weight=3),
                Column("body", None, min_width=12, weight=4),
                # "auto-accepted" is cut to "auto-acc…" there; its colour still tells.
                Column("state", 9, min_width=8),
            ],
            incoming_cells,
            empty_text="no messages yet",
            id="incoming-table",
        )

    def on_mount(self) -> None:
        self.border_title = "3 Incoming"
        self.table.set_rows(self.rows)
        self.query_one("#filter", Input).display = False

    @property
    def table(self) -> VirtualTable:
        return self.query_one("#incoming-table", VirtualTable)

    # -------------------------------------------------------------- updates

    def add_messages(self, arrivals: Iterable[MessageArrived]) -> None:
        new_rows = [IncomingRow(arrival) for arrival in arrivals]
        if not new_rows:
            return
        self.received_total += len(new_rows)
        self.pending += len(new_rows)
        self.rows.extend(new_rows)
        for row in new_rows:
            self._by_tracker[row.arrival.tracker] = row
        trimmed = self._trim()
        if self._filter:
            if trimmed:
                self._view = self._filtered(self.rows)
            else:
                self._view.extend(self._filtered(new_rows))
        elif trimmed or self._view is not self.rows:
            self._view = self.rows
        self.table.set_rows(self._view, keep=self.table.current if trimmed else None)
        self._update_title()

    def set_state(self, tracker: int, state: Status, automatic: bool) -> None:
        row = self._by_tracker.get(tracker)
        if row is None:
            return
        if row.state is PENDING and state is not PENDING:
            self.pending -= 1
        row.state = state
        row.automatic = automatic
        row._search = None

    def states_changed(self) -> None:
        self.table.refresh()
        self._update_title()

    def _trim(self) -> bool:
        """Keep at most max_messages rows: settled ones go first, pending only if must."""
        excess = len(self.rows) - self.max_messages
        if excess <= 0:
            return False
        keep: list[IncomingRow] = []
        for row in self.rows:
            if excess > 0 and row.state is not PENDING:
                excess -= 1
                self._by_tracker.pop(row.arrival.tracker, None)
            else:
                keep.append(row)
        if excess > 0:
            # Only pending rows are left to drop: say so, they are still unsettled.
            dropped, keep = keep[:excess], keep[excess:]
            for row in dropped:
                self._by_tracker.pop(row.arrival.tracker, None)
            self.pending -= len(dropped)
            self.notify(
                f"{count_of(len(dropped), 'pending message')} "
                f"{'was' if len(dropped) == 1 else 'were'} dropped from the view (max_messages="
                f"{self.max_messages}); they stay unsettled until they leave the incoming window",
                severity="warning",
            )
        self.rows[:] = keep
        return True

    def _update_title(self) -> None:
        pending = self.pending
        shown = f"{len(self._view)}/{len(self.rows)}" if self._filter else str(len(self.rows))
        noun = (
            "message" if (len(self._view) if self._filter else len(self.rows)) == 1 else "messages"
        )
        self.border_subtitle = f"{shown} {noun} · {pending} pending"

    # -------------------------------------------------------------- filters

    def _filtered(self, rows: Iterable[IncomingRow]) -> list[IncomingRow]:
        needle = self._filter
        return [row for row in rows if needle in row.search_text]

    def action_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.display = True
        field.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self._filter = event.value.strip().lower()
        self._view = self._filtered(self.rows) if self._filter else self.rows
        self.table.set_rows(self._view, keep=self.table.current)
        self._update_title()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.table.focus()

    def action_clear_filter(self) -> None:
        field = self.query_one("#filter", Input)
        if field.value or field.display:
            field.value = ""
            field.display = False
            self.table.focus()

    # -------------------------------------------------------------- actions

    def _current(self) -> IncomingRow | None:
        row = self.table.current
        return row if isinstance(row, IncomingRow) else None

    def _decide(self, command_type: type[Accept] | type[Reject] | type[Release]) -> None:
        row = self._current()
        if row is None:
            self.notify("no message selected", severity="warning")
            return
        if row.state is not PENDING:
            state = "auto-accepted" if row.automatic else row.state.name.lower()
            self.notify(f"message #{row.arrival.seq} is already {state}", severity="warning")
            return
        self.post_message(CommandRequested(command_type(row.arrival.tracker)))

    def action_accept(self) -> None:
        self._decide(Accept)

    def action_reject(self) -> None:
        self._decide(Reject)

    def action_release(self) -> None:
        self._decide(Release)

    def action_accept_all(self) -> None:
        if not self.pending:
            self.notify("no pending messages", severity="information")
            return
        self.post_message(CommandRequested(Accept(None)))

    def action_details(self) -> None:
        row = self._current()
        if row is not None:
            self.post_message(self.DetailsRequested(row.arrival, row.state))
