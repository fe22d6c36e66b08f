"""Throughput of our Messenger against the original and raw Proton, on loopback.

Every measurement runs a sender process and a receiver process (two OS
processes, started fresh for each run), the receiver listening on 127.0.0.1
on an ephemeral port. Nothing leaves the machine.

What is compared
================

original
    Proton 0.17's C Messenger (``pn_messenger``) through its SWIG binding,
    run with ``../shared/oracle/run-original`` (``--original PATH`` or
    ``MSGR_BENCH_ORIGINAL`` to use another): what programs written for the old
    API ran on.
ours
    ``msgr_tui.messenger``. The original and ours run the SAME script,
    ``oldapi_peers.py``: ``oldapi_peers.py original|ours CONFIG`` differs only
    in its import (``from proton import Messenger, ...`` or ``from
    msgr_tui.messenger import Messenger, ...``). The sender ``put``s and does
    one round of I/O (``send(0)``) every ``--batch`` messages (``send(batch)``,
    which waits, when more than a batch still waits for the wire); a final
    ``send()`` waits for the last answers. The receiver subscribes to
    ``~127.0.0.1:PORT``, then ``recv()`` and ``get`` into a ``Message`` for
    every message it holds: every message is decoded.
before (with ``--before REF``)
    ours as of the git revision REF (``git archive`` into a temporary
    directory, this ``oldapi_peers.py`` copied in beside its ``msgr_tui``,
    which it imports), interleaved with the rest: a change's before and after
    from one run, ``ours/before`` its gain.
raw
    Proton 0.40's own ``Container`` + ``MessagingHandler`` on both sides
    (``throughput_peers.py``): receiver prefetch 1000 and ``auto_accept``,
    every message decoded into a ``Message`` (``on_message``).

Delivery modes
==============

at-least-once (``alo``)
    Messenger (both): the sender has ``outgoing_window = --outgoing-window``
    and checks that the status of every tracker is ACCEPTED; the receiver has
    ``incoming_window = --incoming-window`` and calls ``accept()`` after each
    drained batch. raw: unsettled transfers, each accepted, the sender counts
    ``on_accepted``. Rate: N / (time the sender saw the last answer - time it
    sent the first message).
at-most-once (``amo``)
    Messenger: both windows 0: a message outside the outgoing window goes
    pre-settled and nothing is answered. raw: the link is opened
    ``AtMostOnce``. Credit still paces the sender. Rate: N / (time the
    receiver decoded the last message - time the sender sent the first), both
    CLOCK_MONOTONIC, which all processes share.

The clock starts once the connection and link are up: a Messenger sender
first sends one warm-up message (not counted) and waits for it.

Memory per message in flight
============================

For the original and ours, at each body size: a receiver (``incoming_window``
large) takes every message with ``get`` and accepts none, so the sender holds
every tracker PENDING and its delivery unsettled (``outgoing_window``
large). Both report their resident set size (``/proc/self/statm``) once
``warm`` messages are held and once ``warm + count`` are: (second - first) /
count is the memory each side needs per message in flight, start-up and
one-time buffers left out.

Output
======

Each row gives the median rate over the repetitions, ours / original and ours
/ raw, and the CPU time each side used per message during the measured
interval (the side near 1e6/rate us/msg is the bottleneck). Runs are
interleaved (rep 1 of every case, then rep 2 ..., the implementations in a
rotating order) so load that comes and goes hits every case alike; "other
load" is the CPU that processes other than this benchmark used during the
runs, in cores (2 cores = a fully busy 2-core machine).

Usage::

    python bench/messenger_throughput.py                 # 100,000 messages, 5 reps
    python bench/messenger_throughput.py --quick         # 20,000 messages, 3 reps
    python bench/messenger_throughput.py --wait-idle 120 # on a shared machine
    python bench/messenger_throughput.py --only ours --modes alo --sizes 32 \\
        --no-memory --py-spy /tmp/prof --py-spy-format raw  # profile the children
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
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RAW_PEERS = HERE / "throughput_peers.py"
OLDAPI_PEERS = HERE / "oldapi_peers.py"
REPO = HERE.parent
DEFAULT_ORIGINAL = REPO.parent / "shared" / "oracle" / "run-original"
IMPLS = ("raw", "original", "before", "ours")
MODES = {"alo": "at-least-once", "amo": "at-most-once"}
TARGET_RATIO = 2.0  # ours / original, at-least-once, 32 B and 1 KiB
TARGET_RATE = 100_000  # ours, at-least-once, 32 B
TARGET_SIZES = (32, 1024)


class RunFailed(Exception):
    """One run (a sender/receiver pair) did not complete."""


class OriginalUnavailable(Exception):
    """The original Messenger cannot be run here."""


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


# ------------------------------------------------------------- the original


@dataclass
class Original:
    """The ``run-original`` this run uses, and where it came from."""

    found: Path
    script: Path
    label: str = "unknown"
    repaired: list[str] = field(default_factory=list)
    temp: Path | None = None

    def describe(self) -> str:
        text = f"{self.label}, run with {self.script}"
        if self.temp is not None:
            names = ", ".join(self.repaired)
            text += (
                f"\n    (a repaired copy of {self.found}: its library symlinks were "
                f"flattened into text files; re-created as symlinks: {names}; "
                "the copy is removed at the end)"
            )
        return text

    def close(self) -> None:
        if self.temp is not None:
            for folder, _, _ in os.walk(self.temp):
                with contextlib.suppress(OSError):
                    os.chmod(folder, 0o700)
            shutil.rmtree(self.temp, ignore_errors=True)
            self.temp = None


def flattened_symlinks(root: Path) -> list[tuple[Path, str]]:
    """Small regular files whose whole content is the name of a sibling: symlinks flattened.

    A checkout or copy that does not keep symlinks turns ``libX.so.10 ->
    libX.so.10.0.0`` into a 16-byte file holding the text ``libX.so.10.0.0``;
    the dynamic loader then fails with "file too short".
    """
    found = []
    for folder, dirnames, filenames in os.walk(root):
        siblings = set(filenames) | set(dirnames)
        for name in filenames:
            path = Path(folder) / name
            if path.is_symlink() or not path.is_file() or path.stat().st_size > 255:
                continue
            try:
                target = path.read_bytes().decode("ascii").strip()
            except (OSError, UnicodeDecodeError):
                continue
            plain = target and not set("/\n\r\t ") & set(target)
            if plain and target != name and target in siblings:
                found.append((path, target))
    return found


def locate_original(explicit: str | None) -> Original:
    """``--original``, else ``$MSGR_BENCH_ORIGINAL``, else ``../shared/oracle/run-original``.

    When the oracle's symlinks were flattened, a copy with them re-created is
    made in a temporary directory (removed by ``Original.close``).
    """
    given = explicit or os.environ.get("MSGR_BENCH_ORIGINAL")
    found = Path(given).expanduser().resolve() if given else DEFAULT_ORIGINAL.resolve()
    if not found.is_file():
        raise OriginalUnavailable(f"no run-original at {found} (give --original PATH)")
    original = Original(found=found, script=found)
    root = found.parent
    flattened = flattened_symlinks(root)
    if flattened:
        temp = Path(tempfile.mkdtemp(prefix="msgr-bench-oracle-"))
        original.temp = temp
        copy = temp / root.name
        shutil.copytree(root, copy, symlinks=True)
        for folder, _, _ in os.walk(copy):
            os.chmod(folder, 0o755)
        for path, target in flattened:
            link = copy / path.relative_to(root)
            link.unlink()
            os.symlink(target, link)
            original.repaired.append(f"{path.relative_to(root)} -> {target}")
        original.script = copy / found.relative_to(root)
    probe = (
        "import proton; print('.'.join(map(str, proton.VERSION)), "
        "proton.Messenger.__module__, proton.__file__)"
    )
    try:
        done = subprocess.run(
            [str(original.script), "-c", probe],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=str(REPO),
        )
    except (OSError, subprocess.SubprocessError) as error:
        original.close()
        raise OriginalUnavailable(f"{original.script}: {error}") from None
    if done.returncode != 0:
        original.close()
        tail = " | ".join(done.stderr.strip().splitlines()[-2:])
        raise OriginalUnavailable(f"{original.script} does not run: {tail}")
    version, module, where = done.stdout.split()
    original.label = f"Proton {version} C Messenger ({module}, {Path(where).parent})"
    return original


# ------------------------------------------------------------ child processes


def peer_command(impl: str, config: dict[str, Any], args: argparse.Namespace) -> list[str]:
    text = json.dumps(config)
    if impl == "raw":
        return [sys.executable, str(RAW_PEERS), text]
    if impl == "ours":
        return [sys.executable, str(OLDAPI_PEERS), "ours", text]
    if impl == "before":
        return [sys.executable, str(args.before_dir / "bench" / "oldapi_peers.py"), "ours", text]
    return [str(args.original_info.script), str(OLDAPI_PEERS), "original", text]


class Child:
    """One peer process, its JSON lines read by a thread."""

    def __init__(
        self, impl: str, role: str, config: dict[str, Any], args: argparse.Namespace
    ) -> None:
        self.name = f"{impl} {role}"
        config = {**config, "role": f"raw-{role}" if impl == "raw" else role}
        command = peer_command(impl, config, args)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        label = f"{impl}-{role}-{config['mode']}-{config['size']}-r{config['rep']}"
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

    def tell(self, word: str) -> None:
        if self.proc.poll() is None and self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.write(word + "\n")
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
    messages: int
    encoded: int | None = None


@dataclass
class MemSample:
    held: int
    sender_bytes: float
    receiver_bytes: float


@dataclass
class Results:
    samples: dict[tuple[str, str, int], list[Sample]] = field(default_factory=dict)
    memory: dict[tuple[str, int], list[MemSample]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def messages_for(size: int, args: argparse.Namespace) -> int:
    return args.big_messages if size >= 65536 else args.messages


def run_once(case: Case, rep: int, args: argparse.Namespace) -> Sample:
    count = messages_for(case.size, args)
    base = {
        "mode": case.mode,
        "size": case.size,
        "count": count,
        "timeout": args.timeout,
        "rep": rep,
        "batch": args.batch,
        "outgoing_window": args.outgoing_window,
        "incoming_window": args.incoming_window,
        "recv_credit": args.recv_credit,
        "prefetch": 1000,
        # A Messenger sender opens its connection with one unmeasured message.
        "warmup": 0 if case.impl == "raw" else 1,
    }
    deadline = time.monotonic() + args.timeout + 30
    receiver = sender = None
    try:
        receiver = Child(case.impl, "receiver", base, args)
        ready = receiver.expect("ready", time.monotonic() + 30)
        busy_before = busy_cpu_seconds()
        mine_before = own_cpu_seconds()
        wall_before = time.monotonic()
        sender = Child(case.impl, "sender", {**base, "port": ready["port"]}, args)
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
        receiver.tell("stop")
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
        messages=count,
        encoded=sent.get("encoded"),
    )


def hold_counts(size: int, args: argparse.Namespace) -> tuple[int, int]:
    """(warm, count) for a memory run: at most ``--hold-bytes`` of bodies held."""
    count = max(100, min(args.hold, args.hold_bytes // max(size, 1)))
    return max(10, count // 10), count


def run_hold(impl: str, size: int, rep: int, args: argparse.Namespace) -> MemSample:
    """Memory per message in flight: the receiver gets everything and accepts nothing."""
    warm, count = hold_counts(size, args)
    base = {
        "mode": "hold",
        "size": size,
        "count": count,
        "warm": warm,
        "timeout": min(args.timeout, 60.0),
        "rep": rep,
    }
    deadline = time.monotonic() + min(args.timeout, 60.0) + 30
    receiver = sender = None
    try:
        receiver = Child(impl, "hold-receiver", base, args)
        ready = receiver.expect("ready", time.monotonic() + 30)
        sender = Child(impl, "hold-sender", {**base, "port": ready["port"]}, args)
        first = receiver.expect("held", deadline)
        sender.tell("mark")
        second = receiver.expect("held", deadline)
        sender.tell("mark")
        result = sender.expect("result", deadline)
        sender.tell("mark")
        receiver.tell("stop")
        sender.finish(time.monotonic() + 10)
        receiver.finish(time.monotonic() + 10)
    finally:
        for child in (sender, receiver):
            if child is not None and child.proc.poll() is None:
                child.finish(time.monotonic() + 2)
    if first["received"] != warm or second["received"] != warm + count:
        raise RunFailed(f"{impl} hold: received {first['received']}, {second['received']}")
    return MemSample(
        held=count,
        sender_bytes=(result["rss_full"] - result["rss_warm"]) / count,
        receiver_bytes=(second["rss"] - first["rss"]) / count,
    )


# ------------------------------------------------------------------- output


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def size_text(size: int) -> str:
    return f"{size} B" if size < 1024 else f"{size // 1024} KiB"


def ratio(top: float, bottom: float) -> float:
    if bottom != bottom or top != top or bottom <= 0:
        return float("nan")
    return top / bottom


def print_table(results: Results, args: argparse.Namespace, load_before: str) -> None:
    if results.samples:
        print_rates(results, args)
    if results.memory:
        print_memory(results, args)
    print_runs(results, args, load_before)


def print_rates(results: Results, args: argparse.Namespace) -> None:
    impls = args.impls
    print()
    counts = ", ".join(
        f"{messages_for(size, args):,} at {size_text(size)}"
        for size in sorted(set(args.sizes), key=args.sizes.index)
    )
    print(f"Medians of {args.reps} repetition(s); messages per run: {counts}")
    header = f"{'delivery':<14} {'body':>6}"
    for impl in impls:
        header += f" {impl + ' msg/s':>14}"
    if "ours" in impls and "original" in impls:
        header += f" {'ours/orig':>9}"
    if "ours" in impls and "raw" in impls:
        header += f" {'ours/raw':>8}"
    if "ours" in impls and "before" in impls:
        header += f" {'ours/before':>11}"
    header += f" {'other load':>10}"
    print(header)
    print("-" * len(header))
    for mode in args.modes:
        for size in args.sizes:
            rates = {
                impl: median([s.rate for s in results.samples.get((impl, mode, size), [])])
                for impl in impls
            }
            line = f"{MODES[mode]:<14} {size_text(size):>6}"
            for impl in impls:
                line += f" {rates[impl]:>14,.0f}"
            if "ours" in impls and "original" in impls:
                line += f" {ratio(rates['ours'], rates['original']):>8.2f}x"
            if "ours" in impls and "raw" in impls:
                line += f" {ratio(rates['ours'], rates['raw']):>7.2f}x"
            if "ours" in impls and "before" in impls:
                line += f" {ratio(rates['ours'], rates['before']):>10.2f}x"
            loads = [
                s.other_load
                for impl in impls
                for s in results.samples.get((impl, mode, size), [])
                if s.other_load is not None
            ]
            line += f" {median(loads):>10.2f}" if loads else f" {'-':>10}"
            print(line)
    print()
    print("CPU us per message during the measured interval, sender / receiver (medians)")
    header = f"{'delivery':<14} {'body':>6}" + "".join(f" {impl:>17}" for impl in impls)
    print(header)
    print("-" * len(header))
    for mode in args.modes:
        for size in args.sizes:
            line = f"{MODES[mode]:<14} {size_text(size):>6}"
            for impl in impls:
                samples = results.samples.get((impl, mode, size), [])
                if samples:
                    s_cpu = median([s.sender_cpu_us for s in samples])
                    r_cpu = median([s.receiver_cpu_us for s in samples])
                    line += f" {f'{s_cpu:.1f} / {r_cpu:.1f}':>17}"
                else:
                    line += f" {'-':>17}"
            print(line)


def print_memory(results: Results, args: argparse.Namespace) -> None:
    impls = args.impls
    print()
    print(
        "Memory per message in flight (RSS growth / messages held; medians): the sender "
        "holds\neach message tracked, sent and unanswered, the receiver got it "
        "(get) and has not accepted it"
    )
    mem_impls = [impl for impl in ("original", "before", "ours") if impl in impls]
    header = f"{'body':>6} {'held':>7}" + "".join(
        f" {impl + ' sender':>16} {impl + ' receiver':>17}" for impl in mem_impls
    )
    print(header)
    print("-" * len(header))
    for size in args.memory_sizes:
        line = f"{size_text(size):>6} {hold_counts(size, args)[1]:>7,}"
        for impl in mem_impls:
            samples = results.memory.get((impl, size), [])
            sender = median([s.sender_bytes for s in samples])
            receiver = median([s.receiver_bytes for s in samples])
            line += f" {f'{sender:,.0f} B':>16} {f'{receiver:,.0f} B':>17}"
        print(line)


def print_runs(results: Results, args: argparse.Namespace, load_before: str) -> None:
    print()
    print("All runs (msg/s):")
    for key, samples in sorted(results.samples.items()):
        impl, mode, size = key
        rates_text = ", ".join(f"{s.rate:,.0f}" for s in samples)
        print(f"  {impl:<8} {mode} {size:>5} B: {rates_text}")
    for key, mems in sorted(results.memory.items()):
        impl, size = key
        text = ", ".join(f"{m.sender_bytes:,.0f}/{m.receiver_bytes:,.0f}" for m in mems)
        print(f"  {impl:<8} memory {size:>5} B (sender/receiver B per message): {text}")
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
    print_verdicts(results, args)


def print_verdicts(results: Results, args: argparse.Namespace) -> None:
    def rate(impl: str, size: int) -> float:
        return median([s.rate for s in results.samples.get((impl, "alo", size), [])])

    if "alo" not in args.modes or "ours" not in args.impls or not results.samples:
        return
    if "original" in args.impls:
        parts = []
        met: bool | None = True
        for size in TARGET_SIZES:
            if size not in args.sizes:
                met = None
                continue
            value = ratio(rate("ours", size), rate("original", size))
            parts.append(f"{value:.2f}x at {size_text(size)}")
            if value != value:
                met = None
            elif value < TARGET_RATIO and met is not None:
                met = False
        verdict = {True: "met", False: "NOT met", None: "unknown"}[met]
        print(
            f"Target ours >= {TARGET_RATIO:.1f}x the original, at-least-once, 32 B and 1 KiB: "
            f"{verdict} ({', '.join(parts) or 'not measured'})"
        )
    if 32 in args.sizes:
        value = rate("ours", 32)
        verdict = "unknown" if value != value else "met" if value >= TARGET_RATE else "NOT met"
        print(
            f"Target ours >= {TARGET_RATE:,} msg/s at 32 B at-least-once: {verdict} "
            f"({value:,.0f} msg/s)"
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Our Messenger vs the original (Proton 0.17) and raw Proton, on loopback.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--messages", "-n", type=int, help="messages per run (default 100000)")
    parser.add_argument(
        "--big-messages",
        type=int,
        help="messages per run for bodies of 64 KiB or more (default: --messages / 10)",
    )
    parser.add_argument("--reps", "-r", type=int, help="repetitions per case (default 5)")
    parser.add_argument("--quick", action="store_true", help="20,000 messages, 3 repetitions")
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[32, 1024, 65536], help="body sizes in bytes"
    )
    parser.add_argument(
        "--modes", nargs="+", choices=sorted(MODES), default=["alo", "amo"], help="delivery modes"
    )
    parser.add_argument(
        "--only", dest="impls", nargs="+", choices=IMPLS, default=list(IMPLS), help="which sides"
    )
    parser.add_argument(
        "--before",
        metavar="REF",
        help="also run ours as of git revision REF (e.g. a commit before a change), interleaved",
    )
    parser.add_argument(
        "--original",
        metavar="PATH",
        help="the run-original script (default: $MSGR_BENCH_ORIGINAL, else "
        "../shared/oracle/run-original beside the repository)",
    )
    parser.add_argument("--batch", type=int, default=256, help="Messenger sender: puts per I/O")
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
        "--recv-credit",
        type=int,
        metavar="N",
        help="Messenger receiver: recv(N), explicit credit, instead of recv() (automatic: "
        "1,024 a link, topped up below 20 %%)",
    )
    parser.add_argument(
        "--no-memory", action="store_true", help="skip the memory-per-message-in-flight runs"
    )
    parser.add_argument(
        "--memory-only", action="store_true", help="only the memory runs (no throughput)"
    )
    parser.add_argument(
        "--hold", type=int, default=20_000, help="memory runs: messages held (default 20000)"
    )
    parser.add_argument(
        "--hold-bytes",
        type=int,
        default=64 << 20,
        help="memory runs: at most this many body bytes held (default 64 MiB)",
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
    if args.big_messages is None:
        args.big_messages = max(1, args.messages // 10)
    if args.reps is None:
        args.reps = 3 if args.quick else 5
    if args.messages < 1 or args.reps < 1 or args.batch < 1 or args.big_messages < 1:
        parser.error("--messages, --big-messages, --reps and --batch must be at least 1")
    args.impls = [impl for impl in IMPLS if impl in args.impls]
    measure_memory = not args.no_memory and bool({"original", "before", "ours"} & set(args.impls))
    args.memory_sizes = list(args.sizes) if measure_memory else []
    for folder in (args.py_spy, args.cprofile):
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
    if args.py_spy:
        args.py_spy_bin = shutil.which("py-spy")
        if args.py_spy_bin is None:
            parser.error("--py-spy needs the py-spy program (pip install py-spy)")
    return args


def run_all(args: argparse.Namespace, results: Results) -> None:
    impls = args.impls
    for rep in range(1, 0 if args.memory_only else args.reps + 1):
        # Rotate the order of the implementations from one repetition to the next.
        shift = (rep - 1) % len(impls)
        order = impls[shift:] + impls[:shift]
        for size in args.sizes:
            for mode in args.modes:
                for impl in order:
                    case = Case(impl, mode, size)
                    label = f"rep {rep}/{args.reps} {impl:<8} {mode} {size:>5} B"
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
                    load = (
                        "" if sample.other_load is None else f", other load {sample.other_load:.2f}"
                    )
                    print(
                        f"{sample.rate:>9,.0f} msg/s ({sample.seconds:.2f} s; cpu us/msg "
                        f"{sample.sender_cpu_us:.1f} / {sample.receiver_cpu_us:.1f}{load})",
                        flush=True,
                    )
    mem_impls = [impl for impl in ("original", "before", "ours") if impl in impls]
    # Memory is barely moved by load: at most 3 repetitions.
    for rep in range(1, min(args.reps, 3) + 1):
        for size in args.memory_sizes:
            for impl in mem_impls if rep % 2 else mem_impls[::-1]:
                count = hold_counts(size, args)[1]
                label = f"memory {rep} {impl:<8} {size:>5} B, {count:,} held"
                print(f"{label} ...", end=" ", flush=True)
                try:
                    mem = run_hold(impl, size, rep, args)
                except RunFailed as error:
                    print("FAILED")
                    print(f"  {error}", file=sys.stderr)
                    results.failures.append(f"{label}: {error}")
                    continue
                results.memory.setdefault((impl, size), []).append(mem)
                print(
                    f"sender {mem.sender_bytes:,.0f} B, receiver {mem.receiver_bytes:,.0f} B "
                    "per message",
                    flush=True,
                )


def stop_on_sigterm(signum: int, frame: Any) -> None:
    """SIGTERM ends the run as Ctrl-C does: the summary so far, and the clean-up."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    args.original_info = None
    args.before_dir = None
    before_tmp = None
    if args.before:
        before_tmp = tempfile.TemporaryDirectory(prefix="msgr-bench-before-")
        try:
            args.before_dir = extract_revision(args.before, Path(before_tmp.name))
        except RunFailed as error:
            before_tmp.cleanup()
            print(f"--before {args.before}: {error}", file=sys.stderr)
            return 2
        args.impls = [impl for impl in IMPLS if impl in args.impls or impl == "before"]
    else:
        args.impls = [impl for impl in args.impls if impl != "before"]
    if "original" in args.impls:
        try:
            args.original_info = locate_original(args.original)
        except OriginalUnavailable as error:
            print(f"The original Messenger is not available, left out: {error}", file=sys.stderr)
            args.impls = [impl for impl in args.impls if impl != "original"]
            if not args.impls:
                return 1
    try:
        return measure(args)
    finally:
        if args.original_info is not None:
            args.original_info.close()
        if before_tmp is not None:
            before_tmp.cleanup()


