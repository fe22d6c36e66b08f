"""Read and write the config file safely.

Writes are atomic (a temporary file in the same directory, then a rename), the
file is mode 0600, and the previous version is kept as ``<name>.bak``. A file
that does not parse or validate is never overwritten: the user's text is the
only copy of whatever they were trying to write.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigChanged, ConfigError, ConfigIssue, ConfigRefused
from .model import Config
from .parse import parse_text
from .serialise import dumps

FILE_MODE = 0o600
DIR_MODE = 0o700


@dataclass(frozen=True)
class LoadedConfig:
    path: Path
    config: Config = field(default_factory=Config)
    # sha256 of the bytes read, None when there was no file: saving checks it did not change.
    digest: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def exists(self) -> bool:
        return self.digest is not None


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _decode(data: bytes, path: Path) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ConfigError(
            path, [ConfigIssue("", "not UTF-8 text (TOML files must be UTF-8)", line)]
        ) from None


def _read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise ConfigError(path, [ConfigIssue("", "is a directory, not a config file")]) from None
    except OSError as error:
        raise ConfigError(path, [ConfigIssue("", f"cannot be read: {error.strerror}")]) from None


def _warnings(path: Path, config: Config) -> tuple[str, ...]:
    stored = [
        p.name for p in config.profiles if p.password is not None or p.tls.key_password is not None
    ]
    if not stored:
        return ()
    with contextlib.suppress(OSError):
        if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            return (
                f"{path} stores passwords (profiles: {', '.join(stored)}) but other users "
                f"may read it: run chmod 600 {path}",
            )
    return ()


def read_config(path: Path) -> LoadedConfig:
    """Read ``path``; a missing file is an empty config. Raises :class:`ConfigError`."""
    data = _read_bytes(path)
    if data is None:
        return LoadedConfig(path)
    config = parse_text(_decode(data, path), path)
    return LoadedConfig(path, config, _digest(data), _warnings(path, config))


def write_config(
    path: Path, config: Config, *, unchanged_since: LoadedConfig | None = None
) -> LoadedConfig:
    """Save ``config`` to ``path`` atomically with mode 0600, keeping ``path.bak``.

    Refuses (:class:`ConfigRefused`) when the file on disk has errors, and
    (:class:`ConfigChanged`) when ``unchanged_since`` is given and the file is
    no longer what was read then. A symlinked config file is written through the link.
    """
    target = Path(os.path.realpath(path))
    current = _read_bytes(target)
    if current is not None:
        try:
            parse_text(_decode(current, path), path)
        except ConfigError as error:  # bad TOML, bad values, or not UTF-8
            raise ConfigRefused(
                path,
                [
                    ConfigIssue("", "has errors, so it is not overwritten; fix it first"),
                    *error.issues,
                ],
            ) from None
    if unchanged_since is not None:
        now = None if current is None else _digest(current)
        if now != unchanged_since.digest:
            raise ConfigChanged(f"{path} changed on disk since it was read: reload it first")
    text = dumps(config)
    parse_text(text, path)  # never write what could not be read back
    data = text.encode("utf-8")
    target.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    if current is not None:
        _replace_atomically(target.with_name(target.name + ".bak"), current)
    _replace_atomically(target, data)
    return LoadedConfig(path, config, _digest(data), ())


def _replace_atomically(target: Path, data: bytes) -> None:
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as stream:
            os.fchmod(stream.fileno(), FILE_MODE)
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _sync_directory(target.parent)


def _sync_directory(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
