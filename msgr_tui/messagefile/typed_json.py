"""AMQP values as JSON: plain where JSON says it exactly, tagged where it does not.

Plain JSON stands for one AMQP type each: ``null``, ``true``/``false``
(boolean), a string (string), an integer (long), a number with a fraction or
exponent (double), an array (list) and an object whose keys do not start with
``$`` (a map with string keys). Every other value is an object with a ``$``
key naming its type::

    {"$symbol": "x-opt-key"}      {"$char": "é"}          {"$uuid": "1b4e28ba-..."}
    {"$ubyte": 7} {"$ushort": 7} {"$uint": 7} {"$ulong": 7}
    {"$byte": -7} {"$short": -7} {"$int": -7}
    {"$float": 1.5}  {"$double": "NaN"}   (NaN, Infinity and -Infinity as text)
    {"$decimal32": "0x22000001"}  (the 4, 8 or 16 bytes of the decimal, in hex)
    {"$timestamp": "2026-12-02T15:34:31.250Z"}  (UTC, milliseconds; an integer
                                                 of milliseconds outside years 1-9999)
    {"$binary": "text"}           (bytes that are UTF-8 text)
    {"$base64": "AAEC"}           (any other bytes)
    {"$map": [[key, value], ...]} (keys that are not strings, or start with $)
    {"$array": "uint", "items": [...]}            (add "descriptor": value if described)
    {"$described": descriptor, "value": value}

Decoding is strict: a value of the wrong JSON type, an integer out of its
type's range, or an unknown ``$`` key is refused with the path to the value.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import math
import re
import uuid
from collections.abc import Callable, Mapping
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

__all__ = ["ValueFormatError", "from_json", "to_json"]


class ValueFormatError(ValueError):
    """A JSON value that is not an AMQP value in this format; ``path`` says where."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}" if path else reason)
        self.path = path
        self.reason = reason


_INTEGERS: dict[type, tuple[str, int, int]] = {
    ubyte: ("ubyte", 0, 2**8 - 1),
    ushort: ("ushort", 0, 2**16 - 1),
    uint: ("uint", 0, 2**32 - 1),
    ulong: ("ulong", 0, 2**64 - 1),
    byte: ("byte", -(2**7), 2**7 - 1),
    short: ("short", -(2**15), 2**15 - 1),
    int32: ("int", -(2**31), 2**31 - 1),
}
_INTEGER_TAGS = {f"${name}": (kind, low, high) for kind, (name, low, high) in _INTEGERS.items()}
_LONG = (-(2**63), 2**63 - 1)
_DECIMALS = {
    decimal32: ("decimal32", 4),
    decimal64: ("decimal64", 8),
    decimal128: ("decimal128", 16),
}
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# Before the writer padded them, years below 1000 were written with 1 to 3 digits.
_SHORT_YEAR = re.compile(r"(\d{1,3})(-\d\d-\d\dT.*)", re.ASCII).fullmatch
# Array element types by the name used in "$array", and back.
_TYPE_CODES = {name: code for code, name in Data.type_names.items()}
_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


# ------------------------------------------------------------------ encoding


def to_json(value: Any) -> Any:
    """The JSON form of an AMQP value as python-qpid-proton represents it."""
    kind = type(value)
    if value is None or kind is bool or kind is str:
        return value
    if kind is int:
        return value
    if kind is float:
        return _float_json(value, "$double")
    if kind in _INTEGERS:
        return {f"${_INTEGERS[kind][0]}": int(value)}
    if kind is symbol:
        return {"$symbol": str(value)}
    if kind is char:
        return {"$char": str(value)}
    if kind is float32:
        return {"$float": _float_json(float(value), None)}
    if kind in _DECIMALS:
        name, size = _DECIMALS[kind]
        raw = bytes(value) if kind is decimal128 else int(value).to_bytes(size, "big")
        return {f"${name}": "0x" + raw.hex()}
    if kind is timestamp:
        return {"$timestamp": _timestamp_json(int(value))}
    if kind is uuid.UUID:
        return {"$uuid": str(value)}
    if kind is bytes or kind is bytearray or kind is memoryview:
        return binary_json(bytes(value))
    if isinstance(value, Mapping):
        return _map_json(value)
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    if kind is Array:
        record: dict[str, Any] = {
            "$array": Data.type_names[value.type],
            "items": [to_json(item) for item in value.elements],
        }
        if value.descriptor is not UNDESCRIBED:
            record["descriptor"] = to_json(value.descriptor)
        return record
    if kind is Described:
        return {"$described": to_json(value.descriptor), "value": to_json(value.value)}
    if isinstance(value, int):  # another int subclass Proton may hand out
        return int(value)
    if isinstance(value, str):
        return str(value)
    raise TypeError(f"not an AMQP value: {value!r} ({kind.__name__})")


def binary_json(data: bytes) -> dict[str, str]:
    """``{"$binary": text}`` for UTF-8 text, else ``{"$base64": ...}``."""
    try:
        return {"$binary": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"$base64": base64.b64encode(data).decode("ascii")}


