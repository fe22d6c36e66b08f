"""How fast are message files and ``move`` next to the plain send and recv?

Three comparisons, each against a baseline measured in the same run, every
command a separate OS process, every message accepted:

    recv -> file   library sender -> ``msgr-tui recv ~ -o FILE``      (lossless file, fsync'd)
                   library sender -> ``msgr-tui recv ~ > /dev/null``   (the baseline)
    file -> send   ``msgr-tui send ADDR --from FILE`` -> library recv
                   ``msgr-tui send ADDR --count N --size S`` -> library recv (the baseline)
    move           ``msgr-tui move A B --count N`` through the local RabbitMQ
                   ``msgr-tui send A --count N``, ``msgr-tui recv B --count N``
                   (the baselines: the same broker, the same queues' load)

Peer to peer, the rate is the sender's (first put to last outcome), as in
bench/headless_vs_library.py. Through RabbitMQ it is N over the command's
wall time from start to exit, for all three alike (start-up included: about
0.3 s each). The file for ``--from`` is the one ``recv -o`` wrote. Medians
over the repetitions, interleaved so a slow spell hits every pair alike.

    python3 bench/message_files.py [--count 100000] [--size 32] [--repeat 3] [--no-rabbitmq]
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
import uuid
from pathlib import Path

from headless_vs_library import wait_with_usage

ROOT = Path(__file__).resolve().parent.parent
HEADLESS = Path(__file__).resolve().parent / "headless_vs_library.py"
MSGR_TUI = [sys.executable, "-m", "msgr_tui"]
RABBITMQ = "amqp://guest:guest@127.0.0.1:5672"


def sender_rate(output: str, count: int) -> float:
    found = re.search(r"(\d+) of (\d+) message\(s\).* ([\d.]+) msg/s", output)
    if not found or found.group(1) != str(count):
        raise SystemExit(f"not every message was answered:\n{output}")
    return float(found.group(3))


def peer_pair(receiver: list[str], sender: list[str], count: int) -> float:
    """Start ``receiver`` (it listens on a free port), then ``sender`` to it; the rate.

    ``sender`` holds ``{address}`` where the receiver's address goes.
    """
    with open(os.devnull, "w") as devnull:
        recv = subprocess.Popen(
            receiver, stdout=devnull, stderr=subprocess.PIPE, text=True, cwd=ROOT
        )
        assert recv.stderr is not None
        line = recv.stderr.readline()
        found = re.search(r"listening on (\S+)", line)
        if not found:
            recv.kill()
            raise SystemExit(f"receiver did not start: {line!r}")
        address = f"{found.group(1)}/bench"
        send = subprocess.run(
            [part.replace("{address}", address) for part in sender],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        wait_with_usage(recv)
    if send.returncode != 0:
        raise SystemExit(f"{send.args} exited with {send.returncode}:\n{send.stderr[-2000:]}")
    return sender_rate(send.stdout, count)


def wall_rate(command: list[str], count: int) -> float:
    """``count`` over the wall time of ``command``, which must succeed."""
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{command} exited with {done.returncode}:\n{done.stderr[-2000:]}")
    return count / seconds


def library_sender(count: int, size: int) -> list[str]:
    return [sys.executable, str(HEADLESS), "lib-send", "{address}", str(count), str(size)]


def library_receiver(count: int) -> list[str]:
    return [sys.executable, str(HEADLESS), "lib-recv", str(count)]


def recv_command(count: int, *extra: str) -> list[str]:
    return [*MSGR_TUI, "recv", "~127.0.0.1:0", "--count", str(count), *extra]


def rabbitmq_round(count: int, size: int) -> dict[str, float]:
    """Send N into A, move them A -> B, receive them from B: the three rates."""
    a, b = (f"bench-move-{kind}-{uuid.uuid4().hex[:8]}" for kind in ("a", "b"))
    send = wall_rate(
        [*MSGR_TUI, "send", f"{RABBITMQ}/{a}", "--count", str(count), "--size", str(size)],
        count,
    )
    move = wall_rate(
        [*MSGR_TUI, "move", f"{RABBITMQ}/{a}", f"{RABBITMQ}/{b}", "--count", str(count)], count
    )
    # The move made B durable: a plain receiver reads it as it is.
    recv = wall_rate(
        [*MSGR_TUI, "recv", f"{RABBITMQ}//amq/queue/{b}", "--count", str(count)], count
    )
    return {"send A": send, "move A -> B": move, "recv B": recv}


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-rabbitmq", action="store_true", help="skip the move through RabbitMQ")
    args = parser.parse_args()
    count, size = args.count, args.size
    rates: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        saved = Path(scratch) / "saved.jsonl"
        for _ in range(args.repeat):
            runs = {
                "recv > /dev/null": (recv_command(count), library_sender(count, size)),
                "recv -o FILE": (
                    recv_command(count, "-o", str(saved)),
                    library_sender(count, size),
                ),
                "send --count --size": (
                    library_receiver(count),
                    [*MSGR_TUI, "send", "{address}", "--count", str(count), "--size", str(size)],
                ),
                "send --from FILE": (
                    library_receiver(count),
                    [*MSGR_TUI, "send", "{address}", "--from", str(saved)],
                ),
            }
            for name, (receiver, sender) in runs.items():
                rates.setdefault(name, []).append(peer_pair(receiver, sender, count))
            if not args.no_rabbitmq:
                for name, rate in rabbitmq_round(count, size).items():
                    rates.setdefault(name, []).append(rate)
        file_size = saved.stat().st_size
    print(
        f"{count:,} messages of {size} bytes, loopback, median of {args.repeat}; "
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}; "
        f"the file: {file_size / count:.0f} bytes a message"
    )
    print(f"{'run':<22} {'msg/s':>9} {'vs baseline':>12}")
    comparisons = [
        ("recv > /dev/null", "recv > /dev/null"),
        ("recv -o FILE", "recv > /dev/null"),
        ("send --count --size", "send --count --size"),
        ("send --from FILE", "send --count --size"),
    ]
    if not args.no_rabbitmq:
        comparisons += [
            ("send A", "send A"),
            ("recv B", "recv B"),
            ("move A -> B", "slower of send A, recv B"),
        ]
        rates["slower of send A, recv B"] = [
            min(sent, received)
            for sent, received in zip(rates["send A"], rates["recv B"], strict=True)
        ]
    for name, baseline in comparisons:
        rate = median(rates[name])
        print(f"{name:<22} {rate:>9,.0f} {rate / median(rates[baseline]):>11.2f}x")


if __name__ == "__main__":
    main()
