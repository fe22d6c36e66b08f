"""Throughput of the Messenger against raw python-qpid-proton, on loopback.

Every measurement runs a sender process and a receiver process (two OS
processes, started fresh for each run; see ``throughput_peers.py``), the
receiver listening on 127.0.0.1 on an ephemeral port. Nothing leaves the
machine.

What is compared
================

raw
    Proton's own ``Container`` + ``MessagingHandler`` on both sides. The
    receiver has prefetch 1000 and ``auto_accept``: every message is decoded
    into a ``Message`` (``on_message``) and then accepted and settled.

messenger
    ``msgr_tui.messenger.Messenger``: the sender ``put``s messages and does
    one round of I/O (``send(0)``) every ``--batch`` messages (``send(batch)``
    instead, which waits, when more than a batch still waits for credit);
    a final ``send()`` waits for the last answers. The receiver
    ``subscribe("~127.0.0.1:0")``, then ``recv()`` (1024 credit) and ``get``
    into a ``Message`` for every message it holds: every message is decoded.

Delivery modes
==============

at-least-once (``alo``)
    raw: unsettled transfers; the receiver accepts each; the sender counts
    ``on_accepted`` and settles.
    messenger: the receiver has ``incoming_window = --incoming-window`` and
    calls ``accept()`` after each drained batch; the sender has
    ``outgoing_window = --outgoing-window`` and checks that the status of
    every tracker is ACCEPTED.
    Rate: N / (time the sender got the last acknowledgement - time it sent
    the first message).

at-most-once (``amo``)
    raw: the sender link is opened with ``AtMostOnce`` (snd-settle-mode
    *settled*): every transfer is pre-settled, the receiver sends no
    disposition and the sender learns nothing about delivery. Credit (prefetch
    1000) still paces the sender.
    messenger: ``outgoing_window = 0`` and ``incoming_window = 0``: as in the
    original, a message outside the outgoing window goes pre-settled, so the
    receiver sends no disposition and ``send()`` waits only until everything
    is written. Credit (1024 per link) still paces the sender.
    Rate: N / (time the receiver decoded the last message - time the sender
    sent the first), both read from CLOCK_MONOTONIC, which all processes
    share, since a pre-settled sender has no acknowledgement to wait for.

In both modes the clock starts when the first measured message is sent, once
the connection and link are up: the Messenger sender first sends one warm-up
message (not counted) and waits for its answer, to open them.

Each row of the table gives the median rate over the repetitions, the ratio
Messenger / raw, and the CPU time each side used per message during the
measured interval (the side near 1e6/rate us/msg is the bottleneck). Runs are
interleaved (rep 1 of every case, then rep 2 ...) so load that comes and goes
hits every case alike; "other load" is the CPU that processes other than this
benchmark used during the runs, in cores (2 cores = fully busy machine).

Usage::

    python bench/messenger_throughput.py                 # 100,000 messages, 5 reps
    python bench/messenger_throughput.py --quick         # 20,000 messages, 3 reps
    python bench/messenger_throughput.py --wait-idle 120 # on a shared machine
    python bench/messenger_throughput.py --only messenger --modes alo --sizes 32 \\
        --py-spy /tmp/prof                               # profile the children
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import queue
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PEERS = HERE / "throughput_peers.py"
REPO = HERE.parent
IMPLS = ("raw", "messenger")
MODES = {"alo": "at-least-once", "amo": "at-most-once"}
TARGET_RATIO = 2.0


class RunFailed(Exception):
    """One run (a sender/receiver pair) did not complete."""


# --------------------------------------------------------------- the machine


def machine_info() -> dict[str, Any]:
    import proton

    cpu_model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    try:
        import cproton

        parts = (cproton.PN_VERSION_MAJOR, cproton.PN_VERSION_MINOR, cproton.PN_VERSION_POINT)
        proton_c = ".".join(str(part) for part in parts)
    except (ImportError, AttributeError):
        proton_c = "unknown"
    commit = "unknown"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "msgr_tui/messenger"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        if dirty:
            commit += " (+ uncommitted changes in msgr_tui/messenger)"
    return {
        "cpu": cpu_model,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "python-qpid-proton": ".".join(str(part) for part in proton.VERSION),
        "proton-c": proton_c,
        "msgr_tui commit": commit,
    }


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def busy_cpu_seconds() -> float | None:
    """CPU seconds the whole machine has spent busy since boot (from /proc/stat)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
    except OSError:
        return None
    # user nice system idle iowait irq softirq steal (guest is inside user)
    values = [int(value) for value in fields[1:9]]
    busy = values[0] + values[1] + values[2] + values[5] + values[6] + values[7]
    return busy / os.sysconf("SC_CLK_TCK")


