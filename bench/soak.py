"""Soak: do memory and file descriptors stay flat over many messages and failures?

Drives ``msgr_tui.messenger`` through its public API, on loopback (127.0.0.1,
ephemeral ports) only, in three parts, and prints the resident set size (RSS,
``VmRSS`` of ``/proc/PID/status``) and the number of open file descriptors
(the entries of ``/proc/PID/fd``) at intervals. ``gc.collect()`` runs in this
process before each of its samples.

messages
    A receiver child process (``soak.py --role receiver``: a Messenger
    listening on ``amqp://~127.0.0.1:0``, ``incoming_window`` 1024,
    ``recv(-1)``, ``get`` into a ``Message``, ``accept()`` after each drained
    batch) and a sender Messenger here, at least once: ``outgoing_window``
    1024, one round of I/O every 256 ``put`` s, every tracker's status checked
    (ACCEPTED), never more than the window unanswered. Every ``--messages``/20
    messages the sender waits until everything is answered and samples itself
    and the receiver (read from the child's ``/proc`` entries).

reconnects
    ``--failures`` connection failures, each followed by a reconnection by
    retry mode. The sender Messenger has ``retry = True``,
    ``retry_max_delay = 1`` and ``outgoing_window = --reconnect-window`` (64);
    the peer is a listener Messenger in a process forked from a helper child
    (``soak.py --role listeners``, which has imported the library once, so a
    peer starts in milliseconds, not the 0.4 s of a new interpreter). Each
    cycle SIGKILLs the peer (idle, or, every other cycle, with 5 messages just
    written and perhaps unanswered), puts 5 more messages, works until
    ``messenger.retries`` shows the address waiting to reconnect, starts a new
    peer on the SAME port, and ``send()`` s until every message of the cycle
    is ACCEPTED. The peers report the sequence number of every message they
    receive: all must arrive, at least once (a killed peer may have received a
    message it could not accept, so duplicates are expected). Sampled every 50
    cycles. A tracker kept in the outgoing window keeps the engine state of
    the connection it was sent on (dead ones included) until it leaves the
    window, so RSS climbs until the window holds only trackers of dead
    connections, then stays flat: with the window of 64 that is within the
    warm-up; with ``--reconnect-window 1024`` it takes about 150 cycles and
    some 4.5 MiB (about 30 KiB per dead connection). The library also
    remembers the container-ids of the last 1,024 peers that went away (every
    new peer has a new one), a few hundred bytes each: up to about 0.5 MiB
    over the first 1,024 cycles.

refusals
    ``--failures`` connections refused without retry: a plain Messenger puts
    one message to a port that is bound but not listening and ``send()`` s;
    the message must come back ABORTED. Sampled every 50 cycles.

Each part's baseline is taken after a warm-up (the first 5 % of the messages,
the first 10 cycles); the summary gives, per process and part, RSS at the
baseline, its maximum and its end, the growth, and the descriptors at the
baseline and at the end, with a "flat" / "NOT flat" verdict (RSS within
``--rss-tolerance`` MiB of the baseline, descriptors exactly equal); and for
this process the descriptors before the first Messenger was created and after
the last one was stopped and dropped. The verdicts are figures: the script
exits 0 whatever they say, and 1 only when a message was lost or came back
with a wrong status, or a part could not run.

Usage::

    python3 bench/soak.py                  # 1,000,000 messages, 1,000 failures (~2 min)
    python3 bench/soak.py --quick          # 100,000 messages, 100 failures
    python3 bench/soak.py --parts reconnects --failures 200
    python3 bench/soak.py --quick --tracemalloc   # where this process's memory went
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import tracemalloc
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from msgr_tui.messenger import Messenger
    from msgr_tui.messenger.events import MessengerEvent

HERE = Path(__file__).resolve()
REPO = HERE.parent.parent
PARTS = ("messages", "reconnects", "refusals")
BATCH = 256
OUTGOING_WINDOW = 1024
RECONNECT_WINDOW = 64
INCOMING_WINDOW = 1024
PER_CYCLE = 5
MIB = 1024 * 1024


class SoakFailed(Exception):
    """A part could not run to its end (a child died, a call timed out)."""


def _library() -> None:
    """Make ``import msgr_tui`` find this checkout."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))


