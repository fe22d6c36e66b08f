"""One message as one JSON object: the sections by name, every value typed.

::

    {"msgr-tui": 1,
     "header": {"durable": true, "priority": 4, "ttl": 60000},
     "message_annotations": {"x-opt-jms-dest": {"$byte": 0}},
     "properties": {"message_id": {"$uuid": "6e5c...-..."}, "to": "amqp://broker/orders",
                    "subject": "order.created", "content_type": "application/json",
                    "creation_time": "2026-12-02T15:34:31.250Z"},
     "application_properties": {"tenant": "acme", "attempt": {"$int": 1}},
     "body": {"value": "{\\"order\\": 1042}"},
     "meta": {"received_at": "2026-12-02T15:34:32.004Z"}}

Values follow :mod:`.typed_json`. Section by section, the keys and values of
the standard need no tags: header fields are plain numbers and booleans
(``ttl`` in milliseconds), ``content_type`` and ``content_encoding`` plain
strings (symbols), times ISO 8601 text as ``$timestamp`` writes it, annotation and footer keys
plain strings (symbols; a map with other keys uses ``$map``). The body is
``{"value": v}`` (amqp-value), ``{"data": binary}`` (one data section),
``{"data_sections": [...]}`` (several), ``{"sequence": [...]}`` or
``{"sequences": [[...], ...]}``. ``meta`` says when the message was received
(or, written by ``send --unsent``, why it was kept); it is not part of the
message, is not sent, and a reader ignores what it holds. Absent sections and
fields are left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from proton import symbol, timestamp, ubyte, uint

from .sections import HEADER_FIELDS, PROPERTY_FIELDS, Body, BodyKind, MessageRecord
from .typed_json import ValueFormatError, binary_json, from_json, timestamp_of, to_json

__all__ = ["FORMAT_KEY", "FORMAT_VERSION", "RecordFormatError", "from_record", "to_record"]

FORMAT_KEY = "msgr-tui"
FORMAT_VERSION = 1

RecordFormatError = ValueFormatError

_SECTION_KEYS = (
    "header",
    "delivery_annotations",
    "message_annotations",
    "properties",
    "application_properties",
    "body",
    "footer",
    "meta",
)
_KNOWN_KEYS = frozenset((FORMAT_KEY, *_SECTION_KEYS))
_HEADER_TYPES = {
    "durable": bool,
    "priority": ubyte,
    "ttl": uint,
    "first_acquirer": bool,
    "delivery_count": uint,
}
_STRING_PROPERTIES = ("to", "subject", "reply_to", "group_id", "reply_to_group_id")
_SYMBOL_PROPERTIES = ("content_type", "content_encoding")
_TIME_PROPERTIES = ("absolute_expiry_time", "creation_time")
_ID_PROPERTIES = ("message_id", "correlation_id")


# ------------------------------------------------------------------ writing


def to_record(message: MessageRecord, meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The JSON object for ``message`` (``meta`` is added as it is)."""
    record: dict[str, Any] = {FORMAT_KEY: FORMAT_VERSION}
    if message.header is not None:
        record["header"] = {name: _plain(value) for name, value in message.header.items()}
    for key, section in (
        ("delivery_annotations", message.delivery_annotations),
        ("message_annotations", message.message_annotations),
    ):
        if section is not None:
            record[key] = _annotations_json(section)
    if message.properties is not None:
        record["properties"] = _properties_json(message.properties)
    if message.application_properties is not None:
        record["application_properties"] = to_json(dict(message.application_properties))
    if message.body is not None:
        record["body"] = _body_json(message.body)
    if message.footer is not None:
        record["footer"] = _annotations_json(message.footer)
    if meta:
        record["meta"] = dict(meta)
    return record


def _plain(value: Any) -> Any:
    return value if type(value) is bool else int(value)


def _annotations_json(section: Mapping[Any, Any]) -> Any:
    # Plain keys here are symbols (the standard's annotation keys); any other
    # key type, even a string, keeps its type in the explicit $map form.
    if all(type(key) is symbol and not key.startswith("$") for key in section):
        return {str(key): to_json(value) for key, value in section.items()}
    return {"$map": [[to_json(key), to_json(value)] for key, value in section.items()]}


