"""AMQP 1.0 values between Python and their encoding, without Proton's ``Data``.

``Data`` walks a message one C call per node, each wrapped in Python: about
40 us to decode a small message and 16 us to encode one, the whole cost of
writing or replaying a message file. This module reads and writes the bytes
directly with ``struct``:

* :func:`decode_value` gives the very values ``Data.get_object()`` gives,
  with the same types (``ubyte``, ``symbol``, ``timestamp``, ``Described``,
  ``Array``...), so the rest of the format neither knows nor cares which one
  decoded a message. Binary comes out as ``bytes`` (owned, unlike ``Data``'s
  views); malformed input raises :class:`WireError` with the byte offset.
* :func:`encode_value` gives the very bytes ``Data.put_object()`` and
  ``Data.encode()`` give - the same constructor for every value, compact or
  wide - so a replayed message is the message that was saved. A value it
  does not know how to write the way ``Data`` does (a subclass, an array
  whose elements are not of its type, a number out of range) raises
  :class:`Unencodable`, and the caller hands that value to ``Data``.

The tests check the two agree with ``Data`` on every type and on random values.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable
from typing import Any

from proton import (
    UNDESCRIBED,
    Array,
    Data,
    Described,
    byte,
    char,
    decimal32,
    decimal64,
    decimal128,
    float32,
    int32,
    short,
    symbol,
    timestamp,
    ubyte,
    uint,
    ulong,
    ushort,
)

__all__ = ["Unencodable", "WireError", "decode_described", "decode_value", "encode_value"]


class WireError(ValueError):
    """Bytes that are not a well-formed AMQP value."""


class Unencodable(Exception):
    """A value :func:`encode_value` leaves to ``Data`` (which may take it or say why not)."""


# A reader takes the bytes and the offset just after the constructor code,
# and returns the value and the offset after it.
Reader = Callable[[bytes, int], tuple[Any, int]]

_B = struct.Struct(">B").unpack_from
_b = struct.Struct(">b").unpack_from
_H = struct.Struct(">H").unpack_from
_h = struct.Struct(">h").unpack_from
_I = struct.Struct(">I").unpack_from
_i = struct.Struct(">i").unpack_from
_Q = struct.Struct(">Q").unpack_from
_q = struct.Struct(">q").unpack_from
_f = struct.Struct(">f").unpack_from
_d = struct.Struct(">d").unpack_from
_BB = struct.Struct(">BB").unpack_from
_II = struct.Struct(">II").unpack_from


def decode_value(data: bytes, offset: int = 0) -> tuple[Any, int]:
    """The value encoded at ``offset`` of ``data``, and the offset just after it."""
    try:
        return _value(data, offset)
    except WireError:
        raise
    except (IndexError, struct.error):
        raise WireError(f"the value at byte {offset} is cut short") from None
    except (ValueError, TypeError) as error:  # bad UTF-8, a char out of range, a list as key
        raise WireError(f"the value at byte {offset} is malformed: {error}") from None
    except RecursionError:
        raise WireError(f"the value at byte {offset} is nested too deeply") from None


def decode_described(data: bytes, offset: int = 0) -> tuple[Any, Any, int]:
    """A described value at ``offset``: its descriptor, its value, the offset after it.

    What a message is made of (each section is one), without building a
    ``Described`` for it. WireError when the value there is not described.
    """
    if offset >= len(data) or data[offset] != 0x00:
        raise WireError(f"no described value at byte {offset}")
    try:
        descriptor, pos = _value(data, offset + 1)
        value, pos = _value(data, pos)
    except WireError:
        raise
    except Exception:
        decode_value(data, offset)  # raises the WireError that says why
        raise
    return descriptor, value, pos


def _value(data: bytes, pos: int) -> tuple[Any, int]:
    return _BY_CODE[data[pos]](data, pos + 1)


def _unknown(data: bytes, pos: int) -> tuple[Any, int]:
    raise WireError(f"unknown AMQP type code 0x{data[pos - 1]:02x} at byte {pos - 1}")


def _constant(value: Any) -> Reader:
    def read(data: bytes, pos: int) -> tuple[Any, int]:
        return value, pos

    return read


def _octets(width: int, make: Callable[[bytes], Any]) -> Reader:
    """A fixed-width value made from its bytes (uuid, decimal128)."""

    def read(data: bytes, pos: int) -> tuple[Any, int]:
        end = pos + width
        if end > len(data):
            raise IndexError
        return make(data[pos:end]), end

    return read


def _variable(size_width: int, make: Callable[[bytes], Any]) -> Reader:
    unpack = _B if size_width == 1 else _I

    def read(data: bytes, pos: int) -> tuple[Any, int]:
        (size,) = unpack(data, pos)
        start = pos + size_width
        end = start + size
        if end > len(data):
            raise IndexError
        return make(data[start:end]), end

    return read


def _compound(size_width: int) -> Callable[[bytes, int], tuple[int, int, int]]:
    """Reads a compound's size and count: returns (count, first item, end)."""
    unpack = _BB if size_width == 1 else _II

    def header(data: bytes, pos: int) -> tuple[int, int, int]:
        size, count = unpack(data, pos)
        end = pos + size_width + size
        if end > len(data) or size < size_width:
            raise IndexError
        return count, pos + 2 * size_width, end

    return header


