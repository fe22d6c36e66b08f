"""Move messages from SOURCE to DEST, at least once: no message is lost, whenever it stops.

Each message is taken from SOURCE without settling it, copied byte for byte
to DEST, and accepted at SOURCE only once DEST has ACCEPTED the copy. A copy
that DEST rejects, releases, modifies or never gets (its connection fails)
gives the original back to SOURCE (released). At most --window messages are
between the two at any time. With --copy every original goes back to SOURCE
at the end (held until then, so SOURCE does not hand the same one out again).
SOURCE may be a ``~`` listener: peers then send to the move, each sender
learning its message ACCEPTED only once DEST has accepted the copy.

Exit code 0 when every message taken was moved (and --count, if given, was
reached), 1 when some copy was refused or --count was not reached before
--timeout, 2 for bad arguments, 3 when a connection or link failed, 130/143
on Ctrl-C/SIGTERM.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import dataclass, field

from ..formatting import count_of
from ..hints import explained
from ..messenger import (
    ACCEPTED,
    PENDING,
    Interrupt,
    Messenger,
    MessengerException,
    Timeout,
)
from ..messenger.address import AddressError, parse_address
from ..messenger.events import FailureReported, MessengerEvent
from ..messenger.failures import Failure
from .common import (
    EXIT_FAILED,
    EXIT_INCOMPLETE,
    EXIT_OK,
    CommandError,
    StopSignals,
    add_retry_argument,
    bad_address,
    configured_messenger,
    load_settings,
    positive,
    positive_seconds,
    report,
    report_retry,
    retry_wanted,
    shown,
    stop_quietly,
)
from .progress import Progress, rate

# Messages between SOURCE and DEST at once, by default: enough to keep both busy.
DEFAULT_WINDOW = 1024
DEFAULT_IDLE = 5.0
# The Messenger's windows are this much wider than the in-flight cap, so that no
# tracker of a message still in flight can fall out of them (and be settled).
WINDOW_SLACK = 4
# --copy holds every original until the end; without --count, at most this many.
COPY_LIMIT = 100_000
# How often a wait wakes up to redraw progress and look at the clock.
TICK = 0.1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "source",
        metavar="SOURCE",
        help="where the messages are, e.g. amqp://h/a, or amqp://~host:port to listen "
        "there (peers send to the move, which hands each message on to DEST)",
    )
    parser.add_argument("dest", metavar="DEST", help="where they go, e.g. amqp://h/b")
    parser.add_argument("--copy", action="store_true", help="copy: leave every original at SOURCE")
    parser.add_argument("--count", type=positive, metavar="N", help="stop after N messages")
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        default=DEFAULT_IDLE,
        metavar="S",
        help=f"stop when nothing arrives for S seconds (default {DEFAULT_IDLE:g})",
    )
    parser.add_argument(
        "--window",
        type=positive,
        default=DEFAULT_WINDOW,
        metavar="N",
        help=f"messages in flight between SOURCE and DEST at most (default {DEFAULT_WINDOW})",
    )
    parser.add_argument(
        "--no-durable-target",
        dest="durable_target",
        action="store_false",
        help="do not ask DEST for a durable target (a queue RabbitMQ creates is then not durable)",
    )
    add_retry_argument(parser)


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args)
        source_listens = _listens("source", args.source)
        if _listens("destination", args.dest):
            # Copies go to a node; a listener is only where peers send to.
            raise CommandError(f"destination {args.dest!r}: move needs a node, not a listener", 2)
    except CommandError as error:
        report("move", str(error))
        return error.code
    messenger = configured_messenger(settings, retry=retry_wanted(args, settings))
    messenger.durable_targets = args.durable_target
    mover = Mover(
        messenger,
        # A listener is where peers send to: it has no credentials to add.
        source=args.source if source_listens else settings.with_credentials(args.source),
        dest=settings.with_credentials(args.dest),
        copy=args.copy,
        count=args.count,
        window=min(args.window, args.count or args.window),
        idle_timeout=args.timeout,
        progress=Progress(sys.stderr, enabled=sys.stderr.isatty()),
        stall_timeout=settings.timeout,
    )
    signals = StopSignals(messenger)
    failure: str | None = None
    try:
        with signals.installed():
            try:
                mover.move_all(signals)
            except (MessengerException, CommandError) as error:
                # A failure the Messenger reported says more than the error it
                # caused ("no valid sources" when SOURCE's connection failed).
                failure = explained(mover.failure) if mover.failure is not None else str(error)
            finally:
                mover.finish()
                stop_quietly(messenger)
    except KeyboardInterrupt:  # a second Ctrl-C while closing
        failure = failure or "interrupted"
    if failure is None and mover.failure is not None:
        failure = explained(mover.failure)
    print(mover.summary(shown(args.source), shown(args.dest)), flush=True)
    if failure:
        report("move", failure)
    if signals.requested:
        return signals.exit_code
    if failure:
        return EXIT_FAILED
    return EXIT_OK if mover.complete else EXIT_INCOMPLETE


def _listens(what: str, address: str) -> bool:
    """Whether ``address`` is a ``~`` listener; a usage error when it does not parse."""
    try:
        return parse_address(address).listen
    except AddressError as error:
        raise bad_address(what, address, error) from None


@dataclass
class Mover:
    """The hand-over: originals held unsettled at SOURCE until their copies are answered."""

    messenger: Messenger
    source: str
    dest: str
    copy: bool
    count: int | None
    window: int
    idle_timeout: float
    progress: Progress
    # Copies waiting this long with no answer end the run (None: wait forever).
    stall_timeout: float | None = None
    taken: int = 0
    moved: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    failure: Failure | None = None
    timed_out: bool = False
    # Copy tracker -> original tracker, for copies not answered yet.
    in_flight: dict[int, int] = field(default_factory=dict)
    # --copy: originals copied, held until the end.
    held: list[int] = field(default_factory=list)
    _last_original: int = -1
    _last_copy: int = -1
    # When the last copy was answered: the rate does not count the idle wait.
    _last_answer_at: float = 0.0

    def __post_init__(self) -> None:
        messenger = self.messenger
        # Every original stays undecided until its copy is answered (in copy
        # mode until the end): it must never fall out of the incoming window,
        # where it would be accepted for us. _room() keeps that true.
        held = (self.count or COPY_LIMIT) if self.copy else self.window
        messenger.incoming_window = held * WINDOW_SLACK
        messenger.outgoing_window = self.window * WINDOW_SLACK
        messenger.on_event = self._on_event

    @property
    def complete(self) -> bool:
        finished = self.count is None or self.moved == self.count
        return finished and not self.refused and not self.in_flight

    def _on_event(self, event: MessengerEvent) -> None:
        report_retry("move", event)
        if isinstance(event, FailureReported) and self.failure is None:
            self.failure = event.failure
            self.messenger.interrupt()

    def move_all(self, signals: StopSignals) -> None:
        messenger = self.messenger
        try:
            subscription = messenger.subscribe(self.source)
        except MessengerException as error:
            raise CommandError(f"{shown(self.source)}: {error}") from None
        if subscription.listening:
            # As recv says it: where the peers that send to the move connect.
            report("move", f"listening on {subscription.connect_address}")
        messenger.timeout = TICK
        last_arrival = self.progress.elapsed()
        while not signals.requested and self.failure is None:
            if self._done_taking() and not self.in_flight:
                return
            wanted = self._wanted()
            try:
                if wanted > 0:
                    messenger.recv(wanted)
                else:
                    messenger.work(TICK)
            except (Timeout, Interrupt):
                pass
            if self._take():
                last_arrival = self.progress.elapsed()
            self._settle_answered()
            self._check_stall(last_arrival)
            idle = self.progress.elapsed() - last_arrival
            if not self.in_flight and not messenger.incoming and idle >= self.idle_timeout:
                self.timed_out = True
                return
            self.progress.update(self.moved, "moved", self.count)

    def _check_stall(self, last_copy_at: float) -> None:
        if self.stall_timeout is None or not self.in_flight:
            return
        if self.messenger.retries:
            # A connection is down and will be made again: the clock starts then.
            self._last_answer_at = self.progress.elapsed()
            return
        waited = self.progress.elapsed() - max(self._last_answer_at, last_copy_at)
        if waited > self.stall_timeout:
            raise CommandError(
                f"{shown(self.dest)}: no answer for {self.stall_timeout:g} s "
                f"({len(self.in_flight)} copies waiting; their originals go back to the source)"
            )

    def _done_taking(self) -> bool:
        """--count reached, the --copy limit reached, or DEST refused a copy."""
        if self.refused:
            return True
        if self.count is not None and self.taken >= self.count:
            return True
        return self.copy and self.taken >= self._held_limit()

    def _wanted(self) -> int:
        """Credit to ask SOURCE for: the room left in the window, never past --count."""
        if self._done_taking():
            return 0
        room = self.window - len(self.in_flight) - self.messenger.incoming
        if self.count is not None:
            room = min(room, self.count - self.taken - self.messenger.incoming)
        return max(room, 0)

    def _held_limit(self) -> int:
        return self.count or COPY_LIMIT

    def _room(self) -> int:
        """How many more originals can be taken and copied now."""
        if self._done_taking():
            return 0
        room = self.window - len(self.in_flight)
        if self.count is not None:
            room = min(room, self.count - self.taken)
        if self.copy:
            room = min(room, self._held_limit() - self.taken)
        in_flight = self.in_flight
        if in_flight:
            # The oldest copy and original still waiting must stay in their
            # windows (trackers count up by one a message).
            oldest_copy, oldest_original = next(iter(in_flight.items()))
            messenger = self.messenger
            room = min(
                room,
                messenger.outgoing_window - (self._last_copy - oldest_copy + 1),
                messenger.incoming_window - (self._last_original - oldest_original + 1),
            )
        return max(room, 0)

    def _take(self) -> int:
        """Copy every original that arrived, as far as there is room, in one go.

        No I/O here: the next recv or work writes the copies out together
        (and reads their answers), one round for the batch.
        """
        messenger = self.messenger
        taken = min(messenger.incoming, self._room())
        if taken <= 0:
            return 0
        get_encoded, put_encoded = messenger.get_encoded, messenger.put_encoded
        in_flight, dest = self.in_flight, self.dest
        original = copy = -1
        for _ in range(taken):
            original, data = get_encoded()
            copy = put_encoded(data, dest)
            in_flight[copy] = original
        self._last_original, self._last_copy = original, copy
        self.taken += taken
        return taken

    def _settle_answered(self, *, every_one: bool = False) -> None:
        """Settle the originals of the answered copies, oldest first.

        Stops at the oldest copy still unanswered (peers answer in order, and
        looking past it would read every status of the window each round)
        unless ``every_one``: at the end, none answered may be left behind.
        """
        messenger = self.messenger
        answered = []
        for copy, original in self.in_flight.items():
            status = messenger.status(copy)
            if status is PENDING:
                if every_one:
                    continue
                break
            answered.append((copy, original, status))
        if answered:
            self._last_answer_at = self.progress.elapsed()
        for copy, original, status in answered:
            del self.in_flight[copy]
            if status is ACCEPTED:
                self.moved += 1
                if self.copy:
                    self.held.append(original)
                else:
                    messenger.accept(original)
            else:
                # DEST said no: the original goes back, and the move stops taking
                # more (SOURCE would hand the same message out again at once).
                name = status.name.lower() if status is not None else "unknown"
                self.refused[name] += 1
                messenger.release(original)

    def finish(self) -> None:
        """Give back what is not moved (copy mode: every original), stop the clock."""
        self._settle_answered(every_one=True)
        messenger = self.messenger
        for original in self.held:
            messenger.release(original)
        # Copies still unanswered: their originals go back too (a copy that
        # arrives anyway is the one duplicate a move can make).
        for original in self.in_flight.values():
            messenger.release(original)
        self.progress.clear()

    def summary(self, source: str, dest: str) -> str:
        verb = "copied" if self.copy else "moved"
        lines = [f"{verb:<9}{self.moved:>10}"]
        for name, count in sorted(self.refused.items()):
            lines.append(f"{name:<9}{count:>10}  (given back to the source)")
        if self.in_flight:
            lines.append(f"{'unanswered':<9}{len(self.in_flight):>10}  (given back to the source)")
        seconds = self._last_answer_at
        lines.append(
            f"{self.moved} of {count_of(self.taken, 'message')} {verb} from {source} to {dest} in "
            f"{seconds:.3f} s: {rate(self.moved, seconds):.0f} msg/s"
        )
        return "\n".join(lines)
