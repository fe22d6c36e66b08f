"""The Outgoing pane: every message put, with its tracker status updating live."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message

from ...formatting import clock_time, printable, short_address
from ...messenger.status import PENDING, Status
from ...settings import DEFAULT_MAX_MESSAGES
from .virtual_table import Cell, Column, Cut, VirtualTable


@dataclass(slots=True)
class OutgoingRow:
    """A message put (its tracker and status), or one held from a recovery file (not sent)."""

    tracker: int | None
    at: float
    address: str
    subject: str
    status: Status = PENDING
    held_from: Path | None = None

    @property
    def waiting(self) -> bool:
        """No answer yet, or not even sent: such a row is the last to leave a full table."""
        return self.status is PENDING or self.held_from is not None


def outgoing_cells(row: OutgoingRow) -> Sequence[Cell]:
    name = "HELD" if row.held_from is not None else row.status.name
    return (
        ("" if row.tracker is None else str(row.tracker), "muted"),
        (clock_time(row.at), "muted"),
        (short_address(row.address), None),
        (printable(row.subject), None),
        (name, f"status--{name.lower()}"),
    )


class OutgoingPane(Vertical):
    """The tracker table: PENDING until the peer answers."""

    # Zoom (z) shows the pane on the whole screen.
    ALLOW_MAXIMIZE = True

    HELP = (
        "Every message you sent, with the status the peer gave it: PENDING until it "
        "answers, then ACCEPTED, REJECTED, RELEASED or MODIFIED; ABORTED when the "
        "connection failed first. HELD rows are messages of a recovery file (an earlier "
        "session's, not answered then), not sent: `r` on one sends its file's messages."
    )

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "send_held", "Send held", id="outgoing.send_held"),
    ]

    @dataclass
    class SendHeldRequested(Message):
        """The user wants the held messages of ``origin`` sent."""

        origin: Path

    def __init__(self, *, max_messages: int = DEFAULT_MAX_MESSAGES, id: str | None = None):
        super().__init__(id=id)
        self.max_messages = max_messages
        self.rows: list[OutgoingRow] = []
        self._by_tracker: dict[int, OutgoingRow] = {}

    def compose(self) -> ComposeResult:
        yield VirtualTable(
            [
                Column("#", 5, min_width=3, cut=Cut.START),
                Column("time", 8, drop_priority=2),
                Column("address", None, min_width=12, weight=2, cut=Cut.MIDDLE),
                Column("subject", None, min_width=8, weight=2, drop_priority=1),
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
        if row.tracker is not None:
            self._by_tracker[row.tracker] = row
        excess = len(self.rows) - self.max_messages
        if excess > 0:
            # Oldest answered rows go first; pending ones only when nothing else is left.
            keep = []
            for existing in self.rows:
                if excess > 0 and not existing.waiting:
                    excess -= 1
                    self._forget(existing)
                else:
                    keep.append(existing)
            if excess > 0:
                for existing in keep[:excess]:
                    self._forget(existing)
                keep = keep[excess:]
            self.rows[:] = keep

    def _forget(self, row: OutgoingRow) -> None:
        if row.tracker is not None:
            self._by_tracker.pop(row.tracker, None)

    def hold(self, rows: Sequence[OutgoingRow]) -> None:
        """Show messages of a recovery file, not sent (each row's ``held_from`` says which)."""
        for row in rows:
            self.add(row)
        self.changed()

    def release_held(self, origin: Path) -> int:
        """Take the held rows of ``origin`` away (their messages are being sent); how many."""
        before = len(self.rows)
        self.rows[:] = [row for row in self.rows if row.held_from != origin]
        self.changed()
        return before - len(self.rows)

    def action_send_held(self) -> None:
        row = self.table.current
        if not isinstance(row, OutgoingRow) or row.held_from is None:
            self.notify("no held message under the cursor: held rows come from recovery files")
            return
        self.post_message(self.SendHeldRequested(row.held_from))

    def set_status(self, tracker: int, status: Status) -> None:
        row = self._by_tracker.get(tracker)
        if row is not None:
            row.status = status

    def changed(self) -> None:
        self.table.rows_changed()
        held = sum(1 for row in self.rows if row.held_from is not None)
        pending = sum(1 for row in self.rows if row.status is PENDING and row.held_from is None)
        subtitle = f"{len(self.rows) - held} sent · {pending} pending"
        if held:
            subtitle += f" · {held} held"
        self.border_subtitle = subtitle