def _list(size_width: int) -> Reader:
    header = _compound(size_width)

    def read(data: bytes, pos: int) -> tuple[Any, int]:
        count, pos, end = header(data, pos)
        items = []
        for _ in range(count):
            item, pos = _value(data, pos)
            items.append(item)
        return items, _checked_end(pos, end)

    return read


def _map(size_width: int) -> Reader:
    header = _compound(size_width)

    def read(data: bytes, pos: int) -> tuple[Any, int]:
        count, pos, end = header(data, pos)
        if count % 2:
            raise WireError(f"a map with an odd number of items ({count}) before byte {end}")
        items: dict[Any, Any] = {}
        for _ in range(count // 2):
            key, pos = _value(data, pos)
            items[key], pos = _value(data, pos)
        return items, _checked_end(pos, end)

    return read


def _array(size_width: int) -> Reader:
    header = _compound(size_width)

    def read(data: bytes, pos: int) -> tuple[Any, int]:
        count, pos, end = header(data, pos)
        descriptor: Any = UNDESCRIBED
        code = data[pos]
        if code == 0x00:
            descriptor, pos = _value(data, pos + 1)
            code = data[pos]
        reader = _READERS.get(code)
        kind = _ARRAY_TYPES.get(code)
        if reader is None or kind is None:
            raise WireError(f"unknown AMQP array element type 0x{code:02x} at byte {pos}")
        pos += 1
        items = []
        for _ in range(count):
            item, pos = reader(data, pos)
            items.append(item)
        return Array(descriptor, kind, *items), _checked_end(pos, end)

    return read


def _checked_end(pos: int, end: int) -> int:
    if pos != end:
        raise WireError(f"a compound value's items end at byte {pos}, its size says {end}")
    return end


def _described(data: bytes, pos: int) -> tuple[Any, int]:
    descriptor, pos = _value(data, pos)
    value, pos = _value(data, pos)
    return Described(descriptor, value), pos


def _boolean(data: bytes, pos: int) -> tuple[Any, int]:
    flag = data[pos]
    if flag > 1:
        raise WireError(f"a boolean of 0x{flag:02x} at byte {pos}")
    return flag == 1, pos + 1


def _symbol(raw: bytes) -> symbol:
    return symbol(raw.decode("ascii"))


# ``unpack_from`` raises struct.error on bytes cut short, ``data[pos]`` IndexError.
_READERS: dict[int, Reader] = {
    0x40: _constant(None),
    0x41: _constant(True),
    0x42: _constant(False),
    0x56: _boolean,
    0x50: lambda data, pos: (ubyte(data[pos]), pos + 1),
    0x60: lambda data, pos: (ushort(_H(data, pos)[0]), pos + 2),
    0x70: lambda data, pos: (uint(_I(data, pos)[0]), pos + 4),
    0x52: lambda data, pos: (uint(data[pos]), pos + 1),
    0x43: lambda data, pos: (uint(0), pos),
    0x80: lambda data, pos: (ulong(_Q(data, pos)[0]), pos + 8),
    0x53: lambda data, pos: (ulong(data[pos]), pos + 1),
    0x44: lambda data, pos: (ulong(0), pos),
    0x51: lambda data, pos: (byte(_b(data, pos)[0]), pos + 1),
    0x61: lambda data, pos: (short(_h(data, pos)[0]), pos + 2),
    0x71: lambda data, pos: (int32(_i(data, pos)[0]), pos + 4),
    0x54: lambda data, pos: (int32(_b(data, pos)[0]), pos + 1),
    0x81: lambda data, pos: (_q(data, pos)[0], pos + 8),
    0x55: lambda data, pos: (_b(data, pos)[0], pos + 1),
    0x72: lambda data, pos: (float32(_f(data, pos)[0]), pos + 4),
    0x82: lambda data, pos: (_d(data, pos)[0], pos + 8),
    0x74: lambda data, pos: (decimal32(_I(data, pos)[0]), pos + 4),
    0x84: lambda data, pos: (decimal64(_Q(data, pos)[0]), pos + 8),
    0x94: _octets(16, decimal128),
    0x73: lambda data, pos: (char(chr(_I(data, pos)[0])), pos + 4),
    0x83: lambda data, pos: (timestamp(_q(data, pos)[0]), pos + 8),
    0x98: _octets(16, lambda raw: uuid.UUID(bytes=bytes(raw))),
    0xA0: _variable(1, bytes),  # a copy, also of a bytearray's slice
    0xB0: _variable(4, bytes),
    0xA1: _variable(1, lambda raw: raw.decode("utf-8")),
    0xB1: _variable(4, lambda raw: raw.decode("utf-8")),
    0xA3: _variable(1, _symbol),
    0xB3: _variable(4, _symbol),
    0x45: lambda data, pos: ([], pos),
    0xC0: _list(1),
    0xD0: _list(4),
    0xC1: _map(1),
    0xD1: _map(4),
    0xE0: _array(1),
    0xF0: _array(4),
    0x00: _described,
}

_BY_CODE: list[Reader] = [_READERS.get(code, _unknown) for code in range(256)]

# The element type of an array, as Proton's Array names it.
_ARRAY_TYPES = {
    0x40: Data.NULL,
    0x41: Data.BOOL,
    0x42: Data.BOOL,
    0x56: Data.BOOL,
    0x50: Data.UBYTE,
    0x60: Data.USHORT,
    0x70: Data.UINT,
    0x52: Data.UINT,
    0x43: Data.UINT,
    0x80: Data.ULONG,
    0x53: Data.ULONG,
    0x44: Data.ULONG,
    0x51: Data.BYTE,
    0x61: Data.SHORT,
    0x71: Data.INT,
    0x54: Data.INT,
    0x81: Data.LONG,
    0x55: Data.LONG,
    0x72: Data.FLOAT,
    0x82: Data.DOUBLE,
    0x74: Data.DECIMAL32,
    0x84: Data.DECIMAL64,
    0x94: Data.DECIMAL128,
    0x73: Data.CHAR,
    0x83: Data.TIMESTAMP,
    0x98: Data.UUID,
    0xA0: Data.BINARY,
    0xB0: Data.BINARY,
    0xA1: Data.STRING,
    0xB1: Data.STRING,
    0xA3: Data.SYMBOL,
    0xB3: Data.SYMBOL,
    0x45: Data.LIST,
    0xC0: Data.LIST,
    0xD0: Data.LIST,
    0xC1: Data.MAP,
    0xD1: Data.MAP,
    0xE0: Data.ARRAY,
    0xF0: Data.ARRAY,
}


# --- encoding ----------------------------------------------------------------

_pack_B = struct.Struct(">B").pack
_pack_b = struct.Struct(">b").pack
_pack_H = struct.Struct(">H").pack
_pack_h = struct.Struct(">h").pack
_pack_I = struct.Struct(">I").pack
_pack_i = struct.Struct(">i").pack
_pack_Q = struct.Struct(">Q").pack
_pack_q = struct.Struct(">q").pack
_pack_f = struct.Struct(">f").pack
_pack_d = struct.Struct(">d").pack
_pack_II = struct.Struct(">II").pack

Writer = Callable[[Any], bytes]


def encode_value(value: Any) -> bytes:
    """``value`` encoded as ``Data.put_object(value)`` then ``Data.encode()`` would.

    Unencodable for what this module does not write (see the module's doc).
    """
    try:
        return _encode(value)
    except Unencodable:
        raise
    except (KeyError, struct.error, OverflowError, UnicodeError, TypeError, ValueError) as error:
        raise Unencodable(f"{type(value).__name__}: {error}") from None
    except RecursionError:
        raise Unencodable("nested too deeply") from None


def _encode(value: Any) -> bytes:
    return _WRITERS[value.__class__](value)


def _bool(value: bool) -> bytes:
    return b"\x41" if value else b"\x42"


def _uint(value: int) -> bytes:
    if value == 0:
        return b"\x43"
    if value < 256:
        return b"\x52" + _pack_B(value)
    return b"\x70" + _pack_I(value)


def _ulong(value: int) -> bytes:
    if value == 0:
        return b"\x44"
    if value < 256:
        return b"\x53" + _pack_B(value)
    return b"\x80" + _pack_Q(value)


def _int32(value: int) -> bytes:
    if -128 <= value <= 127:
        return b"\x54" + _pack_b(value)
    return b"\x71" + _pack_i(value)


def _long(value: int) -> bytes:
    if -128 <= value <= 127:
        return b"\x55" + _pack_b(value)
    return b"\x81" + _pack_q(value)


def _sized(small: bytes, large: bytes, raw: bytes) -> bytes:
    if len(raw) < 256:
        return small + _pack_B(len(raw)) + raw
    return large + _pack_I(len(raw)) + raw


def _list_bytes(value: list[Any] | tuple[Any, ...]) -> bytes:
    return b"\xd0" + _wide_list(value) if value else b"\x45"


def _map_bytes(value: dict[Any, Any]) -> bytes:
    return b"\xd1" + _wide_map(value)


def _described_bytes(value: Described) -> bytes:
    return b"\x00" + _encode(value.descriptor) + _encode(value.value)


def _array_bytes(value: Array) -> bytes:
    return b"\xf0" + _array_payload(value)


def _array_payload(value: Array) -> bytes:
    """An array after its constructor: size, count, descriptor, element constructor, elements."""
    element = _ARRAY_ELEMENTS.get(value.type)
    if element is None:
        raise Unencodable(f"an array of type {value.type}")
    code, kind, write = element
    if any(item.__class__ is not kind for item in value.elements):
        raise Unencodable("an array whose elements are not all of its type")
    described = b"" if value.descriptor is UNDESCRIBED else b"\x00" + _encode(value.descriptor)
    body = described + code + b"".join([write(item) for item in value.elements])
    return _pack_II(len(body) + 4, len(value.elements)) + body


def _wide_list(value: list[Any] | tuple[Any, ...]) -> bytes:
    items = b"".join([_encode(item) for item in value])
    return _pack_II(len(items) + 4, len(value)) + items


def _wide_map(value: dict[Any, Any]) -> bytes:
    items = b"".join([_encode(key) + _encode(item) for key, item in value.items()])
    return _pack_II(len(items) + 4, 2 * len(value)) + items


def _wide(raw: bytes) -> bytes:
    return _pack_I(len(raw)) + raw


_WRITERS: dict[type, Writer] = {
    type(None): lambda value: b"\x40",
    bool: _bool,
    ubyte: lambda value: b"\x50" + _pack_B(value),
    ushort: lambda value: b"\x60" + _pack_H(value),
    uint: _uint,
    ulong: _ulong,
    byte: lambda value: b"\x51" + _pack_b(value),
    short: lambda value: b"\x61" + _pack_h(value),
    int32: _int32,
    int: _long,
    float32: lambda value: b"\x72" + _pack_f(value),
    float: lambda value: b"\x82" + _pack_d(value),
    decimal32: lambda value: b"\x74" + _pack_I(value),
    decimal64: lambda value: b"\x84" + _pack_Q(value),
    decimal128: lambda value: b"\x94" + _sixteen(value),
    char: lambda value: b"\x73" + _pack_I(ord(value)),
    timestamp: lambda value: b"\x83" + _pack_q(value),
    uuid.UUID: lambda value: b"\x98" + value.bytes,
    bytes: lambda value: _sized(b"\xa0", b"\xb0", value),
    str: lambda value: _sized(b"\xa1", b"\xb1", value.encode("utf-8")),
    symbol: lambda value: _sized(b"\xa3", b"\xb3", value.encode("ascii")),
    list: _list_bytes,
    tuple: _list_bytes,
    dict: _map_bytes,
    Described: _described_bytes,
    Array: _array_bytes,
}


def _sixteen(value: bytes) -> bytes:
    if len(value) != 16:
        raise Unencodable(f"a decimal128 of {len(value)} bytes")
    return bytes(value)


# Each element type of an array: its constructor (always the wide form, as
# Data writes it), the class its elements must have, and how one is written.
_ARRAY_ELEMENTS: dict[int, tuple[bytes, type, Writer]] = {
    Data.NULL: (b"\x40", type(None), lambda value: b""),
    Data.BOOL: (b"\x56", bool, lambda value: b"\x01" if value else b"\x00"),
    Data.UBYTE: (b"\x50", ubyte, _pack_B),
    Data.USHORT: (b"\x60", ushort, _pack_H),
    Data.UINT: (b"\x70", uint, _pack_I),
    Data.ULONG: (b"\x80", ulong, _pack_Q),
    Data.BYTE: (b"\x51", byte, _pack_b),
    Data.SHORT: (b"\x61", short, _pack_h),
    Data.INT: (b"\x71", int32, _pack_i),
    Data.LONG: (b"\x81", int, _pack_q),
    Data.FLOAT: (b"\x72", float32, _pack_f),
    Data.DOUBLE: (b"\x82", float, _pack_d),
    Data.DECIMAL32: (b"\x74", decimal32, _pack_I),
    Data.DECIMAL64: (b"\x84", decimal64, _pack_Q),
    Data.DECIMAL128: (b"\x94", decimal128, _sixteen),
    Data.CHAR: (b"\x73", char, lambda value: _pack_I(ord(value))),
    Data.TIMESTAMP: (b"\x83", timestamp, _pack_q),
    Data.UUID: (b"\x98", uuid.UUID, lambda value: value.bytes),
    Data.BINARY: (b"\xb0", bytes, _wide),
    Data.STRING: (b"\xb1", str, lambda value: _wide(value.encode("utf-8"))),
    Data.SYMBOL: (b"\xb3", symbol, lambda value: _wide(value.encode("ascii"))),
    Data.LIST: (b"\xd0", list, _wide_list),
    Data.MAP: (b"\xd1", dict, _wide_map),
    Data.ARRAY: (b"\xf0", Array, _array_payload),
}
