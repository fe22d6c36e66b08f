"""Turning what the user typed in Compose into a Message, or a precise error.

Pure functions, used in one place per front end: the bridge's worker builds
the Message the TUI sends (its refusal comes back to Compose as PutFailed,
naming the field), and ``msgr-tui send`` builds its message from its options.
Nothing here imports the UI.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from proton import Message

from .messenger.address import AddressError, parse_address
from .messenger.snapshot import MessageSnapshot

BODY_TEXT = "text"
BODY_JSON = "json"
BODY_MODES = (BODY_TEXT, BODY_JSON)


class DraftError(ValueError):
    """A field of the draft is invalid; ``field`` names it for an inline error."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


@dataclass(frozen=True)
class Draft:
    """The Compose form's content, as typed."""

    address: str
    body: str | bytes = ""
    body_mode: str = BODY_TEXT
    subject: str = ""
    reply_to: str = ""
    correlation_id: str = ""
    content_type: str = ""
    ttl: str = ""
    priority: str = ""
    durable: bool = False
    properties: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    kept: MessageSnapshot | None = None
    """What an edited (or replied-to) message brings that the form does not show:
    its annotations, application properties the form cannot write as text, group
    fields, a typed correlation id. The form's fields are laid over it."""


def parse_properties(text: str) -> dict[str, Any]:
    """``key=value`` lines into application properties.

    Values that read as JSON scalars (``5``, ``2.5``, ``true``, ``null``,
    ``"quoted"``) keep that type; anything else is a string. Blank lines and
    lines starting with ``#`` are ignored.
    """
    properties: dict[str, Any] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep:
            raise DraftError(
                "properties", f"line {number}: expected key=value, got {raw.strip()!r}"
            )
        if not key:
            raise DraftError("properties", f"line {number}: the key before '=' is empty")
        if key in properties:
            raise DraftError("properties", f"line {number}: key {key!r} appears twice")
        _check_text("properties", key, f"line {number}: key")
        scalar = _scalar(value.strip())
        if isinstance(scalar, str):
            _check_text("properties", scalar, f"line {number}: value")
        elif isinstance(scalar, int) and not LONG_MIN <= scalar <= LONG_MAX:
            raise DraftError(
                "properties",
                f"line {number}: {key} is out of range for an AMQP long "
                f"({LONG_MIN} to {LONG_MAX}); quote it to send it as text",
            )
        properties[key] = scalar
    return properties


# Python ints travel as AMQP long: 64-bit signed.
LONG_MIN = -(2**63)
LONG_MAX = 2**63 - 1


def _scalar(text: str) -> Any:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested too deeply
        return text
    if isinstance(value, (dict, list)):
        return text
    return value


def _check_text(field_name: str, text: str, what: str | None = None) -> None:
    """Refuse text that cannot be encoded as UTF-8 (a lone surrogate), naming where."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        code = ord(text[error.start])
        raise DraftError(
            field_name,
            f"{what or field_name.replace('_', ' ')} has a character that cannot be sent "
            f"(lone surrogate U+{code:04X} at position {error.start})",
        ) from None


def build_message(draft: Draft) -> Message:
    """Validate ``draft`` and build the Message; raise DraftError naming the bad field."""
    address = draft.address.strip()
    if not address:
        raise DraftError("address", "an address is required, e.g. amqp://127.0.0.1:5672/queue")
    try:
        parsed = parse_address(address)
    except AddressError as error:
        raise DraftError("address", str(error)) from None
    if parsed.listen:
        raise DraftError("address", "'~' means listen; send to host:port without '~'")

    for name in ("subject", "reply_to", "correlation_id", "content_type"):
        _check_text(name, getattr(draft, name))

    message = Message(address=address) if draft.kept is None else _kept(draft.kept, address)
    message.body = _body(draft)
    if draft.body_mode == BODY_JSON and not draft.content_type:
        message.content_type = "application/json"
    if draft.subject:
        message.subject = draft.subject
    if draft.reply_to.strip():
        reply_to = draft.reply_to.strip()
        if not reply_to.startswith("~"):
            try:
                parse_address(reply_to)
            except AddressError as error:
                raise DraftError("reply_to", str(error)) from None
        message.reply_to = reply_to
    if draft.correlation_id:
        kept_id = draft.kept.correlation_id if draft.kept is not None else None
        # A typed id (a ulong, a uuid) as the form shows it stays that type.
        same = kept_id is not None and str(kept_id) == draft.correlation_id
        message.correlation_id = kept_id if same else draft.correlation_id
    if draft.content_type:
        message.content_type = draft.content_type.strip()
    if draft.ttl.strip():
        message.ttl = _ttl(draft.ttl)
    if draft.priority.strip():
        message.priority = _priority(draft.priority)
    message.durable = draft.durable
    properties = parse_properties(draft.properties)
    if draft.kept is not None and draft.kept.properties:
        properties = {**draft.kept.properties, **properties}
    if properties:
        message.properties = properties
    return message


def _kept(kept: MessageSnapshot, address: str) -> Message:
    """A new message to ``address`` with what ``kept`` carries that the form does not set.

    What belongs to one delivery (its id, user id, times, delivery count,
    delivery annotations) is not carried: this is a new message.
    """
    message = Message(address=address)
    for name in ("content_encoding", "group_id", "group_sequence", "reply_to_group_id"):
        value = getattr(kept, name)
        if value is not None:
            setattr(message, name, value)
    if kept.annotations:
        message.annotations = dict(kept.annotations)
    return message


def _body(draft: Draft) -> Any:
    if draft.body_mode not in BODY_MODES:
        raise DraftError("body", f"unknown body mode {draft.body_mode!r}")
    if isinstance(draft.body, bytes):
        return draft.body
    if draft.body_mode == BODY_JSON:
        try:
            value = json.loads(draft.body)
        except json.JSONDecodeError as error:
            raise DraftError(
                "body", f"invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}"
            ) from None
        except RecursionError:
            raise DraftError("body", "invalid JSON: nested too deeply") from None
        # JSON travels as text with content-type application/json; AMQP has
        # no JSON type and receivers of every language can read a string.
        text = json.dumps(value, ensure_ascii=False)
        _check_text("body", text)
        return text
    _check_text("body", draft.body)
    return draft.body


def _ttl(text: str) -> float:
    try:
        ttl = float(text)
    except ValueError:
        raise DraftError("ttl", f"TTL must be a number of seconds, not {text!r}") from None
    if ttl < 0 or ttl != ttl or ttl > 4_294_967:
        raise DraftError("ttl", "TTL must be between 0 and 4294967 seconds")
    return ttl


def _priority(text: str) -> int:
    try:
        priority = int(text)
    except ValueError:
        raise DraftError("priority", f"priority must be a whole number, not {text!r}") from None
    if not 0 <= priority <= 255:
        raise DraftError("priority", "priority must be between 0 and 255 (4 is normal)")
    return priority
