"""Flood the real app from a peer process and measure what it absorbs.

Runs msgr-tui headless (Textual's test driver, 100x30), starts a Messenger in a
separate process that sends COUNT messages as fast as it can to the app's
listener, presses keys in the Incoming table every 50 ms while the flood lasts,
and prints:

* messages/s absorbed (shown in the Incoming pane), first to last message;
* the worst and median key-press latency (press to handled), and the most CPU
  time the UI thread spent between a press and its handling (the part of the
  latency that another program's load does not add to);
* the app process's CPU per message over the same span, the UI thread's (the
  event loop: tables, rendering, keys) apart from the rest (the Messenger's
  thread: I/O, the window, the bridge);
* the app process's peak RSS.

The peer puts pre-encoded messages (``put_encoded``: each message's bytes are
a template with its number spliced in), so that it is not what limits the
flood; ``--encode-each`` has it encode a Message per put, as a plain sender
does (the peer then needs about as much CPU as the app).

Usage: python bench/tui_flood.py [--count 200000] [--size 32] [--max-messages 10000]
       [--encode-each]
The issue's target on this 2-core machine: >= 30,000 msg/s, keys < 50 ms,
RSS < 150 MB after 1,000,000 messages (python bench/tui_flood.py --count 1000000).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from textual import events

from msgr_tui.locations import STATE_ENV
from msgr_tui.settings import Settings
from msgr_tui.ui.app import MsgrTuiApp

KEY_INTERVAL = 0.05


class KeyTimer:
    """Cursor keys pressed in the Incoming table, each timed from press to handled."""

    def __init__(self, app: MsgrTuiApp) -> None:
        table = app.main_screen.incoming.table
        self._handled: list[float] = []
        # The UI thread's CPU time then, read in that thread (the actions run in it).
        self._handled_cpu: list[float] = []
        self.cpu: list[float] = []
        self._originals = {}
        # Time stamp the moment the table runs the action bound to the key.
        for name in ("action_cursor_down", "action_cursor_up"):
            self._originals[name] = action = getattr(table, name)

            def timed(action=action) -> None:
                self._handled.append(time.perf_counter())
                self._handled_cpu.append(time.thread_time())
                action()

            setattr(table, name, timed)
        self._table = table
        assert app._driver is not None
        self._driver = app._driver

    async def press(self, key: str) -> float:
        """Seconds from handing ``key`` to the app to the table running its action."""
        seen = len(self._handled)
        pressed, pressed_cpu = time.perf_counter(), time.thread_time()
        # What a terminal does: hand the key to the app, without waiting for idle.
        self._driver.send_message(events.Key(key, key))
        while len(self._handled) == seen:
            await asyncio.sleep(0.001)
        # What the UI thread itself spent before it got to the key: the latency's part
        # that does not depend on what else the machine runs.
        self.cpu.append(self._handled_cpu[-1] - pressed_cpu)
        return self._handled[-1] - pressed

    def stop(self) -> None:
        """The table's own actions back."""
        for name, action in self._originals.items():
            setattr(self._table, name, action)


def encoded_messages(address: str, size: int) -> Callable[[int], bytes]:
    """Message ``number`` of the flood as AMQP bytes: one encode, then a splice per message.

    The number is a property encoded as a full 8-byte long (Proton writes
    ``2**40`` so), which decodes to the same int whatever its size.
    """
    from msgr_tui.messenger import Message

    marker = 0x0123456789ABCDEF
    message = Message(address=address, body="x" * size, subject="flood")
    message.properties = {"n": marker}
    template = bytes(message.encode())
    at = template.index(b"\x81" + marker.to_bytes(8, "big")) + 1
    head, tail = template[:at], template[at + 8 :]
    return lambda number: b"".join((head, number.to_bytes(8, "big"), tail))


def flood(
    addresses: multiprocessing.Queue,
    count: int,
    size: int,
    encode_each: bool,
    done: multiprocessing.Queue,
) -> None:
    """The peer: a plain Messenger sending as fast as the app grants credit."""
    from msgr_tui.messenger import Message, Messenger

    address = f"{addresses.get()}/flood"

    messenger = Messenger("flooder")
    # At least once: the app decides every message (window 0 would pre-settle them).
    messenger.outgoing_window = 4096
    messenger.start()
    messenger.timeout = 120
    message = Message(address=address, body="x" * size, subject="flood")
    encoded = encoded_messages(address, size)
    started = time.perf_counter()
    for number in range(count):
        if encode_each:
            message.properties = {"n": number}
            messenger.put(message)
        else:
            messenger.put_encoded(encoded(number), address)
        if number % 500 == 499:
            # Stream: keep the wire busy, but do not wait for outcomes here:
            # the app keeps up to its incoming window undecided on purpose.
            while messenger.outgoing > 2000:
                messenger.work(0.01)
    while messenger.outgoing:
        messenger.work(0.01)
    done.put(time.perf_counter() - started)
    messenger.send()  # every outcome, once the app has accepted the rest
    messenger.stop()


