"""Where msgr-tui keeps its files (and nothing else)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from platformdirs import user_config_path, user_state_path

APP_NAME = "msgr-tui"
CONFIG_ENV = "MSGR_TUI_CONFIG"
STATE_ENV = "MSGR_TUI_STATE_DIR"

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


def state_dir() -> Path:
    """``$MSGR_TUI_STATE_DIR``, else the user state directory (~/.local/state/msgr-tui)."""
    from_env = os.environ.get(STATE_ENV)
    if from_env:
        return Path(from_env).expanduser()
    return user_state_path(APP_NAME, appauthor=False)


def recovery_dir() -> Path:
    """Where the app saves the outgoing messages nobody answered when it stopped."""
    return state_dir() / "recovery"


def crash_log_dir() -> Path:
    """Where the app writes the traceback of a failure it could not handle."""
    return state_dir() / "logs"


def new_recovery_file() -> Path:
    """A name for a recovery file that no earlier run used (the file is not made here)."""
    return _new_name(recovery_dir(), "unanswered", ".jsonl")


def new_crash_log() -> Path:
    """A name for a crash log that no earlier run used (the file is not made here)."""
    return _new_name(crash_log_dir(), "crash", ".log")


def _new_name(directory: Path, prefix: str, suffix: str) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    for attempt in range(1000):
        counter = f"-{attempt}" if attempt else ""
        candidate = directory / f"{prefix}-{stamp}-{os.getpid()}{counter}{suffix}"
        if not candidate.exists() and not candidate.with_name(candidate.name + ".partial").exists():
            return candidate
    raise FileExistsError(f"no free {prefix} file name in {directory}")


def recovery_files() -> list[Path]:
    """Recovery files left by earlier runs, oldest first (complete ones and ``.partial``)."""
    directory = recovery_dir()
    if not directory.is_dir():
        return []
    found = [
        path
        for path in directory.iterdir()
        if path.is_file() and path.name.endswith((".jsonl", ".jsonl.partial"))
    ]
    return sorted(found)
