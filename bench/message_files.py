"""How fast are message files and ``move`` next to the plain send and recv?

Three comparisons, each against a baseline measured in the same run, every
command a separate OS process, every message accepted:

    recv -> file   library sender -> ``msgr-tui recv ~ -o FILE``      (lossless file, fsync'd)
                   library sender -> ``msgr-tui recv ~ --json > /dev/null`` (the format alone)
                   library sender -> ``msgr-tui recv ~ > /dev/null``   (the baseline)
    file -> send   ``msgr-tui send --from FILE`` -> library recv (the file's own addresses)
                   ``msgr-tui send ADDR --from FILE`` -> library recv (readdressed: each
                   message gains an ``x-opt-original-to`` annotation, which the
                   receiver decodes too)
                   ``msgr-tui send ADDR --count N --size S`` -> library recv (the baseline)
                   ``msgr-tui send ADDR --count N --size S`` -> raw recv, and
                   ``send ADDR --from FILE`` -> raw recv (a library receiver that
                   takes the bytes, decoding nothing: the senders alone)
    move ~ alone   library sender -> ``msgr-tui move ~ DEST --count N`` -> library recv
                   library sender -> library recv (the baseline: the move's hop
                   taken out)
    move           ``msgr-tui move A B --count N`` through the local RabbitMQ
                   ``msgr-tui send A --count N``, ``msgr-tui recv B --count N``
                   (the baselines: the same broker, the same queues' load)

Peer to peer, the rate is the sender's (first put to last outcome), as in
bench/headless_vs_library.py; a second column gives N over the sender's
whole run, start-up and (for ``--from``) reading the file included. Through
RabbitMQ the rate is N over the command's wall time from start to exit, for
all three alike (start-up included: about 0.3 s each); the broker is
started (tests/brokers/rabbitmq.sh, root) if it is not running, and stopped
again at the end if this run started it. The file for
``--from`` is the one ``recv -o`` wrote (for its own addresses, rewritten to
point at the receiver before the clock starts). Medians over the repetitions,
interleaved so a slow spell hits every pair alike.

    python3 bench/message_files.py [--count 100000] [--size 32] [--repeat 3] [--no-rabbitmq]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from headless_vs_library import wait_with_usage

ROOT = Path(__file__).resolve().parent.parent
HEADLESS = Path(__file__).resolve().parent / "headless_vs_library.py"
MSGR_TUI = [sys.executable, "-m", "msgr_tui"]
RABBITMQ = "amqp://guest:guest@127.0.0.1:5672"


def sender_rate(output: str, count: int) -> float:
    found = re.search(r"(\d+) of (\d+) message(?:s|\(s\))? .* ([\d.]+) msg/s", output)
    if not found or found.group(1) != str(count):
        raise SystemExit(f"not every message was answered:\n{output}")
    return float(found.group(3))


@dataclass
class PeerRun:
    """A sender and a receiver on loopback: the rates, and CPU per message of each process."""

    rate: float
    whole_run: float
    sender_us: float
    receiver_us: float


def listening(command: list[str], stdout: IO[str], code: Path) -> tuple[subprocess.Popen[str], str]:
    """Start ``command``, which says on stderr where it listens: the process and that address."""
    process = subprocess.Popen(command, stdout=stdout, stderr=subprocess.PIPE, text=True, cwd=code)
    assert process.stderr is not None
    line = process.stderr.readline()
    found = re.search(r"listening on (\S+)", line)
    if not found:
        process.kill()
        raise SystemExit(f"{command} did not start: {line!r}")
    return process, f"{found.group(1)}/bench"


def peer_pair(
    receiver: list[str],
    sender: list[str],
    prepare: Callable[[str], None] | None = None,
    middle: list[str] | None = None,
    *,
    count: int,
    code: Path = ROOT,
) -> PeerRun:
    """Start ``receiver`` (it listens on a free port), then ``sender`` to it.

    ``sender`` holds ``{address}`` where the receiver's address goes;
    ``prepare``, if given, is called with that address first (untimed). With
    ``middle`` (a ``move`` from a listener, holding ``{address}`` for the
    receiver's) the sender sends to the middle, which hands on to the
    receiver. Gives the rate the sender measured, ``count`` over the sender's
    whole run (start-up, and for ``--from`` reading and checking the file,
    included), and the CPU each process used per message (its start-up
    included): the middle's in place of the sender's when there is one.
    Every process runs in ``code``: ``-m msgr_tui`` runs the msgr_tui there.
    """
    with open(os.devnull, "w") as devnull:
        recv, address = listening(receiver, devnull, code)
        hop: subprocess.Popen[str] | None = None
        if middle is not None:
            hop, address = listening(
                [part.replace("{address}", address) for part in middle], devnull, code
            )
        if prepare is not None:
            prepare(address)
        started = time.perf_counter()
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            send = subprocess.Popen(
                [part.replace("{address}", address) for part in sender],
                stdout=out,
                stderr=err,
                text=True,
                cwd=code,
            )
            _, status, usage = os.wait4(send.pid, 0)
            wall = time.perf_counter() - started
            out.seek(0)
            err.seek(0)
            output, errors = out.read(), err.read()
        hop_seconds = wait_with_usage(hop) if hop is not None else None
        receiver_seconds = wait_with_usage(recv)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(
            f"{sender} exited with {os.waitstatus_to_exitcode(status)}:\n{errors[-2000:]}"
        )
    sender_seconds = usage.ru_utime + usage.ru_stime if hop_seconds is None else hop_seconds
    return PeerRun(
        sender_rate(output, count),
        count / wall,
        sender_seconds / count * 1e6,
        receiver_seconds / count * 1e6,
    )


def readdress_file(source: Path, target: Path) -> Callable[[str], None]:
    """A ``prepare`` that writes ``source`` to ``target`` with every ``to`` set to the address."""

    def write(address: str) -> None:
        with source.open(encoding="utf-8") as lines, target.open("w", encoding="utf-8") as out:
            for line in lines:
                record = json.loads(line)
                record["properties"]["to"] = address
                out.write(json.dumps(record, ensure_ascii=False) + "\n")

    return write


@dataclass
class Run:
    """One command through RabbitMQ: its rate, and CPU per message (its own, the broker's)."""

    rate: float
    command_us: float
    broker_us: float


def broker_cpu_seconds() -> float:
    """CPU seconds the RabbitMQ node (beam.smp) has used so far; 0 when it is not found."""
    found = subprocess.run(["pgrep", "-f", "beam.smp"], capture_output=True, text=True)
    total = 0.0
    for pid in found.stdout.split():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def broker_run(command: list[str], count: int, code: Path) -> Run:
    """``count`` over the wall time of ``command`` (which must succeed), and its CPU."""
    broker_before = broker_cpu_seconds()
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True, cwd=code
    )
    command_seconds = wait_with_usage(process)
    seconds = time.perf_counter() - started
    broker_seconds = broker_cpu_seconds() - broker_before
    return Run(count / seconds, command_seconds / count * 1e6, broker_seconds / count * 1e6)


def library_sender(count: int, size: int) -> list[str]:
    return [sys.executable, str(HEADLESS), "lib-send", "{address}", str(count), str(size)]


def library_receiver(count: int) -> list[str]:
    return [sys.executable, str(HEADLESS), "lib-recv", str(count)]


def raw_receiver(count: int) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "raw-recv", str(count)]


