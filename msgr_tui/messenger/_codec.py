"""Messages in and out of AMQP bytes, with every binary value owned by Python.

Encoding and decoding run through the engine (see :mod:`._pn`); this module
adds what the original API promised on top: values handed to the program are
its own. Proton 0.40 decodes AMQP binary into memoryviews over the Message's
C buffers, which the next decode into the same Message overwrites; the
original handed out bytes, and programs keep bodies, ids and properties
across ``get``.
"""

from __future__ import annotations

from typing import Any

from proton import Array, Described, Message

from . import _pn
from .message import Message as OwnMessage

Encoder = _pn.Encoder
# message.address and message.reply_to, read from the C message with fewer calls.
message_address = _pn.message_address
message_reply_to = _pn.message_reply_to


_VALUE = b"\x00\x53\x77"
# Section descriptor amqp-value, then the constructors of binary and string
# values with a one-byte (vbin8/str8) and a four-byte (vbin32/str32) size.
_VALUE_BIN8 = b"\x00\x53\x77\xa0"
_VALUE_BIN32 = b"\x00\x53\x77\xb0"
_VALUE_STR8 = b"\x00\x53\x77\xa1"
_VALUE_STR32 = b"\x00\x53\x77\xb1"


def with_value_body(prefix: bytes, body: Any) -> bytes | None:
    """``prefix`` followed by ``body`` as the amqp-value section Proton writes for it.

    For a bytes or str body only (None for any other): the bytes are those of
    ``pn_message_encode``, which uses the one-byte size up to 255 bytes.
    """
    kind = type(body)
    if kind is bytes:
        payload = body
        small, large = _VALUE_BIN8, _VALUE_BIN32
    elif kind is str:
        try:
            payload = body.encode("utf8")
        except UnicodeEncodeError:
            return None  # Proton refuses it too; its encoder says how
        small, large = _VALUE_STR8, _VALUE_STR32
    else:
        return None
    size = len(payload)
    if size < 256:
        return b"".join((prefix, small, _SIZE8[size], payload))
    return b"".join((prefix, large, size.to_bytes(4, "big"), payload))


_SIZE8 = [bytes((size,)) for size in range(256)]


def decode_into(message: Message, data: bytes | bytearray) -> None:
    """``message.decode(data)``, with AMQP binary handed out as bytes everywhere.

    Into our Message, a message whose sections before the body are byte for
    byte those of the last one decoded into it (and the Message unchanged
    since) has only its body read: old-API receivers take every message into
    one Message, and a stream's messages often differ only in their body.
    Raises what ``Message.decode`` raises for bad data.
    """
    own = type(message) is OwnMessage
    if own:
        fields = message.__dict__
        kept = fields.get("_wire")
        if kept is not None and kept[0] is _DECODED:
            body = _body_after(kept[1], data)
            if body is not _MISSING:
                fields["body"] = body
                return
    instructions, annotations, properties, body, body_owned = _pn.decode_sections(message, data)
    # Most messages have no annotations: skip the walk for what is not there.
    if instructions is not None:
        instructions = detached(instructions)
    if annotations is not None:
        annotations = detached(annotations)
    if properties is not None:
        properties = detached(properties)
    if not body_owned:
        body = detached(body)
    if own or type(message) is Message:
        _pn.set_decoded(message, instructions, annotations, properties, body)
    else:
        # A subclass may have setters of its own: set each field as a program would.
        message.instructions = instructions
        message.annotations = annotations
        message.properties = properties
        message.body = body
        return
    if own and instructions is None and annotations is None and properties is None:
        # Dicts are left out: a program may change them in place between gets.
        prefix = _prefix_before(data, body)
        if prefix is not None:
            message.__dict__["_wire"] = (_DECODED, prefix)


# Marks Message._wire as kept by decode_into (put keeps its own, see Router).
_DECODED = object()
_MISSING = object()


def _prefix_before(data: bytes | bytearray, body: Any) -> bytes | None:
    """The bytes before ``body``'s amqp-value section when that section ends ``data``."""
    kind = type(body)
    if kind is bytes:
        size = len(body)
        small, large = _VALUE_BIN8, _VALUE_BIN32
    elif kind is str:
        size = len(body) if body.isascii() else len(body.encode("utf8"))
        small, large = _VALUE_STR8, _VALUE_STR32
    else:
        return None
    if size < 256:
        start = len(data) - size - 5
        if start >= 0 and data.startswith(small, start) and data[start + 4] == size:
            return bytes(data[:start])
    else:
        start = len(data) - size - 8
        if (
            start >= 0
            and data.startswith(large, start)
            and int.from_bytes(data[start + 4 : start + 8], "big") == size
        ):
            return bytes(data[:start])
    return None


def _body_after(prefix: bytes, data: bytes | bytearray) -> Any:
    """The body of ``data`` if it is ``prefix`` then one binary or string amqp-value section.

    _MISSING otherwise (or for a string that is not UTF-8: the full decode
    says what is wrong with it).
    """
    start = len(prefix)
    if not data.startswith(prefix) or not data.startswith(_VALUE, start):
        return _MISSING
    try:
        code = data[start + 3]
        if code in (0xA0, 0xA1):  # vbin8, str8-utf8
            first = start + 5
            size = data[start + 4]
        elif code in (0xB0, 0xB1):  # vbin32, str32-utf8
            first = start + 8
            size = int.from_bytes(data[start + 4 : first], "big")
        else:
            return _MISSING
    except IndexError:
        return _MISSING
    if first + size != len(data):
        return _MISSING  # a footer, or another section, follows
    payload = data[first:]
    if code in (0xA0, 0xB0):  # binary
        return payload if type(payload) is bytes else bytes(payload)
    try:
        return str(payload, "utf8")
    except UnicodeDecodeError:
        return _MISSING


def detached(value: Any) -> Any:
    """``value`` with every memoryview inside it replaced by bytes.

    Walks dicts (keys too), lists, tuples, described values and arrays; other
    values are returned as they are. Containers without a view are returned
    unchanged, so the common case costs one scan.
    """
    kind = type(value)
    if kind is memoryview:
        return value.tobytes()
    if isinstance(value, dict):
        if any(_nested(k) or _nested(v) for k, v in value.items()):
            return type(value)((detached(k), detached(v)) for k, v in value.items())
        return value
    if isinstance(value, (list, tuple)):
        if any(_nested(item) for item in value):
            return type(value)(detached(item) for item in value)
        return value
    if kind is Described:
        return Described(detached(value.descriptor), detached(value.value))
    if kind is Array:
        return Array(
            detached(value.descriptor), value.type, *(detached(item) for item in value.elements)
        )
    return value


_CONTAINERS = (memoryview, dict, list, tuple, Described, Array)
_NESTED = frozenset(_CONTAINERS)


def _nested(value: Any) -> bool:
    """Whether ``value`` is, or may hold, a memoryview (dict and list subclasses too)."""
    return type(value) in _NESTED or isinstance(value, _CONTAINERS)
