"""Where msgr-tui keeps its files (and nothing else)."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_config_path

APP_NAME = "msgr-tui"
CONFIG_ENV = "MSGR_TUI_CONFIG"

# The themes shipped with the project sit at the top of the repository.
BUILTIN_THEMES = Path(__file__).resolve().parent.parent / "themes"


def config_dir() -> Path:
    return user_config_path(APP_NAME, appauthor=False)


def config_file(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``--config`` wins, then ``$MSGR_TUI_CONFIG``, then the user config directory."""
    if explicit:
        return Path(explicit).expanduser()
    from_env = os.environ.get(CONFIG_ENV)
    if from_env:
        return Path(from_env).expanduser()
    return config_dir() / "config.toml"


def theme_dirs() -> list[Path]:
    return [BUILTIN_THEMES, config_dir() / "themes"]