def _float_json(value: float, tag: str | None) -> Any:
    """A finite float as a JSON number; NaN and infinities as text (tagged when ``tag``)."""
    if math.isfinite(value):
        return value
    text = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return {tag: text} if tag is not None else text


def _timestamp_json(millis: int) -> str | int:
    try:
        moment = _EPOCH + dt.timedelta(milliseconds=millis)
    except OverflowError:
        return millis
    # Formatted here, not by strftime: glibc writes year 999 as "999", which
    # is not ISO 8601 (and fromisoformat refuses it).
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:"
        f"{moment.minute:02d}:{moment.second:02d}.{moment.microsecond // 1000:03d}Z"
    )


def _map_json(value: Mapping[Any, Any]) -> Any:
    if all(type(key) is str and not key.startswith("$") for key in value):
        return {key: to_json(item) for key, item in value.items()}
    return {"$map": [[to_json(key), to_json(item)] for key, item in value.items()]}


# ------------------------------------------------------------------ decoding


def from_json(value: Any, path: str = "") -> Any:
    """The AMQP value (python-qpid-proton's types) a JSON value stands for."""
    kind = type(value)
    if value is None or kind is bool or kind is str:
        return value
    if kind is int:
        return _checked_int(value, *_LONG, "long", path)
    if kind is float:
        return value
    if kind is list:
        return [from_json(item, f"{path}[{index}]") for index, item in enumerate(value)]
    if kind is dict:
        # A loop, not next() over a generator: this runs for every object of a line.
        for key in value:
            if key.startswith("$"):
                return _tagged(key, value, path)
        return {key: from_json(item, f"{path}.{key}") for key, item in value.items()}
    raise ValueFormatError(path, f"not a JSON value: {value!r}")


def _tagged(tag: str, value: dict[str, Any], path: str) -> Any:
    decode = _TAGGED.get(tag)
    if decode is None and tag in _INTEGER_TAGS:
        kind, low, high = _INTEGER_TAGS[tag]
        _only(value, (tag,), path)
        number = value[tag]
        if type(number) is not int:
            raise ValueFormatError(path, f"{tag} needs an integer, not {number!r}")
        return kind(_checked_int(number, low, high, tag[1:], path))
    if decode is None:
        raise ValueFormatError(path, f"unknown type tag {tag!r}")
    return decode(value, path)


def _only(value: dict[str, Any], keys: tuple[str, ...], path: str) -> None:
    if len(value) == 1 and len(keys) == 1 and keys[0] in value:
        return  # a tag alone, as nearly every one is: no sets to build
    extra = set(value) - set(keys)
    if extra:
        raise ValueFormatError(path, f"unexpected key(s) {sorted(extra)} beside {keys[0]!r}")
    missing = [key for key in keys if key not in value]
    if missing:
        raise ValueFormatError(path, f"{keys[0]!r} needs {missing}")


def _checked_int(number: int, low: int, high: int, name: str, path: str) -> int:
    if not low <= number <= high:
        raise ValueFormatError(path, f"{number} is out of range for {name} ({low} to {high})")
    return number


def _text(value: dict[str, Any], tag: str, path: str) -> str:
    _only(value, (tag,), path)
    text = value[tag]
    if type(text) is not str:
        raise ValueFormatError(path, f"{tag} needs a string, not {text!r}")
    return text


def _symbol(value: dict[str, Any], path: str) -> symbol:
    text = _text(value, "$symbol", path)
    if not text.isascii():
        raise ValueFormatError(path, f"a symbol is ASCII text, not {text!r}")
    return symbol(text)


def _char(value: dict[str, Any], path: str) -> char:
    text = _text(value, "$char", path)
    if len(text) != 1:
        raise ValueFormatError(path, f"$char needs exactly one character, not {text!r}")
    return char(text)


def _float_of(raw: Any, tag: str, path: str) -> float:
    if type(raw) is str and raw in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[raw]
    if type(raw) in (int, float):
        return float(raw)
    raise ValueFormatError(path, f"{tag} needs a number or NaN/Infinity/-Infinity, not {raw!r}")


def _float32(value: dict[str, Any], path: str) -> float32:
    _only(value, ("$float",), path)
    return float32(_float_of(value["$float"], "$float", path))


def _double(value: dict[str, Any], path: str) -> float:
    _only(value, ("$double",), path)
    return _float_of(value["$double"], "$double", path)


def _decimal(name: str, size: int, kind: type) -> Callable[[dict[str, Any], str], Any]:
    tag = f"${name}"

    def decode(value: dict[str, Any], path: str) -> Any:
        text = _text(value, tag, path)
        digits = text[2:] if text.startswith(("0x", "0X")) else text
        try:
            raw = bytes.fromhex(digits)
        except ValueError:
            raise ValueFormatError(path, f"{tag} needs hex digits, not {text!r}") from None
        if len(raw) != size:
            raise ValueFormatError(path, f"{tag} needs {size} bytes, not {len(raw)}")
        return kind(raw) if kind is decimal128 else kind(int.from_bytes(raw, "big"))

    return decode


def _timestamp(value: dict[str, Any], path: str) -> timestamp:
    _only(value, ("$timestamp",), path)
    return timestamp_of(value["$timestamp"], path)