# --------------------------------------------------------------- measuring


def rss_bytes(pid: int | str = "self") -> int:
    """VmRSS of a process, in bytes."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise SoakFailed(f"no VmRSS in /proc/{pid}/status")


def fd_count(pid: int | str = "self") -> int:
    """Open descriptors of a process (for ``self``, including the one listdir uses)."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def mib(value: float) -> str:
    return f"{value / MIB:.2f} MiB"


@dataclass
class Sample:
    at: int
    rss: int
    fds: int


@dataclass
class Series:
    """The samples of one process during one part; the baseline is the first at or after warm-up."""

    process: str
    part: str
    warmup: int
    samples: list[Sample] = field(default_factory=list)

    def add(self, at: int, rss: int, fds: int) -> Sample:
        sample = Sample(at, rss, fds)
        self.samples.append(sample)
        return sample

    @property
    def measured(self) -> list[Sample]:
        return [sample for sample in self.samples if sample.at >= self.warmup]

    def summary(self, tolerance: float) -> tuple[str, bool] | None:
        measured = self.measured
        if len(measured) < 2:
            return None
        base, end = measured[0], measured[-1]
        top = max(sample.rss for sample in measured)
        growth = end.rss - base.rss
        rss_flat = top - base.rss <= tolerance * MIB
        fds_flat = end.fds == base.fds
        flat = rss_flat and fds_flat
        text = (
            f"{self.part:<10} {self.process:<9} RSS at {base.at:,}: {mib(base.rss)}, "
            f"max {mib(top)}, end {mib(end.rss)}, growth {growth / MIB:+.2f} MiB "
            f"({'within' if rss_flat else 'OVER'} {tolerance:g} MiB); "
            f"fds {base.fds} -> {end.fds} ({'equal' if fds_flat else 'DIFFERENT'}): "
            f"{'flat' if flat else 'NOT flat'}"
        )
        return text, flat


class Sampler:
    """Samples this process (after gc.collect) and optionally a peer; prints one line."""

    def __init__(self, part: str, warmup: int, unit: str, peer: str | None = None) -> None:
        self.unit = unit
        self.mine = Series("sender", part, warmup)
        self.peer = Series(peer, part, warmup) if peer else None
        self.started = time.monotonic()
        self.last_time = self.started
        self.last_at = 0
        self.snapshot: tracemalloc.Snapshot | None = None
        self.latest: tracemalloc.Snapshot | None = None

    def sample(self, at: int, peer_pid: int | None = None, note: str = "") -> None:
        gc.collect()
        mine = self.mine.add(at, rss_bytes(), fd_count())
        if tracemalloc.is_tracing() and at >= self.mine.warmup:
            if self.snapshot is None:
                self.snapshot = tracemalloc.take_snapshot()
            else:
                self.latest = tracemalloc.take_snapshot()
        text = f"  {self.unit} {at:>9,}  this process RSS {mib(mine.rss):>11} fds {mine.fds:>3}"
        if self.peer is not None and peer_pid is not None:
            peer = self.peer.add(at, rss_bytes(peer_pid), fd_count(peer_pid))
            text += f" | {self.peer.process} RSS {mib(peer.rss):>11} fds {peer.fds:>3}"
        now = time.monotonic()
        if at > self.last_at and now > self.last_time:
            text += f" | {(at - self.last_at) / (now - self.last_time):>8,.0f} {self.unit}/s"
        if at == self.mine.warmup:
            text += "  <- baseline"
        print(text + note, flush=True)
        self.last_time, self.last_at = now, at

    def series(self) -> list[Series]:
        return [self.mine] + ([self.peer] if self.peer is not None else [])

    def memory_report(self) -> None:
        """With --tracemalloc: where traced memory grew from the baseline to the last sample."""
        if self.snapshot is None or self.latest is None:
            return
        after = self.latest
        keep = [
            tracemalloc.Filter(False, tracemalloc.__file__),
            tracemalloc.Filter(False, __file__),
        ]
        stats = after.filter_traces(keep).compare_to(self.snapshot.filter_traces(keep), "lineno")
        total = sum(stat.size_diff for stat in stats)
        print(
            f"  tracemalloc, {self.mine.part}: {total / 1024:+.1f} KiB traced from the baseline "
            "to the last sample; largest changes:"
        )
        for stat in stats[:8]:
            frame = stat.traceback[0]
            print(
                f"    {stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d} blocks  "
                f"{frame.filename}:{frame.lineno}"
            )
        self.snapshot = self.latest = None


