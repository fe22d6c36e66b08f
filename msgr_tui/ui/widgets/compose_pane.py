"""The Compose pane: write a message and send it with ctrl+s.

The pane does not build the Message: the bridge's worker does, once, from
the Draft (``drafts.build_message``), and answers ``PutFailed(draft_id,
error, field)`` for a draft it refuses, which the pane shows inline. One
builder means the checks cannot drift apart, and a 16 MiB body is not
encoded twice, once of them on the UI's event loop.
"""

from __future__ import annotations

import itertools
import json
from typing import ClassVar, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.widgets import Checkbox, Collapsible, Input, Label, Select, Static, TextArea

from ...bridge import Put
from ...drafts import BODY_JSON, BODY_TEXT, Draft
from ...formatting import count_of, printable, to_jsonable
from ...messenger.snapshot import MessageSnapshot
from ..messages import CommandRequested

RECENT_LIMIT = 20
MORE_TITLE = "more fields (ctrl+t)"
# Fields inside the collapsed part: an error there opens it, to be seen.
MORE_FIELDS = {"reply_to", "correlation_id", "content_type", "ttl", "priority", "properties"}
FIELD_IDS = {
    "address": "#address",
    "subject": "#subject",
    "body": "#body",
    "reply_to": "#reply-to",
    "correlation_id": "#correlation-id",
    "content_type": "#content-type",
    "ttl": "#ttl",
    "priority": "#priority",
    "properties": "#properties",
}


