"""How fast are ``msgr-tui send`` / ``msgr-tui recv`` next to a bare Messenger loop?

Runs every pair as separate OS processes over loopback (127.0.0.1), N messages
of SIZE bytes, every message acknowledged (accepted) before the sender stops:

    library send  -> library recv      the library's own rate (the reference;
                                       the at-least-once loops of
                                       bench/messenger_throughput.py)
    msgr-tui send -> library recv      the send command's cost
    library send  -> msgr-tui recv     the recv command's cost (stdout to /dev/null)
    library send  -> msgr-tui recv --json
    msgr-tui send -> msgr-tui recv

It prints, per pair, the median over the repetitions of: the rate the sender
measured (put of the first message to the last outcome), and each side's CPU
time per message (from wait4, the whole process: start-up and imports add
about 2 us a message at 100,000), which isolates each side even when the
other is the bottleneck. The ratio column compares with the library pair.
Other work on the machine moves these figures a lot: use several repetitions.

    python3 bench/headless_vs_library.py [--count 100000] [--size 32] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve()
# The library loops' parameters: bench/messenger_throughput.py's defaults.
BATCH = 256
OUTGOING_WINDOW = 8192
INCOMING_WINDOW = 1024


# --------------------------------------------------------- library roles


def library_recv(count: int) -> None:
    """Listen on a free port, print it, receive ``count`` messages.

    At-least-once as in bench/messenger_throughput.py: ``incoming_window``
    1024 and ``accept()`` after each drained batch.
    """
    sys.path.insert(0, str(ROOT))
    from msgr_tui.messenger import Message, Messenger

    messenger = Messenger()
    messenger.incoming_window = INCOMING_WINDOW
    messenger.start()
    port = messenger.subscribe("amqp://~127.0.0.1:0").port
    print(f"listening on amqp://127.0.0.1:{port}", file=sys.stderr, flush=True)
    message = Message()
    received = 0
    while received < count:
        messenger.recv(-1)
        for _ in range(messenger.incoming):
            messenger.get(message)
            received += 1
        messenger.accept()
    messenger.timeout = 5
    messenger.stop()


def library_send(address: str, count: int, size: int) -> None:
    """Put ``count`` messages, check every outcome, print the rate like ``msgr-tui send``.

    At-least-once as in bench/messenger_throughput.py: one round of I/O every
    BATCH puts (``send(0)``, or ``send(BATCH)`` when more than a batch waits
    for credit); statuses read oldest first after each batch.
    """
    sys.path.insert(0, str(ROOT))
    from msgr_tui.messenger import ACCEPTED, PENDING, Message, Messenger

    messenger = Messenger()
    messenger.outgoing_window = OUTGOING_WINDOW
    messenger.start()
    message = Message(address=address, body=b"x" * size)
    put, send, status = messenger.put, messenger.send, messenger.status
    trackers: deque[int] = deque()
    accepted = 0

    def collect() -> int:
        done = 0
        while trackers and status(trackers[0]) is not PENDING:
            # None would mean it left the window unanswered: counted as a failure.
            done += status(trackers.popleft()) is ACCEPTED
        return done

    started = time.perf_counter()
    for index in range(1, count + 1):
        trackers.append(put(message))
        if index % BATCH == 0:
            send(BATCH if messenger.outgoing > BATCH else 0)
            accepted += collect()
    send()
    accepted += collect()
    seconds = time.perf_counter() - started
    print(f"accepted {accepted:>10}")
    print(
        f"{accepted} of {count} message(s) answered in {seconds:.3f} s: "
        f"{accepted / seconds:.0f} msg/s"
    )
    messenger.timeout = 5
    messenger.stop()


# ------------------------------------------------------------ the driver


@dataclass
class Outcome:
    rate: float
    sender_cpu_us: float
    receiver_cpu_us: float


def receiver_command(kind: str, count: int) -> list[str]:
    if kind == "library":
        return [sys.executable, str(HERE), "lib-recv", str(count)]
    extra = ["--json"] if kind == "msgr-tui --json" else []
    return [sys.executable, "-m", "msgr_tui", "recv", "~127.0.0.1:0", "--count", str(count), *extra]


def sender_command(kind: str, address: str, count: int, size: int) -> list[str]:
    if kind == "library":
        return [sys.executable, str(HERE), "lib-send", address, str(count), str(size)]
    return [
        sys.executable,
        "-m",
        "msgr_tui",
        "send",
        address,
        "--count",
        str(count),
        "--size",
        str(size),
    ]


def wait_with_usage(process: subprocess.Popen[str]) -> float:
    """Reap ``process``; return the CPU seconds it used (user + system)."""
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{process.args} exited with {process.returncode}")
    return usage.ru_utime + usage.ru_stime


def run_pair(sender: str, receiver: str, count: int, size: int) -> Outcome:
    with open(os.devnull, "w") as devnull, tempfile.TemporaryFile("w+") as errors_file:
        recv = subprocess.Popen(
            receiver_command(receiver, count),
            stdout=devnull,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert recv.stderr is not None
        line = recv.stderr.readline()  # blocks until the receiver listens
        match = re.search(r"listening on (\S+)", line)
        if not match:
            recv.kill()
            raise SystemExit(f"receiver did not start: {line!r}")
        address = f"{match.group(1)}/bench"
        send = subprocess.Popen(
            sender_command(sender, address, count, size),
            stdout=subprocess.PIPE,
            stderr=errors_file,
            text=True,
            cwd=ROOT,
        )
        assert send.stdout is not None
        output = send.stdout.read()
        sender_cpu = wait_with_usage(send)
        receiver_cpu = wait_with_usage(recv)
        errors_file.seek(0)
        errors = errors_file.read()
    rate = re.search(r"(\d+) of (\d+) message\(s\).* ([\d.]+) msg/s", output)
    if not rate or rate.group(1) != str(count):
        raise SystemExit(f"not every message was answered:\n{output}{errors[-2000:]}")
    return Outcome(float(rate.group(3)), sender_cpu / count * 1e6, receiver_cpu / count * 1e6)


PAIRS = [
    ("library", "library"),
    ("msgr-tui", "library"),
    ("library", "msgr-tui"),
    ("library", "msgr-tui --json"),
    ("msgr-tui", "msgr-tui"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    results: dict[tuple[str, str], list[Outcome]] = {pair: [] for pair in PAIRS}
    for _ in range(args.repeat):
        # Interleaved, so a slow spell of the machine hits every pair alike.
        for pair in PAIRS:
            results[pair].append(run_pair(*pair, args.count, args.size))
    print(
        f"{args.count:,} messages of {args.size} bytes, loopback, median of {args.repeat}; "
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
    )
    print(
        f"{'sender':<10} {'receiver':<16} {'msg/s':>9} {'ratio':>6} "
        f"{'send us/msg':>12} {'recv us/msg':>12}"
    )
    reference = statistics.median(o.rate for o in results[PAIRS[0]])
    for (sender, receiver), outcomes in results.items():
        rate = statistics.median(o.rate for o in outcomes)
        send_cpu = statistics.median(o.sender_cpu_us for o in outcomes)
        recv_cpu = statistics.median(o.receiver_cpu_us for o in outcomes)
        print(
            f"{sender:<10} {receiver:<16} {rate:>9,.0f} {rate / reference:>6.2f} "
            f"{send_cpu:>12.1f} {recv_cpu:>12.1f}"
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "lib-recv":
        library_recv(int(sys.argv[2]))
    elif len(sys.argv) > 1 and sys.argv[1] == "lib-send":
        library_send(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        main()