async def run(
    count: int, size: int, max_messages: int, encode_each: bool = False, verbose: bool = False
) -> dict[str, float]:
    settings = Settings(
        listen=("amqp://~127.0.0.1:0",), messenger_name="flood-bench", max_messages=max_messages
    )
    app = MsgrTuiApp(settings)
    latencies: list[float] = []
    # The peer process starts before the app owns the terminal's descriptors.
    context = multiprocessing.get_context("spawn")
    addresses: multiprocessing.Queue = context.Queue()
    done: multiprocessing.Queue = context.Queue()
    sender = context.Process(
        target=flood, args=(addresses, count, size, encode_each, done), daemon=True
    )
    sender.start()
    async with app.run_test(size=(100, 30)) as pilot:
        panes = app.main_screen.subscriptions
        while not any(row.connect_address for row in panes.rows):
            await pilot.pause(0.01)
        address = next(row.connect_address for row in panes.rows if row.connect_address)
        await pilot.press("3")
        addresses.put(address)
        incoming = app.main_screen.incoming
        keys_timed = KeyTimer(app)
        first_at = None
        # The UI thread is this one: Textual's test driver runs the app in its event loop.
        assert threading.current_thread() is threading.main_thread()
        first_shown = 0
        cpu_at_first = ui_cpu_at_first = 0.0
        deadline = time.monotonic() + max(120.0, count / 2000)
        keys = ["j", "k"]
        while incoming.received_total < count:
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out: {incoming.received_total} of {count} shown")
            if first_at is None and incoming.received_total:
                first_at = time.perf_counter()
                first_shown = incoming.received_total
                cpu_at_first, ui_cpu_at_first = time.process_time(), time.thread_time()
            if verbose and len(latencies) % 20 == 0:
                print(f"  {incoming.received_total} shown", file=sys.stderr)
            latencies.append(await keys_timed.press(keys[len(latencies) % 2]))
            await asyncio.sleep(KEY_INTERVAL)
        last_at = time.perf_counter()
        cpu, ui_cpu = time.process_time() - cpu_at_first, time.thread_time() - ui_cpu_at_first
        sender_seconds = done.get(timeout=60)
        await pilot.press("A")  # accept what is still pending, so the peer can finish
        sender.join(30)
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        await pilot.press("ctrl+q")
    assert first_at is not None
    measured = count - first_shown
    return {
        "absorbed_per_s": measured / (last_at - first_at),
        "sender_per_s": count / sender_seconds,
        "key_worst_ms": max(latencies) * 1000,
        "key_median_ms": statistics.median(latencies) * 1000,
        "key_cpu_worst_ms": max(keys_timed.cpu) * 1000,
        "keys": len(latencies),
        "rss_mb": rss_mb,
        "ui_us": ui_cpu / measured * 1e6,
        "rest_us": (cpu - ui_cpu) / measured * 1e6,
        "rows_kept": len(incoming.rows),
    }


def main() -> None:
    # Whatever the flood leaves unanswered is not the user's to recover.
    os.environ[STATE_ENV] = tempfile.mkdtemp(prefix="msgr-tui-flood-state-")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--max-messages", type=int, default=10_000)
    parser.add_argument(
        "--encode-each",
        action="store_true",
        help="the peer encodes a Message per put (else it splices pre-encoded bytes)",
    )
    parser.add_argument("--verbose", action="store_true", help="print progress on stderr")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load {load:.2f} before the run"
    )
    result = asyncio.run(
        run(args.count, args.size, args.max_messages, args.encode_each, args.verbose)
    )
    peer = "encodes each message" if args.encode_each else "puts pre-encoded bytes"
    print(
        f"messages: {args.count} x {args.size} B, max_messages={args.max_messages}, the peer {peer}"
    )
    print(
        f"absorbed by the app : {result['absorbed_per_s']:,.0f} msg/s "
        f"(sender finished at {result['sender_per_s']:,.0f} msg/s)"
    )
    print(
        f"key-press latency   : worst {result['key_worst_ms']:.1f} ms, "
        f"median {result['key_median_ms']:.1f} ms over {result['keys']} presses; "
        f"the UI thread's CPU before a key at worst {result['key_cpu_worst_ms']:.1f} ms"
    )
    total = result["ui_us"] + result["rest_us"]
    print(
        f"app CPU per message : {total:.1f} µs (UI thread {result['ui_us']:.1f} µs, "
        f"the rest {result['rest_us']:.1f} µs)"
    )
    print(f"peak RSS            : {result['rss_mb']:.0f} MB (rows kept: {result['rows_kept']})")


if __name__ == "__main__":
    main()
