"""An AMQP message as its sections, from and to the bytes on the wire.

``proton.Message`` holds one body and no footer; a message can have several
data (or amqp-sequence) sections and a footer, and every field of it has an
AMQP type. A :class:`MessageRecord` keeps all of it: each section decoded
into python-qpid-proton's typed values (``ubyte``, ``symbol``, ``timestamp``...;
by :mod:`.wire_values`, which reads and writes them as ``Data`` would,
faster), so encoding the record again gives the same message.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from proton import Data, Described, symbol, ulong

from .wire_values import Unencodable, WireError, decode_described, decode_value, encode_value

__all__ = [
    "HEADER_FIELDS",
    "ORIGINAL_TO",
    "PROPERTY_FIELDS",
    "Body",
    "BodyKind",
    "MessageRecord",
    "SectionError",
    "decode_message",
    "encode_message",
    "encode_readdressed",
]


class SectionError(ValueError):
    """Bytes that are not an AMQP message, or a record that cannot be encoded."""


class BodyKind(Enum):
    DATA = "data"
    SEQUENCE = "sequence"
    VALUE = "value"


@dataclass(frozen=True)
class Body:
    """The body: one amqp-value, or one or more data or amqp-sequence sections."""

    kind: BodyKind
    sections: tuple[Any, ...]
    """For DATA, the bytes of each section; for SEQUENCE, each list; for VALUE, one value."""


HEADER_FIELDS = ("durable", "priority", "ttl", "first_acquirer", "delivery_count")
PROPERTY_FIELDS = (
    "message_id",
    "user_id",
    "to",
    "subject",
    "reply_to",
    "correlation_id",
    "content_type",
    "content_encoding",
    "absolute_expiry_time",
    "creation_time",
    "group_id",
    "group_sequence",
    "reply_to_group_id",
)


@dataclass(frozen=True)
class MessageRecord:
    """Every section of one message; a section the message did not have is None.

    ``header`` and ``properties`` map field names (HEADER_FIELDS,
    PROPERTY_FIELDS) to values, leaving out the fields the message did not
    set; the annotations, application properties and footer are maps.
    """

    header: Mapping[str, Any] | None = None
    delivery_annotations: Mapping[Any, Any] | None = None
    message_annotations: Mapping[Any, Any] | None = None
    properties: Mapping[str, Any] | None = None
    application_properties: Mapping[Any, Any] | None = None
    body: Body | None = None
    footer: Mapping[Any, Any] | None = None

    @property
    def address(self) -> str | None:
        """The ``to`` property: where the message was sent."""
        return (self.properties or {}).get("to")

    def addressed_to(self, address: str | None) -> MessageRecord:
        """The same message with its ``to`` property set to ``address`` (None removes it)."""
        properties = {key: value for key, value in (self.properties or {}).items() if key != "to"}
        if address is not None:
            properties["to"] = address
        return dataclasses.replace(self, properties=properties or None)


# Section descriptors: codes, and the symbolic names a peer may use instead.
_HEADER, _DELIVERY_ANNOTATIONS, _MESSAGE_ANNOTATIONS, _PROPERTIES = 0x70, 0x71, 0x72, 0x73
_APPLICATION_PROPERTIES, _DATA, _SEQUENCE, _VALUE, _FOOTER = 0x74, 0x75, 0x76, 0x77, 0x78
_NAMES = {
    "amqp:header:list": _HEADER,
    "amqp:delivery-annotations:map": _DELIVERY_ANNOTATIONS,
    "amqp:message-annotations:map": _MESSAGE_ANNOTATIONS,
    "amqp:properties:list": _PROPERTIES,
    "amqp:application-properties:map": _APPLICATION_PROPERTIES,
    "amqp:data:binary": _DATA,
    "amqp:amqp-sequence:list": _SEQUENCE,
    "amqp:amqp-value:*": _VALUE,
    "amqp:footer:map": _FOOTER,
}
_POSITIONS = {
    names: {name: index for index, name in enumerate(names)}
    for names in (HEADER_FIELDS, PROPERTY_FIELDS)
}
_BODY_KINDS = {_DATA: BodyKind.DATA, _SEQUENCE: BodyKind.SEQUENCE, _VALUE: BodyKind.VALUE}
_BODY_CODES = {kind: code for code, kind in _BODY_KINDS.items()}
# Each section's descriptor as every peer writes it: 0x00, smallulong, the code.
_PREFIXES = {code: b"\x00\x53" + bytes((code,)) for code in range(_HEADER, _FOOTER + 1)}


def decode_message(data: bytes | bytearray) -> MessageRecord:
    """The sections of an encoded AMQP message; SectionError when it is not one."""
    data = bytes(data)
    sections: dict[int, Any] = {}
    body_kind: BodyKind | None = None
    body: list[Any] = []
    offset = 0
    end = len(data)
    while offset < end:
        try:
            if data[offset : offset + 2] == b"\x00\x53" and _HEADER <= data[offset + 2] <= _FOOTER:
                # How every peer writes a section's descriptor: a smallulong code.
                code = data[offset + 2]
                value, offset = decode_value(data, offset + 3)
            else:
                descriptor, value, next_offset = decode_described(data, offset)
                code = _section_code(descriptor, offset)
                offset = next_offset
        except (WireError, IndexError) as error:
            raise SectionError(f"not a message section: {error}") from None
        kind = _BODY_KINDS.get(code)
        if kind is not None:
            if body_kind is not None and (kind is not body_kind or kind is BodyKind.VALUE):
                raise SectionError(f"a {kind.value} section after a {body_kind.value} body")
            body_kind = kind
            body.append(value)
        elif code in sections:
            raise SectionError(f"section 0x{code:02x} appears twice")
        else:
            sections[code] = value
    return MessageRecord(
        header=_fields(sections.get(_HEADER), HEADER_FIELDS, "header"),
        delivery_annotations=_owned_map(sections.get(_DELIVERY_ANNOTATIONS)),
        message_annotations=_owned_map(sections.get(_MESSAGE_ANNOTATIONS)),
        properties=_fields(sections.get(_PROPERTIES), PROPERTY_FIELDS, "properties"),
        application_properties=_owned_map(sections.get(_APPLICATION_PROPERTIES)),
        body=Body(body_kind, tuple(body)) if body_kind is not None else None,
        footer=_owned_map(sections.get(_FOOTER)),
    )


def encode_message(record: MessageRecord) -> bytes:
    """The bytes of ``record`` as an AMQP message (its sections in the standard order)."""
    return _encoded(record, record.message_annotations, record.properties)


# Where a message sent somewhere else than its ``to`` says it was first sent.
ORIGINAL_TO = symbol("x-opt-original-to")


def encode_readdressed(record: MessageRecord, written: str) -> bytes:
    """The bytes of ``record`` sent to ``written`` (an address as a message holds it).

    Its ``to`` says so; the original destination goes into the message
    annotation ``x-opt-original-to`` (when it had one and it differs, and the
    message names none already), so a replayed or moved message still tells
    where it was first sent. The other sections are encoded straight from
    ``record``: no new record is made (``dataclasses.replace`` of a frozen
    record cost as much as encoding the two sections that change).
    """
    annotations, properties = _readdressed_sections(record, written)
    return _encoded(record, annotations, properties)


def _readdressed_sections(
    record: MessageRecord, written: str
) -> tuple[Mapping[Any, Any] | None, dict[str, Any]]:
    """The message annotations and properties of ``record`` sent to ``written``."""
    original = record.address
    properties = dict(record.properties or {})
    properties["to"] = written
    annotations = record.message_annotations
    if original and original != written and ORIGINAL_TO not in (annotations or {}):
        annotations = {**(annotations or {}), ORIGINAL_TO: original}
    return annotations, properties


def _encoded(
    record: MessageRecord,
    message_annotations: Mapping[Any, Any] | None,
    properties: Mapping[str, Any] | None,
) -> bytes:
    parts = []
    if record.header is not None:
        parts.append(_described(_HEADER, _field_list(record.header, HEADER_FIELDS)))
    for code, section in (
        (_DELIVERY_ANNOTATIONS, record.delivery_annotations),
        (_MESSAGE_ANNOTATIONS, message_annotations),
    ):
        if section is not None:
            parts.append(_described(code, dict(section)))
    if properties is not None:
        parts.append(_described(_PROPERTIES, _field_list(properties, PROPERTY_FIELDS)))
    if record.application_properties is not None:
        parts.append(_described(_APPLICATION_PROPERTIES, dict(record.application_properties)))
    if record.body is not None:
        code = _BODY_CODES[record.body.kind]
        parts.extend(_described(code, section) for section in record.body.sections)
    if record.footer is not None:
        parts.append(_described(_FOOTER, dict(record.footer)))
    return b"".join(parts)


def _section_code(descriptor: Any, offset: int) -> int:
    if type(descriptor) is ulong and _HEADER <= descriptor <= _FOOTER:
        return int(descriptor)
    if isinstance(descriptor, str) and str(descriptor) in _NAMES:
        return _NAMES[str(descriptor)]
    raise SectionError(f"unknown section descriptor {descriptor!r} at byte {offset}")


def _fields(values: Any, names: tuple[str, ...], section: str) -> dict[str, Any] | None:
    if values is None:
        return None
    if type(values) is not list:
        raise SectionError(f"the {section} section is not a list")
    return {name: value for name, value in zip(names, values, strict=False) if value is not None}


def _field_list(fields: Mapping[str, Any], names: tuple[str, ...]) -> list[Any]:
    if not fields:
        return []
    positions = _POSITIONS[names]
    try:
        # Only as far as the last field given: a list of 13 read for one `to`
        # was most of the cost of encoding the properties.
        last = max([positions[name] for name in fields])
    except KeyError:
        raise SectionError(f"unknown field(s) {sorted(fields.keys() - positions.keys())}") from None
    values = [fields.get(name) for name in names[: last + 1]]
    while values and values[-1] is None:
        values.pop()
    return values


def _described(code: int, value: Any) -> bytes:
    try:
        return _PREFIXES[code] + encode_value(value)
    except Unencodable:
        pass  # Data takes more (subclasses, bytearray...) or says why it will not
    data = Data()
    try:
        data.put_object(Described(ulong(code), value))
        return data.encode()
    except Exception as error:
        raise SectionError(f"cannot encode section 0x{code:02x}: {error}") from None


def _owned_map(value: Any) -> dict[Any, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise SectionError(f"a map section holds {type(value).__name__}, not a map")
    return value


# The annotation maps of the standard are keyed by symbols (or ulongs).
ANNOTATION_KEY_TYPES = (symbol, ulong)
