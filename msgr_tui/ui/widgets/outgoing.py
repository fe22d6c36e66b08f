"""The Outgoing pane: every message put, with its tracker status updating live."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical

from ...formatting import clock_time, printable
from ...messenger.status import PENDING, Status
from ...settings import DEFAULT_MAX_MESSAGES
from .virtual_table import Cell, Column, VirtualTable


@dataclass(slots=True)
class OutgoingRow:
    tracker: int
    at: float
    address: str
    subject: str
    status: Status = PENDING


def outgoing_cells(row: OutgoingRow) -> Sequence[Cell]:
    name = row.status.name
    return (
        (str(row.tracker), "muted"),
        (clock_time(row.at), "muted"),
        (printable(row.address), None),
        (printable(row.subject), None),
        (name, f"status--{name.lower()}"),
    )


class OutgoingPane(Vertical):
    """The tracker table: PENDING until the peer answers."""

    HELP = (
        "Every message you sent, with the status the peer gave it: PENDING until it "
        "answers, then ACCEPTED, REJECTED, RELEASED or MODIFIED; ABORTED when the "
        "connection failed first."
    )

    BINDINGS: ClassVar[list[BindingType]] = []

    def __init__(self, *, max_messages: int = DEFAULT_MAX_MESSAGES, id: str | None = None):
        super().__init__(id=id)
        self.max_messages = max_messages
        self.rows: list[OutgoingRow] = []
        self._by_tracker: dict[int, OutgoingRow] = {}

    def compose(self) -> ComposeResult:
        yield VirtualTable(
            [
                Column("#", 6, min_width=3),
                Column("time", 8, drop_priority=2),
                Column("address", None, min_width=8, weight=2, keep_end=True),
                Column("subject", None, min_width=6, drop_priority=1),
                Column("status", 8),
            ],
            outgoing_cells,
            empty_text="nothing sent yet: compose a message and press ctrl+s",
            id="outgoing-table",
        )

    def on_mount(self) -> None:
        self.border_title = "4 Outgoing"
        self.table.set_rows(self.rows)

    @property
    def table(self) -> VirtualTable:
        return self.query_one("#outgoing-table", VirtualTable)

    def add(self, row: OutgoingRow) -> None:
        self.rows.append(row)
        self._by_tracker[row.tracker] = row
        excess = len(self.rows) - self.max_messages
        if excess > 0:
            # Oldest answered rows go first; pending ones only when nothing else is left.
            keep = []
            for existing in self.rows:
                if excess > 0 and existing.status is not PENDING:
                    excess -= 1
                    self._by_tracker.pop(existing.tracker, None)
                else:
                    keep.append(existing)
            if excess > 0:
                for existing in keep[:excess]:
                    self._by_tracker.pop(existing.tracker, None)
                keep = keep[excess:]
            self.rows[:] = keep

    def set_status(self, tracker: int, status: Status) -> None:
        row = self._by_tracker.get(tracker)
        if row is not None:
            row.status = status

    def changed(self) -> None:
        self.table.rows_changed()
        pending = sum(1 for row in self.rows if row.status is PENDING)
        self.border_subtitle = f"{len(self.rows)} sent · {pending} pending"
