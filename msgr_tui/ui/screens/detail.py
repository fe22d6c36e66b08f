"""Every field of one incoming message, and its body pretty-printed."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from ...bridge import MessageArrived
from ...formatting import hexdump, pretty_body, preview, printable, timestamp_text
from ...messenger.status import Status


def _value(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, bytes):
        return preview(value, 400)
    return printable(str(value))


def _fields_table(title: str, rows: list[tuple[str, Any]]) -> Table:
    table = Table(title=title, title_justify="left", show_header=False, box=None, expand=True)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold", ratio=1)
    for name, value in rows:
        # Text, not str: Rich would read "[/]" or "[link=...]" from a peer as markup.
        table.add_row(Text(printable(str(name))), Text(_value(value)))
    return table


def message_sections(arrival: MessageArrived, state: Status) -> list[Table | Text]:
    message = arrival.message
    if arrival.problem is not None:
        # All there is: the bytes as they came, and why they do not decode.
        return [
            Text(printable(f"Could not be decoded: {arrival.problem}"), style="bold"),
            Text(f"State: {state.name}"),
            Text(f"As received ({len(arrival.data)} bytes of AMQP sections)", style="bold"),
            Text(hexdump(arrival.data)),
        ]
    header = [
        ("durable", message.durable),
        ("priority", message.priority),
        ("ttl (s)", message.ttl),
        ("first acquirer", message.first_acquirer),
        ("delivery count", message.delivery_count),
    ]
    properties = [
        ("state", state.name),
        ("message id", message.message_id),
        ("user id", message.user_id),
        ("to (address)", message.address),
        ("subject", message.subject),
        ("reply to", message.reply_to),
        ("correlation id", message.correlation_id),
        ("content type", message.content_type),
        ("content encoding", message.content_encoding),
        ("absolute expiry", timestamp_text(message.expiry_time)),
        ("creation time", timestamp_text(message.creation_time)),
        ("group id", message.group_id),
        ("group sequence", message.group_sequence),
        ("reply-to group id", message.reply_to_group_id),
    ]
    kind, body = pretty_body(message.body, message.content_type)
    # The body first: it is what people open a message for; fields follow.
    sections: list[Table | Text] = [Text(f"Body ({kind})", style="bold"), Text(body)]
    for title, values in (
        ("Application properties", message.properties),
        ("Message annotations", message.annotations),
        ("Delivery annotations", message.instructions),
    ):
        if values:
            sections.append(_fields_table(title, sorted(values.items(), key=lambda kv: str(kv[0]))))
        else:
            sections.append(Text(f"{title}: none", style="dim"))
    sections.append(_fields_table("Properties", properties))
    sections.append(_fields_table("Header", header))
    return sections


class DetailScreen(ModalScreen[None]):
    """A read-only view of one message; escape or q closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "dismiss", "Close", id="detail.close"),
    ]

    def __init__(self, arrival: MessageArrived, state: Status) -> None:
        super().__init__()
        self.arrival = arrival
        self.state = state

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="detail"):
            for section in message_sections(self.arrival, self.state):
                yield Static(section, classes="detail-section")
        yield Footer()

    def on_mount(self) -> None:
        scroll = self.query_one("#detail", VerticalScroll)
        scroll.border_title = f"Message #{self.arrival.seq}"
        scroll.focus()
