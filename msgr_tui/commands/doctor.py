"""Check this installation: versions, TLS and SASL, the config file, themes, the state directory.

Prints one "name: value" line per check. --connect tries the connections of a
profile (-p NAME: its subscribe sources and compose address) or of ADDR, and
says for each what happened; nothing is sent and nothing is taken from a queue.

Exit status: 0 everything checked is fine, 1 something is wrong (its line says
what), 2 bad usage.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import os
import platform
import socket
import sys
import time
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import proton

from .. import __version__
from ..formatting import count_of
from ..installation import TLS_FIX, tls_available
from ..locations import config_file, recovery_files, state_dir, theme_dirs
from ..messenger import Interrupt, Messenger, MessengerException
from ..messenger.address import AddressError, parse_address
from ..messenger.events import (
    ConnectionClosed,
    ConnectionOpened,
    LinkClosed,
    LinkOpened,
    MessengerEvent,
)
from ..messenger.failures import Failure
from ..messenger.tls import TLSError
from ..messenger.views import ConnectionView
from ..profiles import ProfileSession
from ..settings import Settings
from .common import (
    EXIT_OK,
    EXIT_USAGE,
    STOP_GRACE,
    CommandError,
    StopSignals,
    bad_address,
    configured_messenger,
    load_settings,
    positive_seconds,
    report,
    shown,
)

EXIT_PROBLEM = 1
DEFAULT_TIMEOUT = 5.0

# The conditions Proton and peers use for the failures doctor names.
UNAUTHORIZED = "amqp:unauthorized-access"
FRAMING_ERROR = "amqp:connection:framing-error"
# The role of the address given to --connect (a profile's are "subscribe" and "compose").
GIVEN = "--connect"


@dataclass(frozen=True)
class Check:
    """One line of the report; ``details`` are indented lines under it (errors, files)."""

    name: str
    value: str
    ok: bool = True
    details: tuple[str, ...] = ()


class Report:
    """Prints checks as they are made, values aligned, and remembers which failed."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.problems: list[str] = []

    def show(self, check: Check) -> None:
        print(f"{check.name + ':':<{self.width}} {check.value}")
        for detail in check.details:
            print(f"{'':<{self.width}} {detail}")
        # Connection attempts take seconds each: a pipe must see every line when it is made.
        sys.stdout.flush()
        if not check.ok and check.name not in self.problems:
            self.problems.append(check.name)

    @property
    def exit_code(self) -> int:
        return EXIT_PROBLEM if self.problems else EXIT_OK


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = "exit status: 0 all fine, 1 something is wrong (its line says), 2 bad usage"
    parser.add_argument(
        "--connect",
        nargs="?",
        const="",
        metavar="ADDR",
        help="try connecting: to ADDR, else to the -p profile's subscribe sources and "
        "compose address (with the profile's TLS files and credentials when -p is given)",
    )
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="S",
        help=f"seconds to wait for each connection (default: {DEFAULT_TIMEOUT:g})",
    )


def run(args: argparse.Namespace) -> int:
    # Usage errors come before any output, so a script never sees half a report.
    try:
        given = connect_address(args)
    except CommandError as error:
        report("doctor", str(error))
        return error.code
    checks = [
        *version_checks(),
        tls_check(),
        sasl_check(),
    ]
    config_checks, session = config_state(config_file(args.config), args.profile)
    checks += config_checks
    checks += [theme_check(theme_dirs()), *state_checks()]
    out = Report(width=max(len(check.name) for check in [*checks, Check("connect", "")]) + 1)
    for check in checks:
        out.show(check)
    if args.connect is not None:
        code = connect_checks(args, session, given, out)
        if code is not None:
            return code
    wrong = ", ".join(out.problems)
    out.show(Check("result", f"something is wrong: {wrong}" if wrong else "ok"))
    return out.exit_code


def connect_address(args: argparse.Namespace) -> str | None:
    """The address given to ``--connect``, checked; None when the profile's are to be tried."""
    if args.connect is None:
        return None
    address = args.connect.strip()
    if not address:
        if not args.profile:
            raise CommandError(
                "--connect needs an address, or -p NAME to try a profile's", EXIT_USAGE
            )
        return None
    try:
        parsed = parse_address(address)
    except AddressError as error:
        raise bad_address("--connect address", address, error) from None
    if parsed.listen:
        raise CommandError(
            f"--connect {shown(address)}: '~' means listen there, there is nothing to connect to",
            EXIT_USAGE,
        )
    return address


