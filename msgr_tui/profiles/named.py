"""A profile by its name in the config file, as Settings (for the headless commands)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from ..locations import config_file
from ..settings import Settings
from .resolve import Ask, resolve
from .store import read_config


class ProfileNotFound(KeyError):
    """No profile of that name; the message lists the ones there are."""

    def __str__(self) -> str:
        return str(self.args[0])


def settings_for(
    name: str,
    config: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    ask: Ask | None = None,
) -> Settings:
    """Settings for profile ``name`` of the config file (``--config``, $MSGR_TUI_CONFIG...).

    Raises :class:`ProfileNotFound` (a KeyError), ConfigError (a ValueError) with
    file, line and key, or OSError. Secrets missing from the file and the
    environment come from ``ask`` (the headless commands ask on the terminal),
    else stay unset.
    """
    path = config_file(config)
    loaded = read_config(path)
    profile = loaded.config.get(name)
    if profile is None:
        known = ", ".join(loaded.config.names) or "none"
        raise ProfileNotFound(f"no profile {name!r} in {path} (profiles: {known})")
    return resolve(profile, env=env, base_dir=path.expanduser().absolute().parent, ask=ask)
