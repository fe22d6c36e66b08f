"""List saved connection profiles, or show one (secrets masked).

Exit status: 0 done; 1 no such profile; 2 bad usage; 3 the config file cannot
be read or has errors (they are printed with file, line and key).
"""

from __future__ import annotations

import argparse
import sys

from ..locations import config_file
from ..profiles import ConfigError, read_config
from ..profiles.display import key_password_source, list_lines, masked_toml, password_source

EXIT_OK = 0
EXIT_NO_SUCH_PROFILE = 1
EXIT_CONFIG_ERROR = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = "exit status: 0 done, 1 no such profile, 2 bad usage, 3 config file errors"
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="list the profiles (* marks default_profile)")
    show = actions.add_parser("show", help="show one profile as TOML, secrets masked")
    show.add_argument("name", nargs="?", help="profile name (default: --profile, default_profile)")
    for action in (listing, show):
        # Also accepted after the action ('profiles list --config F'); SUPPRESS keeps
        # a value given before the action.
        action.add_argument("--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        action.add_argument("--profile", "-p", default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    path = config_file(args.config)
    try:
        loaded = read_config(path)
    except ConfigError as error:
        print(f"msgr-tui: the config file has errors:\n{error}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    for warning in loaded.warnings:
        print(f"msgr-tui: warning: {warning}", file=sys.stderr)
    config = loaded.config
    if args.action == "list":
        if not loaded.exists:
            print(
                f"msgr-tui: no config file at {path} (F2 in the app creates one)", file=sys.stderr
            )
        elif not config.profiles:
            print(f"msgr-tui: {path} has no profiles", file=sys.stderr)
        for line in list_lines(config):
            print(line)
        return EXIT_OK
    name = args.name or args.profile or config.default_profile
    profile = config.get(name) if name else None
    if profile is None:
        known = ", ".join(config.names) or "none"
        what = f"no profile {name!r}" if name else "no profile named and no default_profile"
        print(f"msgr-tui: {what} in {path} (profiles: {known})", file=sys.stderr)
        return EXIT_NO_SUCH_PROFILE
    default = " (default_profile)" if name == config.default_profile else ""
    print(f"# profile {name!r}{default} in {path}")
    print(f"# password: {password_source(profile)}")
    key_source = key_password_source(profile)
    if key_source is not None:
        print(f"# key password: {key_source}")
    print(masked_toml(profile), end="")
    return EXIT_OK
