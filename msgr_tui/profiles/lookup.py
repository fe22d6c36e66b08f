"""One call for headless commands: a profile name (and maybe --config) to Settings."""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Mapping

from ..locations import config_file
from ..secret import Secret
from ..settings import Settings
from .resolve import Ask, SecretRequest, resolve
from .store import read_config


class ProfileNotFound(KeyError):
    """No profile of that name; the message lists the ones there are."""

    def __str__(self) -> str:
        return str(self.args[0])


def resolve_profile(
    name: str,
    config: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    ask: Ask | None = None,
) -> Settings:
    """Settings for profile ``name`` of the config file (``--config``, $MSGR_TUI_CONFIG...).

    Raises :class:`ProfileNotFound` (a KeyError), ConfigError (a ValueError) with
    file, line and key, or OSError. Secrets missing from the file and the
    environment come from ``ask`` (e.g. :func:`ask_on_terminal`), else stay unset.
    """
    path = config_file(config)
    loaded = read_config(path)
    profile = loaded.config.get(name)
    if profile is None:
        known = ", ".join(loaded.config.names) or "none"
        raise ProfileNotFound(f"no profile {name!r} in {path} (profiles: {known})")
    return resolve(profile, env=env, base_dir=path.expanduser().absolute().parent, ask=ask)


def ask_on_terminal(request: SecretRequest) -> Secret | None:
    """Ask on the controlling terminal without echo; None when there is no terminal."""
    if not sys.stdin.isatty():
        return None
    try:
        return Secret(getpass.getpass(f"{request.prompt}: "))
    except (EOFError, KeyboardInterrupt):
        return None