def wait_until_idle(max_wait: float, threshold: float) -> float:
    """Wait (up to ``max_wait`` s) until the machine uses under ``threshold`` cores.

    Returns the busy cores measured last (over one second).
    """
    deadline = time.monotonic() + max_wait
    while True:
        before = busy_cpu_seconds()
        time.sleep(1.0)
        after = busy_cpu_seconds()
        busy = 0.0 if before is None or after is None else after - before
        if busy < threshold or time.monotonic() >= deadline:
            return busy
        time.sleep(2.0)


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ------------------------------------------------------------ child processes


class Child:
    """One peer process, its JSON lines read by a thread."""

    def __init__(self, name: str, config: dict[str, Any], args: argparse.Namespace) -> None:
        self.name = name
        command = [sys.executable, str(PEERS), json.dumps(config)]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        label = f"{config['role']}-{config['mode']}-{config['size']}-r{config['rep']}"
        if args.py_spy:
            command = [
                args.py_spy_bin,
                "record",
                "--format",
                args.py_spy_format,
                "--rate",
                str(args.py_spy_rate),
                "-o",
                str(Path(args.py_spy) / f"{label}.{args.py_spy_format}"),
                "--",
                *command,
            ]
        if args.cprofile:
            env["MSGR_BENCH_CPROFILE"] = str(Path(args.cprofile) / f"{label}.pstats")
        self.lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.stderr: list[str] = []
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=str(REPO),
        )
        self.exit_cpu: float | None = None
        self.ready_cpu: float | None = None
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.strip()
            if not line.startswith("{"):
                continue  # py-spy and friends talk too
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if event.get("event") == "exit":
                self.exit_cpu = event.get("cpu")
            self.lines.put(event)
        self.lines.put(None)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line.rstrip())
            del self.stderr[:-40]

    def expect(self, kind: str, deadline: float) -> dict[str, Any]:
        """Wait for the next line of ``kind``; errors and early exits raise RunFailed."""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RunFailed(f"{self.name}: no {kind!r} before the deadline{self._tail()}")
            try:
                event = self.lines.get(timeout=min(remaining, 1.0))
            except queue.Empty:
                continue
            if event is None:
                code = self.proc.wait()
                raise RunFailed(
                    f"{self.name} exited (code {code}) before sending {kind!r}{self._tail()}"
                )
            if event["event"] == "error":
                raise RunFailed(f"{self.name}: {event['message']}{self._tail()}")
            if event["event"] == kind:
                return event

    def pending_error(self, deadline: float) -> str | None:
        """An error this child reported (or reports before ``deadline``), if any."""
        while time.monotonic() < deadline:
            try:
                event = self.lines.get(timeout=0.1)
            except queue.Empty:
                if self.proc.poll() is not None and self.lines.empty():
                    return None
                continue
            if event is None:
                return None
            if event["event"] == "error":
                return f"{self.name}: {event['message']}"
        return None

    def tell_stop(self) -> None:
        if self.proc.poll() is None and self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.write("stop\n")
                self.proc.stdin.flush()

    def finish(self, deadline: float) -> None:
        """Wait for a clean exit until ``deadline``; then terminate, then kill (this pid only)."""
        with contextlib.suppress(OSError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        # py-spy writes its profile after the child exits: give the reader a moment.
        for _ in range(20):
            if self.exit_cpu is not None or self.lines.empty():
                break
            time.sleep(0.05)

    def _tail(self) -> str:
        lines = [line for line in self.stderr if line.strip()][-12:]
        return ("\n    stderr: " + "\n    ".join(lines)) if lines else ""


@dataclass
class Case:
    impl: str
    mode: str
    size: int

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.impl, self.mode, self.size)