def raw_recv(count: int) -> None:
    """The library receiver of bench/headless_vs_library.py, taking bytes: nothing decoded.

    What a sender costs without the receiver's decoding in the way (an
    annotation the Messenger decodes into Python weighs on the receiver).
    """
    sys.path.insert(0, str(ROOT))
    from msgr_tui.messenger import Messenger

    messenger = Messenger()
    messenger.incoming_window = 1024
    messenger.start()
    port = messenger.subscribe("amqp://~127.0.0.1:0").port
    print(f"listening on amqp://127.0.0.1:{port}", file=sys.stderr, flush=True)
    received = 0
    while received < count:
        messenger.recv(-1)
        for _ in range(messenger.incoming):
            messenger.get_encoded()
            received += 1
        messenger.accept()
    messenger.timeout = 5
    messenger.stop()


def recv_command(count: int, *extra: str) -> list[str]:
    return [*MSGR_TUI, "recv", "~127.0.0.1:0", "--count", str(count), *extra]


def rabbitmq_round(count: int, size: int, code: Path) -> dict[str, Run]:
    """Send N into A, move them A -> B, receive them from B: the three runs."""
    a, b = (f"bench-move-{kind}-{uuid.uuid4().hex[:8]}" for kind in ("a", "b"))
    send = broker_run(
        [*MSGR_TUI, "send", f"{RABBITMQ}/{a}", "--count", str(count), "--size", str(size)],
        count,
        code,
    )
    move = broker_run(
        [*MSGR_TUI, "move", f"{RABBITMQ}/{a}", f"{RABBITMQ}/{b}", "--count", str(count)],
        count,
        code,
    )
    # The move made B durable: a plain receiver reads it as it is.
    recv = broker_run(
        [*MSGR_TUI, "recv", f"{RABBITMQ}//amq/queue/{b}", "--count", str(count)], count, code
    )
    return {"send A": send, "move A -> B": move, "recv B": recv}