class FailureLog(logging.Handler):
    """Counts the library's failure warnings instead of printing a thousand of them."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0
        self.first: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if self.first is None:
            self.first = record.getMessage()

    def take(self) -> tuple[int, str | None]:
        count, first = self.count, self.first
        self.count, self.first = 0, None
        return count, first


# ---------------------------------------------------------- child processes


class Child:
    """A child process whose stdout lines a thread reads into a queue."""

    def __init__(self, name: str, role: str) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE), "--role", role],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=str(REPO),
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def tell(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def expect(
        self, word: str, timeout: float, other: Callable[[list[str]], None] | None = None
    ) -> list[str]:
        """The fields of the next line starting with ``word``; ``other`` sees the rest."""
        return self.expect_any((word,), timeout, other)[1]

    def expect_any(
        self,
        words: tuple[str, ...],
        timeout: float,
        other: Callable[[list[str]], None] | None = None,
    ) -> tuple[str, list[str]]:
        """The first word and the fields of the next line starting with one of ``words``."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SoakFailed(f"{self.name}: no {'/'.join(words)} line within {timeout:g} s")
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                code = self.proc.wait()
                raise SoakFailed(f"{self.name} exited (code {code}) before {'/'.join(words)}")
            fields = line.split()
            if not fields:
                continue
            if fields[0] in words:
                return fields[0], fields[1:]
            if fields[0] == "error":
                raise SoakFailed(f"{self.name}: {line}")
            if other is not None:
                other(fields)

    def finish(self, timeout: float = 30.0) -> int:
        """Close its stdin and reap it; terminate, then kill, this pid only if it hangs."""
        with contextlib.suppress(OSError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            try:
                code = self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                code = self.proc.wait(timeout=5)
        self.reader.join(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return code


def role_receiver() -> None:
    """Listen on an ephemeral port, print it, receive and accept until stdin closes."""
    _library()
    from msgr_tui.messenger import Interrupt, Message, Messenger, Timeout

    messenger = Messenger()
    messenger.incoming_window = INCOMING_WINDOW
    messenger.start()
    subscription = messenger.subscribe("amqp://~127.0.0.1:0")
    stopping = threading.Event()

    def watch_stdin() -> None:
        sys.stdin.readline()  # a line, or the end of the input: stop
        stopping.set()
        messenger.interrupt()

    threading.Thread(target=watch_stdin, daemon=True).start()
    print(f"listening {subscription.port}", flush=True)
    message = Message()
    received = 0
    recv, get, accept = messenger.recv, messenger.get, messenger.accept
    while not stopping.is_set():
        try:
            recv(-1)
        except Interrupt:
            break
        while messenger.incoming:
            get(message)
            received += 1
        accept()
    messenger.timeout = 10
    with contextlib.suppress(Timeout, Interrupt):
        messenger.stop()
    print(f"received {received}", flush=True)


def role_listeners() -> None:
    """Fork listener peers on request: ``spawn PORT``, ``kill PID``; stdin EOF ends all.

    A peer listens on 127.0.0.1:PORT (0: any), writes ``ready PID PORT``, then
    ``got N N ...`` (the integer bodies) for every batch it receives, and
    accepts the batch. It runs until killed (or until this process is gone).
    """
    _library()
    import msgr_tui.messenger  # noqa: F401  (imported once, before forking)

    children: set[int] = set()

    def write(text: str) -> None:
        os.write(1, (text + "\n").encode())

    def reap() -> None:
        for pid in list(children):
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                children.discard(pid)

    write("helper ready")
    for line in sys.stdin:
        command, argument = line.split()
        reap()
        if command == "spawn":
            parent = os.getpid()
            pid = os.fork()
            if pid == 0:
                code = 0
                try:
                    _listen(int(argument), parent, write)
                except BaseException as error:
                    write(f"error peer {os.getpid()}: {type(error).__name__}: {error}")
                    code = 1
                finally:
                    os._exit(code)
            children.add(pid)
        elif command == "kill":
            pid = int(argument)
            if pid in children:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                children.discard(pid)
            write(f"killed {pid}")
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def _listen(port: int, parent: int, write: Callable[[str], None]) -> None:
    """One forked peer (see ``role_listeners``)."""
    from msgr_tui.messenger import Message, Messenger, MessengerException, Timeout

    messenger = Messenger()
    messenger.incoming_window = INCOMING_WINDOW
    messenger.timeout = 1.0
    messenger.start()
    try:
        subscription = messenger.subscribe(f"amqp://~127.0.0.1:{port}")
    except MessengerException as error:
        write(f"refused {os.getpid()} {error}")
        return
    write(f"ready {os.getpid()} {subscription.port}")
    message = Message()
    while True:
        try:
            messenger.recv(-1)
        except Timeout:
            if os.getppid() != parent:
                return  # the helper is gone: do not linger
            continue
        bodies = []
        while messenger.incoming:
            messenger.get(message)
            bodies.append(str(message.body))
        write("got " + " ".join(bodies))
        messenger.accept()


# -------------------------------------------------------------- the parts


@dataclass
class Outcome:
    name: str
    series: list[Series]
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def fds_note(self, before: int, after: int) -> None:
        self.notes.append(
            f"this process's fds: {before} before the Messenger was created, {after} after "
            f"it was stopped and dropped ({'equal' if before == after else 'DIFFERENT'})"
        )


def _stop_quietly(messenger: Messenger) -> None:
    """Stop after an error, without letting a second error hide the first."""
    messenger.timeout = 5
    with contextlib.suppress(Exception):
        messenger.stop()


def _sample_now(cycle: int, every: int, warmup: int, last: int) -> bool:
    return cycle % every == 0 or cycle in (warmup, last)


# part 1: messages


def part_messages(args: argparse.Namespace, failures: FailureLog) -> Outcome:
    from msgr_tui.messenger import MessengerException, Timeout

    count = args.messages
    every = max(1, count // 20)
    print(
        f"\n== messages: {count:,} at least once to a receiver process "
        f"(outgoing_window {OUTGOING_WINDOW}, incoming_window {INCOMING_WINDOW}, "
        f"{args.size}-byte bodies); sample every {every:,}",
        flush=True,
    )
    sampler = Sampler("messages", every, "msgs", peer="receiver")
    outcome = Outcome("messages", sampler.series())
    receiver = Child("receiver", "receiver")
    try:
        port = int(receiver.expect("listening", 30)[0])
        gc.collect()
        fds_before = fd_count()
        accepted, wrong = _send_messages(args, port, every, sampler, receiver.proc.pid)
        gc.collect()
        outcome.fds_note(fds_before, fd_count())
        receiver.tell("stop")
        received = int(receiver.expect("received", 30)[0])
        code = receiver.finish()
        outcome.notes.append(
            f"sender: {accepted:,} of {count:,} ACCEPTED; the receiver got {received:,}"
        )
        if accepted < count or wrong:
            outcome.problems.append(f"messages: {count - accepted:,} not ACCEPTED {wrong}")
        if received < count:
            outcome.problems.append(f"messages: the receiver got {received:,} of {count:,}")
        if code != 0:
            outcome.problems.append(f"messages: the receiver exited with code {code}")
    except (SoakFailed, Timeout, MessengerException) as error:
        outcome.problems.append(f"messages: {type(error).__name__}: {error}")
    finally:
        if receiver.proc.poll() is None:
            receiver.finish(10)
    logged, first = failures.take()
    outcome.notes.append(f"library warnings: {logged:,} (first: {first})")
    sampler.memory_report()
    return outcome


def _send_messages(
    args: argparse.Namespace, port: int, every: int, sampler: Sampler, peer: int
) -> tuple[int, dict[str, int]]:
    """Put ``args.messages`` messages at least once; the ACCEPTED count and the other statuses."""
    from msgr_tui.messenger import ACCEPTED, PENDING, Message, Messenger

    count = args.messages
    messenger = Messenger()
    messenger.outgoing_window = OUTGOING_WINDOW
    messenger.timeout = 60
    messenger.start()
    message = Message(address=f"amqp://127.0.0.1:{port}/soak", body=b"x" * args.size)
    put, send, status = messenger.put, messenger.send, messenger.status
    trackers: deque[int] = deque()
    wrong: dict[str, int] = {}
    accepted = 0

    def collect() -> int:
        done = 0
        while trackers:
            state = status(trackers[0])
            if state is PENDING:
                break
            trackers.popleft()
            if state is ACCEPTED:
                done += 1
            else:  # None: it left the window unanswered
                wrong[repr(state)] = wrong.get(repr(state), 0) + 1
        return done

    try:
        sampler.sample(0, peer, "  (before the first message)")
        for index in range(1, count + 1):
            trackers.append(put(message))
            if index % BATCH == 0 or index == count:
                send(BATCH if messenger.outgoing > BATCH else 0)
                accepted += collect()
                # Never more unanswered than the window keeps.
                while len(trackers) > OUTGOING_WINDOW - BATCH:
                    send(BATCH)
                    accepted += collect()
            if index % every == 0 or index == count:
                send()
                accepted += collect()
                sampler.sample(index, peer)
        send()
        accepted += collect()
        if trackers:
            wrong["PENDING after send()"] = len(trackers)
    except BaseException:
        _stop_quietly(messenger)
        raise
    messenger.timeout = 10
    messenger.stop()
    return accepted, wrong


# part 2: connection failures and reconnections


class Peers:
    """The listener helper child, and what its peers report having received."""

    def __init__(self, capacity: int) -> None:
        self.helper = Child("listener helper", "listeners")
        self.seen = bytearray(capacity)
        self.helper_ready = False
        self.busy_port = 0
        self.pid = 0
        self.port = 0

    def got(self, fields: list[str]) -> None:
        if fields[0] != "got":
            return
        seen = self.seen
        for text in fields[1:]:
            number = int(text)
            if seen[number] < 255:
                seen[number] += 1

    def spawn(self, port: int) -> None:
        """Start a peer listening on ``port`` (0: any); a busy port is tried again."""
        if not self.helper_ready:
            self.helper.expect("helper", 30)
            self.helper_ready = True
        fields: list[str] = []
        for _ in range(100):
            self.helper.tell(f"spawn {port}")
            word, fields = self.helper.expect_any(("ready", "refused"), 10, other=self.got)
            if word == "ready":
                self.pid, bound = int(fields[0]), int(fields[1])
                if port and bound != port:
                    raise SoakFailed(f"the new peer listens on port {bound}, not {port}")
                self.port = bound
                return
            self.busy_port += 1
            time.sleep(0.01)
        raise SoakFailed(f"no peer could listen on port {port}: {' '.join(fields)}")

    def kill(self) -> None:
        """SIGKILL the current peer (the helper does it and reaps it)."""
        self.helper.tell(f"kill {self.pid}")
        self.helper.expect("killed", 10, other=self.got)

    def count(self, sent: int) -> tuple[int, int]:
        """Messages 0 .. sent-1 never received, and extra copies received."""
        seen = self.seen
        missing = sum(1 for number in range(sent) if seen[number] == 0)
        twice = sum(seen[number] - 1 for number in range(sent) if seen[number] > 1)
        return missing, twice


@dataclass
class CycleCounts:
    sent: int = 0
    not_accepted: int = 0
    opened: int = 0
    retries: int = 0
    no_retry_seen: int = 0
    durations: list[float] = field(default_factory=list)


def part_reconnects(args: argparse.Namespace, failures: FailureLog) -> Outcome:
    from msgr_tui.messenger import MessengerException, Timeout

    cycles = args.failures
    print(
        f"\n== reconnects: {cycles:,} peers killed with SIGKILL and restarted on the same "
        f"port, retry mode reconnecting; {PER_CYCLE} or {2 * PER_CYCLE} messages a cycle, "
        f"outgoing_window {args.reconnect_window}; sample every {args.every_cycles}",
        flush=True,
    )
    warmup = min(10, cycles)
    sampler = Sampler("reconnects", warmup, "cycles")
    outcome = Outcome("reconnects", sampler.series())
    peers = Peers(PER_CYCLE * 2 * (cycles + 1))
    counts = CycleCounts()
    try:
        peers.spawn(0)
        gc.collect()
        fds_before = fd_count()
        _reconnect_cycles(args, peers, warmup, sampler, counts)
        gc.collect()
        outcome.fds_note(fds_before, fd_count())
        peers.kill()
        code = peers.helper.finish()
        missing, twice = peers.count(counts.sent)
        outcome.notes.append(
            f"{counts.sent:,} messages sent, {counts.sent - missing:,} received "
            f"({missing} missing, {twice} received twice); "
            f"{counts.not_accepted} tracker(s) not ACCEPTED"
        )
        outcome.notes.append(
            f"connections opened {counts.opened:,} (reconnections {counts.opened - 1:,}), "
            f"retries scheduled {counts.retries:,}, cycles in which retry mode was not seen "
            f"waiting {counts.no_retry_seen}, peer restarts that found the port busy "
            f"{peers.busy_port}"
        )
        if counts.durations:
            durations = sorted(counts.durations)
            outcome.notes.append(
                f"cycle time median {durations[len(durations) // 2] * 1000:.0f} ms, "
                f"max {durations[-1] * 1000:.0f} ms"
            )
        if missing or counts.not_accepted:
            outcome.problems.append(
                f"reconnects: {missing} message(s) lost, "
                f"{counts.not_accepted} tracker(s) not ACCEPTED"
            )
        if code != 0:
            outcome.problems.append(f"reconnects: the listener helper exited with code {code}")
    except (SoakFailed, Timeout, MessengerException) as error:
        outcome.problems.append(f"reconnects: {type(error).__name__}: {error}")
    finally:
        if peers.helper.proc.poll() is None:
            peers.helper.finish(10)  # its stdin closes: it kills and reaps its peers
    logged, first = failures.take()
    outcome.notes.append(f"library warnings: {logged:,} (first: {first})")
    sampler.memory_report()
    return outcome


def _reconnect_cycles(
    args: argparse.Namespace, peers: Peers, warmup: int, sampler: Sampler, counts: CycleCounts
) -> None:
    from msgr_tui.messenger import ACCEPTED, Message, Messenger
    from msgr_tui.messenger.events import ConnectionOpened, RetryScheduled

    def on_event(event: MessengerEvent) -> None:
        if isinstance(event, ConnectionOpened) and not event.inbound:
            counts.opened += 1
        elif isinstance(event, RetryScheduled):
            counts.retries += 1

    messenger = Messenger()
    messenger.retry = True
    messenger.retry_max_delay = 1.0
    messenger.outgoing_window = args.reconnect_window
    messenger.timeout = 30
    messenger.on_event = on_event
    messenger.start()
    message = Message(address=f"amqp://127.0.0.1:{peers.port}/soak")

    def put_some() -> list[int]:
        trackers = []
        for _ in range(PER_CYCLE):
            message.body = counts.sent
            counts.sent += 1
            trackers.append(messenger.put(message))
        return trackers

    def check(trackers: list[int]) -> None:
        counts.not_accepted += sum(messenger.status(t) is not ACCEPTED for t in trackers)

    cycles = args.failures
    try:
        trackers = put_some()
        messenger.send()
        check(trackers)
        sampler.sample(0, note="  (connected, before the first failure)")
        for cycle in range(1, cycles + 1):
            began = time.monotonic()
            trackers = []
            if cycle % 2 == 0:
                trackers += put_some()
                messenger.send(0)  # written, perhaps not yet answered
            peers.kill()
            trackers += put_some()
            deadline = time.monotonic() + 10
            while not messenger.retries and time.monotonic() < deadline:
                messenger.work(0.01)
            if not messenger.retries:
                counts.no_retry_seen += 1
            peers.spawn(peers.port)
            messenger.send()
            check(trackers)
            counts.durations.append(time.monotonic() - began)
            if _sample_now(cycle, args.every_cycles, warmup, cycles):
                sampler.sample(cycle)
    except BaseException:
        _stop_quietly(messenger)
        raise
    messenger.timeout = 10
    messenger.stop()
    messenger.on_event = None


# part 3: refused connections


def part_refusals(args: argparse.Namespace, failures: FailureLog) -> Outcome:
    from msgr_tui.messenger import MessengerException, Timeout

    cycles = args.failures
    print(
        f"\n== refusals: {cycles:,} connections refused (no retry), one message each; "
        f"sample every {args.every_cycles}",
        flush=True,
    )
    warmup = min(10, cycles)
    sampler = Sampler("refusals", warmup, "cycles")
    outcome = Outcome("refusals", sampler.series())
    # Bound but not listening: every connection to it is refused, and nobody
    # else can take the port while we hold it.
    closed = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        closed.bind(("127.0.0.1", 0))
        gc.collect()
        fds_before = fd_count()
        aborted, others = _refuse(args, closed.getsockname()[1], warmup, sampler)
        gc.collect()
        outcome.fds_note(fds_before, fd_count())
        outcome.notes.append(
            f"{aborted:,} of {cycles:,} messages ABORTED; other statuses {others or 'none'}"
        )
        if aborted != cycles:
            outcome.problems.append(f"refusals: {cycles - aborted} message(s) not ABORTED")
    except (Timeout, MessengerException) as error:
        outcome.problems.append(f"refusals: {type(error).__name__}: {error}")
    finally:
        closed.close()
    logged, first = failures.take()
    outcome.notes.append(f"library warnings: {logged:,} (first: {first})")
    sampler.memory_report()
    return outcome


def _refuse(
    args: argparse.Namespace, port: int, warmup: int, sampler: Sampler
) -> tuple[int, dict[str, int]]:
    """One message per refused connection; how many came back ABORTED, and the rest."""
    from msgr_tui.messenger import ABORTED, Message, Messenger

    cycles = args.failures
    messenger = Messenger()
    messenger.outgoing_window = 16
    messenger.timeout = 10
    messenger.start()
    message = Message(address=f"amqp://127.0.0.1:{port}/soak")
    aborted = 0
    others: dict[str, int] = {}
    try:
        sampler.sample(0)
        for cycle in range(1, cycles + 1):
            message.body = cycle
            tracker = messenger.put(message)
            messenger.send()
            state = messenger.status(tracker)
            if state is ABORTED:
                aborted += 1
            else:
                others[repr(state)] = others.get(repr(state), 0) + 1
            if _sample_now(cycle, args.every_cycles, warmup, cycles):
                sampler.sample(cycle)
    except BaseException:
        _stop_quietly(messenger)
        raise
    messenger.stop()
    return aborted, others


# ------------------------------------------------------------------ main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Memory and descriptors of the Messenger over many messages and failures.",
    )
    parser.add_argument("--messages", "-n", type=int, help="messages (default 1,000,000)")
    parser.add_argument(
        "--failures", "-f", type=int, help="failure cycles per failure part (default 1,000)"
    )
    parser.add_argument("--quick", action="store_true", help="100,000 messages, 100 failures")
    parser.add_argument(
        "--parts", nargs="+", choices=PARTS, default=list(PARTS), help="which parts to run"
    )
    parser.add_argument("--size", type=int, default=32, help="body bytes of part 1 (32)")
    parser.add_argument(
        "--every-cycles", type=int, default=50, help="sample every N failure cycles (50)"
    )
    parser.add_argument(
        "--reconnect-window",
        type=int,
        default=RECONNECT_WINDOW,
        metavar="N",
        help=f"outgoing_window of the reconnects part ({RECONNECT_WINDOW}; at least "
        f"{2 * PER_CYCLE}, so that every status can be read)",
    )
    parser.add_argument(
        "--rss-tolerance",
        type=float,
        default=4.0,
        metavar="MIB",
        help="RSS growth over the baseline still called flat (4 MiB)",
    )
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="trace this process's Python allocations and print where they grew, per part "
        "(slower; the RSS figures then include tracemalloc's own memory)",
    )
    parser.add_argument("--role", choices=["receiver", "listeners"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.messages is None:
        args.messages = 100_000 if args.quick else 1_000_000
    if args.failures is None:
        args.failures = 100 if args.quick else 1_000
    if args.messages < 20 or args.failures < 1 or args.every_cycles < 1:
        parser.error("--messages must be at least 20, --failures and --every-cycles at least 1")
    if args.reconnect_window < 2 * PER_CYCLE:
        parser.error(f"--reconnect-window must be at least {2 * PER_CYCLE}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.role == "receiver":
        role_receiver()
        return 0
    if args.role == "listeners":
        role_listeners()
        return 0
    _library()
    import proton

    failures = FailureLog()
    library_log = logging.getLogger("msgr_tui.messenger")
    library_log.addHandler(failures)
    library_log.propagate = False
    if args.tracemalloc:
        tracemalloc.start(1)
    gc.collect()
    rss_start, fds_start = rss_bytes(), fd_count()
    print(
        f"Soak of msgr_tui.messenger on loopback: Python {sys.version.split()[0]}, "
        f"python-qpid-proton {'.'.join(map(str, proton.VERSION))}, {os.cpu_count()} CPUs, "
        f"pid {os.getpid()}"
    )
    print(f"This process at start: RSS {mib(rss_start)}, fds {fds_start}")
    runners = {"messages": part_messages, "reconnects": part_reconnects, "refusals": part_refusals}
    outcomes: list[Outcome] = []
    began = time.monotonic()
    try:
        for part in args.parts:
            started = time.monotonic()
            outcome = runners[part](args, failures)
            outcome.notes.append(f"took {time.monotonic() - started:.1f} s")
            outcomes.append(outcome)
    except KeyboardInterrupt:
        print("\ninterrupted: summary of the parts so far", file=sys.stderr)
    gc.collect()
    rss_end, fds_end = rss_bytes(), fd_count()

    print("\n== summary")
    flat_all = True
    for outcome in outcomes:
        for series in outcome.series:
            result = series.summary(args.rss_tolerance)
            if result is None:
                print(f"{outcome.name:<10} {series.process:<9} too few samples after warm-up")
                continue
            text, flat = result
            flat_all = flat_all and flat
            print(text)
    for outcome in outcomes:
        for note in outcome.notes:
            print(f"{outcome.name:<10} {note}")
    fds_equal = fds_end == fds_start
    print(
        f"this process: RSS {mib(rss_start)} at start, {mib(rss_end)} at the end; fds "
        f"{fds_start} at start, {fds_end} at the end "
        f"({'exactly equal' if fds_equal else 'DIFFERENT'}); "
        f"total {time.monotonic() - began:.0f} s"
    )
    print(f"verdict: {'flat' if flat_all and fds_equal else 'NOT flat'}")
    problems = [problem for outcome in outcomes for problem in outcome.problems]
    if problems:
        print("\nCORRECTNESS FAILURES:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
