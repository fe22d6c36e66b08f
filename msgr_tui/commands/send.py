"""Send messages to ADDRESS, wait for their outcomes, print how many of each and the rate.

Exit code 0 when every message was accepted, 1 when any was not, 2 for bad
arguments, 3 when the connection or link failed, 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
from collections import deque
from dataclasses import dataclass, field

from proton import Message

from ..drafts import BODY_JSON, BODY_TEXT, Draft, DraftError, build_message, parse_properties
from ..messenger import ABORTED, PENDING, Interrupt, Messenger, MessengerException, Timeout
from ..messenger.failures import Failure
from .common import (
    EXIT_FAILED,
    EXIT_INCOMPLETE,
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    StopSignals,
    bad_address,
    configured_messenger,
    load_settings,
    non_negative,
    positive,
    report,
    shown,
    stop_quietly,
)
from .progress import Progress, rate

OUTCOMES = ("accepted", "rejected", "released", "modified", "aborted")
# At most this many messages are encoded and waiting for an answer at once:
# enough to keep a peer's credit (1024 per link for a Messenger) busy, and a
# million-message run never holds more than this in memory.
MAX_IN_FLIGHT = 4096
# How often a wait for answers wakes up to redraw progress and check for a stall.
TICK = 0.1
# C0 controls other than tab, newline, form feed and carriage return, and DEL:
# a file containing them is binary even when it decodes as UTF-8.
_BINARY_BYTES = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("address", help="where to send, e.g. amqp://127.0.0.1:5672/queue")
    body = parser.add_mutually_exclusive_group()
    body.add_argument("--body", metavar="TEXT", help="the message body")
    body.add_argument(
        "--body-file",
        metavar="FILE",
        help="read the body from FILE ('-' = stdin); sent as text if it is UTF-8 text, "
        "else as AMQP binary",
    )
    body.add_argument(
        "--size", type=non_negative, metavar="BYTES", help="a binary body of BYTES bytes"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="the body (--body or --body-file) is JSON: validated, sent with "
        "content-type application/json, as the TUI does",
    )
    parser.add_argument("--subject", metavar="S", help="the subject property")
    parser.add_argument(
        "--property",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an application property, repeatable; JSON scalars keep their type (n=5, ok=true)",
    )
    parser.add_argument(
        "--count", type=positive, default=1, metavar="N", help="messages to send (default 1)"
    )
    parser.add_argument("--reply-to", metavar="ADDR", help="reply_to ('~' = this sender)")
    parser.add_argument(
        "--outgoing-window",
        type=positive,
        metavar="N",
        help="how many messages may wait for their outcome at once (default: --count, "
        f"at most {MAX_IN_FLIGHT} in flight); every outcome is counted whatever N",
    )


def run(args: argparse.Namespace) -> int:
    try:
        message = message_from_args(args)
        settings = load_settings(args)
    except CommandError as error:
        report("send", str(error))
        return error.code
    message.address = settings.with_credentials(message.address)
    messenger = configured_messenger(settings)
    in_flight = min(args.outgoing_window or args.count, MAX_IN_FLIGHT)
    sender = Sender(
        messenger,
        message,
        args.count,
        in_flight,
        stall_timeout=settings.timeout,
        progress=Progress(sys.stderr, enabled=sys.stderr.isatty()),
    )
    signals = StopSignals(messenger)
    failure: str | None = None
    try:
        with signals.installed():
            try:
                sender.send_all(signals)
            except (MessengerException, CommandError) as error:
                failure = str(error)
            finally:
                sender.finish()
                stop_quietly(messenger)
                sender.tally_rest()
    except KeyboardInterrupt:  # a second Ctrl-C while closing
        failure = failure or "interrupted"
    if failure is None and sender.failure is not None:
        # The connection or link failed: its messages were aborted, and this says why.
        failure = str(sender.failure)
    print(sender.summary(shown(args.address)), flush=True)
    if failure:
        report("send", failure)
    if signals.requested:
        return signals.exit_code
    if failure:
        return EXIT_FAILED
    return EXIT_OK if sender.all_accepted else EXIT_INCOMPLETE


# Which option to name when Compose's validation rejects a field of the draft.
OPTION_OF_FIELD = {"subject": "--subject", "reply_to": "--reply-to", "properties": "--property"}


def message_from_args(args: argparse.Namespace) -> Message:
    """The message to send, built by Compose's own rules; CommandError when invalid."""
    properties = "\n".join(_checked_property(item) for item in args.property)
    draft = Draft(
        address=args.address,
        body=_body(args),
        body_mode=BODY_JSON if args.json else BODY_TEXT,
        subject=args.subject or "",
        reply_to=args.reply_to or "",
        properties=properties,
    )
    try:
        return build_message(draft)
    except DraftError as error:
        if error.field == "address":
            raise bad_address("address", args.address, error) from None
        option = OPTION_OF_FIELD.get(error.field, "--body")
        raise CommandError(f"{option}: {error}", EXIT_USAGE) from None


def _checked_property(item: str) -> str:
    """One ``--property`` value, validated alone so errors quote it (not a line number)."""
    try:
        parsed = parse_properties(item)
    except DraftError as error:
        reason = _after_line_number(error)
        raise CommandError(f"--property {item!r}: {reason}", EXIT_USAGE) from None
    if len(parsed) != 1:
        raise CommandError(f"--property {item!r}: expected one KEY=VALUE", EXIT_USAGE)
    return item


def _after_line_number(error: DraftError) -> str:
    text = str(error)
    return text.split(": ", 1)[1] if text.startswith("line ") else text


