"""``msgr-tui``: the terminal UI, plus ``profiles``, ``send`` and ``recv`` subcommands.

The UI toolkit is imported only when the UI actually starts, so the headless
commands start fast and work without a terminal.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence

from . import __version__
from .settings import DEFAULT_LISTEN, Settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="msgr-tui",
        description="A terminal client for AMQP 1.0 messaging (Qpid Proton's Messenger, reborn).",
    )
    parser.add_argument("--version", action="version", version=f"msgr-tui {__version__}")
    parser.add_argument("--profile", "-p", help="connection profile to use (see 'profiles list')")
    parser.add_argument("--config", help="config file (default: $MSGR_TUI_CONFIG or the user dir)")
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
    parser.add_argument("--name", help="Messenger name (AMQP container-id)")
    parser.add_argument("--theme", help="UI theme (msgr-dark, msgr-light, msgr-16, ...)")
    return parser


def settings_from_args(args: argparse.Namespace, base: Settings | None = None) -> Settings:
    """Apply command-line overrides to a profile's settings (or the embedded default)."""
    settings = base or Settings(listen_fallback=True)
    changes: dict[str, object] = {}
    if args.listen:
        changes["listen"] = tuple(args.listen)
        changes["listen_fallback"] = False
    if args.subscribe:
        changes["subscribe"] = tuple(args.subscribe)
    if args.name:
        changes["messenger_name"] = args.name
    if args.theme:
        changes["theme"] = args.theme
    return dataclasses.replace(settings, **changes) if changes else settings


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = settings_from_args(args)
    from .ui.app import MsgrTuiApp  # deferred: only the UI needs textual

    MsgrTuiApp(settings).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
