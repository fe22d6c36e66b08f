"""Send messages to ADDRESS, wait for their outcomes, print how many of each and the rate.

``--from FILE`` sends the messages of a message file (see ``recv --output``)
as they were, every section intact; ADDRESS, if given, is where they go.

Exit code 0 when every message was accepted, 1 when any was not, 2 for bad
arguments (a message file that cannot be read among them: nothing is sent),
3 when the connection or link failed, 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import re
import sys
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from proton import Message

from ..drafts import BODY_JSON, BODY_TEXT, Draft, DraftError, build_message, parse_properties
from ..formatting import count_of
from ..hints import explained
from ..messagefile import (
    MessageFileError,
    MessageFileWriter,
    MessageRecord,
    SectionError,
    decode_message,
    encode_message,
    encode_readdressed,
    read_messages,
    save_messages,
)
from ..messenger import (
    ABORTED,
    ACCEPTED,
    PENDING,
    Interrupt,
    Messenger,
    MessengerException,
    Timeout,
)
from ..messenger.address import AddressError, parse_address
from ..messenger.failures import Failure
from ..messenger.rules import default_rewrite
from ..settings import Settings
from .common import (
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
    non_negative,
    positive,
    report,
    report_retry,
    retry_wanted,
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
    parser.add_argument(
        "address",
        nargs="?",
        help="where to send, e.g. amqp://127.0.0.1:5672/queue (with --from: where the "
        "file's messages go instead of their own addresses)",
    )
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
    body.add_argument(
        "--from",
        dest="from_file",
        metavar="FILE",
        help="send the messages of a message file ('-' = stdin), every section as it was",
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
        "--rate", type=positive_rate, metavar="N", help="send at most N messages a second"
    )
    parser.add_argument(
        "--no-durable",
        dest="durable",
        action="store_false",
        help="mark the messages not durable (default: durable, as a broker needs to keep "
        "them across a restart in a durable queue); with --from the file's header decides",
    )
    parser.add_argument(
        "--no-durable-target",
        dest="durable_target",
        action="store_false",
        help="with --from: do not ask for a durable target (a queue RabbitMQ creates for "
        "the replay is then not durable)",
    )
    parser.add_argument(
        "--unsent",
        metavar="FILE",
        help="however the run ends, write the messages that were not answered (or not sent) "
        "to FILE as a message file, to send again with --from FILE; FILE must not exist",
    )
    parser.add_argument(
        "--outgoing-window",
        type=positive,
        metavar="N",
        help="how many messages may wait for their outcome at once (default: --count, "
        f"at most {MAX_IN_FLIGHT} in flight); every outcome is counted whatever N",
    )
    add_retry_argument(parser)


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args)
        if args.from_file is not None:
            messages = replay_from_args(args, settings)
            where = shown(args.address) if args.address else f"the addresses in {args.from_file}"
        else:
            messages = copies_from_args(args, settings)
            where = shown(args.address)
        if args.unsent is not None:
            MessageFileWriter.check_free(args.unsent)
    except MessageFileError as error:
        report("send", f"--unsent: {error} (nothing was sent)")
        return EXIT_USAGE
    except CommandError as error:
        report("send", str(error))
        return error.code
    messenger = configured_messenger(settings, retry=retry_wanted(args, settings))
    messenger.on_event = functools.partial(report_retry, "send")
    if args.from_file is not None:
        messenger.durable_targets = args.durable_target
    in_flight = min(args.outgoing_window or messages.count, MAX_IN_FLIGHT)
    sender = Sender(
        messenger,
        messages,
        in_flight,
        stall_timeout=settings.timeout,
        progress=Progress(sys.stderr, enabled=sys.stderr.isatty()),
        rate_limit=args.rate,
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
        if not sender.rest_tallied:
            sender.tally_rest()  # statuses only: no I/O
    if failure is None and sender.failure is not None:
        # The connection or link failed: its messages were aborted, and this says why.
        failure = explained(sender.failure)
    # The file first: after a dropped SSH session the terminal may be gone.
    unsent_problem = save_unsent(sender, args.unsent)
    with contextlib.suppress(OSError):
        print(sender.summary(where), flush=True)
        if failure:
            report("send", failure)
        if args.from_file is not None:
            for line in sender.which_not_accepted():
                report("send", line)
        tell_unsent(sender, args.unsent, unsent_problem, signals.requested)
    failure = failure or unsent_problem
    if signals.requested:
        return signals.exit_code
    if failure:
        return EXIT_FAILED
    return EXIT_OK if sender.all_accepted else EXIT_INCOMPLETE


def save_unsent(sender: Sender, path: str | None) -> str | None:
    """Write the messages not answered to ``path`` (when given and there are some).

    Returns what went wrong, or None. A file that could not be completed is
    left as ``FILE.partial`` with what it holds.
    """
    unanswered = sender.unanswered()
    if path is None or not unanswered:
        return None
    messages = sender.messages

    def meta(index: int, reason: str) -> dict[str, str]:
        if messages.source is None:
            return {"unsent": reason}
        return {"unsent": reason, "from": f"{messages.source}:{messages.lines[index]}"}

    try:
        save_messages(
            path, ((messages.record(index), meta(index, why)) for index, why in unanswered)
        )
    except MessageFileError as error:
        return f"--unsent: {error}"
    return None


def tell_unsent(sender: Sender, path: str | None, problem: str | None, stopped: bool) -> None:
    """Say where the unanswered messages went, or (``stopped`` by a signal) how to keep them.

    A failure is one line that says what failed; only a run the user stopped
    gets the hint as well.
    """
    unanswered = len(sender.unanswered())
    if problem is not None:
        report("send", problem)
    elif path is not None and unanswered:
        report(
            "send",
            f"{count_of(unanswered, 'message')} not answered written to {path}: "
            f"send them again with msgr-tui send --from {path}",
        )
    elif path is not None:
        report("send", f"every message was answered: {path} not written")
    elif unanswered and stopped:
        report(
            "send",
            f"{count_of(unanswered, 'message')} not answered: "
            "--unsent FILE keeps them to send again",
        )


# Which option to name when Compose's validation rejects a field of the draft.
OPTION_OF_FIELD = {"subject": "--subject", "reply_to": "--reply-to", "properties": "--property"}
# Options that say what one message is: meaningless with --from.
_MESSAGE_OPTIONS = ("body", "body_file", "size", "json", "subject", "reply_to")


def positive_rate(text: str) -> float:
    """argparse type: messages a second, more than 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


