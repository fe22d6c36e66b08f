"""Search over a full Incoming pane: how long a filter takes, and whether keys stay quick.

Runs the real app headless (100x30), has a peer process send COUNT messages
(10,000 by default: the pane's max_messages) to its listener over loopback,
then, with every row shown:

* sets the filter to plain text and to a regular expression (``re:``), each
  several times, and times each change until the table shows its matches;
* presses cursor keys with a filter active, and without one (the baseline
  measured in the same run), press to handled.

Usage: python bench/console_search.py [--count 10000] [--repeats 20]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tui_flood import KeyTimer, flood

from msgr_tui.locations import STATE_ENV
from msgr_tui.settings import Settings
from msgr_tui.ui.app import MsgrTuiApp

# Plain text, and a pattern that has to look into every row's properties.
SEARCHES = {"plain text": "flood", "regular expression": r're:"n": \d*7\}'}


async def key_latencies(app: MsgrTuiApp, presses: int) -> list[float]:
    timer = KeyTimer(app)
    latencies = []
    for number in range(presses):
        latencies.append(await timer.press("j" if number % 2 else "k"))
        await asyncio.sleep(0.02)
    timer.stop()
    return latencies


async def run(count: int, repeats: int) -> None:
    settings = Settings(
        listen=("amqp://~127.0.0.1:0",), messenger_name="search-bench", max_messages=count
    )
    app = MsgrTuiApp(settings)
    context = multiprocessing.get_context("spawn")
    addresses: multiprocessing.Queue = context.Queue()
    done: multiprocessing.Queue = context.Queue()
    sender = context.Process(target=flood, args=(addresses, count, 32, done), daemon=True)
    sender.start()
    async with app.run_test(size=(100, 30)) as pilot:
        panes = app.main_screen.subscriptions
        while not any(row.connect_address for row in panes.rows):
            await pilot.pause(0.01)
        addresses.put(next(row.connect_address for row in panes.rows if row.connect_address))
        incoming = app.main_screen.incoming
        while incoming.received_total < count:
            await pilot.pause(0.05)
        await pilot.press("3")
        print(f"{len(incoming.rows):,} rows in Incoming")
        baseline = await key_latencies(app, repeats * 2)
        await pilot.press("slash")
        field = incoming.query_one("#filter")
        for what, typed in SEARCHES.items():
            times = []
            matches = 0
            for _ in range(repeats):
                field.value = ""
                await pilot.pause()
                started = time.perf_counter()
                field.value = typed  # Input.Changed filters the rows
                await pilot.pause()
                times.append(time.perf_counter() - started)
                matches = len(incoming.table.rows)
            print(
                f"filter by {what:<18} {matches:>6,} matches: median "
                f"{statistics.median(times) * 1000:6.1f} ms, worst {max(times) * 1000:6.1f} ms"
            )
        await pilot.press("enter")  # back in the table, the filter kept
        filtered = await key_latencies(app, repeats * 2)
        for label, latencies in (("no filter (baseline)", baseline), ("regex filter", filtered)):
            print(
                f"key press, {label:<21} median {statistics.median(latencies) * 1000:6.2f} ms,"
                f" worst {max(latencies) * 1000:6.2f} ms"
            )
        ratio = statistics.median(filtered) / statistics.median(baseline)
        print(f"key press median, filtered / baseline: {ratio:.2f}x")
        done.get(timeout=60)
        await pilot.press("escape", "A")  # accept the rest, so the peer can finish
        sender.join(30)
        await pilot.press("ctrl+q")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    os.environ[STATE_ENV] = tempfile.mkdtemp(prefix="msgr-tui-search-bench-")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    asyncio.run(run(args.count, args.repeats))


if __name__ == "__main__":
    main()
