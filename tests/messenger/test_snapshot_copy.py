"""A snapshot made a message again (what a move, a copy or a resend puts) keeps every field."""

from __future__ import annotations

import uuid

import pytest
from proton import Message, symbol, ulong

from msgr_tui.messagefile import decode_message
from msgr_tui.messenger.snapshot import BodySection, MessageSnapshot


def received(message: Message) -> MessageSnapshot:
    """``message`` as a receiver holds it: encoded, decoded, snapshotted."""
    copy = Message()
    copy.decode(message.encode())
    return MessageSnapshot.of(copy)


@pytest.mark.parametrize(
    ("body", "inferred", "section"),
    [
        ("text", False, BodySection.VALUE),
        (b"\x00raw", True, BodySection.DATA),
        (b"\x00raw", False, BodySection.VALUE),
        ([1, "two"], True, BodySection.SEQUENCE),
        ({"map": 1}, False, BodySection.VALUE),
    ],
)
def test_every_field_and_the_body_section_survive(
    body: object, inferred: bool, section: BodySection
) -> None:
    message = Message(address="amqp://a/q", subject="s", body=body, durable=True, priority=9)
    message.inferred = inferred
    message.id = uuid.UUID(int=7)
    message.correlation_id = ulong(42)
    message.reply_to, message.ttl, message.group_id = "amqp://me", 2.5, "g"
    message.content_type, message.content_encoding = "x/y", "gzip"
    message.properties = {"n": 1, "raw": b"\x01"}
    message.annotations = {symbol("x-opt-a"): "v"}
    message.instructions = {symbol("x-opt-i"): 3}
    original = received(message)
    assert original.body_section is section
    again = received(original.to_message("amqp://b/other"))
    assert again.address == "amqp://b/other"
    assert again._replace(address=original.address) == original
    # On the wire the ids keep their AMQP types (Proton reads a ulong back as int).
    wire = decode_message(original.to_message().encode()).properties or {}
    assert type(wire["correlation_id"]) is ulong and isinstance(wire["message_id"], uuid.UUID)