@dataclass(frozen=True)
class Messages:
    """What to send: ``count`` messages, the i-th put by ``put(messenger, i)``."""

    count: int
    put: Callable[[Messenger, int], int]
    first_address: str
    # The i-th message, every section as it goes out (credentials left out): for --unsent.
    record: Callable[[int], MessageRecord]
    # For messages from a file: the file, and the line of each message.
    source: str | None = None
    lines: tuple[int, ...] = ()

    def where(self, indexes: list[int]) -> str:
        """The messages at ``indexes`` for a person: file lines, or message numbers."""
        if self.source is None:
            return f"message(s) {spans([index + 1 for index in indexes])}"
        return f"{self.source} line(s) {spans([self.lines[index] for index in indexes])}"


def spans(numbers: list[int]) -> str:
    """``1-3, 7, 9-10`` for [1, 2, 3, 7, 9, 10]."""
    parts: list[str] = []
    start = previous = numbers[0]
    for number in [*numbers[1:], None]:
        if number is not None and number == previous + 1:
            previous = number
            continue
        parts.append(str(start) if start == previous else f"{start}-{previous}")
        if number is not None:
            start = previous = number
    return ", ".join(parts)


def copies_from_args(args: argparse.Namespace, settings: Settings) -> Messages:
    """``--count`` copies of the message the options describe."""
    if args.address is None:
        raise CommandError("an ADDRESS is needed (or --from FILE)", EXIT_USAGE)
    message = message_from_args(args)
    # As it goes out: the address the user gave, without credentials.
    written = default_rewrite(message.address)
    record = functools.cache(lambda: decode_message(message.encode()).addressed_to(written))
    message.address = settings.with_credentials(message.address)
    return Messages(
        args.count, lambda messenger, _: messenger.put(message), args.address, lambda _: record()
    )


