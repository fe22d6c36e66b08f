"""The message file format: every section and every AMQP type, there and back.

A message is taken apart into its sections, written as one JSON line, read
back and put together again: the bytes must be the bytes of the original.
Equality of Python values is not enough here (``ubyte(4) == 4``), so every
comparison is of encoded bytes.
"""

from __future__ import annotations

import json
import math
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
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

from msgr_tui.messagefile import (
    Body,
    BodyKind,
    MessageFileError,
    MessageFileWriter,
    MessageRecord,
    decode_message,
    encode_message,
    from_record,
    read_messages,
    record_line,
    to_record,
)
from msgr_tui.messagefile.typed_json import ValueFormatError, from_json, to_json

EVERY_TYPE = {
    "null": None,
    "true": True,
    "false": False,
    "ubyte": ubyte(255),
    "ushort": ushort(65535),
    "uint": uint(2**32 - 1),
    "ulong": ulong(2**64 - 1),
    "byte": byte(-128),
    "short": short(-32768),
    "int": int32(-(2**31)),
    "long": -(2**63),
    "float": float32(1.5),
    "double": 2.25,
    "nan": math.nan,
    "infinity": float32(math.inf),
    "decimal32": decimal32(0x22000001),
    "decimal64": decimal64(0x2238000000000001),
    "decimal128": decimal128(bytes(range(16))),
    "char": char("\U0001f600"),
    "timestamp": timestamp(1_790_000_000_123),
    "far timestamp": timestamp(-(2**62)),
    "uuid": uuid.UUID("1b4e28ba-2fa1-11d2-883f-0016d3cca427"),
    "binary": b"\x00\xffnot text",
    "binary text": b"plain text",
    "empty binary": b"",
    "string": "caf\u00e9 \u202e and \x1b escapes",
    "symbol": symbol("x-opt-key"),
    "list": [1, "two", [3.0, None]],
    "map": {"nested": {"deep": [b"x"]}},
    "map with other keys": {1: "int key", symbol("s"): "symbol key", "$dollar": "dollar key"},
    "array": Array(UNDESCRIBED, Data.UINT, uint(1), uint(2)),
    "described array": Array(symbol("x:points"), Data.INT, int32(1), int32(-1)),
    "array of lists": Array(UNDESCRIBED, Data.LIST, [1], [2, "b"]),
    "described": Described(symbol("x:blob"), {"k": [ulong(1)]}),
    "described by ulong": Described(ulong(0x77), "v"),
}


def full_message(body: Body) -> MessageRecord:
    return MessageRecord(
        header={
            "durable": True,
            "priority": ubyte(9),
            "ttl": uint(60_000),
            "first_acquirer": True,
            "delivery_count": uint(3),
        },
        delivery_annotations={symbol("x-opt-da"): "delivery"},
        message_annotations={symbol("x-opt-jms-dest"): byte(0), symbol("x-opt-time"): timestamp(1)},
        properties={
            "message_id": uuid.UUID(int=7),
            "user_id": b"ops",
            "to": "amqp://broker/orders",
            "subject": "order.created",
            "reply_to": "amqp://me/replies",
            "correlation_id": b"\x01\x02",
            "content_type": symbol("application/json"),
            "content_encoding": symbol("utf-8"),
            "absolute_expiry_time": timestamp(2_100_000_000_000),  # 2036: not expired
            "creation_time": timestamp(1_790_000_000_000),
            "group_id": "g",
            "group_sequence": uint(42),
            "reply_to_group_id": "rg",
        },
        application_properties={"tenant": "acme", "attempt": int32(1), "ratio": 0.5},
        body=body,
        footer={symbol("x-opt-footer"): "checksum", ulong(9): "ulong key"},
    )


BODIES = {
    "amqp-value with every type": Body(BodyKind.VALUE, (EVERY_TYPE,)),
    "one data section": Body(BodyKind.DATA, (b"\x00\x01binary",)),
    "several data sections": Body(BodyKind.DATA, (b"part one, ", b"\xff part two")),
    "amqp-sequence": Body(BodyKind.SEQUENCE, ([1, symbol("s"), None],)),
    "several amqp-sequences": Body(BodyKind.SEQUENCE, ([1], [uint(2)])),
    "a null value": Body(BodyKind.VALUE, (None,)),
}


