"""What is wrong with a config file, said with the file, the line and the key."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ConfigIssue:
    """One problem: ``key`` is a dotted path such as ``profiles.prod.tls.certificate``."""

    key: str
    message: str
    line: int | None = None

    @property
    def field(self) -> str:
        """The key inside its profile (``tls.certificate``), for forms that show one profile."""
        parts = self.key.split(".")
        return ".".join(parts[2:]) if parts[0] == "profiles" and len(parts) > 2 else self.key

    def describe(self, path: Path | None) -> str:
        where = str(path) if path is not None else "config"
        if self.line is not None:
            where += f":{self.line}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ConfigError(ValueError):
    """The file cannot be used; every issue found is listed, not just the first."""

    def __init__(self, path: Path | None, issues: list[ConfigIssue]) -> None:
        self.path = path
        self.issues = issues
        super().__init__(self.describe())

    def describe(self) -> str:
        return "\n".join(issue.describe(self.path) for issue in self.issues)


class ConfigRefused(ConfigError):
    """Saving was refused: the file on disk has errors (it is never overwritten then)."""


class ConfigChanged(Exception):
    """The file changed on disk since it was read; saving now would lose those changes."""