# ------------------------------------------------------------ the installation


def version_checks() -> list[Check]:
    try:
        proton_version = importlib.metadata.version("python-qpid-proton")
    except importlib.metadata.PackageNotFoundError:
        # Installed without its metadata (a copied tree): the module still knows.
        proton_version = ".".join(str(part) for part in proton.VERSION)
    checks = [
        Check("msgr-tui", __version__),
        Check("Python", f"{platform.python_version()} ({sys.executable})"),
        Check("python-qpid-proton", proton_version),
    ]
    # The metadata, not an import: only the UI may load Textual (tests/test_layers.py).
    try:
        checks.append(Check("Textual", importlib.metadata.version("textual")))
    except importlib.metadata.PackageNotFoundError:
        checks.append(
            Check("Textual", "not installed: the app needs it (pip install textual)", ok=False)
        )
    return checks


def tls_check() -> Check:
    if tls_available():
        return Check("TLS", "yes (amqps:// and amqps://~ listeners work)")
    return Check("TLS", f"no: {TLS_FIX}", ok=False)


def sasl_check() -> Check:
    # Proton always has its own SASL layer (PLAIN, ANONYMOUS, EXTERNAL); with
    # Cyrus SASL built in, Cyrus does every mechanism, PLAIN through a plugin.
    if proton.SASL.extended():
        value = "yes, through Cyrus SASL (PLAIN needs its plain plugin: libsasl2-modules)"
    else:
        value = (
            "yes, Proton's built-in SASL (PLAIN, ANONYMOUS, EXTERNAL; "
            "no Cyrus SASL, so no SCRAM or GSSAPI)"
        )
    return Check(
        "SASL PLAIN",
        value,
        details=(
            "a profile sends a password over plain amqp:// only with "
            "tls.allow_insecure_plain = true",
        ),
    )


# ------------------------------------------------------------ files


def config_state(path: Path, profile: str | None) -> tuple[list[Check], ProfileSession]:
    """The config file and its profile names, loaded as the app loads them."""
    session = ProfileSession(path)
    session.load()
    error = session.error
    if error is not None:
        return [
            Check(
                "config file",
                f"{path}: has errors, so the app runs on the defaults until they are fixed",
                ok=False,
                # As the loader says them: file:line: key: message, one a line.
                details=tuple(error.describe().splitlines()),
            ),
            Check("profiles", "not read (the config file has errors)"),
        ], session
    warnings = tuple(session.loaded.warnings)
    if not path.exists():
        config = Check("config file", f"{path} (not there: the defaults apply)")
    else:
        state = "valid, with warnings" if warnings else "valid"
        config = Check("config file", f"{path}: {state}", ok=not warnings, details=warnings)
    names = session.config.names
    default = session.config.default_profile
    listed = ", ".join(names) if names else "none"
    if default is not None:
        listed += f" (default_profile: {default})"
    if profile is not None and profile not in names:
        return [config, Check("profiles", f"{listed}; no profile {profile!r}", ok=False)], session
    return [config, Check("profiles", listed)], session


def theme_check(directories: Iterable[Path]) -> Check:
    """Theme files that parse as TOML, and those that do not.

    Colours are checked by the app when it starts (that needs Textual, which
    only the UI imports); a file that is not TOML is refused there as here.
    """
    names: set[str] = set()
    refused: list[str] = []
    files = 0
    searched = []
    for directory in directories:
        searched.append(str(directory))
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.toml")):
            files += 1
            try:
                with path.open("rb") as handle:
                    data = tomllib.load(handle)
            except tomllib.TOMLDecodeError as error:
                refused.append(f"{path}: not valid TOML: {error}")
                continue
            except OSError as error:
                refused.append(f"{path}: cannot be read: {error.strerror or error}")
                continue
            name = data.get("name")
            names.add(name if isinstance(name, str) and name else path.stem)
    if not files:
        return Check("themes", f"no theme files in {', '.join(searched)}")
    found = ", ".join(sorted(names)) or "none"
    value = f"{found} ({count_of(files, 'file')}; colours are checked when the app starts)"
    if refused:
        value += f"; {len(refused)} refused"
    return Check("themes", value, ok=not refused, details=tuple(refused))


