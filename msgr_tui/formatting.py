"""Showing message content safely: previews, pretty bodies, hex dumps.

Everything a peer sends is untrusted. Control characters (ESC above all) and
bidirectional overrides are shown as visible escapes, never written to the
terminal, so a message cannot move the cursor, recolour or rewrite the screen.
No UI imports: the headless commands use this module too.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from proton import Described, symbol

_SAFE_CONTROLS = {"\n", "\t"}
# Control, format (bidi overrides, zero-width), surrogate, private-use, unassigned,
# line and paragraph separators: shown as escapes.
_HIDDEN_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
# The detail view shows this much of a text body; a 16 MiB body would take
# seconds to escape and far longer for the terminal to lay out.
TEXT_LIMIT = 256 * 1024
_DROP_LINE_BREAKS = str.maketrans("", "", "\n\r\t")


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with every control or format character made visible."""
    if text.isprintable() and (keep_newlines or "\n" not in text):
        return text
    out = []
    for char in text:
        if keep_newlines and char in _SAFE_CONTROLS:
            out.append(char)
        elif char == "\n":
            out.append("⏎")
        elif char == "\t":
            out.append("→")
        elif char.isprintable() or unicodedata.category(char) not in _HIDDEN_CATEGORIES:
            out.append(char)
        else:
            out.append(_escape(char))
    return "".join(out)


def preview(value: Any, limit: int = 200) -> str:
    """A one-line, safe preview of a body or field (at most ``limit`` characters)."""
    if value is None or limit <= 0:
        return ""
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value[: limit // 3 + 1])
        text = f"<{len(value)} bytes> {raw.hex(' ')}"
    elif isinstance(value, str):
        text = value[: limit * 2]
    else:
        try:
            text = json.dumps(to_jsonable(value), ensure_ascii=False)[: limit * 2]
        except (TypeError, ValueError):
            text = repr(value)[: limit * 2]
        except RecursionError:
            text = _too_deep(value)
    text = printable(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def to_jsonable(value: Any) -> Any:
    """Convert AMQP values (symbols, described types, bytes, timestamps...) for JSON."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return str(value) if isinstance(value, symbol) else value
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        try:
            return {"$binary": data.decode("utf-8")}
        except UnicodeDecodeError:
            return {"$binary_hex": data.hex()}
    if isinstance(value, Mapping):
        return {_key(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(item) for item in value]
    if isinstance(value, Described):
        return {"$described": to_jsonable(value.descriptor), "value": to_jsonable(value.value)}
    return repr(value)


def _key(key: Any) -> str:
    return key if isinstance(key, str) and not isinstance(key, symbol) else str(key)


def pretty_body(body: Any, content_type: str | None = None) -> tuple[str, str]:
    """The body for the detail view: ``(kind, text)``, JSON pretty-printed, binary as hex."""
    if body is None:
        return "null", "(no body)"
    if isinstance(body, (bytes, bytearray, memoryview)):
        data = bytes(body)
        try:
            decoded = data.decode("utf-8")
        except UnicodeDecodeError:
            return f"binary, {len(data)} bytes", hexdump(data)
        if decoded.isprintable() or decoded.translate(_DROP_LINE_BREAKS).isprintable():
            parsed = _maybe_json(decoded, content_type)
            if parsed is not None:
                return f"binary (UTF-8 JSON), {len(data)} bytes", parsed
            return f"binary (UTF-8 text), {len(data)} bytes", _long_text(decoded)
        return f"binary, {len(data)} bytes", hexdump(data)
    if isinstance(body, str):
        parsed = _maybe_json(body, content_type)
        if parsed is not None:
            return f"string (JSON), {len(body)} characters", parsed
        return f"string, {len(body)} characters", _long_text(body)
    kind = type(body).__name__
    try:
        text = json.dumps(to_jsonable(body), indent=2, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(body)
    except RecursionError:
        text = _too_deep(body)
    return kind, _long_text(text)


def _long_text(text: str) -> str:
    """``text`` made safe, cut at TEXT_LIMIT characters with a note saying how much is left."""
    if len(text) <= TEXT_LIMIT:
        return printable(text, keep_newlines=True)
    shown = printable(text[:TEXT_LIMIT], keep_newlines=True)
    return f"{shown}\n… {len(text) - TEXT_LIMIT} more characters not shown"


def _too_deep(value: Any) -> str:
    return f"<{type(value).__name__} nested too deeply to show>"


def _maybe_json(text: str, content_type: str | None) -> str | None:
    stripped = text.lstrip()
    looks_like_json = stripped[:1] in ("{", "[") or (content_type or "").endswith("json")
    if not looks_like_json:
        return None
    if len(text) > TEXT_LIMIT:
        return None  # shown as text, cut; pretty-printing it all would be as slow
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested too deeply
        return None
    return _long_text(json.dumps(value, indent=2, ensure_ascii=False))


def hexdump(data: bytes, limit: int = 64 * 1024) -> str:
    """Classic 16-bytes-a-line hex dump with an ASCII column (first ``limit`` bytes)."""
    lines = []
    shown = min(len(data), limit)
    for offset in range(0, shown, 16):
        chunk = data[offset : min(offset + 16, shown)]
        hex_part = " ".join(f"{byte:02x}" for byte in chunk)
        text_part = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        lines.append(f"{offset:08x}  {hex_part:<47}  {text_part}")
    if len(data) > limit:
        lines.append(f"… {len(data) - limit} more bytes not shown")
    return "\n".join(lines)


def count_of(count: int, noun: str) -> str:
    """``count`` and ``noun``, plural unless one: "1 message", "2 messages", "0 messages"."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def short_name(name: str) -> str:
    """A container id to show where width is scarce: a generated UUID by its first 8
    characters (enough to find it in a broker's connection list), any other name whole."""
    return name[:8] if _UUID.fullmatch(name) else name


def short_address(address: str) -> str:
    """An address for a narrow column: without ``amqp://``, what an address without a
    scheme means anyway (``amqps://`` stays: it says TLS). Control characters escaped."""
    return printable(address.removeprefix("amqp://"))


def clock_time(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp).strftime("%H:%M:%S")


def timestamp_text(value: float | None) -> str:
    """AMQP timestamps (seconds since the epoch in Proton) as ISO text."""
    if not value:
        return ""
    try:
        return dt.datetime.fromtimestamp(value, dt.UTC).isoformat(timespec="milliseconds")
    except (OverflowError, OSError, ValueError):
        return str(value)
