"""The Subscriptions pane: remote sources and ~ listeners with their live state."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Input

from ...bridge import Purge, SourceReading, Subscribe, Unsubscribe
from ...formatting import printable, short_address
from ...messenger.address import AddressError, parse_address
from ...messenger.failures import Failure
from ...messenger.subscription import BrowseMode, SubscriptionState
from ..messages import CommandRequested
from .virtual_table import Cell, Column, Cut, VirtualTable


@dataclass(slots=True)
class SubscriptionRow:
    source: str
    state: SubscriptionState = SubscriptionState.CONNECTING
    failure: Failure | None = None
    connect_address: str | None = None
    reading: SourceReading | None = None

    @property
    def error(self) -> str | None:
        return self.failure.reason if self.failure is not None else None

    @property
    def browse_mode(self) -> BrowseMode:
        return self.reading.browse_mode if self.reading is not None else BrowseMode.NONE


def reading_note(reading: SourceReading | None) -> str | None:
    """What the peer made of a browse or a selector, in words (None: nothing to say)."""
    if reading is None:
        return None
    notes = []
    if reading.browse_mode is BrowseMode.COPY:
        notes.append("browsing: the peer sends copies and keeps the messages")
    elif reading.browse_mode is BrowseMode.PEEK:
        why = (
            f"{reading.peer_product} only echoes copy"
            if reading.peer_product
            else "the peer did not confirm copy"
        )
        notes.append(
            f"peeking ({why}): messages are held, never accepted, and given back when "
            "the source is removed or the session ends; a broker may count a delivery"
        )
    if reading.selector is not None and reading.selector_confirmed is not None:
        if not reading.selector_confirmed:
            notes.append("the peer did not confirm the selector: messages are NOT filtered")
        elif not reading.selector_honoured:
            who = reading.peer_product or "the peer"
            notes.append(f"{who} echoes the selector but filters nothing: NOT a filtered view")
    return "; ".join(notes) or None


def subscription_cells(row: SubscriptionRow) -> Sequence[Cell]:
    note = reading_note(row.reading)
    listening = f"peers send to {row.connect_address}" if row.connect_address else ""
    detail = row.error or note or listening
    state = row.state.value
    if row.state is SubscriptionState.ATTACHED and row.browse_mode in SHOWN_MODES:
        state = SHOWN_MODES[row.browse_mode]  # attached, and how it reads
    reading = row.reading
    if reading is not None and reading.selector and not reading.selector_honoured:
        state += " !" if reading.selector_confirmed is not None else ""
    return (
        (short_address(row.source), None),
        (state, f"status--{row.state.value}"),
        (printable(detail), "status--failed" if row.error else "muted"),
    )


SHOWN_MODES = {BrowseMode.COPY: "browse", BrowseMode.PEEK: "peek"}


SOURCE_PLACEHOLDER = "n: add amqp://host/queue or amqp://~host:port"
BROWSE_PLACEHOLDER = "browse: amqp://host/queue [selector], enter"


class SubscriptionsPane(Vertical):
    """Where messages come from. Type a source and press enter to add it."""

    # Zoom (z) shows the pane on the whole screen.
    ALLOW_MAXIMIZE = True

    HELP = (
        "Sources the Messenger receives from. `amqp://host:port/queue` subscribes to a "
        "node of a broker or peer; `amqp://~127.0.0.1:5672` listens there. Press `n` "
        "to add one, `d` to remove the highlighted one. `b` adds a source to *browse*: "
        "its messages are shown and never consumed (the peer is asked for copies; "
        "when it does not confirm, or only echoes it as RabbitMQ does, they are "
        "*peeked*: held unsettled and given back at the end). A selector may follow "
        "the address after a space (`amqp://host/q color = 'red'`): the state shows "
        "`!` and the detail says so when the peer did not confirm or honour it. `P` purges "
        "the highlighted source, after asking: every message it holds now is received "
        "and accepted (until it has sent nothing for a second), and the count is told."
    )

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "new", "Add source", id="subscriptions.new"),
        Binding("b", "browse", "Browse source", id="subscriptions.browse"),
        Binding("P", "purge", "Purge", show=False, id="subscriptions.purge"),
        Binding("d,delete", "remove", "Remove", id="subscriptions.remove"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: list[SubscriptionRow] = []
        self._browse_next = False

    def compose(self) -> ComposeResult:
        yield VirtualTable(
            [
                Column("source", None, min_width=12, weight=2, cut=Cut.START),
                Column("state", 10, min_width=6),
                Column("detail", None, min_width=8, drop_priority=2),
            ],
            subscription_cells,
            empty_text="no sources: press n to add one",
            follow=False,
            id="subscriptions-table",
        )
        yield Input(placeholder=SOURCE_PLACEHOLDER, id="new-source")

    def on_mount(self) -> None:
        self.border_title = "1 Subscriptions"
        self.table.set_rows(self.rows)

    @property
    def table(self) -> VirtualTable:
        return self.query_one("#subscriptions-table", VirtualTable)

    def update_source(
        self,
        source: str,
        state: SubscriptionState,
        failure: Failure | None,
        connect_address: str | None = None,
        reading: SourceReading | None = None,
    ) -> None:
        closed = SubscriptionState.CLOSED
        for row in self.rows:
            if row.source == source:
                if state is closed and row.state is SubscriptionState.FAILED:
                    return  # keep the reason it failed on screen
                row.state = state
                row.failure = failure
                if connect_address:
                    row.connect_address = connect_address
                if reading is not None:
                    self._tell_reading(source, row.reading, reading)
                    row.reading = reading
                break
        else:
            if state is closed:
                return
            self.rows.append(SubscriptionRow(source, state, failure, connect_address, reading))
        self.table.rows_changed()

    def _tell_reading(self, source: str, before: SourceReading | None, now: SourceReading) -> None:
        """Say once, in a toast (the detail column is hidden at 80 columns), what the
        peer made of a browse or a selector."""
        note = reading_note(now)
        if note and note != reading_note(before):
            warn = now.browse_mode is BrowseMode.PEEK or (
                now.selector is not None and not now.selector_honoured
            )
            self.notify(
                printable(f"{source}: {note}"),
                severity="warning" if warn else "information",
                timeout=15,
            )

    def remove_source(self, source: str) -> None:
        self.rows[:] = [row for row in self.rows if row.source != source]
        self.table.rows_changed()

    def action_new(self) -> None:
        self._ask_source(browse=False)

    def action_browse(self) -> None:
        self._ask_source(browse=True)

    def _ask_source(self, *, browse: bool) -> None:
        self._browse_next = browse
        field = self.query_one("#new-source", Input)
        field.placeholder = BROWSE_PLACEHOLDER if browse else SOURCE_PLACEHOLDER
        field.focus()

    def action_purge(self) -> None:
        """After asking, naming the source: accept every message it holds now."""
        from ..screens.confirm import ConfirmScreen  # not needed at start

        row = self.table.current
        if not isinstance(row, SubscriptionRow) or row.connect_address:
            self.notify("purge acts on a remote source, not a listener", severity="warning")
            return
        if row.browse_mode is not BrowseMode.NONE:
            self.notify("a browsed source is never consumed: subscribe to it to purge it")
            return
        source = row.source

        def answered(yes: bool | None) -> None:
            if yes:
                self.post_message(CommandRequested(Purge(source)))

        self.app.push_screen(
            ConfirmScreen(
                f"Purge {source}? Every message it holds now is received and accepted: "
                "gone for good. The count is told when it is done."
            ),
            answered,
        )

    def action_remove(self) -> None:
        row = self.table.current
        if isinstance(row, SubscriptionRow):
            self.post_message(CommandRequested(Unsubscribe(row.source)))
            self.remove_source(row.source)

    @on(Input.Submitted, "#new-source")
    def _add(self, event: Input.Submitted) -> None:
        source, _, selector_text = event.value.strip().partition(" ")
        selector = selector_text.strip() or None
        browse, self._browse_next = self._browse_next, False
        event.input.placeholder = SOURCE_PLACEHOLDER
        if not source:
            return
        try:
            parse_address(source)
        except AddressError as error:
            self.notify(str(error), title="Cannot subscribe", severity="error")
            return
        if any(
            row.source == source and row.state is not SubscriptionState.FAILED for row in self.rows
        ):
            self.notify(f"already subscribed to {source}", severity="warning")
            return
        self.remove_source(source)
        event.input.value = ""
        self.update_source(source, SubscriptionState.CONNECTING, None)
        self.post_message(CommandRequested(Subscribe(source, browse=browse, selector=selector)))
        self.table.focus()
