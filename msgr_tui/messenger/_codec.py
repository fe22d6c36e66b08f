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

Encoder = _pn.Encoder
# message.address and message.reply_to, read from the C message with fewer calls.
message_address = _pn.message_address
message_reply_to = _pn.message_reply_to


def decode_into(message: Message, data: bytes | bytearray) -> None:
    """``message.decode(data)``, with AMQP binary handed out as bytes everywhere.

    Raises what ``Message.decode`` raises for bad data.
    """
    instructions, annotations, properties, body, body_owned = _pn.decode_sections(message, data)
    # Most messages have no annotations: skip the walk for what is not there.
    message.instructions = detached(instructions) if instructions is not None else None
    message.annotations = detached(annotations) if annotations is not None else None
    message.properties = detached(properties) if properties is not None else None
    message.body = body if body_owned else detached(body)


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
