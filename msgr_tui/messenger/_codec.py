"""Encode and decode :class:`proton.Message` without Proton's per-call overheads.

``Message.encode()`` starts from a 16-byte buffer and doubles it, encoding the
whole message again after each overflow: seven passes for a 1 KiB body,
seventeen for 1 MiB. Here one buffer grows to the largest size seen, so a
message is normally encoded in a single pass.

``Message.encode()`` and ``Message.decode()`` also build four ``Data``
wrappers per call to move the instructions, annotations, properties and body
between the Python object and the C message (``_pre_encode`` and
``_post_decode``), which costs more than the AMQP encoding itself. The common
case (no instructions, annotations or properties; a binary or string body)
is done here with direct engine calls; anything else goes through Proton's
own code, so the result is always the same as Proton's.
"""

from __future__ import annotations

from typing import Any

from cproton_ffi import ffi, lib
from proton import Data, Message

from .errors import MessengerException

_PN_OVERFLOW = lib.PN_OVERFLOW
_PN_BINARY = lib.PN_BINARY
_PN_STRING = lib.PN_STRING

_instructions = lib.pn_message_instructions
_annotations = lib.pn_message_annotations
_properties = lib.pn_message_properties
_body = lib.pn_message_body
_clear = lib.pn_data_clear
_next = lib.pn_data_next
_type = lib.pn_data_type
_from_buffer = ffi.from_buffer
_unpack = ffi.unpack


class MessageEncoder:
    """Reusable encoder; one per Messenger (not thread-safe, like the Messenger)."""

    __slots__ = ("_buffer", "_pointer")

    def __init__(self, initial_size: int = 64 * 1024) -> None:
        self._allocate(initial_size)

    def _allocate(self, size: int) -> None:
        self._buffer = bytearray(size)
        self._pointer = ffi.from_buffer(self._buffer)

    def encode(self, message: Message) -> bytes:
        pre_encode(message)
        handle = message._msg
        while True:
            size = len(self._buffer)
            result = lib.pn_message_encode_py(handle, self._pointer, size)
            if result == _PN_OVERFLOW:
                self._allocate(size * 4)
                continue
            if result < 0:
                raise MessengerException(f"cannot encode message: error {result}")
            return bytes(self._buffer[:result])


def pre_encode(message: Message) -> None:
    """``message._pre_encode()``: move the Python-side sections into the C message."""
    body = message.body
    kind = type(body)
    if (
        (kind is bytes or kind is str or body is None)
        and message.instructions is None
        and message.annotations is None
        and message.properties is None
    ):
        handle = message._msg
        _clear(_instructions(handle))
        _clear(_annotations(handle))
        _clear(_properties(handle))
        data = _body(handle)
        _clear(data)
        if kind is bytes:
            lib.pn_data_put_binary(data, (len(body), _from_buffer(body)))
        elif kind is str:
            encoded = body.encode("utf8")
            lib.pn_data_put_string(data, (len(encoded), _from_buffer(encoded)))
        return
    # Exact type checks above: symbol and char are str subclasses that
    # Proton encodes differently; properties need Proton's key checks.
    message._pre_encode()


def decode_into(message: Message, data: bytes | bytearray) -> None:
    """``message.decode(data)``, with AMQP binary handed out as bytes.

    Proton 0.40 decodes AMQP binary into memoryviews over the Message's own
    buffers, which the next decode into the same Message overwrites; the
    original API handed out bytes, and programs keep bodies across ``get``.
    Raises what ``Message.decode`` raises for bad data.
    """
    handle = message._msg
    error = lib.pn_message_decode(handle, _from_buffer(data), len(data))
    if error < 0:
        message._check(error)
    message.instructions = _section(_instructions(handle))
    message.annotations = _section(_annotations(handle))
    message.properties = _section(_properties(handle))
    section = _body(handle)
    if not _next(section):
        message.body = None
        return
    kind = _type(section)
    if kind == _PN_BINARY:
        value = lib.pn_data_get_binary(section)
        message.body = _unpack(value.start, value.size)
    elif kind == _PN_STRING:
        value = lib.pn_data_get_string(section)
        message.body = _unpack(value.start, value.size).decode("utf8")
    else:
        message.body = owned(Data(section).get_object())


def _section(data: Any) -> Any:
    # The same steps as Message._post_decode, without a Data wrapper when empty.
    if not _next(data):
        return None
    return owned(Data(data).get_object())


def owned(value: Any) -> Any:
    """``value`` with every memoryview replaced by bytes (recursively)."""
    kind = type(value)
    if kind is memoryview:
        return value.tobytes()
    if isinstance(value, dict):
        if any(type(k) is memoryview or type(v) in _CONTAINERS for k, v in value.items()):
            return type(value)((owned(k), owned(v)) for k, v in value.items())
        return value
    if kind is list or kind is tuple:
        if any(type(item) in _CONTAINERS for item in value):
            return kind(owned(item) for item in value)
        return value
    return value


_CONTAINERS = {memoryview, dict, list, tuple}
