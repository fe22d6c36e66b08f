"""``msgr-tui``: the terminal UI, plus ``profiles``, ``send`` and ``recv`` subcommands.

The UI toolkit is imported only when the UI actually starts, so the headless
commands start fast and work without a terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import __version__, startup_trace
from .locations import config_file
from .settings import DEFAULT_LISTEN, Settings

if TYPE_CHECKING:
    from .profiles import ProfileSession

# Seconds the Messenger may still take to close and save once the screen is gone.
CLOSING_WAIT = 10.0

SUBCOMMANDS = ("profiles", "send", "recv", "move", "doctor")


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", "-p", help="connection profile to use (see 'profiles list')")
    parser.add_argument(
        "--config", help="config file (default: $MSGR_TUI_CONFIG, else the user config dir)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="msgr-tui",
        description="A terminal client for AMQP 1.0 messaging (Qpid Proton's Messenger, reborn).",
        epilog="Subcommands: 'msgr-tui profiles|send|recv|move|doctor --help'.",
    )
    parser.add_argument("--version", action="version", version=f"msgr-tui {__version__}")
    add_common_arguments(parser)
    parser.add_argument(
        "--listen",
        action="append",
        metavar="ADDR",
        help=f"listen address, repeatable (default: {DEFAULT_LISTEN}, or the next free port)",
    )
    parser.add_argument(
        "--subscribe",
        "-s",
        action="append",
        metavar="SRC",
        help="source to receive from, repeatable",
    )
    parser.add_argument(
        "--browse",
        action="append",
        metavar="SRC",
        help="source to browse: its messages are shown, never consumed (repeatable)",
    )
    parser.add_argument(
        "--selector",
        nargs=2,
        action="append",
        metavar=("SRC", "SELECTOR"),
        help="a JMS-style selector the peer is asked to filter SRC with (repeatable)",
    )
    parser.add_argument("--name", help="Messenger name (AMQP container-id)")
    parser.add_argument("--theme", help="UI theme (msgr-dark, msgr-light, msgr-16, ...)")
    return parser


def settings_from_args(args: argparse.Namespace, base: Settings | None = None) -> Settings:
    """Apply command-line overrides to a profile's settings (or the embedded default)."""
    settings = base or Settings(listen_fallback=True)
    changes: dict[str, object] = {}
    if getattr(args, "listen", None):
        changes["listen"] = tuple(args.listen)
        changes["listen_fallback"] = False
    if getattr(args, "subscribe", None):
        changes["subscribe"] = tuple(args.subscribe)
    if getattr(args, "browse", None):
        changes["browse"] = tuple(args.browse)
    if getattr(args, "selector", None):
        changes["selectors"] = tuple((source, selector) for source, selector in args.selector)
    if getattr(args, "name", None):
        changes["messenger_name"] = args.name
    if getattr(args, "theme", None):
        changes["theme"] = args.theme
    return dataclasses.replace(settings, **changes) if changes else settings


def main(argv: Sequence[str] | None = None) -> int:
    # Every front end says itself what failed, where and why: the library's
    # log (stderr by default, as the original's) would say it twice.
    logging.getLogger("msgr_tui.messenger").addHandler(logging.NullHandler())
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        return run_subcommand(argv[0], argv[1:])
    startup_trace.mark("cli imported")
    # The start makes hundreds of thousands of objects that live as long as the
    # app (modules, styles, widgets) and frees few: collections then would only
    # cost time. Resumed once the main screen is drawn with its panes (resume_gc).
    gc.disable()
    args = build_parser().parse_args(argv)
    startup = prepare_startup(args)
    if isinstance(startup, int):
        return startup
    settings, session, notices = startup
    startup_trace.mark("config read")
    from .ui.app import MsgrTuiApp  # deferred: only the UI needs textual

    startup_trace.mark("ui imported")
    keymap = dict(session.loaded.config.keymap)
    app = MsgrTuiApp(settings, notices=notices, profiles=session, keymap=keymap, on_shown=resume_gc)
    startup_trace.mark("app made")
    try:
        app.run()
    finally:
        resume_gc()
    startup_trace.write()
    for note in app.closing_notes(CLOSING_WAIT):
        with contextlib.suppress(OSError):  # the terminal may be gone (SIGHUP)
            print(f"msgr-tui: {note}", file=sys.stderr)
    return app.return_code or 0


def resume_gc() -> None:
    """Collect again, once started: what the start made is frozen first (out of the
    collector's way for good, so its later passes stay as short as before)."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def prepare_startup(args: argparse.Namespace) -> tuple[Settings, ProfileSession, list[str]] | int:
    """The settings the app starts with: --profile, else default_profile, else the defaults.

    A config file with errors never stops the app: it starts on the defaults
    and shows the errors. Only a profile named on the command line that does
    not exist is a usage error (exit status 1).
    """
    from .profiles import ProfileSession  # deferred: subcommands start without it

    session = ProfileSession(
        config_file(args.config), overrides=lambda base: settings_from_args(args, base)
    )
    session.load()
    notices = list(session.loaded.warnings)
    if session.error is not None:
        notices.append(
            "The config file has errors, so it is not used (and not overwritten) until "
            f"they are fixed; running on the defaults.\n{session.error}"
        )
        return session.default_settings(), session, notices
    name = args.profile or session.config.default_profile
    if name is None:
        session.start(None)
        return session.default_settings(), session, notices
    if session.config.get(name) is None:
        known = ", ".join(session.config.names) or "none"
        print(
            f"msgr-tui: no profile {name!r} in {session.path} (profiles: {known})", file=sys.stderr
        )
        return 1
    session.start(name)
    # Secrets that are still missing are asked for by the app before it connects.
    return session.settings(name), session, notices


def run_subcommand(name: str, argv: list[str]) -> int:
    if name == "profiles":
        from .commands import profiles as command
    elif name == "send":
        from .commands import send as command  # type: ignore[no-redef]
    elif name == "move":
        from .commands import move as command  # type: ignore[no-redef]
    elif name == "doctor":
        from .commands import doctor as command  # type: ignore[no-redef]
    else:
        from .commands import recv as command  # type: ignore[no-redef]
    parser = argparse.ArgumentParser(prog=f"msgr-tui {name}", description=command.__doc__)
    add_common_arguments(parser)
    command.add_arguments(parser)
    return command.run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