def _body(args: argparse.Namespace) -> str | bytes:
    if args.size is not None:
        if args.json:
            raise CommandError("--json needs --body or --body-file, not --size", EXIT_USAGE)
        # Printable filler, so a receiver that shows bodies shows something readable.
        return b"x" * args.size
    if args.body_file is not None:
        data = _read_body_file(args.body_file)
        if args.json:
            try:
                return data.decode("utf-8")
            except UnicodeDecodeError:
                raise CommandError(
                    f"--body-file {args.body_file}: JSON must be UTF-8 text", EXIT_USAGE
                ) from None
        return body_from_bytes(data)
    if args.body is not None:
        return args.body
    if args.json:
        raise CommandError("--json needs --body or --body-file", EXIT_USAGE)
    return ""


def _read_body_file(path: str) -> bytes:
    try:
        if path == "-":
            return sys.stdin.buffer.read()
        with open(path, "rb") as file:
            return file.read()
    except OSError as error:
        raise CommandError(f"--body-file {path}: {error.strerror or error}", EXIT_USAGE) from None


def body_from_bytes(data: bytes) -> str | bytes:
    """UTF-8 text travels as an AMQP string; anything else as AMQP binary."""
    if _BINARY_BYTES.search(data):
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


# Messages put between two rounds of I/O: small enough that the link never
# runs out of credit in the middle of a burst, large enough to batch writes.
PUT_CHUNK = 256


@dataclass
class Sender:
    """Streams ``count`` copies of ``message`` and counts every outcome.

    At most ``in_flight`` messages are put and not yet answered; that is also
    the Messenger's outgoing window, so each tracker's status is read before
    it could leave the window.
    """

    messenger: Messenger
    message: Message
    count: int
    in_flight: int
    stall_timeout: float | None
    progress: Progress
    put: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    waiting: deque[int] = field(default_factory=deque)
    failure: Failure | None = None
    _last_answer_at: float = 0.0
    _seconds: float = 0.0

    def __post_init__(self) -> None:
        self.messenger.outgoing_window = self.in_flight
        self.messenger.timeout = TICK

    @property
    def answered(self) -> int:
        """Messages the peer gave an outcome (ABORTED ones it never answered)."""
        return sum(
            count for name, count in self.outcomes.items() if name not in ("aborted", "unknown")
        )

    @property
    def all_accepted(self) -> bool:
        return self.outcomes["accepted"] == self.count

    def send_all(self, signals: StopSignals) -> None:
        messenger = self.messenger
        put = messenger.put
        message = self.message
        waiting = self.waiting
        batch = max(self.in_flight // 2, 1)
        self._last_answer_at = self.progress.elapsed()
        while (self.put < self.count or waiting) and not signals.requested and not self.failure:
            room = min(self.in_flight - len(waiting), self.count - self.put, PUT_CHUNK)
            for _ in range(room):
                waiting.append(put(message))
            self.put += room
            # A Timeout is only a tick (redraw, check for a stall); Interrupt a signal.
            with contextlib.suppress(Timeout, Interrupt):
                if len(waiting) >= self.in_flight or self.put >= self.count:
                    # The window is full (or all is put): wait for half of it;
                    # the other half keeps the link busy.
                    messenger.send(min(batch, len(waiting)))
                else:
                    # Between chunks, one round of I/O without waiting: the
                    # peer's new credit and answers come in, puts go out.
                    messenger.send(0)
            if self.tally_answered():
                self._last_answer_at = self.progress.elapsed()
            else:
                self._check_stall()
            self.progress.update(self.answered, "answered", self.count)

    def tally_answered(self) -> int:
        """Count the outcomes known so far, oldest first; returns how many."""
        waiting = self.waiting
        status = self.messenger.status
        outcomes = self.outcomes
        counted = 0
        while waiting:
            state = status(waiting[0])
            if state is PENDING:
                break
            tracker = waiting.popleft()
            if state is ABORTED and self.failure is None:
                self.failure = self.messenger.failure(tracker)
            name = state.name.lower() if state is not None else "unknown"
            outcomes[name] = outcomes.get(name, 0) + 1
            counted += 1
        return counted

    def finish(self) -> None:
        """Stop the clock (closing is not part of the rate) and the progress line."""
        self.tally_answered()
        self._seconds = self.progress.elapsed()
        self.progress.clear()

    def tally_rest(self) -> None:
        """After stop: count every remaining tracker; those still PENDING stay unknown."""
        self.tally_answered()
        still_pending: deque[int] = deque()
        for tracker in self.waiting:
            state = self.messenger.status(tracker)
            if state is PENDING or state is None:
                still_pending.append(tracker)
            else:
                name = state.name.lower()
                self.outcomes[name] = self.outcomes.get(name, 0) + 1
        self.waiting = still_pending

    def _check_stall(self) -> None:
        if self.stall_timeout is None:
            return
        if self.progress.elapsed() - self._last_answer_at > self.stall_timeout:
            raise CommandError(
                f"{shown(self.message.address)}: no answer for {self.stall_timeout:g} s "
                f"({len(self.waiting)} message(s) waiting for an outcome)"
            )

    def summary(self, address: str) -> str:
        """Outcome counts (the five always, others when they happened) and the rate."""
        lines = [
            f"{name:<9}{count:>10}" for name, count in self.outcomes.items() if name != "unknown"
        ]
        # Still PENDING after the close, or (never expected) no status at all.
        unknown = len(self.waiting) + self.outcomes.get("unknown", 0)
        if unknown:
            lines.append(f"{'unknown':<9}{unknown:>10}")
        if self.count > self.put:
            lines.append(f"{'not sent':<9}{self.count - self.put:>10}")
        seconds = self._seconds or self.progress.elapsed()
        lines.append(
            f"{self.answered} of {self.count} message(s) to {address} answered in "
            f"{seconds:.3f} s: {rate(self.answered, seconds):.0f} msg/s"
        )
        return "\n".join(lines)