def replay_from_args(args: argparse.Namespace, settings: Settings) -> Messages:
    """Every message of the file, checked whole before anything is sent."""
    given = [f"--{name.replace('_', '-')}" for name in _MESSAGE_OPTIONS if getattr(args, name)]
    given += ["--property"] if args.property else []
    given += ["--count"] if args.count != 1 else []
    given += ["--no-durable"] if not args.durable else []
    if given:
        raise CommandError(f"--from sends the file's messages as they are: not {given[0]}", 2)
    address = args.address
    if address is not None:
        try:
            parse_address(address)
        except AddressError as error:
            raise bad_address("address", address, error) from None
    with collection_paused():
        try:
            records = list(read_messages(args.from_file))
        except MessageFileError as error:
            raise CommandError(f"{error} (nothing was sent)", EXIT_USAGE) from None
        if not records:
            raise CommandError(f"{args.from_file}: no messages in the file (nothing was sent)", 2)
        return encoded_messages(args, settings, records)


@contextlib.contextmanager
def collection_paused() -> Iterator[None]:
    """No cyclic garbage collection meanwhile: reading a file makes millions of
    containers that all stay alive, which every collection would walk in vain."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def encoded_messages(
    args: argparse.Namespace, settings: Settings, records: list[tuple[str, MessageRecord]]
) -> Messages:
    """The file's messages as they go out: each readdressed (with ADDRESS) and encoded."""
    address = args.address
    encoded: list[bytes] = []
    destinations: list[str] = []
    lines = tuple(int(where.rsplit(":", 1)[1]) for where, _ in records)
    written = default_rewrite(address) if address is not None else None
    given = settings.with_credentials(address) if address is not None else None
    for where, record in records:
        if written is None and not record.address:
            raise CommandError(
                f"{where}: the message has no address: give ADDRESS (nothing was sent)", 2
            )
        destinations.append(given or settings.with_credentials(record.address or ""))
        try:
            if written is not None:
                encoded.append(encode_readdressed(record, written))
            else:
                encoded.append(encode_message(record))
        except SectionError as error:
            raise CommandError(f"{where}: {error} (nothing was sent)", EXIT_USAGE) from None
    return Messages(
        len(encoded),
        lambda messenger, index: messenger.put_encoded(encoded[index], destinations[index]),
        destinations[0],
        lambda index: decode_message(encoded[index]),
        source=args.from_file if args.from_file != "-" else "<stdin>",
        lines=lines,
    )


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
        durable=args.durable,
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
    """Streams ``messages`` and counts every outcome.

    At most ``in_flight`` messages are put and not yet answered; that is also
    the Messenger's outgoing window, so each tracker's status is read before
    it could leave the window. ``rate_limit`` paces the puts (messages a
    second), waiting in the Messenger's own I/O.
    """

    messenger: Messenger
    messages: Messages
    in_flight: int
    stall_timeout: float | None
    progress: Progress
    rate_limit: float | None = None
    put: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    waiting: deque[int] = field(default_factory=deque)
    failure: Failure | None = None
    # The index of the oldest message still waiting (puts and tallies are in order).
    tallied: int = 0
    # (index, outcome) of every message that was not accepted, in order.
    not_accepted: list[tuple[int, str]] = field(default_factory=list)
    rest_tallied: bool = False
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
    def count(self) -> int:
        return self.messages.count

    @property
    def all_accepted(self) -> bool:
        return self.outcomes["accepted"] == self.count

    def send_all(self, signals: StopSignals) -> None:
        messenger = self.messenger
        put = self.messages.put
        waiting = self.waiting
        batch = max(self.in_flight // 2, 1)
        self._last_answer_at = self.progress.elapsed()
        while (self.put < self.count or waiting) and not signals.requested and not self.failure:
            room = min(self.in_flight - len(waiting), self.count - self.put, self._allowed())
            for _ in range(room):
                waiting.append(put(messenger, self.put))
                self.put += 1
            paced = self.rate_limit is not None and self.put < self.count and room == 0
            # A Timeout is only a tick (redraw, check for a stall); Interrupt a signal.
            with contextlib.suppress(Timeout, Interrupt):
                if paced:
                    # Not time for the next message yet: wait in I/O until it is.
                    messenger.work(self._until_next())
                elif len(waiting) >= self.in_flight or self.put >= self.count:
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

    def _allowed(self) -> int:
        """How many messages may be put now: a chunk, or what --rate allows by now."""
        if self.rate_limit is None:
            return PUT_CHUNK
        due = int(self.progress.elapsed() * self.rate_limit) + 1
        return max(0, min(PUT_CHUNK, due - self.put))

    def _until_next(self) -> float:
        """Seconds until --rate allows the next message (at most a tick)."""
        assert self.rate_limit is not None
        due_at = self.put / self.rate_limit
        return min(TICK, max(0.0, due_at - self.progress.elapsed()))

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
            if state is not ACCEPTED:
                self.not_accepted.append((self.tallied, name))
            self.tallied += 1
            counted += 1
        return counted

    def finish(self) -> None:
        """Stop the clock (closing is not part of the rate) and the progress line."""
        self.tally_answered()
        self._seconds = self.progress.elapsed()
        self.progress.clear()

    def tally_rest(self) -> None:
        """After stop: count every remaining tracker; those still PENDING stay unknown."""
        self.rest_tallied = True
        self.tally_answered()
        still_pending: deque[int] = deque()
        for index, tracker in enumerate(self.waiting, start=self.tallied):
            state = self.messenger.status(tracker)
            if state is PENDING or state is None:
                still_pending.append(tracker)
                self.not_accepted.append((index, "unknown"))
            else:
                name = state.name.lower()
                self.outcomes[name] = self.outcomes.get(name, 0) + 1
                if state is not ACCEPTED:
                    self.not_accepted.append((index, name))
        self.waiting = still_pending

    def _check_stall(self) -> None:
        if self.stall_timeout is None:
            return
        if self.messenger.retries:
            # A connection is down and will be made again: the clock starts then.
            self._last_answer_at = self.progress.elapsed()
            return
        if self.progress.elapsed() - self._last_answer_at > self.stall_timeout:
            raise CommandError(
                f"{shown(self.messages.first_address)}: no answer for {self.stall_timeout:g} s "
                f"({count_of(len(self.waiting), 'message')} waiting for an outcome)"
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
            f"{self.answered} of {count_of(self.count, 'message')} to {address} answered in "
            f"{seconds:.3f} s: {rate(self.answered, seconds):.0f} msg/s"
        )
        return "\n".join(lines)

    def unanswered(self) -> list[tuple[int, str]]:
        """(index, why) of each message the peer never answered, in order.

        Why: ``unknown`` (still waiting when the run ended), ``aborted`` (its
        connection or link failed) or ``not sent``. What ``--unsent`` saves: a
        message that was answered, even refused, is the peer's decision.
        """
        unanswered = [
            (index, name) for index, name in self.not_accepted if name in ("unknown", "aborted")
        ]
        unanswered.sort()
        unanswered += [(index, "not sent") for index in range(self.put, self.count)]
        return unanswered

    def which_not_accepted(self) -> list[str]:
        """For each outcome other than accepted, which messages had it; then the unsent.

        What a person needs to send exactly those again (``--from`` names file
        lines). An aborted or unknown message may still have arrived.
        """
        by_outcome: dict[str, list[int]] = {}
        for index, name in sorted(self.not_accepted):
            by_outcome.setdefault(name, []).append(index)
        report = [f"{name}: {self.messages.where(indexes)}" for name, indexes in by_outcome.items()]
        if self.count > self.put:
            report.append(f"not sent: {self.messages.where(list(range(self.put, self.count)))}")
        return report