def through_a_file_line(message: MessageRecord) -> MessageRecord:
    return from_record(json.loads(record_line(message)))


@pytest.mark.parametrize("body", list(BODIES.values()), ids=list(BODIES))
def test_every_section_and_type_survives_bytes_to_line_and_back(body: Body) -> None:
    original = encode_message(full_message(body))
    taken_apart = decode_message(original)
    assert encode_message(taken_apart) == original
    assert encode_message(through_a_file_line(taken_apart)) == original


@pytest.mark.parametrize("name", list(EVERY_TYPE), ids=list(EVERY_TYPE))
def test_each_type_alone_as_the_body(name: str) -> None:
    original = encode_message(MessageRecord(body=Body(BodyKind.VALUE, (EVERY_TYPE[name],))))
    assert encode_message(through_a_file_line(decode_message(original))) == original


def test_a_message_from_proton_keeps_its_bytes() -> None:
    from msgr_tui.messenger import Message

    message = Message(
        address="amqp://q", subject="s", body={"k": [1, 2]}, durable=True, priority=7, ttl=1.5
    )
    message.properties = {"p": 1}
    message.annotations = {symbol("x-opt-a"): "b"}
    original = message.encode()
    # Proton's Message.encode picks the compact list8/map8 forms, Data the 32-bit
    # ones: the same message in other bytes. What counts is that nothing changes
    # from there on, and that every field still says the same.
    taken_apart = decode_message(original)
    assert encode_message(through_a_file_line(taken_apart)) == encode_message(taken_apart)
    again = Message()
    again.decode(encode_message(through_a_file_line(taken_apart)))
    assert (again.address, again.subject, again.body) == ("amqp://q", "s", {"k": [1, 2]})
    assert (again.durable, again.priority, again.ttl) == (True, 7, 1.5)
    assert again.properties == {"p": 1}
    assert again.annotations == {symbol("x-opt-a"): "b"}


def test_text_stays_text_and_json_stays_readable() -> None:
    body = {"order": 1042, "items": ["apple", "pear"], "total": 99.5}
    message = MessageRecord(
        properties={"to": "amqp://broker/orders", "content_type": symbol("application/json")},
        application_properties={"tenant": "acme"},
        body=Body(BodyKind.VALUE, (body,)),
    )
    line = json.loads(record_line(message))
    assert line["msgr-tui"] == 1
    assert line["properties"] == {"to": "amqp://broker/orders", "content_type": "application/json"}
    assert line["application_properties"] == {"tenant": "acme"}
    assert line["body"] == {"value": body}  # a JSON body is plain JSON
    assert json.loads(record_line(MessageRecord(body=Body(BodyKind.DATA, (b"hello",)))))[
        "body"
    ] == {"data": {"$binary": "hello"}}


def test_types_that_json_cannot_say_are_tagged() -> None:
    assert to_json(ubyte(7)) == {"$ubyte": 7}
    assert to_json(symbol("s")) == {"$symbol": "s"}
    assert to_json(timestamp(1_790_000_000_123)) == {"$timestamp": "2026-09-21T14:13:20.123Z"}
    assert to_json(b"\xff") == {"$base64": "/w=="}
    assert to_json({1: "a"}) == {"$map": [[1, "a"]]}
    assert to_json(math.inf) == {"$double": "Infinity"}
    assert to_json(decimal32(1)) == {"$decimal32": "0x00000001"}


