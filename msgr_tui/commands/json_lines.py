"""Received messages as one JSON object a line, for ``recv --json``.

Kept apart from the text form, which plain-text runs need not import.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

from proton import Message

from ..formatting import timestamp_text, to_jsonable
from ..messenger.snapshot import MessageSnapshot

# What json.dumps(ensure_ascii=False) leaves raw but a terminal would obey: the
# categories msgr_tui.formatting.printable hides (DEL and C1 controls, bidi
# overrides, zero-width and line separators...). JSON escapes keep them visible.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def json_line(message: Message) -> str:
    """The message as one JSON object (header, properties, application properties, body)."""
    text = json.dumps(message_record(message), ensure_ascii=False)
    if text.isprintable():
        return text
    return "".join(
        _json_escape(char)
        if not char.isprintable() and unicodedata.category(char) in _HIDDEN_CATEGORIES
        else char
        for char in text
    )


def message_record(message: Message) -> dict[str, Any]:
    """The sections of a message as JSON-ready data; absent fields are left out."""
    seen = MessageSnapshot.of(message)
    header: dict[str, Any] = {
        "durable": seen.durable,
        "priority": seen.priority,
        "first_acquirer": seen.first_acquirer,
        "delivery_count": seen.delivery_count,
    }
    if seen.ttl:
        header["ttl"] = seen.ttl
    properties = {
        "message_id": seen.message_id,
        "user_id": seen.user_id,
        "to": seen.address,
        "subject": seen.subject,
        "reply_to": seen.reply_to,
        "correlation_id": seen.correlation_id,
        "content_type": seen.content_type,
        "content_encoding": seen.content_encoding,
        "absolute_expiry_time": timestamp_text(seen.expiry_time) or None,
        "creation_time": timestamp_text(seen.creation_time) or None,
        "group_id": seen.group_id,
        "group_sequence": seen.group_sequence,
        "reply_to_group_id": seen.reply_to_group_id,
    }
    record: dict[str, Any] = {
        "header": header,
        "properties": {
            key: to_jsonable(value) for key, value in properties.items() if value is not None
        },
        "application_properties": to_jsonable(seen.properties or {}),
    }
    if seen.instructions:
        record["delivery_annotations"] = to_jsonable(seen.instructions)
    if seen.annotations:
        record["message_annotations"] = to_jsonable(seen.annotations)
    record["body"] = to_jsonable(seen.body)
    return record


def _json_escape(char: str) -> str:
    code = ord(char)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