BROKER_SCRIPT = ROOT / "tests" / "brokers" / "rabbitmq.sh"


@contextlib.contextmanager
def rabbitmq_running() -> Iterator[None]:
    """The local RabbitMQ, started if it is not running (and then stopped at the end)."""
    status = subprocess.run([str(BROKER_SCRIPT), "status"], capture_output=True, timeout=60)
    started = status.returncode != 0
    if started:
        run = subprocess.run(
            [str(BROKER_SCRIPT), "start"], capture_output=True, text=True, timeout=600
        )
        if run.returncode != 0:
            raise SystemExit(f"could not start RabbitMQ (--no-rabbitmq skips it):\n{run.stderr}")
    try:
        yield
    finally:
        # Left as it was found: a broker someone else started keeps running.
        if started:
            subprocess.run([str(BROKER_SCRIPT), "stop"], capture_output=True, timeout=300)


def median(values: list[float]) -> float:
    return statistics.median(values)


COMPARISONS = [
    ("recv > /dev/null", "recv > /dev/null"),
    ("recv --json > /dev/null", "recv > /dev/null"),
    ("recv -o FILE", "recv > /dev/null"),
    ("send --count --size", "send --count --size"),
    ("send --from FILE", "send --count --size"),
    ("send ADDR --from FILE", "send --count --size"),
    ("send --count -> raw", "send --count -> raw"),
    ("send ADDR --from -> raw", "send --count -> raw"),
    ("library -> library", "library -> library"),
    ("library -> move ~ -> lib", "library -> library"),
]
BROKER_COMPARISONS = [
    ("send A", "send A"),
    ("recv B", "recv B"),
    ("move A -> B", "slower of send A, recv B"),
]


@dataclass
class Results:
    """The runs of one msgr_tui (``--before``'s or this one), by row."""

    rates: dict[str, list[float]] = field(default_factory=dict)
    walls: dict[str, list[float]] = field(default_factory=dict)  # peer to peer: whole run
    # CPU us per message: peer to peer (sender, receiver), through RabbitMQ (command, broker).
    cpu: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)

    def add(self, name: str, run: PeerRun | Run) -> None:
        self.rates.setdefault(name, []).append(run.rate)
        if isinstance(run, PeerRun):
            self.walls.setdefault(name, []).append(run.whole_run)
            self.cpu.setdefault(name, []).append((run.sender_us, run.receiver_us))
        else:
            self.cpu.setdefault(name, []).append((run.command_us, run.broker_us))


PeerRow = tuple[list[str], list[str], Callable[[str], None] | None, list[str] | None]


