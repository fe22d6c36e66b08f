"""A snapshot made a message again (what a move, a copy or a resend puts) keeps every field."""

from __future__ import annotations

import uuid

import pytest
from proton import Message, symbol, ulong

from msgr_tui.messagefile import decode_message
from msgr_tui.messenger import Message as OwnMessage
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


def test_one_scratch_message_decodes_each_message_as_a_new_one_would() -> None:
    """MessageSnapshot.decode reuses its scratch Message: nothing of one message leaks
    into the next (sections the next lacks, a body after the same header)."""
    first = Message(address="amqp://a/q", subject="s", body="one")
    first.properties = {"n": 1}
    first.annotations = {symbol("x-opt-a"): "v"}
    same_header = Message(address="amqp://a/q", subject="s", body="two")
    other_header = Message(address="amqp://a/other", body=b"\x00three")
    other_header.inferred = True
    text_again = Message(address="amqp://a/q", subject="s", body="four")
    scratch = OwnMessage()
    for message in (first, same_header, other_header, same_header, text_again):
        data = bytes(message.encode())
        assert MessageSnapshot.decode(data, scratch) == received(message)
    # A body that is not UTF-8 raises; the scratch decodes the next message all the same.
    bad = bytes(same_header.encode())[:-5] + b"\xa1\x01\xff"  # str8 of one byte
    with pytest.raises(UnicodeDecodeError):
        MessageSnapshot.decode(bad, scratch)
    assert MessageSnapshot.decode(bytes(first.encode()), scratch) == received(first)