class ComposePane(VerticalScroll, can_focus=True):
    """A message form. ``ctrl+s`` sends; errors show here and nothing is sent."""

    # Zoom (z) shows the pane on the whole screen.
    ALLOW_MAXIMIZE = True

    HELP = (
        "Write a message and press `ctrl+s` to send it. The body is text, or JSON "
        "(checked before sending, sent as a string with content type application/json). "
        "Application properties are `key=value` lines; numbers, true/false and null keep "
        "their type. `~` in reply-to stands for this Messenger's name. Typing in the "
        "address field suggests the addresses recently sent to; `right` at the end of "
        "the field takes the suggestion. The fields past the body are folded under "
        "*more*: `ctrl+t` (or `enter` on its title) opens and closes them; a field "
        "there that is refused opens them. `ctrl+o` sends the messages of a message "
        "file (as `msgr-tui recv -o` or `s` in Incoming writes them): each to its own "
        "address or to one you give, at once or at a rate."
    )

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+t", "toggle_more", "More fields", id="compose.more"),
        Binding("ctrl+o", "send_file", "Send a file", show=False, id="compose.send_file"),
    ]

    class SendFileRequested(Message):
        """The user wants to send a message file's messages (the screen asks which)."""

    # Draft ids are unique in the process: the bridge names a refused draft by its id.
    _ids = itertools.count(1)

    def __init__(self, *, address: str = "", id: str | None = None) -> None:
        super().__init__(id=id)
        self._initial_address = address
        self.recent: list[str] = []
        # What an edited or replied-to message brings that the form does not show.
        self.kept: MessageSnapshot | None = None
        self._binary_body = False

    def compose(self) -> ComposeResult:
        yield Static("", id="compose-error")
        yield Static("", id="compose-kept")
        yield Label("address")
        yield Input(self._initial_address, id="address", placeholder="amqp://host:port/queue")
        yield Label("subject")
        yield Input(id="subject")
        with Horizontal(classes="compose-row"):
            yield Label("body")
            yield Select(
                [("text", BODY_TEXT), ("JSON", BODY_JSON)],
                value=BODY_TEXT,
                allow_blank=False,
                id="body-mode",
            )
            # On, as `msgr-tui send`: a broker keeps what it accepted across a restart.
            yield Checkbox("durable", True, id="durable")
        yield TextArea(id="body", soft_wrap=True, show_line_numbers=False)
        # Collapsed at first: address, subject and body are what most messages need,
        # and at 80x24 the pane has room for little more.
        with Collapsible(title=MORE_TITLE, collapsed=True, id="more"):
            yield Label("reply-to")
            yield Input(id="reply-to", placeholder="~ = this messenger")
            yield Label("correlation id")
            yield Input(id="correlation-id")
            yield Label("content type")
            yield Input(id="content-type", placeholder="text/plain")
            with Horizontal(classes="compose-row"):
                yield Label("TTL s")
                yield Input(id="ttl", classes="short", placeholder="none")
                yield Label("priority")
                yield Input(id="priority", classes="short", placeholder="4")
            yield Label("application properties (key=value lines)")
            yield TextArea(id="properties", soft_wrap=True)

    def on_mount(self) -> None:
        self.border_title = "2 Compose"
        self.border_subtitle = "ctrl+s send"
        self.query_one("#compose-error", Static).display = False
        self.query_one("#compose-kept", Static).display = False

    def set_address(self, address: str, *, only_if_empty: bool = True) -> None:
        field = self.query_one("#address", Input)
        if not only_if_empty or not field.value.strip():
            field.value = address
            self._remember(address)

    def draft(self) -> Draft:
        text = self.query_one("#body", TextArea).text
        return Draft(
            address=self.query_one("#address", Input).value,
            subject=self.query_one("#subject", Input).value,
            body=text.encode("utf-8") if self._binary_body else text,
            body_mode=str(self.query_one("#body-mode", Select).value),
            reply_to=self.query_one("#reply-to", Input).value,
            correlation_id=self.query_one("#correlation-id", Input).value,
            content_type=self.query_one("#content-type", Input).value,
            ttl=self.query_one("#ttl", Input).value,
            priority=self.query_one("#priority", Input).value,
            durable=self.query_one("#durable", Checkbox).value,
            properties=self.query_one("#properties", TextArea).text,
            kept=self.kept,
        )

    # ------------------------------------------------- from a received message

    def load(self, message: MessageSnapshot, seq: int) -> bool:
        """Fill the form with ``message`` (message #``seq``) to edit and send as a new one.

        Every field the form has is filled; the rest (annotations, properties the
        form cannot write, group fields) is kept and sent with it. False (the
        user is told) for a body the form cannot hold.
        """
        body = message.body
        binary = isinstance(body, (bytes, bytearray, memoryview))
        if binary:
            try:
                text = bytes(body).decode("utf-8")
            except UnicodeDecodeError:
                self.notify(
                    f"message #{seq} has a binary body ({len(bytes(body))} bytes, not UTF-8) "
                    "that the form cannot hold: copy it (c) or resend it (ctrl+r) as it is",
                    severity="warning",
                )
                return False
            mode = BODY_TEXT
        elif body is None or isinstance(body, str):
            text, mode = body or "", BODY_TEXT
        else:
            text, mode = json.dumps(to_jsonable(body), ensure_ascii=False, indent=2), BODY_JSON
        written, unwritten = _properties_as_text(message.properties)
        self._fill(
            address=message.address or "",
            subject=message.subject or "",
            body=text,
            body_mode=mode,
            reply_to=message.reply_to or "",
            correlation_id="" if message.correlation_id is None else str(message.correlation_id),
            content_type=message.content_type or "",
            ttl="" if message.ttl is None else f"{message.ttl:g}",
            priority=str(message.priority),
            durable=message.durable,
            properties=written,
        )
        self._binary_body = binary
        self._keep(message._replace(properties=unwritten or None), f"#{seq}", body)
        return True

    def reply_to(self, message: MessageSnapshot, seq: int) -> None:
        """A new message to ``message``'s reply-to, correlated with its message-id."""
        correlation = message.message_id
        self._fill(
            address=message.reply_to or "",
            subject=message.subject or "",
            correlation_id="" if correlation is None else str(correlation),
        )
        self._binary_body = False
        # Only the id, typed as it came (a ulong or a uuid stays one).
        bare = message._replace(
            properties=None,
            annotations=None,
            content_encoding=None,
            group_id=None,
            group_sequence=None,
            reply_to_group_id=None,
            correlation_id=correlation,
        )
        self._keep(bare, f"a reply to #{seq}", None)

    def forget_kept(self) -> None:
        """Send plain form messages again (drop what an edited message brought)."""
        self.kept = None
        self._binary_body = False
        self.query_one("#compose-kept", Static).display = False

    def _fill(self, **fields: str | bool) -> None:
        """Set the form's fields: those named to their value, the others empty."""
        self.clear_error()
        for name, selector in FIELD_IDS.items():
            field = self.query_one(selector)
            value = str(fields.get(name, ""))
            if isinstance(field, TextArea):
                field.text = value
            else:
                cast(Input, field).value = value
        self.query_one("#body-mode", Select).value = str(fields.get("body_mode", BODY_TEXT))
        self.query_one("#durable", Checkbox).value = bool(fields.get("durable", True))
        more = any(fields.get(name) for name in MORE_FIELDS)
        self.query_one("#more", Collapsible).collapsed = not more

    def _keep(self, kept: MessageSnapshot, origin: str, body: object) -> None:
        self.kept = kept
        carried = []
        if kept.annotations:
            carried.append(count_of(len(kept.annotations), "annotation"))
        if kept.properties:
            carried.append(count_of(len(kept.properties), "typed property"))
        carried += [
            name.replace("_", "-")
            for name in ("content_encoding", "group_id", "group_sequence", "reply_to_group_id")
            if getattr(kept, name) is not None
        ]
        if self._binary_body:
            carried.append("the body as binary")
        elif body is not None and not isinstance(body, str):
            carried.append(f"(its {type(body).__name__} body goes as JSON text)")
        note = f"from {origin}" + (f"; keeps {', '.join(carried)}" if carried else "")
        kept_note = self.query_one("#compose-kept", Static)
        kept_note.update(Text(printable(note)))
        kept_note.display = True
        self.scroll_home(animate=False)

    def action_send_file(self) -> None:
        self.post_message(self.SendFileRequested())

    def action_toggle_more(self) -> None:
        """Show or hide the fields past the body (reply-to ... properties)."""
        more = self.query_one("#more", Collapsible)
        more.collapsed = not more.collapsed
        if not more.collapsed:
            self.query_one("#reply-to", Input).focus()
            self.call_after_refresh(self.scroll_to_widget, more, animate=False)

    def submit(self) -> None:
        """Hand the draft to the bridge, which sends it or says which field is wrong."""
        self.clear_error()
        self.post_message(CommandRequested(Put(self.draft(), next(self._ids))))

    def sent(self, address: str) -> None:
        """The bridge put a draft to ``address``: one to suggest again."""
        self._remember(address)

    def show_error(self, text: str, field: str | None = None) -> None:
        error = self.query_one("#compose-error", Static)
        label = f"{field.replace('_', ' ')}: " if field else ""
        # Text, not str: an address like "[/]" must show, not be parsed as markup.
        error.update(Text(printable(f"{label}{text}")))
        error.display = True
        for name, selector in FIELD_IDS.items():
            self.query_one(selector).set_class(name == field, "-invalid")
        if field in MORE_FIELDS:
            self.query_one("#more", Collapsible).collapsed = False
        self.scroll_home(animate=False)

    def clear_error(self) -> None:
        self.query_one("#compose-error", Static).display = False
        for selector in FIELD_IDS.values():
            self.query_one(selector).remove_class("-invalid")

    def _remember(self, address: str) -> None:
        if not address:
            return
        if address in self.recent:
            self.recent.remove(address)
        self.recent.insert(0, address)
        del self.recent[RECENT_LIMIT:]
        self.query_one("#address", Input).suggester = SuggestFromList(
            self.recent, case_sensitive=True
        )


def _properties_as_text(properties: object) -> tuple[str, dict[object, object]]:
    """Application properties as the form's ``key=value`` lines, and those it cannot
    write so (binary, timestamps, symbols, non-text keys...), to be kept as they are."""
    lines: list[str] = []
    unwritten: dict[object, object] = {}
    for key, value in dict(properties or {}).items():  # type: ignore[call-overload]
        if type(key) is not str or "=" in key or "\n" in key or key != key.strip():
            unwritten[key] = value
        elif value is None or type(value) in (bool, int, float):
            lines.append(f"{key}={json.dumps(value)}")
        elif type(value) is str and "\n" not in value:
            # Text that would read as a number, true/false or null is quoted to stay text.
            plain = value == value.strip() and not _reads_as_scalar(value)
            lines.append(f"{key}={value if plain else json.dumps(value)}")
        else:
            unwritten[key] = value
    return "\n".join(lines), unwritten


def _reads_as_scalar(text: str) -> bool:
    try:
        parsed = json.loads(text)
    except ValueError:
        return False
    return not isinstance(parsed, (dict, list))
