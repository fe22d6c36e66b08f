"""One Message put again and again, or got into again and again, as old-API programs do.

``put`` keeps what it encoded before the body and ``get`` what it decoded
before it (see ``Message._wire``); these stories check that what goes on the
wire and what the program reads are always what a fresh encode or decode
gives, whatever the program changes between calls.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from proton import Message as ProtonMessage
from proton import symbol

from msgr_tui.messenger import Message, Messenger
from msgr_tui.messenger._codec import decode_into
from tests.helpers import pump_until, started, stop_all

# Between two puts of the same Message, a program changes... (None: nothing).
CHANGES: list[tuple[str, Callable[[Message], Any] | None]] = [
    ("nothing", None),
    ("the body to bytes of another size", lambda m: setattr(m, "body", b"y" * 300)),
    ("the body to a 255-byte one", lambda m: setattr(m, "body", b"z" * 255)),
    ("the body to a 256-byte one", lambda m: setattr(m, "body", b"z" * 256)),
    ("the body to text", lambda m: setattr(m, "body", "caf\u00e9 \U0001f600")),
    ("the body to 300 bytes of text", lambda m: setattr(m, "body", "\u00e9" * 150)),
    ("the body to an int", lambda m: setattr(m, "body", 42)),
    ("the body to None", lambda m: setattr(m, "body", None)),
    ("the subject", lambda m: setattr(m, "subject", "changed")),
    ("the address", lambda m: setattr(m, "address", m.address.replace("/q", "/other"))),
    ("the message-id", lambda m: setattr(m, "id", 7)),
    ("the correlation-id", lambda m: setattr(m, "correlation_id", b"c")),
    ("the reply-to", lambda m: setattr(m, "reply_to", "amqp://somewhere/replies")),
    ("the reply-to to ~", lambda m: setattr(m, "reply_to", "~/replies")),
    ("the priority", lambda m: setattr(m, "priority", 9)),
    ("durable", lambda m: setattr(m, "durable", True)),
    ("the ttl", lambda m: setattr(m, "ttl", 5)),
    ("inferred", lambda m: setattr(m, "inferred", True)),
    ("the properties", lambda m: setattr(m, "properties", {"k": "v"})),
    ("the annotations", lambda m: setattr(m, "annotations", {symbol("x-opt-a"): 1})),
    ("the instructions", lambda m: setattr(m, "instructions", {symbol("x-opt-i"): 2})),
    ("everything, by clear()", lambda m: (m.clear(), setattr(m, "address", "amqp://x/q"))),
    (
        "everything, by decode()",
        lambda m: m.decode(ProtonMessage(address="amqp://y/q", subject="d", body=b"d").encode()),
    ),
]


class ProtonSetters(Message):
    """A program's subclass whose subject setter is Proton's own (it drops nothing)."""

    subject = property(ProtonMessage.subject.fget, ProtonMessage.subject.fset)


# The Message classes a program may put: ours, Proton's, and a subclass of ours.
KINDS: list[type[ProtonMessage]] = [Message, ProtonMessage, ProtonSetters]
KIND_IDS = ["ours", "Proton's", "a subclass with Proton's subject setter"]


def expected_on_wire(message: Message, receiver_port: int, sender: Messenger) -> bytes:
    """What a fresh Message with the same fields, put for the first time, would send."""
    fresh = Message()
    fresh.decode(message.encode())
    if fresh.reply_to and fresh.reply_to.startswith("~"):
        fresh.reply_to = f"amqp://{sender.name}{fresh.reply_to[1:]}"
    return fresh.encode()


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
@pytest.mark.parametrize("what, change", CHANGES, ids=[what for what, _ in CHANGES])
def test_a_message_put_again_after_a_change_goes_out_as_a_fresh_one_would(
    what: str, change: Callable[[Message], Any] | None, kind: type[ProtonMessage]
) -> None:
    receiver = started("receiver", blocking=False)
    port = receiver.subscribe("amqp://~127.0.0.1:0").port
    receiver.recv(10)
    sender = started("sender", blocking=False)
    message = kind(address=f"amqp://127.0.0.1:{port}/q", subject="first", body=b"x" * 32)
    expected = [expected_on_wire(message, port, sender)]
    sender.put(message)  # the first put keeps what it encoded
    if change is not None:
        change(message)
        if message.address and "127.0.0.1" not in message.address:
            message.address = f"amqp://127.0.0.1:{port}/q"
    expected.append(expected_on_wire(message, port, sender))
    sender.put(message)
    expected.append(expected_on_wire(message, port, sender))
    sender.put(message)  # and the third from what the second kept
    pump_until([sender, receiver], lambda: receiver.incoming == 3, what="three messages")
    received = [receiver.get_encoded()[1] for _ in range(3)]
    assert received == expected
    stop_all(sender, receiver)


def test_a_rule_added_between_puts_applies_to_the_next_put() -> None:
    receiver = started("receiver", blocking=False)
    port = receiver.subscribe("amqp://~127.0.0.1:0").port
    receiver.recv(10)
    sender = started("sender", blocking=False)
    message = Message(address=f"amqp://127.0.0.1:{port}/q", body=b"x")
    sender.put(message)
    sender.rewrite(f"amqp://127.0.0.1:{port}/q", "amqp://rewritten/q")
    sender.put(message)
    pump_until([sender, receiver], lambda: receiver.incoming == 2, what="two messages")
    first, second = Message(), Message()
    receiver.get(first)
    receiver.get(second)
    assert first.address == f"amqp://127.0.0.1:{port}/q"
    assert second.address == "amqp://rewritten/q"
    stop_all(sender, receiver)


def test_the_same_message_put_on_two_messengers_carries_each_ones_reply_to() -> None:
    receiver = started("receiver", blocking=False)
    port = receiver.subscribe("amqp://~127.0.0.1:0").port
    receiver.recv(10)
    alice, bob = started("alice", blocking=False), started("bob", blocking=False)
    message = Message(address=f"amqp://127.0.0.1:{port}/q", reply_to="~/back", body=b"x")
    alice.put(message)
    bob.put(message)
    alice.put(message)
    pump_until([alice, bob, receiver], lambda: receiver.incoming == 3, what="three messages")
    replies = []
    for _ in range(3):
        got = Message()
        receiver.get(got)
        replies.append(got.reply_to)
    assert sorted(replies) == ["amqp://alice/back", "amqp://alice/back", "amqp://bob/back"]
    stop_all(alice, bob, receiver)


# --------------------------------------------------------------- receiving

STREAMS: list[tuple[str, list[ProtonMessage]]] = [
    ("bodies only", [ProtonMessage(address="amqp://h/q", body=b"%d" % i) for i in range(4)]),
    ("text bodies", [ProtonMessage(address="amqp://h/q", body="\u00e9" * i) for i in range(4)]),
    (
        "long and short bodies",
        [ProtonMessage(address="amqp://h/q", body=b"b" * n) for n in (3, 300, 255, 256)],
    ),
    ("a new id each", [ProtonMessage(address="amqp://h/q", id=i, body=b"x") for i in range(4)]),
    (
        "properties, then none",
        [
            ProtonMessage(address="amqp://h/q", properties={"n": 1}, body=b"a"),
            ProtonMessage(address="amqp://h/q", body=b"b"),
            ProtonMessage(address="amqp://h/q", properties={"n": 2}, body=b"c"),
        ],
    ),
    (
        "bodies of other kinds",
        [
            ProtonMessage(address="amqp://h/q", body=b"a"),
            ProtonMessage(address="amqp://h/q", body=7),
            ProtonMessage(address="amqp://h/q", body=None),
            ProtonMessage(address="amqp://h/q", body=b"d"),
        ],
    ),
]


def fields(message: ProtonMessage) -> tuple[Any, ...]:
    return (
        message.address,
        message.subject,
        message.id,
        message.body,
        type(message.body),
        message.properties,
        message.annotations,
        message.inferred,
    )


@pytest.mark.parametrize("what, stream", STREAMS, ids=[what for what, _ in STREAMS])
def test_one_message_decoded_into_again_and_again_reads_each_message(
    what: str, stream: list[ProtonMessage]
) -> None:
    reused = Message()
    for sent in stream:
        decode_into(reused, sent.encode())
        fresh = Message()  # nothing kept: the full decode, checked against Proton's elsewhere
        decode_into(fresh, sent.encode())
        assert fields(reused) == fields(fresh)


def test_a_field_the_program_changed_between_gets_is_read_again() -> None:
    reused = Message()
    data = ProtonMessage(address="amqp://h/q", subject="as sent", body=b"x").encode()
    decode_into(reused, data)
    reused.subject = "changed by the program"
    decode_into(reused, data)
    assert reused.subject == "as sent"


def test_a_footer_after_the_body_is_not_taken_for_the_body() -> None:
    reused = Message()
    plain = ProtonMessage(address="amqp://h/q", body=b"x").encode()
    decode_into(reused, plain)
    footer = b"\x00\x53\x78\xc1\x01\x00"  # an empty footer map
    decode_into(reused, plain + footer)
    assert reused.body == b"x"
    decode_into(reused, plain[:-1] + b"y")
    assert reused.body == b"y"
