"""``msgr-tui move`` between two peers, no broker: SOURCE a ``~`` listener the test sends to.

The sender is the move's SOURCE: what it learns of each message (ACCEPTED,
RELEASED...) is what a broker would do with the original, so at-least-once
can be checked message by message against what DEST accepted.
"""

from __future__ import annotations

from msgr_tui.messagefile import Body, BodyKind, MessageRecord, decode_message, encode_message
from msgr_tui.messenger import ACCEPTED, PENDING, RELEASED, Messenger
from tests.command_line import CommandProcess
from tests.helpers import DEADLINE, pump_until, started, stop_all


def numbered(count: int) -> list[bytes]:
    return [encode_message(MessageRecord(body=Body(BodyKind.VALUE, (n,)))) for n in range(count)]


def number_of(data: bytes) -> int:
    return decode_message(data).body.sections[0]  # type: ignore[union-attr,no-any-return]


def listening_dest() -> tuple[Messenger, str]:
    # A window wider than the test's messages: none is ever accepted for us.
    dest = started("dest", blocking=False, incoming_window=1000)
    port = dest.subscribe("amqp://~127.0.0.1:0").port
    dest.recv(-1)
    return dest, f"amqp://127.0.0.1:{port}/inbox"


def move_from_listener(dest_address: str, *args: str) -> tuple[CommandProcess, str]:
    move = CommandProcess("move", "amqp://~127.0.0.1:0", dest_address, *args)
    line = move.wait_for_line("stderr", "listening on")
    return move, line.split("listening on ", 1)[1].strip()


def test_a_listener_source_hands_on_every_message_and_accepts_each_only_after_its_copy() -> None:
    dest, dest_address = listening_dest()
    move, address = move_from_listener(dest_address, "--count", "200")
    sender = started("sender", blocking=False, outgoing_window=1000)
    sent = numbered(200)
    trackers = [sender.put_encoded(data, f"{address}/q") for data in sent]
    got: list[tuple[int, bytes]] = []

    def take() -> None:
        while dest.incoming:
            got.append(dest.get_encoded())

    # Every copy arrives and is held: DEST has decided nothing yet.
    pump_until([sender, dest], lambda: take() or len(got) == 200, what="the 200 copies")
    # DEST accepts the first half; the sender learns of exactly those.
    for tracker, _ in got[:100]:
        dest.accept(tracker)
    pump_until(
        [sender, dest],
        lambda: all(sender.status(t) is ACCEPTED for t in trackers[:100]),
        what="the first half accepted at the source",
    )
    assert all(sender.status(t) is PENDING for t in trackers[100:])
    for tracker, _ in got[100:]:
        dest.accept(tracker)
    pump_until(
        [sender, dest],
        lambda: (
            move.process.poll() is not None and all(sender.status(t) is ACCEPTED for t in trackers)
        ),
        timeout=DEADLINE * 2,
        what="the move to finish",
    )
    code, out, err = move.finish()
    stop_all(sender, dest)
    assert code == 0, out + err
    assert "moved           200" in out
    assert [data for _, data in got] == sent  # byte for byte, in order


def test_a_refused_copy_gives_its_original_back_and_only_accepted_copies_settle_originals() -> None:
    dest, dest_address = listening_dest()
    move, address = move_from_listener(dest_address, "--timeout", "1")
    sender = started("sender", blocking=False, outgoing_window=1000)
    # All at once: the move takes them in batches, the refused one among the others.
    trackers = [sender.put_encoded(data, f"{address}/q") for data in numbered(50)]
    accepted_at_dest: set[int] = set()

    def decide() -> bool:
        while dest.incoming:
            tracker, data = dest.get_encoded()
            number = number_of(data)
            if number == 10:
                dest.reject(tracker)
            else:
                dest.accept(tracker)
                accepted_at_dest.add(number)
        return move.process.poll() is not None

    pump_until([sender, dest], decide, timeout=DEADLINE * 2, what="the move to stop")
    code, out, err = move.finish()
    pump_until(
        [sender, dest],
        lambda: sender.status(trackers[10]) is RELEASED,
        what="the refused one given back",
    )
    stop_all(sender, dest)
    assert code == 1, out + err
    assert "rejected          1  (given back to the source)" in out
    accepted_at_source = {n for n, t in enumerate(trackers) if sender.status(t) is ACCEPTED}
    # At least once: an original is settled only when its copy is safe...
    assert accepted_at_source <= accepted_at_dest
    # ...and every copy DEST accepted settles its original (none left to arrive twice).
    assert accepted_at_source == accepted_at_dest
    assert 10 not in accepted_at_dest and accepted_at_dest >= set(range(10))
    assert f"{len(accepted_at_dest)} of " in out


def test_a_listener_is_no_destination() -> None:
    move = CommandProcess("move", "amqp://127.0.0.1:1/a", "amqp://~127.0.0.1:0")
    code, _, err = move.finish()
    assert code == 2
    assert "destination 'amqp://~127.0.0.1:0': move needs a node, not a listener" in err


def test_copy_from_a_listener_gives_every_original_back_once_dest_has_the_copies() -> None:
    dest, dest_address = listening_dest()
    move, address = move_from_listener(dest_address, "--copy", "--count", "20")
    sender = started("sender", blocking=False, outgoing_window=100)
    sent = numbered(20)
    trackers = [sender.put_encoded(data, f"{address}/q") for data in sent]
    got: list[bytes] = []

    def accept_copies() -> bool:
        while dest.incoming:
            tracker, data = dest.get_encoded()
            dest.accept(tracker)
            got.append(data)
        return all(sender.status(t) is RELEASED for t in trackers)

    pump_until([sender, dest], accept_copies, timeout=DEADLINE * 2, what="the originals back")
    code, out, err = move.finish()
    stop_all(sender, dest)
    assert code == 0, out + err
    assert "copied           20" in out
    assert got == sent