@pytest.mark.parametrize(
    ("millis", "text"),
    [
        (-62_135_596_800_000, "0001-01-01T00:00:00.000Z"),
        (-30_636_384_832_110, "0999-03-04T05:06:07.890Z"),
        (-30_604_848_832_110, "1000-03-04T05:06:07.890Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
        (1_790_000_000_123, "2026-09-21T14:13:20.123Z"),
        (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
    ],
)
def test_a_timestamp_is_written_with_four_digits_of_year_and_read_back(
    tmp_path: Path, millis: int, text: str
) -> None:
    assert to_json(timestamp(millis)) == {"$timestamp": text}
    assert from_json({"$timestamp": text}) == millis
    # In a file too, where the time properties are plain text.
    message = MessageRecord(properties={"creation_time": timestamp(millis)})
    path = tmp_path / "times.jsonl"
    path.write_text(record_line(message) + "\n", encoding="utf-8")
    assert json.loads(path.read_text())["properties"]["creation_time"] == text
    ((_, back),) = read_messages(path)
    assert back == message and type(back.properties["creation_time"]) is timestamp  # type: ignore[index]


def test_a_year_below_1000_written_unpadded_by_older_versions_still_reads() -> None:
    assert from_json({"$timestamp": "999-03-04T05:06:07.890Z"}) == -30_636_384_832_110
    assert from_json({"$timestamp": "1-01-01T00:00:00.000Z"}) == -62_135_596_800_000
    with pytest.raises(ValueFormatError, match="is not an ISO 8601 time"):
        from_json({"$timestamp": "999-02-30T00:00:00.000Z"})


def test_other_iso_8601_times_read_as_before() -> None:
    assert from_json({"$timestamp": "2026-09-21T16:13:20.123+02:00"}) == 1_790_000_000_123
    assert from_json({"$timestamp": "2026-09-21T14:13:20Z"}) == 1_790_000_000_000
    with pytest.raises(ValueFormatError, match="finer than a millisecond"):
        from_json({"$timestamp": "2026-09-21T14:13:20.1234Z"})


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{not json", "not JSON"),
        ('{"body": {"value": 1}}', 'no "msgr-tui" key'),
        ('{"msgr-tui": 2}', "newer than this msgr-tui reads"),
        ('{"msgr-tui": 1, "bodyy": {}}', "unknown key(s) ['bodyy']"),
        ('{"msgr-tui": 1, "header": {"priority": 256}}', "header.priority: must be a whole"),
        ('{"msgr-tui": 1, "header": {"durable": 1}}', "header.durable: must be true or false"),
        ('{"msgr-tui": 1, "properties": {"too": "x"}}', "properties.too: not a message property"),
        ('{"msgr-tui": 1, "body": {"value": {"$uint": -1}}}', "body.value: -1 is out of range"),
        ('{"msgr-tui": 1, "body": {"value": {"$wat": 1}}}', "unknown type tag '$wat'"),
        ('{"msgr-tui": 1, "body": {"data": "text"}}', "a data section is binary"),
        ('{"msgr-tui": 1, "body": {"value": 1, "data": {"$binary": ""}}}', "exactly one of"),
        (
            '{"msgr-tui": 1, "body": {"value": {"$array": "uint", "items": [1]}}}',
            "body.value.items[0]: not a uint",
        ),
        (
            '{"msgr-tui": 1, "body": {"value": {"$timestamp": "2026-01-01T00:00:00"}}}',
            "has no time zone",
        ),
    ],
)
def test_a_line_that_cannot_be_read_is_refused_with_file_line_and_why(
    tmp_path: Path, line: str, reason: str
) -> None:
    path = tmp_path / "messages.jsonl"
    good = record_line(MessageRecord(body=Body(BodyKind.VALUE, ("first",))))
    path.write_text(f"{good}\n\n{line}\n{good}\n", encoding="utf-8")
    read = []
    with pytest.raises(MessageFileError) as caught:
        for where, message in read_messages(path):
            read.append((where, message))
    assert caught.value.where == f"{path}:3"
    assert reason in caught.value.reason
    assert [where for where, _ in read] == [f"{path}:1"]


def test_a_file_is_complete_only_once_committed(tmp_path: Path) -> None:
    path = tmp_path / "saved.jsonl"
    writer = MessageFileWriter(path)
    writer.write([record_line(MessageRecord(body=Body(BodyKind.VALUE, (n,)))) for n in range(3)])
    assert not path.exists()
    partial = path.with_name("saved.jsonl.partial")
    assert len(partial.read_text().splitlines()) == 3  # every written line is there already
    writer.commit()
    assert not partial.exists()
    bodies = [message.body.sections[0] for _, message in read_messages(path)]  # type: ignore[union-attr]
    assert bodies == [0, 1, 2]

    killed = MessageFileWriter(tmp_path / "killed.jsonl")
    killed.write([record_line(MessageRecord())])
    killed.abandon()
    assert not (tmp_path / "killed.jsonl").exists()
    assert (tmp_path / "killed.jsonl.partial").exists()


def test_a_message_file_is_never_overwritten(tmp_path: Path) -> None:
    saved = tmp_path / "saved.jsonl"
    saved.write_text("the only copy of yesterday's messages\n")
    with pytest.raises(MessageFileError, match="already exists"):
        MessageFileWriter(saved)
    assert saved.read_text() == "the only copy of yesterday's messages\n"
    assert not (tmp_path / "saved.jsonl.partial").exists()

    # A run that was killed left its .partial: the next run must not truncate it.
    crashed = tmp_path / "crashed.jsonl"
    left = MessageFileWriter(crashed)
    left.write([record_line(MessageRecord(body=Body(BodyKind.VALUE, ("saved once",))))])
    left.abandon()
    with pytest.raises(MessageFileError, match="left by a run that did not finish"):
        MessageFileWriter(crashed)
    kept = [m.body.sections[0] for _, m in read_messages(f"{crashed}.partial")]  # type: ignore[union-attr]
    assert kept == ["saved once"]

    # A FILE that appears while the run writes is not replaced at the end either.
    racing = tmp_path / "racing.jsonl"
    writer = MessageFileWriter(racing)
    writer.write([record_line(MessageRecord())])
    racing.write_text("someone else's\n")
    with pytest.raises(MessageFileError, match="appeared during the run"):
        writer.commit()
    assert racing.read_text() == "someone else's\n"
    assert len(Path(f"{racing}.partial").read_text().splitlines()) == 1


def test_addressed_to_changes_only_the_destination() -> None:
    message = full_message(BODIES["one data section"])
    moved = message.addressed_to("amqp://elsewhere/dlq")
    assert moved.address == "amqp://elsewhere/dlq"
    assert moved.addressed_to(message.address) == message
    assert decode_message(encode_message(moved)).properties["subject"] == "order.created"  # type: ignore[index]


# ------------------------------------------------------------ random values

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    st.text(alphabet=st.characters(exclude_categories=("Cs",))),
    st.binary(),
    st.integers(0, 2**8 - 1).map(ubyte),
    st.integers(0, 2**32 - 1).map(uint),
    st.integers(0, 2**64 - 1).map(ulong),
    st.integers(-(2**15), 2**15 - 1).map(short),
    st.integers(-(2**31), 2**31 - 1).map(int32),
    st.text(alphabet=st.characters(max_codepoint=127), max_size=20).map(symbol),
    st.integers(-(2**62), 2**62).map(timestamp),
    st.uuids(),
    st.floats(width=32, allow_nan=False).map(float32),
)
_values = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=8), children, max_size=4),
        st.dictionaries(st.integers(0, 2**64 - 1).map(ulong), children, max_size=3),
        st.tuples(
            st.text(alphabet=st.characters(max_codepoint=127), max_size=8).map(symbol), children
        ).map(lambda pair: Described(*pair)),
    ),
    max_leaves=12,
)


def _encoded(value: object) -> bytes:
    data = Data()
    data.put_object(value)
    return data.encode()


@settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(_values)
def test_any_amqp_value_survives_its_json_form(value: object) -> None:
    again = from_json(json.loads(json.dumps(to_json(value), allow_nan=False)))
    assert _encoded(again) == _encoded(value)


def test_to_record_leaves_absent_sections_out() -> None:
    assert to_record(MessageRecord(body=Body(BodyKind.VALUE, ("x",)))) == {
        "msgr-tui": 1,
        "body": {"value": "x"},
    }
