"""The bridge hands events to the UI in batches: about once a frame, never once per message.

The policy (msgr_tui/bridge/worker.py): a batch is handed over once
``BATCH_INTERVAL`` has passed since the last one; after a batch of more than
``FLOOD_BATCH_SIZE`` events (a flood), the next waits ``FLOOD_BATCH_INTERVAL``.
A real bridge (its own thread, as in the app) receives a real flood from a
Messenger over loopback. Nothing here depends on how fast the machine is: the
only times compared are lower bounds the bridge itself must respect.
"""

from __future__ import annotations

from msgr_tui.bridge import ListenerBound, MessageArrived
from msgr_tui.bridge.events import BridgeEvent
from msgr_tui.bridge.worker import BATCH_INTERVAL, FLOOD_BATCH_INTERVAL, FLOOD_BATCH_SIZE
from msgr_tui.messenger import Message, Messenger
from msgr_tui.settings import Settings
from tests.bridge.running import BridgeRun, running
from tests.helpers import DEADLINE, started, stop_all, wait_for

FLOOD = 5_000


def arrivals(batch: list[BridgeEvent]) -> list[object]:
    return [event.message.body for event in batch if isinstance(event, MessageArrived)]


def send(sender: Messenger, address: str, bodies: list[object]) -> None:
    """Put and send; window 0: pre-settled, so send() returns once all is written."""
    for body in bodies:
        sender.put(Message(address=address, body=body))
    sender.send()


def batch_with(run: BridgeRun, body: object) -> list[BridgeEvent]:
    """The batch that carried the arrival of ``body``, once it has come."""
    wait_for(lambda: any(body in arrivals(batch) for batch in list(run.batches)), what=repr(body))
    (batch,) = [batch for batch in list(run.batches) if body in arrivals(batch)]
    return batch


def test_a_flood_comes_in_few_batches_and_a_lone_message_comes_alone() -> None:
    settings = Settings(listen=("amqp://~127.0.0.1:0",), retry=False)
    with running(settings) as run:
        address = f"{run.first(ListenerBound).connect_address}/flood"
        sender = started("flooder", timeout=DEADLINE)

        # A lone message is not held back for company: the bridge's timer hands it over.
        send(sender, address, ["alone"])
        assert arrivals(batch_with(run, "alone")) == ["alone"]

        send(sender, address, list(range(FLOOD)))
        batch_with(run, FLOOD - 1)
        flood_batches = [batch for batch in list(run.batches) if set(arrivals(batch)) - {"alone"}]

        # ...and the next lone message after the flood comes alone again, all the same.
        send(sender, address, ["after the flood"])
        assert arrivals(batch_with(run, "after the flood")) == ["after the flood"]
        batches, times = list(run.batches), list(run.emitted_at)
        stop_all(sender)

    # Every message once, in order, whatever the batches.
    every = [body for batch in batches for body in arrivals(batch)]
    assert every == ["alone", *range(FLOOD), "after the flood"]
    # Far fewer batches than messages: on average at least ten messages a batch.
    assert len(flood_batches) <= FLOOD // 10, [len(arrivals(b)) for b in flood_batches]
    # The policy's waits: after each batch, the next came no sooner than the interval
    # that batch set. Batch 0 is the one forced out at start. The bridge read its clock
    # for batch i after the callback of batch i-1 began (times[i-1]) and before the
    # callback of batch i (times[i]), so the waits it kept fit between times[0] and times[-1].
    waits = [
        FLOOD_BATCH_INTERVAL if len(batch) > FLOOD_BATCH_SIZE else BATCH_INTERVAL
        for batch in batches[1:-1]
    ]
    assert sum(waits) <= times[-1] - times[0], (waits, times)
