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

from ...bridge import Subscribe, Unsubscribe
from ...formatting import printable, short_address
from ...messenger.address import AddressError, parse_address
from ...messenger.failures import Failure
from ...messenger.subscription import SubscriptionState
from ..messages import CommandRequested
from .virtual_table import Cell, Column, Cut, VirtualTable


@dataclass(slots=True)
class SubscriptionRow:
    source: str
    state: SubscriptionState = SubscriptionState.CONNECTING
    failure: Failure | None = None
    connect_address: str | None = None

    @property
    def error(self) -> str | None:
        return self.failure.reason if self.failure is not None else None


def subscription_cells(row: SubscriptionRow) -> Sequence[Cell]:
    detail = row.error or (f"peers send to {row.connect_address}" if row.connect_address else "")
    return (
        (short_address(row.source), None),
        (row.state.value, f"status--{row.state.value}"),
        (printable(detail), "status--failed" if row.error else "muted"),
    )


class SubscriptionsPane(Vertical):
    """Where messages come from. Type a source and press enter to add it."""

    # Zoom (z) shows the pane on the whole screen.
    ALLOW_MAXIMIZE = True

    HELP = (
        "Sources the Messenger receives from. `amqp://host:port/queue` subscribes to a "
        "node of a broker or peer; `amqp://~127.0.0.1:5672` listens there. Press `n` "
        "to add one, `d` to remove the highlighted one."
    )

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "new", "Add source", id="subscriptions.new"),
        Binding("d,delete", "remove", "Remove", id="subscriptions.remove"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: list[SubscriptionRow] = []

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
        yield Input(placeholder="n: add amqp://host/queue or amqp://~host:port", id="new-source")

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
                break
        else:
            if state is closed:
                return
            self.rows.append(SubscriptionRow(source, state, failure, connect_address))
        self.table.rows_changed()

    def remove_source(self, source: str) -> None:
        self.rows[:] = [row for row in self.rows if row.source != source]
        self.table.rows_changed()

    def action_new(self) -> None:
        self.query_one("#new-source", Input).focus()

    def action_remove(self) -> None:
        row = self.table.current
        if isinstance(row, SubscriptionRow):
            self.post_message(CommandRequested(Unsubscribe(row.source)))
            self.remove_source(row.source)

    @on(Input.Submitted, "#new-source")
    def _add(self, event: Input.Submitted) -> None:
        source = event.value.strip()
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
        self.post_message(CommandRequested(Subscribe(source)))
        self.table.focus()
