"""The codec's fast paths give the same bytes and the same Message as Proton's own code."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from proton import (
    UNDESCRIBED,
    Array,
    Data,
    Described,
    Message,
    byte,
    char,
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

from msgr_tui.messenger import Message as MessengerMessage
from msgr_tui.messenger._codec import Encoder as MessageEncoder
from msgr_tui.messenger._codec import decode_into, detached
from msgr_tui.messenger._pn import section_value
from tests.helpers import pump_until, started, stop_all

BODIES = [
    None,
    b"",
    b"x" * 32,
    b"\x00\xff" * 600,
    "",
    "text",
    "caf\u00e9 \U0001f600",
    symbol("a-symbol"),
    char("c"),
    42,
    ulong(7),
    3.5,
    True,
    uuid.UUID(int=5),
    [1, "two", b"three"],
    {"k": b"v", "n": [b"x", {"deep": b"y"}]},
]
SECTIONS = [
    {},
    {"properties": {"a": 1, "b": "two"}},
    {"annotations": {symbol("x-opt-a"): "b"}},
    {"instructions": {symbol("x-opt-i"): 2}},
    {"properties": {"bin": b"z"}, "annotations": {symbol("x-opt-a"): b"q"}},
]


def make(body: Any, sections: dict[str, Any]) -> Message:
    message = Message(address="amqp://127.0.0.1:5672/q", body=body, subject="s")
    for name, value in sections.items():
        setattr(message, name, value)
    return message


@pytest.mark.parametrize("sections", SECTIONS)
@pytest.mark.parametrize("body", BODIES)
def test_encode_matches_proton(body: Any, sections: dict[str, Any]) -> None:
    ours = MessageEncoder(16).encode(make(body, sections))
    assert ours == make(body, sections).encode()


@pytest.mark.parametrize("sections", SECTIONS)
@pytest.mark.parametrize("body", BODIES)
def test_decode_matches_proton(body: Any, sections: dict[str, Any]) -> None:
    data = make(body, sections).encode()
    expected = Message()
    expected.decode(data)
    # Reuse one Message, as get() does: nothing of the previous message may stay.
    ours = Message(body=b"old", properties={"old": 1}, annotations={symbol("x-old"): 1})
    decode_into(ours, data)
    for name in ("body", "properties", "annotations", "instructions", "address", "subject"):
        assert getattr(ours, name) == detached(getattr(expected, name)), name
        assert type(getattr(ours, name)) is type(detached(getattr(expected, name))), name
    if isinstance(body, bytes):
        assert type(ours.body) is bytes


@pytest.mark.parametrize(
    "data", [b"\x00garbage", b"\x00\x53\x77\xff", b"\x00\x53", b"\xff\xff", b"\x00\x53\x70"]
)
def test_junk_is_handled_like_proton(data: bytes) -> None:
    expected = Message()
    try:
        expected.decode(data)
    except Exception as error:
        with pytest.raises(type(error)):
            decode_into(Message(), data)
        return
    ours = Message()
    decode_into(ours, data)
    assert ours.body == detached(expected.body)
    assert ours.properties == detached(expected.properties)


def test_encode_keeps_property_key_checks() -> None:
    message = Message(address="a", body=b"x", properties={1: "not a string key"})
    with pytest.raises(Exception) as proton_error:
        message.encode()
    with pytest.raises(type(proton_error.value)):
        MessageEncoder().encode(message)


def test_binary_values_received_are_bytes_that_the_next_get_does_not_overwrite() -> None:
    # Proton 0.40 hands out binary as memoryviews over the Message's buffers;
    # the original API gave bytes. Inside described values and arrays too.
    receiver = started("receiver", blocking=False)
    port = receiver.subscribe("amqp://~127.0.0.1:0").port
    receiver.recv(2)
    sender = started("sender", outgoing_window=2, blocking=False)

    def message(fill: bytes) -> MessengerMessage:
        return MessengerMessage(
            address=f"amqp://127.0.0.1:{port}/q",
            body=Described(symbol("x:blob"), [fill * 4, Array(UNDESCRIBED, Data.BINARY, fill)]),
            properties={"raw": fill * 2},
            annotations={symbol("x-opt-raw"): Described(symbol("x:d"), fill * 3)},
            correlation_id=fill * 5,
        )

    sender.put(message(b"A"))
    sender.put(message(b"B"))
    pump_until([sender, receiver], lambda: receiver.incoming == 2, what="both messages")
    reused = MessengerMessage()
    receiver.get(reused)
    first = (reused.body, reused.properties, reused.annotations, reused.correlation_id)
    receiver.get(reused)  # into the same Message: must not touch what the first gave
    body, properties, annotations, correlation_id = first
    assert body.descriptor == symbol("x:blob")
    assert body.value[0] == b"AAAA" and type(body.value[0]) is bytes
    assert list(body.value[1].elements) == [b"A"]
    assert type(body.value[1].elements[0]) is bytes
    assert properties == {"raw": b"AA"} and type(properties["raw"]) is bytes
    assert annotations[symbol("x-opt-raw")].value == b"AAA"
    assert type(annotations[symbol("x-opt-raw")].value) is bytes
    assert correlation_id == b"AAAAA" and type(correlation_id) is bytes
    assert reused.body.value[0] == b"BBBB"
    stop_all(sender, receiver)


# Every scalar AMQP type, as Proton's decoder gives it back.
SCALARS = [
    None,
    True,
    False,
    ubyte(1),
    byte(-1),
    ushort(2),
    short(-2),
    uint(3),
    int32(-3),
    char("c"),
    ulong(4),
    -5,
    timestamp(1_700_000_000_000),
    float32(1.5),
    2.5,
    uuid.UUID(int=9),
    b"bin",
    "text \u00e9",
    symbol("sym"),
]


def typed(value: Any) -> Any:
    """``value`` with the type of everything in it, to compare types as well as values."""
    if isinstance(value, dict):
        return ("dict", [(typed(k), typed(v)) for k, v in value.items()])
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [typed(item) for item in value])
    if isinstance(value, Described):
        return ("described", typed(value.descriptor), typed(value.value))
    return (type(value).__name__, value)


def read_back(value: dict[Any, Any]) -> tuple[Any, Any]:
    """(ours, Proton's) reading of ``value`` put as an AMQP map."""
    data = Data()
    data.put_object(value)
    data.rewind()
    ours = section_value(data._data)
    data.rewind()
    data.next()
    return ours, detached(data.get_object())


@pytest.mark.parametrize("scalar", SCALARS, ids=[typed(s)[0] for s in SCALARS])
def test_a_map_of_scalars_reads_as_proton_reads_it(scalar: Any) -> None:
    ours, proton = read_back({symbol("x-opt-value"): scalar, "second": "two", ulong(9): scalar})
    assert typed(ours) == typed(proton)
    if type(scalar) is bytes:
        # Proton 0.40 cannot: its binary is a memoryview, no dict key (the
        # original's was bytes). Ours reads it as the original did.
        with pytest.raises(ValueError, match="memoryview"):
            read_back({scalar: "as a key"})
        data = Data()
        data.put_object({scalar: "as a key"})
        data.rewind()
        assert typed(section_value(data._data)) == typed({b"bin": "as a key"})
    elif scalar is not None:
        ours, proton = read_back({scalar: "as a key"})
        assert typed(ours) == typed(proton)


@pytest.mark.parametrize(
    "value",
    [
        {},
        {"nested": {"map": 1}},
        {"list": [1, 2]},
        {"described": Described(symbol("d"), 1)},
        {"array": Array(UNDESCRIBED, Data.INT, 1, 2)},
        {"first": "flat", "then": ["not"]},
    ],
    ids=["empty", "nested map", "list", "described", "array", "flat then not"],
)
def test_a_map_with_more_than_scalars_reads_as_proton_reads_it(value: dict[Any, Any]) -> None:
    ours, proton = read_back(value)
    assert typed(ours) == typed(proton)


def test_annotations_and_properties_of_every_scalar_decode_as_proton_decodes_them() -> None:
    message = Message(
        address="a",
        body=b"x",
        annotations={symbol(f"x-opt-{i}"): s for i, s in enumerate(SCALARS)},
        properties={f"p{i}": s for i, s in enumerate(SCALARS)},
    )
    data = message.encode()
    expected = Message()
    expected.decode(data)
    ours = MessengerMessage()
    decode_into(ours, data)
    assert typed(dict(ours.annotations)) == typed(detached(dict(expected.annotations)))
    assert typed(ours.properties) == typed(detached(expected.properties))
    assert type(ours.annotations) is type(expected.annotations)
