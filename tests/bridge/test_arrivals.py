"""What the bridge hands over of a message: its bytes, decoded where they are read.

A real bridge (its own thread, as in the app) receives from a Messenger over
loopback. The bridge itself never decodes (a flood's rows are mostly never
shown); an arrival decodes its message the first time it is read. A message
that cannot be decoded is not rejected behind the user's back: it waits for a
decision like any other, and says why it cannot be shown.
"""

from __future__ import annotations

from msgr_tui.bridge import Accept, IncomingDecided, ListenerBound, MessageArrived, Reject
from msgr_tui.bridge.events import UNDECODABLE
from msgr_tui.messenger import ACCEPTED, PENDING, REJECTED, Message, Messenger
from msgr_tui.settings import Settings
from tests.bridge.running import running
from tests.helpers import DEADLINE, pump_until, started, stop_all, wait_for

COUNT = 2_000


def listening_settings() -> Settings:
    return Settings(listen=("amqp://~127.0.0.1:0",), retry=False)


def not_utf8(address: str) -> bytes:
    """A message whose body is a string section of bytes that are not UTF-8."""
    good = bytes(Message(address=address, subject="bad", body="four").encode())
    assert good.endswith(b"\x00\x53\x77\xa1\x04four")
    return good[: -len(b"\x00\x53\x77\xa1\x04four")] + b"\x00\x53\x77\xa1\x02\xff\xfe"


def test_a_flood_is_handed_over_undecoded_and_each_message_decodes_when_read() -> None:
    with running(listening_settings()) as run:
        address = f"{run.first(ListenerBound).connect_address}/flood"
        sender = started("flooder", timeout=DEADLINE)
        for number in range(COUNT):
            sender.put(Message(address=address, subject="flood", body=f"body {number}"))
        sender.send()
        wait_for(lambda: len(run.of(MessageArrived)) == COUNT, what=f"{COUNT} arrivals")
        arrivals = run.of(MessageArrived)
        # Nothing was decoded on the way: not by the bridge, not by the batches.
        assert not any(arrival.decoded for arrival in arrivals)
        bodies = [arrival.message.body for arrival in arrivals]
        assert all(arrival.decoded and arrival.problem is None for arrival in arrivals)
        stop_all(sender)
    # Every message once, in order, each its own (one scratch Message decoded them all).
    assert bodies == [f"body {number}" for number in range(COUNT)]
    assert [arrival.seq for arrival in arrivals] == list(range(1, COUNT + 1))


def test_an_undecodable_message_waits_for_the_user_who_can_reject_it() -> None:
    with running(listening_settings()) as run:
        address = f"{run.first(ListenerBound).connect_address}/mixed"
        sender: Messenger = started("mixed-sender", timeout=DEADLINE, outgoing_window=10)
        trackers = [
            sender.put(Message(address=address, body="before")),
            sender.put_encoded(not_utf8(address), address),
            sender.put(Message(address=address, body="after")),
        ]
        pump_until([sender], lambda: len(run.of(MessageArrived)) == 3, what="3 arrivals")
        before, bad, after = run.of(MessageArrived)
        assert (before.message.body, after.message.body) == ("before", "after")
        assert bad.message is UNDECODABLE
        assert bad.problem is not None and "UnicodeDecodeError" in bad.problem
        assert bad.data == not_utf8(address)  # all of it is there, as it came

        # The one after it is answered; the undecodable one still waits (it was not
        # rejected as it was taken: its outcome would have gone out first).
        run.bridge.submit(Accept(after.tracker))
        pump_until([sender], lambda: sender.status(trackers[2]) is ACCEPTED, what="ACCEPTED")
        assert sender.status(trackers[1]) is PENDING
        assert not [e for e in run.of(IncomingDecided) if e.tracker == bad.tracker]

        run.bridge.submit(Reject(bad.tracker))
        pump_until([sender], lambda: sender.status(trackers[1]) is REJECTED, what="REJECTED")
        wait_for(
            lambda: [e for e in run.of(IncomingDecided) if e.tracker == bad.tracker],
            what="the decision told",
        )
        decided = [e for e in run.of(IncomingDecided) if e.tracker == bad.tracker]
        assert [(e.outcome, e.automatic) for e in decided] == [(REJECTED, False)]
        stop_all(sender)
