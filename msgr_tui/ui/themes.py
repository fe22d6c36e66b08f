"""Themes from TOML files, validated before the app ever paints with them.

Registering a Textual theme checks nothing; a bad colour would crash the app
at the next repaint. Each file is turned into a Theme and its colour system
generated here, so a broken file is reported by name and skipped.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path
from typing import Any

from textual.theme import Theme

from ..locations import theme_dirs

_THEME_FIELDS = {f.name for f in fields(Theme)}


@dataclass(frozen=True)
class ThemeFailure:
    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def load_theme_file(path: Path) -> Theme:
    """Read and validate one theme file; raise ValueError saying what is wrong."""
    try:
        with path.open("rb") as handle:
            data: dict[str, Any] = tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"not valid TOML: {error}") from None
    unknown = sorted(set(data) - _THEME_FIELDS)
    if unknown:
        raise ValueError(f"unknown key(s): {', '.join(unknown)}")
    for required in ("name", "primary"):
        if not isinstance(data.get(required), str) or not data[required]:
            raise ValueError(f"'{required}' is required and must be a string")
    if "variables" in data and not isinstance(data["variables"], dict):
        raise ValueError("'variables' must be a table")
    try:
        theme = Theme(**data)
        variables = theme.to_color_system().generate()
    except Exception as error:  # Textual raises several kinds for bad colours
        raise ValueError(f"invalid colour or value: {error}") from None
    # Widgets' CSS refers to variables an ANSI theme does not generate itself
    # (ansi-background, ...): a theme missing one would crash the next repaint.
    missing = sorted(_required_variables() - set(variables) - set(theme.variables))
    if missing:
        raise ValueError(f"missing [variables]: {', '.join(missing)}")
    return theme


@cache
def _required_variables() -> frozenset[str]:
    """The variables a complete (non-ANSI) theme provides to the stylesheets."""
    return frozenset(Theme(name="reference", primary="#000000").to_color_system().generate())


def load_themes(directories: list[Path] | None = None) -> tuple[list[Theme], list[ThemeFailure]]:
    """Every valid theme in the theme directories, and the files that failed."""
    themes: dict[str, Theme] = {}
    failures: list[ThemeFailure] = []
    for directory in directories if directories is not None else theme_dirs():
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.toml")):
            try:
                theme = load_theme_file(path)
            except (OSError, ValueError) as error:
                failures.append(ThemeFailure(path, str(error)))
                continue
            themes[theme.name] = theme
    return list(themes.values()), failures
