"""``encode_readdressed``: a message sent somewhere else, encoded without a new record.

The expected message is built here, by the rule the README states (``to``
becomes the new address, ``x-opt-original-to`` keeps the old one when there
was one and it differs, and is never replaced), and encoded by the plain
``encode_message``: the fast path must give exactly those bytes.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from proton import symbol, ulong

from msgr_tui.commands.common import CommandError
from msgr_tui.commands.send import replay_from_args
from msgr_tui.messagefile import (
    ORIGINAL_TO,
    Body,
    BodyKind,
    MessageRecord,
    SectionError,
    decode_message,
    encode_message,
    encode_readdressed,
    record_line,
)
from msgr_tui.messagefile.sections import PROPERTY_FIELDS
from msgr_tui.settings import Settings
from tests.command_line import COMMAND, ROOT
from tests.helpers import DEADLINE, pump_until, stop_all
from tests.messagefile.test_commands import listening_peer
from tests.messagefile.test_format import BODIES, _values, full_message

NEW = "amqp://127.0.0.1:5672/retry"


def expected(record: MessageRecord, written: str) -> MessageRecord:
    given = {**(record.properties or {}), "to": written}
    # In the section's order: a field list, whatever order the dict had.
    properties = {name: given[name] for name in PROPERTY_FIELDS if name in given}
    annotations = record.message_annotations
    original = record.address
    if original and original != written and ORIGINAL_TO not in (annotations or {}):
        annotations = {**(annotations or {}), ORIGINAL_TO: original}
    return dataclasses.replace(record, properties=properties, message_annotations=annotations)


def check(record: MessageRecord, written: str = NEW) -> bytes:
    data = encode_readdressed(record, written)
    want = expected(record, written)
    assert data == encode_message(want)
    # repr: typed (ubyte(9) is not 9), in order, and NaN equals NaN.
    assert repr(decode_message(data)) == repr(want)
    return data


@pytest.mark.parametrize("body", list(BODIES.values()), ids=list(BODIES))
def test_every_section_kind_is_kept_and_the_original_address_noted(body: Body) -> None:
    record = full_message(body)
    data = check(record)
    annotations = decode_message(data).message_annotations
    assert annotations is not None
    # The annotations it had, then the one added.
    assert list(annotations) == [*record.message_annotations, ORIGINAL_TO]  # type: ignore[misc]
    assert annotations[ORIGINAL_TO] == "amqp://broker/orders"


CASES = {
    "no annotations": MessageRecord(
        properties={"to": "amqp://broker/a"}, body=Body(BodyKind.VALUE, ("x",))
    ),
    "annotations with other keys": MessageRecord(
        message_annotations={ulong(7): "ulong key", symbol("s"): 1},
        properties={"to": "amqp://broker/a", "subject": "s"},
    ),
    "an original-to already": MessageRecord(
        message_annotations={ORIGINAL_TO: "amqp://first/place"},
        properties={"to": "amqp://second/place"},
    ),
    "already there": MessageRecord(properties={"to": NEW, "message_id": "m"}),
    "no to": MessageRecord(properties={"subject": "no address"}, body=Body(BodyKind.DATA, (b"",))),
    "no properties": MessageRecord(body=Body(BodyKind.SEQUENCE, ([1],))),
    "nothing at all": MessageRecord(),
    "empty header and annotations": MessageRecord(
        header={}, message_annotations={}, properties={"to": "amqp://broker/a"}
    ),
}


@pytest.mark.parametrize("record", list(CASES.values()), ids=list(CASES))
def test_each_kind_of_message_is_readdressed_as_the_rule_says(record: MessageRecord) -> None:
    decoded = decode_message(check(record))
    assert decoded.address == NEW
    annotations = decoded.message_annotations or {}
    if record.address in (None, NEW):
        assert annotations == (record.message_annotations or {})
    elif ORIGINAL_TO in (record.message_annotations or {}):
        assert annotations[ORIGINAL_TO] == "amqp://first/place"  # never replaced
    else:
        assert annotations[ORIGINAL_TO] == record.address


_annotation_maps = st.dictionaries(
    st.one_of(
        st.text(alphabet=st.characters(max_codepoint=127), max_size=12).map(symbol),
        st.integers(0, 2**64 - 1).map(ulong),
    ),
    _values,
    max_size=4,
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    annotations=st.none() | _annotation_maps,
    to=st.none() | st.sampled_from(["amqp://a/b", NEW, ""]),
    subject=st.none() | st.text(max_size=8),
    body=st.none() | _values.map(lambda value: Body(BodyKind.VALUE, (value,))),
)
def test_any_message_readdressed_fast_is_the_message_readdressed_slowly(
    annotations: dict[object, object] | None, to: str | None, subject: str | None, body: Body | None
) -> None:
    fields = {"to": to, "subject": subject}
    properties = {name: value for name, value in fields.items() if value is not None}
    check(MessageRecord(message_annotations=annotations, properties=properties or None, body=body))


def replay_args(path: Path, address: str | None = NEW) -> argparse.Namespace:
    return argparse.Namespace(
        address=address, from_file=str(path), body=None, body_file=None, size=None,
        json=False, subject=None, reply_to=None, property=[], count=1, durable=True,
    )  # fmt: skip


@pytest.fixture
def collection_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_replay_sends_the_readdressed_bytes_and_collects_garbage_again(
    tmp_path: Path, collection_on: None
) -> None:
    path = tmp_path / "dlq.jsonl"
    records = [full_message(body) for body in BODIES.values()]
    path.write_text("".join(record_line(record) + "\n" for record in records))
    messages = replay_from_args(replay_args(path), Settings())
    assert gc.isenabled()
    sent = [messages.record(index) for index in range(messages.count)]
    assert repr(sent) == repr([expected(record, NEW) for record in records])


def test_a_file_that_cannot_be_read_leaves_garbage_collection_on(
    tmp_path: Path, collection_on: None
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"msgr-tui": 1, "body": {"value": {"$wat": 1}}}\n')
    with pytest.raises(CommandError, match="unknown type tag"):
        replay_from_args(replay_args(path), Settings())
    assert gc.isenabled()


def test_fields_given_as_none_are_left_out_and_unknown_ones_refused() -> None:
    # The field list stops at the last field set, whatever the dict holds.
    sparse = MessageRecord(properties={"subject": "s", "group_id": None}, header={"ttl": None})
    assert encode_message(sparse) == encode_message(
        MessageRecord(properties={"subject": "s"}, header={})
    )
    assert decode_message(encode_readdressed(sparse, NEW)).properties == {"to": NEW, "subject": "s"}
    with pytest.raises(SectionError, match=r"unknown field\(s\) \['colour'\]"):
        encode_message(MessageRecord(properties={"to": "a", "colour": "red"}))


def test_send_address_from_stdin_readdresses_every_message(tmp_path: Path) -> None:
    records = [full_message(body) for body in BODIES.values()]
    lines = tmp_path / "piped.jsonl"
    lines.write_text("".join(record_line(record) + "\n" for record in records))
    peer, address = listening_peer()
    with lines.open("rb") as piped:
        process = subprocess.Popen(
            [*COMMAND, "send", f"{address}/retry", "--from", "-"],
            stdin=piped,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=ROOT,
        )
    got: list[bytes] = []

    def take() -> bool:
        while peer.incoming:
            tracker, data = peer.get_encoded()
            peer.accept(tracker)
            got.append(data)
        return process.poll() is not None

    pump_until([peer], take, timeout=DEADLINE * 2, what="the send to finish")
    out, err = process.communicate(timeout=DEADLINE)
    stop_all(peer)
    assert process.returncode == 0, out.decode() + err.decode()
    assert got == [encode_message(expected(record, f"{address}/retry")) for record in records]