def extract_revision(revision: str, into: Path) -> Path:
    """``git archive REVISION`` of this repository unpacked in ``into``; its root."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", revision],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        raise RunFailed(archive.stderr.decode(errors="replace").strip() or "git archive failed")
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    if not (into / "msgr_tui" / "messenger").is_dir():
        raise RunFailed(f"{revision} has no msgr_tui/messenger")
    # This run's script, so that only the library differs (it imports the
    # msgr_tui beside it).
    (into / "bench").mkdir(exist_ok=True)
    shutil.copy2(OLDAPI_PEERS, into / "bench" / "oldapi_peers.py")
    return into


def measure(args: argparse.Namespace) -> int:
    info = machine_info()
    load_before = loadavg()
    print("Our Messenger vs the original and raw Proton, loopback, 2 processes per run")
    for key, value in info.items():
        print(f"  {key:<19} {value}")
    print(f"  {'load average':<19} {load_before}")
    if args.original_info is not None:
        print(f"  {'original':<19} {args.original_info.describe()}")
    if args.before_dir is not None:
        print(f"  {'before':<19} ours as of {args.before} (git archive in {args.before_dir})")
    print(
        f"  {'ours, original':<19} the same script, bench/oldapi_peers.py, "
        "but for its import of Messenger and Message"
    )
    print(
        f"  {'raw':<19} python-qpid-proton's Container + MessagingHandler "
        "(bench/throughput_peers.py)"
    )
    print(
        f"  repetitions {args.reps}, Messenger batch {args.batch}, outgoing_window "
        f"{args.outgoing_window}, incoming_window {args.incoming_window} (at-least-once), "
        + (f"recv({args.recv_credit})" if args.recv_credit else "recv()")
    )
    print()
    results = Results()
    try:
        run_all(args, results)
    except KeyboardInterrupt:
        print("\ninterrupted: summary of the runs so far", file=sys.stderr)
    encoded = {
        (key[0], key[2]): samples[0].encoded
        for key, samples in results.samples.items()
        if samples and samples[0].encoded
    }
    if encoded:
        print()
        print("Encoded message sizes (the Messenger's messages carry their address):")
        for size in args.sizes:
            text = ", ".join(
                f"{impl} {encoded[(impl, size)]} B"
                for impl in ("original", "ours")
                if (impl, size) in encoded
            )
            if text:
                print(f"  body {size_text(size)}: {text}")
    print_table(results, args, load_before)
    if args.json:
        data = {
            "machine": info,
            "original": None if args.original_info is None else args.original_info.describe(),
            "args": {
                k: str(v) if isinstance(v, Path) else v
                for k, v in vars(args).items()
                if k not in ("py_spy_bin", "original_info")
            },
            "samples": [
                {"impl": k[0], "mode": k[1], "size": k[2], **vars(sample)}
                for k, samples in results.samples.items()
                for sample in samples
            ],
            "memory": [
                {"impl": k[0], "size": k[1], **vars(mem)}
                for k, mems in results.memory.items()
                for mem in mems
            ],
            "failures": results.failures,
        }
        Path(args.json).write_text(json.dumps(data, indent=2))
    if results.failures:
        print(f"\n{len(results.failures)} run(s) failed:", file=sys.stderr)
        for failure in results.failures:
            print(f"  {failure.splitlines()[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
