"""What the headless commands share: settings, a configured Messenger, exit codes, signals.

Headless code: no UI imports. Exit codes (documented in the README):

* 0   success (``send``: every message accepted; ``recv``: stopped by ``--count``
      or ``--timeout``)
* 1   ``send``: some message was not accepted; ``recv``: ``--timeout`` came before
      ``--count`` messages
* 2   usage: bad arguments, bad address, unreadable body file, invalid JSON
* 3   connection or link failure: unreachable host, refused connection or link
* 130 stopped by Ctrl-C (SIGINT), 143 by SIGTERM, 129 by SIGHUP, 141 when stdout's
  reader went away
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import signal
import sys
from collections.abc import Iterator
from types import FrameType
from typing import TYPE_CHECKING, Any

from ..formatting import count_of
from ..messenger import Messenger
from ..messenger.address import AddressError, parse_address
from ..messenger.events import MessengerEvent, RetryScheduled
from ..secret import Secret
from ..settings import Settings

if TYPE_CHECKING:
    from ..profiles import SecretRequest

EXIT_OK = 0
EXIT_INCOMPLETE = 1
EXIT_USAGE = 2
EXIT_FAILED = 3
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE
EXIT_SIGNAL_BASE = 128

# Seconds a clean AMQP close may take before the connections are just dropped.
STOP_GRACE = 5.0


class CommandError(Exception):
    """A failure to report as one line on stderr, with the exit code to return."""

    def __init__(self, text: str, code: int = EXIT_FAILED) -> None:
        super().__init__(text)
        self.code = code


def report(command: str, text: str) -> None:
    """One line on stderr, prefixed like argparse's own errors."""
    print(f"msgr-tui {command}: {text}", file=sys.stderr, flush=True)


def positive(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    value = non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def non_negative(text: str) -> int:
    """argparse type: a whole number of at least 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def positive_seconds(text: str) -> float:
    """argparse type: a finite number of seconds above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return value


def load_settings(args: argparse.Namespace) -> Settings:
    """The profile named by ``--profile`` (from ``--config``...), else the defaults.

    Only an explicit ``--profile`` applies: a script's behaviour must not change
    because someone set ``default_profile`` for the app.
    """
    name = getattr(args, "profile", None)
    if not name:
        return Settings()
    # Deferred: runs without --profile need not read (or import) anything of it.
    from ..profiles import settings_for

    try:
        return settings_for(name, getattr(args, "config", None), ask=ask_on_terminal)
    except (KeyError, ValueError, OSError) as error:
        # KeyError: no such profile; ValueError: the file has errors (file:line: key).
        raise CommandError(f"--profile {name}: {error}", EXIT_USAGE) from None


def ask_on_terminal(request: SecretRequest) -> Secret | None:
    """Ask on the controlling terminal without echo; None when there is no terminal."""
    if not sys.stdin.isatty():
        return None
    try:
        return Secret(getpass.getpass(f"{request.prompt}: "))
    except (EOFError, KeyboardInterrupt):
        return None


def add_retry_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--retry",
        action="store_true",
        help="ride through connection failures (a broker restarting): reconnect, backing off "
        "up to 10 s, and go on; a profile's retry = true does the same",
    )


def retry_wanted(args: argparse.Namespace, settings: Settings) -> bool:
    """``--retry``, or the profile's ``retry`` when ``-p`` named one (never a default)."""
    return bool(getattr(args, "retry", False)) or (settings.profile is not None and settings.retry)


def report_retry(command: str, event: MessengerEvent) -> None:
    """A line on stderr for each reconnection retry mode schedules, saying why."""
    if isinstance(event, RetryScheduled):
        waiting = f", {count_of(event.messages, 'message')} waiting" if event.messages else ""
        report(
            command,
            f"{event.label}: {event.reason or 'connection lost'}: retrying in "
            f"{event.delay:.1f} s (attempt {event.attempt}{waiting})",
        )


def configured_messenger(settings: Settings, *, retry: bool = False) -> Messenger:
    """A started Messenger with the profile's name, TLS, routes and rewrites applied.

    ``retry`` turns on retry mode: failures that may pass are waited out.
    """
    messenger = Messenger(settings.messenger_name)
    messenger.retry = retry
    # A profile decides PLAIN over plain TCP; without one, credentials written
    # in the address keep the Messenger's default (allowed, as the original).
    settings.configure(messenger, insecure_plain=settings.profile is not None)
    messenger.start()
    return messenger


def bad_address(what: str, address: str, error: Exception) -> CommandError:
    """A usage error for an address, naming it once (without credentials)."""
    try:
        parsed = parse_address(address.strip())
    except AddressError:
        # The parser's own text already quotes the address (credentials masked).
        return CommandError(f"bad {what}: {error}", EXIT_USAGE)
    return CommandError(f"bad {what} {parsed.without_credentials()!r}: {error}", EXIT_USAGE)


def shown(address: str) -> str:
    """An address fit for messages: credentials removed when it parses."""
    try:
        return parse_address(address).without_credentials()
    except Exception:
        return address


def stop_quietly(messenger: Messenger) -> None:
    """Close every connection cleanly; drop them if the peers do not answer in time."""
    messenger.timeout = STOP_GRACE
    # A failure while closing changes nothing for the user: the work is done.
    with contextlib.suppress(Exception):
        messenger.stop()


class StopSignals:
    """SIGINT/SIGTERM interrupt the Messenger instead of raising anywhere in its code.

    The first signal sets :attr:`signal_number` and interrupts the blocking
    call, so the command can finish cleanly (settle, close). A second one
    raises KeyboardInterrupt to get out of a close that hangs.
    """

    def __init__(self, messenger: Messenger) -> None:
        self.messenger = messenger
        self.signal_number: int | None = None
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.signal_number is not None

    @property
    def exit_code(self) -> int:
        return EXIT_SIGNAL_BASE + (self.signal_number or 0)

    def _handle(self, number: int, frame: FrameType | None) -> None:
        if self.signal_number is not None:
            raise KeyboardInterrupt
        self.signal_number = number
        self.messenger.interrupt()

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopSignals]:
        # SIGHUP: the SSH session or terminal went away; close as cleanly as for the others.
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            # Only the main thread may set handlers; elsewhere keep the defaults.
            with contextlib.suppress(ValueError):
                self._previous[number] = signal.signal(number, self._handle)
        try:
            yield self
        finally:
            for number, previous in self._previous.items():
                signal.signal(number, previous)
