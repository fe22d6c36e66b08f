"""The Incoming pane: the live incoming queue, with single-key outcomes."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input

from ...bridge import (
    Accept,
    Command,
    Forward,
    IncomingDecided,
    MessageArrived,
    Modify,
    Reject,
    Release,
)
from ...formatting import clock_time, count_of, preview, printable, short_address, to_jsonable
from ...messagefile import decode_message, record_line
from ...messenger.status import ACCEPTED, MODIFIED, PENDING, REJECTED, RELEASED, SETTLED, Status
from ...settings import DEFAULT_MAX_MESSAGES
from ..messages import CommandRequested
from ..screens.confirm import ConfirmScreen
from .virtual_table import Cell, Column, Cut, VirtualTable

SHOWN_STATES = {
    status: (status.name.lower(), f"status--{status.name.lower()}")
    for status in (PENDING, ACCEPTED, REJECTED, RELEASED, MODIFIED, SETTLED)
}


# Rows are compared by identity: the table finds its cursor's row among thousands.
@dataclass(slots=True, eq=False)
class IncomingRow:
    arrival: MessageArrived
    state: Status = PENDING
    automatic: bool = False
    marked: bool = False
    _search: str | None = None

    @property
    def search_text(self) -> str:
        """What search matches: address, subject, body, properties, annotations, state."""
        if self._search is None:
            arrival = self.arrival
            message = arrival.message
            parts = [
                arrival.problem or "",
                message.address or "",
                message.subject or "",
                preview(message.body, 2000),
                preview(message.properties, 500) if message.properties else "",
                preview(message.annotations, 500) if message.annotations else "",
                self.state.name,
            ]
            self._search = "\n".join(parts).lower()
        return self._search


class Search:
    """What the filter field holds: plain text, or a regular expression after ``re:``
    (both ignore case; each field is a line of its own, so ``^`` and ``$`` anchor to a
    field). ``problem`` says why a pattern cannot be used."""

    PREFIX = "re:"

    def __init__(self, typed: str) -> None:
        self.typed = typed.strip()
        self.problem: str | None = None
        self._text = ""
        self._pattern: re.Pattern[str] | None = None
        if self.typed.startswith(self.PREFIX):
            try:
                self._pattern = re.compile(
                    self.typed[len(self.PREFIX) :], re.IGNORECASE | re.MULTILINE
                )
            except re.error as error:
                self.problem = f"not a regular expression: {error}"
        else:
            self._text = self.typed.lower()

    def __bool__(self) -> bool:
        return bool(self.typed) and self.problem is None

    def matches(self, row: IncomingRow) -> bool:
        if self._pattern is not None:
            return self._pattern.search(row.search_text) is not None
        return self._text in row.search_text


def incoming_cells(row: IncomingRow) -> Sequence[Cell]:
    arrival = row.arrival
    message = arrival.message
    label, style = SHOWN_STATES.get(row.state, (row.state.name.lower(), None))
    if row.automatic and row.state is ACCEPTED:
        label, style = "auto-accepted", "status--auto"
    if arrival.browsed:
        label, style = "browsed", "status--settled"
    problem = arrival.problem
    body = (
        (preview(message.body, 120), None)
        if problem is None
        else (printable(f"undecodable: {problem}"), "status--failed")
    )
    return (
        # A marked row's number is starred: visible on any terminal, in any theme.
        (f"*{arrival.seq}", "marked") if row.marked else (str(arrival.seq), "muted"),
        (clock_time(arrival.received_at), "muted"),
        (short_address(message.address or ""), None),
        (printable(message.subject or ""), None),
        body,
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
        "*auto-accepted*. `space` marks a row (its number gets a `*`), `*` marks every "
        "row the filter shows (again: unmarks them); accept, reject, release, move, "
        "copy, resend, save and copy-as-lines act on the marked rows, else on the "
        "highlighted one, and ask first when they act on more than one. A move puts a "
        "copy (every section kept) to the destination and accepts the original only "
        "once the copy is ACCEPTED; a copy refused leaves its original pending. `/` "
        "filters on address, subject, body, properties and annotations; `re:` starts a "
        "regular expression; new arrivals are matched too. `y` copies the body and `Y` "
        "the marked messages as message-file lines to the clipboard, through the "
        "terminal (OSC 52: over SSH too; in tmux, `set -g set-clipboard on`)."
    )

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "accept", "Accept", id="incoming.accept"),
        Binding("r", "reject", "Reject", id="incoming.reject"),
        Binding("l", "release", "Release", id="incoming.release"),
        Binding("A", "accept_all", "Accept all", show=False, id="incoming.accept_all"),
        Binding("f", "failed", "Modified: failed", show=False, id="incoming.modified"),
        Binding(
            "u",
            "undeliverable",
            "Modified: undeliverable here",
            show=False,
            id="incoming.undeliverable",
        ),
        Binding("enter", "details", "Open", id="incoming.details"),
        Binding("slash", "filter", "Filter", id="incoming.filter"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="incoming.clear_filter"),
        # Not in the footer (80 columns): the help and the command palette list them.
        Binding("space", "mark", "Mark", show=False, id="incoming.mark"),
        Binding("asterisk", "mark_shown", "Mark shown", show=False, id="incoming.mark_shown"),
        Binding("m", "move", "Move", show=False, id="incoming.move"),
        Binding("c", "copy", "Copy to", show=False, id="incoming.copy"),
        Binding("ctrl+r", "resend", "Resend", show=False, id="incoming.resend"),
        Binding("s", "save", "Save", show=False, id="incoming.save"),
        Binding("e", "edit", "Edit and resend", show=False, id="incoming.edit"),
        Binding("R", "reply", "Reply", show=False, id="incoming.reply"),
        Binding("y", "yank_body", "Copy body", show=False, id="incoming.yank_body"),
        Binding("Y", "yank_messages", "Copy as lines", show=False, id="incoming.yank_messages"),
    ]

    class ForwardRequested(Message):
        """Copies of ``rows`` to a destination the user is asked for; ``move``: then accept."""

        def __init__(self, rows: list[IncomingRow], move: bool) -> None:
            super().__init__()
            self.rows = rows
            self.move = move

    class SaveRequested(Message):
        """``rows`` to a message file the user is asked for."""

        def __init__(self, rows: list[IncomingRow]) -> None:
            super().__init__()
            self.rows = rows

    class ComposeRequested(Message):
        """Compose a new message from ``row``'s: edited (``reply`` False) or a reply."""

        def __init__(self, row: IncomingRow, reply: bool) -> None:
            super().__init__()
            self.row = row
            self.reply = reply

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
        self._filter = Search("")
        self._view: list[IncomingRow] = self.rows
        self.marked = 0
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

    def add_messages(
        self, arrivals: Iterable[MessageArrived], decided: Iterable[IncomingDecided] = ()
    ) -> None:
        """New rows, then the decisions that came with them (a decision always follows
        its message's arrival), then the oldest rows past max_messages go: in a flood
        the window's decisions come in the same batch, and a row decided is the first
        to go, pending ones only if must."""
        new_rows = [IncomingRow(arrival) for arrival in arrivals]
        if new_rows:
            self.received_total += len(new_rows)
            # Browsed rows wait for nobody: they are given back, never decided.
            self.pending += sum(1 for row in new_rows if not row.arrival.browsed)
            self.rows.extend(new_rows)
            by_tracker = self._by_tracker
            for row in new_rows:
                by_tracker[row.arrival.tracker] = row
        set_state = self.set_state
        for decision in decided:
            set_state(decision.tracker, decision.outcome, decision.automatic)
        if not new_rows:
            self.states_changed()
            return
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
        if row.state is PENDING and state is not PENDING and not row.arrival.browsed:
            self.pending -= 1
        row.state = state
        row.automatic = automatic
        row._search = None

    def states_changed(self) -> None:
        self.table.refresh()
        self._update_title()

    def _trim(self) -> bool:
        """Keep at most max_messages rows: settled (and browsed) ones go first, pending
        only if must."""
        excess = len(self.rows) - self.max_messages
        if excess <= 0:
            return False
        oldest = self.rows[:excess]
        if not any(row.state is PENDING and not row.arrival.browsed for row in oldest):
            # A flood's usual case: the oldest rows are decided (the window accepted
            # them); they go without a walk through every row kept.
            by_tracker = self._by_tracker
            for row in oldest:
                by_tracker.pop(row.arrival.tracker, None)
                self.marked -= row.marked
            del self.rows[:excess]
            return True
        keep: list[IncomingRow] = []
        for row in self.rows:
            if excess > 0 and (row.state is not PENDING or row.arrival.browsed):
                excess -= 1
                self._by_tracker.pop(row.arrival.tracker, None)
                self.marked -= row.marked
            else:
                keep.append(row)
        if excess > 0:
            # Only pending rows are left to drop: say so, they are still unsettled.
            dropped, keep = keep[:excess], keep[excess:]
            for row in dropped:
                self._by_tracker.pop(row.arrival.tracker, None)
                self.marked -= row.marked
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
        count = len(self._view) if self._filter else len(self.rows)
        shown = f"{count}/{len(self.rows)}" if self._filter else str(count)
        noun = "message" if count == 1 else "messages"
        subtitle = f"{shown} {noun} · {self.pending} pending"
        if self.marked:
            subtitle += f" · {self.marked} marked"
        self.border_subtitle = subtitle

    # -------------------------------------------------------------- filters

    def _filtered(self, rows: Iterable[IncomingRow]) -> list[IncomingRow]:
        matches = self._filter.matches
        return [row for row in rows if matches(row)]

    def action_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.display = True
        field.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        search = Search(event.value)
        field = self.query_one("#filter", Input)
        field.set_class(search.problem is not None, "-bad-pattern")
        if search.problem is not None:
            field.tooltip = search.problem
            return  # the view stays as it was until the pattern is whole
        self._filter = search
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

    def targets(self) -> list[IncomingRow]:
        """The rows an action applies to: the marked ones, else the highlighted one."""
        if self.marked:
            return [row for row in self.rows if row.marked]
        row = self._current()
        return [row] if row is not None else []

    def clear_marks(self) -> None:
        for row in self.rows:
            row.marked = False
        self.marked = 0
        self.states_changed()

    def _after_asking(self, question: str, count: int, then: Callable[[], None]) -> None:
        """``then`` at once for one row; for more, once the user said yes."""
        if count <= 1:
            then()
            return

        def answered(yes: bool | None) -> None:
            if yes:
                then()

        self.app.push_screen(ConfirmScreen(question), answered)

    def _decide(self, make: Callable[[int], Command], verb: str) -> None:
        rows = self.targets()
        if not rows:
            self.notify("no message selected", severity="warning")
            return
        browsed = [row for row in rows if row.arrival.browsed]
        if browsed and len(browsed) == len(rows):
            self.notify(
                f"{'message #' + str(rows[0].arrival.seq) if len(rows) == 1 else 'these'} "
                f"{'was' if len(rows) == 1 else 'were'} browsed: never accepted, rejected or "
                "released here; the source keeps them (move or copy them to act)",
                severity="warning",
            )
            return
        pending = [row for row in rows if row.state is PENDING and not row.arrival.browsed]
        if not pending:
            row = rows[0]
            if len(rows) == 1:
                state = "auto-accepted" if row.automatic else row.state.name.lower()
                self.notify(f"message #{row.arrival.seq} is already {state}", severity="warning")
            else:
                self.notify("none of the marked messages is pending", severity="warning")
            return
        question = f"{verb} {count_of(len(pending), 'message')}?"
        if len(pending) < len(rows):
            question += f" ({len(rows) - len(pending)} marked already decided stay as they are)"

        def go() -> None:
            for row in pending:
                self._request(make(row.arrival.tracker))
            self.clear_marks()

        self._after_asking(question, len(rows), go)

    def _request(self, command: Command) -> None:
        self.post_message(CommandRequested(command))

    def action_accept(self) -> None:
        self._decide(Accept, "Accept")

    def action_reject(self) -> None:
        self._decide(Reject, "Reject")

    def action_release(self) -> None:
        self._decide(Release, "Release")

    def action_failed(self) -> None:
        """MODIFIED, delivery failed: the sender may send it again (and count the failure)."""
        self._decide(Modify, "Modify (delivery failed)")

    def action_undeliverable(self) -> None:
        """MODIFIED, undeliverable here: not to be sent to this receiver again."""
        self._decide(
            lambda tracker: Modify(tracker, undeliverable_here=True),
            "Modify (undeliverable here)",
        )

    def action_accept_all(self) -> None:
        if not self.pending:
            self.notify("no pending messages", severity="information")
            return
        self.post_message(CommandRequested(Accept(None)))

    def action_details(self) -> None:
        row = self._current()
        if row is not None:
            self.post_message(self.DetailsRequested(row.arrival, row.state))

    # ---------------------------------------------------------------- marks

    def action_mark(self) -> None:
        row = self._current()
        if row is None:
            return
        row.marked = not row.marked
        self.marked += 1 if row.marked else -1
        self.table.action_cursor_down()
        self.states_changed()

    def action_mark_shown(self) -> None:
        """Mark every row the filter shows; when they all are already, unmark them."""
        shown = self._view
        mark = not all(row.marked for row in shown)
        for row in shown:
            if row.marked != mark:
                row.marked = mark
                self.marked += 1 if mark else -1
        self.states_changed()

    # ------------------------------------------------- copies, files, clipboard

    def _chosen(self) -> list[IncomingRow] | None:
        rows = self.targets()
        if not rows:
            self.notify("no message selected", severity="warning")
            return None
        return self._decodable(rows)

    def _decodable(self, rows: list[IncomingRow]) -> list[IncomingRow] | None:
        """``rows`` but those that cannot be decoded (said): nothing to copy, show or save."""
        bad = [row for row in rows if row.arrival.problem is not None]
        if not bad:
            return rows
        which = f"message #{bad[0].arrival.seq}" if len(bad) == 1 else count_of(len(bad), "message")
        self.notify(
            printable(
                f"{which} could not be decoded ({bad[0].arrival.problem}): "
                "accept, reject, release or modify it; nothing else applies"
            ),
            severity="warning",
        )
        good = [row for row in rows if row.arrival.problem is None]
        return good or None

    def action_move(self) -> None:
        rows = self._chosen()
        if rows:
            self.post_message(self.ForwardRequested(rows, move=True))

    def action_copy(self) -> None:
        rows = self._chosen()
        if rows:
            self.post_message(self.ForwardRequested(rows, move=False))

    def action_resend(self) -> None:
        rows = self._chosen()
        if not rows:
            return

        def go() -> None:
            originals = tuple((row.arrival.tracker, row.arrival.message) for row in rows)
            self._request(Forward(originals, None))
            self.notify(f"{count_of(len(rows), 'message')} sent again, each to its own address")
            self.clear_marks()

        self._after_asking(
            f"Send {count_of(len(rows), 'message')} again, each to its own address?",
            len(rows),
            go,
        )

    def action_save(self) -> None:
        rows = self.targets() if self.marked else list(self._view)
        if not rows:
            self.notify("no messages to save", severity="warning")
            return
        rows = self._decodable(rows)
        if rows:
            self.post_message(self.SaveRequested(rows))

    def _current_decodable(self) -> IncomingRow | None:
        row = self._current()
        return row if row is not None and self._decodable([row]) else None

    def action_edit(self) -> None:
        row = self._current_decodable()
        if row is not None:
            self.post_message(self.ComposeRequested(row, reply=False))

    def action_reply(self) -> None:
        row = self._current_decodable()
        if row is None:
            return
        if not row.arrival.message.reply_to:
            self.notify(f"message #{row.arrival.seq} has no reply-to", severity="warning")
            return
        self.post_message(self.ComposeRequested(row, reply=True))

    def action_yank_body(self) -> None:
        row = self._current_decodable()
        if row is None:
            return
        text = body_text(row.arrival.message.body)
        self.app.copy_to_clipboard(text)
        self.notify(
            f"copied the body of #{row.arrival.seq} ({count_of(len(text), 'character')}) "
            "to the clipboard"
        )

    def action_yank_messages(self) -> None:
        rows = self._chosen()
        if not rows:
            return
        lines = [
            record_line(decode_message(row.arrival.message.to_message().encode())) for row in rows
        ]
        self.app.copy_to_clipboard("".join(f"{line}\n" for line in lines))
        self.notify(
            f"copied {count_of(len(rows), 'message')} as message-file lines to the clipboard"
        )


def body_text(body: object) -> str:
    """A body as the text to paste: text as it is, bytes as UTF-8 (else hex), JSON else."""
    if body is None:
        return ""
    if isinstance(body, str):
        return body
    if isinstance(body, (bytes, bytearray, memoryview)):
        data = bytes(body)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.hex()
    return json.dumps(to_jsonable(body), ensure_ascii=False)
