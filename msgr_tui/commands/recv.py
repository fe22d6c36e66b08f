"""Receive from SOURCE(s) and print each message, one a line ('~host:port' listens there).

Stops after --count messages, after --timeout seconds without a message, or on
Ctrl-C (a clean AMQP close, exit code 130). Messages are settled (accepted by
default) only once their lines are written out.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from ..hints import explained
from ..messagefile import (
    MessageFileError,
    MessageFileWriter,
    SectionError,
    decode_message,
    record_line,
)
from ..messenger import Interrupt, Message, Messenger, MessengerException, Timeout
from ..messenger.address import AddressError, parse_address
from ..messenger.events import FailureReported, MessengerEvent
from ..messenger.failures import Failure
from ..settings import Settings
from .common import (
    EXIT_BROKEN_PIPE,
    EXIT_FAILED,
    EXIT_INCOMPLETE,
    EXIT_OK,
    EXIT_USAGE,
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
from .progress import INTERVAL, Progress
from .rendering import text_line

# Messages taken, printed and settled per round. The incoming window is this
# size, so every message is still undecided when the round settles it.
GET_BATCH = 1024
OUTCOMES = ("accept", "reject", "release")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "sources",
        nargs="+",
        metavar="SOURCE",
        help="amqp://host:port/queue to receive from, or amqp://~host:port to listen there",
    )
    parser.add_argument("--count", type=positive, metavar="N", help="stop after N messages")
    outcome = parser.add_mutually_exclusive_group()
    for name in OUTCOMES:
        outcome.add_argument(
            f"--{name}",
            dest="outcome",
            action="store_const",
            const=name,
            help=f"{name} every message" + (" (the default)" if name == "accept" else ""),
        )
    parser.set_defaults(outcome="accept")
    parser.add_argument(
        "--json",
        action="store_true",
        help="one message a line in the message file format: every section, every type "
        "(see the README); 'msgr-tui send --from' sends such lines again",
    )
    parser.add_argument(
        "--output",
        "-o",
        metavar="FILE",
        help="write the messages to FILE in the message file format (implies --json); "
        "FILE.partial until the run ends, so a file that is there is complete",
    )
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        metavar="S",
        help="stop when nothing arrives for S seconds",
    )
    add_retry_argument(parser)


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args)
    except CommandError as error:
        report("recv", str(error))
        return error.code
    lossless = args.json or args.output is not None
    try:
        out = FileLines(args.output) if args.output is not None else StreamLines(sys.stdout)
    except MessageFileError as error:
        report("recv", f"--output: {error} (nothing was received)")
        return EXIT_USAGE
    messenger = configured_messenger(settings, retry=retry_wanted(args, settings))
    receiver = Receiver(
        messenger,
        out=out,
        take=take_record_line if lossless else take_text_line,
        settle=getattr(messenger, args.outcome),
        count=args.count,
        idle_timeout=args.timeout,
        # Messages on the terminal are their own progress; a line between them would garble it.
        progress=Progress(
            sys.stderr,
            enabled=sys.stderr.isatty() and (args.output is not None or not sys.stdout.isatty()),
        ),
    )
    signals = StopSignals(messenger)
    failure: CommandError | None = None
    try:
        with signals.installed():
            try:
                subscribe_all(messenger, args.sources, settings)
                receiver.check_failure()
                receiver.receive(signals)
            except CommandError as error:
                failure = error
            except MessengerException as error:
                failure = CommandError(str(error), EXIT_FAILED)
            finally:
                receiver.progress.clear()
                try:
                    # Lines written and not yet synced: on disk, then settled,
                    # while the connection is still there to say so.
                    receiver.commit()
                except CommandError as error:
                    failure = failure or error
                stop_quietly(messenger)
                # Every line in it was written before its message was settled:
                # whatever ended the run, the file holds exactly those messages.
                try:
                    out.close()
                except (MessageFileError, OSError) as error:
                    failure = failure or CommandError(f"--output: {error}", EXIT_FAILED)
    except KeyboardInterrupt:  # a second Ctrl-C while closing
        out.abandon()
    if receiver.broken_pipe:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    if failure is not None:
        report("recv", str(failure))
        return failure.code
    if signals.requested:
        return signals.exit_code
    if receiver.timed_out and args.count is not None:
        report(
            "recv",
            f"no message for {args.timeout:g} s: received {receiver.received} of {args.count}",
        )
        return EXIT_INCOMPLETE
    return EXIT_OK


def subscribe_all(messenger: Messenger, sources: list[str], settings: Settings) -> None:
    """Subscribe to every source; listeners say where peers can reach them (on stderr)."""
    for source in sources:
        try:
            listen = parse_address(source).listen
        except AddressError as error:
            raise bad_address("source", source, error) from None
        try:
            address = source if listen else settings.with_credentials(source)
            subscription = messenger.subscribe(address)
        except AddressError as error:
            raise bad_address("source", source, error) from None
        except MessengerException as error:
            raise CommandError(f"{shown(source)}: {error}", EXIT_FAILED) from None
        if listen:
            report("recv", f"listening on {subscription.connect_address}")


class StreamLines:
    """Lines to a stream (stdout), flushed per batch."""

    # Each batch is settled as soon as it is flushed.
    grouped = False

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, lines: list[str]) -> None:
        self.stream.write("\n".join(lines) + "\n")
        self.stream.flush()

    def sync(self) -> None:
        pass

    def close(self) -> None:
        pass

    def abandon(self) -> None:
        pass


class FileLines:
    """Lines to a message file: written per batch, synced to disk before they are settled.

    ``grouped``: one sync (fsync, about 0.3 ms here) covers the batches written
    since the last one, as a database's group commit does (see Receiver).
    """

    grouped = True

    def __init__(self, path: str) -> None:
        self.writer = MessageFileWriter(path)

    def write(self, lines: list[str]) -> None:
        self.writer.write(lines)

    def sync(self) -> None:
        self.writer.sync()

    def close(self) -> None:
        self.writer.commit()

    def abandon(self) -> None:
        self.writer.abandon()


def take_text_line(messenger: Messenger, message: Message) -> str | None:
    """Get the next message; its text line, or None when it could not be decoded."""
    try:
        messenger.get(message)
    except MessengerException as error:
        # Undecodable: the Messenger rejected it; say so and go on.
        report("recv", str(error))
        return None
    return text_line(message)


def take_record_line(messenger: Messenger, message: Message) -> str | None:
    """Get the next message as it arrived; its message file line (every section).

    A message that is not well-formed AMQP is rejected (amqp:decode-error is
    what the standard has for it) and reported; it never becomes a line the
    file could not be read back from.
    """
    tracker, data = messenger.get_encoded()
    try:
        return record_line(decode_message(data), {"received_at": now_text()})
    except (SectionError, RecursionError, ValueError, TypeError) as error:
        messenger.reject(tracker)
        report("recv", f"a message could not be decoded and was rejected: {error}")
        return None


class MillisecondClock:
    """Now as the message file writes times (UTC, milliseconds), formatted once a millisecond."""

    __slots__ = ("_millis", "_text")

    def __init__(self) -> None:
        self._millis = -1
        self._text = ""

    def now(self) -> str:
        millis = time.time_ns() // 1_000_000
        if millis != self._millis:
            moment = datetime.datetime.fromtimestamp(millis // 1000, datetime.UTC)
            self._millis = millis
            self._text = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis % 1000:03d}Z"
        return self._text


now_text = MillisecondClock().now


# A grouped output (a message file) is synced, and its messages settled, once
# this many lines wait, once the oldest has waited this long, or as soon as no
# more messages are there to take at once: never a wait on the network with
# messages written but not settled.
SYNC_LINES = 4096
SYNC_SECONDS = 0.02


@dataclass
class Receiver:
    """Takes messages in rounds: get up to a batch, write their lines, flush, settle them.

    Into a message file the settling is grouped: batches are written as they
    come and synced to disk together, then settled, so that a fast stream
    costs one fsync per several batches, and every message is still accepted
    only once its line is on disk.
    """

    messenger: Messenger
    out: StreamLines | FileLines
    take: Callable[[Messenger, Message], str | None]
    settle: Callable[[int | None], None]
    count: int | None
    idle_timeout: float | None
    progress: Progress
    received: int = 0
    timed_out: bool = False
    broken_pipe: bool = False
    failure: Failure | None = None
    # Grouped output: lines written and not yet synced (their messages undecided).
    unsynced: int = 0
    _unsynced_since: float = 0.0

    def __post_init__(self) -> None:
        # Every message written and not yet synced stays undecided: it must not
        # fall out of the window (that would accept it).
        self.messenger.incoming_window = GET_BATCH + (SYNC_LINES if self.out.grouped else 0)
        self.messenger.on_event = self._on_event

    def _on_event(self, event: MessengerEvent) -> None:
        # A source failed (refused, closed, unreachable): the Messenger goes on,
        # as the original did, but this command stops and says why. In retry
        # mode a failure that may pass is a RetryScheduled instead: said, waited out.
        report_retry("recv", event)
        if isinstance(event, FailureReported) and self.failure is None:
            self.failure = event.failure
            self.messenger.interrupt()

    def check_failure(self) -> None:
        if self.failure is not None:
            raise CommandError(explained(self.failure), EXIT_FAILED)

    def receive(self, signals: StopSignals) -> None:
        messenger = self.messenger
        message = Message()
        last_arrival = self.progress.elapsed()
        while not signals.requested and (self.count is None or self.received < self.count):
            self.check_failure()
            # With lines waiting for a sync, only look for more that are there already.
            messenger.timeout = 0 if self.unsynced else self._wait(last_arrival)
            try:
                messenger.recv(self._credit())
            except Timeout:
                if self.unsynced:
                    self.commit()
                    continue
                if self._idle_too_long(last_arrival):
                    self.timed_out = True
                    return
                self.progress.update(self.received, "received")
                continue
            except Interrupt:
                continue  # a signal or a failure: the loop ends it
            except MessengerException:
                # No valid sources left: name the failure that took them if known.
                self.check_failure()
                raise
            if self._take_batch(message):
                last_arrival = self.progress.elapsed()
            if self.broken_pipe:
                return
            self.progress.update(self.received, "received")

    def _credit(self) -> int:
        """Credit to ask for: what the Messenger buffers by itself, or what --count needs.

        With --count, never more than the count still needs (a peer must not
        send messages nobody will take), and never more than one batch in
        flight (a large count must not fill memory with a queue we read slowly).
        """
        if self.count is None:
            return -1
        needed = self.count - self.received - self.messenger.incoming
        return max(min(needed, GET_BATCH), 0)

    def _wait(self, last_arrival: float) -> float | None:
        """How long recv may block: until the idle timeout, or the next progress redraw."""
        waits = []
        if self.idle_timeout is not None:
            waits.append(max(self.idle_timeout - (self.progress.elapsed() - last_arrival), 0.0))
        if self.progress.enabled:
            waits.append(INTERVAL)
        return min(waits) if waits else None

    def _idle_too_long(self, last_arrival: float) -> bool:
        if self.idle_timeout is None:
            return False
        return self.progress.elapsed() - last_arrival >= self.idle_timeout

    def _take_batch(self, message: Message) -> int:
        messenger = self.messenger
        take = self.take
        lines = []
        limit = GET_BATCH if self.count is None else min(GET_BATCH, self.count - self.received)
        while messenger.incoming and len(lines) < limit:
            try:
                line = take(messenger, message)
            except (RecursionError, ValueError, TypeError) as error:
                # A peer can nest values deeper than Python will walk: one odd
                # message must not end the run (it is still settled as asked).
                line = f"<message not shown: {type(error).__name__}: {error}>"
            if line is not None:
                lines.append(line)
        if not lines:
            return 0
        try:
            self.out.write(lines)
        except BrokenPipeError:
            # Nobody reads any more: give the messages back rather than lose them.
            self.broken_pipe = True
            messenger.release()
            return 0
        except OSError as error:
            # The file cannot take them (disk full...): give them back, and stop.
            messenger.release()
            raise CommandError(f"cannot write the messages: {error.strerror or error}") from None
        self.received += len(lines)
        if not self.out.grouped:
            self.settle(None)
            return len(lines)
        if not self.unsynced:
            self._unsynced_since = self.progress.elapsed()
        self.unsynced += len(lines)
        if (
            self.unsynced >= SYNC_LINES
            or self.progress.elapsed() - self._unsynced_since >= SYNC_SECONDS
        ):
            self.commit()
        return len(lines)

    def commit(self) -> None:
        """Sync what was written, then settle those messages (a grouped output)."""
        if not self.unsynced:
            return
        try:
            self.out.sync()
        except OSError as error:
            # Not on disk: give them back rather than accept them.
            self.messenger.release()
            self.unsynced = 0
            raise CommandError(f"cannot write the messages: {error.strerror or error}") from None
        self.settle(None)
        self.unsynced = 0


def _silence_stdout() -> None:
    """Point stdout at /dev/null so Python's final flush does not complain again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