@dataclass
class Sample:
    rate: float
    sender_cpu_us: float
    receiver_cpu_us: float
    other_load: float | None
    seconds: float


@dataclass
class Results:
    samples: dict[tuple[str, str, int], list[Sample]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def run_once(case: Case, rep: int, args: argparse.Namespace) -> Sample:
    base = {
        "mode": case.mode,
        "size": case.size,
        "count": args.messages,
        "timeout": args.timeout,
        "rep": rep,
        "batch": args.batch,
        "outgoing_window": args.outgoing_window,
        "incoming_window": args.incoming_window,
        "prefetch": 1000,
        # The Messenger sender opens its connection with one unmeasured message.
        "warmup": 1 if case.impl == "messenger" else 0,
    }
    deadline = time.monotonic() + args.timeout + 30
    receiver = sender = None
    try:
        receiver = Child(f"{case.impl} receiver", {**base, "role": f"{case.impl}-receiver"}, args)
        ready = receiver.expect("ready", time.monotonic() + 30)
        busy_before = busy_cpu_seconds()
        mine_before = own_cpu_seconds()
        wall_before = time.monotonic()
        sender = Child(
            f"{case.impl} sender",
            {**base, "role": f"{case.impl}-sender", "port": ready["port"]},
            args,
        )
        try:
            sent = sender.expect("result", deadline)
        except RunFailed as error:
            # The receiver's own complaint (a timeout, a bad message) usually
            # explains the sender's.
            complaint = receiver.pending_error(time.monotonic() + 2)
            if complaint:
                last = str(error).strip().splitlines()[-1].strip()
                raise RunFailed(f"{complaint}\n  (then the sender: {last})") from None
            raise
        received = receiver.expect("result", deadline)
        receiver.tell_stop()
        sender.finish(deadline)
        receiver.finish(time.monotonic() + 10)
        wall = time.monotonic() - wall_before
        busy_after = busy_cpu_seconds()
        other = None
        if (
            busy_before is not None
            and busy_after is not None
            and sender.exit_cpu is not None
            and receiver.exit_cpu is not None
            and not args.py_spy
        ):
            ours = sender.exit_cpu + (receiver.exit_cpu - ready["cpu"])
            ours += own_cpu_seconds() - mine_before
            other = max(0.0, (busy_after - busy_before - ours) / wall)
        for child in (sender, receiver):
            if child.proc.returncode not in (0, None):
                raise RunFailed(
                    f"{child.name} exited with code {child.proc.returncode}{child._tail()}"
                )
    finally:
        for child in (sender, receiver):
            if child is not None and child.proc.poll() is None:
                child.finish(time.monotonic() + 2)
    count = args.messages
    if case.mode == "alo":
        seconds = sent["t_last"] - sent["t_first"]
    else:
        seconds = received["t_last"] - sent["t_first"]
    if seconds <= 0:
        raise RunFailed(f"{case.impl}: measured a non-positive interval ({seconds})")
    return Sample(
        rate=count / seconds,
        sender_cpu_us=sent["cpu"] / count * 1e6,
        receiver_cpu_us=received["cpu"] / count * 1e6,
        other_load=other,
        seconds=seconds,
    )


# ------------------------------------------------------------------- output


def encoded_sizes(size: int) -> tuple[int, int]:
    """Encoded message bytes: raw (no address) and Messenger (address set)."""
    from proton import Message

    raw = len(Message(body=b"x" * size).encode())
    with_address = len(Message(address="amqp://127.0.0.1:65535/bench", body=b"x" * size).encode())
    return raw, with_address


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def print_table(results: Results, args: argparse.Namespace, load_before: str) -> bool | None:
    """The summary table; True when every at-least-once ratio meets the target (None: unknown)."""
    print()
    print(
        f"Medians of {args.reps} repetition(s), {args.messages:,} messages each "
        f"(msg/s; CPU us/msg of sender / receiver during the measured interval)"
    )
    header = (
        f"{'mode':<14} {'body':>6} {'raw msg/s':>10} {'messenger':>10} {'ratio':>6}  "
        f"{'raw cpu us s/r':>15} {'msgr cpu us s/r':>16}  {'runs msgr (msg/s)':<30}"
    )
    print(header)
    print("-" * len(header))
    ok: bool | None = True
    for mode in args.modes:
        for size in args.sizes:
            raw = results.samples.get(("raw", mode, size), [])
            msgr = results.samples.get(("messenger", mode, size), [])
            raw_rate = median([s.rate for s in raw])
            msgr_rate = median([s.rate for s in msgr])
            ratio = msgr_rate / raw_rate if raw and msgr else float("nan")
            if mode == "alo":
                if not (raw and msgr):
                    ok = None if ok else ok
                elif not ratio >= TARGET_RATIO:
                    ok = False

            def cpu(samples: list[Sample]) -> str:
                if not samples:
                    return "-"
                s_cpu = median([s.sender_cpu_us for s in samples])
                r_cpu = median([s.receiver_cpu_us for s in samples])
                return f"{s_cpu:.1f} / {r_cpu:.1f}"

            runs = " ".join(f"{s.rate / 1000:.1f}k" for s in msgr)
            size_text = f"{size} B" if size < 1024 else f"{size // 1024} KiB"
            print(
                f"{MODES[mode]:<14} {size_text:>6} {raw_rate:>10,.0f} {msgr_rate:>10,.0f} "
                f"{ratio:>5.2f}x  {cpu(raw):>15} {cpu(msgr):>16}  {runs:<30}"
            )
    print()
    print("All runs (msg/s):")
    for key, samples in sorted(results.samples.items()):
        impl, mode, size = key
        rates = ", ".join(f"{s.rate:,.0f}" for s in samples)
        print(f"  {impl:<9} {mode} {size:>5} B: {rates}")
    loads = [s.other_load for v in results.samples.values() for s in v if s.other_load is not None]
    print()
    print(f"Load average before: {load_before}; after: {loadavg()}")
    if loads:
        print(
            f"Other processes' CPU during the runs: median {median(loads):.2f} cores, "
            f"max {max(loads):.2f} cores (of {os.cpu_count()})"
        )
    if any(load > 0.25 for load in loads):
        print("WARNING: other processes were busy during some runs; the figures may be low.")
    if "alo" in args.modes and len(args.impls) == 2:
        verdict = {True: "met", False: "NOT met", None: "unknown (runs failed)"}[ok]
        print(f"Target Messenger >= {TARGET_RATIO:.1f}x raw at-least-once: {verdict}")
    return ok


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Messenger vs raw python-qpid-proton throughput on loopback.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--messages", "-n", type=int, help="messages per run (default 100000)")
    parser.add_argument("--reps", "-r", type=int, help="repetitions per case (default 5)")
    parser.add_argument("--quick", action="store_true", help="20,000 messages, 3 repetitions")
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[32, 1024], help="body sizes in bytes"
    )
    parser.add_argument(
        "--modes", nargs="+", choices=sorted(MODES), default=["alo", "amo"], help="delivery modes"
    )
    parser.add_argument(
        "--only", dest="impls", nargs="+", choices=IMPLS, default=list(IMPLS), help="which sides"
    )
    parser.add_argument(
        "--batch", type=int, default=256, help="Messenger sender: puts between I/O rounds"
    )
    parser.add_argument(
        "--outgoing-window",
        type=int,
        default=8192,
        help="Messenger sender outgoing_window at-least-once (default 8192)",
    )
    parser.add_argument(
        "--incoming-window",
        type=int,
        default=1024,
        help="Messenger receiver incoming_window at-least-once (default 1024)",
    )
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds one run may take (default 300)"
    )
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each run, wait up to SECONDS for other processes to go quiet "
        "(for shared machines; default: do not wait)",
    )
    parser.add_argument(
        "--idle-cores",
        type=float,
        default=0.3,
        help="with --wait-idle: busy cores under which the machine counts as quiet (0.3)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write every sample to FILE")
    parser.add_argument(
        "--py-spy", metavar="DIR", help="run every child under py-spy record (speedscope files)"
    )
    parser.add_argument("--py-spy-rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument(
        "--py-spy-format",
        choices=["speedscope", "raw", "flamegraph"],
        default="speedscope",
        help="py-spy output format (raw: collapsed stacks, one per line)",
    )
    parser.add_argument(
        "--cprofile", metavar="DIR", help="run every child under cProfile (pstats files)"
    )
    args = parser.parse_args(argv)
    if args.messages is None:
        args.messages = 20_000 if args.quick else 100_000
    if args.reps is None:
        args.reps = 3 if args.quick else 5
    if args.messages < 1 or args.reps < 1 or args.batch < 1:
        parser.error("--messages, --reps and --batch must be at least 1")
    for folder in (args.py_spy, args.cprofile):
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
    if args.py_spy:
        args.py_spy_bin = shutil.which("py-spy")
        if args.py_spy_bin is None:
            parser.error("--py-spy needs the py-spy program (pip install py-spy)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    info = machine_info()
    load_before = loadavg()
    print("Messenger vs raw python-qpid-proton, loopback, 2 processes per run")
    for key, value in info.items():
        print(f"  {key:<19} {value}")
    print(f"  {'load average':<19} {load_before}")
    for size in args.sizes:
        raw, addressed = encoded_sizes(size)
        print(
            f"  body {size:>5} B: encoded {raw} B raw, {addressed} B Messenger "
            "(the Messenger's messages carry their address)"
        )
    print(
        f"  messages {args.messages:,}, repetitions {args.reps}, Messenger batch {args.batch}, "
        f"outgoing_window {args.outgoing_window}, incoming_window {args.incoming_window} "
        "(at-least-once)"
    )
    print()
    cases = [
        Case(impl, mode, size) for size in args.sizes for mode in args.modes for impl in args.impls
    ]
    results = Results()
    try:
        for rep in range(1, args.reps + 1):
            for case in cases:
                label = f"rep {rep}/{args.reps} {case.impl:<9} {case.mode} {case.size:>5} B"
                if args.wait_idle:
                    busy = wait_until_idle(args.wait_idle, args.idle_cores)
                    if busy >= args.idle_cores:
                        print(f"(still {busy:.2f} cores busy after {args.wait_idle:.0f} s)")
                print(f"{label} ...", end=" ", flush=True)
                try:
                    sample = run_once(case, rep, args)
                except RunFailed as error:
                    print("FAILED")
                    print(f"  {error}", file=sys.stderr)
                    results.failures.append(f"{label}: {error}")
                    continue
                results.samples.setdefault(case.key, []).append(sample)
                load = "" if sample.other_load is None else f", other load {sample.other_load:.2f}"
                print(
                    f"{sample.rate:>9,.0f} msg/s ({sample.seconds:.2f} s; cpu us/msg "
                    f"{sample.sender_cpu_us:.1f} / {sample.receiver_cpu_us:.1f}{load})",
                    flush=True,
                )
    except KeyboardInterrupt:
        print("\ninterrupted: summary of the runs so far", file=sys.stderr)
    ok = print_table(results, args, load_before)
    if args.json:
        data = {
            "machine": info,
            "args": {k: v for k, v in vars(args).items() if k not in ("py_spy_bin",)},
            "samples": [
                {"impl": k[0], "mode": k[1], "size": k[2], **vars(sample)}
                for k, samples in results.samples.items()
                for sample in samples
            ],
            "failures": results.failures,
        }
        Path(args.json).write_text(json.dumps(data, indent=2))
    if results.failures:
        print(f"\n{len(results.failures)} run(s) failed:", file=sys.stderr)
        for failure in results.failures:
            print(f"  {failure.splitlines()[0]}", file=sys.stderr)
        return 1
    del ok  # figures, not a pass/fail test
    return 0


if __name__ == "__main__":
    sys.exit(main())