def peer_rows(count: int, size: int, saved: Path, own: Path, fresh: Path) -> dict[str, PeerRow]:
    """Each peer-to-peer row: receiver, sender, prepare, middle. ``recv -o`` writes ``fresh``;
    the ``--from`` rows read ``saved`` (for their own addresses, rewritten into ``own``)."""
    library = library_receiver(count)
    plain_send = [*MSGR_TUI, "send", "{address}", "--count", str(count), "--size", str(size)]
    readdressing = [*MSGR_TUI, "send", "{address}", "--from", str(saved)]
    lib_send = library_sender(count, size)
    return {
        "recv > /dev/null": (recv_command(count), lib_send, None, None),
        "recv --json > /dev/null": (recv_command(count, "--json"), lib_send, None, None),
        "recv -o FILE": (recv_command(count, "-o", str(fresh)), lib_send, None, None),
        "send --count --size": (library, plain_send, None, None),
        "send --from FILE": (
            library,
            [*MSGR_TUI, "send", "--from", str(own)],
            readdress_file(saved, own),
            None,
        ),
        "send ADDR --from FILE": (library, readdressing, None, None),
        "send --count -> raw": (raw_receiver(count), plain_send, None, None),
        "send ADDR --from -> raw": (raw_receiver(count), readdressing, None, None),
        "library -> library": (library, lib_send, None, None),
        "library -> move ~ -> lib": (
            library,
            lib_send,
            None,
            [*MSGR_TUI, "move", "~127.0.0.1:0", "{address}", "--count", str(count)],
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-rabbitmq", action="store_true", help="skip the move through RabbitMQ")
    parser.add_argument(
        "--before",
        type=Path,
        metavar="DIR",
        help="also run every row with the msgr_tui in DIR (e.g. an older commit's, from "
        "git archive), interleaved with this one's: a second table, from the same run",
    )
    args = parser.parse_args()
    count, size = args.count, args.size
    trees = {"this msgr_tui": ROOT}
    if args.before is not None:
        trees[f"--before {args.before}"] = args.before.resolve()
    results = {label: Results() for label in trees}
    broker = contextlib.nullcontext() if args.no_rabbitmq else rabbitmq_running()
    with broker, tempfile.TemporaryDirectory() as scratch:
        for repetition in range(args.repeat):
            # A message file is never overwritten: a new one each time. Every
            # --from row of a repetition reads the file this msgr_tui wrote.
            saved = Path(scratch) / f"saved-{repetition}.jsonl"
            rows = {
                label: peer_rows(
                    count,
                    size,
                    saved,
                    Path(scratch) / f"own-{repetition}-{index}.jsonl",
                    saved if index == 0 else Path(scratch) / f"fresh-{repetition}-{index}.jsonl",
                )
                for index, label in enumerate(trees)
            }
            # Row by row, each msgr_tui in turn: a slow spell hits both alike.
            for name in rows["this msgr_tui"]:
                for label, code in trees.items():
                    try:
                        run = peer_pair(*rows[label][name], count=count, code=code)
                    except SystemExit as error:
                        if code == ROOT:
                            raise
                        # An older msgr_tui may not have what the row needs (move ~).
                        results[label].failed.add(name)
                        print(f"{label}: {name}: {error}", file=sys.stderr)
                        continue
                    results[label].add(name, run)
            if not args.no_rabbitmq:
                for label, code in trees.items():
                    for name, run in rabbitmq_round(count, size, code).items():
                        results[label].add(name, run)
        file_size = saved.stat().st_size
    print(
        f"{count:,} messages of {size} bytes, loopback, median of {args.repeat}; "
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}; "
        f"the file: {file_size / count:.0f} bytes a message"
    )
    for label, result in results.items():
        report_table(label, result, args.no_rabbitmq)


def report_table(label: str, result: Results, no_rabbitmq: bool) -> None:
    rates, walls, cpu = result.rates, result.walls, result.cpu
    print(
        f"\n{label}\n{'run':<25} {'msg/s':>9} {'vs baseline':>12} {'whole run msg/s':>16}"
        f"  CPU us/msg: {'sender':>6} {'receiver':>8}  (move ~: the move's, not the sender's)"
    )
    comparisons = list(COMPARISONS)
    if not no_rabbitmq:
        comparisons += BROKER_COMPARISONS
        rates["slower of send A, recv B"] = [
            min(sent, received)
            for sent, received in zip(rates["send A"], rates["recv B"], strict=True)
        ]
    for name, baseline in comparisons:
        if name in result.failed or name not in rates:
            print(f"{name:<25} {'(failed)':>9}")
            continue
        rate = median(rates[name])
        whole = f"{median(walls[name]):>16,.0f}" if name in walls else f"{'(the same)':>16}"
        line = f"{name:<25} {rate:>9,.0f} {rate / median(rates[baseline]):>11.2f}x {whole}"
        if name in walls and name in cpu:
            sender_us = median([sent for sent, _ in cpu[name]])
            receiver_us = median([received for _, received in cpu[name]])
            line += f"  {'':>11} {sender_us:>6.1f} {receiver_us:>8.1f}"
        print(line)
    broker_rows = [name for name in cpu if name not in walls]
    if broker_rows:
        print("CPU us per message through RabbitMQ (medians): the command, the broker")
        for name in broker_rows:
            command_us = median([command for command, _ in cpu[name]])
            broker_us = median([broker for _, broker in cpu[name]])
            print(f"{name:<25} {command_us:>7.1f} {broker_us:>9.1f}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "raw-recv":
        raw_recv(int(sys.argv[2]))
    else:
        main()