def state_checks() -> list[Check]:
    directory = state_dir()
    if not directory.exists():
        state = Check("state directory", f"{directory} (not there yet: made when first needed)")
    elif not directory.is_dir():
        state = Check("state directory", f"{directory}: not a directory", ok=False)
    elif not os.access(directory, os.W_OK | os.X_OK):
        state = Check(
            "state directory",
            f"{directory}: not writable, so unanswered messages could not be saved",
            ok=False,
        )
    else:
        state = Check("state directory", str(directory))
    waiting = recovery_files()
    if not waiting:
        return [state, Check("recovery files", "none")]
    details = tuple(
        f"{path} (incomplete: the run ended while writing it)"
        if path.name.endswith(".partial")
        else str(path)
        for path in waiting
    )
    # Not a fault: messages kept safe, waiting for the user to send them again.
    recovery = Check(
        "recovery files",
        f"{len(waiting)} waiting: send them again with msgr-tui send --from FILE, then remove FILE",
        details=details,
    )
    return [state, recovery]


# ------------------------------------------------------------ connections


@dataclass(frozen=True)
class Target:
    """An address to try, and where it came from (``subscribe``, ``compose``, ``--connect``)."""

    address: str
    role: str

    @property
    def wants_link(self) -> bool:
        # A subscribe source must also attach; other addresses are sending
        # targets, for which the receiver link doctor opens means nothing.
        return self.role == "subscribe"

    @property
    def label(self) -> str:
        if self.role == GIVEN:
            return shown(self.address)
        return f"{shown(self.address)} ({self.role})"