def _properties_json(properties: Mapping[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in properties.items():
        if name in _SYMBOL_PROPERTIES or name in _STRING_PROPERTIES:
            result[name] = str(value)
        elif name in _TIME_PROPERTIES:
            result[name] = to_json(timestamp(int(value)))["$timestamp"]
        elif name == "user_id":
            result[name] = binary_json(bytes(value))
        elif name == "group_sequence":
            result[name] = int(value)
        else:
            result[name] = to_json(value)
    return result


def _body_json(body: Body) -> dict[str, Any]:
    sections = body.sections
    if body.kind is BodyKind.VALUE:
        return {"value": to_json(sections[0])}
    if body.kind is BodyKind.DATA:
        if len(sections) == 1:
            return {"data": to_json(sections[0])}
        return {"data_sections": [to_json(section) for section in sections]}
    if len(sections) == 1:
        return {"sequence": to_json(sections[0])}
    return {"sequences": [to_json(section) for section in sections]}


# ------------------------------------------------------------------ reading


def from_record(record: Any) -> MessageRecord:
    """The message a JSON object stands for; RecordFormatError names what is wrong and where."""
    if type(record) is not dict:
        raise ValueFormatError("", "a line must be a JSON object")
    version = record.get(FORMAT_KEY)
    if version is None:
        raise ValueFormatError("", f'not a msgr-tui message: no "{FORMAT_KEY}" key')
    if type(version) is not int or version < 1:
        raise ValueFormatError(FORMAT_KEY, f"unknown format version {version!r}")
    if version > FORMAT_VERSION:
        raise ValueFormatError(
            FORMAT_KEY, f"format version {version} is newer than this msgr-tui reads"
        )
    if not _KNOWN_KEYS.issuperset(record):
        raise ValueFormatError("", f"unknown key(s) {sorted(record.keys() - _KNOWN_KEYS)}")
    get = record.get
    meta = get("meta")
    if meta is not None and type(meta) is not dict:
        raise ValueFormatError("meta", "must be an object")
    # The sections a line leaves out cost no call: most lines have few.
    delivery_annotations = get("delivery_annotations")
    message_annotations = get("message_annotations")
    application_properties = get("application_properties")
    footer = get("footer")
    return MessageRecord(
        header=_header(get("header")),
        delivery_annotations=None
        if delivery_annotations is None
        else _annotations(delivery_annotations, "delivery_annotations"),
        message_annotations=None
        if message_annotations is None
        else _annotations(message_annotations, "message_annotations"),
        properties=_properties(get("properties")),
        application_properties=None
        if application_properties is None
        else _application_properties(application_properties),
        body=_body(get("body")),
        footer=None if footer is None else _annotations(footer, "footer"),
    )


def _object(value: Any, path: str) -> dict[str, Any]:
    if type(value) is not dict:
        raise ValueFormatError(path, "must be an object")
    return value


def _header(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    fields = _object(value, "header")
    header: dict[str, Any] = {}
    for name, raw in fields.items():
        kind = _HEADER_TYPES.get(name)
        path = f"header.{name}"
        if kind is None:
            raise ValueFormatError(
                path, f"not a header field (they are {', '.join(HEADER_FIELDS)})"
            )
        if kind is bool:
            if type(raw) is not bool:
                raise ValueFormatError(path, f"must be true or false, not {raw!r}")
            header[name] = raw
        else:
            header[name] = _unsigned(raw, kind, path)
    return header


def _unsigned(raw: Any, kind: type, path: str) -> Any:
    limit = 2**8 - 1 if kind is ubyte else 2**32 - 1
    if type(raw) is not int or not 0 <= raw <= limit:
        raise ValueFormatError(path, f"must be a whole number from 0 to {limit}, not {raw!r}")
    return kind(raw)


def _annotations(value: Any, path: str) -> dict[Any, Any] | None:
    if value is None:
        return None
    fields = _object(value, path)
    if "$map" in fields:
        return _decoded_map(fields, path)
    return {symbol(key): from_json(item, f"{path}.{key}") for key, item in fields.items()}


def _application_properties(value: Any) -> dict[Any, Any] | None:
    if value is None:
        return None
    fields = _object(value, "application_properties")
    if "$map" in fields:
        return _decoded_map(fields, "application_properties")
    return {key: from_json(item, f"application_properties.{key}") for key, item in fields.items()}


def _decoded_map(fields: dict[str, Any], path: str) -> dict[Any, Any]:
    decoded = from_json(fields, path)
    if not isinstance(decoded, dict):
        raise ValueFormatError(path, "must be a map")
    return decoded


def _properties(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    fields = _object(value, "properties")
    properties: dict[str, Any] = {}
    for name, raw in fields.items():
        path = f"properties.{name}"
        if name not in PROPERTY_FIELDS:
            raise ValueFormatError(
                path, f"not a message property (they are {', '.join(PROPERTY_FIELDS)})"
            )
        if name in _STRING_PROPERTIES or name in _SYMBOL_PROPERTIES:
            if type(raw) is not str:
                raise ValueFormatError(path, f"must be a string, not {raw!r}")
            properties[name] = symbol(raw) if name in _SYMBOL_PROPERTIES else raw
        elif name in _TIME_PROPERTIES:
            properties[name] = timestamp_of(raw, path)
        elif name == "user_id":
            user_id = from_json(raw, path)
            if type(user_id) is not bytes:
                raise ValueFormatError(path, "must be binary ($binary or $base64)")
            properties[name] = user_id
        elif name == "group_sequence":
            properties[name] = _unsigned(raw, uint, path)
        else:
            properties[name] = _message_id(raw, path)
    return properties


def _message_id(raw: Any, path: str) -> Any:
    from uuid import UUID

    from proton import ulong

    value = from_json(raw, path)
    if type(value) not in (str, bytes, ulong, UUID):
        raise ValueFormatError(path, "an id is a string, $ulong, $uuid or binary")
    return value


def _body(value: Any) -> Body | None:
    if value is None:
        return None
    fields = _object(value, "body")
    if len(fields) != 1:
        raise ValueFormatError(
            "body", "needs exactly one of value, data, data_sections, sequence, sequences"
        )
    ((kind, raw),) = fields.items()
    path = f"body.{kind}"
    if kind == "value":
        return Body(BodyKind.VALUE, (from_json(raw, path),))
    if kind in ("data", "sequence"):
        sections = [raw]
    elif kind in ("data_sections", "sequences"):
        if type(raw) is not list or not raw:
            raise ValueFormatError(path, "must be a non-empty list of sections")
        sections = raw
    else:
        raise ValueFormatError("body", f"unknown body kind {kind!r}")
    decoded = [from_json(section, f"{path}[{index}]") for index, section in enumerate(sections)]
    if kind.startswith("data"):
        if any(type(section) is not bytes for section in decoded):
            raise ValueFormatError(path, "a data section is binary ($binary or $base64)")
        return Body(BodyKind.DATA, tuple(decoded))
    if any(type(section) is not list for section in decoded):
        raise ValueFormatError(path, "an amqp-sequence section is a list")
    return Body(BodyKind.SEQUENCE, tuple(decoded))
