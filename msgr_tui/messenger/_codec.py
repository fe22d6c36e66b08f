"""Encode a :class:`proton.Message` into bytes with one reusable buffer.

``Message.encode()`` starts from a 16-byte buffer and doubles it, encoding the
whole message again after each overflow: seven passes for a 1 KiB body,
seventeen for 1 MiB. Here one buffer grows to the largest size seen, so a
message is normally encoded in a single pass.
"""

from __future__ import annotations

from cproton_ffi import ffi, lib
from proton import Message

from .errors import MessengerException

_PN_OVERFLOW = lib.PN_OVERFLOW


class MessageEncoder:
    """Reusable encoder; one per Messenger (not thread-safe, like the Messenger)."""

    __slots__ = ("_buffer", "_pointer")

    def __init__(self, initial_size: int = 64 * 1024) -> None:
        self._allocate(initial_size)

    def _allocate(self, size: int) -> None:
        self._buffer = bytearray(size)
        self._pointer = ffi.from_buffer(self._buffer)

    def encode(self, message: Message) -> bytes:
        # Proton keeps the Python-side sections (body, properties, annotations)
        # apart from the C message until encode time; this is Message.encode()'s
        # own first step.
        message._pre_encode()
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
