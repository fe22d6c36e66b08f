"""Received messages as readable text lines for ``recv`` (``--json``: see messagefile).

Everything a peer sends is untrusted: nothing written here can move the
cursor or reorder the terminal's text (see :mod:`msgr_tui.formatting`).
"""

from __future__ import annotations

import json
from typing import Any

from proton import Message

from ..formatting import printable, to_jsonable


def text_line(message: Message) -> str:
    """``address  subject=S  {properties}  body`` on one line, empty parts left out."""
    # Built with += rather than a list: this runs for every message received.
    address = message.address
    line = printable(address) if address else "-"
    subject = message.subject
    if subject:
        line += "  subject=" + printable(subject)
    properties = message.properties
    if properties:
        line += "  " + printable(json.dumps(to_jsonable(properties), ensure_ascii=False))
    return line + "  " + body_text(message.body)


def body_text(body: Any) -> str:
    """A body on one line: text as is (made safe), binary as text when UTF-8, else hex."""
    if body is None:
        return "(no body)"
    if isinstance(body, str):
        return printable(body)
    if isinstance(body, (bytes, bytearray, memoryview)):
        data = body if type(body) is bytes else bytes(body)
        try:
            return printable(data.decode("utf-8"))
        except UnicodeDecodeError:
            return f"<{len(data)} bytes> {data.hex()}"
    return printable(json.dumps(to_jsonable(body), ensure_ascii=False))