class Stopped(Exception):
    """A signal (Ctrl-C, SIGTERM, SIGHUP) ended the run; ``code`` is the exit status."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def connect_checks(
    args: argparse.Namespace, session: ProfileSession, given: str | None, out: Report
) -> int | None:
    """Try each target and show what happened; an exit status when a signal stopped it."""
    if args.profile and session.error is not None:
        out.show(Check("connect", "not tried: the config file has errors", ok=False))
        return None
    if args.profile and session.config.get(args.profile) is None:
        out.show(Check("connect", f"not tried: no profile {args.profile!r}", ok=False))
        return None
    try:
        settings = load_settings(args)
    except CommandError as error:
        out.show(Check("connect", f"not tried: {error}", ok=False))
        return None
    targets = [Target(given, GIVEN)] if given is not None else profile_targets(settings)
    if not targets:
        out.show(
            Check(
                "connect",
                f"profile {args.profile!r} has no address to connect to "
                "(no remote subscribe source, no compose_address)",
            )
        )
    for target in targets:
        try:
            out.show(probe(target, settings, args.timeout))
        except Stopped as stopped:
            return stopped.code
    return None


def profile_targets(settings: Settings) -> list[Target]:
    targets: dict[str, Target] = {}
    for source in settings.subscribe:
        # A '~' source listens: there is no peer to try. The profile loader
        # has checked every address already.
        if not parse_address(source).listen:
            targets.setdefault(source, Target(source, "subscribe"))
    if settings.compose_address:
        targets.setdefault(settings.compose_address, Target(settings.compose_address, "compose"))
    return list(targets.values())


@dataclass
class Heard:
    """What a probing Messenger reported through ``on_event``."""

    opened: ConnectionOpened | None = None
    attached: bool = False
    closed: bool = False
    connection_failure: Failure | None = None
    link_failure: Failure | None = None

    def __call__(self, event: MessengerEvent) -> None:
        if isinstance(event, ConnectionOpened) and not event.inbound:
            self.opened = event
        elif isinstance(event, ConnectionClosed) and not event.inbound:
            self.closed = True
            self.connection_failure = event.failure
        elif isinstance(event, LinkOpened) and event.source is not None:
            self.attached = True
        elif isinstance(event, LinkClosed) and event.source is not None:
            # A connection that fails closes its links with its own failure
            # first: the connection's, heard next, takes precedence.
            self.link_failure = event.failure

    def done(self, target: Target) -> bool:
        if self.closed:
            return True
        if self.opened is None:
            return False
        return not target.wants_link or self.attached or self.link_failure is not None


def probe(target: Target, settings: Settings, timeout: float) -> Check:
    """Connect to ``target`` with a fresh Messenger and say what happened.

    The connection is made by subscribing: a receiver link is attached but
    never given credit, so no message is taken from the peer.
    """
    messenger = configured_messenger(settings)
    heard = Heard()
    messenger.on_event = heard
    signals = StopSignals(messenger)
    try:
        with signals.installed():
            try:
                messenger.subscribe(settings.with_credentials(target.address))
            except TLSError as error:
                return Check("connect", f"{target.label}: TLS failure: {error}", ok=False)
            except MessengerException as error:
                # An unresolvable host, mostly: the text names the host and why.
                return Check("connect", f"{target.label}: {error}", ok=False)
            deadline = time.monotonic() + timeout
            while not heard.done(target):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                messenger.work(left)
            views = [view for view in messenger.connections if not view.inbound]
    except Interrupt:
        raise Stopped(signals.exit_code) from None
    finally:
        messenger.on_event = None
        stop_within(messenger, min(timeout, STOP_GRACE))
    if signals.requested:
        raise Stopped(signals.exit_code)
    return outcome(target, heard, views[0] if views else None, timeout)


def outcome(target: Target, heard: Heard, view: ConnectionView | None, timeout: float) -> Check:
    failure = heard.connection_failure
    if failure is not None:
        what = failure_text(failure, heard, timeout)
        return Check("connect", f"{target.label}: {what}", ok=False)
    if heard.opened is None:
        what = (
            "the peer closed the connection before answering"
            if heard.closed
            else f"timeout: no AMQP answer within {timeout:g} s"
        )
        return Check("connect", f"{target.label}: {what}", ok=False)
    text = f"{target.label}: connected{peer_text(heard.opened, view)}"
    if not target.wants_link:
        return Check("connect", text)
    if heard.attached:
        return Check("connect", f"{text}; source attached")
    if heard.link_failure is not None:
        return Check(
            "connect", f"{text}; but the source was refused: {heard.link_failure.reason}", ok=False
        )
    return Check(
        "connect", f"{text}; but the source was not attached within {timeout:g} s", ok=False
    )


def peer_text(opened: ConnectionOpened, view: ConnectionView | None) -> str:
    """Who answered: the socket address, the peer's container-id, TLS and SASL as used."""
    parts = []
    if view is not None and view.peer:
        parts.append(f" to {view.peer}")
    if opened.remote_container:
        parts.append(f", container {opened.remote_container!r}")
    if view is not None and view.tls_protocol:
        parts.append(f", {view.tls_protocol}")
    if view is not None and view.sasl_mechanism:
        parts.append(f", SASL {view.sasl_mechanism}")
    return "".join(parts)


def failure_text(failure: Failure, heard: Heard, timeout: float) -> str:
    """The failure named from its condition (never from its text), then the reason as given."""
    condition = failure.condition
    try:
        where = parse_address(failure.where)
    except AddressError:
        where = None
    if condition is not None and condition.name == UNAUTHORIZED:
        return f"authentication failed: {failure.reason}"
    # Framing fails before the peer's open only when the TLS handshake did
    # (the Messenger's own rule for a handshake failure).
    if (
        where is not None
        and where.tls
        and heard.opened is None
        and condition is not None
        and condition.name == FRAMING_ERROR
    ):
        return f"TLS failure: {failure.reason}"
    if condition is None and heard.opened is None and where is not None:
        # No condition: the socket itself failed, and the Failure keeps no
        # errno. Asking the port once more tells a refusal from the rest.
        if tcp_refused(where.host, where.effective_port, timeout):
            return f"refused: {failure.reason}"
        return f"cannot connect: {failure.reason}"
    return f"failed: {failure.reason}"


def tcp_refused(host: str, port: int, timeout: float) -> bool:
    """Whether a TCP connection to ``host:port`` is refused right now."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


def stop_within(messenger: Messenger, seconds: float) -> None:
    """Close cleanly, waiting no longer than the user allowed for the connection."""
    messenger.timeout = seconds
    # Closing is not what doctor checks: a peer that does not answer the close changes nothing.
    with contextlib.suppress(Exception):
        messenger.stop()