def timestamp_of(raw: Any, path: str) -> timestamp:
    """The timestamp ``$timestamp`` holds: ISO 8601 text (UTC offset given) or milliseconds."""
    if type(raw) is int:
        return timestamp(_checked_int(raw, *_LONG, "timestamp", path))
    if type(raw) is not str:
        raise ValueFormatError(
            path, f"$timestamp needs an ISO 8601 time or milliseconds, not {raw!r}"
        )
    try:
        # Python 3.11 reads the trailing Z itself: no replace, no second string.
        moment = dt.datetime.fromisoformat(raw)
    except ValueError:
        moment = _unpadded_year(raw, path)
    if moment.tzinfo is None:
        raise ValueFormatError(path, f"$timestamp: {raw!r} has no time zone (end it with Z)")
    # Whole numbers from the timedelta's fields: a third of the time of dividing it.
    since = moment - _EPOCH
    if since.microseconds % 1000:
        raise ValueFormatError(path, f"$timestamp: {raw!r} is finer than a millisecond")
    return timestamp((since.days * 86_400 + since.seconds) * 1000 + since.microseconds // 1000)


def _unpadded_year(raw: str, path: str) -> dt.datetime:
    """A time whose year has fewer than 4 digits, as strftime wrote years below 1000."""
    short = _SHORT_YEAR(raw)
    if short is not None:
        with contextlib.suppress(ValueError):
            return dt.datetime.fromisoformat(short.group(1).zfill(4) + short.group(2))
    raise ValueFormatError(path, f"$timestamp: {raw!r} is not an ISO 8601 time")


def _uuid(value: dict[str, Any], path: str) -> uuid.UUID:
    text = _text(value, "$uuid", path)
    try:
        return uuid.UUID(text)
    except ValueError:
        raise ValueFormatError(path, f"$uuid: {text!r} is not a UUID") from None


def _binary(value: dict[str, Any], path: str) -> bytes:
    return _text(value, "$binary", path).encode("utf-8", "surrogatepass")


def _base64(value: dict[str, Any], path: str) -> bytes:
    text = _text(value, "$base64", path)
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        raise ValueFormatError(path, f"$base64: not base64 text ({text[:20]!r}...)") from None


def _map(value: dict[str, Any], path: str) -> dict[Any, Any]:
    _only(value, ("$map",), path)
    pairs = value["$map"]
    if type(pairs) is not list:
        raise ValueFormatError(path, "$map needs a list of [key, value] pairs")
    result: dict[Any, Any] = {}
    for index, pair in enumerate(pairs):
        where = f"{path}.$map[{index}]"
        if type(pair) is not list or len(pair) != 2:
            raise ValueFormatError(where, "each $map entry is a [key, value] pair")
        key = from_json(pair[0], f"{where}[0]")
        try:
            result[key] = from_json(pair[1], f"{where}[1]")
        except TypeError:
            raise ValueFormatError(
                where, f"a key of this type cannot be used: {pair[0]!r}"
            ) from None
    return result


def _array(value: dict[str, Any], path: str) -> Array:
    keys = ("$array", "items", "descriptor") if "descriptor" in value else ("$array", "items")
    _only(value, keys, path)
    type_name = value["$array"]
    code = _TYPE_CODES.get(type_name) if type(type_name) is str else None
    if code is None or type_name in ("null", "described"):
        raise ValueFormatError(path, f"$array: unknown element type {type_name!r}")
    items = value["items"]
    if type(items) is not list:
        raise ValueFormatError(path, "$array needs a list of items")
    elements = []
    for index, item in enumerate(items):
        element = from_json(item, f"{path}.items[{index}]")
        if _type_code(element) != code:
            raise ValueFormatError(f"{path}.items[{index}]", f"not a {type_name}: {item!r}")
        elements.append(element)
    descriptor = (
        from_json(value["descriptor"], f"{path}.descriptor")
        if "descriptor" in value
        else UNDESCRIBED
    )
    return Array(descriptor, code, *elements)


def _described(value: dict[str, Any], path: str) -> Described:
    _only(value, ("$described", "value"), path)
    return Described(
        from_json(value["$described"], f"{path}.$described"),
        from_json(value["value"], f"{path}.value"),
    )


def _type_code(value: Any) -> int | None:
    """The AMQP type code python-qpid-proton encodes ``value`` as."""
    data = Data()
    try:
        data.put_object(value)
    except Exception:
        return None
    data.rewind()
    data.next()
    return data.type()


_TAGGED: dict[str, Callable[[dict[str, Any], str], Any]] = {
    "$symbol": _symbol,
    "$char": _char,
    "$float": _float32,
    "$double": _double,
    "$decimal32": _decimal("decimal32", 4, decimal32),
    "$decimal64": _decimal("decimal64", 8, decimal64),
    "$decimal128": _decimal("decimal128", 16, decimal128),
    "$timestamp": _timestamp,
    "$uuid": _uuid,
    "$binary": _binary,
    "$base64": _base64,
    "$map": _map,
    "$array": _array,
    "$described": _described,
}
